//! Connections and servers: `open_connection`, `start_server` and their Unix forms.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::rc::Weak;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use aio_reactor::AsyncFd;
use aio_scheduler::{ExceptionContext, get_running_loop, sleep};
use aio_task::{Error, TaskRef, create_task, to_thread};

use crate::socket::{Address, Connection, SharedConnection, SocketSource, StreamSocket};
use crate::writer;
use crate::{DEFAULT_LIMIT, StreamError, StreamReader, StreamWriter};

/// How long the accept loop backs off when the process is out of file descriptors
/// (asyncio's `ACCEPT_RETRY_DELAY`).
const ACCEPT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Registers a connected socket with the running loop.
pub(crate) fn connection(socket: StreamSocket) -> Result<Connection, Error> {
    let event_loop = get_running_loop()?;
    Ok(Connection::new(AsyncFd::new(event_loop.reactor(), socket)?))
}

/// Splits a connection into a reader (with buffer limit `limit`) and a writer. The
/// connection and its writer's state are one allocation, which both halves share.
fn split(conn: Connection, limit: usize) -> (StreamReader, StreamWriter, Rc<SharedConnection>) {
    let shared = Rc::new(writer::Inner::new(conn));
    let writer = StreamWriter::from_shared(shared.clone());
    let reader = StreamReader::from_socket(SocketSource(shared.clone()), limit);
    (reader, writer, shared)
}

/// asyncio's check of a `limit=` argument.
pub(crate) fn check_limit(limit: usize) -> Result<(), Error> {
    if limit == 0 {
        return Err(Error::Value("Limit cannot be <= 0"));
    }
    Ok(())
}

/// A connection being opened: the future [`open_connection`] and [`open_unix_connection`]
/// return. Await it for `(StreamReader, StreamWriter)`; before that,
/// [`limit`](OpenConnection::limit) sets the reader's buffer limit (asyncio's `limit=`).
/// Nothing happens until it is first polled.
///
/// # Cancel safety
///
/// Cancel safe. Dropping it before it completes abandons the attempt: a resolution running
/// on a worker thread finishes there and is discarded, a connect in progress is abandoned
/// and its socket closed, and nothing connects afterwards. The connect's success and the
/// returned halves come in the same poll, so a dropped future never loses an open
/// connection (a peer that had already accepted the abandoned connect sees it close). A
/// socket handed over with [`open_connection_sock`] belongs to the future: dropping it
/// closes the socket.
///
/// # Examples
///
/// ```
/// use aio_streams::{open_connection, start_server};
///
/// aio_task::run(async {
///     let server = start_server(
///         |_reader, writer| async move { writer.write(b"0123456789\n") },
///         "127.0.0.1",
///         0,
///     )
///     .await?;
///     let (reader, _writer) = open_connection("127.0.0.1", server.port().unwrap())
///         .limit(4)
///         .await?;
///     assert_eq!(reader.limit(), 4);
///     // A line longer than the limit is an error (asyncio's ValueError).
///     assert!(reader.readline().await.is_err());
///     server.close();
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[must_use = "a connection is opened only when the future is awaited"]
pub struct OpenConnection {
    target: Option<Target>,
    limit: usize,
    opening: Option<LocalBoxFuture<Result<(StreamReader, StreamWriter), Error>>>,
}

/// A boxed future of the loop's thread.
pub(crate) type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// Where a connection or a server goes.
pub(crate) enum Target {
    Tcp(String, u16),
    Unix(PathBuf),
    /// A socket made outside (asyncio's `sock=`), of the family the caller named; checked
    /// when the future is first polled.
    Sock(OwnedFd, Family),
}

/// The address family a `sock=` argument must have: TCP (`AF_INET` or `AF_INET6`) for
/// [`open_connection_sock`] / [`start_server_sock`], `AF_UNIX` for the Unix forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Inet,
    Unix,
}

/// A `sock=` argument that is not what the call needs: `InvalidInput`, saying what it is.
fn bad_sock(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// asyncio's check of a `sock=` argument ("A Stream Socket was expected"), and aio's of its
/// family: `fd` is a `SOCK_STREAM` socket of `family`.
fn check_stream_socket(fd: &OwnedFd, family: Family) -> io::Result<()> {
    use rustix::net::{AddressFamily, SocketType, sockopt};
    let kind = sockopt::socket_type(fd)
        .map_err(|errno| bad_sock(format!("sock is not a socket: {}", io::Error::from(errno))))?;
    if kind != SocketType::STREAM {
        return Err(bad_sock(format!(
            "A Stream Socket was expected, got a socket of type {}",
            kind.as_raw()
        )));
    }
    let domain = sockopt::socket_domain(fd)?;
    let (ok, expected) = match family {
        Family::Inet => (
            domain == AddressFamily::INET || domain == AddressFamily::INET6,
            "a TCP socket (AF_INET or AF_INET6)",
        ),
        Family::Unix => (domain == AddressFamily::UNIX, "a Unix socket (AF_UNIX)"),
    };
    if !ok {
        let got = match domain {
            AddressFamily::INET => "AF_INET".to_owned(),
            AddressFamily::INET6 => "AF_INET6".to_owned(),
            AddressFamily::UNIX => "AF_UNIX".to_owned(),
            other => format!("address family {}", other.as_raw()),
        };
        return Err(bad_sock(format!("{expected} was expected, got {got}")));
    }
    Ok(())
}

/// Takes over a connected stream socket for [`open_connection_sock`]: checked, made
/// non-blocking, `TCP_NODELAY` for TCP (as asyncio's transport sets it).
pub(crate) fn adopt_stream(fd: OwnedFd, family: Family) -> io::Result<StreamSocket> {
    check_stream_socket(&fd, family)?;
    if rustix::net::sockopt::socket_acceptconn(&fd)? {
        return Err(bad_sock(
            "sock is a listening socket; a connected one was expected".to_owned(),
        ));
    }
    match rustix::net::getpeername(&fd) {
        Ok(_) => {}
        Err(rustix::io::Errno::NOTCONN) => {
            return Err(bad_sock("sock is not connected".to_owned()));
        }
        Err(errno) => return Err(errno.into()),
    }
    Ok(match family {
        Family::Inet => {
            let stream = TcpStream::from(fd);
            stream.set_nonblocking(true)?;
            stream.set_nodelay(true)?;
            stream.into()
        }
        Family::Unix => {
            let stream = UnixStream::from(fd);
            stream.set_nonblocking(true)?;
            stream.into()
        }
    })
}

impl OpenConnection {
    fn new(target: Target) -> OpenConnection {
        OpenConnection {
            target: Some(target),
            limit: DEFAULT_LIMIT,
            opening: None,
        }
    }

    /// The reader's buffer limit (asyncio's `limit=`, default [`DEFAULT_LIMIT`], 64 KiB).
    /// Zero is refused when the future is awaited, as asyncio refuses `limit <= 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::{open_connection, start_server};
    ///
    /// aio_task::run(async {
    ///     let server = start_server(|_, _| async {}, "127.0.0.1", 0).await?;
    ///     let port = server.port().unwrap();
    ///     let (reader, _) = open_connection("127.0.0.1", port).limit(1024).await?;
    ///     assert_eq!(reader.limit(), 1024);
    ///     assert!(open_connection("127.0.0.1", port).limit(0).await.is_err());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn limit(mut self, limit: usize) -> OpenConnection {
        self.limit = limit;
        self
    }
}

impl Future for OpenConnection {
    type Output = Result<(StreamReader, StreamWriter), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let limit = this.limit;
        let opening = this.opening.get_or_insert_with(|| {
            let target = this.target.take();
            Box::pin(async move {
                check_limit(limit)?;
                let conn = match target {
                    Some(Target::Tcp(host, port)) => connect_tcp(&host, port).await?,
                    Some(Target::Unix(path)) => connection(connect_unix(&path).await?.into())?,
                    Some(Target::Sock(fd, family)) => connection(adopt_stream(fd, family)?)?,
                    None => unreachable!("the target is taken only here, once"),
                };
                let (reader, writer, _) = split(conn, limit);
                Ok((reader, writer))
            })
        });
        opening.as_mut().poll(cx)
    }
}

impl fmt::Debug for OpenConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenConnection")
            .field("limit", &self.limit)
            .field("started", &self.opening.is_some())
            .finish()
    }
}

/// Connects to `host:port` over TCP and returns the two halves of the connection (asyncio's
/// `open_connection`). Name resolution runs on the default executor (an IP literal skips
/// it, as in asyncio); the connect itself is
/// non-blocking, on the loop, trying each resolved address in turn — so dropping the future
/// (a timeout, a cancelled task) abandons it at once. `TCP_NODELAY` is set, as asyncio does.
/// The reader's buffer limit is 64 KiB unless [`OpenConnection::limit`] says otherwise.
///
/// # Errors
///
/// [`Error::Io`] for a failed resolution, a refused or unreachable connection (naming the
/// address; "Multiple exceptions: ..." when every resolved address failed differently);
/// [`Error::Value`] for a zero limit; [`Error::Runtime`] outside a running loop.
///
/// # Examples
///
/// ```
/// use aio_streams::{open_connection, start_server};
///
/// aio_task::run(async {
///     // An echo server on a free port.
///     let server = start_server(
///         |reader, writer| async move {
///             let data = reader.read(100).await.unwrap();
///             writer.write(&data);
///             writer.close();
///         },
///         "127.0.0.1",
///         0,
///     )
///     .await?;
///     let port = server.port().unwrap();
///
///     let (reader, writer) = open_connection("127.0.0.1", port).await?;
///     writer.write(b"hello");
///     writer.drain().await?;
///     assert_eq!(reader.read(100).await?, b"hello");
///     assert!(writer.peername().is_some());
///     writer.close();
///     writer.wait_closed().await?;
///     server.close();
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn open_connection(host: &str, port: u16) -> OpenConnection {
    OpenConnection::new(Target::Tcp(host.to_owned(), port))
}

/// Resolves `host` off the loop (asyncio runs getaddrinfo on a thread too), without
/// duplicates, in the resolver's order. An IP literal is its own address, with no thread
/// and no resolver (asyncio's `_ipaddr_info`).
pub(crate) async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
    if let Some(addr) = ip_literal(host, port) {
        return Ok(vec![addr]);
    }
    let target = (host.to_owned(), port);
    let addrs: Vec<SocketAddr> =
        to_thread(move || target.to_socket_addrs().map(Iterator::collect)).await??;
    let mut unique = Vec::with_capacity(addrs.len());
    for addr in addrs {
        if !unique.contains(&addr) {
            unique.push(addr);
        }
    }
    Ok(unique)
}

/// `host` as an IP address, if it is one: IPv4 dotted quad, IPv6 without brackets (what
/// `inet_pton` takes, as asyncio's `_ipaddr_info` checks), and IPv6 with a scope id as
/// `getaddrinfo` reads it — a number for any address, an interface name for a link-local
/// one. Anything else (`localhost`, `127.1`, `[::1]`) is for the resolver.
fn ip_literal(host: &str, port: u16) -> Option<SocketAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, port));
    }
    let (ip, scope) = host.split_once('%')?;
    let ip: Ipv6Addr = ip.parse().ok()?;
    let numeric = !scope.is_empty() && scope.bytes().all(|b| b.is_ascii_digit());
    let scope_id = if numeric {
        // Too large for an index: left to getaddrinfo, which refuses it.
        scope.parse::<u32>().ok()?
    } else if scope.contains('\0') {
        return None;
    } else if ip.is_unicast_link_local() || ip.segments()[0] & 0xff0f == 0xff02 {
        // glibc's getaddrinfo takes an interface name only for a link-local address
        // (`fe80::/10` or a link-local multicast group, `ff02::/16` whatever its flags);
        // `+5` is a name to it, not a number.
        interface_index(scope)?
    } else {
        return None;
    };
    Some(SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope_id)))
}

/// The index of the network interface `name` (`if_nametoindex`: an ioctl on a throwaway
/// socket); `None` if there is no such interface.
fn interface_index(name: &str) -> Option<u32> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let socket = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .ok()?;
    rustix::net::netdevice::name_to_index(&socket, name).ok()
}

/// Resolves `host` and connects to each address in turn until one accepts.
pub(crate) async fn connect_tcp(host: &str, port: u16) -> Result<Connection, Error> {
    // The connects run on the loop, so dropping this future abandons them at once.
    let mut errors = Vec::new();
    for addr in resolve(host, port).await? {
        match connect(addr).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return connection(stream.into());
            }
            Err(error) => errors.push(io::Error::new(
                error.kind(),
                format!("Connect call failed {addr}: {error}"),
            )),
        }
    }
    Err(combine_connect_errors(errors)
        .unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host}:{port} did not resolve"),
            )
        })
        .into())
}

/// asyncio's `create_connection` report when every address failed: the error itself if they
/// all say the same, else "Multiple exceptions: a, b" (with the first one's kind).
fn combine_connect_errors(errors: Vec<io::Error>) -> Option<io::Error> {
    let first = errors.first()?;
    let message = first.to_string();
    if errors.iter().all(|e| e.to_string() == message) {
        return errors.into_iter().next();
    }
    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
    Some(io::Error::new(
        first.kind(),
        format!("Multiple exceptions: {}", all.join(", ")),
    ))
}

/// A non-blocking TCP connect on the loop's reactor.
async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let socket = rustix::net::socket_with(family, SocketType::STREAM, flags, None)?;
    match rustix::net::connect(&socket, &addr) {
        Ok(()) => return Ok(TcpStream::from(socket)),
        Err(rustix::io::Errno::INPROGRESS) => {}
        Err(errno) => return Err(errno.into()),
    }
    let event_loop = get_running_loop().map_err(io::Error::other)?;
    let pending = AsyncFd::new(event_loop.reactor(), socket)?;
    // Writable means the connect finished, one way or the other: SO_ERROR tells which, and
    // readiness may be spurious (it starts set), so "not connected yet" waits again.
    poll_fn(|cx| {
        pending.registration().poll_write_with(cx, || {
            let fd = pending.get_ref();
            if let Err(errno) = rustix::net::sockopt::socket_error(fd)? {
                return Err(errno.into());
            }
            match rustix::net::getpeername(fd) {
                Ok(_) => Ok(()),
                Err(rustix::io::Errno::NOTCONN) => Err(io::ErrorKind::WouldBlock.into()),
                Err(errno) => Err(errno.into()),
            }
        })
    })
    .await?;
    Ok(TcpStream::from(pending.into_inner()))
}

/// Connects to the Unix socket at `path` (asyncio's `open_unix_connection`). The connect is
/// non-blocking, on the loop; while the listener's backlog is full it is retried, and
/// dropping the future abandons it.
///
/// # Errors
///
/// [`Error::Io`] if nothing listens there (the message names the path); [`Error::Value`] for
/// a zero [`limit`](OpenConnection::limit); [`Error::Runtime`] outside a running loop.
///
/// # Examples
///
/// ```
/// use aio_streams::{open_unix_connection, start_unix_server};
///
/// let path = std::env::temp_dir().join(format!("aio-doc-{}.sock", std::process::id()));
/// aio_task::run(async move {
///     let server = start_unix_server(
///         |reader, writer| async move {
///             let line = reader.readline().await.unwrap();
///             writer.write(&line);
///             writer.close();
///         },
///         &path,
///     )
///     .await?;
///     let (reader, writer) = open_unix_connection(&path).await?;
///     writer.write(b"over unix\n");
///     assert_eq!(reader.readline().await?, b"over unix\n");
///     server.close();
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn open_unix_connection(path: impl AsRef<Path>) -> OpenConnection {
    OpenConnection::new(Target::Unix(path.as_ref().to_owned()))
}

/// Opens streams on a TCP socket that is already connected (asyncio's
/// `open_connection(sock=...)`): a [`std::net::TcpStream`], or an [`OwnedFd`] holding one
/// (a socket inherited, or made with options aio does not set). aio takes it over: it is made
/// non-blocking and `TCP_NODELAY` is set, as on the connections aio opens itself.
/// [`OpenConnection::limit`] applies as for [`open_connection`].
///
/// The socket is checked when the future is first polled (dropping the future before that
/// closes it). asyncio checks only that it is a stream socket; aio checks its family and
/// that it is connected too, so a mistake is an error here rather than a failed read later.
///
/// # Errors
///
/// [`Error::Io`] of kind [`InvalidInput`](io::ErrorKind::InvalidInput) if `sock` is not a
/// socket, not a stream socket ("A Stream Socket was expected"), not TCP (a Unix socket:
/// use [`open_unix_connection_sock`]), a listening socket, or not connected;
/// [`Error::Value`] for a zero limit; [`Error::Runtime`] outside a running loop.
///
/// # Examples
///
/// ```
/// use aio_streams::{open_connection_sock, start_server};
///
/// aio_task::run(async {
///     let server = start_server(|_, writer| async move { writer.write(b"hi\n") }, "127.0.0.1", 0)
///         .await?;
///     // A socket connected elsewhere (blocking, here: aio makes it non-blocking).
///     let stream = std::net::TcpStream::connect(("127.0.0.1", server.port().unwrap()))?;
///     let (reader, _writer) = open_connection_sock(stream).await?;
///     assert_eq!(reader.readline().await?, b"hi\n");
///     // A socket that is not connected is refused.
///     let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
///     assert!(open_connection_sock(listener).await.is_err());
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn open_connection_sock(sock: impl Into<OwnedFd>) -> OpenConnection {
    OpenConnection::new(Target::Sock(sock.into(), Family::Inet))
}

/// Opens streams on a Unix socket that is already connected (asyncio's
/// `open_unix_connection(sock=...)`): a [`UnixStream`] (one end of
/// [`UnixStream::pair`], say), or an [`OwnedFd`] holding one. It is made non-blocking;
/// [`OpenConnection::limit`] applies. Checked as [`open_connection_sock`] checks a TCP socket.
///
/// # Errors
///
/// [`Error::Io`] of kind [`InvalidInput`](io::ErrorKind::InvalidInput) if `sock` is not a
/// connected Unix stream socket (a TCP socket: use [`open_connection_sock`]);
/// [`Error::Value`] for a zero limit; [`Error::Runtime`] outside a running loop.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use aio_streams::open_unix_connection_sock;
///
/// let (ours, mut theirs) = std::os::unix::net::UnixStream::pair()?;
/// theirs.write_all(b"ping\n")?;
/// aio_task::run(async move {
///     let (reader, writer) = open_unix_connection_sock(ours).await?;
///     assert_eq!(reader.readline().await?, b"ping\n");
///     writer.write(b"pong\n");
///     writer.close();
///     writer.wait_closed().await?;
///     Ok::<_, aio_task::Error>(())
/// })??;
/// let mut reply = String::new();
/// theirs.read_to_string(&mut reply)?;
/// assert_eq!(reply, "pong\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open_unix_connection_sock(sock: impl Into<OwnedFd>) -> OpenConnection {
    OpenConnection::new(Target::Sock(sock.into(), Family::Unix))
}

/// A non-blocking Unix connect on the loop. A Unix socket does not connect "in progress":
/// with the listener's backlog full it refuses with `EAGAIN` and must be asked again, so the
/// connect is retried with a short, growing pause (asyncio retries it when the socket turns
/// writable, which a Unix socket waiting for a backlog slot never reports). Dropping the
/// future abandons it at once.
pub(crate) async fn connect_unix(path: &Path) -> io::Result<UnixStream> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let addr = SocketAddrUnix::new(path)?;
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let socket = rustix::net::socket_with(AddressFamily::UNIX, SocketType::STREAM, flags, None)?;
    let mut pause = Duration::from_millis(1);
    loop {
        match rustix::net::connect(&socket, &addr) {
            Ok(()) => return Ok(UnixStream::from(socket)),
            Err(rustix::io::Errno::AGAIN) => {
                sleep(pause).await.map_err(io::Error::other)?;
                pause = (pause * 2).min(UNIX_CONNECT_MAX_PAUSE);
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(errno) => {
                let error = io::Error::from(errno);
                return Err(io::Error::new(
                    error.kind(),
                    format!("Connect call failed {}: {error}", path.display()),
                ));
            }
        }
    }
}

/// The longest pause between two tries of a Unix connect to a full backlog.
const UNIX_CONNECT_MAX_PAUSE: Duration = Duration::from_millis(50);

/// A listening socket.
pub(crate) enum Listener {
    Tcp(TcpListener),
    /// With the path of the socket file aio made, removed when the server closes; `None`
    /// for a socket handed over with [`start_unix_server_sock`], whose file is the caller's.
    Unix(UnixListener, Option<PathBuf>),
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix(l, _) => l.as_fd(),
        }
    }
}

impl Listener {
    fn accept(&self) -> io::Result<StreamSocket> {
        match self {
            Listener::Tcp(l) => {
                let (stream, _) = l.accept()?;
                stream.set_nonblocking(true)?;
                stream.set_nodelay(true)?;
                Ok(stream.into())
            }
            Listener::Unix(l, _) => {
                let (stream, _) = l.accept()?;
                stream.set_nonblocking(true)?;
                Ok(stream.into())
            }
        }
    }

    fn address(&self) -> Option<Address> {
        match self {
            Listener::Tcp(l) => l.local_addr().ok().map(Address::Inet),
            Listener::Unix(_, Some(path)) => Some(Address::Unix(path.display().to_string())),
            Listener::Unix(l, None) => crate::socket::unix_path(l.local_addr()),
        }
    }
}

/// A running server (asyncio's `Server`), from [`start_server`] or [`start_unix_server`].
///
/// It accepts connections on every socket it bound as soon as it is created, each handled
/// by `handler(reader, writer)` in its own task: a handler that panics affects only its own
/// connection (the panic is reported through the loop's exception handler). If the process
/// runs out of file descriptors, the accept loop reports it once, retries every second (as
/// asyncio does), and reports with the number of failed attempts when accepting works again
/// (the first retry that does not fail for want of descriptors, even with nothing pending).
///
/// As in asyncio, the server counts a connection from its accept until its transport
/// closes — the writer closed or aborted, a read or write failed, or both halves dropped —
/// not just while its handler runs: [`close_clients`](Server::close_clients) and
/// [`abort_clients`](Server::abort_clients) reach connections whose halves a handler handed
/// on, and [`wait_closed`](Server::wait_closed) waits for them.
///
/// Two differences follow from aio's streams. A connection the peer resets is noticed when
/// it is next read or written: aio reads only when asked (see [`StreamReader`]), where
/// asyncio's transport reads all the time. And dropping the writer alone leaves the
/// connection open while its reader lives (Rust drops `let (reader, _) = ...`'s writer at
/// once); asyncio's `StreamWriter.__del__` closes the transport.
///
/// # Examples
///
/// ```
/// use aio_streams::{open_connection, start_server};
///
/// aio_task::run(async {
///     let server = start_server(|_, writer| async move { writer.write(b"hi\n") }, "127.0.0.1", 0)
///         .await?;
///     let (reader, _writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
///     assert_eq!(reader.readline().await?, b"hi\n");
///     server.close();
///     assert!(!server.is_serving());
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub struct Server {
    state: Rc<ServerState>,
}

pub(crate) struct ServerState {
    /// The listening sockets; emptied by `close`.
    listeners: RefCell<Vec<AsyncFd<Listener>>>,
    sockets: Vec<Address>,
    /// One accept loop per listening socket.
    accept_tasks: RefCell<Vec<TaskRef>>,
    /// The connections not closed yet (asyncio's `Server._clients`).
    clients: RefCell<Clients>,
    closed: Cell<bool>,
    /// A `serve_forever` is running.
    serving_forever: Cell<bool>,
    /// Tasks in `wait_closed` or `serve_forever`.
    waiters: RefCell<Vec<(u64, Waker)>>,
    /// Names the next `ServerWait`'s entry in `waiters`.
    next_waiter: Cell<u64>,
}

impl ServerState {
    /// asyncio's `Server._attach`: counts `client` until the returned link is dropped.
    pub(crate) fn attach(state: &Rc<ServerState>, client: Client) -> ServerLink {
        let slot = state.clients.borrow_mut().insert(client);
        ServerLink {
            state: state.clone(),
            slot,
        }
    }

    fn wake(&self) {
        for (_, waker) in self.waiters.take() {
            waker.wake();
        }
    }

    /// asyncio's `_detach`: a connection closed.
    fn detach(&self, slot: usize) {
        let left = {
            let mut clients = self.clients.borrow_mut();
            clients.remove(slot);
            clients.len()
        };
        if left == 0 && self.closed.get() {
            self.wake();
        }
    }

    /// The open connections, for `close_clients` / `abort_clients` (a copy, as asyncio's
    /// `self._clients.copy()`: closing one detaches it from the list).
    fn open_clients(&self) -> Vec<Client> {
        let clients = self.clients.borrow();
        let streams = clients.streams.slots.iter().flatten();
        let transports = clients.transports.slots.iter().flatten();
        streams
            .map(|w| Client::Stream(w.clone()))
            .chain(transports.map(|w| Client::Transport(w.clone())))
            .collect()
    }
}

/// A connection the server counts: a weak handle, so the server never keeps one open.
#[derive(Clone)]
pub(crate) enum Client {
    /// A streams connection (its reader and writer share this state).
    Stream(Weak<SharedConnection>),
    /// A protocol's transport.
    Transport(Weak<crate::transport::Inner>),
}

impl Client {
    /// Closes (or aborts) the connection through its writer or transport, so buffered data
    /// is flushed first (or dropped, for an abort) and the socket is then shut down, as
    /// asyncio closes the transport.
    fn close(&self, abort: bool) {
        match self {
            Client::Stream(shared) => {
                if let Some(shared) = shared.upgrade() {
                    let writer = StreamWriter::from_shared(shared);
                    if abort {
                        writer.abort();
                    } else {
                        writer.close();
                    }
                }
            }
            Client::Transport(inner) => {
                if let Some(inner) = inner.upgrade() {
                    let transport = crate::Transport { inner };
                    if abort {
                        transport.abort();
                    } else {
                        transport.close();
                    }
                }
            }
        }
    }
}

/// The server's open connections, in slots a connection's [`ServerLink`] names: one table
/// per kind, so that a slot is a bare 8-byte `Weak` (an enum of the two would be 16 bytes per
/// connection); the low bit of a slot number says which table.
#[derive(Default)]
struct Clients {
    streams: Slots<Weak<SharedConnection>>,
    transports: Slots<Weak<crate::transport::Inner>>,
}

impl Clients {
    fn insert(&mut self, client: Client) -> usize {
        match client {
            Client::Stream(weak) => self.streams.insert(weak) << 1,
            Client::Transport(weak) => (self.transports.insert(weak) << 1) | 1,
        }
    }

    fn remove(&mut self, slot: usize) {
        if slot & 1 == 0 {
            self.streams.remove(slot >> 1);
        } else {
            self.transports.remove(slot >> 1);
        }
    }

    fn get(&self, slot: usize) -> Option<Client> {
        if slot & 1 == 0 {
            self.streams.slots[slot >> 1].clone().map(Client::Stream)
        } else {
            self.transports.slots[slot >> 1]
                .clone()
                .map(Client::Transport)
        }
    }

    fn len(&self) -> usize {
        self.streams.len() + self.transports.len()
    }
}

/// Slots with a free list.
struct Slots<T> {
    slots: Vec<Option<T>>,
    free: Vec<usize>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slots<T> {
    fn insert(&mut self, value: T) -> usize {
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(value);
                slot
            }
            None => {
                self.slots.push(Some(value));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, slot: usize) {
        if self.slots[slot].take().is_some() {
            self.free.push(slot);
        }
    }

    fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

/// A connection's place in its server's list. Dropping it — when the connection closes,
/// fails, or is dropped — detaches the connection (asyncio's `Server._detach`).
pub(crate) struct ServerLink {
    state: Rc<ServerState>,
    slot: usize,
}

impl Drop for ServerLink {
    fn drop(&mut self) {
        self.state.detach(self.slot);
    }
}

/// How a server is set up: the future [`start_server`] and [`start_unix_server`] return.
/// Await it for the [`Server`]; before that, [`limit`](StartServer::limit) sets every
/// connection reader's buffer limit (asyncio's `limit=`) and
/// [`backlog`](StartServer::backlog) the listen backlog. Nothing is bound until it is first
/// polled.
///
/// # Cancel safety
///
/// Dropping it before it completes binds nothing: the TCP addresses are bound only after
/// the name resolution, in the poll that returns the [`Server`], so a server future dropped
/// while resolving leaves no socket listening (a resolution already running on a worker
/// thread finishes there and is discarded). A socket handed over with
/// [`start_server_sock`] or [`start_unix_server_sock`] belongs to the future: dropping it
/// before it completes closes the socket. Cancel safe.
///
/// # Examples
///
/// ```
/// use aio_streams::{open_connection, start_server};
///
/// aio_task::run(async {
///     let server = start_server(
///         |reader, writer| async move {
///             // Lines over 8 bytes are refused by this server's readers.
///             let answer: &[u8] = match reader.readline().await {
///                 Ok(_) => b"ok\n",
///                 Err(_) => b"too long\n",
///             };
///             writer.write(answer);
///         },
///         "127.0.0.1",
///         0,
///     )
///     .limit(8)
///     .backlog(16)
///     .await?;
///     let (reader, writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
///     writer.write(b"a line longer than eight bytes\n");
///     assert_eq!(reader.readline().await?, b"too long\n");
///     server.close();
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[must_use = "a server starts only when the future is awaited"]
pub struct StartServer<H> {
    setup: Option<(H, Target)>,
    limit: usize,
    backlog: i32,
    reuse: Reuse,
    starting: Option<LocalBoxFuture<Result<Server, Error>>>,
}

/// The options a TCP server sets on the sockets it binds (asyncio's `reuse_address=` and
/// `reuse_port=`); `None` is "not given".
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Reuse {
    pub(crate) address: Option<bool>,
    pub(crate) port: Option<bool>,
}

impl Reuse {
    /// Refuses the options for a server that binds no TCP socket itself.
    pub(crate) fn refuse(self) -> Result<(), Error> {
        if self.address.is_some() || self.port.is_some() {
            return Err(Error::Value(
                "reuse_address and reuse_port apply only to the TCP sockets start_server binds \
                 (not to a Unix server or a sock= listener)",
            ));
        }
        Ok(())
    }
}

impl<H> StartServer<H> {
    fn new(handler: H, target: Target) -> StartServer<H> {
        StartServer {
            setup: Some((handler, target)),
            limit: DEFAULT_LIMIT,
            backlog: BACKLOG,
            reuse: Reuse::default(),
            starting: None,
        }
    }

    /// The buffer limit of every connection's reader (asyncio's `limit=`, default
    /// [`DEFAULT_LIMIT`], 64 KiB). Zero is refused when the future is awaited, as asyncio
    /// refuses `limit <= 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::start_server;
    ///
    /// aio_task::run(async {
    ///     let server = start_server(|_, _| async {}, "127.0.0.1", 0).limit(16).await?;
    ///     assert!(server.is_serving());
    ///     // Zero is refused, as asyncio refuses limit <= 0.
    ///     let zero = start_server(|_, _| async {}, "127.0.0.1", 0).limit(0).await;
    ///     assert!(matches!(zero, Err(aio_task::Error::Value(_))));
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn limit(mut self, limit: usize) -> StartServer<H> {
        self.limit = limit;
        self
    }

    /// How many connections may wait to be accepted (asyncio's `backlog=`; aio's default is
    /// 1024, the kernel caps it at `net.core.somaxconn`).
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let server = aio_streams::start_server(|_, _| async {}, "127.0.0.1", 0)
    ///         .backlog(8)
    ///         .await?;
    ///     assert!(server.is_serving());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn backlog(mut self, backlog: u32) -> StartServer<H> {
        self.backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        self
    }

    /// Whether the listening sockets are bound with `SO_REUSEADDR` (asyncio's
    /// `reuse_address=`; default `true`, asyncio's default on Unix): a port whose earlier
    /// connections linger in `TIME_WAIT` can be bound again at once. It never lets two
    /// servers listen on one port (that is [`reuse_port`](StartServer::reuse_port)).
    ///
    /// Only for [`start_server`]: on a Unix server or a `sock=` server (which binds no
    /// socket itself) setting it is refused with [`Error::Value`] when the future is awaited
    /// (asyncio's `create_unix_server` has no such argument, and its `create_server` ignores
    /// it with `sock=`).
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let server = aio_streams::start_server(|_, _| async {}, "127.0.0.1", 0)
    ///         .reuse_address(false)
    ///         .await?;
    ///     assert!(server.is_serving());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn reuse_address(mut self, reuse: bool) -> StartServer<H> {
        self.reuse.address = Some(reuse);
        self
    }

    /// Whether the listening sockets are bound with `SO_REUSEPORT` (asyncio's
    /// `reuse_port=`; default `false`): several servers — in other loops, threads or
    /// processes of the same user — can then listen on the same address and port, each
    /// with `reuse_port(true)`, and the kernel spreads incoming connections among them.
    /// Without it a second server on a port in use fails with "address already in use".
    ///
    /// Only for [`start_server`]: refused on a Unix server or a `sock=` server, as
    /// [`reuse_address`](StartServer::reuse_address) is.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::start_server;
    ///
    /// aio_task::run(async {
    ///     let first = start_server(|_, _| async {}, "127.0.0.1", 0).reuse_port(true).await?;
    ///     let port = first.port().unwrap();
    ///     // A second server on the same port: allowed, as both asked for it.
    ///     let second = start_server(|_, _| async {}, "127.0.0.1", port).reuse_port(true).await?;
    ///     assert_eq!(second.port(), Some(port));
    ///     // One that did not ask is refused.
    ///     assert!(start_server(|_, _| async {}, "127.0.0.1", port).await.is_err());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn reuse_port(mut self, reuse: bool) -> StartServer<H> {
        self.reuse.port = Some(reuse);
        self
    }
}

impl<H, Fut> Future for StartServer<H>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output: HandlerOutcome> + 'static,
{
    type Output = Result<Server, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let (limit, backlog, reuse) = (this.limit, this.backlog, this.reuse);
        let starting = this.starting.get_or_insert_with(|| {
            let setup = this.setup.take();
            Box::pin(async move {
                let Some((handler, target)) = setup else {
                    unreachable!("the setup is taken only here, once")
                };
                check_limit(limit)?;
                let listeners = match target {
                    Target::Tcp(host, port) => listen_tcp(&host, port, backlog, reuse).await?,
                    Target::Unix(path) => {
                        reuse.refuse()?;
                        vec![listen_unix(path, backlog)?]
                    }
                    Target::Sock(fd, family) => {
                        reuse.refuse()?;
                        vec![adopt_listener(fd, family, backlog)?]
                    }
                };
                let on_accept = StreamHandler {
                    handler: Rc::new(handler),
                    limit,
                };
                serve(listeners, on_accept, backlog)
            })
        });
        starting.as_mut().poll(cx)
    }
}

// `H` is only ever moved, never pinned: the future is `Unpin` whatever the handler.
impl<H> Unpin for StartServer<H> {}

impl<H> fmt::Debug for StartServer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartServer")
            .field("limit", &self.limit)
            .field("backlog", &self.backlog)
            .field("reuse_address", &self.reuse.address)
            .field("reuse_port", &self.reuse.port)
            .field("started", &self.starting.is_some())
            .finish()
    }
}

/// Starts a TCP server on `host:port` that runs `handler(reader, writer)` for every
/// connection (asyncio's `start_server`).
///
/// `host` is resolved off the loop, and the server listens on **every** address it resolves
/// to, as asyncio does (`"localhost"` may give `127.0.0.1` and `::1`); `""` means all
/// interfaces (`0.0.0.0` and `::`). Port 0 picks a free port per socket (see
/// [`Server::sockets`]). IPv6 sockets are IPv6-only, so the two families never collide. An
/// address the machine does not have (`EADDRNOTAVAIL`, an IPv6 address on a host without
/// IPv6) is skipped, as asyncio 3.13 skips it; any other bind failure fails the whole call
/// and closes the sockets bound so far.
///
/// Each connection's handler runs as a task of its own. A handler that panics (in its body
/// or before its future first runs), returns `Err` (see [`HandlerOutcome`]) or is cancelled
/// fails only its own connection: a panic or `Err` goes to the loop's exception handler as
/// "Unhandled exception in client_connected_cb" (a cancellation is not reported, as in
/// asyncio), the connection is closed, and the server keeps accepting. A handler that
/// returns normally leaves its connection as it is: it closes when the halves are closed or
/// dropped.
///
/// # Errors
///
/// [`Error::Io`] if `host` does not resolve, or an address cannot be bound ("error while
/// attempting to bind on address ..."), or none could; [`Error::Value`] for a zero
/// [`limit`](StartServer::limit); [`Error::Runtime`] outside a running loop.
///
/// # Examples
///
/// ```
/// use aio_streams::{open_connection, start_server};
///
/// aio_task::run(async {
///     // An upper-casing line server.
///     let server = start_server(
///         |reader, writer| async move {
///             let line = reader.readline().await?;
///             writer.write(&line.to_ascii_uppercase());
///             Ok::<_, aio_streams::StreamError>(())
///         },
///         "127.0.0.1",
///         0,
///     )
///     .await?;
///     let (reader, writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
///     writer.write(b"shout\n");
///     assert_eq!(reader.readline().await?, b"SHOUT\n");
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn start_server<H, Fut>(handler: H, host: &str, port: u16) -> StartServer<H>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output: HandlerOutcome> + 'static,
{
    StartServer::new(handler, Target::Tcp(host.to_owned(), port))
}

/// How many connections may wait to be accepted by default (the kernel caps it at
/// `somaxconn`). asyncio uses 100 and std 128; tokio's 1024 survives a burst of a thousand
/// connects.
pub(crate) const BACKLOG: i32 = 1024;

/// Binds and listens on every address `host` names (see [`start_server`]).
pub(crate) async fn listen_tcp(
    host: &str,
    port: u16,
    backlog: i32,
    reuse: Reuse,
) -> Result<Vec<Listener>, Error> {
    let addrs = if host.is_empty() {
        // asyncio's `host=''`: every interface, in both families.
        vec![
            SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, port)),
            SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)),
        ]
    } else {
        resolve(host, port).await?
    };
    let mut listeners = Vec::with_capacity(addrs.len());
    for addr in addrs {
        match listen(addr, backlog, reuse) {
            Ok(listener) => listeners.push(Listener::Tcp(listener)),
            // The family is not enabled here (asyncio 3.13, bpo-30945): skip the address.
            Err(error) if family_unavailable(&error) => {}
            // Dropping `listeners` closes the sockets bound so far.
            Err(error) => {
                return Err(io::Error::new(
                    error.kind(),
                    format!("error while attempting to bind on address {addr}: {error}"),
                )
                .into());
            }
        }
    }
    if listeners.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("no address of {host}:{port} could be bound"),
        )
        .into());
    }
    Ok(listeners)
}

/// A non-blocking listening socket with `SO_REUSEADDR` unless `reuse_address(false)`
/// (asyncio's default on Unix), `SO_REUSEPORT` if asked for, and `IPV6_V6ONLY` for IPv6
/// (asyncio's too: the IPv4 socket serves IPv4).
fn listen(addr: SocketAddr, backlog: i32, reuse: Reuse) -> io::Result<TcpListener> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let socket = rustix::net::socket_with(family, SocketType::STREAM, flags, None)?;
    if reuse.address.unwrap_or(true) {
        rustix::net::sockopt::set_socket_reuseaddr(&socket, true)?;
    }
    if reuse.port == Some(true) {
        rustix::net::sockopt::set_socket_reuseport(&socket, true)?;
    }
    if addr.is_ipv6() {
        rustix::net::sockopt::set_ipv6_v6only(&socket, true)?;
    }
    rustix::net::bind(&socket, &addr)?;
    rustix::net::listen(&socket, backlog)?;
    Ok(TcpListener::from(socket))
}

/// A non-blocking listening Unix socket at `path`.
pub(crate) fn listen_unix(path: PathBuf, backlog: i32) -> io::Result<Listener> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let addr = SocketAddrUnix::new(&path)?;
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let socket = rustix::net::socket_with(AddressFamily::UNIX, SocketType::STREAM, flags, None)?;
    rustix::net::bind(&socket, &addr)?;
    rustix::net::listen(&socket, backlog)?;
    Ok(Listener::Unix(UnixListener::from(socket), Some(path)))
}

/// Takes over a listening (or bound) socket for [`start_server_sock`] and
/// [`start_unix_server_sock`]: checked, listening with `backlog` (asyncio calls `listen` on
/// a `sock=` socket too, which also sets the backlog of one already listening), made
/// non-blocking.
pub(crate) fn adopt_listener(fd: OwnedFd, family: Family, backlog: i32) -> io::Result<Listener> {
    check_stream_socket(&fd, family)?;
    if !rustix::net::sockopt::socket_acceptconn(&fd)? && rustix::net::getpeername(&fd).is_ok() {
        return Err(bad_sock(
            "sock is a connected socket; a listening (or bound) one was expected".to_owned(),
        ));
    }
    rustix::net::listen(&fd, backlog).map_err(|errno| {
        let error = io::Error::from(errno);
        io::Error::new(error.kind(), format!("cannot listen on sock: {error}"))
    })?;
    Ok(match family {
        Family::Inet => {
            let listener = TcpListener::from(fd);
            listener.set_nonblocking(true)?;
            Listener::Tcp(listener)
        }
        Family::Unix => {
            let listener = UnixListener::from(fd);
            listener.set_nonblocking(true)?;
            Listener::Unix(listener, None)
        }
    })
}

/// Starts a server on the Unix socket `path` (asyncio's `start_unix_server`). The socket
/// file is removed when the server closes. [`StartServer::limit`] and
/// [`StartServer::backlog`] apply as for TCP.
///
/// # Errors
///
/// [`Error::Io`] if the path cannot be bound (it exists, say); [`Error::Value`] for a zero
/// limit; [`Error::Runtime`] outside a running loop.
///
/// # Examples
///
/// ```
/// let path = std::env::temp_dir().join(format!("aio-doc-server-{}.sock", std::process::id()));
/// aio_task::run(async move {
///     let server = aio_streams::start_unix_server(|_, _| async {}, &path).await?;
///     assert!(path.exists());
///     assert!(server.port().is_none());
///     server.close();
///     assert!(!path.exists()); // removed with the server
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn start_unix_server<H, Fut>(handler: H, path: impl AsRef<Path>) -> StartServer<H>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output: HandlerOutcome> + 'static,
{
    StartServer::new(handler, Target::Unix(path.as_ref().to_owned()))
}

/// Starts a TCP server on a socket made outside (asyncio's `start_server(sock=...)`): a
/// [`std::net::TcpListener`], or an [`OwnedFd`] holding a TCP socket that listens or is
/// bound (inherited from a supervisor, say, or made with options aio does not set). aio
/// calls `listen` on it with the [`backlog`](StartServer::backlog), as asyncio does (a
/// bound socket starts listening; one listening already gets the new backlog), and makes
/// it non-blocking. Then it serves as [`start_server`] does; [`StartServer::limit`] applies.
/// [`reuse_address`](StartServer::reuse_address) and
/// [`reuse_port`](StartServer::reuse_port) are refused: the socket is bound already.
///
/// The socket is checked when the future is first polled (dropping the future before that
/// closes it). asyncio checks only that it is a stream socket; aio also checks its family
/// and that it is not a connected socket.
///
/// # Errors
///
/// [`Error::Io`] of kind [`InvalidInput`](io::ErrorKind::InvalidInput) if `sock` is not a
/// socket, not a stream socket ("A Stream Socket was expected"), not TCP (a Unix socket: use
/// [`start_unix_server_sock`]) or a connected socket; [`Error::Io`] if `listen` fails
/// ("cannot listen on sock: ..."); [`Error::Value`] for a zero limit or a reuse option;
/// [`Error::Runtime`] outside a running loop.
///
/// # Examples
///
/// ```
/// use aio_streams::{open_connection, start_server_sock};
///
/// aio_task::run(async {
///     let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
///     let port = listener.local_addr()?.port();
///     let server =
///         start_server_sock(|_, writer| async move { writer.write(b"hi\n") }, listener).await?;
///     assert_eq!(server.port(), Some(port));
///     let (reader, _writer) = open_connection("127.0.0.1", port).await?;
///     assert_eq!(reader.readline().await?, b"hi\n");
///     // A connected socket is not a listener.
///     let stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
///     assert!(start_server_sock(|_, _| async {}, stream).await.is_err());
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn start_server_sock<H, Fut>(handler: H, sock: impl Into<OwnedFd>) -> StartServer<H>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output: HandlerOutcome> + 'static,
{
    StartServer::new(handler, Target::Sock(sock.into(), Family::Inet))
}

/// Starts a server on a Unix socket made outside (asyncio's `start_unix_server(sock=...)`):
/// a [`UnixListener`], or an [`OwnedFd`] holding a Unix stream socket that listens or is
/// bound. It is put into listen mode with the [`backlog`](StartServer::backlog) and made
/// non-blocking, as [`start_server_sock`] does for TCP.
///
/// The socket file is the caller's: closing the server leaves it in place (a socket passed
/// by a supervisor is bound again by nobody). asyncio 3.13 removes it unless
/// `cleanup_socket=False`; [`start_unix_server`], which makes the file, removes it.
///
/// # Errors
///
/// As [`start_server_sock`], with a Unix socket expected (a TCP socket: use
/// [`start_server_sock`]).
///
/// # Examples
///
/// ```
/// use aio_streams::{open_unix_connection, start_unix_server_sock};
///
/// let path = std::env::temp_dir().join(format!("aio-doc-sock-{}.sock", std::process::id()));
/// let listener = std::os::unix::net::UnixListener::bind(&path)?;
/// let served = path.clone();
/// aio_task::run(async move {
///     let server =
///         start_unix_server_sock(|_, writer| async move { writer.write(b"hi\n") }, listener)
///             .await?;
///     let (reader, _writer) = open_unix_connection(&served).await?;
///     assert_eq!(reader.readline().await?, b"hi\n");
///     server.close();
///     Ok::<_, aio_task::Error>(())
/// })??;
/// assert!(path.exists()); // the file is the caller's
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn start_unix_server_sock<H, Fut>(handler: H, sock: impl Into<OwnedFd>) -> StartServer<H>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output: HandlerOutcome> + 'static,
{
    StartServer::new(handler, Target::Sock(sock.into(), Family::Unix))
}

/// What a server does with each connection it accepts.
pub(crate) trait OnAccept: 'static {
    /// Takes over `conn`, accepted by the server whose state is `state` (which should count
    /// it: [`ServerState::attach`]).
    fn accepted(&self, conn: Connection, state: &Rc<ServerState>);
}

/// The streams' server: each connection's reader and writer go to `handler` in a task.
struct StreamHandler<H> {
    handler: Rc<H>,
    limit: usize,
}

impl<H, Fut> OnAccept for StreamHandler<H>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output: HandlerOutcome> + 'static,
{
    fn accepted(&self, conn: Connection, state: &Rc<ServerState>) {
        let (reader, writer, shared) = split(conn, self.limit);
        let client = Client::Stream(Rc::downgrade(&shared));
        let on_exit = CloseUnlessReturned {
            conn: Rc::downgrade(&shared),
        };
        shared
            .sink()
            .server
            .set(Some(ServerState::attach(state, client)));
        drop(shared);
        // The handler is called inside the connection's task, so a panic even in its
        // synchronous part fails that task alone, never the accept loop. If the task cannot
        // be created, dropping it drops the halves, which detaches the connection.
        let _ = create_task(ConnectionTask::Start {
            start: Some((self.handler.clone(), reader, writer, on_exit)),
        });
    }
}

pub(crate) fn serve<A: OnAccept>(
    listeners: Vec<Listener>,
    on_accept: A,
    backlog: i32,
) -> Result<Server, Error> {
    let event_loop = get_running_loop()?;
    let sockets = listeners.iter().filter_map(Listener::address).collect();
    let registered = listeners
        .into_iter()
        .map(|listener| AsyncFd::new(event_loop.reactor(), listener))
        .collect::<io::Result<Vec<_>>>()?;
    let count = registered.len();
    let state = Rc::new(ServerState {
        listeners: RefCell::new(registered),
        sockets,
        accept_tasks: RefCell::new(Vec::with_capacity(count)),
        clients: RefCell::new(Clients::default()),
        closed: Cell::new(false),
        serving_forever: Cell::new(false),
        waiters: RefCell::new(Vec::new()),
        next_waiter: Cell::new(0),
    });
    // From here on, `server` closes everything if a step fails.
    let server = Server {
        state: state.clone(),
    };
    let on_accept = Rc::new(on_accept);
    for index in 0..count {
        let per_turn = usize::try_from(backlog).unwrap_or(1).max(1);
        let accept = accept_loop(state.clone(), index, on_accept.clone(), per_turn);
        let task = aio_task::create_internal_task(accept)?;
        state.accept_tasks.borrow_mut().push(task.erase());
    }
    Ok(server)
}

/// Accepts connections on listener `index` until the server closes. Like asyncio's
/// `_accept_connection`, which accepts at most `backlog` connections per readiness event, it
/// lets the loop run (a `sleep(0)`) after every `per_turn` accepts: the connections' tasks
/// start in between, and a burst of connections never queues more than `per_turn` new tasks
/// at once (the loop's ready queue keeps the capacity of its largest burst).
async fn accept_loop<A: OnAccept>(
    state: Rc<ServerState>,
    index: usize,
    on_accept: Rc<A>,
    per_turn: usize,
) {
    // Accepts that failed for want of descriptors since the last one that worked: while out
    // of them, the loop reports the start of the episode and its end, not every retry.
    // Linux takes a descriptor before it looks for a pending connection, so an accept with
    // nothing pending fails too while none are left: the episode ends at the first accept that
    // does not fail for want of one, even if it only finds nothing pending.
    let failed_accepts = Cell::new(0u64);
    let end_episode = || {
        if failed_accepts.get() > 0 {
            report_accepting_again(failed_accepts.replace(0));
        }
    };
    let mut this_turn = 0;
    loop {
        if this_turn == per_turn {
            this_turn = 0;
            if sleep(0.0).await.is_err() {
                return; // the loop is closing
            }
        }
        this_turn += 1;
        let accepted = poll_fn(|cx| match state.listeners.borrow().get(index) {
            Some(listener) => listener
                .registration()
                .poll_read_with(cx, || {
                    let accepted = listener.get_ref().accept();
                    if !matches!(&accepted, Err(e) if out_of_descriptors(e)) {
                        end_episode();
                    }
                    accepted
                })
                .map(Some),
            None => Poll::Ready(None),
        })
        .await;
        let Some(accepted) = accepted else {
            return; // closed
        };
        match accepted.map_err(Error::from).and_then(connection) {
            Ok(conn) => on_accept.accepted(conn, &state),
            Err(Error::Io(error)) if out_of_descriptors(&error) => {
                if failed_accepts.get() == 0 {
                    report("socket.accept() out of system resource", Error::Io(error));
                }
                failed_accepts.set(failed_accepts.get() + 1);
                // Back off, then accept again: descriptors usually free up.
                let _ = sleep(ACCEPT_RETRY_DELAY).await;
            }
            Err(Error::Io(error))
                if matches!(
                    error.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted
                ) => {}
            Err(error) => report("Error on accepting a connection", error),
        }
    }
}

pin_project_lite::pin_project! {
    /// A connection's task: calls the handler on its first poll, then runs its future. Written
    /// out rather than as an `async` block so the halves are stored once: a block would keep
    /// room for the captured reader beside the handler's future, which holds it too.
    ///
    /// It has no "done" state: the task drops it as soon as it returns `Ready` (and never
    /// polls it again). With two states, and `on_exit`'s weak pointer never null (no
    /// `Option`), the compiler finds room for the enum's tag inside the variants (measured:
    /// the handler's future plus 8 bytes, where a tag took 8 more).
    #[project = ConnectionTaskProj]
    enum ConnectionTask<H, Fut> {
        Start {
            start: Option<(Rc<H>, StreamReader, StreamWriter, CloseUnlessReturned)>,
        },
        Running {
            #[pin]
            handling: Fut,
            on_exit: CloseUnlessReturned,
        },
    }
}

impl<H, Fut> Future for ConnectionTask<H, Fut>
where
    H: Fn(StreamReader, StreamWriter) -> Fut,
    Fut: Future<Output: HandlerOutcome>,
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // A panic in the handler is its failure, reported as asyncio reports a callback that
        // raised (not as a task's "exception was never retrieved"); the task then ends
        // normally. `AssertUnwindSafe`: after a panic the handler's state is only dropped.
        loop {
            match self.as_mut().project() {
                ConnectionTaskProj::Start { start } => {
                    let Some((handler, reader, writer, on_exit)) = start.take() else {
                        unreachable!("a connection task is not polled after it returned")
                    };
                    match catch_unwind(AssertUnwindSafe(|| handler(reader, writer))) {
                        Ok(handling) => self.set(ConnectionTask::Running { handling, on_exit }),
                        Err(payload) => {
                            report_handler_panic(&*payload);
                            // `on_exit` closes the connection.
                            drop(on_exit);
                            return Poll::Ready(());
                        }
                    }
                }
                ConnectionTaskProj::Running { handling, on_exit } => {
                    match catch_unwind(AssertUnwindSafe(|| handling.poll(cx))) {
                        Ok(Poll::Pending) => return Poll::Pending,
                        Ok(Poll::Ready(outcome)) => match outcome.into_failure() {
                            Some(error) => report_handler_failure(error),
                            None => on_exit.conn = Weak::new(),
                        },
                        Err(payload) => report_handler_panic(&*payload),
                    }
                    // Dropped with the task: the handler's future, then `on_exit` (which
                    // closes the connection unless the handler returned).
                    return Poll::Ready(());
                }
            }
        }
    }
}

/// Closes a connection whose handler did not return normally — it failed, panicked or was
/// cancelled — as asyncio closes the transport then (3.12+). Dropped with the handler's
/// future; a handler that returned clears it.
///
/// It holds the connection weakly (8 bytes in every connection's task, where a client entry
/// with a weak writer and a weak connection took 16) and closes it through its entry in the
/// server's list. A connection already gone
/// was closed with its last half; one no longer in the list was closed or lost already.
struct CloseUnlessReturned {
    /// `Weak::new()` (never null, upgrades to nothing) once the handler returned.
    conn: Weak<SharedConnection>,
}

impl Drop for CloseUnlessReturned {
    fn drop(&mut self) {
        let Some(shared) = self.conn.upgrade() else {
            return;
        };
        let conn = shared.sink();
        let Some(link) = conn.server.take() else {
            return;
        };
        let client = link.state.clients.borrow().get(link.slot);
        conn.server.set(Some(link));
        if let Some(client) = client {
            client.close(false);
        }
    }
}

/// `EADDRNOTAVAIL` or `EAFNOSUPPORT`: this machine does not have the address's family or
/// the address (asyncio 3.13 skips such an address).
fn family_unavailable(error: &io::Error) -> bool {
    use rustix::io::Errno;
    let unavailable = [Errno::ADDRNOTAVAIL, Errno::AFNOSUPPORT].map(|e| Some(e.raw_os_error()));
    unavailable.contains(&error.raw_os_error())
}

fn out_of_descriptors(error: &io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM: asyncio's "out of system resource" set.
    matches!(error.raw_os_error(), Some(24 | 23 | 105 | 12))
}

/// What a connection handler's future gives: `()`, or a `Result` whose `Err` fails the
/// connection (asyncio's "Unhandled exception in client_connected_cb": the failure goes to
/// the loop's exception handler and the connection is closed, what was written first being
/// sent, as asyncio's `transport.close()`).
///
/// # Examples
///
/// ```
/// use aio_streams::HandlerOutcome;
///
/// assert!(().into_failure().is_none());
/// assert!(Ok::<u8, std::io::Error>(1).into_failure().is_none());
/// let failure = Err::<(), _>(std::io::Error::other("bad request")).into_failure();
/// assert_eq!(failure.unwrap().to_string(), "bad request");
/// ```
pub trait HandlerOutcome {
    /// The failure to report, if the handler failed.
    fn into_failure(self) -> Option<Box<dyn std::error::Error + Send + Sync>>;
}

impl HandlerOutcome for () {
    fn into_failure(self) -> Option<Box<dyn std::error::Error + Send + Sync>> {
        None
    }
}

impl<T, E: Into<Box<dyn std::error::Error + Send + Sync>>> HandlerOutcome for Result<T, E> {
    fn into_failure(self) -> Option<Box<dyn std::error::Error + Send + Sync>> {
        self.err().map(Into::into)
    }
}

/// Reports a handler's panic as asyncio reports an exception from `client_connected_cb`.
fn report_handler_panic(payload: &(dyn std::any::Any + Send)) {
    let message = aio_scheduler::panic_message(payload);
    report_handler_failure(Box::new(Error::Panicked(message.into())));
}

/// Reports a handler's `Err` as asyncio reports an exception from `client_connected_cb`.
fn report_handler_failure(error: Box<dyn std::error::Error + Send + Sync>) {
    if let Ok(event_loop) = get_running_loop() {
        event_loop.call_exception_handler(
            &ExceptionContext::new("Unhandled exception in client_connected_cb")
                .with_error(std::sync::Arc::from(error)),
        );
    }
}

/// The end of an episode without descriptors: an accept worked again after `failed` did not.
fn report_accepting_again(failed: u64) {
    if let Ok(event_loop) = get_running_loop() {
        let attempts = if failed == 1 { "attempt" } else { "attempts" };
        event_loop.call_exception_handler(&ExceptionContext::new(format!(
            "socket.accept() works again after {failed} failed {attempts} \
             (out of system resource)"
        )));
    }
}

fn report(message: &str, error: impl Into<Error>) {
    let error: Error = error.into();
    if let Ok(event_loop) = get_running_loop() {
        event_loop.call_exception_handler(
            &ExceptionContext::new(message).with_error(std::sync::Arc::new(error)),
        );
    }
}

impl Server {
    /// The bound addresses, one per listening socket (so a server started on port 0 can be
    /// found).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::Address;
    ///
    /// aio_task::run(async {
    ///     let server = aio_streams::start_server(|_, _| async {}, "127.0.0.1", 0).await?;
    ///     let [Address::Inet(addr)] = server.sockets() else { panic!("one TCP socket") };
    ///     assert!(addr.ip().is_loopback() && addr.port() != 0);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn sockets(&self) -> &[Address] {
        &self.state.sockets
    }

    /// The bound TCP port of the first listening socket, if this is a TCP server (with
    /// several sockets and port 0, each has a port of its own: see
    /// [`sockets`](Server::sockets)).
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let server = aio_streams::start_server(|_, _| async {}, "127.0.0.1", 0).await?;
    ///     assert_ne!(server.port(), Some(0));
    ///     assert_eq!(server.sockets().len(), 1);
    ///     server.close();
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn port(&self) -> Option<u16> {
        self.state.sockets.iter().find_map(|a| match a {
            Address::Inet(addr) => Some(addr.port()),
            Address::Unix(_) => None,
        })
    }

    /// Whether the server accepts connections.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let server = aio_streams::start_server(|_, _| async {}, "127.0.0.1", 0).await?;
    ///     assert!(server.is_serving());
    ///     server.close();
    ///     assert!(!server.is_serving());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn is_serving(&self) -> bool {
        !self.state.closed.get()
    }

    /// Stops accepting connections and closes the listening socket (removing a Unix socket's
    /// file). Open connections are left alone (see [`close_clients`](Server::close_clients)).
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let server = aio_streams::start_server(|_, _| async {}, "127.0.0.1", 0).await?;
    ///     assert!(server.is_serving());
    ///     server.close();
    ///     assert!(!server.is_serving());
    ///     server.wait_closed().await;
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn close(&self) {
        let state = &self.state;
        if state.closed.replace(true) {
            return;
        }
        for task in state.accept_tasks.take() {
            task.cancel(None);
        }
        for listener in state.listeners.take() {
            if let Listener::Unix(_, Some(path)) = listener.into_inner() {
                // Best effort, as asyncio's cleanup: the file may be gone already.
                let _ = std::fs::remove_file(path);
            }
        }
        state.wake();
    }

    /// Closes every open connection gracefully (asyncio 3.13's `close_clients`): what their
    /// writers have buffered is sent first. This includes connections whose handler has
    /// returned but whose halves are still held somewhere.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::{open_connection, start_server};
    ///
    /// aio_task::run(async {
    ///     let server = start_server(
    ///         |reader, writer| async move {
    ///             writer.write(b"hi\n");
    ///             let _ = reader.read(1).await; // holds the connection open
    ///         },
    ///         "127.0.0.1",
    ///         0,
    ///     )
    ///     .await?;
    ///     let (reader, _writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    ///     assert_eq!(reader.readline().await?, b"hi\n"); // accepted
    ///     server.close();
    ///     server.close_clients();
    ///     assert_eq!(reader.read(10).await?, b""); // the server closed its end
    ///     server.wait_closed().await;
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn close_clients(&self) {
        for client in self.state.open_clients() {
            client.close(false);
        }
    }

    /// Aborts every open connection, dropping unsent data (asyncio 3.13's `abort_clients`).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::{open_connection, start_server};
    ///
    /// aio_task::run(async {
    ///     let server = start_server(
    ///         |reader, writer| async move {
    ///             writer.write(b"hi\n");
    ///             let _ = reader.read(1).await; // holds the connection open
    ///         },
    ///         "127.0.0.1",
    ///         0,
    ///     )
    ///     .await?;
    ///     let (reader, _writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    ///     assert_eq!(reader.readline().await?, b"hi\n");
    ///     server.close();
    ///     server.abort_clients();
    ///     server.wait_closed().await; // the aborted connection no longer counts
    ///     assert!(reader.read(10).await.map_or(true, |data| data.is_empty()));
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn abort_clients(&self) {
        for client in self.state.open_clients() {
            client.close(true);
        }
    }

    /// Waits until the server is closed and every connection it accepted has closed (asyncio
    /// 3.12's `wait_closed`): closed or aborted by its writer, lost, or dropped.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: it only waits, and a dropped wait removes its waker from the
    /// server, so timed-out waits leave nothing behind.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Error, run, wait_for};
    ///
    /// run(async {
    ///     let server = aio_streams::start_server(|_, _| async {}, "127.0.0.1", 0).await?;
    ///     // Still serving: the wait times out, and dropping it changes nothing.
    ///     assert!(matches!(wait_for(server.wait_closed(), 0.01).await, Err(Error::Timeout)));
    ///     assert!(server.is_serving());
    ///     server.close();
    ///     server.wait_closed().await;
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), Error>(())
    /// ```
    pub async fn wait_closed(&self) {
        ServerWait::new(&self.state, |state| {
            state.closed.get() && state.clients.borrow().len() == 0
        })
        .await;
    }

    /// Serves until the server is closed (asyncio's `serve_forever`): returns `Ok(())` once
    /// [`close`](Server::close) is called. Cancelling it — dropping the future — closes the
    /// server.
    ///
    /// (asyncio's `serve_forever` raises `CancelledError` when another task closes the
    /// server; here that ends it with `Ok(())`, so `serve_forever().await?` ends a program
    /// cleanly.)
    ///
    /// # Errors
    ///
    /// [`StreamError::State`] at once if the server is already closed, or if another
    /// `serve_forever` is running on it (asyncio's `RuntimeError`s); neither closes the
    /// server.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe, by design: dropping the future **closes the server** (as cancelling
    /// asyncio's `serve_forever` does), so do not poll it in a `select`-style loop that may drop
    /// it. Connections already accepted are left alone.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{create_task, run, wait_for};
    /// run(async {
    ///     let server = aio_streams::start_server(|_, _| async {}, "127.0.0.1", 0).await?;
    ///     // serve_forever for 10 ms: the timeout drops it, which closes the server.
    ///     let _ = wait_for(server.serve_forever(), 0.01).await;
    ///     assert!(!server.is_serving());
    ///     // A closed server cannot serve again.
    ///     assert!(server.serve_forever().await.is_err());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub async fn serve_forever(&self) -> Result<(), StreamError> {
        let state = &self.state;
        if state.closed.get() {
            return Err(StreamError::State("server is closed"));
        }
        if state.serving_forever.replace(true) {
            return Err(StreamError::State(
                "server is already being awaited on serve_forever()",
            ));
        }
        let _close_on_drop = CloseOnDrop(self);
        ServerWait::new(state, |state| state.closed.get()).await;
        Ok(())
    }
}

/// A wait for a server's state (`wait_closed`, `serve_forever`): one entry in the server's
/// waiters, kept up to date while it waits and removed when it ends or is dropped, so
/// abandoned waits (timeouts) leave nothing behind.
struct ServerWait<'a> {
    state: &'a ServerState,
    done: fn(&ServerState) -> bool,
    id: u64,
}

impl<'a> ServerWait<'a> {
    fn new(state: &'a ServerState, done: fn(&ServerState) -> bool) -> ServerWait<'a> {
        let id = state.next_waiter.get();
        state.next_waiter.set(id + 1);
        ServerWait { state, done, id }
    }

    fn forget(&self) {
        self.state
            .waiters
            .borrow_mut()
            .retain(|(id, _)| *id != self.id);
    }
}

impl Future for ServerWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if (self.done)(self.state) {
            self.forget();
            return Poll::Ready(());
        }
        let mut waiters = self.state.waiters.borrow_mut();
        match waiters.iter_mut().find(|(id, _)| *id == self.id) {
            Some((_, waker)) => waker.clone_from(cx.waker()),
            None => waiters.push((self.id, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for ServerWait<'_> {
    fn drop(&mut self) {
        self.forget();
    }
}

/// Closes the server when `serve_forever` ends or is cancelled.
struct CloseOnDrop<'a>(&'a Server);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.state.serving_forever.set(false);
        self.0.close();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A server nobody holds any more stops accepting (the accept task would otherwise keep
        // the listening socket open forever).
        self.close();
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("sockets", &self.state.sockets)
            .field("serving", &self.is_serving())
            .field("connections", &self.state.clients.borrow().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use std::net::{SocketAddr, SocketAddrV6};

    use super::{combine_connect_errors, ip_literal};

    /// What `inet_pton` (and, for scope ids, `getaddrinfo`) reads as an address, and what is
    /// left to the resolver.
    #[test]
    fn ip_literals_are_parsed_as_asyncio_and_getaddrinfo_read_them() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(ip_literal("127.0.0.1", 80), Some(addr("127.0.0.1:80")));
        assert_eq!(ip_literal("::1", 80), Some(addr("[::1]:80")));
        assert_eq!(ip_literal("0:0::1", 80), Some(addr("[::1]:80")));
        assert_eq!(
            ip_literal("::ffff:10.0.0.1", 7),
            Some(addr("[::ffff:10.0.0.1]:7"))
        );
        let scoped = |ip: &str, scope| {
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip.parse().unwrap(),
                80,
                0,
                scope,
            )))
        };
        assert_eq!(ip_literal("fe80::1%7", 80), scoped("fe80::1", 7));
        // Not numbers and not interfaces: left to getaddrinfo (which refuses them).
        assert_eq!(ip_literal("fe80::1%+5", 80), None);
        assert_eq!(ip_literal("fe80::1%lo\0x", 80), None);
        assert_eq!(ip_literal("::1%1", 80), scoped("::1", 1));
        // An interface name, for a link-local address only (as glibc's getaddrinfo).
        let lo: u32 = std::fs::read_to_string("/sys/class/net/lo/ifindex")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(ip_literal("fe80::1%lo", 80), scoped("fe80::1", lo));
        assert_eq!(ip_literal("ff02::1%lo", 80), scoped("ff02::1", lo));
        for name in [
            "localhost",
            "example.com",
            "127.1",
            "127.0.0.01",
            "[::1]",
            "::1%lo",
            "fe80::1%",
            "fe80::1%no-such-interface",
            "127.0.0.1%1",
            "",
        ] {
            assert_eq!(ip_literal(name, 80), None, "{name:?} is for the resolver");
        }
    }

    /// Regression: every poll of `wait_closed` / `serve_forever` added a waker that stayed
    /// until the server closed, so a health check timing out `wait_closed` over and over grew
    /// the list for the server's whole life.
    #[test]
    fn abandoned_waits_leave_no_wakers_behind() {
        aio_task::run(async {
            let server = super::start_server(|_, _| async {}, "127.0.0.1", 0).await?;
            for _ in 0..100 {
                let _ = aio_task::wait_for(server.wait_closed(), 0.0001).await;
            }
            let waiting = server.state.waiters.borrow().len();
            assert_eq!(waiting, 0, "wakers left by abandoned waits");
            // Two concurrent waiters are both woken by the close.
            let server = std::rc::Rc::new(server);
            let waits: Vec<_> = (0..2)
                .map(|_| {
                    let server = server.clone();
                    aio_task::create_task(async move { server.wait_closed().await }).unwrap()
                })
                .collect();
            aio_scheduler::sleep(0.001).await?;
            server.close();
            for wait in waits {
                aio_task::wait_for(wait, 5.0).await??;
            }
            Ok::<_, aio_task::Error>(())
        })
        .unwrap()
        .unwrap();
    }

    #[test]
    fn connect_errors_combine_as_asyncio_reports_them() {
        assert!(combine_connect_errors(Vec::new()).is_none());
        let refused = || io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        let same = combine_connect_errors(vec![refused(), refused()]).unwrap();
        assert_eq!(same.to_string(), "refused");
        let unreachable = io::Error::new(io::ErrorKind::NetworkUnreachable, "unreachable");
        let mixed = combine_connect_errors(vec![refused(), unreachable]).unwrap();
        assert_eq!(mixed.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(
            mixed.to_string(),
            "Multiple exceptions: refused, unreachable"
        );
    }
}
