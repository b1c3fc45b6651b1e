//! `Lock` keeps asyncio's guarantees: acquisition is FIFO (a newcomer queues behind the
//! waiters, even while the lock is momentarily free), `try_acquire` never overtakes a queued
//! waiter, the guard releases on drop, and cancelling a waiter — before or after it was woken,
//! racing a release or not — never loses the lock nor lets two tasks hold it (ports of
//! CPython's `LockTests`).

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use aio_scheduler::sleep;
use aio_sync::{Event, Lock};
use aio_task::{Error, Task, create_task, run};
use common::Hand;

type Log = Rc<RefCell<Vec<u32>>>;

/// A task that takes the lock, logs `id`, and holds the lock until `release` is set.
fn holder(lock: &Rc<Lock>, id: u32, log: &Log, release: &Rc<Event>) -> Result<Task<()>, Error> {
    let (lock, log, release) = (lock.clone(), log.clone(), release.clone());
    create_task(async move {
        let _guard = lock.acquire().await;
        log.borrow_mut().push(id);
        release.wait().await;
    })
}

/// A task that takes the lock, logs `id` and releases it at once.
fn taker(lock: &Rc<Lock>, id: u32, log: &Log) -> Result<Task<()>, Error> {
    let (lock, log) = (lock.clone(), log.clone());
    create_task(async move {
        let _guard = lock.acquire().await;
        log.borrow_mut().push(id);
    })
}

#[test]
fn uncontended_acquire_and_guard_drop() {
    run(async {
        let lock = Lock::new();
        assert!(!lock.locked());
        let guard = lock.acquire().await;
        assert!(lock.locked());
        assert!(std::ptr::eq(guard.lock(), &lock));
        drop(guard);
        assert!(!lock.locked());
        {
            let _guard = lock.acquire().await; // `async with lock:`
            assert!(lock.locked());
        }
        assert!(!lock.locked());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_acquire`: three tasks get the lock in arrival order, the third arriving
/// after the first already has it.
#[test]
fn acquire_order_follows_arrival() {
    run(async {
        let lock = Rc::new(Lock::new());
        let log: Log = Rc::default();
        let releases: Vec<Rc<Event>> = (0..3).map(|_| Rc::new(Event::new())).collect();
        let guard = lock.acquire().await;
        let t1 = holder(&lock, 1, &log, &releases[0])?;
        let t2 = holder(&lock, 2, &log, &releases[1])?;
        sleep(0).await?;
        assert_eq!(*log.borrow(), []);

        drop(guard);
        sleep(0).await?;
        assert_eq!(*log.borrow(), [1]);
        sleep(0).await?;
        assert_eq!(*log.borrow(), [1]);

        let t3 = holder(&lock, 3, &log, &releases[2])?;
        releases[0].set();
        for _ in 0..3 {
            sleep(0).await?;
        }
        assert_eq!(*log.borrow(), [1, 2]);
        releases[1].set();
        for _ in 0..3 {
            sleep(0).await?;
        }
        assert_eq!(*log.borrow(), [1, 2, 3]);
        releases[2].set();
        for task in [t1, t2, t3] {
            task.await?;
        }
        assert!(!lock.locked());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// N tasks queued behind the holder acquire in exactly their arrival order; tasks that come
/// back for the lock queue behind the rest (round robin).
#[test]
fn n_tasks_acquire_in_exact_fifo_order_round_robin() {
    const N: u32 = 8;
    run(async {
        let lock = Rc::new(Lock::new());
        let log: Log = Rc::default();
        let holders = Rc::new(Cell::new(0));
        let guard = lock.acquire().await;
        let mut tasks = Vec::new();
        for id in 0..N {
            let (lock, log, holders) = (lock.clone(), log.clone(), holders.clone());
            tasks.push(create_task(async move {
                for _ in 0..3 {
                    let _guard = lock.acquire().await;
                    holders.set(holders.get() + 1);
                    assert_eq!(holders.get(), 1, "two holders at once");
                    log.borrow_mut().push(id);
                    sleep(0).await.unwrap(); // hold it across a loop iteration
                    holders.set(holders.get() - 1);
                }
            })?);
        }
        sleep(0).await?; // all queue, in creation order
        drop(guard);
        for task in tasks {
            task.await?;
        }
        let expected: Vec<u32> = (0..3).flat_map(|_| 0..N).collect();
        assert_eq!(*log.borrow(), expected);
        assert!(!lock.locked());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// A newcomer arriving after a release, while the woken waiter has not run yet, must queue
/// behind it: the lock is free (`locked()` is false) but not up for grabs.
#[test]
fn newcomer_does_not_overtake_a_woken_waiter() {
    run(async {
        let lock = Rc::new(Lock::new());
        let log: Log = Rc::default();
        let guard = lock.acquire().await;
        let first = taker(&lock, 1, &log)?;
        sleep(0).await?;
        drop(guard); // wakes `first`, which has not run yet
        assert!(!lock.locked());
        assert!(
            lock.try_acquire().is_none(),
            "try_acquire overtook a woken waiter"
        );
        let mut newcomer = Hand::pending(lock.acquire());
        let second = taker(&lock, 2, &log)?;
        first.await?;
        sleep(0).await?;
        assert_eq!(*log.borrow(), [1]);
        assert!(
            !second.done(),
            "`second` queued behind the hand-polled newcomer"
        );
        assert!(newcomer.woken());
        let guard = newcomer.ready();
        assert!(lock.locked());
        drop(guard);
        second.await?;
        assert_eq!(*log.borrow(), [1, 2]);
        assert!(!lock.locked());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn try_acquire_fails_while_waiters_are_queued() {
    let lock = Lock::new();
    let guard = lock.try_acquire().expect("free lock");
    assert!(lock.try_acquire().is_none(), "held");
    let mut waiter = Hand::pending(lock.acquire());
    drop(guard);
    assert!(!lock.locked());
    assert!(waiter.woken());
    assert!(lock.try_acquire().is_none(), "a woken waiter is queued");
    let guard = waiter.ready();
    assert!(lock.try_acquire().is_none(), "held by the waiter");
    drop(guard);
    assert!(lock.try_acquire().is_some(), "free and nobody queued");
    assert!(!lock.locked());
}

/// CPython `test_acquire_cancel`: a cancelled acquirer leaves the queue.
#[test]
fn cancelled_acquire_leaves_the_queue() {
    run(async {
        let lock = Rc::new(Lock::new());
        let guard = lock.acquire().await;
        let l = lock.clone();
        let task = create_task(async move {
            drop(l.acquire().await);
        })?;
        sleep(0).await?;
        assert!(format!("{lock:?}").contains("waiters: 1"), "{lock:?}");
        task.cancel(None);
        assert!(task.clone().await.unwrap_err().is_cancelled());
        assert!(format!("{lock:?}").contains("waiters: 0"), "{lock:?}");
        drop(guard);
        assert!(!lock.locked());
        assert!(lock.try_acquire().is_some(), "queue is empty again");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_cancel_race`: A holds the lock, B and C wait; A releases while B is being
/// cancelled. B's wake-up must pass on to C.
#[test]
fn cancel_race_release_and_cancel_front_waiter() {
    run(async {
        let lock = Rc::new(Lock::new());
        let fa = Rc::new(Event::new());
        let lockit = |blocker: Option<Rc<Event>>| {
            let lock = lock.clone();
            create_task(async move {
                let _guard = lock.acquire().await;
                if let Some(blocker) = blocker {
                    blocker.wait().await;
                }
            })
        };
        let ta = lockit(Some(fa.clone()))?;
        sleep(0).await?;
        assert!(lock.locked());
        let tb = lockit(None)?;
        sleep(0).await?;
        let tc = lockit(None)?;
        sleep(0).await?;
        assert!(format!("{lock:?}").contains("waiters: 2"));

        fa.set();
        tb.cancel(None);
        sleep(0).await?;
        assert!(ta.done());
        assert!(tb.cancelled());
        tc.clone().await?;
        assert!(!lock.locked());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_cancel_release_race` (bpo-32734): three waiters, the first cancelled as the
/// lock is released: exactly one task gets the lock.
#[test]
fn cancel_release_race_takes_the_lock_once() {
    run(async {
        let lock = Rc::new(Lock::new());
        let lock_count = Rc::new(Cell::new(0));
        let call_count = Rc::new(Cell::new(0));
        let lockit = || {
            let (lock, lock_count, call_count) =
                (lock.clone(), lock_count.clone(), call_count.clone());
            create_task(async move {
                call_count.set(call_count.get() + 1);
                let guard = lock.acquire().await;
                lock_count.set(lock_count.get() + 1);
                std::mem::forget(guard); // keep it, like the asyncio test
            })
        };
        let guard = lock.acquire().await;
        let t1 = lockit()?;
        let t2 = lockit()?;
        let t3 = lockit()?;
        sleep(0).await?;

        t1.cancel(None);
        drop(guard);
        assert!(t1.clone().await.unwrap_err().is_cancelled());
        sleep(0).await?;
        assert_eq!(lock_count.get(), 1);
        assert_eq!(call_count.get(), 3);
        assert!(t1.cancelled() && t2.done());
        assert!(lock.locked());

        t3.cancel(None);
        sleep(0).await?;
        assert!(t3.cancelled());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_finished_waiter_cancelled`: a waiter woken by the release and cancelled
/// before it runs passes the wake-up to the next waiter (no deadlock).
#[test]
fn woken_then_cancelled_waiter_passes_the_wake_up_on() {
    run(async {
        let lock = Rc::new(Lock::new());
        let guard = lock.acquire().await;
        let (l1, l2) = (lock.clone(), lock.clone());
        let tb = create_task(async move { std::mem::forget(l1.acquire().await) })?;
        sleep(0).await?;
        let tc = create_task(async move { std::mem::forget(l2.acquire().await) })?;
        tb.cancel(None);
        drop(guard); // wakes `tb`, which is being cancelled
        // One iteration: `tc` queues (behind `tb`), then `tb`'s future is dropped and passes
        // its wake-up to `tc`. (asyncio's fast path skips cancelled waiters, so there `tc`
        // takes the lock in this same iteration; here it takes one more.)
        sleep(0).await?;
        assert!(tb.cancelled());
        sleep(0).await?;
        assert!(lock.locked());
        assert!(tb.cancelled());
        tc.await?;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// The same hand-off, with exact control: woken front waiter dropped before being polled.
#[test]
fn hand_polled_woken_waiter_dropped_wakes_the_next() {
    let lock = Lock::new();
    let guard = lock.try_acquire().unwrap();
    let a = Hand::pending(lock.acquire());
    let mut b = Hand::pending(lock.acquire());
    let mut c = Hand::pending(lock.acquire());
    drop(guard);
    assert!(a.woken());
    assert!(!b.woken() && !c.woken(), "only the front waiter is woken");
    a.cancel();
    assert!(b.woken(), "the wake-up passed on");
    assert!(!c.woken());
    c.still_pending();
    let guard = b.ready();
    assert!(lock.locked());
    drop(guard);
    let guard = c.ready();
    drop(guard);
    assert!(!lock.locked());
    assert!(lock.try_acquire().is_some());
}

/// Cancelling a waiter that was not woken, while the lock is held, wakes nobody and keeps
/// the order of the others.
#[test]
fn cancelling_an_unwoken_waiter_while_held_wakes_nobody() {
    let lock = Lock::new();
    let guard = lock.try_acquire().unwrap();
    let mut a = Hand::pending(lock.acquire());
    let b = Hand::pending(lock.acquire());
    let mut c = Hand::pending(lock.acquire());
    b.cancel();
    assert!(!a.woken() && !c.woken());
    a.still_pending();
    c.still_pending();
    drop(guard);
    assert!(a.woken() && !c.woken());
    drop(a.ready());
    assert!(c.woken());
    drop(c.ready());
    assert!(!lock.locked());
}

/// An `acquire` future dropped before it was ever polled takes no place in the queue.
#[test]
fn unpolled_acquire_dropped_is_harmless() {
    let lock = Lock::new();
    drop(lock.acquire());
    assert!(!lock.locked());
    let guard = lock.try_acquire().unwrap();
    drop(lock.acquire());
    drop(guard);
    assert!(lock.try_acquire().is_some());
}

/// Cancelling the holder's successor while the holder releases (several waiting acquirers):
/// the lock goes to the next in line, and every later waiter still gets it in order.
#[test]
fn cancelling_one_of_several_waiters_as_the_holder_releases() {
    run(async {
        let lock = Rc::new(Lock::new());
        let log: Log = Rc::default();
        let guard = lock.acquire().await;
        let tasks: Vec<_> = (0..5)
            .map(|id| taker(&lock, id, &log))
            .collect::<Result<_, _>>()?;
        sleep(0).await?;
        tasks[0].cancel(None);
        tasks[2].cancel(None);
        drop(guard);
        for task in tasks {
            let _ = task.await;
        }
        assert_eq!(*log.borrow(), [1, 3, 4]);
        assert!(!lock.locked());
        assert!(lock.try_acquire().is_some());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
