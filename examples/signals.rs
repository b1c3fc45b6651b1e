//! Graceful shutdown on SIGINT and SIGTERM with `loop.add_signal_handler`, the asyncio way:
//! a TCP echo server (each connection gets its lines echoed back until it closes) runs until
//! a signal handler sets an `Event`; the main task then closes the server, waits for it to
//! close, and returns normally, so the program exits with status 0 — rather than dying of
//! the signal (SIGTERM's default) or ending in `KeyboardInterrupt` (what `aio::run` does on
//! Ctrl-C when nobody handles SIGINT, see `ctrl_c`).
//!
//! ```text
//! cargo run --release --example signals -- [PORT] [--demo]
//! ```
//!
//! The server listens on 127.0.0.1, on PORT or else a free port. With `--demo` the program
//! also stops itself: it connects a client that echoes one line through the server, then
//! sends itself SIGTERM (`signal::raise`). Output of `--demo` (the port varies):
//!
//! ```text
//! serving on 127.0.0.1:40511
//! send SIGINT (Ctrl-C) or SIGTERM to stop
//! client sent: hello, signals
//! client got back: hello, signals
//! received SIGTERM
//! server closed, bye
//! ```
//!
//! Without `--demo`, try `nc 127.0.0.1 PORT` from another terminal, then Ctrl-C (or
//! `kill -TERM PID`) the server. Every line goes out flushed at once, for readers on a pipe.

use std::io::Write;
use std::rc::Rc;

use aio::signal::{SIGINT, SIGTERM};
use aio::{StreamReader, StreamWriter};

const HOST: &str = "127.0.0.1";
const SIGNALS: [(i32, &str); 2] = [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")];

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Echoes each line back until the client closes its end.
async fn echo(reader: StreamReader, writer: StreamWriter) {
    loop {
        match reader.readline().await {
            Ok(line) if !line.is_empty() => {
                writer.write(&line);
                if writer.drain().await.is_err() {
                    break; // The client went away.
                }
            }
            _ => break, // End of file (empty line) or a read error.
        }
    }
    writer.close();
}

/// `--demo`'s client: one line there and back.
async fn demo_client(port: u16) -> Result<(), aio::Error> {
    let (reader, writer) = aio::open_connection(HOST, port).await?;
    writer.write(b"hello, signals\n");
    writer.drain().await?;
    say("client sent: hello, signals");
    let line = reader.readline().await?;
    say(&format!(
        "client got back: {}",
        String::from_utf8_lossy(&line).trim_end()
    ));
    writer.close();
    writer.wait_closed().await?;
    Ok(())
}

async fn serve(port: u16, demo: bool) -> Result<(), aio::Error> {
    let server = aio::start_server(echo, HOST, port).await?;
    let port = server.port().expect("a TCP server has a port");
    say(&format!("serving on {HOST}:{port}"));

    // The handlers run as ordinary loop callbacks, on this thread: they may touch the
    // `Rc<Event>` (no `Send` needed) and wake the main task. Our SIGINT handler replaces the
    // one `#[aio::main]` (`aio::run`) installs, so Ctrl-C no longer cancels the main task.
    let stop = Rc::new(aio::Event::new());
    let lp = aio::get_running_loop()?;
    for (signal, name) in SIGNALS {
        let stop = stop.clone();
        lp.add_signal_handler(signal, move || {
            say(&format!("received {name}"));
            stop.set();
        })?;
    }
    // Only now: a signal sent on this prompt finds the handlers in place (printed earlier,
    // a SIGTERM sent at once could still meet its default action and end the process).
    say("send SIGINT (Ctrl-C) or SIGTERM to stop");

    if demo {
        demo_client(port).await?;
        aio::signal::raise(SIGTERM)?;
    }

    stop.wait().await;
    // From here on the signals have their default effect again: should the shutdown hang, a
    // second Ctrl-C ends the process at once.
    for (signal, _) in SIGNALS {
        lp.remove_signal_handler(signal)?;
    }
    server.close();
    // `wait_closed` also waits for the connections' handlers: ask them to finish.
    server.close_clients();
    server.wait_closed().await;
    say("server closed, bye");
    Ok(())
}

/// `[PORT] [--demo]`.
fn options() -> (u16, bool) {
    let (mut port, mut demo) = (0, false);
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--demo" => demo = true,
            _ => match arg.parse() {
                Ok(number) => port = number,
                Err(_) => {
                    eprintln!("usage: signals [PORT] [--demo]");
                    std::process::exit(2);
                }
            },
        }
    }
    (port, demo)
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let (port, demo) = options();
    serve(port, demo).await
}
