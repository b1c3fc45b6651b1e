//! The public `waiters` module, the FIFO waiter list under every primitive and queue: keys
//! identify one waiter and never match a later waiter reusing the slot; `wake_first` wakes
//! the first not-yet-woken waiter and keeps it queued; `wake_front` wakes only the front
//! waiter, once; `wake_all` tags; `pop_first` / `pop_all` dequeue and wake in order;
//! `remove` reports whether the waiter had been woken; `poll` refreshes the stored waker.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::sync::Arc;
use std::task::{Context, Waker};

use aio_sync::waiters::{Status, Waiters};
use common::WakeCounter;

fn counting() -> (Arc<WakeCounter>, Waker) {
    let counter = Arc::new(WakeCounter::default());
    (counter.clone(), Waker::from(counter))
}

fn wakes(counter: &Arc<WakeCounter>) -> usize {
    counter.count()
}

#[test]
fn empty_list() {
    let mut waiters = Waiters::default();
    assert!(waiters.is_empty());
    assert_eq!(waiters.len(), 0);
    assert!(!waiters.any_waiting());
    assert!(!waiters.wake_first());
    assert!(!waiters.wake_front());
    assert!(!waiters.pop_first());
    waiters.pop_all();
    waiters.wake_all(1);
    assert!(format!("{waiters:?}").contains("len: 0"));
}

#[test]
fn wake_first_marks_in_order_and_keeps_them_queued() {
    let (ca, wa) = counting();
    let (cb, wb) = counting();
    let (cc, wc) = counting();
    let mut waiters = Waiters::default();
    let a = waiters.push(&Context::from_waker(&wa));
    let b = waiters.push(&Context::from_waker(&wb));
    let c = waiters.push(&Context::from_waker(&wc));
    assert_eq!(waiters.len(), 3);
    assert!(waiters.wake_first());
    assert_eq!((wakes(&ca), wakes(&cb), wakes(&cc)), (1, 0, 0));
    assert!(waiters.wake_first()); // skips the woken one
    assert_eq!((wakes(&ca), wakes(&cb), wakes(&cc)), (1, 1, 0));
    assert_eq!(waiters.len(), 3, "still queued");
    assert!(waiters.any_waiting());
    assert_eq!(waiters.poll(a, &Context::from_waker(&wa)), Status::Woken);
    assert_eq!(waiters.poll(b, &Context::from_waker(&wb)), Status::Woken);
    assert_eq!(waiters.poll(c, &Context::from_waker(&wc)), Status::Waiting);
    assert!(waiters.wake_first());
    assert!(!waiters.any_waiting());
    assert!(!waiters.wake_first(), "everyone is woken");
    assert_eq!(waiters.remove(b), Some(true));
    assert_eq!(waiters.remove(b), None, "already removed");
    assert_eq!(waiters.poll(b, &Context::from_waker(&wb)), Status::Gone);
    assert_eq!(waiters.len(), 2);
}

#[test]
fn wake_front_wakes_only_the_front_once() {
    let (ca, wa) = counting();
    let (cb, wb) = counting();
    let mut waiters = Waiters::default();
    let a = waiters.push(&Context::from_waker(&wa));
    let b = waiters.push(&Context::from_waker(&wb));
    assert!(waiters.wake_front());
    assert!(!waiters.wake_front(), "the front is already woken");
    assert_eq!((wakes(&ca), wakes(&cb)), (1, 0));
    assert_eq!(waiters.remove(a), Some(true));
    assert!(waiters.wake_front());
    assert_eq!(wakes(&cb), 1);
    assert_eq!(waiters.remove(b), Some(true));
    assert!(!waiters.wake_front());
}

#[test]
fn remove_reports_whether_woken_and_keeps_order() {
    let (_, w) = counting();
    let cx = Context::from_waker(&w);
    let mut waiters = Waiters::default();
    let keys: Vec<_> = (0..4).map(|_| waiters.push(&cx)).collect();
    assert_eq!(waiters.remove(keys[1]), Some(false));
    assert!(waiters.wake_first());
    assert_eq!(waiters.poll(keys[0], &cx), Status::Woken);
    assert!(waiters.wake_first());
    assert_eq!(
        waiters.poll(keys[2], &cx),
        Status::Woken,
        "keys[1] was skipped"
    );
    assert_eq!(waiters.poll(keys[3], &cx), Status::Waiting);
    assert_eq!(waiters.remove(keys[0]), Some(true));
    assert_eq!(waiters.remove(keys[3]), Some(false));
    assert_eq!(waiters.len(), 1);
}

#[test]
fn pop_first_and_pop_all_dequeue_in_order_and_wake() {
    let counters: Vec<_> = (0..4).map(|_| counting()).collect();
    let mut waiters = Waiters::default();
    let keys: Vec<_> = counters
        .iter()
        .map(|(_, w)| waiters.push(&Context::from_waker(w)))
        .collect();
    assert!(waiters.pop_first());
    assert_eq!(wakes(&counters[0].0), 1);
    assert_eq!(wakes(&counters[1].0), 0);
    let cx0 = Context::from_waker(&counters[0].1);
    assert_eq!(waiters.poll(keys[0], &cx0), Status::Gone);
    assert_eq!(waiters.remove(keys[0]), None, "popped: no longer queued");
    assert_eq!(waiters.len(), 3);
    waiters.pop_all();
    assert!(waiters.is_empty());
    for (counter, _) in &counters {
        assert_eq!(wakes(counter), 1);
    }
}

#[test]
fn wake_all_tags_only_the_not_yet_woken() {
    let (_, w) = counting();
    let cx = Context::from_waker(&w);
    let mut waiters = Waiters::default();
    let a = waiters.push(&cx);
    let b = waiters.push(&cx);
    assert!(waiters.wake_first()); // a woken untagged (0)
    waiters.wake_all(7);
    assert_eq!(waiters.tag(a), 0);
    assert_eq!(waiters.tag(b), 7);
    assert_eq!(waiters.poll(b, &cx), Status::Woken);
    let c = waiters.push(&cx);
    waiters.wake_all(9);
    assert_eq!(waiters.tag(b), 7, "woken waiters keep their tag");
    assert_eq!(waiters.tag(c), 9);
    assert_eq!(waiters.len(), 3, "wake_all keeps them queued");
    waiters.remove(a);
    assert_eq!(waiters.tag(a), 0, "a removed key has no tag");
}

#[test]
fn stale_keys_never_match_a_reused_slot() {
    let (_, w) = counting();
    let cx = Context::from_waker(&w);
    let mut waiters = Waiters::default();
    let old = waiters.push(&cx);
    assert_eq!(waiters.remove(old), Some(false));
    let new = waiters.push(&cx); // reuses the slot
    assert_ne!(old, new);
    assert_eq!(waiters.poll(old, &cx), Status::Gone);
    assert_eq!(waiters.remove(old), None);
    assert_eq!(
        waiters.poll(new, &cx),
        Status::Waiting,
        "the new waiter is untouched"
    );
    assert!(waiters.pop_first());
    let newer = waiters.push(&cx);
    assert_eq!(waiters.poll(new, &cx), Status::Gone);
    assert_eq!(waiters.poll(newer, &cx), Status::Waiting);
}

#[test]
fn poll_replaces_the_waker() {
    let (c1, w1) = counting();
    let (c2, w2) = counting();
    let mut waiters = Waiters::default();
    let key = waiters.push(&Context::from_waker(&w1));
    assert_eq!(
        waiters.poll(key, &Context::from_waker(&w2)),
        Status::Waiting
    );
    assert!(waiters.wake_first());
    assert_eq!(
        (wakes(&c1), wakes(&c2)),
        (0, 1),
        "the latest waker is woken"
    );
}

#[test]
fn many_waiters_in_fifo_order() {
    let counters: Vec<_> = (0..100).map(|_| counting()).collect();
    let mut waiters = Waiters::default();
    let keys: Vec<_> = counters
        .iter()
        .map(|(_, w)| waiters.push(&Context::from_waker(w)))
        .collect();
    // Remove every third, then pop the rest: wake order is arrival order.
    for key in keys.iter().step_by(3) {
        waiters.remove(*key);
    }
    for (i, (counter, _)) in counters.iter().enumerate() {
        if i % 3 == 0 {
            continue;
        }
        assert!(waiters.pop_first());
        assert_eq!(wakes(counter), 1, "waiter {i} woken in its turn");
        if let Some((next, _)) = counters.get(i + 1) {
            assert_eq!(wakes(next), 0);
        }
    }
    assert!(waiters.is_empty());
}
