//! The queues need no aio loop: a producer / consumer pipeline over `Queue` (bounded, with
//! `join` and `shutdown`), and `LifoQueue` / `PriorityQueue`, run to completion under a
//! minimal single-threaded executor (aio-sync's `tests/common/mini_executor.rs`: a list of
//! boxed futures and an `Arc`-based waker that pushes the task's index onto a shared ready
//! list), including a consumer cancelled by dropping its task.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;

use aio_queue::{PriorityQueue, Queue, QueueError};

// aio-sync's test helpers: one copy serves both crates.
#[path = "../../aio-sync/tests/common/mod.rs"]
mod common;
use common::mini_executor::{MiniExecutor, yield_now};

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
