//! The workloads on tokio: a fresh `current_thread` runtime per measurement, tasks spawned
//! with `tokio::spawn` (the runtime's own scheduler). The ping-pong's signal is `!Send`, so
//! that one workload runs its two tasks on a `LocalSet` (`spawn_local`).

use std::cell::Cell;
use std::future::{Future, ready};
use std::io;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::net::UnixStream;
use tokio::runtime::Builder;
use tokio::sync::{Mutex, MutexGuard, mpsc};
use tokio::task::{JoinHandle, LocalSet, spawn_blocking, spawn_local, yield_now};
use tokio::time::timeout;

use crate::Runtime;
use crate::measure::rss_bytes;
use crate::workloads::{
    AsyncLock, BytePipe, IDLE_SLEEP, RecvHalf, SMALL_FRAME, SMALL_FRAMES_BYTES, STARTED, SendHalf,
    Signal, SmallFrames, WAIT_FOR_TIMEOUT, assert_gathered, consumer, idle, in_sequence,
    late_after, late_by, locker, one_byte, pinger, ponger, producer, queue_pinger, queue_ponger,
    register_and_cancel, shares, socket_client, socket_server, trivial, yield_once, yielder,
};

/// tokio's `current_thread` runtime, with its time and I/O drivers.
pub struct Tokio;

/// A fresh runtime.
fn runtime() -> tokio::runtime::Runtime {
    Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs `future` on a fresh runtime.
fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

/// Awaits a task that cannot fail.
async fn join<T>(task: JoinHandle<T>) -> T {
    task.await.expect("task failed")
}

impl Runtime for Tokio {
    fn name(&self) -> &'static str {
        "tokio"
    }

    fn spawn_all_then_await(&self, n: usize) -> Duration {
        block_on(async move {
            let start = Instant::now();
            let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(trivial(i))).collect();
            let mut sum = 0;
            for task in tasks {
                sum += join(task).await;
            }
            assert_eq!(sum, n * (n - 1) / 2);
            start.elapsed()
        })
    }

    fn spawn_await_each(&self, n: usize) -> Duration {
        block_on(async move {
            let start = Instant::now();
            for i in 0..n {
                assert_eq!(join(tokio::spawn(trivial(i))).await, i);
            }
            start.elapsed()
        })
    }

    /// tokio has no `gather`: spawn every task, then await the handles in argument order into
    /// a `Vec` (what `gather` returns; a `JoinSet` would give completion order).
    fn gather(&self, n: usize) -> Duration {
        block_on(async move {
            let start = Instant::now();
            let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(trivial(i))).collect();
            let mut values = Vec::with_capacity(n);
            for task in tasks {
                values.push(join(task).await);
            }
            let elapsed = start.elapsed();
            assert_gathered(&values, n);
            elapsed
        })
    }

    fn yields(&self, tasks: usize, per_task: usize) -> Duration {
        block_on(async move {
            let start = Instant::now();
            let tasks: Vec<_> = (0..tasks)
                .map(|_| tokio::spawn(yielder(per_task, yield_now)))
                .collect();
            for task in tasks {
                join(task).await;
            }
            start.elapsed()
        })
    }

    fn ping_pong(&self, round_trips: usize) -> Duration {
        LocalSet::new().block_on(&runtime(), async move {
            let (ping, pong) = (Rc::new(Signal::default()), Rc::new(Signal::default()));
            let start = Instant::now();
            let a = spawn_local(pinger(ping.clone(), pong.clone(), round_trips));
            let b = spawn_local(ponger(ping, pong, round_trips));
            join(a).await;
            join(b).await;
            start.elapsed()
        })
    }

    fn sparse_timers(&self, offsets: &[Duration]) -> Vec<Duration> {
        block_on(async move {
            let start = Instant::now();
            let tasks: Vec<_> = offsets
                .iter()
                .map(|&offset| {
                    tokio::spawn(late_by(start + offset, |deadline| {
                        tokio::time::sleep_until(deadline.into())
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
        block_on(async move {
            let tasks: Vec<_> = delays
                .iter()
                .map(|&delay| tokio::spawn(late_after(delay, tokio::time::sleep)))
                .collect();
            let mut lateness = Vec::with_capacity(tasks.len());
            for task in tasks {
                lateness.push(join(task).await);
            }
            lateness
        })
    }

    fn cancel_timers(&self, n: usize) -> Duration {
        block_on(async move {
            join(tokio::spawn(register_and_cancel(
                n,
                || tokio::time::sleep(IDLE_SLEEP),
                yield_now,
            )))
            .await
        })
    }

    fn wait_for_ready(&self, n: usize) -> Duration {
        block_on(async move {
            join(tokio::spawn(in_sequence(
                n,
                |i| timeout(WAIT_FOR_TIMEOUT, ready(i)),
                yield_now,
            )))
            .await
        })
    }

    fn wait_for_sleeping(&self, n: usize) -> Duration {
        block_on(async move {
            join(tokio::spawn(in_sequence(
                n,
                |i| timeout(WAIT_FOR_TIMEOUT, yield_once(i)),
                yield_now,
            )))
            .await
        })
    }

    fn idle_task_bytes(&self, n: usize) -> f64 {
        block_on(async move {
            let before = rss_bytes();
            for _ in 0..n {
                // Dropping a `JoinHandle` detaches the task.
                drop(tokio::spawn(idle(tokio::time::sleep(IDLE_SLEEP))));
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
        block_on(async move {
            let (a, b) = StdUnixStream::pair().expect("socketpair");
            let pipe = |s: StdUnixStream| {
                s.set_nonblocking(true).expect("nonblocking");
                TokioPipe(UnixStream::from_std(s).expect("register"))
            };
            let (a, b) = (pipe(a), pipe(b));
            let start = Instant::now();
            let client = tokio::spawn(socket_client(a, round_trips));
            let server = tokio::spawn(socket_server(b, round_trips));
            join(client).await.expect("client");
            join(server).await.expect("server");
            start.elapsed()
        })
    }

    fn lock(&self, tasks: usize, per_task: usize) -> Duration {
        // `Rc`-shared like on the other runtimes, hence `spawn_local`.
        LocalSet::new().block_on(&runtime(), async move {
            let (lock, counter) = (Rc::new(Mutex::new(())), Rc::new(Cell::new(0)));
            let start = Instant::now();
            let tasks: Vec<_> = (0..tasks)
                .map(|_| spawn_local(locker(lock.clone(), counter.clone(), per_task)))
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

    /// tokio has no multi-consumer channel: an `mpsc` channel of `capacity`, `producers`
    /// senders and ONE receiving task, which takes all `items` (`consumers` is not used).
    fn queue(
        &self,
        capacity: usize,
        producers: usize,
        _consumers: usize,
        items: usize,
    ) -> Duration {
        block_on(async move {
            let (tx, rx) = mpsc::channel(capacity);
            let start = Instant::now();
            let producers: Vec<_> = shares(items, producers)
                .map(|range| tokio::spawn(producer(TokioSender(tx.clone()), range)))
                .collect();
            drop(tx);
            let consumer = tokio::spawn(consumer(TokioReceiver(rx), items));
            for task in producers {
                join(task).await;
            }
            let sum = join(consumer).await;
            let elapsed = start.elapsed();
            assert_eq!(sum, items * (items - 1) / 2);
            elapsed
        })
    }

    fn queue_ping_pong(&self, round_trips: usize) -> Duration {
        block_on(async move {
            let (there_tx, there_rx) = mpsc::channel(1);
            let (back_tx, back_rx) = mpsc::channel(1);
            let start = Instant::now();
            let a = tokio::spawn(queue_pinger(
                TokioSender(there_tx),
                TokioReceiver(back_rx),
                round_trips,
            ));
            let b = tokio::spawn(queue_ponger(
                TokioReceiver(there_rx),
                TokioSender(back_tx),
                round_trips,
            ));
            join(a).await;
            join(b).await;
            start.elapsed()
        })
    }

    fn to_thread(&self, round_trips: usize) -> Duration {
        // A fresh runtime's blocking pool starts its thread at the first call, inside the
        // measurement (as a fresh aio loop's default executor does).
        block_on(async move {
            join(tokio::spawn(in_sequence(
                round_trips,
                |i| spawn_blocking(move || i),
                yield_now,
            )))
            .await
        })
    }

    fn small_frames(&self, port: u16, kind: SmallFrames) -> Duration {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
        block_on(async move {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let mut reader = BufReader::new(stream);
            let start = Instant::now();
            let mut total = 0;
            match kind {
                SmallFrames::Exact | SmallFrames::ExactInto => {
                    let mut frame = [0u8; SMALL_FRAME];
                    while reader.read_exact(&mut frame).await.is_ok() {
                        total += frame.len();
                    }
                }
                SmallFrames::Lines | SmallFrames::LinesInto => {
                    let mut line = String::new();
                    loop {
                        line.clear();
                        match reader.read_line(&mut line).await.expect("read_line") {
                            0 => break,
                            n => total += n,
                        }
                    }
                }
            }
            assert_eq!(total, SMALL_FRAMES_BYTES);
            start.elapsed()
        })
    }
}

/// A socket end on tokio's I/O driver, read and written through its readiness API
/// (`readable` + `try_read`), the counterpart of aio's `poll_read_with`.
struct TokioPipe(UnixStream);

impl BytePipe for TokioPipe {
    async fn send(&self) -> io::Result<()> {
        loop {
            self.0.writable().await?;
            match self.0.try_write(&[1]) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return one_byte(result?),
            }
        }
    }

    async fn recv(&self) -> io::Result<()> {
        let mut buf = [0];
        loop {
            self.0.readable().await?;
            match self.0.try_read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return one_byte(result?),
            }
        }
    }
}

impl AsyncLock for Mutex<()> {
    type Guard<'a> = MutexGuard<'a, ()>;

    fn acquire(&self) -> impl Future<Output = MutexGuard<'_, ()>> {
        self.lock()
    }
}

/// A bounded `mpsc` sender.
struct TokioSender(mpsc::Sender<usize>);

impl SendHalf for TokioSender {
    async fn send(&mut self, item: usize) {
        self.0.send(item).await.expect("send");
    }
}

/// The `mpsc` receiver (one task only: tokio's channels have a single consumer).
struct TokioReceiver(mpsc::Receiver<usize>);

impl RecvHalf for TokioReceiver {
    async fn recv(&mut self) -> usize {
        self.0.recv().await.expect("recv")
    }
}
