//! The UDP echo server of asyncio's documentation ("UDP Echo Server", `EchoServerProtocol`)
//! on aio's protocol API: `create_datagram_endpoint` with a `DatagramProtocol` whose
//! `datagram_received` sends each datagram back where it came from.
//!
//! ```text
//! cargo run --release --example udp_echo_protocol -- [--port 9999]
//! cargo run --release --example udp_echo_protocol -- --demo
//! ```
//!
//! Without `--demo` it serves on 127.0.0.1 until interrupted (try
//! `python3 -c 'import socket; s=socket.socket(2,2); s.sendto(b"hi",("127.0.0.1",9999)); print(s.recv(9))'`).
//! `--demo` serves on a free port and runs the documentation's `EchoClientProtocol` against
//! it: the client sends "Hello World!" from `connection_made`, prints the echo, closes, and
//! `main` waits for its `connection_lost`:
//!
//! ```text
//! Starting UDP server
//! Send: Hello World!
//! Received 'Hello World!' from 127.0.0.1:PORT
//! Send 'Hello World!' to 127.0.0.1:PORT
//! Received: Hello World!
//! Close the socket
//! Connection closed
//! ```

use std::net::SocketAddr;

use aio::{DatagramProtocol, DatagramTransport, Future, create_datagram_endpoint, create_future};

/// asyncio's `EchoServerProtocol`.
#[derive(Default)]
struct EchoServerProtocol {
    transport: Option<DatagramTransport>,
}

impl DatagramProtocol for EchoServerProtocol {
    fn connection_made(&mut self, transport: &DatagramTransport) {
        self.transport = Some(transport.clone());
    }

    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        let message = String::from_utf8_lossy(data);
        println!("Received '{message}' from {addr}");
        println!("Send '{message}' to {addr}");
        if let Some(transport) = &self.transport {
            // Only a connected transport refuses an address; this one is not connected.
            let _ = transport.sendto(data, Some(addr));
        }
    }
}

/// asyncio's `EchoClientProtocol`: `on_con_lost` is done when the connection is lost.
struct EchoClientProtocol {
    message: String,
    on_con_lost: Future<()>,
    transport: Option<DatagramTransport>,
}

impl DatagramProtocol for EchoClientProtocol {
    fn connection_made(&mut self, transport: &DatagramTransport) {
        self.transport = Some(transport.clone());
        println!("Send: {}", self.message);
        let _ = transport.sendto(self.message.as_bytes(), None);
    }

    fn datagram_received(&mut self, data: &[u8], _addr: SocketAddr) {
        println!("Received: {}", String::from_utf8_lossy(data));
        println!("Close the socket");
        if let Some(transport) = &self.transport {
            transport.close();
        }
    }

    fn error_received(&mut self, error: std::io::Error) {
        println!("Error received: {error}");
    }

    fn connection_lost(&mut self, _error: Option<std::io::Error>) {
        println!("Connection closed");
        let _ = self.on_con_lost.set_result(());
    }
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let mut demo = false;
    let mut port = 9999;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--demo" => demo = true,
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("--port takes a number");
            }
            _ => {
                eprintln!("usage: udp_echo_protocol [--port PORT] [--demo]");
                std::process::exit(2);
            }
        }
    }
    println!("Starting UDP server");
    let port = if demo { 0 } else { port };
    let (transport, _protocol) =
        create_datagram_endpoint(EchoServerProtocol::default, Some(("127.0.0.1", port)), None)
            .await?;
    if !demo {
        println!("Listening on {}", transport.sockname().expect("bound"));
        // asyncio's example serves for an hour.
        let served = aio::sleep(3600.0).await;
        transport.close();
        return Ok(served?);
    }
    let port = transport.sockname().expect("bound").port();
    let on_con_lost = create_future::<()>()?;
    let lost = on_con_lost.clone();
    let (client, _) = create_datagram_endpoint(
        move || EchoClientProtocol {
            message: "Hello World!".into(),
            on_con_lost: lost,
            transport: None,
        },
        None,
        Some(("127.0.0.1", port)),
    )
    .await?;
    let waited = on_con_lost.await;
    client.close();
    transport.close();
    waited
}
