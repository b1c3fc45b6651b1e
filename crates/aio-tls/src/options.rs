//! What the TLS builders of [`streams`](crate::streams) and [`transports`](crate::transports)
//! share: where they connect or listen ([`Target`]), their TLS options ([`TlsOptions`]) and
//! a server's listening options ([`ListenOptions`]).

use std::fmt;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;

use crate::layer::Side;
use crate::streams::server_name;
use crate::{HANDSHAKE_TIMEOUT, SHUTDOWN_TIMEOUT, TlsError};

/// Where a connection or a server goes.
pub(crate) enum Target {
    Tcp(String, u16),
    Unix(PathBuf),
    TcpSock(OwnedFd),
    UnixSock(OwnedFd),
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp(host, port) => write!(f, "{host}:{port}"),
            Target::Unix(path) => write!(f, "{}", path.display()),
            Target::TcpSock(fd) => write!(f, "TCP sock {fd:?}"),
            Target::UnixSock(fd) => write!(f, "Unix sock {fd:?}"),
        }
    }
}

/// A builder's TLS options, which `tls_setters!` sets: the name a client verifies (unused
/// on a server's builder) and the handshake and shutdown timeouts.
pub(crate) struct TlsOptions {
    pub(crate) server_hostname: Option<String>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
}

impl TlsOptions {
    /// asyncio's defaults: no `server_hostname`, 60 s and 30 s.
    pub(crate) const DEFAULT: TlsOptions = TlsOptions {
        server_hostname: None,
        handshake_timeout: HANDSHAKE_TIMEOUT,
        shutdown_timeout: SHUTDOWN_TIMEOUT,
    };

    /// The client's side of a handshake for a connection to `target`: the certificate is
    /// verified for `server_hostname`, else for the host connected to; a path or a `sock=`
    /// socket names no host, so `server_hostname` is required then.
    pub(crate) fn client_side(
        &self,
        config: Arc<ClientConfig>,
        target: &Target,
    ) -> Result<Side, TlsError> {
        let name = match (&self.server_hostname, target) {
            (Some(name), _) => server_name(Some(name))?,
            (None, Target::Tcp(host, _)) => server_name(Some(host))?,
            (None, _) => return Err(TlsError::NoServerName),
        };
        Ok(Side::Client(config, name))
    }

    /// Adds a client builder's fields to its `Debug`: `server_hostname`, then the timeouts.
    pub(crate) fn debug_client(&self, debug: &mut fmt::DebugStruct<'_, '_>) {
        debug.field("server_hostname", &self.server_hostname);
        self.debug_timeouts(debug);
    }

    /// Adds the timeouts to a builder's `Debug`, under asyncio's names.
    pub(crate) fn debug_timeouts(&self, debug: &mut fmt::DebugStruct<'_, '_>) {
        debug
            .field("ssl_handshake_timeout", &self.handshake_timeout)
            .field("ssl_shutdown_timeout", &self.shutdown_timeout);
    }
}

/// A TLS server builder's listening options, handed on to aio-streams' builder when set.
#[derive(Default)]
pub(crate) struct ListenOptions {
    pub(crate) backlog: Option<u32>,
    pub(crate) reuse_address: Option<bool>,
    pub(crate) reuse_port: Option<bool>,
}

impl ListenOptions {
    /// `starting` with the options that were set.
    pub(crate) fn apply<S: Listening>(&self, mut starting: S) -> S {
        if let Some(backlog) = self.backlog {
            starting = starting.set_backlog(backlog);
        }
        if let Some(reuse) = self.reuse_address {
            starting = starting.set_reuse_address(reuse);
        }
        if let Some(reuse) = self.reuse_port {
            starting = starting.set_reuse_port(reuse);
        }
        starting
    }

    /// Adds the options to a server builder's `Debug`.
    pub(crate) fn debug(&self, debug: &mut fmt::DebugStruct<'_, '_>) {
        debug
            .field("backlog", &self.backlog)
            .field("reuse_address", &self.reuse_address)
            .field("reuse_port", &self.reuse_port);
    }
}

/// aio-streams' server builders, as [`ListenOptions::apply`] sets them.
pub(crate) trait Listening: Sized {
    fn set_backlog(self, backlog: u32) -> Self;
    fn set_reuse_address(self, reuse: bool) -> Self;
    fn set_reuse_port(self, reuse: bool) -> Self;
}

/// `Listening` for aio-streams' builders `$builder<$g>`: their own setters.
macro_rules! listening {
    ($($builder:ident<$g:ident>),*) => {$(
        impl<$g> Listening for aio_streams::$builder<$g> {
            fn set_backlog(self, backlog: u32) -> Self {
                self.backlog(backlog)
            }
            fn set_reuse_address(self, reuse: bool) -> Self {
                self.reuse_address(reuse)
            }
            fn set_reuse_port(self, reuse: bool) -> Self {
                self.reuse_port(reuse)
            }
        }
    )*};
}

listening!(StartServer<H>, CreateServer<F>);
