//! The `# Cancel safety` sections of aio-queue, checked: `get` and `join` futures dropped
//! after they started waiting (and, for `get`, after a `put` woke them) lose nothing; a `put`
//! future dropped while waiting drops its item — never half-put — and passes its wake-up on.
//! Futures are polled by hand (`common::Hand`), so each drop happens at an exact moment.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

// aio-sync's test helpers: one copy serves both crates.
#[path = "../../aio-sync/tests/common/mod.rs"]
mod common;

use std::rc::Rc;

use aio_queue::{Queue, QueueError};
use common::Hand;

#[test]
fn get_dropped_while_waiting_takes_nothing() {
    let queue = Queue::new(0);
    let dropped = Hand::pending(queue.get());
    dropped.cancel();
    queue.put_nowait(1).unwrap();
    assert_eq!(queue.qsize(), 1);
    assert_eq!(queue.get_nowait(), Ok(1));
}

#[test]
fn get_woken_then_dropped_passes_the_item_to_the_next_getter() {
    let queue = Queue::new(0);
    let first = Hand::pending(queue.get());
    let mut second = Hand::pending(queue.get());
    queue.put_nowait('a').unwrap(); // wakes `first` only
    assert!(first.woken());
    assert!(!second.woken());
    first.cancel();
    assert!(second.woken());
    assert_eq!(second.ready(), Ok('a'));
    assert!(queue.empty());
}

#[test]
fn get_woken_then_dropped_with_nobody_behind_leaves_the_item_queued() {
    let queue = Queue::new(0);
    let getter = Hand::pending(queue.get());
    queue.put_nowait(5).unwrap();
    assert!(getter.woken());
    getter.cancel();
    assert_eq!(queue.qsize(), 1);
    assert_eq!(Hand::start(queue.get()).ok(), Some(Ok(5)));
}

#[test]
fn put_dropped_while_waiting_drops_its_item_and_queues_nothing() {
    let queue = Queue::new(1);
    queue.put_nowait(Rc::new(0)).unwrap();
    let item = Rc::new(1);
    let putter = Hand::pending(queue.put(item.clone()));
    assert_eq!(Rc::strong_count(&item), 2); // held by the waiting future
    putter.cancel();
    assert_eq!(Rc::strong_count(&item), 1); // dropped with it: lost to the caller
    assert_eq!(queue.qsize(), 1);
    // Not counted as unfinished either: one task_done releases join.
    queue.get_nowait().unwrap();
    queue.task_done().unwrap();
    assert_eq!(queue.task_done(), Err(QueueError::TaskDoneTooManyTimes));
}

#[test]
fn put_woken_then_dropped_passes_the_room_to_the_next_putter() {
    let queue = Queue::new(1);
    queue.put_nowait('x').unwrap();
    let first = Hand::pending(queue.put('a'));
    let mut second = Hand::pending(queue.put('b'));
    assert_eq!(queue.get_nowait(), Ok('x')); // room for one: wakes `first`
    assert!(first.woken());
    assert!(!second.woken());
    first.cancel();
    assert!(second.woken());
    assert_eq!(second.ready(), Ok(()));
    assert_eq!(queue.get_nowait(), Ok('b'));
    assert!(queue.empty());
}

#[test]
fn put_completed_is_queued_even_if_the_caller_then_drops_everything() {
    let queue = Queue::new(1);
    let mut putter = Hand::new(queue.put(3));
    assert_eq!(putter.ready(), Ok(()));
    drop(putter);
    assert_eq!(queue.get_nowait(), Ok(3));
}

#[test]
fn join_dropped_while_waiting_changes_nothing() {
    let queue = Queue::new(0);
    queue.put_nowait(1).unwrap();
    let dropped = Hand::pending(queue.join());
    let mut kept = Hand::pending(queue.join());
    dropped.cancel();
    queue.get_nowait().unwrap();
    queue.task_done().unwrap();
    assert!(kept.woken());
    kept.ready();
    // Woken, then dropped before it ran: the count is unaffected.
    queue.put_nowait(2).unwrap();
    let woken = Hand::pending(queue.join());
    queue.get_nowait().unwrap();
    queue.task_done().unwrap();
    assert!(woken.woken());
    woken.cancel();
    assert_eq!(queue.task_done(), Err(QueueError::TaskDoneTooManyTimes));
    assert!(Hand::start(queue.join()).is_ok());
}
