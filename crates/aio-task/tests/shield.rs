//! `shield`: cancelling the task that awaits a shield does not cancel the inner task, whose
//! result stays available; without cancellation the shield passes the inner outcome through.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use aio_scheduler::sleep;
use aio_task::{Error, create_future, create_task, run, shield, wait_for};

#[test]
fn cancelling_the_outer_does_not_cancel_the_inner_and_its_result_stays_available() {
    run(async {
        let gate = create_future::<()>()?;
        let g = gate.clone();
        let inner = create_task(async move {
            g.await.unwrap();
            "inner result"
        })?;
        let outer = create_task(shield(&inner))?;
        sleep(0).await?; // the outer task is now awaiting the shield
        assert!(outer.cancel("outer only"));
        let err = outer.await.unwrap_err();
        assert_eq!(err.cancel_message(), Some("outer only"));
        assert!(!inner.done() && !inner.cancelled());
        gate.set_result(())?;
        assert_eq!(inner.await?, "inner result");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_shielded_coroutine_keeps_running_after_the_outer_is_cancelled() {
    let finished = Rc::new(Cell::new(false));
    let f = finished.clone();
    run(async move {
        let gate = create_future::<()>()?;
        let g = gate.clone();
        let f2 = f.clone();
        let outer = create_task(shield(async move {
            g.await.unwrap();
            f2.set(true);
        }))?;
        sleep(0).await?;
        outer.cancel(None);
        assert!(outer.await.unwrap_err().is_cancelled());
        assert!(!f.get());
        gate.set_result(())?;
        let start = Instant::now();
        while !f.get() && start.elapsed() < Duration::from_secs(5) {
            sleep(0.001).await?;
        }
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert!(finished.get(), "the inner task finished on its own");
}

#[test]
fn a_timeout_around_a_shield_leaves_the_inner_task_running() {
    run(async {
        let gate = create_future::<()>()?;
        let g = gate.clone();
        let inner = create_task(async move {
            g.await.unwrap();
            7
        })?;
        let out = wait_for(shield(&inner), 0.005).await;
        assert!(matches!(out, Err(Error::Timeout)));
        assert!(!inner.done() && !inner.cancelled());
        gate.set_result(())?;
        assert_eq!(inner.await?, 7);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn without_cancellation_the_inner_outcome_passes_through() {
    run(async {
        assert_eq!(shield(async { 5 }).await?, 5);
        let err = shield(async { panic!("inner broke") }).await.unwrap_err();
        assert!(matches!(err, Error::Panicked(m) if &*m == "inner broke"));
        let fut = create_future::<&str>()?;
        let setter = fut.clone();
        aio_scheduler::get_running_loop()?.call_soon(move || setter.set_result("set").unwrap())?;
        assert_eq!(shield(fut).await?, "set");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn cancelling_the_inner_task_reaches_the_awaiter() {
    run(async {
        let inner = create_task(sleep(3600))?;
        let outer = create_task(shield(&inner))?;
        sleep(0).await?;
        inner.cancel("inner cancelled");
        let err = outer.await?.unwrap_err();
        assert_eq!(err.cancel_message(), Some("inner cancelled"));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
