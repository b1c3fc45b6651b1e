//! One allocation per task: the reference-counted block that holds a task's scheduling state,
//! its asyncio state (the [`TaskCell`]) and its future.
//!
//! asyncio hands out many references to one task (`Task` handles, `current_task()`,
//! `all_tasks()`, done callbacks), while `async-task` gives each task exactly one handle. Built
//! on `async-task`, every aio task therefore needed a second, reference-counted allocation
//! for its asyncio state. Here the two are one block:
//!
//! ```text
//! RawTask<F, T> (repr(C), one heap block)
//! ├─ TaskCell<T>    (repr(C))
//! │  ├─ RawHeader   state word (flags + waker/runnable references), vtable, loop handle
//! │  ├─ Header      untyped asyncio state: id, registry slot, handle count, ...
//! │  └─ Core<T>     the completion cell: outcome, waiters, callbacks, cancel count, ...
//! └─ F              the future (aio-task's `TaskFuture` around the user's future)
//! ```
//!
//! Two reference counts keep the block alive:
//!
//! - **The state word** (atomic) counts wakers, the runnable in a ready queue (if any), and
//!   one reference on behalf of all handles. Wakers can be cloned, woken and dropped on any
//!   thread, so this count is atomic, and what a thread other than the loop's may do is
//!   limited to it, the flags and the loop handle (all `Send + Sync`).
//! - **The handle count** (`Header::handles`, a `Cell`, loop thread only) counts [`CellRef`]s: `Task<T>` handles,
//!   the loop registry's entry while the task is pending, and one for the future (the
//!   [`Body`]: the block counts it for the body, which keeps no pointer of its own). When it
//!   reaches zero the asyncio state is dropped — on the loop's thread, as it holds values
//!   that are not `Send` — and the handles' state-word reference is given up.
//!
//! The future is dropped on the loop's thread too: after it returns `Ready` inside a step, or
//! when a cancelled task's step finds the cancel request (asyncio's cancel-at-next-step), or
//! by the registry when the loop closes. The body's handle is given up only after the body is
//! dropped, so the asyncio state outlives the future; when the last state-word reference goes, possibly on another
//! thread, only plain memory and the loop handle are left to free.

use std::cell::{Cell, UnsafeCell};
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering, fence};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use aio_scheduler::{LoopHandle, RunnableVTable, TaskRunnable};

use crate::task::{AnyTask, Header, TaskCell};

/// In the state word: a runnable is queued (or the running step will queue one).
const SCHEDULED: usize = 1 << 0;
/// In the state word: a step is running.
const RUNNING: usize = 1 << 1;
/// In the state word: the future has been dropped; steps do nothing.
const DONE: usize = 1 << 2;
/// One reference in the state word.
const REF: usize = 1 << 3;
/// The flag bits.
const FLAGS: usize = REF - 1;

/// The untyped start of every task block: what other threads may touch.
pub(crate) struct RawHeader {
    state: AtomicUsize,
    vtable: &'static TaskVTable,
    /// Where wake-ups go (read from any thread).
    loop_handle: LoopHandle,
}

/// The untyped start of every block, both headers: `TaskCell<T>` begins with these two
/// fields, `repr(C)`, so they lie at the same offsets whatever `T`.
#[repr(C)]
struct Untyped {
    raw: RawHeader,
    header: Header,
}

/// What the untyped parts need of a typed block.
struct TaskVTable {
    /// Polls the future, or drops it if the task's cancel was requested; `Ready` once the
    /// future is gone.
    step: unsafe fn(NonNull<RawHeader>, &mut Context<'_>) -> Poll<()>,
    /// Drops the future in place.
    drop_future: unsafe fn(NonNull<RawHeader>),
    /// Drops the asyncio state in place.
    drop_cell: unsafe fn(NonNull<RawHeader>),
    /// Frees the block.
    dealloc: unsafe fn(NonNull<RawHeader>),
    /// The block's asyncio state as a trait object.
    any: unsafe fn(NonNull<RawHeader>) -> NonNull<dyn AnyTask>,
}

/// A whole block. The cell is never dropped as a whole: `drop_cell` drops its asyncio state
/// and `dealloc` the loop handle.
#[repr(C)]
struct RawTask<F, T> {
    cell: TaskCell<T>,
    future: UnsafeCell<ManuallyDrop<F>>,
}

/// What a task block runs: a future that is handed its task's cell at each poll and at its
/// drop, rather than keeping a handle to it (which took 8 bytes of every task).
///
/// The block counts one handle on behalf of its body: taken at allocation (the handle count
/// starts at 2, the handle returned and the body's), given up when the body is dropped.
pub(crate) trait Body<T: 'static>: 'static {
    /// Polls the body; `cell` is a handle to its own task (cloning it makes a new one).
    fn poll(self: Pin<&mut Self>, cell: &CellRef<T>, cx: &mut Context<'_>) -> Poll<()>;

    /// What [`before_drop`](Body::before_drop) leaves to undo after the drop.
    type BeforeDrop;

    /// Right before the body is dropped in place; what it returns is dropped right after
    /// (also when the body's drop panics).
    ///
    /// # Safety
    ///
    /// `this` points at the live body, about to be dropped. It is a raw pointer, not a
    /// reference: a shared reborrow of the whole body right before its drop would invalidate
    /// the mutable borrows an async block holds into its own locals, which its destructors
    /// still write through (miri's aliasing model rejects that).
    unsafe fn before_drop(this: *const Self, cell: &CellRef<T>) -> Self::BeforeDrop;

    /// After the body was dropped (also when its drop panicked), before its handle goes.
    fn after_drop(cell: &CellRef<T>);
}

/// Allocates a task block: its cell is what `cell` makes of the block's scheduling header
/// (its handle count must start at 2: the handle returned and the body's), its body is
/// `body`. Returns a handle and the first step's runnable (to run at once for an eager
/// start, or to queue).
pub(crate) fn allocate<T: 'static, F: Body<T>>(
    loop_handle: LoopHandle,
    cell: impl FnOnce(RawHeader) -> TaskCell<T>,
    body: F,
) -> (CellRef<T>, TaskRunnable) {
    let vtable: &'static TaskVTable = &TypedVTable::<F, T>::VTABLE;
    let block = Box::<RawTask<F, T>>::new_uninit();
    let ptr = NonNull::new(Box::into_raw(block))
        .expect("Box::into_raw is never null")
        .cast::<RawTask<F, T>>();
    let typed = ptr.cast::<TaskCell<T>>();
    let cell = cell(RawHeader {
        // The handles' reference and the first runnable's.
        state: AtomicUsize::new(SCHEDULED | (2 * REF)),
        vtable,
        loop_handle,
    });
    debug_assert_eq!(cell.header.handles.get(), 2);
    // SAFETY: `ptr` is a fresh, exclusively owned allocation for a `RawTask<F, T>`.
    unsafe {
        std::ptr::addr_of_mut!((*ptr.as_ptr()).cell).write(cell);
        std::ptr::addr_of_mut!((*ptr.as_ptr()).future)
            .write(UnsafeCell::new(ManuallyDrop::new(body)));
    }
    let header = ptr.cast::<RawHeader>();
    // SAFETY: the block owns one runnable reference (counted above), and its `run` is only
    // called on the loop's thread by the loop (or by `spawn` for an eager start).
    let runnable = unsafe { TaskRunnable::from_raw(header.cast(), &RUNNABLE_VTABLE) };
    (CellRef(typed), runnable)
}

/// The body's handle while the body is dropped: told of the drop, then given up, also when
/// the body's drop unwinds.
struct BodyHandle<F: Body<T>, T: 'static>(CellRef<T>, std::marker::PhantomData<F>);

impl<F: Body<T>, T: 'static> Drop for BodyHandle<F, T> {
    fn drop(&mut self) {
        F::after_drop(&self.0);
    }
}

/// The typed functions of a block of future `F` and output `T`.
struct TypedVTable<F, T>(std::marker::PhantomData<(F, T)>);

impl<F: Body<T>, T: 'static> TypedVTable<F, T> {
    const VTABLE: TaskVTable = TaskVTable {
        step: Self::step,
        drop_future: Self::drop_future,
        drop_cell: Self::drop_cell,
        dealloc: Self::dealloc,
        any: Self::any,
    };

    fn block(header: NonNull<RawHeader>) -> *mut RawTask<F, T> {
        header.cast::<RawTask<F, T>>().as_ptr()
    }

    /// # Safety
    ///
    /// On the loop's thread, with `RUNNING` set by the caller and the future alive.
    unsafe fn step(header: NonNull<RawHeader>, cx: &mut Context<'_>) -> Poll<()> {
        let block = Self::block(header);
        // SAFETY: the caller's contract: the future is alive, and no one else touches it
        // while `RUNNING` is set. It never moves: it lives in the block until dropped.
        unsafe {
            let cell = &(*block).cell;
            if !cell.cancel_requested() {
                let future = Pin::new_unchecked(&mut **(*block).future.get());
                // A view of the body's own handle (not counted, never dropped): a pointer
                // derived from the block's, so it reaches the whole cell.
                let handle = ManuallyDrop::new(CellRef::<T>(header.cast()));
                if future.poll(&handle, cx).is_pending() && !cell.cancel_requested() {
                    return Poll::Pending;
                }
                // Ready, or cancelled during the step: the future goes now (asyncio's
                // cancel takes effect at the task's next suspension).
            }
            Self::drop_future(header);
        }
        Poll::Ready(())
    }

    /// # Safety
    ///
    /// On the loop's thread, once, with the future alive and not being polled.
    unsafe fn drop_future(header: NonNull<RawHeader>) {
        // The body's handle, counted since `allocate`: given up last.
        let handle = BodyHandle::<F, T>(CellRef(header.cast()), std::marker::PhantomData);
        // SAFETY: the caller's contract: the body is alive, dropped here once, in place
        // (it never moved: pinned).
        unsafe {
            let body = (*Self::block(header)).future.get();
            let _before = F::before_drop(body.cast::<F>().cast_const(), &handle.0);
            ManuallyDrop::drop(&mut *body);
        }
    }

    /// # Safety
    ///
    /// On the loop's thread, once, after the last handle went (so after the future).
    unsafe fn drop_cell(header: NonNull<RawHeader>) {
        // SAFETY: the caller's contract; nothing reads the asyncio state afterwards.
        unsafe { TaskCell::drop_state(std::ptr::addr_of_mut!((*Self::block(header)).cell)) }
    }

    /// # Safety
    ///
    /// Once, when the last state-word reference went: the future and the cell are gone.
    unsafe fn dealloc(header: NonNull<RawHeader>) {
        let block = Self::block(header);
        // SAFETY: the caller's contract: no other reference to the block is left. The
        // header's loop handle is the one field left to drop (`Send + Sync`: any thread).
        // The block was made by `Box::new_uninit` with this type's layout; freeing it as a
        // `Box<MaybeUninit<_>>` drops nothing else.
        unsafe {
            std::ptr::drop_in_place(std::ptr::addr_of_mut!((*block).cell.raw.loop_handle));
            drop(Box::from_raw(
                block.cast::<std::mem::MaybeUninit<RawTask<F, T>>>(),
            ));
        }
    }

    /// # Safety
    ///
    /// `header` is a live block of this type.
    unsafe fn any(header: NonNull<RawHeader>) -> NonNull<dyn AnyTask> {
        let cell: NonNull<TaskCell<T>> = header.cast();
        cell
    }
}

/// A counted handle to a task's asyncio state (loop thread only: it is not `Send`).
pub(crate) struct CellRef<T>(NonNull<TaskCell<T>>);

impl<T> CellRef<T> {
    pub(crate) fn erase(&self) -> ErasedRef {
        retain(self.0.cast());
        ErasedRef(self.0.cast())
    }

    pub(crate) fn raw(&self) -> NonNull<RawHeader> {
        self.0.cast()
    }
}

impl<T> Deref for CellRef<T> {
    type Target = TaskCell<T>;

    fn deref(&self) -> &TaskCell<T> {
        // SAFETY: a handle keeps the cell alive (its state is dropped only when the last one
        // goes).
        unsafe { self.0.as_ref() }
    }
}

impl<T> Clone for CellRef<T> {
    fn clone(&self) -> Self {
        retain(self.0.cast());
        CellRef(self.0)
    }
}

impl<T> Drop for CellRef<T> {
    fn drop(&mut self) {
        // SAFETY: this handle's count is given up once.
        unsafe { release(self.0.cast()) }
    }
}

/// A counted, type-erased handle to a task (loop thread only).
pub(crate) struct ErasedRef(NonNull<RawHeader>);

impl ErasedRef {
    /// The task's address: its identity, and the data pointer of its wakers.
    pub(crate) fn address(&self) -> usize {
        self.0.as_ptr() as usize
    }

    /// The task's block.
    pub(crate) fn raw(&self) -> NonNull<RawHeader> {
        self.0
    }
}

impl Deref for ErasedRef {
    type Target = dyn AnyTask + 'static;

    fn deref(&self) -> &(dyn AnyTask + 'static) {
        // SAFETY: a handle keeps the cell alive; `any` gives the block's own prefix.
        unsafe { (header(self.0).vtable.any)(self.0).as_ref() }
    }
}

impl Clone for ErasedRef {
    fn clone(&self) -> Self {
        retain(self.0);
        ErasedRef(self.0)
    }
}

impl Drop for ErasedRef {
    fn drop(&mut self) {
        // SAFETY: this handle's count is given up once.
        unsafe { release(self.0) }
    }
}

/// A typed handle to the task `header` (of output `T`): one more handle.
///
/// # Safety
///
/// The block's output type is `T`, and a handle to it is alive.
pub(crate) unsafe fn typed<T: 'static>(header: NonNull<RawHeader>) -> CellRef<T> {
    retain(header);
    CellRef(header.cast())
}

fn header<'a>(ptr: NonNull<RawHeader>) -> &'a RawHeader {
    // SAFETY: every caller holds a reference that keeps the block (and so its header) alive;
    // the header's fields are an atomic and `Sync` values.
    unsafe { ptr.as_ref() }
}

/// The handle count (loop thread only: handles are not `Send`).
fn handles<'a>(ptr: NonNull<RawHeader>) -> &'a Cell<u32> {
    // SAFETY: the caller holds a handle, so the asyncio state is alive; every block starts
    // with `Untyped`'s fields (`TaskCell` is `repr(C)`).
    unsafe { &(*ptr.cast::<Untyped>().as_ptr()).header.handles }
}

fn retain(ptr: NonNull<RawHeader>) {
    let handles = handles(ptr);
    handles.set(
        handles
            .get()
            .checked_add(1)
            .expect("fewer than 2^32 handles to a task"),
    );
}

/// Gives up one handle; the last one drops the asyncio state and the handles' reference.
///
/// # Safety
///
/// The caller owns the handle count it gives up.
unsafe fn release(ptr: NonNull<RawHeader>) {
    let head = header(ptr);
    let count = handles(ptr);
    let left = count.get() - 1;
    count.set(left);
    if left == 0 {
        // The handles' reference goes even if a destructor in the state panics.
        let _reference = DropRef(ptr);
        // SAFETY: no handle is left, and the future (whose body counts one) is gone:
        // nothing reads the cell again. Loop thread: handles are not `Send`.
        unsafe { (head.vtable.drop_cell)(ptr) };
    }
}

/// Gives up one state-word reference when dropped (also while unwinding).
struct DropRef(NonNull<RawHeader>);

impl Drop for DropRef {
    fn drop(&mut self) {
        // SAFETY: made only by owners of a reference, which they hand to this guard.
        unsafe { drop_ref(self.0) }
    }
}

/// While a step runs: if it unwinds (a destructor of the future panicked as a cancelled
/// task's future was dropped, or a panic escaped the future's poll), the task is marked done —
/// it never runs again; its future, if a panic escaped its poll, is leaked rather than
/// dropped half-way — and the step's reference is given up, so that nothing stays marked
/// running and the block (and its loop handle) is freed.
struct StepGuard(NonNull<RawHeader>);

impl Drop for StepGuard {
    fn drop(&mut self) {
        finish_done(&header(self.0).state);
        // SAFETY: the step's reference, handed to this guard.
        unsafe { drop_ref(self.0) }
    }
}

/// Gives up one state-word reference; the last frees the block.
///
/// # Safety
///
/// The caller owns the reference it gives up.
unsafe fn drop_ref(ptr: NonNull<RawHeader>) {
    let previous = header(ptr).state.fetch_sub(REF, Ordering::Release);
    // SAFETY: the caller's reference, just given up.
    unsafe { free_if_last(ptr, previous) }
}

/// After a write that gave up one reference, from state `previous`: frees the block if that
/// was the last.
///
/// # Safety
///
/// The write gave up a reference its caller owned, with `Release` ordering (or stronger).
unsafe fn free_if_last(ptr: NonNull<RawHeader>, previous: usize) {
    if previous & !FLAGS == REF {
        // Pairs with the other references' `Release` decrements: their uses of the block
        // happen before it is freed.
        fence(Ordering::Acquire);
        // SAFETY: that was the last reference.
        unsafe { (header(ptr).vtable.dealloc)(ptr) }
    }
}

/// Adds a state-word reference (aborting rather than overflowing, as `Arc` does).
fn add_ref(ptr: NonNull<RawHeader>) {
    let previous = header(ptr).state.fetch_add(REF, Ordering::Relaxed);
    if previous > isize::MAX as usize {
        std::process::abort();
    }
}

/// Queues the task's step with a new reference, unless it is queued, running (the running
/// step re-queues it) or done.
fn wake_by_ref(ptr: NonNull<RawHeader>) {
    let state = &header(ptr).state;
    let mut current = state.load(Ordering::Acquire);
    loop {
        if current & DONE != 0 {
            return;
        }
        if current & SCHEDULED != 0 {
            // Already queued, or the running step will queue it. Still a release write (the
            // state unchanged), so that what the waker's thread wrote before waking happens
            // before the step that the queued runnable runs: each wake is followed by a poll
            // that sees it.
            match state.compare_exchange_weak(current, current, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => {
                    current = actual;
                    continue;
                }
            }
        }
        let (next, submit) = if current & RUNNING != 0 {
            (current | SCHEDULED, false)
        } else {
            (
                current
                    .checked_add(REF)
                    .unwrap_or_else(|| std::process::abort())
                    | SCHEDULED,
                true,
            )
        };
        match state.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                if submit {
                    submit_step(ptr);
                }
                return;
            }
            Err(actual) => current = actual,
        }
    }
}

/// Hands the task's step, with the reference the caller counted for it, to the task's loop.
fn submit_step(ptr: NonNull<RawHeader>) {
    // SAFETY: the runnable owns the reference counted by the caller; its `run` is called by
    // the loop on its own thread, its `release` may be called anywhere.
    let runnable = unsafe { TaskRunnable::from_raw(ptr.cast(), &RUNNABLE_VTABLE) };
    header(ptr).loop_handle.schedule_task(runnable);
}

/// Drops the future of a task that is neither running nor done, now (the loop is closing and
/// its registry cancels what is left). Returns whether it did.
pub(crate) fn drop_future_now(ptr: NonNull<RawHeader>) -> bool {
    let state = &header(ptr).state;
    let previous = state.fetch_or(RUNNING, Ordering::AcqRel);
    if previous & (RUNNING | DONE) != 0 {
        if previous & RUNNING == 0 {
            state.fetch_and(!RUNNING, Ordering::AcqRel);
        }
        return false;
    }
    // Marked done even if a destructor of the future panics.
    struct Done<'a>(&'a AtomicUsize);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            finish_done(self.0);
        }
    }
    let _done = Done(state);
    // SAFETY: loop thread (the registry is), the future is alive (not DONE) and not being
    // polled (we set RUNNING).
    unsafe { (header(ptr).vtable.drop_future)(ptr) };
    true
}

/// Marks the future dropped and the step over.
fn finish_done(state: &AtomicUsize) {
    let _ = state.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
        Some((s | DONE) & !(RUNNING | SCHEDULED))
    });
}

static RUNNABLE_VTABLE: RunnableVTable = RunnableVTable {
    run: run_step,
    release: release_runnable,
};

/// # Safety
///
/// The runnable's reference, on the loop's thread.
unsafe fn run_step(ptr: NonNull<()>) {
    let ptr = ptr.cast::<RawHeader>();
    let head = header(ptr);
    let state = &head.state;
    let mut current = state.load(Ordering::Acquire);
    loop {
        if current & DONE != 0 {
            state.fetch_and(!SCHEDULED, Ordering::AcqRel);
            // SAFETY: the runnable's reference.
            unsafe { drop_ref(ptr) };
            return;
        }
        let next = (current & !SCHEDULED) | RUNNING;
        match state.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(actual) => current = actual,
        }
    }
    // The step's waker borrows the runnable's reference (clones count their own).
    // SAFETY: the waker vtable's functions take a pointer to a live block's header.
    let waker = ManuallyDrop::new(unsafe {
        Waker::from_raw(RawWaker::new(ptr.as_ptr().cast(), &WAKER_VTABLE))
    });
    let mut cx = Context::from_waker(&waker);
    let unwinding = StepGuard(ptr);
    // SAFETY: loop thread, RUNNING set by us, the future alive (not DONE).
    let polled = unsafe { (head.vtable.step)(ptr, &mut cx) };
    std::mem::forget(unwinding);
    if polled.is_ready() {
        finish_done(state);
        // SAFETY: the runnable's reference.
        unsafe { drop_ref(ptr) };
        return;
    }
    // The step is over: one write clears RUNNING and, unless the task was woken during the
    // step, gives up the runnable's reference (one atomic update, not two).
    let mut current = state.load(Ordering::Acquire);
    loop {
        let next = if current & SCHEDULED != 0 {
            current & !RUNNING
        } else {
            (current & !RUNNING) - REF
        };
        match state.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(actual) => current = actual,
        }
    }
    if current & SCHEDULED != 0 {
        // Woken during the step: queue it again with this runnable's reference.
        submit_step(ptr);
    } else {
        // SAFETY: the write above gave up the runnable's reference (`AcqRel`).
        unsafe { free_if_last(ptr, current) };
    }
}

/// # Safety
///
/// The runnable's reference; any thread.
unsafe fn release_runnable(ptr: NonNull<()>) {
    // SAFETY: the caller's reference. Dropping a reference frees at most the block's memory
    // and loop handle, never the future or the cell, so any thread is fine.
    unsafe { drop_ref(ptr.cast()) }
}

static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

/// Whether `waker` wakes an aio task, and which (its header's address).
pub(crate) fn task_of(waker: &Waker) -> Option<usize> {
    std::ptr::eq(waker.vtable(), &WAKER_VTABLE).then(|| waker.data() as usize)
}

fn waker_ptr(data: *const ()) -> NonNull<RawHeader> {
    NonNull::new(data.cast_mut().cast()).expect("a task waker's data is its header")
}

unsafe fn waker_clone(data: *const ()) -> RawWaker {
    add_ref(waker_ptr(data));
    RawWaker::new(data, &WAKER_VTABLE)
}

/// `wake` by value: as `wake_by_ref`, in one atomic update that also settles the waker's
/// reference — handed to the runnable it queues, or given up when it queues none.
unsafe fn waker_wake(data: *const ()) {
    let ptr = waker_ptr(data);
    let state = &header(ptr).state;
    let mut current = state.load(Ordering::Acquire);
    loop {
        let (next, submit) = if current & (DONE | SCHEDULED | RUNNING) == 0 {
            // Idle: queue a step; the waker's reference becomes the runnable's.
            (current | SCHEDULED, true)
        } else if current & (DONE | SCHEDULED) == 0 {
            // Running: the step queues itself again when it ends.
            ((current | SCHEDULED) - REF, false)
        } else {
            // Done, or already queued: nothing to queue. Still a release write (as in
            // `wake_by_ref`), and it gives up the waker's reference.
            (current - REF, false)
        };
        match state.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                if submit {
                    submit_step(ptr);
                } else {
                    // SAFETY: the write above gave up the waker's reference (`AcqRel`).
                    unsafe { free_if_last(ptr, current) };
                }
                return;
            }
            Err(actual) => current = actual,
        }
    }
}

unsafe fn waker_wake_by_ref(data: *const ()) {
    wake_by_ref(waker_ptr(data));
}

unsafe fn waker_drop(data: *const ()) {
    // SAFETY: the waker's reference.
    unsafe { drop_ref(waker_ptr(data)) }
}

/// Asks for the task's next step to run (a cancel request: the step drops the future).
pub(crate) fn wake(ptr: NonNull<RawHeader>) {
    wake_by_ref(ptr);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_and_the_reference_unit_do_not_overlap() {
        assert_eq!(FLAGS & REF, 0);
        assert_eq!((SCHEDULED | RUNNING | DONE) & !FLAGS, 0);
    }
}
