//! `TlsInfo`: what a handshake agreed on (asyncio's `get_extra_info('ssl_object')`,
//! `'peercert'`, `'cipher'`).

use std::fmt;

use rustls::{ProtocolVersion, SupportedCipherSuite};
use rustls_pki_types::CertificateDer;

/// What a TLS connection's handshake agreed on, as asyncio's
/// `writer.get_extra_info('ssl_object')` tells it (`version()`, `cipher()`,
/// `selected_alpn_protocol()`, `getpeercert(True)`). A connection made with this crate's
/// [`open_connection`](crate::open_connection) / [`start_server`](crate::start_server), or
/// upgraded with [`start_tls`](crate::StreamWriterTls::start_tls), gives it through
/// [`StreamWriterTls::tls_info`](crate::StreamWriterTls::tls_info).
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
/// use aio_tls::StreamWriterTls;
///
/// aio_task::run(async move {
///     let server = aio_tls::start_server(
///         |_reader, writer: aio_streams::StreamWriter| async move {
///             let info = writer.tls_info().unwrap();
///             writer.write(info.server_name().unwrap_or("-").as_bytes());
///             writer.write(b"\n");
///         },
///         "127.0.0.1",
///         0,
///         server_config,
///     )
///     .await?;
///     let port = server.port().unwrap();
///     let (reader, writer) = aio_tls::open_connection("127.0.0.1", port, client_config)
///         .server_hostname("localhost")
///         .await?;
///     assert_eq!(reader.readline().await?, b"localhost\n"); // the name the client sent
///     let info = writer.tls_info().unwrap();
///     assert_eq!(info.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
///     assert!(info.cipher_suite().is_some());
///     assert_eq!(info.peer_certificates().map(<[_]>::len), Some(1));
///     assert_eq!(info.alpn_protocol(), None);
///     assert!(!info.is_server());
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsInfo {
    server: bool,
    protocol_version: Option<ProtocolVersion>,
    cipher_suite: Option<SupportedCipherSuite>,
    alpn_protocol: Option<Vec<u8>>,
    peer_certificates: Option<Vec<CertificateDer<'static>>>,
    server_name: Option<String>,
}

impl TlsInfo {
    pub(crate) fn of(tls: &rustls::Connection) -> TlsInfo {
        let server_name = match tls {
            rustls::Connection::Server(server) => server.server_name().map(str::to_owned),
            rustls::Connection::Client(_) => None,
        };
        TlsInfo {
            server: matches!(tls, rustls::Connection::Server(_)),
            protocol_version: tls.protocol_version(),
            cipher_suite: tls.negotiated_cipher_suite(),
            alpn_protocol: tls.alpn_protocol().map(<[u8]>::to_vec),
            peer_certificates: tls.peer_certificates().map(<[_]>::to_vec),
            server_name,
        }
    }

    /// Whether this end is the server.
    ///
    /// # Examples
    ///
    /// See [`TlsInfo`].
    pub fn is_server(&self) -> bool {
        self.server
    }

    /// The TLS version (asyncio's `ssl_object.version()`).
    ///
    /// # Examples
    ///
    /// See [`TlsInfo`].
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.protocol_version
    }

    /// The cipher suite (asyncio's `get_extra_info('cipher')`); its
    /// [`suite()`](SupportedCipherSuite::suite) names it.
    ///
    /// # Examples
    ///
    /// See [`TlsInfo`].
    pub fn cipher_suite(&self) -> Option<SupportedCipherSuite> {
        self.cipher_suite
    }

    /// The ALPN protocol agreed on, if any (asyncio's `selected_alpn_protocol()`).
    ///
    /// # Examples
    ///
    /// See [`TlsInfo`].
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.alpn_protocol.as_deref()
    }

    /// The peer's certificate chain, end entity first (asyncio's `getpeercert(True)`, as a
    /// chain): the server's on a client; a client's on a server that asked for one.
    ///
    /// # Examples
    ///
    /// See [`TlsInfo`].
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.peer_certificates.as_deref()
    }

    /// On a server, the name the client asked for (SNI), if it sent one.
    ///
    /// # Examples
    ///
    /// See [`TlsInfo`].
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }
}

impl fmt::Debug for TlsInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsInfo")
            .field("server", &self.server)
            .field("protocol_version", &self.protocol_version)
            .field("cipher_suite", &self.cipher_suite.map(|s| s.suite()))
            .field("alpn_protocol", &self.alpn_protocol)
            .field(
                "peer_certificates",
                &self.peer_certificates.as_ref().map(Vec::len),
            )
            .field("server_name", &self.server_name)
            .finish()
    }
}
