//! Protocols and transports (asyncio's `create_server` / `create_connection` layer): callback
//! order, echo over TCP and Unix, half-open connections, flow control, `BufferedProtocol`,
//! reading paused, close and abort, panicking callbacks, misuse, adopted sockets, pipes, and a
//! Python asyncio client.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aio_streams::{
    AnyProtocol, Buffered, BufferedProtocol, Protocol, Server, StreamReader, StreamWriter,
    Transport, connect_accepted_socket, connect_read_pipe_protocol, connect_write_pipe_protocol,
    create_connection, create_server, create_unix_connection, create_unix_server, open_connection,
    open_unix_connection,
};
use aio_task::Error;

type Log = Rc<RefCell<Vec<String>>>;

fn unix_path(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("aio-proto-{}-{name}-{n}.sock", std::process::id()))
}

/// Waits (on the loop) until `done()` holds; fails the test after 20 s.
async fn until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        aio_scheduler::sleep(0.001).await.unwrap();
    }
}

/// Records the exception handler's messages.
fn capture_exceptions() -> Log {
    let seen: Log = Rc::default();
    let s = seen.clone();
    aio_scheduler::get_running_loop()
        .unwrap()
        .set_exception_handler(move |_, ctx| s.borrow_mut().push(ctx.to_string()));
    seen
}

/// What a [`Recorder`] does with the data it receives.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Echo,
    Collect,
}

/// A protocol that logs every callback and echoes (or collects) what it receives.
struct Recorder {
    log: Log,
    data: Rc<RefCell<Vec<u8>>>,
    transport: Rc<RefCell<Option<Transport>>>,
    mode: Mode,
    keep_open: bool,
}

impl Recorder {
    fn new(log: &Log, mode: Mode) -> Recorder {
        Recorder {
            log: log.clone(),
            data: Rc::default(),
            transport: Rc::default(),
            mode,
            keep_open: false,
        }
    }
}

impl Protocol for Recorder {
    fn connection_made(&mut self, transport: &Transport) {
        self.log.borrow_mut().push("made".into());
        *self.transport.borrow_mut() = Some(transport.clone());
    }
    fn data_received(&mut self, data: &[u8]) {
        assert!(!data.is_empty());
        if !matches!(self.log.borrow().last().map(String::as_str), Some("data")) {
            self.log.borrow_mut().push("data".into());
        }
        match self.mode {
            Mode::Echo => self.transport.borrow().as_ref().unwrap().write(data),
            Mode::Collect => self.data.borrow_mut().extend_from_slice(data),
        }
    }
    fn eof_received(&mut self) -> bool {
        self.log.borrow_mut().push("eof".into());
        self.keep_open
    }
    fn connection_lost(&mut self, error: Option<io::Error>) {
        let entry = match error {
            None => "lost".to_owned(),
            Some(e) => format!("lost: {e}"),
        };
        self.log.borrow_mut().push(entry);
        // Drop our handle: the transport's last callback.
        self.transport.borrow_mut().take();
    }
    fn pause_writing(&mut self) {
        self.log.borrow_mut().push("pause".into());
    }
    fn resume_writing(&mut self) {
        self.log.borrow_mut().push("resume".into());
    }
}

/// A protocol server on 127.0.0.1 (port 0) running `factory`'s protocols, and a streams
/// client connected to it. Keep the server: dropping it closes it.
async fn serve_and_connect<F, P>(factory: F) -> Result<(Server, StreamReader, StreamWriter), Error>
where
    F: Fn() -> P + 'static,
    P: AnyProtocol,
{
    let server = create_server(factory, "127.0.0.1", 0).await?;
    let (reader, writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    Ok((server, reader, writer))
}

fn entries(log: &Log) -> Vec<String> {
    log.borrow().clone()
}

fn lost(log: &Log) -> bool {
    log.borrow().iter().any(|e| e.starts_with("lost"))
}

/// Order: made, data, eof, lost (once), on the server side of a TCP echo; the client reads
/// back exactly what it sent, and the server's `eof_received` returning false closes it.
#[test]
fn echo_over_tcp_in_asyncio_callback_order() {
    aio_task::run(async {
        let log: Log = Rc::default();
        let l = log.clone();
        let (server, reader, writer) =
            serve_and_connect(move || Recorder::new(&l, Mode::Echo)).await?;
        let message: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        writer.write(&message);
        writer.write_eof();
        let echoed = reader.read_to_end().await?;
        assert_eq!(echoed, message);
        until("connection_lost", || lost(&log)).await;
        assert_eq!(entries(&log), ["made", "data", "eof", "lost"]);
        // The server no longer counts it.
        server.close();
        aio_task::wait_for(server.wait_closed(), 10.0).await?;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// A protocol client over Unix sockets against a protocol server; `create_unix_connection`
/// returns after `connection_made`, and `with_protocol` reaches the client's state.
#[test]
fn echo_over_unix_between_two_protocols() {
    let path = unix_path("echo");
    aio_task::run(async move {
        let server_log: Log = Rc::default();
        let l = server_log.clone();
        let server = create_unix_server(move || Recorder::new(&l, Mode::Echo), &path).await?;
        let client_log: Log = Rc::default();
        let c = client_log.clone();
        let client =
            create_unix_connection(move || Recorder::new(&c, Mode::Collect), &path).await?;
        assert_eq!(entries(&client_log), ["made"]);
        client.write(b"over ");
        client.write(b"unix");
        until("the echo", || {
            client.with_protocol(|r: &mut Recorder| r.data.borrow().len()) == Some(9)
        })
        .await;
        let data = client.with_protocol(|r: &mut Recorder| r.data.borrow().clone());
        assert_eq!(data.unwrap(), b"over unix");
        client.close();
        assert!(client.is_closing());
        until("both ends lost", || lost(&client_log) && lost(&server_log)).await;
        assert_eq!(entries(&client_log), ["made", "data", "lost"]);
        assert_eq!(entries(&server_log), ["made", "data", "eof", "lost"]);
        // After connection_lost the transport has dropped its protocol.
        assert!(client.with_protocol(|_: &mut Recorder| ()).is_none());
        server.close();
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// `eof_received` returning true keeps the connection half-open: the server still writes
/// after the client's EOF, and closes when it chooses.
#[test]
fn eof_received_true_keeps_the_server_writing() {
    struct Late(Option<Transport>, Log);
    impl Protocol for Late {
        fn connection_made(&mut self, transport: &Transport) {
            self.0 = Some(transport.clone());
        }
        fn data_received(&mut self, _: &[u8]) {}
        fn eof_received(&mut self) -> bool {
            let transport = self.0.as_ref().unwrap();
            transport.write(b"after your eof");
            transport.close();
            true
        }
        fn connection_lost(&mut self, error: Option<io::Error>) {
            assert!(error.is_none());
            self.1.borrow_mut().push("lost".into());
            self.0 = None;
        }
    }
    aio_task::run(async {
        let log: Log = Rc::default();
        let l = log.clone();
        let (_server, reader, writer) = serve_and_connect(move || Late(None, l.clone())).await?;
        writer.write(b"hello");
        writer.write_eof();
        assert_eq!(reader.read_to_end().await?, b"after your eof");
        until("lost", || lost(&log)).await;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// The other way round: the transport's `write_eof` ends its sending direction, and it still
/// receives data; the client's EOF then closes it (default `eof_received`).
#[test]
fn write_eof_keeps_the_transport_reading() {
    aio_task::run(async {
        let log: Log = Rc::default();
        let l = log.clone();
        let transports: Rc<RefCell<Vec<Transport>>> = Rc::default();
        let t = transports.clone();
        let (_server, reader, writer) = serve_and_connect(move || {
            let r = Recorder::new(&l, Mode::Collect);
            let slot = r.transport.clone();
            let t = t.clone();
            // Keep a handle of our own too, to look at the collected data afterwards.
            aio_scheduler::get_running_loop()
                .unwrap()
                .call_soon(move || {
                    if let Some(tr) = slot.borrow().clone() {
                        t.borrow_mut().push(tr);
                    }
                })
                .unwrap();
            r
        })
        .await?;
        until("accepted", || !transports.borrow().is_empty()).await;
        let transport = transports.borrow()[0].clone();
        assert!(transport.can_write_eof());
        transport.write(b"bye");
        transport.write_eof();
        assert_eq!(reader.read_to_end().await?, b"bye");
        assert!(!transport.is_closing());
        writer.write(b"still here");
        writer.write_eof();
        until("lost", || lost(&log)).await;
        assert_eq!(entries(&log), ["made", "data", "eof", "lost"]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Flow control: a write far above the high-water mark to a peer that does not read pauses
/// the protocol (delivered when `connection_made` returns); a slow reader drains it and the
/// protocol resumes, once, with every byte delivered in order.
#[test]
fn flow_control_pauses_and_resumes_with_a_slow_reader() {
    const TOTAL: usize = 32 << 20;
    struct Big(Log, Rc<Cell<usize>>);
    impl Protocol for Big {
        fn connection_made(&mut self, transport: &Transport) {
            let data: Vec<u8> = (0..TOTAL).map(|i| (i % 253) as u8).collect();
            transport.write(&data);
            self.1.set(transport.get_write_buffer_size());
            // Delivered after this callback returns.
            assert!(self.0.borrow().is_empty());
            transport.close();
        }
        fn data_received(&mut self, _: &[u8]) {}
        fn pause_writing(&mut self) {
            self.0.borrow_mut().push("pause".into());
        }
        fn resume_writing(&mut self) {
            self.0.borrow_mut().push("resume".into());
        }
        fn connection_lost(&mut self, error: Option<io::Error>) {
            assert!(error.is_none(), "{error:?}");
            self.0.borrow_mut().push("lost".into());
        }
    }
    aio_task::run(async {
        let log: Log = Rc::default();
        let buffered = Rc::new(Cell::new(0));
        let (l, b) = (log.clone(), buffered.clone());
        let (_server, reader, _writer) =
            serve_and_connect(move || Big(l.clone(), b.clone())).await?;
        until("paused", || !log.borrow().is_empty()).await;
        assert_eq!(entries(&log), ["pause"]);
        assert!(buffered.get() > 64 * 1024, "{}", buffered.get());
        let mut got = 0;
        loop {
            let chunk = reader.read(64 * 1024).await?;
            if chunk.is_empty() {
                break;
            }
            for (i, byte) in chunk.iter().enumerate() {
                assert_eq!(*byte, ((got + i) % 253) as u8);
            }
            got += chunk.len();
            if got < TOTAL / 2 {
                aio_scheduler::sleep(0.0005).await?; // slow
            }
        }
        assert_eq!(got, TOTAL);
        until("lost", || lost(&log)).await;
        assert_eq!(entries(&log), ["pause", "resume", "lost"]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// `BufferedProtocol`: the reads land in the protocol's own small buffer (many
/// `buffer_updated` calls for one message); echoed back byte for byte.
#[test]
fn buffered_protocol_reads_into_its_own_buffer() {
    struct Small {
        buf: [u8; 7],
        transport: Option<Transport>,
        updates: Rc<Cell<usize>>,
        lost: Rc<Cell<bool>>,
    }
    impl BufferedProtocol for Small {
        fn connection_made(&mut self, transport: &Transport) {
            self.transport = Some(transport.clone());
        }
        fn get_buffer(&mut self, size_hint: usize) -> &mut [u8] {
            assert!(size_hint > 0);
            &mut self.buf
        }
        fn buffer_updated(&mut self, nbytes: usize) {
            assert!((1..=7).contains(&nbytes));
            self.updates.set(self.updates.get() + 1);
            self.transport.as_ref().unwrap().write(&self.buf[..nbytes]);
        }
        fn connection_lost(&mut self, _: Option<io::Error>) {
            self.lost.set(true);
            self.transport = None;
        }
    }
    aio_task::run(async {
        let updates = Rc::new(Cell::new(0));
        let gone = Rc::new(Cell::new(false));
        let (u, g) = (updates.clone(), gone.clone());
        let (_server, reader, writer) = serve_and_connect(move || {
            Buffered(Small {
                buf: [0; 7],
                transport: None,
                updates: u.clone(),
                lost: g.clone(),
            })
        })
        .await?;
        let message: Vec<u8> = (0..10_000u32).map(|i| (i % 241) as u8).collect();
        writer.write(&message);
        writer.write_eof();
        assert_eq!(reader.read_to_end().await?, message);
        assert!(updates.get() >= 10_000 / 7, "{}", updates.get());
        until("lost", || gone.get()).await;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// An empty buffer from `get_buffer` fails the connection and is reported.
#[test]
fn empty_get_buffer_fails_the_connection() {
    struct Empty(Rc<RefCell<Option<String>>>);
    impl BufferedProtocol for Empty {
        fn get_buffer(&mut self, _: usize) -> &mut [u8] {
            &mut []
        }
        fn buffer_updated(&mut self, _: usize) {
            unreachable!()
        }
        fn connection_lost(&mut self, error: Option<io::Error>) {
            *self.0.borrow_mut() = Some(error.map(|e| e.to_string()).unwrap_or_default());
        }
    }
    aio_task::run(async {
        let seen = capture_exceptions();
        let result = Rc::new(RefCell::new(None));
        let r = result.clone();
        let (_server, reader, writer) =
            serve_and_connect(move || Buffered(Empty(r.clone()))).await?;
        writer.write(b"x");
        let _ = reader.read_to_end().await;
        until("lost", || result.borrow().is_some()).await;
        assert!(result.borrow().as_ref().unwrap().contains("empty buffer"));
        assert!(
            seen.borrow().iter().any(|m| m.contains("get_buffer")),
            "{seen:?}"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// `pause_reading` stops `data_received` until `resume_reading`; both are harmless on a
/// closed transport.
#[test]
fn pause_and_resume_reading() {
    aio_task::run(async {
        let log: Log = Rc::default();
        let l = log.clone();
        let slot: Rc<RefCell<Option<Transport>>> = Rc::default();
        let s = slot.clone();
        let (_server, _reader, writer) = serve_and_connect(move || {
            let r = Recorder::new(&l, Mode::Collect);
            *s.borrow_mut() = None;
            let s = s.clone();
            let theirs = r.transport.clone();
            aio_scheduler::get_running_loop()
                .unwrap()
                .call_soon(move || *s.borrow_mut() = theirs.borrow().clone())
                .unwrap();
            r
        })
        .await?;
        until("accepted", || slot.borrow().is_some()).await;
        let transport = slot.borrow().clone().unwrap();
        assert!(transport.is_reading());
        transport.pause_reading();
        assert!(!transport.is_reading());
        writer.write(b"held back");
        writer.drain().await?;
        for _ in 0..20 {
            aio_scheduler::sleep(0.002).await?;
        }
        assert_eq!(entries(&log), ["made"]);
        transport.resume_reading();
        assert!(transport.is_reading());
        until("data", || entries(&log).len() == 2).await;
        assert_eq!(
            transport.with_protocol(|r: &mut Recorder| r.data.borrow().clone()),
            Some(b"held back".to_vec())
        );
        transport.close();
        transport.pause_reading();
        transport.resume_reading();
        assert!(!transport.is_reading());
        until("lost", || lost(&log)).await;
        transport.pause_reading();
        transport.resume_reading();
        assert_eq!(entries(&log), ["made", "data", "lost"]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// `close` sends everything buffered first; `abort` drops it. Both end with
/// `connection_lost(None)`.
#[test]
fn close_flushes_abort_drops() {
    const TOTAL: usize = 16 << 20;
    struct Send(bool, Log);
    impl Protocol for Send {
        fn connection_made(&mut self, transport: &Transport) {
            transport.write(&vec![9u8; TOTAL]);
            assert!(transport.get_write_buffer_size() > 0);
            if self.0 {
                transport.abort();
                assert_eq!(transport.get_write_buffer_size(), 0);
            } else {
                transport.close();
            }
            assert!(transport.is_closing());
        }
        fn data_received(&mut self, _: &[u8]) {}
        fn connection_lost(&mut self, error: Option<io::Error>) {
            assert!(error.is_none());
            self.1.borrow_mut().push("lost".into());
        }
    }
    for abort in [false, true] {
        aio_task::run(async move {
            let log: Log = Rc::default();
            let l = log.clone();
            let (_server, reader, _writer) =
                serve_and_connect(move || Send(abort, l.clone())).await?;
            let mut got = 0;
            loop {
                match reader.read(1 << 20).await {
                    Ok(chunk) if chunk.is_empty() => break,
                    Ok(chunk) => got += chunk.len(),
                    Err(_) => break, // an abort may reset the connection
                }
            }
            if abort {
                assert!(got < TOTAL, "abort sent everything");
            } else {
                assert_eq!(got, TOTAL);
            }
            until("lost", || lost(&log)).await;
            assert_eq!(entries(&log), ["lost"]);
            Ok::<_, Error>(())
        })
        .unwrap()
        .unwrap();
    }
}

/// A panic in `data_received` fails that connection only: reported to the exception
/// handler, `connection_lost` gets the error, the peer sees the connection end, and the
/// server serves the next connection.
#[test]
fn panicking_callback_closes_its_transport_not_the_loop() {
    struct Grumpy(Option<Transport>, Log);
    impl Protocol for Grumpy {
        fn connection_made(&mut self, transport: &Transport) {
            self.0 = Some(transport.clone());
        }
        fn data_received(&mut self, data: &[u8]) {
            if data.starts_with(b"boom") {
                panic!("bad input");
            }
            self.0.as_ref().unwrap().write(data);
        }
        fn connection_lost(&mut self, error: Option<io::Error>) {
            self.1.borrow_mut().push(match error {
                Some(e) => format!("lost: {e}"),
                None => "lost".into(),
            });
            self.0 = None;
        }
    }
    aio_task::run(async {
        let seen = capture_exceptions();
        let log: Log = Rc::default();
        let l = log.clone();
        let server = create_server(move || Grumpy(None, l.clone()), "127.0.0.1", 0).await?;
        let port = server.port().unwrap();
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        writer.write(b"boom");
        let end = reader.read_to_end().await;
        assert!(end.map_or(true, |data| data.is_empty()));
        until("lost", || lost(&log)).await;
        assert_eq!(
            entries(&log),
            ["lost: protocol.data_received() panicked: bad input"]
        );
        assert!(
            seen.borrow()
                .iter()
                .any(|m| m.starts_with("Fatal error: protocol.data_received() call failed.")),
            "{seen:?}"
        );
        // The server and the loop go on.
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        writer.write(b"fine\n");
        assert_eq!(reader.readline().await?, b"fine\n");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Writing to a closing transport is ignored with one warning; writing after `write_eof` is
/// reported once; the fifth write to a lost connection warns once, as asyncio's "socket.send()
/// raised exception.".
#[test]
fn writes_after_close_eof_and_loss_are_ignored_with_one_warning() {
    struct Misuse;
    impl Protocol for Misuse {
        fn connection_made(&mut self, transport: &Transport) {
            transport.write(b"first");
            transport.write_eof();
            transport.write(b"after eof");
            transport.write(b"after eof again");
            transport.close();
            for _ in 0..3 {
                transport.write(b"after close");
            }
        }
        fn data_received(&mut self, _: &[u8]) {}
    }
    struct Aborted;
    impl Protocol for Aborted {
        fn connection_made(&mut self, transport: &Transport) {
            transport.abort();
            for _ in 0..10 {
                transport.write(b"lost");
            }
        }
        fn data_received(&mut self, _: &[u8]) {}
    }
    aio_task::run(async {
        let seen = capture_exceptions();
        let (_server, reader, _w) = serve_and_connect(|| Misuse).await?;
        assert_eq!(reader.read_to_end().await?, b"first");
        let count = |text: &str| seen.borrow().iter().filter(|m| m.contains(text)).count();
        assert_eq!(count("Cannot call write() after write_eof()"), 1);
        // write_eof makes the later writes "after eof" too; the close's come after that.
        assert_eq!(seen.borrow().len(), 1, "{seen:?}");
        let (_server, reader, _w) = serve_and_connect(|| Aborted).await?;
        let _ = reader.read_to_end().await;
        assert_eq!(count("socket.send() raised exception."), 1, "{seen:?}");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// A write on a transport closing with data still buffered is ignored, with one warning.
#[test]
fn write_while_closing_warns_once() {
    struct Closing;
    impl Protocol for Closing {
        fn connection_made(&mut self, transport: &Transport) {
            transport.write(&vec![1u8; 8 << 20]);
            transport.close();
            transport.write(b"x");
            transport.write(b"y");
        }
        fn data_received(&mut self, _: &[u8]) {}
    }
    aio_task::run(async {
        let seen = capture_exceptions();
        let (_server, reader, _w) = serve_and_connect(|| Closing).await?;
        let data = reader.read_to_end().await?;
        assert_eq!(data.len(), 8 << 20);
        assert!(data.iter().all(|b| *b == 1));
        let warnings: Vec<_> = seen
            .borrow()
            .iter()
            .filter(|m| m.contains("closing transport"))
            .cloned()
            .collect();
        assert_eq!(warnings.len(), 1, "{seen:?}");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// `connect_accepted_socket` runs a protocol on a socket accepted by `std`.
#[test]
fn connect_accepted_socket_runs_a_protocol() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(b"accepted elsewhere").unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = Vec::new();
        stream.read_to_end(&mut back).unwrap();
        back
    });
    let (accepted, _) = listener.accept().unwrap();
    aio_task::run(async move {
        let log: Log = Rc::default();
        let transport = connect_accepted_socket(|| Recorder::new(&log, Mode::Echo), accepted)?;
        assert_eq!(entries(&log), ["made"]);
        assert!(transport.peername().is_some());
        until("lost", || lost(&log)).await;
        assert_eq!(entries(&log), ["made", "data", "eof", "lost"]);
        // A listening socket is refused.
        let listening = std::net::TcpListener::bind("127.0.0.1:0")?;
        assert!(connect_accepted_socket(|| Recorder::new(&log, Mode::Echo), listening).is_err());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(peer.join().unwrap(), b"accepted elsewhere");
}

/// A read pipe delivers data, then EOF and `connection_lost`; a write pipe's transport
/// sees its reader go away.
#[test]
fn pipes_with_protocols() {
    let (read_end, mut write_end) = io::pipe().unwrap();
    write_end.write_all(b"piped").unwrap();
    drop(write_end);
    let (reader_of_ours, our_write_end) = io::pipe().unwrap();
    aio_task::run(async move {
        let log: Log = Rc::default();
        let transport =
            connect_read_pipe_protocol(|| Recorder::new(&log, Mode::Collect), read_end)?;
        assert!(!transport.can_write_eof());
        assert!(transport.get_extra_info("pipe").unwrap().fd().is_some());
        assert!(transport.peername().is_none());
        until("lost", || lost(&log)).await;
        assert_eq!(entries(&log), ["made", "data", "eof", "lost"]);

        let wlog: Log = Rc::default();
        let writer =
            connect_write_pipe_protocol(|| Recorder::new(&wlog, Mode::Collect), our_write_end)?;
        writer.write(b"to the reader");
        let mut reader = reader_of_ours;
        let mut buf = [0u8; 13];
        reader.read_exact(&mut buf)?;
        assert_eq!(&buf, b"to the reader");
        drop(reader);
        until("the reader's end noticed", || lost(&wlog)).await;
        assert_eq!(entries(&wlog), ["made", "lost"]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// The server's `close_clients` closes protocol connections, and `wait_closed` waits for
/// them (the server counts transports as it counts streams).
#[test]
fn server_counts_and_closes_protocol_connections() {
    aio_task::run(async {
        let log: Log = Rc::default();
        let l = log.clone();
        let (server, reader, writer) =
            serve_and_connect(move || Recorder::new(&l, Mode::Echo)).await?;
        writer.write(b"x");
        assert_eq!(reader.read(1).await?, b"x");
        server.close();
        assert!(
            aio_task::wait_for(server.wait_closed(), 0.05)
                .await
                .is_err(),
            "a connection is still open"
        );
        server.close_clients();
        aio_task::wait_for(server.wait_closed(), 10.0).await?;
        assert_eq!(reader.read(10).await?, b"");
        assert_eq!(entries(&log), ["made", "data", "lost"]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// A Python asyncio client (streams) against the protocol echo server.
#[test]
fn python_asyncio_client_against_the_protocol_server() {
    aio_task::run(async {
        let log: Log = Rc::default();
        let l = log.clone();
        let server = create_server(move || Recorder::new(&l, Mode::Echo), "127.0.0.1", 0).await?;
        let port = server.port().unwrap();
        let script = format!(
            r#"
import asyncio
async def main():
    r, w = await asyncio.open_connection("127.0.0.1", {port})
    out = []
    for i in range(50):
        msg = f"line {{i}}\n".encode()
        w.write(msg)
        await w.drain()
        out.append(await r.readexactly(len(msg)))
    w.write_eof()
    rest = await r.read()
    w.close()
    await w.wait_closed()
    print(len(out), all(o == f"line {{i}}\n".encode() for i, o in enumerate(out)), repr(rest))
asyncio.run(main())
"#
        );
        let output = aio_task::to_thread(move || {
            std::process::Command::new("python3")
                .args(["-c", &script])
                .output()
        })
        .await??;
        assert!(output.status.success(), "{output:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "50 True b''"
        );
        until("lost", || lost(&log)).await;
        assert_eq!(entries(&log), ["made", "data", "eof", "lost"]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// `open_unix_connection` (streams) against a protocol server on Unix: the two layers share
/// the server type.
#[test]
fn streams_client_against_unix_protocol_server() {
    let path = unix_path("streams");
    aio_task::run(async move {
        let log: Log = Rc::default();
        let l = log.clone();
        let server = create_unix_server(move || Recorder::new(&l, Mode::Echo), &path).await?;
        let (reader, writer) = open_unix_connection(&path).await?;
        writer.write(b"line\n");
        assert_eq!(reader.readline().await?, b"line\n");
        writer.close();
        until("lost", || lost(&log)).await;
        server.close();
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// A client protocol's `create_connection` to a refused port fails without calling the
/// factory.
#[test]
fn create_connection_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    aio_task::run(async move {
        let called = Rc::new(Cell::new(false));
        let c = called.clone();
        let log: Log = Rc::default();
        let result = create_connection(
            move || {
                c.set(true);
                Recorder::new(&log, Mode::Echo)
            },
            "127.0.0.1",
            port,
        )
        .await;
        assert!(result.is_err());
        assert!(!called.get());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Re-entry: `close`, `close` again and `abort` inside `data_received` end the connection
/// with exactly one `connection_lost`, called after the callback returned (not inside
/// `close`), and no further `data_received`.
#[test]
fn close_and_abort_inside_a_callback_call_connection_lost_once_later() {
    struct Quitter(Option<Transport>, Log);
    impl Protocol for Quitter {
        fn connection_made(&mut self, transport: &Transport) {
            self.0 = Some(transport.clone());
        }
        fn data_received(&mut self, _: &[u8]) {
            self.1.borrow_mut().push("data".into());
            let transport = self.0.as_ref().unwrap();
            transport.close();
            transport.close();
            transport.abort();
            assert!(transport.is_closing());
            // Not yet: connection_lost comes after this callback.
            assert_eq!(self.1.borrow().len(), 1);
        }
        fn connection_lost(&mut self, error: Option<io::Error>) {
            assert!(error.is_none());
            self.1.borrow_mut().push("lost".into());
            self.0 = None;
        }
    }
    aio_task::run(async {
        let log: Log = Rc::default();
        let l = log.clone();
        let (_server, reader, writer) = serve_and_connect(move || Quitter(None, l.clone())).await?;
        writer.write(b"one");
        writer.drain().await?;
        let _ = reader.read_to_end().await;
        writer.write(b"two"); // to a closed connection: nothing more arrives
        until("lost", || lost(&log)).await;
        for _ in 0..10 {
            aio_scheduler::sleep(0.001).await?;
        }
        assert_eq!(entries(&log), ["data", "lost"]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// What a [`Probe`] saw in each callback: whether a task was current, and how many tasks
/// `all_tasks()` listed.
type Seen = Rc<RefCell<Vec<(&'static str, bool, usize)>>>;

/// Echoes, noting what asyncio's task functions say inside each callback.
struct Probe {
    seen: Seen,
    transport: Option<Transport>,
    echo: bool,
}

impl Probe {
    fn note(&self, callback: &'static str) {
        let current = aio_task::current_task().is_some();
        let tasks = aio_task::all_tasks().unwrap().len();
        self.seen.borrow_mut().push((callback, current, tasks));
    }
}

impl Protocol for Probe {
    fn connection_made(&mut self, transport: &Transport) {
        self.note("made");
        self.transport = Some(transport.clone());
    }
    fn data_received(&mut self, data: &[u8]) {
        self.note("data");
        if self.echo {
            self.transport.as_ref().unwrap().write(data);
        }
    }
}

/// As in asyncio: protocol callbacks run outside any task (`current_task()` is `None` in
/// them), and neither transports nor servers are tasks: `all_tasks()` lists only the main
/// task. aio numbers only the tasks the program makes, so the next one is `Task-2` (CPython
/// 3.11 also numbers a short-lived task per accepted connection).
#[test]
fn protocol_callbacks_run_outside_any_task_and_transports_are_not_tasks() {
    aio_task::run(async {
        let seen: Seen = Rc::default();
        let s = seen.clone();
        let server = create_server(
            move || Probe {
                seen: s.clone(),
                transport: None,
                echo: true,
            },
            "127.0.0.1",
            0,
        )
        .await?;
        let c = seen.clone();
        let client = create_connection(
            move || Probe {
                seen: c,
                transport: None,
                echo: false,
            },
            "127.0.0.1",
            server.port().unwrap(),
        )
        .await?;
        client.write(b"ping");
        until("the echo", || seen.borrow().len() >= 4).await;
        let seen = seen.borrow().clone();
        assert_eq!(seen.len(), 4, "{seen:?}");
        for (callback, current, tasks) in &seen {
            assert!(!current, "a task was current in {callback}: {seen:?}");
            assert_eq!(*tasks, 1, "all_tasks() in {callback}: {seen:?}");
        }
        let names: Vec<String> = aio_task::all_tasks()?
            .iter()
            .map(|task| task.get_name())
            .collect();
        assert_eq!(names, ["Task-1"]);
        let next = aio_task::create_task(async {})?;
        assert_eq!(next.get_name(), "Task-2");
        next.await?;
        client.close();
        server.close();
        aio_task::wait_for(server.wait_closed(), 10.0).await?;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

static MARK: aio_scheduler::context::ContextVar<&'static str> =
    aio_scheduler::context::ContextVar::new("mark");

/// Each callback, with the context variable's value it saw.
type ContextSeen = Rc<RefCell<Vec<(&'static str, Option<&'static str>)>>>;

/// Notes the context variable in each callback, and sets it in `connection_made`.
struct ContextProbe {
    seen: ContextSeen,
}

impl Protocol for ContextProbe {
    fn connection_made(&mut self, _: &Transport) {
        self.seen.borrow_mut().push(("made", MARK.get()));
        MARK.set("set in connection_made");
    }
    fn data_received(&mut self, _: &[u8]) {
        self.seen.borrow_mut().push(("data", MARK.get()));
    }
}

/// As asyncio runs `connection_made` (scheduled with `call_soon`, in a copy of the context):
/// a context variable it sets is seen neither by the task that awaited `create_connection`,
/// nor by the connection's later callbacks, nor by the next accepted connection.
#[test]
fn connection_made_sets_context_variables_in_its_own_copy() {
    aio_task::run(async {
        let server_seen = ContextSeen::default();
        let s = server_seen.clone();
        let server =
            create_server(move || ContextProbe { seen: s.clone() }, "127.0.0.1", 0).await?;
        let port = server.port().unwrap();
        let client_seen = ContextSeen::default();
        let c = client_seen.clone();
        let client = create_connection(move || ContextProbe { seen: c }, "127.0.0.1", port).await?;
        assert_eq!(MARK.get(), None, "leaked into the caller");
        let (_reader, writer) = open_connection("127.0.0.1", port).await?;
        writer.write(b"x");
        until("two accepted connections", || {
            server_seen.borrow().len() >= 3
        })
        .await;
        client.close();
        let server_seen = server_seen.borrow().clone();
        assert_eq!(
            server_seen,
            [("made", None), ("made", None), ("data", None)],
            "a value set in one connection's connection_made leaked"
        );
        assert_eq!(*client_seen.borrow(), [("made", None)]);
        server.close();
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Keeps its own transport (a cycle through the transport's protocol) and notes its drop and
/// whether `connection_lost` ran.
struct KeepsItsTransport {
    transport: Option<Transport>,
    lost: Rc<Cell<bool>>,
    dropped: Rc<Cell<bool>>,
}

impl Protocol for KeepsItsTransport {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }
    fn data_received(&mut self, _: &[u8]) {}
    fn connection_lost(&mut self, _: Option<io::Error>) {
        self.lost.set(true);
    }
}

impl Drop for KeepsItsTransport {
    fn drop(&mut self) {
        self.dropped.set(true);
    }
}

#[test]
fn closing_the_loop_with_a_connection_open_breaks_the_protocols_cycle_and_closes_the_socket() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let lost = Rc::new(Cell::new(false));
    let dropped = Rc::new(Cell::new(false));
    let lp = aio_scheduler::EventLoop::new().unwrap();
    let (l, d) = (lost.clone(), dropped.clone());
    let transport = lp
        .run_until_complete(async move {
            let protocol = KeepsItsTransport {
                transport: None,
                lost: l,
                dropped: d,
            };
            create_connection(move || protocol, "127.0.0.1", port).await
        })
        .unwrap()
        .unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    drop(transport);
    assert!(
        !dropped.get(),
        "the transport and its protocol live while the loop does"
    );
    lp.close().unwrap();
    // The loop let go of the transport: the protocol is dropped without `connection_lost`
    // (asyncio's transports are not called back after the loop closed), and the socket ends.
    assert!(dropped.get());
    assert!(!lost.get());
    peer.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 16];
    match peer.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("expected the connection to end, got {other:?}"),
    }
}

/// Notes its drop in a log, and (in `data_received`) hands its connection over to `next`.
struct Greeter {
    log: Log,
    transport: Option<Transport>,
    next: Option<Recorder>,
}

impl Protocol for Greeter {
    fn connection_made(&mut self, transport: &Transport) {
        self.log.borrow_mut().push("greeter made".into());
        self.transport = Some(transport.clone());
    }
    fn data_received(&mut self, data: &[u8]) {
        assert_eq!(data, b"upgrade\n");
        self.log.borrow_mut().push("greeter data".into());
        let transport = self.transport.as_ref().unwrap();
        transport.write(b"switching\n");
        let next = self.next.take().unwrap();
        *next.transport.borrow_mut() = Some(transport.clone());
        transport.set_protocol(next);
        // Still this protocol's callback: the switch waits for its return.
        assert!(transport.with_protocol(|_: &mut Recorder| ()).is_none());
        self.log.borrow_mut().push("greeter switched".into());
    }
    fn connection_lost(&mut self, _: Option<io::Error>) {
        self.log.borrow_mut().push("greeter lost".into());
    }
}

impl Drop for Greeter {
    fn drop(&mut self) {
        self.log.borrow_mut().push("greeter dropped".into());
    }
}

#[test]
fn set_protocol_inside_a_callback_switches_as_the_callback_returns() {
    aio_task::run(async {
        let log: Log = Rc::default();
        let l = log.clone();
        let (_server, reader, writer) = serve_and_connect(move || Greeter {
            log: l.clone(),
            transport: None,
            next: Some(Recorder::new(&l, Mode::Echo)),
        })
        .await?;
        writer.write(b"upgrade\n");
        assert_eq!(reader.readline().await?, b"switching\n");
        writer.write(b"ping\n");
        assert_eq!(reader.readline().await?, b"ping\n");
        writer.write_eof();
        assert_eq!(reader.read_to_end().await?, b"");
        until("lost", || lost(&log)).await;
        // The old protocol was dropped as its callback returned, and never called again;
        // the new one got the data, the EOF and `connection_lost`, and no `connection_made`.
        assert_eq!(
            entries(&log),
            [
                "greeter made",
                "greeter data",
                "greeter switched",
                "greeter dropped",
                "data",
                "eof",
                "lost"
            ]
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Collects what it receives into its own buffer; notes its drop.
struct Collector {
    buf: [u8; 64],
    data: Rc<RefCell<Vec<u8>>>,
    dropped: Rc<Cell<bool>>,
}

impl BufferedProtocol for Collector {
    fn get_buffer(&mut self, _: usize) -> &mut [u8] {
        &mut self.buf
    }
    fn buffer_updated(&mut self, nbytes: usize) {
        self.data
            .borrow_mut()
            .extend_from_slice(&self.buf[..nbytes]);
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.dropped.set(true);
    }
}

#[test]
fn set_protocol_from_outside_a_callback_switches_at_once_also_to_a_buffered_protocol() {
    aio_task::run(async {
        let server = aio_streams::start_server(
            |reader, writer| async move {
                // An echo of lines, until EOF.
                while let Ok(line) = reader.readline().await {
                    if line.is_empty() {
                        break;
                    }
                    writer.write(&line);
                }
            },
            "127.0.0.1",
            0,
        )
        .await?;
        let log: Log = Rc::default();
        let first = Recorder::new(&log, Mode::Collect);
        let first_data = first.data.clone();
        let transport =
            create_connection(move || first, "127.0.0.1", server.port().unwrap()).await?;
        transport.write(b"one\n");
        until("the first echo", || {
            first_data.borrow().as_slice() == b"one\n"
        })
        .await;

        let data = Rc::new(RefCell::new(Vec::new()));
        let dropped = Rc::new(Cell::new(false));
        transport.set_protocol(Buffered(Collector {
            buf: [0; 64],
            data: data.clone(),
            dropped: dropped.clone(),
        }));
        // At once: the old protocol is gone, the new one is the transport's.
        assert!(transport.with_protocol(|_: &mut Recorder| ()).is_none());
        assert_eq!(
            transport.with_protocol(|c: &mut Collector| c.buf.len()),
            Some(64)
        );
        transport.write(b"two\n");
        until("the second echo", || data.borrow().as_slice() == b"two\n").await;
        assert_eq!(first_data.borrow().as_slice(), b"one\n");

        // After `connection_lost`, a protocol set is dropped unused.
        transport.close();
        until("closed", || {
            transport.with_protocol(|_: &mut Collector| ()).is_none()
        })
        .await;
        assert!(dropped.get());
        let late = Rc::new(Cell::new(false));
        transport.set_protocol(Buffered(Collector {
            buf: [0; 64],
            data: data.clone(),
            dropped: late.clone(),
        }));
        assert!(late.get());
        assert!(transport.with_protocol(|_: &mut Collector| ()).is_none());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Holds a transport in a context variable's value; notes its drop.
struct Holder {
    _transport: Transport,
    dropped: Rc<Cell<bool>>,
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.dropped.set(true);
    }
}

thread_local! {
    static HELD: aio_scheduler::context::ContextVar<Rc<Holder>> =
        const { aio_scheduler::context::ContextVar::new("held") };
}

/// Sets [`HELD`] to a value holding its own transport, in `data_received`.
struct SetsContext {
    transport: Option<Transport>,
    dropped: Rc<Cell<bool>>,
    lost: Rc<Cell<bool>>,
}

impl Protocol for SetsContext {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }
    fn data_received(&mut self, _: &[u8]) {
        let holder = Rc::new(Holder {
            _transport: self.transport.clone().unwrap(),
            dropped: self.dropped.clone(),
        });
        let _token = HELD.with(|held| held.set(holder));
    }
    fn connection_lost(&mut self, _: Option<io::Error>) {
        self.lost.set(true);
        self.transport = None;
    }
}

#[test]
fn a_context_value_holding_the_transport_is_dropped_after_connection_lost() {
    aio_task::run(async {
        let dropped = Rc::new(Cell::new(false));
        let lost = Rc::new(Cell::new(false));
        let (d, l) = (dropped.clone(), lost.clone());
        let (_server, reader, writer) = serve_and_connect(move || SetsContext {
            transport: None,
            dropped: d.clone(),
            lost: l.clone(),
        })
        .await?;
        writer.write(b"x");
        writer.write_eof();
        assert_eq!(reader.read_to_end().await?, b"");
        until("connection_lost", || lost.get()).await;
        // The transport's context (a copy made when it started) went with its last turn,
        // and with it the cycle through the value.
        until("the context's value dropped", || dropped.get()).await;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// A protocol that notes its data, `connection_lost` and drop under a name, in a shared log
/// (and echoes, unless told not to).
struct Named {
    name: &'static str,
    log: Log,
    transport: Option<Transport>,
    /// Writes back what it receives.
    echo: bool,
}

impl Named {
    fn new(name: &'static str, log: &Log, transport: Option<Transport>) -> Named {
        Named {
            name,
            log: log.clone(),
            transport,
            echo: true,
        }
    }
}

impl Protocol for Named {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }
    fn data_received(&mut self, data: &[u8]) {
        let entry = format!("{} data", self.name);
        if self.log.borrow().last() != Some(&entry) {
            self.log.borrow_mut().push(entry);
        }
        if let (true, Some(transport)) = (self.echo, &self.transport) {
            transport.write(data);
        }
    }
    fn connection_lost(&mut self, _: Option<io::Error>) {
        self.log.borrow_mut().push(format!("{} lost", self.name));
        self.transport = None;
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        self.log.borrow_mut().push(format!("{} dropped", self.name));
    }
}

#[test]
fn a_protocol_set_inside_a_panicking_with_protocol_closure_is_installed_and_not_leaked() {
    aio_task::run(async {
        let log: Log = Rc::default();
        let l = log.clone();
        let (server, reader, writer) =
            serve_and_connect(move || Named::new("old", &l, None)).await?;
        let _ = capture_exceptions();
        // The client side's transport: a protocol connection to the echo of `Named`.
        writer.write(b"a");
        assert_eq!(reader.readexactly(1).await?, b"a");
        let client_log: Log = Rc::default();
        let cl = client_log.clone();
        let port = server.port().unwrap();
        let transport =
            create_connection(move || Named::new("first", &cl, None), "127.0.0.1", port).await?;
        let mut next = Named::new("second", &client_log, Some(transport.clone()));
        next.echo = false; // holds its transport (a cycle), does not answer
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            transport.with_protocol(|_: &mut Named| {
                transport.set_protocol(next);
                panic!("the closure failed after set_protocol");
            })
        }));
        assert!(panicked.is_err());
        // Installed all the same: the old protocol is gone, the new one holds the transport.
        assert_eq!(entries(&client_log), ["first dropped"]);
        transport.write(b"ping");
        until("the echo reaches the new protocol", || {
            entries(&client_log).contains(&"second data".to_owned())
        })
        .await;
        transport.close();
        until("the new protocol dropped", || {
            entries(&client_log).contains(&"second dropped".to_owned())
        })
        .await;
        assert_eq!(
            entries(&client_log),
            [
                "first dropped",
                "second data",
                "second lost",
                "second dropped"
            ]
        );
        drop(log);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// A [`Named`] behind the `BufferedProtocol` interface.
struct BufferedNamed {
    named: Named,
    buf: [u8; 64],
}

impl BufferedProtocol for BufferedNamed {
    fn get_buffer(&mut self, _: usize) -> &mut [u8] {
        &mut self.buf
    }
    fn buffer_updated(&mut self, nbytes: usize) {
        let data = self.buf[..nbytes].to_vec();
        self.named.data_received(&data);
    }
    fn connection_lost(&mut self, error: Option<io::Error>) {
        self.named.connection_lost(error);
    }
}

/// Switches to `next` in its first `data_received` (behind the `BufferedProtocol` interface
/// if `next_buffered`); then, as told, panics in that callback or in its own destructor.
struct Switcher {
    log: Log,
    transport: Option<Transport>,
    next: Option<Named>,
    next_buffered: bool,
    panic_in_callback: bool,
    panic_on_drop: bool,
}

impl Protocol for Switcher {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }
    fn data_received(&mut self, _: &[u8]) {
        let transport = self.transport.clone().unwrap();
        let mut next = self.next.take().unwrap();
        next.transport = Some(transport.clone());
        if self.next_buffered {
            transport.set_protocol(Buffered(BufferedNamed {
                named: next,
                buf: [0; 64],
            }));
        } else {
            transport.set_protocol(next);
        }
        transport.write(b"switched\n");
        if self.panic_in_callback {
            panic!("data_received failed after set_protocol");
        }
    }
    fn connection_lost(&mut self, _: Option<io::Error>) {
        self.log.borrow_mut().push("switcher lost".into());
    }
}

impl Drop for Switcher {
    fn drop(&mut self) {
        self.log.borrow_mut().push("switcher dropped".into());
        if self.panic_on_drop {
            panic!("the switcher failed in its destructor");
        }
    }
}

/// [`serve_and_connect`] with `Switcher`s whose next protocol is a `Named` "echo", all
/// logging to `log`.
async fn serve_switchers(
    log: &Log,
    next_buffered: bool,
    panic_in_callback: bool,
    panic_on_drop: bool,
) -> Result<(Server, StreamReader, StreamWriter), Error> {
    let l = log.clone();
    serve_and_connect(move || Switcher {
        log: l.clone(),
        transport: None,
        next: Some(Named::new("echo", &l, None)),
        next_buffered,
        panic_in_callback,
        panic_on_drop,
    })
    .await
}

#[test]
fn a_panic_in_the_replaced_protocols_destructor_is_reported_and_the_connection_goes_on() {
    aio_task::run(async {
        let reports = capture_exceptions();
        let log: Log = Rc::default();
        let (_server, reader, writer) = serve_switchers(&log, false, false, true).await?;
        writer.write(b"go");
        assert_eq!(reader.readline().await?, b"switched\n");
        writer.write(b"ping\n");
        assert_eq!(reader.readline().await?, b"ping\n");
        writer.write_eof();
        assert_eq!(reader.read_to_end().await?, b"");
        until("the echo protocol lost", || {
            lost(&log) || entries(&log).contains(&"echo lost".to_owned())
        })
        .await;
        assert_eq!(
            entries(&log),
            ["switcher dropped", "echo data", "echo lost", "echo dropped"]
        );
        let reports = reports.borrow();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert!(
            reports[0].contains("set_protocol") && reports[0].contains("destructor"),
            "{reports:?}"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_callback_that_panics_after_set_protocol_is_reported_by_its_name_and_the_new_protocol_gets_connection_lost()
 {
    aio_task::run(async {
        let reports = capture_exceptions();
        let log: Log = Rc::default();
        // A `BufferedProtocol` next: the report must still name the callback that failed
        // (`data_received`), not the new protocol's (`buffer_updated`).
        let (_server, reader, writer) = serve_switchers(&log, true, true, false).await?;
        writer.write(b"go");
        // The failed callback aborts the connection (what it wrote is dropped).
        let _ = reader.read_to_end().await;
        until("the new protocol dropped", || {
            entries(&log).contains(&"echo dropped".to_owned())
        })
        .await;
        assert_eq!(
            entries(&log),
            ["switcher dropped", "echo lost", "echo dropped"]
        );
        let reports = reports.borrow();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert!(
            reports[0].contains("protocol.data_received() call failed"),
            "{reports:?}"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Closes its transport when dropped (a "close on drop" guard); in `data_received` it
/// switches to `next` and then panics.
struct ClosesOnDrop {
    transport: Option<Transport>,
    next: Option<Recorder>,
}

impl Protocol for ClosesOnDrop {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }
    fn data_received(&mut self, _: &[u8]) {
        let transport = self.transport.clone().unwrap();
        transport.set_protocol(self.next.take().unwrap());
        panic!("data_received failed after set_protocol");
    }
}

impl Drop for ClosesOnDrop {
    fn drop(&mut self) {
        if let Some(transport) = &self.transport {
            transport.close();
        }
    }
}

#[test]
fn the_new_protocol_gets_the_failed_callbacks_error_even_if_the_old_one_closes_on_drop() {
    aio_task::run(async {
        let _reports = capture_exceptions();
        let log: Log = Rc::default();
        let l = log.clone();
        let (_server, reader, writer) = serve_and_connect(move || ClosesOnDrop {
            transport: None,
            next: Some(Recorder::new(&l, Mode::Collect)),
        })
        .await?;
        writer.write(b"go");
        let _ = reader.read_to_end().await;
        until("lost", || lost(&log)).await;
        let entries = entries(&log);
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert!(
            entries[0].starts_with("lost: ") && entries[0].contains("panicked"),
            "{entries:?}"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_prelude_dropped_after_setting_a_protocol_that_holds_the_transport_closes_the_connection() {
    struct Quiet;
    impl Protocol for Quiet {
        fn data_received(&mut self, _: &[u8]) {}
    }
    let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let lost = Rc::new(Cell::new(false));
    let dropped = Rc::new(Cell::new(false));
    let (l, d) = (lost.clone(), dropped.clone());
    aio_task::run(async move {
        let connect = aio_streams::connect_accepted_socket_with_prelude(
            || Quiet,
            ours,
            move |transport: Transport| async move {
                transport.set_protocol(KeepsItsTransport {
                    transport: Some(transport.clone()),
                    lost: l,
                    dropped: d,
                });
                std::future::pending::<io::Result<()>>().await
            },
        );
        // The prelude never finishes: the timeout drops it.
        assert!(aio_task::wait_for(connect, 0.05).await.is_err());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    // Discarded: the protocol it set was dropped, never called, and the socket ended.
    assert!(dropped.get());
    assert!(!lost.get());
    theirs
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 8];
    match theirs.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("expected the connection to end, got {other:?}"),
    }
}
