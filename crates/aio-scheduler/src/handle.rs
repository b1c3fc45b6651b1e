//! asyncio's `Handle` and `TimerHandle`: cancellable references to scheduled callbacks.

use std::cell::Cell;
use std::fmt;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Instant;

use crate::context::{Context, Entered, capture_for_callback};
use crate::event_loop::LoopInner;
use crate::sync::Mutex;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::timers::TimerKey;

/// A callback scheduled on the loop thread.
pub(crate) trait Callback {
    fn run(&self);
    fn cancel(&self);
    fn cancelled(&self) -> bool;
}

/// The one allocation behind a `call_soon` / `call_later`: the flag and the closure.
pub(crate) struct CallbackCell<F> {
    cancelled: Cell<bool>,
    f: Cell<Option<F>>,
    /// The context to run in: a copy of the one current at scheduling (asyncio's
    /// `Handle._context`); `None` for an empty one.
    context: Cell<Option<Context>>,
}

impl<F: FnOnce()> CallbackCell<F> {
    /// A callback that runs in a copy of the current context.
    pub(crate) fn new(f: F) -> CallbackCell<F> {
        CallbackCell::with_context(f, capture_for_callback())
    }

    /// A callback that runs in `context` itself (`call_soon(cb, context=ctx)`).
    pub(crate) fn with_context(f: F, context: Option<Context>) -> CallbackCell<F> {
        CallbackCell {
            cancelled: Cell::new(false),
            f: Cell::new(Some(f)),
            context: Cell::new(context),
        }
    }
}

impl<F: FnOnce()> Callback for CallbackCell<F> {
    fn run(&self) {
        if let Some(f) = self.f.take() {
            let mut context = self.context.take();
            let _entered = Entered::new(&mut context);
            f();
        }
    }

    fn cancel(&self) {
        self.cancelled.set(true);
        // Like asyncio, drop the callback (and what it captured) at once.
        drop(self.f.take());
        drop(self.context.take());
    }

    fn cancelled(&self) -> bool {
        self.cancelled.get()
    }
}

/// A callback scheduled from another thread.
pub trait ThreadsafeCallback: Send + Sync {
    /// Runs the callback, unless it was cancelled or already ran.
    fn run(&self);
    /// Cancels it: it will not run, and what it captured is dropped now.
    fn cancel(&self);
    /// Whether [`cancel`](ThreadsafeCallback::cancel) was called.
    fn cancelled(&self) -> bool;
}

/// The one allocation behind a `call_soon_threadsafe`: the closure, run at most once, by the
/// loop or never (cancelled from any thread). `tests/loom_threadsafe.rs` checks it.
pub struct ThreadsafeCell<F> {
    cancelled: AtomicBool,
    f: Mutex<Option<F>>,
}

impl<F: FnOnce() + Send> ThreadsafeCell<F> {
    /// A callback that will run `f`.
    pub fn new(f: F) -> ThreadsafeCell<F> {
        ThreadsafeCell {
            cancelled: AtomicBool::new(false),
            f: Mutex::new(Some(f)),
        }
    }

    fn take(&self) -> Option<F> {
        self.f.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl<F: FnOnce() + Send> ThreadsafeCallback for ThreadsafeCell<F> {
    fn run(&self) {
        if !self.cancelled() {
            if let Some(f) = self.take() {
                // An empty context: the scheduling thread's values are not `Send`.
                let mut context = None;
                let _entered = Entered::new(&mut context);
                f();
            }
        }
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        drop(self.take());
    }

    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}

/// A callback scheduled with [`EventLoop::call_soon`](crate::EventLoop::call_soon).
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use aio_scheduler::EventLoop;
///
/// let lp = EventLoop::new()?;
/// let ran = Rc::new(Cell::new(false));
/// let r = ran.clone();
/// let handle = lp.call_soon(move || r.set(true))?;
/// handle.cancel();
/// assert!(handle.cancelled());
/// lp.run_until_complete(aio_scheduler::sleep(0))??;
/// assert!(!ran.get());
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) callback: Rc<dyn Callback>,
}

impl Handle {
    /// Cancels the callback: it will not run. Does nothing if it already ran.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let handle = lp.call_soon(|| unreachable!("cancelled"))?;
    /// handle.cancel();
    /// handle.cancel(); // again: nothing more happens
    /// lp.run_until_complete(aio_scheduler::sleep(0))??;
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn cancel(&self) {
        self.callback.cancel();
    }

    /// Whether [`cancel`](Handle::cancel) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let handle = lp.call_soon(|| {})?;
    /// assert!(!handle.cancelled());
    /// handle.cancel();
    /// assert!(handle.cancelled());
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn cancelled(&self) -> bool {
        self.callback.cancelled()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("cancelled", &self.cancelled())
            .finish()
    }
}

/// A callback scheduled with [`EventLoop::call_later`](crate::EventLoop::call_later) or
/// [`EventLoop::call_at`](crate::EventLoop::call_at).
///
/// # Examples
///
/// ```
/// use aio_scheduler::EventLoop;
///
/// let lp = EventLoop::new()?;
/// let handle = lp.call_later(3600.0, || unreachable!("cancelled"))?;
/// assert!(handle.when().unwrap() > lp.time());
/// handle.cancel();
/// assert!(handle.cancelled());
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
pub struct TimerHandle {
    pub(crate) callback: Rc<dyn Callback>,
    /// `None`: never due (an infinite delay); the callback then lives in this handle only.
    pub(crate) when: Option<Instant>,
    pub(crate) key: Option<TimerKey>,
    pub(crate) event_loop: Weak<LoopInner>,
}

impl TimerHandle {
    /// Cancels the timer: the callback will not run and its heap entry counts as cancelled
    /// (purged lazily, as in asyncio). Does nothing if it already ran.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let handle = lp.call_later(0.001, || unreachable!("cancelled"))?;
    /// handle.cancel();
    /// lp.run_until_complete(aio_scheduler::sleep(0.01))??; // its time passes: it does not run
    /// assert_eq!(lp.scheduled_timers(), 0); // and its heap entry was purged
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn cancel(&self) {
        if self.callback.cancelled() {
            return;
        }
        self.callback.cancel();
        if let (Some(inner), Some(key)) = (self.event_loop.upgrade(), self.key) {
            // The payload goes after the heap's borrow (its drop may run user code).
            let payload = inner.timers.borrow_mut().callbacks.cancel(key);
            drop(payload);
        }
    }

    /// Whether [`cancel`](TimerHandle::cancel) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let handle = lp.call_later(60, || {})?;
    /// assert!(!handle.cancelled());
    /// handle.cancel();
    /// assert!(handle.cancelled());
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn cancelled(&self) -> bool {
        self.callback.cancelled()
    }

    /// When the callback is (or was) due; `None` if never (an infinite delay: asyncio's
    /// `when()` is then `inf`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// assert!(lp.call_later(1.0, || {})?.when().is_some());
    /// assert!(lp.call_later(f64::INFINITY, || {})?.when().is_none());
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn when(&self) -> Option<Instant> {
        self.when
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle")
            .field("when", &self.when)
            .field("cancelled", &self.cancelled())
            .finish()
    }
}

/// A callback scheduled with [`LoopHandle::call_soon_threadsafe`](crate::LoopHandle::call_soon_threadsafe).
/// `Send + Sync`: it can be cancelled from any thread.
///
/// # Examples
///
/// ```
/// use aio_scheduler::EventLoop;
///
/// let lp = EventLoop::new()?;
/// let remote = lp.handle();
/// let handle = std::thread::spawn(move || remote.call_soon_threadsafe(|| unreachable!()))
///     .join()
///     .unwrap()?;
/// handle.cancel();
/// lp.run_until_complete(aio_scheduler::sleep(0))??;
/// assert!(handle.cancelled());
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
#[derive(Clone)]
pub struct ThreadsafeHandle {
    pub(crate) callback: Arc<dyn ThreadsafeCallback>,
}

impl ThreadsafeHandle {
    /// Cancels the callback if it has not run yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let handle = lp.handle().call_soon_threadsafe(|| unreachable!("cancelled"))?;
    /// std::thread::spawn(move || handle.cancel()).join().unwrap(); // from any thread
    /// lp.run_until_complete(aio_scheduler::sleep(0))??;
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn cancel(&self) {
        self.callback.cancel();
    }

    /// Whether [`cancel`](ThreadsafeHandle::cancel) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let handle = lp.handle().call_soon_threadsafe(|| {})?;
    /// assert!(!handle.cancelled());
    /// handle.cancel();
    /// assert!(handle.cancelled());
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn cancelled(&self) -> bool {
        self.callback.cancelled()
    }
}

impl fmt::Debug for ThreadsafeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadsafeHandle")
            .field("cancelled", &self.cancelled())
            .finish()
    }
}

impl<F> fmt::Debug for ThreadsafeCell<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadsafeCell")
            .field("cancelled", &self.cancelled.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}
