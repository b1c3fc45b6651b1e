//! `wait`: wait for some or all of a set of tasks, with an optional timeout.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use aio_scheduler::{Delay, IntoDelay, Sleep, sleep};

use crate::watch::{Retrieve, Watcher};
use crate::{Error, IntoTask, Task};

/// When [`wait`] returns (asyncio's `return_when`).
///
/// # Examples
///
/// ```
/// use aio_task::{ReturnWhen, run, wait};
///
/// run(async {
///     for (when, finished) in [(ReturnWhen::FirstCompleted, 1), (ReturnWhen::AllCompleted, 2)] {
///         let naps = [0.01, 0.05].map(aio_scheduler::sleep);
///         let (done, _pending) = wait(naps).return_when(when).await?;
///         assert_eq!(done.len(), finished);
///     }
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any task is done (asyncio's `FIRST_COMPLETED`).
    FirstCompleted,
    /// As soon as any task fails with an error other than cancellation, or when all are done
    /// (asyncio's `FIRST_EXCEPTION`).
    FirstException,
    /// When every task is done (asyncio's `ALL_COMPLETED`, the default).
    AllCompleted,
}

/// asyncio's `FIRST_COMPLETED`: [`ReturnWhen::FirstCompleted`].
///
/// # Examples
///
/// ```
/// use aio_task::{FIRST_COMPLETED, run, wait};
///
/// run(async {
///     let naps = [0.01, 3600.0].map(aio_scheduler::sleep);
///     let (done, pending) = wait(naps).return_when(FIRST_COMPLETED).await?;
///     assert_eq!((done.len(), pending.len()), (1, 1));
///     pending[0].cancel(None);
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub const FIRST_COMPLETED: ReturnWhen = ReturnWhen::FirstCompleted;
/// asyncio's `FIRST_EXCEPTION`: [`ReturnWhen::FirstException`].
///
/// # Examples
///
/// ```
/// use aio_task::{Error, FIRST_EXCEPTION, run, wait};
///
/// async fn job(fail: bool) {
///     aio_scheduler::sleep(if fail { 0.01 } else { 3600.0 }).await.unwrap();
///     assert!(!fail, "boom");
/// }
/// run(async {
///     let (done, pending) = wait([job(false), job(true)]).return_when(FIRST_EXCEPTION).await?;
///     assert!(matches!(done[0].result(), Err(Error::Panicked(_))));
///     assert_eq!(pending.len(), 1); // still running: `wait` cancels nothing
///     pending[0].cancel(None);
///     Ok::<_, Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub const FIRST_EXCEPTION: ReturnWhen = ReturnWhen::FirstException;
/// asyncio's `ALL_COMPLETED`: [`ReturnWhen::AllCompleted`], [`wait`]'s default.
///
/// # Examples
///
/// ```
/// use aio_task::{ALL_COMPLETED, run, wait};
///
/// run(async {
///     let naps = [0.02, 0.01].map(aio_scheduler::sleep);
///     let (done, pending) = wait(naps).return_when(ALL_COMPLETED).await?;
///     assert_eq!((done.len(), pending.len()), (2, 0));
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub const ALL_COMPLETED: ReturnWhen = ReturnWhen::AllCompleted;

/// Waits for tasks and returns `(done, pending)` (asyncio's `wait`). Nothing is cancelled,
/// not even on timeout; the tasks' outcomes stay in the tasks.
///
/// Configure with [`WaitTasks::timeout`] and [`WaitTasks::return_when`] (default: all completed, no
/// timeout). Give tasks by reference (`wait(&tasks)`): `done` and `pending` then hold those
/// very tasks. Futures and coroutines become tasks — a task given by value too, as the future
/// it is (see [`IntoTask`]).
///
/// # Errors
///
/// [`Error::Value`] for an empty set (asyncio's `ValueError`); [`Error::Runtime`] if a task
/// cannot be created.
///
/// # Cancel safety
///
/// Cancel safe: [`WaitTasks`] never cancels anything, so dropping it — before its first poll or
/// while it waits — leaves every task running, its outcome in place for the handles you kept,
/// and cancels only its own timer. (Futures and coroutines that `wait` turned into tasks keep
/// running too, but only the `WaitTasks` held their handles.)
///
/// # Examples
///
/// ```
/// use aio_task::{FIRST_COMPLETED, run, wait};
/// use aio_scheduler::sleep;
///
/// run(async {
///     let tasks = vec![
///         aio_task::create_task(async { sleep(0.01).await.unwrap(); "fast" })?,
///         aio_task::create_task(async { sleep(3600).await.unwrap(); "slow" })?,
///     ];
///     let (done, pending) = wait(&tasks).return_when(FIRST_COMPLETED).await?;
///     assert_eq!(done[0].result()?, "fast");
///     assert_eq!(pending.len(), 1);
///
///     let (done, pending) = wait(&pending).timeout(0.01).await?;
///     assert!(done.is_empty() && !pending[0].done()); // timed out, nothing cancelled
///     pending[0].cancel(None);
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[track_caller]
pub fn wait<I>(tasks: I) -> WaitTasks<<I::Item as IntoTask>::Output>
where
    I: IntoIterator,
    I::Item: IntoTask,
{
    let tasks = crate::into_task::into_tasks(tasks);
    let state = match tasks {
        Err(error) => State::Failed(error),
        Ok(tasks) if tasks.is_empty() => {
            State::Failed(Error::Value("Set of Tasks/Futures is empty."))
        }
        Ok(tasks) => State::Waiting {
            tasks,
            watcher: None,
        },
    };
    WaitTasks {
        state,
        return_when: ReturnWhen::AllCompleted,
        timeout: Deadline::None,
        at: std::panic::Location::caller(),
    }
}

/// The future returned by [`wait`]; it gives `(done, pending)`.
///
/// # Cancel safety
///
/// Cancel safe: dropping it cancels no task and takes no outcome. See [`wait`].
///
/// # Examples
///
/// ```
/// use aio_task::{Error, Task, WaitTasks, run, wait};
///
/// run(async {
///     let all: WaitTasks<u8> = wait([1, 2].map(|n| async move { n }));
///     let (done, pending) = all.await?; // by default: all completed, no timeout
///     assert_eq!((done.len(), pending.len()), (2, 0));
///     let nothing: Vec<Task<u8>> = Vec::new();
///     assert!(matches!(wait(nothing).await, Err(Error::Value(_))));
///     Ok::<_, Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct WaitTasks<T> {
    state: State<T>,
    return_when: ReturnWhen,
    timeout: Deadline,
    /// Where `wait` was called (`aio_observe`).
    at: aio_observe::Site,
}

/// [`WaitTasks`]'s timeout: the delay until the first poll (asyncio's `wait` is a coroutine,
/// so its timeout counts from when it runs), then the timer.
enum Deadline {
    None,
    Delay(Result<Delay, aio_scheduler::Error>),
    Armed(Pin<Box<Sleep>>),
}

enum State<T> {
    Failed(Error),
    Waiting {
        tasks: Vec<Task<T>>,
        /// Created at the first poll.
        watcher: Option<Watcher>,
    },
    Done,
}

impl<T: 'static> WaitTasks<T> {
    /// Returns after `delay` at the latest (asyncio's `timeout=`), counted from the first
    /// poll: when the wait starts, not when it is built.
    ///
    /// # Errors
    ///
    /// The wait gives [`Error::Runtime`] with [`InvalidDelay`](aio_scheduler::Error::InvalidDelay)
    /// for a NaN delay, as [`sleep`] does. An infinite delay never times out.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{create_future, run, wait};
    ///
    /// run(async {
    ///     let never = create_future::<()>()?;
    ///     let (done, pending) = wait([never.clone()]).timeout(0.01).await?;
    ///     assert!(done.is_empty() && pending.len() == 1);
    ///     assert!(!never.done()); // a timeout cancels nothing
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn timeout(mut self, delay: impl IntoDelay) -> WaitTasks<T> {
        self.timeout = Deadline::Delay(delay.into_delay());
        self
    }

    /// When to return (asyncio's `return_when=`).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{FIRST_EXCEPTION, create_task, run, wait};
    ///
    /// run(async {
    ///     let slow = create_task(async { aio_scheduler::sleep(3600).await.unwrap() })?;
    ///     let fails = create_task(async { assert_eq!(1 + 1, 3, "boom") })?;
    ///     let (done, pending) = wait([&slow, &fails]).return_when(FIRST_EXCEPTION).await?;
    ///     assert_eq!((done.len(), pending.len()), (1, 1)); // did not wait for the slow one
    ///     assert!(done[0].exception()?.is_some());
    ///     pending[0].cancel(None);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn return_when(mut self, return_when: ReturnWhen) -> WaitTasks<T> {
        self.return_when = return_when;
        self
    }
}

impl<T: 'static> Future for WaitTasks<T> {
    type Output = Result<(Vec<Task<T>>, Vec<Task<T>>), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (tasks, watcher) = match &mut this.state {
            State::Waiting { tasks, watcher } => (tasks, watcher),
            State::Done => return Poll::Ready(Err(Error::InvalidState("polled after completion"))),
            State::Failed(_) => {
                let State::Failed(error) = std::mem::replace(&mut this.state, State::Done) else {
                    unreachable!("matched Failed above")
                };
                return Poll::Ready(Err(error));
            }
        };
        let watcher = watcher.get_or_insert_with(|| {
            // asyncio's FIRST_EXCEPTION reads (and so retrieves) each finished task's error.
            let retrieve = if this.return_when == ReturnWhen::FirstException {
                Retrieve::Errors
            } else {
                Retrieve::Nothing
            };
            let mut watcher =
                Watcher::new_at(tasks.iter().map(Task::erase).collect(), retrieve, this.at);
            // `wait` never cancels anything.
            watcher.disarm();
            watcher
        });
        let watch = &watcher.watch;
        let finished = match this.return_when {
            ReturnWhen::FirstCompleted => watch.remaining.get() < tasks.len(),
            ReturnWhen::FirstException => watch.raised.get() || watch.remaining.get() == 0,
            ReturnWhen::AllCompleted => watch.remaining.get() == 0,
        };
        if let Deadline::Delay(delay) = &mut this.timeout {
            match std::mem::replace(delay, Ok(Delay::After(Duration::ZERO))) {
                Ok(delay) => this.timeout = Deadline::Armed(Box::pin(sleep(delay))),
                Err(error) => {
                    this.state = State::Done;
                    return Poll::Ready(Err(error.into()));
                }
            }
        }
        let timed_out = match &mut this.timeout {
            Deadline::Armed(timer) if !finished => match timer.as_mut().poll(cx) {
                Poll::Ready(Ok(())) => true,
                Poll::Ready(Err(error)) => {
                    // No running loop, say: an error, not a silent timeout.
                    this.state = State::Done;
                    return Poll::Ready(Err(error.into()));
                }
                Poll::Pending => false,
            },
            _ => false,
        };
        if !finished && !timed_out {
            watch.register(cx);
            return Poll::Pending;
        }
        let State::Waiting { tasks, .. } = std::mem::replace(&mut this.state, State::Done) else {
            unreachable!("matched Waiting above")
        };
        let (done, pending) = tasks.into_iter().partition(Task::done);
        Poll::Ready(Ok((done, pending)))
    }
}

impl<T> fmt::Debug for WaitTasks<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitTasks")
            .field("return_when", &self.return_when)
            .finish_non_exhaustive()
    }
}
