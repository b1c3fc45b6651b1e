//! Blocking work off the loop: `run_in_executor`, `to_thread`, and the thread pool behind them.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use aio_scheduler::{EventLoop, get_running_loop, panic_message};

use crate::Error;
use crate::slot::{Promise, Slot};
// crossbeam-channel, `std`'s threads, locks and atomics; loom's under `cfg(loom)`, for the
// models in `tests/loom_executor.rs`.
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::channel::{self, Receiver, RecvTimeoutError, Sender};
use crate::sync::thread::{self, JoinHandle};
use crate::sync::{Condvar, Mutex, MutexGuard};

/// A unit of blocking work.
///
/// # Examples
///
/// ```
/// use aio_task::Job;
///
/// let (tx, rx) = std::sync::mpsc::channel();
/// let job: Job = Box::new(move || tx.send(6 * 7).unwrap());
/// std::thread::spawn(job).join().unwrap(); // any thread may run it, once
/// assert_eq!(rx.recv().unwrap(), 42);
/// ```
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// Something that runs blocking jobs off the loop thread (asyncio's `concurrent.futures`
/// executors). [`ThreadPoolExecutor`] is the default; pass your own to
/// [`run_in_executor`].
///
/// # Examples
///
/// ```
/// use aio_task::{Error, Executor, Job, run, run_in_executor};
///
/// /// Runs every job on a fresh thread.
/// struct ThreadPerJob;
/// impl Executor for ThreadPerJob {
///     fn submit(&self, job: Job) -> Result<(), Error> {
///         std::thread::spawn(job);
///         Ok(())
///     }
/// }
///
/// let out = run(async { run_in_executor(Some(&ThreadPerJob), || 6 * 7).await })??;
/// assert_eq!(out, 42);
/// # Ok::<(), aio_task::Error>(())
/// ```
pub trait Executor: Send + Sync {
    /// Runs `job` eventually, on some other thread.
    ///
    /// # Errors
    ///
    /// When the executor cannot accept work (for example, it was shut down).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Executor, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// pool.submit(Box::new(move || tx.send(std::thread::current().id()).unwrap()))?;
    /// assert_ne!(rx.recv().unwrap(), std::thread::current().id()); // ran on a worker
    /// pool.shutdown(true);
    /// assert!(pool.submit(Box::new(|| {})).is_err()); // refused after shutdown
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    fn submit(&self, job: Job) -> Result<(), Error>;
}

/// A pool of worker threads (asyncio's default `ThreadPoolExecutor`): threads are created on
/// demand up to `max_workers` and retire after being idle for a while. Jobs go through a
/// `crossbeam-channel`. Clones share the pool; when the last one is dropped, the workers
/// finish the queued jobs and exit (like leaving Python's `with ThreadPoolExecutor():`,
/// without the wait).
///
/// # Examples
///
/// ```
/// use aio_task::{ThreadPoolExecutor, run, run_in_executor};
///
/// let pool = ThreadPoolExecutor::new(2);
/// let out = run(async move {
///     let a = run_in_executor(Some(&pool), || "from a worker");
///     a.await
/// })??;
/// assert_eq!(out, "from a worker");
/// # Ok::<(), aio_task::Error>(())
/// ```
#[derive(Clone)]
pub struct ThreadPoolExecutor {
    inner: Arc<Pool>,
}

/// What the handles share. Workers do not hold it, only [`Workers`]: when the last handle
/// goes, the sender goes with it, and the workers finish the queue and exit.
struct Pool {
    sender: Mutex<Option<Sender<Job>>>,
    workers: Arc<Workers>,
}

/// What the worker threads share.
struct Workers {
    receiver: Receiver<Job>,
    max: usize,
    idle_timeout: Duration,
    /// Threads started and not yet retired (read without the lock by [`ThreadPoolExecutor::workers`]).
    alive: AtomicUsize,
    counts: Mutex<Counts>,
    /// Signalled (with `counts`) each time a worker exits: `shutdown(true)` waits on it for
    /// the workers whose handles a concurrent `shutdown(true)` took.
    exited: Condvar,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

#[cfg(not(loom))]
std::thread_local! {
    /// The address of the pool (its [`Workers`]) this thread works for; 0 on other threads.
    static WORKER_OF: Cell<usize> = const { Cell::new(0) };
}

// loom's threads share the OS thread, so they need loom's thread-locals.
#[cfg(loom)]
loom::thread_local! {
    static WORKER_OF: Cell<usize> = Cell::new(0);
}

/// Who is free to take a job, under one lock so a claim and a retirement cannot cross.
///
/// The invariant: every job in the queue either *claimed* a worker — took one of the `idle`
/// tokens, or had a thread started for it — or is counted in `unclaimed` (the pool was at
/// `max_workers`), and a claimed worker never retires. So below `max_workers` the queue never
/// holds more jobs than there are workers waiting for (or on their way to) one, and a job
/// that waits for a later job cannot starve it (asyncio's `ThreadPoolExecutor` keeps the
/// same count with its idle semaphore).
#[derive(Default)]
struct Counts {
    /// Workers that finished a job and wait for the next, minus the claims on them.
    idle: usize,
    /// Threads started and not yet retired.
    alive: usize,
    /// Queued jobs that found every worker busy at `max_workers`; the next worker to finish a
    /// job takes one instead of counting itself idle.
    unclaimed: usize,
}

/// How long an idle worker waits for a job before it exits.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

impl ThreadPoolExecutor {
    /// A pool of at most `max_workers` threads (at least one).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = aio_task::ThreadPoolExecutor::new(0);
    /// assert_eq!(pool.max_workers(), 1); // at least one thread
    /// assert_eq!(pool.workers(), 0); // started on demand
    /// ```
    pub fn new(max_workers: usize) -> ThreadPoolExecutor {
        Self::with_idle_timeout(max_workers, IDLE_TIMEOUT)
    }

    /// A pool whose idle threads exit after `idle_timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = aio_task::ThreadPoolExecutor::with_idle_timeout(4, Duration::from_millis(100));
    /// assert_eq!(pool.max_workers(), 4);
    /// ```
    pub fn with_idle_timeout(max_workers: usize, idle_timeout: Duration) -> ThreadPoolExecutor {
        let (sender, receiver) = channel::unbounded();
        ThreadPoolExecutor {
            inner: Arc::new(Pool {
                sender: Mutex::new(Some(sender)),
                workers: Arc::new(Workers {
                    receiver,
                    max: max_workers.max(1),
                    idle_timeout,
                    alive: AtomicUsize::new(0),
                    counts: Mutex::new(Counts::default()),
                    exited: Condvar::new(),
                    handles: Mutex::new(Vec::new()),
                }),
            }),
        }
    }

    /// Python's default size: `min(32, cpus + 4)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let n = aio_task::ThreadPoolExecutor::default_max_workers();
    /// assert!((5..=32).contains(&n));
    /// ```
    pub fn default_max_workers() -> usize {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cpus + 4).min(32)
    }

    /// The most threads this pool will run.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = aio_task::ThreadPoolExecutor::new(3);
    /// assert_eq!(pool.max_workers(), 3);
    /// assert_eq!(pool.clone().max_workers(), 3); // clones share the pool
    /// ```
    pub fn max_workers(&self) -> usize {
        self.inner.workers.max
    }

    /// Threads currently alive.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = aio_task::ThreadPoolExecutor::new(2);
    /// assert_eq!(pool.workers(), 0); // created on demand
    /// ```
    pub fn workers(&self) -> usize {
        self.inner.workers.alive.load(Ordering::SeqCst)
    }

    /// Stops accepting jobs; workers finish the queued ones and exit. With `wait`, blocks
    /// until they have: every call with `wait` does, also when several race (as Python's
    /// `shutdown(wait=True)` joins every thread in each call). Called with `wait` from one of
    /// the pool's own jobs, it waits for the other workers (a thread cannot wait for itself).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Executor, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new(1);
    /// pool.submit(Box::new(|| {}))?;
    /// pool.shutdown(true);
    /// assert_eq!(pool.workers(), 0);
    /// assert!(pool.submit(Box::new(|| {})).is_err());
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn shutdown(&self, wait: bool) {
        drop(
            self.inner
                .sender
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        if wait {
            let workers = &self.inner.workers;
            let handles =
                std::mem::take(&mut *workers.handles.lock().unwrap_or_else(|e| e.into_inner()));
            let me = thread::current().id();
            for handle in handles {
                if handle.thread().id() != me {
                    // A worker only ends by returning (job panics are caught in the job).
                    let _ = handle.join();
                }
            }
            // A concurrent `shutdown(true)` may hold the other handles: wait for those workers
            // to exit too (all but this thread, if a job of this pool called us).
            let this_one = usize::from(WORKER_OF.with(Cell::get) == workers.address());
            let mut counts = workers.lock_counts();
            while counts.alive > this_one {
                counts = workers
                    .exited
                    .wait(counts)
                    .unwrap_or_else(|e| e.into_inner());
            }
        }
    }

    /// Starts a worker thread; the caller has already counted it in `counts.alive`.
    fn spawn_worker(&self) -> Result<(), Error> {
        let workers = self.inner.workers.clone();
        let spawned = thread::Builder::new()
            .name("aio-executor".into())
            .spawn(move || {
                WORKER_OF.with(|pool| pool.set(workers.address()));
                loop {
                    match workers.receiver.recv_timeout(workers.idle_timeout) {
                        Ok(job) => {
                            // `run_in_executor`'s jobs catch their own panics; a raw
                            // `submit`ted job that panics must not take the worker with it.
                            let _ = catch_unwind(AssertUnwindSafe(job));
                            let mut counts = workers.lock_counts();
                            if counts.unclaimed > 0 {
                                counts.unclaimed -= 1;
                            } else {
                                counts.idle += 1;
                            }
                        }
                        // Every handle is gone and the queue is empty.
                        Err(RecvTimeoutError::Disconnected) => break,
                        // Idle too long: retire by taking back an idle token. With none left,
                        // a submitter has claimed this worker and its job is (or is about to
                        // be) in the queue, so the worker stays for it.
                        Err(RecvTimeoutError::Timeout) => {
                            let mut counts = workers.lock_counts();
                            if counts.idle > 0 {
                                counts.idle -= 1;
                                workers.exit(&mut counts);
                                return;
                            }
                        }
                    }
                }
                workers.exit(&mut workers.lock_counts());
            });
        match spawned {
            Ok(handle) => {
                let workers = &self.inner.workers;
                let mut handles = workers.handles.lock().unwrap_or_else(|e| e.into_inner());
                handles.retain(|h| !thread::is_finished(h));
                handles.push(handle);
                Ok(())
            }
            Err(e) => {
                let workers = &self.inner.workers;
                workers.exit(&mut workers.lock_counts());
                Err(aio_scheduler::Error::from(e).into())
            }
        }
    }
}

impl Workers {
    fn lock_counts(&self) -> MutexGuard<'_, Counts> {
        // The critical sections only do arithmetic, so a poisoned lock still holds good counts.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a worker out (its thread is about to return, or could not start), under the
    /// `counts` lock, and tells the waiting `shutdown(true)` calls.
    fn exit(&self, counts: &mut Counts) {
        counts.alive -= 1;
        self.alive.store(counts.alive, Ordering::SeqCst);
        self.exited.notify_all();
    }

    /// Tells this pool's workers from other threads ([`WORKER_OF`]).
    fn address(&self) -> usize {
        std::ptr::from_ref(self).addr()
    }
}

impl Executor for ThreadPoolExecutor {
    fn submit(&self, job: Job) -> Result<(), Error> {
        let sender = self.inner.sender.lock().unwrap_or_else(|e| e.into_inner());
        let Some(sender) = sender.as_ref() else {
            return Err(Error::InvalidState(
                "cannot schedule new futures after shutdown",
            ));
        };
        let workers = &self.inner.workers;
        // Claim a worker for the job: an idle one, else a new thread while there is room. At
        // `max_workers` the job waits in the queue for the first worker to finish.
        let start_one = {
            let mut counts = workers.lock_counts();
            if counts.idle > 0 {
                counts.idle -= 1;
                false
            } else if counts.alive < workers.max {
                counts.alive += 1;
                workers.alive.store(counts.alive, Ordering::SeqCst);
                true
            } else {
                counts.unclaimed += 1;
                false
            }
        };
        if start_one {
            if let Err(e) = self.spawn_worker() {
                // With no thread at all the job would never run: report it. Otherwise a busy
                // worker will get to it.
                let mut counts = workers.lock_counts();
                if counts.alive == 0 {
                    return Err(e);
                }
                counts.unclaimed += 1;
            }
        }
        sender
            .send(job)
            .map_err(|_| Error::InvalidState("cannot schedule new futures after shutdown"))
    }
}

/// The idle timeout's clock under loom, for the models in `tests/loom_executor.rs`: loom
/// has no time, so a model's thread calls [`IdleClock::tick`] to time out every worker
/// waiting for a job at that moment, at whatever point loom schedules it.
#[cfg(loom)]
pub struct IdleClock(Arc<Workers>);

#[cfg(loom)]
impl fmt::Debug for IdleClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdleClock").finish_non_exhaustive()
    }
}

#[cfg(loom)]
impl IdleClock {
    /// The clock of `pool`'s workers (it does not keep the pool open).
    pub fn new(pool: &ThreadPoolExecutor) -> IdleClock {
        IdleClock(pool.inner.workers.clone())
    }

    /// Ends the wait of every worker waiting for a job now, with a timeout.
    pub fn tick(&self) {
        self.0.receiver.tick();
    }
}

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolExecutor")
            .field("max_workers", &self.max_workers())
            .field("workers", &self.workers())
            .finish()
    }
}

/// The loop's default executor, created on first use, shut down when the loop closes.
#[derive(Default)]
struct DefaultExecutor {
    pool: std::cell::RefCell<Option<ThreadPoolExecutor>>,
}

impl DefaultExecutor {
    fn get(&self) -> ThreadPoolExecutor {
        self.pool
            .borrow_mut()
            .get_or_insert_with(|| {
                ThreadPoolExecutor::new(ThreadPoolExecutor::default_max_workers())
            })
            .clone()
    }
}

impl Drop for DefaultExecutor {
    fn drop(&mut self) {
        // asyncio's close(): shutdown(wait=False).
        if let Some(pool) = self.pool.get_mut().take() {
            pool.shutdown(false);
        }
    }
}

/// Runs the blocking closure `f` on `executor` (the loop's default thread pool when `None`)
/// and awaits its result without blocking the loop (asyncio's `loop.run_in_executor`).
///
/// A panic in `f` becomes the awaiting task's [`Error::Panicked`]. Dropping the future does
/// not stop `f`: a running thread cannot be cancelled.
///
/// # Errors
///
/// [`Error::Panicked`]; [`Error::Runtime`] without a running loop (for the default pool);
/// [`Error::InvalidState`] if the executor was shut down.
///
/// # Cancel safety
///
/// The job is submitted when this is called, not at the first poll, and dropping the
/// [`ExecutorFuture`] does not stop it: a running thread cannot be cancelled. The job runs to
/// its end, and its result (or panic) is then dropped. Awaiting the future by reference,
/// `(&mut fut).await`, is cancel safe: dropping that await loses nothing, and the result waits
/// in the future for its next poll.
///
/// # Examples
///
/// ```
/// use aio_task::{run, run_in_executor};
///
/// let sum = run(async {
///     run_in_executor(None, || (1..=1000u64).sum::<u64>()).await
/// })??;
/// assert_eq!(sum, 500500);
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn run_in_executor<F, T>(executor: Option<&dyn Executor>, f: F) -> ExecutorFuture<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let slot = Arc::new(Slot::new());
    // If the executor drops the job without running it, the awaiter gets a cancellation.
    let promise = Promise::new(
        slot.clone(),
        Error::cancelled(Some("the executor dropped the job")),
    );
    let job: Job = Box::new(move || {
        let outcome = catch_unwind(AssertUnwindSafe(f))
            .map_err(|payload| Error::Panicked(panic_message(&*payload).into()));
        promise.set(outcome);
    });
    let submitted = match executor {
        Some(executor) => executor.submit(job),
        None => get_running_loop()
            .map_err(Error::from)
            .and_then(|event_loop| default_executor(&event_loop).submit(job)),
    };
    if let Err(error) = submitted {
        // The refused job was dropped, and its promise reported a cancellation; the real
        // reason is this error. Nobody has seen the slot yet, so it can still change.
        slot.replace(Err(error));
    }
    ExecutorFuture { slot }
}

/// Runs the blocking closure `f` on the running loop's default thread pool (asyncio's
/// `asyncio.to_thread`).
///
/// # Errors
///
/// As [`run_in_executor`].
///
/// # Cancel safety
///
/// As [`run_in_executor`]: dropping the future does not stop `f`, which runs to its end on its
/// thread; its result is then dropped. Awaiting by reference loses nothing.
///
/// # Examples
///
/// ```
/// let text = aio_task::run(async {
///     aio_task::to_thread(|| std::fs::read_to_string("Cargo.toml").map(|s| s.len())).await
/// })??;
/// assert!(text? > 0);
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn to_thread<F, T>(f: F) -> ExecutorFuture<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    run_in_executor(None, f)
}

/// The loop's default executor (created on first use).
///
/// # Examples
///
/// ```
/// let lp = aio_scheduler::EventLoop::new()?;
/// let pool = aio_task::default_executor(&lp);
/// assert_eq!(pool.max_workers(), aio_task::ThreadPoolExecutor::default_max_workers());
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn default_executor(event_loop: &EventLoop) -> ThreadPoolExecutor {
    event_loop.extension::<DefaultExecutor>().get()
}

/// Shuts the running loop's default executor down and waits (without blocking the loop) for
/// its threads to finish (asyncio's `loop.shutdown_default_executor()`). `run` calls it
/// before closing the loop.
///
/// # Errors
///
/// [`Error::Runtime`] outside a running loop.
///
/// # Cancel safety
///
/// Dropping the future once it has started does not stop the shutdown: the pool is already
/// detached from the loop, and its threads finish their queued jobs and exit. Only the wait is
/// lost: a second call finds no default executor and returns at once, without waiting for them.
///
/// # Examples
///
/// ```
/// aio_task::run(async {
///     aio_task::to_thread(|| ()).await?;
///     aio_task::shutdown_default_executor().await
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub async fn shutdown_default_executor() -> Result<(), Error> {
    let event_loop = get_running_loop()?;
    let pool = event_loop
        .extension::<DefaultExecutor>()
        .pool
        .borrow_mut()
        .take();
    if let Some(pool) = pool {
        // Joining blocks, so it happens on a helper thread of its own.
        let slot = Arc::new(Slot::new());
        let done = slot.clone();
        std::thread::spawn(move || {
            pool.shutdown(true);
            done.set(Ok(()));
        });
        ExecutorFuture { slot }.await?;
    }
    Ok(())
}

/// The future returned by [`run_in_executor`] and [`to_thread`].
///
/// # Cancel safety
///
/// Dropping it does not stop the job, which runs to its end; its result is then dropped.
/// Awaiting it by reference, `(&mut fut).await`, is cancel safe: the result waits in the future
/// for its next poll.
///
/// # Examples
///
/// ```
/// use aio_task::{Error, ExecutorFuture, run, to_thread};
///
/// run(async {
///     let fut: ExecutorFuture<u64> = to_thread(|| 2 + 2);
///     assert_eq!(fut.await?, 4);
///     // A panic on the worker thread comes back as an error, not a crash.
///     let panicked = to_thread(|| -> u64 { panic!("in a worker") }).await;
///     assert!(matches!(panicked, Err(Error::Panicked(_))));
///     Ok::<_, Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct ExecutorFuture<T> {
    slot: Arc<Slot<T>>,
}

impl<T> Future for ExecutorFuture<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        self.slot.poll(cx)
    }
}

impl<T> fmt::Debug for ExecutorFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutorFuture")
            .field("done", &self.slot.is_done())
            .finish()
    }
}
