//! `task_done` / `join` behave as asyncio's: `task_done` more times than items were put is
//! `TaskDoneTooManyTimes`; `join` waits until every item put has been `task_done`'d, returns
//! at once when none is unfinished, releases every joiner, and a cancelled joiner is harmless
//! (ports of CPython's `_QueueJoinTestMixin`, for the three queue kinds).

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

// aio-sync's test helpers: one copy serves both crates.
#[path = "../../aio-sync/tests/common/mod.rs"]
mod common;

use std::cell::Cell;
use std::rc::Rc;

use aio_queue::{GenericQueue, LifoQueue, PriorityQueue, Queue, QueueError, Store};
use aio_scheduler::sleep;
use aio_task::{Error, create_task, run};
use common::Hand;

/// CPython `test_task_done_underflow`.
#[test]
fn task_done_underflow() {
    fn check<S: Store<u8>>(q: GenericQueue<u8, S>) {
        assert_eq!(q.task_done(), Err(QueueError::TaskDoneTooManyTimes));
        q.put_nowait(1).unwrap();
        q.get_nowait().unwrap();
        assert_eq!(q.task_done(), Ok(()));
        assert_eq!(q.task_done(), Err(QueueError::TaskDoneTooManyTimes));
    }
    check(Queue::new(0));
    check(LifoQueue::new(0));
    check(PriorityQueue::new(0));
    assert_eq!(
        QueueError::TaskDoneTooManyTimes.to_string(),
        "task_done() called too many times"
    );
}

/// CPython `test_task_done`: two workers; `join` returns once all 100 items are processed.
#[test]
fn join_waits_for_every_item_to_be_processed() {
    fn check<S: Store<u32> + 'static>(q: GenericQueue<u32, S>) {
        run(async {
            let q = Rc::new(q);
            for i in 0..100 {
                q.put_nowait(i).unwrap();
            }
            let accumulator = Rc::new(Cell::new(0));
            let running = Rc::new(Cell::new(true));
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let (q, acc, running) = (q.clone(), accumulator.clone(), running.clone());
                    create_task(async move {
                        while running.get() {
                            let item = q.get().await.unwrap();
                            acc.set(acc.get() + item);
                            sleep(0).await.unwrap();
                            q.task_done().unwrap();
                        }
                    })
                })
                .collect::<Result<_, _>>()?;
            q.join().await;
            assert_eq!(accumulator.get(), (0..100).sum::<u32>());
            running.set(false);
            for _ in &workers {
                q.put_nowait(0).unwrap();
            }
            for worker in workers {
                worker.await?;
            }
            Ok::<_, Error>(())
        })
        .unwrap()
        .unwrap();
    }
    check(Queue::new(0));
    check(LifoQueue::new(0));
    check(PriorityQueue::new(0));
}

/// CPython `test_join_empty_queue`.
#[test]
fn join_on_an_empty_queue_returns_at_once() {
    let q = Queue::<u8>::new(0);
    assert!(Hand::start(q.join()).is_ok());
    assert!(Hand::start(q.join()).is_ok());
    // Items taken and done: nothing unfinished.
    q.put_nowait(1).unwrap();
    q.get_nowait().unwrap();
    q.task_done().unwrap();
    assert!(Hand::start(q.join()).is_ok());
}

/// Hand-polled: a `get` alone does not finish an item; only the last `task_done` releases
/// every joiner, and a cancelled joiner is harmless.
#[test]
fn join_is_released_by_the_last_task_done_only() {
    let q = Queue::new(0);
    q.put_nowait('a').unwrap();
    q.put_nowait('b').unwrap();
    let mut j1 = Hand::pending(q.join());
    let mut j2 = Hand::pending(q.join());
    let j3 = Hand::pending(q.join());
    q.get_nowait().unwrap();
    q.get_nowait().unwrap();
    assert!(!j1.woken(), "items taken but not done");
    q.task_done().unwrap();
    assert!(!j1.woken());
    j1.still_pending();
    j3.cancel();
    q.task_done().unwrap();
    assert!(j1.woken() && j2.woken());
    j1.ready();
    j2.ready();
    assert!(Hand::start(q.join()).is_ok());
}

/// asyncio's `join` waits on an `Event` (`_finished`): a joiner woken by the last
/// `task_done` returns even if a new item is put before it runs (the event was cleared, the
/// waiter was already woken). Checked with CPython 3.11 and 3.13: `join()` is done.
#[test]
fn joiner_woken_by_task_done_returns_even_if_an_item_is_put_before_it_runs() {
    run(async {
        let q = Rc::new(Queue::new(0));
        q.put_nowait(1).unwrap();
        let qq = q.clone();
        let join = create_task(async move { qq.join().await })?;
        sleep(0).await?;
        q.get_nowait().unwrap();
        q.task_done().unwrap(); // unfinished 0: the joiner is woken
        q.put_nowait(2).unwrap(); // unfinished 1 again, before the joiner runs
        sleep(0).await?;
        let done = join.done();
        q.get_nowait().unwrap();
        q.task_done().unwrap(); // let the test end either way
        join.await?;
        assert!(
            done,
            "join() did not return after the task_done that woke it"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
