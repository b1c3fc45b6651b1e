//! The workloads on smol: a fresh `LocalExecutor` per measurement, run inside `smol::block_on`
//! (which drives async-io's reactor and timers on this thread while it waits).

use std::cell::Cell;
use std::convert::Infallible;
use std::future::{Future, ready};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::FutureExt;
use futures_lite::future::yield_now;
use smol::channel::{Receiver, Sender, bounded};
use smol::lock::{Mutex, MutexGuard};
use smol::{Async, LocalExecutor, Timer};

use crate::Runtime;
use crate::measure::rss_bytes;
use crate::workloads::{
    AsyncLock, BytePipe, IDLE_SLEEP, RecvHalf, SMALL_FRAME, SMALL_FRAMES_BYTES, STARTED, SendHalf,
    Signal, SmallFrames, WAIT_FOR_TIMEOUT, assert_gathered, consumer, idle, in_sequence,
    late_after, late_by, locker, one_byte, pinger, ponger, producer, queue_pinger, queue_ponger,
    register_and_cancel, shares, socket_client, socket_server, trivial, yield_once, yielder,
};

/// smol's single-threaded executor.
pub struct Smol;

/// smol has no `wait_for`: this is async-io's documented idiom (`Timer` docs), `future.or(…)`
/// with a `Timer::after` that fails with `TimedOut`. `or` polls `future` first, and the timer
/// is created (and registered) only when `future` was not ready at its first poll.
async fn wait_for<F: Future>(future: F, after: Duration) -> io::Result<F::Output> {
    async { Ok(future.await) }
        .or(async {
            Timer::after(after).await;
            Err(io::ErrorKind::TimedOut.into())
        })
        .await
}

impl Runtime for Smol {
    fn name(&self) -> &'static str {
        "smol"
    }

    fn spawn_all_then_await(&self, n: usize) -> Duration {
        let ex = LocalExecutor::new();
        smol::block_on(ex.run(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..n).map(|i| ex.spawn(trivial(i))).collect();
            let mut sum = 0;
            for task in tasks {
                sum += task.await;
            }
            assert_eq!(sum, n * (n - 1) / 2);
            start.elapsed()
        }))
    }

    fn spawn_await_each(&self, n: usize) -> Duration {
        let ex = LocalExecutor::new();
        smol::block_on(ex.run(async {
            let start = Instant::now();
            for i in 0..n {
                assert_eq!(ex.spawn(trivial(i)).await, i);
            }
            start.elapsed()
        }))
    }

    /// smol has no `gather`: spawn every task, then await the handles in argument order into
    /// a `Vec`.
    fn gather(&self, n: usize) -> Duration {
        let ex = LocalExecutor::new();
        smol::block_on(ex.run(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..n).map(|i| ex.spawn(trivial(i))).collect();
            let mut values = Vec::with_capacity(n);
            for task in tasks {
                values.push(task.await);
            }
            let elapsed = start.elapsed();
            assert_gathered(&values, n);
            elapsed
        }))
    }

    fn yields(&self, tasks: usize, per_task: usize) -> Duration {
        let ex = LocalExecutor::new();
        smol::block_on(ex.run(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..tasks)
                .map(|_| ex.spawn(yielder(per_task, yield_now)))
                .collect();
            for task in tasks {
                task.await;
            }
            start.elapsed()
        }))
    }

    fn ping_pong(&self, round_trips: usize) -> Duration {
        let ex = LocalExecutor::new();
        smol::block_on(ex.run(async {
            let (ping, pong) = (Rc::new(Signal::default()), Rc::new(Signal::default()));
            let start = Instant::now();
            let a = ex.spawn(pinger(ping.clone(), pong.clone(), round_trips));
            let b = ex.spawn(ponger(ping, pong, round_trips));
            a.await;
            b.await;
            start.elapsed()
        }))
    }

    fn sparse_timers(&self, offsets: &[Duration]) -> Vec<Duration> {
        let ex = LocalExecutor::new();
        smol::block_on(ex.run(async {
            let start = Instant::now();
            let tasks: Vec<_> = offsets
                .iter()
                .map(|&offset| {
                    ex.spawn(late_by(start + offset, |deadline| async move {
                        Timer::at(deadline).await;
                    }))
                })
                .collect();
            let mut lateness = Vec::with_capacity(tasks.len());
            for task in tasks {
                lateness.push(task.await);
            }
            lateness
        }))
    }

    fn burst_timers(&self, delays: &[Duration]) -> Vec<Duration> {
        let ex = LocalExecutor::new();
        smol::block_on(ex.run(async {
            let tasks: Vec<_> = delays
                .iter()
                .map(|&delay| {
                    ex.spawn(late_after(delay, |delay| async move {
                        Timer::after(delay).await;
                    }))
                })
                .collect();
            let mut lateness = Vec::with_capacity(tasks.len());
            for task in tasks {
                lateness.push(task.await);
            }
            lateness
        }))
    }

    fn cancel_timers(&self, n: usize) -> Duration {
        let ex = LocalExecutor::new();
        smol::block_on(ex.run(ex.spawn(register_and_cancel(
            n,
            || Timer::after(IDLE_SLEEP),
            yield_now,
        ))))
    }

    fn wait_for_ready(&self, n: usize) -> Duration {
        let ex = LocalExecutor::new();
        smol::block_on(ex.run(ex.spawn(in_sequence(
            n,
            |i| wait_for(ready(i), WAIT_FOR_TIMEOUT),
            yield_now,
        ))))
    }

    fn wait_for_sleeping(&self, n: usize) -> Duration {
        let ex = LocalExecutor::new();
        smol::block_on(ex.run(ex.spawn(in_sequence(
            n,
            |i| wait_for(yield_once(i), WAIT_FOR_TIMEOUT),
            yield_now,
        ))))
    }

    fn idle_task_bytes(&self, n: usize) -> f64 {
        let ex = LocalExecutor::new();
        smol::block_on(ex.run(async {
            let before = rss_bytes();
            for _ in 0..n {
                // Dropping a smol `Task` would cancel it; `detach` keeps it running.
                ex.spawn(idle(Timer::after(IDLE_SLEEP))).detach();
            }
            while STARTED.get() < n {
                yield_now().await;
            }
            // One more turn of the loop: measure the steady state, not the burst.
            yield_now().await;
            (rss_bytes() - before) as f64 / n as f64
        }))
    }

    fn socket_ping_pong(&self, round_trips: usize) -> Duration {
        let ex = LocalExecutor::new();
        smol::block_on(ex.run(async {
            let (a, b) = UnixStream::pair().expect("socketpair");
            let pipe = |s| SmolPipe(Async::new(s).expect("register"));
            let (a, b) = (pipe(a), pipe(b));
            let start = Instant::now();
            let client = ex.spawn(socket_client(a, round_trips));
            let server = ex.spawn(socket_server(b, round_trips));
            client.await.expect("client");
            server.await.expect("server");
            start.elapsed()
        }))
    }

    fn lock(&self, tasks: usize, per_task: usize) -> Duration {
        let ex = LocalExecutor::new();
        smol::block_on(ex.run(async {
            let (lock, counter) = (Rc::new(Mutex::new(())), Rc::new(Cell::new(0)));
            let start = Instant::now();
            let tasks: Vec<_> = (0..tasks)
                .map(|_| ex.spawn(locker(lock.clone(), counter.clone(), per_task)))
                .collect();
            let n = tasks.len() * per_task;
            for task in tasks {
                task.await;
            }
            let elapsed = start.elapsed();
            assert_eq!(counter.get(), n);
            elapsed
        }))
    }

    fn queue(&self, capacity: usize, producers: usize, consumers: usize, items: usize) -> Duration {
        let ex = LocalExecutor::new();
        smol::block_on(ex.run(async {
            let (tx, rx) = bounded(capacity);
            let start = Instant::now();
            let producers: Vec<_> = shares(items, producers)
                .map(|range| ex.spawn(producer(SmolSender(tx.clone()), range)))
                .collect();
            let consumers: Vec<_> = shares(items, consumers)
                .map(|range| ex.spawn(consumer(SmolReceiver(rx.clone()), range.len())))
                .collect();
            for task in producers {
                task.await;
            }
            let mut sum = 0;
            for task in consumers {
                sum += task.await;
            }
            let elapsed = start.elapsed();
            assert_eq!(sum, items * (items - 1) / 2);
            elapsed
        }))
    }

    fn queue_ping_pong(&self, round_trips: usize) -> Duration {
        let ex = LocalExecutor::new();
        smol::block_on(ex.run(async {
            let (there_tx, there_rx) = bounded(1);
            let (back_tx, back_rx) = bounded(1);
            let start = Instant::now();
            let a = ex.spawn(queue_pinger(
                SmolSender(there_tx),
                SmolReceiver(back_rx),
                round_trips,
            ));
            let b = ex.spawn(queue_ponger(
                SmolReceiver(there_rx),
                SmolSender(back_tx),
                round_trips,
            ));
            a.await;
            b.await;
            start.elapsed()
        }))
    }

    /// `unblock` runs on the `blocking` crate's pool, which is global (its threads outlive a
    /// measurement and retire after 500 ms idle), not one per executor.
    fn to_thread(&self, round_trips: usize) -> Duration {
        let ex = LocalExecutor::new();
        smol::block_on(ex.run(ex.spawn(in_sequence(
            round_trips,
            |i| async move { Ok::<_, Infallible>(smol::unblock(move || i).await) },
            yield_now,
        ))))
    }

    fn small_frames(&self, port: u16, kind: SmallFrames) -> Duration {
        use futures_lite::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
        let ex = LocalExecutor::new();
        smol::block_on(ex.run(async {
            let stream = Async::<std::net::TcpStream>::connect(([127, 0, 0, 1], port))
                .await
                .expect("connect");
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
        }))
    }
}

/// A socket end on async-io's reactor, read and written through `read_with` / `write_with`,
/// the counterparts of aio's `poll_read_with` / `poll_write_with`.
struct SmolPipe(Async<UnixStream>);

impl BytePipe for SmolPipe {
    async fn send(&self) -> io::Result<()> {
        one_byte(self.0.write_with(|mut s| s.write(&[1])).await?)
    }

    async fn recv(&self) -> io::Result<()> {
        let mut buf = [0];
        one_byte(self.0.read_with(|mut s| s.read(&mut buf)).await?)
    }
}

impl AsyncLock for Mutex<()> {
    type Guard<'a> = MutexGuard<'a, ()>;

    fn acquire(&self) -> impl Future<Output = MutexGuard<'_, ()>> {
        self.lock()
    }
}

/// An async-channel sender.
struct SmolSender(Sender<usize>);

impl SendHalf for SmolSender {
    async fn send(&mut self, item: usize) {
        self.0.send(item).await.expect("send");
    }
}

/// An async-channel receiver (clonable: the channel is multi-consumer).
struct SmolReceiver(Receiver<usize>);

impl RecvHalf for SmolReceiver {
    async fn recv(&mut self) -> usize {
        self.0.recv().await.expect("recv")
    }
}
