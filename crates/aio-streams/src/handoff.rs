//! Accepting connections on one loop to serve them on others.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};

use aio_reactor::AsyncFd;
use aio_scheduler::get_running_loop;

/// A TCP listener on the running loop whose [`accept`](TcpAcceptor::accept) gives plain
/// `std::net::TcpStream`s, registered nowhere: values that can be sent to another thread or
/// loop (through an `aio_queue::channel`, say), which adopts each one
/// with [`open_connection_sock`](crate::open_connection_sock) and serves it there.
///
/// This is the "one acceptor hands sockets to the others" way to spread a port over several
/// loops; the other is a server per loop on the same port with
/// [`reuse_port`](crate::StartServer::reuse_port). `docs/design.md` compares them.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use aio_streams::{TcpAcceptor, open_connection_sock};
///
/// let reply = aio_task::run(async {
///     let acceptor = TcpAcceptor::new(std::net::TcpListener::bind("127.0.0.1:0")?)?;
///     let addr = acceptor.local_addr()?;
///     let client = std::thread::spawn(move || {
///         let mut s = std::net::TcpStream::connect(addr)?;
///         s.write_all(b"ping\n")?;
///         let mut reply = String::new();
///         s.read_to_string(&mut reply)?;
///         std::io::Result::Ok(reply)
///     });
///     let (stream, _peer) = acceptor.accept().await?;
///     // `stream` is a plain socket: it could go to another loop. Here it is adopted at once.
///     let (reader, writer) = open_connection_sock(stream).await?;
///     let line = reader.readline().await?;
///     writer.write(&line);
///     writer.close();
///     Ok::<_, aio_task::Error>(client.join().unwrap()?)
/// })??;
/// assert_eq!(reply, "ping\n");
/// # Ok::<(), aio_task::Error>(())
/// ```
pub struct TcpAcceptor {
    listener: AsyncFd<TcpListener>,
}

impl TcpAcceptor {
    /// Registers `listener` (bound and listening, as `TcpListener::bind` leaves it) with the
    /// running loop's reactor, in non-blocking mode.
    ///
    /// # Errors
    ///
    /// Outside a running loop (`ErrorKind::Other`, "no running event loop"), or if the
    /// socket cannot be made non-blocking or registered.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// // No loop is running here.
    /// assert!(aio_streams::TcpAcceptor::new(listener).is_err());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn new(listener: TcpListener) -> io::Result<TcpAcceptor> {
        let event_loop = get_running_loop().map_err(io::Error::other)?;
        listener.set_nonblocking(true)?;
        Ok(TcpAcceptor {
            listener: AsyncFd::new(event_loop.reactor(), listener)?,
        })
    }

    /// The address it listens on.
    ///
    /// # Errors
    ///
    /// As `TcpListener::local_addr`.
    ///
    /// # Examples
    ///
    /// ```
    /// let port = aio_task::run(async {
    ///     let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    ///     aio_streams::TcpAcceptor::new(listener)?.local_addr().map(|a| a.port())
    /// })??;
    /// assert_ne!(port, 0);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.get_ref().local_addr()
    }

    /// Waits for the next connection and gives it as a plain blocking-mode `TcpStream`
    /// (adopting it with [`open_connection_sock`](crate::open_connection_sock) makes it
    /// non-blocking) with the peer's address.
    ///
    /// # Errors
    ///
    /// As `accept(2)`: out of descriptors (`EMFILE`; the caller decides whether to back off),
    /// a connection aborted before it was taken, ...
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a connection is taken from the kernel's queue only by the poll that
    /// returns it.
    ///
    /// # Examples
    ///
    /// ```
    /// let peer_port = aio_task::run(async {
    ///     let acceptor = aio_streams::TcpAcceptor::new(std::net::TcpListener::bind("127.0.0.1:0")?)?;
    ///     let client = std::net::TcpStream::connect(acceptor.local_addr()?)?;
    ///     let (_stream, peer) = acceptor.accept().await?;
    ///     assert_eq!(peer, client.local_addr()?);
    ///     std::io::Result::Ok(peer.port())
    /// })??;
    /// assert_ne!(peer_port, 0);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| {
            self.listener
                .registration()
                .poll_read_with(cx, || self.listener.get_ref().accept())
        })
        .await
    }
}

impl fmt::Debug for TcpAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpAcceptor")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}
