//! The `# Cancel safety` sections of aio-sync, checked: every waiting future is dropped
//! mid-way — after it has queued, and where it matters after it was woken (handed a lock,
//! permit or notification it never used) — and nothing is lost: the lock, the permit, the
//! notification or the barrier's count go to the next waiter. Futures are polled by hand
//! (`common::Hand`), so each drop happens at an exact moment, without a loop.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use aio_sync::{Barrier, Condition, Event, Lock, Semaphore, SyncError};
use common::Hand;

#[test]
fn lock_acquire_dropped_while_queued_leaves_the_queue() {
    let lock = Lock::new();
    let guard = lock.try_acquire().unwrap();
    let waiter = Hand::pending(lock.acquire());
    waiter.cancel();
    drop(guard);
    // Nobody is queued any more: the fast path works again.
    assert!(lock.try_acquire().is_some());
}

#[test]
fn lock_acquire_woken_then_dropped_passes_the_lock_on() {
    let lock = Lock::new();
    let guard = lock.try_acquire().unwrap();
    let first = Hand::pending(lock.acquire());
    let mut second = Hand::pending(lock.acquire());
    drop(guard); // wakes `first`
    assert!(first.woken());
    assert!(!second.woken());
    first.cancel(); // its wake-up passes on
    assert!(second.woken());
    let guard = second.ready();
    assert!(lock.locked());
    drop(guard);
    assert!(!lock.locked());
}

#[test]
fn condition_acquire_woken_then_dropped_passes_the_lock_on() {
    let cond = Condition::new();
    let guard = cond.lock().try_acquire().unwrap();
    let first = Hand::pending(cond.acquire());
    let mut second = Hand::pending(cond.acquire());
    drop(guard);
    first.cancel();
    assert!(second.woken());
    drop(second.ready());
    assert!(!cond.locked());
}

#[test]
fn semaphore_acquire_dropped_while_queued_takes_no_permit() {
    let sem = Semaphore::new(1);
    let permit = sem.try_acquire().unwrap();
    let waiter = Hand::pending(sem.acquire());
    assert!(sem.locked());
    waiter.cancel();
    drop(permit);
    assert_eq!(sem.value(), 1);
    assert!(!sem.locked());
}

#[test]
fn semaphore_acquire_woken_then_dropped_gives_its_permit_to_the_next() {
    let sem = Semaphore::new(2);
    let a = sem.try_acquire().unwrap();
    let b = sem.try_acquire().unwrap();
    let first = Hand::pending(sem.acquire());
    let mut second = Hand::pending(sem.acquire());
    drop(a); // the permit is handed to `first`
    assert!(first.woken());
    assert_eq!(sem.value(), 0);
    first.cancel(); // ... which gives it to `second`
    assert!(second.woken());
    assert_eq!(sem.value(), 0);
    let permit = second.ready();
    drop(permit);
    drop(b);
    assert_eq!(sem.value(), 2);
}

#[test]
fn semaphore_acquire_woken_then_dropped_with_nobody_behind_returns_the_permit() {
    let sem = Semaphore::new(1);
    let permit = sem.try_acquire().unwrap();
    let waiter = Hand::pending(sem.acquire());
    drop(permit);
    assert!(waiter.woken());
    assert_eq!(sem.value(), 0); // handed over, not yet taken
    waiter.cancel();
    assert_eq!(sem.value(), 1);
}

#[test]
fn event_wait_dropped_changes_nothing() {
    let event = Event::new();
    let dropped = Hand::pending(event.wait());
    let mut kept = Hand::pending(event.wait());
    dropped.cancel();
    assert!(!event.is_set());
    event.set();
    assert!(kept.woken());
    kept.ready();
    // Dropped after `set` woke it: the flag stays set for everyone.
    event.clear();
    let woken = Hand::pending(event.wait());
    event.set();
    assert!(woken.woken());
    woken.cancel();
    assert!(event.is_set());
    Hand::start(event.wait())
        .ok()
        .expect("returns at once while set");
}

#[test]
fn condition_wait_dropped_while_waiting_leaves_the_lock_free_and_takes_no_notification() {
    let cond = Condition::new();
    let dropped = Hand::pending(cond.wait(cond.lock().try_acquire().unwrap()));
    let mut kept = Hand::pending(cond.wait(cond.lock().try_acquire().unwrap()));
    assert!(!cond.locked()); // both released the lock when they started waiting
    dropped.cancel();
    assert!(!cond.locked());
    let guard = cond.lock().try_acquire().unwrap();
    cond.notify(&guard, 1).unwrap(); // one notification: it must reach `kept`
    drop(guard);
    assert!(kept.woken());
    let guard = kept.ready().unwrap();
    assert!(cond.locked());
    drop(guard);
}

#[test]
fn condition_wait_notified_then_dropped_passes_the_notification_on() {
    let cond = Condition::new();
    let first = Hand::pending(cond.wait(cond.lock().try_acquire().unwrap()));
    let mut second = Hand::pending(cond.wait(cond.lock().try_acquire().unwrap()));
    let guard = cond.lock().try_acquire().unwrap();
    cond.notify(&guard, 1).unwrap();
    drop(guard);
    assert!(first.woken());
    assert!(!second.woken());
    first.cancel();
    assert!(second.woken());
    drop(second.ready().unwrap());
    assert!(!cond.locked());
}

#[test]
fn condition_wait_dropped_while_reacquiring_passes_the_notification_on() {
    let cond = Condition::new();
    let mut first = Hand::pending(cond.wait(cond.lock().try_acquire().unwrap()));
    let mut second = Hand::pending(cond.wait(cond.lock().try_acquire().unwrap()));
    let guard = cond.lock().try_acquire().unwrap();
    cond.notify(&guard, 1).unwrap();
    // `first` runs while the lock is still held: it queues for the lock.
    first.still_pending();
    first.cancel();
    assert!(second.woken()); // the notification moved on
    drop(guard);
    let guard = second.ready().unwrap();
    assert!(cond.locked());
    drop(guard);
    assert!(!cond.locked());
}

#[test]
fn condition_wait_for_dropped_leaves_the_lock_free_and_passes_the_notification_on() {
    let cond = Condition::new();
    let first = Hand::pending(cond.wait_for(cond.lock().try_acquire().unwrap(), || false));
    let mut second = Hand::pending(cond.wait(cond.lock().try_acquire().unwrap()));
    let guard = cond.lock().try_acquire().unwrap();
    cond.notify(&guard, 1).unwrap();
    drop(guard);
    first.cancel();
    assert!(second.woken());
    drop(second.ready().unwrap());
    assert!(!cond.locked());
}

#[test]
fn condition_wait_dropped_before_its_first_poll_releases_the_lock() {
    let cond = Condition::new();
    let wait = cond.wait(cond.lock().try_acquire().unwrap());
    assert!(cond.locked());
    drop(wait);
    assert!(!cond.locked());
}

#[test]
fn barrier_wait_dropped_before_the_round_completes_leaves_the_round() {
    let barrier = Barrier::new(3);
    let dropped = Hand::pending(barrier.wait());
    let mut b = Hand::pending(barrier.wait());
    assert_eq!(barrier.n_waiting(), 2);
    dropped.cancel();
    assert_eq!(barrier.n_waiting(), 1);
    let mut c = Hand::pending(barrier.wait()); // the round still needs a third task
    assert!(!b.woken());
    // The third arrival releases the round. As in asyncio, `c` got the index `b` has.
    assert_eq!(Hand::start(barrier.wait()).ok(), Some(Ok(2)));
    assert_eq!(b.ready(), Ok(1));
    assert_eq!(c.ready(), Ok(1));
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.broken());
}

#[test]
fn barrier_wait_dropped_after_release_does_not_hold_back_the_others() {
    let barrier = Barrier::new(2);
    let released = Hand::pending(barrier.wait());
    assert_eq!(Hand::start(barrier.wait()).ok(), Some(Ok(1)));
    assert!(released.woken());
    released.cancel(); // its own result is lost; the round has drained
    // The next round starts at once (nothing is left draining).
    let mut a = Hand::pending(barrier.wait());
    assert_eq!(barrier.n_waiting(), 1);
    assert_eq!(Hand::start(barrier.wait()).ok(), Some(Ok(1)));
    assert_eq!(a.ready(), Ok(0));
}

#[test]
fn barrier_wait_dropped_while_blocked_by_a_draining_round_never_joins() {
    let barrier = Barrier::new(2);
    let mut a = Hand::pending(barrier.wait());
    assert_eq!(Hand::start(barrier.wait()).ok(), Some(Ok(1)));
    // `a` has not resumed: the round is draining, so a newcomer is blocked.
    let blocked = Hand::pending(barrier.wait());
    assert_eq!(barrier.n_waiting(), 0);
    blocked.cancel();
    assert_eq!(a.ready(), Ok(0));
    assert_eq!(barrier.n_waiting(), 0);
    let mut next = Hand::pending(barrier.wait());
    assert_eq!(barrier.n_waiting(), 1);
    barrier.abort();
    assert_eq!(next.ready(), Err(SyncError::BrokenBarrier));
}
