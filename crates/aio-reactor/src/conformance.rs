//! The reactor conformance suite: what every [`Reactor`] must do, as checks any reactor
//! crate runs against its own implementation.
//!
//! Each check takes a function that builds a fresh reactor and panics (with a message saying
//! what was expected) if the reactor misbehaves. [`reactor_conformance_tests!`](crate::reactor_conformance_tests) turns the
//! whole suite into `#[test]` functions in one line; `aio-reactor` runs it on
//! [`PollingReactor`](crate::PollingReactor), `aio-reactor-uring` on its io_uring reactor, and a
//! third reactor should do the same.
//!
//! The checks: readiness of pipes and sockets in both directions, deregistration on drop,
//! stale events after a descriptor number is reused, deadline precision, cross-thread notify
//! while blocked without a deadline (and before the wait), and 10,000 registrations at once
//! (the suite raises the soft descriptor limit for that itself).
//!
//! # Examples
//!
//! ```
//! use aio_reactor::{PollingReactor, conformance};
//! conformance::socket_readiness(PollingReactor::new);
//! ```
//!
//! In a reactor crate's `tests/conformance.rs`:
//!
//! ```ignore
//! aio_reactor::reactor_conformance_tests!(my_reactor::MyReactor::new);
//! ```

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::{AsyncFd, Reactor};

/// How long a check waits for an event that must come before calling the reactor broken.
const PATIENCE: Duration = Duration::from_secs(10);

/// The checks run one at a time: one of them needs the lowest free descriptor number to be
/// reused by its next socket, which a check opening descriptors on another thread could take.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counter() -> (Arc<Counter>, Waker) {
    let counter = Arc::new(Counter::default());
    (counter.clone(), Waker::from(counter))
}

fn count(counter: &Counter) -> usize {
    counter.0.load(Ordering::SeqCst)
}

fn build<R: Reactor>(make: impl Fn() -> io::Result<R>) -> R {
    make().expect("the reactor under test could not be built")
}

/// Waits (repeatedly, up to [`PATIENCE`]) until `done()` holds.
fn wait_until(reactor: &dyn Reactor, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what}: no event within {PATIENCE:?}"
        );
        reactor
            .wait(Some(Instant::now() + Duration::from_millis(100)))
            .expect("wait");
    }
}

fn nonblocking(fd: impl AsFd) {
    rustix::io::ioctl_fionbio(fd, true).expect("non-blocking mode");
}

/// A pipe's read end turns readable when the write end writes, and readable again (an
/// error or EOF to read) when the write end closes.
///
/// # Panics
///
/// If the reactor does not deliver these events.
pub fn pipe_readiness<R: Reactor>(make: impl Fn() -> io::Result<R>) {
    let _serial = serial();
    let reactor = build(make);
    let (read_end, mut write_end) = io::pipe().expect("pipe");
    let read_end = OwnedFd::from(read_end);
    nonblocking(&read_end);
    let read_end = AsyncFd::new(&reactor, read_end).expect("register a pipe");
    let (woken, waker) = counter();
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0u8; 16];
    let read = |buf: &mut [u8]| rustix::io::read(read_end.get_ref(), buf).map_err(io::Error::from);
    let poll = read_end
        .registration()
        .poll_read_with(&mut cx, || read(&mut buf));
    assert!(poll.is_pending(), "an empty pipe must not be readable");

    write_end.write_all(b"pipe").expect("write");
    wait_until(&reactor, "pipe readable after a write", || {
        count(&woken) > 0
    });
    let poll = read_end
        .registration()
        .poll_read_with(&mut cx, || read(&mut buf));
    assert!(
        matches!(poll, Poll::Ready(Ok(4))),
        "read after the event: {poll:?}"
    );

    let poll = read_end
        .registration()
        .poll_read_with(&mut cx, || read(&mut buf));
    assert!(poll.is_pending(), "drained pipe");
    let before = count(&woken);
    drop(write_end);
    wait_until(&reactor, "pipe readable (EOF) after close", || {
        count(&woken) > before
    });
    let poll = read_end
        .registration()
        .poll_read_with(&mut cx, || read(&mut buf));
    assert!(matches!(poll, Poll::Ready(Ok(0))), "EOF: {poll:?}");
}

/// A socket is readable after the peer writes, and writable again after a full send buffer
/// was drained by the peer.
///
/// # Panics
///
/// If the reactor does not deliver these events.
pub fn socket_readiness<R: Reactor>(make: impl Fn() -> io::Result<R>) {
    let _serial = serial();
    let reactor = build(make);
    let (a, mut b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).expect("non-blocking");
    b.set_nonblocking(true).expect("non-blocking");
    let a = AsyncFd::new(&reactor, a).expect("register a socket");
    let (woken, waker) = counter();
    let mut cx = Context::from_waker(&waker);
    let mut buf = vec![0u8; 64 * 1024];

    // Read direction.
    let poll = a
        .registration()
        .poll_read_with(&mut cx, || a.get_ref().read(&mut buf));
    assert!(poll.is_pending(), "nothing to read yet");
    b.write_all(b"ping").expect("write");
    wait_until(&reactor, "socket readable", || count(&woken) > 0);
    let poll = a
        .registration()
        .poll_read_with(&mut cx, || a.get_ref().read(&mut buf));
    assert!(matches!(poll, Poll::Ready(Ok(4))), "{poll:?}");

    // Write direction: fill the send buffer until the socket refuses more.
    let chunk = vec![7u8; 64 * 1024];
    loop {
        match a
            .registration()
            .poll_write_with(&mut cx, || a.get_ref().write(&chunk))
        {
            Poll::Ready(Ok(_)) => continue,
            Poll::Pending => break,
            Poll::Ready(Err(e)) => panic!("write: {e}"),
        }
    }
    let before = count(&woken);
    reactor
        .wait(Some(Instant::now() + Duration::from_millis(20)))
        .expect("wait");
    assert_eq!(count(&woken), before, "writable while the buffer is full");
    // The peer drains everything: the socket is writable again.
    loop {
        match b.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("drain: {e}"),
        }
    }
    wait_until(
        &reactor,
        "socket writable after the peer drained it",
        || count(&woken) > before,
    );
    let poll = a
        .registration()
        .poll_write_with(&mut cx, || a.get_ref().write(b"x"));
    assert!(matches!(poll, Poll::Ready(Ok(1))), "{poll:?}");
}

/// Dropping a registration removes it: the count goes back down, and events on the
/// descriptor afterwards wake nobody.
///
/// # Panics
///
/// If the count is wrong or a dropped registration's waker is woken.
pub fn deregistration_on_drop<R: Reactor>(make: impl Fn() -> io::Result<R>) {
    let _serial = serial();
    let reactor = build(make);
    let (a, mut b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).expect("non-blocking");
    let before = reactor.registrations();
    let a = AsyncFd::new(&reactor, a).expect("register");
    assert_eq!(reactor.registrations(), before + 1);
    let (woken, waker) = counter();
    let mut cx = Context::from_waker(&waker);
    a.registration().clear_readable();
    assert!(a.registration().poll_readable(&mut cx).is_pending());

    let a = a.into_inner(); // deregistered, still open
    assert_eq!(reactor.registrations(), before);
    b.write_all(b"after").expect("write");
    for _ in 0..3 {
        reactor
            .wait(Some(Instant::now() + Duration::from_millis(10)))
            .expect("wait");
    }
    assert_eq!(
        count(&woken),
        0,
        "a deregistered descriptor woke its old waker"
    );
    drop(a);
}

/// An event still queued for a descriptor that was deregistered and closed must not reach
/// a new registration that got the same descriptor number.
///
/// # Panics
///
/// If the stale event wakes the new registration, or the new one misses its own event.
pub fn stale_events_after_fd_reuse<R: Reactor>(make: impl Fn() -> io::Result<R>) {
    let _serial = serial();
    let reactor = build(make);
    let (old, mut old_peer) = UnixStream::pair().expect("socketpair");
    old.set_nonblocking(true).expect("non-blocking");
    let old = AsyncFd::new(&reactor, old).expect("register");
    let (old_woken, old_waker) = counter();
    old.registration().clear_readable();
    assert!(
        old.registration()
            .poll_readable(&mut Context::from_waker(&old_waker))
            .is_pending()
    );
    // The event happens, but the reactor has not looked yet.
    old_peer.write_all(b"stale").expect("write");
    let number = old.get_ref().as_raw_fd();
    drop(old); // deregister, then close

    // The lowest free number is reused by the next socket.
    let (new, new_peer) = UnixStream::pair().expect("socketpair");
    let (new, mut new_peer) = if new.as_raw_fd() == number {
        (new, new_peer)
    } else {
        (new_peer, new)
    };
    assert_eq!(
        new.as_raw_fd(),
        number,
        "the descriptor number was not reused"
    );
    new.set_nonblocking(true).expect("non-blocking");
    let new = AsyncFd::new(&reactor, new).expect("register");
    let (woken, waker) = counter();
    let mut cx = Context::from_waker(&waker);
    new.registration().clear_readable();
    assert!(new.registration().poll_readable(&mut cx).is_pending());
    for _ in 0..3 {
        reactor
            .wait(Some(Instant::now() + Duration::from_millis(10)))
            .expect("wait");
    }
    assert_eq!(
        count(&woken),
        0,
        "a stale event reached the new registration"
    );
    assert_eq!(
        count(&old_woken),
        0,
        "a dropped registration's waker was woken"
    );

    new_peer.write_all(b"fresh").expect("write");
    wait_until(&reactor, "the new registration's own event", || {
        count(&woken) > 0
    });
    let mut buf = [0u8; 8];
    assert_eq!(new.get_ref().read(&mut buf).expect("read"), 5);
    drop(old_peer);
}

/// `wait` with a deadline and nothing to report returns at the deadline: never early, and
/// (on a machine that is not overloaded) well within a few milliseconds after it. A
/// deadline in the past does not block.
///
/// Sub-millisecond precision is checked on 100 µs waits: a reactor that rounds its timeout
/// up to whole milliseconds is at least 900 µs late on every one of them, while a precise one
/// is typically tens of µs late. A round of 21 waits passes when its median lateness is under
/// 500 µs; up to five rounds are tried, so a loaded machine's hiccups do not fail it, but
/// millisecond rounding always does.
///
/// # Panics
///
/// If a wait returns early, the median lateness over 20 waits of 3 ms exceeds 20 ms, or no
/// round of 100 µs waits has a median lateness under 500 µs.
pub fn deadline_precision<R: Reactor>(make: impl Fn() -> io::Result<R>) {
    let _serial = serial();
    let reactor = build(make);
    let mut late = Vec::new();
    for _ in 0..20 {
        let deadline = Instant::now() + Duration::from_millis(3);
        reactor.wait(Some(deadline)).expect("wait");
        let now = Instant::now();
        assert!(now >= deadline, "the wait returned before its deadline");
        late.push(now - deadline);
    }
    late.sort();
    assert!(
        late[late.len() / 2] < Duration::from_millis(20),
        "median lateness {:?}",
        late[late.len() / 2]
    );
    let mut medians = Vec::new();
    let precise = (0..5).any(|_| {
        let mut late: Vec<Duration> = (0..21)
            .map(|_| {
                let deadline = Instant::now() + Duration::from_micros(100);
                reactor.wait(Some(deadline)).expect("wait");
                let now = Instant::now();
                assert!(
                    now >= deadline,
                    "a 100 µs wait returned before its deadline"
                );
                now - deadline
            })
            .collect();
        late.sort();
        medians.push(late[late.len() / 2]);
        late[late.len() / 2] < Duration::from_micros(500)
    });
    assert!(
        precise,
        "not sub-millisecond: median lateness of 100 µs waits per round {medians:?}"
    );
    let start = Instant::now();
    reactor
        .wait(Some(start - Duration::from_millis(1)))
        .expect("wait");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "a past deadline blocked"
    );
}

/// A `notify` from another thread ends a wait blocked without a deadline (`wait(None)`); a
/// `notify` made before a `wait(None)` ends it at once (no lost wake-up).
///
/// A broken reactor fails this check rather than hanging it: a watchdog thread notifies
/// again after 10 s (the check then fails, saying the first notify was lost), and if even
/// that does not end the wait within another 10 s, it aborts the process with a message.
///
/// # Panics
///
/// If a wait is not ended by the notify meant to end it.
pub fn notify_while_blocked<R: Reactor>(make: impl Fn() -> io::Result<R>) {
    let _serial = serial();
    let reactor = build(make);
    let watchdog = Watchdog::start(reactor.notifier());

    // Blocked without a deadline; woken from another thread. `sent` is set just before the
    // notify, so the loop only ends on a return that the notify can have caused (returns
    // before it, such as an interrupted wait, are allowed and waited again).
    let sent = Arc::new(AtomicBool::new(false));
    let thread = {
        let (notifier, sent) = (reactor.notifier(), sent.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            sent.store(true, Ordering::SeqCst);
            notifier.notify().expect("notify");
        })
    };
    while !sent.load(Ordering::SeqCst) {
        reactor.wait(None).expect("wait");
    }
    thread.join().expect("notifier thread");
    assert!(
        !watchdog.fired(),
        "a notify from another thread did not end a wait without a deadline \
         (the watchdog's notify, {PATIENCE:?} later, did)"
    );

    for _ in 0..3 {
        reactor.notifier().notify().expect("notify");
        reactor.wait(None).expect("wait");
        assert!(
            !watchdog.fired(),
            "a notify made before a wait without a deadline was lost \
             (the watchdog's notify, {PATIENCE:?} later, ended the wait)"
        );
    }
}

/// Ends a `wait(None)` that a broken reactor would never end, so the check fails instead of
/// hanging: after [`PATIENCE`] it records that it fired and notifies; if the check still has
/// not finished [`PATIENCE`] later (the reactor ignores notifies altogether), it aborts the
/// process. Dropping it (including on a panic) stops it.
struct Watchdog {
    fired: Arc<AtomicBool>,
    done: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(notifier: Arc<dyn crate::Notify>) -> Watchdog {
        use std::sync::mpsc::RecvTimeoutError::Timeout;
        let fired = Arc::new(AtomicBool::new(false));
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let thread = {
            let fired = fired.clone();
            std::thread::spawn(move || {
                // Anything but a timeout (the sender dropped) means the check is over.
                if finished.recv_timeout(PATIENCE) != Err(Timeout) {
                    return;
                }
                fired.store(true, Ordering::SeqCst);
                let _ = notifier.notify();
                if finished.recv_timeout(PATIENCE) == Err(Timeout) {
                    eprintln!(
                        "reactor conformance: wait(None) ignored two notifies over {:?}; \
                         aborting instead of hanging",
                        2 * PATIENCE
                    );
                    std::process::abort();
                }
            })
        };
        Watchdog {
            fired,
            done: Some(done),
            thread: Some(thread),
        }
    }

    fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How many registrations [`many_registrations`] makes when the descriptor limit allows.
const MANY: usize = 10_000;

/// The fewest it settles for when the hard descriptor limit is lower.
const MANY_AT_LEAST: usize = 2_000;

/// Descriptors kept free for everything else (the reactor itself, the test harness, and
/// whatever else the process opens meanwhile).
const SPARE_DESCRIPTORS: u64 = 256;

/// Makes room for up to `wanted` more open descriptors: raises the soft `RLIMIT_NOFILE`
/// toward the hard limit (never lowers it) and returns how many fit, at most `wanted`.
fn room_for_descriptors(wanted: usize) -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    // Descriptors already open (Linux; elsewhere only the spare margin covers them).
    let open = std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count()) as u64;
    let needed = open + wanted as u64 + SPARE_DESCRIPTORS;
    let limit = getrlimit(Resource::Nofile);
    let mut soft = limit.current.unwrap_or(u64::MAX); // `None` is unlimited
    if soft < needed {
        let raised = limit.maximum.map_or(needed, |hard| hard.min(needed));
        if raised > soft
            && setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(raised),
                    maximum: limit.maximum,
                },
            )
            .is_ok()
        {
            soft = raised;
        }
    }
    let fit = soft.saturating_sub(open + SPARE_DESCRIPTORS);
    usize::try_from(fit).map_or(wanted, |fit| fit.min(wanted))
}

/// 10,000 registrations at once (descriptors duplicated from one socket): one write to the
/// peer wakes all of them, and dropping them all leaves none behind.
///
/// The check raises the process's soft `RLIMIT_NOFILE` toward the hard limit to make room
/// (it never lowers it). If the hard limit leaves no room for 10,000, it makes as many as fit
/// (at least 2,000) and says so on stderr.
///
/// # Panics
///
/// If an event is missed or a registration is left, or if the hard descriptor limit leaves
/// room for fewer than 2,000 registrations.
pub fn many_registrations<R: Reactor>(make: impl Fn() -> io::Result<R>) {
    let _serial = serial();
    let total = room_for_descriptors(MANY);
    assert!(
        total >= MANY_AT_LEAST,
        "many_registrations needs room for at least {MANY_AT_LEAST} more open descriptors, \
         and the hard RLIMIT_NOFILE leaves {total}: raise it (`ulimit -Hn`, as root)"
    );
    if total < MANY {
        eprintln!(
            "many_registrations: the hard RLIMIT_NOFILE leaves room for {total} registrations, \
             not {MANY}; checking {total}"
        );
    }
    let reactor = build(make);
    let (a, mut b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).expect("non-blocking");
    let (woken, waker) = counter();
    let mut cx = Context::from_waker(&waker);
    let mut fds = Vec::with_capacity(total);
    for _ in 0..total {
        let fd = a
            .as_fd()
            .try_clone_to_owned()
            .expect("duplicate a descriptor (within the raised RLIMIT_NOFILE)");
        let fd = AsyncFd::new(&reactor, fd).expect("register");
        fd.registration().clear_readable();
        assert!(fd.registration().poll_readable(&mut cx).is_pending());
        fds.push(fd);
    }
    assert_eq!(reactor.registrations(), total);
    b.write_all(b"all of you").expect("write");
    wait_until(&reactor, "every registration readable", || {
        count(&woken) >= total
    });
    assert!(
        fds.iter()
            .all(|fd| fd.registration().source().is_readable())
    );
    drop(fds);
    assert_eq!(reactor.registrations(), 0);
}

/// Defines one `#[test]` per conformance check for the reactor that `$make` builds
/// (`$make: Fn() -> io::Result<impl Reactor>`, such as `MyReactor::new`).
///
/// # Examples
///
/// ```ignore
/// // tests/conformance.rs of a reactor crate
/// aio_reactor::reactor_conformance_tests!(my_reactor::MyReactor::new);
/// ```
#[macro_export]
macro_rules! reactor_conformance_tests {
    ($make:expr) => {
        #[test]
        fn pipe_readiness() {
            $crate::conformance::pipe_readiness($make);
        }
        #[test]
        fn socket_readiness() {
            $crate::conformance::socket_readiness($make);
        }
        #[test]
        fn deregistration_on_drop() {
            $crate::conformance::deregistration_on_drop($make);
        }
        #[test]
        fn stale_events_after_fd_reuse() {
            $crate::conformance::stale_events_after_fd_reuse($make);
        }
        #[test]
        fn deadline_precision() {
            $crate::conformance::deadline_precision($make);
        }
        #[test]
        fn notify_while_blocked() {
            $crate::conformance::notify_while_blocked($make);
        }
        #[test]
        fn many_registrations() {
            $crate::conformance::many_registrations($make);
        }
    };
}
