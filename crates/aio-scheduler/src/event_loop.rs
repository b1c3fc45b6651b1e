//! The event loop: asyncio's `BaseEventLoop`, with `run_once` as the algorithm.

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use aio_reactor::{Notify, Reactor};

use crate::handle::{Callback, CallbackCell, ThreadsafeCallback, ThreadsafeCell};
use crate::remote::RemoteQueue;
use crate::timers::TimerKey;
use crate::{Error, Handle, IntoDelay, ThreadsafeHandle, TimerHandle, TimerHeap};

/// asyncio's `MAXIMUM_SELECT_TIMEOUT`: the longest single wait in the reactor.
const MAX_SELECT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// While the ready queue is busy, the reactor is polled (without blocking) once this many
/// callbacks have run since the last poll, instead of once per iteration: a zero-timeout poll
/// costs several system calls, and a busy loop would otherwise spend most of its time there.
/// This bounds how long I/O readiness can wait behind ready work. See `docs/design.md`.
const IO_POLL_INTERVAL: u32 = 64;

/// Ready-queue capacity that is never given back (entries are 24 bytes: 96 KiB).
const READY_KEEP: usize = 4096;

static NEXT_LOOP_ID: AtomicU64 = AtomicU64::new(1);

/// A task step as the loop runs it: an `async-task` runnable whose metadata is the handle of
/// the loop it belongs to. Keeping the handle there (rather than in the schedule closure)
/// makes the schedule function [`schedule`] zero-sized, which spares `async-task` a waker
/// clone and drop — two atomic operations — around every wake-up.
///
/// # Examples
///
/// ```
/// use aio_scheduler::{EventLoop, Runnable, schedule};
///
/// let lp = EventLoop::new()?;
/// let (runnable, task): (Runnable, _) = async_task::Builder::new()
///     .metadata(lp.handle())
///     .spawn(|_| async { "stepped by the loop" }, schedule);
/// assert!(!runnable.metadata().is_closed()); // the metadata: its loop's handle
/// runnable.schedule(); // through `schedule`, onto that loop's queue
/// assert_eq!(lp.run_until_complete(task)?, "stepped by the loop");
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
pub type Runnable = async_task::Runnable<LoopHandle>;

/// asyncio's default `slow_callback_duration`.
const SLOW_CALLBACK_DURATION: Duration = Duration::from_millis(100);

thread_local! {
    /// The loop running on this thread, if any (asyncio's `_running_loop`).
    pub(crate) static RUNNING: RefCell<Option<Rc<LoopInner>>> = const { RefCell::new(None) };
    /// The running loop's `slow_callback_duration` when it is in debug mode, so the task
    /// layer can check "debug?" per step with one thread-local read.
    static RUNNING_DEBUG: Cell<Option<Duration>> = const { Cell::new(None) };
    /// The running loop's virtual clock, when it has one (see [`EventLoop::set_virtual_time`]):
    /// [`now`] reads it with one thread-local access.
    static RUNNING_CLOCK: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Set while `run_until_complete` drops a future that did not finish (see
    /// [`dropping_unfinished_main`]).
    static DROPPING_UNFINISHED_MAIN: Cell<bool> = const { Cell::new(false) };
    /// Every loop made on this thread (dead ones are pruned as loops are made): where a
    /// sleep finds the heap that holds its timer when that is not the running loop's (see
    /// [`with_timer`]).
    static THREAD_LOOPS: RefCell<Vec<Weak<LoopInner>>> = const { RefCell::new(Vec::new()) };
}

/// The time on the running loop's clock ([`EventLoop::time`]): its virtual clock when it has
/// one, otherwise (and outside a running loop) [`Instant::now`]. Deadlines that the task layer
/// computes from a delay (`sleep`, `timeout`, `wait_for`) count from here, so they follow a
/// loop's virtual time.
///
/// # Examples
///
/// ```
/// use std::time::Instant;
/// let before = Instant::now();
/// assert!(aio_scheduler::now() >= before); // no loop running: the real clock
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
pub fn now() -> Instant {
    RUNNING_CLOCK
        .try_with(Cell::get)
        .ok()
        .flatten()
        .unwrap_or_else(Instant::now)
}

/// Whether `run_until_complete` is dropping, on this thread, the future it was given without
/// that future having finished (the loop was stopped first).
///
/// asyncio's `run_until_complete` leaves such a future pending — and whatever it awaited, so a
/// second `run_until_complete(task)` finishes the task. Handles that cancel what they await
/// when dropped mid-await (`aio-task`'s `Join`, `Wait`, `gather`) check this and leave it
/// alone.
///
/// # Examples
///
/// ```
/// use aio_scheduler::{EventLoop, dropping_unfinished_main};
///
/// struct Probe;
/// impl Drop for Probe {
///     fn drop(&mut self) {
///         assert!(dropping_unfinished_main());
///     }
/// }
/// let lp = EventLoop::new()?;
/// lp.stop();
/// let probe = Probe;
/// let out = lp.run_until_complete(async move {
///     let _probe = probe;
///     std::future::pending::<()>().await
/// });
/// assert!(out.is_err()); // stopped before it completed; the probe saw the flag
/// assert!(!dropping_unfinished_main());
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
pub fn dropping_unfinished_main() -> bool {
    DROPPING_UNFINISHED_MAIN
        .try_with(Cell::get)
        .unwrap_or(false)
}

/// Sets [`DROPPING_UNFINISHED_MAIN`] until dropped (also when the future's drop panics).
struct UnfinishedMainDrop(bool);

impl UnfinishedMainDrop {
    fn start() -> UnfinishedMainDrop {
        UnfinishedMainDrop(
            DROPPING_UNFINISHED_MAIN
                .try_with(|flag| flag.replace(true))
                .unwrap_or(false),
        )
    }
}

impl Drop for UnfinishedMainDrop {
    fn drop(&mut self) {
        let _ = DROPPING_UNFINISHED_MAIN.try_with(|flag| flag.set(self.0));
    }
}

/// One entry of the ready queue (asyncio's `_ready`).
pub(crate) enum Ready {
    /// A task step (`Task.__step`) of an `async-task` task.
    Runnable(Runnable),
    /// A task step of a task with its own allocation (`aio-task`'s).
    Task(crate::raw_task::TaskRunnable),
    /// A `call_soon` callback, or a due `call_later` / `call_at` one.
    Callback(Rc<dyn Callback>),
    /// A callback sent from another thread.
    Threadsafe(Arc<dyn ThreadsafeCallback>),
    /// Poll the future given to `run_until_complete`.
    Main,
    /// Stop after this iteration.
    Stop,
    /// A step of the local step in this slot, of this generation (see [`crate::local`]).
    Local(u32, u8),
}

/// What other threads (and wakers fired outside the running loop) send to the loop.
pub(crate) enum Remote {
    Runnable(Runnable),
    Task(crate::raw_task::TaskRunnable),
    Callback(Arc<dyn ThreadsafeCallback>),
    Main,
    Stop,
    /// A local step woken away from its running loop.
    Local(u32, u8),
}

impl From<Remote> for Ready {
    fn from(remote: Remote) -> Ready {
        match remote {
            Remote::Runnable(r) => Ready::Runnable(r),
            Remote::Task(r) => Ready::Task(r),
            Remote::Callback(c) => Ready::Threadsafe(c),
            Remote::Main => Ready::Main,
            Remote::Stop => Ready::Stop,
            Remote::Local(slot, generation) => Ready::Local(slot, generation),
        }
    }
}

/// The loop's timers: sleeping futures' wakers and `call_later` / `call_at` callbacks in two
/// heaps, so that each slab slot is a 16-byte payload and its sequence number (24 bytes; one
/// heap of an enum of both took 32). Both heaps measure from one epoch and take sequence
/// numbers from the thread's one counter, so `(deadline, sequence)` orders their heads against
/// each other: timers fire in deadline order, equal deadlines in scheduling order, whichever
/// heap they sit in.
pub(crate) struct Timers {
    /// What [`crate::sleep`] registers (and [`with_timer`] finds).
    pub(crate) wakers: TimerHeap<Waker>,
    pub(crate) callbacks: TimerHeap<Rc<dyn Callback>>,
}

impl Timers {
    fn new(epoch: Instant) -> Timers {
        Timers {
            wakers: TimerHeap::for_loop(epoch),
            callbacks: TimerHeap::for_loop(epoch),
        }
    }

    /// The earliest entry of both heaps, cancelled or not: which heap holds it (`true` for
    /// the callbacks') and its deadline in ticks. Together the two heaps keep asyncio's one
    /// `_scheduled` order.
    fn first(&self) -> Option<(bool, u64)> {
        match (self.wakers.head(), self.callbacks.head()) {
            (Some(w), Some(c)) if c < w => Some((true, c.0)),
            (Some(w), _) => Some((false, w.0)),
            (None, Some(c)) => Some((true, c.0)),
            (None, None) => None,
        }
    }

    fn first_cancelled(&self, callbacks: bool) -> bool {
        if callbacks {
            self.callbacks.head_cancelled()
        } else {
            self.wakers.head_cancelled()
        }
    }

    /// Pops the earliest entry of the heap [`first`](Timers::first) named: `None` if it was
    /// cancelled.
    fn pop_first(&mut self, callbacks: bool) -> Option<Fire> {
        if callbacks {
            self.callbacks.pop_head().map(Fire::Callback)
        } else {
            self.wakers.pop_head().map(Fire::Waker)
        }
    }

    /// asyncio's purge, over both heaps as one: a rebuild when more than 100 timers are
    /// scheduled and more than half of them are cancelled, else the cancelled entries at the
    /// head of the merged order go.
    fn purge(&mut self) {
        let count = self.len();
        let cancelled = self.wakers.cancelled_count() + self.callbacks.cancelled_count();
        if count > crate::timers::MIN_SCHEDULED_FOR_REBUILD && cancelled * 2 > count {
            self.wakers.rebuild();
            self.callbacks.rebuild();
            return;
        }
        while let Some((callbacks, _)) = self.first() {
            if !self.first_cancelled(callbacks) {
                break;
            }
            self.pop_first(callbacks);
        }
    }

    /// The earlier head (cancelled heads count, unless [`purge`](Timers::purge) ran).
    fn next_deadline(&self) -> Option<Instant> {
        match (self.wakers.next_deadline(), self.callbacks.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next live timer due at `now`, in the merged order; cancelled entries due before it
    /// go on the way, as asyncio pops them with the due handles.
    fn pop_due(&mut self, now: Instant) -> Option<Fire> {
        let due = self.wakers.ticks(now);
        while let Some((callbacks, when)) = self.first() {
            if when > due {
                return None;
            }
            if let Some(fired) = self.pop_first(callbacks) {
                return Some(fired);
            }
        }
        None
    }

    fn len(&self) -> usize {
        self.wakers.len() + self.callbacks.len()
    }

    fn totals(&self) -> (u64, u64) {
        let (w, c) = (self.wakers.totals(), self.callbacks.totals());
        (w.0 + c.0, w.1 + c.1)
    }

    fn drain(&mut self) -> Vec<Fire> {
        let mut all: Vec<Fire> = self.wakers.drain().into_iter().map(Fire::Waker).collect();
        all.extend(self.callbacks.drain().into_iter().map(Fire::Callback));
        all
    }
}

impl fmt::Debug for Timers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timers")
            .field("sleeps", &self.wakers)
            .field("callbacks", &self.callbacks)
            .finish()
    }
}

/// What a timer does when it fires.
pub(crate) enum Fire {
    /// Wake a sleeping future (its task is pushed to the ready queue).
    Waker(Waker),
    /// Move a `call_later` / `call_at` callback to the ready queue.
    Callback(Rc<dyn Callback>),
}

/// The `Send + Sync` part of a loop, shared with [`LoopHandle`]s and task schedulers.
pub(crate) struct Shared {
    pub(crate) id: u64,
    owner: ThreadId,
    /// What other threads send, with the sleep/wake handshake (see [`crate::remote`]).
    remote: RemoteQueue<Remote>,
    notifier: Arc<dyn Notify>,
    closed: AtomicBool,
    /// A `Ready::Main` is queued; further wakes of the main future are no-ops.
    main_scheduled: AtomicBool,
    /// The loop's counters (see [`crate::observe`]), written by the loop's thread only.
    pub(crate) metrics: crate::observe::Metrics,
    /// When the loop was made: the origin of the metrics' run times.
    pub(crate) origin: Instant,
}

impl Shared {
    /// Sends `item` to the loop: straight into the ready queue when called on the thread where
    /// this loop is running, otherwise through the remote queue (waking the loop if it sleeps).
    fn send(&self, item: Remote) -> Result<(), Error> {
        let mut item = Some(item);
        let _ = RUNNING.try_with(|running| {
            if let Some(inner) = &*running.borrow() {
                if inner.shared.id == self.id {
                    if let Some(item) = item.take() {
                        inner.push_ready(item.into());
                    }
                }
            }
        });
        match item {
            None => Ok(()),
            Some(item) => self.send_remote(item),
        }
    }

    pub(crate) fn send_remote(&self, item: Remote) -> Result<(), Error> {
        match self.remote.push(item) {
            Ok(sleeping) => {
                // Either the loop sees the item before it blocks, or `push` saw it sleeping.
                if sleeping {
                    // A failed wake-up cannot be reported to anyone useful; the item is queued
                    // and the loop will see it at its next iteration either way.
                    let _ = self.notifier.notify();
                }
                Ok(())
            }
            Err(item) => {
                abandon(item);
                Err(Error::Closed)
            }
        }
    }
}

/// Disposes of an item that can no longer reach its (closed) loop. An `async-task`
/// `Runnable` must never be dropped away from the loop's thread (its future may not be
/// `Send`), and here we may be on any thread, so it is leaked: only possible for wake-ups that
/// arrive after `close()`. An aio-task step (`TaskRunnable`) is released: that is thread-safe
/// by its contract (it never drops the future).
fn abandon(item: Remote) {
    if let Remote::Runnable(runnable) = item {
        std::mem::forget(runnable);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let on_owner = thread::current().id() == self.owner;
        while let Some(item) = self.remote.pop() {
            if on_owner {
                drop(item);
            } else {
                abandon(item);
            }
        }
    }
}

/// The loop's state. Only ever touched from the loop's thread.
pub(crate) struct LoopInner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) ready: RefCell<VecDeque<Ready>>,
    pub(crate) timers: RefCell<Timers>,
    reactor: Box<dyn Reactor>,
    running: Cell<bool>,
    stopping: Cell<bool>,
    closed: Cell<bool>,
    /// The owning handle was dropped while the loop ran: close it when the run ends.
    orphaned: Cell<bool>,
    /// The virtual clock's reading, when virtual time is on.
    virtual_now: Cell<Option<Instant>>,
    /// Reactor registrations of the loop's own (the signal socket): virtual time does not
    /// count them as I/O anybody waits for.
    own_registrations: Rc<Cell<usize>>,
    /// Callbacks run since the reactor was last polled (see [`IO_POLL_INTERVAL`]).
    since_io_poll: Cell<u32>,
    exception_handler: RefCell<Option<ExceptionHandler>>,
    extensions: RefCell<Vec<(TypeId, Rc<dyn Any>)>>,
    debug: Cell<bool>,
    slow_callback_duration: Cell<Duration>,
    /// The loop's local steps (see [`crate::local`]).
    pub(crate) local_steps: RefCell<crate::local::LocalSteps>,
    /// The loop's tag in the process-wide map of loops with local steps (0: not there).
    pub(crate) local_tag: Cell<u32>,
}

/// A loop's exception handler (see [`EventLoop::set_exception_handler`]).
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use aio_scheduler::{EventLoop, ExceptionContext, ExceptionHandler};
///
/// let lp = EventLoop::new()?;
/// let calls = Rc::new(Cell::new(0));
/// let c = calls.clone();
/// lp.set_exception_handler(move |_, _| c.set(c.get() + 1));
/// let handler: ExceptionHandler = lp.get_exception_handler().expect("set above");
/// handler(&lp, &ExceptionContext::new("called directly"));
/// lp.call_exception_handler(&ExceptionContext::new("through the loop"));
/// assert_eq!(calls.get(), 2);
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
pub type ExceptionHandler = Rc<dyn Fn(&EventLoop, &ExceptionContext)>;

impl LoopInner {
    /// Appends to the ready queue from the loop's thread. Items other threads sent earlier
    /// are moved in first, so the queue keeps the order of the calls, as asyncio's single
    /// `_ready` deque does for `call_soon` and `call_soon_threadsafe`.
    pub(crate) fn push_ready(&self, item: Ready) {
        self.drain_remote();
        self.ready.borrow_mut().push_back(item);
    }

    fn drain_remote(&self) {
        if self.shared.remote.is_empty() {
            return;
        }
        let mut ready = self.ready.borrow_mut();
        while let Some(item) = self.shared.remote.pop() {
            match item {
                // Merged with the step's other wakes, as a wake on this thread is.
                Remote::Local(slot, generation) => {
                    if self.schedule_wake(slot, generation) {
                        ready.push_back(Ready::Local(slot, generation));
                    }
                }
                item => ready.push_back(item.into()),
            }
        }
    }

    /// Drops everything still scheduled, on this thread, until nothing is left. Dropping an
    /// `async-task` runnable or waker can schedule more (a cancelled task is scheduled once
    /// more so its future gets dropped), hence the loop. (aio-task's tasks are dropped by
    /// their registry before this; releasing their runnables drops nothing of theirs.)
    fn shutdown(&self) {
        self.closed.set(true);
        self.shared.closed.store(true, Ordering::SeqCst);
        // Higher layers keep per-loop state here (the task registry cancels its tasks).
        let extensions = std::mem::take(&mut *self.extensions.borrow_mut());
        drop(extensions);
        // Local steps (a transport's driver) are dropped unfinished, as tasks are.
        self.unregister_local();
        loop {
            let steps = self.local_steps.borrow_mut().drain();
            if steps.is_empty() {
                break;
            }
            for step in steps {
                // Abandoned, then dropped; a panic in either is reported and the others
                // still run.
                let abandoned = catch_unwind(AssertUnwindSafe(|| step.abandon()));
                let dropped = catch_unwind(AssertUnwindSafe(move || drop(step)));
                for payload in [abandoned.err(), dropped.err()].into_iter().flatten() {
                    EventLoop::default_exception_handler(
                        &ExceptionContext::new("Exception in callback")
                            .with_error(Arc::new(PanicError(panic_message(&*payload)))),
                    );
                }
            }
        }
        loop {
            let ready = std::mem::take(&mut *self.ready.borrow_mut());
            let timers = self.timers.borrow_mut().drain();
            let mut remote = Vec::new();
            while let Some(item) = self.shared.remote.pop() {
                remote.push(item);
            }
            if ready.is_empty() && timers.is_empty() && remote.is_empty() {
                break;
            }
            drop((ready, timers, remote));
        }
        // Sends racing with this close either fail (the sender gets `Error::Closed`) or
        // land in the queue before it closes and are dropped here, on the loop's thread.
        self.shared.remote.close(drop);
    }
}

impl Drop for LoopInner {
    fn drop(&mut self) {
        if !self.closed.get() {
            self.shutdown();
        }
    }
}

/// A registration the loop made for itself (see [`EventLoop::own_registration`]).
pub(crate) struct OwnRegistration(Rc<Cell<usize>>);

impl Drop for OwnRegistration {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// Resets the running state when `run_forever` returns or unwinds.
struct RunningGuard<'a>(&'a LoopInner);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.running.set(false);
        self.0.stopping.set(false);
        self.0.shared.metrics.run_ended(self.0.shared.origin);
        self.0.publish_timer_totals();
        let _ = RUNNING.try_with(|running| running.borrow_mut().take());
        let _ = RUNNING_DEBUG.try_with(|debug| debug.set(None));
        let _ = RUNNING_CLOCK.try_with(|clock| clock.set(None));
        // The owner went away during the run: close now that the run is over. (While
        // unwinding, the next handle dropped outside a panic closes it instead: no
        // destructors of user futures run inside a panic here.)
        if self.0.orphaned.get() && !self.0.closed.get() && !thread::panicking() {
            self.0.shutdown();
        }
    }
}

impl LoopInner {
    /// Copies the timer heap's totals to the metrics.
    pub(crate) fn publish_timer_totals(&self) {
        let (scheduled, cancelled) = self.timers.borrow().totals();
        let metrics = &self.shared.metrics;
        metrics.timers_scheduled.store(scheduled, Ordering::Relaxed);
        metrics.timers_cancelled.store(cancelled, Ordering::Relaxed);
    }

    /// The loop's clock: the virtual one when virtual time is on.
    fn now(&self) -> Instant {
        self.virtual_now.get().unwrap_or_else(Instant::now)
    }

    /// Moves the virtual clock to `to` (never back) and tells [`now`] while running.
    fn advance_to(&self, to: Instant) {
        if let Some(now) = self.virtual_now.get() {
            let to = to.max(now);
            self.virtual_now.set(Some(to));
            if self.running.get() {
                let _ = RUNNING_CLOCK.try_with(|clock| clock.set(Some(to)));
            }
        }
    }

    fn publish_debug(&self) {
        if self.running.get() {
            let slow = self.debug.get().then(|| self.slow_callback_duration.get());
            let _ = RUNNING_DEBUG.try_with(|debug| debug.set(slow));
        }
    }
}

/// asyncio's event loop: a ready queue of callbacks, a heap of timers, and a reactor, driven
/// one iteration at a time by `run_once`.
///
/// An `EventLoop` is a cheap, clonable handle (clones are the same loop). It is not `Send`: a
/// loop lives on one thread, and other threads reach it through its [`LoopHandle`].
///
/// # Ownership
///
/// The handle a constructor returns ([`new`](EventLoop::new),
/// [`with_reactor`](EventLoop::with_reactor), ...) *owns* the loop, as a tokio `Runtime` owns
/// its runtime: dropping it closes the loop (as [`close`](EventLoop::close) does: pending
/// callbacks, timers and tasks are dropped, the reactor's descriptors are closed), or, if the
/// loop is running, closes it when that run returns. Clones — and the handles
/// [`get_running_loop`] and [`WeakLoop::upgrade`] give — share the loop without owning it, so
/// a callback or task that holds a clone of its own loop cannot keep a forgotten loop alive;
/// once the owner is gone they see it closed ([`Error::Closed`]).
///
/// ```
/// use aio_scheduler::{Error, EventLoop};
///
/// let lp = EventLoop::new()?;
/// let clone = lp.clone();
/// let held = lp.clone();
/// lp.call_later(3600.0, move || held.stop())?; // the loop holds a clone of itself
/// drop(lp); // the owner: closes the loop, dropping that callback
/// assert!(clone.is_closed());
/// assert!(matches!(clone.call_soon(|| {}), Err(Error::Closed)));
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
///
/// Each iteration does what asyncio's `_run_once` does, in the same order:
///
/// 1. drop cancelled timers from the head of the heap, or rebuild the heap without them when
///    more than 100 are scheduled and more than half are cancelled;
/// 2. wait in the reactor: not at all if callbacks are ready or the loop is stopping,
///    otherwise until the earliest timer (at most a day), or indefinitely;
/// 3. move every timer that is due to the ready queue;
/// 4. run exactly the callbacks that are ready at this point — callbacks they schedule run in
///    the next iteration.
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use aio_scheduler::EventLoop;
///
/// let lp = EventLoop::new()?;
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
/// lp.call_later(0.01, move || l1.borrow_mut().push("later"))?;
/// lp.call_soon(move || l2.borrow_mut().push("soon"))?;
/// let out = lp.run_until_complete(async move {
///     aio_scheduler::sleep(0.02).await?;
///     l3.borrow_mut().push("main");
///     Ok::<_, aio_scheduler::Error>(42)
/// })??;
/// assert_eq!(out, 42);
/// assert_eq!(*log.borrow(), ["soon", "later", "main"]);
/// lp.close()?;
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
pub struct EventLoop {
    pub(crate) inner: Rc<LoopInner>,
    /// This is the handle the constructor returned: dropping it closes the loop.
    owner: bool,
}

impl Clone for EventLoop {
    /// Another handle to the same loop. A clone does not own the loop: dropping the handle
    /// the constructor returned closes the loop even while clones exist (see
    /// [`EventLoop`]'s "Ownership").
    fn clone(&self) -> EventLoop {
        EventLoop {
            inner: self.inner.clone(),
            owner: false,
        }
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        let inner = &*self.inner;
        if inner.closed.get() {
            return;
        }
        if self.owner {
            if inner.running.get() {
                inner.orphaned.set(true);
            } else {
                inner.shutdown();
            }
        } else if inner.orphaned.get() && !inner.running.get() && !thread::panicking() {
            // The owner went away during a run that then panicked (the run's end skips the
            // close while unwinding): the first clone dropped afterwards closes the loop.
            inner.shutdown();
        }
    }
}

/// A weak reference to an [`EventLoop`], for state that must not keep its loop alive.
///
/// # Examples
///
/// ```
/// let lp = aio_scheduler::EventLoop::new()?;
/// let weak = lp.downgrade();
/// assert!(weak.upgrade().is_some());
/// drop(lp);
/// assert!(weak.upgrade().is_none());
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct WeakLoop {
    inner: Weak<LoopInner>,
}

impl WeakLoop {
    /// The loop, if it still exists.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::{EventLoop, WeakLoop};
    ///
    /// assert!(WeakLoop::default().upgrade().is_none()); // refers to no loop
    /// let lp = EventLoop::new()?;
    /// let again = lp.downgrade().upgrade().expect("the loop is alive");
    /// assert!(again.same(&lp));
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn upgrade(&self) -> Option<EventLoop> {
        self.inner.upgrade().map(|inner| EventLoop {
            inner,
            owner: false,
        })
    }
}

impl fmt::Debug for WeakLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WeakLoop")
    }
}

impl EventLoop {
    /// A new loop on the default reactor: the one the process registered as its default
    /// ([`aio_reactor::new_default_reactor`]), a [`PollingReactor`](aio_reactor::PollingReactor) if none was.
    ///
    /// The scheduler knows no reactor but the trait: the facade `aio` links `aio-reactors`,
    /// which registers the reactor the `AIO_REACTOR` environment variable names (epoll by
    /// default on Linux, `polling`, or `uring`), so `aio::run` and this constructor run any
    /// program or test on any reactor without a rebuild. A program using this crate without
    /// the facade gets the same by linking `aio-reactors` (`use aio_reactors as _;`).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the OS poller cannot be created (for example, out of file
    /// descriptors).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// assert!(!lp.is_running() && !lp.is_closed());
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn new() -> Result<EventLoop, Error> {
        Ok(EventLoop::with_boxed_reactor(
            aio_reactor::new_default_reactor()?,
        ))
    }

    /// A new loop on the given reactor. This is how another reactor implementation (an
    /// io_uring one, a test double) is swapped in.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_reactor::{PollMode, PollingReactor};
    /// use aio_scheduler::EventLoop;
    ///
    /// let lp = EventLoop::with_reactor(PollingReactor::with_mode(PollMode::Oneshot)?);
    /// assert_eq!(lp.run_until_complete(async { 7 })?, 7);
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn with_reactor(reactor: impl Reactor + 'static) -> EventLoop {
        EventLoop::with_boxed_reactor(Box::new(reactor))
    }

    /// A new loop on a reactor already boxed, as [`aio_reactor::new_default_reactor`] and
    /// reactor factories return it.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_reactor::{PollingReactor, Reactor};
    /// use aio_scheduler::EventLoop;
    ///
    /// let reactor: Box<dyn Reactor> = Box::new(PollingReactor::new()?);
    /// let lp = EventLoop::with_boxed_reactor(reactor);
    /// assert_eq!(lp.reactor().name(), "polling");
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn with_boxed_reactor(reactor: Box<dyn Reactor>) -> EventLoop {
        let shared = Arc::new(Shared {
            id: NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed),
            owner: thread::current().id(),
            remote: RemoteQueue::new(),
            notifier: reactor.notifier(),
            closed: AtomicBool::new(false),
            main_scheduled: AtomicBool::new(false),
            metrics: crate::observe::Metrics::default(),
            origin: Instant::now(),
        });
        crate::observe::register(&shared);
        let event_loop = EventLoop {
            inner: Rc::new(LoopInner {
                shared,
                ready: RefCell::new(VecDeque::new()),
                // The epoch lies a year back, so deadlines in the past (call_at with an old
                // time) still keep their relative order instead of all collapsing onto it.
                timers: RefCell::new(Timers::new(
                    Instant::now()
                        .checked_sub(Duration::from_secs(365 * 24 * 3600))
                        .unwrap_or_else(Instant::now),
                )),
                reactor,
                running: Cell::new(false),
                stopping: Cell::new(false),
                closed: Cell::new(false),
                orphaned: Cell::new(false),
                virtual_now: Cell::new(None),
                own_registrations: Rc::default(),
                since_io_poll: Cell::new(0),
                exception_handler: RefCell::new(None),
                extensions: RefCell::new(Vec::new()),
                debug: Cell::new(std::env::var_os("AIO_DEBUG").is_some_and(|v| v == "1")),
                slow_callback_duration: Cell::new(SLOW_CALLBACK_DURATION),
                local_steps: RefCell::default(),
                local_tag: Cell::new(0),
            }),
            owner: true,
        };
        // `try_with`: a loop made while the thread exits simply is not listed.
        let _ = THREAD_LOOPS.try_with(|loops| {
            let mut loops = loops.borrow_mut();
            loops.retain(|inner| inner.strong_count() > 0);
            loops.push(Rc::downgrade(&event_loop.inner));
        });
        if let Some(signal) = crate::observe::env_dump_signal() {
            // Best effort, as a program that asked through the environment cannot be told:
            // an invalid signal is reported on stderr once per loop.
            if let Err(error) = event_loop.dump_on_signal(signal) {
                eprintln!("aio: AIO_DUMP_SIGNAL={signal}: {error}");
            }
        }
        event_loop
    }

    /// Turns debug mode on or off (asyncio's `set_debug`). A new loop starts in debug mode
    /// when the environment variable `AIO_DEBUG` is `1`.
    ///
    /// In debug mode, a callback or task step that runs longer than
    /// [`slow_callback_duration`](EventLoop::slow_callback_duration) is reported to the
    /// exception handler (with the task's name and where it was created), and tasks record
    /// where they were created, which is reported if they are destroyed while pending.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc, time::Duration};
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// lp.set_debug(true);
    /// lp.set_slow_callback_duration(Duration::from_millis(5));
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let s = seen.clone();
    /// lp.set_exception_handler(move |_, ctx| s.borrow_mut().push(ctx.message.clone()));
    /// lp.call_soon(|| std::thread::sleep(Duration::from_millis(20)))?;
    /// lp.run_until_complete(aio_scheduler::sleep(0))??;
    /// assert!(seen.borrow()[0].starts_with("Executing callback took"));
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn set_debug(&self, enabled: bool) {
        self.inner.debug.set(enabled);
        self.inner.publish_debug();
    }

    /// Whether debug mode is on.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// lp.set_debug(true);
    /// assert!(lp.get_debug());
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn get_debug(&self) -> bool {
        self.inner.debug.get()
    }

    /// How long a callback or task step may run before debug mode reports it (default
    /// 100 ms, asyncio's `slow_callback_duration`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// assert_eq!(lp.slow_callback_duration(), std::time::Duration::from_millis(100));
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn slow_callback_duration(&self) -> Duration {
        self.inner.slow_callback_duration.get()
    }

    /// Sets [`slow_callback_duration`](EventLoop::slow_callback_duration).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// lp.set_slow_callback_duration(Duration::from_millis(5));
    /// assert_eq!(lp.slow_callback_duration(), Duration::from_millis(5));
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn set_slow_callback_duration(&self, duration: Duration) {
        self.inner.slow_callback_duration.set(duration);
        self.inner.publish_debug();
    }

    /// A weak reference to this loop.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let weak = lp.downgrade();
    /// assert!(weak.upgrade().is_some_and(|again| again.same(&lp)));
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn downgrade(&self) -> WeakLoop {
        WeakLoop {
            inner: Rc::downgrade(&self.inner),
        }
    }

    /// The `Send + Sync` handle other threads use to reach this loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let handle = lp.handle();
    /// let (tx, rx) = mpsc::channel();
    /// std::thread::spawn(move || {
    ///     handle.call_soon_threadsafe(move || tx.send("ran on the loop").unwrap()).unwrap();
    ///     handle.stop().unwrap();
    /// })
    /// .join()
    /// .unwrap();
    /// lp.run_forever()?;
    /// assert_eq!(rx.try_recv().unwrap(), "ran on the loop");
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn handle(&self) -> LoopHandle {
        LoopHandle {
            shared: self.inner.shared.clone(),
        }
    }

    /// The reactor this loop waits on, for registering file descriptors.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// assert_eq!(lp.reactor().registrations(), 0);
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn reactor(&self) -> &dyn Reactor {
        &*self.inner.reactor
    }

    /// The loop's clock (asyncio's `loop.time()`): the monotonic clock, as an [`Instant`].
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// assert!(lp.time() <= std::time::Instant::now());
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn time(&self) -> std::time::Instant {
        self.inner.now()
    }

    /// Turns virtual time on or off (tokio's paused clock; asyncio has none). With it on, the
    /// loop's clock ([`time`](EventLoop::time), and [`now`] for the deadlines `sleep`,
    /// `timeout` and `wait_for` compute) stands still while callbacks run, and whenever the
    /// loop is idle — nothing ready, nothing sent from other threads, and **no file
    /// descriptor registered** with the reactor — it jumps straight to the next timer instead
    /// of waiting for it. Timers fire in the same order as in real time, so a test of an
    /// hour-long timeout finishes in milliseconds.
    ///
    /// While descriptors are registered (a socket, a pipe, a child's pidfd; not the loop's own
    /// signal socket), the loop waits for real, and the virtual clock moves on by the real time spent
    /// waiting: I/O keeps its real timing, and a timeout around it is not cut short. Work in
    /// other threads (`to_thread`, executors) is not seen as pending: time may jump while a
    /// thread works, so await such work before relying on timers. Turning it on starts the
    /// virtual clock at the real time; timers scheduled before are kept.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use aio_scheduler::{EventLoop, sleep};
    ///
    /// let lp = EventLoop::new()?;
    /// lp.set_virtual_time(true);
    /// let (virtual_start, real_start) = (lp.time(), Instant::now());
    /// lp.run_until_complete(sleep(3600))??; // an hour, at once
    /// assert!(lp.time() - virtual_start >= Duration::from_secs(3600));
    /// assert!(real_start.elapsed() < Duration::from_secs(600));
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn set_virtual_time(&self, enabled: bool) {
        let inner = &*self.inner;
        match (enabled, inner.virtual_now.get()) {
            (true, None) => {
                inner.virtual_now.set(Some(Instant::now()));
                inner.advance_to(Instant::now());
            }
            (false, Some(_)) => {
                inner.virtual_now.set(None);
                if inner.running.get() {
                    let _ = RUNNING_CLOCK.try_with(|clock| clock.set(None));
                }
            }
            _ => {}
        }
    }

    /// Counts one reactor registration as the loop's own while the returned guard lives.
    pub(crate) fn own_registration(&self) -> OwnRegistration {
        let count = self.inner.own_registrations.clone();
        count.set(count.get() + 1);
        OwnRegistration(count)
    }

    /// Whether virtual time is on (see [`set_virtual_time`](EventLoop::set_virtual_time)).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// assert!(!lp.virtual_time());
    /// lp.set_virtual_time(true);
    /// assert!(lp.virtual_time());
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn virtual_time(&self) -> bool {
        self.inner.virtual_now.get().is_some()
    }

    /// How many timers the loop's heap holds: `call_later` / `call_at` callbacks and sleeping
    /// futures, counting cancelled ones until they are purged at the next iteration (asyncio's
    /// `len(loop._scheduled)`). A diagnostic: it shows, for example, that a `wait_for` around
    /// a future that is ready at once never arms a timer.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let h = lp.call_later(60, || {})?;
    /// assert_eq!(lp.scheduled_timers(), 1);
    /// h.cancel(); // still there until the next iteration purges it
    /// assert_eq!(lp.scheduled_timers(), 1);
    /// lp.run_until_complete(aio_scheduler::sleep(0))??;
    /// assert_eq!(lp.scheduled_timers(), 0);
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn scheduled_timers(&self) -> usize {
        self.inner.timers.borrow().len()
    }

    fn check_closed(&self) -> Result<(), Error> {
        if self.inner.closed.get() {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// Schedules `f` to run in the next iteration, after the callbacks already scheduled.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let order = Rc::new(RefCell::new(Vec::new()));
    /// for i in 0..3 {
    ///     let order = order.clone();
    ///     lp.call_soon(move || order.borrow_mut().push(i))?;
    /// }
    /// lp.run_until_complete(aio_scheduler::sleep(0))??;
    /// assert_eq!(*order.borrow(), [0, 1, 2]);
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn call_soon(&self, f: impl FnOnce() + 'static) -> Result<Handle, Error> {
        self.check_closed()?;
        let callback: Rc<dyn Callback> = Rc::new(CallbackCell::new(f));
        self.inner.push_ready(Ready::Callback(callback.clone()));
        Ok(Handle { callback })
    }

    /// [`call_soon`](EventLoop::call_soon) running `f` in `ctx` itself rather than in a copy
    /// of the current context (asyncio's `call_soon(callback, context=ctx)`): what `f` sets
    /// stays in `ctx`.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::context::{Context, ContextVar};
    /// static VAR: ContextVar<u8> = ContextVar::new("var");
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let ctx = Context::new();
    /// lp.call_soon_with_context(|| { VAR.set(1); }, ctx.clone())?;
    /// lp.run_until_complete(aio_scheduler::sleep(0))??;
    /// assert_eq!((ctx.get(&VAR), VAR.get()), (Some(1), None));
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn call_soon_with_context(
        &self,
        f: impl FnOnce() + 'static,
        ctx: crate::context::Context,
    ) -> Result<Handle, Error> {
        self.check_closed()?;
        let callback: Rc<dyn Callback> = Rc::new(CallbackCell::with_context(f, Some(ctx)));
        self.inner.push_ready(Ready::Callback(callback.clone()));
        Ok(Handle { callback })
    }

    /// Schedules `f` to run `delay` from now: `f64` seconds, whole seconds, or a
    /// [`Duration`]. As in asyncio, a negative delay is a time in the past: due at once, and
    /// ordered with other past deadlines (`call_later(-2, b)` runs before
    /// `call_later(-1, a)`). An infinite delay never comes: the callback is kept by its handle (dropped with it),
    /// never scheduled, and its handle's [`when`](TimerHandle::when) is `None`.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if the loop is closed; [`Error::InvalidDelay`] for a NaN delay.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// assert!(lp.call_later(f64::NAN, || {}).is_err());
    /// let h = lp.call_later(-5.0, || {})?; // 5 s ago: as soon as possible
    /// assert!(h.when().unwrap() + Duration::from_secs(4) < lp.time());
    /// assert_eq!(lp.call_later(f64::INFINITY, || {})?.when(), None); // never
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn call_later(
        &self,
        delay: impl IntoDelay,
        f: impl FnOnce() + 'static,
    ) -> Result<TimerHandle, Error> {
        match delay.into_delay()?.deadline(self.time()) {
            Some(when) => self.call_at(when, f),
            None => {
                self.check_closed()?;
                Ok(TimerHandle {
                    callback: Rc::new(CallbackCell::new(f)),
                    when: None,
                    key: None,
                    event_loop: Rc::downgrade(&self.inner),
                })
            }
        }
    }

    /// Schedules `f` to run at `when` (on the [`time`](EventLoop::time) clock). A time in the
    /// past runs it as soon as possible.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let when = lp.time() + Duration::from_millis(5);
    /// let h = lp.call_at(when, || {})?;
    /// assert_eq!(h.when(), Some(when));
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn call_at(&self, when: Instant, f: impl FnOnce() + 'static) -> Result<TimerHandle, Error> {
        self.check_closed()?;
        let callback: Rc<dyn Callback> = Rc::new(CallbackCell::new(f));
        let key = self
            .inner
            .timers
            .borrow_mut()
            .callbacks
            .insert(when, callback.clone());
        Ok(TimerHandle {
            callback,
            when: Some(when),
            key: Some(key),
            event_loop: Rc::downgrade(&self.inner),
        })
    }

    /// Schedules `f` from this thread as a thread-safe callback; the same as
    /// [`LoopHandle::call_soon_threadsafe`]. As in asyncio, thread-safe callbacks join the
    /// same FIFO as [`call_soon`](EventLoop::call_soon)'s: `call_soon_threadsafe(hello)` then
    /// `call_soon(world)` runs `hello` first.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let h = lp.call_soon_threadsafe(|| println!("hi"))?;
    /// assert!(!h.cancelled());
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn call_soon_threadsafe(
        &self,
        f: impl FnOnce() + Send + 'static,
    ) -> Result<ThreadsafeHandle, Error> {
        self.check_closed()?;
        let callback: Arc<dyn ThreadsafeCallback> = Arc::new(ThreadsafeCell::new(f));
        self.inner.push_ready(Ready::Threadsafe(callback.clone()));
        Ok(ThreadsafeHandle { callback })
    }

    /// Queues a task step. For task implementations (`aio-task`): a new task's first step.
    /// Wake-ups from wakers go through the schedule function [`schedule`]. On a closed loop the
    /// runnable is dropped, which drops its future (this is the loop's thread, so that is
    /// sound).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let (runnable, task) = async_task::Builder::new()
    ///     .metadata(lp.handle())
    ///     .spawn(|_| async { 1 + 1 }, aio_scheduler::schedule);
    /// lp.schedule(runnable);
    /// assert_eq!(lp.run_until_complete(task)?, 2);
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn schedule(&self, runnable: Runnable) {
        if self.inner.closed.get() {
            drop(runnable);
            return;
        }
        self.inner
            .ready
            .borrow_mut()
            .push_back(Ready::Runnable(runnable));
    }

    /// Whether the loop is running (inside `run_forever` / `run_until_complete`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let inside = lp.run_until_complete(async {
    ///     aio_scheduler::get_running_loop().unwrap().is_running()
    /// })?;
    /// assert!(inside && !lp.is_running());
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn is_running(&self) -> bool {
        self.inner.running.get()
    }

    /// Whether [`close`](EventLoop::close) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// lp.close()?;
    /// assert!(lp.is_closed());
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.closed.get()
    }

    /// Asks the loop to stop: `run_forever` returns after the current iteration. Called before
    /// `run_forever`, it makes the next `run_forever` run exactly one iteration.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let l = lp.clone();
    /// lp.call_soon(move || l.stop())?;
    /// lp.run_forever()?; // returns after that iteration
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn stop(&self) {
        self.inner.stopping.set(true);
    }

    /// Closes the loop: pending callbacks and timers are dropped, tasks still alive are
    /// dropped (their destructors run), and nothing can be scheduled any more. Closing a
    /// closed loop does nothing.
    ///
    /// # Errors
    ///
    /// [`Error::CloseRunning`] if the loop is running.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// lp.close()?;
    /// lp.close()?; // idempotent
    /// assert!(lp.run_forever().is_err());
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn close(&self) -> Result<(), Error> {
        if self.inner.running.get() {
            return Err(Error::CloseRunning);
        }
        if !self.inner.closed.get() {
            self.inner.shutdown();
        }
        Ok(())
    }

    /// Runs iterations until [`stop`](EventLoop::stop) is called.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`], [`Error::AlreadyRunning`], [`Error::AnotherLoopRunning`], or
    /// [`Error::Io`] if the reactor fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    ///
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let fired = Rc::new(Cell::new(false));
    /// let (f, stopper) = (fired.clone(), lp.clone());
    /// lp.call_later(0.01, move || { f.set(true); stopper.stop() })?;
    /// lp.run_forever()?; // runs until the timer's callback stops it
    /// assert!(fired.get() && !lp.is_running());
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn run_forever(&self) -> Result<(), Error> {
        self.run_with(&mut || {})
    }

    /// Runs the loop until `future` completes and returns its output. `future` is anything
    /// awaitable ([`IntoFuture`]), such as a task or an `async` block. It is polled on
    /// the loop like a task step (it need not be `Send`); other callbacks and tasks run around
    /// it. As in asyncio, the loop stops one iteration after the future completes, so
    /// callbacks it scheduled on its way out still run.
    ///
    /// # Errors
    ///
    /// As [`run_forever`](EventLoop::run_forever), and [`Error::StoppedBeforeComplete`] if
    /// something called `stop()` before the future finished.
    ///
    /// # Panics
    ///
    /// A panic in `future` itself propagates to the caller, as with any `block_on` (the loop
    /// stays consistent and usable). Panics in tasks and callbacks do not: they are caught.
    ///
    /// # Cancel safety
    ///
    /// `run_until_complete` owns `future` and drops it when it returns, finished or not:
    /// after [`Error::StoppedBeforeComplete`] (or a reactor error) the future's progress is
    /// gone, and whatever it held goes with it (its destructors run; a
    /// [`sleep`](crate::sleep)'s timer is cancelled). asyncio instead leaves the task it wraps a
    /// coroutine in pending on the loop. What the future awaited is left alone, as in asyncio:
    /// the drop happens under [`dropping_unfinished_main`], and aio-task's `Join`, `Wait` and
    /// `gather` cancel nothing then, so `run_until_complete(task)` stopped early leaves the task
    /// pending and a second call finishes it.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let n = lp.run_until_complete(async {
    ///     aio_scheduler::sleep(0.001).await.unwrap();
    ///     5
    /// })?;
    /// assert_eq!(n, 5);
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn run_until_complete<F: IntoFuture>(&self, future: F) -> Result<F::Output, Error> {
        self.check_closed()?;
        if self.inner.running.get() {
            return Err(Error::AlreadyRunning);
        }
        let shared = &self.inner.shared;
        let waker = Waker::from(Arc::new(MainWaker(shared.clone())));
        // Boxed, so that an unfinished future can be dropped under the flag below.
        let mut future = Box::pin(future.into_future());
        let mut output = None;
        if !shared.main_scheduled.swap(true, Ordering::AcqRel) {
            self.inner.ready.borrow_mut().push_back(Ready::Main);
        }
        let ran = self.run_with(&mut || {
            if output.is_some() {
                return;
            }
            let mut cx = Context::from_waker(&waker);
            if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
                output = Some(value);
                // asyncio stops through a done callback: one more iteration runs first.
                self.inner.ready.borrow_mut().push_back(Ready::Stop);
            }
        });
        if output.is_none() {
            // asyncio leaves the unfinished future, and what it awaits, pending.
            let _flag = UnfinishedMainDrop::start();
            drop(future);
        }
        ran?;
        output.ok_or(Error::StoppedBeforeComplete)
    }

    fn run_with(&self, main: &mut dyn FnMut()) -> Result<(), Error> {
        let inner = &*self.inner;
        self.check_closed()?;
        if inner.running.get() {
            return Err(Error::AlreadyRunning);
        }
        RUNNING.with(|running| {
            let mut running = running.borrow_mut();
            if running.is_some() {
                return Err(Error::AnotherLoopRunning);
            }
            *running = Some(self.inner.clone());
            Ok(())
        })?;
        inner.running.set(true);
        inner.shared.metrics.run_started(inner.shared.origin);
        let _guard = RunningGuard(inner);
        inner.publish_debug();
        if let Some(now) = inner.virtual_now.get() {
            let _ = RUNNING_CLOCK.try_with(|clock| clock.set(Some(now)));
        }
        loop {
            self.run_once(main)?;
            if inner.stopping.get() {
                return Ok(());
            }
        }
    }

    /// One iteration: asyncio's `_run_once`.
    fn run_once(&self, main: &mut dyn FnMut()) -> Result<(), Error> {
        let inner = &*self.inner;

        // 1. Purge cancelled timers, then find the earliest deadline.
        let next_timer = {
            let mut timers = inner.timers.borrow_mut();
            timers.purge();
            timers.next_deadline()
        };

        // 2. Wait for I/O. A blocking wait reads the clock as it returns; the due timers
        // below are found with that reading instead of a third one.
        let mut woke_at = None;
        let busy = !inner.ready.borrow().is_empty() || inner.stopping.get();
        // What other threads sent is taken in before this iteration's callbacks run: at once
        // when the loop has work, or found by the check before sleeping.
        let remote_empty = busy || {
            // From here on, other threads' sends notify the reactor (see `crate::remote`).
            let remote_empty = inner.shared.remote.prepare_sleep();
            if !remote_empty {
                inner.shared.remote.woke();
            }
            remote_empty
        };
        if busy || !remote_empty {
            inner.drain_remote();
            if inner.since_io_poll.get() >= IO_POLL_INTERVAL {
                inner.since_io_poll.set(0);
                inner.reactor.wait(Some(Instant::now()))?;
            }
        } else {
            let shared = &inner.shared;
            let virtual_now = inner.virtual_now.get();
            if next_timer.is_none() && virtual_now.is_none() {
                // Nothing timed and nothing queued: only the blocked-time metric needs the
                // time of this wait, and the coarse clock serves it (see `wait_clock`).
                let start = crate::observe::wait_clock();
                let waited = inner.reactor.wait(None);
                shared.remote.woke();
                let blocked = crate::observe::wait_clock().saturating_sub(start);
                shared.metrics.add_blocked(blocked);
                inner.since_io_poll.set(0);
                waited?;
            } else {
                // Virtual time and nothing that could become ready by itself: the next
                // timer's time has come. (Poll once anyway, without blocking.)
                let jump = virtual_now.is_some()
                    && next_timer.is_some()
                    && inner.reactor.registrations() <= inner.own_registrations.get();
                let real_start = Instant::now();
                let deadline = if jump {
                    Some(real_start)
                } else {
                    next_timer.map(|when| {
                        // On a virtual clock, the timer is as far away in real time as it is
                        // on that clock.
                        let when = match virtual_now {
                            Some(now) => real_start + when.saturating_duration_since(now),
                            None => when,
                        };
                        when.min(real_start + MAX_SELECT_TIMEOUT)
                    })
                };
                let waited = inner.reactor.wait(deadline);
                shared.remote.woke();
                let real_end = Instant::now();
                let blocked = real_end.saturating_duration_since(real_start);
                shared.metrics.add_blocked(blocked);
                inner.since_io_poll.set(0);
                waited?;
                match virtual_now {
                    Some(now) => match next_timer {
                        Some(when) if jump && shared.remote.is_empty() => inner.advance_to(when),
                        _ => inner.advance_to(now + blocked),
                    },
                    None => woke_at = Some(real_end),
                }
            }
            inner.drain_remote();
        }

        // 3. Move due timers to the ready queue (a sleeping task's waker pushes its step).
        if next_timer.is_some() {
            let now = match woke_at {
                Some(real_end) => real_end,
                None => inner.now(),
            };
            loop {
                let fired = inner.timers.borrow_mut().pop_due(now);
                match fired {
                    Some(Fire::Waker(waker)) => waker.wake(),
                    Some(Fire::Callback(cb)) => {
                        inner.ready.borrow_mut().push_back(Ready::Callback(cb))
                    }
                    None => break,
                }
            }
        }

        // 4. Run exactly what is ready now; what these schedule waits for the next iteration.
        let ntodo = inner.ready.borrow().len();
        inner
            .since_io_poll
            .set(inner.since_io_poll.get().saturating_add(ntodo as u32));
        #[cfg(feature = "tracing")]
        tracing::trace!(
            target: "aio::loop",
            loop_id = inner.shared.id,
            ready = ntodo,
            "loop iteration"
        );
        // Metrics: counted once per iteration, not per callback (see `observe`).
        let metrics = &inner.shared.metrics;
        crate::observe::bump(&metrics.iterations, 1);
        crate::observe::bump(&metrics.callbacks, ntodo as u64);
        if ntodo as u64 > metrics.high_water.load(Ordering::Relaxed) {
            metrics.high_water.store(ntodo as u64, Ordering::Relaxed);
        }
        for _ in 0..ntodo {
            let Some(item) = inner.ready.borrow_mut().pop_front() else {
                break;
            };
            self.run_ready(item, main);
        }
        if next_timer.is_some() || ntodo == 0 {
            // Timers can only have been added or cancelled by what ran; publishing their
            // totals when the heap was non-empty or nothing ran catches up soon enough.
            inner.publish_timer_totals();
        }
        // After a burst (say, 100,000 tasks spawned at once) the queue keeps its peak
        // capacity; give most of it back once it is mostly empty.
        let mut ready = inner.ready.borrow_mut();
        if ready.capacity() > READY_KEEP && ready.len() < ready.capacity() / 4 {
            let keep = (ready.len() * 2).max(READY_KEEP);
            ready.shrink_to(keep);
        }
        Ok(())
    }

    fn run_ready(&self, item: Ready, main: &mut dyn FnMut()) {
        // Task steps time themselves in debug mode (aio-task knows their names); plain
        // callbacks are timed here. Debug mode also times steps for the metrics' longest
        // callback.
        let debug = self.inner.debug.get();
        let timed = debug
            && matches!(
                item,
                Ready::Callback(_) | Ready::Threadsafe(_) | Ready::Local(..)
            )
            && !matches!(&item, Ready::Callback(cb) if cb.cancelled());
        let start = debug.then(Instant::now);
        let outcome = match item {
            Ready::Runnable(runnable) => catch_unwind(AssertUnwindSafe(|| {
                runnable.run();
            }))
            .map_err(|p| ("Exception in task step", p)),
            // SAFETY: the loop runs its ready queue on its own thread.
            Ready::Task(runnable) => catch_unwind(AssertUnwindSafe(|| unsafe { runnable.run() }))
                .map_err(|p| ("Exception in task step", p)),
            Ready::Callback(cb) => {
                if cb.cancelled() {
                    return;
                }
                catch_unwind(AssertUnwindSafe(|| cb.run()))
                    .map_err(|p| ("Exception in callback", p))
            }
            Ready::Threadsafe(cb) => catch_unwind(AssertUnwindSafe(|| cb.run()))
                .map_err(|p| ("Exception in callback", p)),
            Ready::Main => {
                self.inner
                    .shared
                    .main_scheduled
                    .store(false, Ordering::Release);
                main();
                Ok(())
            }
            Ready::Stop => {
                self.inner.stopping.set(true);
                Ok(())
            }
            Ready::Local(slot, generation) => match self.inner.run_local(slot, generation) {
                Ok(()) => Ok(()),
                // Each reported, in order (the step's, its `abandon`'s, its destructor's).
                Err(panics) => {
                    for payload in panics {
                        self.call_exception_handler(
                            &ExceptionContext::new("Exception in callback")
                                .with_error(Arc::new(PanicError(panic_message(&*payload)))),
                        );
                    }
                    Ok(())
                }
            },
        };
        if let Err((message, payload)) = outcome {
            let ctx = ExceptionContext::new(message)
                .with_error(Arc::new(PanicError(panic_message(&*payload))));
            self.call_exception_handler(&ctx);
        }
        if let Some(start) = start {
            let took = start.elapsed();
            self.inner.shared.metrics.note_callback_time(took);
            if timed && took > self.inner.slow_callback_duration.get() {
                #[cfg(feature = "tracing")]
                tracing::warn!(
                    target: "aio::loop",
                    seconds = took.as_secs_f64(),
                    "slow callback"
                );
                let message = format!("Executing callback took {:.3} seconds", took.as_secs_f64());
                self.call_exception_handler(&ExceptionContext::new(message));
            }
        }
    }

    /// Sets the handler for errors nobody else can report: panics in callbacks, task errors
    /// that were never retrieved. Replaces [`default_exception_handler`](Self::default_exception_handler).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use aio_scheduler::EventLoop;
    ///
    /// let lp = EventLoop::new()?;
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let s = seen.clone();
    /// lp.set_exception_handler(move |_, ctx| s.borrow_mut().push(ctx.message.clone()));
    /// lp.call_soon(|| panic!("boom"))?;
    /// lp.run_until_complete(aio_scheduler::sleep(0))??;
    /// assert_eq!(*seen.borrow(), ["Exception in callback"]);
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn set_exception_handler(&self, handler: impl Fn(&EventLoop, &ExceptionContext) + 'static) {
        *self.inner.exception_handler.borrow_mut() = Some(Rc::new(handler));
    }

    /// Goes back to the default exception handler (asyncio's `set_exception_handler(None)`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// lp.set_exception_handler(|_, _| {});
    /// lp.reset_exception_handler();
    /// assert!(lp.get_exception_handler().is_none());
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn reset_exception_handler(&self) {
        *self.inner.exception_handler.borrow_mut() = None;
    }

    /// The handler set with [`set_exception_handler`](Self::set_exception_handler), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// assert!(lp.get_exception_handler().is_none()); // the default one is in use
    /// lp.set_exception_handler(|_, _| {});
    /// assert!(lp.get_exception_handler().is_some());
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn get_exception_handler(&self) -> Option<ExceptionHandler> {
        self.inner.exception_handler.borrow().clone()
    }

    /// Reports `ctx` to the loop's exception handler (or the default one). A panic in the
    /// handler itself is caught and reported on stderr.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::{EventLoop, ExceptionContext};
    /// let lp = EventLoop::new()?;
    /// lp.set_exception_handler(|_, ctx| assert_eq!(ctx.message, "custom"));
    /// lp.call_exception_handler(&ExceptionContext::new("custom"));
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn call_exception_handler(&self, ctx: &ExceptionContext) {
        #[cfg(feature = "tracing")]
        tracing::error!(
            target: "aio::exception",
            task = ctx.task.as_deref(),
            error = ctx.error.as_ref().map(tracing::field::display),
            "{}",
            ctx.message
        );
        let handler = self.get_exception_handler();
        match handler {
            None => Self::default_exception_handler(ctx),
            Some(handler) => {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| handler(self, ctx))) {
                    eprintln!(
                        "aio: Unhandled error in exception handler: {} (while reporting: {ctx})",
                        panic_message(&*payload)
                    );
                }
            }
        }
    }

    /// The default handler: one line on stderr.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::{EventLoop, ExceptionContext};
    /// // Prints "aio: something happened" on stderr.
    /// EventLoop::default_exception_handler(&ExceptionContext::new("something happened"));
    /// ```
    pub fn default_exception_handler(ctx: &ExceptionContext) {
        eprintln!("aio: {ctx}");
    }

    /// Per-loop storage for higher layers, one value per type, created on first use and
    /// dropped when the loop closes (before pending tasks are dropped). The task layer keeps
    /// its registry of live tasks here.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// lp.extension::<Cell<u32>>().set(3);
    /// assert_eq!(lp.extension::<Cell<u32>>().get(), 3);
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn extension<T: Default + 'static>(&self) -> Rc<T> {
        let id = TypeId::of::<T>();
        let mut extensions = self.inner.extensions.borrow_mut();
        if let Some((_, value)) = extensions.iter().find(|(t, _)| *t == id) {
            if let Ok(value) = value.clone().downcast::<T>() {
                return value;
            }
        }
        let value = Rc::new(T::default());
        extensions.push((id, value.clone()));
        value
    }

    /// Whether `self` and `other` are the same loop.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// assert!(lp.same(&lp.clone()));
    /// assert!(!lp.same(&aio_scheduler::EventLoop::new()?));
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn same(&self, other: &EventLoop) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("running", &self.is_running())
            .field("closed", &self.is_closed())
            .field("ready", &self.inner.ready.borrow().len())
            .field("timers", &*self.inner.timers.borrow())
            .finish()
    }
}

/// Wakes the future given to `run_until_complete`.
struct MainWaker(Arc<Shared>);

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.0.main_scheduled.swap(true, Ordering::AcqRel) {
            // Fails only if the loop is closed, when there is nothing left to wake.
            let _ = self.0.send(Remote::Main);
        }
    }
}

/// The loop running on this thread (asyncio's `get_running_loop()`).
///
/// # Errors
///
/// [`Error::NoRunningLoop`] outside a running loop.
///
/// # Examples
///
/// ```
/// use aio_scheduler::{EventLoop, get_running_loop};
///
/// assert!(get_running_loop().is_err());
/// let lp = EventLoop::new()?;
/// let same = lp.run_until_complete(async { get_running_loop().unwrap() })?;
/// assert!(same.same(&lp));
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
pub fn get_running_loop() -> Result<EventLoop, Error> {
    RUNNING
        .try_with(|running| running.borrow().clone())
        .ok()
        .flatten()
        .map(|inner| EventLoop {
            inner,
            owner: false,
        })
        .ok_or(Error::NoRunningLoop)
}

/// The running loop's slow-step threshold if it is in debug mode, `None` otherwise (also
/// outside a loop). One thread-local read: cheap enough to check on every task step.
///
/// # Examples
///
/// ```
/// let lp = aio_scheduler::EventLoop::new()?;
/// lp.set_debug(true);
/// let inside = lp.run_until_complete(async { aio_scheduler::running_debug() })?;
/// assert_eq!(inside, Some(lp.slow_callback_duration()));
/// assert_eq!(aio_scheduler::running_debug(), None);
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
pub fn running_debug() -> Option<Duration> {
    RUNNING_DEBUG.try_with(Cell::get).ok().flatten()
}

/// Runs `f` with the running loop's state, if a loop runs on this thread.
pub(crate) fn with_running<R>(f: impl FnOnce(&Rc<LoopInner>) -> R) -> Option<R> {
    RUNNING
        .try_with(|running| running.borrow().as_ref().map(f))
        .ok()
        .flatten()
}

/// Runs `f` on the timer heap that holds the scheduled timer `key`: the running loop's, or
/// else that of another loop of this thread (a key is unique among a thread's heaps, see
/// [`TimerHeap`]). `None` if no heap holds it (it fired or was cancelled, or its loop is
/// gone), or if that heap is borrowed (a closing loop draining it).
pub(crate) fn with_timer<R>(
    key: TimerKey,
    f: impl FnOnce(&mut TimerHeap<Waker>) -> R,
) -> Option<R> {
    let running = with_running(Rc::clone);
    let holds = |inner: &LoopInner| {
        inner
            .timers
            .try_borrow()
            .is_ok_and(|timers| timers.wakers.is_scheduled(key))
    };
    let inner = match running {
        Some(inner) if holds(&inner) => inner,
        // A sleep whose timer fired (the common case, cheap: the running loop is skipped
        // without upgrading it), or, rarely, one polled or dropped outside its loop's run.
        running => THREAD_LOOPS
            .try_with(|loops| {
                loops
                    .borrow()
                    .iter()
                    .filter(|other| {
                        running
                            .as_ref()
                            .is_none_or(|r| other.as_ptr() != Rc::as_ptr(r))
                    })
                    .filter_map(Weak::upgrade)
                    .find(|inner| holds(inner))
            })
            .ok()
            .flatten()?,
    };
    let mut timers = inner.timers.try_borrow_mut().ok()?;
    Some(f(&mut timers.wakers))
}

/// The schedule function of tasks (what `async-task` calls when a task's waker is woken), on
/// any thread: the step goes onto the ready queue directly when called on the thread running
/// the task's loop (found in the runnable's metadata), otherwise through that loop's remote
/// queue, waking the loop if it sleeps.
///
/// After the loop is closed the runnable is leaked rather than dropped: this may be another
/// thread, and a task's future must only be dropped on its own.
///
/// # Examples
///
/// ```
/// let lp = aio_scheduler::EventLoop::new()?;
/// let mut yielded = false;
/// let step = std::future::poll_fn(move |cx| {
///     if std::mem::replace(&mut yielded, true) {
///         return std::task::Poll::Ready("woken");
///     }
///     cx.waker().wake_by_ref(); // on the loop's thread: straight onto the ready queue
///     std::task::Poll::Pending
/// });
/// let (runnable, task) = async_task::Builder::new()
///     .metadata(lp.handle())
///     .spawn(|_| step, aio_scheduler::schedule);
/// runnable.schedule(); // not on the running loop's thread: through the remote queue
/// assert_eq!(lp.run_until_complete(task)?, "woken");
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
pub fn schedule(runnable: Runnable) {
    let id = runnable.metadata().shared.id;
    let mut runnable = Some(runnable);
    let _ = RUNNING.try_with(|running| {
        if let Some(inner) = &*running.borrow() {
            if inner.shared.id == id {
                if let Some(runnable) = runnable.take() {
                    inner
                        .ready
                        .borrow_mut()
                        .push_back(Ready::Runnable(runnable));
                }
            }
        }
    });
    if let Some(runnable) = runnable {
        let shared = runnable.metadata().shared.clone();
        // Err means the loop is closed; the runnable has been disposed of.
        let _ = shared.send_remote(Remote::Runnable(runnable));
    }
}

/// The `Send + Sync` way into a loop from other threads (and from wakers).
///
/// # Examples
///
/// ```
/// use aio_scheduler::EventLoop;
///
/// let lp = EventLoop::new()?;
/// let handle = lp.handle();
/// std::thread::spawn(move || {
///     std::thread::sleep(std::time::Duration::from_millis(10));
///     handle.stop().unwrap();
/// });
/// lp.run_forever()?; // blocks in the kernel until the other thread stops it
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
#[derive(Clone)]
pub struct LoopHandle {
    pub(crate) shared: Arc<Shared>,
}

impl LoopHandle {
    /// Schedules `f` on the loop from any thread (asyncio's `call_soon_threadsafe`), waking
    /// the loop if it is blocked. It joins the same FIFO as the loop's
    /// [`call_soon`](EventLoop::call_soon): a callback sent from another thread runs before
    /// one the loop's thread schedules after it was sent.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicBool, Ordering}};
    /// use aio_scheduler::EventLoop;
    ///
    /// let lp = EventLoop::new()?;
    /// let handle = lp.handle();
    /// let done = Arc::new(AtomicBool::new(false));
    /// let d = done.clone();
    /// let h2 = handle.clone();
    /// std::thread::spawn(move || {
    ///     handle.call_soon_threadsafe(move || d.store(true, Ordering::SeqCst)).unwrap();
    ///     h2.stop().unwrap();
    /// });
    /// lp.run_forever()?;
    /// assert!(done.load(Ordering::SeqCst));
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn call_soon_threadsafe(
        &self,
        f: impl FnOnce() + Send + 'static,
    ) -> Result<ThreadsafeHandle, Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let callback: Arc<dyn ThreadsafeCallback> = Arc::new(ThreadsafeCell::new(f));
        // On the thread the loop runs on, straight into the ready queue (in call order with
        // `call_soon`); elsewhere through the remote queue, which `call_soon` drains first.
        self.shared.send(Remote::Callback(callback.clone()))?;
        Ok(ThreadsafeHandle { callback })
    }

    /// Stops the loop from any thread, like [`EventLoop::stop`] scheduled with
    /// `call_soon_threadsafe`.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::{Error, EventLoop};
    ///
    /// let lp = EventLoop::new()?;
    /// let handle = lp.handle();
    /// std::thread::spawn(move || handle.stop()).join().unwrap()?;
    /// lp.run_forever()?; // the stop was queued: one iteration, then it returns
    /// lp.close()?;
    /// assert!(matches!(lp.handle().stop(), Err(Error::Closed)));
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn stop(&self) -> Result<(), Error> {
        self.shared.send_remote(Remote::Stop)
    }

    /// Whether the loop has been closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let handle = lp.handle();
    /// lp.close()?;
    /// assert!(handle.is_closed());
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// Whether this handle belongs to the loop running on the current thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let handle = lp.handle();
    /// assert!(!handle.is_current());
    /// assert!(lp.run_until_complete(async move { handle.is_current() })?);
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn is_current(&self) -> bool {
        with_running(|inner| inner.shared.id == self.shared.id).unwrap_or(false)
    }
}

impl fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopHandle")
            .field("id", &self.shared.id)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// What an exception handler is told (asyncio's context dict).
///
/// # Examples
///
/// ```
/// use aio_scheduler::ExceptionContext;
/// let ctx = ExceptionContext::new("Task exception was never retrieved").with_task("Task-3");
/// assert_eq!(ctx.to_string(), "Task exception was never retrieved (task Task-3)");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ExceptionContext {
    /// What happened, in asyncio's words ("Exception in callback", "Task exception was never
    /// retrieved", ...).
    pub message: String,
    /// The error, if there is one.
    pub error: Option<Arc<dyn std::error::Error + Send + Sync>>,
    /// The name of the task concerned, if any.
    pub task: Option<String>,
}

impl ExceptionContext {
    /// A context with just a message.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::ExceptionContext;
    /// let ctx = ExceptionContext::new("something odd");
    /// assert_eq!(ctx.message, "something odd");
    /// assert!(ctx.error.is_none() && ctx.task.is_none());
    /// assert_eq!(ctx.to_string(), "something odd");
    /// ```
    pub fn new(message: impl Into<String>) -> ExceptionContext {
        ExceptionContext {
            message: message.into(),
            error: None,
            task: None,
        }
    }

    /// Adds the error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{io, sync::Arc};
    /// use aio_scheduler::ExceptionContext;
    /// let ctx = ExceptionContext::new("oops").with_error(Arc::new(io::Error::other("disk")));
    /// assert_eq!(ctx.to_string(), "oops: disk");
    /// ```
    pub fn with_error(mut self, error: Arc<dyn std::error::Error + Send + Sync>) -> Self {
        self.error = Some(error);
        self
    }

    /// Adds the task's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = aio_scheduler::ExceptionContext::new("Task was destroyed").with_task("Task-3");
    /// assert_eq!(ctx.task.as_deref(), Some("Task-3"));
    /// assert_eq!(ctx.to_string(), "Task was destroyed (task Task-3)");
    /// ```
    pub fn with_task(mut self, name: impl Into<String>) -> Self {
        self.task = Some(name.into());
        self
    }
}

impl fmt::Display for ExceptionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(task) = &self.task {
            write!(f, " (task {task})")?;
        }
        if let Some(error) = &self.error {
            write!(f, ": {error}")?;
        }
        Ok(())
    }
}

/// A panic caught in a callback, as an error value.
#[derive(Debug)]
struct PanicError(String);

impl fmt::Display for PanicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panicked: {}", self.0)
    }
}

impl std::error::Error for PanicError {}

/// The message of a caught panic payload (`&str` or `String` payloads; anything else is
/// described generically).
///
/// # Examples
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
/// assert_eq!(aio_scheduler::panic_message(&*payload), "boom 1");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}
