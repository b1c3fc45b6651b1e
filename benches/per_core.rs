//! The `per-core` workload: does a server scale with loops? An HTTP/1.1 keep-alive server
//! whose every request costs a fixed amount of CPU ([`WORK_US`] µs of arithmetic, calibrated
//! once per run of the binary), so the server, not the load client, is the bottleneck on a
//! 2-core machine. Served by:
//!
//! - aio: `aio::LoopGroup` with 1 and with 2 loops, each loop a `start_server(..)
//!   .reuse_port(true)` on the same port;
//! - tokio's multi-thread runtime with 1 and with 2 worker threads (one listener, work-stealing
//!   scheduler).
//!
//! One client thread (level-triggered epoll, [`CONNECTIONS`] keep-alive connections, one
//! request in flight per connection) sends for [`DURATION`] and counts the replies; the rate is
//! replies over that time. Time-boxed rather than a fixed count per connection: the kernel's
//! `SO_REUSEPORT` hash rarely splits 50 connections exactly in half, and with a fixed count
//! the run would last as long as the busier loop, while with a time box both loops stay busy
//! as long as each has connections.

use std::net::TcpStream as StdTcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use aio::channel;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// CPU work per request, in microseconds.
pub const WORK_US: u64 = 50;
/// Keep-alive connections.
pub const CONNECTIONS: usize = 50;
/// How long the client sends.
pub const DURATION: Duration = Duration::from_millis(1500);
/// Runs per configuration, interleaved; the best rate counts.
pub const RUNS: usize = 5;

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: aio-benches\r\n\r\n";
const REPLY: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!";

/// A server configuration.
#[derive(Clone, Copy, Debug)]
pub enum Server {
    /// `aio::LoopGroup` with this many loops.
    Aio(usize),
    /// tokio multi-thread with this many workers.
    Tokio(usize),
}

/// The fixed CPU work: `iterations` rounds of a multiply-xorshift, kept from being optimized
/// away.
fn work(iterations: u64) -> u64 {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..iterations {
        x = (x ^ (x >> 29))
            .wrapping_mul(0xBF58_476D_1CE4_E5B9)
            .wrapping_add(i);
    }
    std::hint::black_box(x)
}

/// Iterations of [`work`] that take [`WORK_US`] µs on this machine: the fastest of several
/// timed rounds, so a round slowed by another process does not inflate it.
pub fn calibrate() -> u64 {
    const PROBE: u64 = 2_000_000;
    let fastest = (0..7)
        .map(|_| {
            let start = Instant::now();
            work(PROBE);
            start.elapsed()
        })
        .min()
        .expect("rounds");
    (PROBE as f64 * WORK_US as f64 / (fastest.as_secs_f64() * 1e6)).round() as u64
}

// ---- aio ---------------------------------------------------------------------------------------

/// One connection on aio: read a head, work, reply, until the client closes.
async fn aio_serve(
    reader: aio::StreamReader,
    writer: aio::StreamWriter,
    iterations: u64,
    finished: Arc<AtomicUsize>,
    done: channel::Sender<()>,
) {
    while reader.readuntil(b"\r\n\r\n").await.is_ok() {
        work(iterations);
        writer.write(REPLY);
        if writer.drain().await.is_err() {
            break;
        }
    }
    writer.close();
    if finished.fetch_add(1, Ordering::AcqRel) + 1 == CONNECTIONS {
        done.close(); // the last connection of the run: every loop stops
    }
}

fn aio_server(loops: usize, iterations: u64, port_tx: mpsc::Sender<u16>) {
    let finished = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = channel::bounded::<()>(1);
    let (port_to_loops, port_rx) = channel::bounded::<u16>(loops);
    let (ready_tx, ready_rx) = channel::bounded::<()>(loops);
    aio::LoopGroup::new()
        .loops(loops)
        .run(|member| {
            let (finished, done_tx, done_rx) = (finished.clone(), done_tx.clone(), done_rx.clone());
            let (port_to_loops, port_rx) = (port_to_loops.clone(), port_rx.clone());
            let (ready_tx, ready_rx) = (ready_tx.clone(), ready_rx.clone());
            let port_tx = port_tx.clone();
            async move {
                let port = match member.index() {
                    0 => 0,
                    _ => port_rx.recv().await?,
                };
                let handler = move |reader, writer| {
                    aio_serve(
                        reader,
                        writer,
                        iterations,
                        finished.clone(),
                        done_tx.clone(),
                    )
                };
                let server = aio::start_server(handler, "127.0.0.1", port)
                    .reuse_port(true)
                    .await?;
                if member.index() == 0 {
                    let port = server.port().expect("port");
                    for _ in 1..member.len() {
                        port_to_loops.send(port).await.map_err(|r| r.error)?;
                    }
                    for _ in 1..member.len() {
                        ready_rx.recv().await?;
                    }
                    port_tx.send(port).expect("send port");
                } else {
                    ready_tx.send(()).await.map_err(|r| r.error)?;
                }
                let _ = done_rx.recv().await; // closed by the run's last connection
                server.close();
                Ok::<_, aio::Error>(())
            }
        })
        .expect("the loop group");
}

// ---- tokio multi-thread -------------------------------------------------------------------------

async fn tokio_serve(mut stream: tokio::net::TcpStream, iterations: u64) {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            work(iterations);
            if stream.write_all(REPLY).await.is_err() {
                return;
            }
        }
    }
}

fn tokio_server(workers: usize, iterations: u64, port_tx: mpsc::Sender<u16>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        port_tx
            .send(listener.local_addr().expect("local_addr").port())
            .expect("send port");
        let mut handlers = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            let (stream, _) = listener.accept().await.expect("accept");
            stream.set_nodelay(true).expect("nodelay");
            handlers.push(tokio::spawn(tokio_serve(stream, iterations)));
        }
        for handler in handlers {
            handler.await.expect("handler");
        }
    });
}

// ---- the client ---------------------------------------------------------------------------------

/// Sends for [`DURATION`] on [`CONNECTIONS`] connections, one request in flight on each;
/// returns the replies received in that time and the time itself. Then lets the requests in
/// flight finish and closes every connection.
fn load_client(port: u16) -> (usize, Duration) {
    use rustix::event::epoll;
    use rustix::io::{Errno, read, write};

    struct Connection {
        stream: StdTcpStream,
        reply: [u8; REPLY.len()],
        received: usize,
    }
    let send = |c: &Connection| {
        let n = write(&c.stream, REQUEST).expect("write");
        assert_eq!(n, REQUEST.len(), "short write");
    };
    let (epoll, streams) = crate::http::connect_clients(port, CONNECTIONS);
    let mut connections: Vec<Option<Connection>> = streams
        .into_iter()
        .map(|stream| {
            Some(Connection {
                stream,
                reply: [0; REPLY.len()],
                received: 0,
            })
        })
        .collect();
    let mut events = vec![
        epoll::Event {
            flags: epoll::EventFlags::empty(),
            data: epoll::EventData::new_u64(0),
        };
        CONNECTIONS
    ];
    let start = Instant::now();
    let deadline = start + DURATION;
    for c in connections.iter().flatten() {
        send(c);
    }
    let mut replies = 0;
    let mut counted: Option<(usize, Duration)> = None;
    let mut open = CONNECTIONS;
    while open > 0 {
        let ready = match epoll::wait(&epoll, &mut events[..], None) {
            Ok(ready) => ready,
            Err(Errno::INTR) => continue,
            Err(error) => panic!("epoll_wait: {error}"),
        };
        let now = Instant::now();
        if counted.is_none() && now >= deadline {
            counted = Some((replies, now - start));
        }
        for event in &events[..ready] {
            let i = event.data.u64() as usize;
            let Some(c) = connections[i].as_mut() else {
                continue;
            };
            let n = match read(&c.stream, &mut c.reply[c.received..]) {
                Ok(0) => panic!("connection {i}: EOF"),
                Ok(n) => n,
                Err(Errno::AGAIN | Errno::INTR) => continue,
                Err(error) => panic!("read: {error}"),
            };
            c.received += n;
            if c.received < REPLY.len() {
                continue;
            }
            assert_eq!(&c.reply[..], REPLY, "connection {i}");
            c.received = 0;
            replies += 1;
            if counted.is_some() {
                connections[i] = None; // time is up: close, the server reads EOF
                open -= 1;
            } else {
                send(c);
            }
        }
    }
    counted.expect("the deadline passed")
}

/// One run: the server in its own thread(s), the client on this one. Requests per second.
pub fn run(server: Server, iterations: u64) -> f64 {
    let (port_tx, port_rx) = mpsc::channel();
    let server_thread = thread::spawn(move || match server {
        Server::Aio(loops) => aio_server(loops, iterations, port_tx),
        Server::Tokio(workers) => tokio_server(workers, iterations, port_tx),
    });
    let port = port_rx.recv().expect("the server's port");
    let (replies, elapsed) = load_client(port);
    server_thread.join().expect("server thread");
    replies as f64 / elapsed.as_secs_f64()
}

/// Every configuration, [`RUNS`] rounds interleaved; prints a table of the best rates and the
/// 2-vs-1 ratios.
pub fn print_rows() {
    let iterations = calibrate();
    let servers = [
        Server::Aio(1),
        Server::Aio(2),
        Server::Tokio(1),
        Server::Tokio(2),
    ];
    let mut best = [0.0f64; 4];
    let mut all: [Vec<f64>; 4] = Default::default();
    for _ in 0..RUNS {
        for (i, server) in servers.into_iter().enumerate() {
            let rate = run(server, iterations);
            all[i].push(rate);
            best[i] = best[i].max(rate);
        }
    }
    let runs = |i: usize| {
        all[i]
            .iter()
            .map(|r| format!("{:.0}", r))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!();
    println!(
        "Per core (HTTP keep-alive, {WORK_US} µs CPU per request = {iterations} iterations, \
         {CONNECTIONS} connections, {} ms per run, best of {RUNS}):",
        DURATION.as_millis()
    );
    println!();
    println!("| server | 1 loop / worker (req/s) | 2 loops / workers (req/s) | 2 vs 1 |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| aio LoopGroup, SO_REUSEPORT | {:.0} | {:.0} | {:.2}x |",
        best[0],
        best[1],
        best[1] / best[0]
    );
    println!(
        "| tokio multi_thread | {:.0} | {:.0} | {:.2}x |",
        best[2],
        best[3],
        best[3] / best[2]
    );
    println!();
    println!(
        "aio 2 loops vs tokio 2 workers: {:.2}x. Every run (req/s): aio 1 [{}], aio 2 [{}], \
         tokio 1 [{}], tokio 2 [{}]",
        best[1] / best[3],
        runs(0),
        runs(1),
        runs(2),
        runs(3)
    );
}
