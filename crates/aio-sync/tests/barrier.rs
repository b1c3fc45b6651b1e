//! `Barrier` keeps asyncio's guarantees: `wait` returns the arrival indices `0..parties`;
//! the barrier is reusable round after round; `abort` makes current and later waits fail with
//! `SyncError::BrokenBarrier` (`broken()`); `reset` breaks the current waiters and makes the
//! barrier usable again; `n_waiting` counts the current round; a cancelled waiter leaves its
//! round (the round still needs `parties` live arrivals). Ports of CPython's `BarrierTests`.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use aio_scheduler::sleep;
use aio_sync::{Barrier, SyncError};
use aio_task::{Error, Task, create_task, run, wait_for};
use common::Hand;

const N: usize = 5;

/// Awaits a task that must finish (a lost wake-up fails the test instead of hanging it).
async fn finish<T: 'static>(task: Task<T>) -> T {
    wait_for(task, 5.0)
        .await
        .expect("deadlock: the task never finished")
        .expect("the task failed")
}

fn waiters(barrier: &Rc<Barrier>, n: usize) -> Result<Vec<Task<Result<usize, SyncError>>>, Error> {
    (0..n)
        .map(|_| {
            let b = barrier.clone();
            create_task(async move { b.wait().await })
        })
        .collect()
}

/// CPython `test_context_manager` / `test_filling_tasks_check_return_value`: the indices are
/// exactly `0..parties`, and the barrier is empty and unbroken afterwards.
#[test]
fn wait_returns_arrival_indices() {
    run(async {
        let barrier = Rc::new(Barrier::new(N));
        assert_eq!(barrier.parties(), N);
        let tasks = waiters(&barrier, N)?;
        let mut indices = Vec::new();
        for task in tasks {
            indices.push(finish(task).await.unwrap());
        }
        // Tasks arrive in creation order.
        assert_eq!(indices, (0..N).collect::<Vec<_>>());
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.broken());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_filling_one_task` / `test_filling_one_task_twice`, and `Barrier::new(0)`
/// behaves as one party.
#[test]
fn one_party_never_waits() {
    let barrier = Barrier::new(1);
    for _ in 0..3 {
        assert_eq!(Hand::start(barrier.wait()).ok(), Some(Ok(0)));
        assert_eq!(barrier.n_waiting(), 0);
    }
    assert!(!barrier.broken());
    let zero = Barrier::new(0);
    assert_eq!(zero.parties(), 1);
    assert_eq!(Hand::start(zero.wait()).ok(), Some(Ok(0)));
}

/// CPython `test_filling_task_by_task`: `n_waiting` counts arrivals; the last one releases
/// everyone.
#[test]
fn filling_task_by_task() {
    run(async {
        let barrier = Rc::new(Barrier::new(3));
        let t1 = waiters(&barrier, 1)?;
        sleep(0).await?;
        assert_eq!(barrier.n_waiting(), 1);
        let t2 = waiters(&barrier, 1)?;
        sleep(0).await?;
        assert_eq!(barrier.n_waiting(), 2);
        let t3 = waiters(&barrier, 1)?;
        sleep(0).await?;
        assert_eq!(barrier.n_waiting(), 0);
        assert!(t3[0].done());
        let mut indices = Vec::new();
        for task in t1.into_iter().chain(t2).chain(t3) {
            indices.push(finish(task).await.unwrap());
        }
        assert_eq!(indices, [0, 1, 2]);
        assert!(!barrier.broken());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_filling_tasks_wait_twice` and more rounds: every round's indices are a
/// permutation of `0..parties`.
#[test]
fn barrier_is_reusable_for_several_rounds() {
    const ROUNDS: usize = 4;
    run(async {
        let barrier = Rc::new(Barrier::new(N));
        let log: Rc<RefCell<Vec<Vec<usize>>>> = Rc::new(RefCell::new(vec![Vec::new(); ROUNDS]));
        let mut tasks = Vec::new();
        for t in 0..N {
            let (barrier, log) = (barrier.clone(), log.clone());
            tasks.push(create_task(async move {
                for round in 0..ROUNDS {
                    for _ in 0..(t + round) % 3 {
                        sleep(0).await.unwrap(); // arrive in varying orders
                    }
                    let index = barrier.wait().await.unwrap();
                    log.borrow_mut()[round].push(index);
                }
            })?);
        }
        for task in tasks {
            finish(task).await;
        }
        for round in log.borrow().iter() {
            let mut sorted = round.clone();
            sorted.sort();
            assert_eq!(sorted, (0..N).collect::<Vec<_>>());
        }
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.broken());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_abort_barrier` and abort with waiters: they fail with `BrokenBarrier`, and
/// so does every later wait until `reset`.
#[test]
fn abort_breaks_current_and_later_waiters() {
    run(async {
        let barrier = Rc::new(Barrier::new(N));
        let tasks = waiters(&barrier, N - 1)?;
        sleep(0).await?;
        assert_eq!(barrier.n_waiting(), N - 1);
        barrier.abort();
        assert!(barrier.broken());
        assert_eq!(barrier.n_waiting(), 0);
        for task in tasks {
            assert_eq!(finish(task).await, Err(SyncError::BrokenBarrier));
        }
        for _ in 0..N {
            assert_eq!(barrier.wait().await, Err(SyncError::BrokenBarrier));
        }
        assert_eq!(barrier.n_waiting(), 0);
        assert!(barrier.broken());
        assert_eq!(
            SyncError::BrokenBarrier.to_string(),
            "the barrier is broken"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_reset_barrier` / `test_reset_barrier_while_tasks_waiting`: reset breaks the
/// waiting tasks, and the barrier then works normally (not broken).
#[test]
fn reset_breaks_waiters_and_makes_the_barrier_usable_again() {
    run(async {
        let barrier = Rc::new(Barrier::new(N));
        barrier.reset(); // on an empty barrier: no effect
        assert!(!barrier.broken());
        assert_eq!(barrier.n_waiting(), 0);

        let tasks = waiters(&barrier, N - 1)?;
        sleep(0).await?;
        barrier.reset();
        assert!(!barrier.broken());
        assert_eq!(barrier.n_waiting(), 0);
        for task in tasks {
            assert_eq!(finish(task).await, Err(SyncError::BrokenBarrier));
        }
        let tasks = waiters(&barrier, N)?;
        let mut indices = Vec::new();
        for task in tasks {
            indices.push(finish(task).await.unwrap());
        }
        assert_eq!(indices, (0..N).collect::<Vec<_>>());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_reset_barrier_while_tasks_waiting_and_waiting_again`: the broken waiters
/// wait again and, with one more task, complete a round.
#[test]
fn reset_waiters_can_wait_again() {
    run(async {
        let barrier = Rc::new(Barrier::new(N));
        let mut tasks = Vec::new();
        for _ in 0..N - 1 {
            let b = barrier.clone();
            tasks.push(create_task(async move {
                assert_eq!(b.wait().await, Err(SyncError::BrokenBarrier));
                b.wait().await.unwrap()
            })?);
        }
        sleep(0).await?;
        barrier.reset();
        // The broken waiters resume, then re-arrive once the reset round has drained (as in
        // asyncio, where new waits block while the barrier is resetting): a few iterations.
        for _ in 0..10 {
            if barrier.n_waiting() == N - 1 {
                break;
            }
            sleep(0).await?;
        }
        assert_eq!(barrier.n_waiting(), N - 1);
        let last = barrier.wait().await?;
        assert_eq!(last, N - 1);
        let mut indices = Vec::new();
        for task in tasks {
            indices.push(finish(task).await);
        }
        indices.sort();
        assert_eq!(indices, (0..N - 1).collect::<Vec<_>>());
        assert!(!barrier.broken());
        assert_eq!(barrier.n_waiting(), 0);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_abort_barrier_when_exception_then_resetting`: abort, then reset: usable.
#[test]
fn abort_then_reset_is_usable() {
    let barrier = Barrier::new(2);
    let mut a = Hand::pending(barrier.wait());
    barrier.abort();
    assert!(a.woken());
    assert_eq!(a.ready(), Err(SyncError::BrokenBarrier));
    assert_eq!(
        Hand::start(barrier.wait()).ok(),
        Some(Err(SyncError::BrokenBarrier))
    );
    barrier.reset();
    assert!(!barrier.broken());
    let mut b = Hand::pending(barrier.wait());
    assert_eq!(barrier.n_waiting(), 1);
    assert_eq!(Hand::start(barrier.wait()).ok(), Some(Ok(1)));
    assert!(b.woken());
    assert_eq!(b.ready(), Ok(0));
}

/// CPython `test_filling_tasks_cancel_one`: a cancelled waiter leaves the round; the round
/// still needs `parties` live arrivals.
#[test]
fn cancelled_waiter_leaves_the_round() {
    run(async {
        let barrier = Rc::new(Barrier::new(3));
        let t1 = waiters(&barrier, 1)?.remove(0);
        sleep(0).await?;
        assert_eq!(barrier.n_waiting(), 1);
        let t2 = waiters(&barrier, 1)?.remove(0);
        sleep(0).await?;
        assert_eq!(barrier.n_waiting(), 2);
        t1.cancel(None);
        sleep(0).await?;
        assert_eq!(barrier.n_waiting(), 1);
        assert!(t1.await.unwrap_err().is_cancelled());
        let t3 = waiters(&barrier, 1)?.remove(0);
        sleep(0).await?;
        assert_eq!(barrier.n_waiting(), 2);
        assert!(!t2.done() && !t3.done(), "two live arrivals are not enough");
        let t4 = waiters(&barrier, 1)?.remove(0);
        for task in [t2, t3, t4] {
            assert!(finish(task).await.is_ok());
        }
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.broken());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Hand-polled: a waiter released by the last arrival and dropped before it runs does not
/// disturb the next round's count.
#[test]
fn released_waiter_dropped_before_it_runs_does_not_disturb_the_next_round() {
    let barrier = Barrier::new(2);
    let a = Hand::pending(barrier.wait());
    assert_eq!(Hand::start(barrier.wait()).ok(), Some(Ok(1)));
    assert!(a.woken());
    a.cancel();
    assert_eq!(barrier.n_waiting(), 0);
    let mut c = Hand::pending(barrier.wait());
    assert_eq!(barrier.n_waiting(), 1);
    assert_eq!(Hand::start(barrier.wait()).ok(), Some(Ok(1)));
    assert_eq!(c.ready(), Ok(0));
    assert_eq!(barrier.n_waiting(), 0);
}

/// Hand-polled: cancelling un-released waiters one by one brings `n_waiting` back to zero,
/// and a full round of new arrivals then completes normally.
#[test]
fn cancelling_every_waiter_empties_the_round() {
    let barrier = Barrier::new(4);
    let hands: Vec<_> = (0..3).map(|_| Hand::pending(barrier.wait())).collect();
    assert_eq!(barrier.n_waiting(), 3);
    for (left, hand) in (0..3).rev().zip(hands) {
        hand.cancel();
        assert_eq!(barrier.n_waiting(), left);
    }
    let mut hands: Vec<_> = (0..3).map(|_| Hand::pending(barrier.wait())).collect();
    assert_eq!(Hand::start(barrier.wait()).ok(), Some(Ok(3)));
    let indices: Vec<_> = hands.iter_mut().map(|h| h.ready().unwrap()).collect();
    assert_eq!(indices, [0, 1, 2]);
}

/// CPython `test_abort_barrier_when_tasks_half_draining_half_blocking` (reduced): a round was
/// released, but one of its waiters has not resumed yet when the barrier is aborted. In
/// asyncio (and `threading.Barrier`) that waiter is still inside the barrier ("draining") and
/// gets `BrokenBarrierError` (checked with CPython 3.13).
#[test]
fn abort_while_draining_breaks_the_waiters_that_have_not_resumed() {
    let barrier = Barrier::new(2);
    let mut x = Hand::pending(barrier.wait());
    assert_eq!(Hand::start(barrier.wait()).ok(), Some(Ok(1))); // releases the round
    barrier.abort(); // before `x` resumed
    assert_eq!(x.ready(), Err(SyncError::BrokenBarrier));
}

/// asyncio: a task arriving while a released round is still draining is not inside the
/// barrier yet (it blocks until the drain ends), so a `reset` then does not break it; it
/// waits in the next round (checked with CPython 3.13: it returns 0, its partner 1).
#[test]
fn reset_while_draining_spares_a_task_that_arrived_during_the_drain() {
    let barrier = Barrier::new(2);
    let mut x = Hand::pending(barrier.wait());
    assert_eq!(Hand::start(barrier.wait()).ok(), Some(Ok(1))); // releases the round
    let mut z = Hand::pending(barrier.wait()); // arrives before `x` resumed
    barrier.reset();
    assert_eq!(x.ready(), Err(SyncError::BrokenBarrier));
    z.still_pending();
    assert!(!barrier.broken());
    assert_eq!(Hand::start(barrier.wait()).ok(), Some(Ok(1)));
    assert_eq!(z.ready(), Ok(0));
}

/// The same with `reset` (CPython `test_reset_barrier_when_tasks_half_draining`): asyncio
/// breaks the released waiter that has not resumed yet, and the barrier is not broken.
#[test]
fn reset_while_draining_breaks_the_waiters_that_have_not_resumed() {
    let barrier = Barrier::new(2);
    let mut x = Hand::pending(barrier.wait());
    assert_eq!(Hand::start(barrier.wait()).ok(), Some(Ok(1))); // releases the round
    barrier.reset(); // before `x` resumed
    assert_eq!(x.ready(), Err(SyncError::BrokenBarrier));
    assert!(!barrier.broken());
}
