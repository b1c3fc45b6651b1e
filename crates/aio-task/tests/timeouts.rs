//! `wait_for`, `timeout` and `timeout_at`: on expiry the guarded future is dropped and the
//! caller gets `Error::Timeout`; nested scopes report only where the deadline expired;
//! `reschedule` moves a running deadline; a deadline of zero or less stops the future at its
//! first suspension, so a finished task gives its result; an invalid delay is an error, not a
//! hang.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use aio_scheduler::sleep;
use aio_task::{Error, create_future, create_task, run, timeout, timeout_at, wait_for};

/// Sets its flag when dropped: stands in for a `finally` block.
struct OnDrop(Rc<Cell<bool>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// A future that never finishes and records being dropped.
fn forever(dropped: &Rc<Cell<bool>>) -> impl Future<Output = ()> + use<> {
    let guard = OnDrop(dropped.clone());
    async move {
        let _guard = guard;
        sleep(3600).await.unwrap();
    }
}

/// Runs `body` on a new loop, failing (instead of hanging) if it takes more than 10 s.
fn run_guarded<F>(body: F) -> F::Output
where
    F: Future + 'static,
    F::Output: 'static,
{
    run(async move { wait_for(body, 10.0).await.expect("the test hung") }).unwrap()
}

#[test]
fn wait_for_gives_the_output_when_in_time() {
    run_guarded(async {
        assert_eq!(wait_for(async { 1 }, 1.0).await.unwrap(), 1);
        let slowish = async {
            sleep(0.005).await.unwrap();
            "made it"
        };
        assert_eq!(
            wait_for(slowish, Duration::from_secs(5)).await.unwrap(),
            "made it"
        );
    });
}

#[test]
fn on_expiry_wait_for_drops_the_future_and_reports_timeout() {
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    run_guarded(async move {
        let start = Instant::now();
        let outcome = wait_for(forever(&d), 0.02).await;
        assert!(matches!(outcome, Err(Error::Timeout)), "{outcome:?}");
        assert!(d.get(), "dropped by the time the caller sees the timeout");
        assert!(start.elapsed() >= Duration::from_millis(20));
    });
    assert!(dropped.get());
}

#[test]
fn on_expiry_a_timeout_scope_drops_the_future_and_is_expired() {
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    run_guarded(async move {
        let scope = timeout(0.01);
        assert!(!scope.expired());
        assert!(matches!(scope.run(forever(&d)).await, Err(Error::Timeout)));
        assert!(d.get());
        assert!(scope.expired());

        let at = timeout_at(Some(Instant::now() + Duration::from_millis(10)));
        let d2 = Rc::new(Cell::new(false));
        assert!(matches!(at.run(forever(&d2)).await, Err(Error::Timeout)));
        assert!(d2.get() && at.expired());
    });
}

#[test]
fn a_scope_that_finishes_in_time_is_not_expired() {
    run_guarded(async {
        let scope = timeout(5);
        assert_eq!(scope.run(async { 3 }).await.unwrap(), 3);
        assert!(!scope.expired());
        let none = timeout_at(None);
        assert_eq!(
            none.run(sleep(0.005)).await.unwrap().map(|()| 4).unwrap(),
            4
        );
        assert!(!none.expired() && none.when().is_none());
    });
}

#[test]
fn when_the_inner_scope_expires_first_the_outer_body_sees_the_timeout_and_continues() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    run_guarded(async move {
        let outer = timeout(5);
        let inner = timeout(0.01);
        let inner2 = inner.clone();
        let out = outer
            .run(async move {
                let dropped = Rc::new(Cell::new(false));
                let r = inner2.run(forever(&dropped)).await;
                assert!(matches!(r, Err(Error::Timeout)));
                assert!(dropped.get());
                l.borrow_mut().push("outer body continued");
                sleep(0.005).await.unwrap();
                "outer body succeeded"
            })
            .await;
        assert_eq!(out.unwrap(), "outer body succeeded");
        assert!(inner.expired());
        assert!(!outer.expired());
    });
    assert_eq!(*log.borrow(), ["outer body continued"]);
}

#[test]
fn when_the_outer_scope_expires_first_it_reports_and_drops_the_inner_future() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    run_guarded(async move {
        let outer = timeout(0.02);
        let inner = timeout(3600);
        let inner2 = inner.clone();
        let out = outer
            .run(async move {
                let r = inner2.run(forever(&d)).await;
                l.borrow_mut().push(format!("inner gave {r:?}"));
            })
            .await;
        assert!(matches!(out, Err(Error::Timeout)));
        assert!(outer.expired());
        assert!(!inner.expired());
    });
    assert!(dropped.get(), "the inner future was dropped");
    assert!(
        log.borrow().is_empty(),
        "the inner scope reported nothing: {log:?}"
    );
}

#[test]
fn when_both_deadlines_have_passed_the_outer_scope_reports() {
    // asyncio (3.11): both `call_at` callbacks cancel the task; the inner scope sees a
    // cancellation that is not only its own and lets it through; the outer one raises
    // TimeoutError. The outer deadline is the earlier one here, so the outer scope must report.
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    run_guarded(async move {
        let outer = timeout(0.01);
        let inner = timeout(0.02);
        let inner2 = inner.clone();
        let out = outer
            .run(async move {
                let r = inner2
                    .run(async {
                        // Block the loop past both deadlines, then suspend.
                        std::thread::sleep(Duration::from_millis(50));
                        sleep(3600).await.unwrap();
                    })
                    .await;
                l.borrow_mut()
                    .push(format!("outer body continued after {r:?}"));
                "outer body finished"
            })
            .await;
        assert!(matches!(out, Err(Error::Timeout)), "outer gave {out:?}");
        assert!(outer.expired());
    });
    assert!(log.borrow().is_empty(), "{:?}", log.borrow());
}

#[test]
fn reschedule_later_from_inside_the_guarded_future() {
    run_guarded(async {
        let scope = timeout(0.01);
        let inner = scope.clone();
        let out = scope
            .run(async move {
                inner
                    .reschedule(Some(Instant::now() + Duration::from_secs(5)))
                    .unwrap();
                sleep(0.03).await.unwrap(); // outlives the original deadline
                "finished"
            })
            .await;
        assert_eq!(out.unwrap(), "finished");
        assert!(!scope.expired());
    });
}

#[test]
fn reschedule_earlier_from_inside_the_guarded_future() {
    run_guarded(async {
        let scope = timeout(3600);
        let inner = scope.clone();
        let start = Instant::now();
        let out = scope
            .run(async move {
                sleep(0).await.unwrap();
                inner
                    .reschedule(Some(Instant::now() + Duration::from_millis(10)))
                    .unwrap();
                sleep(3600).await.unwrap();
            })
            .await;
        assert!(matches!(out, Err(Error::Timeout)));
        assert!(scope.expired());
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn reschedule_earlier_from_another_task() {
    run_guarded(async {
        let scope = timeout(3600);
        let remote = scope.clone();
        let gate = create_future::<()>()?;
        let g = gate.clone();
        create_task(async move {
            g.await.unwrap();
            remote.reschedule(Some(Instant::now())).unwrap();
        })?;
        let out = scope
            .run(async move {
                gate.set_result(()).unwrap();
                sleep(3600).await.unwrap();
            })
            .await;
        assert!(matches!(out, Err(Error::Timeout)));
        assert!(scope.expired());
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn reschedule_later_from_another_task() {
    run_guarded(async {
        let scope = timeout(0.05);
        let remote = scope.clone();
        create_task(async move {
            remote
                .reschedule(Some(Instant::now() + Duration::from_secs(5)))
                .unwrap();
        })?;
        let out = scope
            .run(async {
                sleep(0.1).await.unwrap(); // past the original deadline
                "finished"
            })
            .await;
        assert_eq!(out?, "finished");
        assert!(!scope.expired());
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn reschedule_none_removes_the_deadline() {
    run_guarded(async {
        let scope = timeout(0.01);
        scope.reschedule(None).unwrap();
        assert!(scope.when().is_none());
        let out = scope
            .run(async {
                sleep(0.03).await.unwrap();
                "no deadline"
            })
            .await;
        assert_eq!(out.unwrap(), "no deadline");
        assert!(!scope.expired());
    });
}

/// asyncio: `reschedule` on a finished scope raises RuntimeError("Cannot change state of
/// expired Timeout") / ("... finished Timeout"). aio used to accept it silently.
#[test]
fn reschedule_after_the_scope_ended_is_an_error() {
    run_guarded(async {
        let expired = timeout(0.001);
        assert!(matches!(
            expired.run(sleep(3600)).await,
            Err(Error::Timeout)
        ));
        match expired.reschedule(None) {
            Err(Error::InvalidState(m)) => assert_eq!(m, "Cannot change state of expired Timeout"),
            other => panic!("{other:?}"),
        }
        let finished = timeout(3600);
        assert_eq!(finished.run(async { 1 }).await.unwrap(), 1);
        match finished.reschedule(None) {
            Err(Error::InvalidState(m)) => {
                assert_eq!(m, "Cannot change state of finished Timeout")
            }
            other => panic!("{other:?}"),
        }
        assert!(finished.when().is_some(), "the deadline was left alone");
    });
}

#[test]
fn when_reports_the_current_deadline() {
    let scope = timeout_at(None);
    assert!(scope.when().is_none());
    let at = Instant::now() + Duration::from_secs(1);
    scope.reschedule(Some(at)).unwrap();
    assert_eq!(scope.when(), Some(at));
    let from_delay = timeout(Duration::from_secs(10));
    let when = from_delay.when().unwrap();
    assert!(when > Instant::now() + Duration::from_secs(5));
}

#[test]
fn wait_for_with_zero_or_less_never_starts_a_coroutine() {
    // asyncio: `wait_for(coro, 0)` wraps the coroutine in a task, finds it not done, cancels
    // it before it ever ran and raises TimeoutError: no line of the body runs.
    // (Regression: the body ran up to its first suspension.)
    run_guarded(async {
        let started = Rc::new(Cell::new(0));
        let body = |started: &Rc<Cell<i32>>| {
            let started = started.clone();
            async move {
                started.set(started.get() + 1);
                7
            }
        };
        for delay in [0.0, -1.0] {
            assert!(matches!(
                wait_for(body(&started), delay).await,
                Err(Error::Timeout)
            ));
        }
        assert!(matches!(
            wait_for(body(&started), 0).await,
            Err(Error::Timeout)
        ));
        assert!(matches!(
            wait_for(body(&started), Duration::ZERO).await,
            Err(Error::Timeout)
        ));
        assert_eq!(started.get(), 0, "no body started");
    });
}

#[test]
fn a_timeout_scope_of_zero_or_less_stops_the_body_at_its_first_suspension() {
    // asyncio: `async with timeout(0)` runs the body until it first waits, then raises
    // TimeoutError; the part after the suspension never runs.
    run_guarded(async {
        let before = Rc::new(Cell::new(0));
        let after = Rc::new(Cell::new(0));
        let suspends = |before: &Rc<Cell<i32>>, after: &Rc<Cell<i32>>| {
            let (before, after) = (before.clone(), after.clone());
            async move {
                before.set(before.get() + 1);
                sleep(0).await.unwrap();
                after.set(after.get() + 1);
            }
        };
        for delay in [0.0, -1.0] {
            let scope = timeout(delay);
            assert!(matches!(
                scope.run(suspends(&before, &after)).await,
                Err(Error::Timeout)
            ));
            assert!(scope.expired());
        }
        let past = timeout_at(Some(Instant::now() - Duration::from_millis(1)));
        assert!(matches!(
            past.run(suspends(&before, &after)).await,
            Err(Error::Timeout)
        ));
        assert!(past.expired());
        assert_eq!(before.get(), 3, "each body ran up to its first suspension");
        assert_eq!(after.get(), 0, "and no further");
        // A body that never waits completes, and its scope did not expire.
        let zero = timeout(0);
        assert_eq!(zero.run(async { 7 }).await.unwrap(), 7);
        assert!(!zero.expired());
    });
}

#[test]
fn wait_for_zero_gives_the_result_of_a_finished_task_or_future() {
    // asyncio: `wait_for(fut, 0)` returns `fut.result()` when `fut` is already done.
    run_guarded(async {
        let task = create_task(async { 5 })?;
        sleep(0).await?;
        assert!(task.done());
        assert_eq!(wait_for(&task, 0).await??, 5);
        let future = create_future::<i32>()?;
        future.set_result(6)?;
        assert_eq!(wait_for(future, 0).await??, 6);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn wait_for_zero_cancels_a_pending_task() {
    // asyncio: `wait_for(task, 0)` on a pending task cancels it and raises TimeoutError.
    run_guarded(async {
        let task = create_task(sleep(3600))?;
        sleep(0).await?;
        assert!(matches!(wait_for(&task, 0).await, Err(Error::Timeout)));
        sleep(0).await?;
        assert!(task.cancelled());
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn an_invalid_delay_is_an_error_not_a_hang() {
    run_guarded(async {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let out = wait_for(async move { r.set(true) }, f64::NAN).await;
        assert!(
            matches!(
                out,
                Err(Error::Runtime(aio_scheduler::Error::InvalidDelay(_)))
            ),
            "{out:?}"
        );
        let scope = timeout(f64::NAN);
        let out = scope.run(sleep(3600)).await;
        assert!(matches!(
            out,
            Err(Error::Runtime(aio_scheduler::Error::InvalidDelay(_)))
        ));
        assert!(!scope.expired());
        assert!(!ran.get());
    });
}

#[test]
fn wait_for_outside_a_running_loop_is_an_error() {
    let mut timed = std::pin::pin!(wait_for(std::future::pending::<()>(), 5));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let polled = timed.as_mut().poll(&mut cx);
    assert!(
        matches!(
            polled,
            std::task::Poll::Ready(Err(Error::Runtime(aio_scheduler::Error::NoRunningLoop)))
        ),
        "{polled:?}"
    );
}

#[test]
fn on_expiry_wait_for_cancels_an_awaited_task() {
    // asyncio: "If a timeout occurs, it cancels the task and raises TimeoutError"; the same
    // happens for `async with timeout(..): await task`. aio drops only the `Join` handle,
    // and dropping a handle never cancels a task.
    run_guarded(async {
        let task = create_task(sleep(3600))?;
        let out = wait_for(&task, 0.01).await;
        assert!(matches!(out, Err(Error::Timeout)));
        sleep(0).await?;
        assert!(task.cancelled(), "the awaited task was cancelled");
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn a_deadline_that_passes_while_the_inner_future_is_finishing_still_times_out() {
    // The inner future gets its result and the deadline passes in the same loop iteration
    // (the loop is held up past both, so both timers fire together, the inner one first).
    // CPython 3.12+ (`timeout_at`, and `wait_for`, built on it): the scope still raises
    // TimeoutError and is expired; the inner future keeps its result.
    run_guarded(async {
        let lp = aio_scheduler::get_running_loop()?;
        for use_wait_for in [false, true] {
            let inner = create_future::<&str>()?;
            let setter = inner.clone();
            let start = Instant::now();
            let finishes = start + Duration::from_millis(20);
            let deadline = start + Duration::from_millis(30);
            lp.call_at(finishes, move || setter.set_result("inner done").unwrap())?;
            // Hold the loop up until both times have passed.
            lp.call_soon(move || std::thread::sleep(Duration::from_millis(60)))?;
            let outcome = if use_wait_for {
                wait_for(&inner, deadline - Instant::now()).await
            } else {
                let scope = timeout_at(Some(deadline));
                let outcome = scope.run(inner.clone()).await;
                assert!(scope.expired());
                outcome
            };
            assert!(matches!(outcome, Err(Error::Timeout)), "{outcome:?}");
            assert_eq!(
                inner.result()?,
                "inner done",
                "the inner future kept its result"
            );
        }
        Ok::<_, Error>(())
    })
    .unwrap();
}
