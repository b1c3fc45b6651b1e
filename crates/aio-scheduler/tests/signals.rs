//! `add_signal_handler` / `remove_signal_handler`. Each test uses its own signal: the tests
//! of this file run in parallel threads of one process, and a signal reaches every loop
//! subscribed to it.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use aio_scheduler::{Error, EventLoop, signal};

/// Runs `lp` until `done()` holds, failing after 10 s instead of hanging.
fn run_until(lp: &EventLoop, done: impl Fn() -> bool + 'static) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let stopper = lp.clone();
    fn poll(lp: EventLoop, done: Rc<dyn Fn() -> bool>, deadline: std::time::Instant) {
        if done() {
            lp.stop();
            return;
        }
        assert!(std::time::Instant::now() < deadline, "timed out");
        let next = lp.clone();
        lp.call_later(0.001, move || poll(next, done, deadline))
            .unwrap();
    }
    let done: Rc<dyn Fn() -> bool> = Rc::new(done);
    lp.call_soon(move || poll(stopper, done, deadline)).unwrap();
    lp.run_forever().unwrap();
}

#[test]
#[cfg_attr(
    miri,
    ignore = "real I/O: sockets, signals or CPU-time measurement, which miri does not run"
)]
fn handler_runs_on_the_loop_thread_once_per_delivery() {
    let lp = EventLoop::new().unwrap();
    let threads = Rc::new(RefCell::new(Vec::new()));
    let seen = threads.clone();
    lp.add_signal_handler(signal::SIGUSR1, move || {
        seen.borrow_mut().push(std::thread::current().id());
    })
    .unwrap();
    // Delivered from another thread: the callback still runs on the loop's.
    std::thread::spawn(|| signal::raise(signal::SIGUSR1).unwrap())
        .join()
        .unwrap();
    let count = threads.clone();
    run_until(&lp, move || !count.borrow().is_empty());
    signal::raise(signal::SIGUSR1).unwrap();
    let count = threads.clone();
    run_until(&lp, move || count.borrow().len() == 2);
    assert!(
        threads
            .borrow()
            .iter()
            .all(|id| *id == std::thread::current().id())
    );
    assert!(lp.remove_signal_handler(signal::SIGUSR1).unwrap());
    assert!(!lp.remove_signal_handler(signal::SIGUSR1).unwrap());
    assert!(
        signal::is_default(signal::SIGUSR1),
        "default disposition restored"
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "real I/O: sockets, signals or CPU-time measurement, which miri does not run"
)]
fn invalid_and_uncatchable_signals_are_errors() {
    let lp = EventLoop::new().unwrap();
    for bad in [0, -1, 65, 1000] {
        let err = lp.add_signal_handler(bad, || {}).unwrap_err();
        assert!(matches!(err, Error::InvalidSignal(n) if n == bad), "{err}");
        assert!(lp.remove_signal_handler(bad).is_err());
    }
    assert_eq!(
        lp.add_signal_handler(0, || {}).unwrap_err().to_string(),
        "sig 0 out of range(1, 65)"
    );
    for uncatchable in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV] {
        let err = lp.add_signal_handler(uncatchable, || {}).unwrap_err();
        assert!(matches!(err, Error::UncatchableSignal(_)), "{err}");
    }
    assert_eq!(
        lp.add_signal_handler(9, || {}).unwrap_err().to_string(),
        "sig 9 cannot be caught"
    );
    lp.close().unwrap();
    assert!(matches!(
        lp.add_signal_handler(signal::SIGUSR2, || {}),
        Err(Error::Closed)
    ));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "real I/O: sockets, signals or CPU-time measurement, which miri does not run"
)]
fn a_second_add_replaces_the_handler_and_close_restores_the_disposition() {
    let lp = EventLoop::new().unwrap();
    let which = Rc::new(Cell::new(""));
    let first = which.clone();
    lp.add_signal_handler(signal::SIGWINCH, move || first.set("first"))
        .unwrap();
    let second = which.clone();
    lp.add_signal_handler(signal::SIGWINCH, move || second.set("second"))
        .unwrap();
    assert!(!signal::is_default(signal::SIGWINCH));
    signal::raise(signal::SIGWINCH).unwrap();
    let done = which.clone();
    run_until(&lp, move || !done.get().is_empty());
    assert_eq!(which.get(), "second");
    lp.close().unwrap();
    assert!(
        signal::is_default(signal::SIGWINCH),
        "closing the loop removes its handlers"
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "real I/O: sockets, signals or CPU-time measurement, which miri does not run"
)]
fn loops_on_two_threads_both_see_the_signal() {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let other = std::thread::spawn(move || {
        let lp = EventLoop::new().unwrap();
        let got = Rc::new(Cell::new(false));
        let flag = got.clone();
        lp.add_signal_handler(signal::SIGUSR2, move || flag.set(true))
            .unwrap();
        ready_tx.send(()).unwrap();
        run_until(&lp, move || got.get());
    });
    let lp = EventLoop::new().unwrap();
    let got = Rc::new(Cell::new(false));
    let flag = got.clone();
    lp.add_signal_handler(signal::SIGUSR2, move || flag.set(true))
        .unwrap();
    ready_rx.recv().unwrap();
    signal::raise(signal::SIGUSR2).unwrap();
    run_until(&lp, move || got.get());
    other.join().unwrap();
    lp.close().unwrap();
    assert!(signal::is_default(signal::SIGUSR2));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "real I/O: sockets, signals or CPU-time measurement, which miri does not run"
)]
fn a_panicking_handler_is_reported_and_the_next_delivery_still_runs() {
    let lp = EventLoop::new().unwrap();
    let reported = Rc::new(Cell::new(0));
    let count = reported.clone();
    lp.set_exception_handler(move |_, _| count.set(count.get() + 1));
    let calls = Rc::new(Cell::new(0));
    let seen = calls.clone();
    lp.add_signal_handler(signal::SIGHUP, move || {
        seen.set(seen.get() + 1);
        if seen.get() == 1 {
            panic!("handler failed");
        }
    })
    .unwrap();
    signal::raise(signal::SIGHUP).unwrap();
    let done = calls.clone();
    run_until(&lp, move || done.get() == 1);
    signal::raise(signal::SIGHUP).unwrap();
    let done = calls.clone();
    run_until(&lp, move || done.get() == 2);
    assert_eq!(reported.get(), 1);
    lp.close().unwrap();
}
