//! asyncio's Futures and Tasks for Rust.
//!
//! This is the task layer of aio, above the event loop (`aio-scheduler`):
//!
//! - [`Task`]: a future scheduled on the loop ([`create_task`]). The loop owns it; the handle
//!   is itself a [`std::future::Future`] with output `Result<T, Error>`, so `.await` and
//!   every futures combinator (`join_all`, `FuturesUnordered`, `select!`) take it;
//!   [`Task::cancel`] drops its future at the next scheduling point; a panic becomes the
//!   task's [`Error::Panicked`] and never stops the loop. Tasks need not be `Send`.
//! - The asyncio combinators — [`gather`](fn@gather), [`wait`], [`as_completed`],
//!   [`shield`], [`wait_for`] — take tasks by reference (`gather(&tasks)`: the tasks
//!   themselves, their values unwrapped) and coroutines (any other future, made a task), see
//!   [`IntoTask`]; [`try_gather`](fn@try_gather) takes tasks by value too.
//! - [`Future`]: asyncio's settable future ([`create_future`]): `set_result`,
//!   `set_exception`, `cancel`, done callbacks.
//! - [`current_task`], [`all_tasks`], and [`run`] (asyncio's `asyncio.run`).
//! - [`EventLoopExt`]: the same operations as methods of a specific
//!   `EventLoop`.
//!
//! # Examples
//!
//! ```
//! use aio_scheduler::sleep;
//! use aio_task::{create_task, run};
//!
//! async fn say_after(delay: f64, what: &str) -> Result<String, aio_task::Error> {
//!     sleep(delay).await?;
//!     Ok(what.to_uppercase())
//! }
//!
//! let words = run(async {
//!     let hello = create_task(say_after(0.02, "hello"))?;
//!     let world = create_task(say_after(0.01, "world"))?;
//!     Ok::<_, aio_task::Error>((hello.await??, world.await??))
//! })??;
//! assert_eq!(words, ("HELLO".to_string(), "WORLD".to_string()));
//! # Ok::<(), aio_task::Error>(())
//! ```

mod as_completed;
mod core;
mod error;
mod executor;
mod future;
mod gather;
mod into_task;
mod loop_group;
mod observe;
mod raw;
mod run;
mod shield;
mod slot;
mod sync;
mod task;
mod task_group;
mod threadsafe;
mod timeout;
mod wait;
mod watch;

pub use crate::core::CallbackId;
/// `contextvars`, from `aio-scheduler` (see [`aio_scheduler::context`]).
pub use aio_scheduler::context::{Context, ContextError, ContextVar, Token, copy_context};
pub use as_completed::{AsCompleted, NextCompleted, as_completed};
pub use error::Error;
pub use executor::{
    Executor, ExecutorFuture, Job, ThreadPoolExecutor, default_executor, run_in_executor,
    shutdown_default_executor, to_thread,
};
pub use future::{Future, Wait, create_future};
pub use gather::{Gather, GatherAll, Gatherable, gather, try_gather, try_task};
pub use into_task::IntoTask;
pub use loop_group::{LoopGroup, LoopHandleExt, LoopMember, run_per_core};
pub use observe::{
    CallGraph, TaskInfo, TaskState, capture_call_graph, dump_tasks, format_call_graph,
    format_tasks, print_call_graph, task_infos, task_infos_of,
};
pub use run::{Runner, run};
pub use shield::{Shield, shield};
pub use task::{
    Task, TaskRef, WaitDone, all_tasks, call_outside_task, create_internal_task, create_task,
    create_task_with_context, current_task,
};
pub use task_group::{Scope, TaskGroup};
pub use threadsafe::{ConcurrentFuture, run_coroutine_threadsafe};
pub use timeout::{Awaitable, Timed, Timeout, WaitFor, timeout, timeout_at, wait_for};
pub use wait::{ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, ReturnWhen, WaitTasks, wait};

use aio_scheduler::EventLoop;

/// Task operations on a specific loop, as methods (asyncio's `loop.create_task`,
/// `loop.create_future`, `asyncio.all_tasks(loop)`).
///
/// # Examples
///
/// ```
/// use aio_scheduler::EventLoop;
/// use aio_task::EventLoopExt;
///
/// let lp = EventLoop::new()?;
/// let task = lp.create_task(async { "created before the loop runs" })?;
/// assert_eq!(lp.all_tasks().len(), 1);
/// assert_eq!(lp.run_until_complete(task)??, "created before the loop runs");
/// # Ok::<(), aio_task::Error>(())
/// ```
pub trait EventLoopExt: sealed::Sealed {
    /// Schedules `future` as a task on this loop, as [`create_task`] does on the running one.
    ///
    /// # Errors
    ///
    /// [`Error::Runtime`] ([`Closed`](aio_scheduler::Error::Closed)) if the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::EventLoopExt;
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let task = lp.create_task(async { 2 + 2 })?;
    /// assert!(!task.done()); // it runs once the loop does
    /// assert_eq!(lp.run_until_complete(task)??, 4);
    /// lp.close()?;
    /// assert!(lp.create_task(async {}).is_err()); // the loop is closed
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    fn create_task<F>(&self, future: F) -> Result<Task<F::Output>, Error>
    where
        F: std::future::Future + 'static,
        F::Output: 'static;

    /// [`create_task`](EventLoopExt::create_task) running the task in `context` itself
    /// (asyncio 3.11's `loop.create_task(coro, context=ctx)`); see
    /// [`create_task_with_context`].
    ///
    /// # Errors
    ///
    /// [`Error::Runtime`] ([`Closed`](aio_scheduler::Error::Closed)) if the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Context, ContextVar, EventLoopExt};
    /// let var = std::rc::Rc::new(ContextVar::new("v"));
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let ctx = Context::new();
    /// let v = var.clone();
    /// let task = lp.create_task_with_context(async move { v.set(3); }, ctx.clone())?;
    /// lp.run_until_complete(task)??;
    /// assert_eq!(ctx.get(&var), Some(3));
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    fn create_task_with_context<F>(
        &self,
        future: F,
        context: Context,
    ) -> Result<Task<F::Output>, Error>
    where
        F: std::future::Future + 'static,
        F::Output: 'static;

    /// A new pending [`Future`] bound to this loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::EventLoopExt;
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// let fut = lp.create_future::<&str>();
    /// fut.set_result("set before the loop runs")?;
    /// assert_eq!(lp.run_until_complete(fut)??, "set before the loop runs");
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    fn create_future<T: 'static>(&self) -> Future<T>;

    /// The tasks of this loop that are not done yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::EventLoopExt;
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// assert!(lp.all_tasks().is_empty());
    /// let task = lp.create_task(async {})?;
    /// assert_eq!(lp.all_tasks().len(), 1);
    /// lp.run_until_complete(task)??;
    /// assert!(lp.all_tasks().is_empty()); // done tasks are not listed
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    fn all_tasks(&self) -> Vec<TaskRef>;

    /// Chooses how new tasks start (asyncio's `loop.set_task_factory`).
    ///
    /// With [`TaskFactory::Eager`] (asyncio 3.12's `eager_task_factory`), a task created
    /// while the loop runs executes synchronously inside `create_task` until its first
    /// suspension; if it finishes there, it is never scheduled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use aio_task::{EventLoopExt, TaskFactory, create_task};
    ///
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// lp.set_task_factory(TaskFactory::Eager);
    /// lp.run_until_complete(async {
    ///     let ran = Rc::new(Cell::new(false));
    ///     let r = ran.clone();
    ///     let task = create_task(async move { r.set(true); 5 })?;
    ///     assert!(ran.get() && task.done()); // ran inside create_task
    ///     task.await
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    fn set_task_factory(&self, factory: TaskFactory);

    /// The current task factory.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{EventLoopExt, TaskFactory};
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// assert_eq!(lp.get_task_factory(), TaskFactory::Default);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    fn get_task_factory(&self) -> TaskFactory;
}

/// How a loop starts new tasks (see [`EventLoopExt::set_task_factory`]).
///
/// # Examples
///
/// ```
/// use aio_task::{EventLoopExt, TaskFactory, create_task};
///
/// let lp = aio_scheduler::EventLoop::new()?;
/// for (factory, ran_at_once) in [(TaskFactory::Default, false), (TaskFactory::Eager, true)] {
///     lp.set_task_factory(factory);
///     let done = lp.run_until_complete(async { create_task(async {}).map(|t| t.done()) })??;
///     assert_eq!(done, ran_at_once);
/// }
/// # Ok::<(), aio_task::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaskFactory {
    /// Schedule the first step for the next iteration (asyncio's default).
    #[default]
    Default,
    /// Run the first step at once, inside `create_task` (asyncio's `eager_task_factory`).
    Eager,
}

/// asyncio's `eager_task_factory`, for [`EventLoopExt::set_task_factory`].
///
/// # Examples
///
/// ```
/// use aio_task::{EAGER_TASK_FACTORY, EventLoopExt, TaskFactory};
///
/// let lp = aio_scheduler::EventLoop::new()?;
/// lp.set_task_factory(EAGER_TASK_FACTORY);
/// assert_eq!(lp.get_task_factory(), TaskFactory::Eager);
/// # Ok::<(), aio_task::Error>(())
/// ```
pub const EAGER_TASK_FACTORY: TaskFactory = TaskFactory::Eager;

impl EventLoopExt for EventLoop {
    #[track_caller]
    fn create_task<F>(&self, future: F) -> Result<Task<F::Output>, Error>
    where
        F: std::future::Future + 'static,
        F::Output: 'static,
    {
        task::spawn(self, future)
    }

    #[track_caller]
    fn create_task_with_context<F>(
        &self,
        future: F,
        context: Context,
    ) -> Result<Task<F::Output>, Error>
    where
        F: std::future::Future + 'static,
        F::Output: 'static,
    {
        task::spawn_in(self, future, context)
    }

    fn create_future<T: 'static>(&self) -> Future<T> {
        Future::new(self)
    }

    fn all_tasks(&self) -> Vec<TaskRef> {
        self.extension::<task::Registry>().live()
    }

    fn set_task_factory(&self, factory: TaskFactory) {
        self.extension::<task::Registry>()
            .eager
            .set(factory == TaskFactory::Eager);
    }

    fn get_task_factory(&self) -> TaskFactory {
        if self.extension::<task::Registry>().eager.get() {
            TaskFactory::Eager
        } else {
            TaskFactory::Default
        }
    }
}

/// The cross-thread result slot and the thread pool's idle clock, for the loom models in `tests/loom_*.rs` only (`--cfg loom`).
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::executor::IdleClock;
    pub use crate::slot::{HasSlot, Promise, Slot};
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for aio_scheduler::EventLoop {}
}

// Unit tests make loops too: on the reactor AIO_REACTOR names.
#[cfg(test)]
use aio_reactors as _;
