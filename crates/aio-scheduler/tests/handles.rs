//! `call_soon` / `call_later` / `call_at` handles: cancel, cancelled, when; cancelled
//! callbacks never run; cancelled timers don't keep the loop waiting.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use aio_scheduler::{EventLoop, sleep};

#[test]
fn cancelled_call_soon_does_not_run() {
    let lp = EventLoop::new().unwrap();
    let ran = Rc::new(Cell::new(0));
    let r = ran.clone();
    let h = lp.call_soon(move || r.set(r.get() + 1)).unwrap();
    let r = ran.clone();
    let _kept = lp.call_soon(move || r.set(r.get() + 10)).unwrap();
    assert!(!h.cancelled());
    h.cancel();
    assert!(h.cancelled());
    lp.run_until_complete(sleep(0)).unwrap().unwrap();
    assert_eq!(ran.get(), 10);
}

#[test]
fn timer_handles_report_when_and_cancel() {
    let lp = EventLoop::new().unwrap();
    let before = lp.time();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let h = lp.call_later(0.01, move || r.set(true)).unwrap();
    assert!(h.when().unwrap() >= before + Duration::from_millis(10));
    h.cancel();
    h.cancel(); // twice is harmless
    assert!(h.cancelled());
    lp.run_until_complete(sleep(0.03)).unwrap().unwrap();
    assert!(!ran.get());
}

#[test]
fn cancelling_after_the_timer_fired_is_harmless() {
    let lp = EventLoop::new().unwrap();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let h = lp.call_later(0.001, move || r.set(true)).unwrap();
    lp.run_until_complete(sleep(0.01)).unwrap().unwrap();
    assert!(ran.get());
    h.cancel();
    assert!(h.cancelled());
}

#[test]
fn a_cancelled_far_timer_does_not_keep_the_loop_waiting() {
    let lp = EventLoop::new().unwrap();
    let h = lp.call_later(3600, || {}).unwrap();
    h.cancel();
    let start = Instant::now();
    // The cancelled hour-long timer is purged; the loop only waits for the 5 ms one.
    lp.run_until_complete(sleep(0.005)).unwrap().unwrap();
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
fn call_at_in_the_past_runs_as_soon_as_possible() {
    let lp = EventLoop::new().unwrap();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    lp.call_at(lp.time() - Duration::from_secs(1), move || r.set(true))
        .unwrap();
    lp.run_until_complete(sleep(0.001)).unwrap().unwrap();
    assert!(ran.get());
}

#[test]
fn many_cancelled_timers_are_purged() {
    // More than 100 scheduled and more than half cancelled: asyncio rebuilds the heap. The
    // observable part: every live timer still fires, no cancelled one does.
    let lp = EventLoop::new().unwrap();
    let fired = Rc::new(Cell::new(0u32));
    let mut handles = Vec::new();
    for i in 0..300u64 {
        let f = fired.clone();
        let cancelled = i % 3 != 0;
        let delay = Duration::from_micros(100 * (i % 50));
        let h = lp
            .call_later(delay, move || {
                assert!(!cancelled, "a cancelled timer fired");
                f.set(f.get() + 1);
            })
            .unwrap();
        handles.push((h, cancelled));
    }
    for (h, cancelled) in &handles {
        if *cancelled {
            h.cancel();
        }
    }
    lp.run_until_complete(sleep(0.02)).unwrap().unwrap();
    assert_eq!(fired.get(), 100);
}
