//! `TaskGroup`: structured concurrency (asyncio 3.11's `TaskGroup`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use aio_scheduler::get_running_loop;
use pin_project_lite::pin_project;

use crate::{Error, Task, TaskRef};

/// A scope whose tasks all finish before it does (asyncio's `TaskGroup`).
///
/// [`TaskGroup::run`] runs a body that receives the group and creates tasks in it with
/// [`TaskGroup::create_task`]. The scope completes when the body and every task are done:
///
/// - the first task that fails (panics, or returns `Err`) cancels every other task and the
///   body; the scope then waits for them and returns [`Error::Group`] with every error that
///   occurred (asyncio's `ExceptionGroup`);
/// - a task cancelled from outside the group is not a failure;
/// - dropping the scope — for example because the task running it was cancelled — cancels
///   every task in it;
/// - creating a task in a group that has finished or is shutting down is an error.
///
/// # Examples
///
/// ```
/// use aio_scheduler::sleep;
/// use aio_task::{Error, TaskGroup, run};
///
/// run(async {
///     let total = TaskGroup::run(|tg| async move {
///         let a = tg.create_task(async { sleep(0.01).await?; Ok::<_, Error>(1) })?;
///         let b = tg.create_task(async { Ok::<_, Error>(2) })?;
///         Ok((a, b))
///     })
///     .await
///     .map(|(a, b)| a.result().unwrap() + b.result().unwrap())?;
///     assert_eq!(total, 3);
///
///     let failed = TaskGroup::run(|tg| async move {
///         tg.create_task(async { sleep(3600).await?; Ok::<_, Error>(()) })?; // cancelled
///         tg.create_task(async { Err::<(), _>(std::io::Error::other("disk full")) })?;
///         Ok(())
///     })
///     .await;
///     match failed {
///         Err(Error::Group(errors)) => assert_eq!(errors[0].to_string(), "disk full"),
///         other => panic!("expected a group error, got {other:?}"),
///     }
///     Ok::<_, Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[derive(Clone)]
pub struct TaskGroup {
    state: Rc<GroupState>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// The body runs, or the scope waits for the tasks.
    Open,
    /// A task failed: the rest are being cancelled.
    Aborting,
    /// The scope has completed.
    Finished,
}

struct GroupState {
    phase: Cell<Phase>,
    body_done: Cell<bool>,
    tasks: RefCell<Vec<TaskRef>>,
    running: Cell<usize>,
    errors: RefCell<Vec<Error>>,
    waker: Cell<Option<Waker>>,
}

impl GroupState {
    fn wake(&self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    fn abort(&self) {
        if self.phase.get() != Phase::Open {
            return;
        }
        self.phase.set(Phase::Aborting);
        let tasks = self.tasks.borrow().clone();
        for task in tasks {
            task.cancel(None);
        }
        self.wake();
    }

    fn on_task_done(&self, task: &TaskRef) {
        self.running.set(self.running.get() - 1);
        if !task.cancelled() {
            if let Some(error) = task.error() {
                self.errors.borrow_mut().push(error);
                self.abort();
            }
        }
        self.wake();
    }
}

impl TaskGroup {
    /// Runs `body` with a new group and waits for the body and all the group's tasks.
    ///
    /// # Errors
    ///
    /// [`Error::Group`] with every error from the tasks (and the body) if any task failed or
    /// the body returned an error.
    ///
    /// # Cancel safety
    ///
    /// **Not** cancel safe, by design (asyncio's): dropping the [`Scope`] before it
    /// completes — for example because the task awaiting it was cancelled — drops the body and
    /// cancels every task created in the group so far; tasks that already finished keep their
    /// outcomes. Once the scope has completed, dropping it does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Error, TaskGroup, run};
    ///
    /// let squares = run(async {
    ///     let tasks = TaskGroup::run(|tg| async move {
    ///         let tasks: Vec<_> = (1..=3)
    ///             .map(|i| tg.create_task(async move { Ok::<_, Error>(i * i) }))
    ///             .collect::<Result<_, _>>()?;
    ///         Ok(tasks)
    ///     })
    ///     .await?;
    ///     // The scope waited for every task: all are done.
    ///     tasks.iter().map(|t| t.result()).collect::<Result<Vec<_>, _>>()
    /// })??;
    /// assert_eq!(squares, [1, 4, 9]);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    #[track_caller]
    pub fn run<B, Fut, R>(body: B) -> Scope<Fut, R>
    where
        B: FnOnce(TaskGroup) -> Fut,
        Fut: Future<Output = Result<R, Error>>,
    {
        let group = TaskGroup {
            state: Rc::new(GroupState {
                phase: Cell::new(Phase::Open),
                body_done: Cell::new(false),
                tasks: RefCell::new(Vec::new()),
                running: Cell::new(0),
                errors: RefCell::new(Vec::new()),
                waker: Cell::new(None),
            }),
        };
        Scope {
            body: Some(body(group.clone())),
            group,
            value: None,
            cancelled: None,
            at: std::panic::Location::caller(),
        }
    }

    /// Creates a task in the group. The task fails the group if it panics or returns `Err`
    /// (any error convertible to a boxed error: `std::io::Error`, `String`, `aio::Error`...).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] if the group has finished ("TaskGroup is finished") or is
    /// shutting down after a failure ("TaskGroup is shutting down"); [`Error::Runtime`] if no
    /// loop is running.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Error, TaskGroup, run};
    ///
    /// run(async {
    ///     let (tg, task) = TaskGroup::run(|tg| async move {
    ///         let task = tg.create_task(async { Ok::<_, std::io::Error>("done") })?;
    ///         Ok((tg, task))
    ///     })
    ///     .await?;
    ///     assert_eq!(task.result()?, "done");
    ///     let late = tg.create_task(async { Ok::<_, Error>(()) });
    ///     assert!(matches!(late, Err(Error::InvalidState("TaskGroup is finished"))));
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    #[track_caller]
    pub fn create_task<F, T, E>(&self, future: F) -> Result<Task<T>, Error>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        let state = &self.state;
        match state.phase.get() {
            Phase::Finished => return Err(Error::InvalidState("TaskGroup is finished")),
            Phase::Aborting => return Err(Error::InvalidState("TaskGroup is shutting down")),
            Phase::Open => {}
        }
        let event_loop = get_running_loop()?;
        let task =
            crate::task::spawn_flat(
                &event_loop,
                async move { future.await.map_err(Error::from_any) },
            )?;
        let erased = task.erase();
        // The group's owner awaits its children (the await graph).
        erased.set_awaited_by(Rc::downgrade(&self.state) as _);
        state.running.set(state.running.get() + 1);
        state.tasks.borrow_mut().push(erased.clone());
        let watcher = Rc::downgrade(&self.state);
        erased.add_done_callback(move |task| {
            if let Some(state) = watcher.upgrade() {
                state.on_task_done(task);
            }
        });
        Ok(task)
    }
}

impl fmt::Debug for TaskGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("phase", &self.state.phase.get())
            .field("running", &self.state.running.get())
            .finish()
    }
}

pin_project! {
    /// The future returned by [`TaskGroup::run`].
    ///
    /// # Cancel safety
    ///
    /// **Not** cancel safe: dropped before it completes, it drops the body and cancels every task
    /// in the group. See [`TaskGroup::run`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct Scope<Fut, R> {
        #[pin]
        body: Option<Fut>,
        group: TaskGroup,
        value: Option<R>,
        // The body ended in a cancellation: after the children, so does the scope.
        cancelled: Option<Error>,
        // Where `run` was called (`aio_observe`): where the owner waits for the children.
        at: aio_observe::Site,
    }

    impl<Fut, R> PinnedDrop for Scope<Fut, R> {
        fn drop(this: Pin<&mut Self>) {
            // Cancelled from outside (or dropped early): cancel the group's tasks.
            let state = &this.group.state;
            if state.phase.get() != Phase::Finished {
                state.phase.set(Phase::Finished);
                for task in state.tasks.take() {
                    task.cancel(None);
                }
            }
        }
    }
}

impl<Fut, R> Future for Scope<Fut, R>
where
    Fut: Future<Output = Result<R, Error>>,
{
    type Output = Result<R, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<R, Error>> {
        let mut this = self.project();
        let state = this.group.state.clone();
        if state.phase.get() == Phase::Finished {
            return Poll::Ready(Err(Error::InvalidState("polled after completion")));
        }
        state.waker.set(Some(cx.waker().clone()));
        if !state.body_done.get() {
            if state.phase.get() == Phase::Aborting {
                // A task failed: the body is cancelled (dropped), as asyncio cancels it.
                this.body.set(None);
                state.body_done.set(true);
            } else if let Some(body) = this.body.as_mut().as_pin_mut() {
                if let Poll::Ready(outcome) = body.poll(cx) {
                    this.body.set(None);
                    state.body_done.set(true);
                    match outcome {
                        Ok(value) => *this.value = Some(value),
                        Err(error) => {
                            if error.is_cancelled() {
                                *this.cancelled = Some(error);
                            } else {
                                state.errors.borrow_mut().push(error);
                            }
                            state.abort();
                        }
                    }
                }
            }
        }
        if !state.body_done.get() || state.running.get() > 0 {
            if state.body_done.get() {
                aio_observe::park(this.at);
            }
            return Poll::Pending;
        }
        state.phase.set(Phase::Finished);
        state.waker.set(None);
        state.tasks.take();
        let errors = state.errors.take();
        Poll::Ready(if !errors.is_empty() {
            Err(Error::Group(errors.into()))
        } else if let Some(cancelled) = this.cancelled.take() {
            Err(cancelled)
        } else {
            this.value
                .take()
                .ok_or(Error::InvalidState("the body produced no value"))
        })
    }
}

impl<Fut, R> fmt::Debug for Scope<Fut, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl crate::observe::Awaiter for GroupState {
    fn for_each_waker(&self, f: &mut dyn FnMut(&Waker)) {
        let waker = self.waker.take();
        if let Some(waker) = &waker {
            f(waker);
        }
        self.waker.set(waker);
    }
}
