//! **aio-tls** — TLS for aio's streams and transports through [rustls] (crypto provider
//! `ring`): asyncio's `ssl=` on `open_connection` / `start_server` and `create_connection` /
//! `create_server` (and their Unix and `sock=` forms), `loop.start_tls`,
//! `server_hostname`, `ssl_handshake_timeout` (60 s by default) and `ssl_shutdown_timeout`
//! (30 s), and `StreamWriter.start_tls`.
//!
//! Three shapes:
//!
//! - **asyncio's**: [`open_connection`] / [`open_unix_connection`] and [`start_server`] /
//!   [`start_unix_server`] (and the `_sock` forms) give the ordinary
//!   [`StreamReader`](aio_streams::StreamReader) / [`StreamWriter`](aio_streams::StreamWriter),
//!   reading and writing plaintext over TLS with every asyncio method;
//!   [`StreamWriterTls::start_tls`] upgrades a plain connection in place (STARTTLS), and
//!   [`StreamWriterTls::tls_info`] tells what the handshake agreed on. TLS plugs in under
//!   the reader and writer through aio-streams' [`Layer`](aio_streams::Layer) hook, so
//!   aio-streams itself has no TLS in it.
//! - **asyncio's protocol layer**: [`create_connection`] / [`create_unix_connection`] and
//!   [`create_server`] (and its Unix and `sock=` forms) run an
//!   [`aio_streams::Protocol`] over TLS (the handshake before `connection_made`);
//!   [`TransportTls::start_tls`] upgrades a running [`Transport`](aio_streams::Transport)
//!   in place (asyncio's `loop.start_tls`), through the same layer.
//! - **futures-io's**: [`start_tls_server`] / [`open_tls_connection`] give a [`TlsStream`]
//!   (`AsyncRead + AsyncBufRead + AsyncWrite`, for hyper and the like), through
//!   futures-rustls over a [`StreamPair`].
//!
//! Either way a server's failed handshake (a plaintext client, a refused certificate, a
//! client silent until the timeout) closes that connection only and is reported once to
//! the loop's exception handler ("TLS handshake failed", with the [`TlsError`] and the
//! peer); the server keeps serving. A client gets a [`TlsError`] saying why.
//!
//! [`server_config`] and [`client_config`] build rustls configurations on the `ring`
//! provider explicitly, so they never depend on a process-wide default provider.
//!
//! # Examples
//!
//! See [`open_connection`] (asyncio's shape), [`StreamWriterTls`] (STARTTLS),
//! [`create_connection`] and [`TransportTls`] (protocols) and [`TlsStream`] (futures-io's).

/// The TLS setters the builders share: `ssl_handshake_timeout` and `ssl_shutdown_timeout`
/// on each, and `server_hostname` on a client's, all in the builder's field `tls` (a
/// [`TlsOptions`](crate::options::TlsOptions)). The string names the item whose example
/// shows them.
macro_rules! tls_setters {
    (@timeouts $see:literal) => {
        /// How long the handshake may take (asyncio's `ssl_handshake_timeout`, 60 s by
        /// default); past it the connection is closed and the handshake fails with
        /// [`TlsError::HandshakeTimeout`](crate::TlsError::HandshakeTimeout) (a server
        /// reports it to the loop's exception handler).
        ///
        /// # Panics
        ///
        /// For a negative, zero, NaN or infinite number of seconds (asyncio's `ValueError`).
        ///
        /// # Examples
        ///
        #[doc = concat!("See [`", $see, "`].")]
        pub fn ssl_handshake_timeout(mut self, timeout: impl Into<crate::TimeoutValue>) -> Self {
            self.tls.handshake_timeout = crate::seconds(timeout);
            self
        }

        /// How long `close` / `write_eof` may take to get close_notify out when the socket
        /// is full (asyncio's `ssl_shutdown_timeout`, 30 s by default); past it the
        /// connection is aborted.
        ///
        /// # Panics
        ///
        /// For a negative, zero, NaN or infinite number of seconds (asyncio's `ValueError`).
        ///
        /// # Examples
        ///
        #[doc = concat!("See [`", $see, "`].")]
        pub fn ssl_shutdown_timeout(mut self, timeout: impl Into<crate::TimeoutValue>) -> Self {
            self.tls.shutdown_timeout = crate::seconds(timeout);
            self
        }
    };
    (server $see:literal, $builder:ident $(<$g:ident>)?) => {
        impl $(<$g>)? $builder $(<$g>)? {
            tls_setters!(@timeouts $see);
        }
    };
    (client $see:literal, $builder:ident $(<$g:ident>)?) => {
        impl $(<$g>)? $builder $(<$g>)? {
            /// The name the server's certificate is verified for, and sent as SNI
            /// (asyncio's `server_hostname=`): a DNS name or an IP address. By default the
            /// host connected to, where there is one; required otherwise (a Unix socket, a
            /// `sock=` socket, a client's `start_tls`); ignored on a server's `start_tls`.
            ///
            /// # Examples
            ///
            #[doc = concat!("See [`", $see, "`].")]
            pub fn server_hostname(mut self, name: &str) -> Self {
                self.tls.server_hostname = Some(name.to_owned());
                self
            }

            tls_setters!(@timeouts $see);
        }
    };
}

mod error;
mod info;
mod layer;
mod options;
mod stream;
mod streams;
mod transports;

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use aio_scheduler::{ExceptionContext, get_running_loop};
use aio_streams::{Address, HandlerOutcome, Server, StreamPair};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

pub use error::TlsError;
pub use info::TlsInfo;
/// The rustls this crate is built on (configurations, errors).
pub use rustls;
/// Certificate, key and server-name types (`rustls-pki-types`).
pub use rustls_pki_types as pki_types;
pub use stream::TlsStream;
pub use streams::{
    OpenConnection, StartServer, StartTls, StreamWriterTls, TlsConfig, open_connection,
    open_connection_sock, open_unix_connection, open_unix_connection_sock, start_server,
    start_server_sock, start_unix_server, start_unix_server_sock,
};
pub use transports::{
    ConnectAcceptedSocket, CreateConnection, CreateServer, StartTransportTls, TransportTls,
    connect_accepted_socket, create_connection, create_connection_sock, create_server,
    create_server_sock, create_unix_connection, create_unix_connection_sock, create_unix_server,
    create_unix_server_sock,
};

/// asyncio's default `ssl_handshake_timeout`: 60 seconds.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// asyncio's default `ssl_shutdown_timeout`: 30 seconds.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// The crypto provider every configuration of this crate uses: rustls's `ring` provider.
///
/// # Examples
///
/// ```
/// assert!(!aio_tls::provider().cipher_suites.is_empty());
/// ```
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    // rustls 0.23.48 deprecates `ring::default_provider` to steer users to aws-lc-rs's
    // post-quantum key exchange; aws-lc-rs needs a C/CMake build, which this project keeps
    // out (docs/design.md). Classical X25519 / P-256 key exchange, as OpenSSL's defaults.
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration on the `ring` provider with rustls's safe defaults (TLS 1.2 and
/// 1.3), no client certificates, serving `cert_chain` (end entity first) with `key`.
///
/// # Errors
///
/// rustls's error if the key does not match the certificate or is of an unsupported kind.
///
/// # Examples
///
/// ```
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
/// let config = aio_tls::server_config(vec![cert.cert.der().clone()], key)?;
/// assert!(config.alpn_protocols.is_empty());
/// # Ok::<(), rustls::Error>(())
/// ```
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)?;
    Ok(Arc::new(config))
}

/// A client configuration on the `ring` provider with rustls's safe defaults, trusting the
/// certificates in `roots` (asyncio's `ssl.create_default_context(cafile=...)`).
///
/// # Examples
///
/// ```
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// let mut roots = rustls::RootCertStore::empty();
/// roots.add(cert.cert.der().clone())?;
/// let config = aio_tls::client_config(roots);
/// assert!(config.enable_sni);
/// # Ok::<(), rustls::Error>(())
/// ```
pub fn client_config(roots: RootCertStore) -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring's provider supports rustls's default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// A TLS server being started: [`start_tls_server`]'s builder. Await it for the
/// [`Server`] (the same `aio_streams::Server` as a plain one: `port`, `close`,
/// `serve_forever`, ...).
pub struct StartTlsServer<H> {
    handler: H,
    host: String,
    port: u16,
    config: Arc<ServerConfig>,
    handshake_timeout: Duration,
    shutdown_timeout: Duration,
}

/// Starts a TLS server on `host:port` (asyncio's `start_server(cb, host, port, ssl=ctx)`):
/// every accepted connection does its handshake within the handshake timeout, then
/// `handler(stream)` runs as that connection's task.
///
/// A failed handshake — the client is not speaking TLS, it refused or was refused a
/// certificate, it sent nothing within [`handshake_timeout`](StartTlsServer::handshake_timeout)
/// — closes that connection and is reported once to the loop's exception handler with the
/// message `TLS handshake failed` and a [`TlsError`] naming the peer; other connections and
/// the server go on. What `handler` gives is treated as by `aio_streams::start_server`
/// (an `Err` goes to the exception handler as "Unhandled exception in client_connected_cb").
///
/// # Errors
///
/// When awaited, `aio_streams::start_server`'s: the host does not resolve, the address
/// cannot be bound, no running loop.
///
/// # Examples
///
/// ```
/// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// # let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
/// # let server_config = aio_tls::server_config(vec![cert.cert.der().clone()], key).unwrap();
/// use futures_lite::io::AsyncWriteExt;
///
/// aio_task::run(async move {
///     let server = aio_tls::start_tls_server(
///         |mut stream: aio_tls::TlsStream| async move {
///             stream.write_all(b"hello\n").await?;
///             stream.close().await
///         },
///         "127.0.0.1",
///         0,
///         server_config,
///     )
///     .handshake_timeout(10.0)
///     .await?;
///     assert!(server.is_serving());
///     server.close();
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn start_tls_server<H, Fut>(
    handler: H,
    host: &str,
    port: u16,
    config: Arc<ServerConfig>,
) -> StartTlsServer<H>
where
    H: Fn(TlsStream) -> Fut + 'static,
    Fut: Future<Output: HandlerOutcome> + 'static,
{
    StartTlsServer {
        handler,
        host: host.to_owned(),
        port,
        config,
        handshake_timeout: HANDSHAKE_TIMEOUT,
        shutdown_timeout: SHUTDOWN_TIMEOUT,
    }
}

/// Seconds as `f64` (asyncio's) or a `Duration`, for the timeouts.
fn seconds(value: impl Into<TimeoutValue>) -> Duration {
    value.into().0
}

/// A timeout: `f64` seconds (as asyncio's `ssl_handshake_timeout=60.0`), whole seconds as
/// `u64`, or a [`Duration`]. Negative, NaN or infinite seconds are refused with a panic, as
/// asyncio refuses them with `ValueError`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use aio_tls::TimeoutValue;
///
/// assert_eq!(Duration::from(TimeoutValue::from(0.5)), Duration::from_millis(500));
/// assert_eq!(Duration::from(TimeoutValue::from(2u64)), Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutValue(Duration);

impl From<f64> for TimeoutValue {
    fn from(seconds: f64) -> TimeoutValue {
        assert!(
            seconds.is_finite() && seconds > 0.0,
            "a TLS timeout must be a positive number of seconds, got {seconds}"
        );
        TimeoutValue(Duration::from_secs_f64(seconds))
    }
}

impl From<u64> for TimeoutValue {
    fn from(seconds: u64) -> TimeoutValue {
        TimeoutValue(Duration::from_secs(seconds))
    }
}

impl From<Duration> for TimeoutValue {
    fn from(duration: Duration) -> TimeoutValue {
        TimeoutValue(duration)
    }
}

impl From<TimeoutValue> for Duration {
    fn from(value: TimeoutValue) -> Duration {
        value.0
    }
}

impl<H> StartTlsServer<H> {
    /// How long a connection's handshake may take (asyncio's `ssl_handshake_timeout`, 60 s
    /// by default); past it the connection is closed and reported.
    ///
    /// # Panics
    ///
    /// For a negative, zero, NaN or infinite number of seconds (asyncio's `ValueError`).
    ///
    /// # Examples
    ///
    /// See [`start_tls_server`].
    pub fn handshake_timeout(mut self, timeout: impl Into<TimeoutValue>) -> StartTlsServer<H> {
        self.handshake_timeout = seconds(timeout);
        self
    }

    /// How long each [`TlsStream`]'s `close` may take to send close_notify and half-close
    /// (asyncio's `ssl_shutdown_timeout`, 30 s by default).
    ///
    /// # Panics
    ///
    /// For a negative, zero, NaN or infinite number of seconds (asyncio's `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// # let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    /// # let server_config = aio_tls::server_config(vec![cert.cert.der().clone()], key).unwrap();
    /// aio_task::run(async move {
    ///     let server = aio_tls::start_tls_server(|_| async {}, "127.0.0.1", 0, server_config)
    ///         .shutdown_timeout(std::time::Duration::from_secs(5))
    ///         .await?;
    ///     server.close();
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn shutdown_timeout(mut self, timeout: impl Into<TimeoutValue>) -> StartTlsServer<H> {
        self.shutdown_timeout = seconds(timeout);
        self
    }
}

impl<H, Fut> IntoFuture for StartTlsServer<H>
where
    H: Fn(TlsStream) -> Fut + 'static,
    Fut: Future<Output: HandlerOutcome> + 'static,
{
    type Output = Result<Server, aio_task::Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Server, aio_task::Error>>>>;

    fn into_future(self) -> Self::IntoFuture {
        let StartTlsServer {
            handler,
            host,
            port,
            config,
            handshake_timeout,
            shutdown_timeout,
        } = self;
        let handler = Rc::new(handler);
        let acceptor = futures_rustls::TlsAcceptor::from(config);
        let serve = move |reader: aio_streams::StreamReader, writer: aio_streams::StreamWriter| {
            let handler = Rc::clone(&handler);
            let acceptor = acceptor.clone();
            async move {
                let peer = writer.peername();
                let handshake = acceptor.accept(reader.unsplit(writer));
                let stream = match with_timeout(handshake, handshake_timeout).await {
                    Ok(stream) => stream,
                    Err(error) => {
                        // Dropping the half-done handshake closes the connection.
                        report_handshake_failure(error, peer);
                        return Ok(());
                    }
                };
                let stream = TlsStream::new(stream.into(), shutdown_timeout);
                match handler(stream).await.into_failure() {
                    Some(failure) => Err(failure),
                    None => Ok::<(), Box<dyn std::error::Error + Send + Sync>>(()),
                }
            }
        };
        Box::pin(async move { aio_streams::start_server(serve, &host, port).await })
    }
}

impl<H> fmt::Debug for StartTlsServer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartTlsServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

/// A handshake under its timeout.
async fn with_timeout<T>(
    handshake: impl Future<Output = std::io::Result<T>>,
    limit: Duration,
) -> Result<T, TlsError> {
    match aio_task::wait_for(handshake, limit).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(error)) => Err(TlsError::handshake(error)),
        Err(aio_task::Error::Timeout) => Err(TlsError::HandshakeTimeout(limit)),
        Err(other) => Err(TlsError::Connect(other)),
    }
}

/// The peer of a failed handshake, with the error, as the exception handler sees it.
#[derive(Debug)]
struct HandshakeFailure {
    peer: Option<Address>,
    error: TlsError,
}

impl fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The context's message already says "TLS handshake failed": the cause only.
        match &self.error {
            TlsError::Handshake(error) => write!(f, "{error}")?,
            TlsError::HandshakeTimeout(limit) => write!(f, "did not complete within {limit:?}")?,
            other => write!(f, "{other}")?,
        }
        match &self.peer {
            Some(Address::Inet(addr)) => write!(f, " (peer {addr})"),
            Some(other) => write!(f, " (peer {other:?})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for HandshakeFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

fn report_handshake_failure(error: TlsError, peer: Option<Address>) {
    if let Ok(event_loop) = get_running_loop() {
        event_loop.call_exception_handler(
            &ExceptionContext::new("TLS handshake failed")
                .with_error(Arc::new(HandshakeFailure { peer, error })),
        );
    }
}

/// A TLS connection being opened: [`open_tls_connection`]'s builder. Await it for the
/// [`TlsStream`].
pub struct OpenTlsConnection {
    host: String,
    port: u16,
    config: Arc<ClientConfig>,
    server_hostname: Option<String>,
    handshake_timeout: Duration,
    shutdown_timeout: Duration,
}

/// Opens a TLS connection to `host:port` (asyncio's `open_connection(host, port, ssl=ctx,
/// server_hostname=...)`): connects, then does the handshake within the handshake timeout,
/// verifying the server's certificate for `server_hostname` — `host` itself when `None`, as
/// in asyncio.
///
/// # Errors
///
/// When awaited: [`TlsError::Connect`] if the TCP connection fails,
/// [`TlsError::InvalidServerName`] for a name that is neither a DNS name nor an IP address,
/// [`TlsError::Handshake`] if the server's certificate is refused (untrusted, expired, for
/// another name: [`TlsError::rustls_error`] tells which) or the server is not speaking TLS,
/// [`TlsError::HandshakeTimeout`] after the handshake timeout.
///
/// # Cancel safety
///
/// Dropping the future before it completes closes the connection; nothing else is left
/// behind.
///
/// # Examples
///
/// A certificate for `localhost` checked against another name:
///
/// ```
/// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// # let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
/// # let server_config = aio_tls::server_config(vec![cert.cert.der().clone()], key).unwrap();
/// # let mut roots = rustls::RootCertStore::empty();
/// # roots.add(cert.cert.der().clone()).unwrap();
/// # let client_config = aio_tls::client_config(roots);
/// use rustls::{CertificateError, Error};
///
/// aio_task::run(async move {
///     event_loop_quiet();
///     let server = aio_tls::start_tls_server(|_| async {}, "127.0.0.1", 0, server_config).await?;
///     let port = server.port().unwrap();
///     let error = aio_tls::open_tls_connection("127.0.0.1", port, client_config, Some("example.com"))
///         .handshake_timeout(10.0)
///         .await
///         .unwrap_err();
///     assert!(matches!(
///         error.rustls_error(),
///         Some(Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }))
///     ));
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # fn event_loop_quiet() {
/// #     // The server reports the client's alert: keep the doctest's output clean.
/// #     aio_scheduler::get_running_loop().unwrap().set_exception_handler(|_, _| {});
/// # }
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn open_tls_connection(
    host: &str,
    port: u16,
    config: Arc<ClientConfig>,
    server_hostname: Option<&str>,
) -> OpenTlsConnection {
    OpenTlsConnection {
        host: host.to_owned(),
        port,
        config,
        server_hostname: server_hostname.map(str::to_owned),
        handshake_timeout: HANDSHAKE_TIMEOUT,
        shutdown_timeout: SHUTDOWN_TIMEOUT,
    }
}

impl OpenTlsConnection {
    /// How long the handshake may take once connected (asyncio's `ssl_handshake_timeout`,
    /// 60 s by default).
    ///
    /// # Panics
    ///
    /// For a negative, zero, NaN or infinite number of seconds (asyncio's `ValueError`).
    ///
    /// # Examples
    ///
    /// See [`open_tls_connection`].
    pub fn handshake_timeout(mut self, timeout: impl Into<TimeoutValue>) -> OpenTlsConnection {
        self.handshake_timeout = seconds(timeout);
        self
    }

    /// How long the stream's `close` may take (asyncio's `ssl_shutdown_timeout`, 30 s by
    /// default).
    ///
    /// # Panics
    ///
    /// For a negative, zero, NaN or infinite number of seconds (asyncio's `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// # let mut roots = rustls::RootCertStore::empty();
    /// # let client_config = aio_tls::client_config(roots);
    /// let connect = aio_tls::open_tls_connection("127.0.0.1", 1, client_config, None)
    ///     .shutdown_timeout(5.0);
    /// assert!(format!("{connect:?}").contains("5s"));
    /// ```
    pub fn shutdown_timeout(mut self, timeout: impl Into<TimeoutValue>) -> OpenTlsConnection {
        self.shutdown_timeout = seconds(timeout);
        self
    }
}

impl IntoFuture for OpenTlsConnection {
    type Output = Result<TlsStream, TlsError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<TlsStream, TlsError>>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let name = self.server_hostname.as_deref().unwrap_or(&self.host);
            let server_name = ServerName::try_from(name.to_owned())
                .map_err(|_| TlsError::InvalidServerName(name.to_owned()))?;
            let (reader, writer) = aio_streams::open_connection(&self.host, self.port)
                .await
                .map_err(TlsError::Connect)?;
            let connector = futures_rustls::TlsConnector::from(self.config);
            let pair: StreamPair = reader.unsplit(writer);
            let stream =
                with_timeout(connector.connect(server_name, pair), self.handshake_timeout).await?;
            Ok(TlsStream::new(stream.into(), self.shutdown_timeout))
        })
    }
}

impl fmt::Debug for OpenTlsConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenTlsConnection")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("server_hostname", &self.server_hostname)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

// Unit tests make loops too: on the reactor AIO_REACTOR names.
#[cfg(test)]
use aio_reactors as _;
