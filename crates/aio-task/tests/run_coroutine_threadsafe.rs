//! `run_coroutine_threadsafe`: work submitted from a plain thread runs on the loop's thread;
//! `result(timeout)` blocks for the outcome or gives `Timeout` while the work goes on;
//! `cancel()` cancels the loop-side task; another loop on another thread can await the
//! `ConcurrentFuture`; a closed loop refuses the submission.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use aio_scheduler::{EventLoop, LoopHandle, sleep};
use aio_task::{ConcurrentFuture, Error, run, run_coroutine_threadsafe};

const LONG: Option<Duration> = Some(Duration::from_secs(10));

/// Runs the loop on this thread while `body` runs on another one; the loop stops when the
/// body returns (or panics).
fn with_loop<R: Send>(body: impl FnOnce(&LoopHandle) -> R + Send) -> R {
    struct StopOnDrop(LoopHandle);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            let _ = self.0.stop();
        }
    }
    let lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    let out = thread::scope(|s| {
        let worker = s.spawn(move || {
            let guard = StopOnDrop(handle);
            body(&guard.0)
        });
        lp.run_forever().unwrap();
        worker.join().unwrap()
    });
    lp.close().unwrap();
    out
}

/// Loop-side: waits (on the loop) until `flag` is set.
async fn until(flag: Arc<AtomicBool>) {
    let start = Instant::now();
    while !flag.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(10) {
        sleep(0.001).await.unwrap();
    }
}

#[test]
fn work_submitted_from_a_plain_thread_runs_on_the_loop_thread() {
    let loop_thread = thread::current().id();
    let (made_on, ran_on, value) = with_loop(|handle| {
        let fut = run_coroutine_threadsafe(handle, || {
            let made_on = thread::current().id();
            let not_send = Rc::new(21); // the future itself need not be Send
            async move {
                sleep(0.005).await.unwrap();
                (made_on, thread::current().id(), *not_send * 2)
            }
        })
        .unwrap();
        fut.result(LONG).unwrap()
    });
    assert_eq!(made_on, loop_thread);
    assert_eq!(ran_on, loop_thread);
    assert_eq!(value, 42);
}

#[test]
fn result_without_a_timeout_blocks_until_ready() {
    let value = with_loop(|handle| {
        let fut = run_coroutine_threadsafe(handle, || async {
            sleep(0.01).await.unwrap();
            "ready"
        })
        .unwrap();
        let value = fut.result(None);
        assert!(fut.done());
        value
    });
    assert_eq!(value.unwrap(), "ready");
}

#[test]
fn a_short_timeout_gives_timeout_while_the_task_continues() {
    with_loop(|handle| {
        let release = Arc::new(AtomicBool::new(false));
        let r = release.clone();
        let fut = run_coroutine_threadsafe(handle, move || async move {
            until(r).await;
            "finished later"
        })
        .unwrap();
        let early = fut.result(Some(Duration::from_millis(10)));
        assert!(matches!(early, Err(Error::Timeout)), "{early:?}");
        assert!(!fut.done(), "the work goes on");
        release.store(true, Ordering::SeqCst);
        assert_eq!(fut.result(LONG).unwrap(), "finished later");
    });
}

/// Sets its flag when dropped, after `delay` (a slow `finally` block).
struct Flag(Arc<AtomicBool>, Duration);

impl Drop for Flag {
    fn drop(&mut self) {
        thread::sleep(self.1);
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Submits a task that sleeps forever holding a [`Flag`]; returns once it has started.
fn cancellable(
    handle: &LoopHandle,
    drop_delay: Duration,
) -> (ConcurrentFuture<()>, Arc<AtomicBool>) {
    let started = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    let (s, d) = (started.clone(), dropped.clone());
    let fut = run_coroutine_threadsafe(handle, move || {
        let guard = Flag(d, drop_delay);
        async move {
            let _guard = guard;
            s.store(true, Ordering::SeqCst);
            sleep(3600).await.unwrap();
        }
    })
    .unwrap();
    let start = Instant::now();
    while !started.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(1));
    }
    assert!(started.load(Ordering::SeqCst));
    (fut, dropped)
}

#[test]
fn cancel_cancels_the_loop_side_task() {
    with_loop(|handle| {
        let (fut, dropped) = cancellable(handle, Duration::ZERO);
        assert!(fut.cancel());
        let outcome = fut.result(LONG);
        assert!(
            matches!(&outcome, Err(e) if e.is_cancelled()),
            "{outcome:?}"
        );
        assert!(!fut.cancel(), "already done");
        let start = Instant::now();
        while !dropped.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(10) {
            thread::sleep(Duration::from_millis(1));
        }
        assert!(
            dropped.load(Ordering::SeqCst),
            "the loop-side future was dropped"
        );
    });
}

#[test]
fn after_cancel_the_result_arrives_once_the_loop_side_future_is_dropped() {
    // asyncio: the concurrent future is cancelled from the task's done callback, after the
    // coroutine's `finally` blocks ran. Here the slot is filled first, then the future dropped.
    with_loop(|handle| {
        let (fut, dropped) = cancellable(handle, Duration::from_millis(50));
        assert!(fut.cancel());
        assert!(fut.result(LONG).unwrap_err().is_cancelled());
        assert!(
            dropped.load(Ordering::SeqCst),
            "destructors ran before the result arrived"
        );
    });
}

#[test]
fn cancel_before_the_loop_runs_it_means_it_never_starts() {
    let lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let fut = run_coroutine_threadsafe(&handle, move || async move {
        s.store(true, Ordering::SeqCst);
    })
    .unwrap();
    assert!(fut.cancel());
    lp.run_until_complete(sleep(0.01)).unwrap().unwrap();
    assert!(fut.result(LONG).unwrap_err().is_cancelled());
    assert!(!started.load(Ordering::SeqCst));
    lp.close().unwrap();
}

#[test]
fn another_loop_on_another_thread_can_await_it() {
    let (value, awaited_on) = with_loop(|handle| {
        let fut = run_coroutine_threadsafe(handle, || async {
            sleep(0.01).await.unwrap();
            String::from("across loops")
        })
        .unwrap();
        // This thread runs a second loop, which awaits the result without blocking.
        run(async move {
            let ticks = Rc::new(std::cell::Cell::new(0));
            let t = ticks.clone();
            let ticker = aio_task::create_task(async move {
                loop {
                    t.set(t.get() + 1);
                    sleep(0.001).await.unwrap();
                }
            })?;
            let value = fut.await?;
            ticker.cancel(None);
            Ok::<_, Error>((value, thread::current().id()))
        })
        .unwrap()
        .unwrap()
    });
    assert_eq!(value, "across loops");
    assert_ne!(awaited_on, thread::current().id());
}

#[test]
fn errors_cross_back_too() {
    let outcome: Result<(), Error> = with_loop(|handle| {
        run_coroutine_threadsafe(handle, || async { panic!("on the loop") })
            .unwrap()
            .result(LONG)
    });
    assert!(matches!(outcome, Err(Error::Panicked(m)) if &*m == "on the loop"));
}

#[test]
fn submitting_to_a_closed_loop_is_an_error() {
    let lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    lp.close().unwrap();
    let err = run_coroutine_threadsafe(&handle, || async { 1 }).unwrap_err();
    assert!(
        matches!(err, Error::Runtime(aio_scheduler::Error::Closed)),
        "{err:?}"
    );
}

#[test]
fn a_concurrent_future_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<ConcurrentFuture<String>>();
    let value = with_loop(|handle| {
        let fut = run_coroutine_threadsafe(handle, || async { 5u8 }).unwrap();
        thread::spawn(move || fut.result(LONG)).join().unwrap()
    });
    assert_eq!(value.unwrap(), 5);
}
