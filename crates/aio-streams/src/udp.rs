//! UDP: a datagram endpoint on the reactor.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, UdpSocket};

use aio_reactor::AsyncFd;
use aio_scheduler::get_running_loop;
use aio_task::Error;

use crate::net::resolve;

/// A UDP socket on the loop's reactor (asyncio's `create_datagram_endpoint`, with awaitable
/// `send_to` / `recv_from` in place of a protocol's callbacks).
///
/// # Examples
///
/// ```
/// use aio_streams::DatagramEndpoint;
///
/// aio_task::run(async {
///     let server = DatagramEndpoint::bind("127.0.0.1", 0).await?;
///     let client = DatagramEndpoint::bind("127.0.0.1", 0).await?;
///     client.connect("127.0.0.1", server.local_addr()?.port()).await?;
///     client.send(b"ping").await?;
///     let mut buf = [0u8; 16];
///     let (n, from) = server.recv_from(&mut buf).await?;
///     assert_eq!(&buf[..n], b"ping");
///     server.send_to(b"pong", from).await?;
///     let n = client.recv(&mut buf).await?;
///     assert_eq!(&buf[..n], b"pong");
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub struct DatagramEndpoint {
    socket: AsyncFd<UdpSocket>,
}

impl DatagramEndpoint {
    /// Binds a UDP socket to `host:port` (port 0: a free one). Name resolution runs off the
    /// loop; an IP literal is used as it is, without the resolver.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the address cannot be resolved or bound; [`Error::Runtime`] outside a
    /// running loop.
    ///
    /// # Examples
    ///
    /// See [`DatagramEndpoint`].
    pub async fn bind(host: &str, port: u16) -> Result<DatagramEndpoint, Error> {
        let addrs = resolve(host, port).await?;
        // Binding does not block: each resolved address in turn, until one binds.
        let socket = UdpSocket::bind(&addrs[..])?;
        socket.set_nonblocking(true)?;
        let event_loop = get_running_loop()?;
        Ok(DatagramEndpoint {
            socket: AsyncFd::new(event_loop.reactor(), socket)?,
        })
    }

    /// Sets the default peer (asyncio's `remote_addr`): [`send`](DatagramEndpoint::send) goes
    /// there, and only its datagrams are received.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the address cannot be resolved.
    ///
    /// # Examples
    ///
    /// See [`DatagramEndpoint`].
    pub async fn connect(&self, host: &str, port: u16) -> Result<(), Error> {
        let addr = resolve(host, port)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
        self.socket.get_ref().connect(addr)?;
        Ok(())
    }

    /// Sends one datagram to `addr`; returns the bytes sent.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] from the socket.
    ///
    /// # Examples
    ///
    /// See [`DatagramEndpoint`].
    pub async fn send_to(&self, data: &[u8], addr: SocketAddr) -> Result<usize, Error> {
        let reg = self.socket.registration();
        Ok(
            poll_fn(|cx| reg.poll_write_with(cx, || self.socket.get_ref().send_to(data, addr)))
                .await?,
        )
    }

    /// Sends one datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] from the socket (not connected, for instance).
    ///
    /// # Examples
    ///
    /// See [`DatagramEndpoint`].
    pub async fn send(&self, data: &[u8]) -> Result<usize, Error> {
        let reg = self.socket.registration();
        Ok(poll_fn(|cx| reg.poll_write_with(cx, || self.socket.get_ref().send(data))).await?)
    }

    /// Receives one datagram into `buf` (a longer one is truncated, as with any UDP socket);
    /// returns its length and sender.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] from the socket.
    ///
    /// # Examples
    ///
    /// See [`DatagramEndpoint`].
    pub async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr), Error> {
        let reg = self.socket.registration();
        Ok(poll_fn(|cx| reg.poll_read_with(cx, || self.socket.get_ref().recv_from(buf))).await?)
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] from the socket.
    ///
    /// # Examples
    ///
    /// See [`DatagramEndpoint`].
    pub async fn recv(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let reg = self.socket.registration();
        Ok(poll_fn(|cx| reg.poll_read_with(cx, || self.socket.get_ref().recv(buf))).await?)
    }

    /// The bound address (asyncio's `get_extra_info("sockname")`).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] from the socket.
    ///
    /// # Examples
    ///
    /// See [`DatagramEndpoint`].
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.socket.get_ref().local_addr()?)
    }

    /// The connected peer, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let udp = aio_streams::DatagramEndpoint::bind("127.0.0.1", 0).await?;
    ///     assert!(udp.peer_addr().is_none());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.socket.get_ref().peer_addr().ok()
    }
}

impl fmt::Debug for DatagramEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramEndpoint")
            .field("local", &self.socket.get_ref().local_addr().ok())
            .field("peer", &self.peer_addr())
            .finish()
    }
}
