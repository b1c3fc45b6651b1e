//! A `Task<T>` is a `std::future::Future` (output `Result<T, Error>`): the futures crate's
//! combinators take tasks as they are, and aio's own combinators take tasks by reference (the
//! task itself) or by value (a future like any other).

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::future::Future;
use std::task::Poll;

use aio_scheduler::sleep;
use aio_task::{
    Error, Task, as_completed, create_future, create_task, gather, run, shield, try_gather, wait,
    wait_for,
};
use futures::stream::{FuturesUnordered, StreamExt};

/// A task that finishes with `value` once `gate` is set: the test decides the order.
fn gated<T: 'static>(value: T) -> Result<(Task<T>, aio_task::Future<()>), Error> {
    let gate = create_future::<()>()?;
    let g = gate.clone();
    let task = create_task(async move {
        g.await.expect("gate set");
        value
    })?;
    Ok((task, gate))
}

fn is_future<F: Future>(_: &F) {}

#[test]
fn a_task_is_a_future_whose_output_is_its_outcome() {
    run(async {
        let task = create_task(async { 7 })?;
        is_future(&task);
        let out: Result<i32, Error> = task.await;
        assert_eq!(out?, 7);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn join_all_takes_tasks_and_keeps_their_order() {
    run(async {
        let (a, gate_a) = gated("a")?;
        let (b, gate_b) = gated("b")?;
        let failing = create_task(async { panic!("c broke") })?;
        gate_b.set_result(())?; // b finishes first...
        sleep(0).await?;
        gate_a.set_result(())?;
        let outcomes = futures::future::join_all([a, b, failing]).await;
        assert_eq!(*outcomes[0].as_ref().unwrap(), "a"); // ...but the order is the argument order
        assert_eq!(*outcomes[1].as_ref().unwrap(), "b");
        assert!(matches!(&outcomes[2], Err(Error::Panicked(m)) if &**m == "c broke"));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn try_join_all_takes_tasks_and_stops_at_the_first_error() {
    run(async {
        let values = futures::future::try_join_all(
            (1..=3).map(|i| create_task(async move { i * 10 }).expect("loop running")),
        )
        .await?;
        assert_eq!(values, [10, 20, 30]);

        let (stuck, _gate) = gated(1)?;
        let broken = create_task(async { panic!("broken") })?;
        let err = futures::future::try_join_all([stuck.clone(), broken])
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Panicked(m) if &*m == "broken"));
        // The stuck task was awaited by `try_join_all`, which dropped it mid-await: as in
        // asyncio, cancelling an await in progress cancels the awaited task.
        stuck.erase().wait().await;
        assert!(stuck.cancelled());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn futures_unordered_yields_tasks_in_completion_order() {
    run(async {
        let (a, gate_a) = gated('a')?;
        let (b, gate_b) = gated('b')?;
        let (c, gate_c) = gated('c')?;
        let mut unordered: FuturesUnordered<Task<char>> = [a, b, c].into_iter().collect();
        gate_c.set_result(())?;
        assert_eq!(unordered.next().await.unwrap()?, 'c');
        gate_a.set_result(())?;
        assert_eq!(unordered.next().await.unwrap()?, 'a');
        gate_b.set_result(())?;
        assert_eq!(unordered.next().await.unwrap()?, 'b');
        assert!(unordered.next().await.is_none());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn select_takes_tasks_directly_and_a_finished_one_is_terminated() {
    run(async {
        let (mut slow, _slow_gate) = gated("slow")?;
        let (mut quick, quick_gate) = gated("quick")?;
        let kept = slow.clone();
        quick_gate.set_result(())?;
        let winner = futures::select! {
            s = slow => s?,
            q = quick => q?,
        };
        assert_eq!(winner, "quick");
        // `select!` needs `FusedFuture`: the handle that gave its outcome is terminated, the
        // other is not, and a second `select!` skips the first.
        assert!(futures::future::FusedFuture::is_terminated(&quick));
        assert!(!futures::future::FusedFuture::is_terminated(&slow));
        let again = futures::select! {
            q = quick => q.map(|_| "quick again"),
            complete => Ok("quick is terminated"),
        };
        assert_eq!(again?, "quick is terminated");
        let pending = futures::select! {
            s = slow => s,
            default => Ok("slow is pending"),
        };
        assert_eq!(pending?, "slow is pending");
        // `slow` was polled while pending: dropping it cancels the task (the await link).
        drop(slow);
        kept.erase().wait().await;
        assert!(kept.cancelled());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn only_a_handle_dropped_mid_await_cancels_the_task() {
    run(async {
        let (mut task, gate) = gated(5)?;
        // Polled once while pending: this handle now awaits the task.
        assert!(matches!(futures::poll!(&mut task), Poll::Pending));
        let fresh = task.clone();
        drop(fresh.clone()); // a clone never polled: cancels nothing
        sleep(0).await?;
        assert!(!task.done() && task.cancelling() == 0);
        let never_polled = fresh.clone();
        drop(never_polled);
        assert_eq!(task.cancelling(), 0);
        drop(task); // the polled handle, dropped mid-await: cancels
        assert_eq!(fresh.cancelling(), 1);
        gate.set_result(())?;
        assert!(fresh.await.unwrap_err().is_cancelled());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn aio_combinators_take_tasks_by_reference_and_coroutines_together() {
    run(async {
        let tasks = [create_task(async { 1 })?, create_task(async { 2 })?];
        // gather: the values, unwrapped; the tasks are still ours afterwards.
        assert_eq!(gather(&tasks).await?, [1, 2]);
        assert!(tasks.iter().all(Task::done));
        let (x, y, z) =
            aio_task::gather!(&create_task(async { 'x' })?, async { "y" }, async { 3u8 }).await?;
        assert_eq!((x, y, z), ('x', "y", 3));

        // wait: the very tasks given come back in `done`.
        let (a, gate_a) = gated("a")?;
        let (b, _gate_b) = gated("b")?;
        gate_a.set_result(())?;
        let (done, pending) = wait([&a, &b])
            .return_when(aio_task::FIRST_COMPLETED)
            .await?;
        assert_eq!(done.len(), 1);
        assert!(done[0].erase().same(&a.erase()));
        assert!(pending[0].erase().same(&b.erase()));
        let (done, _) = wait([1, 2].map(|i| async move { i })).await?; // coroutines too
        assert_eq!(done.len(), 2);

        // as_completed, with a task and a coroutine's task.
        let c = create_task(async { 10 })?;
        let mut seen = Vec::new();
        for next in as_completed([&c, &create_task(async { 20 })?]) {
            seen.push(next.await?);
        }
        seen.sort_unstable();
        assert_eq!(seen, [10, 20]);
        let mut seen = Vec::new();
        for next in as_completed([30, 40].map(|i| async move { i })) {
            seen.push(next.await?);
        }
        seen.sort_unstable();
        assert_eq!(seen, [30, 40]);

        // wait_for: a pending task given by reference is cancelled at the deadline.
        let (stuck, _gate) = gated(0)?;
        assert!(matches!(wait_for(&stuck, 0.01).await, Err(Error::Timeout)));
        stuck.erase().wait().await;
        assert!(stuck.cancelled());
        assert_eq!(wait_for(async { 4 }, 1).await?, 4);

        // shield: the task survives a cancelled awaiter, and keeps its value for us.
        let (guarded, gate) = gated(9)?;
        let outer = create_task(shield(&guarded))?;
        sleep(0).await?;
        outer.cancel(None);
        assert!(outer.await.unwrap_err().is_cancelled());
        gate.set_result(())?;
        assert_eq!(guarded.await?, 9);
        assert_eq!(shield(async { 8 }).await?, 8);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_task_by_value_is_a_future_like_any_other() {
    run(async {
        let ok = create_task(async { 1 })?;
        let broken = create_task(async { panic!("two") })?;
        // Each task is awaited by a new task: every outcome comes back, as a value.
        let outcomes: Vec<Result<i32, Error>> = gather([ok, broken]).await?;
        assert_eq!(*outcomes[0].as_ref().unwrap(), 1);
        assert!(matches!(&outcomes[1], Err(Error::Panicked(m)) if &**m == "two"));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_gather_of_tasks_by_value_cancelled_before_it_ran_still_cancels_them() {
    // The tasks awaiting the given ones are cancelled before their first step: the given
    // tasks are cancelled too, as if those awaits had started (asyncio's gather cancels the
    // tasks it was given).
    run(async {
        let (task, _gate) = gated(1)?;
        let gathered = gather([task.clone()]);
        assert!(gathered.cancel("stop"));
        assert!(matches!(gathered.await, Err(Error::Cancelled(_))));
        wait_for(task.erase().wait(), 5).await?; // bounded: a regression fails, not hangs
        assert!(task.cancelled());
        assert_eq!(task.await.unwrap_err().cancel_message(), Some("stop"));

        // The same with a gather dropped unpolled, and a wrapper made by `create_task`.
        let (task, _gate) = gated(2)?;
        drop(gather([task.clone()]));
        wait_for(task.erase().wait(), 5).await?; // bounded: a regression fails, not hangs
        assert!(task.cancelled());
        let (task, _gate) = gated(3)?;
        let wrapper = create_task(task.clone())?;
        wrapper.cancel(None);
        wait_for(task.erase().wait(), 5).await?; // bounded: a regression fails, not hangs
        assert!(task.cancelled());

        // But a coroutine that merely holds a task, cancelled before it started, cancels
        // nothing (it never awaited the task).
        let (task, gate) = gated(4)?;
        let t = task.clone();
        let holder = create_task(async move {
            let _ = t.await;
        })?;
        holder.cancel(None);
        holder.erase().wait().await;
        gate.set_result(())?;
        assert_eq!(task.await?, 4);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn try_gather_takes_tasks_by_value_as_they_are() {
    run(async {
        let tasks = [create_task(async { 1 })?, create_task(async { 2 })?];
        assert_eq!(try_gather(tasks).await?, [1, 2]);

        // The given task itself is the child: cancelling the gather cancels it at once.
        let (task, _gate) = gated(3)?;
        let gathered = try_gather([task.clone()]);
        assert!(gathered.cancel(None));
        assert_eq!(task.cancelling(), 1);
        assert!(gathered.await.unwrap_err().is_cancelled());

        // Its error is the gather's error.
        let broken = create_task(async { panic!("broken") })?;
        let err = try_gather([broken]).await.unwrap_err();
        assert!(matches!(err, Error::Panicked(m) if &*m == "broken"));

        // The failure is the task's own: a task whose value is a `Result` gives that value.
        let inner_err = create_task(async { Err::<u8, _>(std::io::Error::other("inner")) })?;
        let values = try_gather([inner_err]).await?;
        assert_eq!(values[0].as_ref().unwrap_err().to_string(), "inner");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
