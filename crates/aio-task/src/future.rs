//! asyncio's `Future`: a result that is set by hand and awaited.

use std::fmt;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use aio_scheduler::{EventLoop, WeakLoop, get_running_loop};

use crate::Error;
use crate::core::{CallbackId, Core, report_unretrieved};

/// asyncio's `Future`: a placeholder for a result that some callback or task will set.
///
/// Created with [`create_future`] (on the running loop) or
/// [`EventLoopExt::create_future`](crate::EventLoopExt::create_future). Clones are handles to
/// the same future. Awaiting a handle gives `Ok(value)`, the error set with
/// [`set_exception`](Future::set_exception), or [`Error::Cancelled`]; the value is moved to
/// the awaiter (use [`result`](Future::result) to copy it instead).
///
/// Done callbacks run through `call_soon`, never synchronously, in registration order.
///
/// # Cancel safety
///
/// Dropping a `Future` handle cancels nothing. Awaiting one goes through [`Wait`], which is
/// **not** cancel safe: dropped while it waits, it cancels the future, as asyncio cancels a
/// future whose awaiting task is cancelled, and a later [`set_result`](Future::set_result)
/// then fails with [`Error::InvalidState`] for every handle. Await it through
/// [`shield`](crate::shield) to keep the future alive past the awaiter.
///
/// # Examples
///
/// ```
/// use aio_task::{EventLoopExt, Future};
/// use aio_scheduler::EventLoop;
///
/// let lp = EventLoop::new()?;
/// let fut: Future<&str> = lp.create_future();
/// let setter = fut.clone();
/// lp.call_later(0.01, move || setter.set_result("done").unwrap())?;
/// assert_eq!(lp.run_until_complete(fut)??, "done");
/// # Ok::<(), aio_task::Error>(())
/// ```
pub struct Future<T> {
    cell: Rc<FutureCell<T>>,
}

struct FutureCell<T> {
    core: Core<T, Future<T>>,
    event_loop: WeakLoop,
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future {
            cell: self.cell.clone(),
        }
    }
}

/// A new pending [`Future`] on the running loop (asyncio's `loop.create_future()`).
///
/// # Errors
///
/// [`Error::Runtime`] ([`NoRunningLoop`](aio_scheduler::Error::NoRunningLoop)) outside a
/// running loop.
///
/// # Examples
///
/// ```
/// use aio_scheduler::EventLoop;
/// let lp = EventLoop::new()?;
/// lp.run_until_complete(async {
///     let fut = aio_task::create_future::<u32>()?;
///     assert!(!fut.done());
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn create_future<T: 'static>() -> Result<Future<T>, Error> {
    Ok(Future::new(&get_running_loop()?))
}

impl<T: 'static> Future<T> {
    pub(crate) fn new(event_loop: &EventLoop) -> Future<T> {
        Future {
            cell: Rc::new(FutureCell {
                core: Core::new(),
                event_loop: event_loop.downgrade(),
            }),
        }
    }

    /// Sets the result, waking the awaiters and scheduling the done callbacks.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] if the future is already done.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::EventLoopExt;
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let fut = lp.create_future();
    /// fut.set_result(111)?;
    /// assert!(fut.set_result(222).is_err()); // InvalidState: already done
    /// assert_eq!(fut.result()?, 111);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn set_result(&self, value: T) -> Result<(), Error> {
        self.set(Ok(value))
    }

    /// Completes the future with an error (asyncio's `set_exception`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] if the future is already done.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{EventLoopExt, Error};
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let fut = lp.create_future::<()>();
    /// fut.set_exception(std::io::Error::other("disk on fire"))?;
    /// let err = fut.result().unwrap_err();
    /// assert!(matches!(err, Error::Exception(_)));
    /// assert_eq!(err.to_string(), "disk on fire");
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn set_exception(
        &self,
        error: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Result<(), Error> {
        self.set(Err(Error::Exception(Arc::from(error.into()))))
    }

    fn set(&self, result: Result<T, Error>) -> Result<(), Error> {
        if self.cell.core.complete(result, self, self.get_loop()) {
            Ok(())
        } else {
            Err(Error::InvalidState("the future is already done"))
        }
    }

    /// Cancels the future: awaiters get [`Error::Cancelled`] with `msg`. Returns false if it
    /// was already done.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::EventLoopExt;
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let fut = lp.create_future::<u8>();
    /// assert!(fut.cancel("no longer needed"));
    /// assert!(fut.cancelled() && fut.done());
    /// assert!(!fut.cancel(None));
    /// assert_eq!(fut.result().unwrap_err().cancel_message(), Some("no longer needed"));
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn cancel<'a>(&self, msg: impl Into<Option<&'a str>>) -> bool {
        self.cell
            .core
            .complete(Err(Error::cancelled(msg.into())), self, self.get_loop())
    }

    /// Whether the future has a result, an error, or was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::EventLoopExt;
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let fut = lp.create_future::<u8>();
    /// assert!(!fut.done());
    /// fut.set_result(1)?;
    /// assert!(fut.done() && !fut.cancelled());
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn done(&self) -> bool {
        self.cell.core.done()
    }

    /// Whether the future was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::EventLoopExt;
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let fut = lp.create_future::<u8>();
    /// assert!(!fut.cancelled());
    /// fut.cancel(None);
    /// assert!(fut.cancelled());
    /// let failed = lp.create_future::<u8>();
    /// failed.set_exception(std::io::Error::other("no"))?;
    /// assert!(failed.done() && !failed.cancelled()); // an error is not a cancellation
    /// assert!(failed.exception()?.is_some());
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn cancelled(&self) -> bool {
        self.cell.core.cancelled()
    }

    /// The future's error, if it ended with one (asyncio's `exception()`): `Ok(None)` after
    /// a result, `Ok(Some(error))` after an error — which counts as retrieved, so it is not
    /// reported as never retrieved.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] while pending; the cancellation ([`Error::Cancelled`]) if the
    /// future was cancelled, as asyncio raises `CancelledError`.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Error, EventLoopExt};
    ///
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let fut = lp.create_future::<u8>();
    /// assert!(matches!(fut.exception(), Err(Error::InvalidState(_))));
    /// fut.set_exception(std::io::Error::other("boom"))?;
    /// assert_eq!(fut.exception()?.unwrap().to_string(), "boom");
    /// let ok = lp.create_future::<u8>();
    /// ok.set_result(1)?;
    /// assert!(ok.exception()?.is_none());
    /// let gone = lp.create_future::<u8>();
    /// gone.cancel(None);
    /// assert!(gone.exception().unwrap_err().is_cancelled());
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn exception(&self) -> Result<Option<Error>, Error> {
        self.cell.core.exception()
    }

    /// Schedules `callback` to run (through `call_soon`) when the future is done — or soon,
    /// if it already is.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use aio_task::EventLoopExt;
    ///
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let fut = lp.create_future::<i32>();
    /// let seen = Rc::new(Cell::new(0));
    /// let s = seen.clone();
    /// fut.add_done_callback(move |f| s.set(f.result().unwrap()));
    /// fut.set_result(7)?;
    /// assert_eq!(seen.get(), 0); // never synchronously
    /// lp.run_until_complete(aio_scheduler::sleep(0))??;
    /// assert_eq!(seen.get(), 7);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn add_done_callback(&self, callback: impl FnOnce(&Future<T>) + 'static) -> CallbackId {
        self.cell
            .core
            .add_callback(Box::new(callback), self, self.get_loop())
    }

    /// Removes a callback that has not been scheduled yet; returns whether it was found.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::EventLoopExt;
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let fut = lp.create_future::<u8>();
    /// let id = fut.add_done_callback(|_| unreachable!("removed before it ran"));
    /// assert!(fut.remove_done_callback(id));
    /// fut.set_result(1)?;
    /// lp.run_until_complete(aio_scheduler::sleep(0))??; // nothing runs
    /// assert!(!fut.remove_done_callback(id)); // already gone
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn remove_done_callback(&self, id: CallbackId) -> bool {
        self.cell.core.remove_callback(id)
    }

    /// The loop this future belongs to, if it still exists.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::EventLoopExt;
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let fut = lp.create_future::<()>();
    /// assert!(fut.get_loop().unwrap().same(&lp));
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn get_loop(&self) -> Option<EventLoop> {
        self.cell.event_loop.upgrade()
    }

    /// The `std` future that awaits this one (what `.await` uses).
    ///
    /// # Cancel safety
    ///
    /// As [`Wait`]: **not** cancel safe; dropped while it waits, it cancels the future.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::EventLoopExt;
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let fut = lp.create_future::<u8>();
    /// fut.set_result(4)?;
    /// assert_eq!(lp.run_until_complete(fut.wait())??, 4);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    #[track_caller]
    pub fn wait(self) -> Wait<T> {
        std::future::IntoFuture::into_future(self)
    }
}

impl<T: Clone + 'static> Future<T> {
    /// A copy of the result (asyncio's `result()`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] while pending (or after an `.await` moved the value out); the
    /// future's error or cancellation otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{EventLoopExt, Error};
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let fut = lp.create_future::<u8>();
    /// assert!(matches!(fut.result(), Err(Error::InvalidState(_))));
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn result(&self) -> Result<T, Error> {
        self.cell.core.result()
    }
}

/// Awaiting a future gives its outcome (moved to the awaiter). Like [`Task`](crate::Task), a
/// `Future` is [`IntoFuture`](std::future::IntoFuture), so `gather` and friends accept it
/// directly.
impl<T: 'static> std::future::IntoFuture for Future<T> {
    type Output = Result<T, Error>;
    type IntoFuture = Wait<T>;

    #[track_caller]
    fn into_future(self) -> Wait<T> {
        // Through `.await`, the caller is the line of the `.await` (`aio_observe`).
        Wait {
            future: self,
            awaiting: false,
            at: std::panic::Location::caller(),
        }
    }
}

/// The `std` future that awaits a [`Future`]: `fut.await`, or [`Future::wait`].
///
/// As in asyncio, if the awaiting task is cancelled while waiting (this is dropped while
/// the future is pending), the future is cancelled too.
///
/// # Cancel safety
///
/// **Not** cancel safe: dropped after its first poll while the future is still pending, it
/// cancels the future (with the awaiting task's cancel message, if it has one), and a later
/// [`set_result`](Future::set_result) fails with [`Error::InvalidState`]. Dropped before its
/// first poll, or once the future is done, it changes nothing: a result not taken yet stays in
/// the future.
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<T: 'static> {
    future: Future<T>,
    awaiting: bool,
    /// Where the await is (`aio_observe`).
    at: aio_observe::Site,
}

impl<T: 'static> std::future::Future for Wait<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        if !self.awaiting
            && !self.future.done()
            && crate::task::runs_on_another_loop(self.future.cell.event_loop.upgrade())
        {
            return Poll::Ready(Err(Error::InvalidState(crate::task::OTHER_LOOP)));
        }
        let polled = self.future.cell.core.poll_take(cx);
        self.awaiting = polled.is_pending();
        if self.awaiting {
            aio_observe::park(self.at);
        }
        polled
    }
}

impl<T: 'static> Drop for Wait<T> {
    fn drop(&mut self) {
        if self.awaiting && !self.future.done() && !aio_scheduler::dropping_unfinished_main() {
            // The awaiting task was cancelled with a message: the future gets it too.
            self.future
                .cancel(crate::task::dropping_cancel_message().as_deref());
        }
    }
}

impl<T: 'static> fmt::Debug for Wait<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Wait").field(&self.future).finish()
    }
}

impl<T> Drop for FutureCell<T> {
    fn drop(&mut self) {
        if let Some(error) = self.core.unretrieved_error() {
            report_unretrieved(
                self.event_loop.upgrade(),
                "Future exception was never retrieved",
                None,
                error,
            );
        }
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if !self.cell.core.done() {
            "pending"
        } else if self.cell.core.cancelled() {
            "cancelled"
        } else {
            "finished"
        };
        f.debug_struct("Future").field("state", &state).finish()
    }
}
