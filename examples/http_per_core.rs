//! `examples/http_hello.rs`'s HTTP/1.1 server on every core: one event loop per thread, each
//! serving the same port.
//!
//! ```text
//! cargo run --release --example http_per_core -- [--loops N] [--acceptor] [--host 127.0.0.1] [--port 0]
//! ```
//!
//! prints `listening on 127.0.0.1:PORT` once every loop is ready, and serves until Ctrl-C,
//! when each loop prints how many connections it served (`loop I: N connections`, on
//! stderr) and the process ends as an interrupted one does. `--loops` defaults to the number
//! of CPUs the process may use.
//!
//! Two ways to share the port:
//!
//! - default: every loop runs its own server on the port with `SO_REUSEPORT`
//!   (`start_server(..).reuse_port(true)`), and the kernel spreads new connections over the
//!   listening sockets by a hash of their addresses. Nothing is shared between the loops.
//! - `--acceptor`: loop 0 alone listens (a [`TcpAcceptor`]) and sends every accepted socket
//!   into one `Send` channel; every loop (loop 0 too) takes sockets from it, adopts each one
//!   with `open_connection_sock` and serves it. The loop that has waited longest gets the
//!   next connection.

use std::cell::Cell;
use std::rc::Rc;

use aio::aio_streams::Address;
use aio::{
    Error, LoopGroup, LoopMember, TcpAcceptor, channel, create_task, open_connection_sock,
    start_server,
};

#[path = "http_hello.rs"]
#[allow(dead_code)]
mod http_hello;

use http_hello::{MAX_LINE, serve_connection};

struct Options {
    loops: Option<usize>,
    acceptor: bool,
    host: String,
    port: u16,
}

fn options() -> Options {
    let mut options = Options {
        loops: None,
        acceptor: false,
        host: "127.0.0.1".to_owned(),
        port: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--acceptor" => options.acceptor = true,
            "--loops" | "--host" | "--port" => {
                let value = args.next().unwrap_or_default();
                match flag.as_str() {
                    "--loops" => {
                        options.loops = Some(value.parse().expect("--loops takes a number"));
                    }
                    "--host" => options.host = value,
                    _ => options.port = value.parse().expect("--port takes a number"),
                }
            }
            _ => {
                eprintln!(
                    "usage: http_per_core [--loops N] [--acceptor] [--host HOST] [--port PORT]"
                );
                std::process::exit(2);
            }
        }
    }
    options
}

/// Says how many connections a loop served when its main task ends (Ctrl-C cancels it).
struct Report {
    index: usize,
    served: Rc<Cell<u64>>,
}

impl Drop for Report {
    fn drop(&mut self) {
        eprintln!("loop {}: {} connections", self.index, self.served.get());
    }
}

/// The channels the loops start up with: loop 0 tells the others the port it got, and each
/// of them says when it is ready.
struct Startup {
    port_tx: channel::Sender<u16>,
    port_rx: channel::Receiver<u16>,
    ready_tx: channel::Sender<()>,
    ready_rx: channel::Receiver<()>,
}

/// Every loop runs a server of its own on the port, with `SO_REUSEPORT`.
async fn reuse_port_loop(
    member: LoopMember,
    startup: Startup,
    host: String,
    port: u16,
) -> Result<(), Error> {
    let report = Report {
        index: member.index(),
        served: Rc::new(Cell::new(0)),
    };
    let port = match member.index() {
        0 => port,
        _ => startup.port_rx.recv().await?,
    };
    let served = report.served.clone();
    let handler = move |reader, writer| {
        served.set(served.get() + 1);
        serve_connection(reader, writer)
    };
    let server = start_server(handler, &host, port)
        .limit(MAX_LINE)
        .reuse_port(true)
        .await?;
    if member.index() == 0 {
        let port = server.port().expect("a TCP server");
        announce(&member, &startup, port, server.sockets()).await?;
    } else {
        startup.ready_tx.send(()).await.map_err(|r| r.error)?;
    }
    server.serve_forever().await?;
    drop(report);
    Ok(())
}

/// Loop 0 hands the port to the others, waits until they listen, then prints it.
async fn announce(
    member: &LoopMember,
    startup: &Startup,
    port: u16,
    sockets: &[Address],
) -> Result<(), Error> {
    for _ in 1..member.len() {
        startup.port_tx.send(port).await.map_err(|r| r.error)?;
    }
    for _ in 1..member.len() {
        startup.ready_rx.recv().await?;
    }
    for socket in sockets {
        if let Address::Inet(addr) = socket {
            println!("listening on {addr}");
        }
    }
    Ok(())
}

/// Loop 0 accepts and every loop serves what it takes from the shared channel.
async fn acceptor_loop(
    member: LoopMember,
    startup: Startup,
    accepted: channel::Receiver<std::net::TcpStream>,
    to_serve: channel::Sender<std::net::TcpStream>,
    host: String,
    port: u16,
) -> Result<(), Error> {
    let report = Report {
        index: member.index(),
        served: Rc::new(Cell::new(0)),
    };
    if member.index() == 0 {
        let acceptor = TcpAcceptor::new(std::net::TcpListener::bind((host.as_str(), port))?)?;
        let addr = acceptor.local_addr()?;
        create_task(async move {
            loop {
                match acceptor.accept().await {
                    // A full channel makes the acceptor wait: back-pressure on accepting.
                    Ok((stream, _)) => {
                        if to_serve.send(stream).await.is_err() {
                            return;
                        }
                    }
                    // Out of descriptors, or a connection reset before it was taken.
                    Err(e) => {
                        eprintln!("accept: {e}");
                        let _ = aio::sleep(0.1).await;
                    }
                }
            }
        })?;
        announce(&member, &startup, addr.port(), &[Address::Inet(addr)]).await?;
    } else {
        drop(to_serve);
        startup.ready_tx.send(()).await.map_err(|r| r.error)?;
    }
    while let Ok(stream) = accepted.recv().await {
        let served = report.served.clone();
        create_task(async move {
            if let Ok((reader, writer)) = open_connection_sock(stream).limit(MAX_LINE).await {
                served.set(served.get() + 1);
                serve_connection(reader, writer).await;
            }
        })?;
    }
    Ok(())
}

fn main() {
    let options = options();
    let mut group = LoopGroup::new();
    if let Some(loops) = options.loops {
        group = group.loops(loops);
    }
    let n = group.len().max(1);
    let (port_tx, port_rx) = channel::bounded(n);
    let (ready_tx, ready_rx) = channel::bounded(n);
    let (to_serve, accepted) = channel::bounded(64 * n);
    let outcome = group.run(|member| {
        let startup = Startup {
            port_tx: port_tx.clone(),
            port_rx: port_rx.clone(),
            ready_tx: ready_tx.clone(),
            ready_rx: ready_rx.clone(),
        };
        let (host, port) = (options.host.clone(), options.port);
        let (accepted, to_serve) = (accepted.clone(), to_serve.clone());
        let acceptor = options.acceptor;
        async move {
            if acceptor {
                acceptor_loop(member, startup, accepted, to_serve, host, port).await
            } else {
                reuse_port_loop(member, startup, host, port).await
            }
        }
    });
    match outcome {
        Ok(_) => {}
        Err(Error::KeyboardInterrupt) => {
            // As `#[aio::main]` ends after Ctrl-C: the shell sees an interrupted process.
            eprintln!("KeyboardInterrupt");
            aio::signal::die_by(aio::signal::SIGINT);
        }
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::exit(1);
        }
    }
}
