//! `Semaphore` and `BoundedSemaphore` keep asyncio's (3.12+) guarantees: exact FIFO
//! acquisition orders for mixed acquire / release / cancel sequences, `release` hands the
//! permit to the first waiter, a waiter cancelled before or after being woken never loses a
//! permit (the value always returns to its initial value), `locked()` is true whenever an
//! `acquire` would wait, `BoundedSemaphore` refuses releases above its initial value, and
//! `Permit::forget` + `release` work asyncio-style (ports of CPython's `SemaphoreTests`).

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use aio_scheduler::sleep;
use aio_sync::{BoundedSemaphore, Semaphore, SyncError};
use aio_task::{Error, Task, create_task, run, wait_for};
use common::Hand;

type Log = Rc<RefCell<Vec<String>>>;

/// Awaits a task that must finish (a lost wake-up fails the test instead of hanging it).
async fn finish<T: 'static>(task: Task<T>) -> T {
    wait_for(task, 5.0)
        .await
        .expect("deadlock: the task never finished")
        .expect("the task failed")
}

fn waiters(sem: &Semaphore) -> String {
    let debug = format!("{sem:?}");
    let at = debug.find("waiters: ").expect("Debug shows waiters") + "waiters: ".len();
    debug[at..].trim_end_matches(" }").to_string()
}

/// A task that acquires (keeping the permit, asyncio-style) and logs `tag`.
fn acquirer(sem: &Rc<Semaphore>, tag: u32, log: &Log) -> Result<Task<()>, Error> {
    let (sem, log) = (sem.clone(), log.clone());
    create_task(async move {
        sem.acquire().await.forget();
        log.borrow_mut().push(tag.to_string());
    })
}

#[test]
fn initial_value_zero_is_locked() {
    let sem = Semaphore::new(0);
    assert!(sem.locked());
    assert_eq!(sem.value(), 0);
    assert!(sem.try_acquire().is_none());
}

/// CPython `test_release_no_waiters` and the permit guard.
#[test]
fn permit_drop_and_release_without_waiters() {
    let sem = Semaphore::new(1);
    assert!(!sem.locked());
    let permit = sem.try_acquire().unwrap();
    assert!(sem.locked());
    assert_eq!(sem.value(), 0);
    drop(permit);
    assert!(!sem.locked());
    assert_eq!(sem.value(), 1);
    sem.try_acquire().unwrap().forget();
    assert_eq!(sem.value(), 0);
    sem.release().unwrap();
    assert!(!sem.locked());
    assert_eq!(sem.value(), 1);
    // A plain semaphore may grow past its initial value.
    sem.release().unwrap();
    assert_eq!(sem.value(), 2);
}

/// CPython `test_acquire`: value 3, two taken; three tasks come, one gets a permit; two
/// releases go to the two queued tasks, not to the newcomer that arrived meanwhile.
#[test]
fn acquire_hands_released_permits_to_queued_waiters() {
    run(async {
        let sem = Rc::new(Semaphore::new(3));
        let log: Log = Rc::default();
        sem.acquire().await.forget();
        sem.acquire().await.forget();
        assert!(!sem.locked());
        let t1 = acquirer(&sem, 1, &log)?;
        let t2 = acquirer(&sem, 2, &log)?;
        let t3 = acquirer(&sem, 3, &log)?;
        sleep(0).await?;
        assert_eq!(*log.borrow(), ["1"]);
        assert!(sem.locked());
        assert_eq!(waiters(&sem), "2");
        assert_eq!(sem.value(), 0);

        let t4 = acquirer(&sem, 4, &log)?;
        sem.release()?;
        sem.release()?;
        assert_eq!(sem.value(), 0, "both permits handed to the woken waiters");
        sleep(0).await?;
        assert_eq!(sem.value(), 0);
        assert_eq!(*log.borrow(), ["1", "2", "3"]);
        assert!(sem.locked());
        assert_eq!(waiters(&sem), "1");
        assert!(t1.done() && t2.done() && t3.done() && !t4.done());

        sem.release()?;
        finish(t4).await;
        assert_eq!(*log.borrow(), ["1", "2", "3", "4"]);
        assert_eq!(sem.value(), 0);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_acquire_cancel`.
#[test]
fn cancelled_acquire_leaves_no_waiter() {
    run(async {
        let sem = Rc::new(Semaphore::new(1));
        sem.acquire().await.forget();
        let s = sem.clone();
        let task = create_task(async move { s.acquire().await.forget() })?;
        sleep(0).await?;
        assert_eq!(waiters(&sem), "1");
        task.cancel(None);
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!(waiters(&sem), "0");
        sem.release()?;
        assert_eq!(sem.value(), 1);
        assert!(!sem.locked());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_acquire_cancel_before_awoken`: two waiters cancelled before a release; the
/// permit goes to the third, the fourth keeps waiting.
#[test]
fn acquire_cancel_before_awoken() {
    run(async {
        let sem = Rc::new(Semaphore::new(0));
        let log: Log = Rc::default();
        let tasks: Vec<_> = (1..=4)
            .map(|i| acquirer(&sem, i, &log))
            .collect::<Result<_, _>>()?;
        sleep(0).await?;
        tasks[0].cancel(None);
        tasks[1].cancel(None);
        sem.release()?;
        sleep(0).await?;
        sleep(0).await?;
        assert!(tasks[2].done());
        assert!(!tasks[3].done());
        assert_eq!(*log.borrow(), ["3"]);
        tasks[2].cancel(None);
        tasks[3].cancel(None);
        sleep(0).await?;
        assert_eq!(sem.value(), 0, "the permit went to t3, which kept it");
        assert_eq!(waiters(&sem), "0");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// A waiter cancelled after a release woke it (handed it the permit) gives the permit back to
/// the next waiter; nothing is lost.
#[test]
fn acquire_cancel_after_awoken() {
    run(async {
        let sem = Rc::new(Semaphore::new(0));
        let log: Log = Rc::default();
        let t1 = acquirer(&sem, 1, &log)?;
        let t2 = acquirer(&sem, 2, &log)?;
        let t3 = acquirer(&sem, 3, &log)?;
        sleep(0).await?;
        sem.release()?; // handed to t1
        assert_eq!(sem.value(), 0);
        t1.cancel(None); // before it runs
        sleep(0).await?;
        assert!(t1.cancelled());
        sleep(0).await?;
        assert!(t2.done(), "t1's permit passed on to t2");
        assert!(!t3.done());
        assert_eq!(*log.borrow(), ["2"]);
        sem.release()?;
        finish(t3).await;
        assert_eq!(*log.borrow(), ["2", "3"]);
        assert_eq!(sem.value(), 0);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// The same, polled by hand for exact control: the woken waiter's permit is counted out of
/// `value` at once, and dropping it returns it and wakes the next.
#[test]
fn hand_polled_cancel_after_awoken_returns_the_permit() {
    let sem = Semaphore::new(0);
    let a = Hand::pending(sem.acquire());
    let mut b = Hand::pending(sem.acquire());
    let mut c = Hand::pending(sem.acquire());
    sem.release().unwrap();
    assert!(a.woken() && !b.woken() && !c.woken());
    assert_eq!(sem.value(), 0);
    assert!(sem.locked());
    a.cancel();
    assert!(b.woken() && !c.woken());
    assert_eq!(sem.value(), 0);
    let permit = b.ready();
    c.still_pending();
    drop(permit);
    assert!(c.woken());
    drop(c.ready());
    assert_eq!(sem.value(), 1);
    assert!(!sem.locked());
}

/// CPython `test_acquire_hang`: the first waiter is cancelled, then a release: the second
/// gets the permit.
#[test]
fn acquire_hang() {
    run(async {
        let sem = Rc::new(Semaphore::new(0));
        let log: Log = Rc::default();
        let t1 = acquirer(&sem, 1, &log)?;
        let t2 = acquirer(&sem, 2, &log)?;
        sleep(0).await?;
        t1.cancel(None);
        sem.release()?;
        sleep(0).await?;
        sleep(0).await?;
        assert!(sem.locked());
        assert!(t2.done());
        assert!(t1.cancelled());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_acquire_no_hang`: a waiter cancelled right after the holder releases does
/// not keep the permit; the semaphore can be acquired afterwards.
#[test]
fn acquire_no_hang() {
    run(async {
        let sem = Rc::new(Semaphore::new(1));
        let t2_slot: Rc<RefCell<Option<Task<()>>>> = Rc::default();
        let (s, slot) = (sem.clone(), t2_slot.clone());
        let t1 = create_task(async move {
            {
                let _permit = s.acquire().await;
                sleep(0).await.unwrap();
            }
            slot.borrow().as_ref().unwrap().cancel(None);
        })?;
        let s = sem.clone();
        let t2 = create_task(async move {
            let _permit = s.acquire().await;
            panic!("t2 must be cancelled before it gets the permit");
        })?;
        *t2_slot.borrow_mut() = Some(t2.clone());
        finish(t1).await;
        assert!(t2.await.unwrap_err().is_cancelled());
        assert_eq!(sem.value(), 1);
        let permit = wait_for(sem.acquire(), 1.0).await?;
        drop(permit);
        assert_eq!(sem.value(), 1);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_acquire_fifo_order`: three tasks each acquire twice; a task coming back
/// queues behind the others.
#[test]
fn acquire_fifo_order() {
    run(async {
        let sem = Rc::new(Semaphore::new(1));
        let log: Log = Rc::default();
        let tasks: Vec<_> = ["c1", "c2", "c3"]
            .into_iter()
            .map(|tag| {
                let (sem, log) = (sem.clone(), log.clone());
                create_task(async move {
                    for round in 1..=2 {
                        sem.acquire().await.forget();
                        log.borrow_mut().push(format!("{tag}_{round}"));
                        sleep(0).await.unwrap();
                        sem.release().unwrap();
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        for task in tasks {
            finish(task).await;
        }
        assert_eq!(
            *log.borrow(),
            ["c1_1", "c2_1", "c3_1", "c1_2", "c2_2", "c3_2"]
        );
        assert_eq!(sem.value(), 1);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_acquire_fifo_order_2`: a task that releases and re-acquires queues behind
/// the task already waiting.
#[test]
fn acquire_fifo_order_2() {
    run(async {
        let sem = Rc::new(Semaphore::new(1));
        let log: Log = Rc::default();
        let t1 = acquirer(&sem, 1, &log)?;
        let (s, l) = (sem.clone(), log.clone());
        let t2 = create_task(async move {
            s.acquire().await.forget();
            l.borrow_mut().push("2".into());
            s.release().unwrap();
            s.acquire().await.forget();
            l.borrow_mut().push("4".into());
        })?;
        let t3 = acquirer(&sem, 3, &log)?;
        sleep(0).await?;
        sem.release()?;
        sem.release()?;
        for task in [t1, t2, t3] {
            finish(task).await;
        }
        assert_eq!(*log.borrow(), ["1", "2", "3", "4"]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_acquire_fifo_order_3`: the cancelled first waiter is skipped; two releases
/// go to the next two, in order.
#[test]
fn acquire_fifo_order_3() {
    run(async {
        let sem = Rc::new(Semaphore::new(0));
        let log: Log = Rc::default();
        let t1 = acquirer(&sem, 1, &log)?;
        let t2 = acquirer(&sem, 2, &log)?;
        let t3 = acquirer(&sem, 3, &log)?;
        sleep(0).await?;
        t1.cancel(None);
        sleep(0).await?;
        sem.release()?;
        sem.release()?;
        assert!(t1.await.unwrap_err().is_cancelled());
        finish(t2).await;
        finish(t3).await;
        assert_eq!(*log.borrow(), ["2", "3"]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_acquire_fifo_order_4`: a successful acquire wakes the further waiters that
/// queued only because of the FIFO rule, so a task created afterwards runs after them.
#[test]
fn acquire_fifo_order_4() {
    run(async {
        let sem = Rc::new(Semaphore::new(0));
        let log: Log = Rc::default();
        let t4_slot: Rc<RefCell<Option<Task<()>>>> = Rc::default();
        let (s, l, slot) = (sem.clone(), log.clone(), t4_slot.clone());
        let t1 = create_task(async move {
            assert_eq!(s.value(), 0);
            s.acquire().await.forget();
            // Every waiting task was woken now.
            assert_eq!(s.value(), 0);
            let l4 = l.clone();
            *slot.borrow_mut() =
                Some(create_task(async move { l4.borrow_mut().push("4".into()) }).unwrap());
            l.borrow_mut().push("1".into());
        })?;
        let (s, l) = (sem.clone(), log.clone());
        let t2 = create_task(async move {
            s.release().unwrap();
            s.release().unwrap();
            s.release().unwrap();
            assert_eq!(s.value(), 2);
            assert!(s.locked(), "t1 has not woken up yet");
            s.acquire().await.forget();
            l.borrow_mut().push("2".into());
        })?;
        let (s, l) = (sem.clone(), log.clone());
        let t3 = create_task(async move {
            s.acquire().await.forget();
            assert!(s.locked());
            l.borrow_mut().push("3".into());
        })?;
        sleep(0).await?;
        assert_eq!(sem.value(), 2);
        assert_eq!(waiters(&sem), "3");
        sleep(0).await?;
        for task in [t1, t2, t3] {
            finish(task).await;
        }
        let t4 = t4_slot.borrow_mut().take().unwrap();
        finish(t4).await;
        assert_eq!(*log.borrow(), ["1", "2", "3", "4"]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// `locked()` is true when no permit is free or when waiters are queued (woken or not).
#[test]
fn locked_semantics() {
    let sem = Semaphore::new(2);
    assert!(!sem.locked());
    let p1 = sem.try_acquire().unwrap();
    assert!(!sem.locked());
    let p2 = sem.try_acquire().unwrap();
    assert!(sem.locked(), "no permit free");
    let mut waiter = Hand::pending(sem.acquire());
    drop(p1);
    assert!(waiter.woken());
    assert_eq!(sem.value(), 0);
    assert!(sem.locked(), "the free permit is the woken waiter's");
    drop(p2);
    assert_eq!(sem.value(), 1);
    assert!(sem.locked(), "a waiter is still queued (woken, not run)");
    assert!(
        sem.try_acquire().is_none(),
        "FIFO: no overtaking the queued waiter"
    );
    let permit = waiter.ready();
    assert!(!sem.locked());
    drop(permit);
    assert_eq!(sem.value(), 2);
}

/// Several releases at once wake as many waiters, in order, and a waiter that got ahead of
/// newcomers queued behind it wakes them when permits remain.
#[test]
fn release_wakes_waiters_in_order_and_permits_return() {
    let sem = Semaphore::new(0);
    let mut hands: Vec<_> = (0..5).map(|_| Hand::pending(sem.acquire())).collect();
    sem.release().unwrap();
    sem.release().unwrap();
    let woken: Vec<bool> = hands.iter().map(Hand::woken).collect();
    assert_eq!(woken, [true, true, false, false, false]);
    sem.release().unwrap();
    sem.release().unwrap();
    sem.release().unwrap();
    assert!(hands.iter().all(Hand::woken));
    assert_eq!(sem.value(), 0);
    let permits: Vec<_> = hands.iter_mut().map(Hand::ready).collect();
    drop(permits);
    assert_eq!(sem.value(), 5);
}

/// CPython `test_release_not_acquired` and the bound: releases above the initial value fail
/// with `TooManyReleases`, and the value is unchanged.
#[test]
fn bounded_semaphore_refuses_too_many_releases() {
    let sem = BoundedSemaphore::new(2);
    assert_eq!(sem.release(), Err(SyncError::TooManyReleases));
    assert_eq!(sem.value(), 2);
    sem.try_acquire().unwrap().forget();
    sem.try_acquire().unwrap().forget();
    assert!(sem.locked());
    sem.release().unwrap();
    sem.release().unwrap();
    assert_eq!(sem.value(), 2);
    assert_eq!(sem.release(), Err(SyncError::TooManyReleases));
    assert_eq!(sem.value(), 2);
    // Guards give their permit back without tripping the bound.
    let permit = sem.try_acquire().unwrap();
    drop(permit);
    assert_eq!(sem.value(), 2);
    assert_eq!(
        SyncError::TooManyReleases.to_string(),
        "BoundedSemaphore released too many times"
    );
}

/// A bounded semaphore with waiters: the released permit goes to the waiter, and the bound
/// counts permits handed to woken waiters as still out (asyncio's rule: `value >= bound`).
#[test]
fn bounded_semaphore_with_waiters() {
    let sem = BoundedSemaphore::new(1);
    sem.try_acquire().unwrap().forget();
    let mut waiter = Hand::pending(sem.acquire());
    sem.release().unwrap();
    assert!(waiter.woken());
    assert_eq!(sem.value(), 0);
    waiter.ready().forget();
    sem.release().unwrap();
    assert_eq!(sem.release(), Err(SyncError::TooManyReleases));
    assert_eq!(sem.value(), 1);
}

/// `Permit::forget` keeps the permit out until a manual `release`.
#[test]
fn permit_forget_then_release() {
    run(async {
        let sem = Rc::new(Semaphore::new(1));
        sem.acquire().await.forget();
        assert_eq!(sem.value(), 0);
        let log: Log = Rc::default();
        let t = acquirer(&sem, 1, &log)?;
        sleep(0).await?;
        assert!(!t.done());
        sem.release()?;
        finish(t).await;
        assert_eq!(sem.value(), 0, "the waiter forgot its permit too");
        sem.release()?;
        assert_eq!(sem.value(), 1);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Permits are never lost: many tasks with random-ish cancellations; at the end the value is
/// back to the initial value and at most `value` tasks ever held a permit at once.
#[test]
fn permits_are_never_lost_under_cancellation() {
    const INITIAL: usize = 3;
    run(async {
        let sem = Rc::new(Semaphore::new(INITIAL));
        let inside = Rc::new(std::cell::Cell::new(0usize));
        let max_inside = Rc::new(std::cell::Cell::new(0usize));
        let mut tasks = Vec::new();
        for i in 0..40u32 {
            let (sem, inside, max_inside) = (sem.clone(), inside.clone(), max_inside.clone());
            tasks.push(create_task(async move {
                let _permit = sem.acquire().await;
                inside.set(inside.get() + 1);
                max_inside.set(max_inside.get().max(inside.get()));
                for _ in 0..(i % 3) {
                    sleep(0).await.unwrap();
                }
                inside.set(inside.get() - 1);
            })?);
        }
        for round in 0..12 {
            sleep(0).await?;
            for (i, task) in tasks.iter().enumerate() {
                if (i * 7 + round) % 11 == 0 {
                    task.cancel(None);
                }
            }
        }
        for task in tasks {
            let _ = wait_for(task, 5.0).await;
        }
        assert_eq!(inside.get(), 0);
        assert!(max_inside.get() <= INITIAL);
        assert_eq!(sem.value(), INITIAL);
        assert!(!sem.locked());
        assert_eq!(waiters(&sem), "0");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
