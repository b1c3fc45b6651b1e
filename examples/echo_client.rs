//! The echo client of the seed notes: connects, sends "Hello Streams", prints what comes
//! back. Start `echo_server` first.
//!
//! ```text
//! cargo run --release --example echo_client -- [--host 127.0.0.1] [--port 2444]
//! ```
//!
//! Output (发送数据 "sent", 接收数据 "received"; the reply is printed as bytes, like Python's):
//!
//! ```text
//! 发送数据: Hello Streams
//! 接收数据: b'Hello Streams'
//! ```

use aio::aio_streams::open_connection;

const MAX_MSGLEN: usize = 100;

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
                eprintln!("usage: echo_client [--host HOST] [--port PORT]");
                std::process::exit(2);
            }
        }
    }
    (host, port)
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let (host, port) = address();
    let (reader, writer) = open_connection(&host, port).await?;
    let data = "Hello Streams";
    writer.write(data.as_bytes());
    writer.drain().await?;
    println!("发送数据: {data}");
    let reply = reader.read(MAX_MSGLEN).await?;
    println!("接收数据: b'{}'", String::from_utf8_lossy(&reply));
    writer.close();
    Ok(())
}
