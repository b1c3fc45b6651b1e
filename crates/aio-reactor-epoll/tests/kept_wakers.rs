//! The epoll reactor wakes a waiting task by reference and keeps its waker for the task's
//! next wait (`Source::mark_ready` / `Source::wake_waiting`): each wait wakes its task
//! exactly once, a task that stopped waiting is not woken by later events, a task that waits
//! again is, and a waiter replaced by another task's is never woken again.

#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use aio_reactor::{AsyncFd, Reactor};
use aio_reactor_epoll::EpollReactor;

#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Counter {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

fn pair(reactor: &EpollReactor) -> (AsyncFd<UnixStream>, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    (AsyncFd::new(reactor, a).unwrap(), b)
}

/// Polls a read of `a` with `waker`: `Some(bytes)` if it completed.
fn poll_read(a: &AsyncFd<UnixStream>, waker: &Waker) -> Option<Vec<u8>> {
    let mut buf = [0u8; 64];
    match a
        .registration()
        .poll_read_with(&mut Context::from_waker(waker), || {
            a.get_ref().read(&mut buf)
        }) {
        Poll::Ready(Ok(n)) => Some(buf[..n].to_vec()),
        Poll::Ready(Err(e)) => panic!("read: {e}"),
        Poll::Pending => None,
    }
}

/// Sends `data` from the peer and lets the reactor take the event.
fn send(reactor: &EpollReactor, b: &mut UnixStream, data: &[u8]) {
    b.write_all(data).unwrap();
    reactor
        .wait(Some(Instant::now() + Duration::from_secs(5)))
        .unwrap();
}

#[test]
fn a_wait_wakes_once_and_a_task_that_waits_again_is_woken_again() {
    let reactor = EpollReactor::new().unwrap();
    let (a, mut b) = pair(&reactor);
    let task = Arc::new(Counter::default());
    let waker = Waker::from(task.clone());
    for round in 1..=3 {
        assert_eq!(poll_read(&a, &waker), None);
        send(&reactor, &mut b, b"x");
        assert_eq!(task.count(), round, "one wake per wait");
        assert_eq!(poll_read(&a, &waker).as_deref(), Some(&b"x"[..]));
    }
    // The kept waker is the one reference the source holds besides the test's.
    assert_eq!(
        Arc::strong_count(&task),
        3,
        "the task, its waker, and the kept waker"
    );
}

#[test]
fn a_task_that_stopped_waiting_is_not_woken_by_later_events() {
    let reactor = EpollReactor::new().unwrap();
    let (a, mut b) = pair(&reactor);
    let task = Arc::new(Counter::default());
    let waker = Waker::from(task.clone());
    assert_eq!(poll_read(&a, &waker), None);
    send(&reactor, &mut b, b"1");
    assert_eq!(task.count(), 1);
    // The task does not read (it went on to something else); more data comes.
    b.write_all(b"2").unwrap();
    reactor
        .wait(Some(Instant::now() + Duration::from_millis(50)))
        .unwrap();
    assert_eq!(task.count(), 1, "no wake without a wait");
    assert_eq!(poll_read(&a, &waker).as_deref(), Some(&b"12"[..]));
}

#[test]
fn a_replaced_waiter_is_never_woken_again() {
    let reactor = EpollReactor::new().unwrap();
    let (a, mut b) = pair(&reactor);
    let first = Arc::new(Counter::default());
    let second = Arc::new(Counter::default());
    assert_eq!(poll_read(&a, &Waker::from(first.clone())), None);
    send(&reactor, &mut b, b"1");
    assert_eq!(
        poll_read(&a, &Waker::from(first.clone())).as_deref(),
        Some(&b"1"[..])
    );
    // Another task reads next: its waker replaces the kept one.
    assert_eq!(poll_read(&a, &Waker::from(second.clone())), None);
    assert_eq!(Arc::strong_count(&first), 1, "the kept waker was dropped");
    send(&reactor, &mut b, b"2");
    assert_eq!((first.count(), second.count()), (1, 1));
}

#[test]
fn an_abandoned_wait_keeps_the_readiness_for_the_next_reader() {
    let reactor = EpollReactor::new().unwrap();
    let (a, mut b) = pair(&reactor);
    let abandoned = Arc::new(Counter::default());
    assert_eq!(poll_read(&a, &Waker::from(abandoned.clone())), None);
    send(&reactor, &mut b, b"kept");
    // Woken once (harmless); the readiness stays recorded for whoever reads next.
    assert_eq!(abandoned.count(), 1);
    assert_eq!(
        poll_read(&a, Waker::noop()).as_deref(),
        Some(&b"kept"[..]),
        "read at once, with no further event"
    );
}

#[test]
fn a_write_waiter_is_woken_by_reference_too() {
    let reactor = EpollReactor::new().unwrap();
    let (a, mut b) = pair(&reactor);
    let task = Arc::new(Counter::default());
    let waker = Waker::from(task.clone());
    // Fill the socket's buffer until a write waits.
    let chunk = [0u8; 4096];
    loop {
        let poll = a
            .registration()
            .poll_write_with(&mut Context::from_waker(&waker), || {
                a.get_ref().write(&chunk)
            });
        if poll.is_pending() {
            break;
        }
    }
    // The peer drains; the write direction's event wakes the task once.
    let mut sink = vec![0u8; 1 << 16];
    b.set_nonblocking(true).unwrap();
    while b.read(&mut sink).is_ok() {}
    let give_up = Instant::now() + Duration::from_secs(5);
    while task.count() == 0 {
        assert!(Instant::now() < give_up, "no write event");
        reactor
            .wait(Some(Instant::now() + Duration::from_millis(100)))
            .unwrap();
    }
    assert_eq!(task.count(), 1);
    assert!(a.registration().source().is_writable());
}
