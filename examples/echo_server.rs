//! The echo server of the seed notes: each connection reads one message (at most 100
//! bytes), echoes it, and closes; the server runs until interrupted.
//!
//! ```text
//! cargo run --release --example echo_server -- [--host 127.0.0.1] [--port 2444]
//! ```
//!
//! Output (the notes' labels: 服务器监听 "server listening", 接收数据 "received", 发送数据
//! "sent", 关闭连接 "closing the connection"):
//!
//! ```text
//! 服务器监听: ('127.0.0.1', 2444)
//! 接收数据: Hello Streams
//! 发送数据: Hello Streams
//! 关闭连接
//! ```

use aio::aio_streams::{Address, StreamReader, StreamWriter, start_server};

const MAX_MSGLEN: usize = 100;

async fn handle(reader: StreamReader, writer: StreamWriter) -> Result<(), aio::Error> {
    let outcome = async {
        let data = reader.read(MAX_MSGLEN).await?;
        println!("接收数据: {}", String::from_utf8_lossy(&data));
        writer.write(&data);
        writer.drain().await?;
        println!("发送数据: {}", String::from_utf8_lossy(&data));
        Ok::<_, aio::Error>(())
    }
    .await;
    println!("关闭连接");
    writer.close();
    outcome
}

/// `--host H --port P` (defaults 127.0.0.1 and 2444).
fn address() -> (String, u16) {
    let mut host = "127.0.0.1".to_owned();
    let mut port = 2444;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--host", Some(value)) => host = value,
            ("--port", Some(value)) => port = value.parse().expect("--port takes a number"),
            _ => {
                eprintln!("usage: echo_server [--host HOST] [--port PORT]");
                std::process::exit(2);
            }
        }
    }
    (host, port)
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let (host, port) = address();
    let server = start_server(handle, &host, port).await?;
    if let Some(Address::Inet(addr)) = server.sockets().first() {
        println!("服务器监听: ('{}', {})", addr.ip(), addr.port());
    }
    server.serve_forever().await?;
    Ok(())
}
