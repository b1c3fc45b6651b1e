//! Stream sockets (TCP, Unix) as a reader's source and a writer's sink.

use std::cell::{Cell, OnceCell, RefCell};
use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::task::{Context, Poll};

use aio_reactor::{AsyncFd, Source};

use crate::layer::Layer;
use crate::net::ServerLink;
use crate::writer;
use crate::{ReadSource, StreamError};

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
    /// One `recv` into `buf` (the readers go through [`read_appending`]; a layer's
    /// [`Wire`](crate::Wire) reads with it).
    fn read_some(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn write_some(&self, buf: &[u8]) -> io::Result<usize>;
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
    fn peer(&self) -> Option<Address>;
    fn local(&self) -> Option<Address>;
}

/// One `recv`, made directly (rustix) rather than through libc: glibc's `recv` is a
/// cancellation point and brackets the system call with two atomic updates of the thread's
/// cancellation state, which on the echo benchmark cost more user time than the rest of the
/// read path (`docs/benchmarks.md`, "Streams"). Same result and errors as `Read::read` on
/// the socket: the byte count, or the OS error (`WouldBlock`, `Interrupted`, ...).
fn recv(socket: impl AsFd, buf: &mut [u8]) -> io::Result<usize> {
    let (n, _) = rustix::net::recv(socket, buf, rustix::net::RecvFlags::empty())?;
    Ok(n)
}

/// One `send`, made directly (rustix) for the same reason as [`recv`], with `MSG_NOSIGNAL`
/// as std's socket writes use: a peer that has gone is an `EPIPE` error, never a `SIGPIPE`
/// (which would kill a program that restored SIGPIPE's default action).
fn send(socket: impl AsFd, buf: &[u8]) -> io::Result<usize> {
    Ok(rustix::net::send(
        socket,
        buf,
        rustix::net::SendFlags::NOSIGNAL,
    )?)
}

impl Socket for TcpStream {
    fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
        recv(self, buf)
    }
    fn write_some(&self, buf: &[u8]) -> io::Result<usize> {
        send(self, buf)
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

pub(crate) fn unix_path(addr: io::Result<std::os::unix::net::SocketAddr>) -> Option<Address> {
    let addr = addr.ok()?;
    Some(Address::Unix(
        addr.as_pathname()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    ))
}

impl Socket for UnixStream {
    fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
        recv(self, buf)
    }
    fn write_some(&self, buf: &[u8]) -> io::Result<usize> {
        send(self, buf)
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
    pub(crate) io: AsyncFd<StreamSocket>,
    /// The server that accepted this connection counts it until it closes (asyncio's
    /// `Server._attach` / `_detach`): dropping the link detaches it. Taken when the writer
    /// closes or reading fails, or dropped with the connection.
    pub(crate) server: Cell<Option<ServerLink>>,
    /// What few connections ever have, boxed together so that a plain connection pays one
    /// word for all of it: made at the first read error or layer.
    rare: OnceCell<Box<Rare>>,
}

/// The parts of a [`Connection`] that most connections never need.
#[derive(Default)]
struct Rare {
    /// The error that ended reading (a reset), for the writer's `drain` (asyncio's drain
    /// raises the reader's exception first). A `Cell` (taken and put back to look at it).
    read_error: Cell<Option<StreamError>>,
    /// A protocol layered over the socket (TLS), once installed: reads and writes go
    /// through it.
    layer: OnceCell<Rc<dyn Layer>>,
}

/// A connected TCP or Unix socket: one `AsyncFd` type for both, without a box (one
/// allocation and one indirection fewer per connection than a trait object).
pub(crate) enum StreamSocket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl From<TcpStream> for StreamSocket {
    fn from(stream: TcpStream) -> StreamSocket {
        StreamSocket::Tcp(stream)
    }
}

impl From<UnixStream> for StreamSocket {
    fn from(stream: UnixStream) -> StreamSocket {
        StreamSocket::Unix(stream)
    }
}

impl AsFd for StreamSocket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            StreamSocket::Tcp(s) => s.as_fd(),
            StreamSocket::Unix(s) => s.as_fd(),
        }
    }
}

impl Socket for StreamSocket {
    fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
        recv(self, buf)
    }
    fn write_some(&self, buf: &[u8]) -> io::Result<usize> {
        send(self, buf)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            StreamSocket::Tcp(s) => s.shutdown(how),
            StreamSocket::Unix(s) => s.shutdown(how),
        }
    }
    fn peer(&self) -> Option<Address> {
        match self {
            StreamSocket::Tcp(s) => Socket::peer(s),
            StreamSocket::Unix(s) => Socket::peer(s),
        }
    }
    fn local(&self) -> Option<Address> {
        match self {
            StreamSocket::Tcp(s) => Socket::local(s),
            StreamSocket::Unix(s) => Socket::local(s),
        }
    }
}

impl Connection {
    pub(crate) fn new(io: AsyncFd<StreamSocket>) -> Connection {
        Connection {
            io,
            server: Cell::new(None),
            rare: OnceCell::new(),
        }
    }

    pub(crate) fn socket(&self) -> &StreamSocket {
        self.io.get_ref()
    }

    /// A TCP socket: one whose short reads may prove it drained (see [`note_short_read`]).
    pub(crate) fn is_tcp(&self) -> bool {
        matches!(self.socket(), StreamSocket::Tcp(_))
    }

    /// The socket's registration with the reactor.
    pub(crate) fn registration(&self) -> &aio_reactor::Registration {
        self.io.registration()
    }

    /// The connection is over for its server (closed, or failed): stop counting it.
    pub(crate) fn detach(&self) {
        drop(self.server.take());
    }

    fn rare(&self) -> &Rare {
        self.rare.get_or_init(Box::default)
    }

    /// The layer, if one was installed: a plain connection's reads and writes test one
    /// pointer for it.
    #[inline]
    pub(crate) fn layer(&self) -> Option<&Rc<dyn Layer>> {
        self.rare.get()?.layer.get()
    }

    /// Puts `layer` between the socket and the reader and writer.
    ///
    /// # Errors
    ///
    /// [`StreamError::State`] if the connection has a layer already.
    pub(crate) fn install_layer(&self, layer: Rc<dyn Layer>) -> Result<(), StreamError> {
        self.rare()
            .layer
            .set(layer)
            .map_err(|_| StreamError::State("the connection already has a layer (TLS)"))
    }

    fn set_read_error(&self, error: StreamError) {
        self.rare().read_error.set(Some(error));
    }

    // The layered paths, out of line and cold, so that the plain socket's read and write
    // paths compile as they did before layers existed (one test of `layer` added).

    #[cold]
    #[inline(never)]
    fn layered_poll_fill(
        &self,
        cx: &mut Context<'_>,
        buf: &mut Vec<u8>,
    ) -> Poll<io::Result<usize>> {
        match self.layer() {
            Some(layer) => layer.poll_fill(cx, buf),
            None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    #[cold]
    #[inline(never)]
    fn layered_write_now(&self, buf: &[u8]) -> io::Result<usize> {
        match self.layer() {
            Some(layer) => layer.write_now(buf),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    #[cold]
    #[inline(never)]
    fn layered_poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.layer() {
            Some(layer) => layer.poll_write(cx, buf),
            None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

/// What a [`StreamWriter`](crate::StreamWriter) writes to: a connected socket or a pipe.
pub(crate) trait Sink {
    /// One non-blocking write, now; `WouldBlock` also forgets the writable readiness.
    fn write_now(&self, buf: &[u8]) -> io::Result<usize>;
    /// Writes what the sink takes now, waiting for writability when it takes nothing.
    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    /// Ends the writing direction (`Write`) or the whole connection (`Both`).
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
    fn peer(&self) -> Option<Address> {
        None
    }
    fn local(&self) -> Option<Address> {
        None
    }
    /// The error the reading side of the same connection ended with, if any.
    fn read_error(&self) -> Option<StreamError> {
        None
    }
    /// The writer closed (or lost) the connection.
    fn closed(&self) {}
    /// The writer aborts: called before its final `shutdown(Both)`.
    fn abort(&self) {}
    /// The socket connection, for a sink that is one (a layer can go only there).
    fn connection(&self) -> Option<&Connection> {
        None
    }
}

impl Sink for Connection {
    fn write_now(&self, buf: &[u8]) -> io::Result<usize> {
        if self.layer().is_some() {
            return self.layered_write_now(buf);
        }
        let written = self.socket().write_some(buf);
        if matches!(&written, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            self.io.registration().clear_writable();
        }
        written
    }
    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.layer().is_some() {
            return self.layered_poll_write(cx, buf);
        }
        self.io
            .registration()
            .poll_write_with(cx, || self.socket().write_some(buf))
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if let Some(layer) = self.layer() {
            return layer.shutdown(how);
        }
        self.socket().shutdown(how)
    }
    fn peer(&self) -> Option<Address> {
        self.socket().peer()
    }
    fn local(&self) -> Option<Address> {
        self.socket().local()
    }
    fn read_error(&self) -> Option<StreamError> {
        let rare = self.rare.get()?;
        let error = rare.read_error.take();
        let copy = error.clone();
        rare.read_error.set(error);
        copy
    }
    fn closed(&self) {
        self.detach();
    }
    fn abort(&self) {
        if let Some(layer) = self.layer() {
            layer.abort();
        }
    }
    fn connection(&self) -> Option<&Connection> {
        Some(self)
    }
}

thread_local! {
    /// Every socket read on this thread lands here first, and only what arrived is copied
    /// into the reader's buffer: an idle reader holds no read-sized buffer, and no read pays
    /// for zero-filling one.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

/// Spare room in a reader's buffer from which a read goes straight into it, not through the
/// scratch buffer: a buffer kept because some bytes are still unread (a partial frame) has
/// room for the next chunk, and filling it directly saves a copy and a reallocation.
const DIRECT_READ_MIN: usize = 4096;

/// How [`read_appending`] reads a descriptor.
#[derive(Clone, Copy)]
pub(crate) enum ReadCall {
    /// `recv` (a socket).
    Recv,
    /// `read` (a pipe).
    Read,
}

/// Reads from `fd` and appends what arrived to `buf`: straight into `buf`'s spare capacity
/// when it has at least [`DIRECT_READ_MIN`] bytes of it, else through the thread's scratch
/// buffer, copying only what arrived (so an empty buffer gets exactly that much).
///
/// `drains`: the descriptor's readiness, for a TCP socket, where a short read may prove the
/// socket drained ([`Source::clear_readable_after_short_read`]): then the next read waits for
/// the reactor instead of making a `recv` that only finds the socket empty.
pub(crate) fn read_appending(
    buf: &mut Vec<u8>,
    fd: BorrowedFd<'_>,
    call: ReadCall,
    drains: Option<&Source>,
) -> io::Result<usize> {
    if buf.capacity() - buf.len() >= DIRECT_READ_MIN {
        let asked = buf.capacity() - buf.len();
        let spare = rustix::buffer::spare_capacity(buf);
        let n = match call {
            ReadCall::Recv => rustix::net::recv(fd, spare, rustix::net::RecvFlags::empty())?.0,
            ReadCall::Read => rustix::io::read(fd, spare)?,
        };
        note_short_read(drains, n, asked);
        return Ok(n);
    }
    SCRATCH.with_borrow_mut(|scratch| {
        let n = match call {
            ReadCall::Recv => recv(fd, scratch)?,
            ReadCall::Read => rustix::io::read(fd, &mut scratch[..])?,
        };
        note_short_read(drains, n, scratch.len());
        if buf.capacity() == 0 {
            // The common case of a request/response stream (the reader handed out its last
            // buffer): one allocation of exactly what arrived, not the growth path.
            *buf = scratch[..n].to_vec();
        } else {
            buf.extend_from_slice(&scratch[..n]);
        }
        Ok(n)
    })
}

/// After a read of `n` of `asked` bytes: a short read (not the end of stream) forgets the
/// read readiness of `source` if that proves the socket drained.
#[inline]
pub(crate) fn note_short_read(source: Option<&Source>, n: usize, asked: usize) {
    if let Some(source) = source {
        if n > 0 && n < asked {
            source.clear_readable_after_short_read();
        }
    }
}

/// A connection and its writer's state: one allocation, shared by the reader (through its
/// [`SocketSource`]), the writer, and weakly by the server's list.
pub(crate) type SharedConnection = writer::Inner<Connection>;

/// The reading half of a connection, as a [`ReadSource`]. Through the shared state it also
/// reaches the connection's writer, for a failed read to close it too (asyncio's transport
/// closes as a whole on a read error).
pub(crate) struct SocketSource(pub(crate) Rc<SharedConnection>);

impl SocketSource {
    /// Wakes the read waiting on this socket (for `feed_eof` / `set_exception`): the reactor
    /// holds its waker, so readability is marked and the waiter woken; its next read of the
    /// socket finds nothing (`WouldBlock`), clears it, and waits again unless the reason for
    /// the wake-up ends the wait.
    pub(crate) fn wake_reader(&self) {
        let mut wakers = Vec::new();
        let registration = self.0.sink().io.registration();
        registration.source().set_ready(true, false, &mut wakers);
        for waker in wakers {
            waker.wake();
        }
    }
}

impl ReadSource for SocketSource {
    fn poll_fill(&self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
        let conn = self.0.sink();
        let filled = if conn.layer().is_none() {
            let registration = conn.io.registration();
            let drains = conn.is_tcp().then(|| registration.source());
            registration.poll_read_with(cx, || {
                read_appending(buf, conn.socket().as_fd(), ReadCall::Recv, drains)
            })
        } else {
            conn.layered_poll_fill(cx, buf)
        };
        if let Poll::Ready(Err(error)) = &filled {
            let error = StreamError::from(error);
            conn.set_read_error(error.clone());
            // asyncio closes a transport whose read failed: the writer is lost too (its
            // buffer dropped, `is_closing`), and the server stops counting it.
            let writer: &writer::Inner = &*self.0;
            writer.lose(error);
            conn.detach();
        }
        filled
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpListener;
    use std::rc::Rc;
    use std::sync::mpsc;

    use super::Socket;
    use crate::open_connection;

    /// The other end of a test connection.
    trait Peer: std::io::Read + Write {}
    impl<T: std::io::Read + Write> Peer for T {}

    /// Runs `check` on a non-blocking TCP socket (the accepted end) and on a non-blocking
    /// Unix socket (one end of a pair), each with its peer.
    fn on_tcp_and_unix(check: fn(&dyn Socket, Box<dyn Peer>)) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        check(&server, Box::new(client));
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        check(&a, Box::new(b));
    }

    /// `read_some` makes its `recv` through rustix: the same three outcomes `Read::read`
    /// gave — `WouldBlock` on an empty non-blocking socket (what the reactor's read loop
    /// waits on), the bytes that arrived, 0 at EOF — on TCP and Unix sockets alike.
    #[test]
    fn read_some_reports_would_block_data_and_eof() {
        fn check(socket: &dyn Socket, mut peer: Box<dyn Peer>) {
            let mut buf = [0u8; 16];
            let empty = socket.read_some(&mut buf).unwrap_err();
            assert_eq!(empty.kind(), std::io::ErrorKind::WouldBlock);
            peer.write_all(b"abc").unwrap();
            drop(peer);
            // Loopback delivery is synchronous, but be patient with a busy machine.
            let mut got = Vec::new();
            loop {
                match socket.read_some(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    Err(e) => panic!("read_some: {e}"),
                }
            }
            assert_eq!(got, b"abc");
        }
        on_tcp_and_unix(check);
    }

    /// `write_some` (a direct `send`) reports what `Write::write` gave: the bytes taken,
    /// `WouldBlock` once the socket's buffers are full, and `BrokenPipe` (not a SIGPIPE)
    /// after the peer has gone; on TCP and Unix sockets alike.
    #[test]
    fn write_some_reports_bytes_would_block_and_broken_pipe() {
        fn check(socket: &dyn Socket, peer: Box<dyn Peer>) {
            assert_eq!(socket.write_some(b"abc").unwrap(), 3);
            let chunk = [1u8; 64 * 1024];
            let mut sent = 3;
            let full = loop {
                match socket.write_some(&chunk) {
                    Ok(n) => sent += n,
                    Err(e) => break e,
                }
                assert!(sent < 1 << 30, "the socket never filled up");
            };
            assert_eq!(full.kind(), std::io::ErrorKind::WouldBlock);
            drop(peer);
            let gone = loop {
                match socket.write_some(&chunk) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    Err(e) => break e,
                }
            };
            assert!(
                matches!(
                    gone.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ),
                "{gone}"
            );
        }
        on_tcp_and_unix(check);
    }

    /// Regression: every read used to grow the reader's buffer to 64 KiB (zero-filled), and
    /// the buffer kept that capacity, so an idle connection held 64 KiB and every small read
    /// cost a 64 KiB memset.
    #[test]
    fn idle_and_drained_readers_hold_no_read_chunk() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            go_rx.recv().unwrap();
            stream.write_all(&[7u8; 64]).unwrap();
            stream
        });
        let (idle, message, drained) = aio_task::run(async move {
            let (reader, _writer) = open_connection("127.0.0.1", port).await.unwrap();
            let reader = Rc::new(reader);
            let parked = reader.clone();
            let read = aio_task::create_task(async move { parked.readexactly(64).await.unwrap() })
                .unwrap();
            // Let the read find the socket empty and park.
            for _ in 0..5 {
                aio_scheduler::sleep(0.002).await.unwrap();
            }
            let idle = reader.capacity();
            go_tx.send(()).unwrap();
            let message = read.await.unwrap();
            (idle, message, reader.capacity())
        })
        .unwrap();
        assert!(idle < 4096, "an idle reader holds {idle} bytes of buffer");
        assert_eq!(message, vec![7u8; 64]);
        assert_eq!(drained, 0, "a fully read buffer is handed out, not kept");
        drop(peer.join().unwrap());
    }
}
