//! Readiness reaches wakers, in both `PollMode::Edge` and `PollMode::Oneshot`: a waker stored
//! by `poll_readable` / `poll_writable` is woken by `Reactor::wait` exactly when (and only
//! when) its own direction becomes ready, after which `poll_read_with` / `poll_write_with`
//! complete the operation.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use aio_reactor::{AsyncFd, PollMode, PollingReactor, Reactor};

/// A waker that counts its wake-ups.
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

fn count(counter: &Counter) -> usize {
    counter.0.load(Ordering::SeqCst)
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// Calls `wait` until `counter` has been woken or 5 s pass (a generous bound: the event is
/// already pending in the kernel when this is called).
fn wait_until_woken(reactor: &PollingReactor, counter: &Counter) {
    let limit = Instant::now() + Duration::from_secs(5);
    while count(counter) == 0 && Instant::now() < limit {
        reactor.wait(Some(limit)).unwrap();
    }
}

fn readable_waker_is_woken_by_peer_write(mode: PollMode) {
    let reactor = PollingReactor::with_mode(mode).unwrap();
    let (a, mut peer) = pair();
    let a = AsyncFd::new(&reactor, a).unwrap();
    let (counter, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);

    a.registration().clear_readable();
    assert!(a.registration().poll_readable(&mut cx).is_pending());

    // Nothing to read yet. The socket *is* writable (in edge mode the kernel reports that edge
    // now), which must not wake the read waker.
    reactor.wait(Some(Instant::now())).unwrap();
    assert_eq!(
        count(&counter),
        0,
        "{mode:?}: read waker woken with nothing to read"
    );
    assert!(!a.registration().source().is_readable());

    peer.write_all(b"hello").unwrap();
    wait_until_woken(&reactor, &counter);
    assert_eq!(
        count(&counter),
        1,
        "{mode:?}: read waker not woken exactly once"
    );
    assert!(a.registration().source().is_readable());

    let mut buf = [0u8; 16];
    let poll = a
        .registration()
        .poll_read_with(&mut cx, || a.get_ref().read(&mut buf));
    assert!(
        matches!(poll, Poll::Ready(Ok(5))),
        "{mode:?}: poll_read_with gave {poll:?}"
    );
    assert_eq!(&buf[..5], b"hello");

    // Drained: the next read would block, so it is pending again with the waker stored...
    let poll = a
        .registration()
        .poll_read_with(&mut cx, || a.get_ref().read(&mut buf));
    assert!(poll.is_pending(), "{mode:?}: {poll:?}");
    assert!(!a.registration().source().is_readable());

    // ...and the next write from the peer wakes it again.
    peer.write_all(b"again").unwrap();
    let limit = Instant::now() + Duration::from_secs(5);
    while count(&counter) < 2 && Instant::now() < limit {
        reactor.wait(Some(limit)).unwrap();
    }
    assert_eq!(
        count(&counter),
        2,
        "{mode:?}: second read event not delivered"
    );
    let poll = a
        .registration()
        .poll_read_with(&mut cx, || a.get_ref().read(&mut buf));
    assert!(matches!(poll, Poll::Ready(Ok(5))), "{mode:?}: {poll:?}");
    assert_eq!(&buf[..5], b"again");
}

#[test]
fn readable_waker_is_woken_by_peer_write_edge() {
    readable_waker_is_woken_by_peer_write(PollMode::Edge);
}

#[test]
fn readable_waker_is_woken_by_peer_write_oneshot() {
    readable_waker_is_woken_by_peer_write(PollMode::Oneshot);
}

fn writable_waker_is_woken_when_peer_drains(mode: PollMode) {
    let reactor = PollingReactor::with_mode(mode).unwrap();
    let (a, mut peer) = pair();
    let a = AsyncFd::new(&reactor, a).unwrap();
    // Consume the initial events (edge mode reports the fresh socket as writable).
    reactor.wait(Some(Instant::now())).unwrap();

    let (counter, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let chunk = [0x5au8; 4096];
    let mut written = 0usize;
    loop {
        match a
            .registration()
            .poll_write_with(&mut cx, || a.get_ref().write(&chunk))
        {
            Poll::Ready(Ok(n)) => {
                assert!(n > 0);
                written += n;
                assert!(written < 64 << 20, "{mode:?}: send buffer never filled");
            }
            Poll::Ready(Err(e)) => panic!("{mode:?}: write failed: {e}"),
            Poll::Pending => break,
        }
    }
    assert!(written > 0);
    assert!(!a.registration().source().is_writable());

    // Still full: no write event can come.
    reactor.wait(Some(Instant::now())).unwrap();
    assert_eq!(
        count(&counter),
        0,
        "{mode:?}: writable waker woken while full"
    );

    // The peer drains everything; the socket becomes writable and the waker fires.
    let mut drained = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    while drained < written {
        match peer.read(&mut buf) {
            Ok(0) => panic!("unexpected EOF"),
            Ok(n) => drained += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("drain failed: {e}"),
        }
    }
    assert_eq!(drained, written);

    wait_until_woken(&reactor, &counter);
    assert_eq!(
        count(&counter),
        1,
        "{mode:?}: writable waker not woken exactly once"
    );
    let poll = a
        .registration()
        .poll_write_with(&mut cx, || a.get_ref().write(b"more"));
    assert!(
        matches!(poll, Poll::Ready(Ok(4))),
        "{mode:?}: poll_write_with gave {poll:?}"
    );
}

#[test]
fn writable_waker_is_woken_when_peer_drains_edge() {
    writable_waker_is_woken_when_peer_drains(PollMode::Edge);
}

#[test]
fn writable_waker_is_woken_when_peer_drains_oneshot() {
    writable_waker_is_woken_when_peer_drains(PollMode::Oneshot);
}

/// Both directions waited on at once: each event wakes only its own direction's waker.
fn read_and_write_wakers_are_independent(mode: PollMode) {
    let reactor = PollingReactor::with_mode(mode).unwrap();
    let (a, mut peer) = pair();
    let a = AsyncFd::new(&reactor, a).unwrap();
    reactor.wait(Some(Instant::now())).unwrap();

    let (reads, read_waker) = counting_waker();
    let (writes, write_waker) = counting_waker();

    // Fill the send buffer so the write direction waits too.
    let chunk = [1u8; 4096];
    let mut wcx = Context::from_waker(&write_waker);
    let mut written = 0usize;
    while let Poll::Ready(res) = a
        .registration()
        .poll_write_with(&mut wcx, || a.get_ref().write(&chunk))
    {
        written += res.unwrap();
        assert!(written < 64 << 20, "send buffer never filled");
    }
    let mut rcx = Context::from_waker(&read_waker);
    a.registration().clear_readable();
    assert!(a.registration().poll_readable(&mut rcx).is_pending());
    assert_eq!(a.registration().source().waiting(), (true, true));

    // Make it readable only (the peer writes but does not drain).
    peer.write_all(b"x").unwrap();
    wait_until_woken(&reactor, &reads);
    assert_eq!((count(&reads), count(&writes)), (1, 0), "{mode:?}");
    assert_eq!(
        a.registration().source().waiting(),
        (false, true),
        "{mode:?}"
    );

    // Now drain: only the write waker fires.
    let mut buf = vec![0u8; 64 * 1024];
    let mut drained = 0;
    while drained < written {
        match peer.read(&mut buf) {
            Ok(n) => drained += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("drain failed: {e}"),
        }
    }
    wait_until_woken(&reactor, &writes);
    assert_eq!((count(&reads), count(&writes)), (1, 1), "{mode:?}");
}

#[test]
fn read_and_write_wakers_are_independent_edge() {
    read_and_write_wakers_are_independent(PollMode::Edge);
}

#[test]
fn read_and_write_wakers_are_independent_oneshot() {
    read_and_write_wakers_are_independent(PollMode::Oneshot);
}
