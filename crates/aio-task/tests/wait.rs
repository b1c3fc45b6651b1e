//! `wait`: `FIRST_COMPLETED`, `FIRST_EXCEPTION` (a cancellation is not an exception, a panic
//! is), `ALL_COMPLETED`; returns `(done, pending)`; a timeout returns without cancelling
//! anything; an empty set is `Error::Value`.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use aio_scheduler::sleep;
use aio_task::{
    ALL_COMPLETED, Error, FIRST_COMPLETED, FIRST_EXCEPTION, Future, Task, create_future,
    create_task, run, wait,
};

/// A task that waits for its gate, then returns `value` (or panics with it when `fail`).
fn gated(value: &'static str, fail: bool) -> Result<(Task<&'static str>, Future<()>), Error> {
    let gate = create_future::<()>()?;
    let g = gate.clone();
    let task = create_task(async move {
        g.await.unwrap();
        assert!(!fail, "{value}");
        value
    })?;
    Ok((task, gate))
}

fn names(tasks: &[Task<&'static str>]) -> Vec<&'static str> {
    tasks
        .iter()
        .map(|t| t.result().unwrap_or("<error>"))
        .collect()
}

#[test]
fn first_completed_returns_as_soon_as_one_task_is_done() {
    run(async {
        let (a, gate_a) = gated("a", false)?;
        let (b, gate_b) = gated("b", false)?;
        let (c, gate_c) = gated("c", false)?;
        let waiter = create_task(wait([&a, &b, &c]).return_when(FIRST_COMPLETED))?;
        sleep(0.005).await?;
        assert!(!waiter.done());
        gate_b.set_result(())?;
        let (done, pending) = waiter.await??;
        assert_eq!(names(&done), ["b"]);
        assert_eq!(pending.len(), 2);
        assert!(pending.iter().all(|t| !t.done()), "nothing was cancelled");
        gate_a.set_result(())?;
        gate_c.set_result(())?;
        assert_eq!((a.await?, c.await?), ("a", "c"));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn first_exception_returns_at_the_first_panic() {
    run(async {
        let (ok, gate_ok) = gated("ok", false)?;
        let (bad, gate_bad) = gated("bad", true)?;
        let (slow, gate_slow) = gated("slow", false)?;
        let waiter = create_task(wait([&ok, &bad, &slow]).return_when(FIRST_EXCEPTION))?;
        gate_ok.set_result(())?;
        sleep(0.005).await?;
        assert!(!waiter.done(), "a success is not an exception");
        gate_bad.set_result(())?;
        let (done, pending) = waiter.await??;
        assert_eq!(done.len(), 2);
        assert_eq!(done[0].result()?, "ok");
        assert!(matches!(done[1].result(), Err(Error::Panicked(m)) if &*m == "bad"));
        assert_eq!(pending.len(), 1);
        gate_slow.set_result(())?;
        assert_eq!(slow.await?, "slow");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn first_exception_counts_an_error_set_on_a_future() {
    run(async {
        let fut = create_future::<&'static str>()?;
        let (other, gate) = gated("other", false)?;
        let from_future = aio_task::IntoTask::into_task(&fut)?;
        let waiter = create_task(wait([&from_future, &other]).return_when(FIRST_EXCEPTION))?;
        sleep(0).await?;
        fut.set_exception(std::io::Error::other("broken"))?;
        let (done, pending) = waiter.await??;
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].result().unwrap_err().to_string(), "broken");
        assert_eq!(pending.len(), 1);
        gate.set_result(())?;
        other.await?;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn first_exception_does_not_count_a_cancellation() {
    run(async {
        let (survivor, gate) = gated("survivor", false)?;
        let victim = create_task(async {
            sleep(3600).await.unwrap();
            "victim"
        })?;
        let waiter = create_task(wait([&victim, &survivor]).return_when(FIRST_EXCEPTION))?;
        sleep(0).await?;
        victim.cancel(None);
        sleep(0.02).await?; // many iterations: the cancellation is long done
        assert!(victim.cancelled());
        assert!(!waiter.done(), "a cancelled task is not an exception");
        gate.set_result(())?;
        let (done, pending) = waiter.await??;
        assert_eq!(
            done.len(),
            2,
            "with no exception, FIRST_EXCEPTION waits for all"
        );
        assert!(pending.is_empty());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn all_completed_waits_for_every_task_including_failures() {
    run(async {
        let tasks = vec![
            create_task(async {
                sleep(0.01).await.unwrap();
                1
            })?,
            create_task(async { panic!("two") })?,
            create_task(async { 3 })?,
        ];
        let (done, pending) = wait(&tasks).return_when(ALL_COMPLETED).await?;
        assert_eq!(done.len(), 3);
        assert!(pending.is_empty());
        assert!(tasks.iter().all(Task::done));
        assert_eq!(tasks[0].result()?, 1);
        assert!(tasks[1].result().is_err());
        // The default is ALL_COMPLETED too.
        let (done, pending) = wait((0..2).map(|i| async move { i })).await?;
        assert_eq!((done.len(), pending.len()), (2, 0));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn done_and_pending_keep_the_argument_order() {
    run(async {
        let (a, _gate_a) = gated("a", false)?;
        let (b, gate_b) = gated("b", false)?;
        let (c, _gate_c) = gated("c", false)?;
        let (d, gate_d) = gated("d", false)?;
        gate_d.set_result(())?;
        gate_b.set_result(())?;
        let (done, pending) = wait([&a, &b, &c, &d]).timeout(0.02).await?;
        assert_eq!(names(&done), ["b", "d"]);
        assert_eq!(pending.len(), 2);
        assert!(pending[0].erase().same(&a.erase()) && pending[1].erase().same(&c.erase()));
        for task in pending {
            task.cancel(None);
        }
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_timeout_returns_without_cancelling_anything() {
    run(async {
        let (slow, gate) = gated("slow", false)?;
        let quick = create_task(async { "quick" })?;
        let (done, pending) = wait([&slow, &quick]).timeout(0.02).await?;
        assert_eq!(names(&done), ["quick"]);
        assert_eq!(pending.len(), 1);
        assert!(!slow.done() && !slow.cancelled());
        sleep(0.01).await?;
        assert!(!slow.done(), "still running after the timeout");
        gate.set_result(())?;
        assert_eq!(slow.await?, "slow", "the pending task runs to completion");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn cancelling_the_waiter_does_not_cancel_the_tasks() {
    run(async {
        let (task, gate) = gated("kept", false)?;
        let waiter = create_task(wait([&task]))?;
        sleep(0).await?;
        waiter.cancel(None);
        assert!(waiter.await.unwrap_err().is_cancelled());
        sleep(0).await?;
        assert!(!task.done());
        gate.set_result(())?;
        assert_eq!(task.await?, "kept");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn an_empty_set_is_a_value_error() {
    run(async {
        let err = wait(Vec::<Task<()>>::new()).await.unwrap_err();
        assert!(matches!(err, Error::Value(_)), "{err:?}");
        let err = wait(std::iter::empty::<Task<u8>>())
            .return_when(FIRST_COMPLETED)
            .timeout(1)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Value(_)), "{err:?}");
    })
    .unwrap();
}

#[test]
fn an_invalid_timeout_is_an_error_not_an_instant_timeout() {
    // Regression: the timer's InvalidDelay error counted as "timed out", so `wait` returned
    // at once with every task pending, silently.
    run(async {
        for bad in [f64::NAN] {
            let task = create_task(sleep(3600))?;
            let outcome = wait([&task]).timeout(bad).await;
            assert!(
                matches!(
                    &outcome,
                    Err(Error::Runtime(aio_scheduler::Error::InvalidDelay(_)))
                ),
                "{bad}: {outcome:?}"
            );
            task.cancel(None);
        }
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn the_timeout_starts_when_the_wait_is_awaited_not_when_it_is_built() {
    // asyncio's `wait` is a coroutine: its timeout counts from when it runs. Regression: the
    // deadline was fixed when `.timeout()` was called.
    run(async {
        let gate = create_future::<()>()?;
        let g = gate.clone();
        let task = create_task(async move { g.await })?;
        let waiting = wait([&task]).timeout(0.2);
        sleep(0.3).await?; // a deadline counted from `.timeout()` has passed
        aio_scheduler::get_running_loop()?.call_soon(move || gate.set_result(()).unwrap())?;
        let (done, pending) = waiting.await?;
        assert_eq!((done.len(), pending.len()), (1, 0));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
