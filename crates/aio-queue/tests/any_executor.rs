//! The queues need no aio loop: a producer / consumer pipeline over `Queue` (bounded, with
//! `join` and `shutdown`), and `LifoQueue` / `PriorityQueue`, run to completion under a
//! minimal single-threaded executor written here (a list of boxed futures and an `Arc`-based
//! waker that pushes the task's index onto a shared ready list), including a consumer
//! cancelled by dropping its task.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use aio_queue::{PriorityQueue, Queue, QueueError};

// ---- the executor -------------------------------------------------------------------------

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

struct MiniExecutor<'a> {
    tasks: Vec<Option<BoxedTask<'a>>>,
    ready: ReadyList,
}

impl<'a> MiniExecutor<'a> {
    fn new() -> Self {
        MiniExecutor {
            tasks: Vec::new(),
            ready: ReadyList::default(),
        }
    }

    fn spawn(&mut self, future: impl Future<Output = ()> + 'a) -> usize {
        self.tasks.push(Some(Box::pin(future)));
        self.ready.lock().unwrap().push_back(self.tasks.len() - 1);
        self.tasks.len() - 1
    }

    /// Cancels a task: drops its future.
    fn cancel(&mut self, index: usize) {
        self.tasks[index] = None;
    }

    /// Runs ready tasks until none is ready, at most `max_polls` polls. Returns the polls.
    fn run_for(&mut self, max_polls: usize) -> usize {
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
    fn run(&mut self) {
        self.run_for(1_000_000);
        let left = self.tasks.iter().filter(|t| t.is_some()).count();
        assert_eq!(left, 0, "deadlock: {left} tasks pending and none ready");
    }
}

/// Yields to the executor once.
struct YieldNow(bool);

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

fn yield_now() -> YieldNow {
    YieldNow(false)
}

// ---- the tests ----------------------------------------------------------------------------

#[test]
fn producer_consumer_over_a_bounded_queue() {
    const PRODUCERS: u32 = 3;
    const PER_PRODUCER: u32 = 50;
    let q = Queue::new(4);
    let got = RefCell::new(Vec::new());
    let done = RefCell::new(false);
    let mut ex = MiniExecutor::new();
    for p in 0..PRODUCERS {
        let q = &q;
        ex.spawn(async move {
            for i in 0..PER_PRODUCER {
                q.put(p * 1000 + i).await.unwrap();
                if i % 5 == 0 {
                    yield_now().await;
                }
            }
        });
    }
    for _ in 0..2 {
        let (q, got) = (&q, &got);
        ex.spawn(async move {
            loop {
                match q.get().await {
                    Ok(item) => {
                        got.borrow_mut().push(item);
                        yield_now().await;
                        q.task_done().unwrap();
                    }
                    Err(QueueError::ShutDown) => return,
                    Err(e) => panic!("{e}"),
                }
            }
        });
    }
    let (q, done_ref) = (&q, &done);
    ex.spawn(async move {
        yield_now().await; // let the producers start
        q.join().await;
        // Joined: either every item is processed, or producers have more to put.
        *done_ref.borrow_mut() = true;
    });
    ex.run_for(1_000_000);
    assert!(*done.borrow());
    // Every producer finished (the queue holds at most 4, consumers drained it).
    q.shutdown(false);
    ex.run();
    let mut got = got.borrow().clone();
    assert_eq!(got.len(), (PRODUCERS * PER_PRODUCER) as usize);
    // Per producer, items arrive in order (FIFO).
    for p in 0..PRODUCERS {
        let mine: Vec<u32> = got.iter().copied().filter(|i| i / 1000 == p).collect();
        assert_eq!(
            mine,
            (0..PER_PRODUCER).map(|i| p * 1000 + i).collect::<Vec<_>>()
        );
    }
    got.sort();
    got.dedup();
    assert_eq!(
        got.len(),
        (PRODUCERS * PER_PRODUCER) as usize,
        "no duplicates"
    );
    assert!(q.empty());
}

#[test]
fn consumer_cancelled_by_dropping_its_task_loses_nothing() {
    let q = Queue::new(0);
    let got = RefCell::new(Vec::new());
    let mut ex = MiniExecutor::new();
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let (q, got) = (&q, &got);
            ex.spawn(async move {
                while let Ok(item) = q.get().await {
                    got.borrow_mut().push(item);
                }
            })
        })
        .collect();
    ex.run_for(100); // all three wait
    q.put_nowait(1).unwrap(); // wakes consumer 0
    ex.cancel(consumers[0]); // dropped before it runs: the wake-up passes on
    q.put_nowait(2).unwrap();
    ex.run_for(100);
    assert_eq!(*got.borrow(), [1, 2]);
    ex.cancel(consumers[1]);
    q.put_nowait(3).unwrap();
    q.shutdown(false);
    ex.run();
    assert_eq!(*got.borrow(), [1, 2, 3]);
}

#[test]
fn priority_queue_under_the_mini_executor() {
    let q = PriorityQueue::new(2);
    let got = RefCell::new(Vec::new());
    let mut ex = MiniExecutor::new();
    let (qr, gr) = (&q, &got);
    ex.spawn(async move {
        for item in [5, 1, 4, 2, 3] {
            qr.put(item).await.unwrap();
        }
        qr.shutdown(false);
    });
    ex.spawn(async move {
        yield_now().await;
        yield_now().await;
        while let Ok(item) = qr.get().await {
            gr.borrow_mut().push(item);
        }
    });
    ex.run();
    // The producer fills the queue (5, 1) and waits with 4; the consumer takes the smaller (1),
    // then 5 (the only one left); the producer refills (4, 2) and waits with 3; the consumer
    // takes 2, then 4; then 3, then sees the shutdown.
    assert_eq!(*got.borrow(), [1, 5, 2, 4, 3]);
}
