//! An event for a registration that has been dropped never reaches a newer registration that
//! reuses its slot: the new registration's waker is not woken and its readiness is not touched
//! unless its *own* descriptor becomes ready.
//!
//! Making this deterministic: dropping a registration deletes the descriptor from epoll, so in
//! normal use the kernel simply stops reporting it, and the first test below checks that
//! end-to-end property. To exercise the reactor's own defence (the slot *generation* carried in
//! every event key), the second test forces the kernel to keep reporting events under the dead
//! registration's key: epoll only drops an entry automatically when every descriptor of the open
//! file is closed, so if the registered descriptor is closed while a duplicate keeps the file
//! open, the deregistration's `EPOLL_CTL_DEL` misses and the entry lives on as a "zombie" that
//! fires with the old key. The new registration takes the freed slot, so only the generation
//! check stands between that event and the new registration's waker.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use aio_reactor::{AsyncFd, PollMode, PollingReactor, Reactor};

struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<Counter>, Waker) {
    let counter = Arc::new(Counter(AtomicUsize::new(0)));
    (counter.clone(), Waker::from(counter))
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// A readable, un-waited registration is dropped; a new one (taking its slot) waits for read
/// readiness on a socket that has nothing to read. Its waker must stay untouched.
fn dropped_readable_registration_does_not_wake_successor(mode: PollMode) {
    let reactor = PollingReactor::with_mode(mode).unwrap();
    let (a, mut a_peer) = pair();
    let a = AsyncFd::new(&reactor, a).unwrap();
    let a_key = a.registration().source().key();
    // A waits for reads (so a oneshot reactor arms it), then becomes readable; nobody waits.
    a.registration().clear_readable();
    let mut noop = Context::from_waker(Waker::noop());
    assert!(a.registration().poll_readable(&mut noop).is_pending());
    a_peer.write_all(b"for A").unwrap();
    drop(a);

    let (b, _b_peer) = pair();
    let b = AsyncFd::new(&reactor, b).unwrap();
    assert_ne!(
        b.registration().source().key(),
        a_key,
        "{mode:?}: key reused as-is"
    );
    let (counter, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    b.registration().clear_readable();
    assert!(b.registration().poll_readable(&mut cx).is_pending());

    reactor
        .wait(Some(Instant::now() + Duration::from_millis(20)))
        .unwrap();
    assert_eq!(
        counter.0.load(Ordering::SeqCst),
        0,
        "{mode:?}: B's waker woken by A's event"
    );
    assert!(!b.registration().source().is_readable(), "{mode:?}");
    assert_eq!(
        b.registration().source().waiting(),
        (true, false),
        "{mode:?}"
    );
}

#[test]
fn dropped_readable_registration_does_not_wake_successor_edge() {
    dropped_readable_registration_does_not_wake_successor(PollMode::Edge);
}

#[test]
fn dropped_readable_registration_does_not_wake_successor_oneshot() {
    dropped_readable_registration_does_not_wake_successor(PollMode::Oneshot);
}

#[cfg(target_os = "linux")]
#[test]
fn zombie_epoll_event_with_stale_key_is_ignored() {
    use std::os::fd::AsRawFd;

    let reactor = PollingReactor::with_mode(PollMode::Edge).unwrap();
    let (a, mut a_peer) = pair();
    let a_dup = a.try_clone().unwrap(); // keeps A's open file alive after `a` is closed
    // SAFETY: deliberately broken below, in a way that stays memory-safe: `a` is closed while
    // registered, so the deregistration's EPOLL_CTL_DEL targets a closed (or, with tests running
    // in parallel, an unrelated) descriptor number, which our epoll instance does not hold; the
    // call fails and is ignored. That is exactly how the zombie entry is made.
    let reg_a = unsafe { reactor.register(a.as_raw_fd()) }.unwrap();
    let a_key = reg_a.source().key();
    reactor.wait(Some(Instant::now())).unwrap(); // consume A's initial writable edge
    drop(a);
    drop(reg_a);
    assert_eq!(reactor.registrations(), 0);

    let (b, _b_peer) = pair();
    let b = AsyncFd::new(&reactor, b).unwrap();
    let b_key = b.registration().source().key();
    assert_ne!(b_key, a_key, "key reused as-is");
    reactor.wait(Some(Instant::now())).unwrap(); // consume B's initial writable edge
    let (counter, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    b.registration().clear_readable();
    b.registration().clear_writable();
    assert!(b.registration().poll_readable(&mut cx).is_pending());

    // The zombie fires under A's old key.
    a_peer.write_all(b"for the dead").unwrap();
    let start = Instant::now();
    let delivered = reactor.wait(Some(start + Duration::from_secs(5))).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "precondition: the kernel should have reported the zombie entry's event"
    );
    assert_eq!(delivered, 0, "a stale event was counted as delivered");
    assert_eq!(
        counter.0.load(Ordering::SeqCst),
        0,
        "B's waker woken by the dead registration's event"
    );
    assert!(!b.registration().source().is_readable());
    assert!(!b.registration().source().is_writable());
    drop(b);
    drop(a_dup);
}
