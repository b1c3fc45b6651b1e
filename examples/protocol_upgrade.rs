//! `Transport::set_protocol` (asyncio's `transport.set_protocol`): a connection that starts
//! with a line protocol of commands and, on `UPGRADE`, hands itself over to a
//! `BufferedProtocol` echoing raw bytes, the way an HTTP `Upgrade:` hands a connection to a
//! WebSocket protocol. Self-contained: the server and a streams client in one program.
//!
//! ```text
//! cargo run --release --example protocol_upgrade
//! ```
//!
//! Output:
//!
//! ```text
//! Serving on 127.0.0.1:PORT
//! client> PING
//! server< PONG
//! client> UPGRADE
//! server< OK, echoing bytes from now on
//! client> hello, raw bytes
//! server< hello, raw bytes
//! Echo protocol: 16 bytes echoed, connection closed
//! ```

use aio::{
    Buffered, BufferedProtocol, Future, Protocol, Transport, create_future, create_server,
    open_connection,
};

/// The protocol a connection starts with: one command per line.
struct Commands {
    transport: Option<Transport>,
    /// Bytes of a line not complete yet.
    pending: Vec<u8>,
    /// Done when the connection's last protocol hears `connection_lost`.
    closed: Future<()>,
}

impl Protocol for Commands {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }

    fn data_received(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
        let transport = self.transport.clone().expect("connection_made came first");
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            match line.trim_ascii() {
                b"PING" => transport.write(b"PONG\n"),
                b"UPGRADE" => {
                    transport.write(b"OK, echoing bytes from now on\n");
                    let mut echo = Echo {
                        transport: transport.clone(),
                        buf: vec![0; 4096],
                        echoed: 0,
                        closed: self.closed.clone(),
                    };
                    // What came after the command line already belongs to the new protocol.
                    let rest = std::mem::take(&mut self.pending);
                    echo.echo(&rest);
                    // Takes effect as this callback returns: the next bytes go to `echo`.
                    transport.set_protocol(Buffered(echo));
                    return;
                }
                other => {
                    let reply = format!("unknown command {:?}\n", String::from_utf8_lossy(other));
                    transport.write(reply.as_bytes());
                }
            }
        }
    }

    fn connection_lost(&mut self, _: Option<std::io::Error>) {
        let _ = self.closed.set_result(());
    }
}

/// The protocol after the upgrade: reads land in its own buffer and go straight back.
struct Echo {
    transport: Transport,
    buf: Vec<u8>,
    echoed: usize,
    closed: Future<()>,
}

impl Echo {
    fn echo(&mut self, data: &[u8]) {
        if !data.is_empty() {
            self.transport.write(data);
            self.echoed += data.len();
        }
    }
}

impl BufferedProtocol for Echo {
    fn get_buffer(&mut self, _size_hint: usize) -> &mut [u8] {
        &mut self.buf
    }

    fn buffer_updated(&mut self, nbytes: usize) {
        let data = self.buf[..nbytes].to_vec();
        self.echo(&data);
    }

    fn connection_lost(&mut self, _: Option<std::io::Error>) {
        println!(
            "Echo protocol: {} bytes echoed, connection closed",
            self.echoed
        );
        let _ = self.closed.set_result(());
    }
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let closed = create_future::<()>()?;
    let lost = closed.clone();
    let server = create_server(
        move || Commands {
            transport: None,
            pending: Vec::new(),
            closed: lost.clone(),
        },
        "127.0.0.1",
        0,
    )
    .await?;
    let port = server.port().expect("a TCP server has a port");
    println!("Serving on 127.0.0.1:{port}");

    let (reader, writer) = open_connection("127.0.0.1", port).await?;
    for command in ["PING", "UPGRADE"] {
        println!("client> {command}");
        writer.write(format!("{command}\n").as_bytes());
        let reply = reader.readline().await?;
        println!("server< {}", String::from_utf8_lossy(&reply).trim_end());
    }
    let raw = b"hello, raw bytes";
    println!("client> {}", String::from_utf8_lossy(raw));
    writer.write(raw);
    let back = reader.readexactly(raw.len()).await?;
    println!("server< {}", String::from_utf8_lossy(&back));

    // Our EOF: the echo protocol does not keep the connection half-open, so the server
    // closes it, and the protocol hears `connection_lost`.
    writer.write_eof();
    reader.read_to_end().await?;
    closed.await?;
    server.close();
    Ok(())
}
