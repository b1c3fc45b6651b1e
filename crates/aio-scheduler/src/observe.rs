//! Seeing inside a running loop: its metrics ([`EventLoop::metrics`]), every loop of the
//! process ([`loops`]), and a dump of its state printed on a signal
//! ([`EventLoop::dump_on_signal`], or the environment variable `AIO_DUMP_SIGNAL`).
//!
//! The loop's thread keeps the counters in atomics that only it writes, with `Relaxed` loads
//! and stores (plain moves on x86-64 and AArch64), once per iteration rather than per
//! callback, so that a [`LoopHandle`] on any thread can read them.
//!
//! The scheduler knows no tasks: the task layer (`aio-task`) registers the function that
//! describes a loop's tasks with [`set_task_dumper`], and the dump includes what it prints.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::event_loop::Shared;
use crate::{Error, EventLoop, LoopHandle};

/// A snapshot of a loop's counters ([`EventLoop::metrics`], [`LoopHandle::metrics`]).
///
/// Counts are totals since the loop was made. The times are measured with the clock read the
/// loop does anyway (around a blocking wait, at the start and end of a run), so they cost
/// nothing per callback; [`longest_callback`](LoopMetrics::longest_callback) needs each
/// callback timed and is only measured in debug mode ([`EventLoop::set_debug`]), which times
/// every callback and task step.
///
/// # Examples
///
/// ```
/// let lp = aio_scheduler::EventLoop::new()?;
/// lp.call_soon(|| {})?;
/// lp.run_until_complete(aio_scheduler::sleep(0.001))??;
/// let m = lp.metrics();
/// assert!(m.iterations >= 2 && m.callbacks >= 2);
/// assert_eq!((m.timers_scheduled, m.timers_cancelled), (1, 0));
/// assert!(m.time_blocked > std::time::Duration::ZERO);
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoopMetrics {
    /// Iterations of the loop (asyncio's `_run_once` calls).
    pub iterations: u64,
    /// Entries of the ready queue taken and run: callbacks and task steps.
    pub callbacks: u64,
    /// Tasks created on the loop (counted by the task layer).
    pub tasks_created: u64,
    /// Tasks created and not finished yet.
    pub tasks_alive: u64,
    /// Timers ever scheduled: `call_later`/`call_at` and sleeps with a deadline.
    pub timers_scheduled: u64,
    /// Of those, how many were cancelled.
    pub timers_cancelled: u64,
    /// Time spent blocked in the reactor, waiting for I/O or a timer.
    ///
    /// A wait with no timer pending is timed with the kernel's coarse monotonic clock on
    /// Linux (`CLOCK_MONOTONIC_COARSE`: a few milliseconds' resolution, a fifth of a precise
    /// reading's cost); nothing but this figure needs that wait's time, and the sum over
    /// many waits stays unbiased. Waits with a timer pending, and waits elsewhere, are timed
    /// with [`Instant`].
    pub time_blocked: Duration,
    /// Time spent running, not blocked: callbacks, task steps and the loop's own work.
    pub time_running: Duration,
    /// The longest single callback or task step (measured in debug mode only; zero otherwise).
    pub longest_callback: Duration,
    /// The most entries the ready queue held at the start of an iteration.
    pub ready_high_water: u64,
}

/// The counters behind [`LoopMetrics`]: written by the loop's thread only.
#[derive(Default)]
pub(crate) struct Metrics {
    pub(crate) iterations: AtomicU64,
    pub(crate) callbacks: AtomicU64,
    tasks_created: AtomicU64,
    tasks_finished: AtomicU64,
    pub(crate) timers_scheduled: AtomicU64,
    pub(crate) timers_cancelled: AtomicU64,
    blocked_ns: AtomicU64,
    /// Time in finished runs.
    run_ns: AtomicU64,
    /// When the current run started (nanoseconds since `origin`, plus one), zero when not
    /// running.
    run_started: AtomicU64,
    longest_ns: AtomicU64,
    pub(crate) high_water: AtomicU64,
}

/// Adds `n` to a counter only the loop's thread writes: a load and a store, no atomic
/// read-modify-write.
#[inline]
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A cheap reading for timing a wait that nothing but the metrics needs the time of: the
/// coarse monotonic clock on Linux (a read of the vDSO's last tick, no TSC read: 5–6 ns
/// against 28 ns for `Instant::now()` on a KVM guest), a precise reading elsewhere. Only
/// differences of two readings mean anything.
#[inline]
pub(crate) fn wait_clock() -> Duration {
    #[cfg(all(target_os = "linux", not(miri)))]
    {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
        Duration::new(
            u64::try_from(now.tv_sec).unwrap_or(0),
            u32::try_from(now.tv_nsec).unwrap_or(0),
        )
    }
    #[cfg(not(all(target_os = "linux", not(miri))))]
    {
        static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        ORIGIN.get_or_init(std::time::Instant::now).elapsed()
    }
}

impl Metrics {
    pub(crate) fn add_blocked(&self, d: Duration) {
        bump(&self.blocked_ns, nanos(d));
    }

    pub(crate) fn note_callback_time(&self, d: Duration) {
        let ns = nanos(d);
        if ns > self.longest_ns.load(Relaxed) {
            self.longest_ns.store(ns, Relaxed);
        }
    }

    pub(crate) fn run_started(&self, origin: Instant) {
        self.run_started
            .store(nanos(origin.elapsed()).saturating_add(1), Relaxed);
    }

    pub(crate) fn run_ended(&self, origin: Instant) {
        let started = self.run_started.swap(0, Relaxed);
        if started != 0 {
            let now = nanos(origin.elapsed()).saturating_add(1);
            bump(&self.run_ns, now.saturating_sub(started));
        }
    }

    pub(crate) fn snapshot(&self, origin: Instant) -> LoopMetrics {
        let started = self.run_started.load(Relaxed);
        let mut in_runs = self.run_ns.load(Relaxed);
        if started != 0 {
            let now = nanos(origin.elapsed()).saturating_add(1);
            in_runs = in_runs.saturating_add(now.saturating_sub(started));
        }
        let blocked = self.blocked_ns.load(Relaxed);
        let created = self.tasks_created.load(Relaxed);
        LoopMetrics {
            iterations: self.iterations.load(Relaxed),
            callbacks: self.callbacks.load(Relaxed),
            tasks_created: created,
            tasks_alive: created.saturating_sub(self.tasks_finished.load(Relaxed)),
            timers_scheduled: self.timers_scheduled.load(Relaxed),
            timers_cancelled: self.timers_cancelled.load(Relaxed),
            time_blocked: Duration::from_nanos(blocked),
            time_running: Duration::from_nanos(in_runs.saturating_sub(blocked)),
            longest_callback: Duration::from_nanos(self.longest_ns.load(Relaxed)),
            ready_high_water: self.high_water.load(Relaxed),
        }
    }
}

impl LoopHandle {
    /// The loop's [`LoopMetrics`], readable from any thread. What the loop's thread counted
    /// is published once per iteration, so a running loop's figures may lag by one (the
    /// timer totals, at iterations with a timer scheduled or nothing to run, and when a run
    /// ends).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let handle = lp.handle();
    /// lp.run_until_complete(aio_scheduler::sleep(0))??;
    /// let seen = std::thread::spawn(move || handle.metrics().iterations).join().unwrap();
    /// assert!(seen >= 1);
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn metrics(&self) -> LoopMetrics {
        self.shared.metrics.snapshot(self.shared.origin)
    }

    /// The loop's number, unique in the process (1 for the first loop made).
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = (aio_scheduler::EventLoop::new()?, aio_scheduler::EventLoop::new()?);
    /// assert_ne!(a.handle().id(), b.handle().id());
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// Counts a task created on this loop, for [`LoopMetrics::tasks_created`]. For task
    /// implementations (`aio-task` calls it); call it on the loop's thread only.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// lp.handle().note_task_created();
    /// assert_eq!((lp.metrics().tasks_created, lp.metrics().tasks_alive), (1, 1));
    /// lp.handle().note_task_finished();
    /// assert_eq!(lp.metrics().tasks_alive, 0);
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    #[inline]
    pub fn note_task_created(&self) {
        bump(&self.shared.metrics.tasks_created, 1);
    }

    /// Counts a task of this loop that finished (see
    /// [`note_task_created`](LoopHandle::note_task_created)).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// lp.handle().note_task_created();
    /// lp.handle().note_task_finished();
    /// assert_eq!(lp.metrics().tasks_alive, 0);
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    #[inline]
    pub fn note_task_finished(&self) {
        bump(&self.shared.metrics.tasks_finished, 1);
    }
}

impl EventLoop {
    /// The loop's [`LoopMetrics`]: iterations, callbacks run, tasks, timers, time blocked and
    /// running, the longest callback, the ready queue's high-water mark. Another thread reads
    /// the same through [`LoopHandle::metrics`].
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let h = lp.call_later(60, || {})?;
    /// h.cancel();
    /// lp.run_until_complete(aio_scheduler::sleep(0))??;
    /// let m = lp.metrics();
    /// assert_eq!((m.timers_scheduled, m.timers_cancelled), (1, 1));
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn metrics(&self) -> LoopMetrics {
        self.inner.publish_timer_totals();
        self.handle().metrics()
    }

    /// A description of the loop for a person: its number, reactor, state and metrics, and
    /// then its tasks as the task layer describes them (a table like `python -m asyncio ps`
    /// and a tree like `pstree`, when `aio-task` is in use).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let text = lp.dump();
    /// assert!(text.starts_with(&format!("Event loop {}", lp.handle().id())));
    /// assert!(text.contains("iterations"));
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn dump(&self) -> String {
        let m = self.metrics();
        let mut out = format!(
            "Event loop {} ({}, {}{}): {} iterations, {} callbacks, {} tasks alive of {} \
             created, {} timers scheduled ({} cancelled), blocked {:.3?}, running {:.3?}, \
             ready-queue high-water {}\n",
            self.handle().id(),
            self.reactor().name(),
            if self.is_running() {
                "running"
            } else {
                "not running"
            },
            if self.get_debug() { ", debug" } else { "" },
            m.iterations,
            m.callbacks,
            m.tasks_alive,
            m.tasks_created,
            m.timers_scheduled,
            m.timers_cancelled,
            m.time_blocked,
            m.time_running,
            m.ready_high_water,
        );
        if let Some(dumper) = TASK_DUMPER.get() {
            out.push_str(&dumper(self));
        }
        out
    }

    /// Prints [`dump`](EventLoop::dump) to stderr each time the process receives `signal`
    /// (for example `SIGUSR1`), without stopping anything: the signal is delivered to the loop
    /// as [`add_signal_handler`](EventLoop::add_signal_handler) delivers any, and the dump is
    /// an ordinary callback on the loop's thread. Every loop that asked for the same signal
    /// prints its own. A loop also asks when the environment variable `AIO_DUMP_SIGNAL` names a
    /// signal (`SIGUSR1`, `USR1` or a number) when the loop is made.
    ///
    /// It replaces a handler this loop had for `signal`.
    ///
    /// # Errors
    ///
    /// As [`add_signal_handler`](EventLoop::add_signal_handler).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::{EventLoop, signal};
    /// let lp = EventLoop::new()?;
    /// lp.dump_on_signal(signal::SIGUSR2)?;
    /// assert!(lp.remove_signal_handler(signal::SIGUSR2)?);
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn dump_on_signal(&self, signal: i32) -> Result<(), Error> {
        let weak = self.downgrade();
        self.add_signal_handler(signal, move || {
            if let Some(lp) = weak.upgrade() {
                use std::io::Write;
                let text = lp.dump();
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(text.as_bytes());
                let _ = err.flush();
            }
        })
    }
}

/// What the task layer prints about a loop's tasks (see [`set_task_dumper`]).
static TASK_DUMPER: OnceLock<fn(&EventLoop) -> String> = OnceLock::new();

/// Registers the function [`EventLoop::dump`] calls to describe a loop's tasks. For task
/// implementations: `aio-task` registers its table and tree when its first task is created.
/// The first registration wins; later ones are ignored.
///
/// # Examples
///
/// ```
/// fn none(_: &aio_scheduler::EventLoop) -> String {
///     String::new()
/// }
/// aio_scheduler::observe::set_task_dumper(none);
/// ```
pub fn set_task_dumper(dumper: fn(&EventLoop) -> String) {
    let _ = TASK_DUMPER.set(dumper);
}

/// Every loop of the process that is not closed yet, in the order they were made: with
/// [`LoopHandle::call_soon_threadsafe`], a way to ask each for its
/// [`dump`](EventLoop::dump) or read its [`metrics`](LoopHandle::metrics) from anywhere.
///
/// # Examples
///
/// ```
/// let lp = aio_scheduler::EventLoop::new()?;
/// let id = lp.handle().id();
/// assert!(aio_scheduler::observe::loops().iter().any(|h| h.id() == id));
/// lp.close()?;
/// assert!(!aio_scheduler::observe::loops().iter().any(|h| h.id() == id));
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
pub fn loops() -> Vec<LoopHandle> {
    let list = LOOPS.lock().unwrap_or_else(|e| e.into_inner());
    list.iter()
        .filter_map(Weak::upgrade)
        .map(|shared| LoopHandle { shared })
        .filter(|h| !h.is_closed())
        .collect()
}

static LOOPS: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

/// Adds a new loop to [`loops`] (and forgets loops that are gone).
pub(crate) fn register(shared: &std::sync::Arc<Shared>) {
    let mut list = LOOPS.lock().unwrap_or_else(|e| e.into_inner());
    list.retain(|w| w.strong_count() > 0);
    list.push(std::sync::Arc::downgrade(shared));
}

/// The signal `AIO_DUMP_SIGNAL` names, if any: `SIGUSR1`, `USR1`, or a number.
pub(crate) fn env_dump_signal() -> Option<i32> {
    let value = std::env::var("AIO_DUMP_SIGNAL").ok()?;
    let value = value.trim();
    if let Ok(n) = value.parse() {
        return Some(n);
    }
    let name = value.strip_prefix("SIG").unwrap_or(value);
    let known = [
        ("HUP", libc::SIGHUP),
        ("INT", libc::SIGINT),
        ("QUIT", libc::SIGQUIT),
        ("USR1", libc::SIGUSR1),
        ("USR2", libc::SIGUSR2),
        ("TERM", libc::SIGTERM),
        ("WINCH", libc::SIGWINCH),
    ];
    known
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, s)| *s)
}
