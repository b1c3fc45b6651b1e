//! asyncio's `ssl=` on the ordinary streams: `open_connection` / `start_server` (and their
//! Unix and `sock=` forms) giving a `StreamReader` and a `StreamWriter` over TLS, and
//! `StreamWriter.start_tls`.

use std::fmt;
use std::future::{Future, IntoFuture, poll_fn};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use aio_streams::{HandlerOutcome, Server, StreamReader, StreamWriter};
use futures_io::AsyncWrite;
use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::ServerName;

use crate::info::TlsInfo;
use crate::layer::{Side, TlsLayer};
use crate::options::{ListenOptions, Target, TlsOptions};
use crate::{TlsError, report_handshake_failure};

/// A TLS configuration for [`start_tls`](StreamWriterTls::start_tls): a client's or a
/// server's, which also says which side of the handshake this end takes (asyncio decides
/// that from who made the connection; here the configuration's type does). Made with
/// `.into()` from an `Arc<ClientConfig>` or an `Arc<ServerConfig>`.
///
/// # Examples
///
/// ```
/// let roots = rustls::RootCertStore::empty();
/// let config: aio_tls::TlsConfig = aio_tls::client_config(roots).into();
/// assert!(matches!(config, aio_tls::TlsConfig::Client(_)));
/// ```
#[derive(Debug, Clone)]
pub enum TlsConfig {
    /// This end is the client: it verifies the server's certificate for `server_hostname`.
    Client(Arc<ClientConfig>),
    /// This end is the server.
    Server(Arc<ServerConfig>),
}

impl From<Arc<ClientConfig>> for TlsConfig {
    fn from(config: Arc<ClientConfig>) -> TlsConfig {
        TlsConfig::Client(config)
    }
}

impl From<Arc<ServerConfig>> for TlsConfig {
    fn from(config: Arc<ServerConfig>) -> TlsConfig {
        TlsConfig::Server(config)
    }
}

impl TlsConfig {
    /// The side of the handshake this configuration takes; a client's needs `server_hostname`.
    pub(crate) fn side(self, server_hostname: Option<&str>) -> Result<Side, TlsError> {
        Ok(match self {
            TlsConfig::Client(config) => Side::Client(config, server_name(server_hostname)?),
            TlsConfig::Server(config) => Side::Server(config),
        })
    }
}

/// The name a client verifies the server's certificate against.
pub(crate) fn server_name(name: Option<&str>) -> Result<ServerName<'static>, TlsError> {
    let name = name.ok_or(TlsError::NoServerName)?;
    ServerName::try_from(name.to_owned()).map_err(|_| TlsError::InvalidServerName(name.to_owned()))
}

/// Puts TLS on the connection of `writer` and does the handshake within `handshake_timeout`.
/// What the writer has buffered is flushed first, in plaintext. On failure the connection
/// is aborted (asyncio closes the transport) and its reader fails with the reason.
async fn upgrade(
    writer: &StreamWriter,
    side: Side,
    handshake_timeout: Duration,
    shutdown_timeout: Duration,
) -> Result<(), TlsError> {
    let tls = side.connection()?;
    let mut flushing = writer.clone();
    poll_fn(|cx| Pin::new(&mut flushing).poll_flush(cx))
        .await
        .map_err(TlsError::handshake)?;
    let layer = writer
        .install_layer(|wire| Rc::new(TlsLayer::new(wire, tls, shutdown_timeout)))
        .map_err(|error| TlsError::handshake(std::io::Error::other(error)))?;
    let result = layer.handshake_within(handshake_timeout).await;
    if result.is_err() {
        writer.abort();
    }
    result
}

/// A TLS connection being opened: the future [`open_connection`] and its Unix and `sock=`
/// forms return. Await it for `(StreamReader, StreamWriter)` over TLS.
///
/// # Cancel safety
///
/// Dropping it before it completes closes the connection, handshake or not.
#[must_use = "a connection is opened only when the future is awaited"]
pub struct OpenConnection {
    target: Target,
    config: Arc<ClientConfig>,
    tls: TlsOptions,
    limit: Option<usize>,
}

fn open(target: Target, config: Arc<ClientConfig>) -> OpenConnection {
    OpenConnection {
        target,
        config,
        tls: TlsOptions::DEFAULT,
        limit: None,
    }
}

/// Opens a TLS connection to `host:port` and returns its [`StreamReader`] and
/// [`StreamWriter`], which read and write plaintext over TLS (asyncio's
/// `open_connection(host, port, ssl=ctx)`). The server's certificate is verified for
/// `host` unless [`server_hostname`](OpenConnection::server_hostname) names another name.
/// The halves behave as a plain connection's — `readline`, `readexactly`, `drain`,
/// `close`, `wait_closed`... — with these TLS differences:
///
/// - `close` sends close_notify before shutting the socket down (without waiting for the
///   peer's: asyncio waits up to `ssl_shutdown_timeout` for it); if the socket cannot take
///   the alert at once, it is sent in the background within the shutdown timeout.
/// - `write_eof` sends close_notify and shuts down the sending direction (a TLS half-close,
///   which TLS 1.3 allows); asyncio's SSL transport refuses `write_eof`
///   (`NotImplementedError`). An asyncio peer answers close_notify by closing its side.
/// - `abort` closes without close_notify, so the peer cannot take the cut for a complete
///   stream.
/// - A peer that closes the socket without close_notify ends the stream (EOF), as in asyncio.
/// - [`StreamWriterTls::tls_info`] gives what the handshake agreed on.
///
/// # Errors
///
/// When awaited: [`TlsError::Connect`] if the connection cannot be made (as
/// `aio_streams::open_connection`'s), [`TlsError::InvalidServerName`],
/// [`TlsError::Handshake`] if the server's certificate is refused (untrusted, expired, for
/// another name: [`TlsError::rustls_error`] tells which) or the server is not speaking TLS,
/// [`TlsError::HandshakeTimeout`].
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
/// aio_task::run(async move {
///     // An upper-casing line server over TLS.
///     let server = aio_tls::start_server(
///         |reader: aio_streams::StreamReader, writer: aio_streams::StreamWriter| async move {
///             let line = reader.readline().await?;
///             writer.write(&line.to_ascii_uppercase());
///             writer.close();
///             writer.wait_closed().await
///         },
///         "127.0.0.1",
///         0,
///         server_config,
///     )
///     .ssl_handshake_timeout(10.0)
///     .await?;
///     let port = server.port().unwrap();
///
///     let (reader, writer) = aio_tls::open_connection("127.0.0.1", port, client_config)
///         .server_hostname("localhost") // the certificate's name
///         .ssl_handshake_timeout(10.0)
///         .await?;
///     writer.write(b"hello over tls\n");
///     writer.drain().await?;
///     assert_eq!(reader.readline().await?, b"HELLO OVER TLS\n");
///     assert_eq!(reader.read(100).await?, b""); // the server's close_notify: EOF
///     assert!(reader.at_eof());
///     writer.close();
///     writer.wait_closed().await?;
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn open_connection(host: &str, port: u16, config: Arc<ClientConfig>) -> OpenConnection {
    open(Target::Tcp(host.to_owned(), port), config)
}

/// [`open_connection`] over a Unix socket (asyncio's `open_unix_connection(path, ssl=ctx,
/// server_hostname=...)`). [`server_hostname`](OpenConnection::server_hostname) is
/// required: a path names no host to verify.
///
/// # Errors
///
/// As [`open_connection`]'s; [`TlsError::NoServerName`] without a `server_hostname`.
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
/// let dir = std::env::temp_dir().join(format!("aio-tls-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("tls.sock");
/// aio_task::run(async move {
///     let server = aio_tls::start_unix_server(
///         |_reader, writer: aio_streams::StreamWriter| async move { writer.write(b"hi\n") },
///         &path,
///         server_config,
///     )
///     .await?;
///     let missing = aio_tls::open_unix_connection(&path, client_config.clone()).await;
///     assert!(matches!(missing, Err(aio_tls::TlsError::NoServerName)));
///     let (reader, _writer) = aio_tls::open_unix_connection(&path, client_config)
///         .server_hostname("localhost")
///         .await?;
///     assert_eq!(reader.readline().await?, b"hi\n");
///     server.close();
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open_unix_connection(path: impl AsRef<Path>, config: Arc<ClientConfig>) -> OpenConnection {
    open(Target::Unix(path.as_ref().to_owned()), config)
}

/// [`open_connection`] over a TCP socket connected outside (asyncio's `sock=` with
/// `ssl=`); [`server_hostname`](OpenConnection::server_hostname) is required.
///
/// # Errors
///
/// As [`open_connection`]'s; [`TlsError::NoServerName`] without a `server_hostname`.
///
/// # Examples
///
/// ```
/// # let roots = rustls::RootCertStore::empty();
/// # let client_config = aio_tls::client_config(roots);
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let sock = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let connect = aio_tls::open_connection_sock(sock, client_config).server_hostname("localhost");
/// assert!(format!("{connect:?}").contains("localhost"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn open_connection_sock(sock: impl Into<OwnedFd>, config: Arc<ClientConfig>) -> OpenConnection {
    open(Target::TcpSock(sock.into()), config)
}

/// [`open_unix_connection`] over a Unix socket connected outside (asyncio's `sock=` with
/// `ssl=`); [`server_hostname`](OpenConnection::server_hostname) is required.
///
/// # Errors
///
/// As [`open_connection`]'s; [`TlsError::NoServerName`] without a `server_hostname`.
///
/// # Examples
///
/// ```
/// # let roots = rustls::RootCertStore::empty();
/// # let client_config = aio_tls::client_config(roots);
/// let (sock, _peer) = std::os::unix::net::UnixStream::pair()?;
/// let connect = aio_tls::open_unix_connection_sock(sock, client_config);
/// assert!(format!("{connect:?}").contains("Unix sock"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn open_unix_connection_sock(
    sock: impl Into<OwnedFd>,
    config: Arc<ClientConfig>,
) -> OpenConnection {
    open(Target::UnixSock(sock.into()), config)
}

impl OpenConnection {
    /// The reader's buffer limit (asyncio's `limit=`, 64 KiB by default).
    ///
    /// # Examples
    ///
    /// ```
    /// # let client_config = aio_tls::client_config(rustls::RootCertStore::empty());
    /// let connect = aio_tls::open_connection("127.0.0.1", 1, client_config).limit(1024);
    /// assert!(format!("{connect:?}").contains("1024"));
    /// ```
    pub fn limit(mut self, limit: usize) -> OpenConnection {
        self.limit = Some(limit);
        self
    }
}

impl IntoFuture for OpenConnection {
    type Output = Result<(StreamReader, StreamWriter), TlsError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let OpenConnection {
                target,
                config,
                tls,
                limit,
            } = self;
            let side = tls.client_side(config, &target)?;
            let connecting = match target {
                Target::Tcp(host, port) => aio_streams::open_connection(&host, port),
                Target::Unix(path) => aio_streams::open_unix_connection(path),
                Target::TcpSock(fd) => aio_streams::open_connection_sock(fd),
                Target::UnixSock(fd) => aio_streams::open_unix_connection_sock(fd),
            };
            let connecting = match limit {
                Some(limit) => connecting.limit(limit),
                None => connecting,
            };
            let (reader, writer) = connecting.await.map_err(TlsError::Connect)?;
            upgrade(&writer, side, tls.handshake_timeout, tls.shutdown_timeout).await?;
            Ok((reader, writer))
        })
    }
}

impl fmt::Debug for OpenConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("OpenConnection");
        debug.field("target", &self.target);
        self.tls.debug_client(&mut debug);
        debug.field("limit", &self.limit).finish_non_exhaustive()
    }
}

/// A TLS server being started: the future [`start_server`] and its Unix and `sock=` forms
/// return. Await it for the [`Server`] (aio-streams' own: `port`, `close`,
/// `serve_forever`...). Besides the TLS timeouts it takes aio-streams' server options.
#[must_use = "a server starts only when the future is awaited"]
pub struct StartServer<H> {
    handler: H,
    target: Target,
    config: Arc<ServerConfig>,
    tls: TlsOptions,
    limit: Option<usize>,
    listen: ListenOptions,
}

fn serve<H>(handler: H, target: Target, config: Arc<ServerConfig>) -> StartServer<H> {
    StartServer {
        handler,
        target,
        config,
        tls: TlsOptions::DEFAULT,
        limit: None,
        listen: ListenOptions::default(),
    }
}

/// Starts a TLS server on `host:port` whose handler gets each connection's
/// [`StreamReader`] and [`StreamWriter`] over TLS (asyncio's `start_server(cb, host, port,
/// ssl=ctx)`): every accepted connection does its handshake within
/// [`ssl_handshake_timeout`](StartServer::ssl_handshake_timeout), then
/// `handler(reader, writer)` runs as for `aio_streams::start_server`. The halves behave as
/// [`open_connection`]'s.
///
/// A failed handshake — a client not speaking TLS, refusing the certificate, or silent
/// until the timeout — closes that connection only, and is reported once to the loop's
/// exception handler (message `TLS handshake failed`, with the [`TlsError`] and the peer);
/// the server goes on serving.
///
/// # Errors
///
/// When awaited, `aio_streams::start_server`'s.
///
/// # Examples
///
/// See [`open_connection`].
pub fn start_server<H, Fut>(
    handler: H,
    host: &str,
    port: u16,
    config: Arc<ServerConfig>,
) -> StartServer<H>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output: HandlerOutcome> + 'static,
{
    serve(handler, Target::Tcp(host.to_owned(), port), config)
}

/// [`start_server`] on a Unix socket at `path` (asyncio's `start_unix_server(cb, path,
/// ssl=ctx)`).
///
/// # Errors
///
/// When awaited, `aio_streams::start_unix_server`'s.
///
/// # Examples
///
/// See [`open_unix_connection`].
pub fn start_unix_server<H, Fut>(
    handler: H,
    path: impl AsRef<Path>,
    config: Arc<ServerConfig>,
) -> StartServer<H>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output: HandlerOutcome> + 'static,
{
    serve(handler, Target::Unix(path.as_ref().to_owned()), config)
}

/// [`start_server`] on a TCP listening socket made outside (asyncio's `sock=` with `ssl=`).
///
/// # Errors
///
/// When awaited, `aio_streams::start_server_sock`'s.
///
/// # Examples
///
/// ```
/// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// # let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
/// # let server_config = aio_tls::server_config(vec![cert.cert.der().clone()], key).unwrap();
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// aio_task::run(async move {
///     let server = aio_tls::start_server_sock(|_, _| async {}, listener, server_config).await?;
///     assert_eq!(server.port(), Some(port));
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn start_server_sock<H, Fut>(
    handler: H,
    sock: impl Into<OwnedFd>,
    config: Arc<ServerConfig>,
) -> StartServer<H>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output: HandlerOutcome> + 'static,
{
    serve(handler, Target::TcpSock(sock.into()), config)
}

/// [`start_unix_server`] on a Unix listening socket made outside (asyncio's `sock=` with
/// `ssl=`).
///
/// # Errors
///
/// When awaited, `aio_streams::start_unix_server_sock`'s.
///
/// # Examples
///
/// ```
/// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// # let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
/// # let server_config = aio_tls::server_config(vec![cert.cert.der().clone()], key).unwrap();
/// let dir = std::env::temp_dir().join(format!("aio-tls-sock-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let listener = std::os::unix::net::UnixListener::bind(dir.join("s"))?;
/// aio_task::run(async move {
///     let server = aio_tls::start_unix_server_sock(|_, _| async {}, listener, server_config)
///         .await?;
///     assert!(server.is_serving());
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn start_unix_server_sock<H, Fut>(
    handler: H,
    sock: impl Into<OwnedFd>,
    config: Arc<ServerConfig>,
) -> StartServer<H>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output: HandlerOutcome> + 'static,
{
    serve(handler, Target::UnixSock(sock.into()), config)
}

impl<H> StartServer<H> {
    /// aio-streams' [`limit`](aio_streams::StartServer::limit): every reader's buffer limit.
    ///
    /// # Examples
    ///
    /// ```
    /// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// # let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    /// # let server_config = aio_tls::server_config(vec![cert.cert.der().clone()], key).unwrap();
    /// aio_task::run(async move {
    ///     let server = aio_tls::start_server(|_, _| async {}, "127.0.0.1", 0, server_config)
    ///         .limit(1024)
    ///         .backlog(16)
    ///         .reuse_address(true)
    ///         .reuse_port(true)
    ///         .ssl_shutdown_timeout(5.0)
    ///         .await?;
    ///     assert!(server.is_serving());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn limit(mut self, limit: usize) -> StartServer<H> {
        self.limit = Some(limit);
        self
    }

    /// aio-streams' [`backlog`](aio_streams::StartServer::backlog).
    ///
    /// # Examples
    ///
    /// See [`StartServer::limit`].
    pub fn backlog(mut self, backlog: u32) -> StartServer<H> {
        self.listen.backlog = Some(backlog);
        self
    }

    /// aio-streams' [`reuse_address`](aio_streams::StartServer::reuse_address) (TCP only).
    ///
    /// # Examples
    ///
    /// See [`StartServer::limit`].
    pub fn reuse_address(mut self, reuse: bool) -> StartServer<H> {
        self.listen.reuse_address = Some(reuse);
        self
    }

    /// aio-streams' [`reuse_port`](aio_streams::StartServer::reuse_port) (TCP only).
    ///
    /// # Examples
    ///
    /// See [`StartServer::limit`].
    pub fn reuse_port(mut self, reuse: bool) -> StartServer<H> {
        self.listen.reuse_port = Some(reuse);
        self
    }
}

impl<H, Fut> IntoFuture for StartServer<H>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output: HandlerOutcome> + 'static,
{
    type Output = Result<Server, aio_task::Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output>>>;

    fn into_future(self) -> Self::IntoFuture {
        let StartServer {
            handler,
            target,
            config,
            tls,
            limit,
            listen,
        } = self;
        let TlsOptions {
            handshake_timeout,
            shutdown_timeout,
            ..
        } = tls;
        let handler = Rc::new(handler);
        let serve = move |reader: StreamReader, writer: StreamWriter| {
            let handler = Rc::clone(&handler);
            let config = Arc::clone(&config);
            async move {
                let peer = writer.peername();
                let side = Side::Server(config);
                if let Err(error) =
                    upgrade(&writer, side, handshake_timeout, shutdown_timeout).await
                {
                    // `upgrade` aborted the connection; dropping the halves closes it.
                    report_handshake_failure(error, peer);
                    return Ok(());
                }
                match handler(reader, writer).await.into_failure() {
                    Some(failure) => Err(failure),
                    None => Ok::<(), Box<dyn std::error::Error + Send + Sync>>(()),
                }
            }
        };
        let starting = match target {
            Target::Tcp(host, port) => aio_streams::start_server(serve, &host, port),
            Target::Unix(path) => aio_streams::start_unix_server(serve, path),
            Target::TcpSock(fd) => aio_streams::start_server_sock(serve, fd),
            Target::UnixSock(fd) => aio_streams::start_unix_server_sock(serve, fd),
        };
        let starting = match limit {
            Some(limit) => starting.limit(limit),
            None => starting,
        };
        Box::pin(listen.apply(starting))
    }
}

tls_setters!(client "open_connection", OpenConnection);
tls_setters!(server "open_connection", StartServer<H>);

impl<H> fmt::Debug for StartServer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("StartServer");
        debug.field("target", &self.target);
        self.tls.debug_timeouts(&mut debug);
        debug.field("limit", &self.limit);
        self.listen.debug(&mut debug);
        debug.finish_non_exhaustive()
    }
}

/// TLS on an existing [`StreamWriter`]: asyncio's `StreamWriter.start_tls` and
/// `get_extra_info('ssl_object')`. `use aio_tls::StreamWriterTls;` brings the methods in.
///
/// # Examples
///
/// A STARTTLS exchange: a plaintext greeting, then both ends upgrade the same connection
/// and go on over TLS.
///
/// ```
/// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// # let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
/// # let server_config = aio_tls::server_config(vec![cert.cert.der().clone()], key).unwrap();
/// # let mut roots = rustls::RootCertStore::empty();
/// # roots.add(cert.cert.der().clone()).unwrap();
/// # let client_config = aio_tls::client_config(roots);
/// use aio_streams::{StreamReader, StreamWriter};
/// use aio_tls::StreamWriterTls;
///
/// aio_task::run(async move {
///     let server = aio_streams::start_server(
///         move |reader: StreamReader, writer: StreamWriter| {
///             let server_config = server_config.clone();
///             async move {
///                 assert_eq!(reader.readline().await?, b"STARTTLS\n");
///                 writer.write(b"go ahead\n"); // in plaintext
///                 writer.start_tls(server_config).await?;
///                 let secret = reader.readline().await?; // over TLS now
///                 writer.write(&secret.to_ascii_uppercase());
///                 writer.close();
///                 writer.wait_closed().await?;
///                 Ok::<_, aio_task::Error>(())
///             }
///         },
///         "127.0.0.1",
///         0,
///     )
///     .await?;
///     let port = server.port().unwrap();
///     let (reader, writer) = aio_streams::open_connection("127.0.0.1", port).await?;
///     writer.write(b"STARTTLS\n");
///     assert_eq!(reader.readline().await?, b"go ahead\n");
///     writer
///         .start_tls(client_config)
///         .server_hostname("localhost")
///         .ssl_handshake_timeout(10.0)
///         .await?;
///     assert!(writer.tls_info().is_some());
///     writer.write(b"secret\n");
///     assert_eq!(reader.readline().await?, b"SECRET\n");
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub trait StreamWriterTls {
    /// Upgrades the connection to TLS in place (asyncio 3.11's `StreamWriter.start_tls`):
    /// flushes what the writer holds (in plaintext), then does the handshake as the client
    /// or the server — as `config` says — within the handshake timeout. Afterwards the same
    /// reader and writer read and write over TLS.
    ///
    /// Bytes the reader had already buffered before the upgrade stay buffered and are read
    /// first, as plaintext, as asyncio does. A peer that sent more than it should before
    /// the handshake (the "STARTTLS command injection") has those bytes read as if they had
    /// come over TLS: check [`StreamReader::buffered`] is 0 before calling this where that
    /// matters. Do not read from another task while the upgrade runs.
    ///
    /// # Errors
    ///
    /// When awaited: [`TlsError::NoServerName`] for a client without
    /// [`server_hostname`](StartTls::server_hostname), [`TlsError::InvalidServerName`],
    /// [`TlsError::Handshake`] (with `StreamError::State` inside for a pipe or a
    /// connection already on TLS), [`TlsError::HandshakeTimeout`]. A failed handshake
    /// aborts the connection (asyncio closes the transport); its reader then fails with
    /// the reason.
    ///
    /// # Examples
    ///
    /// See [`StreamWriterTls`] for an upgrade; a pipe cannot carry TLS:
    ///
    /// ```
    /// use aio_tls::StreamWriterTls;
    /// # let client_config = aio_tls::client_config(rustls::RootCertStore::empty());
    /// let (_read_end, write_end) = std::io::pipe()?;
    /// aio_task::run(async move {
    ///     let writer = aio_streams::connect_write_pipe(write_end)?;
    ///     // A pipe cannot carry TLS.
    ///     let refused = writer
    ///         .start_tls(client_config)
    ///         .server_hostname("localhost")
    ///         .ssl_shutdown_timeout(5.0)
    ///         .await;
    ///     assert!(matches!(refused, Err(aio_tls::TlsError::Handshake(_))));
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn start_tls(&self, config: impl Into<TlsConfig>) -> StartTls;

    /// What the handshake agreed on, for a connection on TLS through this crate; `None`
    /// for a plain one or before the handshake is done.
    ///
    /// # Examples
    ///
    /// See [`TlsInfo`].
    fn tls_info(&self) -> Option<Rc<TlsInfo>>;
}

impl StreamWriterTls for StreamWriter {
    fn start_tls(&self, config: impl Into<TlsConfig>) -> StartTls {
        StartTls {
            writer: self.clone(),
            config: config.into(),
            tls: TlsOptions::DEFAULT,
        }
    }

    fn tls_info(&self) -> Option<Rc<TlsInfo>> {
        TlsLayer::info_of(self.layer())
    }
}

/// An upgrade to TLS: [`StreamWriterTls::start_tls`]'s builder. Await it.
#[must_use = "the upgrade happens only when the future is awaited"]
pub struct StartTls {
    writer: StreamWriter,
    config: TlsConfig,
    tls: TlsOptions,
}

tls_setters!(client "StreamWriterTls", StartTls);

impl IntoFuture for StartTls {
    type Output = Result<(), TlsError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let StartTls {
                writer,
                config,
                tls,
            } = self;
            let side = config.side(tls.server_hostname.as_deref())?;
            upgrade(&writer, side, tls.handshake_timeout, tls.shutdown_timeout).await
        })
    }
}

impl fmt::Debug for StartTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("StartTls");
        self.tls.debug_client(&mut debug);
        debug.finish_non_exhaustive()
    }
}
