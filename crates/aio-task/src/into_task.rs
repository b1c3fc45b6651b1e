//! `IntoTask`: what asyncio's combinators accept — a task, a future, or a coroutine.

use std::future::Future as StdFuture;

use aio_scheduler::get_running_loop;

use crate::{Error, Future, Task, create_task};

/// Something that can be awaited as a [`Task`]: a task given by reference (`&task`, used as
/// it is), an aio [`Future`] (awaited by a new task), or any other future (scheduled as a new
/// task on the running loop — asyncio's `ensure_future`).
///
/// This is what `gather`, `wait`, `as_completed` and `shield` accept, so tasks and plain
/// `async` blocks can be mixed, and a task's value comes back without an extra `Result` layer.
///
/// # Tasks by reference, tasks by value
///
/// A [`Task`] is itself a future (with output `Result<T, Error>`), so a task given **by value**
/// is taken as any other future: it is awaited by a new task whose value is that `Result` —
/// `gather(tasks)` gives `Vec<Result<T, Error>>`, every outcome, like tokio's `join_all` of
/// handles. Give tasks **by reference** to use them as they are, as asyncio does with
/// `gather(*tasks)`: `gather(&tasks)` gives `Vec<T>` (stopping at the first error), the
/// handles you keep are the tasks waited on, and no task is created. (Rust has no
/// specialisation, so one generic function cannot tell a task by value from another future:
/// the `&` is how you say "this task itself".) [`try_gather`](fn@crate::try_gather) is the
/// exception: it takes futures that return a `Result`, which a task by value is, and uses a
/// task given to it as it is.
///
/// # Examples
///
/// ```
/// use aio_task::{IntoTask, create_task, run};
///
/// run(async {
///     let existing = create_task(async { 1 })?;
///     let a = (&existing).into_task()?;        // the same task
///     let b = async { 2 }.into_task()?;        // a new task
///     assert!(a.erase().same(&existing.erase()));
///     assert_eq!((a.await?, b.await?), (1, 2));
///     let other = create_task(async { 3 })?;
///     let c = other.into_task()?; // by value: a new task, whose value is `other`'s `Result`
///     assert_eq!(c.await??, 3);
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub trait IntoTask {
    /// The task's output.
    type Output: 'static;

    /// The task.
    ///
    /// # Errors
    ///
    /// [`Error::Runtime`] if a new task is needed and no loop is running.
    #[track_caller]
    fn into_task(self) -> Result<Task<Self::Output>, Error>;
}

/// Turns every awaitable into a task, keeping the caller's location for debug mode (a
/// closure passed to `map` would record its own).
#[track_caller]
pub(crate) fn into_tasks<I>(
    awaitables: I,
) -> Result<Vec<Task<<I::Item as IntoTask>::Output>>, Error>
where
    I: IntoIterator,
    I::Item: IntoTask,
{
    let mut tasks = Vec::new();
    for awaitable in awaitables {
        tasks.push(awaitable.into_task()?);
    }
    Ok(tasks)
}

impl<F> IntoTask for F
where
    F: StdFuture + 'static,
    F::Output: 'static,
{
    type Output = F::Output;

    #[track_caller]
    fn into_task(self) -> Result<Task<F::Output>, Error> {
        create_task(self)
    }
}

/// The task itself (a new handle to it): no task is created, and its value comes back as it
/// is.
impl<T: 'static> IntoTask for &Task<T> {
    type Output = T;

    #[track_caller]
    fn into_task(self) -> Result<Task<T>, Error> {
        Ok(self.clone())
    }
}

/// As the future by value (a new task awaits it): the future itself is shared, not copied.
impl<T: 'static> IntoTask for &Future<T> {
    type Output = T;

    #[track_caller]
    fn into_task(self) -> Result<Task<T>, Error> {
        self.clone().into_task()
    }
}

impl<T: 'static> IntoTask for Future<T> {
    type Output = T;

    #[track_caller]
    fn into_task(self) -> Result<Task<T>, Error> {
        // A task whose outcome is the future's outcome, errors included.
        crate::task::spawn_flat(&get_running_loop()?, self.wait())
    }
}
