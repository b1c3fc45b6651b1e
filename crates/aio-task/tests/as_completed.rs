//! `as_completed`: outcomes in completion order — as an iterator of awaitables, as a
//! `futures_core::Stream`, through `next_completed` — with errors as `Err` items; dropping it
//! cancels nothing.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::pin::Pin;

use aio_scheduler::sleep;
use aio_task::{AsCompleted, Error, Task, as_completed, create_future, create_task, run};
use futures_core::Stream;

/// The stream's next item, polled by hand (no `StreamExt` needed).
async fn next<T: 'static>(stream: &mut AsCompleted<T>) -> Option<Result<T, Error>> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

/// Sleeps `ms` milliseconds, then returns it.
async fn after(ms: u32) -> u32 {
    sleep(f64::from(ms) / 1000.0).await.unwrap();
    ms
}

#[test]
#[cfg_attr(
    miri,
    ignore = "wall-clock: under miri the calls between the deadlines take longer than the gaps between them"
)]
fn the_iterator_yields_awaitables_in_completion_order() {
    let order = run(async {
        let mut order = Vec::new();
        for next in as_completed([after(80), after(20), after(60), after(40)]) {
            order.push(next.await?);
        }
        Ok::<_, Error>(order)
    })
    .unwrap()
    .unwrap();
    assert_eq!(order, [20, 40, 60, 80]);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "wall-clock: under miri the calls between the deadlines take longer than the gaps between them"
)]
fn the_stream_yields_outcomes_in_completion_order_then_ends() {
    let order = run(async {
        let mut stream = as_completed([after(60), after(20), after(40)]);
        let mut order = Vec::new();
        while let Some(outcome) = next(&mut stream).await {
            order.push(outcome?);
        }
        assert!(next(&mut stream).await.is_none(), "stays exhausted");
        Ok::<_, Error>(order)
    })
    .unwrap()
    .unwrap();
    assert_eq!(order, [20, 40, 60]);
}

#[test]
fn next_completed_yields_in_completion_order() {
    let order = run(async {
        let mut results = as_completed([after(40), after(20)]);
        let mut order = Vec::new();
        while let Some(outcome) = results.next_completed().await {
            order.push(outcome?);
        }
        Ok::<_, Error>(order)
    })
    .unwrap()
    .unwrap();
    assert_eq!(order, [20, 40]);
}

#[test]
fn errors_come_through_as_err_items_in_their_place() {
    run(async {
        // Completion order is driven by gates, so slow panic reporting cannot reorder it.
        let gates: Vec<_> = (0..3).map(|_| create_future::<()>().unwrap()).collect();
        let gated = |gate: &aio_task::Future<()>, value: u32| {
            let gate = gate.clone();
            create_task(async move {
                gate.await.unwrap();
                assert!(value != 0, "zero failed");
                value
            })
        };
        let cancelled = create_task(after(3600))?;
        let mut stream = as_completed([
            &gated(&gates[2], 3)?,
            &gated(&gates[1], 0)?, // panics
            &cancelled,
            &gated(&gates[0], 1)?,
        ]);
        gates[0].set_result(())?;
        assert_eq!(next(&mut stream).await.unwrap()?, 1);
        gates[1].set_result(())?;
        assert!(
            matches!(next(&mut stream).await, Some(Err(Error::Panicked(m))) if &*m == "zero failed")
        );
        cancelled.cancel("no more");
        let err = next(&mut stream).await.unwrap().unwrap_err();
        assert_eq!(err.cancel_message(), Some("no more"));
        gates[2].set_result(())?;
        assert_eq!(next(&mut stream).await.unwrap()?, 3);
        assert!(next(&mut stream).await.is_none());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn tasks_and_futures_are_accepted_as_they_are() {
    run(async {
        let fut = create_future::<u32>()?;
        let task = create_task(after(10))?;
        let from_future = aio_task::IntoTask::into_task(fut.clone())?;
        let mut order = Vec::new();
        let results = as_completed([&from_future, &task]);
        let mut iter = results.into_iter();
        let first = iter.next().unwrap();
        order.push(first.await?);
        fut.set_result(99)?;
        order.push(iter.next().unwrap().await?);
        assert!(iter.next().is_none(), "one awaitable per task");
        assert_eq!(order, [10, 99]);
        assert!(task.done());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn an_empty_set_ends_at_once() {
    run(async {
        let mut stream = as_completed(Vec::<Task<u8>>::new());
        assert!(next(&mut stream).await.is_none());
        assert_eq!(as_completed(Vec::<Task<u8>>::new()).count(), 0);
    })
    .unwrap();
}

#[test]
fn dropping_it_cancels_nothing() {
    run(async {
        // 10 ms against 500: a loaded machine stalling the loop past both deadlines would
        // finish the second task before the first outcome is read.
        let tasks = vec![create_task(after(10))?, create_task(after(500))?];
        let mut stream = as_completed(&tasks);
        assert_eq!(next(&mut stream).await.unwrap()?, 10);
        drop(stream);
        assert!(!tasks[1].done());
        assert_eq!(tasks[1].clone().await?, 500);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn its_awaitables_can_be_awaited_concurrently_from_several_tasks() {
    // asyncio: `await gather(*as_completed([f(0.04), f(0.02), f(0.06)]))` gives
    // [0.02, 0.04, 0.06]. Regression: one waker slot served every awaitable, so the second
    // task to wait overwrote the first's waker and the first was never woken: a hang.
    let outcome = run(async {
        let awaitables: Vec<_> = as_completed([after(40), after(20), after(60)]).collect();
        let all = aio_task::gather(awaitables);
        aio_task::wait_for(all, 5.0).await
    })
    .unwrap();
    let outcomes: Vec<u32> = outcome
        .expect("no hang")
        .expect("the gather")
        .into_iter()
        .map(|r| r.expect("each awaitable's outcome"))
        .collect();
    assert_eq!(outcomes, [20, 40, 60]);
}
