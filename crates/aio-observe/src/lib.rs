//! Where aio's tasks are suspended.
//!
//! Rust has no coroutine frames to walk, so aio records, for every await on one of its
//! primitives (`sleep`, `Lock::acquire`, `Queue::get`, stream reads and writes, awaiting a
//! task), the source line of that await. The primitive's constructor is `#[track_caller]` and
//! keeps [`Location::caller`] (one pointer, a constant) in its future; when the future
//! actually parks (returns `Pending`) it writes that pointer to this thread's *park slot*
//! with [`park`]. The task layer (`aio-task`) empties the slot around each step of a task and
//! keeps what the step left there as the task's "suspended at" — one thread-local write per
//! park, one pointer store per step, nothing else, whether or not anybody ever asks.
//!
//! The slot keeps the **last** location written during a step: when a future polls several
//! others (a `select`), the one polled last decides, which is the await the step ended on in
//! straight-line code. Combinators that poll helper futures of their own (a timeout's timer)
//! hide those with [`replace`] so the user's await stays visible.
//!
//! This crate depends on nothing of aio (only `pin-project-lite`), so the lowest layers (`aio-sync`, `aio-scheduler`) can
//! report without depending on each other.
//!
//! # Examples
//!
//! ```
//! use std::panic::Location;
//! use std::task::{Context, Poll, Waker};
//!
//! let here = Location::caller();
//! let mut pending = Box::pin(aio_observe::At::new(here, std::future::pending::<()>()));
//! let mut cx = Context::from_waker(Waker::noop());
//! let saved = aio_observe::replace(None); // a task step starts with an empty slot
//! assert!(pending.as_mut().poll(&mut cx).is_pending());
//! let parked = aio_observe::replace(saved); // ...and takes what the step left
//! assert_eq!(parked, Some(here));
//! # use std::future::Future;
//! ```

use std::cell::Cell;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A source location, as `#[track_caller]` gives it.
pub type Site = &'static Location<'static>;

thread_local! {
    /// Where the future being polled on this thread last parked.
    static PARKED: Cell<Option<Site>> = const { Cell::new(None) };
}

/// Records that the future being polled parks at `at` (call it right before returning
/// `Pending`). One thread-local write.
///
/// # Examples
///
/// ```
/// let here = std::panic::Location::caller();
/// aio_observe::park(here);
/// assert_eq!(aio_observe::replace(None), Some(here));
/// ```
#[inline]
pub fn park(at: Site) {
    PARKED.set(Some(at));
}

/// Puts `with` in this thread's park slot and returns what was there. A task step calls it
/// with `None` before polling (saving the slot of a step it may be nested in, as an eager
/// task's first step is) and with the saved value after, keeping what it gets back.
///
/// # Examples
///
/// ```
/// assert_eq!(aio_observe::replace(None), None); // nothing parked yet on this thread
/// ```
#[inline]
pub fn replace(with: Option<Site>) -> Option<Site> {
    PARKED.replace(with)
}

pin_project_lite::pin_project! {
    /// A future that records `at` in the park slot each time `inner` returns `Pending`: how an
    /// `async fn` of aio (which cannot be `#[track_caller]`) reports the line it was awaited at.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future;
    /// use std::task::{Context, Waker};
    ///
    /// #[track_caller]
    /// fn my_wait() -> aio_observe::At<std::future::Pending<()>> {
    ///     aio_observe::At::new(std::panic::Location::caller(), std::future::pending())
    /// }
    ///
    /// let mut fut = Box::pin(my_wait()); // this line is recorded when it parks
    /// let line = line!() - 1;
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(fut.as_mut().poll(&mut cx).is_pending());
    /// assert_eq!(aio_observe::replace(None).map(|at| at.line()), Some(line));
    /// ```
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct At<F> {
        at: Site,
        #[pin]
        inner: F,
    }
}

impl<F> At<F> {
    /// Wraps `inner`, reporting `at` whenever it parks.
    ///
    /// # Examples
    ///
    /// ```
    /// let fut = aio_observe::At::new(std::panic::Location::caller(), async { 1 });
    /// assert_eq!(fut.site().file(), file!());
    /// ```
    pub fn new(at: Site, inner: F) -> At<F> {
        At { at, inner }
    }

    /// The location reported.
    ///
    /// # Examples
    ///
    /// ```
    /// let here = std::panic::Location::caller();
    /// assert_eq!(aio_observe::At::new(here, async {}).site(), here);
    /// ```
    pub fn site(&self) -> Site {
        self.at
    }
}

impl<F: Future> Future for At<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let polled = this.inner.poll(cx);
        if polled.is_pending() {
            park(this.at);
        }
        polled
    }
}
