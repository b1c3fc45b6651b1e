//! hyper 1.x serving "Hello, world!" on aio: `start_server` accepts, each connection's
//! `(StreamReader, StreamWriter)` becomes one duplex `StreamPair` (`reader.unsplit(writer)`),
//! and hyper's HTTP/1 server drives it through the small `HyperIo` adapter of
//! `examples/support/hyper_io.rs` (hyper's `rt::Read` / `rt::Write` on futures-io).
//!
//! ```text
//! cargo run --release --example hyper_hello -- [--host 127.0.0.1] [--port 0]
//! ```
//!
//! prints `listening on 127.0.0.1:PORT` (port 0, the default, picks a free one) and serves
//! until Ctrl-C. The HTTP is hyper's: keep-alive, pipelining, `Connection: close`, HTTP/1.0,
//! `HEAD`, chunked bodies, half-closed clients (`half_close(true)`), and a malformed request answered with 400 before the connection
//! closes. Each connection is its own aio task; hyper's HTTP/1 server needs no executor of its
//! own (`serve_connection` is a future, awaited right here) and, without a `timer`, no timer:
//! hyper's header-read timeout is then off (see docs/design.md).

use aio::aio_streams::{Address, StreamReader, StreamWriter, start_server};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};

#[path = "support/hyper_io.rs"]
mod hyper_io;
use hyper_io::HyperIo;

/// Every request's answer. The body is read and dropped frame by frame first (hyper would
/// otherwise close a connection whose request body was left unread).
async fn hello(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let mut body = request.into_body();
    while let Some(frame) = body.frame().await {
        frame?;
    }
    let mut response = Response::new(Full::new(Bytes::from_static(b"Hello, world!")));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

/// One connection: hyper until the client or hyper closes it.
async fn serve(reader: StreamReader, writer: StreamWriter) {
    let io = HyperIo(reader.unsplit(writer));
    let connection = http1::Builder::new()
        // A client that sends its request and then shuts down its sending side still gets
        // the reply (hyper's default aborts the connection at the read EOF).
        .half_close(true)
        .serve_connection(io, service_fn(hello));
    if let Err(error) = connection.await {
        // A client going away mid-request is ordinary; a bad request was already answered
        // (400) by hyper. Either way this connection only.
        eprintln!("hyper_hello: connection closed: {error}");
    }
}

/// `--host H --port P` (defaults 127.0.0.1 and 0, a free port).
fn address() -> (String, u16) {
    let mut host = "127.0.0.1".to_owned();
    let mut port = 0;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--host", Some(value)) => host = value,
            ("--port", Some(value)) => port = value.parse().expect("--port takes a number"),
            _ => {
                eprintln!("usage: hyper_hello [--host HOST] [--port PORT]");
                std::process::exit(2);
            }
        }
    }
    (host, port)
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let (host, port) = address();
    let server = start_server(serve, &host, port).await?;
    for socket in server.sockets() {
        if let Address::Inet(addr) = socket {
            println!("listening on {addr}");
        }
    }
    server.serve_forever().await?;
    Ok(())
}
