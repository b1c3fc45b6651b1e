//! asyncio's loop methods for protocols: `create_connection`, `create_server` and their Unix
//! forms, `connect_accepted_socket`, and pipes with a protocol.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use aio_reactor::AsyncFd;
use aio_scheduler::{ExceptionContext, get_running_loop};
use aio_task::Error;

use crate::net::{
    BACKLOG, Client, Family, LocalBoxFuture, OnAccept, Reuse, ServerState, Target, adopt_listener,
    adopt_stream, connect_tcp, connect_unix, connection, listen_tcp, listen_unix, serve,
};
use crate::socket::Connection;
use crate::transport::{Endpoint, Io};
use crate::{AnyProtocol, Server, Transport};

/// Starts a transport for `conn` driving the protocol `factory` makes.
fn start_socket<P: AnyProtocol>(conn: Connection, protocol: P) -> Result<Transport, Error> {
    let transport = Transport::new(Endpoint(Io::Socket(conn)), protocol.into_driven());
    transport.start()?;
    Ok(transport)
}

/// Work done on a new connection's transport before its protocol hears of it (before
/// `connection_made`): a TLS handshake, for aio-tls's `create_server(ssl=)`. Given a handle
/// to the transport, not started yet; an error ends the connection without a callback.
/// Set with [`CreateServer::prelude`]; [`create_connection_with_prelude`] takes a one-off
/// closure.
pub type Prelude = Rc<dyn Fn(Transport) -> Pin<Box<dyn Future<Output = io::Result<()>>>>>;

/// Runs `prelude` on a new transport for `conn`, then starts it (`connection_made`).
async fn start_socket_after<P, G, Fut>(
    conn: Connection,
    protocol: P,
    prelude: G,
) -> Result<Transport, Error>
where
    P: AnyProtocol,
    G: FnOnce(Transport) -> Fut,
    Fut: Future<Output = io::Result<()>>,
{
    /// Ends a transport whose prelude did not finish: it failed, or its future was dropped
    /// (a timeout, a cancelled task). Nothing else would: no driver exists yet, and a
    /// protocol the prelude set may hold the transport.
    struct Unstarted(Option<Transport>);
    impl Drop for Unstarted {
        fn drop(&mut self) {
            if let Some(transport) = self.0.take() {
                transport.discard();
            }
        }
    }
    let transport = Transport::new(Endpoint(Io::Socket(conn)), protocol.into_driven());
    let mut unstarted = Unstarted(Some(transport.clone()));
    prelude(transport.clone()).await?;
    unstarted.0 = None;
    transport.start_after_prelude()?;
    Ok(transport)
}

/// [`create_connection`] with work done on the connection before the protocol's
/// `connection_made` (asyncio does the TLS handshake of `create_connection(ssl=)` there):
/// `prelude` gets the transport, not started; once it succeeds the protocol starts. It is
/// how aio-tls's `create_connection` puts TLS on a transport.
///
/// # Errors
///
/// [`create_connection`]'s, and the prelude's (as [`Error::Io`]; the connection is closed
/// then, and the protocol never called).
///
/// # Examples
///
/// ```
/// # use aio_streams::{Protocol, Transport};
/// struct Quiet;
/// impl Protocol for Quiet {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
/// aio_task::run(async {
///     let server = aio_streams::create_server(|| Quiet, "127.0.0.1", 0).await?;
///     let port = server.port().unwrap();
///     let transport = aio_streams::create_connection_with_prelude(|| Quiet, "127.0.0.1", port, |t: Transport| async move {
///         t.write(b"before connection_made");
///         Ok(())
///     })
///     .await?;
///     let refused = aio_streams::create_connection_with_prelude(|| Quiet, "127.0.0.1", port, |_| async {
///         Err(std::io::Error::other("no"))
///     })
///     .await;
///     assert!(refused.is_err());
///     transport.close();
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub async fn create_connection_with_prelude<F, P, G, Fut>(
    protocol_factory: F,
    host: &str,
    port: u16,
    prelude: G,
) -> Result<Transport, Error>
where
    F: FnOnce() -> P,
    P: AnyProtocol,
    G: FnOnce(Transport) -> Fut,
    Fut: Future<Output = io::Result<()>>,
{
    let conn = connect_tcp(host, port).await?;
    start_socket_after(conn, protocol_factory(), prelude).await
}

/// [`create_unix_connection`] with a prelude, as [`create_connection_with_prelude`].
///
/// # Errors
///
/// [`create_unix_connection`]'s, and the prelude's.
///
/// # Examples
///
/// See [`create_connection_with_prelude`].
pub async fn create_unix_connection_with_prelude<F, P, G, Fut>(
    protocol_factory: F,
    path: impl AsRef<Path>,
    prelude: G,
) -> Result<Transport, Error>
where
    F: FnOnce() -> P,
    P: AnyProtocol,
    G: FnOnce(Transport) -> Fut,
    Fut: Future<Output = io::Result<()>>,
{
    let stream = connect_unix(path.as_ref()).await?;
    start_socket_after(connection(stream.into())?, protocol_factory(), prelude).await
}

/// Connects to `host:port` over TCP and runs the protocol `protocol_factory` makes on the
/// connection (asyncio's `loop.create_connection(protocol_factory, host, port)`). Returns
/// once the protocol's `connection_made` has run; the [`Transport`] is asyncio's
/// `transport` (its protocol is reached with [`Transport::with_protocol`]).
///
/// The connect is the streams' ([`open_connection`](crate::open_connection)): name
/// resolution off the loop, each address in turn, `TCP_NODELAY` set. Dropping the future
/// before it completes abandons the connect.
///
/// # Errors
///
/// [`Error::Io`] for a failed resolution or a refused connection ("Connect call failed
/// ..."); [`Error::Runtime`] outside a running loop.
///
/// # Examples
///
/// ```
/// use aio_streams::{Protocol, Transport, create_connection, start_server};
///
/// struct Hello;
/// impl Protocol for Hello {
///     fn connection_made(&mut self, transport: &Transport) {
///         transport.write(b"hello\n");
///     }
///     fn data_received(&mut self, _: &[u8]) {}
/// }
///
/// aio_task::run(async {
///     let server = start_server(
///         |reader, writer| async move { writer.write(&reader.readline().await.unwrap()) },
///         "127.0.0.1",
///         0,
///     )
///     .await?;
///     let transport = create_connection(|| Hello, "127.0.0.1", server.port().unwrap()).await?;
///     assert!(!transport.is_closing());
///     transport.close();
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub async fn create_connection<F, P>(
    protocol_factory: F,
    host: &str,
    port: u16,
) -> Result<Transport, Error>
where
    F: FnOnce() -> P,
    P: AnyProtocol,
{
    let conn = connect_tcp(host, port).await?;
    start_socket(conn, protocol_factory())
}

/// Connects to the Unix socket at `path` and runs a protocol on the connection (asyncio's
/// `loop.create_unix_connection`). As [`create_connection`] otherwise.
///
/// # Errors
///
/// [`Error::Io`] if nothing listens there; [`Error::Runtime`] outside a running loop.
///
/// # Examples
///
/// ```
/// use aio_streams::{Protocol, create_unix_connection, start_unix_server};
///
/// struct Quiet;
/// impl Protocol for Quiet {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
/// let path = std::env::temp_dir().join(format!("aio-doc-cuc-{}.sock", std::process::id()));
/// aio_task::run(async move {
///     let server = start_unix_server(|_, _| async {}, &path).await?;
///     let transport = create_unix_connection(|| Quiet, &path).await?;
///     assert!(transport.peername().is_some());
///     transport.close();
///     server.close();
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub async fn create_unix_connection<F, P>(
    protocol_factory: F,
    path: impl AsRef<Path>,
) -> Result<Transport, Error>
where
    F: FnOnce() -> P,
    P: AnyProtocol,
{
    let stream = connect_unix(path.as_ref()).await?;
    start_socket(connection(stream.into())?, protocol_factory())
}

/// The family of a connected stream socket, for the functions that take either.
fn stream_family(fd: &OwnedFd) -> io::Result<Family> {
    use rustix::net::AddressFamily;
    let domain = rustix::net::sockopt::socket_domain(fd).map_err(|errno| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("sock is not a socket: {}", io::Error::from(errno)),
        )
    })?;
    Ok(if domain == AddressFamily::UNIX {
        Family::Unix
    } else {
        Family::Inet
    })
}

/// Runs a protocol on a socket accepted outside aio (asyncio's
/// `loop.connect_accepted_socket`): a connected TCP or Unix stream socket (a
/// [`std::net::TcpStream`], a [`std::os::unix::net::UnixStream`], or an [`OwnedFd`]). It is
/// made non-blocking (and `TCP_NODELAY` for TCP). `connection_made` has run when this
/// returns. Also asyncio's `create_connection(sock=...)`.
///
/// # Errors
///
/// [`Error::Io`] of kind [`InvalidInput`](io::ErrorKind::InvalidInput) if `sock` is not a
/// connected stream socket; [`Error::Runtime`] outside a running loop.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use aio_streams::{Protocol, Transport, connect_accepted_socket};
///
/// struct Upper(Option<Transport>);
/// impl Protocol for Upper {
///     fn connection_made(&mut self, transport: &Transport) {
///         self.0 = Some(transport.clone());
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         let transport = self.0.as_ref().unwrap();
///         transport.write(&data.to_ascii_uppercase());
///         transport.close();
///     }
/// }
///
/// let (ours, mut theirs) = std::os::unix::net::UnixStream::pair()?;
/// theirs.write_all(b"quiet")?;
/// aio_task::run(async move {
///     let transport = connect_accepted_socket(|| Upper(None), ours)?;
///     while !transport.is_closing() {
///         aio_scheduler::sleep(0.001).await?;
///     }
///     Ok::<_, aio_task::Error>(())
/// })??;
/// let mut reply = String::new();
/// theirs.read_to_string(&mut reply)?;
/// assert_eq!(reply, "QUIET");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect_accepted_socket<F, P>(
    protocol_factory: F,
    sock: impl Into<OwnedFd>,
) -> Result<Transport, Error>
where
    F: FnOnce() -> P,
    P: AnyProtocol,
{
    start_socket(adopt_connection(sock.into())?, protocol_factory())
}

/// A connected stream socket made elsewhere, TCP or Unix, registered with the running loop.
fn adopt_connection(fd: OwnedFd) -> Result<Connection, Error> {
    let family = stream_family(&fd)?;
    connection(adopt_stream(fd, family)?)
}

/// [`connect_accepted_socket`] with work done on the connection before the protocol's
/// `connection_made`, as [`create_connection_with_prelude`]: how aio-tls runs asyncio's
/// `create_connection(sock=, ssl=)` (a client handshake) and `connect_accepted_socket(sock,
/// ssl=)` (a server one) on a socket connected or accepted elsewhere.
///
/// # Errors
///
/// [`connect_accepted_socket`]'s, and the prelude's (as [`Error::Io`]; the connection is
/// closed then, and the protocol never called).
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use aio_streams::{Protocol, Transport, connect_accepted_socket_with_prelude};
///
/// struct Quiet;
/// impl Protocol for Quiet {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
///
/// let (ours, mut theirs) = std::os::unix::net::UnixStream::pair()?;
/// aio_task::run(async move {
///     let transport = connect_accepted_socket_with_prelude(|| Quiet, ours, |t: Transport| async move {
///         t.write(b"before connection_made");
///         Ok(())
///     })
///     .await?;
///     transport.close();
///     Ok::<_, aio_task::Error>(())
/// })??;
/// let mut got = String::new();
/// theirs.read_to_string(&mut got)?;
/// assert_eq!(got, "before connection_made");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn connect_accepted_socket_with_prelude<F, P, G, Fut>(
    protocol_factory: F,
    sock: impl Into<OwnedFd>,
    prelude: G,
) -> Result<Transport, Error>
where
    F: FnOnce() -> P,
    P: AnyProtocol,
    G: FnOnce(Transport) -> Fut,
    Fut: Future<Output = io::Result<()>>,
{
    start_socket_after(adopt_connection(sock.into())?, protocol_factory(), prelude).await
}

/// Registers a pipe's descriptor (made non-blocking) with the running loop.
fn register_pipe(fd: OwnedFd) -> Result<AsyncFd<OwnedFd>, Error> {
    let event_loop = get_running_loop()?;
    rustix::io::ioctl_fionbio(&fd, true).map_err(io::Error::from)?;
    Ok(AsyncFd::new(event_loop.reactor(), fd)?)
}

/// Reads the pipe `fd` into a protocol (asyncio's `loop.connect_read_pipe(protocol_factory,
/// pipe)`; the streams' form is [`connect_read_pipe`](crate::connect_read_pipe)). At EOF the
/// protocol gets `eof_received`, then `connection_lost(None)`, and the pipe is closed,
/// whatever `eof_received` returns (as asyncio's pipe transport). The transport cannot
/// write.
///
/// # Errors
///
/// Without a running loop, or if the descriptor cannot be registered (a regular file).
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, io::Write, rc::Rc};
/// use aio_streams::{Protocol, connect_read_pipe_protocol};
///
/// struct Collect(Rc<RefCell<Vec<u8>>>);
/// impl Protocol for Collect {
///     fn data_received(&mut self, data: &[u8]) {
///         self.0.borrow_mut().extend_from_slice(data);
///     }
/// }
///
/// let (read_end, mut write_end) = std::io::pipe()?;
/// write_end.write_all(b"through a pipe")?;
/// drop(write_end);
/// let got = Rc::new(RefCell::new(Vec::new()));
/// let sink = got.clone();
/// aio_task::run(async move {
///     let transport = connect_read_pipe_protocol(move || Collect(sink), read_end)?;
///     while !transport.is_closing() {
///         aio_scheduler::sleep(0.001).await?;
///     }
///     Ok::<_, aio_task::Error>(())
/// })??;
/// assert_eq!(*got.borrow(), b"through a pipe");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect_read_pipe_protocol<F, P>(
    protocol_factory: F,
    fd: impl Into<OwnedFd>,
) -> Result<Transport, Error>
where
    F: FnOnce() -> P,
    P: AnyProtocol,
{
    pipe_transport(fd.into(), Io::ReadPipe, protocol_factory)
}

/// Writes to the pipe `fd` through a transport (asyncio's `loop.connect_write_pipe`; the
/// streams' form is [`connect_write_pipe`](crate::connect_write_pipe)). The protocol gets
/// `pause_writing` / `resume_writing` as for a socket, and `connection_lost` when the
/// transport is closed or the reading end goes away (`BrokenPipe` if data was still
/// buffered). `write_eof` closes the pipe once flushed.
///
/// # Errors
///
/// As [`connect_read_pipe_protocol`].
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use aio_streams::{Protocol, connect_write_pipe_protocol};
///
/// struct Nothing;
/// impl Protocol for Nothing {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
///
/// let (mut read_end, write_end) = std::io::pipe()?;
/// aio_task::run(async move {
///     let transport = connect_write_pipe_protocol(|| Nothing, write_end)?;
///     transport.write(b"to the other end");
///     transport.close();
///     aio_scheduler::sleep(0.01).await?;
///     Ok::<_, aio_task::Error>(())
/// })??;
/// let mut got = String::new();
/// read_end.read_to_string(&mut got)?;
/// assert_eq!(got, "to the other end");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect_write_pipe_protocol<F, P>(
    protocol_factory: F,
    fd: impl Into<OwnedFd>,
) -> Result<Transport, Error>
where
    F: FnOnce() -> P,
    P: AnyProtocol,
{
    pipe_transport(fd.into(), Io::WritePipe, protocol_factory)
}

/// A started transport on the pipe `fd`, the endpoint of kind `io` (read or write end).
fn pipe_transport<F, P>(
    fd: OwnedFd,
    io: fn(RefCell<Option<AsyncFd<OwnedFd>>>) -> Io,
    protocol_factory: F,
) -> Result<Transport, Error>
where
    F: FnOnce() -> P,
    P: AnyProtocol,
{
    let pipe = register_pipe(fd)?;
    let transport = Transport::new(
        Endpoint(io(RefCell::new(Some(pipe)))),
        protocol_factory().into_driven(),
    );
    transport.start()?;
    Ok(transport)
}

/// A protocol server: every accepted connection gets a protocol from the factory.
struct ProtocolServer<F> {
    factory: F,
    prelude: Option<Prelude>,
}

impl<F, P> OnAccept for ProtocolServer<F>
where
    F: Fn() -> P + 'static,
    P: AnyProtocol,
{
    fn accepted(&self, conn: Connection, state: &Rc<ServerState>) {
        let protocol = match catch_unwind(AssertUnwindSafe(|| (self.factory)())) {
            Ok(protocol) => protocol.into_driven(),
            Err(payload) => {
                // The connection is dropped: closed.
                if let Ok(event_loop) = get_running_loop() {
                    let message = aio_scheduler::panic_message(&*payload);
                    event_loop.call_exception_handler(
                        &ExceptionContext::new(
                            "Error on transport creation for incoming connection",
                        )
                        .with_error(std::sync::Arc::new(io::Error::other(
                            format!("protocol_factory panicked: {message}"),
                        ))),
                    );
                }
                return;
            }
        };
        let transport = Transport::new(Endpoint(Io::Socket(conn)), protocol);
        let client = Client::Transport(Rc::downgrade(&transport.inner));
        if let Some(conn) = transport.connection() {
            conn.server.set(Some(ServerState::attach(state, client)));
        }
        let Some(prelude) = &self.prelude else {
            let _ = transport.start();
            return;
        };
        let prelude = prelude(transport.clone());
        let _ = aio_task::create_internal_task(async move {
            match prelude.await {
                Ok(()) => {
                    let _ = transport.start_after_prelude();
                }
                // The prelude said why, if it wanted to (aio-tls reports a failed handshake).
                Err(_) => transport.discard(),
            }
        });
    }
}

/// How a protocol server is set up: the future [`create_server`] and its variants return.
/// Await it for the [`Server`] (the streams' server type: `serve_forever`, `close`,
/// `wait_closed`, `close_clients`, `sockets`...). Before that, [`backlog`](Self::backlog),
/// [`reuse_address`](Self::reuse_address) and [`reuse_port`](Self::reuse_port) set what
/// [`StartServer`](crate::StartServer)'s methods of the same names set. Nothing is bound
/// until it is first polled; dropping it before it completes binds nothing.
///
/// # Examples
///
/// ```
/// use aio_streams::{Protocol, create_server};
///
/// struct Quiet;
/// impl Protocol for Quiet {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
/// aio_task::run(async {
///     let first = create_server(|| Quiet, "127.0.0.1", 0).reuse_port(true).backlog(16).await?;
///     let port = first.port().unwrap();
///     let second = create_server(|| Quiet, "127.0.0.1", port).reuse_port(true).await?;
///     assert_eq!(second.port(), Some(port));
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[must_use = "a server starts only when the future is awaited"]
pub struct CreateServer<F> {
    setup: Option<(F, Target)>,
    prelude: Option<Prelude>,
    backlog: i32,
    reuse: Reuse,
    starting: Option<LocalBoxFuture<Result<Server, Error>>>,
}

impl<F> CreateServer<F> {
    fn new(factory: F, target: Target) -> CreateServer<F> {
        CreateServer {
            setup: Some((factory, target)),
            prelude: None,
            backlog: BACKLOG,
            reuse: Reuse::default(),
            starting: None,
        }
    }

    /// The listen backlog, as [`StartServer::backlog`](crate::StartServer::backlog).
    ///
    /// # Examples
    ///
    /// See [`CreateServer`].
    pub fn backlog(mut self, backlog: u32) -> CreateServer<F> {
        self.backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        self
    }

    /// `SO_REUSEADDR` on the sockets [`create_server`] binds, as
    /// [`StartServer::reuse_address`](crate::StartServer::reuse_address).
    ///
    /// # Examples
    ///
    /// See [`CreateServer`].
    pub fn reuse_address(mut self, reuse: bool) -> CreateServer<F> {
        self.reuse.address = Some(reuse);
        self
    }

    /// `SO_REUSEPORT` on the sockets [`create_server`] binds, as
    /// [`StartServer::reuse_port`](crate::StartServer::reuse_port).
    ///
    /// # Examples
    ///
    /// See [`CreateServer`].
    pub fn reuse_port(mut self, reuse: bool) -> CreateServer<F> {
        self.reuse.port = Some(reuse);
        self
    }

    /// Work done on each accepted connection before its protocol hears of it (a TLS
    /// handshake: aio-tls's `create_server(ssl=)`), in a task of its own per connection:
    /// the protocol is made at once (asyncio calls the factory at accept time), and its
    /// `connection_made` comes once `prelude` succeeds. A failed prelude closes that
    /// connection only, without any callback; the prelude reports what it wants to.
    ///
    /// # Examples
    ///
    /// ```
    /// # use aio_streams::{Protocol, Transport};
    /// struct Echo(Option<Transport>);
    /// impl Protocol for Echo {
    ///     fn connection_made(&mut self, transport: &Transport) {
    ///         self.0 = Some(transport.clone());
    ///     }
    ///     fn data_received(&mut self, data: &[u8]) {
    ///         self.0.as_ref().unwrap().write(data);
    ///     }
    /// }
    /// aio_task::run(async {
    ///     let server = aio_streams::create_server(|| Echo(None), "127.0.0.1", 0)
    ///         .prelude(|transport: Transport| async move {
    ///             transport.write(b"welcome\n"); // sent before the protocol starts
    ///             Ok(())
    ///         })
    ///         .await?;
    ///     let (reader, writer) = aio_streams::open_connection("127.0.0.1", server.port().unwrap()).await?;
    ///     writer.write(b"hi\n");
    ///     assert_eq!(reader.readline().await?, b"welcome\n");
    ///     assert_eq!(reader.readline().await?, b"hi\n");
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn prelude<G, Fut>(mut self, prelude: G) -> CreateServer<F>
    where
        G: Fn(Transport) -> Fut + 'static,
        Fut: Future<Output = io::Result<()>> + 'static,
    {
        self.prelude = Some(Rc::new(move |transport| Box::pin(prelude(transport))));
        self
    }
}

impl<F, P> Future for CreateServer<F>
where
    F: Fn() -> P + 'static,
    P: AnyProtocol,
{
    type Output = Result<Server, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let (backlog, reuse, prelude) = (this.backlog, this.reuse, this.prelude.take());
        let starting = this.starting.get_or_insert_with(|| {
            let setup = this.setup.take();
            Box::pin(async move {
                let Some((factory, target)) = setup else {
                    unreachable!("the setup is taken only here, once")
                };
                let listeners = match target {
                    Target::Tcp(host, port) => listen_tcp(&host, port, backlog, reuse).await?,
                    Target::Unix(path) => {
                        reuse.refuse()?;
                        vec![listen_unix(path, backlog)?]
                    }
                    Target::Sock(fd, family) => {
                        reuse.refuse()?;
                        vec![adopt_listener(fd, family, backlog)?]
                    }
                };
                serve(listeners, ProtocolServer { factory, prelude }, backlog)
            })
        });
        starting.as_mut().poll(cx)
    }
}

// `F` is only ever moved, never pinned.
impl<F> Unpin for CreateServer<F> {}

impl<F> fmt::Debug for CreateServer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateServer")
            .field("backlog", &self.backlog)
            .field("reuse_address", &self.reuse.address)
            .field("reuse_port", &self.reuse.port)
            .field("prelude", &self.prelude.is_some())
            .field("started", &self.starting.is_some())
            .finish()
    }
}

/// Starts a TCP server on `host:port` whose every connection runs a protocol from
/// `protocol_factory` (asyncio's `loop.create_server(protocol_factory, host, port)`).
///
/// Binding is the streams' [`start_server`](crate::start_server)'s: every address `host`
/// resolves to, `""` for all interfaces, port 0 for a free port. The result is the same
/// [`Server`]. A factory that panics is reported to the loop's exception handler and that
/// connection is closed; the server keeps accepting.
///
/// # Errors
///
/// As [`start_server`](crate::start_server).
///
/// # Examples
///
/// ```
/// use aio_streams::{Protocol, Transport, create_server, open_connection};
///
/// struct Echo(Option<Transport>);
/// impl Protocol for Echo {
///     fn connection_made(&mut self, transport: &Transport) {
///         self.0 = Some(transport.clone());
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         self.0.as_ref().unwrap().write(data);
///     }
/// }
///
/// aio_task::run(async {
///     let server = create_server(|| Echo(None), "127.0.0.1", 0).await?;
///     let (reader, writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
///     writer.write(b"ping\n");
///     assert_eq!(reader.readline().await?, b"ping\n");
///     server.close();
///     server.close_clients();
///     server.wait_closed().await;
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn create_server<F, P>(protocol_factory: F, host: &str, port: u16) -> CreateServer<F>
where
    F: Fn() -> P + 'static,
    P: AnyProtocol,
{
    CreateServer::new(protocol_factory, Target::Tcp(host.to_owned(), port))
}

/// A protocol server on the Unix socket `path` (asyncio's `loop.create_unix_server`); the
/// socket file is removed when the server closes.
///
/// # Errors
///
/// As [`start_unix_server`](crate::start_unix_server).
///
/// # Examples
///
/// ```
/// use aio_streams::{Protocol, create_unix_server};
/// struct Quiet;
/// impl Protocol for Quiet {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
/// let path = std::env::temp_dir().join(format!("aio-doc-cus-{}.sock", std::process::id()));
/// aio_task::run(async move {
///     let server = create_unix_server(|| Quiet, &path).await?;
///     assert!(path.exists());
///     server.close();
///     assert!(!path.exists());
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn create_unix_server<F, P>(protocol_factory: F, path: impl AsRef<Path>) -> CreateServer<F>
where
    F: Fn() -> P + 'static,
    P: AnyProtocol,
{
    CreateServer::new(protocol_factory, Target::Unix(path.as_ref().to_owned()))
}

/// A protocol server on a listening (or bound) TCP socket made outside (asyncio's
/// `create_server(sock=...)`), as [`start_server_sock`](crate::start_server_sock).
///
/// # Errors
///
/// As [`start_server_sock`](crate::start_server_sock).
///
/// # Examples
///
/// ```
/// use aio_streams::{Protocol, create_server_sock};
/// struct Quiet;
/// impl Protocol for Quiet {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
/// aio_task::run(async {
///     let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
///     let port = listener.local_addr()?.port();
///     let server = create_server_sock(|| Quiet, listener).await?;
///     assert_eq!(server.port(), Some(port));
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn create_server_sock<F, P>(protocol_factory: F, sock: impl Into<OwnedFd>) -> CreateServer<F>
where
    F: Fn() -> P + 'static,
    P: AnyProtocol,
{
    CreateServer::new(protocol_factory, Target::Sock(sock.into(), Family::Inet))
}

/// A protocol server on a listening (or bound) Unix socket made outside (asyncio's
/// `create_unix_server(sock=...)`), as [`start_unix_server_sock`](crate::start_unix_server_sock):
/// the socket file is the caller's.
///
/// # Errors
///
/// As [`start_unix_server_sock`](crate::start_unix_server_sock).
///
/// # Examples
///
/// ```
/// use aio_streams::{Protocol, create_unix_server_sock};
/// struct Quiet;
/// impl Protocol for Quiet {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
/// let path = std::env::temp_dir().join(format!("aio-doc-cuss-{}.sock", std::process::id()));
/// let listener = std::os::unix::net::UnixListener::bind(&path)?;
/// aio_task::run(async move {
///     let server = create_unix_server_sock(|| Quiet, listener).await?;
///     server.close();
///     Ok::<_, aio_task::Error>(())
/// })??;
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn create_unix_server_sock<F, P>(
    protocol_factory: F,
    sock: impl Into<OwnedFd>,
) -> CreateServer<F>
where
    F: Fn() -> P + 'static,
    P: AnyProtocol,
{
    CreateServer::new(protocol_factory, Target::Sock(sock.into(), Family::Unix))
}
