//! `shutdown` behaves as asyncio 3.13's: with `immediate = false`, `put` fails at once with
//! `ShutDown`, `get` drains the remaining items and then fails with `ShutDown`, and blocked
//! getters and putters are woken with `ShutDown`; with `immediate = true`, the queue is
//! emptied (the removed items count as done, releasing `join`) and blocked getters get
//! `ShutDown`. Ports of CPython's `_QueueShutdownTestMixin`, for the three queue kinds.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

// aio-sync's test helpers: one copy serves both crates.
#[path = "../../aio-sync/tests/common/mod.rs"]
mod common;

use std::rc::Rc;

use aio_queue::{GenericQueue, LifoQueue, PriorityQueue, Queue, QueueError, Rejected, Store};
use aio_scheduler::sleep;
use aio_task::{Error, create_task, run};
use common::Hand;

type Item = &'static str;

/// Checks that `put`, `put_nowait`, `get` and `get_nowait` all fail with `ShutDown`.
async fn assert_shut_down<S: Store<Item>>(q: &GenericQueue<Item, S>) {
    assert!(q.is_shut_down());
    assert_eq!(q.put("data").await, Err(QueueError::ShutDown));
    assert_eq!(
        q.put_nowait("data"),
        Err(Rejected {
            error: QueueError::ShutDown,
            item: "data",
        })
    );
    assert_eq!(q.get().await, Err(QueueError::ShutDown));
    assert_eq!(q.get_nowait(), Err(QueueError::ShutDown));
}

/// Runs `test` for the three queue kinds.
fn for_each_kind(test: fn(Kind)) {
    test(Kind::Fifo);
    test(Kind::Lifo);
    test(Kind::Priority);
}

#[derive(Clone, Copy)]
enum Kind {
    Fifo,
    Lifo,
    Priority,
}

macro_rules! with_queue {
    ($kind:expr, $maxsize:expr, |$q:ident| $body:expr) => {
        match $kind {
            Kind::Fifo => {
                let $q = Rc::new(Queue::<Item>::new($maxsize));
                $body
            }
            Kind::Lifo => {
                let $q = Rc::new(LifoQueue::<Item>::new($maxsize));
                $body
            }
            Kind::Priority => {
                let $q = Rc::new(PriorityQueue::<Item>::new($maxsize));
                $body
            }
        }
    };
}

/// CPython `test_shutdown_empty`: a pending getter gets `ShutDown`; `join` returns (nothing
/// unfinished); everything fails afterwards.
#[test]
fn shutdown_empty() {
    for_each_kind(|kind| {
        run(async move {
            with_queue!(kind, 0, |q| {
                let qq = q.clone();
                let get_task = create_task(async move { qq.get().await })?;
                sleep(0).await?;
                q.shutdown(false);
                assert_eq!(q.qsize(), 0);
                q.join().await;
                sleep(0).await?;
                assert!(get_task.done());
                assert_eq!(get_task.await?, Err(QueueError::ShutDown));
                assert_shut_down(&*q).await;
            });
            Ok::<_, Error>(())
        })
        .unwrap()
        .unwrap();
    });
}

/// CPython `test_shutdown_nonempty`: a pending putter gets `ShutDown`; the queued item can
/// still be taken; `join` waits for its `task_done`.
#[test]
fn shutdown_nonempty() {
    for_each_kind(|kind| {
        run(async move {
            with_queue!(kind, 1, |q| {
                q.put_nowait("data").unwrap();
                let qq = q.clone();
                let join_task = create_task(async move { qq.join().await })?;
                let qq = q.clone();
                let put_task = create_task(async move { qq.put("data2").await })?;
                sleep(0).await?;
                assert!(!put_task.done());

                q.shutdown(false);
                assert_eq!(q.qsize(), 1);
                sleep(0).await?;
                assert!(put_task.done());
                assert_eq!(put_task.await?, Err(QueueError::ShutDown));

                assert_eq!(q.get().await, Ok("data"));
                sleep(0).await?;
                assert!(!join_task.done());
                assert_shut_down(&*q).await;

                q.task_done().unwrap();
                sleep(0).await?;
                assert!(join_task.done());
                join_task.await?;
                assert_eq!(q.task_done(), Err(QueueError::TaskDoneTooManyTimes));
            });
            Ok::<_, Error>(())
        })
        .unwrap()
        .unwrap();
    });
}

/// CPython `test_shutdown_immediate`: the queue is emptied and `join` released.
#[test]
fn shutdown_immediate() {
    for_each_kind(|kind| {
        run(async move {
            with_queue!(kind, 0, |q| {
                q.put_nowait("data").unwrap();
                let qq = q.clone();
                let join_task = create_task(async move { qq.join().await })?;
                q.shutdown(true);
                assert_eq!(q.qsize(), 0);
                sleep(0).await?;
                assert!(join_task.done());
                join_task.await?;
                assert_shut_down(&*q).await;
                assert_eq!(q.task_done(), Err(QueueError::TaskDoneTooManyTimes));
            });
            Ok::<_, Error>(())
        })
        .unwrap()
        .unwrap();
    });
}

/// CPython `test_shutdown_immediate_with_unfinished`: items already taken still need their
/// `task_done` before `join` returns.
#[test]
fn shutdown_immediate_with_unfinished() {
    for_each_kind(|kind| {
        run(async move {
            with_queue!(kind, 0, |q| {
                q.put_nowait("data").unwrap();
                q.put_nowait("data").unwrap();
                let qq = q.clone();
                let join_task = create_task(async move { qq.join().await })?;
                assert_eq!(q.get().await, Ok("data"));
                q.shutdown(true);
                assert_eq!(q.qsize(), 0);
                sleep(0).await?;
                assert!(!join_task.done());
                assert_shut_down(&*q).await;
                q.task_done().unwrap();
                assert_eq!(q.task_done(), Err(QueueError::TaskDoneTooManyTimes));
                sleep(0).await?;
                assert!(join_task.done());
                join_task.await?;
            });
            Ok::<_, Error>(())
        })
        .unwrap()
        .unwrap();
    });
}

/// Graceful shutdown: blocked getters are woken with `ShutDown` only once the queue is
/// empty; getters drain the remaining items first.
#[test]
fn graceful_shutdown_drains_then_fails_gets() {
    let q = Queue::<u8>::new(0);
    let mut getters: Vec<_> = (0..3).map(|_| Hand::pending(q.get())).collect();
    q.shutdown(false);
    assert!(getters.iter().all(Hand::woken));
    for getter in &mut getters {
        assert_eq!(getter.ready(), Err(QueueError::ShutDown));
    }

    let q = Queue::new(0);
    for n in 1..=3 {
        q.put_nowait(n).unwrap();
    }
    q.shutdown(false);
    assert_eq!(q.put_nowait(4).unwrap_err().item, 4);
    assert_eq!(Hand::start(q.get()).ok(), Some(Ok(1)));
    assert_eq!(q.get_nowait(), Ok(2));
    assert_eq!(Hand::start(q.get()).ok(), Some(Ok(3)));
    assert_eq!(Hand::start(q.get()).ok(), Some(Err(QueueError::ShutDown)));
    assert_eq!(q.get_nowait(), Err(QueueError::ShutDown));
}

/// Graceful shutdown wakes blocked putters with `ShutDown` (their items are dropped), even
/// those that had been woken already; the items queued before stay.
#[test]
fn graceful_shutdown_fails_blocked_putters() {
    let q = Queue::new(1);
    q.put_nowait(Rc::new(0)).unwrap();
    let items: Vec<_> = (1..=3).map(Rc::new).collect();
    let mut putters: Vec<_> = items
        .iter()
        .map(|i| Hand::pending(q.put(i.clone())))
        .collect();
    assert_eq!(*q.get_nowait().unwrap(), 0); // wakes putter 0
    assert!(putters[0].woken());
    q.shutdown(false);
    for putter in &mut putters {
        assert_eq!(putter.ready(), Err(QueueError::ShutDown));
    }
    assert!(
        items.iter().all(|i| Rc::strong_count(i) == 1),
        "items dropped"
    );
    assert!(q.empty());
    assert_eq!(q.get_nowait(), Err(QueueError::ShutDown));
}

/// Immediate shutdown: blocked getters get `ShutDown`, blocked putters too, the queue is
/// emptied (items dropped) and every joiner is released.
#[test]
fn immediate_shutdown_wakes_everyone() {
    let q = Queue::new(2);
    let item = Rc::new('i');
    q.put_nowait(item.clone()).unwrap();
    q.put_nowait(Rc::new('j')).unwrap();
    let mut putter = Hand::pending(q.put(Rc::new('k')));
    let mut joiners: Vec<_> = (0..2).map(|_| Hand::pending(q.join())).collect();
    q.shutdown(true);
    assert_eq!(q.qsize(), 0);
    assert_eq!(Rc::strong_count(&item), 1, "drained items are dropped");
    assert_eq!(putter.ready(), Err(QueueError::ShutDown));
    for joiner in &mut joiners {
        assert!(joiner.woken());
        joiner.ready();
    }
    assert_eq!(Hand::start(q.get()).ok(), Some(Err(QueueError::ShutDown)));

    let q = Queue::<u8>::new(0);
    let mut getters: Vec<_> = (0..2).map(|_| Hand::pending(q.get())).collect();
    q.shutdown(true);
    for getter in &mut getters {
        assert_eq!(getter.ready(), Err(QueueError::ShutDown));
    }
}

/// Getters woken by a graceful shutdown while items remain: they take the items, and only
/// the ones that find the queue empty fail.
#[test]
fn graceful_shutdown_with_blocked_getters_and_items_arriving_first() {
    let q = Queue::new(0);
    let mut a = Hand::pending(q.get());
    let mut b = Hand::pending(q.get());
    q.put_nowait(1).unwrap(); // wakes a
    q.shutdown(false); // wakes b
    assert_eq!(b.ready(), Ok(1), "b runs first and takes the item");
    assert_eq!(a.ready(), Err(QueueError::ShutDown));
    assert_eq!(QueueError::ShutDown.to_string(), "the queue is shut down");
}
