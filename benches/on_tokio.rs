//! The workloads on tokio: a fresh `current_thread` runtime per measurement, tasks spawned
//! with `tokio::spawn` (the runtime's own scheduler). The ping-pong's signal is `!Send`, so
//! that one workload runs its two tasks on a `LocalSet` (`spawn_local`).

use std::future::Future;
use std::io;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::net::UnixStream;
use tokio::runtime::Builder;
use tokio::task::{JoinHandle, LocalSet, spawn_local, yield_now};

use crate::Runtime;
use crate::measure::rss_bytes;
use crate::workloads::{
    BytePipe, IDLE_SLEEP, STARTED, Signal, idle, late_by, one_byte, pinger, ponger,
    register_and_cancel, socket_client, socket_server, trivial, yielder,
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
