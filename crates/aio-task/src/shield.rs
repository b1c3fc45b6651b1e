//! `shield`: await a task without letting the awaiter's cancellation reach it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::{Error, IntoTask, Task};

/// Awaits `awaitable` as a task that survives the awaiter (asyncio's `shield`): if the task
/// awaiting the shield is cancelled (its future dropped), the inner task keeps running.
/// Give a task by reference (`shield(&task)`) to shield that task; futures and coroutines
/// become tasks (a task given by value too, as the future it is: the new task takes its
/// outcome — see [`IntoTask`]).
///
/// # Errors
///
/// The inner task's error; [`Error::Runtime`] if it cannot be created.
///
/// # Cancel safety
///
/// Cancel safe with respect to the inner task: dropping the [`Shield`], even while it waits,
/// neither cancels the inner task nor takes its outcome, which stays in the task for any handle
/// you kept. (A future or coroutine given to `shield` becomes a task that only the shield
/// holds: it still runs to completion, but its outcome is then dropped with it, and an error is
/// reported as never retrieved.)
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use aio_scheduler::sleep;
/// use aio_task::{create_task, run, shield};
///
/// let finished = Rc::new(Cell::new(false));
/// let f = finished.clone();
/// run(async move {
///     let inner = create_task(async move { sleep(0.02).await.unwrap(); f.set(true) })?;
///     let outer = create_task(shield(&inner))?;
///     sleep(0.001).await?;
///     outer.cancel(None);
///     assert!(outer.await.unwrap_err().is_cancelled());
///     inner.await // still running, finishes normally
/// })??;
/// assert!(finished.get());
/// # Ok::<(), aio_task::Error>(())
/// ```
#[track_caller]
pub fn shield<A: IntoTask>(awaitable: A) -> Shield<A::Output> {
    Shield {
        inner: awaitable.into_task().map_err(Some),
        at: std::panic::Location::caller(),
    }
}

/// The future returned by [`shield`].
///
/// Dropping it, even mid-await, never cancels the inner task (unlike an awaited [`Task`]).
///
/// # Cancel safety
///
/// Cancel safe: dropping it, even while it waits, neither cancels the inner task nor takes its
/// outcome. See [`shield`].
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use aio_task::{Shield, run, shield};
///
/// let ran = Rc::new(Cell::new(false));
/// let r = ran.clone();
/// run(async move {
///     let guarded: Shield<()> = shield(async move { r.set(true) });
///     drop(guarded); // never awaited...
///     aio_scheduler::sleep(0).await
/// })??;
/// assert!(ran.get()); // ...yet it ran: `shield` made the future a task of its own
/// # Ok::<(), aio_task::Error>(())
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Shield<T> {
    // Polled through `poll_outcome`, not as a future: dropping the shield must not cancel it.
    inner: Result<Task<T>, Option<Error>>,
    /// Where `shield` was called (`aio_observe`).
    at: aio_observe::Site,
}

impl<T: 'static> Future for Shield<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        let this = self.get_mut();
        match &mut this.inner {
            Ok(task) => {
                let polled = task.poll_outcome(cx);
                if polled.is_pending() {
                    aio_observe::park(this.at);
                }
                polled
            }
            Err(error) => Poll::Ready(Err(error
                .take()
                .unwrap_or(Error::InvalidState("polled after completion")))),
        }
    }
}

impl<T> fmt::Debug for Shield<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shield").finish_non_exhaustive()
    }
}
