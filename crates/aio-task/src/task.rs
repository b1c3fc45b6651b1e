//! asyncio's `Task`: a future driven by the loop, in one allocation (see `raw`).

use std::cell::{Cell, OnceCell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::ptr::NonNull;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Poll};

use aio_scheduler::context::TaskContext;
use aio_scheduler::{
    EventLoop, ExceptionContext, LoopHandle, WeakLoop, get_running_loop, panic_message,
    running_debug,
};
use pin_project_lite::pin_project;

use crate::Error;
use crate::core::{CallbackId, Core, report_unretrieved};
use crate::raw::{self, CellRef, ErasedRef, RawHeader};

/// A future scheduled on an event loop (asyncio's `Task`).
///
/// The loop owns the task: dropping every `Task` handle does *not* cancel it, it runs to
/// completion (asyncio's semantics, without its "keep a reference or it may be collected"
/// trap). Clones are handles to the same task.
///
/// A `Task<T>` is itself a [`Future`] with output `Result<T, Error>`: `task.await` gives
/// `Ok(output)`, [`Error::Cancelled`] if the task was cancelled, or [`Error::Panicked`] if it
/// panicked — a panic never takes the loop down. The output is moved to the awaiter;
/// [`result`](Task::result) copies it instead. Every futures combinator takes a task as it is
/// (`futures::future::join_all`, `try_join_all`, `FuturesUnordered`, `select!` — a task is
/// `Unpin` and a `FusedFuture`).
///
/// aio's own combinators ([`gather`](fn@crate::gather), [`wait`](crate::wait),
/// [`as_completed`](crate::as_completed), [`shield`](crate::shield),
/// [`wait_for`](crate::wait_for)) take tasks **by reference** — `gather(&tasks)`,
/// `wait_for(&task, 1)` — to use the tasks themselves, as asyncio does: the values come back
/// unwrapped, the tasks you hold are the ones waited on, and no new task is made. A task given
/// by value is a future like any other: it is wrapped in a new task whose value is the task's
/// `Result` (see [`IntoTask`](crate::IntoTask)). [`try_gather`](fn@crate::try_gather) takes tasks
/// by value, as futures that return a `Result`, and uses them as they are.
///
/// # Cancel safety
///
/// Dropping a `Task` handle that was never polled — even every one of them — never cancels the
/// task: the loop owns it and runs it to completion, and its outcome stays in it for any other
/// handle. Polling a handle is what links the two, as awaiting does in asyncio: a handle dropped
/// after it was polled while the task was pending (an `.await` or a `select!` interrupted, the
/// awaiting task cancelled) cancels the task. To wait without that link, await
/// [`TaskRef::wait`] and then read the outcome, or await through [`shield`](crate::shield).
///
/// # Examples
///
/// ```
/// use aio_task::{create_task, run};
///
/// let out = run(async {
///     let task = create_task(async { 6 * 7 })?;
///     assert_eq!(task.get_name(), "Task-2"); // the main task is Task-1
///     task.await
/// })?;
/// assert_eq!(out?, 42);
/// # Ok::<(), aio_task::Error>(())
/// ```
pub struct Task<T> {
    cell: CellRef<T>,
    /// Where this handle's own await stands (a clone starts afresh).
    state: AwaitState,
}

/// The await state of one [`Task`] handle.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum AwaitState {
    /// Not polled, or polled only while the task was already done.
    Idle,
    /// Polled while the task was pending: the link asyncio has between an awaiting and an
    /// awaited task (dropping the handle now cancels the task).
    Awaiting,
    /// The task awaits itself: the error is given at the next poll.
    AwaitsItself,
    /// Returned `Ready`.
    Finished,
}

impl<T: 'static> Task<T> {
    fn from_cell(cell: CellRef<T>) -> Task<T> {
        Task {
            cell,
            state: AwaitState::Idle,
        }
    }
}

/// A new handle to the same task. The clone has not awaited anything: dropping it never
/// cancels the task, whatever the original handle did.
impl<T: 'static> Clone for Task<T> {
    fn clone(&self) -> Self {
        Task::from_cell(self.cell.clone())
    }
}

/// The start of a task's allocation (see [`raw`](crate::raw)): the scheduling header, then the
/// asyncio state — the untyped header and the completion cell. `repr(C)`: the two headers lie
/// at the same offsets in every task, whatever `T`.
#[repr(C)]
pub(crate) struct TaskCell<T> {
    pub(crate) raw: RawHeader,
    pub(crate) header: Header,
    core: Core<T, Task<T>>,
}

/// In the cancel word (`Core::cancels`): `cancel()` was called (asyncio's `_must_cancel`,
/// kept).
const CANCEL_REQUESTED: u32 = 1 << 31;

/// The untyped part of a task.
pub(crate) struct Header {
    /// The `N` of the default name `Task-N`; [`INTERNAL`] for a layer's internal task (see
    /// [`create_internal_task`]), which takes no number.
    id: u64,
    /// Index in the loop's [`Registry`] while the task is pending.
    slot: Cell<u32>,
    /// Handles alive: `Task`s, `TaskRef`s, the registry's entry, the body's (see
    /// [`raw`](crate::raw)). Beside `slot`, so that neither pads the header.
    pub(crate) handles: Cell<u32>,
    /// The loop's registry; it also knows the loop.
    registry: Weak<Registry>,
    /// Where the task's last step parked (`aio_observe`): the await it is suspended at.
    parked_at: Cell<Option<aio_observe::Site>>,
    /// Where the task was created (`create_task`'s caller).
    created_at: aio_observe::Site,
    /// The task's span (`tracing` feature): entered around each step.
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

impl Header {
    /// Whether this is a layer's internal task (see [`create_internal_task`]).
    fn is_internal(&self) -> bool {
        self.id == INTERNAL
    }
}

/// A task's cancel word: asyncio's `cancelling()` count in the low 31 bits, and
/// [`CANCEL_REQUESTED`] (one word where a flag and a count took eight bytes).
#[derive(Clone, Copy)]
pub(crate) struct Cancels<'a>(&'a Cell<u32>);

impl Cancels<'_> {
    pub(crate) fn cancel_requested(self) -> bool {
        self.0.get() & CANCEL_REQUESTED != 0
    }

    fn cancelling(self) -> u32 {
        self.0.get() & !CANCEL_REQUESTED
    }

    /// Marks the cancel request and counts it (saturating at 2^31 - 1).
    fn request_cancel(self) {
        let count = (self.cancelling() + 1).min(CANCEL_REQUESTED - 1);
        self.0.set(CANCEL_REQUESTED | count);
    }

    /// One request fewer (not below zero); the request mark stays.
    fn uncancel(self) -> u32 {
        let count = self.cancelling().saturating_sub(1);
        self.0.set((self.0.get() & CANCEL_REQUESTED) | count);
        count
    }
}

impl<T> TaskCell<T> {
    pub(crate) fn cancels(&self) -> Cancels<'_> {
        Cancels(&self.core.cancels)
    }

    pub(crate) fn cancel_requested(&self) -> bool {
        self.cancels().cancel_requested()
    }

    fn event_loop(&self) -> Option<EventLoop> {
        self.header.registry.upgrade()?.event_loop.get()?.upgrade()
    }

    fn name(&self) -> String {
        self.core.name().unwrap_or_else(|| match self.header.id {
            INTERNAL => format!("internal task from {}", self.header.created_at),
            id => format!("Task-{id}"),
        })
    }

    fn is_internal(&self) -> bool {
        self.header.is_internal()
    }

    /// What `current_task()` finds while this task steps: its registry slot, or no task at
    /// all for an internal task (asyncio runs a transport's callbacks outside any task).
    fn current_slot(&self) -> u32 {
        if self.is_internal() {
            NO_TASK
        } else {
            self.header.slot.get()
        }
    }

    /// The name, plus where the task was created when that was recorded (debug mode; an
    /// internal task's name says where it was created already).
    fn describe(&self) -> String {
        match self.core.created_at() {
            Some(at) if !self.is_internal() => format!("{} created at {at}", self.name()),
            _ => self.name(),
        }
    }

    /// Requests the cancel; the caller then wakes the task, whose next step drops its future
    /// instead of polling it.
    fn cancel(&self, msg: Option<&str>) -> bool {
        if self.core.done() {
            return false;
        }
        self.cancels().request_cancel();
        if let Some(msg) = msg {
            self.core.set_cancel_message(msg);
        }
        true
    }

    fn uncancel(&self) -> u32 {
        self.cancels().uncancel()
    }
}

/// The type-erased view of a task, behind [`TaskRef`].
pub(crate) trait AnyTask {
    fn header(&self) -> &Header;
    fn cancels(&self) -> Cancels<'_>;
    fn name(&self) -> String;
    fn describe(&self) -> String;
    fn set_name(&self, name: String);
    fn cancel(&self, msg: Option<&str>) -> bool;
    fn uncancel(&self) -> u32;
    fn done(&self) -> bool;
    fn cancelled(&self) -> bool;
    fn error(&self) -> Option<Error>;
    fn failed(&self) -> bool;
    fn poll_done(&self, cx: &mut Context<'_>) -> Poll<()>;
    /// # Safety
    ///
    /// `me` is this task's header, with a live handle.
    unsafe fn add_erased_callback(
        &self,
        me: NonNull<RawHeader>,
        callback: Box<dyn FnOnce(&TaskRef)>,
    ) -> CallbackId;
    fn remove_callback(&self, id: CallbackId) -> bool;
    fn for_each_waiter(&self, f: &mut dyn FnMut(&std::task::Waker));
    fn set_awaited_by(&self, awaiter: Weak<dyn crate::observe::Awaiter>);
}

impl<T: 'static> AnyTask for TaskCell<T> {
    fn header(&self) -> &Header {
        &self.header
    }

    fn cancels(&self) -> Cancels<'_> {
        TaskCell::cancels(self)
    }

    fn name(&self) -> String {
        TaskCell::name(self)
    }

    fn describe(&self) -> String {
        TaskCell::describe(self)
    }

    fn set_name(&self, name: String) {
        #[cfg(feature = "tracing")]
        self.header
            .span
            .record("name", tracing::field::display(&name));
        self.core.set_name(name);
    }

    fn cancel(&self, msg: Option<&str>) -> bool {
        TaskCell::cancel(self, msg)
    }

    fn uncancel(&self) -> u32 {
        TaskCell::uncancel(self)
    }

    fn done(&self) -> bool {
        self.core.done()
    }

    fn cancelled(&self) -> bool {
        self.core.cancelled()
    }

    fn error(&self) -> Option<Error> {
        self.core.mark_retrieved();
        self.core.error()
    }

    fn failed(&self) -> bool {
        self.core.failed()
    }

    fn poll_done(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.core.poll_done(cx)
    }

    unsafe fn add_erased_callback(
        &self,
        me: NonNull<RawHeader>,
        callback: Box<dyn FnOnce(&TaskRef)>,
    ) -> CallbackId {
        // SAFETY: the caller's contract; this cell's output type is `T`.
        let task = Task::from_cell(unsafe { raw::typed::<T>(me) });
        task.add_done_callback(move |task| callback(&task.erase()))
    }

    fn remove_callback(&self, id: CallbackId) -> bool {
        self.core.remove_callback(id)
    }

    fn for_each_waiter(&self, f: &mut dyn FnMut(&std::task::Waker)) {
        self.core.for_each_waiter(f);
    }

    fn set_awaited_by(&self, awaiter: Weak<dyn crate::observe::Awaiter>) {
        self.core.set_awaited_by(awaiter);
    }
}

/// The live tasks of one loop (for `all_tasks`, `current_task` and cancelling leftovers). Kept
/// as a loop extension, so it is dropped when the loop closes — which cancels what is left.
#[derive(Default)]
pub(crate) struct Registry {
    event_loop: OnceCell<WeakLoop>,
    /// The loop's handle, for its metrics (tasks created and finished).
    handle: OnceCell<LoopHandle>,
    /// Tasks start eagerly (asyncio's `eager_task_factory`).
    pub(crate) eager: Cell<bool>,
    tasks: RefCell<Vec<Option<ErasedRef>>>,
    free: RefCell<Vec<u32>>,
    next_id: Cell<u64>,
}

impl Registry {
    fn insert(&self, task: ErasedRef) -> u32 {
        let mut tasks = self.tasks.borrow_mut();
        match self.free.borrow_mut().pop() {
            Some(slot) => {
                tasks[slot as usize] = Some(task);
                slot
            }
            None => {
                tasks.push(Some(task));
                u32::try_from(tasks.len() - 1).expect("more than 2^32 live tasks")
            }
        }
    }

    fn remove(&self, slot: u32) {
        let removed = self
            .tasks
            .borrow_mut()
            .get_mut(slot as usize)
            .and_then(Option::take);
        if removed.is_some() {
            self.free.borrow_mut().push(slot);
            if let Some(handle) = self.handle.get() {
                handle.note_task_finished();
            }
        }
        // Dropped here, outside the borrow: it may be the task's last reference.
        drop(removed);
    }

    fn get(&self, slot: u32) -> Option<TaskRef> {
        self.tasks
            .borrow()
            .get(slot as usize)
            .and_then(|t| t.clone())
            .map(TaskRef)
    }

    pub(crate) fn live(&self) -> Vec<TaskRef> {
        self.tasks
            .borrow()
            .iter()
            .flatten()
            .filter(|t| !t.done() && !t.header().is_internal())
            .map(|t| TaskRef(t.clone()))
            .collect()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // The loop is closing: every task still alive is destroyed while pending. Report it
        // (asyncio: "Task was destroyed but it is pending!"), cancel it and drop its future
        // here, on the loop's thread. A destructor that panics is reported and the others
        // still run.
        let event_loop = self.event_loop.get().and_then(WeakLoop::upgrade);
        for task in std::mem::take(self.tasks.get_mut()).into_iter().flatten() {
            if task.done() {
                continue;
            }
            // An internal task (an open transport's driver, say) is machinery, not a task the
            // program made: asyncio has no task there to report.
            if !task.header().is_internal() {
                let ctx = ExceptionContext::new("Task was destroyed but it is pending!")
                    .with_task(task.describe());
                match &event_loop {
                    Some(event_loop) => event_loop.call_exception_handler(&ctx),
                    None => EventLoop::default_exception_handler(&ctx),
                }
            }
            task.cancel(None);
            // The loop's thread, no step running: the future goes now.
            if let Err(payload) =
                catch_unwind(AssertUnwindSafe(|| raw::drop_future_now(task.raw())))
            {
                let ctx = ExceptionContext::new("Exception in task step")
                    .with_task(task.describe())
                    .with_error(Arc::new(Error::Panicked(panic_message(&*payload).into())));
                match &event_loop {
                    Some(event_loop) => event_loop.call_exception_handler(&ctx),
                    None => EventLoop::default_exception_handler(&ctx),
                }
            }
        }
    }
}

const NO_TASK: u32 = u32::MAX;

/// The `id` of an internal task ([`create_internal_task`]): task numbers start at 1.
const INTERNAL: u64 = 0;

thread_local! {
    /// Registry slot of the task being polled on this thread.
    static CURRENT: Cell<u32> = const { Cell::new(NO_TASK) };
    /// While a cancelled task's future is being dropped: the message its `cancel` was given.
    /// The awaits in progress that the drop cancels (`Task`, `Wait`, `gather`) pass it on, as
    /// asyncio's `Task.cancel(msg)` calls `self._fut_waiter.cancel(msg=msg)`.
    static DROPPING_CANCEL_MESSAGE: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
    /// While a cancelled task's future is being dropped: that future's address. A [`Task`]
    /// handle dropped at this address is the whole future of a task that awaits it (made by
    /// `create_task(task)`, or `gather(tasks)` with tasks by value): cancelling that task
    /// cancels the awaited one even before its first step, as if the await had started.
    /// Address and size, so that a handle that is only the first part of a larger future (a
    /// coroutine that has not started) does not count.
    static DROPPING_FUTURE: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// The error for awaiting, while one loop runs, a pending task or future of another loop
/// (asyncio: "The future belongs to a different loop ..." from `run_until_complete`, "got
/// Future attached to a different loop" in a task).
pub(crate) const OTHER_LOOP: &str = "the future belongs to a different loop than the running one";

/// Whether a loop runs on this thread and `owner` (the awaited task's or future's loop) is
/// another one. Only asked at an await's first poll of something still pending.
pub(crate) fn runs_on_another_loop(owner: Option<EventLoop>) -> bool {
    match (owner, aio_scheduler::get_running_loop()) {
        (Some(owner), Ok(running)) => !owner.same(&running),
        _ => false,
    }
}

/// The cancel message of the cancelled task whose future is being dropped on this thread, if
/// any: what an await in progress, cancelled by that drop, cancels its awaitable with. `None`
/// also while the thread is exiting (a loop kept in a thread-local may be dropped after this
/// one is gone).
pub(crate) fn dropping_cancel_message() -> Option<Arc<str>> {
    DROPPING_CANCEL_MESSAGE
        .try_with(|message| message.borrow().clone())
        .ok()
        .flatten()
}

/// Marks a task as current for the duration of one poll.
struct Current(u32);

impl Current {
    fn enter(slot: u32) -> Current {
        Current(CURRENT.replace(slot))
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        CURRENT.set(self.0);
    }
}

pin_project! {
    /// What a task's allocation runs (see [`raw::Body`]): the user's future, plus the
    /// bookkeeping asyncio's `Task.__step` does around each step. It keeps no handle to its
    /// task: the block hands the cell in.
    struct TaskFuture<F, M, T: 'static> {
        // Dropped first (fields drop in order): the user's destructors run before the task is
        // marked cancelled, with the cancel message published (see `before_drop`). Pinned:
        // the task body is `!Unpin` when the user's future is (a self-referential async
        // block must not sit behind a `&mut` of an `Unpin` wrapper: miri's aliasing model
        // rejects that).
        #[pin]
        future: F,
        // Turns the future's output into the task's outcome: `Ok` for a plain future, the
        // identity for one that already yields a `Result<T, Error>`. Zero-sized either way.
        map: M,
        // The context the steps run in (asyncio's `Task._context`).
        context: TaskContext,
        _output: std::marker::PhantomData<fn() -> T>,
    }
}

/// While a cancelled task's future is dropped: what was published before, restored on drop.
struct Published {
    /// The cancel message (`None`: the thread-local was gone).
    message: Option<Option<Arc<str>>>,
    /// The dropping future's address and size.
    future: Option<(usize, usize)>,
}

impl Published {
    fn new(message: Option<Arc<str>>, future: (usize, usize)) -> Published {
        // `try_with`: during thread exit the slots may already be gone.
        Published {
            message: DROPPING_CANCEL_MESSAGE
                .try_with(|m| m.replace(message))
                .ok(),
            future: DROPPING_FUTURE.try_with(|f| f.replace(future)).ok(),
        }
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        if let Some(message) = self.message.take() {
            let _ = DROPPING_CANCEL_MESSAGE.try_with(|m| m.replace(message));
        }
        if let Some(future) = self.future {
            let _ = DROPPING_FUTURE.try_with(|f| f.set(future));
        }
    }
}

fn finish<T: 'static>(cell: &CellRef<T>, result: Result<T, Error>) {
    let task = Task::from_cell(cell.clone());
    cell.core.complete(result, &task, cell.event_loop());
    if let Some(registry) = cell.header.registry.upgrade() {
        registry.remove(cell.header.slot.get());
    }
}

impl<F, M, T> raw::Body<T> for TaskFuture<F, M, T>
where
    F: Future + 'static,
    M: FnMut(F::Output) -> Result<T, Error> + 'static,
    T: 'static,
{
    fn poll(self: Pin<&mut Self>, cell: &CellRef<T>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let _current = Current::enter(cell.current_slot());
        let _context = this.context.enter();
        let _slow = running_debug().map(|limit| SlowStep {
            cell: &**cell,
            limit,
            start: std::time::Instant::now(),
        });
        let future = this.future;
        // The park slot starts empty for this step (a step it is nested in, as an eager
        // task's first step is, gets its own back) and keeps where this one parked.
        let outer_park = aio_observe::replace(None);
        let polled = catch_unwind(AssertUnwindSafe(|| future.poll(cx)));
        cell.header.parked_at.set(aio_observe::replace(outer_park));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => {
                // asyncio: a task that returns after `cancel()` was called is cancelled.
                let result = if cell.cancel_requested() {
                    Err(Error::Cancelled(cell.core.cancel_message()))
                } else {
                    (this.map)(value)
                };
                finish(cell, result);
                Poll::Ready(())
            }
            Err(payload) => {
                finish(cell, Err(Error::Panicked(panic_message(&*payload).into())));
                Poll::Ready(())
            }
        }
    }

    // A cancelled task publishes its cancel message, and where its future lies, for the
    // drop of that future, and takes both back afterwards (also if that drop panics).
    type BeforeDrop = Option<Published>;

    unsafe fn before_drop(this: *const Self, cell: &CellRef<T>) -> Option<Published> {
        (cell.cancel_requested() && !cell.core.done()).then(|| {
            // SAFETY: the caller's contract: `this` is the live body. Only the field's
            // address is taken; no reference to the future is made.
            let future = unsafe { &raw const (*this).future };
            Published::new(
                cell.core.cancel_message(),
                (future.addr(), std::mem::size_of::<F>()),
            )
        })
    }

    // A future dropped before finishing completes its task as cancelled.
    fn after_drop(cell: &CellRef<T>) {
        if !cell.core.done() {
            let message = cell.core.cancel_message();
            finish(cell, Err(Error::Cancelled(message)));
        }
    }
}

/// Debug mode: reports a task step that ran longer than the loop's
/// `slow_callback_duration` (asyncio: "Executing <Task ...> took 0.123 seconds").
struct SlowStep<'a, T> {
    cell: &'a TaskCell<T>,
    limit: std::time::Duration,
    start: std::time::Instant,
}

impl<T> Drop for SlowStep<'_, T> {
    fn drop(&mut self) {
        let took = self.start.elapsed();
        if took > self.limit {
            #[cfg(feature = "tracing")]
            tracing::warn!(
                target: "aio::task",
                task = %self.cell.name(),
                seconds = took.as_secs_f64(),
                "slow task step"
            );
            let ctx = ExceptionContext::new(format!(
                "Executing {} took {:.3} seconds",
                self.cell.describe(),
                took.as_secs_f64()
            ));
            // Like asyncio's report of a slow transport callback, an internal task's names
            // no task.
            let ctx = if self.cell.is_internal() {
                ctx
            } else {
                ctx.with_task(self.cell.name())
            };
            if let Some(event_loop) = self.cell.event_loop() {
                event_loop.call_exception_handler(&ctx);
            }
        }
    }
}

/// Schedules `future` as a task on `event_loop`.
#[track_caller]
pub(crate) fn spawn<F>(event_loop: &EventLoop, future: F) -> Result<Task<F::Output>, Error>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_mapped(event_loop, future, Ok, TaskContext::capture(), false)
}

/// Schedules `future` as a task running in `context` itself.
#[track_caller]
pub(crate) fn spawn_in<F>(
    event_loop: &EventLoop,
    future: F,
    context: aio_scheduler::context::Context,
) -> Result<Task<F::Output>, Error>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_mapped(event_loop, future, Ok, TaskContext::with(context), false)
}

/// Schedules a future that yields a task outcome: its `Err` becomes the task's error.
#[track_caller]
pub(crate) fn spawn_flat<F, T>(event_loop: &EventLoop, future: F) -> Result<Task<T>, Error>
where
    F: Future<Output = Result<T, Error>> + 'static,
    T: 'static,
{
    spawn_mapped(
        event_loop,
        future,
        |outcome| outcome,
        TaskContext::capture(),
        false,
    )
}

#[track_caller]
fn spawn_mapped<F, M, T>(
    event_loop: &EventLoop,
    future: F,
    map: M,
    context: TaskContext,
    internal: bool,
) -> Result<Task<T>, Error>
where
    F: Future + 'static,
    M: FnMut(F::Output) -> Result<T, Error> + 'static,
    T: 'static,
{
    if event_loop.is_closed() {
        return Err(aio_scheduler::Error::Closed.into());
    }
    let registry = event_loop.extension::<Registry>();
    registry.event_loop.get_or_init(|| {
        // Once per loop: the loop's dump (`EventLoop::dump`, on a signal) lists its tasks.
        aio_scheduler::observe::set_task_dumper(crate::observe::format_tasks);
        event_loop.downgrade()
    });
    registry
        .handle
        .get_or_init(|| event_loop.handle())
        .note_task_created();
    let id = if internal {
        INTERNAL
    } else {
        let id = registry.next_id.get() + 1;
        registry.next_id.set(id);
        id
    };
    // A span per task: its name (updated by `set_name`), number and the task creating it.
    #[cfg(feature = "tracing")]
    let (future, span) = {
        let parent = match CURRENT.get() {
            NO_TASK => None,
            slot => registry.get(slot).map(|t| t.id()),
        };
        // A root span: a task runs on its own, not inside the step that created it.
        let span = tracing::info_span!(
            target: "aio::task",
            parent: None,
            "task",
            id,
            // Recorded by `set_name`; until then the name is `Task-{id}`.
            name = tracing::field::Empty,
            parent_task = parent,
            created_at = %std::panic::Location::caller(),
        );
        (tracing::Instrument::instrument(future, span.clone()), span)
    };
    let header = Header {
        id,
        slot: Cell::new(NO_TASK),
        // The handle returned and the body's (see `raw::Body`).
        handles: Cell::new(2),
        registry: Rc::downgrade(&registry),
        parked_at: Cell::new(None),
        created_at: std::panic::Location::caller(),
        #[cfg(feature = "tracing")]
        span: span.clone(),
    };
    let core = Core::new();
    if event_loop.get_debug() {
        core.set_created_at(std::panic::Location::caller());
    }
    // One allocation: the task's state and its future (see `raw`).
    let make_cell = |raw| TaskCell { raw, header, core };
    let body = TaskFuture {
        future,
        map,
        context,
        _output: std::marker::PhantomData,
    };
    let (cell, runnable) = raw::allocate(event_loop.handle(), make_cell, body);
    cell.header.slot.set(registry.insert(cell.erase()));
    // asyncio's task factories make tasks; a layer's machinery is not one and always starts
    // from the ready queue.
    if registry.eager.get() && !internal && event_loop.is_running() {
        // Eager start (asyncio 3.12): run the first step now, inside `create_task`. A task
        // that finishes here is never scheduled.
        // SAFETY: this is the loop's thread (an `EventLoop` is not `Send`).
        unsafe { runnable.run() };
    } else {
        event_loop.schedule_task(runnable);
    }
    Ok(Task::from_cell(cell))
}

/// Schedules `future` as a task on the running loop (asyncio's `asyncio.create_task`). The
/// future need not be `Send`. Its first step runs in the next loop iteration.
///
/// # Errors
///
/// [`Error::Runtime`] ([`NoRunningLoop`](aio_scheduler::Error::NoRunningLoop)) outside a
/// running loop.
///
/// # Examples
///
/// ```
/// use std::rc::Rc; // not Send: fine for a task
/// use aio_task::{create_task, run};
///
/// run(async {
///     let shared = Rc::new(5);
///     let s = shared.clone();
///     let task = create_task(async move { *s * 2 })?;
///     assert_eq!(task.await?, 10);
///     Ok::<_, aio_task::Error>(())
/// })??;
/// assert!(create_task(async {}).is_err()); // no running loop here
/// # Ok::<(), aio_task::Error>(())
/// ```
#[track_caller]
pub fn create_task<F>(future: F) -> Result<Task<F::Output>, Error>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn(&get_running_loop()?, future)
}

/// Runs `future` on the running loop as a layer's internal task: machinery that asyncio runs
/// as loop callbacks rather than as a task, such as a transport's I/O, a server's accept loop
/// or a datagram endpoint's reads. It is scheduled, woken and cancelled at loop close like any
/// task, but it is not an asyncio `Task`:
///
/// - [`all_tasks`] does not list it, and the tasks' dump leaves it out;
/// - [`current_task`] is `None` while it runs, so the callbacks it calls run outside any task,
///   as asyncio's protocol callbacks do;
/// - it takes no `Task-N` number;
/// - the loop closing while it is pending drops its future without reporting "Task was
///   destroyed but it is pending!".
///
/// The handle returned is the layer's, to cancel or await the task (a server's `close`
/// cancels its accept loop); dropping it detaches the task, as for any task.
///
/// # Errors
///
/// [`Error::Runtime`] ([`NoRunningLoop`](aio_scheduler::Error::NoRunningLoop)) outside a
/// running loop (the future is dropped).
///
/// # Examples
///
/// ```
/// use aio_task::{all_tasks, create_internal_task, current_task, run};
///
/// run(async {
///     let machinery = create_internal_task(async { current_task().is_some() })?;
///     assert_eq!(all_tasks()?.len(), 1); // only this one
///     assert!(!machinery.await?); // it ran outside any task
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[track_caller]
pub fn create_internal_task<F>(future: F) -> Result<Task<F::Output>, Error>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_mapped(
        &get_running_loop()?,
        future,
        Ok,
        TaskContext::capture(),
        true,
    )
}

/// Calls `f` as asyncio's loop calls a callback scheduled with `call_soon`: outside any task
/// ([`current_task`] is `None` until it returns) and in a copy of the current context (what
/// it sets in context variables stays in that copy). For layers that call a protocol's
/// callback synchronously where asyncio schedules it: a transport's `connection_made`, made
/// inside the task that awaits `create_connection`.
///
/// # Examples
///
/// ```
/// use aio_scheduler::context::ContextVar;
/// use aio_task::{call_outside_task, current_task, run};
///
/// static USER: ContextVar<&str> = ContextVar::new("user");
/// run(async {
///     assert!(current_task().is_some());
///     let outside = call_outside_task(|| {
///         USER.set("ada");
///         current_task().is_none()
///     });
///     assert!(outside);
///     assert!(current_task().is_some()); // back in the task
///     assert_eq!(USER.get(), None); // set in the callback's copy only
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn call_outside_task<R>(f: impl FnOnce() -> R) -> R {
    let _outside = Current::enter(NO_TASK);
    let mut f = Some(f);
    // A fresh copy is not entered anywhere, so `run` does not refuse it; if it did, `f`
    // would still be here, and runs in the current context.
    let ran = aio_scheduler::context::copy_context().run(|| f.take().map(|f| f()));
    match (ran, f) {
        (Ok(Some(result)), _) => result,
        (_, Some(f)) => f(),
        (_, None) => unreachable!("`f` was taken only by the call that returned its result"),
    }
}

/// [`create_task`] running the task in `context` itself rather than in a copy of the current
/// context (asyncio 3.11's `create_task(coro, context=ctx)`): what the task sets shows in
/// `context`.
///
/// # Errors
///
/// [`Error::Runtime`] ([`NoRunningLoop`](aio_scheduler::Error::NoRunningLoop)) outside a
/// running loop.
///
/// # Examples
///
/// ```
/// use aio_scheduler::context::{Context, ContextVar};
/// use aio_task::{create_task_with_context, run};
///
/// static USER: ContextVar<&str> = ContextVar::new("user");
/// run(async {
///     let ctx = Context::new();
///     let task = create_task_with_context(async { USER.set("ada"); }, ctx.clone())?;
///     task.await?;
///     assert_eq!(ctx.get(&USER), Some("ada")); // the task set it in `ctx`
///     assert_eq!(USER.get(), None); // not here
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[track_caller]
pub fn create_task_with_context<F>(
    future: F,
    context: aio_scheduler::context::Context,
) -> Result<Task<F::Output>, Error>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_in(&get_running_loop()?, future, context)
}

impl<T: 'static> Task<T> {
    /// Whether the task finished, failed, or was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let task = aio_task::create_task(async {})?;
    ///     assert!(!task.done());
    ///     aio_scheduler::sleep(0).await?;
    ///     assert!(task.done());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn done(&self) -> bool {
        self.cell.core.done()
    }

    /// Whether the task ended by cancellation.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let task = aio_task::create_task(aio_scheduler::sleep(3600))?;
    ///     task.cancel(None);
    ///     assert!(!task.cancelled()); // requested; done at the task's next step
    ///     task.erase().wait().await;
    ///     assert!(task.cancelled());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn cancelled(&self) -> bool {
        self.cell.core.cancelled()
    }

    /// Requests cancellation: the task's future is dropped at its next scheduling point (its
    /// destructors run, like `finally` blocks) and awaiting the task gives
    /// [`Error::Cancelled`] carrying `msg`. A task that returns a value after `cancel` was
    /// called also ends cancelled, as in asyncio.
    ///
    /// Returns `false` if the task is already done, `true` otherwise (also when called again).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::sleep;
    /// use aio_task::{create_task, run, Error};
    ///
    /// run(async {
    ///     let task = create_task(async { sleep(3600).await })?;
    ///     sleep(0).await?; // let it start
    ///     assert!(task.cancel("enough"));
    ///     let err = task.clone().await.unwrap_err();
    ///     assert_eq!(err.cancel_message(), Some("enough"));
    ///     assert!(task.cancelled() && !task.cancel(None));
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn cancel<'a>(&self, msg: impl Into<Option<&'a str>>) -> bool {
        let requested = self.cell.cancel(msg.into());
        if requested {
            raw::wake(self.cell.raw());
        }
        requested
    }

    /// How many cancellation requests are pending (asyncio's `cancelling()`).
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let task = aio_task::create_task(aio_scheduler::sleep(1))?;
    ///     task.cancel(None);
    ///     task.cancel(None);
    ///     assert_eq!(task.cancelling(), 2);
    ///     assert_eq!(task.uncancel(), 1);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn cancelling(&self) -> u32 {
        self.cell.cancels().cancelling()
    }

    /// Decrements the count of cancellation requests and returns it (asyncio's
    /// `uncancel()`). It does not undo a cancellation already under way: with Rust's drop
    /// semantics the future is dropped regardless. It exists for structured-concurrency code
    /// that keeps count.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let task = aio_task::create_task(aio_scheduler::sleep(3600))?;
    ///     task.cancel(None);
    ///     assert_eq!(task.uncancel(), 0); // the count goes down...
    ///     task.erase().wait().await;
    ///     assert!(task.cancelled()); // ...but the cancellation still happens
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn uncancel(&self) -> u32 {
        self.cell.uncancel()
    }

    /// The task's name: the one set with [`set_name`](Task::set_name), or `Task-N` (numbered
    /// per loop, from 1).
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let task = aio_task::create_task(async {})?;
    ///     task.set_name("worker");
    ///     assert_eq!(task.get_name(), "worker");
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn get_name(&self) -> String {
        self.cell.name()
    }

    /// Renames the task.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let task = aio_task::create_task(async {})?;
    ///     assert_eq!(task.get_name(), "Task-2");
    ///     task.set_name("renamed");
    ///     assert_eq!(task.erase().get_name(), "renamed"); // every handle sees it
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn set_name(&self, name: impl Into<String>) {
        AnyTask::set_name(&*self.cell, name.into());
    }

    /// Schedules `callback` to run (through `call_soon`, in registration order) when the task
    /// is done — or soon, if it already is.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// aio_task::run(async {
    ///     let log = Rc::new(RefCell::new(Vec::new()));
    ///     let task = aio_task::create_task(async { 3 })?;
    ///     for tag in ["first", "second"] {
    ///         let log = log.clone();
    ///         task.add_done_callback(move |t| log.borrow_mut().push((tag, t.result().unwrap())));
    ///     }
    ///     task.clone().await?;
    ///     aio_scheduler::sleep(0).await?;
    ///     assert_eq!(*log.borrow(), [("first", 3), ("second", 3)]);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn add_done_callback(&self, callback: impl FnOnce(&Task<T>) + 'static) -> CallbackId {
        self.cell
            .core
            .add_callback(Box::new(callback), self, self.cell.event_loop())
    }

    /// Removes a callback that has not been scheduled yet; returns whether it was found.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let task = aio_task::create_task(async {})?;
    ///     let id = task.add_done_callback(|_| unreachable!());
    ///     assert!(task.remove_done_callback(id));
    ///     task.await
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn remove_done_callback(&self, id: CallbackId) -> bool {
        self.cell.core.remove_callback(id)
    }

    /// The loop the task runs on, if it still exists.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let task = aio_task::create_task(async {})?;
    ///     assert!(task.get_loop().unwrap().same(&aio_scheduler::get_running_loop()?));
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn get_loop(&self) -> Option<EventLoop> {
        self.cell.event_loop()
    }

    /// An untyped handle to this task.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let task = aio_task::create_task(async { 1 })?;
    ///     let any = task.erase();
    ///     assert_eq!(any.get_name(), task.get_name());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn erase(&self) -> TaskRef {
        TaskRef(self.cell.erase())
    }

    /// Polls for the outcome without the cancel-on-drop link of an await.
    pub(crate) fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        self.cell.core.poll_take(cx)
    }

    /// Moves the outcome out of a task that is done (what an `.await` of a done task gives).
    pub(crate) fn take_outcome(&self) -> Result<T, Error> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match self.cell.core.poll_take(&mut cx) {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => Err(Error::InvalidState("the task is not done")),
        }
    }
}

impl<T: Clone + 'static> Task<T> {
    /// A copy of the task's result (asyncio's `result()`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] while the task is pending; otherwise the task's error
    /// ([`Error::Cancelled`], [`Error::Panicked`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{create_task, run, Error};
    /// run(async {
    ///     let task = create_task(async { "ok" })?;
    ///     assert!(matches!(task.result(), Err(Error::InvalidState(_))));
    ///     aio_scheduler::sleep(0).await?;
    ///     assert_eq!(task.result()?, "ok");
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn result(&self) -> Result<T, Error> {
        self.cell.core.result()
    }
}

impl<T: 'static> Task<T> {
    /// The task's error, if it ended with one (asyncio's `Task.exception()`): `Ok(None)`
    /// after a result, `Ok(Some(error))` after an error or panic — which counts as retrieved,
    /// so it is not reported as never retrieved.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] while the task is pending; the cancellation
    /// ([`Error::Cancelled`]) if it was cancelled, as asyncio raises `CancelledError`.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Error, create_task, run};
    ///
    /// run(async {
    ///     let fine = create_task(async { 1 })?;
    ///     let broken = create_task(async { panic!("boom") })?;
    ///     assert!(matches!(fine.exception(), Err(Error::InvalidState(_))));
    ///     aio_scheduler::sleep(0).await?;
    ///     assert!(fine.exception()?.is_none());
    ///     assert!(matches!(broken.exception()?, Some(Error::Panicked(m)) if &*m == "boom"));
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn exception(&self) -> Result<Option<Error>, Error> {
        self.cell.core.exception()
    }
}

impl<T: 'static> Task<T> {
    /// Whether this is the task being polled on this thread.
    fn is_current(&self) -> bool {
        CURRENT.get() == self.cell.header.slot.get()
            && current_task().is_some_and(|me| me.identity() == self.erase().identity())
    }
}

/// A task is a future: awaiting it — with `.await`, or through any futures combinator
/// (`join_all`, `FuturesUnordered`, `select!`, ...) — gives its outcome, which is moved out
/// to this handle.
///
/// As in asyncio, an await in progress is a link between the two tasks: if the awaiting side
/// is cancelled — this handle is dropped after it was polled while the task was still
/// pending — the awaited task is cancelled too, with the awaiting task's cancel message if it
/// was cancelled with one. [`shield`](crate::shield) breaks the link; [`TaskRef::wait`] waits
/// without it. A handle that was never polled (or only once the task was done) cancels
/// nothing when dropped, and neither does a clone of a polled handle.
///
/// # Errors
///
/// The task's error ([`Error::Cancelled`], [`Error::Panicked`], ...);
/// [`Error::InvalidState`] if another await already took the outcome, if a task awaits
/// itself ("Task cannot await on itself", asyncio's `RuntimeError`), given one loop iteration
/// later as asyncio does, instead of waiting forever, or, at once, if the task is pending and
/// belongs to another loop than the one running.
///
/// # Cancel safety
///
/// Dropping a handle mid-await cancels the task (see above). One exception, as in asyncio:
/// when `run_until_complete` stops before the future it was given finished, dropping that
/// future cancels nothing it awaited
/// ([`dropping_unfinished_main`](aio_scheduler::dropping_unfinished_main)), so the task stays
/// pending and a second `run_until_complete(task)` finishes it.
///
/// # Examples
///
/// ```
/// use aio_task::{create_task, run};
///
/// run(async {
///     let inner = create_task(aio_scheduler::sleep(3600))?;
///     let outer = create_task(inner.clone())?; // a task awaiting a task
///     aio_scheduler::sleep(0).await?; // the outer task is now awaiting `inner`
///     outer.cancel(None); // dropping the awaiting handle mid-await...
///     inner.erase().wait().await;
///     assert!(inner.cancelled()); // ...cancelled the awaited task too
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
impl<T: 'static> Future for Task<T> {
    type Output = Result<T, Error>;

    /// `#[track_caller]`: through `task.await` the caller is the line of the `.await`, which
    /// the await graph reports as where the awaiting task waits (`aio_observe`). Polled
    /// through a `dyn Future` or a combinator, it is that caller's line instead.
    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        let this = self.get_mut();
        match this.state {
            AwaitState::AwaitsItself => {
                this.state = AwaitState::Finished;
                return Poll::Ready(Err(Error::InvalidState("Task cannot await on itself")));
            }
            AwaitState::Idle | AwaitState::Finished if !this.cell.core.done() => {
                if this.is_current() {
                    // asyncio throws `RuntimeError('Task cannot await on itself')` into the
                    // task at its next step, one loop iteration later: so does this.
                    this.state = AwaitState::AwaitsItself;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                if runs_on_another_loop(this.cell.event_loop()) {
                    this.state = AwaitState::Finished;
                    return Poll::Ready(Err(Error::InvalidState(OTHER_LOOP)));
                }
            }
            _ => {}
        }
        let polled = this.cell.core.poll_take(cx);
        this.state = if polled.is_pending() {
            aio_observe::park(std::panic::Location::caller());
            AwaitState::Awaiting
        } else {
            AwaitState::Finished
        };
        polled
    }
}

/// `futures::select!` takes a task directly: a handle that returned its outcome is terminated.
impl<T: 'static> futures_core::FusedFuture for Task<T> {
    fn is_terminated(&self) -> bool {
        self.state == AwaitState::Finished
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        // Dropped mid-await — or as the whole future of a cancelled task, which awaits this
        // one from its first step — cancel the awaited task, unless `run_until_complete`
        // stopped before its future finished (asyncio then leaves what that future awaited
        // pending).
        let awaited = match self.state {
            AwaitState::Awaiting => true,
            AwaitState::Idle if !self.cell.core.done() => {
                let me = (
                    std::ptr::from_ref(&*self) as usize,
                    std::mem::size_of::<Self>(),
                );
                DROPPING_FUTURE.try_with(Cell::get).ok() == Some(me)
            }
            _ => false,
        };
        if awaited && !self.cell.core.done() && !aio_scheduler::dropping_unfinished_main() {
            // Our task was cancelled with a message: the awaited task gets it too.
            if self.cell.cancel(dropping_cancel_message().as_deref()) {
                raw::wake(self.cell.raw());
            }
        }
    }
}

impl<T> TaskCell<T> {
    /// Drops the asyncio state (the header and the completion cell) in place, reporting an
    /// error nobody retrieved (asyncio: "Task exception was never retrieved"). The scheduling
    /// header stays: the block may outlive this (see `raw`).
    ///
    /// # Safety
    ///
    /// `this` is a live cell whose state was not dropped yet; nothing reads it afterwards.
    pub(crate) unsafe fn drop_state(this: *mut TaskCell<T>) {
        // SAFETY: the caller's contract.
        unsafe {
            let cell = &*this;
            if let Some(error) = cell.core.unretrieved_error() {
                report_unretrieved(
                    cell.event_loop(),
                    "Task exception was never retrieved",
                    Some(cell.name()),
                    error,
                );
            }
            std::ptr::drop_in_place(std::ptr::addr_of_mut!((*this).header));
            std::ptr::drop_in_place(std::ptr::addr_of_mut!((*this).core));
        }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("name", &self.cell.name())
            .field("done", &self.cell.core.done())
            .finish()
    }
}

/// An untyped handle to a task: what [`current_task`] and [`all_tasks`] return.
///
/// # Examples
///
/// ```
/// aio_task::run(async {
///     let me = aio_task::current_task().expect("inside a task");
///     assert_eq!(me.get_name(), "Task-1");
///     assert!(!me.done());
/// })?;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[derive(Clone)]
pub struct TaskRef(ErasedRef);

impl TaskRef {
    /// Whether the task is done.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let task = aio_task::create_task(async {})?.erase();
    ///     assert!(!task.done());
    ///     task.wait().await;
    ///     assert!(task.done());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn done(&self) -> bool {
        self.0.done()
    }

    /// Whether the task ended by cancellation.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let fine = aio_task::create_task(async {})?.erase();
    ///     let stopped = aio_task::create_task(aio_scheduler::sleep(3600))?.erase();
    ///     stopped.cancel(None);
    ///     fine.wait().await;
    ///     stopped.wait().await;
    ///     assert!(!fine.cancelled() && stopped.cancelled());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn cancelled(&self) -> bool {
        self.0.cancelled()
    }

    /// Requests cancellation, as [`Task::cancel`].
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let task = aio_task::create_task(aio_scheduler::sleep(3600))?.erase();
    ///     task.cancel("stop");
    ///     task.wait().await;
    ///     assert!(task.cancelled());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn cancel<'a>(&self, msg: impl Into<Option<&'a str>>) -> bool {
        let requested = self.0.cancel(msg.into());
        if requested {
            raw::wake(self.0.raw());
        }
        requested
    }

    /// Pending cancellation requests, as [`Task::cancelling`].
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let task = aio_task::create_task(aio_scheduler::sleep(1))?.erase();
    ///     task.cancel(None);
    ///     assert_eq!(task.cancelling(), 1);
    ///     assert_eq!(task.uncancel(), 0);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn cancelling(&self) -> u32 {
        self.0.cancels().cancelling()
    }

    /// Decrements the cancellation count, as [`Task::uncancel`].
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let task = aio_task::create_task(aio_scheduler::sleep(1))?.erase();
    ///     task.cancel(None);
    ///     assert_eq!(task.uncancel(), 0);
    ///     assert_eq!(task.uncancel(), 0); // never below zero
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn uncancel(&self) -> u32 {
        self.0.uncancel()
    }

    /// The task's name, as [`Task::get_name`].
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let task = aio_task::create_task(async {})?;
    ///     task.set_name("worker");
    ///     assert_eq!(task.erase().get_name(), "worker");
    ///     assert_eq!(aio_task::current_task().unwrap().get_name(), "Task-1");
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn get_name(&self) -> String {
        self.0.name()
    }

    /// Renames the task, as [`Task::set_name`].
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     aio_task::current_task().unwrap().set_name("main");
    ///     assert_eq!(aio_task::current_task().unwrap().get_name(), "main");
    /// })?;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn set_name(&self, name: impl Into<String>) {
        self.0.set_name(name.into());
    }

    /// The task's error, if it failed or was cancelled (asyncio's `exception()`, with
    /// cancellation reported as an error rather than raised).
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let task = aio_task::create_task(async { panic!("boom") })?.erase();
    ///     task.wait().await;
    ///     assert_eq!(task.error().unwrap().to_string(), "panicked: boom");
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn error(&self) -> Option<Error> {
        self.0.error()
    }

    /// Schedules `callback` when the task is done, as [`Task::add_done_callback`].
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let task = aio_task::create_task(async {})?.erase();
    ///     task.add_done_callback(|t| assert!(t.done()));
    ///     task.wait().await;
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn add_done_callback(&self, callback: impl FnOnce(&TaskRef) + 'static) -> CallbackId {
        // SAFETY: `self.0` is this task's header, with a live handle.
        unsafe { self.0.add_erased_callback(self.0.raw(), Box::new(callback)) }
    }

    /// Removes a callback that has not been scheduled yet, as [`Task::remove_done_callback`].
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let task = aio_task::create_task(async {})?.erase();
    ///     let id = task.add_done_callback(|_| unreachable!());
    ///     assert!(task.remove_done_callback(id));
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn remove_done_callback(&self, id: CallbackId) -> bool {
        self.0.remove_callback(id)
    }

    /// Whether the task ended with an error other than cancellation (a panic, an error
    /// outcome). Unlike [`error`](TaskRef::error), this does not count as retrieving the
    /// error, so an error nobody reads is still reported.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let task = aio_task::create_task(async { panic!("boom") })?.erase();
    ///     task.wait().await;
    ///     assert!(task.failed() && !task.cancelled());
    ///     let _ = task.error(); // retrieved: not reported
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn failed(&self) -> bool {
        self.0.failed()
    }

    /// Waits until the task is done, without taking its result.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: the future only watches the task. Dropping it, at any point,
    /// neither cancels the task nor takes its outcome.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let task = aio_task::create_task(async { 7 })?;
    ///     task.erase().wait().await; // waits without taking the result
    ///     assert_eq!(task.result()?, 7);
    ///     let failing = aio_task::create_task(async { assert_eq!(1 + 1, 3) })?.erase();
    ///     failing.wait().await; // a failure is not the wait's error
    ///     assert!(failing.error().is_some());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn wait(&self) -> WaitDone {
        WaitDone { task: self.clone() }
    }

    /// Whether two handles refer to the same task.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let me = aio_task::current_task().unwrap();
    ///     assert!(me.same(&aio_task::current_task().unwrap()));
    /// })?;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn same(&self, other: &TaskRef) -> bool {
        self.0.address() == other.0.address()
    }

    /// The task's identity, for sets of tasks (equal exactly when [`same`](Self::same)).
    pub(crate) fn identity(&self) -> *const () {
        std::ptr::without_provenance(self.0.address())
    }

    /// The task's number: the `N` of its default name `Task-N`, unique in its loop (it
    /// stays when the task is renamed); 0 for an internal task
    /// ([`create_internal_task`]), which takes no number. The await graph and task dumps
    /// show it.
    ///
    /// # Examples
    ///
    /// ```
    /// let id = aio_task::run(async {
    ///     let task = aio_task::create_task(async {})?;
    ///     task.set_name("renamed");
    ///     Ok::<_, aio_task::Error>(task.erase().id())
    /// })??;
    /// assert_eq!(id, 2); // the main task is 1
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn id(&self) -> u64 {
        self.0.header().id
    }

    /// Where the task's last step parked, if on an aio await.
    pub(crate) fn parked_at(&self) -> Option<aio_observe::Site> {
        self.0.header().parked_at.get()
    }

    /// Where the task was created.
    pub(crate) fn created_at(&self) -> aio_observe::Site {
        self.0.header().created_at
    }

    /// Whether this task is the one being polled on this thread.
    pub(crate) fn is_running(&self) -> bool {
        let slot = self.0.header().slot.get();
        slot != NO_TASK && CURRENT.get() == slot && !self.done()
    }

    /// Whether a cancellation was requested and has not finished yet.
    pub(crate) fn cancel_requested(&self) -> bool {
        self.0.cancels().cancel_requested() && !self.done()
    }

    /// The task's address: the data pointer of its wakers (see [`raw::task_of`]).
    pub(crate) fn address(&self) -> usize {
        self.0.address()
    }

    pub(crate) fn for_each_waiter(&self, f: &mut dyn FnMut(&std::task::Waker)) {
        self.0.for_each_waiter(f);
    }

    /// The task's loop, if it still exists.
    pub(crate) fn get_loop(&self) -> Option<EventLoop> {
        self.0
            .header()
            .registry
            .upgrade()?
            .event_loop
            .get()?
            .upgrade()
    }

    pub(crate) fn set_awaited_by(&self, awaiter: Weak<dyn crate::observe::Awaiter>) {
        self.0.set_awaited_by(awaiter);
    }
}

impl fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRef")
            .field("name", &self.get_name())
            .field("done", &self.done())
            .finish()
    }
}

/// The future returned by [`TaskRef::wait`]: done when the task is, leaving its outcome in
/// place, and (unlike an awaited [`Task`]) cancelling nothing when dropped.
///
/// # Cancel safety
///
/// Cancel safe: dropping it, even while it waits, neither cancels the task nor takes its
/// outcome.
///
/// # Examples
///
/// ```
/// use aio_task::{WaitDone, create_task, run};
///
/// run(async {
///     let task = create_task(async { 7 })?;
///     let done: WaitDone = task.erase().wait();
///     done.await;
///     assert!(task.done());
///     assert_eq!(task.await?, 7); // the result is still there
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct WaitDone {
    task: TaskRef,
}

impl Future for WaitDone {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.task.0.poll_done(cx)
    }
}

/// The task being run by the running loop, if called from inside one (asyncio's
/// `current_task()`).
///
/// # Examples
///
/// ```
/// assert!(aio_task::current_task().is_none()); // no loop runs here
/// aio_task::run(async {
///     let me = aio_task::current_task().expect("inside the main task");
///     let child = aio_task::create_task(async { aio_task::current_task().unwrap().get_name() })?;
///     assert_eq!(child.await?, "Task-2");
///     assert_eq!(me.get_name(), "Task-1");
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn current_task() -> Option<TaskRef> {
    let slot = CURRENT.get();
    if slot == NO_TASK {
        return None;
    }
    get_running_loop().ok()?.extension::<Registry>().get(slot)
}

/// The tasks of the running loop that are not done yet (asyncio's `all_tasks()`).
///
/// # Errors
///
/// [`Error::Runtime`] ([`NoRunningLoop`](aio_scheduler::Error::NoRunningLoop)) outside a
/// running loop.
///
/// # Examples
///
/// ```
/// aio_task::run(async {
///     let _worker = aio_task::create_task(aio_scheduler::sleep(0.01))?;
///     assert_eq!(aio_task::all_tasks()?.len(), 2); // main and the worker
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn all_tasks() -> Result<Vec<TaskRef>, Error> {
    Ok(get_running_loop()?.extension::<Registry>().live())
}
