//! `as_completed`: results in completion order, as a `Stream` or an iterator of awaitables.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use aio_scheduler::{IntoDelay, TimerHandle};

use crate::watch::{Retrieve, Watcher};
use crate::{Error, IntoTask, Task};

/// Yields the outcomes of `tasks` in the order they complete (asyncio's `as_completed`).
///
/// Use it as a [`Stream`](futures_core::Stream) of `Result<T, Error>`, through
/// [`AsCompleted::next_completed`], or — as in asyncio — as an iterator of awaitables, each
/// giving the next outcome to complete. Tasks given by reference (`as_completed(&tasks)`) are
/// used as they are; futures and coroutines become tasks (a task given by value too, as the
/// future it is: see [`IntoTask`](crate::IntoTask)); a task given more than once is yielded once, as asyncio's set of awaitables does. Dropping it does not
/// cancel the tasks. [`AsCompleted::timeout`] sets a deadline (asyncio's `timeout=`).
///
/// # Cancel safety
///
/// Dropping the [`AsCompleted`] (and its [`NextCompleted`] awaitables) cancels nothing: the
/// tasks keep running and keep the outcomes not given yet, for the handles you kept; the
/// deadline's timer is cancelled. Awaiting the next outcome is cancel safe: see
/// [`AsCompleted::next_completed`] and [`NextCompleted`].
///
/// # Examples
///
/// ```
/// use aio_scheduler::sleep;
/// use aio_task::{as_completed, run};
///
/// let order = run(async {
///     let mut order = Vec::new();
///     for next in as_completed([0.03, 0.01, 0.02].map(|d| async move {
///         sleep(d).await.unwrap();
///         d
///     })) {
///         order.push(next.await?);
///     }
///     Ok::<_, aio_task::Error>(order)
/// })??;
/// assert_eq!(order, [0.01, 0.02, 0.03]);
/// # Ok::<(), aio_task::Error>(())
/// ```
#[track_caller]
pub fn as_completed<I>(tasks: I) -> AsCompleted<<I::Item as IntoTask>::Output>
where
    I: IntoIterator,
    I::Item: IntoTask,
{
    let tasks = crate::into_task::into_tasks(tasks);
    let inner = match tasks {
        Ok(mut tasks) => {
            // A task given twice is one task (asyncio's `as_completed` takes a set).
            let mut seen = std::collections::HashSet::new();
            tasks.retain(|task| seen.insert(task.erase().identity()));
            let mut watcher =
                Watcher::new(tasks.iter().map(Task::erase).collect(), Retrieve::Nothing);
            watcher.disarm();
            Inner::Watching {
                tasks,
                watcher,
                expired: RefCell::new(None),
                timer: Cell::new(None),
            }
        }
        Err(error) => Inner::Failed(Cell::new(Some(error))),
    };
    AsCompleted {
        inner: Rc::new(inner),
        issued: 0,
    }
}

enum Inner<T> {
    Watching {
        tasks: Vec<Task<T>>,
        watcher: Watcher,
        /// Set when the deadline passed (or could not be set): what is left to give.
        expired: RefCell<Option<Expired>>,
        /// The deadline's timer (asyncio's `timeout_handle`), cancelled when this is dropped.
        timer: Cell<Option<Timer>>,
    },
    Failed(Cell<Option<Error>>),
}

/// What is left to give once the deadline passed, as asyncio's `_on_timeout` leaves it: the
/// outcomes queued by then, then one error per task still running (later completions are
/// not given).
struct Expired {
    finished: usize,
    errors: usize,
    error: Error,
}

/// The deadline's timer; dropping it cancels it.
struct Timer(TimerHandle);

impl Drop for Timer {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl<T: 'static> Inner<T> {
    fn len(&self) -> usize {
        match self {
            Inner::Watching { tasks, .. } => tasks.len(),
            Inner::Failed(_) => 1,
        }
    }

    /// The deadline passed (`error` is `Timeout`) or could not be set: the outcomes queued
    /// now are still given, then `error` once for each task not done yet.
    fn expire(&self, error: Error) {
        let Inner::Watching {
            watcher, expired, ..
        } = self
        else {
            return;
        };
        let mut expired = expired.borrow_mut();
        if expired.is_some() {
            return;
        }
        let watch = &watcher.watch;
        *expired = Some(Expired {
            finished: watch.finished.borrow().len(),
            errors: watch.remaining.get(),
            error,
        });
        drop(expired);
        watch.wake_all();
    }

    fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Error>>> {
        match self {
            Inner::Failed(error) => Poll::Ready(error.take().map(Err)),
            Inner::Watching {
                tasks,
                watcher,
                expired,
                ..
            } => {
                if let Some(expired) = expired.borrow_mut().as_mut() {
                    if expired.finished > 0 {
                        expired.finished -= 1;
                        let index = watcher.watch.finished.borrow_mut().pop_front();
                        let index = index.expect("counted when the deadline passed");
                        return Poll::Ready(Some(tasks[index].take_outcome()));
                    }
                    if expired.errors > 0 {
                        expired.errors -= 1;
                        return Poll::Ready(Some(Err(expired.error.clone())));
                    }
                    return Poll::Ready(None);
                }
                let index = watcher.watch.finished.borrow_mut().pop_front();
                match index {
                    Some(index) => Poll::Ready(Some(tasks[index].take_outcome())),
                    None if watcher.watch.remaining.get() == 0 => Poll::Ready(None),
                    None => {
                        watcher.watch.register(cx);
                        Poll::Pending
                    }
                }
            }
        }
    }
}

/// The stream / iterator returned by [`as_completed`].
///
/// # Cancel safety
///
/// Dropping it cancels no task; an outcome is taken only when it is given. See
/// [`as_completed`].
///
/// # Examples
///
/// ```
/// use aio_task::{AsCompleted, as_completed, run};
///
/// let total = run(async {
///     let mut results: AsCompleted<u32> = as_completed([1, 2, 3].map(|n| async move { n }));
///     let mut total = 0;
///     while let Some(outcome) = results.next_completed().await {
///         total += outcome?;
///     }
///     Ok::<_, aio_task::Error>(total)
/// })??;
/// assert_eq!(total, 6);
/// # Ok::<(), aio_task::Error>(())
/// ```
pub struct AsCompleted<T> {
    inner: Rc<Inner<T>>,
    issued: usize,
}

impl<T: 'static> AsCompleted<T> {
    /// Gives up waiting `delay` after now (asyncio's `timeout=`; the deadline counts from the
    /// call, as in asyncio 3.13, which arms it in `as_completed` itself — 3.11 and 3.12 at the
    /// first `next()`). One timer serves the whole iterator.
    ///
    /// When the deadline passes, the outcomes that completed before it are still given, in
    /// completion order, and then [`Error::Timeout`] once for each task still running, even
    /// if it completes before it is asked for. Nothing is cancelled: the tasks keep running
    /// and keep their outcomes. A stream ends after the timeouts. Calling it again replaces
    /// the deadline.
    ///
    /// # Errors
    ///
    /// A NaN delay, or no loop to time on, gives [`Error::Runtime`] (as
    /// [`sleep`](aio_scheduler::sleep) does, with
    /// [`InvalidDelay`](aio_scheduler::Error::InvalidDelay)) in place of each outcome not yet
    /// given, where asyncio times out at once for `timeout=nan`.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::sleep;
    /// use aio_task::{Error, as_completed, create_future, create_task, run};
    ///
    /// run(async {
    ///     let never = create_future::<u32>()?;
    ///     let slow = create_task(never.clone().wait())?;
    ///     let quick = create_task(async { Ok(1) })?;
    ///     let mut outcomes = Vec::new();
    ///     for next in as_completed([&slow, &quick]).timeout(0.01) {
    ///         outcomes.push(next.await);
    ///     }
    ///     assert_eq!(outcomes[0].as_ref().unwrap().as_ref().unwrap(), &1);
    ///     assert!(matches!(outcomes[1], Err(Error::Timeout)));
    ///     assert!(!slow.done()); // still running: the timeout cancels nothing
    ///     never.set_result(2)?;
    ///     assert_eq!(slow.await??, 2);
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn timeout(self, delay: impl IntoDelay) -> AsCompleted<T> {
        if let Inner::Watching { tasks, timer, .. } = &*self.inner {
            drop(timer.take());
            let event_loop = match tasks.first().and_then(Task::get_loop) {
                Some(event_loop) => Ok(event_loop),
                None if tasks.is_empty() => return self, // nothing can time out
                None => Err(aio_scheduler::Error::Closed),
            };
            let weak = Rc::downgrade(&self.inner);
            let armed = event_loop.and_then(|event_loop| {
                event_loop.call_later(delay, move || {
                    if let Some(inner) = weak.upgrade() {
                        inner.expire(Error::Timeout);
                    }
                })
            });
            match armed {
                Ok(handle) => timer.set(Some(Timer(handle))),
                Err(error) => self.inner.expire(error.into()),
            }
        }
        self
    }

    /// The next outcome to complete, or `None` when all have been returned.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an outcome is taken only when it is returned, so dropping the future
    /// before it completes loses nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let mut results = aio_task::as_completed([async { 1 }]);
    ///     assert_eq!(results.next_completed().await.unwrap()?, 1);
    ///     assert!(results.next_completed().await.is_none());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub async fn next_completed(&mut self) -> Option<Result<T, Error>> {
        std::future::poll_fn(|cx| self.inner.poll_next(cx)).await
    }
}

impl<T: 'static> futures_core::Stream for AsCompleted<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next(cx)
    }
}

impl<T: 'static> Iterator for AsCompleted<T> {
    type Item = NextCompleted<T>;

    fn next(&mut self) -> Option<NextCompleted<T>> {
        if self.issued == self.inner.len() {
            return None;
        }
        self.issued += 1;
        Some(NextCompleted {
            inner: self.inner.clone(),
        })
    }
}

/// One awaitable from the [`as_completed`] iterator: the next outcome to complete.
///
/// # Cancel safety
///
/// Cancel safe: dropping it before it completes takes no outcome, which stays for the next
/// awaitable. The dropped awaitable still counts among the one-per-task the iterator gives,
/// so the last outcome is then left in its task (for a handle you kept) rather than given.
///
/// # Examples
///
/// ```
/// use aio_scheduler::sleep;
/// use aio_task::{NextCompleted, as_completed, run};
///
/// run(async {
///     let mut it = as_completed([0.02, 0.01].map(|d| async move { sleep(d).await.unwrap(); d }));
///     let (a, b): (NextCompleted<f64>, _) = (it.next().unwrap(), it.next().unwrap());
///     assert!(it.next().is_none()); // one awaitable per task
///     // Each gives whichever outcome completes next, not one particular task's.
///     assert_eq!(b.await?, 0.01);
///     assert_eq!(a.await?, 0.02);
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct NextCompleted<T> {
    inner: Rc<Inner<T>>,
}

impl<T: 'static> Future for NextCompleted<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        self.inner.poll_next(cx).map(|next| {
            next.unwrap_or(Err(Error::InvalidState(
                "more awaitables were awaited than there were tasks",
            )))
        })
    }
}

impl<T> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for NextCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NextCompleted").finish_non_exhaustive()
    }
}
