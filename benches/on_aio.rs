//! The workloads on aio: a fresh [`EventLoop`] per measurement, driven by
//! `run_until_complete`, tasks spawned with [`aio::create_task`]. The loop's reactor is a
//! parameter ([`AioReactor`]), so the same workloads run on `polling` (in either mode) and on
//! io_uring.

use std::cell::Cell;
use std::future::{Future, poll_fn, ready};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use aio::aio_reactor_epoll::EpollReactor;
use aio::aio_sync::LockGuard;
use aio::{AsyncFd, EventLoop, Lock, Queue};
use aio_reactor::{PollMode, PollingReactor, Reactor};
use aio_reactor_uring::UringReactor;

use crate::Runtime;
use crate::measure::rss_bytes;
use crate::workloads::{
    AsyncLock, BytePipe, IDLE_SLEEP, RecvHalf, SMALL_FRAME, SMALL_FRAMES_BYTES, STARTED, SendHalf,
    Signal, SmallFrames, WAIT_FOR_TIMEOUT, assert_gathered, consumer, idle, in_sequence,
    late_after, late_by, locker, one_byte, pinger, ponger, producer, queue_pinger, queue_ponger,
    register_and_cancel, shares, socket_client, socket_server, trivial, yield_once, yielder,
};

/// The reactor an aio loop runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AioReactor {
    /// `EventLoop::new()`: the default reactor, or the one `AIO_REACTOR` names.
    Default,
    /// `EventLoop::new()` with one idle socket registered for the whole run, as `aio::run`
    /// registers its Ctrl-C wake-up: the reactor is never empty, so a busy loop polls it.
    Registered,
    /// An [`EpollReactor`], whatever `AIO_REACTOR` says.
    Epoll,
    /// A [`PollingReactor`] (epoll) in the given mode, whatever `AIO_REACTOR` says.
    Polling(PollMode),
    /// A [`UringReactor`] (io_uring), whatever `AIO_REACTOR` says. Panics where the kernel
    /// refuses io_uring: a comparison must not fall back silently.
    Uring,
}

impl AioReactor {
    /// The polling reactor in its default mode (edge-triggered where the OS has it).
    pub fn polling() -> AioReactor {
        AioReactor::Polling(PollingReactor::new().expect("poller").mode())
    }

    /// A fresh loop on this reactor.
    pub fn event_loop(self) -> EventLoop {
        let lp = match self {
            AioReactor::Default | AioReactor::Registered => {
                return EventLoop::new().expect("event loop");
            }
            AioReactor::Epoll => EventLoop::with_reactor(EpollReactor::new().expect("epoll")),
            AioReactor::Polling(mode) => {
                EventLoop::with_reactor(PollingReactor::with_mode(mode).expect("poller"))
            }
            AioReactor::Uring => EventLoop::with_reactor(UringReactor::new().expect("io_uring")),
        };
        let expected = match self {
            AioReactor::Uring => "io_uring",
            AioReactor::Epoll => "epoll",
            _ => "polling",
        };
        assert_eq!(
            lp.reactor().name(),
            expected,
            "the loop runs on another reactor"
        );
        lp
    }
}

/// Whether [`UringReactor`]'s read polls are multishot on this kernel: a fresh reactor assumes
/// so and turns to oneshot polls at the first `EINVAL`, so this arms one read poll and waits
/// for its completion first.
pub fn uring_multishot() -> bool {
    let reactor = UringReactor::new().expect("io_uring");
    let (a, mut b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).expect("nonblocking");
    let a = AsyncFd::new(&reactor, a).expect("register");
    let mut buf = [0u8; 1];
    let mut cx = Context::from_waker(Waker::noop());
    let mut read = || {
        a.registration()
            .poll_read_with(&mut cx, || a.get_ref().read(&mut buf))
    };
    assert!(read().is_pending(), "nothing written yet");
    b.write_all(&[1]).expect("write");
    let deadline = Instant::now() + Duration::from_secs(5);
    while read().is_pending() {
        assert!(Instant::now() < deadline, "io_uring reported no readiness");
        reactor.wait(Some(deadline)).expect("wait");
    }
    reactor.multishot()
}

/// aio, on a chosen reactor.
pub struct Aio {
    pub reactor: AioReactor,
}

impl Aio {
    /// Runs `future` on a fresh loop and closes the loop.
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        let lp = self.reactor.event_loop();
        let registered = (self.reactor == AioReactor::Registered).then(|| {
            let (a, b) = UnixStream::pair().expect("socketpair");
            a.set_nonblocking(true).expect("nonblocking");
            (AsyncFd::new(lp.reactor(), a).expect("register"), b)
        });
        let output = lp.run_until_complete(future).expect("run_until_complete");
        drop(registered);
        lp.close().expect("close");
        output
    }
}

/// `asyncio.create_task`, on the running loop.
fn spawn<F>(future: F) -> aio::Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    aio::create_task(future).expect("create_task")
}

/// Awaits a task that cannot fail.
async fn join<T: 'static>(task: aio::Task<T>) -> T {
    task.await.expect("task failed")
}

/// asyncio's yield: `await asyncio.sleep(0)`.
async fn yield_now() {
    aio::sleep(0).await.expect("sleep(0)");
}

impl Runtime for Aio {
    fn name(&self) -> &'static str {
        "aio"
    }

    fn spawn_all_then_await(&self, n: usize) -> Duration {
        self.block_on(async move {
            let start = Instant::now();
            let tasks: Vec<_> = (0..n).map(|i| spawn(trivial(i))).collect();
            let mut sum = 0;
            for task in tasks {
                sum += join(task).await;
            }
            assert_eq!(sum, n * (n - 1) / 2);
            start.elapsed()
        })
    }

    fn spawn_await_each(&self, n: usize) -> Duration {
        self.block_on(async move {
            let start = Instant::now();
            for i in 0..n {
                assert_eq!(join(spawn(trivial(i))).await, i);
            }
            start.elapsed()
        })
    }

    fn gather(&self, n: usize) -> Duration {
        self.block_on(async move {
            let start = Instant::now();
            // asyncio's `gather(*(trivial(i) for i in range(n)))`: each coroutine becomes a task.
            let values = aio::gather((0..n).map(trivial)).await.expect("gather");
            let elapsed = start.elapsed();
            assert_gathered(&values, n);
            elapsed
        })
    }

    fn yields(&self, tasks: usize, per_task: usize) -> Duration {
        self.block_on(async move {
            let start = Instant::now();
            let tasks: Vec<_> = (0..tasks)
                .map(|_| spawn(yielder(per_task, yield_now)))
                .collect();
            for task in tasks {
                join(task).await;
            }
            start.elapsed()
        })
    }

    fn ping_pong(&self, round_trips: usize) -> Duration {
        self.block_on(async move {
            let (ping, pong) = (Rc::new(Signal::default()), Rc::new(Signal::default()));
            let start = Instant::now();
            let a = spawn(pinger(ping.clone(), pong.clone(), round_trips));
            let b = spawn(ponger(ping, pong, round_trips));
            join(a).await;
            join(b).await;
            start.elapsed()
        })
    }

    fn sparse_timers(&self, offsets: &[Duration]) -> Vec<Duration> {
        self.block_on(async move {
            let start = Instant::now();
            let tasks: Vec<_> = offsets
                .iter()
                .map(|&offset| {
                    spawn(late_by(start + offset, |deadline| async move {
                        aio::sleep_until(deadline).await.expect("sleep_until");
                    }))
                })
                .collect();
            let mut lateness = Vec::with_capacity(tasks.len());
            for task in tasks {
                lateness.push(join(task).await);
            }
            lateness
        })
    }

    fn burst_timers(&self, delays: &[Duration]) -> Vec<Duration> {
        self.block_on(async move {
            let tasks: Vec<_> = delays
                .iter()
                .map(|&delay| {
                    spawn(late_after(delay, |delay| async move {
                        aio::sleep(delay).await.expect("sleep");
                    }))
                })
                .collect();
            let mut lateness = Vec::with_capacity(tasks.len());
            for task in tasks {
                lateness.push(join(task).await);
            }
            lateness
        })
    }

    fn cancel_timers(&self, n: usize) -> Duration {
        self.block_on(async move {
            join(spawn(register_and_cancel(
                n,
                || aio::sleep(IDLE_SLEEP),
                yield_now,
            )))
            .await
        })
    }

    fn wait_for_ready(&self, n: usize) -> Duration {
        self.block_on(async move {
            join(spawn(in_sequence(
                n,
                |i| aio::wait_for(ready(i), WAIT_FOR_TIMEOUT),
                yield_now,
            )))
            .await
        })
    }

    fn wait_for_sleeping(&self, n: usize) -> Duration {
        self.block_on(async move {
            join(spawn(in_sequence(
                n,
                |i| aio::wait_for(yield_once(i), WAIT_FOR_TIMEOUT),
                yield_now,
            )))
            .await
        })
    }

    fn idle_task_bytes(&self, n: usize) -> f64 {
        self.block_on(async move {
            let before = rss_bytes();
            for _ in 0..n {
                // The loop owns its tasks: dropping the handle does not cancel.
                drop(spawn(idle(aio::sleep(IDLE_SLEEP))));
            }
            while STARTED.get() < n {
                yield_now().await;
            }
            // One more turn of the loop: measure the steady state, not the burst.
            yield_now().await;
            (rss_bytes() - before) as f64 / n as f64
        })
    }

    fn socket_ping_pong(&self, round_trips: usize) -> Duration {
        self.block_on(async move {
            let lp = aio::get_running_loop().expect("running loop");
            let (a, b) = UnixStream::pair().expect("socketpair");
            let pipe = |s: UnixStream| {
                s.set_nonblocking(true).expect("nonblocking");
                AioPipe(AsyncFd::new(lp.reactor(), s).expect("register"))
            };
            let (a, b) = (pipe(a), pipe(b));
            let start = Instant::now();
            let client = spawn(socket_client(a, round_trips));
            let server = spawn(socket_server(b, round_trips));
            join(client).await.expect("client");
            join(server).await.expect("server");
            start.elapsed()
        })
    }

    fn lock(&self, tasks: usize, per_task: usize) -> Duration {
        self.block_on(async move {
            let (lock, counter) = (Rc::new(Lock::new()), Rc::new(Cell::new(0)));
            let start = Instant::now();
            let tasks: Vec<_> = (0..tasks)
                .map(|_| spawn(locker(lock.clone(), counter.clone(), per_task)))
                .collect();
            let n = tasks.len() * per_task;
            for task in tasks {
                join(task).await;
            }
            let elapsed = start.elapsed();
            assert_eq!(counter.get(), n);
            elapsed
        })
    }

    fn queue(&self, capacity: usize, producers: usize, consumers: usize, items: usize) -> Duration {
        self.block_on(async move {
            let queue = Rc::new(Queue::new(capacity));
            let start = Instant::now();
            let producers: Vec<_> = shares(items, producers)
                .map(|range| spawn(producer(AioQueue(queue.clone()), range)))
                .collect();
            let consumers: Vec<_> = shares(items, consumers)
                .map(|range| spawn(consumer(AioQueue(queue.clone()), range.len())))
                .collect();
            for task in producers {
                join(task).await;
            }
            let mut sum = 0;
            for task in consumers {
                sum += join(task).await;
            }
            let elapsed = start.elapsed();
            assert_eq!(sum, items * (items - 1) / 2);
            elapsed
        })
    }

    fn queue_ping_pong(&self, round_trips: usize) -> Duration {
        self.block_on(async move {
            let there = AioQueue(Rc::new(Queue::new(1)));
            let back = AioQueue(Rc::new(Queue::new(1)));
            let start = Instant::now();
            let a = spawn(queue_pinger(there.clone(), back.clone(), round_trips));
            let b = spawn(queue_ponger(there, back, round_trips));
            join(a).await;
            join(b).await;
            start.elapsed()
        })
    }

    fn to_thread(&self, round_trips: usize) -> Duration {
        // A fresh loop's default executor starts its worker thread at the first call, inside
        // the measurement (as a fresh tokio runtime's blocking pool does).
        self.block_on(async move {
            join(spawn(in_sequence(
                round_trips,
                |i| aio::to_thread(move || i),
                yield_now,
            )))
            .await
        })
    }

    fn small_frames(&self, port: u16, kind: SmallFrames) -> Duration {
        self.block_on(async move {
            let (reader, _writer) = aio::open_connection("127.0.0.1", port)
                .await
                .expect("connect");
            let start = Instant::now();
            let mut total = 0;
            if kind == SmallFrames::LinesInto {
                let mut line = Vec::with_capacity(crate::workloads::SMALL_LINE);
                loop {
                    line.clear();
                    match reader
                        .readline_into(&mut line)
                        .await
                        .expect("readline_into")
                    {
                        0 => break,
                        n => total += n,
                    }
                }
                assert_eq!(total, SMALL_FRAMES_BYTES);
                return start.elapsed();
            }
            if kind == SmallFrames::ExactInto {
                let mut frame = [0u8; SMALL_FRAME];
                loop {
                    match reader.readexactly_into(&mut frame).await {
                        Ok(()) => total += frame.len(),
                        Err(aio::StreamError::IncompleteRead { partial, .. })
                            if partial.is_empty() =>
                        {
                            break;
                        }
                        Err(error) => panic!("readexactly_into: {error}"),
                    }
                }
                assert_eq!(total, SMALL_FRAMES_BYTES);
                return start.elapsed();
            }
            loop {
                let frame = match kind {
                    SmallFrames::Exact | SmallFrames::ExactInto => {
                        match reader.readexactly(SMALL_FRAME).await {
                            Ok(frame) => frame,
                            Err(aio::StreamError::IncompleteRead { partial, .. })
                                if partial.is_empty() =>
                            {
                                break;
                            }
                            Err(error) => panic!("readexactly: {error}"),
                        }
                    }
                    SmallFrames::Lines | SmallFrames::LinesInto => {
                        reader.readline().await.expect("readline")
                    }
                };
                if frame.is_empty() {
                    break;
                }
                total += frame.len();
            }
            assert_eq!(total, SMALL_FRAMES_BYTES);
            start.elapsed()
        })
    }
}

/// A socket end on aio's reactor, read and written through `poll_read_with` /
/// `poll_write_with`.
struct AioPipe(AsyncFd<UnixStream>);

impl BytePipe for AioPipe {
    async fn send(&self) -> io::Result<()> {
        let fd = &self.0;
        one_byte(
            poll_fn(|cx| {
                fd.registration()
                    .poll_write_with(cx, || fd.get_ref().write(&[1]))
            })
            .await?,
        )
    }

    async fn recv(&self) -> io::Result<()> {
        let fd = &self.0;
        let mut buf = [0];
        one_byte(
            poll_fn(|cx| {
                fd.registration()
                    .poll_read_with(cx, || fd.get_ref().read(&mut buf))
            })
            .await?,
        )
    }
}

impl AsyncLock for Lock {
    type Guard<'a> = LockGuard<'a>;

    fn acquire(&self) -> impl Future<Output = LockGuard<'_>> {
        Lock::acquire(self)
    }
}

/// A shared [`Queue`], both ends at once (asyncio's queues have no separate halves).
#[derive(Clone)]
struct AioQueue(Rc<Queue<usize>>);

impl SendHalf for AioQueue {
    async fn send(&mut self, item: usize) {
        self.0.put(item).await.expect("put");
    }
}

impl RecvHalf for AioQueue {
    async fn recv(&mut self) -> usize {
        self.0.get().await.expect("get")
    }
}
