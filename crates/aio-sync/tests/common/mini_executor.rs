//! A minimal single-threaded executor for the tests that run the primitives without an aio
//! loop (aio-sync's and aio-queue's `any_executor.rs`).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

type ReadyList = Arc<Mutex<VecDeque<usize>>>;

struct TaskWaker {
    index: usize,
    ready: ReadyList,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.lock().unwrap().push_back(self.index);
    }
}

type BoxedTask<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// A minimal single-threaded executor: a list of boxed futures, and an `Arc`-based waker that
/// pushes the task's index onto a shared ready list.
pub struct MiniExecutor<'a> {
    tasks: Vec<Option<BoxedTask<'a>>>,
    ready: ReadyList,
}

impl<'a> MiniExecutor<'a> {
    pub fn new() -> Self {
        MiniExecutor {
            tasks: Vec::new(),
            ready: ReadyList::default(),
        }
    }

    /// Adds a task, ready to run; returns its index.
    pub fn spawn(&mut self, future: impl Future<Output = ()> + 'a) -> usize {
        self.tasks.push(Some(Box::pin(future)));
        self.ready.lock().unwrap().push_back(self.tasks.len() - 1);
        self.tasks.len() - 1
    }

    /// Cancels a task: drops its future.
    pub fn cancel(&mut self, index: usize) {
        self.tasks[index] = None;
    }

    /// Runs ready tasks until none is ready, at most `max_polls` polls. Returns the polls.
    pub fn run_for(&mut self, max_polls: usize) -> usize {
        let mut polls = 0;
        while polls < max_polls {
            let Some(index) = self.ready.lock().unwrap().pop_front() else {
                break;
            };
            let Some(task) = self.tasks[index].as_mut() else {
                continue; // finished or cancelled
            };
            let waker = Waker::from(Arc::new(TaskWaker {
                index,
                ready: self.ready.clone(),
            }));
            polls += 1;
            if task
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready()
            {
                self.tasks[index] = None;
            }
        }
        polls
    }

    /// Runs until every task finished; fails if some are left with nothing to wake them.
    pub fn run(&mut self) {
        self.run_for(1_000_000);
        let left = self.tasks.iter().filter(|t| t.is_some()).count();
        assert_eq!(left, 0, "deadlock: {left} tasks pending and none ready");
    }
}

/// Yields to the executor once.
pub struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Yields to the executor once.
pub fn yield_now() -> YieldNow {
    YieldNow(false)
}
