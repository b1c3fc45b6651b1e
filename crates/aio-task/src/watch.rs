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
    /// Who to wake at the next completion: usually one task (the gather's, the wait's).
    waker: Cell<Option<Waker>>,
    /// Further tasks waiting at the same time: `as_completed`'s awaitables may be awaited
    /// concurrently, from several tasks.
    more_wakers: RefCell<Vec<Waker>>,
    /// Where the combinator was made: reported as where its awaiter waits (`aio_observe`).
    at: Option<aio_observe::Site>,
}

impl Watch {
    /// Registers the waker to be woken at the next completion, beside any other waiting
    /// task's.
    pub(crate) fn register(&self, cx: &Context<'_>) {
        // Called right before the combinator returns `Pending`.
        if let Some(at) = self.at {
            aio_observe::park(at);
        }
        let waker = cx.waker();
        match self.waker.take() {
            None => self.waker.set(Some(waker.clone())),
            Some(first) => {
                let known = first.will_wake(waker);
                self.waker.set(Some(first));
                if !known {
                    let mut more = self.more_wakers.borrow_mut();
                    if !more.iter().any(|w| w.will_wake(waker)) {
                        more.push(waker.clone());
                    }
                }
            }
        }
    }

    /// Wakes every registered waiter: each polls again and takes what is there for it.
    pub(crate) fn wake_all(&self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
        let more = std::mem::take(&mut *self.more_wakers.borrow_mut());
        for waker in more {
            waker.wake();
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
        self.wake_all();
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
    #[track_caller]
    pub(crate) fn new(tasks: Vec<TaskRef>, retrieve: Retrieve) -> Watcher {
        Watcher::new_at(tasks, retrieve, std::panic::Location::caller())
    }

    /// [`new`](Watcher::new) for a combinator created at `at`.
    pub(crate) fn new_at(
        tasks: Vec<TaskRef>,
        retrieve: Retrieve,
        at: aio_observe::Site,
    ) -> Watcher {
        let watch = Rc::new(Watch {
            at: Some(at),
            ..Watch::default()
        });
        watch.remaining.set(tasks.len());
        let awaiter: std::rc::Weak<dyn crate::observe::Awaiter> = Rc::downgrade(&watch) as _;
        for (index, task) in tasks.iter().enumerate() {
            // Who awaits the child is whoever polls this combinator (the await graph).
            task.set_awaited_by(awaiter.clone());
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
}

impl Drop for Watcher {
    fn drop(&mut self) {
        // Not when `run_until_complete` stopped before its future (awaiting this gather)
        // finished: asyncio leaves the gather and its children pending.
        if self.armed && !aio_scheduler::dropping_unfinished_main() {
            // Dropped with the future of a task cancelled with a message (a gather being
            // awaited): asyncio's gather passes that message to every child.
            let message = crate::task::dropping_cancel_message();
            for task in &self.tasks {
                task.cancel(message.as_deref());
            }
        }
    }
}

impl crate::observe::Awaiter for Watch {
    fn for_each_waker(&self, f: &mut dyn FnMut(&Waker)) {
        let first = self.waker.take();
        if let Some(waker) = &first {
            f(waker);
        }
        self.waker.set(first);
        for waker in self.more_wakers.borrow().iter() {
            f(waker);
        }
    }
}
