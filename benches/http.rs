//! The `http` workload: `examples/http_hello.rs` (this file includes it: the same connection
//! handler the example serves with) on an aio loop, and the same HTTP logic on tokio
//! `current_thread` (the example's [`Head`] parser and responses, tokio's `BufReader` for the
//! lines), each server in its own thread, driven by one load-client thread in the same run.
//!
//! The client: one thread, level-triggered epoll (`rustix`), [`CONNECTIONS`] keep-alive
//! `TCP_NODELAY` connections, each sending a `GET` and reading the whole reply (checked byte
//! for byte) before sending the next, a fixed count per connection, then closing. Timed from
//! every connection open to every reply read. The server thread reports its CPU time
//! (`getrusage(RUSAGE_THREAD)`, user + system) from just after binding to the last
//! connection's end.

use std::cell::Cell;
use std::io;
use std::net::TcpStream as StdTcpStream;
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use aio::Event;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::net::tcp::OwnedReadHalf;

use crate::on_aio::AioReactor;

#[path = "../examples/http_hello.rs"]
#[allow(dead_code)]
mod http_hello;

use http_hello::{Head, IDLE_TIMEOUT, MAX_LINE, Reject};

/// Keep-alive connections, all driven at once.
pub const CONNECTIONS: usize = 50;
/// Requests per connection in a run.
pub const REQUESTS: usize = 2_000;

/// What the client sends, and the whole reply it expects (a keep-alive 200).
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: aio-benches\r\n\r\n";
const REPLY: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!";

/// A server under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    Aio,
    Tokio,
}

/// One run: the client's wall time and the server thread's CPU time (user, system).
pub struct HttpRun {
    pub elapsed: Duration,
    pub server_user: Duration,
    pub server_system: Duration,
}

/// CPU time of the calling thread: (user, system).
fn thread_cpu() -> (Duration, Duration) {
    // SAFETY: `getrusage` only writes the `rusage` it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, &mut usage), 0);
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    (time(usage.ru_utime), time(usage.ru_stime))
}

// ---- aio: the example's handler --------------------------------------------------------------

fn aio_server(connections: usize, port_tx: mpsc::Sender<u16>) -> (Duration, Duration) {
    let lp = AioReactor::Default.event_loop();
    let cpu = lp
        .run_until_complete(async move {
            let finished = Rc::new(Cell::new(0usize));
            let all_done = Rc::new(Event::new());
            let (f, d) = (finished.clone(), all_done.clone());
            let server = aio::start_server(
                move |reader, writer| {
                    let (finished, all_done) = (f.clone(), d.clone());
                    async move {
                        http_hello::serve_connection(reader, writer).await;
                        finished.set(finished.get() + 1);
                        if finished.get() == connections {
                            all_done.set();
                        }
                    }
                },
                "127.0.0.1",
                0,
            )
            .limit(MAX_LINE)
            .await
            .expect("start_server");
            let start = thread_cpu();
            port_tx
                .send(server.port().expect("port"))
                .expect("send port");
            all_done.wait().await;
            let end = thread_cpu();
            server.close();
            (end.0 - start.0, end.1 - start.1)
        })
        .expect("run_until_complete");
    lp.close().expect("close");
    cpu
}

// ---- tokio: the same logic -------------------------------------------------------------------

/// A line read by [`read_line`].
enum Line {
    Complete,
    TooLong,
    /// EOF, possibly mid-line.
    End,
}

/// Reads one line (newline included) into `line`, at most [`MAX_LINE`] bytes before its
/// newline: what aio's `readline` does with the reader's limit set to `MAX_LINE`.
async fn read_line(reader: &mut BufReader<OwnedReadHalf>, line: &mut Vec<u8>) -> io::Result<Line> {
    line.clear();
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(Line::End);
        }
        let (n, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        line.extend_from_slice(&buf[..n]);
        reader.consume(n);
        if line.len() > MAX_LINE + 1 {
            return Ok(Line::TooLong);
        }
        if done {
            return Ok(Line::Complete);
        }
    }
}

/// The example's `read_head`, on tokio.
async fn read_head(
    reader: &mut BufReader<OwnedReadHalf>,
    line: &mut Vec<u8>,
) -> Result<Option<Head>, Reject> {
    let mut skipped = 0;
    let mut head = loop {
        match read_line(reader, line).await {
            Ok(Line::Complete) => {}
            Ok(Line::TooLong) => return Err(Reject::BadRequest),
            Ok(Line::End) | Err(_) => return Ok(None),
        }
        if line == b"\r\n" || line == b"\n" {
            skipped += line.len();
            if skipped > http_hello::MAX_HEAD {
                return Err(Reject::BadRequest);
            }
            continue;
        }
        break Head::request_line(line)?;
    };
    loop {
        match read_line(reader, line).await {
            Ok(Line::Complete) => {}
            Ok(Line::TooLong) => return Err(Reject::TooLarge),
            Ok(Line::End) | Err(_) => return Ok(None),
        }
        if head.header(line)? {
            return Ok(Some(head));
        }
    }
}

/// The example's `serve_connection`, on tokio.
async fn tokio_serve(stream: tokio::net::TcpStream) {
    let idle = Duration::from_secs_f64(IDLE_TIMEOUT);
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    let linger = loop {
        let head = match tokio::time::timeout(idle, read_head(&mut reader, &mut line)).await {
            Ok(Ok(Some(head))) => head,
            Ok(Ok(None)) | Err(_) => break false,
            Ok(Err(reject)) => {
                let _ = writer.write_all(reject.response()).await;
                break true;
            }
        };
        let mut body = head.body_length();
        let mut chunk = [0u8; 16 * 1024];
        while body > 0 {
            let want = body.min(chunk.len() as u64) as usize;
            match tokio::time::timeout(idle, reader.read(&mut chunk[..want])).await {
                Ok(Ok(n)) if n > 0 => body -= n as u64,
                _ => return,
            }
        }
        if writer.write_all(head.response()).await.is_err() {
            break false;
        }
        if !head.keep_alive() {
            break true;
        }
    };
    if linger && writer.shutdown().await.is_ok() {
        let mut chunk = [0u8; 16 * 1024];
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let mut dropped = 0;
            while dropped < 1 << 20 {
                match reader.read(&mut chunk).await {
                    Ok(n) if n > 0 => dropped += n,
                    _ => break,
                }
            }
        })
        .await;
    }
}

fn tokio_server(connections: usize, port_tx: mpsc::Sender<u16>) -> (Duration, Duration) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let start = thread_cpu();
        port_tx
            .send(listener.local_addr().expect("local_addr").port())
            .expect("send port");
        let mut handlers = Vec::with_capacity(connections);
        for _ in 0..connections {
            let (stream, _) = listener.accept().await.expect("accept");
            stream.set_nodelay(true).expect("nodelay");
            handlers.push(tokio::spawn(tokio_serve(stream)));
        }
        for handler in handlers {
            handler.await.expect("handler");
        }
        let end = thread_cpu();
        (end.0 - start.0, end.1 - start.1)
    })
}

// ---- the load client -------------------------------------------------------------------------

/// `n` non-blocking, `TCP_NODELAY` connections to `port`, each registered for reading with
/// its index as the event data in a new level-triggered epoll instance (the load clients'
/// setup, here and in `per_core.rs`).
pub fn connect_clients(port: u16, n: usize) -> (rustix::fd::OwnedFd, Vec<StdTcpStream>) {
    use rustix::event::epoll;
    let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).expect("epoll_create1");
    let streams = (0..n)
        .map(|i| {
            let stream = StdTcpStream::connect(("127.0.0.1", port)).expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            stream.set_nonblocking(true).expect("nonblocking");
            epoll::add(
                &epoll,
                &stream,
                epoll::EventData::new_u64(i as u64),
                epoll::EventFlags::IN,
            )
            .expect("epoll_ctl");
            stream
        })
        .collect();
    (epoll, streams)
}

/// The epoll load client: [`CONNECTIONS`] connections × `requests` requests each; returns the
/// wall time from every connection open to every reply read.
fn load_client(port: u16, requests: usize) -> Duration {
    use rustix::event::epoll;
    use rustix::io::{Errno, read, write};

    struct Connection {
        stream: StdTcpStream,
        reply: [u8; REPLY.len()],
        received: usize,
        done: usize,
    }
    let send = |c: &Connection| {
        let n = write(&c.stream, REQUEST).expect("write");
        assert_eq!(n, REQUEST.len(), "short write");
    };
    assert!(requests > 0);
    let (epoll, streams) = connect_clients(port, CONNECTIONS);
    let mut connections: Vec<Option<Connection>> = streams
        .into_iter()
        .map(|stream| {
            Some(Connection {
                stream,
                reply: [0; REPLY.len()],
                received: 0,
                done: 0,
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
    for c in connections.iter().flatten() {
        send(c);
    }
    let mut open = CONNECTIONS;
    while open > 0 {
        let ready = match epoll::wait(&epoll, &mut events[..], None) {
            Ok(ready) => ready,
            Err(Errno::INTR) => continue,
            Err(error) => panic!("epoll_wait: {error}"),
        };
        for event in &events[..ready] {
            let i = event.data.u64() as usize;
            let c = connections[i].as_mut().expect("an open connection");
            let n = match read(&c.stream, &mut c.reply[c.received..]) {
                Ok(0) => panic!("connection {i}: EOF after {} replies", c.done),
                Ok(n) => n,
                Err(Errno::AGAIN | Errno::INTR) => continue,
                Err(error) => panic!("read: {error}"),
            };
            c.received += n;
            if c.received < REPLY.len() {
                continue;
            }
            assert_eq!(&c.reply[..], REPLY, "connection {i}, reply {}", c.done);
            c.received = 0;
            c.done += 1;
            if c.done == requests {
                connections[i] = None; // close: the server reads EOF
                open -= 1;
            } else {
                send(c);
            }
        }
    }
    start.elapsed()
}

/// One run against `server`: [`CONNECTIONS`] × `requests` keep-alive requests.
pub fn run(server: Server, requests: usize) -> HttpRun {
    let (port_tx, port_rx) = mpsc::channel();
    let name = match server {
        Server::Aio => "http-aio",
        Server::Tokio => "http-tokio",
    };
    let thread = thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || match server {
            Server::Aio => aio_server(CONNECTIONS, port_tx),
            Server::Tokio => tokio_server(CONNECTIONS, port_tx),
        })
        .expect("spawn the server thread");
    let port = port_rx.recv().expect("the server sends its port");
    let elapsed = load_client(port, requests);
    let (server_user, server_system) = thread.join().expect("server thread");
    HttpRun {
        elapsed,
        server_user,
        server_system,
    }
}
