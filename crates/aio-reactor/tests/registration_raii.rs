//! Registration is RAII: registering counts in `registrations()`, and dropping the
//! `Registration` / `AsyncFd` (or calling `AsyncFd::into_inner`) decrements the count *and*
//! removes the descriptor from the OS poller, so it can be registered again and produces no
//! more events, while `into_inner` hands back a stream that is still open and usable.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use aio_reactor::{AsyncFd, PollMode, PollingReactor, Reactor};

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

fn modes() -> [PollMode; 2] {
    [PollMode::Edge, PollMode::Oneshot]
}

#[test]
fn async_fd_counts_registrations_and_drop_decrements() {
    for mode in modes() {
        let reactor = PollingReactor::with_mode(mode).unwrap();
        assert_eq!(reactor.registrations(), 0);
        let (a, b) = pair();
        let (c, d) = pair();
        let a = AsyncFd::new(&reactor, a).unwrap();
        assert_eq!(reactor.registrations(), 1, "{mode:?}");
        let b = AsyncFd::new(&reactor, b).unwrap();
        let c = AsyncFd::new(&reactor, c).unwrap();
        assert_eq!(reactor.registrations(), 3, "{mode:?}");
        drop(b);
        assert_eq!(reactor.registrations(), 2, "{mode:?}");
        drop(a);
        drop(c);
        assert_eq!(reactor.registrations(), 0, "{mode:?}");
        // Slots are reused: registering again after drops counts normally.
        let d = AsyncFd::new(&reactor, d).unwrap();
        assert_eq!(reactor.registrations(), 1, "{mode:?}");
        drop(d);
        assert_eq!(reactor.registrations(), 0, "{mode:?}");
    }
}

/// The check below ("can register again") is only meaningful if a descriptor that *is* still
/// in the poller cannot be registered a second time. This proves it can't (EEXIST), and that
/// the failed attempt does not leak a registration.
#[test]
fn registering_a_registered_fd_again_fails_without_leaking() {
    for mode in modes() {
        let reactor = PollingReactor::with_mode(mode).unwrap();
        let (a, _b) = pair();
        let fd = a.as_raw_fd();
        // SAFETY: `a` outlives both registrations (dropped at the end of the loop body).
        let first = unsafe { reactor.register(fd) }.unwrap();
        // SAFETY: as above.
        let second = unsafe { reactor.register(fd) };
        let err = second.expect_err("second registration of a registered fd must fail");
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{mode:?}: {err}");
        assert_eq!(reactor.registrations(), 1, "{mode:?}");
        drop(first);
        assert_eq!(reactor.registrations(), 0, "{mode:?}");
    }
}

#[test]
fn dropped_registration_leaves_the_poller_so_fd_can_be_registered_again() {
    for mode in modes() {
        let reactor = PollingReactor::with_mode(mode).unwrap();
        let (a, _b) = pair();
        let fd = a.as_raw_fd();
        for round in 0..3 {
            // SAFETY: `a` stays open for the whole test; each registration is dropped below.
            let registration = unsafe { reactor.register(fd) }
                .unwrap_or_else(|e| panic!("{mode:?} round {round}: re-register failed: {e}"));
            assert_eq!(registration.fd(), fd);
            assert_eq!(reactor.registrations(), 1);
            drop(registration);
            assert_eq!(reactor.registrations(), 0);
        }
    }
}

#[test]
fn into_inner_deregisters_and_returns_a_working_open_stream() {
    for mode in modes() {
        let reactor = PollingReactor::with_mode(mode).unwrap();
        let (a, mut peer) = pair();
        let fd = a.as_raw_fd();
        let a = AsyncFd::new(&reactor, a).unwrap();
        assert_eq!(reactor.registrations(), 1);

        let mut a: UnixStream = a.into_inner();
        assert_eq!(reactor.registrations(), 0, "{mode:?}");
        assert_eq!(a.as_raw_fd(), fd, "the same descriptor comes back");

        // Still open and connected, both ways.
        a.write_all(b"out").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(peer.read(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"out");
        peer.write_all(b"in").unwrap();
        assert_eq!(a.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"in");

        // It left the poller: registering it again succeeds (no EEXIST).
        let a = AsyncFd::new(&reactor, a)
            .unwrap_or_else(|e| panic!("{mode:?}: re-registering after into_inner failed: {e}"));
        assert_eq!(reactor.registrations(), 1);
        drop(a);
        assert_eq!(reactor.registrations(), 0);
    }
}

/// Dropping an `AsyncFd` whose open file is still referenced elsewhere (a `try_clone`): if the
/// registration were not deleted from the poller, epoll would keep the entry alive (it is only
/// removed automatically when *every* descriptor of the file is closed) and a later event
/// would end the wait early. With the entry deleted, nothing is registered and the wait runs
/// to its deadline.
#[test]
fn dropped_async_fd_produces_no_more_events() {
    let reactor = PollingReactor::with_mode(PollMode::Edge).unwrap();
    let (a, mut peer) = pair();
    let clone = a.try_clone().unwrap();
    let a = AsyncFd::new(&reactor, a).unwrap();
    // Consume the initial (writable) edge.
    reactor.wait(Some(Instant::now())).unwrap();
    drop(a);
    assert_eq!(reactor.registrations(), 0);

    peer.write_all(b"wake?").unwrap();
    let deadline = Instant::now() + Duration::from_millis(50);
    assert_eq!(reactor.wait(Some(deadline)).unwrap(), 0);
    assert!(
        Instant::now() >= deadline,
        "the wait ended early: the dropped descriptor is still in the poller"
    );
    drop(clone);
}
