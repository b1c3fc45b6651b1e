//! `gather`: run awaitables concurrently and collect their results in argument order.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::watch::{Retrieve, Watcher};
use crate::{Error, IntoTask, Task, TaskRef};

/// A fixed set of tasks whose results `gather` collects: a `Vec<Task<T>>` (from [`gather`])
/// or a tuple of tasks of different types (from [`gather!`](crate::gather!)).
pub trait Gatherable {
    /// The results when every task succeeded: `Vec<T>`, or `(A, B, ...)`.
    type Values;
    /// Every outcome: `Vec<Result<T, Error>>`, or `(Result<A, Error>, ...)`.
    type Outcomes;

    /// Untyped handles, in argument order.
    fn task_refs(&self) -> Vec<TaskRef>;
    /// The values of tasks that are all done; the first error in argument order otherwise.
    fn take_values(&self) -> Result<Self::Values, Error>;
    /// The outcomes of tasks that are all done.
    fn take_outcomes(&self) -> Self::Outcomes;
}

impl<T: 'static> Gatherable for Vec<Task<T>> {
    type Values = Vec<T>;
    type Outcomes = Vec<Result<T, Error>>;

    fn task_refs(&self) -> Vec<TaskRef> {
        self.iter().map(Task::erase).collect()
    }

    fn take_values(&self) -> Result<Vec<T>, Error> {
        self.iter().map(Task::take_outcome).collect()
    }

    fn take_outcomes(&self) -> Vec<Result<T, Error>> {
        self.iter().map(Task::take_outcome).collect()
    }
}

macro_rules! gatherable_tuple {
    ($($t:ident $i:tt),+) => {
        impl<$($t: 'static),+> Gatherable for ($(Task<$t>,)+) {
            type Values = ($($t,)+);
            type Outcomes = ($(Result<$t, Error>,)+);

            fn task_refs(&self) -> Vec<TaskRef> {
                vec![$(self.$i.erase()),+]
            }

            fn take_values(&self) -> Result<Self::Values, Error> {
                Ok(($(self.$i.take_outcome()?,)+))
            }

            fn take_outcomes(&self) -> Self::Outcomes {
                ($(self.$i.take_outcome(),)+)
            }
        }
    };
}

gatherable_tuple!(A 0);
gatherable_tuple!(A 0, B 1);
gatherable_tuple!(A 0, B 1, C 2);
gatherable_tuple!(A 0, B 1, C 2, D 3);
gatherable_tuple!(A 0, B 1, C 2, D 3, E 4);
gatherable_tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
gatherable_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
gatherable_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
gatherable_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
gatherable_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
gatherable_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
gatherable_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);

/// Runs awaitables concurrently and gives their results in argument order (asyncio's
/// `gather(*aws)`).
///
/// Futures and coroutines become tasks at once; tasks given by reference (`gather(&tasks)`)
/// are used as they are (a task given by value is a future like any other: a new task awaits
/// it, and its `Result` is the value — see [`IntoTask`]). The first error
/// (a panic, an error outcome, a cancellation — in completion order) finishes the gather with
/// that error, and the other tasks keep running. With
/// [`return_exceptions`](Gather::return_exceptions) every outcome is returned instead.
/// Dropping an unfinished gather — for example because the task awaiting it was cancelled —
/// cancels every child, and so does [`Gather::cancel`]. A task given twice is awaited once;
/// its value moves out to the first place, and the second gets [`Error::InvalidState`]
/// (asyncio shares the one result object).
///
/// # Errors
///
/// The first child error; [`Error::Runtime`] if no loop is running to schedule the children.
///
/// # Cancel safety
///
/// **Not** cancel safe, by design (asyncio's): dropping the [`Gather`] before it completes —
/// polled or not — cancels every child still running, with the dropping task's cancel message
/// if it has one. Children that already finished keep their outcomes, for the [`Task`] handles
/// you kept; the gathered values are lost. Once it has completed, dropping it cancels nothing.
/// Await it through [`shield`](crate::shield) to let the children outlive the awaiter.
///
/// # Examples
///
/// ```
/// use aio_task::{gather, run};
/// use aio_scheduler::sleep;
///
/// let results = run(async {
///     gather((1..=3).map(|i| async move {
///         sleep(0.01 * f64::from(4 - i)).await.unwrap(); // the last finishes first
///         i * 10
///     }))
///     .await
/// })??;
/// assert_eq!(results, [10, 20, 30]); // argument order, not completion order
/// # Ok::<(), aio_task::Error>(())
/// ```
#[track_caller]
pub fn gather<I>(awaitables: I) -> Gather<Vec<Task<<I::Item as IntoTask>::Output>>>
where
    I: IntoIterator,
    I::Item: IntoTask,
{
    let tasks = crate::into_task::into_tasks(awaitables);
    Gather::new(tasks)
}

/// `gather` for a fixed list of awaitables of different types; the results come back as a
/// tuple (asyncio's `gather(a, b, c)`). Same semantics as [`gather`]; add
/// `.return_exceptions()` for every outcome.
///
/// # Cancel safety
///
/// As [`gather`](fn@crate::gather): dropping the unfinished gather cancels every child still
/// running.
///
/// # Examples
///
/// ```
/// use aio_task::{gather, run, create_task};
///
/// let (n, s, unit) = run(async {
///     let task = create_task(async { "from a task" })?;
///     aio_task::gather!(async { 1 }, &task, async {}).await
/// })??;
/// assert_eq!((n, s, unit), (1, "from a task", ()));
///
/// let (ok, failed) = run(async {
///     aio_task::gather!(async { 1 }, async { panic!("boom") })
///         .return_exceptions()
///         .await
/// })??;
/// assert_eq!(ok?, 1);
/// assert!(failed.is_err());
/// # Ok::<(), aio_task::Error>(())
/// ```
#[macro_export]
macro_rules! gather {
    ($($awaitable:expr),+ $(,)?) => {
        $crate::Gather::new(
            (|| -> ::core::result::Result<_, $crate::Error> {
                ::core::result::Result::Ok(($($crate::IntoTask::into_task($awaitable)?,)+))
            })(),
        )
    };
}

/// [`gather`] for coroutines that return `Result`: an `Err` counts as a failure, exactly
/// like an exception in asyncio — the first one (in completion order) finishes the gather
/// with that error, and the other tasks keep running. The values come back unwrapped.
///
/// The error type is anything convertible to a boxed error (`std::io::Error`, `String`,
/// `aio::Error`...); an `aio::Error` keeps its identity, anything else becomes
/// [`Error::Exception`]. [`try_gather!`](crate::try_gather!) is the tuple form.
///
/// # Errors
///
/// The first child error; [`Error::Runtime`] if no loop is running.
///
/// # Cancel safety
///
/// As [`gather`]: dropping the unfinished gather cancels every child still running.
///
/// # Examples
///
/// ```
/// use aio_scheduler::sleep;
/// use aio_task::{Error, run, try_gather};
///
/// async fn fetch(i: u32) -> Result<u32, Error> {
///     sleep(0.001 * f64::from(i)).await?;
///     Ok(i * 2)
/// }
///
/// let values = run(async { try_gather((1..=3).map(fetch)).await })??;
/// assert_eq!(values, [2, 4, 6]);
///
/// let failed = run(async {
///     try_gather((1..=3).map(|i| async move {
///         if i == 2 { Err(std::io::Error::other("no 2")) } else { Ok(i) }
///     }))
///     .await
/// })?;
/// assert_eq!(failed.unwrap_err().to_string(), "no 2");
/// # Ok::<(), aio_task::Error>(())
/// ```
#[track_caller]
pub fn try_gather<I, T, E>(coroutines: I) -> Gather<Vec<Task<T>>>
where
    I: IntoIterator,
    I::Item: Future<Output = Result<T, E>> + 'static,
    T: 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    let mut tasks = Vec::new();
    for coroutine in coroutines {
        match try_task(coroutine) {
            Ok(task) => tasks.push(task),
            Err(error) => return Gather::new(Err(error)),
        }
    }
    Gather::new(Ok(tasks))
}

/// Schedules a `Result`-returning future as a task whose `Err` is the task's error (used by
/// [`try_gather`] and [`try_gather!`](crate::try_gather!)).
#[doc(hidden)]
#[track_caller]
pub fn try_task<F, T, E>(future: F) -> Result<Task<T>, Error>
where
    F: Future<Output = Result<T, E>> + 'static,
    T: 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    // A task given by value is a future returning `Result<T, Error>`: use the task itself (its
    // error is its outcome's error already), rather than a new task awaiting it. The check
    // compares two constants, folded away once the types are known.
    let mut future = Some(future);
    if let Some(task) = (&mut future as &mut dyn std::any::Any).downcast_mut::<Option<Task<T>>>() {
        return Ok(task.take().expect("just put there"));
    }
    let future = future.expect("not taken");
    let event_loop = aio_scheduler::get_running_loop()?;
    crate::task::spawn_flat(
        &event_loop,
        async move { future.await.map_err(Error::from_any) },
    )
}

/// [`try_gather`] for a fixed list of `Result`-returning coroutines of different types; the
/// values come back as a tuple.
///
/// # Cancel safety
///
/// As [`gather`](fn@crate::gather): dropping the unfinished gather cancels every child still
/// running.
///
/// # Examples
///
/// ```
/// use aio_task::{Error, run};
/// let (n, s) = run(async {
///     aio_task::try_gather!(async { Ok::<_, Error>(1) }, async { Ok::<_, Error>("two") }).await
/// })??;
/// assert_eq!((n, s), (1, "two"));
/// # Ok::<(), aio_task::Error>(())
/// ```
#[macro_export]
macro_rules! try_gather {
    ($($coroutine:expr),+ $(,)?) => {
        $crate::Gather::new(
            (|| -> ::core::result::Result<_, $crate::Error> {
                ::core::result::Result::Ok(($($crate::try_task($coroutine)?,)+))
            })(),
        )
    };
}

/// The future returned by [`gather`] and [`gather!`](crate::gather!).
///
/// # Cancel safety
///
/// **Not** cancel safe: dropped before it completes (polled or not), it cancels every child
/// still running; finished children keep their outcomes. See [`gather`].
#[must_use = "futures do nothing unless awaited"]
pub struct Gather<G: Gatherable> {
    state: State<G>,
}

/// The future returned by [`Gather::return_exceptions`].
///
/// # Cancel safety
///
/// **Not** cancel safe: dropped before it completes (polled or not), it cancels every child
/// still running; finished children keep their outcomes. See [`gather`].
#[must_use = "futures do nothing unless awaited"]
pub struct GatherAll<G: Gatherable> {
    state: State<G>,
}

enum State<G> {
    Failed(Option<Error>),
    Running {
        tasks: G,
        watcher: Watcher,
        /// Set by a `cancel` that cancelled a child: the gather then ends cancelled, with
        /// this message, even under `return_exceptions` (asyncio's `_cancel_requested`).
        cancel_requested: Cell<Option<Error>>,
    },
    Done,
}

impl<G: Gatherable> State<G> {
    #[track_caller]
    fn new(tasks: Result<G, Error>) -> State<G> {
        match tasks {
            Err(error) => State::Failed(Some(error)),
            Ok(tasks) => {
                let watcher = Watcher::new(tasks.task_refs(), Retrieve::Errors);
                State::Running {
                    tasks,
                    watcher,
                    cancel_requested: Cell::new(None),
                }
            }
        }
    }

    /// Ready once every child is done, or — when `stop_on_error` — once one failed. After a
    /// [`cancel`](Self::cancel) that cancelled a child, ready with that cancellation once every
    /// child is done (unless a child's failure ended it first).
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        stop_on_error: bool,
    ) -> Poll<Result<(G, Option<usize>), Error>> {
        match self {
            State::Failed(error) => {
                let error = error
                    .take()
                    .unwrap_or(Error::InvalidState("polled after completion"));
                *self = State::Done;
                Poll::Ready(Err(error))
            }
            State::Done => Poll::Ready(Err(Error::InvalidState("polled after completion"))),
            State::Running { watcher, .. } => {
                let watch = &watcher.watch;
                let failed = watch.first_error.get().filter(|_| stop_on_error);
                if watch.remaining.get() > 0 && failed.is_none() {
                    watch.register(cx);
                    return Poll::Pending;
                }
                let State::Running {
                    tasks,
                    mut watcher,
                    cancel_requested,
                } = std::mem::replace(self, State::Done)
                else {
                    unreachable!("matched Running above");
                };
                // Finished: the children that are still running keep running.
                watcher.disarm();
                match cancel_requested.take() {
                    Some(cancelled) if failed.is_none() => Poll::Ready(Err(cancelled)),
                    _ => Poll::Ready(Ok((tasks, failed))),
                }
            }
        }
    }
}

impl<G: Gatherable> Gather<G> {
    /// A gather over tasks already created (used by [`gather!`](crate::gather!)).
    #[doc(hidden)]
    #[track_caller]
    pub fn new(tasks: Result<G, Error>) -> Gather<G> {
        Gather {
            state: State::new(tasks),
        }
    }

    /// Returns every outcome instead of stopping at the first error (asyncio's
    /// `return_exceptions=True`).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{gather, run};
    /// let outcomes = run(async {
    ///     gather((1..=3).map(|i| async move {
    ///         assert_ne!(i, 2, "two fails");
    ///         i
    ///     }))
    ///     .return_exceptions()
    ///     .await
    /// })??;
    /// assert_eq!(outcomes.len(), 3);
    /// assert!(outcomes[0].is_ok() && outcomes[1].is_err() && outcomes[2].is_ok());
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn return_exceptions(self) -> GatherAll<G> {
        GatherAll { state: self.state }
    }
}

impl<G: Gatherable> State<G> {
    /// asyncio's `gather(...).cancel()`: cancels every child still running; whether any was.
    fn cancel(&self, msg: Option<&str>) -> bool {
        match self {
            State::Running {
                watcher,
                cancel_requested,
                ..
            } => {
                let mut cancelled = false;
                for task in &watcher.tasks {
                    cancelled |= task.cancel(msg);
                }
                if cancelled {
                    cancel_requested.set(Some(Error::cancelled(msg)));
                }
                cancelled
            }
            State::Failed(_) | State::Done => false,
        }
    }
}

impl<G: Gatherable> Gather<G> {
    /// Cancels every child that is still running (asyncio's `gather(...).cancel()`); the
    /// gather then ends with [`Error::Cancelled`], and children that had finished keep their
    /// results. Returns whether any child was cancelled — `false` once the gather is done.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::sleep;
    /// use aio_task::{Error, create_task, gather, run};
    ///
    /// run(async {
    ///     let done = create_task(async { Ok::<_, Error>(1) })?;
    ///     let stuck = create_task(async { Ok::<_, Error>(sleep(3600).await.map(|()| 2)?) })?;
    ///     let gathered = gather([&done, &stuck]);
    ///     sleep(0).await?;
    ///     assert!(gathered.cancel(None));
    ///     assert!(matches!(gathered.await, Err(Error::Cancelled(_))));
    ///     assert_eq!(done.result()??, 1);
    ///     assert!(stuck.cancelled());
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn cancel<'a>(&self, msg: impl Into<Option<&'a str>>) -> bool {
        self.state.cancel(msg.into())
    }
}

impl<G: Gatherable> GatherAll<G> {
    /// Cancels every child still running, as [`Gather::cancel`]. As in asyncio, a gather
    /// that was cancelled this way ends with [`Error::Cancelled`] (carrying `msg`) even
    /// though it returns exceptions: its outcomes are not returned, and the children keep
    /// theirs.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::sleep;
    /// use aio_task::{Error, create_task, gather, run};
    ///
    /// run(async {
    ///     let stuck = create_task(async { sleep(3600).await.map(|()| 2) })?;
    ///     let gathered = gather([&stuck]).return_exceptions();
    ///     sleep(0).await?;
    ///     assert!(gathered.cancel("enough"));
    ///     let outcome = gathered.await;
    ///     assert!(matches!(outcome, Err(Error::Cancelled(Some(m))) if &*m == "enough"));
    ///     assert!(stuck.cancelled());
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn cancel<'a>(&self, msg: impl Into<Option<&'a str>>) -> bool {
        self.state.cancel(msg.into())
    }
}

impl<G: Gatherable> Future for Gather<G> {
    type Output = Result<G::Values, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (tasks, failed) = std::task::ready!(this.state.poll(cx, true))?;
        Poll::Ready(match failed {
            Some(index) => Err(tasks.task_refs()[index]
                .error()
                .unwrap_or(Error::InvalidState("the failed task has no error"))),
            None => tasks.take_values(),
        })
    }
}

impl<G: Gatherable> Future for GatherAll<G> {
    type Output = Result<G::Outcomes, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (tasks, _) = std::task::ready!(this.state.poll(cx, false))?;
        Poll::Ready(Ok(tasks.take_outcomes()))
    }
}

impl<G: Gatherable> Unpin for Gather<G> {}
impl<G: Gatherable> Unpin for GatherAll<G> {}

impl<G: Gatherable> fmt::Debug for Gather<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather").finish_non_exhaustive()
    }
}

impl<G: Gatherable> fmt::Debug for GatherAll<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatherAll").finish_non_exhaustive()
    }
}
