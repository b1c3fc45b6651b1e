//! asyncio's `EchoServerProtocol` (the "TCP Echo Server" of asyncio's protocol docs) on
//! aio's protocol layer: `create_server` with a protocol factory, the transport echoing in
//! `data_received`. Prints the port it listens on, then serves until interrupted.
//!
//! ```text
//! cargo run --release --example echo_protocol -- [--port 8888]
//! ```
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

/// `--port P` (default 8888; 0 picks a free port).
fn port() -> u16 {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => 8888,
        (Some("--port"), Some(port)) => port.parse().expect("--port takes a number"),
        _ => {
            eprintln!("usage: echo_protocol [--port PORT]");
            std::process::exit(2);
        }
    }
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let server = create_server(
        || EchoServerProtocol { transport: None },
        "127.0.0.1",
        port(),
    )
    .await?;
    if let Some(addr) = server.sockets().first() {
        println!("Serving on {addr}");
    }
    server.serve_forever().await?;
    Ok(())
}
