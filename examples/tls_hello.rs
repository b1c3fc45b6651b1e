//! An HTTPS hello server on aio-tls: a certificate for `localhost` made at start-up (rcgen),
//! TLS through rustls, and a minimal keep-alive HTTP/1.1 on the [`TlsStream`].
//!
//! ```text
//! cargo run --release --example tls_hello -- [--host 127.0.0.1] [--port 0] [--cert-out cert.pem]
//! curl --cacert cert.pem https://localhost:PORT/
//! ```
//!
//! prints `listening on 127.0.0.1:PORT` (port 0, the default, picks a free one) and serves
//! until Ctrl-C. `--cert-out PATH` writes the certificate (PEM) before listening, so any
//! client can verify the server (`curl --cacert PATH`, Python's
//! `ssl.create_default_context(cafile=PATH)`). Every request gets `Hello, world!`; a request
//! with `Connection: close` (or HTTP/1.0) ends the connection, a malformed or oversized head
//! gets 400 and the connection closes. A failed handshake (a plaintext client, an untrusted
//! certificate on the client's side) is printed by the loop's exception handler and affects
//! that connection only.

use aio_tls::pki_types::PrivateKeyDer;
use aio_tls::{TlsStream, start_tls_server};
use futures_lite::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// The longest request head accepted.
const MAX_HEAD: usize = 8 * 1024;

const HELLO: &[u8] = b"Hello, world!";

/// Reads one request head (up to the blank line): `None` at EOF before any byte.
async fn read_head(stream: &mut TlsStream) -> std::io::Result<Option<Result<Vec<String>, ()>>> {
    let mut lines = Vec::new();
    let mut size = 0;
    loop {
        let mut line = String::new();
        // `take` bounds a line that never ends.
        let n = (&mut *stream)
            .take((MAX_HEAD - size + 1) as u64)
            .read_line(&mut line)
            .await;
        let n = match n {
            Ok(n) => n,
            // Not UTF-8: a bad request.
            Err(error) if error.kind() == std::io::ErrorKind::InvalidData => {
                return Ok(Some(Err(())));
            }
            Err(error) => return Err(error),
        };
        if n == 0 {
            return Ok(if lines.is_empty() {
                None
            } else {
                Some(Err(()))
            });
        }
        size += n;
        if size > MAX_HEAD || !line.ends_with('\n') {
            return Ok(Some(Err(())));
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            if lines.is_empty() {
                continue; // blank lines before a request are ignored (RFC 9112 2.2)
            }
            return Ok(Some(Ok(lines)));
        }
        lines.push(line);
    }
}

/// One connection: requests until the client closes, asks to close, or sends a bad head.
async fn serve(mut stream: TlsStream) -> std::io::Result<()> {
    while let Some(head) = read_head(&mut stream).await? {
        let Ok(lines) = head else {
            stream
                .write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await?;
            break;
        };
        let request = lines[0].split(' ').collect::<Vec<_>>();
        let [method, _target, version] = request[..] else {
            stream
                .write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await?;
            break;
        };
        let asks_close = lines[1..].iter().any(|line| {
            let lower = line.to_ascii_lowercase();
            lower.starts_with("connection:") && lower.contains("close")
        });
        let close = asks_close || version != "HTTP/1.1";
        let body: &[u8] = if method == "HEAD" { b"" } else { HELLO };
        let connection = if close { "close" } else { "keep-alive" };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
            HELLO.len()
        );
        stream.write_all(&[head.as_bytes(), body].concat()).await?;
        if close {
            break;
        }
    }
    // close_notify, then half-close (within the shutdown timeout).
    stream.close().await
}

/// `--host H --port P --cert-out PATH`.
fn arguments() -> (String, u16, Option<String>) {
    let (mut host, mut port, mut cert_out) = ("127.0.0.1".to_owned(), 0, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--host", Some(value)) => host = value,
            ("--port", Some(value)) => port = value.parse().expect("--port takes a number"),
            ("--cert-out", Some(value)) => cert_out = Some(value),
            _ => {
                eprintln!("usage: tls_hello [--host HOST] [--port PORT] [--cert-out PATH]");
                std::process::exit(2);
            }
        }
    }
    (host, port, cert_out)
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let (host, port, cert_out) = arguments();
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names)
        .map_err(|e| std::io::Error::other(format!("certificate: {e}")))?;
    if let Some(path) = cert_out {
        std::fs::write(&path, certified.cert.pem())?;
    }
    let key = PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let config = aio_tls::server_config(vec![certified.cert.der().clone()], key)
        .map_err(|e| std::io::Error::other(format!("TLS configuration: {e}")))?;
    let server = start_tls_server(serve, &host, port, config).await?;
    let addr = match server.sockets().first() {
        Some(aio::aio_streams::Address::Inet(addr)) => addr.to_string(),
        other => format!("{other:?}"),
    };
    println!("listening on {addr}");
    server.serve_forever().await?;
    Ok(())
}
