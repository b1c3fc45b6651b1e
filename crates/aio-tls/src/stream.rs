//! `TlsStream`: an established TLS connection over a `StreamPair`.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use aio_scheduler::Sleep;
use aio_streams::{Address, StreamPair};
use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};
use rustls::{CommonState, ProtocolVersion};
use rustls_pki_types::CertificateDer;

/// Size of the read buffer behind [`AsyncBufRead`] (allocated at the first `poll_fill_buf`).
const BUF_SIZE: usize = 8 * 1024;

/// One TLS connection, client or server side, after its handshake: futures-io
/// [`AsyncRead`] + [`AsyncBufRead`] + [`AsyncWrite`] over the connection's
/// [`StreamPair`](aio_streams::StreamPair).
///
/// Reads give the decrypted bytes; a peer's close_notify (or its plain EOF after the
/// handshake) reads as EOF. [`poll_close`](AsyncWrite::poll_close) is TLS's half-close:
/// it sends close_notify, flushes, then half-closes the socket (the reading side stays
/// open, so a reply can still be read), giving up after the shutdown timeout (asyncio's
/// `ssl_shutdown_timeout`, 30 s by default) with `TimedOut`, the connection then aborted.
/// Dropping the stream closes the connection without close_notify.
///
/// # Examples
///
/// An echo server and a client on loopback, with a certificate made at run time:
///
/// ```
/// use std::sync::Arc;
/// use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
/// use aio_tls::{TlsStream, open_tls_connection, start_tls_server};
///
/// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// # let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
/// # let server_config = aio_tls::server_config(vec![cert.cert.der().clone()], key).unwrap();
/// # let mut roots = rustls::RootCertStore::empty();
/// # roots.add(cert.cert.der().clone()).unwrap();
/// # let client_config = aio_tls::client_config(roots);
/// aio_task::run(async move {
///     let server = start_tls_server(
///         |mut stream: TlsStream| async move {
///             let mut request = Vec::new();
///             stream.read_to_end(&mut request).await?; // up to the client's close_notify
///             stream.write_all(&request).await?;
///             stream.close().await
///         },
///         "127.0.0.1",
///         0,
///         server_config,
///     )
///     .await?;
///     let port = server.port().unwrap();
///     let mut stream =
///         open_tls_connection("127.0.0.1", port, client_config, Some("localhost")).await?;
///     stream.write_all(b"hello").await?;
///     stream.close().await?; // close_notify, then half-close: the reply still comes
///     let mut reply = Vec::new();
///     stream.read_to_end(&mut reply).await?;
///     assert_eq!(reply, b"hello");
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub struct TlsStream {
    inner: futures_rustls::TlsStream<StreamPair>,
    /// The [`AsyncBufRead`] buffer: `buf[pos..filled]` is unread.
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    shutdown_timeout: Duration,
    /// Armed by the first `poll_close`.
    shutdown_timer: Option<Pin<Box<Sleep>>>,
}

impl TlsStream {
    pub(crate) fn new(
        inner: futures_rustls::TlsStream<StreamPair>,
        shutdown_timeout: Duration,
    ) -> TlsStream {
        TlsStream {
            inner,
            buf: Box::default(),
            pos: 0,
            filled: 0,
            shutdown_timeout,
            shutdown_timer: None,
        }
    }

    fn state(&self) -> &CommonState {
        self.inner.get_ref().1
    }

    /// The underlying connection (its `reader()` and `writer()` give asyncio's methods on
    /// the encrypted bytes: use them for `peername` and the like, not to read or write).
    ///
    /// # Examples
    ///
    /// See [`TlsStream::peername`].
    pub fn get_ref(&self) -> &StreamPair {
        self.inner.get_ref().0
    }

    /// The peer's address (asyncio's `get_extra_info('peername')`).
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
    /// use aio_streams::Address;
    ///
    /// aio_task::run(async move {
    ///     let server = aio_tls::start_tls_server(|_| async {}, "127.0.0.1", 0, server_config).await?;
    ///     let port = server.port().unwrap();
    ///     let stream =
    ///         aio_tls::open_tls_connection("127.0.0.1", port, client_config, Some("localhost")).await?;
    ///     let Some(Address::Inet(peer)) = stream.peername() else { panic!("a TCP peer") };
    ///     assert_eq!(peer.port(), port);
    ///     assert_eq!(stream.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    ///     assert!(stream.peer_certificates().is_some());
    ///     assert!(stream.sockname().is_some());
    ///     assert_eq!(stream.alpn_protocol(), None);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn peername(&self) -> Option<Address> {
        self.get_ref().writer().peername()
    }

    /// The local address (asyncio's `get_extra_info('sockname')`).
    ///
    /// # Examples
    ///
    /// See [`TlsStream::peername`].
    pub fn sockname(&self) -> Option<Address> {
        self.get_ref().writer().sockname()
    }

    /// The negotiated TLS version (asyncio's `SSLObject.version()`).
    ///
    /// # Examples
    ///
    /// See [`TlsStream::peername`].
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.state().protocol_version()
    }

    /// The ALPN protocol agreed on, if any (asyncio's `selected_alpn_protocol()`).
    ///
    /// # Examples
    ///
    /// See [`TlsStream::peername`].
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.state().alpn_protocol()
    }

    /// The peer's certificate chain, end entity first (asyncio's `getpeercert(True)`, as a
    /// chain): the server's on a client; the client's on a server only if the server asked
    /// for client certificates.
    ///
    /// # Examples
    ///
    /// See [`TlsStream::peername`].
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.state().peer_certificates()
    }

    /// On a server, the name the client asked for (SNI), if it sent one.
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
    /// use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// aio_task::run(async move {
    ///     let server = aio_tls::start_tls_server(
    ///         |mut stream: aio_tls::TlsStream| async move {
    ///             let name = stream.server_name().unwrap_or("-").to_owned();
    ///             stream.write_all(name.as_bytes()).await?;
    ///             stream.close().await
    ///         },
    ///         "127.0.0.1",
    ///         0,
    ///         server_config,
    ///     )
    ///     .await?;
    ///     let port = server.port().unwrap();
    ///     let mut stream =
    ///         aio_tls::open_tls_connection("127.0.0.1", port, client_config, Some("localhost")).await?;
    ///     let mut name = String::new();
    ///     stream.read_to_string(&mut name).await?;
    ///     assert_eq!(name, "localhost");
    ///     assert_eq!(stream.server_name(), None); // a client's
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn server_name(&self) -> Option<&str> {
        match &self.inner {
            futures_rustls::TlsStream::Server(stream) => stream.get_ref().1.server_name(),
            futures_rustls::TlsStream::Client(_) => None,
        }
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pos < this.filled {
            let n = out.len().min(this.filled - this.pos);
            out[..n].copy_from_slice(&this.buf[this.pos..this.pos + n]);
            this.pos += n;
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut this.inner).poll_read(cx, out)
    }
}

impl AsyncBufRead for TlsStream {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if this.pos == this.filled {
            if this.buf.is_empty() {
                this.buf = vec![0; BUF_SIZE].into_boxed_slice();
            }
            let n = match Pin::new(&mut this.inner).poll_read(cx, &mut this.buf) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            };
            this.pos = 0;
            this.filled = n;
        }
        Poll::Ready(Ok(&this.buf[this.pos..this.filled]))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.pos = (this.pos + amt).min(this.filled);
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    /// Sends close_notify, flushes and half-closes, within the shutdown timeout.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Poll::Ready(result) = Pin::new(&mut this.inner).poll_close(cx) {
            this.shutdown_timer = None;
            return Poll::Ready(result);
        }
        let timeout = this.shutdown_timeout;
        let timer = this
            .shutdown_timer
            .get_or_insert_with(|| Box::pin(aio_scheduler::sleep(timeout)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(Ok(())) => {
                this.shutdown_timer = None;
                this.get_ref().writer().abort();
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("TLS shutdown did not complete within {timeout:?}; connection aborted"),
                )))
            }
            // No running loop to time the shutdown with (aio's sleep refuses): give that
            // error rather than wait without a deadline.
            Poll::Ready(Err(error)) => {
                this.shutdown_timer = None;
                Poll::Ready(Err(io::Error::other(error)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = match self.inner {
            futures_rustls::TlsStream::Client(_) => "client",
            futures_rustls::TlsStream::Server(_) => "server",
        };
        f.debug_struct("TlsStream")
            .field("side", &side)
            .field("protocol_version", &self.protocol_version())
            .field("peername", &self.peername())
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}
