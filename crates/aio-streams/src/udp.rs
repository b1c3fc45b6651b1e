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
    /// # Cancel safety
    ///
    /// Dropping the future before it completes leaves nothing bound to the caller: the bind runs
    /// on a worker thread, which finishes it, and the socket it made is closed when its result is
    /// discarded.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let udp = aio_streams::DatagramEndpoint::bind("127.0.0.1", 0).await?;
    ///     let addr = udp.local_addr()?;
    ///     assert!(addr.ip().is_loopback() && addr.port() != 0);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
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
    /// # Cancel safety
    ///
    /// This method is cancel safe: the peer is set only in the poll that returns, after the name
    /// resolution, so a future dropped before then leaves the endpoint unconnected.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let a = aio_streams::DatagramEndpoint::bind("127.0.0.1", 0).await?;
    ///     let b = aio_streams::DatagramEndpoint::bind("127.0.0.1", 0).await?;
    ///     a.connect("127.0.0.1", b.local_addr()?.port()).await?;
    ///     assert_eq!(a.peer_addr(), Some(b.local_addr()?));
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
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
    /// # Cancel safety
    ///
    /// This method is cancel safe: a datagram is sent whole in the poll that returns, or not at
    /// all, so a dropped future sent nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::DatagramEndpoint;
    ///
    /// aio_task::run(async {
    ///     let a = DatagramEndpoint::bind("127.0.0.1", 0).await?;
    ///     let b = DatagramEndpoint::bind("127.0.0.1", 0).await?;
    ///     assert_eq!(a.send_to(b"to b", b.local_addr()?).await?, 4);
    ///     let mut buf = [0; 8];
    ///     assert_eq!(b.recv_from(&mut buf).await?, (4, a.local_addr()?));
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
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
    /// # Cancel safety
    ///
    /// This method is cancel safe, as [`send_to`](DatagramEndpoint::send_to): sent whole in the
    /// poll that returns, or not at all.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let udp = aio_streams::DatagramEndpoint::bind("127.0.0.1", 0).await?;
    ///     assert!(udp.send(b"nowhere").await.is_err()); // not connected
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
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
    /// # Cancel safety
    ///
    /// This method is cancel safe: a datagram is taken from the socket only in the poll that
    /// returns it, so dropping the future while it waits loses none — the next receive gets it.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::DatagramEndpoint;
    /// use aio_task::{Error, run, wait_for};
    ///
    /// run(async {
    ///     let a = DatagramEndpoint::bind("127.0.0.1", 0).await?;
    ///     let b = DatagramEndpoint::bind("127.0.0.1", 0).await?;
    ///     let mut buf = [0; 8];
    ///     // Nothing sent yet: the receive times out, harmlessly.
    ///     assert!(matches!(wait_for(b.recv_from(&mut buf), 0.01).await, Err(Error::Timeout)));
    ///     a.send_to(b"late", b.local_addr()?).await?;
    ///     assert_eq!(b.recv_from(&mut buf).await?.0, 4);
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), Error>(())
    /// ```
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
    /// # Cancel safety
    ///
    /// This method is cancel safe, as [`recv_from`](DatagramEndpoint::recv_from): no datagram
    /// is lost by dropping the future.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::DatagramEndpoint;
    ///
    /// aio_task::run(async {
    ///     let a = DatagramEndpoint::bind("127.0.0.1", 0).await?;
    ///     let b = DatagramEndpoint::bind("127.0.0.1", 0).await?;
    ///     b.connect("127.0.0.1", a.local_addr()?.port()).await?;
    ///     a.send_to(b"hello", b.local_addr()?).await?;
    ///     let mut buf = [0; 8];
    ///     assert_eq!(b.recv(&mut buf).await?, 5);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
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
    /// ```
    /// aio_task::run(async {
    ///     let udp = aio_streams::DatagramEndpoint::bind("127.0.0.1", 0).await?;
    ///     assert_ne!(udp.local_addr()?.port(), 0); // port 0 picked a free one
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
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
