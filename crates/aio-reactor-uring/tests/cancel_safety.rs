//! The `# Cancel safety` section of `UringReactor`, checked: a read waiter that armed a poll
//! and was then abandoned (its future dropped) consumes nothing — the completion that arrives
//! afterwards records readiness, and a new waiter reads at once without another event.

use std::future::{Future, poll_fn};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use aio_reactor::{AsyncFd, Reactor};
use aio_reactor_uring::UringReactor;

#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn read_dropped_while_waiting_leaves_the_readiness() {
    let reactor = UringReactor::new().expect("io_uring");
    let (a, mut b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let a = AsyncFd::new(&reactor, a).unwrap();
    let dropped = Arc::new(Counter::default());
    {
        let mut buf = [0u8; 8];
        let mut read = pin!(poll_fn(|cx| {
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
    let deadline = Instant::now() + Duration::from_secs(5);
    while !a.registration().source().is_readable() {
        assert!(
            Instant::now() < deadline,
            "no completion for the armed poll"
        );
        reactor.wait(Some(deadline)).unwrap();
    }
    assert_eq!(dropped.0.load(Ordering::SeqCst), 1);
    let mut buf = [0u8; 8];
    let mut cx = Context::from_waker(Waker::noop());
    let read = a
        .registration()
        .poll_read_with(&mut cx, || a.get_ref().read(&mut buf));
    assert!(matches!(read, Poll::Ready(Ok(4))));
    assert_eq!(&buf[..4], b"kept");
}
