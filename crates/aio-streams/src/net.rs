//! Connections and servers: `open_connection`, `start_server` and their Unix forms.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use aio_reactor::AsyncFd;
use aio_scheduler::{ExceptionContext, get_running_loop, sleep};
use aio_task::{Error, TaskRef, create_task, to_thread};

use crate::socket::{Address, Connection, SocketFd, SocketSource};
use crate::{DEFAULT_LIMIT, StreamReader, StreamWriter};

/// How long the accept loop backs off when the process is out of file descriptors (asyncio
/// waits 1 s; aio retries sooner, as descriptors usually free up quickly).
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Registers a connected socket with the running loop and splits it into a reader and a
/// writer.
fn streams(socket: Box<dyn SocketFd>, limit: usize) -> Result<(StreamReader, StreamWriter), Error> {
    let event_loop = get_running_loop()?;
    let conn = Rc::new(Connection {
        io: AsyncFd::new(event_loop.reactor(), socket)?,
        read_error: RefCell::new(None),
    });
    let reader = StreamReader::from_source_with_limit(SocketSource(conn.clone()), limit);
    Ok((reader, StreamWriter::new(conn)))
}

/// Connects to `host:port` over TCP and returns the two halves of the connection (asyncio's
/// `open_connection`). Name resolution runs on the default executor; the connect itself is
/// non-blocking, on the loop, trying each resolved address in turn — so dropping the future
/// (a timeout, a cancelled task) abandons it at once. `TCP_NODELAY` is set, as asyncio does.
///
/// # Errors
///
/// [`Error::Io`] for a failed resolution, a refused or unreachable connection (naming the
/// address; "Multiple exceptions: ..." when every resolved address failed differently);
/// [`Error::Runtime`] outside a running loop.
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
pub async fn open_connection(host: &str, port: u16) -> Result<(StreamReader, StreamWriter), Error> {
    // Name resolution may block (asyncio runs getaddrinfo on a thread too); the connects do
    // not: they run on the loop, so dropping this future abandons them at once.
    let target = (host.to_owned(), port);
    let addrs: Vec<SocketAddr> =
        to_thread(move || target.to_socket_addrs().map(Iterator::collect)).await??;
    let mut errors = Vec::new();
    for addr in addrs {
        match connect(addr).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return streams(Box::new(stream), DEFAULT_LIMIT);
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
/// [`Error::Io`] if nothing listens there (the message names the path); [`Error::Runtime`]
/// outside a running loop.
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
pub async fn open_unix_connection(
    path: impl AsRef<Path>,
) -> Result<(StreamReader, StreamWriter), Error> {
    let stream = connect_unix(path.as_ref()).await?;
    streams(Box::new(stream), DEFAULT_LIMIT)
}

/// A non-blocking Unix connect on the loop. A Unix socket does not connect "in progress":
/// with the listener's backlog full it refuses with `EAGAIN` and must be asked again, so the
/// connect is retried with a short, growing pause (asyncio retries it when the socket turns
/// writable, which a Unix socket waiting for a backlog slot never reports). Dropping the
/// future abandons it at once.
async fn connect_unix(path: &Path) -> io::Result<UnixStream> {
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
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
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
    fn accept(&self) -> io::Result<Box<dyn SocketFd>> {
        match self {
            Listener::Tcp(l) => {
                let (stream, _) = l.accept()?;
                stream.set_nonblocking(true)?;
                stream.set_nodelay(true)?;
                Ok(Box::new(stream))
            }
            Listener::Unix(l, _) => {
                let (stream, _) = l.accept()?;
                stream.set_nonblocking(true)?;
                Ok(Box::new(stream))
            }
        }
    }

    fn address(&self) -> Option<Address> {
        match self {
            Listener::Tcp(l) => l.local_addr().ok().map(Address::Inet),
            Listener::Unix(_, path) => Some(Address::Unix(path.display().to_string())),
        }
    }
}

/// A running server (asyncio's `Server`), from [`start_server`] or [`start_unix_server`].
///
/// It accepts connections as soon as it is created, each handled by `handler(reader,
/// writer)` in its own task: a handler that panics affects only its own connection (the panic
/// is reported through the loop's exception handler). If the process runs out of file
/// descriptors, the accept loop reports it, backs off, and resumes.
///
/// # Examples
///
/// See [`open_connection`].
pub struct Server {
    state: Rc<ServerState>,
}

struct ServerState {
    listener: RefCell<Option<AsyncFd<Listener>>>,
    sockets: Vec<Address>,
    accept_task: RefCell<Option<TaskRef>>,
    /// Writers of connections whose handler runs, by connection id, for `close_clients` /
    /// `abort_clients`. A connection leaves when its handler finishes, so the server never
    /// keeps a finished connection's socket open.
    clients: RefCell<Vec<(u64, StreamWriter)>>,
    next_client: Cell<u64>,
    /// Connections whose handler has not finished.
    active: Cell<usize>,
    closed: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl ServerState {
    fn wake(&self) {
        for waker in self.waiters.take() {
            waker.wake();
        }
    }
}

/// Starts a TCP server on `host:port` (port 0: a free one, see [`Server::sockets`]) that
/// runs `handler(reader, writer)` for every connection (asyncio's `start_server`).
///
/// Each connection's handler runs as a task of its own. A handler that panics (in its body
/// or before its future first runs) or returns `Err` (see [`HandlerOutcome`]) fails only its
/// own connection: the failure goes to the loop's exception handler as "Unhandled exception
/// in client_connected_cb", the connection is aborted, and the server keeps accepting.
///
/// # Errors
///
/// [`Error::Io`] if the address cannot be bound; [`Error::Runtime`] outside a running loop.
///
/// # Examples
///
/// See [`open_connection`].
pub async fn start_server<H, Fut>(handler: H, host: &str, port: u16) -> Result<Server, Error>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output: HandlerOutcome> + 'static,
{
    let target = (host.to_owned(), port);
    let addrs: Vec<SocketAddr> =
        to_thread(move || target.to_socket_addrs().map(Iterator::collect)).await??;
    let mut last_error = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{host}:{port} did not resolve"),
    );
    for addr in addrs {
        match listen(addr) {
            Ok(listener) => return serve(Listener::Tcp(listener), handler),
            Err(error) => last_error = error,
        }
    }
    Err(last_error.into())
}

/// How many connections may wait to be accepted (the kernel caps it at `somaxconn`). asyncio
/// uses 100 and std 128; tokio's 1024 survives a burst of a thousand connects.
const BACKLOG: i32 = 1024;

/// A non-blocking listening socket with `SO_REUSEADDR` (asyncio's default on Unix).
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let socket = rustix::net::socket_with(family, SocketType::STREAM, flags, None)?;
    rustix::net::sockopt::set_socket_reuseaddr(&socket, true)?;
    rustix::net::bind(&socket, &addr)?;
    rustix::net::listen(&socket, BACKLOG)?;
    Ok(TcpListener::from(socket))
}

/// Starts a server on the Unix socket `path` (asyncio's `start_unix_server`). The socket
/// file is removed when the server closes.
///
/// # Errors
///
/// [`Error::Io`] if the path cannot be bound (it exists, say); [`Error::Runtime`] outside a
/// running loop.
///
/// # Examples
///
/// See [`open_unix_connection`].
pub async fn start_unix_server<H, Fut>(handler: H, path: impl AsRef<Path>) -> Result<Server, Error>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output: HandlerOutcome> + 'static,
{
    let path = path.as_ref().to_owned();
    let listener = UnixListener::bind(&path)?;
    listener.set_nonblocking(true)?;
    serve(Listener::Unix(listener, path), handler)
}

fn serve<H, Fut>(listener: Listener, handler: H) -> Result<Server, Error>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output: HandlerOutcome> + 'static,
{
    let event_loop = get_running_loop()?;
    let sockets = listener.address().into_iter().collect();
    let state = Rc::new(ServerState {
        listener: RefCell::new(Some(AsyncFd::new(event_loop.reactor(), listener)?)),
        sockets,
        accept_task: RefCell::new(None),
        clients: RefCell::new(Vec::new()),
        next_client: Cell::new(0),
        active: Cell::new(0),
        closed: Cell::new(false),
        waiters: RefCell::new(Vec::new()),
    });
    let accepting = state.clone();
    let handler = Rc::new(handler);
    let task = create_task(async move { accept_loop(accepting, handler).await })?;
    *state.accept_task.borrow_mut() = Some(task.erase());
    Ok(Server { state })
}

async fn accept_loop<H, Fut>(state: Rc<ServerState>, handler: Rc<H>)
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output: HandlerOutcome> + 'static,
{
    loop {
        let accepted = poll_fn(|cx| match &*state.listener.borrow() {
            Some(listener) => listener
                .registration()
                .poll_read_with(cx, || listener.get_ref().accept())
                .map(Some),
            None => Poll::Ready(None),
        })
        .await;
        let Some(accepted) = accepted else {
            return; // closed
        };
        match accepted
            .map_err(Error::from)
            .and_then(|socket| streams(socket, DEFAULT_LIMIT))
        {
            Ok((reader, writer)) => {
                let id = state.next_client.get();
                state.next_client.set(id + 1);
                state.clients.borrow_mut().push((id, writer.clone()));
                state.active.set(state.active.get() + 1);
                let handler = handler.clone();
                let done = state.clone();
                let failed = Rc::new(Cell::new(false));
                let failure = failed.clone();
                // The handler is called inside the connection's task, so a panic even in its
                // synchronous part fails that task alone, never the accept loop.
                let spawned = create_task(async move {
                    if let Some(error) = handler(reader, writer).await.into_failure() {
                        failure.set(true);
                        report_handler_failure(error);
                    }
                });
                match spawned {
                    Ok(task) => {
                        task.erase().add_done_callback(move |task| {
                            let finished = {
                                let mut clients = done.clients.borrow_mut();
                                let at = clients.iter().position(|(c, _)| *c == id);
                                at.map(|at| clients.swap_remove(at).1)
                            };
                            // asyncio closes the connection of a handler that raised; one
                            // that returned keeps it only as long as it holds the halves.
                            if let Some(writer) = finished {
                                if task.failed() || failed.get() {
                                    writer.abort();
                                }
                            }
                            done.active.set(done.active.get() - 1);
                            done.wake();
                        });
                    }
                    Err(_) => {
                        state.clients.borrow_mut().retain(|(c, _)| *c != id);
                        state.active.set(state.active.get() - 1);
                    }
                }
            }
            Err(Error::Io(error)) if out_of_descriptors(&error) => {
                report("socket.accept() out of system resource", Error::Io(error));
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

fn out_of_descriptors(error: &io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM: asyncio's "out of system resource" set.
    matches!(error.raw_os_error(), Some(24 | 23 | 105 | 12))
}

/// What a connection handler's future gives: `()`, or a `Result` whose `Err` fails the
/// connection (asyncio's "Unhandled exception in client_connected_cb": the failure goes to
/// the loop's exception handler and the connection is aborted).
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

/// Reports a handler's `Err` as asyncio reports an exception from `client_connected_cb`.
fn report_handler_failure(error: Box<dyn std::error::Error + Send + Sync>) {
    if let Ok(event_loop) = get_running_loop() {
        event_loop.call_exception_handler(
            &ExceptionContext::new("Unhandled exception in client_connected_cb")
                .with_error(std::sync::Arc::from(error)),
        );
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
    /// The bound addresses (so a server started on port 0 can be found).
    ///
    /// # Examples
    ///
    /// See [`Server::port`].
    pub fn sockets(&self) -> &[Address] {
        &self.state.sockets
    }

    /// The bound TCP port, if this is a TCP server.
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
    /// See [`Server::close`].
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
        if let Some(task) = state.accept_task.borrow_mut().take() {
            task.cancel(None);
        }
        let listener = state.listener.borrow_mut().take();
        if let Some(listener) = listener {
            if let Listener::Unix(_, path) = listener.into_inner() {
                // Best effort, as asyncio's cleanup: the file may be gone already.
                let _ = std::fs::remove_file(path);
            }
        }
        state.wake();
    }

    /// Closes every open connection gracefully (asyncio 3.13's `close_clients`).
    ///
    /// # Examples
    ///
    /// See [`Server::close`].
    pub fn close_clients(&self) {
        for (_, writer) in self.state.clients.take() {
            writer.close();
        }
    }

    /// Aborts every open connection, dropping unsent data (asyncio 3.13's `abort_clients`).
    ///
    /// # Examples
    ///
    /// See [`Server::close`].
    pub fn abort_clients(&self) {
        for (_, writer) in self.state.clients.take() {
            writer.abort();
        }
    }

    /// Waits until the server is closed and every connection's handler has finished (asyncio
    /// 3.12's `wait_closed`).
    ///
    /// # Examples
    ///
    /// See [`Server::close`].
    pub async fn wait_closed(&self) {
        let state = &self.state;
        poll_fn(|cx| {
            if state.closed.get() && state.active.get() == 0 {
                return Poll::Ready(());
            }
            state.waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }

    /// Serves until the server is closed (asyncio's `serve_forever`). Cancelling it — dropping
    /// the future — closes the server.
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
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub async fn serve_forever(&self) {
        let _close_on_drop = CloseOnDrop(self);
        let state = &self.state;
        poll_fn(|cx| {
            if state.closed.get() {
                return Poll::Ready(());
            }
            state.waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }
}

/// Closes the server when `serve_forever` ends or is cancelled.
struct CloseOnDrop<'a>(&'a Server);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
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
            .field("connections", &self.state.active.get())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::combine_connect_errors;

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
