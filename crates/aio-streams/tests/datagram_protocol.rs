//! `create_datagram_endpoint` with a `DatagramProtocol`: the order of the callbacks
//! (connection_made first, connection_lost last and once), an echo server against a Python
//! asyncio client, ICMP errors to `error_received`, a panicking callback closing only its
//! transport, and asyncio's argument errors.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::rc::Rc;

use aio_scheduler::get_running_loop;
use aio_streams::{
    DatagramEndpoint, DatagramProtocol, DatagramTransport, create_datagram_endpoint,
};
use aio_task::{Error, run, wait_for};

type Log = Rc<RefCell<Vec<String>>>;

/// Records every callback; echoes datagrams when asked to; closes the transport on "close"
/// and panics on "panic".
struct Recorder {
    log: Log,
    transport: Option<DatagramTransport>,
    echo: bool,
}

impl Recorder {
    fn new(log: &Log, echo: bool) -> impl FnOnce() -> Recorder + 'static {
        let log = log.clone();
        move || Recorder {
            log,
            transport: None,
            echo,
        }
    }
}

impl DatagramProtocol for Recorder {
    fn connection_made(&mut self, transport: &DatagramTransport) {
        self.log.borrow_mut().push("made".into());
        self.transport = Some(transport.clone());
    }
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        let text = String::from_utf8_lossy(data).into_owned();
        self.log.borrow_mut().push(format!("data {text}"));
        match text.as_str() {
            "close" => self.transport.as_ref().unwrap().close(),
            "panic" => panic!("bad datagram"),
            _ if self.echo => self
                .transport
                .as_ref()
                .unwrap()
                .sendto(data, Some(addr))
                .unwrap(),
            _ => {}
        }
    }
    fn error_received(&mut self, error: std::io::Error) {
        self.log
            .borrow_mut()
            .push(format!("error {:?}", error.kind()));
    }
    fn connection_lost(&mut self, error: Option<std::io::Error>) {
        let what = match error {
            None => "lost".to_string(),
            Some(e) => format!("lost {e}"),
        };
        self.log.borrow_mut().push(what);
    }
}

/// Waits (on the loop) until `log` has `n` entries.
async fn until_logged(log: &Log, n: usize) {
    wait_for(
        async {
            while log.borrow().len() < n {
                aio_scheduler::sleep(0.001).await.unwrap();
            }
        },
        30.0,
    )
    .await
    .unwrap_or_else(|_| panic!("log stuck at {:?}", log.borrow()));
}

#[test]
fn callbacks_in_order_and_connection_lost_once() {
    let log: Log = Rc::default();
    let l = log.clone();
    run(async move {
        let (transport, protocol) =
            create_datagram_endpoint(Recorder::new(&l, false), Some(("127.0.0.1", 0)), None)
                .await?;
        // connection_made has run by the time the endpoint is returned.
        assert_eq!(*l.borrow(), ["made"]);
        assert!(protocol.borrow().transport.is_some());
        let to = transport.sockname().unwrap();
        let client = DatagramEndpoint::bind("127.0.0.1", 0).await?;
        client.send_to(b"one", to).await?;
        client.send_to(b"two", to).await?;
        until_logged(&l, 3).await;
        transport.close();
        transport.close();
        transport.abort();
        assert!(transport.is_closing());
        // Sent after the close: never delivered.
        client.send_to(b"three", to).await?;
        until_logged(&l, 4).await;
        for _ in 0..20 {
            aio_scheduler::sleep(0.001).await?;
        }
        // The transport let go of the protocol: only the caller's handle is left.
        assert_eq!(Rc::strong_count(&protocol), 1);
        drop(protocol);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(*log.borrow(), ["made", "data one", "data two", "lost"]);
}

/// A close from inside `datagram_received`: the datagrams already queued in the socket are
/// not delivered after it.
#[test]
fn close_from_a_callback_stops_delivery() {
    let log: Log = Rc::default();
    let l = log.clone();
    run(async move {
        let (transport, _protocol) =
            create_datagram_endpoint(Recorder::new(&l, false), Some(("127.0.0.1", 0)), None)
                .await?;
        let to = transport.sockname().unwrap();
        let client = DatagramEndpoint::bind("127.0.0.1", 0).await?;
        for word in ["a", "close", "b", "c"] {
            client.send_to(word.as_bytes(), to).await?;
        }
        until_logged(&l, 4).await;
        for _ in 0..20 {
            aio_scheduler::sleep(0.001).await?;
        }
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(*log.borrow(), ["made", "data a", "data close", "lost"]);
}

/// asyncio's UDP echo server (the docs' EchoServerProtocol) in aio, and a client written
/// with Python's asyncio.
#[test]
fn echo_server_with_a_python_asyncio_client() {
    let log: Log = Rc::default();
    let l = log.clone();
    run(async move {
        let (server, _) =
            create_datagram_endpoint(Recorder::new(&l, true), Some(("127.0.0.1", 0)), None).await?;
        let port = server.sockname().unwrap().port();
        let script = r#"
import asyncio, sys
port = int(sys.argv[1])
class Client(asyncio.DatagramProtocol):
    def __init__(self):
        self.got = asyncio.Queue()
    def datagram_received(self, data, addr):
        self.got.put_nowait(data)
async def main():
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", port))
    out = []
    for word in (b"alpha", b"beta", b"gamma"):
        transport.sendto(word)
        out.append(await asyncio.wait_for(proto.got.get(), 30))
    transport.close()
    print(b",".join(out).decode())
asyncio.run(main())
"#;
        let child = Command::new("python3")
            .args(["-c", script, &port.to_string()])
            .stdout(Stdio::piped())
            .spawn()?;
        // The loop keeps serving while a thread waits for Python.
        let output = aio_task::to_thread(move || child.wait_with_output()).await??;
        assert!(output.status.success());
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "alpha,beta,gamma"
        );
        server.close();
        until_logged(&l, 5).await;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(
        *log.borrow(),
        ["made", "data alpha", "data beta", "data gamma", "lost"]
    );
}

/// A connected endpoint whose peer does not listen: the ICMP port-unreachable comes back as
/// ConnectionRefused to `error_received`, and the endpoint stays open.
#[test]
fn icmp_errors_go_to_error_received() {
    let log: Log = Rc::default();
    let l = log.clone();
    run(async move {
        // A port with nobody on it: bound, then closed.
        let port = std::net::UdpSocket::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let (transport, _) =
            create_datagram_endpoint(Recorder::new(&l, false), None, Some(("127.0.0.1", port)))
                .await?;
        transport.sendto(b"anyone?", None)?;
        until_logged(&l, 2).await;
        assert_eq!(l.borrow()[1], "error ConnectionRefused");
        assert!(!transport.is_closing());
        transport.close();
        until_logged(&l, 3).await;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(*log.borrow(), ["made", "error ConnectionRefused", "lost"]);
}

/// A panic in `datagram_received` closes that transport (connection_lost gets the panic),
/// goes to the loop's exception handler, and the loop — and another endpoint — go on.
#[test]
fn a_panicking_callback_closes_only_its_transport() {
    let log: Log = Rc::default();
    let other_log: Log = Rc::default();
    let reported: Log = Rc::default();
    let (l, ol, r) = (log.clone(), other_log.clone(), reported.clone());
    run(async move {
        let r2 = r.clone();
        get_running_loop()?.set_exception_handler(move |_, ctx| {
            r2.borrow_mut()
                .push(format!("{} / {}", ctx.message, ctx.error.as_ref().unwrap()));
        });
        let (bad, _) =
            create_datagram_endpoint(Recorder::new(&l, false), Some(("127.0.0.1", 0)), None)
                .await?;
        let (good, _) =
            create_datagram_endpoint(Recorder::new(&ol, true), Some(("127.0.0.1", 0)), None)
                .await?;
        let client = DatagramEndpoint::bind("127.0.0.1", 0).await?;
        client.send_to(b"panic", bad.sockname().unwrap()).await?;
        until_logged(&l, 3).await;
        assert!(bad.is_closing());
        // The other endpoint still echoes.
        client
            .send_to(b"still here", good.sockname().unwrap())
            .await?;
        let mut buf = [0; 32];
        let (n, _) = wait_for(client.recv_from(&mut buf), 30.0).await??;
        assert_eq!(&buf[..n], b"still here");
        good.close();
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(log.borrow()[..2], ["made", "data panic"]);
    assert!(
        log.borrow()[2].starts_with("lost protocol.datagram_received() panicked: bad datagram"),
        "{:?}",
        log.borrow()
    );
    assert_eq!(log.borrow().len(), 3);
    assert_eq!(
        *reported.borrow(),
        ["Fatal error: protocol.datagram_received() call failed. / \
          protocol.datagram_received() panicked: bad datagram"]
    );
}

#[test]
fn asyncio_argument_errors() {
    #[derive(Debug)]
    struct Quiet;
    impl DatagramProtocol for Quiet {}
    run(async {
        let neither = create_datagram_endpoint(|| Quiet, None, None).await;
        assert!(
            matches!(neither, Err(Error::Value("unexpected address family"))),
            "{neither:?}"
        );
        let peer = DatagramEndpoint::bind("127.0.0.1", 0).await?;
        let port = peer.local_addr()?.port();
        let (t, _) =
            create_datagram_endpoint(|| Quiet, Some(("127.0.0.1", 0)), Some(("127.0.0.1", port)))
                .await?;
        assert_eq!(t.peername(), Some(peer.local_addr()?));
        assert!(t.sockname().unwrap().port() != 0);
        let elsewhere: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert!(matches!(
            t.sendto(b"x", Some(elsewhere)),
            Err(Error::Value(_))
        ));
        // The peer's own address is fine.
        t.sendto(b"ok", Some(peer.local_addr()?))?;
        let mut buf = [0; 4];
        assert_eq!(wait_for(peer.recv_from(&mut buf), 30.0).await??.0, 2);
        t.close();
        // After close, sends are dropped silently (asyncio counts them).
        t.sendto(b"late", None)?;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// The protocol's `connection_made` can send at once (the transport is ready).
#[test]
fn sending_from_connection_made() {
    struct Greeter(SocketAddr);
    impl DatagramProtocol for Greeter {
        fn connection_made(&mut self, transport: &DatagramTransport) {
            transport.sendto(b"hello", Some(self.0)).unwrap();
        }
    }
    run(async {
        let peer = DatagramEndpoint::bind("127.0.0.1", 0).await?;
        let to = peer.local_addr()?;
        let (t, _) =
            create_datagram_endpoint(move || Greeter(to), Some(("127.0.0.1", 0)), None).await?;
        let mut buf = [0; 8];
        let (n, from) = wait_for(peer.recv_from(&mut buf), 30.0).await??;
        assert_eq!((&buf[..n], Some(from)), (&b"hello"[..], t.sockname()));
        t.close();
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// IPv6 endpoints, and a local and remote address of different families refused.
#[test]
fn ipv6_and_family_mismatch() {
    #[derive(Debug)]
    struct Quiet;
    impl DatagramProtocol for Quiet {}
    let log: Log = Rc::default();
    let l = log.clone();
    run(async move {
        let bound = create_datagram_endpoint(Recorder::new(&l, true), Some(("::1", 0)), None).await;
        let Ok((server, _)) = bound else {
            // No IPv6 on this machine: nothing to check.
            return Ok(());
        };
        let to = server.sockname().unwrap();
        assert!(to.is_ipv6());
        let (client, _) =
            create_datagram_endpoint(|| Quiet, None, Some(("::1", to.port()))).await?;
        client.sendto(b"six", None)?;
        until_logged(&l, 2).await;
        assert_eq!(l.borrow()[1], "data six");
        let mismatch =
            create_datagram_endpoint(|| Quiet, Some(("127.0.0.1", 0)), Some(("::1", to.port())))
                .await;
        assert!(
            matches!(&mismatch, Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::InvalidInput),
            "{mismatch:?}"
        );
        server.close();
        client.close();
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
