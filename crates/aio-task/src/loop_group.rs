//! One loop per core: [`LoopGroup`] / [`run_per_core`] start N threads, each with its own
//! event loop and reactor, run a `!Send` main future on each, and stop them together, as a
//! [`TaskGroup`](crate::TaskGroup) does for the tasks of one loop. [`LoopHandleExt::spawn`]
//! runs work on a given loop from anywhere.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};

use aio_queue::channel;
use aio_scheduler::{EventLoop, LoopHandle, get_running_loop, panic_message};

use crate::{ConcurrentFuture, Error, Runner, TaskRef, current_task, run_coroutine_threadsafe};

/// Runs `main(index)` on `n` loops, one per thread, where `n` is the number of CPUs this
/// process may use; see [`LoopGroup::run`] for the semantics. The same as
/// `LoopGroup::new().run(|member| main(member.index()))`.
///
/// # Errors
///
/// As [`LoopGroup::run`].
///
/// # Examples
///
/// ```
/// let indices = aio_task::run_per_core(|index| async move {
///     aio_scheduler::sleep(0.001).await?;
///     Ok::<_, aio_task::Error>(index)
/// })?;
/// let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
/// assert_eq!(indices, (0..cpus).collect::<Vec<_>>());
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn run_per_core<M, Fut, T, E>(main: M) -> Result<Vec<T>, Error>
where
    M: Fn(usize) -> Fut + Sync,
    Fut: Future<Output = Result<T, E>> + 'static,
    T: Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    LoopGroup::new().run(|member| main(member.index()))
}

type LoopFactory = Arc<dyn Fn() -> Result<EventLoop, aio_scheduler::Error> + Send + Sync>;

/// A group of event loops, one per thread: asyncio's model on every core.
///
/// [`run`](LoopGroup::run) starts the threads, makes a loop on each (with its own reactor),
/// runs a main future on each, and returns when all of them are done, with every loop's value
/// in index order. The loops share nothing on the hot path: each has its own ready queue,
/// timers, reactor and tasks, and tasks are never moved. They meet only where the program
/// says so: a [`channel`], [`LoopHandleExt::spawn`] on another loop's handle, or
/// `SO_REUSEPORT` on one port.
///
/// # Examples
///
/// ```
/// use aio_task::{Error, LoopGroup};
///
/// // Two loops; loop 0 asks loop 1 for a value, then tells it to finish.
/// let (done_tx, done_rx) = aio_queue::channel::bounded::<()>(1);
/// let out = LoopGroup::new().loops(2).run(|member| {
///     let (done_tx, done_rx) = (done_tx.clone(), done_rx.clone());
///     async move {
///         if member.index() == 1 {
///             // A loop lives as long as its main task: wait for loop 0's word.
///             let _ = done_rx.recv().await;
///             return Ok::<_, Error>(1);
///         }
///         // Built and run on loop 1; the answer is awaited here, on loop 0.
///         let from_one = member.spawn_on(1, || async { 41 })?.await?;
///         done_tx.close();
///         Ok(from_one)
///     }
/// })?;
/// assert_eq!(out, [41, 1]);
/// # Ok::<(), Error>(())
/// ```
pub struct LoopGroup {
    loops: Option<usize>,
    pin: bool,
    factory: Option<LoopFactory>,
}

impl Default for LoopGroup {
    fn default() -> LoopGroup {
        LoopGroup::new()
    }
}

impl fmt::Debug for LoopGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopGroup")
            .field("loops", &self.len())
            .field("pin", &self.pin)
            .field("loop_factory", &self.factory.is_some())
            .finish()
    }
}

impl LoopGroup {
    /// A group of as many loops as this process may use CPUs
    /// ([`std::thread::available_parallelism`], which honours the affinity mask and cgroup
    /// quotas), not pinned, each made by [`EventLoop::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    /// assert_eq!(aio_task::LoopGroup::new().len(), cpus);
    /// ```
    pub fn new() -> LoopGroup {
        LoopGroup {
            loops: None,
            pin: false,
            factory: None,
        }
    }

    /// Runs `n` loops instead (`0` is refused by [`run`](LoopGroup::run)).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(aio_task::LoopGroup::new().loops(3).len(), 3);
    /// ```
    #[must_use]
    pub fn loops(mut self, n: usize) -> LoopGroup {
        self.loops = Some(n);
        self
    }

    /// The number of loops [`run`](LoopGroup::run) starts.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(aio_task::LoopGroup::new().loops(2).len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.loops.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }

    /// Whether the group has no loop (only after `loops(0)`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!aio_task::LoopGroup::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pins loop `i` to the `i`-th CPU this process may run on (its affinity mask, in
    /// order, wrapping around when there are more loops than CPUs), with
    /// `sched_setaffinity`. Off by default: the kernel's scheduler then moves the threads as
    /// it likes, which is better when other processes share the machine.
    ///
    /// # Examples
    ///
    /// ```
    /// let cpus = aio_task::LoopGroup::new()
    ///     .loops(2)
    ///     .pin_to_cpus(true)
    ///     .run(|_| async {
    ///         let mask = std::fs::read_to_string("/proc/thread-self/status")?
    ///             .lines()
    ///             .find(|l| l.starts_with("Cpus_allowed_list:"))
    ///             .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_owned())
    ///             .unwrap_or_default();
    ///         Ok::<_, std::io::Error>(mask)
    ///     })?;
    /// // Each loop's thread may run on one CPU only.
    /// assert!(cpus.iter().all(|list| list.parse::<usize>().is_ok()), "{cpus:?}");
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    #[must_use]
    pub fn pin_to_cpus(mut self, pin: bool) -> LoopGroup {
        self.pin = pin;
        self
    }

    /// Makes each loop with `factory` (called on the loop's own thread) instead of
    /// [`EventLoop::new`]: another reactor, say.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::EventLoop;
    /// use aio_scheduler::aio_reactor::PollingReactor;
    ///
    /// let names = aio_task::LoopGroup::new()
    ///     .loops(2)
    ///     .loop_factory(|| Ok(EventLoop::with_reactor(PollingReactor::new()?)))
    ///     .run(|_| async {
    ///         let lp = aio_scheduler::get_running_loop()?;
    ///         Ok::<_, aio_task::Error>(lp.reactor().name())
    ///     })?;
    /// assert_eq!(names, ["polling", "polling"]);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    #[must_use]
    pub fn loop_factory(
        mut self,
        factory: impl Fn() -> Result<EventLoop, aio_scheduler::Error> + Send + Sync + 'static,
    ) -> LoopGroup {
        self.factory = Some(Arc::new(factory));
        self
    }

    /// Starts the loops, runs `main(member)` as the main task of each (`member` says which
    /// loop it is and reaches the others), waits for all of them, closes every loop (its
    /// leftover tasks cancelled, as [`run`](crate::run) does) and returns their values in
    /// index order. Each loop lives as long as its main task, as with [`run`](crate::run):
    /// when it returns, that loop closes, and work later sent to it fails or is cancelled
    /// (a loop that serves others waits, on a channel say, until they are done).
    ///
    /// `main` is called on the loop's own thread, so the future it returns need not be
    /// `Send`; `main` itself is shared by the threads (`Sync`), and only the values come back
    /// (`T: Send`).
    ///
    /// As a [`TaskGroup`](crate::TaskGroup) across loops: a loop fails when its main future
    /// returns `Err`, panics (also in `main` itself), or is cancelled by someone other than
    /// the group. The first failure cancels every other loop's main task; `run` waits for
    /// them all and returns [`Error::Group`] with every failure, the first one first.
    ///
    /// Ctrl-C as in [`run`](crate::run): when called on the main thread with SIGINT at its
    /// default, the first SIGINT cancels every loop's main task (once) and, if one of them
    /// ends cancelled, `run` returns [`Error::KeyboardInterrupt`]; SIGINT is then back at its
    /// default, so a second one ends the process even if a loop is stuck. The calling thread
    /// waits on a small loop of its own meanwhile (it receives the loops' outcomes and the
    /// signal).
    ///
    /// # Errors
    ///
    /// [`Error::Value`] for zero loops; [`Error::Runtime`] when called inside a running loop
    /// (it would block it); [`Error::Group`] as above, also when a thread, its loop or its
    /// CPU pinning cannot be set up (nothing runs then); [`Error::KeyboardInterrupt`].
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Error, LoopGroup};
    ///
    /// // Loop 1 fails; loop 0, which would run for an hour, is cancelled.
    /// let outcome = LoopGroup::new().loops(2).run(|member| async move {
    ///     if member.index() == 1 {
    ///         return Err(Error::Value("loop 1 gives up"));
    ///     }
    ///     aio_scheduler::sleep(3600).await?;
    ///     Ok(())
    /// });
    /// let Err(Error::Group(errors)) = outcome else { panic!("{outcome:?}") };
    /// assert!(matches!(errors[..], [Error::Value("loop 1 gives up")]));
    /// ```
    pub fn run<M, Fut, T, E>(&self, main: M) -> Result<Vec<T>, Error>
    where
        M: Fn(LoopMember) -> Fut + Sync,
        Fut: Future<Output = Result<T, E>> + 'static,
        T: Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        let n = self.len();
        if n == 0 {
            return Err(Error::Value("a loop group needs at least one loop"));
        }
        if get_running_loop().is_ok() {
            return Err(aio_scheduler::Error::AnotherLoopRunning.into());
        }
        let cpus = if self.pin {
            Some(allowed_cpus().map_err(|e| Error::Group(Arc::from([Error::from(e)])))?)
        } else {
            None
        };
        let (outcomes_tx, outcomes_rx) = channel::bounded::<(usize, Result<T, Error>)>(n);
        std::thread::scope(|scope| {
            let (ready_tx, ready_rx) = mpsc::channel::<(usize, Result<LoopHandle, Error>)>();
            let mut starts = Vec::with_capacity(n);
            let mut spawn_failures = Vec::new();
            for index in 0..n {
                let (start_tx, start_rx) = mpsc::channel::<Option<LoopMember>>();
                let thread = LoopThread {
                    index,
                    cpu: cpus.as_ref().map(|cpus| cpus[index % cpus.len()]),
                    factory: self.factory.clone(),
                    ready: ready_tx.clone(),
                    start: start_rx,
                    outcome: OutcomeSlot {
                        index,
                        tx: Some(outcomes_tx.clone()),
                    },
                };
                let main = &main;
                let spawned = std::thread::Builder::new()
                    .name(format!("aio-loop-{index}"))
                    .spawn_scoped(scope, move || thread.run(main));
                match spawned {
                    Ok(_) => starts.push(Some(start_tx)),
                    Err(e) => {
                        starts.push(None);
                        spawn_failures.push(Error::from(e));
                    }
                }
            }
            drop((ready_tx, outcomes_tx));
            // Every loop made (or failed to be) before any main future starts, so each
            // member can reach every loop from its first step.
            let mut handles: Vec<Option<LoopHandle>> = vec![None; n];
            let mut failures = spawn_failures;
            for (index, ready) in ready_rx.iter() {
                match ready {
                    Ok(handle) => handles[index] = Some(handle),
                    Err(e) => failures.push(e),
                }
            }
            if !failures.is_empty() {
                // Nothing runs: each started thread is told to stop, closes its loop and
                // reports a cancellation, which is not a failure of its own.
                for start in starts.iter().flatten() {
                    let _ = start.send(None);
                }
                return Err(Error::Group(Arc::from(failures)));
            }
            let controls: Arc<[Control]> = handles
                .into_iter()
                .map(|handle| Control {
                    handle: handle.expect("every loop reported ready"),
                    cancel: AtomicBool::new(false),
                })
                .collect();
            for (index, start) in starts.iter().enumerate() {
                let member = LoopMember {
                    index,
                    controls: controls.clone(),
                };
                if let Some(start) = start {
                    let _ = start.send(Some(member));
                }
            }
            coordinate(n, controls, outcomes_rx)
        })
    }
}

/// What the coordinator knows of one loop: how to reach it, and whether its main task was
/// asked to cancel.
struct Control {
    handle: LoopHandle,
    cancel: AtomicBool,
}

impl Control {
    /// Cancels the loop's main task: at once if it runs, or when it starts.
    fn cancel(&self) {
        if self.cancel.swap(true, Ordering::AcqRel) {
            return;
        }
        // The loop may be gone already (its main task finished): nothing to cancel then.
        let _ = self.handle.call_soon_threadsafe(|| {
            MAIN_TASK.with(|main| {
                if let Some(task) = main.borrow().as_ref() {
                    task.cancel(None);
                }
            });
        });
    }
}

thread_local! {
    /// The main task of the group loop running on this thread.
    static MAIN_TASK: RefCell<Option<TaskRef>> = const { RefCell::new(None) };
}

/// One loop of a [`LoopGroup`], as its main future sees it: its index, and the handles of
/// every loop of the group. `Send + Sync + Clone`: it can be handed to other threads.
///
/// # Examples
///
/// ```
/// let sizes = aio_task::LoopGroup::new().loops(3).run(|member| async move {
///     Ok::<_, aio_task::Error>((member.index(), member.len()))
/// })?;
/// assert_eq!(sizes, [(0, 3), (1, 3), (2, 3)]);
/// # Ok::<(), aio_task::Error>(())
/// ```
#[derive(Clone)]
pub struct LoopMember {
    index: usize,
    controls: Arc<[Control]>,
}

impl fmt::Debug for LoopMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopMember")
            .field("index", &self.index)
            .field("len", &self.controls.len())
            .finish()
    }
}

impl LoopMember {
    /// This loop's index, `0..len()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let out = aio_task::LoopGroup::new().loops(1).run(|m| async move {
    ///     Ok::<_, aio_task::Error>(m.index())
    /// })?;
    /// assert_eq!(out, [0]);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// The number of loops in the group.
    ///
    /// # Examples
    ///
    /// ```
    /// let out = aio_task::LoopGroup::new().loops(2).run(|m| async move {
    ///     Ok::<_, aio_task::Error>(m.len())
    /// })?;
    /// assert_eq!(out, [2, 2]);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.controls.len()
    }

    /// Always false: a group has at least one loop.
    ///
    /// # Examples
    ///
    /// ```
    /// let out = aio_task::LoopGroup::new().loops(1).run(|m| async move {
    ///     Ok::<_, aio_task::Error>(m.is_empty())
    /// })?;
    /// assert_eq!(out, [false]);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.controls.is_empty()
    }

    /// The handle of loop `index` (`call_soon_threadsafe`, `stop`, [`LoopHandleExt::spawn`]).
    ///
    /// # Panics
    ///
    /// If `index >= len()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let out = aio_task::LoopGroup::new().loops(2).run(|m| async move {
    ///     // This loop's handle is the current one here; the other's is not.
    ///     let other = (m.index() + 1) % m.len();
    ///     Ok::<_, aio_task::Error>((m.handle(m.index()).is_current(), m.handle(other).is_current()))
    /// })?;
    /// assert_eq!(out, [(true, false), (true, false)]);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn handle(&self, index: usize) -> &LoopHandle {
        &self.controls[index].handle
    }

    /// Runs the future built by `make` as a task on loop `index` ([`LoopHandleExt::spawn`]
    /// on [`handle(index)`](LoopMember::handle)).
    ///
    /// # Errors
    ///
    /// [`Error::Runtime`] if that loop is closed already.
    ///
    /// # Panics
    ///
    /// If `index >= len()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (done_tx, done_rx) = aio_queue::channel::bounded::<()>(1);
    /// let out = aio_task::LoopGroup::new().loops(2).run(|m| {
    ///     let (done_tx, done_rx) = (done_tx.clone(), done_rx.clone());
    ///     async move {
    ///         if m.index() == 1 {
    ///             let _ = done_rx.recv().await; // stay up until loop 0 is done
    ///             return Ok::<_, aio_task::Error>(None);
    ///         }
    ///         // Asks loop 1 for its thread's name.
    ///         let answer = m
    ///             .spawn_on(1, || async { std::thread::current().name().map(str::to_owned) })?
    ///             .await?;
    ///         done_tx.close();
    ///         Ok(answer)
    ///     }
    /// })?;
    /// assert_eq!(out, [Some("aio-loop-1".into()), None]);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn spawn_on<Mk, Fut>(
        &self,
        index: usize,
        make: Mk,
    ) -> Result<ConcurrentFuture<Fut::Output>, Error>
    where
        Mk: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        self.handle(index).spawn(make)
    }
}

/// [`run_coroutine_threadsafe`] as a method of [`LoopHandle`]: `handle.spawn(|| future)`.
///
/// # Examples
///
/// ```
/// use aio_task::LoopHandleExt;
///
/// let lp = aio_scheduler::EventLoop::new()?;
/// let fut = lp.handle().spawn(|| async { "ran on the loop" })?;
/// lp.run_until_complete(aio_scheduler::sleep(0.001))??;
/// assert_eq!(fut.result(None)?, "ran on the loop");
/// # Ok::<(), aio_task::Error>(())
/// ```
pub trait LoopHandleExt: sealed::Sealed {
    /// Runs the future built by `make` as a task on this handle's loop, from any thread. `make`
    /// runs on the loop's thread, so the future need not be `Send`; the returned
    /// [`ConcurrentFuture`] is `Send`, can be awaited on any loop or waited for on a plain
    /// thread, and cancels the task with [`ConcurrentFuture::cancel`].
    ///
    /// # Errors
    ///
    /// [`Error::Runtime`] if the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use aio_task::LoopHandleExt;
    ///
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let handle = lp.handle();
    /// let worker = std::thread::spawn(move || {
    ///     // `Rc` inside: the future is not `Send`, but it is made on the loop.
    ///     let fut = handle.spawn(|| async { std::rc::Rc::new(6).as_ref() * 7 })?;
    ///     let answer = fut.result(Some(Duration::from_secs(30)));
    ///     handle.stop()?;
    ///     answer
    /// });
    /// lp.run_forever()?;
    /// assert_eq!(worker.join().unwrap()?, 42);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    fn spawn<Mk, Fut>(&self, make: Mk) -> Result<ConcurrentFuture<Fut::Output>, Error>
    where
        Mk: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static;
}

impl LoopHandleExt for LoopHandle {
    fn spawn<Mk, Fut>(&self, make: Mk) -> Result<ConcurrentFuture<Fut::Output>, Error>
    where
        Mk: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        run_coroutine_threadsafe(self, make)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for aio_scheduler::LoopHandle {}
}

/// Sends a loop's outcome to the coordinator exactly once: dropped without one (the thread
/// unwound somewhere unexpected), it reports a panic, so the coordinator never waits forever.
struct OutcomeSlot<T> {
    index: usize,
    tx: Option<channel::Sender<(usize, Result<T, Error>)>>,
}

impl<T> OutcomeSlot<T> {
    fn send(mut self, outcome: Result<T, Error>) {
        if let Some(tx) = self.tx.take() {
            // Room for every loop's outcome: never blocks; fails only if the coordinator is
            // gone, and then nobody is waiting.
            let _ = tx.try_send((self.index, outcome));
        }
    }
}

impl<T> Drop for OutcomeSlot<T> {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let error = Error::Panicked(Arc::from("the loop's thread ended without an outcome"));
            let _ = tx.try_send((self.index, Err(error)));
        }
    }
}

/// What one loop's thread needs.
struct LoopThread<T> {
    index: usize,
    cpu: Option<usize>,
    factory: Option<LoopFactory>,
    ready: mpsc::Sender<(usize, Result<LoopHandle, Error>)>,
    start: mpsc::Receiver<Option<LoopMember>>,
    outcome: OutcomeSlot<T>,
}

impl<T: 'static> LoopThread<T> {
    fn run<M, Fut, E>(self, main: &M)
    where
        M: Fn(LoopMember) -> Fut,
        Fut: Future<Output = Result<T, E>> + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        let LoopThread {
            index,
            cpu,
            factory,
            ready,
            start,
            outcome,
        } = self;
        let runner = match factory {
            Some(factory) => Runner::new().loop_factory(move || factory()),
            None => Runner::new(),
        };
        let made = pin_to(cpu).and_then(|()| runner.get_loop());
        let handle = match made {
            Ok(event_loop) => event_loop.handle(),
            Err(e) => {
                let _ = ready.send((index, Err(e)));
                // Not a failure of its own to report twice: the group fails with `e`.
                outcome.send(Err(Error::cancelled(None)));
                return;
            }
        };
        let _ = ready.send((index, Ok(handle)));
        drop(ready);
        let Ok(Some(member)) = start.recv() else {
            // Another loop could not be set up: nothing runs.
            runner.close();
            outcome.send(Err(Error::cancelled(None)));
            return;
        };
        let cancel_requested = {
            let controls = member.controls.clone();
            move || controls[index].cancel.load(Ordering::Acquire)
        };
        // `main` runs here, outside any task: a panic in it is this loop's failure.
        let made = catch_unwind(AssertUnwindSafe(|| main(member)));
        let result = match made {
            Err(payload) => Err(Error::Panicked(Arc::from(panic_message(&*payload)))),
            Ok(future) => runner
                .run(async move {
                    // Published before the check: a cancel request sent from now on finds
                    // the task; one sent before is seen by the check.
                    MAIN_TASK.with(|main| *main.borrow_mut() = current_task());
                    if cancel_requested() {
                        return Err(Error::cancelled(None));
                    }
                    future.await.map_err(Error::from_any)
                })
                .and_then(|result| result),
        };
        MAIN_TASK.with(|main| main.borrow_mut().take());
        // Leftover tasks cancelled, the executor shut down, the loop closed: the loop is
        // gone before the coordinator hears of it.
        runner.close();
        outcome.send(result);
    }
}

/// The CPUs this process may run on, in order.
fn allowed_cpus() -> std::io::Result<Vec<usize>> {
    let set = rustix::thread::sched_getaffinity(None)?;
    let cpus: Vec<usize> = (0..rustix::thread::CpuSet::MAX_CPU)
        .filter(|&cpu| set.is_set(cpu))
        .collect();
    if cpus.is_empty() {
        return Err(std::io::Error::other("the affinity mask allows no CPU"));
    }
    Ok(cpus)
}

/// Pins the calling thread to `cpu`.
fn pin_to(cpu: Option<usize>) -> Result<(), Error> {
    if let Some(cpu) = cpu {
        let mut set = rustix::thread::CpuSet::new();
        set.set(cpu);
        rustix::thread::sched_setaffinity(None, &set).map_err(std::io::Error::from)?;
    }
    Ok(())
}

/// The loops' outcomes as the coordinator collects them.
struct Collected<T> {
    values: Vec<Option<T>>,
    /// Failures, the first one first.
    failures: Vec<Error>,
    /// Loops that ended cancelled because the group cancelled them.
    cancelled: usize,
    received: usize,
    /// The group is cancelling its loops (a failure, or Ctrl-C).
    cancelling: bool,
}

impl<T> Collected<T> {
    fn record(&mut self, index: usize, outcome: Result<T, Error>, controls: &[Control]) {
        self.received += 1;
        match outcome {
            Ok(value) => self.values[index] = Some(value),
            Err(e) if e.is_cancelled() && controls[index].cancel.load(Ordering::Acquire) => {
                self.cancelled += 1;
            }
            Err(e) => {
                self.failures.push(e);
                if !self.cancelling {
                    self.cancelling = true;
                    controls.iter().for_each(Control::cancel);
                }
            }
        }
    }
}

/// Collects every loop's outcome on a small loop of the calling thread (which also takes
/// Ctrl-C, through [`Runner::run`]), cancelling the others at the first failure.
fn coordinate<T: 'static>(
    n: usize,
    controls: Arc<[Control]>,
    outcomes: channel::Receiver<(usize, Result<T, Error>)>,
) -> Result<Vec<T>, Error> {
    let collected = Rc::new(RefCell::new(Collected {
        values: (0..n).map(|_| None).collect(),
        failures: Vec::new(),
        cancelled: 0,
        received: 0,
        cancelling: false,
    }));
    let runner = Runner::new();
    let run = {
        let (collected, controls, outcomes) =
            (collected.clone(), controls.clone(), outcomes.clone());
        runner.run(async move {
            // Dropped unfinished (Ctrl-C cancelled this task): cancel every loop.
            let mut cancel_all = CancelAllOnDrop {
                controls: controls.clone(),
                armed: true,
            };
            while collected.borrow().received < n {
                match outcomes.recv().await {
                    Ok((index, outcome)) => {
                        collected.borrow_mut().record(index, outcome, &controls);
                    }
                    Err(_) => break, // every loop thread is gone
                }
            }
            cancel_all.armed = false;
        })
    };
    runner.close();
    let interrupted = matches!(run, Err(Error::KeyboardInterrupt));
    if let (Err(e), false) = (&run, interrupted) {
        // The coordinator's own loop failed (it could not be made): stop the group.
        collected.borrow_mut().failures.push(e.clone());
        controls.iter().for_each(Control::cancel);
    }
    // After Ctrl-C (or the failure above), the loops are cancelled: wait for them here.
    while collected.borrow().received < n {
        match outcomes.recv_blocking() {
            Ok((index, outcome)) => collected.borrow_mut().record(index, outcome, &controls),
            Err(_) => break,
        }
    }
    let collected = Rc::try_unwrap(collected)
        .ok()
        .expect("the coordinator's task is gone")
        .into_inner();
    if interrupted && collected.cancelled > 0 {
        return Err(Error::KeyboardInterrupt);
    }
    if !collected.failures.is_empty() {
        return Err(Error::Group(Arc::from(collected.failures)));
    }
    collected
        .values
        .into_iter()
        .map(|value| value.ok_or(Error::InvalidState("a loop gave no value")))
        .collect()
}

/// Cancels every loop when dropped while armed (the coordinator's task was cancelled before
/// it heard from every loop).
struct CancelAllOnDrop {
    controls: Arc<[Control]>,
    armed: bool,
}

impl Drop for CancelAllOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.controls.iter().for_each(Control::cancel);
        }
    }
}
