//! asyncio's `ssl=` on the protocol layer (`aio_tls::create_server` / `create_connection`
//! and their Unix forms) and `loop.start_tls` on a transport (`TransportTls::start_tls`),
//! against Python's `ssl` module and aio's own TLS clients on loopback: a protocol echo
//! server, bad clients (plaintext, silent, wrong hostname, untrusted certificate) failing
//! their connection only while the server keeps serving, STARTTLS upgrades of plain
//! transports, a failed upgrade reaching `connection_lost`, bulk data through a
//! `BufferedProtocol`, `sendfile` on a TLS transport (the fallback), and aio's `start_tls`
//! against asyncio's `loop.start_tls` on a Python protocol server; the `sock=` forms
//! (`create_connection_sock`, `connect_accepted_socket`) between aio ends and with Python's
//! `ssl` client. Certificates are made at run time.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aio_streams::{Buffered, BufferedProtocol, Protocol, Transport};
use aio_tls::rustls::{CertificateError, Error as RustlsError, ProtocolVersion};
use aio_tls::{StreamWriterTls, TlsError, TransportTls};
use common::{Cert, collect_reports, python, scratch};

/// What a protocol saw: callbacks in order, bytes received, how it ended.
#[derive(Default)]
struct Seen {
    made: usize,
    data: Vec<u8>,
    eof: bool,
    lost: Option<Option<String>>,
}

type Shared = Rc<RefCell<Seen>>;

/// Echoes what it receives; records its life in a shared `Seen`.
struct Echo {
    transport: Option<Transport>,
    seen: Shared,
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: &Transport) {
        self.seen.borrow_mut().made += 1;
        self.transport = Some(transport.clone());
    }
    fn data_received(&mut self, data: &[u8]) {
        self.seen.borrow_mut().data.extend_from_slice(data);
        self.transport.as_ref().unwrap().write(data);
    }
    fn eof_received(&mut self) -> bool {
        self.seen.borrow_mut().eof = true;
        false
    }
    fn connection_lost(&mut self, error: Option<io::Error>) {
        self.seen.borrow_mut().lost = Some(error.map(|e| e.to_string()));
    }
}

/// Collects what it receives (a client).
struct Collect {
    greeting: &'static [u8],
    seen: Shared,
}

impl Protocol for Collect {
    fn connection_made(&mut self, transport: &Transport) {
        self.seen.borrow_mut().made += 1;
        transport.write(self.greeting);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.seen.borrow_mut().data.extend_from_slice(data);
    }
    fn eof_received(&mut self) -> bool {
        self.seen.borrow_mut().eof = true;
        false
    }
    fn connection_lost(&mut self, error: Option<io::Error>) {
        self.seen.borrow_mut().lost = Some(error.map(|e| e.to_string()));
    }
}

/// A protocol factory: each protocol `make` gets a new `Seen`, also kept in the list.
fn recorded<P>(make: impl Fn(Shared) -> P) -> (impl Fn() -> P, Rc<RefCell<Vec<Shared>>>) {
    let all: Rc<RefCell<Vec<Shared>>> = Rc::default();
    let list = Rc::clone(&all);
    let factory = move || {
        let seen = Shared::default();
        list.borrow_mut().push(Rc::clone(&seen));
        make(seen)
    };
    (factory, all)
}

/// A factory of `Echo` server protocols, each recorded (see [`recorded`]).
fn recorded_echo() -> (impl Fn() -> Echo, Rc<RefCell<Vec<Shared>>>) {
    recorded(|seen| Echo {
        transport: None,
        seen,
    })
}

/// A client protocol factory: a `Collect` sending `greeting`, and what it will see.
fn collector(greeting: &'static [u8]) -> (impl FnOnce() -> Collect, Shared) {
    let seen = Shared::default();
    let state = Rc::clone(&seen);
    (
        move || Collect {
            greeting,
            seen: state,
        },
        seen,
    )
}

/// A plain (not TLS) `Collect` client of `127.0.0.1:port` sending `greeting`.
async fn plain_client(
    port: u16,
    greeting: &'static [u8],
) -> Result<(Transport, Shared), aio_task::Error> {
    let (factory, seen) = collector(greeting);
    let transport = aio_streams::create_connection(factory, "127.0.0.1", port).await?;
    Ok((transport, seen))
}

/// Waits (on the loop) until `done()` holds; fails the test after 20 s.
async fn until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        aio_scheduler::sleep(0.002).await.unwrap();
    }
}

/// A Python `ssl` client: connects to port argv 1, verifies for argv 3 against CA file
/// argv 2, sends each further argument and prints the echo, then closes with close_notify
/// both ways (`unwrap`).
const PY_CLIENT: &str = r#"
import socket, ssl, sys
port, cafile, hostname = sys.argv[1:4]
ctx = ssl.create_default_context(cafile=cafile)
raw = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
try:
    with ctx.wrap_socket(raw, server_hostname=hostname) as tls:
        print("version", tls.version())
        for word in sys.argv[4:]:
            tls.sendall(word.encode())
            got = b""
            while len(got) < len(word.encode()):
                got += tls.recv(100)
            print("echo", got.decode())
        tls.unwrap()
        print("closed cleanly")
except ssl.SSLCertVerificationError as e:
    print("verify failed:", e.verify_message)
    sys.exit(3)
"#;

/// A protocol echo server over TLS: Python's `ssl` client and aio's TLS transport client
/// are served; a plaintext client, a silent one, and clients refusing the certificate fail
/// alone (reported once each, their protocol never called); the server serves on.
#[test]
fn protocol_echo_server_over_tls_with_python_aio_and_bad_clients() {
    let cert = Cert::localhost();
    let other = Cert::localhost();
    let dir = scratch("transport-echo");
    let ca = dir.join("ca.pem").display().to_string();
    let wrong_ca = dir.join("wrong.pem").display().to_string();
    std::fs::write(&ca, &cert.pem).unwrap();
    std::fs::write(&wrong_ca, &other.pem).unwrap();
    let good_client = cert.client_config();
    let untrusting = other.client_config();
    aio_task::run(async move {
        let reports = collect_reports();
        let (echo, server_seen) = recorded_echo();
        let server = aio_tls::create_server(echo, "127.0.0.1", 0, cert.server_config())
            .ssl_handshake_timeout(0.5)
            .await?;
        let port = server.port().unwrap();
        let py = |ca: &str, name: &str, words: &[&str]| {
            let mut args = vec![port.to_string(), ca.to_owned(), name.to_owned()];
            args.extend(words.iter().map(|s| s.to_string()));
            args
        };

        // Python's ssl: TLS 1.3, echoes, close_notify both ways.
        let (ok, out, err) = python(PY_CLIENT, py(&ca, "localhost", &["hi", "wörld"])).await;
        assert!(ok, "python failed:\n{out}\n{err}");
        assert_eq!(
            out, "version TLSv1.3\necho hi\necho wörld\nclosed cleanly\n",
            "{err}"
        );
        until("the server's connection_lost", || {
            server_seen.borrow()[0].borrow().lost.is_some()
        })
        .await;
        {
            let first = server_seen.borrow()[0].clone();
            let first = first.borrow();
            assert_eq!(first.made, 1);
            assert_eq!(first.data, "hiwörld".as_bytes());
            assert!(first.eof, "close_notify is the protocol's eof_received");
            assert_eq!(first.lost, Some(None));
        }
        assert!(reports.borrow().is_empty(), "{:?}", reports.borrow());

        // Plaintext on the TLS port: closed, one report, its protocol never called.
        let (reader, writer) = aio_streams::open_connection("127.0.0.1", port).await?;
        writer.write(b"GET / HTTP/1.0\r\n\r\n");
        let reply = aio_task::wait_for(reader.read_to_end(), 10.0).await??;
        assert!(!reply.starts_with(b"HTTP"), "{reply:?}");
        drop((reader, writer));
        until("the report", || reports.borrow().len() == 1).await;
        assert_eq!(reports.borrow()[0].0, "TLS handshake failed");

        // Silent: closed after the handshake timeout, one report.
        let started = Instant::now();
        let (reader, writer) = aio_streams::open_connection("127.0.0.1", port).await?;
        let reply = aio_task::wait_for(reader.read_to_end(), 10.0).await??;
        assert!(reply.is_empty());
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(450) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        drop((reader, writer));
        until("the report", || reports.borrow().len() == 2).await;
        assert!(
            reports.borrow()[1]
                .1
                .contains("did not complete within 500ms"),
            "{:?}",
            reports.borrow()
        );

        // Python with the wrong hostname, then trusting another certificate.
        let (ok, out, _) = python(PY_CLIENT, py(&ca, "example.com", &["x"])).await;
        assert!(!ok);
        assert!(out.contains("verify failed: Hostname mismatch"), "{out}");
        let (ok, out, _) = python(PY_CLIENT, py(&wrong_ca, "localhost", &["x"])).await;
        assert!(!ok);
        assert!(
            out.contains("verify failed: self-signed certificate"),
            "{out}"
        );

        // aio's transport client, wrong hostname and untrusted: clear errors, no callback.
        let client_seen = Shared::default();
        for (config, name) in [
            (good_client.clone(), "example.com"),
            (untrusting, "localhost"),
        ] {
            let seen = Rc::clone(&client_seen);
            let error = aio_tls::create_connection(
                move || Collect {
                    greeting: b"never",
                    seen,
                },
                "127.0.0.1",
                port,
                config,
            )
            .server_hostname(name)
            .await
            .unwrap_err();
            assert!(
                matches!(
                    error.rustls_error(),
                    Some(RustlsError::InvalidCertificate(_))
                ),
                "{error}"
            );
            assert!(
                error.to_string().starts_with("TLS handshake failed"),
                "{error}"
            );
        }
        assert_eq!(client_seen.borrow().made, 0);
        assert!(client_seen.borrow().lost.is_none());
        until("the server's reports", || reports.borrow().len() == 6).await;
        assert!(
            reports
                .borrow()
                .iter()
                .all(|(m, _)| m == "TLS handshake failed"),
            "{:?}",
            reports.borrow()
        );
        // Every failed connection's protocol was made (asyncio calls the factory at accept
        // time) and never called.
        assert_eq!(server_seen.borrow().len(), 7);
        for seen in &server_seen.borrow()[1..] {
            assert_eq!(seen.borrow().made, 0);
            assert!(seen.borrow().lost.is_none());
        }

        // Still serving: aio's TLS transport client (verified for 127.0.0.1), then Python.
        let (collect, seen) = collector(b"aio says hi");
        let transport = aio_tls::create_connection(collect, "127.0.0.1", port, good_client)
            .ssl_handshake_timeout(10.0)
            .await?;
        let info = transport.tls_info().expect("TLS info");
        assert_eq!(info.protocol_version(), Some(ProtocolVersion::TLSv1_3));
        assert_eq!(info.peer_certificates().unwrap()[0], cert.der);
        until("the echo", || seen.borrow().data == b"aio says hi").await;
        assert_eq!(seen.borrow().made, 1);
        transport.close(); // close_notify: the server's protocol sees EOF and closes
        until("the client's connection_lost", || {
            seen.borrow().lost.is_some()
        })
        .await;
        assert_eq!(seen.borrow().lost, Some(None));
        until("the server's connection_lost", || {
            server_seen.borrow()[7].borrow().lost.is_some()
        })
        .await;
        assert!(server_seen.borrow()[7].borrow().eof);

        let (ok, out, err) = python(PY_CLIENT, py(&ca, "localhost", &["still"])).await;
        assert!(ok, "{out}\n{err}");
        assert!(out.ends_with("echo still\nclosed cleanly\n"), "{out}");
        assert_eq!(reports.borrow().len(), 6, "{:?}", reports.borrow());
        assert!(server.is_serving());
        server.close();
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
    let _ = std::fs::remove_dir_all(dir);
}

/// A `BufferedProtocol` echo server over TLS on a Unix socket, and 4 MiB through it both
/// ways (records bigger than the protocol's buffer, flow control on the TLS writes).
#[test]
fn buffered_protocol_bulk_over_tls_on_a_unix_socket() {
    struct BufferedEcho {
        transport: Option<Transport>,
        buf: Vec<u8>,
    }
    impl BufferedProtocol for BufferedEcho {
        fn connection_made(&mut self, transport: &Transport) {
            self.transport = Some(transport.clone());
        }
        fn get_buffer(&mut self, _size_hint: usize) -> &mut [u8] {
            &mut self.buf // 1000 bytes: a TLS record takes several
        }
        fn buffer_updated(&mut self, n: usize) {
            self.transport.as_ref().unwrap().write(&self.buf[..n]);
        }
    }
    let cert = Cert::localhost();
    let dir = scratch("transport-bulk");
    let path = dir.join("tls.sock");
    let client = cert.client_config();
    aio_task::run(async move {
        let reports = collect_reports();
        let server = aio_tls::create_unix_server(
            || {
                Buffered(BufferedEcho {
                    transport: None,
                    buf: vec![0; 1000],
                })
            },
            &path,
            cert.server_config(),
        )
        .await?;
        let data: Vec<u8> = (0..4_000_000u32).map(|i| (i * 13 % 255) as u8).collect();
        let (collect, seen) = collector(b"");
        let missing = aio_tls::create_unix_connection(
            || Collect {
                greeting: b"",
                seen: Shared::default(),
            },
            &path,
            client.clone(),
        )
        .await
        .unwrap_err();
        assert!(matches!(missing, TlsError::NoServerName), "{missing}");
        let transport = aio_tls::create_unix_connection(collect, &path, client)
            .server_hostname("localhost")
            .await?;
        for chunk in data.chunks(100_003) {
            transport.write(chunk);
        }
        until("the echo", || seen.borrow().data.len() == data.len()).await;
        assert!(seen.borrow().data == data, "the bytes differ");
        transport.write_eof(); // close_notify + half-close: the server closes
        until("the end", || seen.borrow().lost.is_some()).await;
        assert!(seen.borrow().eof);
        assert_eq!(seen.borrow().lost, Some(None));
        assert!(reports.borrow().is_empty(), "{:?}", reports.borrow());
        server.close();
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
    let _ = std::fs::remove_dir_all(dir);
}

/// Upgrades a plain protocol transport when the client says STARTTLS (the server side
/// upgrades from inside `data_received`).
struct StartTlsServer {
    transport: Option<Transport>,
    config: Arc<aio_tls::rustls::ServerConfig>,
    secure: bool,
    seen: Shared,
}

impl Protocol for StartTlsServer {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }
    fn data_received(&mut self, data: &[u8]) {
        let transport = self.transport.as_ref().unwrap();
        if !self.secure && data == b"STARTTLS\n" {
            self.secure = true;
            transport.write(b"go ahead\n");
            let upgrade = transport.start_tls(Arc::clone(&self.config));
            aio_task::create_task(async move { upgrade.await.map(drop) }).unwrap();
        } else {
            self.seen.borrow_mut().data.extend_from_slice(data);
            transport.write(&data.to_ascii_uppercase());
        }
    }
    fn connection_lost(&mut self, error: Option<io::Error>) {
        self.seen.borrow_mut().lost = Some(error.map(|e| e.to_string()));
    }
}

/// A plain protocol server upgrading on STARTTLS; what each connection's protocol saw.
async fn starttls_server(
    config: Arc<aio_tls::rustls::ServerConfig>,
) -> Result<(aio_streams::Server, Rc<RefCell<Vec<Shared>>>), aio_task::Error> {
    let (factory, seen) = recorded(move |seen| StartTlsServer {
        transport: None,
        config: Arc::clone(&config),
        secure: false,
        seen,
    });
    let server = aio_streams::create_server(factory, "127.0.0.1", 0).await?;
    Ok((server, seen))
}

/// A Python client of the STARTTLS protocol server: plaintext request, upgrade, a line
/// over TLS. Arguments: port, CA file.
const PY_STARTTLS: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
raw.sendall(b"STARTTLS\n")
assert raw.recv(100) == b"go ahead\n"
tls = ctx.wrap_socket(raw, server_hostname="localhost")
tls.sendall(b"secret")
got = b""
while len(got) < 6:
    got += tls.recv(100)
print(tls.version(), got.decode())
tls.unwrap()
"#;

/// STARTTLS at the transport level: a plain protocol server upgrades its transport for
/// Python's `ssl` and for aio's transport client, which upgrades its own transport with
/// `start_tls` (the same transport and protocol go on over TLS).
#[test]
fn starttls_upgrades_plain_transports() {
    let cert = Cert::localhost();
    let dir = scratch("transport-starttls");
    let ca = dir.join("ca.pem").display().to_string();
    std::fs::write(&ca, &cert.pem).unwrap();
    let client_config = cert.client_config();
    aio_task::run(async move {
        let reports = collect_reports();
        let (server, server_seen) = starttls_server(cert.server_config()).await?;
        let port = server.port().unwrap();

        let (ok, out, err) = python(PY_STARTTLS, vec![port.to_string(), ca.clone()]).await;
        assert!(ok, "{out}\n{err}");
        assert_eq!(out, "TLSv1.3 SECRET\n");

        // aio: a plain transport client, upgraded in place.
        let (transport, seen) = plain_client(port, b"STARTTLS\n").await?;
        until("the go-ahead", || seen.borrow().data == b"go ahead\n").await;
        assert!(transport.tls_info().is_none());
        let upgraded = transport
            .start_tls(client_config)
            .server_hostname("localhost")
            .ssl_handshake_timeout(10.0)
            .await
            .map_err(aio_task::Error::from)?;
        assert!(upgraded.tls_info().is_some());
        assert!(transport.tls_info().is_some(), "the same transport");
        assert!(transport.is_reading());
        transport.write(b"over tls");
        until("the reply", || seen.borrow().data == b"go ahead\nOVER TLS").await;
        transport.close();
        until("the end", || seen.borrow().lost.is_some()).await;
        assert_eq!(
            seen.borrow().made,
            1,
            "connection_made once, before the upgrade"
        );
        until("the server's end", || {
            server_seen.borrow()[1].borrow().lost.is_some()
        })
        .await;
        assert_eq!(server_seen.borrow()[1].borrow().data, b"over tls");
        assert!(reports.borrow().is_empty(), "{:?}", reports.borrow());
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
    let _ = std::fs::remove_dir_all(dir);
}

/// A failed `start_tls` (the client refuses the server's certificate name) is a clear error
/// for the caller and ends both transports, their protocols' `connection_lost` getting the
/// reason; a second connection to the same server is upgraded fine.
#[test]
fn a_failed_start_tls_reaches_connection_lost_and_the_server_serves_on() {
    let cert = Cert::localhost();
    let client_config = cert.client_config();
    aio_task::run(async move {
        let _reports = collect_reports();
        let (server, server_seen) = starttls_server(cert.server_config()).await?;
        let port = server.port().unwrap();
        for name in ["example.com", "localhost"] {
            let (transport, seen) = plain_client(port, b"STARTTLS\n").await?;
            until("the go-ahead", || seen.borrow().data == b"go ahead\n").await;
            let upgraded = transport
                .start_tls(client_config.clone())
                .server_hostname(name)
                .await;
            if name == "localhost" {
                upgraded.map_err(aio_task::Error::from)?;
                transport.write(b"fine");
                until("the reply", || seen.borrow().data.ends_with(b"FINE")).await;
                transport.close();
                until("the end", || seen.borrow().lost.is_some()).await;
                assert_eq!(seen.borrow().lost, Some(None));
                continue;
            }
            let error = upgraded.unwrap_err();
            assert!(
                matches!(
                    error.rustls_error(),
                    Some(RustlsError::InvalidCertificate(
                        CertificateError::NotValidForNameContext { .. }
                    ))
                ),
                "{error}"
            );
            until("the client's connection_lost", || {
                seen.borrow().lost.is_some()
            })
            .await;
            let lost = seen.borrow().lost.clone().unwrap().expect("an error");
            assert!(lost.contains("TLS handshake failed"), "{lost}");
            assert!(lost.contains("certificate"), "{lost}");
            // The server's side: the client's alert fails its handshake too.
            until("the server's connection_lost", || {
                server_seen.borrow()[0].borrow().lost.is_some()
            })
            .await;
            let lost = server_seen.borrow()[0].borrow().lost.clone().unwrap();
            assert!(lost.is_some_and(|e| e.contains("TLS handshake failed")));
        }
        assert!(server.is_serving());
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
}

/// `sendfile` on a TLS transport goes through the fallback (the kernel cannot encrypt):
/// the file arrives decrypted and whole, after what was written before.
#[test]
fn sendfile_on_a_tls_transport_uses_the_fallback() {
    let cert = Cert::localhost();
    let dir = scratch("transport-sendfile");
    let path = dir.join("data");
    let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 247) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let client = cert.client_config();
    aio_task::run(async move {
        let (echo, server_seen) = recorded_echo();
        let server = aio_tls::create_server(echo, "127.0.0.1", 0, cert.server_config())
        .await?;
        let (collect, seen) = collector(b"<");
        let transport = aio_tls::create_connection(
            collect,
            "127.0.0.1",
            server.port().unwrap(),
            client,
        )
        .server_hostname("localhost")
        .await?;
        let refused = transport.sendfile(&file, 0, None).fallback(false).await;
        assert!(
            matches!(&refused, Err(aio_task::Error::Io(e)) if e.kind() == io::ErrorKind::Unsupported),
            "{refused:?}"
        );
        assert_eq!(transport.sendfile(&file, 10, None).await?, data.len() - 10);
        let mut want = b"<".to_vec();
        want.extend_from_slice(&data[10..]);
        until("the echo", || seen.borrow().data.len() == want.len()).await;
        assert!(seen.borrow().data == want, "the bytes differ");
        assert!(server_seen.borrow()[0].borrow().data == want, "the server got other bytes");
        transport.close();
        until("the end", || seen.borrow().lost.is_some()).await;
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
    let _ = std::fs::remove_dir_all(dir);
}

/// The streams' `start_tls` client against a TLS protocol server (both APIs speak the same
/// TLS): checks aio's two layers interoperate.
#[test]
fn a_streams_tls_client_talks_to_a_protocol_tls_server() {
    let cert = Cert::localhost();
    let client = cert.client_config();
    aio_task::run(async move {
        let server = aio_tls::create_server(
            || Echo {
                transport: None,
                seen: Shared::default(),
            },
            "127.0.0.1",
            0,
            cert.server_config(),
        )
        .await?;
        let (reader, writer) =
            aio_tls::open_connection("127.0.0.1", server.port().unwrap(), client)
                .server_hostname("localhost")
                .await?;
        assert!(writer.tls_info().is_some());
        writer.write(b"line\n");
        assert_eq!(reader.readline().await?, b"line\n");
        writer.write_eof();
        assert_eq!(reader.read(10).await?, b"");
        writer.close();
        writer.wait_closed().await?;
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
}

/// A Python asyncio *protocol* server that upgrades with `loop.start_tls` on STARTTLS and
/// upper-cases what comes over TLS. Prints its port. Arguments: cert, key.
const PY_LOOP_START_TLS_SERVER: &str = r#"
import asyncio, ssl, sys
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
class Upper(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.secure = asyncio.get_running_loop().create_future()
    def data_received(self, data):
        loop = asyncio.get_running_loop()
        if data == b"STARTTLS\n":
            self.transport.write(b"go ahead\n")
            self.transport.pause_reading()
            loop.create_task(self.upgrade())
        else:
            # Data can come with the end of the handshake, before start_tls returns.
            loop.create_task(self.reply(data))
    async def upgrade(self):
        loop = asyncio.get_running_loop()
        tls = await loop.start_tls(self.transport, self, ctx, server_side=True)
        self.secure.set_result(tls)
    async def reply(self, data):
        (await self.secure).write(data.upper())
async def main():
    server = await asyncio.get_running_loop().create_server(Upper, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(30)
asyncio.run(main())
"#;

/// aio's transport `start_tls` against asyncio's `loop.start_tls` on a protocol server.
#[test]
fn transport_start_tls_against_python_loop_start_tls() {
    let cert = Cert::localhost();
    let dir = scratch("transport-py-start-tls");
    std::fs::write(dir.join("cert.pem"), &cert.pem).unwrap();
    std::fs::write(dir.join("key.pem"), &cert.key_pem).unwrap();
    let args = [dir.join("cert.pem"), dir.join("key.pem")].map(|p| p.display().to_string());
    let (_server, first) = common::PyServer::start(PY_LOOP_START_TLS_SERVER, &args);
    let port: u16 = first.parse().expect("python printed its port");
    let client_config = cert.client_config();
    aio_task::run(async move {
        let (transport, seen) = plain_client(port, b"STARTTLS\n").await?;
        until("the go-ahead", || seen.borrow().data == b"go ahead\n").await;
        transport
            .start_tls(client_config)
            .server_hostname("localhost")
            .ssl_handshake_timeout(10.0)
            .await
            .map_err(aio_task::Error::from)?;
        let info = transport.tls_info().expect("TLS info");
        assert_eq!(info.protocol_version(), Some(ProtocolVersion::TLSv1_3));
        transport.write(b"secret");
        until("the reply", || seen.borrow().data == b"go ahead\nSECRET").await;
        transport.close();
        until("the end", || seen.borrow().lost.is_some()).await;
        assert_eq!(seen.borrow().lost, Some(None));
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
    let _ = std::fs::remove_dir_all(dir);
}

/// A `start_tls` dropped mid-handshake (here by an outer `wait_for`; a cancelled task does
/// the same) closes the transport, as asyncio's `start_tls` does: nothing would drive the
/// half-done handshake again, and the connection would otherwise wait for good. The peer
/// accepts and never answers the handshake.
#[test]
fn a_start_tls_dropped_mid_handshake_closes_the_transport() {
    let cert = Cert::localhost();
    let client_config = cert.client_config();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        use std::io::Read;
        let (mut conn, _) = listener.accept().unwrap();
        let mut sink = Vec::new();
        let _ = conn.read_to_end(&mut sink); // until the client closes
    });
    aio_task::run(async move {
        let (transport, seen) = plain_client(port, b"hello").await?;
        let upgrade = transport
            .start_tls(client_config)
            .server_hostname("localhost")
            .into_future();
        let outcome = aio_task::wait_for(upgrade, 0.2).await;
        assert!(
            matches!(outcome, Err(aio_task::Error::Timeout)),
            "{outcome:?}"
        );
        until("connection_lost after the dropped upgrade", || {
            seen.borrow().lost.is_some()
        })
        .await;
        assert!(transport.is_closing());
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
    peer.join().unwrap();
}

/// `close_clients` ends a connection whose TLS handshake has not finished at once, as
/// asyncio closes its socket, rather than after the handshake timeout: `wait_closed`
/// returns while a silent client still holds its end open. Its protocol is never called.
#[test]
fn close_clients_ends_a_connection_mid_handshake_at_once() {
    let cert = Cert::localhost();
    aio_task::run(async move {
        let _reports = collect_reports();
        let (echo, server_seen) = recorded_echo();
        let server = aio_tls::create_server(echo, "127.0.0.1", 0, cert.server_config())
            .ssl_handshake_timeout(600.0)
            .await?;
        let port = server.port().unwrap();
        // A client that connects and never starts its handshake.
        let silent = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        aio_scheduler::sleep(0.05).await?; // accepted, its handshake waiting
        server.close();
        server.close_clients();
        aio_task::wait_for(server.wait_closed(), 5.0).await?;
        for seen in server_seen.borrow().iter() {
            let seen = seen.borrow();
            assert_eq!((seen.made, seen.lost.is_some()), (0, false), "never called");
        }
        drop(silent);
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
}

/// asyncio's `create_connection(sock=, ssl=)` and `connect_accepted_socket(sock, ssl=)`:
/// both ends of a socket made outside aio, over TCP and over a Unix pair, speak TLS to each
/// other through protocols; a missing `server_hostname` and an untrusted certificate fail
/// before any protocol is called.
#[test]
fn sock_forms_create_connection_and_connect_accepted_socket_over_tls() {
    let cert = Cert::localhost();
    let client = cert.client_config();
    let server = cert.server_config();
    aio_task::run(async move {
        // TCP: a listener and a connect made with std.
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let connected = std::net::TcpStream::connect(listener.local_addr()?)?;
        let (accepted, _) = listener.accept()?;
        // Unix: a socket pair.
        let (unix_ours, unix_theirs) = std::os::unix::net::UnixStream::pair()?;
        let pairs: [(std::os::fd::OwnedFd, std::os::fd::OwnedFd, &str); 2] = [
            (accepted.into(), connected.into(), "tcp"),
            (unix_ours.into(), unix_theirs.into(), "unix"),
        ];
        for (server_end, client_end, kind) in pairs {
            let (echo, servers) = recorded_echo();
            let config = Arc::clone(&server);
            let serving = aio_task::create_task(async move {
                aio_tls::connect_accepted_socket(echo, server_end, config)
                    .ssl_handshake_timeout(20.0)
                    .await
            })?;
            let (factory, seen) = collector(b"over a sock");
            let connect = if kind == "tcp" {
                aio_tls::create_connection_sock(factory, client_end, Arc::clone(&client))
            } else {
                aio_tls::create_unix_connection_sock(factory, client_end, Arc::clone(&client))
            };
            let transport = connect.server_hostname("localhost").await?;
            assert!(transport.tls_info().is_some(), "{kind}");
            let served = serving.await??;
            assert!(served.tls_info().is_some(), "{kind}");
            until("the echo", || seen.borrow().data == b"over a sock").await;
            assert_eq!(seen.borrow().made, 1, "{kind}");
            assert_eq!(servers.borrow()[0].borrow().made, 1, "{kind}");
            transport.close();
            until("the server's connection_lost", || {
                servers.borrow()[0].borrow().lost.is_some()
            })
            .await;
        }

        // No name to verify the certificate for: refused before any I/O or callback.
        let (ours, _theirs) = std::os::unix::net::UnixStream::pair()?;
        let (factory, seen) = collector(b"");
        let refused =
            aio_tls::create_unix_connection_sock(factory, ours, Arc::clone(&client)).await;
        assert!(
            matches!(refused, Err(TlsError::NoServerName)),
            "{refused:?}"
        );
        assert_eq!(seen.borrow().made, 0);

        // A client that does not trust the server's certificate: both sides fail their
        // handshake, and neither protocol is called.
        let untrusting = aio_tls::client_config(aio_tls::rustls::RootCertStore::empty());
        let (server_end, client_end) = std::os::unix::net::UnixStream::pair()?;
        let (echo, servers) = recorded_echo();
        let config = Arc::clone(&server);
        let serving = aio_task::create_task(async move {
            aio_tls::connect_accepted_socket(echo, server_end, config).await
        })?;
        let (factory, seen) = collector(b"");
        let failed = aio_tls::create_unix_connection_sock(factory, client_end, untrusting)
            .server_hostname("localhost")
            .await;
        assert!(
            matches!(&failed, Err(e @ TlsError::Handshake(_)) if e.rustls_error().is_some()),
            "{failed:?}"
        );
        let served = serving.await?;
        assert!(served.is_err(), "the server's handshake fails too");
        assert_eq!(seen.borrow().made, 0);
        assert!(servers.borrow().is_empty() || servers.borrow()[0].borrow().made == 0);
        Ok::<_, aio_task::Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Python's `ssl` client against `aio_tls::connect_accepted_socket` on a socket this test
/// accepts itself (asyncio's `connect_accepted_socket(factory, sock, ssl=ctx)`): TLS 1.3,
/// the echo, close_notify both ways, and the protocol's callbacks in order.
#[test]
fn python_ssl_client_against_connect_accepted_socket() {
    let cert = Cert::localhost();
    let dir = scratch("transport-accepted");
    let ca = dir.join("ca.pem").display().to_string();
    std::fs::write(&ca, &cert.pem).unwrap();
    let config = cert.server_config();
    aio_task::run(async move {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let args = vec![
            port.to_string(),
            ca,
            "localhost".to_owned(),
            "hi".to_owned(),
        ];
        let client = aio_task::create_task(python(PY_CLIENT, args))?;
        let (sock, _) = aio_streams::sock_accept(&listener).await?;
        let (echo, seen) = recorded_echo();
        let transport = aio_tls::connect_accepted_socket(echo, sock, config)
            .ssl_handshake_timeout(20.0)
            .await?;
        assert!(transport.tls_info().is_some());
        let (ok, out, err) = client.await?;
        assert!(ok, "python failed:\n{out}\n{err}");
        assert_eq!(out, "version TLSv1.3\necho hi\nclosed cleanly\n", "{err}");
        until("connection_lost", || {
            seen.borrow()[0].borrow().lost.is_some()
        })
        .await;
        let seen = seen.borrow()[0].clone();
        let seen = seen.borrow();
        assert_eq!(seen.made, 1);
        assert_eq!(seen.data, b"hi");
        assert!(seen.eof, "close_notify is the protocol's eof_received");
        assert_eq!(seen.lost, Some(None));
        Ok::<_, aio_task::Error>(())
    })
    .unwrap()
    .unwrap();
}
