//! The streams workloads: TCP servers on loopback, one per runtime, each in its own thread (or,
//! for memory, its own child process) with its own runtime, all driven by the same client.
//!
//! Servers: aio (`start_server`, `StreamReader`/`StreamWriter`; on the default reactor, or
//! on a chosen one for the reactor comparison), tokio `current_thread`
//! (`TcpListener` + `tokio::spawn` per connection) and a hand-written single-threaded
//! level-triggered epoll server (`libc`, nonblocking sockets): the reference limit.
//! Every server sets `TCP_NODELAY` on accepted sockets, as aio's (and asyncio's) does.
//!
//! Clients: for `echo`, one thread driving every connection through level-triggered epoll
//! (`rustix`, nonblocking sockets; `ECHO_CLIENT=tokio` selects the previous client, a tokio
//! `current_thread` runtime with a task per connection); for `bulk`, one blocking
//! `std::net::TcpStream` in a thread; for `conn-memory`, blocking `std::net::TcpStream`s held
//! by the parent process.

use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener as StdTcpListener, TcpStream as StdTcpStream};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use aio::{Event, StreamReader, StreamWriter};
use aio_reactor::PollMode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::measure::rss_bytes;
use crate::on_aio::AioReactor;

/// Size of one echo message.
pub const ECHO_MESSAGE: usize = 64;
/// Echo connections, all driven at once.
pub const ECHO_CONNECTIONS: usize = 50;
/// Round trips per echo connection.
pub const ECHO_ROUND_TRIPS: usize = 2_000;
/// Bytes the bulk client sends, at most.
pub const BULK_BYTES: usize = 512 << 20;
/// The bulk client stops early after this long.
pub const BULK_TIME_LIMIT: Duration = Duration::from_secs(3);
/// The bulk client's write size and the servers' read size.
pub const BULK_CHUNK: usize = 64 * 1024;
/// Idle connections held open for the memory measurement (lowered if descriptors are short).
pub const IDLE_CONNECTIONS: usize = 10_000;
/// The `conn-memory` server reports every this many started handlers, and the client stays
/// at most this far ahead of the last report: the listen backlog (128 for `std` and tokio
/// alike) never overflows, so no connect waits out a SYN retransmission whatever the
/// server's accept rate.
const IDLE_WINDOW: usize = 64;

/// A server under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// aio, its loop on the given reactor.
    Aio(AioReactor),
    Tokio,
    Epoll,
    /// aio's protocol layer on the default reactor: `create_server` with a [`aio::Protocol`]
    /// echoing in `data_received` (asyncio's `EchoServerProtocol`).
    Protocol,
    /// The same with a [`aio::BufferedProtocol`] (the read lands in the protocol's buffer).
    Buffered,
    /// The streams as asyncio builds them, over the protocol layer: a protocol feeding a
    /// [`StreamReader`] (asyncio's `StreamReaderProtocol`) and a handler task per connection
    /// reading from it and writing to the transport. For `--one echo layered` only: what one
    /// I/O path for streams and transports would cost (issue 20, point 4).
    Layered,
}

impl Server {
    /// aio on the default reactor.
    pub const AIO: Server = Server::Aio(AioReactor::Default);

    pub fn name(self) -> &'static str {
        match self {
            Server::Aio(AioReactor::Default) => "aio",
            Server::Aio(AioReactor::Polling(PollMode::Edge)) => "aio-edge",
            Server::Aio(AioReactor::Polling(PollMode::Oneshot)) => "aio-oneshot",
            Server::Aio(AioReactor::Uring) => "aio-uring",
            Server::Aio(AioReactor::Epoll) => "aio-epoll",
            Server::Aio(AioReactor::Registered) => "aio-registered",
            Server::Tokio => "tokio",
            Server::Epoll => "epoll",
            Server::Protocol => "protocol",
            Server::Buffered => "buffered",
            Server::Layered => "layered",
        }
    }

    pub fn named(name: &str) -> Server {
        match name {
            "aio" => Server::AIO,
            "aio-edge" => Server::Aio(AioReactor::Polling(PollMode::Edge)),
            "aio-oneshot" => Server::Aio(AioReactor::Polling(PollMode::Oneshot)),
            "aio-uring" => Server::Aio(AioReactor::Uring),
            "tokio" => Server::Tokio,
            "epoll" => Server::Epoll,
            "protocol" => Server::Protocol,
            "buffered" => Server::Buffered,
            "layered" => Server::Layered,
            _ => panic!(
                "unknown server {name:?} (aio, aio-edge, aio-oneshot, aio-uring, tokio, epoll, \
                 protocol, buffered or layered)"
            ),
        }
    }

    /// The server thread's name, for profiles (`perf report --comm server-uring`): at most 15
    /// bytes, Linux's limit.
    fn thread_name(self) -> &'static str {
        match self {
            Server::Aio(AioReactor::Default) => "server-aio",
            Server::Aio(AioReactor::Polling(PollMode::Edge)) => "server-edge",
            Server::Aio(AioReactor::Polling(PollMode::Oneshot)) => "server-oneshot",
            Server::Aio(AioReactor::Uring) => "server-uring",
            Server::Aio(AioReactor::Epoll) => "server-aioepoll",
            Server::Aio(AioReactor::Registered) => "server-aioreg",
            Server::Tokio => "server-tokio",
            Server::Epoll => "server-epoll",
            Server::Protocol => "server-protocol",
            Server::Buffered => "server-buffered",
            Server::Layered => "server-layered",
        }
    }
}

/// What a server does with each connection.
#[derive(Clone, Copy)]
enum Job {
    /// Reads `ECHO_MESSAGE` bytes and writes them back, until EOF.
    Echo,
    /// Reads and discards until EOF.
    Discard,
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

/// What the server thread reports: its CPU time (user, system) from just after binding to
/// the last connection's end, and the bytes it read.
struct Served {
    user: Duration,
    system: Duration,
    bytes: usize,
}

/// Starts `server` in its own thread, serving `job` on `connections` connections and then
/// returning. Returns the port and the thread.
fn spawn_server(server: Server, job: Job, connections: usize) -> (u16, thread::JoinHandle<Served>) {
    let (port_tx, port_rx) = mpsc::channel();
    // Named, so profiles can tell the server threads apart (`perf report --comm server-aio`).
    let thread = thread::Builder::new()
        .name(server.thread_name().to_owned())
        .spawn(move || match server {
            Server::Aio(reactor) => aio_server(reactor, job, connections, port_tx),
            Server::Tokio => tokio_server(job, connections, port_tx),
            Server::Epoll => epoll_server(job, connections, port_tx),
            Server::Protocol => protocol_server(false, job, connections, port_tx),
            Server::Buffered => protocol_server(true, job, connections, port_tx),
            Server::Layered => layered_server(job, connections, port_tx),
        })
        .expect("spawn the server thread");
    let port = port_rx.recv().expect("the server sends its port");
    (port, thread)
}

// ---- aio ------------------------------------------------------------------------------------

async fn aio_echo(reader: &StreamReader, writer: &StreamWriter) -> usize {
    let mut bytes = 0;
    while let Ok(message) = reader.readexactly(ECHO_MESSAGE).await {
        bytes += message.len();
        writer.write(&message);
        if writer.drain().await.is_err() {
            break;
        }
    }
    bytes
}

async fn aio_discard(reader: &StreamReader) -> usize {
    let mut bytes = 0;
    loop {
        match reader.read(BULK_CHUNK).await {
            Ok(block) if !block.is_empty() => bytes += block.len(),
            _ => return bytes,
        }
    }
}

fn aio_server(
    reactor: AioReactor,
    job: Job,
    connections: usize,
    port_tx: mpsc::Sender<u16>,
) -> Served {
    let lp = reactor.event_loop();
    let served = lp
        .run_until_complete(async move {
            let finished = Rc::new(Cell::new(0usize));
            let bytes = Rc::new(Cell::new(0usize));
            let all_done = Rc::new(Event::new());
            let (f, b, d) = (finished.clone(), bytes.clone(), all_done.clone());
            let server = aio::start_server(
                move |reader, writer| {
                    let (finished, bytes, all_done) = (f.clone(), b.clone(), d.clone());
                    async move {
                        let n = match job {
                            Job::Echo => aio_echo(&reader, &writer).await,
                            Job::Discard => aio_discard(&reader).await,
                        };
                        writer.close();
                        bytes.set(bytes.get() + n);
                        finished.set(finished.get() + 1);
                        if finished.get() == connections {
                            all_done.set();
                        }
                    }
                },
                "127.0.0.1",
                0,
            )
            .await
            .expect("start_server");
            let start = thread_cpu();
            port_tx
                .send(server.port().expect("port"))
                .expect("send port");
            all_done.wait().await;
            let end = thread_cpu();
            server.close();
            Served {
                user: end.0 - start.0,
                system: end.1 - start.1,
                bytes: bytes.get(),
            }
        })
        .expect("run_until_complete");
    lp.close().expect("close");
    served
}

// ---- aio protocols ----------------------------------------------------------------------------

/// What every connection of a protocol server adds up to.
struct Totals {
    finished: Cell<usize>,
    bytes: Cell<usize>,
    all_done: Event,
}

/// The protocol servers' connection: echoes (or discards) what arrives; closes at EOF
/// (`eof_received`'s default); counts in `connection_lost`.
struct EchoProtocol {
    transport: Option<aio::Transport>,
    job: Job,
    bytes: usize,
    connections: usize,
    totals: Rc<Totals>,
    /// The `BufferedProtocol`'s buffer (unused by the plain protocol).
    buf: Vec<u8>,
}

impl EchoProtocol {
    fn received(&mut self, data: &[u8]) {
        self.bytes += data.len();
        if let Job::Echo = self.job {
            self.transport.as_ref().expect("connected").write(data);
        }
    }

    fn lost(&mut self) {
        let totals = &self.totals;
        totals.bytes.set(totals.bytes.get() + self.bytes);
        totals.finished.set(totals.finished.get() + 1);
        if totals.finished.get() == self.connections {
            totals.all_done.set();
        }
        self.transport = None;
    }
}

impl aio::Protocol for EchoProtocol {
    fn connection_made(&mut self, transport: &aio::Transport) {
        self.transport = Some(transport.clone());
    }
    fn data_received(&mut self, data: &[u8]) {
        self.received(data);
    }
    fn connection_lost(&mut self, _: Option<io::Error>) {
        self.lost();
    }
}

/// The buffered form: reads land in `buf`, then go out from there.
struct BufferedEcho(EchoProtocol);

impl aio::BufferedProtocol for BufferedEcho {
    fn connection_made(&mut self, transport: &aio::Transport) {
        self.0.transport = Some(transport.clone());
    }
    fn get_buffer(&mut self, _size_hint: usize) -> &mut [u8] {
        &mut self.0.buf
    }
    fn buffer_updated(&mut self, nbytes: usize) {
        let EchoProtocol { buf, .. } = &mut self.0;
        let data = std::mem::take(buf);
        self.0.received(&data[..nbytes]);
        self.0.buf = data;
    }
    fn connection_lost(&mut self, _: Option<io::Error>) {
        self.0.lost();
    }
}

fn protocol_server(
    buffered: bool,
    job: Job,
    connections: usize,
    port_tx: mpsc::Sender<u16>,
) -> Served {
    serve_protocols(port_tx, move |totals| async move {
        let make = move || EchoProtocol {
            transport: None,
            job,
            bytes: 0,
            connections,
            totals: totals.clone(),
            buf: Vec::new(),
        };
        if buffered {
            aio::create_server(
                move || {
                    let mut protocol = make();
                    protocol.buf = vec![0; 16 * 1024];
                    aio::Buffered(BufferedEcho(protocol))
                },
                "127.0.0.1",
                0,
            )
            .await
        } else {
            aio::create_server(make, "127.0.0.1", 0).await
        }
    })
}

/// Runs a protocol server on its own loop: `start` makes it, given the totals its
/// connections add to (whose `all_done` ends the run); returns the server thread's CPU from
/// the port's announcement to the last connection's end.
fn serve_protocols<S, F>(port_tx: mpsc::Sender<u16>, start: S) -> Served
where
    S: FnOnce(Rc<Totals>) -> F + 'static,
    F: std::future::Future<Output = Result<aio::Server, aio::Error>>,
{
    let lp = AioReactor::Default.event_loop();
    let served = lp
        .run_until_complete(async move {
            let totals = Rc::new(Totals {
                finished: Cell::new(0),
                bytes: Cell::new(0),
                all_done: Event::new(),
            });
            let server = start(totals.clone()).await.expect("create_server");
            let cpu_start = thread_cpu();
            port_tx
                .send(server.port().expect("port"))
                .expect("send port");
            totals.all_done.wait().await;
            let end = thread_cpu();
            server.close();
            Served {
                user: end.0 - cpu_start.0,
                system: end.1 - cpu_start.1,
                bytes: totals.bytes.get(),
            }
        })
        .expect("run_until_complete");
    lp.close().expect("close");
    served
}

/// asyncio's `StreamReaderProtocol`, reduced to the echo: what arrives is fed to the
/// connection's [`StreamReader`], which its handler task reads.
struct FeedReader {
    reader: Rc<StreamReader>,
}

impl aio::Protocol for FeedReader {
    fn data_received(&mut self, data: &[u8]) {
        self.reader.feed_data(data);
    }
    fn eof_received(&mut self) -> bool {
        self.reader.feed_eof();
        false
    }
    fn connection_lost(&mut self, _: Option<io::Error>) {
        self.reader.feed_eof();
    }
}

/// The streams over the protocol layer ([`Server::Layered`]): per connection, a
/// [`FeedReader`] protocol and a handler task that reads `ECHO_MESSAGE`-byte messages from
/// its reader and writes them to the transport.
fn layered_server(job: Job, connections: usize, port_tx: mpsc::Sender<u16>) -> Served {
    serve_protocols(port_tx, move |t| async move {
        aio::create_server(
            move || {
                let reader = Rc::new(StreamReader::new());
                let handler_reader = reader.clone();
                let totals = t.clone();
                // The handler starts with the connection: `connection_made` below.
                LayeredConnection {
                    feed: FeedReader { reader },
                    handler: Some(Box::new(move |transport: aio::Transport| {
                        drop(
                            aio::create_task(async move {
                                let mut bytes = 0;
                                loop {
                                    let message = match job {
                                        Job::Echo => handler_reader.readexactly(ECHO_MESSAGE).await,
                                        Job::Discard => handler_reader.read(BULK_CHUNK).await,
                                    };
                                    match message {
                                        Ok(m) if !m.is_empty() => {
                                            bytes += m.len();
                                            if let Job::Echo = job {
                                                transport.write(&m);
                                            }
                                        }
                                        _ => break,
                                    }
                                }
                                transport.close();
                                totals.bytes.set(totals.bytes.get() + bytes);
                                totals.finished.set(totals.finished.get() + 1);
                                if totals.finished.get() == connections {
                                    totals.all_done.set();
                                }
                            })
                            .expect("create_task"),
                        );
                    })),
                }
            },
            "127.0.0.1",
            0,
        )
        .await
    })
}

/// What starts a [`Server::Layered`] connection's handler task.
type StartHandler = Box<dyn FnOnce(aio::Transport)>;

/// A [`Server::Layered`] connection: the feeding protocol, and its handler until started.
struct LayeredConnection {
    feed: FeedReader,
    handler: Option<StartHandler>,
}

impl aio::Protocol for LayeredConnection {
    fn connection_made(&mut self, transport: &aio::Transport) {
        if let Some(start) = self.handler.take() {
            start(transport.clone());
        }
    }
    fn data_received(&mut self, data: &[u8]) {
        self.feed.data_received(data);
    }
    fn eof_received(&mut self) -> bool {
        self.feed.eof_received()
    }
    fn connection_lost(&mut self, error: Option<io::Error>) {
        self.feed.connection_lost(error);
    }
}

// ---- tokio ----------------------------------------------------------------------------------

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn tokio_echo(mut stream: TcpStream) -> usize {
    let mut message = [0u8; ECHO_MESSAGE];
    let mut bytes = 0;
    while stream.read_exact(&mut message).await.is_ok() {
        bytes += message.len();
        if stream.write_all(&message).await.is_err() {
            break;
        }
    }
    bytes
}

async fn tokio_discard(mut stream: TcpStream) -> usize {
    let mut buf = vec![0u8; BULK_CHUNK];
    let mut bytes = 0;
    loop {
        match stream.read(&mut buf).await {
            Ok(n) if n > 0 => bytes += n,
            _ => return bytes,
        }
    }
}

fn tokio_server(job: Job, connections: usize, port_tx: mpsc::Sender<u16>) -> Served {
    tokio_runtime().block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let start = thread_cpu();
        let port = listener.local_addr().expect("local_addr").port();
        port_tx.send(port).expect("send port");
        let mut handlers = Vec::with_capacity(connections);
        for _ in 0..connections {
            let (stream, _) = listener.accept().await.expect("accept");
            stream.set_nodelay(true).expect("nodelay");
            handlers.push(tokio::spawn(async move {
                match job {
                    Job::Echo => tokio_echo(stream).await,
                    Job::Discard => tokio_discard(stream).await,
                }
            }));
        }
        let mut bytes = 0;
        for handler in handlers {
            bytes += handler.await.expect("handler");
        }
        let end = thread_cpu();
        Served {
            user: end.0 - start.0,
            system: end.1 - start.1,
            bytes,
        }
    })
}

// ---- raw epoll ------------------------------------------------------------------------------

fn check(result: libc::c_int, what: &str) -> libc::c_int {
    assert!(result >= 0, "{what}: {}", io::Error::last_os_error());
    result
}

/// A single-threaded, level-triggered epoll server: the least a server can do per message.
fn epoll_server(job: Job, connections: usize, port_tx: mpsc::Sender<u16>) -> Served {
    let listener = StdTcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let listen_fd = listener.as_raw_fd();
    // SAFETY: plain system calls on descriptors this function owns; buffers outlive the calls.
    unsafe {
        let epoll = check(libc::epoll_create1(libc::EPOLL_CLOEXEC), "epoll_create1");
        let add = |fd: libc::c_int| {
            let mut event = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: fd as u64,
            };
            check(
                libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut event),
                "epoll_ctl",
            );
        };
        add(listen_fd);
        let start = thread_cpu();
        port_tx
            .send(listener.local_addr().expect("local_addr").port())
            .expect("send port");
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        let mut buf = vec![0u8; BULK_CHUNK];
        let (mut accepted, mut finished, mut bytes) = (0, 0, 0usize);
        let nodelay: libc::c_int = 1;
        while finished < connections {
            let ready = libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, -1);
            if ready < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            for event in &events[..check(ready, "epoll_wait") as usize] {
                let fd = event.u64 as libc::c_int;
                if fd == listen_fd {
                    while accepted < connections {
                        let conn = libc::accept4(
                            listen_fd,
                            std::ptr::null_mut(),
                            std::ptr::null_mut(),
                            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                        );
                        if conn < 0 {
                            break;
                        }
                        libc::setsockopt(
                            conn,
                            libc::IPPROTO_TCP,
                            libc::TCP_NODELAY,
                            (&nodelay as *const libc::c_int).cast(),
                            size_of::<libc::c_int>() as libc::socklen_t,
                        );
                        add(conn);
                        accepted += 1;
                    }
                    continue;
                }
                if let Job::Discard = job {
                    // Read until the socket would block: one wait per burst, as tokio's
                    // read loop does.
                    loop {
                        let n = libc::read(fd, buf.as_mut_ptr().cast(), BULK_CHUNK);
                        if n > 0 {
                            bytes += n as usize;
                            continue;
                        }
                        if n == 0 {
                            libc::close(fd);
                            finished += 1;
                        } else {
                            let error = io::Error::last_os_error();
                            assert_eq!(error.kind(), io::ErrorKind::WouldBlock, "read: {error}");
                        }
                        break;
                    }
                    continue;
                }
                // Echo, level-triggered: one message per event, the next wait reports the rest.
                let n = libc::read(fd, buf.as_mut_ptr().cast(), ECHO_MESSAGE);
                if n < 0 {
                    let error = io::Error::last_os_error();
                    if error.kind() == io::ErrorKind::WouldBlock {
                        continue;
                    }
                    panic!("read: {error}");
                }
                if n == 0 {
                    libc::close(fd); // also removes it from the epoll set
                    finished += 1;
                    continue;
                }
                let n = n as usize;
                bytes += n;
                {
                    // 64 bytes into an empty send buffer: never short in practice, but be exact.
                    let mut sent = 0;
                    while sent < n {
                        let w = libc::write(fd, buf[sent..n].as_ptr().cast(), n - sent);
                        if w > 0 {
                            sent += w as usize;
                        } else if io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock {
                            break;
                        }
                    }
                }
            }
        }
        let end = thread_cpu();
        libc::close(epoll);
        Served {
            user: end.0 - start.0,
            system: end.1 - start.1,
            bytes,
        }
    }
}

// ---- echo -----------------------------------------------------------------------------------

/// The client that drives every echo server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EchoClient {
    /// One thread, level-triggered epoll, `read` and `write` straight through rustix: per round
    /// trip one `write`, one `read` (two if the reply arrives split) and a share of one
    /// `epoll_wait`, the least a client can do. The default since 2026-12-06.
    Epoll,
    /// A tokio `current_thread` runtime in this thread, a task per connection: the client
    /// until 2026-12-06, kept for comparison. It costs as much CPU per round trip as the
    /// servers, and was the limit for all three.
    Tokio,
}

impl EchoClient {
    /// `ECHO_CLIENT=tokio` selects the tokio client; unset or `epoll`, the epoll one.
    pub fn from_env() -> EchoClient {
        match std::env::var("ECHO_CLIENT").as_deref() {
            Err(_) | Ok("epoll") => EchoClient::Epoll,
            Ok("tokio") => EchoClient::Tokio,
            Ok(other) => panic!("ECHO_CLIENT={other:?}: epoll or tokio"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            EchoClient::Epoll => "epoll",
            EchoClient::Tokio => "tokio",
        }
    }
}

/// One echo run: wall time for all round trips, and the server and client threads' CPU time.
pub struct EchoRun {
    pub elapsed: Duration,
    pub server_user: Duration,
    pub server_system: Duration,
    /// The client thread's CPU over `elapsed` (from every connection open to every round trip
    /// done).
    pub client_user: Duration,
    pub client_system: Duration,
}

/// What a client reports: wall time and its own thread's CPU (user, system) over it.
struct ClientRun {
    elapsed: Duration,
    user: Duration,
    system: Duration,
}

impl ClientRun {
    /// The run that started at `start`, with this thread's CPU then, ends now.
    fn since(start: Instant, start_cpu: (Duration, Duration)) -> ClientRun {
        let elapsed = start.elapsed();
        let end_cpu = thread_cpu();
        ClientRun {
            elapsed,
            user: end_cpu.0 - start_cpu.0,
            system: end_cpu.1 - start_cpu.1,
        }
    }
}

/// The message connection `i` sends in round `round`; the server must echo it byte for byte.
fn echo_message(message: &mut [u8; ECHO_MESSAGE], round: usize) {
    message[0] = round as u8;
}

/// The epoll echo client ([`EchoClient::Epoll`]): `ECHO_CONNECTIONS` nonblocking
/// `TCP_NODELAY` connections, each writing its message, reading the whole reply (in as many
/// reads as it arrives in), checking it and writing the next, `round_trips` times, then
/// closing. Timed from when every connection is open to when every round trip is done.
fn epoll_echo_client(port: u16, round_trips: usize) -> ClientRun {
    use rustix::event::epoll;
    use rustix::io::{Errno, read, write};

    struct Connection {
        stream: StdTcpStream,
        message: [u8; ECHO_MESSAGE],
        reply: [u8; ECHO_MESSAGE],
        /// Bytes of the current reply read so far.
        received: usize,
        round: usize,
    }
    // Ping-pong: a connection's send buffer holds at most the one message being written, so
    // a 64-byte write neither blocks nor comes back short.
    let send = |c: &Connection| {
        let n = write(&c.stream, &c.message).expect("write");
        assert_eq!(n, ECHO_MESSAGE, "short write");
    };

    assert!(round_trips > 0);
    let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).expect("epoll_create1");
    // `None` once closed.
    let mut connections: Vec<Option<Connection>> = (0..ECHO_CONNECTIONS)
        .map(|i| {
            let stream = StdTcpStream::connect(("127.0.0.1", port)).expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            stream.set_nonblocking(true).expect("nonblocking");
            // Level-triggered: a reply not read in full is reported again.
            epoll::add(
                &epoll,
                &stream,
                epoll::EventData::new_u64(i as u64),
                epoll::EventFlags::IN,
            )
            .expect("epoll_ctl");
            let mut message = [i as u8; ECHO_MESSAGE];
            echo_message(&mut message, 0);
            Some(Connection {
                stream,
                message,
                reply: [0; ECHO_MESSAGE],
                received: 0,
                round: 0,
            })
        })
        .collect();
    let mut events = vec![
        epoll::Event {
            flags: epoll::EventFlags::empty(),
            data: epoll::EventData::new_u64(0),
        };
        ECHO_CONNECTIONS
    ];

    let start_cpu = thread_cpu();
    let start = Instant::now();
    for c in connections.iter().flatten() {
        send(c);
    }
    let mut open = ECHO_CONNECTIONS;
    while open > 0 {
        let ready = match epoll::wait(&epoll, &mut events[..], None) {
            Ok(ready) => ready,
            Err(Errno::INTR) => continue,
            Err(error) => panic!("epoll_wait: {error}"),
        };
        for event in &events[..ready] {
            let i = event.data.u64() as usize;
            // Closed connections have left the epoll set (their only descriptor is closed).
            let c = connections[i].as_mut().expect("an open connection");
            let n = match read(&c.stream, &mut c.reply[c.received..]) {
                Ok(0) => panic!("connection {i}: EOF in round {}", c.round),
                Ok(n) => n,
                Err(Errno::AGAIN | Errno::INTR) => continue,
                Err(error) => panic!("read: {error}"),
            };
            c.received += n;
            if c.received < ECHO_MESSAGE {
                continue; // the rest of the reply: a later event
            }
            assert_eq!(c.reply, c.message, "connection {i}, round {}", c.round);
            c.received = 0;
            c.round += 1;
            if c.round == round_trips {
                connections[i] = None; // close: the server reads EOF
                open -= 1;
            } else {
                echo_message(&mut c.message, c.round);
                send(c);
            }
        }
    }
    ClientRun::since(start, start_cpu)
}

/// The tokio echo client ([`EchoClient::Tokio`]): one `current_thread` runtime in this thread,
/// `ECHO_CONNECTIONS` connections each doing `round_trips` round trips of `ECHO_MESSAGE`
/// bytes. Timed from when every connection is open to when every round trip is done.
fn tokio_echo_client(port: u16, round_trips: usize) -> ClientRun {
    tokio_runtime().block_on(async move {
        let mut streams = Vec::with_capacity(ECHO_CONNECTIONS);
        for _ in 0..ECHO_CONNECTIONS {
            let stream = TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            streams.push(stream);
        }
        let start_cpu = thread_cpu();
        let start = Instant::now();
        let clients: Vec<_> = streams
            .into_iter()
            .enumerate()
            .map(|(i, mut stream)| {
                tokio::spawn(async move {
                    let mut message = [i as u8; ECHO_MESSAGE];
                    let mut reply = [0u8; ECHO_MESSAGE];
                    for round in 0..round_trips {
                        echo_message(&mut message, round);
                        stream.write_all(&message).await.expect("write");
                        stream.read_exact(&mut reply).await.expect("read");
                        assert_eq!(reply, message);
                    }
                })
            })
            .collect();
        for client in clients {
            client.await.expect("client");
        }
        ClientRun::since(start, start_cpu)
    })
}

/// One echo run against `server`, driven by the client [`EchoClient::from_env`] selects:
/// [`ECHO_CONNECTIONS`] connections × `round_trips` round trips each.
pub fn echo(server: Server, round_trips: usize) -> EchoRun {
    let (port, thread) = spawn_server(server, Job::Echo, ECHO_CONNECTIONS);
    let client = match EchoClient::from_env() {
        EchoClient::Epoll => epoll_echo_client(port, round_trips),
        EchoClient::Tokio => tokio_echo_client(port, round_trips),
    };
    let served = thread.join().expect("server thread");
    assert_eq!(served.bytes, ECHO_CONNECTIONS * round_trips * ECHO_MESSAGE);
    EchoRun {
        elapsed: client.elapsed,
        server_user: served.user,
        server_system: served.system,
        client_user: client.user,
        client_system: client.system,
    }
}

// ---- bulk -----------------------------------------------------------------------------------

/// One bulk transfer to `server`: bytes sent and wall time, from connect to the server's EOF
/// after it has read everything.
pub fn bulk(server: Server) -> (usize, Duration) {
    let (port, thread) = spawn_server(server, Job::Discard, 1);
    let start = Instant::now();
    let mut stream = StdTcpStream::connect(("127.0.0.1", port)).expect("connect");
    let chunk = vec![0x5au8; BULK_CHUNK];
    let mut sent = 0;
    while sent < BULK_BYTES && start.elapsed() < BULK_TIME_LIMIT {
        stream.write_all(&chunk).expect("write");
        sent += chunk.len();
    }
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("shutdown");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("read to EOF");
    let elapsed = start.elapsed();
    let served = thread.join().expect("server thread");
    assert_eq!(served.bytes, sent);
    (sent, elapsed)
}

// ---- idle connection memory -----------------------------------------------------------------

/// Raises the soft descriptor limit to the hard one; returns the new soft limit.
pub fn raise_fd_limit() -> u64 {
    // SAFETY: `getrlimit`/`setrlimit` only read and write the `rlimit` given.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        check(
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit),
            "getrlimit",
        );
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            check(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), "setrlimit");
        }
        limit.rlim_cur
    }
}

/// How many idle connections fit: the client (this process) and the server (a child) each
/// hold one descriptor per connection, plus some slack.
pub fn idle_connections() -> usize {
    let limit = raise_fd_limit() as usize;
    IDLE_CONNECTIONS.min(limit.saturating_sub(100))
}

/// The child side of `conn-memory`: serves on `server`'s runtime, prints the port, then — once
/// `connections` handlers have started and parked in a read — prints the RSS growth per
/// connection since before the first accept. Also reports every [`IDLE_WINDOW`] started
/// handlers ("started N"); the result line is "bytes X".
pub fn idle_connection_child(server: Server, connections: usize) {
    raise_fd_limit();
    let report = move |port: u16, base: i64| {
        println!("{port}");
        io::stdout().flush().expect("flush");
        base
    };
    let progress = |started: usize| {
        if started.is_multiple_of(IDLE_WINDOW) {
            println!("started {started}");
            io::stdout().flush().expect("flush");
        }
    };
    let per_connection = |base: i64| (rss_bytes() - base) as f64 / connections as f64;
    let bytes = match server {
        Server::Aio(reactor) => {
            let lp = reactor.event_loop();
            let bytes = lp
                .run_until_complete(async move {
                    let started = Rc::new(Cell::new(0usize));
                    let all_started = Rc::new(Event::new());
                    let (s, a) = (started.clone(), all_started.clone());
                    let server = aio::start_server(
                        move |reader, writer| {
                            let (started, all_started) = (s.clone(), a.clone());
                            async move {
                                started.set(started.get() + 1);
                                progress(started.get());
                                if started.get() == connections {
                                    all_started.set();
                                }
                                let _ = reader.read(ECHO_MESSAGE).await;
                                drop(writer);
                            }
                        },
                        "127.0.0.1",
                        0,
                    )
                    .await
                    .expect("start_server");
                    let base = report(server.port().expect("port"), rss_bytes());
                    all_started.wait().await;
                    // Every handler is now parked in its read: let the loop settle.
                    aio::sleep(0.05).await.expect("sleep");
                    per_connection(base)
                })
                .expect("run_until_complete");
            // Skip closing 10,000 connections: the process exits.
            std::mem::forget(lp);
            bytes
        }
        Server::Tokio => {
            let rt = tokio_runtime();
            let bytes = rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let base = report(listener.local_addr().expect("addr").port(), rss_bytes());
                for started in 1..=connections {
                    let (mut stream, _) = listener.accept().await.expect("accept");
                    stream.set_nodelay(true).expect("nodelay");
                    tokio::spawn(async move {
                        let mut buf = [0u8; ECHO_MESSAGE];
                        let _ = stream.read(&mut buf).await;
                    });
                    progress(started);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                per_connection(base)
            });
            std::mem::forget(rt);
            bytes
        }
        Server::Epoll | Server::Protocol | Server::Buffered | Server::Layered => {
            panic!("conn-memory runs on aio and tokio only")
        }
    };
    println!("bytes {bytes}");
}

/// The parent side of `conn-memory`: starts `compare --conn-memory <server> <n>`, opens `n`
/// connections to it, and returns the bytes per connection it reports.
pub fn idle_connection_bytes(server: Server, connections: usize) -> f64 {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .args(["--conn-memory", server.name(), &connections.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the conn-memory child");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut line = || lines.next().expect("a line").expect("read the child");
    let port: u16 = line().trim().parse().expect("the child prints its port");
    let mut started = 0;
    let mut streams = Vec::with_capacity(connections);
    for i in 0..connections {
        while i >= started + IDLE_WINDOW {
            let text = line();
            let count = text
                .strip_prefix("started ")
                .expect("the child reports progress");
            started = count.parse().expect("a count");
        }
        streams.push(StdTcpStream::connect(("127.0.0.1", port)).expect("connect"));
    }
    let bytes = loop {
        let text = line();
        match text.split_once(' ') {
            Some(("bytes", value)) => break value.parse().expect("the child prints a number"),
            Some(("started", _)) => continue,
            _ => panic!("unexpected line from the child: {text:?}"),
        }
    };
    drop(streams);
    let status = child.wait().expect("wait for the child");
    assert!(status.success(), "conn-memory child for {server:?} failed");
    bytes
}
