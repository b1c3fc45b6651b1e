//! **aio** — Python's asyncio, re-created in Rust.
//!
//! One event loop per thread; Tasks and Futures with asyncio's semantics; callbacks scheduled
//! with `call_soon` / `call_later`; `sleep` in `f64` seconds or [`Duration`]s. Every asyncio
//! concept keeps its name, and every API is ordinary Rust: `Result` for errors, `Drop` for
//! cancellation, `async`/`.await` for coroutines. Tasks need not be `Send`.
//!
//! This crate is the facade: it re-exports the layers, which can also be used on their own —
//! [`aio_reactor`] (the selector), [`aio_scheduler`] (the event loop), [`aio_task`]
//! (Futures, Tasks and the coroutine toolkit), [`aio_sync`] (`Lock`, `Event`, `Condition`,
//! `Semaphore`, `Barrier`), [`aio_queue`] (`Queue`, `LifoQueue`, `PriorityQueue`),
//! [`aio_streams`] (`open_connection`, `start_server`, pipes) and [`aio_subprocess`]
//! (`create_subprocess_exec`, `create_subprocess_shell`). Signal handlers are methods of the
//! loop (`EventLoop::add_signal_handler`), with the signal numbers in [`signal`].
//!
//! `#[aio::main]` on an `async fn main` runs it as [`run`] does (Ctrl-C included), and
//! `#[aio::test]` runs an `async fn` test on a fresh loop: see [`main`](macro@main) and
//! [`test`](macro@test).
//!
//! Three reactors: on Linux the default is [`aio_reactor_epoll`] (epoll driven directly, one
//! system call per loop wait); [`PollingReactor`] (the `polling` crate) is the default
//! elsewhere, and [`aio_reactor_uring`] runs on io_uring. [`aio_reactors`] chooses among them
//! by the `AIO_REACTOR` environment variable (`epoll`, `polling`, `uring`) for [`run`] and
//! [`new_event_loop`]; `EventLoop::with_reactor` builds a loop on any reactor.
//!
//! # Cancel safety
//!
//! Cancelling is dropping a future (a timeout, a losing `select` branch, a cancelled task).
//! Each waiting method says under its own `# Cancel safety` heading what a dropped future
//! leaves behind. In short, for the layers below the tasks:
//!
//! - Cancel safe — nothing is consumed until the future returns, and a wake-up a dropped
//!   waiter had received passes to the next one: [`Lock::acquire`], [`Semaphore::acquire`],
//!   [`Event::wait`], [`Barrier::wait`] (until its round completes), [`Queue::get`],
//!   [`Queue::join`](aio_queue::GenericQueue::join), the [`StreamReader`] reads `read`,
//!   `readline`, `readuntil`, `readuntil_any` and `readexactly` (bytes already received stay
//!   buffered), [`StreamWriter::drain`] and `wait_closed`, [`Server::wait_closed`], the
//!   [`DatagramEndpoint`] sends and receives, [`Process::wait`].
//! - Not cancel safe: [`Queue::put`] (the item is dropped with the future),
//!   [`Condition::wait`] (the guard it was given is not returned),
//!   [`StreamReader::read_to_end`] and [`Process::communicate`] (what they collected is
//!   lost), [`Server::serve_forever`] (dropping it closes the server).
//!
//! # Examples
//!
//! asyncio's `countasync.py`:
//!
//! ```
//! use aio::prelude::*;
//!
//! async fn count() -> Result<(), aio::Error> {
//!     println!("One");
//!     aio::sleep(0.01).await?;
//!     println!("Two");
//!     Ok(())
//! }
//!
//! aio::run(async {
//!     let tasks = [aio::create_task(count())?, aio::create_task(count())?];
//!     for task in tasks {
//!         task.await??;
//!     }
//!     Ok::<_, aio::Error>(())
//! })??;
//! # Ok::<(), aio::Error>(())
//! ```
//!
//! [`Duration`]: std::time::Duration

pub use aio_queue;
pub use aio_reactor;
#[cfg(target_os = "linux")]
pub use aio_reactor_epoll;
#[cfg(target_os = "linux")]
pub use aio_reactor_uring;
pub use aio_reactors;
pub use aio_reactors::ReactorKind;
pub use aio_scheduler;
pub use aio_streams;
pub use aio_subprocess;
pub use aio_sync;
pub use aio_task;
/// TLS through rustls (asyncio's `ssl=` streams: `open_connection`, `start_server`,
/// `StreamWriterTls::start_tls`; `ssl=` transports: `create_connection`, `create_server`,
/// `TransportTls::start_tls`; futures-io's `TlsStream`), with the `tls` feature.
#[cfg(feature = "tls")]
pub use aio_tls;

pub use aio_macros::{main, test};
pub use aio_queue::{LifoQueue, PriorityQueue, Queue, QueueError};
pub use aio_reactor::{AsyncFd, PollingReactor, Reactor, Registration};
pub use aio_scheduler::signal;
pub use aio_scheduler::{
    Delay, EventLoop, ExceptionContext, Handle, IntoDelay, LoopHandle, Sleep, ThreadsafeHandle,
    TimerHandle, WeakLoop, get_running_loop, now, sleep, sleep_until,
};
/// Loop machinery woken without a task (asyncio's reader callbacks; a transport's driver).
#[cfg(target_pointer_width = "64")]
pub use aio_scheduler::{LocalStep, spawn_local_step};
/// Seeing inside: loop metrics, every loop of the process, dumps on a signal
/// ([`aio_scheduler::observe`]).
pub use aio_scheduler::{LoopMetrics, observe};
/// asyncio's protocols and transports (`loop.create_server(protocol_factory, ...)`).
pub use aio_streams::{
    Buffered, BufferedProtocol, CreateServer, Protocol, Transport, TransportSendfile,
    connect_accepted_socket, create_connection, create_server, create_unix_connection,
    create_unix_server,
};
/// asyncio's datagram protocols (`loop.create_datagram_endpoint`).
pub use aio_streams::{
    CreateDatagramEndpoint, DatagramProtocol, DatagramTransport, create_datagram_endpoint,
};
pub use aio_streams::{
    DatagramEndpoint, OpenConnection, Server, StartServer, StreamError, StreamReader, StreamWriter,
    connect_read_pipe, connect_write_pipe, open_connection, open_connection_sock,
    open_unix_connection, open_unix_connection_sock, start_server, start_server_sock,
    start_unix_server, start_unix_server_sock,
};
/// asyncio's low-level socket methods (`loop.sock_*`, `loop.sock_sendfile`) as free functions.
pub use aio_streams::{
    SockListener, SockSendfile, sock_accept, sock_connect, sock_recv, sock_recv_into,
    sock_recvfrom, sock_recvfrom_into, sock_sendall, sock_sendfile, sock_sendto,
};
/// asyncio's `asyncio.subprocess` module: `PIPE`, `STDOUT`, `DEVNULL`, `Process`.
pub mod subprocess {
    pub use aio_subprocess::{
        ChildWatcher, DEVNULL, PIPE, Process, STDOUT, Stdio, SubprocessBuilder, SubprocessError,
        child_watcher, set_child_watcher,
    };
}
/// Python's `contextvars` ([`aio_scheduler::context`]): `aio::contextvars::ContextVar`.
pub use aio_scheduler::context as contextvars;
pub use aio_scheduler::context::{Context, ContextError, ContextVar, Token, copy_context};
pub use aio_subprocess::{
    Process, SubprocessError, create_subprocess_exec, create_subprocess_shell,
};
/// asyncio's subprocess protocols (`loop.subprocess_exec` / `loop.subprocess_shell`).
pub use aio_subprocess::{
    SubprocessProtocol, SubprocessProtocolSpawn, SubprocessTransport, subprocess_exec,
    subprocess_shell,
};
pub use aio_sync::{Barrier, BoundedSemaphore, Condition, Event, Lock, Semaphore, SyncError};
pub use aio_task::create_task_with_context;
pub use aio_task::{
    ALL_COMPLETED, AsCompleted, Awaitable, CallbackId, ConcurrentFuture, EAGER_TASK_FACTORY, Error,
    EventLoopExt, Executor, FIRST_COMPLETED, FIRST_EXCEPTION, Future, IntoTask, ReturnWhen, Runner,
    Task, TaskFactory, TaskGroup, TaskRef, ThreadPoolExecutor, Timed, Timeout, WaitFor, all_tasks,
    as_completed, create_future, create_task, current_task, gather, run, run_coroutine_threadsafe,
    run_in_executor, shield, shutdown_default_executor, timeout, timeout_at, to_thread, try_gather,
    wait, wait_for,
};
pub use aio_task::{
    CallGraph, TaskInfo, TaskState, capture_call_graph, dump_tasks, format_call_graph,
    format_tasks, print_call_graph, task_infos, task_infos_of,
};
/// For layers built on aio (a transport of your own): machinery that runs as asyncio's loop
/// callbacks do, outside any task.
pub use aio_task::{call_outside_task, create_internal_task};

/// All cores: a group of loops, one per thread ([`LoopGroup`], [`run_per_core`]), work sent
/// to a given loop ([`LoopHandleExt::spawn`]), a `Send` channel between loops and threads
/// ([`channel::bounded`]) and an acceptor that hands sockets to other loops ([`TcpAcceptor`]).
pub use aio_queue::channel;
pub use aio_streams::TcpAcceptor;
pub use aio_task::{LoopGroup, LoopHandleExt, LoopMember, run_per_core};

/// A new event loop on the default reactor, or the one `AIO_REACTOR` names (asyncio's
/// `new_event_loop()`).
///
/// # Errors
///
/// [`Error::Runtime`] if the OS poller cannot be created.
///
/// # Examples
///
/// ```
/// let lp = aio::new_event_loop()?;
/// assert_eq!(lp.run_until_complete(async { 1 })?, 1);
/// lp.close()?;
/// # Ok::<(), aio::Error>(())
/// ```
pub fn new_event_loop() -> Result<EventLoop, Error> {
    Ok(EventLoop::new()?)
}

/// The names most programs need: `use aio::prelude::*;`.
///
/// # Examples
///
/// ```
/// use aio::prelude::*;
/// let lp = new_event_loop()?;
/// let task = lp.create_task(async { 2 + 2 })?; // EventLoopExt is in scope
/// assert_eq!(lp.run_until_complete(task)??, 4);
/// # Ok::<(), aio::Error>(())
/// ```
pub mod prelude {
    pub use crate::{
        Barrier, BoundedSemaphore, Condition, Error, Event, EventLoop, EventLoopExt, LifoQueue,
        Lock, PriorityQueue, Queue, Semaphore, Task, TaskGroup, TaskRef, all_tasks, as_completed,
        create_future, create_task, current_task, gather, get_running_loop, new_event_loop, run,
        shield, sleep, sleep_until, timeout, to_thread, wait, wait_for,
    };
}

/// What `#[aio::main]` and `#[aio::test]` expand to call: not an API of its own.
#[doc(hidden)]
pub mod __private {
    use std::future::Future;
    use std::io::Write;

    use crate::{Error, ReactorKind, Runner};

    /// The runner an attribute's options describe: `reactor = ...` (a loop factory on that
    /// reactor) and `debug = ...`.
    pub fn runner(reactor: Option<ReactorKind>, debug: Option<bool>) -> Runner {
        let mut runner = Runner::new();
        if let Some(kind) = reactor {
            runner = runner.loop_factory(move || {
                Ok(crate::EventLoop::with_boxed_reactor(
                    aio_reactors::new_reactor(kind)?,
                ))
            });
        }
        if let Some(enabled) = debug {
            runner = runner.debug(enabled);
        }
        runner
    }

    /// `#[aio::main]`: runs `main`, closes the runner, returns `main`'s value; a run that
    /// fails has no value to return and ends the process ([`main_failed`]).
    #[track_caller]
    pub fn run_main<F>(runner: Runner, main: F) -> F::Output
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let outcome = runner.run(main);
        runner.close();
        outcome.unwrap_or_else(|error| main_failed(error))
    }

    /// `#[aio::test(timeout = SECONDS)]`: the test's body, failed with a panic if it runs
    /// over `seconds` (it is dropped there, as `wait_for` drops what it waits for).
    pub async fn time_limit<F: Future>(body: F, seconds: f64) -> F::Output {
        match crate::wait_for(body, seconds).await {
            Ok(output) => output,
            Err(Error::Timeout) => panic!("the test ran over its time limit of {seconds} s"),
            Err(error) => panic!("the test's time limit failed: {error}"),
        }
    }

    /// `#[aio::test]`: as [`run_main`], but a failed run fails the test ([`test_failed`]).
    #[track_caller]
    pub fn run_test<F>(runner: Runner, test: F) -> F::Output
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let outcome = runner.run(test);
        runner.close();
        outcome.unwrap_or_else(|error| test_failed(error))
    }

    /// The main task panicked: the panic goes on out of `main` with the same payload (the
    /// panic hook already printed it where it happened, so it is not printed twice), and the
    /// process ends as a panicking `main` does (status 101).
    fn resume_panic(message: &str) -> ! {
        std::panic::resume_unwind(Box::new(message.to_owned()))
    }

    /// Ctrl-C cancelled the main task: flush stdout, say `KeyboardInterrupt` (as Python's
    /// last traceback line does) and die by SIGINT with its default disposition, as CPython
    /// does after an unhandled `KeyboardInterrupt`, so the shell sees status 130.
    fn interrupted() -> ! {
        let _ = std::io::stdout().flush();
        eprintln!("KeyboardInterrupt");
        crate::signal::die_by(crate::signal::SIGINT)
    }

    /// A failed `#[aio::main]` run: `Panicked` and `KeyboardInterrupt` as above; any other
    /// error (the loop could not be made, the main task was cancelled, ...) is printed as
    /// `Error: {error}` on stderr and the process exits with status 1, as a `main` returning
    /// `Err` does.
    pub fn main_failed(error: Error) -> ! {
        match error {
            Error::Panicked(message) => resume_panic(&message),
            Error::KeyboardInterrupt => interrupted(),
            other => {
                let _ = std::io::stdout().flush();
                eprintln!("Error: {other}");
                std::process::exit(1)
            }
        }
    }

    /// A failed `#[aio::test]` run: `Panicked` and `KeyboardInterrupt` as for `main` (so
    /// `#[should_panic(expected = ...)]` sees the task's own message); any other error
    /// panics with its text, failing this test only.
    pub fn test_failed(error: Error) -> ! {
        match error {
            Error::Panicked(message) => resume_panic(&message),
            Error::KeyboardInterrupt => interrupted(),
            other => panic!("the test's run failed: {other}"),
        }
    }
}

/// The README's example, compiled and run as a doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
mod readme {}
