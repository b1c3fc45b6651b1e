//! `Reactor::wait` deadlines: a future deadline is never cut short (sub-millisecond precision:
//! a 3 ms wait lasts at least 3 ms, and — wide bound — well under a second), a past deadline
//! returns at once with no events, and `Notify::notify` from another thread ends a wait with no
//! deadline (or the next one, if it comes first).

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use aio_reactor::{Notify, PollMode, PollingReactor, Reactor};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

/// Generous upper bound for anything that should be "immediate" or "a few milliseconds".
const WIDE: Duration = Duration::from_secs(1);

#[test]
fn short_deadline_with_nothing_registered_is_honoured() {
    for mode in [PollMode::Edge, PollMode::Oneshot] {
        let reactor = PollingReactor::with_mode(mode).unwrap();
        for _ in 0..3 {
            let start = Instant::now();
            let deadline = start + Duration::from_millis(3);
            assert_eq!(reactor.wait(Some(deadline)).unwrap(), 0);
            let now = Instant::now();
            assert!(now >= deadline, "{mode:?}: woke {:?} early", deadline - now);
            assert!(now - start < WIDE, "{mode:?}: took {:?}", now - start);
        }
    }
}

#[test]
fn sub_millisecond_deadline_is_honoured() {
    let reactor = PollingReactor::new().unwrap();
    let start = Instant::now();
    let deadline = start + Duration::from_micros(300);
    assert_eq!(reactor.wait(Some(deadline)).unwrap(), 0);
    assert!(Instant::now() >= deadline, "woke before a 300 µs deadline");
    assert!(start.elapsed() < WIDE);
}

/// Same, with an idle descriptor registered (so the kernel wait really happens). Oneshot mode
/// arms nothing until a task waits, so no event can end the wait.
#[test]
fn short_deadline_with_idle_registration_is_honoured() {
    let reactor = PollingReactor::with_mode(PollMode::Oneshot).unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let _a = aio_reactor::AsyncFd::new(&reactor, a).unwrap();
    let start = Instant::now();
    let deadline = start + Duration::from_millis(3);
    assert_eq!(reactor.wait(Some(deadline)).unwrap(), 0);
    assert!(Instant::now() >= deadline);
    assert!(start.elapsed() < WIDE);
}

#[test]
fn past_deadline_returns_immediately_with_zero() {
    for mode in [PollMode::Edge, PollMode::Oneshot] {
        let reactor = PollingReactor::with_mode(mode).unwrap();
        let past = Instant::now();
        thread::sleep(Duration::from_millis(1));
        let start = Instant::now();
        assert_eq!(reactor.wait(Some(past)).unwrap(), 0, "{mode:?}");
        assert!(
            start.elapsed() < WIDE,
            "{mode:?}: took {:?}",
            start.elapsed()
        );

        // Also with an (idle, oneshot-unarmed or edge-consumed) registration present.
        let (a, _b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let _a = aio_reactor::AsyncFd::new(&reactor, a).unwrap();
        reactor.wait(Some(Instant::now())).unwrap(); // consume edge mode's initial event
        let start = Instant::now();
        assert_eq!(reactor.wait(Some(past)).unwrap(), 0, "{mode:?}");
        assert!(
            start.elapsed() < WIDE,
            "{mode:?}: took {:?}",
            start.elapsed()
        );
    }
}

/// What the waiting thread reports: the wait's result and when it returned.
type WaitResult = (std::io::Result<usize>, Instant);

/// Runs `wait(None)` on a new thread (the reactor is created there: it is not `Send`), after
/// optionally notifying first. Returns the notifier and the channel the result arrives on.
fn spawn_waiter(notify_first: bool) -> (Arc<dyn Notify>, mpsc::Receiver<WaitResult>) {
    let (notifier_tx, notifier_rx) = mpsc::channel();
    let (result_tx, result_rx) = mpsc::channel();
    // Detached: if `wait` never returns (a bug), the test fails on the timeout below instead of
    // hanging, and the thread dies with the test process.
    thread::spawn(move || {
        let reactor = PollingReactor::new().unwrap();
        if notify_first {
            reactor.notifier().notify().unwrap();
        }
        notifier_tx.send(reactor.notifier()).unwrap();
        let res = reactor.wait(None);
        let _ = result_tx.send((res, Instant::now()));
    });
    let notifier = notifier_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    (notifier, result_rx)
}

#[test]
fn notify_from_another_thread_ends_an_unbounded_wait() {
    let (notifier, results) = spawn_waiter(false);
    // Give the waiter time to block (not needed for correctness: a notify before the wait
    // also ends it).
    thread::sleep(Duration::from_millis(20));
    assert!(
        results.try_recv().is_err(),
        "wait(None) returned without a notify"
    );
    let notified_at = Instant::now();
    notifier.notify().unwrap();
    let (res, returned_at) = results
        .recv_timeout(Duration::from_secs(5))
        .expect("wait(None) was not ended by notify() within 5 s");
    assert_eq!(res.unwrap(), 0, "a notification is not an I/O event");
    assert!(
        returned_at >= notified_at,
        "wait returned before the notify"
    );
}

#[test]
fn notify_before_wait_ends_the_next_wait() {
    let (_notifier, results) = spawn_waiter(true);
    let (res, _) = results
        .recv_timeout(Duration::from_secs(5))
        .expect("a notify() issued before wait(None) did not end it");
    assert_eq!(res.unwrap(), 0);
}

#[test]
fn notify_ends_a_wait_with_a_far_deadline() {
    let reactor = PollingReactor::new().unwrap();
    let notifier = reactor.notifier();
    let notifier_thread = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        notifier.notify().unwrap();
    });
    let start = Instant::now();
    reactor.wait(Some(start + Duration::from_secs(5))).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "notify did not end the wait"
    );
    notifier_thread.join().unwrap();
}
