//! The workload bodies, written once and run unchanged on every runtime.
//!
//! Each runtime module (`on_aio`, `on_tokio`, `on_smol`) only creates its runtime, spawns
//! these futures and awaits them; the runtime-specific primitives (yield, sleep, sockets) are
//! passed in as closures or through [`BytePipe`].

use std::cell::Cell;
use std::fmt::Debug;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Workload 1: the trivial task that is spawned and awaited.
pub async fn trivial(i: usize) -> usize {
    i
}

/// Workload 2: one task yielding to its runtime `n` times.
pub async fn yielder<F: Future<Output = ()>>(n: usize, yield_now: impl Fn() -> F) {
    for _ in 0..n {
        yield_now().await;
    }
}

/// Workload 3's wake source: a one-waiter, single-threaded event. It is the same code on every
/// runtime, so a ping-pong through it measures only the runtime's wake → schedule → poll path.
#[derive(Default)]
pub struct Signal {
    set: Cell<bool>,
    waiter: Cell<Option<Waker>>,
}

impl Signal {
    /// Sets the event and wakes the waiter, if one is parked.
    pub fn notify(&self) {
        self.set.set(true);
        if let Some(waker) = self.waiter.take() {
            waker.wake();
        }
    }

    /// Waits until the event is set, and clears it.
    pub fn wait(&self) -> impl Future<Output = ()> + '_ {
        poll_fn(|cx| {
            if self.set.replace(false) {
                Poll::Ready(())
            } else {
                self.waiter.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
    }
}

/// Workload 3, first side: serve `ping`, wait for `pong`, `n` times.
pub async fn pinger(ping: Rc<Signal>, pong: Rc<Signal>, n: usize) {
    for _ in 0..n {
        ping.notify();
        pong.wait().await;
    }
}

/// Workload 3, second side: wait for `ping`, answer with `pong`, `n` times.
pub async fn ponger(ping: Rc<Signal>, pong: Rc<Signal>, n: usize) {
    for _ in 0..n {
        ping.wait().await;
        pong.notify();
    }
}

/// Workload 4: the deadlines of the sparse timers, as offsets from the start: `first` plus
/// `i` ms plus a deterministic jitter in `0..500` µs, so timers fire one at a time and never at
/// a whole millisecond.
pub fn sparse_deadlines(n: usize, first: Duration) -> Vec<Duration> {
    let mut state: u32 = 0x9e37_79b9;
    (0..n)
        .map(|i| {
            // xorshift32: a fixed, dependency-free jitter sequence.
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let jitter = Duration::from_micros(u64::from(state % 500));
            first + Duration::from_millis(i as u64) + jitter
        })
        .collect()
}

/// The burst workload's delays: `n` pseudo-random durations from 1 to 100 ms (a fixed
/// xorshift sequence, the same for every runtime).
pub fn burst_delays(n: usize) -> Vec<Duration> {
    let mut state: u32 = 0x2545_f491;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            Duration::from_micros(1_000 + u64::from(state % 99_001))
        })
        .collect()
}

/// The burst workload's task: sleeps `delay` (relative, with the runtime's `sleep`) and
/// returns how late it woke, measured from its own start.
pub async fn late_after<F: Future<Output = ()>>(
    delay: Duration,
    sleep: impl FnOnce(Duration) -> F,
) -> Duration {
    let deadline = Instant::now() + delay;
    sleep(delay).await;
    Instant::now().saturating_duration_since(deadline)
}

/// Workload 4: sleeps until `deadline` and returns how late the task woke up.
pub async fn late_by<F: Future<Output = ()>>(
    deadline: Instant,
    sleep_until: impl FnOnce(Instant) -> F,
) -> Duration {
    sleep_until(deadline).await;
    Instant::now().saturating_duration_since(deadline)
}

/// Workload 5: creates `n` timers with `make`, polls each once with a no-op waker (which
/// registers it), drops them all (cancelling them), then yields once so the runtime can purge.
/// Returns the time it took. Timers are boxed because tokio's `Sleep` is `!Unpin`; every
/// runtime pays the same allocation.
pub async fn register_and_cancel<S, Y>(
    n: usize,
    make: impl Fn() -> S,
    yield_now: impl FnOnce() -> Y,
) -> Duration
where
    S: Future,
    Y: Future<Output = ()>,
{
    let start = Instant::now();
    {
        // In a block: nothing here is held across the `await` (tokio needs the task `Send`).
        let mut cx = Context::from_waker(Waker::noop());
        let mut timers: Vec<Pin<Box<S>>> = Vec::with_capacity(n);
        for _ in 0..n {
            let mut timer = Box::pin(make());
            assert!(
                timer.as_mut().poll(&mut cx).is_pending(),
                "timer fired early"
            );
            timers.push(timer);
        }
        drop(timers);
    }
    yield_now().await;
    start.elapsed()
}

thread_local! {
    /// Workload 6: how many idle tasks have started (and are about to park).
    pub static STARTED: Cell<usize> = const { Cell::new(0) };
}

/// Workload 6: an idle task: counts itself as started and parks in a long sleep.
pub async fn idle<F: Future>(sleep: F) {
    STARTED.set(STARTED.get() + 1);
    sleep.await;
}

/// Workload 6: how long an idle task sleeps (it never wakes during the measurement).
pub const IDLE_SLEEP: Duration = Duration::from_secs(3600);

/// Workload 7: one end of a connected socket, sending and receiving single bytes through the
/// runtime's readiness API.
pub trait BytePipe {
    /// Writes one byte, waiting for write readiness if needed.
    fn send(&self) -> impl Future<Output = io::Result<()>>;
    /// Reads one byte, waiting for read readiness if needed.
    fn recv(&self) -> impl Future<Output = io::Result<()>>;
}

/// Workload 7, client side: send a byte, wait for the answer, `n` times.
pub async fn socket_client(pipe: impl BytePipe, n: usize) -> io::Result<()> {
    for _ in 0..n {
        pipe.send().await?;
        pipe.recv().await?;
    }
    Ok(())
}

/// Workload 7, server side: wait for a byte, answer it, `n` times.
pub async fn socket_server(pipe: impl BytePipe, n: usize) -> io::Result<()> {
    for _ in 0..n {
        pipe.recv().await?;
        pipe.send().await?;
    }
    Ok(())
}

/// Fails a one-byte transfer that moved nothing (the peer closed).
pub fn one_byte(n: usize) -> io::Result<()> {
    if n == 1 {
        Ok(())
    } else {
        Err(io::ErrorKind::UnexpectedEof.into())
    }
}

/// Workload 8's lock: acquiring gives a guard, dropping the guard releases. Each runtime
/// module implements it for its lock (aio `Lock`, tokio `Mutex<()>`, async-lock `Mutex<()>`).
pub trait AsyncLock {
    /// Holds the lock until dropped.
    type Guard<'a>
    where
        Self: 'a;
    /// Waits for the lock.
    fn acquire(&self) -> impl Future<Output = Self::Guard<'_>>;
}

/// Workload 8: acquire the shared lock, bump the shared counter, release, `n` times. Nothing
/// is awaited while the lock is held, so on one thread a task finds the lock free unless its
/// runtime preempted it mid-loop (tokio's cooperative budget does not: it can only stop a
/// task at an `acquire`, never between acquire and release).
pub async fn locker<L: AsyncLock>(lock: Rc<L>, counter: Rc<Cell<usize>>, n: usize) {
    for _ in 0..n {
        let guard = lock.acquire().await;
        counter.set(counter.get() + 1);
        drop(guard);
    }
}

/// Workloads 9 and 10: the sending end of a bounded queue or channel of `usize`.
pub trait SendHalf {
    /// Sends an item, waiting while the queue is full.
    fn send(&mut self, item: usize) -> impl Future<Output = ()>;
}

/// Workloads 9 and 10: the receiving end of a bounded queue or channel of `usize`.
pub trait RecvHalf {
    /// Receives an item, waiting while the queue is empty.
    fn recv(&mut self) -> impl Future<Output = usize>;
}

/// Splits `total` into `parts` consecutive ranges whose lengths differ by at most one.
pub fn shares(total: usize, parts: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..parts).map(move |i| total * i / parts..total * (i + 1) / parts)
}

/// Workload 9, producer: sends every number in `items`.
pub async fn producer(mut tx: impl SendHalf, items: std::ops::Range<usize>) {
    for item in items {
        tx.send(item).await;
    }
}

/// Workload 9, consumer: receives `n` items and returns their sum.
pub async fn consumer(mut rx: impl RecvHalf, n: usize) -> usize {
    let mut sum = 0;
    for _ in 0..n {
        sum += rx.recv().await;
    }
    sum
}

/// Workload 10, first side: send a number on one queue, wait for it to come back on the
/// other, `n` times.
pub async fn queue_pinger(mut tx: impl SendHalf, mut rx: impl RecvHalf, n: usize) {
    for i in 0..n {
        tx.send(i).await;
        assert_eq!(rx.recv().await, i);
    }
}

/// Workload 10, second side: receive a number, send it back, `n` times.
pub async fn queue_ponger(mut rx: impl RecvHalf, mut tx: impl SendHalf, n: usize) {
    for _ in 0..n {
        let item = rx.recv().await;
        tx.send(item).await;
    }
}

/// Workload 11: checks that a gather of [`trivial`] tasks gave every value in argument order.
pub fn assert_gathered(values: &[usize], n: usize) {
    assert_eq!(values.len(), n, "one value per task");
    assert!(
        values.iter().enumerate().all(|(i, &value)| value == i),
        "values in argument order"
    );
}

/// Workloads 12 and 13: the timeout every `wait_for` gets. It never expires: the guarded
/// futures finish within one or two polls.
pub const WAIT_FOR_TIMEOUT: Duration = Duration::from_secs(1);

/// Workload 13's guarded future: not ready on its first poll (it wakes its own task and
/// returns `Pending`, so the timeout around it registers its timer), ready with `value` on
/// the second. The same hand-written code on every runtime, like [`Signal`].
pub fn yield_once(value: usize) -> YieldOnce {
    YieldOnce {
        value,
        yielded: false,
    }
}

/// The future of [`yield_once`].
pub struct YieldOnce {
    value: usize,
    yielded: bool,
}

impl Future for YieldOnce {
    type Output = usize;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        if self.yielded {
            Poll::Ready(self.value)
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Workloads 12–14: awaits `op(i)` for every `i` in `0..n`, one after another in one task,
/// checking that each gives `Ok(i)`; then yields once, so that work a runtime defers to its
/// next turn (aio's purge of cancelled timers) is timed too. Returns the time it took.
pub async fn in_sequence<F, E, Y>(
    n: usize,
    op: impl Fn(usize) -> F,
    yield_now: impl FnOnce() -> Y,
) -> Duration
where
    F: Future<Output = Result<usize, E>>,
    E: Debug,
    Y: Future<Output = ()>,
{
    let start = Instant::now();
    for i in 0..n {
        assert_eq!(op(i).await.expect("timed out or failed"), i);
    }
    yield_now().await;
    start.elapsed()
}

/// The `small-frames` workloads: how many bytes the feeder sends.
pub const SMALL_FRAMES_BYTES: usize = 16 * 1024 * 1024;
/// `small-frames`: the frame read with `readexactly` / `read_exact`.
pub const SMALL_FRAME: usize = 16;
/// `small-frames`: the length of each line, newline included (31 bytes, then `\n`).
pub const SMALL_LINE: usize = 32;

/// Which read the `small-frames` workload times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmallFrames {
    /// `SMALL_FRAME`-byte `readexactly` (tokio and smol: `read_exact` on a `BufReader`).
    Exact,
    /// `SMALL_FRAME`-byte `readexactly_into` a reused array: aio's read without the `Vec`
    /// (tokio and smol: the same `read_exact` as [`Exact`](SmallFrames::Exact)).
    ExactInto,
    /// `readline` of `SMALL_LINE`-byte lines (tokio and smol: `read_line` on a `BufReader`).
    Lines,
    /// `readline_into` a reused `Vec`: aio's `readline` without a `Vec` per line (tokio and
    /// smol: the same `read_line` into a reused `String` as [`Lines`](SmallFrames::Lines)).
    LinesInto,
}

impl SmallFrames {
    /// How many reads one run makes.
    pub fn reads(self) -> usize {
        match self {
            SmallFrames::Exact | SmallFrames::ExactInto => SMALL_FRAMES_BYTES / SMALL_FRAME,
            SmallFrames::Lines | SmallFrames::LinesInto => SMALL_FRAMES_BYTES / SMALL_LINE,
        }
    }
}

/// A loopback TCP listener on port 0 and a thread that accepts one connection, writes
/// [`SMALL_FRAMES_BYTES`] of 32-byte lines (`SMALL_LINE - 1` bytes of `x`, then `\n`) to it
/// and closes it. The runtime under test connects to the returned port and reads.
pub fn small_frames_feeder() -> (u16, std::thread::JoinHandle<()>) {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local_addr").port();
    let feeder = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut line = [b'x'; SMALL_LINE];
        line[SMALL_LINE - 1] = b'\n';
        let chunk = line.repeat(64 * 1024 / SMALL_LINE);
        for _ in 0..SMALL_FRAMES_BYTES / chunk.len() {
            stream.write_all(&chunk).expect("feed");
        }
    });
    (port, feeder)
}
