//! What can go wrong setting up or closing a TLS connection.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// A TLS connection could not be set up (asyncio's `ssl.SSLError`,
/// `ssl.SSLCertVerificationError`, or `TimeoutError` from the handshake).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use aio_tls::TlsError;
///
/// let error = TlsError::HandshakeTimeout(Duration::from_secs(60));
/// assert_eq!(error.to_string(), "TLS handshake did not complete within 60s");
/// assert!(error.rustls_error().is_none());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TlsError {
    /// The TCP connection could not be opened (the error of `open_connection`).
    Connect(aio_task::Error),
    /// `server_hostname` (or the host standing for it) is neither a DNS name nor an IP
    /// address (asyncio: `ValueError`).
    InvalidServerName(String),
    /// A client connection that names no host to verify — a Unix socket, a `sock=` socket,
    /// `start_tls` — was given no `server_hostname` (asyncio: `ValueError`, "You must set
    /// server_hostname when using ssl without a host").
    NoServerName,
    /// The handshake failed: the peer's certificate was refused (untrusted, expired, for
    /// another name), the peer spoke something other than TLS, or the connection failed
    /// during the handshake. [`rustls_error`](TlsError::rustls_error) gives rustls's reason
    /// when there is one.
    Handshake(Arc<io::Error>),
    /// The handshake did not finish within the handshake timeout (asyncio's
    /// `ssl_handshake_timeout`).
    HandshakeTimeout(Duration),
}

impl TlsError {
    /// rustls's own error, when the handshake failed on the TLS level (for example
    /// `rustls::Error::InvalidCertificate(CertificateError::NotValidForName)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use aio_tls::TlsError;
    ///
    /// let io = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::DecryptError);
    /// let error = TlsError::Handshake(Arc::new(io));
    /// assert_eq!(error.rustls_error(), Some(&rustls::Error::DecryptError));
    /// ```
    pub fn rustls_error(&self) -> Option<&rustls::Error> {
        match self {
            TlsError::Handshake(error) => error.get_ref()?.downcast_ref::<rustls::Error>(),
            _ => None,
        }
    }

    pub(crate) fn handshake(error: io::Error) -> TlsError {
        TlsError::Handshake(Arc::new(error))
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Connect(error) => write!(f, "could not connect: {error}"),
            TlsError::InvalidServerName(name) => {
                write!(
                    f,
                    "invalid server_hostname {name:?}: not a DNS name or IP address"
                )
            }
            TlsError::NoServerName => write!(
                f,
                "server_hostname is required when using TLS without a host name to verify"
            ),
            TlsError::Handshake(error) => write!(f, "TLS handshake failed: {error}"),
            TlsError::HandshakeTimeout(limit) => {
                write!(f, "TLS handshake did not complete within {limit:?}")
            }
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Connect(error) => Some(error),
            TlsError::Handshake(error) => Some(&**error),
            _ => None,
        }
    }
}

/// `?` in a task: a [`TlsError`] becomes [`aio_task::Error::Exception`] (kept whole, so it
/// can be downcast back).
impl From<TlsError> for aio_task::Error {
    fn from(error: TlsError) -> aio_task::Error {
        aio_task::Error::Exception(Arc::new(error))
    }
}

/// For code written against `std::io`: [`TlsError::HandshakeTimeout`] is `TimedOut`, a
/// connect error keeps its kind where it has one, the rest is `InvalidData` / `InvalidInput`.
impl From<TlsError> for io::Error {
    fn from(error: TlsError) -> io::Error {
        let kind = match &error {
            TlsError::Connect(aio_task::Error::Io(io)) => io.kind(),
            TlsError::Connect(_) => io::ErrorKind::Other,
            TlsError::InvalidServerName(_) | TlsError::NoServerName => io::ErrorKind::InvalidInput,
            TlsError::Handshake(io) => io.kind(),
            TlsError::HandshakeTimeout(_) => io::ErrorKind::TimedOut,
        };
        io::Error::new(kind, error)
    }
}
