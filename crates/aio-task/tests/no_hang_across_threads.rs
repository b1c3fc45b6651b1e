//! Results that cross threads always arrive: work submitted to a loop that closes, or to an
//! executor that drops it, ends with an error — never a waiter blocked forever.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::time::Duration;

use aio_scheduler::EventLoop;
use aio_task::{Error, Executor, Job, run, run_coroutine_threadsafe, run_in_executor, wait_for};

#[test]
fn submitting_to_a_loop_that_closes_before_running_it_fails() {
    let lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    let fut = run_coroutine_threadsafe(&handle, || async { 1 }).unwrap();
    lp.close().unwrap(); // the request is still queued, never run
    let outcome = fut.result(Some(Duration::from_secs(10)));
    assert!(
        matches!(outcome, Err(Error::Runtime(aio_scheduler::Error::Closed))),
        "{outcome:?}"
    );
}

#[test]
fn a_task_pending_when_its_loop_closes_ends_cancelled() {
    let lp = EventLoop::new().unwrap();
    lp.set_exception_handler(|_, _| {}); // the pending-task report is expected here
    let handle = lp.handle();
    let fut = run_coroutine_threadsafe(&handle, || aio_scheduler::sleep(3600)).unwrap();
    lp.run_until_complete(aio_scheduler::sleep(0.01))
        .unwrap()
        .unwrap();
    assert!(!fut.done());
    lp.close().unwrap();
    let outcome = fut.result(Some(Duration::from_secs(10)));
    assert!(
        matches!(&outcome, Err(e) if e.is_cancelled()),
        "{outcome:?}"
    );
}

#[test]
fn a_panic_on_the_loop_is_reported_to_the_other_thread() {
    let lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    let fut = run_coroutine_threadsafe(&handle, || async { panic!("loop side") }).unwrap();
    lp.run_until_complete(aio_scheduler::sleep(0.01))
        .unwrap()
        .unwrap();
    let outcome: Result<(), Error> = fut.result(Some(Duration::from_secs(10)));
    assert!(
        matches!(&outcome, Err(Error::Panicked(m)) if &**m == "loop side"),
        "{outcome:?}"
    );
}

/// An executor that accepts jobs and throws them away.
struct Dropper;

impl Executor for Dropper {
    fn submit(&self, job: Job) -> Result<(), Error> {
        drop(job);
        Ok(())
    }
}

#[test]
fn a_job_dropped_by_its_executor_fails_instead_of_hanging() {
    let outcome =
        run(async { wait_for(run_in_executor(Some(&Dropper), || 1), 10.0).await }).unwrap();
    match outcome {
        Ok(Err(Error::Cancelled(_))) => {}
        other => panic!("expected the job's cancellation, got {other:?}"),
    }
}
