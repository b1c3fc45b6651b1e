//! `as_completed`: results in completion order, as a `Stream` or an iterator of awaitables.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::watch::{Retrieve, Watcher};
use crate::{Error, IntoTask, Task};

/// Yields the outcomes of `tasks` in the order they complete (asyncio's `as_completed`).
///
/// Use it as a [`Stream`](futures_core::Stream) of `Result<T, Error>`, through
/// [`AsCompleted::next_completed`], or — as in asyncio — as an iterator of awaitables, each
/// giving the next outcome to complete. Futures and coroutines become tasks; a task given
/// more than once is yielded once, as asyncio's set of awaitables does. Dropping it does not
/// cancel the tasks.
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
            Inner::Watching { tasks, watcher }
        }
        Err(error) => Inner::Failed(std::cell::Cell::new(Some(error))),
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
    },
    Failed(std::cell::Cell<Option<Error>>),
}

impl<T: 'static> Inner<T> {
    fn len(&self) -> usize {
        match self {
            Inner::Watching { tasks, .. } => tasks.len(),
            Inner::Failed(_) => 1,
        }
    }

    fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Error>>> {
        match self {
            Inner::Failed(error) => Poll::Ready(error.take().map(Err)),
            Inner::Watching { tasks, watcher } => {
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
    /// The next outcome to complete, or `None` when all have been returned.
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
