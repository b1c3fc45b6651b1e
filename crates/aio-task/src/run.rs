//! `run`: asyncio's `asyncio.run`.

use std::future::Future;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use aio_scheduler::{EventLoop, ExceptionContext, get_running_loop, signal};

use crate::task::{Registry, spawn};
use crate::{Error, TaskRef};

/// Runs `main` as a task on a new event loop and returns its output (asyncio's
/// `asyncio.run`).
///
/// When `main` finishes, every task still alive is cancelled and the loop runs until they
/// are all done (a task that failed with something other than cancellation on the way is
/// reported to the exception handler); then the default executor is shut down (waiting for
/// its threads) and the loop is closed.
///
/// Ctrl-C works as with asyncio's `Runner`: when `run` is called on the main thread and
/// SIGINT has its default disposition, the first SIGINT cancels the main task, which gets the
/// chance to clean up (its pending `await` fails with [`Error::Cancelled`]); if the task ends
/// cancelled, `run` returns [`Error::KeyboardInterrupt`] after the usual shutdown. From the
/// first SIGINT on, SIGINT is back at its default disposition (reset in the signal handler
/// itself, so even while the loop is blocked), and a second one ends the process at once. On other threads, or with a SIGINT handler of the program's own, `run`
/// leaves SIGINT alone.
///
/// # Errors
///
/// [`Error::Runtime`] if called while a loop is running on this thread or if the loop cannot
/// be created; [`Error::KeyboardInterrupt`] as above; otherwise `main`'s task error
/// ([`Error::Panicked`], [`Error::Cancelled`]).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// let answer = aio_task::run(async {
///     aio_scheduler::sleep(0.01).await?;
///     Ok::<_, aio_task::Error>(42)
/// })??;
/// assert_eq!(answer, 42);
/// assert!(start.elapsed() >= Duration::from_millis(10));
/// # Ok::<(), aio_task::Error>(())
/// ```
#[track_caller]
pub fn run<F>(main: F) -> Result<F::Output, Error>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let runner = Runner::new();
    let outcome = runner.run(main);
    runner.close();
    outcome
}

/// asyncio's `asyncio.Runner` (3.11): one event loop that runs several top-level futures in
/// turn, then is closed. [`run`] is `Runner::new()`, one [`run`](Runner::run), then
/// [`close`](Runner::close).
///
/// The loop is made at the first [`run`](Runner::run) or [`get_loop`](Runner::get_loop) (by
/// [`EventLoop::new`], or the [`loop_factory`](Runner::loop_factory)), and kept: tasks a run
/// leaves behind keep their state and go on running during the next run, as in asyncio.
/// [`close`](Runner::close) — or dropping the runner — cancels the tasks left, waits for
/// them, shuts the default executor down and closes the loop.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use aio_task::{Runner, create_task};
///
/// let runner = Runner::new().debug(true);
/// let ticks = Rc::new(Cell::new(0));
/// let t = ticks.clone();
/// let first = runner.run(async move {
///     // Left behind by the first run, finished during the second.
///     create_task(async move {
///         aio_scheduler::sleep(0.01).await.ok();
///         t.set(t.get() + 1);
///     })?;
///     Ok::<_, aio_task::Error>(1)
/// })??;
/// let second = runner.run(async { aio_scheduler::sleep(0.05).await.map(|()| 2) })??;
/// assert_eq!((first, second, ticks.get()), (1, 2, 1));
/// let lp = runner.get_loop()?;
/// assert!(lp.get_debug());
/// runner.close();
/// assert!(lp.is_closed());
/// # Ok::<(), aio_task::Error>(())
/// ```
pub struct Runner {
    state: RefCell<RunnerState>,
    debug: Option<bool>,
    virtual_time: bool,
    factory: Cell<Option<LoopFactory>>,
}

type LoopFactory = Box<dyn FnOnce() -> Result<EventLoop, aio_scheduler::Error>>;

enum RunnerState {
    /// No loop yet.
    Created,
    /// The loop (the runner owns it).
    Running(EventLoop),
    Closed,
}

impl Default for Runner {
    fn default() -> Runner {
        Runner::new()
    }
}

impl Runner {
    /// A runner whose loop will be made by [`EventLoop::new`] (the reactor `AIO_REACTOR`
    /// names) at the first [`run`](Runner::run).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = aio_task::Runner::new();
    /// assert_eq!(runner.run(async { 7 })?, 7);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn new() -> Runner {
        Runner {
            state: RefCell::new(RunnerState::Created),
            debug: None,
            virtual_time: false,
            factory: Cell::new(None),
        }
    }

    /// Sets the loop's debug mode when it is made (asyncio's `Runner(debug=...)`; without
    /// it, the loop's own default: `AIO_DEBUG`).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = aio_task::Runner::new().debug(true);
    /// assert!(runner.get_loop()?.get_debug());
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    #[must_use]
    pub fn debug(mut self, enabled: bool) -> Runner {
        self.debug = Some(enabled);
        self
    }

    /// Runs the loop on virtual time (see [`EventLoop::set_virtual_time`]): when nothing is
    /// ready and no I/O is registered, the clock jumps to the next timer, so long sleeps and
    /// timeouts finish at once, in order. For tests.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let runner = aio_task::Runner::new().virtual_time(true);
    /// let real = Instant::now();
    /// runner.run(aio_scheduler::sleep(3600))??; // an hour on the loop's clock
    /// assert!(real.elapsed() < Duration::from_secs(600));
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    #[must_use]
    pub fn virtual_time(mut self, enabled: bool) -> Runner {
        self.virtual_time = enabled;
        self
    }

    /// Makes the loop with `factory` instead of [`EventLoop::new`] (asyncio's
    /// `loop_factory=`): another reactor, say. The runner owns and closes what it returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::EventLoop;
    /// use aio_scheduler::aio_reactor::{PollMode, PollingReactor};
    ///
    /// let runner = aio_task::Runner::new().loop_factory(|| {
    ///     Ok(EventLoop::with_reactor(PollingReactor::with_mode(PollMode::Oneshot)?))
    /// });
    /// assert_eq!(runner.get_loop()?.reactor().name(), "polling");
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    #[must_use]
    pub fn loop_factory(
        self,
        factory: impl FnOnce() -> Result<EventLoop, aio_scheduler::Error> + 'static,
    ) -> Runner {
        self.factory.set(Some(Box::new(factory)));
        self
    }

    /// The runner's loop, made now if no run made it yet (asyncio's `get_loop()`): a handle
    /// that shares it (the runner keeps owning it).
    ///
    /// # Errors
    ///
    /// [`Error::Runtime`] ([`Closed`](aio_scheduler::Error::Closed)) once the runner is
    /// closed, or if the loop cannot be made.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = aio_task::Runner::new();
    /// let lp = runner.get_loop()?;
    /// assert!(!lp.is_running() && !lp.is_closed());
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn get_loop(&self) -> Result<EventLoop, Error> {
        let mut state = self.state.borrow_mut();
        match &*state {
            RunnerState::Running(event_loop) => return Ok(event_loop.clone()),
            RunnerState::Closed => return Err(aio_scheduler::Error::Closed.into()),
            RunnerState::Created => {}
        }
        let event_loop = match self.factory.take() {
            Some(factory) => factory()?,
            None => EventLoop::new()?,
        };
        if let Some(debug) = self.debug {
            event_loop.set_debug(debug);
        }
        if self.virtual_time {
            event_loop.set_virtual_time(true);
        }
        let handle = event_loop.clone();
        *state = RunnerState::Running(event_loop);
        Ok(handle)
    }

    /// Runs `main` as a task on the runner's loop until it is done, and gives its output
    /// (asyncio's `Runner.run`). Tasks it leaves behind stay on the loop. Ctrl-C as in
    /// [`run`]: on the main thread, with SIGINT at its default, the first SIGINT cancels
    /// `main` and the run gives [`Error::KeyboardInterrupt`]; SIGINT is back at its default
    /// disposition when the run returns.
    ///
    /// # Errors
    ///
    /// [`Error::Runtime`] inside a running loop ([`AnotherLoopRunning`](
    /// aio_scheduler::Error::AnotherLoopRunning): asyncio's "Runner.run() cannot be called
    /// from a running event loop"), on a closed runner, or if the loop cannot be made;
    /// [`Error::KeyboardInterrupt`]; otherwise `main`'s task error.
    ///
    /// # Cancel safety
    ///
    /// Not a future: `run` blocks this thread until `main` is done.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = aio_task::Runner::new();
    /// assert_eq!(runner.run(async { 1 })? + runner.run(async { 2 })?, 3);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    #[track_caller]
    pub fn run<F>(&self, main: F) -> Result<F::Output, Error>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        if get_running_loop().is_ok() {
            return Err(aio_scheduler::Error::AnotherLoopRunning.into());
        }
        let event_loop = self.get_loop()?;
        let task = spawn(&event_loop, main)?;
        let interrupts = handle_ctrl_c(&event_loop, task.erase());
        let outcome = event_loop
            .run_until_complete(task)
            .map_err(Error::from)
            .and_then(|result| result);
        if interrupts.installed {
            // asyncio restores the SIGINT handler when the run ends.
            let _ = event_loop.remove_signal_handler(signal::SIGINT);
        }
        match outcome {
            Err(Error::Cancelled(_)) if interrupts.count.get() > 0 => Err(Error::KeyboardInterrupt),
            other => other,
        }
    }

    /// Cancels the tasks left on the loop and waits for them (a failure other than
    /// cancellation goes to the exception handler), shuts the default executor down
    /// (waiting for its threads) and closes the loop (asyncio's `Runner.close()`). Does
    /// nothing if no loop was made yet or it is closed already. Dropping the runner does
    /// the same.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = aio_task::Runner::new();
    /// let lp = runner.get_loop()?;
    /// runner.close();
    /// assert!(lp.is_closed());
    /// assert!(runner.run(async {}).is_err()); // closed
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn close(&self) {
        let event_loop = {
            let mut state = self.state.borrow_mut();
            match std::mem::replace(&mut *state, RunnerState::Closed) {
                RunnerState::Running(event_loop) => event_loop,
                // asyncio: closing a runner that never made its loop leaves it usable.
                RunnerState::Created => {
                    *state = RunnerState::Created;
                    return;
                }
                RunnerState::Closed => return,
            }
        };
        if event_loop.is_running() || event_loop.is_closed() {
            // Closed from inside its own run (the loop closes when that run ends, as its
            // owner is dropped), or closed by someone else: nothing left to do here.
            return;
        }
        cancel_all_tasks(&event_loop);
        // asyncio: wait for the default executor's threads (only if one was started). An
        // error here can only mean the loop cannot run, and closing it next is all that is
        // left.
        let _ = event_loop.run_until_complete(crate::shutdown_default_executor());
        // Not running (run_until_complete returned), so close cannot fail.
        let _ = event_loop.close();
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.close();
        }
    }
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &*self.state.borrow() {
            RunnerState::Created => "created",
            RunnerState::Running(_) => "initialized",
            RunnerState::Closed => "closed",
        };
        f.debug_struct("Runner").field("state", &state).finish()
    }
}

/// What [`handle_ctrl_c`] set up: the SIGINTs seen, and whether its handler is installed.
struct Interrupts {
    count: Rc<Cell<u32>>,
    installed: bool,
}

/// asyncio's `Runner._on_sigint`, installed when SIGINT is at its default on the main thread:
/// the first SIGINT cancels `main` and puts SIGINT back to its default, so the next one ends
/// the process even if the loop is stuck. Returns the number of SIGINTs seen.
fn handle_ctrl_c(event_loop: &EventLoop, main: TaskRef) -> Interrupts {
    let interrupts = Rc::new(Cell::new(0u32));
    if !signal::is_main_thread() || !signal::is_default(signal::SIGINT) {
        return Interrupts {
            count: interrupts,
            installed: false,
        };
    }
    let count = interrupts.clone();
    let weak = event_loop.downgrade();
    let installed = event_loop.add_signal_handler(signal::SIGINT, move || {
        count.set(count.get() + 1);
        if count.get() > 1 || main.done() {
            // A second SIGINT that arrived before the first was handled: interrupt now.
            signal::die_by(signal::SIGINT);
        }
        // Default disposition first: if the cancellation runs a long cleanup, the next
        // SIGINT must not wait for it.
        if let Some(event_loop) = weak.upgrade() {
            let _ = event_loop.remove_signal_handler(signal::SIGINT);
        }
        main.cancel(None);
    });
    // Without the handler (out of slots, no socket), Ctrl-C keeps its default: it ends the
    // process, as it would without `run`. With it, the first SIGINT also puts the default
    // back in signal context, so the second ends the process even if the loop is blocked
    // and never gets to run the handler above.
    if installed.is_ok() {
        let _ = signal::reset_on_delivery(signal::SIGINT);
    }
    Interrupts {
        count: interrupts,
        installed: installed.is_ok(),
    }
}

/// asyncio's `_cancel_all_tasks`: cancel what is left, wait for it, report real failures.
fn cancel_all_tasks(event_loop: &EventLoop) {
    let tasks = event_loop.extension::<Registry>().live();
    if tasks.is_empty() {
        return;
    }
    for task in &tasks {
        task.cancel(None);
    }
    let waiting: Vec<TaskRef> = tasks.clone();
    // The loop is not closed and not running here; an error would only mean it cannot run,
    // and closing it next drops whatever is left either way.
    let _ = event_loop.run_until_complete(async move {
        for task in &waiting {
            task.wait().await;
        }
    });
    for task in tasks {
        if let Some(error) = task.error().filter(|e| !e.is_cancelled()) {
            let ctx = ExceptionContext::new("unhandled exception during aio::run() shutdown")
                .with_task(task.get_name())
                .with_error(std::sync::Arc::new(error));
            event_loop.call_exception_handler(&ctx);
        }
    }
}
