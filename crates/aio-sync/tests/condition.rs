//! `Condition` keeps asyncio's guarantees: `wait` releases the lock while waiting and holds it
//! again when it returns; `wait_for` re-checks its predicate after each notification;
//! `notify(n)` wakes `n` waiters in FIFO order and `notify_all` all of them; notifying with
//! the guard of another lock is `SyncError::NotLocked`; a waiter cancelled after being
//! notified passes the notification on (whether it was cancelled before it ran, or while
//! re-acquiring the lock, as in CPython 3.13's `test_cancelled_wakeup*`); after a cancelled
//! wait the lock is not held, never lost; and it works over a shared lock
//! (`Condition::with_lock`). Ports of CPython's `ConditionTests`.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use aio_scheduler::sleep;
use aio_sync::{Condition, Lock, SyncError};
use aio_task::{Error, Task, create_task, run, wait_for};
use common::Hand;

type Log = Rc<RefCell<Vec<u32>>>;

/// Awaits a task that must finish (a lost notification fails the test instead of hanging).
async fn finish<T: 'static>(task: Task<T>) -> T {
    wait_for(task, 5.0)
        .await
        .expect("deadlock: the task never finished")
        .expect("the task failed")
}

fn waiter_count(cond: &Condition) -> String {
    let debug = format!("{cond:?}");
    let at = debug.rfind("waiters: ").expect("Debug shows waiters") + "waiters: ".len();
    debug[at..].trim_end_matches(" }").to_string()
}

/// A task that takes the lock, waits once, logs `id` (holding the lock) and releases.
fn waiter(cond: &Rc<Condition>, id: u32, log: &Log) -> Result<Task<()>, Error> {
    let (cond, log) = (cond.clone(), log.clone());
    create_task(async move {
        let guard = cond.acquire().await;
        let guard = cond.wait(guard).await.unwrap();
        assert!(cond.locked(), "wait returns holding the lock");
        log.borrow_mut().push(id);
        drop(guard);
    })
}

/// CPython `test_wait`: waiters release the lock while they wait; a notified waiter runs
/// only once the notifier releases the lock, and returns holding it.
#[test]
fn wait_releases_the_lock_and_reacquires_it() {
    run(async {
        let cond = Rc::new(Condition::new());
        let log: Log = Rc::default();
        let tasks: Vec<_> = (1..=3)
            .map(|id| waiter(&cond, id, &log))
            .collect::<Result<_, _>>()?;
        sleep(0).await?;
        assert_eq!(*log.borrow(), []);
        assert!(!cond.locked(), "all three wait without holding the lock");
        assert_eq!(waiter_count(&cond), "3");

        let guard = cond.acquire().await;
        cond.notify(&guard, 1)?;
        sleep(0).await?;
        assert_eq!(*log.borrow(), [], "notified, but the lock is still ours");
        assert!(cond.locked());
        drop(guard);
        sleep(0).await?;
        assert_eq!(*log.borrow(), [1]);

        let guard = cond.acquire().await;
        cond.notify(&guard, 2)?;
        sleep(0).await?;
        assert_eq!(*log.borrow(), [1]);
        drop(guard);
        for task in tasks {
            finish(task).await;
        }
        assert_eq!(*log.borrow(), [1, 2, 3]);
        assert!(!cond.locked());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// While a task waits, others can take the lock; hand-polled to see each step.
#[test]
fn hand_polled_wait_releases_then_reacquires() {
    let cond = Condition::new();
    let guard = cond.lock().try_acquire().unwrap();
    let mut wait = Hand::pending(cond.wait(guard));
    assert!(!cond.locked(), "released while waiting");
    let other = cond
        .lock()
        .try_acquire()
        .expect("anyone may take it meanwhile");
    cond.notify(&other, 1).unwrap();
    assert!(wait.woken());
    wait.still_pending(); // notified, now queued for the lock we hold
    assert_eq!(waiter_count(&cond), "0");
    drop(other);
    let guard = wait.ready().unwrap();
    assert!(cond.locked());
    drop(guard);
    assert!(!cond.locked());
}

/// CPython `test_wait_for`: the predicate is re-checked after each notification.
#[test]
fn wait_for_predicate() {
    run(async {
        let cond = Rc::new(Condition::new());
        let presult = Rc::new(Cell::new(false));
        let calls = Rc::new(Cell::new(0));
        let log: Log = Rc::default();
        let (c, p, n, l) = (cond.clone(), presult.clone(), calls.clone(), log.clone());
        let t = create_task(async move {
            let guard = c.acquire().await;
            let (guard, ok) = c
                .wait_for(guard, || {
                    n.set(n.get() + 1);
                    p.get()
                })
                .await
                .unwrap();
            assert!(ok);
            assert!(c.locked());
            l.borrow_mut().push(1);
            drop(guard);
        })?;
        sleep(0).await?;
        assert_eq!(*log.borrow(), []);
        assert_eq!(calls.get(), 1);

        let guard = cond.acquire().await;
        cond.notify(&guard, 1)?;
        drop(guard);
        sleep(0).await?;
        assert_eq!(*log.borrow(), []);
        assert_eq!(calls.get(), 2);

        presult.set(true);
        let guard = cond.acquire().await;
        cond.notify(&guard, 1)?;
        drop(guard);
        sleep(0).await?;
        assert_eq!(*log.borrow(), [1]);
        assert_eq!(calls.get(), 3);
        assert!(t.done());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_wait_for_unacquired` (first half): a true predicate returns at once.
#[test]
fn wait_for_true_predicate_returns_at_once() {
    let cond = Condition::new();
    let guard = cond.lock().try_acquire().unwrap();
    let (guard, ok) = Hand::start(cond.wait_for(guard, || true))
        .ok()
        .expect("no waiting")
        .unwrap();
    assert!(ok);
    assert!(cond.locked());
    drop(guard);
}

/// CPython `test_notify`: `notify(n)` wakes `n` waiters, first come first served; extra
/// notifications are not stored.
#[test]
fn notify_n_wakes_n_in_fifo_order() {
    run(async {
        let cond = Rc::new(Condition::new());
        let log: Log = Rc::default();
        let tasks: Vec<_> = (1..=5)
            .map(|id| waiter(&cond, id, &log))
            .collect::<Result<_, _>>()?;
        sleep(0).await?;

        let guard = cond.acquire().await;
        cond.notify(&guard, 1)?;
        drop(guard);
        sleep(0).await?;
        sleep(0).await?;
        assert_eq!(*log.borrow(), [1]);

        let guard = cond.acquire().await;
        cond.notify(&guard, 1)?;
        cond.notify(&guard, 2)?;
        drop(guard);
        for _ in 0..5 {
            sleep(0).await?;
        }
        assert_eq!(*log.borrow(), [1, 2, 3, 4]);
        assert_eq!(waiter_count(&cond), "1");

        let guard = cond.acquire().await;
        cond.notify(&guard, 2048)?;
        drop(guard);
        for task in tasks {
            finish(task).await;
        }
        assert_eq!(*log.borrow(), [1, 2, 3, 4, 5]);

        // Nobody waits: a notification is simply lost, not stored for later waiters.
        let guard = cond.acquire().await;
        cond.notify(&guard, 1)?;
        let mut late = Hand::pending(cond.wait(guard));
        assert!(!late.woken());
        let guard = cond.acquire().await;
        late.still_pending();
        cond.notify(&guard, 1)?;
        drop(guard);
        drop(late.ready()?);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_notify_all`.
#[test]
fn notify_all_wakes_everyone_in_order() {
    run(async {
        let cond = Rc::new(Condition::new());
        let log: Log = Rc::default();
        let tasks: Vec<_> = (1..=4)
            .map(|id| waiter(&cond, id, &log))
            .collect::<Result<_, _>>()?;
        sleep(0).await?;
        let guard = cond.acquire().await;
        cond.notify_all(&guard)?;
        drop(guard);
        for task in tasks {
            finish(task).await;
        }
        assert_eq!(*log.borrow(), [1, 2, 3, 4]);
        assert_eq!(waiter_count(&cond), "0");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_notify_unacquired`: the guard must be of this condition's lock.
#[test]
fn notify_with_another_locks_guard_is_not_locked() {
    let cond = Condition::new();
    let other = Lock::new();
    let guard = other.try_acquire().unwrap();
    let mut wait = Hand::pending({
        let own = cond.lock().try_acquire().unwrap();
        cond.wait(own)
    });
    assert_eq!(cond.notify(&guard, 1), Err(SyncError::NotLocked));
    assert!(!wait.woken(), "a refused notify wakes nobody");
    assert_eq!(
        SyncError::NotLocked.to_string(),
        "cannot notify on un-acquired lock"
    );
    let own = cond.lock().try_acquire().unwrap();
    assert_eq!(cond.notify(&own, 1), Ok(()));
    drop(own);
    drop(wait.ready().unwrap());
}

/// `notify_all` with the guard of another lock is refused too.
#[test]
fn notify_all_with_another_locks_guard_is_not_locked() {
    let cond = Condition::new();
    let other = Lock::new();
    let guard = other.try_acquire().unwrap();
    assert_eq!(cond.notify_all(&guard), Err(SyncError::NotLocked));
}

/// CPython `test_wait_unacquired`: `wait` with the guard of another lock fails with
/// `NotLocked` (and that guard is dropped, releasing its lock); so does `wait_for` with a
/// false predicate.
#[test]
fn wait_with_another_locks_guard_is_not_locked() {
    let cond = Condition::new();
    let other = Lock::new();
    let guard = other.try_acquire().unwrap();
    let result = Hand::start(cond.wait(guard)).ok().expect("no waiting");
    assert_eq!(result.err(), Some(SyncError::NotLocked));
    assert!(!other.locked(), "the foreign guard was dropped");
    assert!(!cond.locked());
    assert_eq!(waiter_count(&cond), "0");

    let guard = other.try_acquire().unwrap();
    let result = Hand::start(cond.wait_for(guard, || false))
        .ok()
        .expect("no waiting");
    assert_eq!(result.err(), Some(SyncError::NotLocked));
    assert!(!other.locked());
}

/// CPython `test_wait_cancel`, Rust-style: the guard moved into the cancelled wait is gone,
/// so the lock is left not held (never lost), and the waiter left the queue.
#[test]
fn cancelled_wait_leaves_the_lock_free_and_no_waiter() {
    run(async {
        let cond = Rc::new(Condition::new());
        let c = cond.clone();
        let task = create_task(async move {
            let guard = c.acquire().await;
            drop(c.wait(guard).await.unwrap());
        })?;
        sleep(0).await?;
        assert_eq!(waiter_count(&cond), "1");
        task.cancel(None);
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!(waiter_count(&cond), "0");
        assert!(!cond.locked());
        assert!(cond.lock().try_acquire().is_some(), "the lock is usable");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// A wait dropped before its first poll still holds the guard: dropping releases the lock.
#[test]
fn unpolled_wait_dropped_releases_the_lock() {
    let cond = Condition::new();
    let guard = cond.lock().try_acquire().unwrap();
    let wait = cond.wait(guard);
    assert!(cond.locked());
    drop(wait);
    assert!(!cond.locked());
    assert_eq!(waiter_count(&cond), "0");
}

/// CPython `test_wait_cancel_contested` / `test_wait_cancel_after_notify` (bpo-32841): the
/// waiter is notified, queues for the lock we hold, and is cancelled there. It leaves the
/// lock's queue: after we release, the lock is free and nobody is stuck.
#[test]
fn wait_cancelled_while_reacquiring_leaves_the_lock_free() {
    run(async {
        let cond = Rc::new(Condition::new());
        let waited = Rc::new(Cell::new(false));
        let (c, w) = (cond.clone(), waited.clone());
        let task = create_task(async move {
            let guard = c.acquire().await;
            w.set(true);
            drop(c.wait(guard).await.unwrap());
        })?;
        sleep(0).await?;
        let guard = cond.acquire().await;
        cond.notify(&guard, 1)?;
        sleep(0).await?; // the waiter gets to the lock's acquire
        task.cancel(None);
        sleep(0).await?;
        drop(guard);
        sleep(0).await?;
        assert!(task.cancelled());
        assert!(waited.get());
        assert!(!cond.locked());
        assert!(cond.lock().try_acquire().is_some());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Hand-polled: a notified waiter queued for the lock is woken by the lock's release and
/// dropped before it runs: the lock's wake-up passes to the next lock waiter (never lost).
#[test]
fn waiter_dropped_while_reacquiring_passes_the_lock_on() {
    let cond = Condition::new();
    let guard = cond.lock().try_acquire().unwrap();
    let mut a = Hand::pending(cond.wait(guard));
    let guard = cond.lock().try_acquire().unwrap();
    cond.notify(&guard, 1).unwrap();
    a.still_pending(); // queued for the lock
    let mut other = Hand::pending(cond.acquire()); // behind it
    drop(guard);
    assert!(a.woken() && !other.woken());
    a.cancel();
    assert!(other.woken(), "the lock's wake-up passed on");
    drop(other.ready());
    assert!(!cond.locked());
}

/// A consumer of CPython's `test_cancelled_wakeup*`: consumes `state` units until it goes
/// negative.
fn consumer(cond: &Rc<Condition>, state: &Rc<Cell<i32>>) -> Result<Task<()>, Error> {
    let (cond, state) = (cond.clone(), state.clone());
    create_task(async move {
        let mut guard = cond.acquire().await;
        loop {
            let (g, _) = cond.wait_for(guard, || state.get() != 0).await.unwrap();
            guard = g;
            if state.get() < 0 {
                return;
            }
            state.set(state.get() - 1);
        }
    })
}

/// Lets the loop run until `done()` or a bounded number of iterations pass.
async fn settle(done: impl Fn() -> bool) -> Result<(), Error> {
    for _ in 0..20 {
        if done() {
            break;
        }
        sleep(0).await?;
    }
    Ok(())
}

/// CPython `test_cancelled_wakeup`: the notified consumer is cancelled before it runs; the
/// notification passes to the other consumer, which consumes the item.
#[test]
fn notified_waiter_cancelled_before_it_runs_passes_the_notification_on() {
    run(async {
        let cond = Rc::new(Condition::new());
        let state = Rc::new(Cell::new(0));
        let c = [consumer(&cond, &state)?, consumer(&cond, &state)?];
        sleep(0).await?;
        let guard = cond.acquire().await;
        state.set(state.get() + 1);
        cond.notify(&guard, 1)?;
        c[0].cancel(None); // cancelled while waiting to run
        drop(guard);
        settle(|| state.get() == 0).await?;
        assert_eq!(
            state.get(),
            0,
            "the notification was lost with the cancelled waiter"
        );
        assert!(c[0].cancelled());

        let guard = cond.acquire().await;
        state.set(-1);
        cond.notify_all(&guard)?;
        drop(guard);
        finish(c[1].clone()).await;
        assert!(!cond.locked());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython 3.13 `test_cancelled_wakeup_relock` (gh-112202): the notified consumer has run and
/// is queued for the lock (which we hold) when it is cancelled. asyncio notifies another
/// waiter instead, so the item is still consumed; the crate documents the same ("a notify is
/// never lost to a cancelled waiter").
#[test]
fn notified_waiter_cancelled_while_relocking_passes_the_notification_on() {
    run(async {
        let cond = Rc::new(Condition::new());
        let state = Rc::new(Cell::new(0));
        let c = [consumer(&cond, &state)?, consumer(&cond, &state)?];
        sleep(0).await?;
        let guard = cond.acquire().await;
        state.set(state.get() + 1);
        cond.notify(&guard, 1)?;
        sleep(0).await?; // c[0] wakes and queues for the lock we hold
        c[0].cancel(None); // cancelled while re-acquiring
        sleep(0).await?;
        assert!(c[0].cancelled());
        drop(guard);
        settle(|| state.get() == 0).await?;
        let consumed = state.get() == 0;

        let guard = cond.acquire().await;
        state.set(-1);
        cond.notify_all(&guard)?;
        drop(guard);
        finish(c[1].clone()).await;
        assert!(
            consumed,
            "the notification was lost with the cancelled waiter"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Hand-polled: notify(1) wakes the first waiter; dropping it before it is polled wakes the
/// second; a waiter dropped un-notified wakes nobody.
#[test]
fn hand_polled_notification_passes_on_to_the_next_waiter() {
    let cond = Condition::new();
    let start = |cond: &'static Condition| {
        let guard = cond.lock().try_acquire().unwrap();
        Hand::pending(cond.wait(guard))
    };
    let cond: &'static Condition = Box::leak(Box::new(cond));
    let a = start(cond);
    let b = start(cond);
    let mut c = start(cond);
    let mut d = start(cond);
    let guard = cond.lock().try_acquire().unwrap();
    cond.notify(&guard, 1).unwrap();
    assert!(a.woken() && !b.woken());
    b.cancel(); // not notified: passes nothing on
    assert!(!c.woken());
    a.cancel(); // notified: passes it on to c
    assert!(c.woken() && !d.woken());
    drop(guard);
    let guard = c.ready().unwrap();
    d.still_pending();
    cond.notify_all(&guard).unwrap();
    drop(guard);
    drop(d.ready().unwrap());
    assert!(!cond.locked());
    assert_eq!(waiter_count(cond), "0");
}

/// Hand-polled form of the above: `a` is notified, polled once (it is now queued for the
/// lock the notifier holds), then dropped. `b` is notified in its place.
#[test]
fn hand_polled_waiter_dropped_while_relocking_passes_the_notification_on() {
    let cond = Condition::new();
    let guard = cond.lock().try_acquire().unwrap();
    let mut a = Hand::pending(cond.wait(guard));
    let guard = cond.lock().try_acquire().unwrap();
    let b = Hand::pending(cond.wait(guard));
    let guard = cond.lock().try_acquire().unwrap();
    cond.notify(&guard, 1).unwrap();
    assert!(a.woken() && !b.woken());
    a.still_pending(); // took the notification, now queued for the lock
    a.cancel();
    drop(guard);
    assert!(b.woken(), "the notification consumed by `a` was lost");
}

/// CPython `test_explicit_lock` and `with_lock`: a condition over a shared lock reports and
/// uses that lock; guards of the shared lock notify; two conditions over one lock keep
/// separate waiter lists.
#[test]
fn condition_over_a_shared_lock() {
    run(async {
        let lock = Rc::new(Lock::new());
        let cond_a = Rc::new(Condition::with_lock(lock.clone()));
        let cond_b = Rc::new(Condition::with_lock(lock.clone()));
        assert!(Rc::ptr_eq(cond_a.lock(), &lock));
        assert!(!cond_a.locked());
        {
            let _guard = cond_a.acquire().await;
            assert!(lock.locked() && cond_a.locked() && cond_b.locked());
        }
        {
            let _guard = lock.acquire().await;
            assert!(cond_a.locked());
        }
        assert!(!lock.locked());

        let log: Log = Rc::default();
        let ta = waiter(&cond_a, 1, &log)?;
        let tb = waiter(&cond_b, 2, &log)?;
        sleep(0).await?;
        assert!(!lock.locked());
        let guard = lock.acquire().await; // the plain lock's guard proves ownership
        cond_a.notify_all(&guard)?;
        drop(guard);
        finish(ta).await;
        sleep(0).await?;
        assert_eq!(*log.borrow(), [1], "cond_b's waiter was not notified");
        assert!(!tb.done());
        let guard = cond_a.acquire().await;
        cond_b.notify(&guard, 1)?; // the same lock: a guard from cond_a works for cond_b
        drop(guard);
        finish(tb).await;
        assert_eq!(*log.borrow(), [1, 2]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Producer / consumer on a condition: every item is consumed exactly once, with the lock
/// held by one task at a time.
#[test]
fn producer_consumer_over_a_condition() {
    run(async {
        let cond = Rc::new(Condition::new());
        let items: Rc<RefCell<Vec<u32>>> = Rc::default();
        let got: Log = Rc::default();
        let mut consumers = Vec::new();
        for _ in 0..3 {
            let (cond, items, got) = (cond.clone(), items.clone(), got.clone());
            consumers.push(create_task(async move {
                loop {
                    let guard = cond.acquire().await;
                    let (guard, _) = cond
                        .wait_for(guard, || !items.borrow().is_empty())
                        .await
                        .unwrap();
                    let item = items.borrow_mut().remove(0);
                    drop(guard);
                    if item == u32::MAX {
                        return;
                    }
                    got.borrow_mut().push(item);
                    sleep(0).await.unwrap();
                }
            })?);
        }
        for item in 0..30 {
            let guard = cond.acquire().await;
            items.borrow_mut().push(item);
            cond.notify(&guard, 1)?;
            drop(guard);
            if item % 4 == 0 {
                sleep(0).await?;
            }
        }
        let guard = cond.acquire().await;
        items.borrow_mut().extend([u32::MAX; 3]);
        cond.notify_all(&guard)?;
        drop(guard);
        for task in consumers {
            finish(task).await;
        }
        let mut got = got.borrow().clone();
        got.sort();
        assert_eq!(got, (0..30).collect::<Vec<_>>());
        assert!(!cond.locked());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
