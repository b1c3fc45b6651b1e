//! The loop's side of tasks that manage their own allocation (`aio-task`'s tasks).
//!
//! A [`TaskRunnable`] is one scheduled step of such a task: a pointer plus a two-entry
//! vtable, `run` and `release`. The loop runs it on its own thread; a runnable that can no
//! longer reach its loop (woken after `close()`) is released, on whatever thread that is —
//! so `release` must be thread-safe and must never drop anything that is not `Send`.
//! Tasks made with `async-task` keep using [`Runnable`](crate::Runnable) and
//! [`schedule`](crate::schedule).

use std::fmt;
use std::ptr::NonNull;

use crate::event_loop::{RUNNING, Ready, Remote};
use crate::{EventLoop, LoopHandle};

/// What the loop calls on a [`TaskRunnable`].
#[derive(Debug)]
pub struct RunnableVTable {
    /// Runs the task's step, consuming the runnable's reference. Called only on the thread
    /// of the loop the runnable was scheduled on.
    pub run: unsafe fn(NonNull<()>),
    /// Gives the runnable's reference up without running the step. May be called on any
    /// thread.
    pub release: unsafe fn(NonNull<()>),
}

/// One scheduled step of a task with its own allocation: an owned reference to the task,
/// which the loop either runs or releases.
///
/// # Examples
///
/// A (leaky, minimal) task made by hand: the step prints, and `release` does nothing.
///
/// ```
/// use std::ptr::NonNull;
/// use aio_scheduler::{EventLoop, RunnableVTable, TaskRunnable};
///
/// unsafe fn run(ptr: NonNull<()>) {
///     // SAFETY (of the caller): `ptr` came from `&'static u32` below.
///     println!("step of task {}", unsafe { *ptr.cast::<u32>().as_ref() });
/// }
/// unsafe fn release(_: NonNull<()>) {}
/// static VTABLE: RunnableVTable = RunnableVTable { run, release };
/// static TASK: u32 = 7;
///
/// let lp = EventLoop::new()?;
/// // SAFETY: `run` and `release` accept this pointer, from any thread.
/// let step = unsafe { TaskRunnable::from_raw(NonNull::from(&TASK).cast(), &VTABLE) };
/// lp.schedule_task(step);
/// lp.run_until_complete(async {})?;
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
pub struct TaskRunnable {
    ptr: NonNull<()>,
    vtable: &'static RunnableVTable,
}

// SAFETY: `from_raw`'s contract: `release` may be called on any thread, and `run` is only
// called on the loop's thread, which the loop guarantees wherever the runnable travelled.
unsafe impl Send for TaskRunnable {}

impl TaskRunnable {
    /// A runnable for `ptr`, which owns one reference to the task.
    ///
    /// # Safety
    ///
    /// `vtable.run(ptr)` must be sound to call once on the thread of the loop this runnable
    /// is given to, and `vtable.release(ptr)` once on any thread; whichever is called
    /// consumes the reference.
    pub unsafe fn from_raw(ptr: NonNull<()>, vtable: &'static RunnableVTable) -> TaskRunnable {
        TaskRunnable { ptr, vtable }
    }

    /// Runs the step now instead of queueing it (a task implementation's eager start).
    ///
    /// # Safety
    ///
    /// On the thread of the loop the task belongs to.
    pub unsafe fn run(self) {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `from_raw`'s contract and ours: this is the loop's thread; the
        // `ManuallyDrop` keeps `release` from also consuming the reference.
        unsafe { (this.vtable.run)(this.ptr) }
    }
}

impl Drop for TaskRunnable {
    fn drop(&mut self) {
        // SAFETY: `from_raw`'s contract: `release` may run on any thread, once.
        unsafe { (self.vtable.release)(self.ptr) }
    }
}

impl fmt::Debug for TaskRunnable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRunnable")
            .field("ptr", &self.ptr)
            .finish_non_exhaustive()
    }
}

impl EventLoop {
    /// Queues a task step (on the loop's thread; for task implementations: a new task's first
    /// step), after what other threads sent before, as `call_soon` is (one FIFO). On a closed
    /// loop the runnable is released.
    ///
    /// # Examples
    ///
    /// See [`TaskRunnable`].
    pub fn schedule_task(&self, runnable: TaskRunnable) {
        if self.is_closed() {
            drop(runnable);
            return;
        }
        // asyncio's `call_soon(task.__step)`: after what other threads sent before.
        self.inner.push_ready(Ready::Task(runnable));
    }
}

impl LoopHandle {
    /// Queues a task step from any thread (a waker's `wake`): straight onto the ready queue
    /// on the thread running this loop, otherwise through the remote queue, waking the loop
    /// if it sleeps. On a closed loop the runnable is released.
    ///
    /// # Examples
    ///
    /// See [`TaskRunnable`]; from another thread:
    ///
    /// ```
    /// # use std::ptr::NonNull;
    /// # use aio_scheduler::{EventLoop, RunnableVTable, TaskRunnable};
    /// # unsafe fn run(_: NonNull<()>) {}
    /// # unsafe fn release(_: NonNull<()>) {}
    /// # static VTABLE: RunnableVTable = RunnableVTable { run, release };
    /// # static TASK: u32 = 7;
    /// let lp = EventLoop::new()?;
    /// let handle = lp.handle();
    /// std::thread::spawn(move || {
    ///     // SAFETY: `run` and `release` accept this pointer, from any thread.
    ///     handle.schedule_task(unsafe { TaskRunnable::from_raw(NonNull::from(&TASK).cast(), &VTABLE) });
    /// })
    /// .join()
    /// .unwrap();
    /// lp.run_until_complete(async {})?;
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn schedule_task(&self, runnable: TaskRunnable) {
        let id = self.shared.id;
        let mut runnable = Some(runnable);
        let _ = RUNNING.try_with(|running| {
            if let Some(inner) = &*running.borrow() {
                if inner.shared.id == id {
                    if let Some(runnable) = runnable.take() {
                        inner.ready.borrow_mut().push_back(Ready::Task(runnable));
                    }
                }
            }
        });
        if let Some(runnable) = runnable {
            // Err means the loop is closed; the runnable has been released.
            let _ = self.shared.send_remote(Remote::Task(runnable));
        }
    }
}
