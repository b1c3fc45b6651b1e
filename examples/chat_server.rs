//! A line-based chat server: a client connects (with `nc 127.0.0.1 8888`, say), answers
//! the name prompt with one line, and from then on every line it sends goes to every other
//! connected client as `name: line`. Joins and leaves are announced (`*** bob joined`,
//! `*** bob left`). The connected clients are shared between the handlers as an
//! `Rc<RefCell<HashMap<id, StreamWriter>>>`: the loop is single-threaded, so no lock is
//! needed. A broadcast only `write`s (never `drain`s), so one slow client cannot hold up the
//! others.
//!
//! ```text
//! cargo run --release --example chat_server -- [--host 127.0.0.1] [--port 8888]
//! cargo run --release --example chat_server -- --demo
//! ```
//!
//! `--demo` starts the server on a free port, has two in-process clients, alice and bob,
//! chat, and prints the transcript (`>` a client sends, `<` it receives, `[server]` the
//! server's log) before exiting:
//!
//! ```text
//! [server] listening on 127.0.0.1 (a free port)
//! alice < *** what is your name?
//! alice > alice
//! [server] alice joined
//! alice < *** welcome, alice! 1 online
//! bob < *** what is your name?
//! bob > bob
//! [server] bob joined
//! bob < *** welcome, bob! 2 online
//! alice < *** bob joined
//! alice > hi bob
//! bob < alice: hi bob
//! bob > hello alice, bye
//! alice < bob: hello alice, bye
//! bob disconnects
//! [server] bob left
//! alice < *** bob left
//! alice disconnects
//! [server] alice left
//! [server] closed
//! ```

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use aio::aio_streams::{Address, StreamError, StreamReader, StreamWriter, open_connection};

/// The chat room: who is connected, by connection id.
#[derive(Clone)]
struct Chat {
    clients: Rc<RefCell<HashMap<u64, StreamWriter>>>,
    next_id: Rc<Cell<u64>>,
    /// Log the peers' addresses (off in `--demo`, whose output must not vary).
    log_peers: bool,
}

impl Chat {
    fn new(log_peers: bool) -> Chat {
        Chat {
            clients: Rc::default(),
            next_id: Rc::default(),
            log_peers,
        }
    }

    /// Sends `line` to every client but `from`.
    fn broadcast(&self, from: u64, line: &str) {
        let message = format!("{line}\n");
        for (id, writer) in self.clients.borrow().iter() {
            if *id != from {
                writer.write(message.as_bytes());
            }
        }
    }
}

/// A line as text, without its line ending (`\n` from nc, `\r\n` from telnet).
fn text(line: &[u8]) -> String {
    String::from_utf8_lossy(line)
        .trim_end_matches(['\r', '\n'])
        .to_owned()
}

/// One client's session: the name, then its lines, until it disconnects.
async fn handle(chat: Chat, reader: StreamReader, writer: StreamWriter) {
    writer.write(b"*** what is your name?\n");
    let name = match reader.readline().await {
        Ok(line) if !line.is_empty() => text(&line),
        _ => {
            writer.close(); // gone before saying who it is
            return;
        }
    };
    let id = chat.next_id.get();
    chat.next_id.set(id + 1);
    let name = if name.trim().is_empty() {
        format!("guest{id}")
    } else {
        name.trim().to_owned()
    };

    match writer.peername() {
        Some(peer) if chat.log_peers => println!("[server] {name} joined from {peer}"),
        _ => println!("[server] {name} joined"),
    }
    chat.clients.borrow_mut().insert(id, writer.clone());
    let online = chat.clients.borrow().len();
    writer.write(format!("*** welcome, {name}! {online} online\n").as_bytes());
    chat.broadcast(id, &format!("*** {name} joined"));

    loop {
        match reader.readline().await {
            Ok(line) if line.is_empty() => break, // EOF
            Ok(line) => chat.broadcast(id, &format!("{name}: {}", text(&line))),
            Err(StreamError::LineTooLong(_)) => {
                writer.write(b"*** line too long, dropped\n");
            }
            Err(_) => break, // connection reset
        }
    }

    chat.clients.borrow_mut().remove(&id);
    println!("[server] {name} left");
    chat.broadcast(id, &format!("*** {name} left"));
    writer.close();
}

/// A demo client: prints what it sends and receives.
struct Client {
    name: &'static str,
    reader: StreamReader,
    writer: StreamWriter,
}

impl Client {
    /// Connects and answers the name prompt; returns after the welcome.
    async fn join(name: &'static str, port: u16) -> Result<Client, aio::Error> {
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        let client = Client {
            name,
            reader,
            writer,
        };
        client.hear().await?; // the prompt
        client.say(name).await?;
        client.hear().await?; // the welcome
        Ok(client)
    }

    async fn say(&self, line: &str) -> Result<(), aio::Error> {
        println!("{} > {line}", self.name);
        self.writer.write(format!("{line}\n").as_bytes());
        self.writer.drain().await?;
        Ok(())
    }

    async fn hear(&self) -> Result<(), aio::Error> {
        let line = self.reader.readline().await?;
        println!("{} < {}", self.name, text(&line));
        Ok(())
    }

    async fn leave(self) -> Result<(), aio::Error> {
        println!("{} disconnects", self.name);
        self.writer.close();
        self.writer.wait_closed().await?;
        Ok(())
    }
}

/// Two clients chat; every step waits for the line it caused, so the transcript is always
/// the same.
async fn demo() -> Result<(), aio::Error> {
    let chat = Chat::new(false);
    let server = aio::start_server(
        move |reader, writer| handle(chat.clone(), reader, writer),
        "127.0.0.1",
        0,
    )
    .await?;
    let port = server.port().expect("a TCP server has a port");
    println!("[server] listening on 127.0.0.1 (a free port)");

    let alice = Client::join("alice", port).await?;
    let bob = Client::join("bob", port).await?;
    alice.hear().await?; // *** bob joined
    alice.say("hi bob").await?;
    bob.hear().await?;
    bob.say("hello alice, bye").await?;
    alice.hear().await?;
    bob.leave().await?;
    alice.hear().await?; // *** bob left
    alice.leave().await?;

    server.close();
    server.wait_closed().await; // every handler has finished
    println!("[server] closed");
    Ok(())
}

/// The flags: `--host H --port P` (defaults 127.0.0.1 and 8888), or `--demo`.
struct Args {
    host: String,
    port: u16,
    demo: bool,
}

fn args() -> Args {
    let mut parsed = Args {
        host: "127.0.0.1".to_owned(),
        port: 8888,
        demo: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--demo" => parsed.demo = true,
            "--host" | "--port" => {
                let Some(value) = args.next() else {
                    usage();
                };
                if flag == "--host" {
                    parsed.host = value;
                } else {
                    parsed.port = value.parse().expect("--port takes a number");
                }
            }
            _ => usage(),
        }
    }
    parsed
}

fn usage() -> ! {
    eprintln!("usage: chat_server [--host HOST] [--port PORT] | --demo");
    std::process::exit(2);
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let args = args();
    if args.demo {
        return demo().await;
    }
    let chat = Chat::new(true);
    let server = aio::start_server(
        move |reader, writer| handle(chat.clone(), reader, writer),
        &args.host,
        args.port,
    )
    .await?;
    if let Some(Address::Inet(addr)) = server.sockets().first() {
        println!(
            "[server] listening on {addr} (connect with: nc {} {})",
            addr.ip(),
            addr.port()
        );
    }
    server.serve_forever().await?;
    Ok(())
}
