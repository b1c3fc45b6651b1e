//! Stream sockets (TCP, Unix) as a reader's source and a writer's sink.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::task::{Context, Poll};

use aio_reactor::AsyncFd;

use crate::ReadSource;

/// How much one read from a socket asks for.
const READ_CHUNK: usize = 64 * 1024;

/// A socket's address, as `get_extra_info("peername")` / `("sockname")` gives it.
///
/// # Examples
///
/// ```
/// use aio_streams::Address;
/// let addr = Address::Inet("127.0.0.1:8080".parse().unwrap());
/// assert_eq!(addr.to_string(), "127.0.0.1:8080");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// An IP address and port.
    Inet(SocketAddr),
    /// A Unix socket path (empty for an unnamed socket).
    Unix(String),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Inet(addr) => fmt::Display::fmt(addr, f),
            Address::Unix(path) => f.write_str(path),
        }
    }
}

/// What the streams need of a connected socket.
pub(crate) trait Socket: AsFd {
    fn read_some(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn write_some(&self, buf: &[u8]) -> io::Result<usize>;
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
    fn peer(&self) -> Option<Address>;
    fn local(&self) -> Option<Address>;
}

impl Socket for TcpStream {
    fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
    fn write_some(&self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        TcpStream::shutdown(self, how)
    }
    fn peer(&self) -> Option<Address> {
        self.peer_addr().ok().map(Address::Inet)
    }
    fn local(&self) -> Option<Address> {
        self.local_addr().ok().map(Address::Inet)
    }
}

fn unix_path(addr: io::Result<std::os::unix::net::SocketAddr>) -> Option<Address> {
    let addr = addr.ok()?;
    Some(Address::Unix(
        addr.as_pathname()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    ))
}

impl Socket for UnixStream {
    fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
    fn write_some(&self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        UnixStream::shutdown(self, how)
    }
    fn peer(&self) -> Option<Address> {
        unix_path(self.peer_addr())
    }
    fn local(&self) -> Option<Address> {
        unix_path(self.local_addr())
    }
}

/// A connected socket registered with the loop's reactor, shared by a reader and a writer.
pub(crate) struct Connection {
    pub(crate) io: AsyncFd<Box<dyn SocketFd>>,
}

/// A [`Socket`] behind a box, so one `AsyncFd` type serves TCP and Unix sockets.
pub(crate) trait SocketFd: Socket {}
impl<T: Socket> SocketFd for T {}

impl Connection {
    pub(crate) fn socket(&self) -> &dyn SocketFd {
        &**self.io.get_ref()
    }

    /// Writes what the socket takes now, waiting for writability when it takes nothing.
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io
            .registration()
            .poll_write_with(cx, || self.socket().write_some(buf))
    }
}

/// The reading half of a connection, as a [`ReadSource`].
pub(crate) struct SocketSource(pub(crate) Rc<Connection>);

impl ReadSource for SocketSource {
    fn poll_fill(&self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
        let conn = &self.0;
        let start = buf.len();
        buf.resize(start + READ_CHUNK, 0);
        let read = conn
            .io
            .registration()
            .poll_read_with(cx, || conn.socket().read_some(&mut buf[start..]));
        let got = match &read {
            Poll::Ready(Ok(n)) => *n,
            _ => 0,
        };
        buf.truncate(start + got);
        read
    }
}
