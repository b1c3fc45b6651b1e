//! `gather` and `gather!`: results in argument order; the first error in completion order
//! finishes the gather while the other children keep running; `return_exceptions` returns
//! every outcome; cancelling or dropping an unfinished gather cancels every child; coroutines
//! become tasks, tasks are used as they are.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use aio_scheduler::{EventLoop, sleep};
use aio_task::{
    Error, EventLoopExt, Future, IntoTask, Task, create_future, create_task, gather, run, wait_for,
};

/// Counts drops: stands in for a `finally` block.
struct OnDrop(Rc<Cell<u32>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// A child that waits for `gate`, then returns `value` or panics with `value` as message.
async fn gated(gate: Future<()>, value: &'static str, fail: bool) -> &'static str {
    gate.await.unwrap();
    assert!(!fail, "{value}");
    value
}

#[test]
fn results_come_back_in_argument_order_not_completion_order() {
    let completion = Rc::new(RefCell::new(Vec::new()));
    let c = completion.clone();
    let results = run(async move {
        gather((1..=4u32).map(|i| {
            let c = c.clone();
            async move {
                sleep(0.015 * f64::from(5 - i)).await.unwrap(); // the last finishes first
                c.borrow_mut().push(i);
                i * 10
            }
        }))
        .await
    })
    .unwrap()
    .unwrap();
    assert_eq!(results, [10, 20, 30, 40]);
    assert_eq!(*completion.borrow(), [4, 3, 2, 1]);
}

#[test]
fn the_first_error_in_completion_order_finishes_the_gather_and_the_others_keep_running() {
    run(async {
        let gates: Vec<Future<()>> = (0..3).map(|_| create_future().unwrap()).collect();
        // Argument order: ok, fails "b", fails "c". Completion order: c, then b, then a.
        let a = create_task(gated(gates[0].clone(), "a", false))?;
        let b = create_task(gated(gates[1].clone(), "b", true))?;
        let c = create_task(gated(gates[2].clone(), "c", true))?;
        let all = create_task(gather([&a, &b, &c]))?;
        sleep(0).await?;
        gates[2].set_result(())?;
        let err = all.await?.unwrap_err();
        assert!(
            matches!(&err, Error::Panicked(m) if &**m == "c"),
            "the first error in completion order, not argument order: {err:?}"
        );
        assert!(c.done());
        assert!(!a.done() && !b.done(), "the others are not cancelled");
        gates[1].set_result(())?;
        gates[0].set_result(())?;
        assert!(matches!(b.await, Err(Error::Panicked(m)) if &*m == "b"));
        assert_eq!(a.await?, "a", "the others still complete afterwards");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn children_failing_after_the_gather_finished_are_not_reported_as_unretrieved() {
    // asyncio's gather marks the exceptions of children that finish after it is done as
    // retrieved (`fut.exception()` in `_done_callback`), so nothing is logged.
    let lp = EventLoop::new().unwrap();
    let seen = Rc::new(RefCell::new(Vec::<String>::new()));
    let s = seen.clone();
    lp.set_exception_handler(move |_, ctx| s.borrow_mut().push(ctx.to_string()));
    lp.run_until_complete(async {
        let first = create_future::<()>().unwrap();
        let second = create_future::<()>().unwrap();
        let all = gather([
            gated(first.clone(), "first", true),
            gated(second.clone(), "second", true),
        ]);
        first.set_result(()).unwrap();
        let err = all.await.unwrap_err();
        assert!(matches!(&err, Error::Panicked(m) if &**m == "first"));
        second.set_result(()).unwrap();
        sleep(0.01).await.unwrap(); // "second" fails now, and its task is dropped
    })
    .unwrap();
    lp.close().unwrap();
    assert!(seen.borrow().is_empty(), "reported: {:?}", seen.borrow());
}

#[test]
fn a_child_cancelled_from_outside_finishes_the_gather_with_cancelled() {
    run(async {
        let gate = create_future::<()>()?;
        let victim = create_task(async {
            sleep(3600).await.unwrap();
            "victim"
        })?;
        let other = create_task(gated(gate.clone(), "other", false))?;
        let all = create_task(gather([&victim, &other]))?;
        sleep(0).await?;
        victim.cancel("from outside");
        let err = all.await?.unwrap_err();
        assert!(err.is_cancelled(), "asyncio raises CancelledError: {err:?}");
        assert_eq!(err.cancel_message(), Some("from outside"));
        assert!(!other.done(), "the other child keeps running");
        gate.set_result(())?;
        assert_eq!(other.await?, "other");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn return_exceptions_returns_every_outcome_in_argument_order() {
    run(async {
        let cancelled = create_task(async {
            sleep(3600).await.unwrap();
            4
        })?;
        let failing_future = create_future::<i32>()?;
        let tasks: Vec<Task<i32>> = vec![
            create_task(async {
                sleep(0.01).await.unwrap();
                1
            })?,
            create_task(async { panic!("two broke") })?,
            create_task(async { 3 })?,
            cancelled.clone(),
            failing_future.clone().into_task()?, // its error becomes the outcome
        ];
        let all = gather(&tasks).return_exceptions();
        sleep(0).await?;
        cancelled.cancel("stop");
        failing_future.set_exception(std::io::Error::other("five broke"))?;
        let outcomes = all.await?;
        assert_eq!(outcomes.len(), 5);
        assert_eq!(*outcomes[0].as_ref().unwrap(), 1);
        assert!(matches!(&outcomes[1], Err(Error::Panicked(m)) if &**m == "two broke"));
        assert_eq!(*outcomes[2].as_ref().unwrap(), 3);
        assert_eq!(
            outcomes[3].as_ref().unwrap_err().cancel_message(),
            Some("stop")
        );
        assert_eq!(outcomes[4].as_ref().unwrap_err().to_string(), "five broke");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn cancelling_the_task_awaiting_a_gather_cancels_every_child() {
    let dropped = Rc::new(Cell::new(0));
    let d = dropped.clone();
    run(async move {
        let children: Vec<Task<()>> = (0..3)
            .map(|_| {
                let guard = OnDrop(d.clone());
                create_task(async move {
                    let _guard = guard;
                    sleep(3600).await.unwrap();
                })
                .unwrap()
            })
            .collect();
        let outer = create_task(gather(&children))?;
        sleep(0).await?; // everything starts and parks
        assert!(outer.cancel(None));
        assert!(outer.await.unwrap_err().is_cancelled());
        for child in children {
            assert!(child.await.unwrap_err().is_cancelled());
        }
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(dropped.get(), 3, "every child's destructors ran");
}

#[test]
fn cancelling_a_gather_of_coroutines_drops_every_child() {
    let dropped = Rc::new(Cell::new(0));
    let d = dropped.clone();
    let lp = EventLoop::new().unwrap();
    lp.run_until_complete(async move {
        let outer = create_task(gather((0..4).map(|_| {
            let guard = OnDrop(d.clone());
            async move {
                let _guard = guard;
                sleep(3600).await.unwrap();
            }
        })))
        .unwrap();
        sleep(0).await.unwrap();
        outer.cancel(None);
        assert!(outer.await.unwrap_err().is_cancelled());
        sleep(0).await.unwrap(); // the children are dropped at their next scheduling point
    })
    .unwrap();
    // Checked before the loop closes: cancellation, not close(), dropped them.
    assert_eq!(dropped.get(), 4);
    assert!(lp.all_tasks().is_empty());
}

#[test]
fn a_gather_dropped_by_a_timeout_cancels_its_children() {
    run(async {
        let children: Vec<Task<()>> = (0..2)
            .map(|_| create_task(async { sleep(3600).await.unwrap() }).unwrap())
            .collect();
        let outcome = wait_for(gather(&children), 0.01).await;
        assert!(matches!(outcome, Err(Error::Timeout)));
        for child in children {
            assert!(child.await.unwrap_err().is_cancelled());
        }
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn coroutines_become_tasks_at_once() {
    let started = Rc::new(Cell::new(0));
    let s = started.clone();
    run(async move {
        let before = aio_task::all_tasks()?.len();
        let all = gather((0..3).map(|i| {
            let s = s.clone();
            async move {
                s.set(s.get() + 1);
                let me = aio_task::current_task().expect("a child runs as a task");
                (i, me.get_name())
            }
        }));
        assert_eq!(aio_task::all_tasks()?.len(), before + 3, "three new tasks");
        sleep(0).await?;
        assert_eq!(
            s.get(),
            3,
            "the children run even before the gather is awaited"
        );
        let results = all.await?;
        let names: Vec<String> = results.iter().map(|(_, n)| n.clone()).collect();
        assert_eq!(
            results.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert!(names[0] != names[1] && names[1] != names[2] && names[0] != names[2]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(started.get(), 3);
}

#[test]
fn tasks_passed_in_are_used_as_is_and_their_values_come_back_unwrapped() {
    run(async {
        let first = create_task(async { String::from("one") })?;
        let second = create_task(async {
            sleep(0.005).await.unwrap();
            String::from("two")
        })?;
        first.set_name("first");
        let before = aio_task::all_tasks()?.len();
        let all = gather([&first, &second]);
        assert_eq!(
            aio_task::all_tasks()?.len(),
            before,
            "no new task was created"
        );
        let values: Vec<String> = all.await?; // not Vec<Result<..>>
        assert_eq!(values, ["one", "two"]);
        assert!(first.done() && second.done());
        assert_eq!(first.get_name(), "first");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn the_tuple_macro_gathers_awaitables_of_different_types() {
    run(async {
        let task = create_task(async { String::from("from a task") })?;
        let fut = create_future::<f64>()?;
        let setter = fut.clone();
        aio_scheduler::get_running_loop()?.call_later(0.005, move || {
            setter.set_result(2.5).unwrap();
        })?;
        let (n, s, unit, x) = aio_task::gather!(
            async {
                sleep(0.01).await.unwrap();
                7u8
            },
            &task,
            async {},
            fut,
        )
        .await?;
        assert_eq!((n, s.as_str(), unit, x), (7, "from a task", (), 2.5));

        let (ok, failed) = aio_task::gather!(async { 'x' }, async { panic!("no") })
            .return_exceptions()
            .await?;
        assert_eq!(ok?, 'x');
        let failed: Result<(), Error> = failed;
        assert!(matches!(failed, Err(Error::Panicked(m)) if &*m == "no"));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn the_tuple_macro_stops_at_the_first_error() {
    run(async {
        let gate = create_future::<()>()?;
        let g = gate.clone();
        let slow = create_task(async move {
            g.await.unwrap();
            1u32
        })?;
        let err = aio_task::gather!(
            &slow,
            async { Err::<u8, _>("a value, not a failure") },
            async { panic!("fast failure") }
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Panicked(m) if &*m == "fast failure"));
        assert!(!slow.done());
        gate.set_result(())?;
        assert_eq!(slow.await?, 1);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn an_empty_gather_gives_an_empty_vec() {
    let out = run(async { gather(Vec::<Task<u8>>::new()).await })
        .unwrap()
        .unwrap();
    assert!(out.is_empty());
    let outcomes = run(async {
        gather(std::iter::empty::<Task<u8>>())
            .return_exceptions()
            .await
    })
    .unwrap()
    .unwrap();
    assert!(outcomes.is_empty());
}

#[test]
fn gathering_coroutines_outside_a_loop_is_an_error() {
    let mut all = gather([async { 1 }]);
    let mut cx = Context::from_waker(Waker::noop());
    let polled = std::pin::Pin::new(&mut all).poll(&mut cx);
    assert!(matches!(
        polled,
        Poll::Ready(Err(Error::Runtime(aio_scheduler::Error::NoRunningLoop)))
    ));
}
