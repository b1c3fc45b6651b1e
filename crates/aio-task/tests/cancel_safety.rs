//! The `# Cancel safety` sections of aio-task, checked: every future is dropped mid-way —
//! polled once, so it has started waiting (and, where it matters, after what it waited for
//! arrived) — and then the test checks what the section says: nothing lost for the cancel safe
//! ones (`TaskRef::wait`, `shield`, `wait`, `as_completed`, awaiting an `ExecutorFuture` or a
//! `ConcurrentFuture` by reference, `wait_for` / `Timeout::run` around a cancel safe future),
//! and the documented cancellation for the others (`Join`, `Future::wait`, `gather`,
//! `TaskGroup::run`). Each test runs on its own loop; nothing depends on timing except the
//! deadline that is meant to pass.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;
use std::future::{Future as StdFuture, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::task::Poll;
use std::time::Duration;

use aio_scheduler::{get_running_loop, sleep};
use aio_task::{
    Error, Future, Task, TaskGroup, all_tasks, as_completed, create_future, create_task,
    current_task, gather, run, run_coroutine_threadsafe, shield, timeout, to_thread, wait,
    wait_for,
};

/// Polls `future` once, with the running task's waker, and hands it back: it must be waiting.
async fn started<F: StdFuture>(future: F) -> Pin<Box<F>> {
    let mut future = Box::pin(future);
    poll_fn(|cx| {
        assert!(
            future.as_mut().poll(cx).is_pending(),
            "expected the future to wait"
        );
        Poll::Ready(())
    })
    .await;
    future
}

/// A gated task and its gate.
type Gated<T> = (Task<Result<T, Error>>, Future<()>);

/// A task that returns `value` once its gate is set; the gate.
fn gated<T: 'static>(value: T) -> Result<Gated<T>, Error> {
    let gate = create_future::<()>()?;
    let g = gate.clone();
    let task = create_task(async move { g.await.map(|()| value) })?;
    Ok((task, gate))
}

#[test]
fn task_handles_dropped_cancel_nothing() {
    run(async {
        let (task, gate) = gated(5)?;
        let watch = task.erase();
        drop(task);
        gate.set_result(())?;
        watch.wait().await;
        assert!(!watch.cancelled() && watch.error().is_none());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn join_dropped_while_waiting_cancels_the_task() {
    run(async {
        let (task, _gate) = gated(1)?;
        drop(started(task.clone()).await);
        task.erase().wait().await;
        assert!(task.cancelled());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn join_never_polled_cancels_nothing() {
    run(async {
        let (task, gate) = gated(2)?;
        drop(task.clone());
        gate.set_result(())?;
        assert_eq!(task.await??, 2);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn wait_done_dropped_while_waiting_loses_nothing() {
    run(async {
        let (task, gate) = gated(7)?;
        drop(started(task.erase().wait()).await);
        sleep(0).await?;
        assert!(!task.done());
        gate.set_result(())?;
        // Dropped after the task finished (its wake-up unused): the outcome is still there.
        let woken = started(task.erase().wait()).await;
        task.erase().wait().await;
        drop(woken);
        assert_eq!(task.await??, 7);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn future_wait_dropped_while_waiting_cancels_the_future() {
    run(async {
        let fut = create_future::<u8>()?;
        drop(started(fut.clone().wait()).await);
        assert!(fut.cancelled());
        assert!(matches!(fut.set_result(1), Err(Error::InvalidState(_))));
        // Never polled, or dropped once the future is done: nothing changes.
        let fut = create_future::<u8>()?;
        drop(fut.clone().wait());
        let waiting = started(fut.clone().wait()).await;
        fut.set_result(2)?;
        drop(waiting);
        assert_eq!(fut.await?, 2);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn shield_dropped_while_waiting_leaves_the_task_and_its_outcome() {
    run(async {
        let (inner, gate) = gated("kept")?;
        drop(started(shield(&inner)).await);
        sleep(0).await?;
        assert!(!inner.done() && inner.cancelling() == 0);
        gate.set_result(())?;
        assert_eq!(inner.await??, "kept");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn gather_dropped_while_waiting_cancels_the_running_children_only() {
    run(async {
        let quick = create_task(async { 1 })?;
        let (stuck, _gate) = gated(2)?;
        sleep(0).await?;
        assert!(quick.done());
        drop(started(aio_task::gather!(quick.clone(), stuck.clone())).await);
        stuck.erase().wait().await;
        assert!(stuck.cancelled());
        assert_eq!(quick.result()?, 1); // a finished child keeps its outcome

        let (stuck, _gate) = gated(3)?;
        drop(started(gather([&stuck]).return_exceptions()).await);
        stuck.erase().wait().await;
        assert!(stuck.cancelled());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn gather_dropped_before_its_first_poll_cancels_the_children_too() {
    run(async {
        let (stuck, _gate) = gated(4)?;
        drop(gather([&stuck]));
        stuck.erase().wait().await;
        assert!(stuck.cancelled());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn wait_dropped_while_waiting_cancels_nothing_and_its_timer_goes() {
    run(async {
        let lp = get_running_loop()?;
        let (task, gate) = gated(3)?;
        let waiting = started(wait([&task]).timeout(3600)).await;
        assert_eq!(lp.scheduled_timers(), 1);
        drop(waiting);
        sleep(0).await?; // the cancelled timer is purged
        assert_eq!(lp.scheduled_timers(), 0);
        assert!(!task.done());
        drop(wait([&task])); // never polled: nothing either
        gate.set_result(())?;
        assert_eq!(task.await??, 3);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn next_completed_dropped_while_waiting_loses_nothing() {
    run(async {
        let (task, gate) = gated(4)?;
        let mut results = as_completed([&task]);
        drop(started(results.next_completed()).await);
        gate.set_result(())?;
        assert_eq!(results.next_completed().await.unwrap()??, 4);
        assert!(results.next_completed().await.is_none());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn next_completed_woken_then_dropped_leaves_the_outcome_queued() {
    run(async {
        let (task, gate) = gated(5)?;
        let mut results = as_completed([&task]);
        let waiting = started(results.next_completed()).await;
        gate.set_result(())?;
        task.erase().wait().await; // the outcome is queued, the waiter woken
        drop(waiting);
        assert_eq!(results.next_completed().await.unwrap()??, 5);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn next_completed_awaitable_dropped_leaves_the_outcome_for_the_next() {
    run(async {
        let (a, gate_a) = gated("a")?;
        let (b, gate_b) = gated("b")?;
        let mut awaitables = as_completed([&a, &b]);
        let first = awaitables.next().unwrap();
        let second = awaitables.next().unwrap();
        drop(started(first).await);
        gate_a.set_result(())?;
        assert_eq!(second.await??, "a"); // what the dropped one waited for
        assert!(awaitables.next().is_none()); // one awaitable per task, the dropped one too
        gate_b.set_result(())?;
        assert_eq!(b.await??, "b"); // so the last outcome stayed in its task
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn as_completed_dropped_cancels_nothing_and_its_timer_goes() {
    run(async {
        let lp = get_running_loop()?;
        let (task, gate) = gated(6)?;
        let results = as_completed([&task]).timeout(3600);
        assert_eq!(lp.scheduled_timers(), 1);
        drop(results);
        sleep(0).await?;
        assert_eq!(lp.scheduled_timers(), 0);
        assert!(!task.done());
        gate.set_result(())?;
        assert_eq!(task.await??, 6);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn wait_for_and_timeout_run_are_as_cancel_safe_as_what_they_guard() {
    run(async {
        let lp = get_running_loop()?;
        // Around a cancel safe wait: nothing lost, and the timer goes.
        let (task, gate) = gated(8)?;
        let waiting = started(wait_for(task.erase().wait(), 3600)).await;
        assert_eq!(lp.scheduled_timers(), 1);
        drop(waiting);
        sleep(0).await?;
        assert_eq!(lp.scheduled_timers(), 0);
        assert!(!task.done());
        gate.set_result(())?;
        assert_eq!(task.await??, 8);
        // Around a `Join`: the awaited task is cancelled, as by the `Join` itself.
        let (task, _gate) = gated(9)?;
        drop(started(timeout(3600).run(task.clone())).await);
        task.erase().wait().await;
        assert!(task.cancelled());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn timeout_run_dropped_after_its_deadline_counts_as_expired() {
    run(async {
        let scope = timeout(0.005);
        let guarded = started(scope.run(sleep(3600))).await;
        std::thread::sleep(Duration::from_millis(10)); // the deadline passes unnoticed
        drop(guarded);
        assert!(scope.expired());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn task_group_scope_dropped_cancels_the_groups_tasks() {
    run(async {
        let created = Rc::new(RefCell::new(None));
        let c = created.clone();
        let scope = started(TaskGroup::run(move |tg| async move {
            *c.borrow_mut() = Some(tg.create_task(sleep(3600))?);
            Ok(())
        }))
        .await;
        let task = created.borrow_mut().take().expect("the body ran");
        drop(scope);
        task.erase().wait().await;
        assert!(task.cancelled());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn to_thread_dropped_while_waiting_lets_the_job_finish() {
    run(async {
        let (go, wait_go) = mpsc::channel::<()>();
        let (done, job_done) = mpsc::channel();
        drop(
            started(to_thread(move || {
                wait_go.recv().unwrap();
                done.send(42).unwrap();
            }))
            .await,
        );
        go.send(()).unwrap();
        assert_eq!(job_done.recv_timeout(Duration::from_secs(30)), Ok(42));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn executor_future_awaited_by_reference_loses_nothing() {
    run(async {
        let (go, wait_go) = mpsc::channel::<()>();
        let mut fut = to_thread(move || {
            wait_go.recv().unwrap();
            7
        });
        drop(started(&mut fut).await);
        go.send(()).unwrap();
        assert_eq!(fut.await?, 7);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn concurrent_future_awaited_by_reference_loses_nothing() {
    run(async {
        let handle = get_running_loop()?.handle();
        let mut fut =
            run_coroutine_threadsafe(&handle, || async { sleep(0.001).await.map(|()| 9) })?;
        drop(started(&mut fut).await);
        wait_for_other_tasks().await?;
        assert!(fut.done());
        assert_eq!(fut.await??, 9);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn concurrent_future_dropped_lets_the_task_finish() {
    run(async {
        let handle = get_running_loop()?.handle();
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let fut = run_coroutine_threadsafe(&handle, move || async move {
            sleep(0.001).await.unwrap();
            r.store(true, Ordering::SeqCst);
        })?;
        drop(started(fut).await);
        wait_for_other_tasks().await?;
        assert!(ran.load(Ordering::SeqCst));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Waits (a few loop iterations at most) for the task `run_coroutine_threadsafe` spawns from
/// its `call_soon_threadsafe` callback, then for every task but this one.
async fn wait_for_other_tasks() -> Result<(), Error> {
    let me = current_task().expect("inside a task");
    for _ in 0..100 {
        if all_tasks()?.len() > 1 {
            break;
        }
        sleep(0).await?;
    }
    let others: Vec<_> = all_tasks()?.into_iter().filter(|t| !t.same(&me)).collect();
    assert!(!others.is_empty(), "the relay task was never spawned");
    for task in others {
        task.wait().await;
    }
    Ok(())
}
