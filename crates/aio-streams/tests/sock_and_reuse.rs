//! Sockets made outside (asyncio's `sock=`) for servers and connections, and the server
//! options `reuse_port` / `reuse_address`.
//!
//! Every test runs its loop on a thread of its own and waits for it with a deadline, so a
//! socket left blocking (which would block the loop, and its timers with it) fails the test
//! instead of hanging it.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aio_streams::{
    StreamReader, StreamWriter, open_connection, open_connection_sock, open_unix_connection,
    open_unix_connection_sock, start_server, start_server_sock, start_unix_server,
    start_unix_server_sock,
};
use aio_task::{Error, run, wait_for};

/// Runs `test` in a loop on its own thread; fails if it fails or takes over 20 s.
fn bounded<F, Fut>(test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), Error>> + 'static,
{
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = run(async move { test().await });
        let _ = done_tx.send(outcome.map_err(|e| e.to_string()));
    });
    match done_rx.recv_timeout(Duration::from_secs(20)) {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(error))) => panic!("test failed: {error}"),
        Ok(Err(error)) => panic!("loop failed: {error}"),
        Err(_) => panic!("the test did not finish in 20 s (a blocking socket?)"),
    }
}

/// Echoes one line.
async fn line_echo(
    reader: StreamReader,
    writer: StreamWriter,
) -> Result<(), aio_streams::StreamError> {
    let line = reader.readline().await?;
    writer.write(&line);
    Ok(())
}

/// The error an awaited setup ended with, as an I/O error.
fn io_error<T: std::fmt::Debug>(result: Result<T, Error>) -> Arc<io::Error> {
    match result {
        Err(Error::Io(error)) => error,
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

fn unix_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("aio-sock-{name}-{}.sock", std::process::id()))
}

/// A TCP socket bound to a free loopback port but not listening, as an `OwnedFd`.
fn bound_tcp_socket() -> OwnedFd {
    use rustix::net::{AddressFamily, SocketType};
    let socket = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    rustix::net::bind(&socket, &addr).unwrap();
    socket
}

/// A `std` listener (blocking, backlog 128) serves: aio made it non-blocking, so after the
/// connections it accepted the loop still runs its timers.
#[test]
fn a_std_tcp_listener_serves_and_is_made_non_blocking() {
    bounded(|| async {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = start_server_sock(line_echo, listener).limit(16).await?;
        assert_eq!(server.sockets(), [aio_streams::Address::Inet(addr)]);
        for message in [&b"one\n"[..], b"two\n"] {
            let (reader, writer) = open_connection("127.0.0.1", addr.port()).await?;
            writer.write(message);
            assert_eq!(reader.readline().await?, message);
        }
        // The accept loop is waiting on the socket again: with a blocking socket it would
        // block the thread in accept() and this sleep would never end.
        aio_scheduler::sleep(0.02).await?;
        server.close();
        server.wait_closed().await;
        Ok(())
    });
}

/// A socket bound but not listening is put into listen mode (asyncio calls `listen` on a
/// `sock=` socket), with the server's backlog.
#[test]
fn a_bound_socket_that_does_not_listen_yet_is_put_into_listen_mode() {
    bounded(|| async {
        let socket = bound_tcp_socket();
        assert!(!rustix::net::sockopt::socket_acceptconn(&socket).unwrap());
        let server = start_server_sock(line_echo, socket).backlog(4).await?;
        let port = server.port().unwrap();
        assert_ne!(port, 0);
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        writer.write(b"listening\n");
        assert_eq!(reader.readline().await?, b"listening\n");
        Ok(())
    });
}

/// A `UnixListener` serves; closing the server leaves its file (the caller's) in place.
#[test]
fn a_std_unix_listener_serves_and_its_file_is_left_to_the_caller() {
    let path = unix_path("listener");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let served = path.clone();
    bounded(move || async move {
        let server = start_unix_server_sock(line_echo, listener).await?;
        assert_eq!(
            server.sockets(),
            [aio_streams::Address::Unix(served.display().to_string())]
        );
        for message in [&b"one\n"[..], b"two\n"] {
            let (reader, writer) = open_unix_connection(&served).await?;
            writer.write(message);
            assert_eq!(reader.readline().await?, message);
        }
        aio_scheduler::sleep(0.02).await?;
        server.close();
        Ok(())
    });
    assert!(path.exists(), "the caller's socket file was removed");
    std::fs::remove_file(&path).unwrap();
}

/// A connected `std` stream (blocking) becomes a reader and writer; it was made
/// non-blocking, so a read with nothing to read waits on the loop (here, times out).
#[test]
fn a_std_tcp_stream_opens_streams_and_is_made_non_blocking() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    let echo = std::thread::spawn(move || {
        let mut line = [0u8; 6];
        peer.read_exact(&mut line).unwrap();
        peer.write_all(&line).unwrap();
        peer
    });
    bounded(move || async move {
        let (reader, writer) = open_connection_sock(stream).limit(32).await?;
        assert_eq!(reader.limit(), 32);
        assert!(writer.peername().is_some());
        writer.write(b"hello\n");
        assert_eq!(reader.readline().await?, b"hello\n");
        let nothing = wait_for(reader.read(10), 0.05).await;
        assert!(matches!(nothing, Err(Error::Timeout)), "{nothing:?}");
        Ok(())
    });
    drop(echo.join().unwrap());
}

/// One end of a `UnixStream::pair` becomes a reader and writer.
#[test]
fn a_unix_stream_pair_end_opens_streams() {
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let echo = std::thread::spawn(move || {
        let mut line = [0u8; 5];
        theirs.read_exact(&mut line).unwrap();
        theirs.write_all(&line).unwrap();
        theirs
    });
    bounded(move || async move {
        let (reader, writer) = open_unix_connection_sock(ours).await?;
        writer.write(b"pair\n");
        assert_eq!(reader.readline().await?, b"pair\n");
        let nothing = wait_for(reader.read(10), 0.05).await;
        assert!(matches!(nothing, Err(Error::Timeout)), "{nothing:?}");
        Ok(())
    });
    drop(echo.join().unwrap());
}

/// Bad `sock=` arguments for a server: each a clear `InvalidInput` error at once.
#[test]
fn a_server_refuses_sockets_that_cannot_listen_or_have_the_wrong_family() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let connected = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let path = unix_path("wrong-family");
    let _ = std::fs::remove_file(&path);
    let unix_listener = UnixListener::bind(&path).unwrap();
    let tcp_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let file = std::fs::File::open("/dev/null").unwrap();
    bounded(move || async move {
        let checks: [(OwnedFd, bool, &str); 5] = [
            (connected.into(), false, "sock is a connected socket"),
            (
                unix_listener.into(),
                false,
                "a TCP socket (AF_INET or AF_INET6) was expected, got AF_UNIX",
            ),
            (
                tcp_listener.into(),
                true,
                "a Unix socket (AF_UNIX) was expected, got AF_INET",
            ),
            (udp.into(), false, "A Stream Socket was expected"),
            (file.into(), false, "sock is not a socket"),
        ];
        for (sock, unix, expected) in checks {
            let result = if unix {
                start_unix_server_sock(line_echo, sock).await
            } else {
                start_server_sock(line_echo, sock).await
            };
            let error = io_error(result);
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{error}");
            assert!(error.to_string().contains(expected), "{error}");
        }
        Ok(())
    });
    drop(listener);
    std::fs::remove_file(&path).unwrap();
}

/// Bad `sock=` arguments for a connection: listening, unconnected, wrong family.
#[test]
fn a_connection_refuses_sockets_that_are_not_connected_or_have_the_wrong_family() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (pair_end, _other) = UnixStream::pair().unwrap();
    let tcp_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let connected = TcpStream::connect(tcp_listener.local_addr().unwrap()).unwrap();
    bounded(move || async move {
        let checks: [(OwnedFd, bool, &str); 5] = [
            (listener.into(), false, "sock is a listening socket"),
            (bound_tcp_socket(), false, "sock is not connected"),
            (
                pair_end.into(),
                false,
                "a TCP socket (AF_INET or AF_INET6) was expected, got AF_UNIX",
            ),
            (
                connected.into(),
                true,
                "a Unix socket (AF_UNIX) was expected, got AF_INET",
            ),
            (
                std::fs::File::open("/dev/null")?.into(),
                false,
                "sock is not a socket",
            ),
        ];
        for (sock, unix, expected) in checks {
            let result = if unix {
                open_unix_connection_sock(sock).await
            } else {
                open_connection_sock(sock).await
            };
            let error = io_error(result);
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{error}");
            assert!(error.to_string().contains(expected), "{error}");
        }
        Ok(())
    });
}

/// The reuse options are for the TCP sockets `start_server` binds: a Unix server or a
/// `sock=` server refuses them.
#[test]
fn reuse_options_are_refused_where_nothing_is_bound_by_tcp() {
    let path = unix_path("reuse");
    let _ = std::fs::remove_file(&path);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let listener2 = TcpListener::bind("127.0.0.1:0").unwrap();
    bounded(move || async move {
        let unix = start_unix_server(line_echo, &path).reuse_port(true).await;
        assert!(matches!(unix, Err(Error::Value(_))), "{unix:?}");
        assert!(!path.exists(), "a refused server bound its path");
        let sock = start_server_sock(line_echo, listener)
            .reuse_address(true)
            .await;
        assert!(matches!(sock, Err(Error::Value(_))), "{sock:?}");
        let sock = start_server_sock(line_echo, listener2)
            .reuse_port(false)
            .await;
        assert!(matches!(sock, Err(Error::Value(_))), "{sock:?}");
        Ok(())
    });
}

/// Without `reuse_port` a second server on a port in use fails, naming the address.
#[test]
fn a_second_server_on_a_port_in_use_fails_with_address_in_use() {
    bounded(|| async {
        let first = start_server(line_echo, "127.0.0.1", 0).await?;
        let port = first.port().unwrap();
        let error = io_error(start_server(line_echo, "127.0.0.1", port).await);
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse, "{error}");
        let message = error.to_string();
        assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
        assert!(message.contains("in use"), "{message}");
        // Both must ask: one with reuse_port beside one without is refused too.
        let error = io_error(
            start_server(line_echo, "127.0.0.1", port)
                .reuse_port(true)
                .await,
        );
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse, "{error}");
        first.close();
        Ok(())
    });
}

/// Two loops on two threads serve one port with `reuse_port`, and both accept: a client
/// connects until each server has answered at least once (the kernel spreads connections
/// by a hash of their addresses), within a cap on attempts and time.
#[test]
fn two_loops_on_two_threads_share_a_port_with_reuse_port() {
    let stop = Arc::new(AtomicBool::new(false));
    let (port_tx, port_rx) = mpsc::channel::<u16>();
    let mut servers = Vec::new();
    for (name, port_from) in [(b'A', None), (b'B', Some(()))] {
        let stop = stop.clone();
        let port_tx = port_tx.clone();
        // The second server binds the port the first one got.
        let (first_port_tx, first_port_rx) = mpsc::channel::<u16>();
        servers.push((
            first_port_tx,
            std::thread::spawn(move || {
                let port = match port_from {
                    None => 0,
                    Some(()) => first_port_rx.recv().unwrap(),
                };
                run(async move {
                    let server = start_server(
                        move |_reader, writer: StreamWriter| async move {
                            writer.write(&[name]);
                        },
                        "127.0.0.1",
                        port,
                    )
                    .reuse_port(true)
                    .await?;
                    port_tx.send(server.port().unwrap()).unwrap();
                    let deadline = Instant::now() + Duration::from_secs(20);
                    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                        aio_scheduler::sleep(0.005).await?;
                    }
                    server.close();
                    Ok::<_, Error>(())
                })
            }),
        ));
    }
    let port = port_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    servers[1].0.send(port).unwrap();
    assert_eq!(port_rx.recv_timeout(Duration::from_secs(10)).unwrap(), port);

    let seen = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut attempts = 0;
    while seen.iter().any(|n| n.load(Ordering::SeqCst) == 0) {
        assert!(
            attempts < 1000 && Instant::now() < deadline,
            "after {attempts} connections one server never accepted: {seen:?}"
        );
        attempts += 1;
        let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut name = [0u8; 1];
        client.read_exact(&mut name).unwrap();
        seen[usize::from(name[0] - b'A')].fetch_add(1, Ordering::SeqCst);
    }
    stop.store(true, Ordering::SeqCst);
    for (_, server) in servers {
        server.join().unwrap().unwrap().unwrap();
    }
}

/// `reuse_address` is asyncio's `SO_REUSEADDR` (on by default): a port whose connection
/// lingers in TIME_WAIT (the server closed first) binds again with it, and not without it.
#[test]
fn reuse_address_decides_whether_a_port_in_time_wait_binds_again() {
    bounded(|| async {
        let server = start_server(
            |_reader, writer: StreamWriter| async move {
                writer.close();
                writer.wait_closed().await
            },
            "127.0.0.1",
            0,
        )
        .await?;
        let port = server.port().unwrap();
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        // The server closed first; once we close too its end is in TIME_WAIT.
        assert_eq!(reader.read(10).await?, b"");
        writer.close();
        writer.wait_closed().await?;
        server.close();
        server.wait_closed().await;
        aio_scheduler::sleep(0.02).await?;

        let error = io_error(
            start_server(line_echo, "127.0.0.1", port)
                .reuse_address(false)
                .await,
        );
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse, "{error}");
        // The default (asyncio's on Unix) binds it.
        let again = start_server(line_echo, "127.0.0.1", port).await?;
        assert_eq!(again.port(), Some(port));
        let explicit = start_server(line_echo, "127.0.0.1", 0)
            .reuse_address(true)
            .await?;
        assert!(explicit.is_serving());
        Ok(())
    });
}

/// A `sock=` future owns its socket: dropped unawaited, it closes it (a listener stops
/// taking connections; a connection's peer reads EOF).
#[test]
fn a_dropped_sock_future_closes_its_socket() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(start_server_sock(line_echo, listener));
    let refused = TcpStream::connect(addr).unwrap_err();
    assert_eq!(
        refused.kind(),
        io::ErrorKind::ConnectionRefused,
        "{refused}"
    );

    let (ours, mut theirs) = UnixStream::pair().unwrap();
    drop(open_unix_connection_sock(ours));
    theirs
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut rest = Vec::new();
    assert_eq!(theirs.read_to_end(&mut rest).unwrap(), 0);
}
