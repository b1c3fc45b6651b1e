//! `run_coroutine_threadsafe`: submit work to a loop from any thread.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::task::Waker;

use aio_scheduler::{LoopHandle, get_running_loop, panic_message};

use crate::Error;
use crate::slot::{HasSlot, Promise, Slot};

/// Runs the future built by `make` as a task on the loop behind `handle`, from any thread
/// (asyncio's `run_coroutine_threadsafe`). `make` runs on the loop's thread, so the future
/// itself need not be `Send`; only its output crosses back.
///
/// The returned [`ConcurrentFuture`] can be waited on from a plain thread (with a timeout)
/// or awaited from another loop.
///
/// # Errors
///
/// [`Error::Runtime`] if the loop is closed.
///
/// # Cancel safety
///
/// Dropping the [`ConcurrentFuture`] does not cancel the work (asyncio's `wrap_future` would):
/// the task on the loop runs to completion, and its result is then dropped. Call
/// [`ConcurrentFuture::cancel`] to stop it. Awaiting it by reference, `(&mut fut).await`, is
/// cancel safe: the result waits for the next poll or [`ConcurrentFuture::result`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use aio_scheduler::EventLoop;
/// use aio_task::run_coroutine_threadsafe;
///
/// let lp = EventLoop::new()?;
/// let handle = lp.handle();
/// let worker = std::thread::spawn(move || {
///     let fut = run_coroutine_threadsafe(&handle, || async {
///         aio_scheduler::sleep(0.01).await.unwrap();
///         "computed on the loop"
///     })?;
///     let out = fut.result(Some(Duration::from_secs(30)));
///     handle.stop()?;
///     out
/// });
/// lp.run_forever()?;
/// assert_eq!(worker.join().unwrap()?, "computed on the loop");
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn run_coroutine_threadsafe<M, Fut>(
    handle: &LoopHandle,
    make: M,
) -> Result<ConcurrentFuture<Fut::Output>, Error>
where
    M: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    let shared = Arc::new(Shared {
        slot: Slot::new(),
        cancel: AtomicBool::new(false),
        task_waker: Mutex::new(None),
    });
    // Whatever happens to the request from here on, the slot gets filled: dropped unrun
    // (the loop closed first) it reports the closed loop.
    let request = Promise::new(shared.clone(), aio_scheduler::Error::Closed.into());
    let relay_shared = shared.clone();
    handle.call_soon_threadsafe(move || {
        let relay = Relay {
            future: Some(Box::pin(make())),
            shared: relay_shared,
            promise: request.retarget(Error::cancelled(None)),
        };
        let spawned = get_running_loop()
            .map_err(Error::from)
            .and_then(|event_loop| crate::task::spawn(&event_loop, relay));
        // On error the relay was dropped, and its promise reported the cancellation.
        drop(spawned);
    })?;
    Ok(ConcurrentFuture { shared })
}

struct Shared<T> {
    slot: Slot<T>,
    cancel: AtomicBool,
    /// The loop-side task's waker, so `cancel` can reach it from another thread.
    task_waker: Mutex<Option<Waker>>,
}

impl<T> HasSlot<T> for Shared<T> {
    fn slot(&self) -> &Slot<T> {
        &self.slot
    }
}

/// The loop-side future: runs the user's future and relays its outcome (value, panic, or
/// cancellation) to the slot. Dropped unfinished — the task was cancelled, or the loop closed
/// — its promise reports a cancellation.
struct Relay<T, F> {
    // Declared before `promise`: when the relay is dropped, the user's future (and its
    // destructors) goes first, and only then does the promise report the cancellation.
    future: Option<Pin<Box<F>>>,
    shared: Arc<Shared<T>>,
    promise: Promise<T, Shared<T>>,
}

impl<T, F: Future<Output = T>> Future for Relay<T, F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.shared.cancel.load(Ordering::Acquire) {
            // The user's future is dropped before anyone can see the cancellation.
            this.future = None;
            this.promise.fill(Err(Error::cancelled(None)));
            return Poll::Ready(());
        }
        *this
            .shared
            .task_waker
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        let Some(future) = this.future.as_mut() else {
            return Poll::Ready(());
        };
        let polled = catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx)));
        let outcome = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(value)) => Ok(value),
            Err(payload) => Err(Error::Panicked(panic_message(&*payload).into())),
        };
        this.future = None;
        this.promise.fill(outcome);
        Poll::Ready(())
    }
}

/// A result computed on another loop (asyncio's `concurrent.futures.Future`): `Send`, can
/// be waited on from a plain thread or awaited from any loop.
///
/// # Cancel safety
///
/// Dropping it does not cancel the task on the loop, which runs to completion; its result is
/// then dropped. Awaiting it by reference, `(&mut fut).await`, is cancel safe: dropping that
/// await loses nothing, and the result waits for the next poll or [`result`](Self::result).
///
/// # Examples
///
/// ```
/// use aio_scheduler::EventLoop;
/// use aio_task::{ConcurrentFuture, run, run_coroutine_threadsafe};
///
/// let (tx, rx) = std::sync::mpsc::channel();
/// let worker = std::thread::spawn(move || {
///     let lp = EventLoop::new()?;
///     tx.send(lp.handle()).unwrap();
///     lp.run_forever()
/// });
/// let handle = rx.recv().unwrap();
/// let fut: ConcurrentFuture<i32> = run_coroutine_threadsafe(&handle, || async { 6 * 7 })?;
/// let answer = run(fut)??; // computed on the worker's loop, awaited on this thread's own
/// handle.stop()?;
/// worker.join().unwrap()?;
/// assert_eq!(answer, 42);
/// # Ok::<(), aio_task::Error>(())
/// ```
pub struct ConcurrentFuture<T> {
    shared: Arc<Shared<T>>,
}

impl<T> ConcurrentFuture<T> {
    /// Blocks this thread until the result is ready, for at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when the timeout passes first (the work goes on); otherwise the
    /// task's error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use aio_task::{Error, run_coroutine_threadsafe};
    ///
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let fut = run_coroutine_threadsafe(&lp.handle(), || async { 5 })?;
    /// // The loop has not run yet: the wait times out, and the work goes on.
    /// assert!(matches!(fut.result(Some(Duration::ZERO)), Err(Error::Timeout)));
    /// lp.run_until_complete(aio_scheduler::sleep(0.01))??;
    /// assert_eq!(fut.result(None)?, 5);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn result(&self, timeout: Option<Duration>) -> Result<T, Error> {
        self.shared.slot.wait(timeout)
    }

    /// Whether the result is ready.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let fut = aio_task::run_coroutine_threadsafe(&lp.handle(), || async { "ready" })?;
    /// assert!(!fut.done()); // it runs only once the loop does
    /// lp.run_until_complete(aio_scheduler::sleep(0.01))??;
    /// assert!(fut.done());
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn done(&self) -> bool {
        self.shared.slot.is_done()
    }

    /// Asks the loop to cancel the task: its future is dropped at its next scheduling point
    /// and the result becomes [`Error::Cancelled`]. Returns false if it already finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use aio_scheduler::EventLoop;
    /// use aio_task::run_coroutine_threadsafe;
    ///
    /// let lp = EventLoop::new()?;
    /// let handle = lp.handle();
    /// let worker = std::thread::spawn(move || {
    ///     let fut = run_coroutine_threadsafe(&handle, || aio_scheduler::sleep(3600))?;
    ///     std::thread::sleep(Duration::from_millis(10));
    ///     assert!(fut.cancel());
    ///     let out = fut.result(Some(Duration::from_secs(30)));
    ///     assert!(fut.done());
    ///     handle.stop()?;
    ///     out.map(|_| ())
    /// });
    /// lp.run_forever()?;
    /// assert!(worker.join().unwrap().unwrap_err().is_cancelled());
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn cancel(&self) -> bool {
        if self.done() {
            return false;
        }
        self.shared.cancel.store(true, Ordering::Release);
        let waker = self
            .shared
            .task_waker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }
}

impl<T> Future for ConcurrentFuture<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        self.shared.slot.poll(cx)
    }
}

impl<T> fmt::Debug for ConcurrentFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrentFuture")
            .field("done", &self.done())
            .finish()
    }
}
