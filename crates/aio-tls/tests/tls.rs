//! aio-tls against real peers on loopback: Python's `ssl` module as a client of an aio TLS
//! echo server, an aio client of a Python `asyncio` TLS server, and bad input (plaintext
//! client, silent client, wrong hostname, untrusted CA, expired certificate), each failing
//! that connection only while the server keeps serving. Certificates are made here at run
//! time with rcgen. Every child process and every wait is bounded. Run a second time with
//! `AIO_REACTOR=uring` for the io_uring reactor.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{Cert, PyServer, collect_reports, python, scratch};

use aio_streams::{open_connection, start_server};
use aio_tls::rustls::{CertificateError, Error as RustlsError};
use aio_tls::{TlsError, TlsStream, open_tls_connection, start_tls_server};
use futures_lite::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// Echoes lines until the client's close_notify, then closes its side.
async fn echo(mut stream: TlsStream) -> std::io::Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return stream.close().await;
        }
        stream.write_all(line.as_bytes()).await?;
    }
}

/// A Python `ssl` client: sends each argument after the third as a line, prints the replies.
/// Argument 1: port, 2: CA file, 3: server_hostname.
const PY_CLIENT: &str = r#"
import socket, ssl, sys
port, cafile, hostname = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
try:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=hostname) as tls:
            print("version", tls.version())
            f = tls.makefile("rwb")
            for line in sys.argv[4:]:
                f.write(line.encode() + b"\n"); f.flush()
                print("echo", f.readline().decode().rstrip("\n"))
            f.close()
            tls.unwrap()  # close_notify both ways
            print("closed cleanly")
except ssl.SSLCertVerificationError as e:
    print("verify failed:", e.verify_message)
    sys.exit(3)
"#;

#[test]
fn python_ssl_client_talks_to_an_aio_echo_server() {
    let cert = Cert::localhost();
    let dir = scratch("python-client");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &cert.pem).unwrap();
    let config = cert.server_config();
    aio_task::run(async move {
        let reports = collect_reports();
        let server = start_tls_server(echo, "127.0.0.1", 0, config).await?;
        let port = server.port().unwrap().to_string();
        let ca = ca.display().to_string();
        let args = [&port, &ca, "localhost", "hello", "wörld"].map(|s| s.to_string());
        let (ok, out, err) = python(PY_CLIENT, args.to_vec()).await;
        assert!(ok, "python failed:\n{out}\n{err}");
        assert_eq!(
            out, "version TLSv1.3\necho hello\necho wörld\nclosed cleanly\n",
            "stderr: {err}"
        );
        assert!(reports.borrow().is_empty(), "{:?}", reports.borrow());
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
    let _ = std::fs::remove_dir_all(dir);
}

/// Bad clients on one server, one after the other, then a good one: each bad connection is
/// closed and reported once, and the server still serves.
#[test]
fn bad_clients_fail_alone_and_the_server_keeps_serving() {
    let cert = Cert::localhost();
    let other = Cert::localhost();
    let dir = scratch("bad-clients");
    let ca = dir.join("ca.pem");
    let wrong_ca = dir.join("wrong-ca.pem");
    std::fs::write(&ca, &cert.pem).unwrap();
    std::fs::write(&wrong_ca, &other.pem).unwrap();
    let config = cert.server_config();
    aio_task::run(async move {
        let reports = collect_reports();
        let server = start_tls_server(echo, "127.0.0.1", 0, config)
            .handshake_timeout(0.5)
            .await?;
        let port = server.port().unwrap();

        // 1. Plaintext HTTP on the TLS port: the server answers with an alert (or nothing)
        // and closes.
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        writer.write(b"GET / HTTP/1.0\r\n\r\n");
        let reply = aio_task::wait_for(reader.read_to_end(), 10.0).await??;
        assert!(!reply.starts_with(b"HTTP"), "{reply:?}");
        drop(writer);
        assert_eq!(reports.borrow().len(), 1);
        let (message, error) = reports.borrow()[0].clone();
        assert_eq!(message, "TLS handshake failed");
        assert!(error.contains("peer 127.0.0.1:"), "{error}");

        // 2. A client that connects and says nothing: closed after the handshake timeout.
        let started = Instant::now();
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        let reply = aio_task::wait_for(reader.read_to_end(), 10.0).await??;
        assert!(reply.is_empty());
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(450) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        drop(writer);
        assert_eq!(reports.borrow().len(), 2);
        assert!(
            reports.borrow()[1]
                .1
                .contains("did not complete within 500ms"),
            "{:?}",
            reports.borrow()
        );

        // 3. Python with the wrong server_hostname, then trusting another CA: each refuses the
        // certificate; the server sees each client's alert.
        let port_s = port.to_string();
        let ca_s = ca.display().to_string();
        let wrong_s = wrong_ca.display().to_string();
        let (ok, out, _) = python(
            PY_CLIENT,
            vec![
                port_s.clone(),
                ca_s.clone(),
                "example.com".into(),
                "x".into(),
            ],
        )
        .await;
        assert!(!ok);
        assert!(out.contains("verify failed: Hostname mismatch"), "{out}");
        let (ok, out, _) = python(
            PY_CLIENT,
            vec![port_s.clone(), wrong_s, "localhost".into(), "x".into()],
        )
        .await;
        assert!(!ok);
        assert!(
            out.contains("verify failed: self-signed certificate"),
            "{out}"
        );
        aio_scheduler::sleep(0.05).await?; // the server's side of the last failure
        assert_eq!(reports.borrow().len(), 4, "{:?}", reports.borrow());
        assert!(
            reports
                .borrow()
                .iter()
                .all(|(m, _)| m == "TLS handshake failed")
        );

        // 4. A good client still gets served, by Python and by aio.
        let (ok, out, err) = python(
            PY_CLIENT,
            vec![port_s, ca_s, "localhost".into(), "still".into()],
        )
        .await;
        assert!(ok, "{out}\n{err}");
        assert!(out.contains("echo still\nclosed cleanly"), "{out}");
        let mut stream =
            open_tls_connection("127.0.0.1", port, cert.client_config(), Some("localhost")).await?;
        stream.write_all(b"aio\n").await?;
        let mut line = String::new();
        stream.read_line(&mut line).await?;
        assert_eq!(line, "aio\n");
        stream.close().await?;
        line.clear();
        assert_eq!(stream.read_line(&mut line).await?, 0);
        assert!(server.is_serving());
        assert_eq!(reports.borrow().len(), 4, "{:?}", reports.borrow());
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
    let _ = std::fs::remove_dir_all(dir);
}

/// A Python asyncio TLS server: upper-cases each line. Prints its port. Arguments: cert, key.
const PY_SERVER: &str = r#"
import asyncio, ssl, sys
async def handle(reader, writer):
    while line := await reader.readline():
        writer.write(line.upper())
        await writer.drain()
    writer.close()
async def main():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(30)
asyncio.run(main())
"#;

#[test]
fn aio_client_talks_to_a_python_asyncio_tls_server() {
    let cert = Cert::localhost();
    let dir = scratch("python-server");
    std::fs::write(dir.join("cert.pem"), &cert.pem).unwrap();
    std::fs::write(dir.join("key.pem"), &cert.key_pem).unwrap();
    let args = [dir.join("cert.pem"), dir.join("key.pem")].map(|p| p.display().to_string());
    let (_server, first) = PyServer::start(PY_SERVER, &args);
    let port: u16 = first.trim().parse().expect("python printed its port");
    let good = cert.client_config();
    let untrusted = Cert::localhost().client_config();
    aio_task::run(async move {
        let mut stream =
            open_tls_connection("127.0.0.1", port, good.clone(), Some("localhost")).await?;
        stream.write_all(b"hello\nworld\n").await?;
        let (mut first, mut second, mut rest) = (String::new(), String::new(), String::new());
        stream.read_line(&mut first).await?;
        stream.read_line(&mut second).await?;
        assert_eq!((first.as_str(), second.as_str()), ("HELLO\n", "WORLD\n"));
        stream.close().await?; // close_notify + half-close: asyncio's server sees EOF, closes
        stream.read_to_string(&mut rest).await?;
        assert_eq!(rest, "");

        // server_hostname defaults to host, here an IP address: the certificate lists
        // 127.0.0.1 too.
        let stream = open_tls_connection("127.0.0.1", port, good.clone(), None).await?;
        assert!(stream.peer_certificates().is_some());
        drop(stream);

        // Wrong hostname.
        let error = open_tls_connection("127.0.0.1", port, good.clone(), Some("example.com"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error.rustls_error(),
                Some(RustlsError::InvalidCertificate(
                    CertificateError::NotValidForNameContext { .. }
                ))
            ),
            "{error}"
        );
        assert!(
            error.to_string().starts_with("TLS handshake failed: "),
            "{error}"
        );

        // Untrusted CA.
        let error = open_tls_connection("127.0.0.1", port, untrusted, Some("localhost"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error.rustls_error(),
                Some(RustlsError::InvalidCertificate(
                    CertificateError::UnknownIssuer
                ))
            ),
            "{error}"
        );

        // An invalid name.
        let error = open_tls_connection("127.0.0.1", port, good.clone(), Some("not a name!"))
            .await
            .unwrap_err();
        assert!(matches!(error, TlsError::InvalidServerName(_)), "{error}");

        // Nobody listening.
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let error = open_tls_connection("127.0.0.1", closed, good.clone(), Some("localhost"))
            .await
            .unwrap_err();
        assert!(matches!(error, TlsError::Connect(_)), "{error}");

        // The Python server is still serving.
        let mut stream = open_tls_connection("127.0.0.1", port, good, Some("localhost")).await?;
        stream.write_all(b"again\n").await?;
        let mut reply = String::new();
        stream.read_line(&mut reply).await?;
        assert_eq!(reply, "AGAIN\n");
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn expired_certificate_is_refused_and_the_aio_server_keeps_serving() {
    let expired = Cert::expired();
    let good = Cert::localhost();
    let expired_server = expired.server_config();
    let good_server = good.server_config();
    let (expired_client, good_client) = (expired.client_config(), good.client_config());
    aio_task::run(async move {
        let reports = collect_reports();
        let server = start_tls_server(echo, "127.0.0.1", 0, expired_server).await?;
        let port = server.port().unwrap();
        let error = open_tls_connection("127.0.0.1", port, expired_client, Some("localhost"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error.rustls_error(),
                Some(RustlsError::InvalidCertificate(
                    CertificateError::ExpiredContext { .. }
                ))
            ),
            "{error}"
        );
        aio_scheduler::sleep(0.05).await?;
        assert_eq!(reports.borrow().len(), 1, "{:?}", reports.borrow());

        // Another server on the same loop, and the first one still accepting.
        let other = start_tls_server(echo, "127.0.0.1", 0, good_server).await?;
        let mut stream = open_tls_connection(
            "127.0.0.1",
            other.port().unwrap(),
            good_client,
            Some("localhost"),
        )
        .await?;
        stream.write_all(b"ok\n").await?;
        let mut line = String::new();
        stream.read_line(&mut line).await?;
        assert_eq!(line, "ok\n");
        assert!(server.is_serving());
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
}

/// A server that accepts and never answers: the client's handshake times out.
#[test]
fn client_handshake_timeout() {
    let config = Cert::localhost().client_config();
    aio_task::run(async move {
        let held = Rc::new(RefCell::new(Vec::new()));
        let keep = Rc::clone(&held);
        let server = start_server(
            move |reader, writer| {
                keep.borrow_mut().push((reader, writer));
                async {}
            },
            "127.0.0.1",
            0,
        )
        .await?;
        let started = Instant::now();
        let error = open_tls_connection(
            "127.0.0.1",
            server.port().unwrap(),
            config,
            Some("localhost"),
        )
        .handshake_timeout(Duration::from_millis(300))
        .await
        .unwrap_err();
        let waited = started.elapsed();
        assert!(matches!(error, TlsError::HandshakeTimeout(_)), "{error}");
        assert_eq!(
            error.to_string(),
            "TLS handshake did not complete within 300ms"
        );
        assert!(
            waited >= Duration::from_millis(290) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        assert_eq!(
            std::io::Error::from(error).kind(),
            std::io::ErrorKind::TimedOut
        );
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
}

/// A peer that never reads cannot hold `close` past the shutdown timeout: the connection is
/// aborted and `close` gives `TimedOut`. (A clean close_notify is checked with Python above:
/// `unwrap()` there needs the server's close_notify.)
#[test]
fn close_sends_close_notify_and_shutdown_times_out() {
    let cert = Cert::localhost();
    let (server_config, client_config) = (cert.server_config(), cert.client_config());
    aio_task::run(async move {
        let reports = collect_reports();
        // The server never reads: the client's writes pile up until the socket buffers are full.
        let parked = Rc::new(RefCell::new(Vec::new()));
        let keep = Rc::clone(&parked);
        let server = start_tls_server(
            move |stream: TlsStream| {
                keep.borrow_mut().push(stream);
                async {}
            },
            "127.0.0.1",
            0,
            server_config,
        )
        .await?;
        let port = server.port().unwrap();
        let mut stream = open_tls_connection("127.0.0.1", port, client_config, Some("localhost"))
            .shutdown_timeout(0.3)
            .await?;
        // Fill the kernel buffers: writes stop being accepted at some point.
        let chunk = vec![b'x'; 64 * 1024];
        let filled = aio_task::wait_for(
            async {
                loop {
                    stream.write_all(&chunk).await?;
                }
                #[allow(unreachable_code)]
                Ok::<(), std::io::Error>(())
            },
            1.0,
        )
        .await;
        assert!(
            matches!(filled, Err(aio_task::Error::Timeout)),
            "{filled:?}"
        );
        let started = Instant::now();
        let error = stream.close().await.unwrap_err();
        let waited = started.elapsed();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut, "{error}");
        assert!(
            waited >= Duration::from_millis(290) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        assert!(stream.get_ref().writer().is_closing());

        parked.borrow_mut().clear();
        assert!(reports.borrow().is_empty(), "{:?}", reports.borrow());
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
}
