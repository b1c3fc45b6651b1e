//! asyncio's `loop.sock_sendfile` and `loop.sendfile`: a file sent on a socket with
//! `sendfile(2)` (the kernel copies, no user-space buffer), or with reads and writes where
//! `sendfile(2)` cannot be used (asyncio's `fallback=True`).

use std::fmt;
use std::future::{Future, IntoFuture, poll_fn};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;

use aio_reactor::Registration;
use aio_task::{Error, to_thread};
use rustix::fs::{FileType, SeekFrom};
use rustix::io::Errno;

use crate::transport::{Io, Lent};
use crate::{StreamWriter, Transport};

use crate::sock::{Direction, check_nonblocking, io_op, sock_sendall};

/// The largest block asyncio's fallback reads at once (`constants.SENDFILE_FALLBACK_READBUFFER_SIZE`).
const FALLBACK_BLOCK: usize = 256 * 1024;

/// The most one `sendfile(2)` call is asked to send (the kernel caps a call near 2 GiB).
const NATIVE_BLOCK: usize = 1 << 30;

/// Why `sendfile(2)` cannot be used: asyncio's `SendfileNotAvailableError`.
#[derive(Debug)]
pub(crate) struct NotAvailable(&'static str);

/// Sends `file` on the connected stream socket `sock`, from `offset`, `count` bytes or up to
/// the end of the file (asyncio's `loop.sock_sendfile`). Await it for the number of bytes sent.
///
/// `sendfile(2)` is used when it can be: `file` a regular file and `sock` a stream socket
/// (TCP or Unix). Otherwise — `file` a pipe, say — the file is read in blocks of 256 KiB and
/// sent with [`sock_sendall`](crate::sock_sendall), unless
/// [`fallback(false)`](SockSendfile::fallback) was asked for. Blocking reads run on the
/// executor ([`to_thread`]), as asyncio's fallback does; the loop never blocks.
///
/// As in asyncio, the file's position is left at `offset` plus the bytes sent.
///
/// # Errors
///
/// When awaited: [`Error::Value`] for a zero `count`, a blocking socket, or one that is not
/// a stream socket (asyncio: "only SOCK_STREAM type sockets are supported"); [`Error::Io`] from the socket or
/// the file, or (`fallback(false)`) when `sendfile(2)` cannot be used.
///
/// # Cancel safety
///
/// Not cancel safe: dropped part-way, part of the file has been sent, and the file's position
/// is unspecified.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
///
/// let file = tempfile_with(b"0123456789")?;
/// let (a, mut b) = UnixStream::pair()?;
/// a.set_nonblocking(true)?;
/// let sent = aio_task::run(async move {
///     aio_streams::sock_sendfile(&a, &file, 2, Some(5)).into_future().await
/// })??; // `a` is closed at the end of the block
/// assert_eq!(sent, 5);
/// let mut got = Vec::new();
/// b.read_to_end(&mut got)?;
/// assert_eq!(got, b"23456");
/// # use std::future::IntoFuture;
/// # fn tempfile_with(data: &[u8]) -> std::io::Result<std::fs::File> {
/// #     let path = std::env::temp_dir().join(format!("aio-sendfile-doc-{}", std::process::id()));
/// #     std::fs::write(&path, data)?;
/// #     let file = std::fs::File::open(&path)?;
/// #     std::fs::remove_file(&path)?;
/// #     Ok(file)
/// # }
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn sock_sendfile<'a, S: AsFd, F: AsFd>(
    sock: &'a S,
    file: &'a F,
    offset: u64,
    count: Option<usize>,
) -> SockSendfile<'a> {
    SockSendfile {
        sock: sock.as_fd(),
        file: file.as_fd(),
        offset,
        count,
        fallback: true,
    }
}

/// A [`sock_sendfile`] to await, with its options.
#[must_use = "nothing is sent until the future is awaited"]
pub struct SockSendfile<'a> {
    sock: BorrowedFd<'a>,
    file: BorrowedFd<'a>,
    offset: u64,
    count: Option<usize>,
    fallback: bool,
}

impl SockSendfile<'_> {
    /// Whether to read and send when `sendfile(2)` cannot be used (asyncio's `fallback=`,
    /// default `true`). With `false`, that case is an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::IntoFuture;
    /// use std::os::unix::net::UnixStream;
    ///
    /// let (a, _b) = UnixStream::pair()?;
    /// a.set_nonblocking(true)?;
    /// let (pipe, _w) = std::io::pipe()?; // not a regular file: no sendfile(2)
    /// let sent = aio_task::run(async move {
    ///     aio_streams::sock_sendfile(&a, &pipe, 0, None).fallback(false).into_future().await
    /// })?;
    /// assert!(sent.is_err());
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn fallback(mut self, fallback: bool) -> Self {
        self.fallback = fallback;
        self
    }
}

impl<'a> IntoFuture for SockSendfile<'a> {
    type Output = Result<usize, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<usize, Error>> + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let SockSendfile {
                sock,
                file,
                offset,
                count,
                fallback,
            } = self;
            check_count(count)?;
            check_nonblocking(sock)?;
            let kind = rustix::net::sockopt::socket_type(sock).map_err(io::Error::from)?;
            if kind != rustix::net::SocketType::STREAM {
                return Err(Error::Value("only SOCK_STREAM type sockets are supported"));
            }
            match send_native(sock, None, file, offset, count).await {
                Ok(sent) => Ok(sent),
                Err(Err(error)) => Err(error),
                Err(Ok(NotAvailable(why))) if !fallback => Err(not_available(why)),
                Err(Ok(NotAvailable(_))) => {
                    send_fallback(Target::Sock(sock), file, offset, count).await
                }
            }
        })
    }
}

impl fmt::Debug for SockSendfile<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SockSendfile")
            .field("sock", &self.sock)
            .field("file", &self.file)
            .field("offset", &self.offset)
            .field("count", &self.count)
            .field("fallback", &self.fallback)
            .finish()
    }
}

/// asyncio's `_check_sendfile_params`: a count, if given, is positive.
fn check_count(count: Option<usize>) -> Result<(), Error> {
    if count == Some(0) {
        return Err(Error::Value("count must be a positive integer"));
    }
    Ok(())
}

/// `sendfile(2)` from `file` to the non-blocking stream socket `sock`, waiting for room on the
/// reactor (asyncio's `_sock_sendfile_native`). `Err(Ok(NotAvailable))` before anything was
/// sent if the kernel cannot do it for this pair.
pub(crate) async fn send_native(
    sock: BorrowedFd<'_>,
    registered: Option<&Registration>,
    file: BorrowedFd<'_>,
    offset: u64,
    count: Option<usize>,
) -> Result<usize, Result<NotAvailable, Error>> {
    let stat = rustix::fs::fstat(file).map_err(|e| Err(io::Error::from(e).into()))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(Ok(NotAvailable("not a regular file")));
    }
    let size = u64::try_from(stat.st_size).unwrap_or(0);
    let available = usize::try_from(size.saturating_sub(offset)).unwrap_or(usize::MAX);
    let total_wanted = count.map_or(available, |count| count.min(available));
    let mut position = offset;
    let mut sent = 0;
    while sent < total_wanted {
        let block = (total_wanted - sent).min(NATIVE_BLOCK);
        let send = || {
            let mut at = position;
            Ok(rustix::fs::sendfile(sock, file, Some(&mut at), block)?)
        };
        let result = match registered {
            // The socket of a stream: registered already, by its connection.
            Some(registration) => poll_fn(|cx| registration.poll_write_with(cx, send))
                .await
                .map_err(Error::from),
            None => io_op(sock, Direction::Write, send).await,
        };
        match result {
            // The file shrank: nothing more to send.
            Ok(0) => break,
            Ok(n) => {
                sent += n;
                position += n as u64;
            }
            Err(Error::Io(error)) if sent == 0 && native_unsupported(&error) => {
                return Err(Ok(NotAvailable("the kernel refused sendfile(2)")));
            }
            Err(error) => {
                leave_position(file, offset, sent);
                return Err(Err(error));
            }
        }
    }
    leave_position(file, offset, sent);
    Ok(sent)
}

/// Errors by which `sendfile(2)` says it cannot serve this file or socket.
fn native_unsupported(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error().map(Errno::from_raw_os_error),
        Some(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP | Errno::NOTSOCK)
    )
}

/// Leaves the file's position after what was sent, as asyncio does (`file.seek(offset +
/// total_sent)`); a file without a position (a pipe) is left alone.
fn leave_position(file: BorrowedFd<'_>, offset: u64, sent: usize) {
    if sent > 0 {
        let _ = rustix::fs::seek(file, SeekFrom::Start(offset + sent as u64));
    }
}

/// Where the fallback sends what it reads.
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    Sock(BorrowedFd<'a>),
    Writer(&'a StreamWriter),
    /// A protocol transport's buffer, sent by the task that holds its write side.
    Transport(&'a Lent),
}

/// Reads `file` in blocks and sends each with `sock_sendall` (asyncio's
/// `_sock_sendfile_fallback`). A non-blocking `file` is read on the loop when readable; a
/// blocking one on the executor.
pub(crate) async fn send_fallback(
    target: Target<'_>,
    file: BorrowedFd<'_>,
    offset: u64,
    count: Option<usize>,
) -> Result<usize, Error> {
    let mut sent = 0;
    let result = async {
        if offset != 0 {
            rustix::fs::seek(file, SeekFrom::Start(offset)).map_err(io::Error::from)?;
        }
        let nonblocking = rustix::fs::fcntl_getfl(file)
            .map_err(io::Error::from)?
            .contains(rustix::fs::OFlags::NONBLOCK);
        let mut owned: Option<OwnedFd> = None;
        let mut buf = vec![0u8; count.map_or(FALLBACK_BLOCK, |c| c.min(FALLBACK_BLOCK))];
        loop {
            let block = match count {
                Some(count) => (count - sent).min(buf.len()),
                None => buf.len(),
            };
            if block == 0 {
                break;
            }
            // While the block is read, the transport's driver sends what the protocol
            // writes meanwhile (the write side is this task's again for the block).
            if let Target::Transport(lent) = target {
                lent.idle();
            }
            let n = if nonblocking {
                let window = &mut buf[..block];
                io_op(file, Direction::Read, || {
                    Ok(rustix::io::read(file, &mut *window)?)
                })
                .await?
            } else {
                // A blocking read (a file, or a pipe in blocking mode) runs on the executor,
                // with its own handle on the descriptor.
                let fd = match owned.take() {
                    Some(fd) => fd,
                    None => file.try_clone_to_owned()?,
                };
                let mut moved = std::mem::take(&mut buf);
                let (fd, moved, n) = to_thread(move || {
                    let n = loop {
                        match rustix::io::read(&fd, &mut moved[..block]) {
                            Err(Errno::INTR) => continue,
                            other => break other,
                        }
                    };
                    (fd, moved, n)
                })
                .await?;
                owned = Some(fd);
                buf = moved;
                n.map_err(io::Error::from)?
            };
            if let Target::Transport(lent) = target {
                lent.busy();
            }
            if n == 0 {
                break;
            }
            match target {
                Target::Sock(sock) => sock_sendall(sock, &buf[..n]).await?,
                Target::Writer(writer) => {
                    writer.write(&buf[..n]);
                    writer.drain().await?;
                }
                Target::Transport(lent) => {
                    if lent.transport().is_closing() {
                        return Err(transport_closing().into());
                    }
                    lent.push(&buf[..n]);
                    lent.flushed().await?;
                }
            }
            sent += n;
        }
        Ok::<_, Error>(())
    }
    .await;
    leave_position(file, offset, sent);
    result.map(|()| sent)
}

impl StreamWriter {
    /// Sends `file` on the writer's connection, from `offset`, `count` bytes or up to the end
    /// of the file (asyncio's `loop.sendfile(transport, file, offset, count)`); returns the
    /// bytes sent.
    ///
    /// First waits until everything written before has been sent; then, on a plain TCP or
    /// Unix socket connection with a regular file, the kernel sends the file (`sendfile(2)`).
    /// Otherwise — a pipe writer, a TLS layer, a file that is a pipe — the file is read in
    /// blocks of 256 KiB, each [`write`](StreamWriter::write)ten and
    /// [`drain`](StreamWriter::drain)ed (asyncio's `fallback=True`, its default). As in asyncio,
    /// the file's position is left at `offset` plus the bytes sent. Write nothing else while it
    /// runs.
    ///
    /// # Errors
    ///
    /// [`Error::Value`] for a zero `count` (asyncio's `ValueError`); [`Error::Io`] from the
    /// file or the connection (lost or closed).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropped part-way, part of the file has been sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    ///
    /// let path = std::env::temp_dir().join(format!("aio-writer-sendfile-{}", std::process::id()));
    /// std::fs::write(&path, b"headerBODY")?;
    /// let file = std::fs::File::open(&path)?;
    /// std::fs::remove_file(&path)?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let port = listener.local_addr()?.port();
    /// let peer = std::thread::spawn(move || {
    ///     let (mut conn, _) = listener.accept()?;
    ///     let mut got = Vec::new();
    ///     conn.read_to_end(&mut got).map(|_| got)
    /// });
    /// aio_task::run(async move {
    ///     let (_reader, writer) = aio_streams::open_connection("127.0.0.1", port).await?;
    ///     writer.write(b"GET ");
    ///     assert_eq!(writer.sendfile(&file, 6, None).await?, 4);
    ///     writer.close();
    ///     writer.wait_closed().await?;
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// assert_eq!(peer.join().unwrap()?, b"GET BODY");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn sendfile(
        &self,
        file: impl AsFd,
        offset: u64,
        count: Option<usize>,
    ) -> Result<usize, Error> {
        let file = file.as_fd();
        check_count(count)?;
        self.flushed().await?;
        if let Some(conn) = self.connection().filter(|conn| conn.layer().is_none()) {
            let sock = conn.socket().as_fd();
            match send_native(sock, Some(conn.registration()), file, offset, count).await {
                Ok(sent) => return Ok(sent),
                Err(Err(error)) => return Err(error),
                Err(Ok(NotAvailable(_))) => {}
            }
        }
        send_fallback(Target::Writer(self), file, offset, count).await
    }
}

fn transport_closing() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the transport is closing")
}

fn not_available(why: &str) -> Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("sendfile is not available: {why}"),
    )
    .into()
}

/// Resumes reading on drop if it was on (asyncio's `_sendfile_native` / fallback protocol).
struct ResumeReading<'a>(&'a Transport, bool);

impl Drop for ResumeReading<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0.resume_reading();
        }
    }
}

impl Transport {
    /// Sends `file` on the transport's connection, from `offset`, `count` bytes or up to the
    /// end of the file (asyncio's `loop.sendfile(transport, file, offset, count,
    /// fallback=True)`). Await it for the bytes sent.
    ///
    /// As asyncio: reading is paused while it runs (resumed after, if it was on); it first
    /// waits until everything written before is sent; then, on a plain TCP or Unix socket
    /// with a regular file, the kernel sends the file with `sendfile(2)` (the same loop as
    /// [`sock_sendfile`]), and a [`write`](Transport::write) meanwhile is refused —
    /// dropped and reported to the loop's exception handler, "unable to write; sendfile is
    /// in progress" (asyncio raises `RuntimeError`). Otherwise — a TLS layer, a write pipe
    /// transport, a file that is a pipe — the file is read in blocks of 256 KiB, each sent
    /// through the transport's buffer before the next is read (asyncio's fallback; writes
    /// made meanwhile go out as they do in asyncio: between blocks, and while the next block
    /// is read), unless
    /// [`fallback(false)`](TransportSendfile::fallback). The protocol's `pause_writing` /
    /// `resume_writing` are not called for the file's bytes. The file's position is left
    /// at `offset` plus the bytes sent.
    ///
    /// # Errors
    ///
    /// When awaited: [`Error::Value`] for a zero `count`; [`Error::InvalidState`] if the
    /// transport is closing ("Transport is closing"), is a read pipe transport, or runs
    /// another sendfile or a TLS upgrade; [`Error::Io`] from the file or the connection
    /// (closed or lost meanwhile), or of kind `Unsupported` when `sendfile(2)` cannot be
    /// used and `fallback(false)` was asked for.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropped part-way, part of the file has been sent (reading and
    /// writing are given back to the transport).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// # use aio_streams::{Protocol, Transport};
    /// struct Quiet;
    /// impl Protocol for Quiet {
    ///     fn data_received(&mut self, _: &[u8]) {}
    /// }
    ///
    /// let path = std::env::temp_dir().join(format!("aio-transport-sendfile-{}", std::process::id()));
    /// std::fs::write(&path, b"headerBODY")?;
    /// let file = std::fs::File::open(&path)?;
    /// std::fs::remove_file(&path)?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let port = listener.local_addr()?.port();
    /// let peer = std::thread::spawn(move || {
    ///     let (mut conn, _) = listener.accept()?;
    ///     let mut got = Vec::new();
    ///     conn.read_to_end(&mut got).map(|_| got)
    /// });
    /// aio_task::run(async move {
    ///     let transport = aio_streams::create_connection(|| Quiet, "127.0.0.1", port).await?;
    ///     transport.write(b"GET ");
    ///     assert_eq!(transport.sendfile(&file, 6, None).await?, 4);
    ///     transport.close();
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// assert_eq!(peer.join().unwrap()?, b"GET BODY");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sendfile<'a, F: AsFd>(
        &'a self,
        file: &'a F,
        offset: u64,
        count: Option<usize>,
    ) -> TransportSendfile<'a> {
        TransportSendfile {
            transport: self,
            file: file.as_fd(),
            offset,
            count,
            fallback: true,
        }
    }
}

/// A [`Transport::sendfile`] to await, with its options.
#[must_use = "nothing is sent until the future is awaited"]
pub struct TransportSendfile<'a> {
    transport: &'a Transport,
    file: BorrowedFd<'a>,
    offset: u64,
    count: Option<usize>,
    fallback: bool,
}

impl TransportSendfile<'_> {
    /// Whether to read and send when `sendfile(2)` cannot be used (asyncio's `fallback=`,
    /// default `true`). With `false`, that case is an error.
    ///
    /// # Examples
    ///
    /// ```
    /// # use aio_streams::{Protocol, Transport};
    /// struct Quiet;
    /// impl Protocol for Quiet {
    ///     fn data_received(&mut self, _: &[u8]) {}
    /// }
    /// let (pipe, _w) = std::io::pipe()?; // not a regular file: no sendfile(2)
    /// aio_task::run(async move {
    ///     let server = aio_streams::create_server(|| Quiet, "127.0.0.1", 0).await?;
    ///     let transport = aio_streams::create_connection(|| Quiet, "127.0.0.1", server.port().unwrap()).await?;
    ///     let refused = transport.sendfile(&pipe, 0, None).fallback(false).await;
    ///     assert!(matches!(refused, Err(aio_task::Error::Io(e)) if e.kind() == std::io::ErrorKind::Unsupported));
    ///     transport.close();
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fallback(mut self, fallback: bool) -> Self {
        self.fallback = fallback;
        self
    }
}

impl<'a> IntoFuture for TransportSendfile<'a> {
    type Output = Result<usize, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<usize, Error>> + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let TransportSendfile {
                transport,
                file,
                offset,
                count,
                fallback,
            } = self;
            check_count(count)?;
            if matches!(transport.inner.endpoint.0, Io::ReadPipe(_)) {
                return Err(Error::InvalidState(
                    "sendfile is not supported for a read pipe transport",
                ));
            }
            let lent = transport.lend()?;
            let _resume = ResumeReading(transport, transport.is_reading());
            transport.pause_reading();
            lent.flushed().await?;
            let plain = transport.connection().filter(|conn| conn.layer().is_none());
            let why = match plain {
                Some(conn) => {
                    lent.refuse_writes();
                    let sock = conn.socket().as_fd();
                    match send_native(sock, Some(conn.registration()), file, offset, count).await {
                        Ok(sent) => return Ok(sent),
                        Err(Err(error)) => return Err(error),
                        Err(Ok(NotAvailable(why))) => why,
                    }
                }
                None if transport.connection().is_some() => "the connection has a layer (TLS)",
                None => "not a socket",
            };
            if !fallback {
                return Err(not_available(why));
            }
            lent.allow_writes();
            send_fallback(Target::Transport(&lent), file, offset, count).await
        })
    }
}

impl fmt::Debug for TransportSendfile<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportSendfile")
            .field("transport", self.transport)
            .field("file", &self.file)
            .field("offset", &self.offset)
            .field("count", &self.count)
            .field("fallback", &self.fallback)
            .finish()
    }
}
