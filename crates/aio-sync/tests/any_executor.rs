//! The primitives need no aio loop: they run to completion under a minimal single-threaded
//! executor (`common/mini_executor.rs`: a list of boxed futures and an `Arc`-based waker
//! that pushes the task's index onto a shared ready list). Tasks contend a `Lock` and a
//! `Semaphore` (with cancellation by dropping a task's future), and use `Event`,
//! `Condition` and `Barrier`.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::{Cell, RefCell};

use aio_sync::{Barrier, Condition, Event, Lock, Semaphore};

mod common;
use common::mini_executor::{MiniExecutor, yield_now};

// ---- the tests ----------------------------------------------------------------------------

#[test]
fn lock_contention_is_exclusive_and_fifo() {
    const TASKS: usize = 6;
    const ROUNDS: usize = 10;
    let lock = Lock::new();
    let counter = Cell::new(0usize);
    let order = RefCell::new(Vec::new());
    let mut ex = MiniExecutor::new();
    for id in 0..TASKS {
        let (lock, counter, order) = (&lock, &counter, &order);
        ex.spawn(async move {
            for _ in 0..ROUNDS {
                let _guard = lock.acquire().await;
                // A read-modify-write across a yield: only exclusive access keeps it right.
                let seen = counter.get();
                yield_now().await;
                counter.set(seen + 1);
                order.borrow_mut().push(id);
            }
        });
    }
    ex.run();
    assert_eq!(counter.get(), TASKS * ROUNDS);
    let expected: Vec<usize> = (0..ROUNDS).flat_map(|_| 0..TASKS).collect();
    assert_eq!(*order.borrow(), expected, "FIFO hand-over, round robin");
    assert!(!lock.locked());
}

#[test]
fn lock_waiter_cancelled_by_dropping_its_task() {
    let lock = Lock::new();
    let log = RefCell::new(Vec::new());
    let release = Event::new();
    let mut ex = MiniExecutor::new();
    let (l, g, r) = (&lock, &log, &release);
    ex.spawn(async move {
        let _guard = l.acquire().await;
        g.borrow_mut().push(0);
        r.wait().await;
    });
    let ids: Vec<_> = (1..=3)
        .map(|id| {
            ex.spawn(async move {
                let _guard = l.acquire().await;
                g.borrow_mut().push(id);
            })
        })
        .collect();
    ex.run_for(100);
    assert_eq!(*log.borrow(), [0]);
    release.set();
    ex.cancel(ids[0]); // the front waiter, woken next: its turn passes on
    ex.run();
    assert_eq!(*log.borrow(), [0, 2, 3]);
    assert!(!lock.locked());
}

#[test]
fn semaphore_bounds_concurrency_and_returns_every_permit() {
    const PERMITS: usize = 3;
    let sem = Semaphore::new(PERMITS);
    let inside = Cell::new(0usize);
    let max_inside = Cell::new(0usize);
    let done = Cell::new(0usize);
    let mut ex = MiniExecutor::new();
    let mut ids = Vec::new();
    for i in 0..12 {
        let (sem, inside, max_inside, done) = (&sem, &inside, &max_inside, &done);
        ids.push(ex.spawn(async move {
            let _permit = sem.acquire().await;
            inside.set(inside.get() + 1);
            max_inside.set(max_inside.get().max(inside.get()));
            for _ in 0..=(i % 3) {
                yield_now().await;
            }
            inside.set(inside.get() - 1);
            done.set(done.get() + 1);
        }));
    }
    ex.run_for(10);
    // Cancel two tasks somewhere in the middle (waiting or woken): permits must survive.
    ex.cancel(ids[7]);
    ex.cancel(ids[4]);
    ex.run();
    assert_eq!(done.get(), 10);
    assert_eq!(inside.get(), 0);
    assert_eq!(max_inside.get(), PERMITS);
    assert_eq!(sem.value(), PERMITS);
    assert!(!sem.locked());
}

#[test]
fn event_condition_and_barrier_under_the_mini_executor() {
    let event = Event::new();
    let cond = Condition::new();
    let barrier = Barrier::new(4);
    let ready = Cell::new(0);
    let indices = RefCell::new(Vec::new());
    let mut ex = MiniExecutor::new();
    for _ in 0..3 {
        let (event, cond, barrier, ready, indices) = (&event, &cond, &barrier, &ready, &indices);
        ex.spawn(async move {
            event.wait().await;
            let guard = cond.acquire().await;
            let (guard, _) = cond.wait_for(guard, || ready.get() > 0).await.unwrap();
            drop(guard);
            for _ in 0..3 {
                let index = barrier.wait().await.unwrap();
                indices.borrow_mut().push(index);
            }
        });
    }
    let (event, cond, barrier, ready, indices) = (&event, &cond, &barrier, &ready, &indices);
    ex.spawn(async move {
        yield_now().await;
        event.set();
        yield_now().await;
        let guard = cond.acquire().await;
        ready.set(1);
        cond.notify_all(&guard).unwrap();
        drop(guard);
        for _ in 0..3 {
            let index = barrier.wait().await.unwrap();
            indices.borrow_mut().push(index);
        }
    });
    ex.run();
    let mut all = indices.borrow().clone();
    all.sort();
    assert_eq!(all, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
    assert!(!cond.locked());
    assert_eq!(barrier.n_waiting(), 0);
}
