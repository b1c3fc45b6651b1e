//! asyncio's `ssl=` on the ordinary streams (`aio_tls::open_connection` / `start_server` and
//! their Unix forms give a `StreamReader` and a `StreamWriter` over TLS) and
//! `StreamWriter.start_tls`, against real peers on loopback: Python's `ssl` module and
//! `asyncio` with `ssl=` / `start_tls`, and `curl --cacert` (skipped, with the reason
//! printed, where it is missing). Both directions, over TCP and Unix sockets; bad input
//! (wrong hostname, expired certificate, plaintext client, silent client) fails that
//! connection only while the server keeps serving. Certificates are made at run time. Run a
//! second time with `AIO_REACTOR=uring` for the io_uring reactor.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::path::Path;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use aio_streams::{StreamError, StreamReader, StreamWriter};
use aio_tls::rustls::{CertificateError, Error as RustlsError, ProtocolVersion};
use aio_tls::{StreamWriterTls, TlsError};
use common::{Cert, PyServer, collect_reports, python, scratch};

/// Where a test server listens: TCP on loopback or a Unix socket path.
#[derive(Clone, Debug)]
enum Place {
    Tcp,
    Unix(std::path::PathBuf),
}

/// Echoes lines (asyncio's `readline`) until EOF, then closes (close_notify).
async fn echo_lines(reader: StreamReader, writer: StreamWriter) -> Result<(), StreamError> {
    loop {
        let line = reader.readline().await?;
        if line.is_empty() {
            break;
        }
        writer.write(&line);
        writer.drain().await?;
    }
    assert!(reader.at_eof());
    writer.close();
    writer.wait_closed().await
}

/// Starts `aio_tls::start_server` / `start_unix_server` with `echo_lines`; its address as
/// Python arguments (`tcp PORT` or `unix PATH`).
async fn echo_server(
    place: &Place,
    cert: &Cert,
    handshake_timeout: f64,
) -> Result<(aio_streams::Server, Vec<String>), aio_task::Error> {
    let config = cert.server_config();
    Ok(match place {
        Place::Tcp => {
            let server = aio_tls::start_server(echo_lines, "127.0.0.1", 0, config)
                .ssl_handshake_timeout(handshake_timeout)
                .await?;
            let port = server.port().unwrap().to_string();
            (server, vec!["tcp".into(), port])
        }
        Place::Unix(path) => {
            let server = aio_tls::start_unix_server(echo_lines, path, config)
                .ssl_handshake_timeout(handshake_timeout)
                .await?;
            (server, vec!["unix".into(), path.display().to_string()])
        }
    })
}

/// Connects to an aio test server, plain (for the bad clients).
async fn plain_connect(
    place: &Place,
    address: &[String],
) -> Result<(StreamReader, StreamWriter), aio_task::Error> {
    match place {
        Place::Tcp => aio_streams::open_connection("127.0.0.1", address[1].parse().unwrap()).await,
        Place::Unix(path) => aio_streams::open_unix_connection(path).await,
    }
}

/// Connects over TLS to an aio test server.
async fn tls_connect(
    place: &Place,
    address: &[String],
    config: std::sync::Arc<aio_tls::rustls::ClientConfig>,
    name: &str,
) -> Result<(StreamReader, StreamWriter), TlsError> {
    let connect = match place {
        Place::Tcp => aio_tls::open_connection("127.0.0.1", address[1].parse().unwrap(), config),
        Place::Unix(path) => aio_tls::open_unix_connection(path, config),
    };
    connect
        .server_hostname(name)
        .ssl_handshake_timeout(10.0)
        .await
}

/// A Python `ssl` client: connects (argv 1-2: `tcp PORT` or `unix PATH`), verifies for
/// argv 4 against CA file argv 3, sends each further argument as a line and prints the
/// echo, then closes with close_notify both ways (`unwrap`).
const PY_CLIENT: &str = r#"
import socket, ssl, sys
kind, where, cafile, hostname = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=cafile)
if kind == "tcp":
    raw = socket.create_connection(("127.0.0.1", int(where)), timeout=10)
else:
    raw = socket.socket(socket.AF_UNIX); raw.settimeout(10); raw.connect(where)
try:
    with ctx.wrap_socket(raw, server_hostname=hostname) as tls:
        print("version", tls.version())
        f = tls.makefile("rwb")
        for line in sys.argv[5:]:
            f.write(line.encode() + b"\n"); f.flush()
            print("echo", f.readline().decode().rstrip("\n"))
        f.close()
        tls.unwrap()
        print("closed cleanly")
except ssl.SSLCertVerificationError as e:
    print("verify failed:", e.verify_message)
    sys.exit(3)
"#;

/// Python's `ssl` client against the streams server, over TCP and over a Unix socket; then
/// bad clients, each failing alone, and a good one served after them.
fn python_client_and_bad_clients(place: Place) {
    let cert = Cert::localhost();
    let other = Cert::localhost();
    let dir = scratch(&format!("streams-server-{place:?}").replace(['(', ')', '"', '/'], ""));
    let place = match place {
        Place::Unix(_) => Place::Unix(dir.join("tls.sock")),
        tcp => tcp,
    };
    let ca = dir.join("ca.pem").display().to_string();
    let wrong_ca = dir.join("wrong.pem").display().to_string();
    std::fs::write(&ca, &cert.pem).unwrap();
    std::fs::write(&wrong_ca, &other.pem).unwrap();
    let good_client = cert.client_config();
    aio_task::run(async move {
        let reports = collect_reports();
        let (server, address) = echo_server(&place, &cert, 0.5).await?;
        let python_args = |ca: &str, name: &str, lines: &[&str]| {
            let mut args = address.clone();
            args.extend([ca.to_owned(), name.to_owned()]);
            args.extend(lines.iter().map(|s| s.to_string()));
            args
        };

        // A good client: TLS 1.3, lines echoed, close_notify both ways.
        let (ok, out, err) =
            python(PY_CLIENT, python_args(&ca, "localhost", &["hi", "wörld"])).await;
        assert!(ok, "python failed:\n{out}\n{err}");
        assert_eq!(
            out, "version TLSv1.3\necho hi\necho wörld\nclosed cleanly\n",
            "{err}"
        );
        assert!(reports.borrow().is_empty(), "{:?}", reports.borrow());

        // Plaintext on the TLS port: an alert (or nothing), the connection closed, one report.
        let (reader, writer) = plain_connect(&place, &address).await?;
        writer.write(b"GET / HTTP/1.0\r\n\r\n");
        let reply = aio_task::wait_for(reader.read_to_end(), 10.0).await??;
        assert!(!reply.starts_with(b"HTTP"), "{reply:?}");
        drop((reader, writer));
        assert_eq!(reports.borrow().len(), 1, "{:?}", reports.borrow());
        assert_eq!(reports.borrow()[0].0, "TLS handshake failed");

        // A client that says nothing: closed after the handshake timeout, one report.
        let started = Instant::now();
        let (reader, writer) = plain_connect(&place, &address).await?;
        let reply = aio_task::wait_for(reader.read_to_end(), 10.0).await??;
        assert!(reply.is_empty());
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(450) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        drop((reader, writer));
        assert_eq!(reports.borrow().len(), 2, "{:?}", reports.borrow());
        assert!(
            reports.borrow()[1]
                .1
                .contains("did not complete within 500ms"),
            "{:?}",
            reports.borrow()
        );

        // Python with the wrong hostname, then trusting another certificate.
        let (ok, out, _) = python(PY_CLIENT, python_args(&ca, "example.com", &["x"])).await;
        assert!(!ok);
        assert!(out.contains("verify failed: Hostname mismatch"), "{out}");
        let (ok, out, _) = python(PY_CLIENT, python_args(&wrong_ca, "localhost", &["x"])).await;
        assert!(!ok);
        assert!(
            out.contains("verify failed: self-signed certificate"),
            "{out}"
        );

        // aio's client with the wrong hostname: a clear error for the client.
        let error = tls_connect(&place, &address, good_client.clone(), "example.com")
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
        aio_scheduler::sleep(0.05).await?; // the server's side of the last failure
        assert_eq!(reports.borrow().len(), 5, "{:?}", reports.borrow());
        assert!(
            reports
                .borrow()
                .iter()
                .all(|(m, _)| m == "TLS handshake failed")
        );

        // Still serving: Python, then aio's streams client.
        let (ok, out, err) = python(PY_CLIENT, python_args(&ca, "localhost", &["still"])).await;
        assert!(ok, "{out}\n{err}");
        assert!(out.ends_with("echo still\nclosed cleanly\n"), "{out}");
        let (reader, writer) = tls_connect(&place, &address, good_client, "localhost").await?;
        writer.write(b"aio\n");
        assert_eq!(reader.readline().await?, b"aio\n");
        writer.write_eof(); // close_notify + half-close: the server's readline sees EOF
        assert_eq!(reader.read(100).await?, b"");
        assert!(reader.at_eof());
        assert!(server.is_serving());
        assert_eq!(reports.borrow().len(), 5, "{:?}", reports.borrow());
        server.close();
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn python_ssl_client_and_bad_clients_on_a_tcp_streams_server() {
    python_client_and_bad_clients(Place::Tcp);
}

#[test]
fn python_ssl_client_and_bad_clients_on_a_unix_streams_server() {
    python_client_and_bad_clients(Place::Unix(Default::default()));
}

/// A Python `asyncio` server with `ssl=` on TCP and on a Unix socket: upper-cases each line;
/// "quit" closes. Prints "ready PORT". Arguments: cert, key, Unix path.
const PY_ASYNCIO_SERVER: &str = r#"
import asyncio, ssl, sys
async def handle(reader, writer):
    while line := await reader.readline():
        if line == b"quit\n":
            break
        writer.write(line.upper())
        await writer.drain()
    writer.close()
async def main():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    tcp = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    unix = await asyncio.start_unix_server(handle, sys.argv[3], ssl=ctx)
    print(tcp.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(30)
asyncio.run(main())
"#;

/// aio's streams client against Python's asyncio TLS server, over TCP and a Unix socket:
/// readline, readexactly, readuntil, at_eof, tls_info; the server's close reads as EOF; a
/// wrong hostname and an untrusted certificate are clear errors, and the server serves on.
#[test]
fn aio_streams_client_and_a_python_asyncio_tls_server() {
    let cert = Cert::localhost();
    let dir = scratch("streams-client");
    std::fs::write(dir.join("cert.pem"), &cert.pem).unwrap();
    std::fs::write(dir.join("key.pem"), &cert.key_pem).unwrap();
    let sock = dir.join("py.sock");
    let args =
        [dir.join("cert.pem"), dir.join("key.pem"), sock.clone()].map(|p| p.display().to_string());
    let (_server, first) = PyServer::start(PY_ASYNCIO_SERVER, &args);
    let port: u16 = first.parse().expect("python printed its port");
    let good = cert.client_config();
    let untrusted = Cert::localhost().client_config();
    aio_task::run(async move {
        for unix in [false, true] {
            let connect = if unix {
                aio_tls::open_unix_connection(&sock, good.clone()).server_hostname("localhost")
            } else {
                aio_tls::open_connection("127.0.0.1", port, good.clone()) // verified for 127.0.0.1
            };
            let (reader, writer) = connect.limit(1024).await?;
            assert_eq!(reader.limit(), 1024);
            let info = writer.tls_info().expect("TLS info");
            assert_eq!(info.protocol_version(), Some(ProtocolVersion::TLSv1_3));
            assert_eq!(info.peer_certificates().unwrap()[0], cert.der);
            writer.write(b"hello\nexact|until\n");
            writer.drain().await?;
            assert_eq!(reader.readline().await?, b"HELLO\n");
            assert_eq!(reader.readexactly(5).await?, b"EXACT");
            assert_eq!(reader.readuntil(b"\n").await?, b"|UNTIL\n");
            // A line the size of several TLS records (under asyncio's 64 KiB line limit).
            let long = vec![b'a'; 60_000];
            writer.write(&long);
            writer.write(b"\n");
            writer.drain().await?;
            let reply = reader.readexactly(60_001).await?;
            assert!(reply[..60_000].iter().all(|&b| b == b'A') && reply[60_000] == b'\n');
            writer.write(b"quit\n");
            assert_eq!(reader.read(100).await?, b"", "the server's close is EOF");
            assert!(reader.at_eof());
            assert!(reader.exception().is_none());
            writer.close();
            writer.wait_closed().await?;
        }

        let error = aio_tls::open_connection("127.0.0.1", port, good.clone())
            .server_hostname("example.com")
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
        let error = aio_tls::open_unix_connection(&sock, untrusted)
            .server_hostname("localhost")
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
        assert!(matches!(
            aio_tls::open_unix_connection(&sock, good.clone()).await,
            Err(TlsError::NoServerName)
        ));
        let (reader, writer) = aio_tls::open_connection("127.0.0.1", port, good)
            .server_hostname("localhost")
            .await?;
        writer.write(b"again\n");
        assert_eq!(reader.readline().await?, b"AGAIN\n");
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
    let _ = std::fs::remove_dir_all(dir);
}

/// An expired certificate is refused by aio's client with rustls's reason; the server
/// reports that connection and serves the next.
#[test]
fn expired_certificate_is_refused_and_the_streams_server_serves_on() {
    let expired = Cert::expired();
    let (server_config, client_config) = (expired.server_config(), expired.client_config());
    aio_task::run(async move {
        let reports = collect_reports();
        let server = aio_tls::start_server(echo_lines, "127.0.0.1", 0, server_config).await?;
        let port = server.port().unwrap();
        let error = aio_tls::open_connection("127.0.0.1", port, client_config)
            .server_hostname("localhost")
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
        assert!(server.is_serving());
        // Still accepting: a plain connection reaches the handshake (and times nothing out).
        let (_reader, writer) = aio_streams::open_connection("127.0.0.1", port).await?;
        assert!(writer.peername().is_some());
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
}

/// aio client and aio server, both on the streams: bulk data through full socket buffers
/// (writes that the socket takes only in part, the TLS records sent later), drain's flow
/// control, write_eof as a TLS half-close with the reply still read, and the halves'
/// errors after an abort.
#[test]
fn bulk_half_close_and_abort_between_aio_ends() {
    let cert = Cert::localhost();
    let (server_config, client_config) = (cert.server_config(), cert.client_config());
    aio_task::run(async move {
        let reports = collect_reports();
        // The server reads everything up to EOF (the client's close_notify), then answers
        // with its length and a checksum, and closes.
        let server = aio_tls::start_server(
            |reader: StreamReader, writer: StreamWriter| async move {
                // Let the client's writes pile up first.
                aio_scheduler::sleep(0.1).await?;
                let data = reader.read_to_end().await?;
                let sum: u64 = data.iter().map(|&b| u64::from(b)).sum();
                writer.write(format!("{} {sum}\n", data.len()).as_bytes());
                writer.close();
                writer.wait_closed().await?;
                Ok::<_, aio_task::Error>(())
            },
            "127.0.0.1",
            0,
            server_config,
        )
        .await?;
        let port = server.port().unwrap();
        let (reader, writer) = aio_tls::open_connection("127.0.0.1", port, client_config.clone())
            .server_hostname("localhost")
            .await?;
        let mut expected = 0u64;
        let mut total = 0usize;
        for round in 0..64u32 {
            let chunk: Vec<u8> = (0..100_003u32)
                .map(|i| (i.wrapping_mul(31) ^ round) as u8)
                .collect();
            expected += chunk.iter().map(|&b| u64::from(b)).sum::<u64>();
            total += chunk.len();
            writer.write(&chunk);
            writer.drain().await?;
            assert!(writer.get_write_buffer_size() <= 64 * 1024);
        }
        writer.write_eof();
        assert!(writer.can_write_eof());
        let reply = aio_task::wait_for(reader.readline(), 20.0).await??;
        assert_eq!(
            String::from_utf8(reply).unwrap(),
            format!("{total} {expected}\n")
        );
        assert_eq!(reader.read(10).await?, b"");
        writer.close();
        writer.wait_closed().await?;

        // abort: no close_notify; the aborting end's own reader fails, the writer is closed.
        let (reader, writer) = aio_tls::open_connection("127.0.0.1", port, client_config)
            .server_hostname("localhost")
            .await?;
        writer.write(b"dropped?");
        writer.abort();
        assert!(writer.is_closing());
        assert!(reader.read(10).await.is_err());
        assert!(reader.exception().is_some());
        assert!(reports.borrow().is_empty(), "{:?}", reports.borrow());
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
}

/// A Python `ssl` client that reads everything the server sends and tells how it ended:
/// "clean N" after close_notify, "ragged N" for a close without it. Arguments: port, CA.
const PY_READ_ALL: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
tls = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
import time; time.sleep(0.3)  # let the server's writes fill the socket first
n = 0
try:
    while chunk := tls.recv(65536):
        n += len(chunk)
    print("clean", n)
except ssl.SSLEOFError:
    print("ragged", n)
"#;

/// `close` gets close_notify out even when the socket is full at the time (it follows the
/// data once the peer reads), and `abort` sends none: Python's `ssl` tells the two apart.
#[test]
fn close_sends_close_notify_behind_a_full_socket_and_abort_sends_none() {
    let cert = Cert::localhost();
    let dir = scratch("close-notify");
    let ca = dir.join("ca.pem").display().to_string();
    std::fs::write(&ca, &cert.pem).unwrap();
    aio_task::run(async move {
        for abort in [false, true] {
            let server = aio_tls::start_server(
                move |_reader: StreamReader, writer: StreamWriter| async move {
                    // 4 MiB: more than the socket buffers hold while the client sleeps.
                    for _ in 0..64 {
                        writer.write(&[b'z'; 64 * 1024]);
                    }
                    if abort {
                        // Some of it went out; the rest is dropped, and no close_notify.
                        aio_scheduler::sleep(0.05).await?;
                        writer.abort();
                    } else {
                        writer.close();
                        writer.wait_closed().await?;
                    }
                    Ok::<_, aio_task::Error>(())
                },
                "127.0.0.1",
                0,
                cert.server_config(),
            )
            .ssl_shutdown_timeout(20.0)
            .await?;
            let port = server.port().unwrap().to_string();
            let (ok, out, err) = python(PY_READ_ALL, vec![port, ca.clone()]).await;
            assert!(ok, "{out}\n{err}");
            if abort {
                assert!(out.starts_with("ragged "), "{out}");
                let n: usize = out.trim()[7..].parse().unwrap();
                assert!(n < 64 * 64 * 1024, "{out}");
            } else {
                assert_eq!(out, format!("clean {}\n", 64 * 64 * 1024), "{err}");
            }
        }
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
    let _ = std::fs::remove_dir_all(dir);
}

/// STARTTLS, aio server and Python `ssl` client: a plaintext exchange, then the same
/// connection wrapped; the aio side upgrades with `start_tls` and keeps its reader and
/// writer.
const PY_STARTTLS_CLIENT: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = raw.makefile("rwb")
f.write(b"STARTTLS\n"); f.flush()
print("plain", f.readline().decode().strip())
f.close()
tls = ctx.wrap_socket(raw, server_hostname="localhost")
print("version", tls.version())
tls.sendall(b"secret\n")
print("tls", tls.recv(100).decode().strip())
tls.unwrap()
print("closed cleanly")
"#;

#[test]
fn starttls_aio_server_python_client() {
    let cert = Cert::localhost();
    let dir = scratch("starttls-server");
    let ca = dir.join("ca.pem").display().to_string();
    std::fs::write(&ca, &cert.pem).unwrap();
    let config = cert.server_config();
    aio_task::run(async move {
        let reports = collect_reports();
        let server = aio_streams::start_server(
            move |reader: StreamReader, writer: StreamWriter| {
                let config = config.clone();
                async move {
                    assert_eq!(reader.readline().await?, b"STARTTLS\n");
                    assert!(writer.tls_info().is_none());
                    writer.write(b"220 go ahead\n");
                    writer.start_tls(config).ssl_handshake_timeout(10.0).await?;
                    assert!(writer.tls_info().unwrap().is_server());
                    let secret = reader.readline().await?;
                    writer.write(&secret.to_ascii_uppercase());
                    // Python's unwrap sends close_notify and waits for ours.
                    assert_eq!(reader.read(10).await?, b"");
                    writer.close();
                    writer.wait_closed().await?;
                    Ok::<_, aio_task::Error>(())
                }
            },
            "127.0.0.1",
            0,
        )
        .await?;
        let port = server.port().unwrap().to_string();
        let (ok, out, err) = python(PY_STARTTLS_CLIENT, vec![port, ca]).await;
        assert!(ok, "{out}\n{err}");
        assert_eq!(
            out, "plain 220 go ahead\nversion TLSv1.3\ntls SECRET\nclosed cleanly\n",
            "{err}"
        );
        aio_scheduler::sleep(0.05).await?;
        assert!(reports.borrow().is_empty(), "{:?}", reports.borrow());
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
    let _ = std::fs::remove_dir_all(dir);
}

/// A Python asyncio server that upgrades with 3.11's `StreamWriter.start_tls` after a
/// plaintext greeting. Prints its port. Arguments: cert, key.
const PY_STARTTLS_SERVER: &str = r#"
import asyncio, ssl, sys
async def handle(reader, writer):
    assert await reader.readline() == b"STARTTLS\n"
    writer.write(b"220 go ahead\n")
    await writer.drain()
    await writer.start_tls(ctx)
    line = await reader.readline()
    writer.write(line.upper() + writer.get_extra_info("ssl_object").version().encode() + b"\n")
    await writer.drain()
    writer.close()
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(30)
asyncio.run(main())
"#;

#[test]
fn starttls_aio_client_python_asyncio_server() {
    let cert = Cert::localhost();
    let dir = scratch("starttls-client");
    std::fs::write(dir.join("cert.pem"), &cert.pem).unwrap();
    std::fs::write(dir.join("key.pem"), &cert.key_pem).unwrap();
    let args = [dir.join("cert.pem"), dir.join("key.pem")].map(|p| p.display().to_string());
    let (_server, first) = PyServer::start(PY_STARTTLS_SERVER, &args);
    let port: u16 = first.parse().expect("python printed its port");
    let config = cert.client_config();
    aio_task::run(async move {
        let (reader, writer) = aio_streams::open_connection("127.0.0.1", port).await?;
        writer.write(b"STARTTLS\n");
        assert_eq!(reader.readline().await?, b"220 go ahead\n");
        // A client needs the name to verify.
        let refused = writer.start_tls(config.clone()).await;
        assert!(
            matches!(refused, Err(TlsError::NoServerName)),
            "{refused:?}"
        );
        writer
            .start_tls(config.clone())
            .server_hostname("localhost")
            .ssl_handshake_timeout(10.0)
            .await?;
        let info = writer.tls_info().unwrap();
        assert!(!info.is_server());
        writer.write(b"secret\n");
        assert_eq!(reader.readline().await?, b"SECRET\n");
        assert_eq!(reader.readline().await?, b"TLSv1.3\n");
        assert_eq!(reader.read(10).await?, b"");
        // A second upgrade is refused.
        let twice = writer.start_tls(config).server_hostname("localhost").await;
        assert!(matches!(twice, Err(TlsError::Handshake(_))), "{twice:?}");
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
    let _ = std::fs::remove_dir_all(dir);
}

/// As asyncio: bytes the reader buffered before `start_tls` stay buffered and are read
/// first (here the client sent "EXTRA" with its STARTTLS line, before the handshake).
/// A failed upgrade (the peer never answers) times out, aborts the connection, and its
/// reader fails with the reason.
#[test]
fn starttls_keeps_buffered_plaintext_and_a_failed_upgrade_aborts() {
    let cert = Cert::localhost();
    let (server_config, client_config) = (cert.server_config(), cert.client_config());
    aio_task::run(async move {
        let got = Rc::new(std::cell::RefCell::new(Vec::new()));
        let keep = got.clone();
        let server = aio_streams::start_server(
            move |reader: StreamReader, writer: StreamWriter| {
                let (config, got) = (server_config.clone(), keep.clone());
                async move {
                    reader.readline().await?;
                    // Pull "EXTRA" into the buffer without consuming it (readuntil is
                    // cancel safe), whether it came with the line or after it.
                    while reader.buffered() < 5 {
                        let _ = aio_task::wait_for(reader.readuntil(b"\0"), 0.02).await;
                    }
                    writer.write(b"go\n");
                    writer.start_tls(config).await?;
                    let extra = reader.readexactly(5).await?;
                    let line = reader.readline().await?;
                    got.borrow_mut().extend([extra, line]);
                    Ok::<_, aio_task::Error>(())
                }
            },
            "127.0.0.1",
            0,
        )
        .await?;
        let port = server.port().unwrap();
        let (reader, writer) = aio_streams::open_connection("127.0.0.1", port).await?;
        writer.write(b"STARTTLS\nEXTRA");
        assert_eq!(reader.readline().await?, b"go\n");
        writer
            .start_tls(client_config.clone())
            .server_hostname("localhost")
            .await?;
        writer.write(b"over tls\n");
        writer.drain().await?;
        for _ in 0..200 {
            if got.borrow().len() == 2 {
                break;
            }
            aio_scheduler::sleep(0.01).await?;
        }
        assert_eq!(*got.borrow(), [b"EXTRA".to_vec(), b"over tls\n".to_vec()]);

        // A plain server that never answers the handshake.
        let silent = aio_streams::start_server(
            |reader: StreamReader, writer: StreamWriter| async move {
                let _ = reader.read_to_end().await;
                drop(writer);
            },
            "127.0.0.1",
            0,
        )
        .await?;
        let (reader, writer) =
            aio_streams::open_connection("127.0.0.1", silent.port().unwrap()).await?;
        let started = Instant::now();
        let error = writer
            .start_tls(client_config)
            .server_hostname("localhost")
            .ssl_handshake_timeout(0.3)
            .await
            .unwrap_err();
        assert!(matches!(error, TlsError::HandshakeTimeout(_)), "{error}");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(290) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        assert!(writer.is_closing());
        let read = reader.read(10).await.unwrap_err();
        assert!(
            read.to_string().contains("did not complete within 300ms"),
            "{read}"
        );
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
}

/// `curl --cacert` against an HTTPS responder written on the streams with `ssl=`.
#[test]
fn curl_gets_a_page_from_a_streams_tls_server() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let cert = Cert::localhost();
    let dir = scratch("curl");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &cert.pem).unwrap();
    aio_task::run(async move {
        let server = aio_tls::start_server(
            |reader: StreamReader, writer: StreamWriter| async move {
                let head = reader.readuntil(b"\r\n\r\n").await?;
                assert!(head.starts_with(b"GET /hello HTTP/1.1\r\n"));
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n",
                );
                writer.close();
                writer.wait_closed().await?;
                Ok::<_, aio_task::Error>(())
            },
            "127.0.0.1",
            0,
            cert.server_config(),
        )
        .await?;
        let url = format!("https://localhost:{}/hello", server.port().unwrap());
        let ca = ca.clone();
        let curl = |with_ca: bool| {
            let (url, ca) = (url.clone(), ca.clone());
            aio_task::to_thread(move || {
                let mut command = Command::new("timeout");
                command.args(["30", "curl", "--silent", "--show-error"]);
                if with_ca {
                    command.arg("--cacert").arg(Path::new(&ca));
                }
                command.arg(&url).output().expect("curl runs")
            })
        };
        let refused = curl(false).await?;
        assert_eq!(refused.status.code(), Some(60), "{refused:?}"); // untrusted certificate
        let ok = curl(true).await?;
        assert!(ok.status.success(), "{ok:?}");
        assert_eq!(ok.stdout, b"hello\n");
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
    let _ = std::fs::remove_dir_all(dir);
}

/// Regression guard for the writer's promise (`aio_streams::Layer`): a write the socket
/// takes only in part, with nothing written after it and no close, still arrives whole —
/// the writer counts bytes as sent only once their TLS records are on the wire, so its
/// background flush keeps going until they are.
#[test]
fn a_last_write_larger_than_the_socket_buffers_arrives_whole() {
    const SIZE: usize = 16 << 20;
    let cert = Cert::localhost();
    let (server_config, client_config) = (cert.server_config(), cert.client_config());
    aio_task::run(async move {
        let server = aio_tls::start_server(
            |reader: StreamReader, writer: StreamWriter| async move {
                writer.write(&vec![b'q'; SIZE]);
                // No more writes, no close: only the reader's EOF ends this.
                let _ = reader.read_to_end().await;
                Ok::<_, aio_task::Error>(())
            },
            "127.0.0.1",
            0,
            server_config,
        )
        .await?;
        let (reader, writer) =
            aio_tls::open_connection("127.0.0.1", server.port().unwrap(), client_config)
                .server_hostname("localhost")
                .await?;
        aio_scheduler::sleep(0.2).await?; // the server's socket fills up meanwhile
        let data = aio_task::wait_for(reader.readexactly(SIZE), 30.0).await??;
        assert!(data.iter().all(|&b| b == b'q'));
        writer.close();
        writer.wait_closed().await?;
        Ok::<_, aio_task::Error>(())
    })
    .expect("loop")
    .expect("test");
}
