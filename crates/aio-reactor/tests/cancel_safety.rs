//! The `# Cancel safety` sections of aio-reactor, checked in both poll modes: a waiter that
//! registered for readiness and is then abandoned (its future dropped, here: never polled
//! again) consumes nothing — the event that arrives afterwards stays recorded, and a new
//! waiter (another task's waker) finds the data at once, without waiting for a new event.

use std::future::Future;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use aio_reactor::{AsyncFd, PollMode, PollingReactor, Reactor};

#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn pair(reactor: &PollingReactor) -> (AsyncFd<UnixStream>, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    (AsyncFd::new(reactor, a).unwrap(), b)
}

fn read_dropped_while_waiting_leaves_the_readiness(mode: PollMode) {
    let reactor = PollingReactor::with_mode(mode).unwrap();
    let (a, mut b) = pair(&reactor);
    let dropped = Arc::new(Counter::default());
    {
        // A read future waits (nothing to read), then is dropped.
        let mut buf = [0u8; 8];
        let mut read = pin!(std::future::poll_fn(|cx| {
            a.registration()
                .poll_read_with(cx, || a.get_ref().read(&mut buf))
        }));
        let waker = Waker::from(dropped.clone());
        assert!(
            read.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
    }
    b.write_all(b"kept").unwrap();
    reactor
        .wait(Some(Instant::now() + Duration::from_secs(5)))
        .unwrap();
    // The dropped waiter's waker was woken once (harmless); the readiness is still recorded.
    assert_eq!(dropped.0.load(Ordering::SeqCst), 1);
    assert!(a.registration().source().is_readable());
    // A new waiter reads at once, with no further event.
    let mut buf = [0u8; 8];
    let mut cx = Context::from_waker(Waker::noop());
    let read = a
        .registration()
        .poll_read_with(&mut cx, || a.get_ref().read(&mut buf));
    assert!(matches!(read, Poll::Ready(Ok(4))));
    assert_eq!(&buf[..4], b"kept");
}

#[test]
fn read_dropped_while_waiting_leaves_the_readiness_edge() {
    read_dropped_while_waiting_leaves_the_readiness(PollMode::Edge);
}

#[test]
fn read_dropped_while_waiting_leaves_the_readiness_oneshot() {
    read_dropped_while_waiting_leaves_the_readiness(PollMode::Oneshot);
}

fn write_dropped_while_waiting_wrote_nothing(mode: PollMode) {
    let reactor = PollingReactor::with_mode(mode).unwrap();
    let (a, mut b) = pair(&reactor);
    let mut cx = Context::from_waker(Waker::noop());
    let chunk = [1u8; 4096];
    let mut filled = 0;
    while let Poll::Ready(Ok(n)) = a
        .registration()
        .poll_write_with(&mut cx, || a.get_ref().write(&chunk))
    {
        filled += n;
    }
    // One more write waits for room and is dropped: it must not have written anything.
    {
        let marker = [2u8; 16];
        let mut write = pin!(std::future::poll_fn(|cx| {
            a.registration()
                .poll_write_with(cx, || a.get_ref().write(&marker))
        }));
        assert!(write.as_mut().poll(&mut cx).is_pending());
    }
    b.set_nonblocking(true).unwrap();
    let mut drained = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match b.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => drained.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(drained.len(), filled);
    assert!(
        drained.iter().all(|&byte| byte == 1),
        "the dropped write wrote"
    );
    // The room it waited for is reported to the next writer.
    reactor
        .wait(Some(Instant::now() + Duration::from_secs(5)))
        .unwrap();
    let write = a
        .registration()
        .poll_write_with(&mut cx, || a.get_ref().write(b"after"));
    assert!(matches!(write, Poll::Ready(Ok(5))));
}

#[test]
fn write_dropped_while_waiting_wrote_nothing_edge() {
    write_dropped_while_waiting_wrote_nothing(PollMode::Edge);
}

#[test]
fn write_dropped_while_waiting_wrote_nothing_oneshot() {
    write_dropped_while_waiting_wrote_nothing(PollMode::Oneshot);
}
