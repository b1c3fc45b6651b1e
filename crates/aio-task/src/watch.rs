//! Watching a set of tasks through done callbacks: the machinery under `gather`, `wait`,
//! `as_completed` and `TaskGroup`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Context, Waker};

use crate::TaskRef;

/// What the done callbacks of the watched tasks have reported so far.
#[derive(Default)]
pub(crate) struct Watch {
    /// Tasks not reported done yet.
    pub(crate) remaining: Cell<usize>,
    /// Index of the first task (in completion order) that ended with any error, cancellation
    /// included.
    pub(crate) first_error: Cell<Option<usize>>,
    /// Whether some task ended with an error other than cancellation.
    pub(crate) raised: Cell<bool>,
    /// Indices of finished tasks, in completion order.
    pub(crate) finished: RefCell<VecDeque<usize>>,
    waker: Cell<Option<Waker>>,
}

impl Watch {
    /// Registers the waker to be woken at the next completion.
    pub(crate) fn register(&self, cx: &Context<'_>) {
        match self.waker.take() {
            Some(w) if w.will_wake(cx.waker()) => self.waker.set(Some(w)),
            _ => self.waker.set(Some(cx.waker().clone())),
        }
    }

    fn on_done(&self, index: usize, task: &TaskRef, retrieve: Retrieve) {
        self.remaining.set(self.remaining.get() - 1);
        if task.failed() {
            self.raised.set(true);
            if retrieve == Retrieve::Errors {
                // Reading the error marks it retrieved.
                let _ = task.error();
            }
        }
        if (task.failed() || task.cancelled()) && self.first_error.get().is_none() {
            self.first_error.set(Some(index));
        }
        self.finished.borrow_mut().push_back(index);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// Watches `tasks`; while the `Watcher` is *armed* (the default), dropping it cancels every
/// task still running — asyncio's "cancelling the gather cancels the children".
pub(crate) struct Watcher {
    pub(crate) watch: Rc<Watch>,
    pub(crate) tasks: Vec<TaskRef>,
    armed: bool,
}

/// Whether the watcher counts a child's error as retrieved when the child finishes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retrieve {
    /// Like asyncio's gather, which takes every child's exception (also after it finished).
    Errors,
    /// Leave the errors to whoever reads the tasks (`wait`, `as_completed`).
    Nothing,
}

impl Watcher {
    pub(crate) fn new(tasks: Vec<TaskRef>, retrieve: Retrieve) -> Watcher {
        let watch = Rc::new(Watch::default());
        watch.remaining.set(tasks.len());
        for (index, task) in tasks.iter().enumerate() {
            let watch = watch.clone();
            task.add_done_callback(move |task| watch.on_done(index, task, retrieve));
        }
        Watcher {
            watch,
            tasks,
            armed: true,
        }
    }

    /// Stop cancelling the tasks on drop (the combinator has finished; the tasks may go on).
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }

    pub(crate) fn cancel_all(&self) {
        for task in &self.tasks {
            task.cancel(None);
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if self.armed {
            self.cancel_all();
        }
    }
}
