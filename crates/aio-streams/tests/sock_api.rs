//! asyncio's `loop.sock_*` methods as free functions: non-blocking sockets only, waits on the
//! reactor (the loop keeps running other tasks), round trips over TCP, Unix and UDP (with a
//! Python peer), errors as asyncio gives them.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::rc::Rc;

use aio_streams::{
    Address, sock_accept, sock_connect, sock_recv, sock_recv_into, sock_recvfrom, sock_sendall,
    sock_sendto,
};
use aio_task::{Error, create_task, run, wait_for};
use rustix::net::{AddressFamily, SocketFlags, SocketType, socket_with};

/// A task that counts loop iterations until stopped: proof that the loop kept running.
fn ticker() -> (Rc<Cell<u32>>, Rc<Cell<bool>>) {
    let ticks = Rc::new(Cell::new(0));
    let stop = Rc::new(Cell::new(false));
    let (t, s) = (ticks.clone(), stop.clone());
    create_task(async move {
        while !s.get() {
            t.set(t.get() + 1);
            aio_scheduler::sleep(0.001).await.unwrap();
        }
    })
    .unwrap();
    (ticks, stop)
}

#[test]
fn blocking_sockets_are_refused_with_a_value_error() {
    run(async {
        let (a, _b) = UnixStream::pair().unwrap(); // blocking
        let listener = TcpListener::bind("127.0.0.1:0").unwrap(); // blocking
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut buf = [0; 4];
        let errors = [
            sock_recv(&a, 10).await.unwrap_err(),
            sock_recv_into(&a, &mut buf).await.unwrap_err(),
            sock_sendall(&a, b"x").await.unwrap_err(),
            sock_accept(&listener).await.map(|_| ()).unwrap_err(),
            sock_recvfrom(&udp, 10).await.map(|_| ()).unwrap_err(),
            sock_sendto(&udp, b"x", udp.local_addr().unwrap())
                .await
                .map(|_| ())
                .unwrap_err(),
        ];
        for error in errors {
            assert!(
                matches!(error, Error::Value(m) if m.contains("non-blocking")),
                "{error:?}"
            );
        }
    })
    .unwrap();
}

/// accept, connect, sendall and recv on raw TCP sockets: 4 MiB each way, far more than the
/// socket buffers hold, while a ticker task keeps running.
#[test]
fn tcp_round_trip_without_blocking_the_loop() {
    let total = 4 << 20;
    run(async move {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (ticks, stop) = ticker();
        let server = create_task(async move {
            let (conn, _peer) = sock_accept(&listener).await?;
            // Echo everything back.
            let mut echoed = 0;
            while echoed < total {
                let data = sock_recv(&conn, 65536).await?;
                assert!(!data.is_empty(), "early end of stream");
                sock_sendall(&conn, &data).await?;
                echoed += data.len();
            }
            Ok::<_, Error>(echoed)
        })?;
        let sock = socket_with(
            AddressFamily::INET,
            SocketType::STREAM,
            SocketFlags::NONBLOCK,
            None,
        )
        .map_err(std::io::Error::from)?;
        sock_connect(&sock, addr).await?;
        let client = Rc::new(TcpStream::from(sock));
        let payload: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        // Sending and receiving at once on one descriptor: the waiting reader and writer share
        // its registration (epoll refuses to register one descriptor twice).
        let sender = {
            let client = client.clone();
            let payload = payload.clone();
            create_task(async move { sock_sendall(&*client, &payload).await })?
        };
        let mut back = vec![0u8; total];
        // Bounded: a lost wake-up (one waiter's registration dropping the other's) would hang.
        wait_for(
            async {
                let mut got = 0;
                while got < total {
                    let n = sock_recv_into(&*client, &mut back[got..]).await?;
                    assert!(n > 0, "early end of stream");
                    got += n;
                }
                sender.await??;
                Ok::<_, Error>(())
            },
            60.0,
        )
        .await??;
        assert_eq!(server.await??, total);
        assert!(back == payload, "echoed bytes differ");
        stop.set(true);
        assert!(ticks.get() > 0, "the loop ran other tasks meanwhile");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn connect_refused_is_an_io_error() {
    // A port nobody listens on: bind one, then close it.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let error = run(async move {
        let sock = socket_with(
            AddressFamily::INET,
            SocketType::STREAM,
            SocketFlags::NONBLOCK,
            None,
        )
        .unwrap();
        sock_connect(&sock, addr).await.unwrap_err()
    })
    .unwrap();
    assert!(
        matches!(&error, Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{error:?}"
    );
}

/// A receive that times out leaves nothing behind: the socket is registered again by the next
/// call, which gets the data.
#[test]
fn a_cancelled_receive_loses_nothing() {
    run(async {
        let (a, mut b) = UnixStream::pair()?;
        a.set_nonblocking(true)?;
        let timed_out = wait_for(sock_recv(&a, 16), 0.02).await;
        assert!(matches!(timed_out, Err(Error::Timeout)), "{timed_out:?}");
        let late = create_task(async move { sock_recv(&a, 16).await })?;
        aio_scheduler::sleep(0.01).await?;
        b.write_all(b"late")?;
        assert_eq!(late.await??, b"late");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn unix_accept_and_connect_by_path() {
    let dir = std::env::temp_dir().join(format!("aio-sock-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s");
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let target = Address::Unix(path.to_string_lossy().into_owned());
    run(async move {
        let server = create_task(async move {
            let (conn, _) = sock_accept(&listener).await?;
            sock_recv(&conn, 16).await
        })?;
        let sock = socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::NONBLOCK,
            None,
        )
        .map_err(std::io::Error::from)?;
        sock_connect(&sock, target).await?;
        sock_sendall(&sock, b"by path").await?;
        assert_eq!(server.await??, b"by path");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// sock_sendto / sock_recvfrom against CPython's socket module: Python echoes three datagrams
/// back upper-cased.
#[test]
fn udp_with_a_python_peer() {
    let script = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(30)
print(s.getsockname()[1], flush=True)
for _ in range(3):
    data, addr = s.recvfrom(100)
    s.sendto(data.upper(), addr)
"#;
    let mut python = Command::new("python3")
        .args(["-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut port = String::new();
    let mut out = python.stdout.take().unwrap();
    let mut byte = [0u8];
    while out.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        port.push(byte[0] as char);
    }
    let port: u16 = port.trim().parse().unwrap();
    run(async move {
        let udp = UdpSocket::bind("127.0.0.1:0")?;
        udp.set_nonblocking(true)?;
        let peer: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        for word in ["alpha", "beta", "gamma"] {
            assert_eq!(sock_sendto(&udp, word.as_bytes(), peer).await?, word.len());
            let (data, from) = wait_for(sock_recvfrom(&udp, 100), 30.0).await??;
            assert_eq!(data, word.to_uppercase().as_bytes());
            assert_eq!(from, Some(Address::Inet(peer)));
        }
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert!(python.wait().unwrap().success());
}
