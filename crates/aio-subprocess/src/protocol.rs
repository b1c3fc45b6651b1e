//! asyncio's subprocess protocols: `loop.subprocess_exec` / `loop.subprocess_shell` give a
//! [`SubprocessTransport`] that calls a [`SubprocessProtocol`]'s methods as the child writes
//! and exits (asyncio's `base_subprocess.BaseSubprocessTransport`).

use std::cell::{Cell, RefCell};
use std::ffi::OsStr;
use std::fmt;
use std::future::{Future, IntoFuture, poll_fn};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;

use aio_reactor::AsyncFd;
use aio_scheduler::{EventLoop, ExceptionContext, get_running_loop, panic_message, signal};
use aio_streams::{StreamWriter, connect_write_pipe};

use crate::process::{Spawned, kill_unconnected, signal_child};
use crate::watcher::ChildState;
use crate::{PIPE, SubprocessBuilder, SubprocessError};

/// How much one read from a child's stdout or stderr asks for.
const READ_CHUNK: usize = 64 * 1024;

/// The callbacks of a child process (asyncio's `asyncio.SubprocessProtocol`). Every method
/// has a default that does nothing, as in asyncio's base class.
///
/// The transport calls them on the loop's thread, in asyncio's order: [`connection_made`]
/// first; then [`pipe_data_received`] as the child writes to its stdout (fd 1) or stderr
/// (fd 2), [`pipe_connection_lost`] once for each pipe as it closes (fd 0, stdin, included),
/// and [`process_exited`] once the child has exited, in whatever order these happen; and
/// [`connection_lost`] last, once the child has exited *and* every pipe is closed. A method
/// that panics is reported to the loop's exception handler, and the transport goes on (as
/// asyncio's callbacks do).
///
/// [`connection_made`]: SubprocessProtocol::connection_made
/// [`pipe_data_received`]: SubprocessProtocol::pipe_data_received
/// [`pipe_connection_lost`]: SubprocessProtocol::pipe_connection_lost
/// [`process_exited`]: SubprocessProtocol::process_exited
/// [`connection_lost`]: SubprocessProtocol::connection_lost
///
/// # Examples
///
/// ```
/// use aio_subprocess::SubprocessProtocol;
///
/// /// Collects what the child writes to stdout.
/// #[derive(Default)]
/// struct Collect(Vec<u8>);
///
/// impl SubprocessProtocol for Collect {
///     fn pipe_data_received(&mut self, fd: i32, data: &[u8]) {
///         if fd == 1 {
///             self.0.extend_from_slice(data);
///         }
///     }
/// }
/// # let _ = Collect::default();
/// ```
pub trait SubprocessProtocol: 'static {
    /// The child runs; `transport` is its transport (clone it to keep it).
    fn connection_made(&mut self, transport: &SubprocessTransport) {
        let _ = transport;
    }

    /// The child wrote `data` to its stdout (`fd` 1) or stderr (`fd` 2).
    fn pipe_data_received(&mut self, fd: i32, data: &[u8]) {
        let _ = (fd, data);
    }

    /// The pipe `fd` (0, 1 or 2) closed: `None` at its end, or the error that ended it.
    fn pipe_connection_lost(&mut self, fd: i32, error: Option<io::Error>) {
        let _ = (fd, error);
    }

    /// The child exited ([`get_returncode`](SubprocessTransport::get_returncode) has its
    /// code).
    fn process_exited(&mut self) {}

    /// The child exited and all its pipes are closed: the last call.
    fn connection_lost(&mut self, error: Option<io::Error>) {
        let _ = error;
    }
}

/// Starts `program` with `args` (asyncio's `loop.subprocess_exec`), its stdin, stdout and
/// stderr all pipes (asyncio's defaults here), calling the protocol that `protocol_factory`
/// makes. Await it for the transport and the protocol.
///
/// For other settings — a working directory, an environment, streams that are not pipes —
/// start from [`create_subprocess_exec`](crate::create_subprocess_exec) and finish with
/// [`SubprocessBuilder::protocol`].
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use aio_subprocess::{SubprocessProtocol, subprocess_exec};
///
/// #[derive(Default)]
/// struct Collect {
///     out: Vec<u8>,
///     done: Option<aio_task::Future<()>>,
/// }
///
/// impl SubprocessProtocol for Collect {
///     fn pipe_data_received(&mut self, _fd: i32, data: &[u8]) {
///         self.out.extend_from_slice(data);
///     }
///     fn connection_lost(&mut self, _error: Option<std::io::Error>) {
///         let _ = self.done.take().unwrap().set_result(());
///     }
/// }
///
/// let out = aio_task::run(async {
///     let done = aio_task::create_future()?;
///     let d = done.clone();
///     let (transport, protocol) =
///         subprocess_exec(move || Collect { done: Some(d), ..Collect::default() }, "echo", ["hi"])
///             .await?;
///     done.await?;
///     assert_eq!(transport.get_returncode(), Some(0));
///     let out = protocol.borrow().out.clone();
///     Ok::<_, aio_task::Error>(out)
/// })??;
/// assert_eq!(out, b"hi\n");
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn subprocess_exec<P, F, I, S>(
    protocol_factory: F,
    program: impl AsRef<OsStr>,
    args: I,
) -> SubprocessProtocolSpawn<P, F>
where
    P: SubprocessProtocol,
    F: FnOnce() -> P + 'static,
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    crate::create_subprocess_exec(program, args)
        .stdin(PIPE)
        .stdout(PIPE)
        .stderr(PIPE)
        .protocol(protocol_factory)
}

/// Runs `command` through `/bin/sh -c` (asyncio's `loop.subprocess_shell`), its streams all
/// pipes, calling the protocol that `protocol_factory` makes.
///
/// # Examples
///
/// ```
/// use aio_subprocess::{SubprocessProtocol, subprocess_shell};
///
/// struct Quiet;
/// impl SubprocessProtocol for Quiet {}
///
/// let code = aio_task::run(async {
///     let (transport, _) = subprocess_shell(|| Quiet, "exit 3").await?;
///     Ok::<_, aio_task::Error>(transport.wait().await?)
/// })??;
/// assert_eq!(code, 3);
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn subprocess_shell<P, F>(
    protocol_factory: F,
    command: impl AsRef<OsStr>,
) -> SubprocessProtocolSpawn<P, F>
where
    P: SubprocessProtocol,
    F: FnOnce() -> P + 'static,
{
    crate::create_subprocess_shell(command)
        .stdin(PIPE)
        .stdout(PIPE)
        .stderr(PIPE)
        .protocol(protocol_factory)
}

impl SubprocessBuilder {
    /// Starts the child with a protocol in place of a [`Process`](crate::Process) (asyncio's
    /// `subprocess_exec` / `subprocess_shell` with the builder's settings): await the result
    /// for the [`SubprocessTransport`] and the protocol. Only the streams set to
    /// [`PIPE`](crate::PIPE) reach the protocol (unlike [`subprocess_exec`], the builder's
    /// streams default to inherited).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::{PIPE, SubprocessProtocol, create_subprocess_exec};
    ///
    /// #[derive(Default)]
    /// struct Lines(Vec<u8>);
    /// impl SubprocessProtocol for Lines {
    ///     fn pipe_data_received(&mut self, _fd: i32, data: &[u8]) {
    ///         self.0.extend_from_slice(data);
    ///     }
    /// }
    ///
    /// aio_task::run(async {
    ///     let (transport, lines) = create_subprocess_exec("pwd", Vec::<&str>::new())
    ///         .cwd("/")
    ///         .stdout(PIPE)
    ///         .protocol(Lines::default)
    ///         .await?;
    ///     transport.wait().await?;
    ///     transport.wait_closed().await;
    ///     assert_eq!(lines.borrow().0, b"/\n");
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn protocol<P, F>(self, protocol_factory: F) -> SubprocessProtocolSpawn<P, F>
    where
        P: SubprocessProtocol,
        F: FnOnce() -> P + 'static,
    {
        SubprocessProtocolSpawn {
            builder: self,
            factory: protocol_factory,
            _protocol: std::marker::PhantomData,
        }
    }
}

/// A child to start with a protocol ([`subprocess_exec`], [`subprocess_shell`],
/// [`SubprocessBuilder::protocol`]): await it.
#[must_use = "a subprocess starts only when awaited"]
pub struct SubprocessProtocolSpawn<P, F> {
    builder: SubprocessBuilder,
    factory: F,
    _protocol: std::marker::PhantomData<fn() -> P>,
}

impl<P, F> fmt::Debug for SubprocessProtocolSpawn<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubprocessProtocolSpawn")
            .field("builder", &self.builder)
            .finish_non_exhaustive()
    }
}

impl<P, F> IntoFuture for SubprocessProtocolSpawn<P, F>
where
    P: SubprocessProtocol,
    F: FnOnce() -> P + 'static,
{
    type Output = Result<(SubprocessTransport, Rc<RefCell<P>>), SubprocessError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output>>>;

    /// Starts the child (in the first poll) and connects its pipes; `connection_made` has run
    /// when the future is ready.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let SubprocessProtocolSpawn {
                builder, factory, ..
            } = self;
            // Made before the child starts, as asyncio does: a factory that panics leaves no
            // child behind.
            let protocol = Rc::new(RefCell::new(factory()));
            let spawned = builder.spawn_raw()?;
            let state = spawned.state.clone();
            let pipes = connect(spawned).inspect_err(|_| kill_unconnected(&state))?;
            let shared: SharedProtocol = protocol.clone();
            let transport = SubprocessTransport::start(state, shared, pipes)?;
            Ok((transport, protocol))
        })
    }
}

type SharedProtocol = Rc<RefCell<dyn SubprocessProtocol>>;

/// A child's pipes, connected to the loop.
struct Pipes {
    stdin: Option<(StreamWriter, OwnedFd)>,
    stdout: Option<Rc<ReadPipe>>,
    stderr: Option<Rc<ReadPipe>>,
}

fn connect(spawned: Spawned) -> Result<Pipes, SubprocessError> {
    let Spawned {
        stdin,
        stdout,
        stderr,
        ..
    } = spawned;
    let stdin = match stdin {
        None => None,
        Some(fd) => {
            // A second descriptor of the write end, only to learn when the child closes the
            // read end (asyncio's write pipe transport watches for that): the writer owns
            // the first one.
            let probe = fd.try_clone()?;
            Some((connect_write_pipe(fd)?, probe))
        }
    };
    Ok(Pipes {
        stdin,
        stdout: stdout.map(ReadPipe::new).transpose()?,
        stderr: stderr.map(ReadPipe::new).transpose()?,
    })
}

/// The parent's end of a child's stdout or stderr, on the reactor.
struct ReadPipe {
    fd: RefCell<Option<AsyncFd<OwnedFd>>>,
    closing: Cell<bool>,
}

impl ReadPipe {
    fn new(fd: OwnedFd) -> Result<Rc<ReadPipe>, SubprocessError> {
        rustix::io::ioctl_fionbio(&fd, true).map_err(io::Error::from)?;
        let event_loop = get_running_loop()?;
        Ok(Rc::new(ReadPipe {
            fd: RefCell::new(Some(AsyncFd::new(event_loop.reactor(), fd)?)),
            closing: Cell::new(false),
        }))
    }

    /// Wakes the reading task, to see `closing`.
    fn close(&self) {
        self.closing.set(true);
        if let Some(fd) = self.fd.borrow().as_ref() {
            let mut wakers = Vec::new();
            fd.registration()
                .source()
                .set_ready(true, false, &mut wakers);
            for waker in wakers {
                waker.wake();
            }
        }
    }
}

/// A child process with a protocol (asyncio's `SubprocessTransport`). A cheap handle: clones
/// share the transport.
///
/// # Examples
///
/// ```
/// use aio_subprocess::{SubprocessProtocol, subprocess_exec};
///
/// #[derive(Default)]
/// struct Upper(Vec<u8>);
/// impl SubprocessProtocol for Upper {
///     fn pipe_data_received(&mut self, _fd: i32, data: &[u8]) {
///         self.0.extend_from_slice(data);
///     }
/// }
///
/// aio_task::run(async {
///     let (transport, upper) = subprocess_exec(Upper::default, "tr", ["a-z", "A-Z"]).await?;
///     let stdin = transport.stdin().unwrap();
///     stdin.write(b"shout\n");
///     stdin.close();
///     assert_eq!(transport.wait().await?, 0);
///     transport.wait_closed().await;
///     assert_eq!(upper.borrow().0, b"SHOUT\n");
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[derive(Clone)]
pub struct SubprocessTransport {
    inner: Rc<Inner>,
}

struct Inner {
    event_loop: EventLoop,
    state: Rc<ChildState>,
    /// Let go after `connection_lost`.
    protocol: RefCell<Option<SharedProtocol>>,
    stdin: Option<StreamWriter>,
    stdout: Option<Rc<ReadPipe>>,
    stderr: Option<Rc<ReadPipe>>,
    /// Which pipes (0, 1, 2) are connected and not closed yet.
    open: [Cell<bool>; 3],
    exited: Cell<bool>,
    finished: Cell<bool>,
    /// `connection_lost` has run.
    done: Cell<bool>,
    closed: Cell<bool>,
    /// Tasks waiting for `connection_lost`.
    waiters: RefCell<Vec<std::task::Waker>>,
}

impl SubprocessTransport {
    fn start(
        state: Rc<ChildState>,
        protocol: SharedProtocol,
        pipes: Pipes,
    ) -> Result<SubprocessTransport, SubprocessError> {
        let Pipes {
            stdin,
            stdout,
            stderr,
        } = pipes;
        let (stdin, probe) = match stdin {
            Some((writer, probe)) => (Some(writer), Some(probe)),
            None => (None, None),
        };
        let transport = SubprocessTransport {
            inner: Rc::new(Inner {
                event_loop: get_running_loop()?,
                state,
                protocol: RefCell::new(Some(protocol)),
                open: [
                    Cell::new(stdin.is_some()),
                    Cell::new(stdout.is_some()),
                    Cell::new(stderr.is_some()),
                ],
                stdin,
                stdout,
                stderr,
                exited: Cell::new(false),
                finished: Cell::new(false),
                done: Cell::new(false),
                closed: Cell::new(false),
                waiters: RefCell::new(Vec::new()),
            }),
        };
        let made = transport.clone();
        aio_task::call_outside_task(|| {
            transport.call_protocol("connection_made", move |p| p.connection_made(&made));
        });
        // Everything else comes from the tasks, after connection_made.
        if let (Some(writer), Some(probe)) = (transport.inner.stdin.clone(), probe) {
            let me = transport.clone();
            spawn(async move { me.watch_stdin(writer, probe).await })?;
        }
        for (fd, pipe) in [(1, &transport.inner.stdout), (2, &transport.inner.stderr)] {
            if let Some(pipe) = pipe.clone() {
                let me = transport.clone();
                spawn(async move { me.read_pipe(fd, pipe).await })?;
            }
        }
        let me = transport.clone();
        spawn(async move {
            // `None`: the loop closed first; nothing more is called.
            if me.inner.state.wait().await.is_some() {
                me.inner.exited.set(true);
                me.call_protocol("process_exited", |p| p.process_exited());
                me.try_finish();
            }
        })?;
        Ok(transport)
    }

    /// Calls the protocol's `what` now; a panic goes to the loop's exception handler
    /// (asyncio's "Exception in callback") and the transport goes on.
    fn call_protocol(&self, what: &'static str, call: impl FnOnce(&mut dyn SubprocessProtocol)) {
        let Some(protocol) = self.inner.protocol.borrow().clone() else {
            return;
        };
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| call(&mut *protocol.borrow_mut()))) {
            let message = panic_message(&*payload);
            self.inner.event_loop.call_exception_handler(
                &ExceptionContext::new(format!("Exception in callback protocol.{what}()"))
                    .with_error(Arc::new(io::Error::other(format!(
                        "protocol.{what}() panicked: {message}"
                    )))),
            );
        }
    }

    /// The pipe `fd` closed: tells the protocol, once.
    fn pipe_lost(&self, fd: usize, error: Option<io::Error>) {
        if self.inner.open[fd].replace(false) {
            self.call_protocol("pipe_connection_lost", |p| {
                p.pipe_connection_lost(fd as i32, error);
            });
            self.try_finish();
        }
    }

    /// asyncio's `_try_finish`: `connection_lost` once the child exited and every pipe closed.
    fn try_finish(&self) {
        let inner = &self.inner;
        if !inner.exited.get() || inner.open.iter().any(Cell::get) {
            return;
        }
        if inner.finished.replace(true) {
            return;
        }
        let me = self.clone();
        let finish = move || {
            me.call_protocol("connection_lost", |p| p.connection_lost(None));
            drop(me.inner.protocol.borrow_mut().take());
            me.inner.done.set(true);
            for waker in me.inner.waiters.take() {
                waker.wake();
            }
        };
        if self.inner.event_loop.call_soon(finish).is_err() {
            drop(self.inner.protocol.borrow_mut().take());
        }
    }

    /// Reads the child's stdout or stderr into `pipe_data_received` until its end.
    async fn read_pipe(self, fd: usize, pipe: Rc<ReadPipe>) {
        let mut buf = vec![0u8; READ_CHUNK];
        let error = loop {
            let read = poll_fn(|cx| {
                if pipe.closing.get() {
                    return Poll::Ready(None);
                }
                let registered = pipe.fd.borrow();
                let Some(registered) = registered.as_ref() else {
                    return Poll::Ready(None);
                };
                registered
                    .registration()
                    .poll_read_with(cx, || Ok(rustix::io::read(registered.get_ref(), &mut buf)?))
                    .map(Some)
            })
            .await;
            match read {
                // Closed by the transport, or at the end of the pipe.
                None | Some(Ok(0)) => break None,
                Some(Ok(n)) => {
                    let data = &buf[..n];
                    self.call_protocol("pipe_data_received", |p| {
                        p.pipe_data_received(fd as i32, data);
                    });
                }
                Some(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {}
                Some(Err(error)) => break Some(error),
            }
        };
        // Deregistered and closed before the protocol hears of it.
        drop(pipe.fd.borrow_mut().take());
        self.pipe_lost(fd, error);
    }

    /// Waits for stdin's end: the writer closed (or failed), or the child closed its end.
    async fn watch_stdin(self, writer: StreamWriter, probe: OwnedFd) {
        let registered = get_running_loop()
            .ok()
            .and_then(|lp| AsyncFd::new(lp.reactor(), probe).ok());
        let closed = writer.wait_closed();
        let mut closed = std::pin::pin!(closed);
        let error = poll_fn(|cx| {
            if let Poll::Ready(result) = closed.as_mut().poll(cx) {
                return Poll::Ready(result.err().map(io::Error::other));
            }
            // The write end reports an error condition (readable, for the reactor) once
            // nobody holds the read end; a zero-timeout poll tells it from a spurious wake.
            if let Some(registered) = &registered {
                while registered.registration().poll_readable(cx).is_ready() {
                    if reader_gone(registered.get_ref()) {
                        // asyncio's write pipe transport closes then: with a BrokenPipe
                        // if data was still waiting.
                        let pending = writer.get_write_buffer_size() > 0;
                        writer.abort();
                        return Poll::Ready(
                            pending.then(|| io::Error::from(io::ErrorKind::BrokenPipe)),
                        );
                    }
                    registered.registration().clear_readable();
                }
            }
            Poll::Pending
        })
        .await;
        // The child sees the end of its stdin only when this descriptor is closed too.
        drop(registered);
        self.pipe_lost(0, error);
    }

    /// The child's process id (asyncio's `get_pid`).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::{SubprocessProtocol, subprocess_shell};
    /// struct Quiet;
    /// impl SubprocessProtocol for Quiet {}
    ///
    /// aio_task::run(async {
    ///     let (t, _) = subprocess_shell(|| Quiet, "true").await?;
    ///     assert!(t.get_pid() > 0);
    ///     t.wait().await?;
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn get_pid(&self) -> u32 {
        self.inner.state.pid as u32
    }

    /// `None` while the child runs; then its exit status, or minus the signal that killed it
    /// (asyncio's `get_returncode`).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::{SubprocessProtocol, subprocess_exec};
    /// struct Quiet;
    /// impl SubprocessProtocol for Quiet {}
    ///
    /// aio_task::run(async {
    ///     let (t, _) = subprocess_exec(|| Quiet, "sleep", ["30"]).await?;
    ///     assert_eq!(t.get_returncode(), None);
    ///     t.kill()?;
    ///     assert_eq!(t.wait().await?, -9);
    ///     assert_eq!(t.get_returncode(), Some(-9));
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn get_returncode(&self) -> Option<i32> {
        self.inner.state.returncode.get()
    }

    /// The writer of the child's stdin, if it is a pipe (asyncio's `get_pipe_transport(0)`):
    /// `write` to it, `close` it to end the child's input. Its closing reaches the protocol
    /// as `pipe_connection_lost(0, ..)`.
    ///
    /// # Examples
    ///
    /// See [`SubprocessTransport`].
    pub fn stdin(&self) -> Option<StreamWriter> {
        self.inner.stdin.clone()
    }

    /// Waits for the child to exit; its returncode (asyncio's transport `_wait`).
    ///
    /// # Errors
    ///
    /// [`SubprocessError::Runtime`] if the loop that started the child closed first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits; the child is reaped whether or not anyone waits.
    ///
    /// # Examples
    ///
    /// See [`subprocess_shell`].
    pub async fn wait(&self) -> Result<i32, SubprocessError> {
        self.inner
            .state
            .wait()
            .await
            .ok_or(SubprocessError::Runtime(aio_scheduler::Error::Closed))
    }

    /// Waits until `connection_lost` has been called: the child exited and all its pipes are
    /// closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits.
    ///
    /// # Examples
    ///
    /// See [`SubprocessTransport`].
    pub async fn wait_closed(&self) {
        poll_fn(|cx| {
            if self.inner.done.get() {
                return Poll::Ready(());
            }
            self.inner.waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }

    /// Sends `signal` to the child (asyncio's `send_signal`).
    ///
    /// # Errors
    ///
    /// As [`Process::send_signal`](crate::Process::send_signal):
    /// [`SubprocessError::ProcessLookup`] once the child has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::{SubprocessProtocol, subprocess_exec};
    /// use aio_scheduler::signal::SIGTERM;
    /// struct Quiet;
    /// impl SubprocessProtocol for Quiet {}
    ///
    /// aio_task::run(async {
    ///     let (t, _) = subprocess_exec(|| Quiet, "sleep", ["30"]).await?;
    ///     t.send_signal(SIGTERM)?;
    ///     assert_eq!(t.wait().await?, -SIGTERM);
    ///     assert!(t.send_signal(SIGTERM).is_err()); // finished
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn send_signal(&self, signal: i32) -> Result<(), SubprocessError> {
        signal_child(&self.inner.state, signal)
    }

    /// SIGTERM (asyncio's `terminate`).
    ///
    /// # Errors
    ///
    /// As [`send_signal`](Self::send_signal).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::{SubprocessProtocol, subprocess_exec};
    /// struct Quiet;
    /// impl SubprocessProtocol for Quiet {}
    ///
    /// aio_task::run(async {
    ///     let (t, _) = subprocess_exec(|| Quiet, "sleep", ["30"]).await?;
    ///     t.terminate()?;
    ///     assert_eq!(t.wait().await?, -15);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn terminate(&self) -> Result<(), SubprocessError> {
        self.send_signal(signal::SIGTERM)
    }

    /// SIGKILL (asyncio's `kill`).
    ///
    /// # Errors
    ///
    /// As [`send_signal`](Self::send_signal).
    ///
    /// # Examples
    ///
    /// See [`get_returncode`](Self::get_returncode).
    pub fn kill(&self) -> Result<(), SubprocessError> {
        self.send_signal(libc::SIGKILL)
    }

    /// Closes the transport (asyncio's `close`): closes the pipes — each reaches the protocol
    /// as `pipe_connection_lost` — and kills the child if it still runs. `connection_lost`
    /// follows once the child has been reaped.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::{SubprocessProtocol, subprocess_exec};
    /// struct Quiet;
    /// impl SubprocessProtocol for Quiet {}
    ///
    /// aio_task::run(async {
    ///     let (t, _) = subprocess_exec(|| Quiet, "sleep", ["30"]).await?;
    ///     t.close();
    ///     assert!(t.is_closing());
    ///     assert_eq!(t.wait().await?, -9); // killed
    ///     t.wait_closed().await;
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn close(&self) {
        let inner = &self.inner;
        if inner.closed.replace(true) {
            return;
        }
        if let Some(stdin) = &inner.stdin {
            stdin.close();
        }
        for pipe in [&inner.stdout, &inner.stderr].into_iter().flatten() {
            pipe.close();
        }
        if inner.state.returncode.get().is_none() && !inner.state.orphaned.get() {
            // Already exited but not reaped yet: ESRCH-free, the pid is still ours.
            let _ = self.kill();
        }
    }

    /// Whether [`close`](Self::close) was called (asyncio's `is_closing`).
    ///
    /// # Examples
    ///
    /// See [`close`](Self::close).
    pub fn is_closing(&self) -> bool {
        self.inner.closed.get()
    }
}

/// Runs `future` as a task of the running loop.
fn spawn(future: impl Future<Output = ()> + 'static) -> Result<(), SubprocessError> {
    match aio_task::create_internal_task(future) {
        Ok(_detached) => Ok(()),
        // Only without a running loop, which the caller has.
        Err(_) => Err(SubprocessError::Runtime(
            aio_scheduler::Error::NoRunningLoop,
        )),
    }
}

/// Whether nobody holds the read end of the pipe whose write end is `fd` any more.
fn reader_gone(fd: impl AsFd) -> bool {
    use rustix::event::{PollFd, PollFlags};
    let mut fds = [PollFd::new(&fd, PollFlags::OUT)];
    match rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default())) {
        Ok(_) => fds[0].revents().intersects(PollFlags::ERR | PollFlags::HUP),
        Err(_) => false,
    }
}

impl fmt::Debug for SubprocessTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubprocessTransport")
            .field("pid", &self.get_pid())
            .field("returncode", &self.get_returncode())
            .field("closed", &self.inner.closed.get())
            .finish_non_exhaustive()
    }
}
