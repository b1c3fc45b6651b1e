//! asyncio's `EchoServerProtocol` (the "TCP Echo Server" of asyncio's protocol docs) on
//! aio's protocol layer: `create_server` with a protocol factory, the transport echoing in
//! `data_received`. Prints the port it listens on, then serves until interrupted.
//!
//! ```text
//! cargo run --release --example echo_protocol -- [--port 8888] [--tls [--cert-out cert.pem]]
//! ```
//!
//! With `--tls` the same protocol is served over TLS (asyncio's `create_server(..., ssl=ctx)`,
//! here `aio_tls::create_server`): a certificate for `localhost` is made at start-up and,
//! with `--cert-out PATH`, written as PEM for a client to verify, e.g.
//! `openssl s_client -CAfile PATH -connect 127.0.0.1:PORT`.
//!
//! Output, with `printf 'Hello World!' | nc -q1 127.0.0.1 PORT` as the client:
//!
//! ```text
//! Serving on 127.0.0.1:8888
//! Connection from 127.0.0.1:40592
//! Data received: "Hello World!"
//! Send: "Hello World!"
//! Close the client socket
//! ```

use aio::{Protocol, Transport, create_server};
use aio_tls::pki_types::PrivateKeyDer;

/// The asyncio docs' `EchoServerProtocol`.
struct EchoServerProtocol {
    transport: Option<Transport>,
}

impl Protocol for EchoServerProtocol {
    fn connection_made(&mut self, transport: &Transport) {
        if let Some(peer) = transport.peername() {
            println!("Connection from {peer}");
        }
        self.transport = Some(transport.clone());
    }

    fn data_received(&mut self, data: &[u8]) {
        let message = String::from_utf8_lossy(data);
        println!("Data received: {message:?}");
        println!("Send: {message:?}");
        let transport = self.transport.as_ref().expect("connection_made came first");
        transport.write(data);
        println!("Close the client socket");
        transport.close();
    }
}

/// The command line: `--port P` (default 8888; 0 picks a free port), `--tls`,
/// `--cert-out PATH`.
struct Options {
    port: u16,
    tls: bool,
    cert_out: Option<String>,
}

fn options() -> Options {
    let mut options = Options {
        port: 8888,
        tls: false,
        cert_out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--port" => {
                let port = args.next().and_then(|p| p.parse().ok());
                options.port = port.unwrap_or_else(|| usage());
            }
            "--tls" => options.tls = true,
            "--cert-out" => options.cert_out = Some(args.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    options
}

fn usage() -> ! {
    eprintln!("usage: echo_protocol [--port PORT] [--tls [--cert-out PATH]]");
    std::process::exit(2);
}

/// A TLS configuration with a certificate for `localhost` made now, written to `cert_out`.
fn tls_config(
    cert_out: Option<&str>,
) -> Result<std::sync::Arc<aio_tls::rustls::ServerConfig>, aio::Error> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names)
        .map_err(|e| std::io::Error::other(format!("certificate: {e}")))?;
    if let Some(path) = cert_out {
        std::fs::write(path, certified.cert.pem())?;
    }
    let key = PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let config = aio_tls::server_config(vec![certified.cert.der().clone()], key)
        .map_err(|e| std::io::Error::other(format!("TLS configuration: {e}")))?;
    Ok(config)
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let options = options();
    let factory = || EchoServerProtocol { transport: None };
    let server = if options.tls {
        let config = tls_config(options.cert_out.as_deref())?;
        aio_tls::create_server(factory, "127.0.0.1", options.port, config).await?
    } else {
        create_server(factory, "127.0.0.1", options.port).await?
    };
    if let Some(addr) = server.sockets().first() {
        println!("Serving on {addr}");
    }
    server.serve_forever().await?;
    Ok(())
}
