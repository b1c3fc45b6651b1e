//! asyncio's `ssl=` on the protocol layer: `create_connection` / `create_server` (and their
//! Unix and `sock=` forms) whose transports read and write plaintext over TLS, and
//! `loop.start_tls` for a running transport.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use aio_streams::{AnyProtocol, Server, Transport};
use rustls::{ClientConfig, ServerConfig};

use crate::info::TlsInfo;
use crate::layer::{Side, TlsLayer};
use crate::options::{ListenOptions, Target, TlsOptions};
use crate::streams::TlsConfig;
use crate::{TlsError, report_handshake_failure};

/// Puts TLS on `transport` once what it holds is sent (in plaintext), and does the
/// handshake within `handshake_timeout`. On failure the layer is marked failed: the
/// transport's next read or write ends it with the reason.
async fn secure(
    transport: &Transport,
    side: Side,
    handshake_timeout: Duration,
    shutdown_timeout: Duration,
) -> Result<(), TlsError> {
    let tls = side.connection()?;
    let layer = transport
        .install_layer(|wire| Rc::new(TlsLayer::new(wire, tls, shutdown_timeout)))
        .await
        .map_err(|error| TlsError::handshake(io::Error::other(error)))?;
    let abandoned = Abandoned {
        transport,
        layer: Some(&layer),
    };
    let result = layer.handshake_within(handshake_timeout).await;
    abandoned.disarm();
    result
}

/// While a transport's handshake runs: if the upgrade is dropped before it ends (an outer
/// timeout, a cancelled task), nothing would drive the half-done handshake again and the
/// transport would wait for good. asyncio's `start_tls` closes the transport then; so does
/// this, after failing the layer so its reads and writes end.
struct Abandoned<'a> {
    transport: &'a Transport,
    layer: Option<&'a Rc<TlsLayer>>,
}

impl Abandoned<'_> {
    fn disarm(mut self) {
        self.layer = None;
    }
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        if let Some(layer) = self.layer.take() {
            layer.fail(&"the TLS upgrade was cancelled before its handshake ended");
            self.transport.close();
        }
    }
}

/// A TLS connection for a protocol being opened: the future [`create_connection`] and
/// [`create_unix_connection`] return. Await it for the [`Transport`].
///
/// # Cancel safety
///
/// Dropping it before it completes closes the connection; the protocol is never called.
#[must_use = "a connection is opened only when the future is awaited"]
pub struct CreateConnection<F> {
    factory: F,
    target: Target,
    config: Arc<ClientConfig>,
    tls: TlsOptions,
}

/// Connects to `host:port`, does the TLS handshake, then runs the protocol
/// `protocol_factory` makes over TLS (asyncio's `loop.create_connection(protocol_factory,
/// host, port, ssl=ctx)`): its `connection_made` is called once the handshake is done, and
/// its `data_received` gets plaintext; what it [`write`](Transport::write)s is encrypted.
/// The server's certificate is verified for `host` unless
/// [`server_hostname`](CreateConnection::server_hostname) names another name.
///
/// The transport behaves as a plain one, with the TLS differences of
/// [`open_connection`](crate::open_connection): `close` sends close_notify, `write_eof` is a
/// TLS half-close (asyncio's SSL transport refuses it), `abort` sends no close_notify, a
/// peer's EOF without close_notify reads as EOF. [`Transport::sendfile`] goes through its
/// read-and-write fallback. [`TransportTls::tls_info`] tells what the handshake agreed on.
///
/// # Errors
///
/// When awaited: [`TlsError::Connect`] if the connection cannot be made,
/// [`TlsError::InvalidServerName`], [`TlsError::Handshake`] (the server's certificate
/// refused — [`TlsError::rustls_error`] says why — or a server not speaking TLS),
/// [`TlsError::HandshakeTimeout`]. The protocol is never called then.
///
/// # Examples
///
/// A protocol echo server over TLS and a protocol client:
///
/// ```
/// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// # let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
/// # let server_config = aio_tls::server_config(vec![cert.cert.der().clone()], key).unwrap();
/// # let mut roots = rustls::RootCertStore::empty();
/// # roots.add(cert.cert.der().clone()).unwrap();
/// # let client_config = aio_tls::client_config(roots);
/// use std::{cell::RefCell, rc::Rc};
/// use aio_streams::{Protocol, Transport};
/// use aio_tls::TransportTls;
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
/// struct Client(Rc<RefCell<Vec<u8>>>);
/// impl Protocol for Client {
///     fn connection_made(&mut self, transport: &Transport) {
///         transport.write(b"over TLS");
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         self.0.borrow_mut().extend_from_slice(data);
///     }
/// }
///
/// aio_task::run(async move {
///     let server = aio_tls::create_server(|| Echo(None), "127.0.0.1", 0, server_config).await?;
///     let got = Rc::new(RefCell::new(Vec::new()));
///     let seen = got.clone();
///     let transport = aio_tls::create_connection(
///         move || Client(seen),
///         "127.0.0.1",
///         server.port().unwrap(),
///         client_config,
///     )
///     .server_hostname("localhost")
///     .ssl_handshake_timeout(10.0)
///     .ssl_shutdown_timeout(5.0)
///     .await?;
///     assert!(transport.tls_info().is_some());
///     while got.borrow().len() < 8 {
///         aio_scheduler::sleep(0.001).await?;
///     }
///     assert_eq!(*got.borrow(), b"over TLS");
///     transport.close();
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn create_connection<F, P>(
    protocol_factory: F,
    host: &str,
    port: u16,
    config: Arc<ClientConfig>,
) -> CreateConnection<F>
where
    F: FnOnce() -> P + 'static,
    P: AnyProtocol,
{
    connect(protocol_factory, Target::Tcp(host.to_owned(), port), config)
}

/// [`create_connection`] over a Unix socket at `path` (asyncio's
/// `create_unix_connection(factory, path, ssl=ctx, server_hostname=...)`):
/// [`server_hostname`](CreateConnection::server_hostname) is required.
///
/// # Errors
///
/// As [`create_connection`]'s; [`TlsError::NoServerName`] without a `server_hostname`.
///
/// # Examples
///
/// See [`create_connection`].
pub fn create_unix_connection<F, P>(
    protocol_factory: F,
    path: impl AsRef<Path>,
    config: Arc<ClientConfig>,
) -> CreateConnection<F>
where
    F: FnOnce() -> P + 'static,
    P: AnyProtocol,
{
    connect(
        protocol_factory,
        Target::Unix(path.as_ref().to_owned()),
        config,
    )
}

/// [`create_connection`] over a stream socket connected elsewhere, TCP or Unix (asyncio's
/// `create_connection(protocol_factory, sock=sock, ssl=ctx, server_hostname=...)`):
/// [`server_hostname`](CreateConnection::server_hostname) is required, as there is no host
/// to verify the certificate for. The socket is made non-blocking.
///
/// # Errors
///
/// As [`create_connection`]'s ([`TlsError::Connect`] for a descriptor that is not a
/// connected stream socket); [`TlsError::NoServerName`] without a `server_hostname`.
///
/// # Examples
///
/// ```
/// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// # let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
/// # let server_config = aio_tls::server_config(vec![cert.cert.der().clone()], key).unwrap();
/// # let mut roots = rustls::RootCertStore::empty();
/// # roots.add(cert.cert.der().clone()).unwrap();
/// # let client_config = aio_tls::client_config(roots);
/// use aio_streams::{Protocol, Transport};
/// use aio_tls::TransportTls;
///
/// struct Quiet;
/// impl Protocol for Quiet {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
///
/// aio_task::run(async move {
///     let server = aio_tls::create_server(|| Quiet, "127.0.0.1", 0, server_config).await?;
///     // A socket connected outside aio (blocking here, made non-blocking by aio).
///     let sock = std::net::TcpStream::connect(("127.0.0.1", server.port().unwrap()))?;
///     let transport = aio_tls::create_connection_sock(|| Quiet, sock, client_config)
///         .server_hostname("localhost")
///         .await?;
///     assert!(transport.tls_info().is_some());
///     transport.close();
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn create_connection_sock<F, P>(
    protocol_factory: F,
    sock: impl Into<OwnedFd>,
    config: Arc<ClientConfig>,
) -> CreateConnection<F>
where
    F: FnOnce() -> P + 'static,
    P: AnyProtocol,
{
    connect(protocol_factory, Target::TcpSock(sock.into()), config)
}

/// [`create_connection_sock`] for a Unix socket (asyncio's `create_unix_connection(sock=,
/// ssl=)`); the same function underneath, named for the asyncio call it stands for.
///
/// # Errors
///
/// As [`create_connection_sock`]'s.
///
/// # Examples
///
/// ```
/// # let client_config = aio_tls::client_config(rustls::RootCertStore::empty());
/// struct Quiet;
/// impl aio_streams::Protocol for Quiet {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
/// let (sock, _peer) = std::os::unix::net::UnixStream::pair()?;
/// let connect = aio_tls::create_unix_connection_sock(|| Quiet, sock, client_config)
///     .server_hostname("localhost");
/// assert!(format!("{connect:?}").contains("Unix sock"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn create_unix_connection_sock<F, P>(
    protocol_factory: F,
    sock: impl Into<OwnedFd>,
    config: Arc<ClientConfig>,
) -> CreateConnection<F>
where
    F: FnOnce() -> P + 'static,
    P: AnyProtocol,
{
    connect(protocol_factory, Target::UnixSock(sock.into()), config)
}

fn connect<F>(factory: F, target: Target, config: Arc<ClientConfig>) -> CreateConnection<F> {
    CreateConnection {
        factory,
        target,
        config,
        tls: TlsOptions::DEFAULT,
    }
}

tls_setters!(client "create_connection", CreateConnection<F>);

impl<F, P> IntoFuture for CreateConnection<F>
where
    F: FnOnce() -> P + 'static,
    P: AnyProtocol,
{
    type Output = Result<Transport, TlsError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let CreateConnection {
                factory,
                target,
                config,
                tls,
            } = self;
            let side = tls.client_side(config, &target)?;
            let prelude = move |transport: Transport| async move {
                secure(
                    &transport,
                    side,
                    tls.handshake_timeout,
                    tls.shutdown_timeout,
                )
                .await
                .map_err(io::Error::other)
            };
            let made = match target {
                Target::Tcp(host, port) => {
                    aio_streams::create_connection_with_prelude(factory, &host, port, prelude).await
                }
                Target::Unix(path) => {
                    aio_streams::create_unix_connection_with_prelude(factory, path, prelude).await
                }
                Target::TcpSock(sock) | Target::UnixSock(sock) => {
                    aio_streams::connect_accepted_socket_with_prelude(factory, sock, prelude).await
                }
            };
            made.map_err(tls_error)
        })
    }
}

/// A connection's error as a [`TlsError`]: the handshake's own error, back out of the
/// prelude's `io::Error`, or the connection's as [`TlsError::Connect`].
fn tls_error(error: aio_task::Error) -> TlsError {
    match &error {
        aio_task::Error::Io(io) => match io.get_ref().and_then(|e| e.downcast_ref()) {
            Some(tls) => TlsError::clone(tls),
            None => TlsError::Connect(error),
        },
        _ => TlsError::Connect(error),
    }
}

/// The server side of TLS on an accepted socket, for a protocol: the future
/// [`connect_accepted_socket`] returns. Await it for the [`Transport`].
///
/// # Cancel safety
///
/// Dropping it before it completes closes the connection; the protocol is never called.
#[must_use = "the handshake runs only when the future is awaited"]
pub struct ConnectAcceptedSocket<F> {
    factory: F,
    sock: OwnedFd,
    config: Arc<ServerConfig>,
    tls: TlsOptions,
}

/// Does the server's side of the TLS handshake on a socket accepted elsewhere, then runs the
/// protocol `protocol_factory` makes over TLS (asyncio's
/// `loop.connect_accepted_socket(protocol_factory, sock, ssl=ctx)`, for servers that accept
/// connections themselves). As on a [`create_server`] connection, the protocol's
/// `connection_made` is called once the handshake is done. The socket (TCP or Unix) is made
/// non-blocking.
///
/// # Errors
///
/// When awaited: [`TlsError::Connect`] for a descriptor that is not a connected stream
/// socket, [`TlsError::Handshake`] (a client not speaking TLS, or refusing the
/// certificate), [`TlsError::HandshakeTimeout`]. The protocol is never called then.
///
/// # Examples
///
/// ```
/// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// # let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
/// # let server_config = aio_tls::server_config(vec![cert.cert.der().clone()], key).unwrap();
/// # let mut roots = rustls::RootCertStore::empty();
/// # roots.add(cert.cert.der().clone()).unwrap();
/// # let client_config = aio_tls::client_config(roots);
/// use aio_streams::{Protocol, Transport};
///
/// struct Greet;
/// impl Protocol for Greet {
///     fn connection_made(&mut self, transport: &Transport) {
///         transport.write(b"hello over TLS\n");
///     }
///     fn data_received(&mut self, _: &[u8]) {}
/// }
///
/// let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
/// aio_task::run(async move {
///     let client = aio_task::create_task(async move {
///         let (reader, _writer) = aio_tls::open_unix_connection_sock(theirs, client_config)
///             .server_hostname("localhost")
///             .await?;
///         reader.readline().await.map_err(aio_task::Error::from)
///     })?;
///     let transport = aio_tls::connect_accepted_socket(|| Greet, ours, server_config)
///         .ssl_handshake_timeout(10.0)
///         .await?;
///     assert_eq!(client.await??, b"hello over TLS\n");
///     transport.close();
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect_accepted_socket<F, P>(
    protocol_factory: F,
    sock: impl Into<OwnedFd>,
    config: Arc<ServerConfig>,
) -> ConnectAcceptedSocket<F>
where
    F: FnOnce() -> P + 'static,
    P: AnyProtocol,
{
    ConnectAcceptedSocket {
        factory: protocol_factory,
        sock: sock.into(),
        config,
        tls: TlsOptions::DEFAULT,
    }
}

tls_setters!(server "connect_accepted_socket", ConnectAcceptedSocket<F>);

impl<F, P> IntoFuture for ConnectAcceptedSocket<F>
where
    F: FnOnce() -> P + 'static,
    P: AnyProtocol,
{
    type Output = Result<Transport, TlsError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let ConnectAcceptedSocket {
                factory,
                sock,
                config,
                tls,
            } = self;
            let prelude = move |transport: Transport| async move {
                secure(
                    &transport,
                    Side::Server(config),
                    tls.handshake_timeout,
                    tls.shutdown_timeout,
                )
                .await
                .map_err(io::Error::other)
            };
            aio_streams::connect_accepted_socket_with_prelude(factory, sock, prelude)
                .await
                .map_err(tls_error)
        })
    }
}

impl<F> fmt::Debug for ConnectAcceptedSocket<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("ConnectAcceptedSocket");
        debug.field("sock", &self.sock);
        self.tls.debug_timeouts(&mut debug);
        debug.finish_non_exhaustive()
    }
}

impl<F> fmt::Debug for CreateConnection<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("CreateConnection");
        debug.field("target", &self.target);
        self.tls.debug_client(&mut debug);
        debug.finish_non_exhaustive()
    }
}

/// A TLS server for a protocol being started: the future [`create_server`] and its Unix and
/// `sock=` forms return. Await it for aio-streams' [`Server`]. Besides the TLS timeouts it
/// takes aio-streams' server options.
#[must_use = "a server starts only when the future is awaited"]
pub struct CreateServer<F> {
    factory: F,
    target: Target,
    config: Arc<ServerConfig>,
    tls: TlsOptions,
    listen: ListenOptions,
}

/// Starts a TLS server on `host:port` running the protocol `protocol_factory` makes on each
/// connection (asyncio's `loop.create_server(protocol_factory, host, port, ssl=ctx)`): every
/// accepted connection does its handshake within
/// [`ssl_handshake_timeout`](CreateServer::ssl_handshake_timeout) in a task of its own, then
/// its protocol's `connection_made` is called and the transport runs as
/// [`create_connection`]'s.
///
/// A failed handshake — a client not speaking TLS, refusing the certificate, or silent
/// until the timeout — closes that connection only, without calling its protocol (as
/// asyncio's `SSLProtocol` never calls the application protocol then), and is reported once
/// to the loop's exception handler (message `TLS handshake failed`, with the [`TlsError`]
/// and the peer); the server goes on serving.
///
/// # Errors
///
/// When awaited, `aio_streams::create_server`'s.
///
/// # Examples
///
/// See [`create_connection`].
pub fn create_server<F, P>(
    protocol_factory: F,
    host: &str,
    port: u16,
    config: Arc<ServerConfig>,
) -> CreateServer<F>
where
    F: Fn() -> P + 'static,
    P: AnyProtocol,
{
    listen(protocol_factory, Target::Tcp(host.to_owned(), port), config)
}

/// [`create_server`] on a Unix socket at `path` (asyncio's `create_unix_server(factory,
/// path, ssl=ctx)`).
///
/// # Errors
///
/// When awaited, `aio_streams::create_unix_server`'s.
///
/// # Examples
///
/// See [`create_connection`].
pub fn create_unix_server<F, P>(
    protocol_factory: F,
    path: impl AsRef<Path>,
    config: Arc<ServerConfig>,
) -> CreateServer<F>
where
    F: Fn() -> P + 'static,
    P: AnyProtocol,
{
    listen(
        protocol_factory,
        Target::Unix(path.as_ref().to_owned()),
        config,
    )
}

/// [`create_server`] on a listening TCP socket made elsewhere (asyncio's
/// `create_server(factory, sock=..., ssl=ctx)`).
///
/// # Errors
///
/// When awaited, `aio_streams::create_server_sock`'s.
///
/// # Examples
///
/// See [`create_connection`].
pub fn create_server_sock<F, P>(
    protocol_factory: F,
    sock: impl Into<OwnedFd>,
    config: Arc<ServerConfig>,
) -> CreateServer<F>
where
    F: Fn() -> P + 'static,
    P: AnyProtocol,
{
    listen(protocol_factory, Target::TcpSock(sock.into()), config)
}

/// [`create_unix_server`] on a listening Unix socket made elsewhere.
///
/// # Errors
///
/// When awaited, `aio_streams::create_unix_server_sock`'s.
///
/// # Examples
///
/// See [`create_connection`].
pub fn create_unix_server_sock<F, P>(
    protocol_factory: F,
    sock: impl Into<OwnedFd>,
    config: Arc<ServerConfig>,
) -> CreateServer<F>
where
    F: Fn() -> P + 'static,
    P: AnyProtocol,
{
    listen(protocol_factory, Target::UnixSock(sock.into()), config)
}

fn listen<F>(factory: F, target: Target, config: Arc<ServerConfig>) -> CreateServer<F> {
    CreateServer {
        factory,
        target,
        config,
        tls: TlsOptions::DEFAULT,
        listen: ListenOptions::default(),
    }
}

tls_setters!(server "create_connection", CreateServer<F>);

impl<F> CreateServer<F> {
    /// The listen backlog, as `aio_streams::CreateServer::backlog`.
    ///
    /// # Examples
    ///
    /// See [`create_connection`].
    pub fn backlog(mut self, backlog: u32) -> CreateServer<F> {
        self.listen.backlog = Some(backlog);
        self
    }

    /// `SO_REUSEADDR`, as `aio_streams::CreateServer::reuse_address`.
    ///
    /// # Examples
    ///
    /// See [`create_connection`].
    pub fn reuse_address(mut self, reuse: bool) -> CreateServer<F> {
        self.listen.reuse_address = Some(reuse);
        self
    }

    /// `SO_REUSEPORT`, as `aio_streams::CreateServer::reuse_port`.
    ///
    /// # Examples
    ///
    /// See [`create_connection`].
    pub fn reuse_port(mut self, reuse: bool) -> CreateServer<F> {
        self.listen.reuse_port = Some(reuse);
        self
    }
}

impl<F, P> IntoFuture for CreateServer<F>
where
    F: Fn() -> P + 'static,
    P: AnyProtocol,
{
    type Output = Result<Server, aio_task::Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output>>>;

    fn into_future(self) -> Self::IntoFuture {
        let CreateServer {
            factory,
            target,
            config,
            tls,
            listen,
        } = self;
        let TlsOptions {
            handshake_timeout,
            shutdown_timeout,
            ..
        } = tls;
        let prelude = move |transport: Transport| {
            let side = Side::Server(Arc::clone(&config));
            async move {
                let peer = transport.peername();
                let result = secure(&transport, side, handshake_timeout, shutdown_timeout).await;
                result.map_err(|error| {
                    report_handshake_failure(error.clone(), peer);
                    io::Error::other(error)
                })
            }
        };
        let starting = match target {
            Target::Tcp(host, port) => aio_streams::create_server(factory, &host, port),
            Target::Unix(path) => aio_streams::create_unix_server(factory, path),
            Target::TcpSock(fd) => aio_streams::create_server_sock(factory, fd),
            Target::UnixSock(fd) => aio_streams::create_unix_server_sock(factory, fd),
        }
        .prelude(prelude);
        Box::pin(listen.apply(starting))
    }
}

impl<F> fmt::Debug for CreateServer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("CreateServer");
        debug.field("target", &self.target);
        self.tls.debug_timeouts(&mut debug);
        self.listen.debug(&mut debug);
        debug.finish_non_exhaustive()
    }
}

/// TLS on a protocol [`Transport`]: asyncio's `loop.start_tls(transport, protocol, ctx)` and
/// `get_extra_info('ssl_object')`. `use aio_tls::TransportTls;` brings the methods in.
///
/// # Examples
///
/// STARTTLS on the protocol layer: the server's protocol upgrades its own transport when
/// the client asks, and both go on over TLS.
///
/// ```
/// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// # let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
/// # let server_config = aio_tls::server_config(vec![cert.cert.der().clone()], key).unwrap();
/// # let mut roots = rustls::RootCertStore::empty();
/// # roots.add(cert.cert.der().clone()).unwrap();
/// # let client_config = aio_tls::client_config(roots);
/// use std::sync::Arc;
/// use aio_streams::{Protocol, Transport};
/// use aio_tls::TransportTls;
///
/// struct StartTlsServer {
///     transport: Option<Transport>,
///     config: Arc<rustls::ServerConfig>,
///     secure: bool,
/// }
/// impl Protocol for StartTlsServer {
///     fn connection_made(&mut self, transport: &Transport) {
///         self.transport = Some(transport.clone());
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         let transport = self.transport.as_ref().unwrap();
///         if !self.secure && data == b"STARTTLS\n" {
///             self.secure = true;
///             transport.write(b"go ahead\n"); // in plaintext, sent before the handshake
///             // Reading pauses now, so the client's handshake is not read as data.
///             let upgrade = transport.start_tls(self.config.clone());
///             aio_task::create_task(async move { upgrade.await.map(drop) }).unwrap();
///         } else {
///             transport.write(&data.to_ascii_uppercase()); // over TLS once secure
///         }
///     }
/// }
///
/// aio_task::run(async move {
///     let server = aio_streams::create_server(
///         move || StartTlsServer { transport: None, config: server_config.clone(), secure: false },
///         "127.0.0.1",
///         0,
///     )
///     .await?;
///     let (reader, writer) = aio_streams::open_connection("127.0.0.1", server.port().unwrap()).await?;
///     writer.write(b"STARTTLS\n");
///     assert_eq!(reader.readline().await?, b"go ahead\n");
///     use aio_tls::StreamWriterTls;
///     writer.start_tls(client_config).server_hostname("localhost").await?;
///     writer.write(b"secret\n");
///     assert_eq!(reader.readline().await?, b"SECRET\n");
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub trait TransportTls {
    /// Upgrades the transport to TLS in place (asyncio's `loop.start_tls`): reading pauses
    /// at once (this call), so that bytes of the peer's handshake are never delivered to the
    /// protocol; when awaited, what the transport holds is sent in plaintext, the TLS layer
    /// installed, and the handshake done as the client or the server — as `config` says —
    /// within the handshake timeout. Then reading resumes (if it was on) and the same
    /// transport and protocol go on over TLS. It resolves to the transport (asyncio returns
    /// a new transport object; here the handle is the same transport's, and the protocol is
    /// the one it has).
    ///
    /// Writes made once the upgrade is awaited and has sent what the transport held (the
    /// layer is then in place) wait for the handshake and go out encrypted after it; writes
    /// made between this call and that point go out in plaintext, ahead of the handshake
    /// (as writes to asyncio's old transport would). Sending what the transport held is
    /// not under the handshake timeout (asyncio waits for it without one too). Bytes the
    /// protocol received before are plaintext; a peer that pipelined its handshake behind
    /// the STARTTLS request in the same packet has those bytes delivered as plaintext too:
    /// call this before the peer may send them.
    ///
    /// # Errors
    ///
    /// When awaited: [`TlsError::NoServerName`] for a client without
    /// [`server_hostname`](StartTransportTls::server_hostname),
    /// [`TlsError::InvalidServerName`], [`TlsError::Handshake`] (with `StreamError::State`
    /// inside for a pipe transport, a transport already on TLS, closing, or sending a
    /// file), [`TlsError::HandshakeTimeout`]. A failed handshake ends the transport: its
    /// protocol's `connection_lost` gets the reason (kind `ConnectionAborted`, the message
    /// of the [`TlsError`]).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropped before its handshake ended (an outer timeout, a cancelled
    /// task), it closes the transport, as asyncio's `start_tls` does; the protocol's
    /// `connection_lost` follows. Dropped before it was first awaited, it only gives
    /// reading back.
    ///
    /// # Examples
    ///
    /// See [`TransportTls`].
    fn start_tls(&self, config: impl Into<TlsConfig>) -> StartTransportTls;

    /// What the handshake agreed on, for a transport on TLS through this crate; `None` for
    /// a plain one or before the handshake is done.
    ///
    /// # Examples
    ///
    /// See [`create_connection`].
    fn tls_info(&self) -> Option<Rc<TlsInfo>>;
}

impl TransportTls for Transport {
    fn start_tls(&self, config: impl Into<TlsConfig>) -> StartTransportTls {
        let paused = Paused {
            transport: self.clone(),
            resume: self.is_reading(),
        };
        self.pause_reading();
        StartTransportTls {
            paused,
            config: config.into(),
            tls: TlsOptions::DEFAULT,
        }
    }

    fn tls_info(&self) -> Option<Rc<TlsInfo>> {
        TlsLayer::info_of(self.layer())
    }
}

/// A transport's reading, paused for an upgrade: resumed when dropped if it was on.
struct Paused {
    transport: Transport,
    resume: bool,
}

impl Drop for Paused {
    fn drop(&mut self) {
        if self.resume {
            self.transport.resume_reading();
        }
    }
}

/// An upgrade of a transport to TLS: [`TransportTls::start_tls`]'s builder. Await it.
/// Dropped without being awaited, it gives reading back.
#[must_use = "the upgrade happens only when the future is awaited"]
pub struct StartTransportTls {
    paused: Paused,
    config: TlsConfig,
    tls: TlsOptions,
}

tls_setters!(client "TransportTls", StartTransportTls);

impl IntoFuture for StartTransportTls {
    type Output = Result<Transport, TlsError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let StartTransportTls {
                mut paused,
                config,
                tls,
            } = self;
            let side = config.side(tls.server_hostname.as_deref())?;
            let transport = paused.transport.clone();
            let result = secure(
                &transport,
                side,
                tls.handshake_timeout,
                tls.shutdown_timeout,
            )
            .await;
            if result.is_err() && transport.layer().is_some() {
                // The failed layer ends the transport at its next read, with the reason
                // for `connection_lost`.
                paused.resume = false;
                transport.resume_reading();
            }
            drop(paused);
            result.map(|()| transport)
        })
    }
}

impl fmt::Debug for StartTransportTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("StartTransportTls");
        debug.field("transport", &self.paused.transport);
        self.tls.debug_client(&mut debug);
        debug.finish_non_exhaustive()
    }
}
