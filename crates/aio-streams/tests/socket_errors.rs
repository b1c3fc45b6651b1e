//! Failures: refused connections, a peer that resets mid-write, EOF from a closed peer, a
//! panicking handler.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::rc::Rc;
use std::time::{Duration, Instant};

use aio_streams::{
    StreamError, StreamReader, StreamWriter, open_connection, open_unix_connection, start_server,
};
use aio_task::{Error, to_thread, wait_for};

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[aio::test(timeout = 10)]
async fn connecting_to_a_closed_port_is_refused_quickly() -> Result<(), Error> {
    let port = closed_port();
    let start = Instant::now();
    match open_connection("127.0.0.1", port).await {
        Err(Error::Io(error)) => assert_eq!(error.kind(), ErrorKind::ConnectionRefused),
        other => panic!("expected ConnectionRefused, got {other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(5));
    Ok(())
}

#[aio::test(timeout = 10)]
async fn connecting_to_a_missing_unix_socket_fails() -> Result<(), Error> {
    let path = std::env::temp_dir().join(format!(
        "aio-socket-errors-missing-{}.sock",
        std::process::id()
    ));
    match open_unix_connection(&path).await {
        Err(Error::Io(error)) => assert_eq!(error.kind(), ErrorKind::NotFound),
        other => panic!("expected NotFound, got {other:?}"),
    }
    Ok(())
}

#[aio::test(timeout = 10)]
async fn a_bad_host_is_an_io_error() -> Result<(), Error> {
    assert!(matches!(
        open_connection("not a host name", 80).await,
        Err(Error::Io(_))
    ));
    assert!(matches!(
        start_server(|_, _| async {}, "256.0.0.1", 0).await,
        Err(Error::Io(_))
    ));
    Ok(())
}

#[aio::test(timeout = 10)]
async fn binding_a_used_port_fails() -> Result<(), Error> {
    let first = start_server(|_, _| async {}, "127.0.0.1", 0).await?;
    let port = first.port().unwrap();
    match start_server(|_, _| async {}, "127.0.0.1", port).await {
        Err(Error::Io(error)) => assert_eq!(error.kind(), ErrorKind::AddrInUse),
        other => panic!("expected AddrInUse, got {other:?}"),
    }
    Ok(())
}

#[aio::test(timeout = 10)]
async fn drain_reports_a_peer_that_resets_instead_of_hanging() -> Result<(), Error> {
    // A plain blocking peer on a thread: it reads one byte, then closes with unread data
    // in its receive buffer, which makes the kernel reset the connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).unwrap();
        drop(stream);
    });
    let (_reader, writer) = open_connection("127.0.0.1", port).await?;
    let chunk = vec![7u8; 256 * 1024];
    let error = loop {
        writer.write(&chunk);
        if let Err(error) = writer.drain().await {
            break error;
        }
        aio_scheduler::sleep(0.001).await?;
    };
    match &error {
        StreamError::Io { kind, .. } => assert!(
            matches!(kind, ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
            "unexpected error kind {kind:?}"
        ),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    // The connection is lost: further writes are dropped, drain keeps failing, and the
    // writer counts as closed.
    writer.write(b"more");
    assert_eq!(writer.get_write_buffer_size(), 0);
    assert_eq!(writer.drain().await, Err(error.clone()));
    assert!(writer.is_closing());
    assert_eq!(writer.wait_closed().await, Err(error));
    to_thread(move || peer.join().unwrap()).await?;
    Ok(())
}

#[aio::test(timeout = 10)]
async fn close_after_the_connection_was_lost_does_not_hang() -> Result<(), Error> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).unwrap();
    });
    let (_reader, writer) = open_connection("127.0.0.1", port).await?;
    let chunk = vec![7u8; 256 * 1024];
    // Keep a large backlog buffered while the peer resets.
    for _ in 0..64 {
        writer.write(&chunk);
    }
    writer.close();
    assert!(writer.wait_closed().await.is_err());
    to_thread(move || peer.join().unwrap()).await?;
    Ok(())
}

#[aio::test(timeout = 10)]
async fn reading_from_a_connection_the_peer_closed_gives_eof() -> Result<(), Error> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"bye").unwrap();
    });
    let (reader, _writer) = open_connection("127.0.0.1", port).await?;
    assert_eq!(reader.read_to_end().await?, b"bye");
    assert!(reader.at_eof());
    assert_eq!(reader.read(100).await?, b"");
    assert_eq!(reader.read(100).await?, b"");
    assert!(matches!(
        reader.readexactly(1).await,
        Err(StreamError::IncompleteRead { .. })
    ));
    to_thread(move || peer.join().unwrap()).await?;
    Ok(())
}

/// An echo server whose handler panics on a "panic" line, with a loop exception handler that
/// records what it is told.
async fn panicking_server() -> Result<(aio_streams::Server, Rc<RefCell<Vec<String>>>), Error> {
    let reports: Rc<RefCell<Vec<String>>> = Rc::default();
    let record = reports.clone();
    aio_scheduler::get_running_loop()?.set_exception_handler(move |_, ctx| {
        record.borrow_mut().push(format!(
            "{} | {}",
            ctx.message,
            ctx.error
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_default()
        ));
    });
    let server = start_server(
        |reader: StreamReader, writer: StreamWriter| async move {
            loop {
                let line = reader.readline().await.unwrap();
                if line.is_empty() {
                    break;
                }
                if line == b"panic\n" {
                    panic!("handler boom");
                }
                writer.write(&line);
                writer.drain().await.unwrap();
            }
            writer.close();
        },
        "127.0.0.1",
        0,
    )
    .await?;
    Ok((server, reports))
}

#[aio::test(timeout = 10)]
async fn a_panicking_handler_affects_only_its_connection() -> Result<(), Error> {
    let (server, reports) = panicking_server().await?;
    let port = server.port().unwrap();
    let (reader_b, writer_b) = open_connection("127.0.0.1", port).await?;
    writer_b.write(b"before\n");
    assert_eq!(reader_b.readline().await?, b"before\n");

    let (_reader_a, writer_a) = open_connection("127.0.0.1", port).await?;
    writer_a.write(b"panic\n");
    // The panic reaches the loop's exception handler.
    while reports.borrow().is_empty() {
        aio_scheduler::sleep(0.001).await?;
    }
    let report = reports.borrow()[0].clone();
    assert!(report.contains("handler boom"), "report: {report}");
    // asyncio's report of a client_connected_cb that raised, not a task's "never
    // retrieved" one.
    assert!(
        report.starts_with("Unhandled exception in client_connected_cb"),
        "report: {report}"
    );

    // The other connection and the server keep working.
    assert!(server.is_serving());
    writer_b.write(b"after\n");
    assert_eq!(reader_b.readline().await?, b"after\n");
    let (reader_c, writer_c) = open_connection("127.0.0.1", port).await?;
    writer_c.write(b"new\n");
    assert_eq!(reader_c.readline().await?, b"new\n");
    writer_b.write_eof();
    assert_eq!(reader_b.read_to_end().await?, b"");
    assert_eq!(reports.borrow().len(), 1);
    Ok(())
}

#[aio::test(timeout = 10)]
async fn a_panicking_handlers_connection_is_closed() -> Result<(), Error> {
    let (server, _reports) = panicking_server().await?;
    let (reader, writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    writer.write(b"panic\n");
    // asyncio (3.12+) closes the transport when client_connected_cb raises: the client
    // sees EOF (or a reset), and so does an aio client.
    let outcome = wait_for(reader.read_to_end(), 2.0).await;
    assert!(
        !matches!(outcome, Err(Error::Timeout)),
        "the client never saw the connection end"
    );
    Ok(())
}

#[aio::test(timeout = 10)]
async fn a_handler_error_does_not_stop_the_server() -> Result<(), Error> {
    // A handler that fails early (drops its streams without a word) and one that works.
    let server = start_server(
        |reader: StreamReader, writer: StreamWriter| async move {
            let line = reader.readline().await?;
            if line == b"quit\n" {
                writer.abort();
                return Err(Error::Value("quit"));
            }
            writer.write(&line);
            writer.close();
            Ok(())
        },
        "127.0.0.1",
        0,
    )
    .await?;
    let port = server.port().unwrap();
    let (reader, writer) = open_connection("127.0.0.1", port).await?;
    writer.write(b"quit\n");
    let _ = reader.read_to_end().await; // EOF or reset
    let (reader, writer) = open_connection("127.0.0.1", port).await?;
    writer.write(b"hello\n");
    assert_eq!(reader.read_to_end().await?, b"hello\n");
    Ok(())
}

/// Records what the loop's exception handler is told, as `message | error`.
fn record_reports() -> Result<Rc<RefCell<Vec<String>>>, Error> {
    let reports: Rc<RefCell<Vec<String>>> = Rc::default();
    let record = reports.clone();
    aio_scheduler::get_running_loop()?.set_exception_handler(move |_, ctx| {
        let error = ctx.error.as_ref().map(|e| e.to_string());
        record
            .borrow_mut()
            .push(format!("{} | {}", ctx.message, error.unwrap_or_default()));
    });
    Ok(reports)
}

/// Regression: the handler used to be called inside the accept loop, so a panic in its
/// synchronous part (before the returned future first runs) ended the accept loop: the server
/// said it was serving and never accepted again.
#[aio::test(timeout = 10)]
async fn a_handler_panicking_before_its_future_runs_affects_only_its_connection()
-> Result<(), Error> {
    let reports = record_reports()?;
    let served = Rc::new(std::cell::Cell::new(0));
    let count = served.clone();
    let server = start_server(
        move |reader: StreamReader, writer: StreamWriter| {
            count.set(count.get() + 1);
            if count.get() == 1 {
                panic!("handler setup boom");
            }
            async move {
                let line = reader.readline().await.unwrap();
                writer.write(&line);
                writer.close();
            }
        },
        "127.0.0.1",
        0,
    )
    .await?;
    let port = server.port().unwrap();
    let (reader, _writer) = open_connection("127.0.0.1", port).await?;
    // The panicking handler's connection is closed.
    let outcome = wait_for(reader.read_to_end(), 5.0).await;
    assert!(!matches!(outcome, Err(Error::Timeout)), "never closed");
    // And the server still accepts and serves.
    let (reader, writer) = open_connection("127.0.0.1", port).await?;
    writer.write(b"still here\n");
    assert_eq!(wait_for(reader.read_to_end(), 5.0).await??, b"still here\n");
    assert_eq!(served.get(), 2);
    assert!(server.is_serving());
    let reports = reports.borrow();
    assert!(
        reports.iter().any(|r| r.contains("handler setup boom")
            && r.starts_with("Unhandled exception in client_connected_cb")),
        "the panic is reported as asyncio reports a raising callback: {reports:?}"
    );
    Ok(())
}

/// asyncio logs "Unhandled exception in client_connected_cb" and closes the transport when
/// the callback raises; an aio handler returning `Err` is the same failure.
#[aio::test(timeout = 10)]
async fn a_handler_returning_err_is_reported_and_its_connection_closed() -> Result<(), Error> {
    let reports = record_reports()?;
    let server = start_server(
        |reader: StreamReader, _writer: StreamWriter| async move {
            let line = reader.readline().await?;
            if line == b"fail\n" {
                // Keeps its halves alive on purpose: the server must still close them.
                std::mem::forget(reader);
                return Err(Error::Value("the handler gave up"));
            }
            Ok(())
        },
        "127.0.0.1",
        0,
    )
    .await?;
    let (reader, writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    writer.write(b"fail\n");
    let outcome = wait_for(reader.read_to_end(), 5.0).await;
    assert!(!matches!(outcome, Err(Error::Timeout)), "never closed");
    while reports.borrow().is_empty() {
        aio_scheduler::sleep(0.001).await?;
    }
    let reports = reports.borrow();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0].starts_with("Unhandled exception in client_connected_cb")
            && reports[0].contains("the handler gave up"),
        "{reports:?}"
    );
    Ok(())
}

/// asyncio: `ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)")` — the error
/// names the address that failed.
#[aio::test(timeout = 10)]
async fn a_failed_connect_names_the_address() -> Result<(), Error> {
    let port = closed_port();
    match open_connection("127.0.0.1", port).await {
        Err(Error::Io(error)) => {
            assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
            let message = error.to_string();
            assert!(
                message.contains(&format!("Connect call failed 127.0.0.1:{port}")),
                "{message}"
            );
        }
        other => panic!("expected ConnectionRefused, got {other:?}"),
    }
    Ok(())
}

/// Regression: `open_unix_connection` connected with a blocking `connect` on a pool thread,
/// so a listener with a full backlog kept a thread (and `aio::run`'s exit) waiting. The
/// connect now runs on the loop; the default executor is never started.
#[aio::test(timeout = 10)]
async fn open_unix_connection_connects_on_the_loop() -> Result<(), Error> {
    let path = std::env::temp_dir().join(format!(
        "aio-socket-errors-unix-loop-{}.sock",
        std::process::id()
    ));
    let server = aio_streams::start_unix_server(
        |_reader: StreamReader, writer: StreamWriter| async move {
            writer.write(b"hi");
            writer.close();
        },
        &path,
    )
    .await?;
    let (reader, _writer) = open_unix_connection(&path).await?;
    assert_eq!(reader.read_to_end().await?, b"hi");
    let event_loop = aio_scheduler::get_running_loop()?;
    assert_eq!(
        aio_task::default_executor(&event_loop).workers(),
        0,
        "no thread was used"
    );
    server.close();
    Ok(())
}

/// A Unix listener that never accepts: once its backlog is full, a connect cannot complete,
/// and dropping the connecting future must abandon it at once.
#[aio::test(timeout = 10)]
async fn a_unix_connect_to_a_full_backlog_can_be_abandoned() -> Result<(), Error> {
    let path = std::env::temp_dir().join(format!(
        "aio-socket-errors-unix-full-{}.sock",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    // A backlog of 1 (listen again to lower std's), filled with connects nobody accepts.
    // SAFETY: `listener` is a bound, listening socket.
    assert_eq!(
        unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(&listener), 1) },
        0
    );
    let mut held = Vec::new();
    for _ in 0..4096 {
        let socket = rustix_nonblocking_unix_connect(&path);
        match socket {
            Some(socket) => held.push(socket),
            None => break, // EAGAIN: the backlog is full
        }
    }
    assert!(held.len() < 4096, "the backlog never filled");
    let start = Instant::now();
    let outcome = wait_for(open_unix_connection(&path), 0.2).await;
    assert!(matches!(outcome, Err(Error::Timeout)), "{outcome:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    drop(listener);
    let _ = std::fs::remove_file(&path);
    Ok(())
}

/// One non-blocking Unix connect: the socket, or `None` when the backlog is full (EAGAIN).
fn rustix_nonblocking_unix_connect(path: &std::path::Path) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: plain socket(2) call; the result is checked and owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    assert!(fd >= 0);
    // SAFETY: `fd` is a fresh socket that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: a zeroed `sockaddr_un` is valid; the path is copied within its bounds.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    assert!(bytes.len() < addr.sun_path.len());
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `addr` is a valid `sockaddr_un` of the size passed.
    let rc = unsafe {
        libc::connect(
            fd,
            (&raw const addr).cast(),
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        return Some(socket);
    }
    let error = std::io::Error::last_os_error();
    assert_eq!(error.raw_os_error(), Some(libc::EAGAIN), "{error}");
    None
}
