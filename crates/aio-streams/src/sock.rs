//! asyncio's low-level socket methods (`loop.sock_recv`, `sock_sendall`, `sock_accept`, ...)
//! as free functions on non-blocking sockets the caller owns.
//!
//! Each call first tries the operation at once; only if the socket is not ready does it
//! register the descriptor with the running loop's reactor (for the duration of the wait) and
//! wait for readiness, as asyncio's `add_reader` / `add_writer` do. The loop never blocks.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::rc::{Rc, Weak};

use aio_reactor::Registration;
use aio_scheduler::get_running_loop;
use aio_task::Error;
use rustix::net::{RecvFlags, SendFlags, SocketAddrAny, SocketAddrUnix, SocketFlags};

use crate::Address;

/// The descriptors the `sock_*` functions registered with one loop's reactor, shared by the
/// calls waiting on the same socket at once (a reader and a writer).
#[derive(Default)]
struct SockFds(RefCell<HashMap<RawFd, Weak<SockRegistration>>>);

/// A registration held only while some `sock_*` call waits on the descriptor.
pub(crate) struct SockRegistration {
    registration: Registration,
    table: Weak<SockFds>,
}

impl Drop for SockRegistration {
    fn drop(&mut self) {
        if let Some(table) = self.table.upgrade() {
            let fd = self.registration.fd();
            let mut fds = table.0.borrow_mut();
            if fds.get(&fd).is_some_and(|weak| weak.strong_count() == 0) {
                fds.remove(&fd);
            }
        }
    }
}

impl SockRegistration {
    pub(crate) fn registration(&self) -> &Registration {
        &self.registration
    }
}

/// Registers `fd` with the running loop's reactor, or shares the registration a concurrent
/// call on the same descriptor made.
///
/// The caller must keep `fd` open (it borrows it) for as long as it holds the result; every
/// holder borrows the same open descriptor, so it stays open until the last one lets go.
pub(crate) fn register(fd: BorrowedFd<'_>) -> Result<Rc<SockRegistration>, Error> {
    let event_loop = get_running_loop()?;
    let table = event_loop.extension::<SockFds>();
    let raw = fd.as_raw_fd();
    if let Some(shared) = table.0.borrow().get(&raw).and_then(Weak::upgrade) {
        return Ok(shared);
    }
    // SAFETY: the descriptor is borrowed by the caller, which holds the returned Rc only while
    // it holds the borrow (the `sock_*` futures hold both); a second holder (a concurrent call
    // on the same socket) borrows the same open descriptor. The registration is dropped — and
    // the descriptor leaves the poller — when the last holder lets go, before the descriptor
    // can be closed.
    let registration = unsafe { event_loop.reactor().register(raw) }.map_err(|error| {
        if error.raw_os_error() == Some(libc_eexist()) {
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "file descriptor {raw} is already registered with the loop (used by a \
                     transport or stream?)"
                ),
            )
        } else {
            error
        }
    })?;
    let shared = Rc::new(SockRegistration {
        registration,
        table: Rc::downgrade(&table),
    });
    table.0.borrow_mut().insert(raw, Rc::downgrade(&shared));
    Ok(shared)
}

fn libc_eexist() -> i32 {
    rustix::io::Errno::EXIST.raw_os_error()
}

/// asyncio's `_check_ssl_socket` / `sock.gettimeout() == 0` check: blocking sockets are
/// refused with `ValueError`, as they would block the loop.
pub(crate) fn check_nonblocking(fd: BorrowedFd<'_>) -> Result<(), Error> {
    let flags = rustix::fs::fcntl_getfl(fd).map_err(io::Error::from)?;
    if flags.contains(rustix::fs::OFlags::NONBLOCK) {
        Ok(())
    } else {
        Err(Error::Value(
            "the socket must be non-blocking (set_nonblocking(true))",
        ))
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Direction {
    Read,
    Write,
}

/// Runs the non-blocking operation `op` on `fd`: at once if it does not report `WouldBlock`,
/// else after waiting for readiness in `direction` on the loop's reactor. `Interrupted` is
/// retried.
pub(crate) async fn io_op<R>(
    fd: BorrowedFd<'_>,
    direction: Direction,
    mut op: impl FnMut() -> io::Result<R>,
) -> Result<R, Error> {
    let mut op = move || loop {
        match op() {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    };
    match op() {
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
        done => return Ok(done?),
    }
    let shared = register(fd)?;
    let registration = shared.registration();
    Ok(poll_fn(|cx| match direction {
        Direction::Read => registration.poll_read_with(cx, &mut op),
        Direction::Write => registration.poll_write_with(cx, &mut op),
    })
    .await?)
}

/// A socket address from the kernel as an [`Address`].
pub(crate) fn address(addr: Option<SocketAddrAny>) -> Option<Address> {
    let addr = addr?;
    if let Ok(inet) = SocketAddr::try_from(addr.clone()) {
        return Some(Address::Inet(inet));
    }
    let unix = SocketAddrUnix::try_from(addr).ok()?;
    Some(Address::Unix(
        unix.path()
            .map(|path| path.to_string_lossy().into_owned())
            .unwrap_or_default(),
    ))
}

/// Sends to `addr` with rustix, for an inet or a Unix address.
fn send_to(fd: BorrowedFd<'_>, data: &[u8], addr: &Address) -> io::Result<usize> {
    match addr {
        Address::Inet(inet) => Ok(rustix::net::sendto(fd, data, SendFlags::NOSIGNAL, inet)?),
        Address::Unix(path) => {
            let unix = SocketAddrUnix::new(path.as_str())?;
            Ok(rustix::net::sendto(fd, data, SendFlags::NOSIGNAL, &unix)?)
        }
    }
}

/// Receives up to `nbytes` bytes from a connected socket (asyncio's `loop.sock_recv`). An
/// empty vector is the end of the stream.
///
/// # Errors
///
/// [`Error::Value`] for a blocking socket; [`Error::Io`] from the socket;
/// [`Error::Runtime`] outside a running loop (when it has to wait).
///
/// # Cancel safety
///
/// Cancel safe: bytes are taken from the socket only in the poll that returns them.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::os::unix::net::UnixStream;
///
/// let (a, mut b) = UnixStream::pair()?;
/// a.set_nonblocking(true)?;
/// let got = aio_task::run(async move {
///     let recv = aio_task::create_task(async move { aio_streams::sock_recv(&a, 100).await })?;
///     aio_scheduler::sleep(0.01).await?; // the receive waits on the reactor
///     b.write_all(b"hello")?;
///     Ok::<_, aio_task::Error>(recv.await??)
/// })??;
/// assert_eq!(got, b"hello");
/// # Ok::<(), aio_task::Error>(())
/// ```
pub async fn sock_recv(sock: impl AsFd, nbytes: usize) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0; nbytes];
    let n = sock_recv_into(sock, &mut buf).await?;
    buf.truncate(n);
    Ok(buf)
}

/// Receives into `buf` from a connected socket (asyncio's `loop.sock_recv_into`); returns the
/// bytes received, 0 at the end of the stream.
///
/// # Errors
///
/// As [`sock_recv`].
///
/// # Cancel safety
///
/// Cancel safe, as [`sock_recv`].
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::os::unix::net::UnixStream;
///
/// let (a, mut b) = UnixStream::pair()?;
/// a.set_nonblocking(true)?;
/// b.write_all(b"abc")?;
/// drop(b);
/// let (n, eof) = aio_task::run(async move {
///     let mut buf = [0; 8];
///     let n = aio_streams::sock_recv_into(&a, &mut buf).await?;
///     Ok::<_, aio_task::Error>((n, aio_streams::sock_recv_into(&a, &mut buf).await?))
/// })??;
/// assert_eq!((n, eof), (3, 0));
/// # Ok::<(), aio_task::Error>(())
/// ```
pub async fn sock_recv_into(sock: impl AsFd, buf: &mut [u8]) -> Result<usize, Error> {
    let fd = sock.as_fd();
    check_nonblocking(fd)?;
    io_op(fd, Direction::Read, || {
        Ok(rustix::net::recv(fd, &mut *buf, RecvFlags::empty())?.0)
    })
    .await
}

/// Receives one datagram of at most `bufsize` bytes (asyncio's `loop.sock_recvfrom`); returns
/// it and its sender (`None` if the socket reports none, as a connected Unix socket may).
///
/// # Errors
///
/// As [`sock_recv`].
///
/// # Cancel safety
///
/// Cancel safe: a datagram is taken from the socket only in the poll that returns it.
///
/// # Examples
///
/// ```
/// use std::net::UdpSocket;
/// use aio_streams::{Address, sock_recvfrom};
///
/// let a = UdpSocket::bind("127.0.0.1:0")?;
/// let b = UdpSocket::bind("127.0.0.1:0")?;
/// a.set_nonblocking(true)?;
/// b.send_to(b"dgram", a.local_addr()?)?;
/// let (data, from) = aio_task::run(async move { sock_recvfrom(&a, 64).await })??;
/// assert_eq!(data, b"dgram");
/// assert_eq!(from, Some(Address::Inet(b.local_addr()?)));
/// # Ok::<(), aio_task::Error>(())
/// ```
pub async fn sock_recvfrom(
    sock: impl AsFd,
    bufsize: usize,
) -> Result<(Vec<u8>, Option<Address>), Error> {
    let mut buf = vec![0; bufsize];
    let (n, from) = sock_recvfrom_into(sock, &mut buf).await?;
    buf.truncate(n);
    Ok((buf, from))
}

/// Receives one datagram into `buf` (asyncio's `loop.sock_recvfrom_into`): its length (a
/// longer datagram is truncated) and its sender.
///
/// # Errors
///
/// As [`sock_recv`].
///
/// # Cancel safety
///
/// Cancel safe, as [`sock_recvfrom`].
///
/// # Examples
///
/// ```
/// use std::net::UdpSocket;
///
/// let a = UdpSocket::bind("127.0.0.1:0")?;
/// a.set_nonblocking(true)?;
/// UdpSocket::bind("127.0.0.1:0")?.send_to(b"truncated", a.local_addr()?)?;
/// let mut buf = [0; 5];
/// let (n, buf) = aio_task::run(async move {
///     let (n, _) = aio_streams::sock_recvfrom_into(&a, &mut buf).await?;
///     Ok::<_, aio_task::Error>((n, buf))
/// })??;
/// assert_eq!(&buf[..n], b"trunc");
/// # Ok::<(), aio_task::Error>(())
/// ```
pub async fn sock_recvfrom_into(
    sock: impl AsFd,
    buf: &mut [u8],
) -> Result<(usize, Option<Address>), Error> {
    let fd = sock.as_fd();
    check_nonblocking(fd)?;
    io_op(fd, Direction::Read, || {
        let (_, n, from) = rustix::net::recvfrom(fd, &mut *buf, RecvFlags::empty())?;
        Ok((n.min(buf.len()), address(from)))
    })
    .await
}

/// Sends all of `data` on a connected socket (asyncio's `loop.sock_sendall`), waiting for
/// room in the socket's buffer as often as needed. A peer that has gone is an error
/// (`BrokenPipe`), never a `SIGPIPE`.
///
/// # Errors
///
/// As [`sock_recv`].
///
/// # Cancel safety
///
/// Not cancel safe: dropped while waiting, part of `data` may have been sent (asyncio's
/// `sock_sendall` neither tells how much).
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use std::os::unix::net::UnixStream;
///
/// let (a, mut b) = UnixStream::pair()?;
/// a.set_nonblocking(true)?;
/// let reader = std::thread::spawn(move || {
///     let mut all = Vec::new();
///     b.read_to_end(&mut all).map(|_| all)
/// });
/// let data = vec![7u8; 1 << 20]; // more than the socket buffer holds
/// aio_task::run(async move { aio_streams::sock_sendall(&a, &data).await })??; // closes `a`
/// assert_eq!(reader.join().unwrap()?.len(), 1 << 20);
/// # Ok::<(), aio_task::Error>(())
/// ```
pub async fn sock_sendall(sock: impl AsFd, data: &[u8]) -> Result<(), Error> {
    let fd = sock.as_fd();
    check_nonblocking(fd)?;
    let mut sent = 0;
    while sent < data.len() {
        sent += io_op(fd, Direction::Write, || {
            Ok(rustix::net::send(fd, &data[sent..], SendFlags::NOSIGNAL)?)
        })
        .await?;
    }
    Ok(())
}

/// Sends one datagram to `addr` (asyncio's `loop.sock_sendto`); returns the bytes sent.
///
/// # Errors
///
/// As [`sock_recv`].
///
/// # Cancel safety
///
/// Cancel safe: the datagram is sent whole in the poll that returns, or not at all.
///
/// # Examples
///
/// ```
/// use std::net::UdpSocket;
///
/// let a = UdpSocket::bind("127.0.0.1:0")?;
/// let b = UdpSocket::bind("127.0.0.1:0")?;
/// a.set_nonblocking(true)?;
/// let to = b.local_addr()?;
/// let from = a.local_addr()?;
/// assert_eq!(aio_task::run(async move { aio_streams::sock_sendto(&a, b"hi", to).await })??, 2);
/// let mut buf = [0; 4];
/// assert_eq!(b.recv_from(&mut buf)?, (2, from));
/// # Ok::<(), aio_task::Error>(())
/// ```
pub async fn sock_sendto(
    sock: impl AsFd,
    data: &[u8],
    addr: impl Into<Address>,
) -> Result<usize, Error> {
    let fd = sock.as_fd();
    check_nonblocking(fd)?;
    let addr = addr.into();
    io_op(fd, Direction::Write, || send_to(fd, data, &addr)).await
}

/// Connects a non-blocking socket to `addr` (asyncio's `loop.sock_connect`): starts the
/// connection and waits, on the reactor, until it is made or fails.
///
/// The socket is one the caller made unconnected (with `rustix::net::socket_with`, `socket2`,
/// ...), since `std` has no unconnected stream socket.
///
/// # Errors
///
/// [`Error::Value`] for a blocking socket; [`Error::Io`] with the connection's error
/// (refused, unreachable, ...).
///
/// # Cancel safety
///
/// Dropping the future leaves the connection attempt running in the kernel; the socket is
/// then in an unknown state, fit only to be closed (as in asyncio).
///
/// # Examples
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use rustix::net::{AddressFamily, SocketFlags, SocketType, socket_with};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let sock = socket_with(AddressFamily::INET, SocketType::STREAM, SocketFlags::NONBLOCK, None)
///     .map_err(std::io::Error::from)?;
/// let sock = aio_task::run(async move {
///     aio_streams::sock_connect(&sock, addr).await.map(|()| sock)
/// })??;
/// let stream = TcpStream::from(sock);
/// assert_eq!(stream.peer_addr()?, addr);
/// # Ok::<(), aio_task::Error>(())
/// ```
pub async fn sock_connect(sock: impl AsFd, addr: impl Into<Address>) -> Result<(), Error> {
    let fd = sock.as_fd();
    check_nonblocking(fd)?;
    let started = match addr.into() {
        Address::Inet(inet) => rustix::net::connect(fd, &inet),
        Address::Unix(path) => {
            let unix = SocketAddrUnix::new(path.as_str()).map_err(io::Error::from)?;
            rustix::net::connect(fd, &unix)
        }
    };
    match started {
        Ok(()) => return Ok(()),
        Err(rustix::io::Errno::INPROGRESS | rustix::io::Errno::AGAIN) => {}
        // Interrupted: the connection goes on in the background (POSIX); wait for it.
        Err(rustix::io::Errno::INTR) => {}
        Err(errno) => return Err(io::Error::from(errno).into()),
    }
    let shared = register(fd)?;
    let registration = shared.registration();
    poll_fn(|cx| {
        registration.poll_write_with(cx, || {
            if let Err(errno) = rustix::net::sockopt::socket_error(fd)? {
                return Err(io::Error::from(errno));
            }
            match rustix::net::getpeername(fd) {
                Ok(_) => Ok(()),
                // Spurious readiness: still connecting.
                Err(rustix::io::Errno::NOTCONN) => Err(io::ErrorKind::WouldBlock.into()),
                Err(errno) => Err(errno.into()),
            }
        })
    })
    .await?;
    Ok(())
}

/// A listening socket [`sock_accept`] accepts on: what it gives for each connection.
pub trait SockListener: AsFd {
    /// The accepted connection's socket.
    type Stream;
    /// The peer's address.
    type Addr;
    /// Accepts one connection now, non-blocking (`WouldBlock` if none waits); the accepted
    /// socket is non-blocking too (asyncio's `sock_accept` makes it so).
    ///
    /// # Errors
    ///
    /// The OS error from `accept`.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::SockListener;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// listener.set_nonblocking(true)?;
    /// let none = listener.accept_nonblocking().unwrap_err();
    /// assert_eq!(none.kind(), std::io::ErrorKind::WouldBlock);
    /// # std::io::Result::Ok(())
    /// ```
    fn accept_nonblocking(&self) -> io::Result<(Self::Stream, Self::Addr)>;
}

impl SockListener for TcpListener {
    type Stream = TcpStream;
    type Addr = SocketAddr;
    fn accept_nonblocking(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let fd = rustix::net::accept_with(self, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC)?;
        let stream = TcpStream::from(fd);
        let peer = stream.peer_addr()?;
        Ok((stream, peer))
    }
}

impl SockListener for UnixListener {
    type Stream = UnixStream;
    type Addr = std::os::unix::net::SocketAddr;
    fn accept_nonblocking(&self) -> io::Result<(UnixStream, std::os::unix::net::SocketAddr)> {
        let fd = rustix::net::accept_with(self, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC)?;
        let stream = UnixStream::from(fd);
        let peer = stream.peer_addr()?;
        Ok((stream, peer))
    }
}

/// Accepts one connection on a non-blocking listening socket (asyncio's `loop.sock_accept`),
/// waiting on the reactor until one arrives. The accepted socket is non-blocking.
///
/// # Errors
///
/// [`Error::Value`] for a blocking listener; [`Error::Io`] from `accept`.
///
/// # Cancel safety
///
/// Cancel safe: a connection is taken from the listener only in the poll that returns it.
///
/// # Examples
///
/// ```
/// use std::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// listener.set_nonblocking(true)?;
/// let client = TcpStream::connect(listener.local_addr()?)?;
/// let (conn, peer) = aio_task::run(async move { aio_streams::sock_accept(&listener).await })??;
/// assert_eq!(peer, client.local_addr()?);
/// assert_eq!(conn.peer_addr()?, client.local_addr()?);
/// # Ok::<(), aio_task::Error>(())
/// ```
pub async fn sock_accept<L: SockListener>(listener: &L) -> Result<(L::Stream, L::Addr), Error> {
    let fd = listener.as_fd();
    check_nonblocking(fd)?;
    io_op(fd, Direction::Read, || listener.accept_nonblocking()).await
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Address {
        Address::Inet(addr)
    }
}

impl fmt::Debug for SockRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SockRegistration")
            .field("fd", &self.registration.fd())
            .finish()
    }
}
