//! `EventLoop::metrics` / `LoopHandle::metrics`: counts per iteration, the ready queue's
//! high-water mark, timers, time blocked against time running, the longest callback (debug
//! mode only), and reading them from another thread while the loop runs.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::sync::mpsc;
use std::time::Duration;

use aio_scheduler::{EventLoop, sleep};

#[test]
fn callbacks_iterations_and_the_high_water_mark_are_counted() {
    let lp = EventLoop::new().unwrap();
    let before = lp.metrics();
    assert_eq!(before, Default::default());
    for _ in 0..10 {
        lp.call_soon(|| {}).unwrap();
    }
    lp.run_until_complete(sleep(0)).unwrap().unwrap();
    let m = lp.metrics();
    // The ten callbacks and the main future's first poll were ready together.
    assert_eq!(m.ready_high_water, 11);
    assert!(m.callbacks >= 12, "{m:?}"); // + the main future again, + the stop marker
    assert!(m.iterations >= 2 && m.iterations <= 4, "{m:?}");
}

#[test]
fn timers_scheduled_and_cancelled_are_counted() {
    let lp = EventLoop::new().unwrap();
    let kept = lp.call_later(0.001, || {}).unwrap();
    let dropped = lp.call_later(60, || {}).unwrap();
    dropped.cancel();
    lp.run_until_complete(sleep(0.005)).unwrap().unwrap();
    let m = lp.metrics();
    assert_eq!((m.timers_scheduled, m.timers_cancelled), (3, 1), "{m:?}");
    drop(kept);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "wall-clock: measures time blocked against real elapsed time, which miri's slow interpretation skews"
)]
fn time_blocked_and_running_add_up_to_the_run() {
    let lp = EventLoop::new().unwrap();
    let start = std::time::Instant::now();
    lp.run_until_complete(async {
        sleep(0.05).await.unwrap();
        std::thread::sleep(Duration::from_millis(30)); // running, not blocked
    })
    .unwrap();
    let elapsed = start.elapsed();
    let m = lp.metrics();
    assert!(m.time_blocked >= Duration::from_millis(45), "{m:?}");
    assert!(m.time_running >= Duration::from_millis(30), "{m:?}");
    assert!(
        m.time_blocked + m.time_running <= elapsed,
        "{m:?} in {elapsed:?}"
    );
    // Not measured outside debug mode.
    assert_eq!(m.longest_callback, Duration::ZERO);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "wall-clock: measures time blocked against real elapsed time, which miri's slow interpretation skews"
)]
fn a_wait_with_no_timer_pending_counts_as_blocked() {
    // No timer at all: the loop blocks in the reactor until another thread's stop arrives,
    // a wait the coarse clock times on Linux (a few milliseconds' resolution: wide bounds).
    let lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(80));
        handle.stop().unwrap();
    });
    let start = std::time::Instant::now();
    lp.run_forever().unwrap();
    let elapsed = start.elapsed();
    stopper.join().unwrap();
    let m = lp.metrics();
    assert!(m.time_blocked >= Duration::from_millis(60), "{m:?}");
    assert!(
        m.time_blocked <= elapsed + Duration::from_millis(20),
        "{m:?} in {elapsed:?}"
    );
}

#[test]
fn the_longest_callback_is_measured_in_debug_mode() {
    let lp = EventLoop::new().unwrap();
    lp.set_debug(true);
    lp.set_exception_handler(|_, _| {}); // the slow callback is reported there too
    lp.call_soon(|| std::thread::sleep(Duration::from_millis(20)))
        .unwrap();
    lp.run_until_complete(sleep(0)).unwrap().unwrap();
    assert!(lp.metrics().longest_callback >= Duration::from_millis(20));
}

#[test]
fn another_thread_reads_the_metrics_of_a_running_loop() {
    let lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        // Wait until the loop has run a few iterations, then read while it still runs.
        let seen = loop {
            let m = handle.metrics();
            if m.iterations >= 3 {
                break m;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        tx.send(()).unwrap();
        seen
    });
    lp.run_until_complete(async {
        // Iterate until the reader has seen us, with a generous limit.
        for _ in 0..100_000 {
            if rx.try_recv().is_ok() {
                return;
            }
            sleep(0.0005).await.unwrap();
        }
        panic!("the reader never saw three iterations");
    })
    .unwrap();
    let seen = reader.join().unwrap();
    assert!(seen.iterations >= 3 && seen.iterations <= lp.metrics().iterations);
}
