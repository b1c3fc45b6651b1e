//! The basic queue API behaves as asyncio's: FIFO / LIFO / priority order; `put` / `get` /
//! `put_nowait` / `get_nowait` (`Full` hands the item back in `Rejected`, `Empty`);
//! `qsize` / `empty` / `full` / `maxsize`, with `maxsize` 0 unbounded; a bounded `put`
//! waits for room (ports of CPython's `QueueBasicTests`, `QueueGetTests`, `QueuePutTests`,
//! `LifoQueueTests`, `PriorityQueueTests`).

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

// aio-sync's test helpers: one copy serves both crates.
#[path = "../../aio-sync/tests/common/mod.rs"]
mod common;

use std::cell::RefCell;
use std::rc::Rc;

use aio_queue::{GenericQueue, LifoQueue, PriorityQueue, Queue, QueueError, Rejected, Store};
use aio_scheduler::sleep;
use aio_task::{Error, create_task, run};
use common::Hand;

#[test]
fn empty_and_full() {
    run(async {
        let q = Queue::new(0);
        assert!(q.empty());
        q.put(1).await.unwrap();
        assert!(!q.empty());
        assert_eq!(q.get().await, Ok(1));
        assert!(q.empty());

        assert!(!q.full(), "maxsize 0 is never full");
        let q = Queue::new(1);
        q.put(1).await.unwrap();
        assert!(q.full());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

fn order_of<S: Store<i32>>(q: GenericQueue<i32, S>) -> Vec<i32> {
    for item in [1, 3, 2, 5, 4] {
        q.put_nowait(item).unwrap();
    }
    std::iter::from_fn(|| q.get_nowait().ok()).collect()
}

/// CPython `test_order` for the three kinds.
#[test]
fn fifo_lifo_and_priority_order() {
    assert_eq!(order_of(Queue::new(0)), [1, 3, 2, 5, 4]);
    assert_eq!(order_of(LifoQueue::new(0)), [4, 5, 2, 3, 1]);
    assert_eq!(order_of(PriorityQueue::new(0)), [1, 2, 3, 4, 5]);
}

/// Priority queues order tuples like asyncio's `heapq` (smallest first, ties by the next
/// field), interleaving puts and gets.
#[test]
fn priority_queue_with_tuples_and_interleaving() {
    run(async {
        let q = PriorityQueue::new(0);
        q.put((2, "b")).await.unwrap();
        q.put((1, "z")).await.unwrap();
        q.put((2, "a")).await.unwrap();
        assert_eq!(q.get().await, Ok((1, "z")));
        q.put((0, "first")).await.unwrap();
        assert_eq!(q.get().await, Ok((0, "first")));
        assert_eq!(q.get().await, Ok((2, "a")));
        assert_eq!(q.get().await, Ok((2, "b")));
        assert!(q.empty());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_maxsize`: the putter blocks after two items and resumes when one is taken.
#[test]
fn bounded_put_waits_for_room() {
    run(async {
        let q = Rc::new(Queue::new(2));
        assert_eq!(q.maxsize(), 2);
        let have_been_put = Rc::new(RefCell::new(Vec::new()));
        let (qq, h) = (q.clone(), have_been_put.clone());
        let t = create_task(async move {
            for i in 0..3 {
                qq.put(i).await.unwrap();
                h.borrow_mut().push(i);
            }
            true
        })?;
        sleep(0).await?;
        sleep(0).await?;
        assert_eq!(*have_been_put.borrow(), [0, 1]);
        assert!(q.full());
        assert_eq!(q.get().await, Ok(0));
        sleep(0).await?;
        assert_eq!(*have_been_put.borrow(), [0, 1, 2]);
        assert_eq!(q.get().await, Ok(1));
        assert_eq!(q.get().await, Ok(2));
        assert!(t.done());
        assert!(t.await?);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_nonblocking_get` / `_exception` / `test_nonblocking_put` / `_exception`:
/// `Full` hands the item back, `Empty` when there is nothing.
#[test]
fn nowait_variants() {
    let q = Queue::new(1);
    assert_eq!(q.get_nowait(), Err(QueueError::Empty));
    q.put_nowait(String::from("a")).unwrap();
    let rejected = q.put_nowait(String::from("b")).unwrap_err();
    assert_eq!(
        rejected,
        Rejected {
            error: QueueError::Full,
            item: String::from("b"),
        }
    );
    assert_eq!(rejected.to_string(), "the queue is full");
    assert_eq!(q.qsize(), 1);
    assert_eq!(q.get_nowait().as_deref(), Ok("a"));
    assert_eq!(q.get_nowait(), Err(QueueError::Empty));
    assert_eq!(QueueError::Empty.to_string(), "the queue is empty");
}

#[test]
fn qsize_empty_full_maxsize() {
    let q = Queue::new(3);
    assert_eq!(
        (q.qsize(), q.empty(), q.full(), q.maxsize()),
        (0, true, false, 3)
    );
    for n in 1..=3 {
        q.put_nowait(n).unwrap();
        assert_eq!(q.qsize(), n);
        assert!(!q.empty());
    }
    assert!(q.full());
    q.get_nowait().unwrap();
    assert!(!q.full());
    assert_eq!(q.qsize(), 2);
}

/// maxsize 0: unbounded, `put` never waits.
#[test]
fn maxsize_zero_is_unbounded() {
    let q = Queue::new(0);
    for n in 0..10_000 {
        assert!(Hand::start(q.put(n)).is_ok(), "put never waits");
    }
    assert_eq!(q.qsize(), 10_000);
    assert!(!q.full());
    assert_eq!(q.put_nowait(-1), Ok(()));
}

/// CPython `test_blocking_get` / `test_put_with_waiting_getters` /
/// `test_get_with_waiting_putters`.
#[test]
fn get_waits_for_put_and_put_waits_for_get() {
    run(async {
        let q = Rc::new(Queue::new(1));
        q.put_nowait(1).unwrap();
        assert_eq!(q.get().await, Ok(1));

        let qq = q.clone();
        let getter = create_task(async move { qq.get().await })?;
        sleep(0).await?;
        assert!(!getter.done());
        q.put('a' as i32).await.unwrap();
        assert_eq!(getter.await?, Ok('a' as i32));

        let (q1, q2) = (q.clone(), q.clone());
        create_task(async move { q1.put(10).await.unwrap() })?;
        create_task(async move { q2.put(20).await.unwrap() })?;
        assert_eq!(q.get().await, Ok(10));
        assert_eq!(q.get().await, Ok(20));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Getters waiting on an empty queue are served in arrival order, one item each.
#[test]
fn waiting_getters_are_served_fifo() {
    run(async {
        let q = Rc::new(Queue::new(0));
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..5)
            .map(|id| {
                let (q, log) = (q.clone(), log.clone());
                create_task(async move {
                    let item = q.get().await.unwrap();
                    log.borrow_mut().push((id, item));
                })
            })
            .collect::<Result<_, _>>()?;
        sleep(0).await?;
        for item in 100..105 {
            q.put_nowait(item).unwrap();
        }
        for task in tasks {
            task.await?;
        }
        assert_eq!(
            *log.borrow(),
            [(0, 100), (1, 101), (2, 102), (3, 103), (4, 104)]
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Putters waiting on a full queue are served in arrival order: items land in that order.
#[test]
fn waiting_putters_are_served_fifo() {
    run(async {
        let q = Rc::new(Queue::new(1));
        q.put_nowait(0).unwrap();
        let tasks: Vec<_> = (1..=5)
            .map(|item| {
                let q = q.clone();
                create_task(async move { q.put(item).await.unwrap() })
            })
            .collect::<Result<_, _>>()?;
        sleep(0).await?;
        let mut got = Vec::new();
        for _ in 0..6 {
            got.push(q.get().await.unwrap());
        }
        for task in tasks {
            task.await?;
        }
        assert_eq!(got, [0, 1, 2, 3, 4, 5]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Hand-polled: each put wakes exactly the first waiting getter; each get wakes exactly the
/// first waiting putter.
#[test]
fn each_put_or_get_wakes_exactly_one_waiter_in_order() {
    let q = Queue::new(1);
    let mut getters: Vec<_> = (0..3).map(|_| Hand::pending(q.get())).collect();
    q.put_nowait(1).unwrap();
    let woken: Vec<_> = getters.iter().map(Hand::wakes).collect();
    assert_eq!(woken, [1, 0, 0]);
    assert_eq!(getters[0].ready(), Ok(1));
    q.put_nowait(2).unwrap();
    assert_eq!(getters[1].wakes(), 1);
    assert_eq!(getters[2].wakes(), 0);
    let mut putters: Vec<_> = (10..13).map(|n| Hand::pending(q.put(n))).collect();
    assert_eq!(getters[1].ready(), Ok(2)); // takes the item, wakes the first putter
    let woken: Vec<_> = putters.iter().map(Hand::wakes).collect();
    assert_eq!(woken, [1, 0, 0]);
    assert_eq!(putters[0].ready(), Ok(())); // 10 goes in, wakes getter 2
    assert_eq!(getters[2].wakes(), 1);
    assert_eq!(getters[2].ready(), Ok(10)); // wakes putter 1
    assert_eq!(putters[1].ready(), Ok(()));
    putters[2].still_pending();
    assert_eq!(q.get_nowait(), Ok(11));
    assert_eq!(putters[2].ready(), Ok(()));
    assert_eq!(q.get_nowait(), Ok(12));
}

#[test]
fn debug_shows_the_state() {
    let q = Queue::new(2);
    q.put_nowait(1).unwrap();
    let _getter_free = Hand::start(q.get());
    let debug = format!("{q:?}");
    assert!(debug.contains("maxsize: 2"), "{debug}");
    assert!(debug.contains("unfinished: 1"), "{debug}");
}
