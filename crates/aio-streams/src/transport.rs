//! asyncio's stream transports: a [`Transport`] drives a [`Protocol`](crate::Protocol) over
//! a connected socket or a pipe.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use aio_reactor::{AsyncFd, Registration};
use aio_scheduler::context::TaskContext;
use aio_scheduler::{ExceptionContext, get_running_loop};

use crate::layer::{Layer, Wire};
use crate::protocol::{AnyProtocol, Driven, READ_SIZE};
use crate::socket::{Address, Connection, Sink, Socket, note_short_read};
use crate::{DEFAULT_HIGH_WATER, StreamError};

/// asyncio's `constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES`: writes to a lost connection
/// before the transport says so.
const LOST_WRITES_WARNING: u32 = 5;

/// Reads one transport makes in a row before it lets other tasks run.
const READS_PER_TURN: u32 = 16;

// The transport's state bits.
/// `close()` or `abort()` was called, or a read pipe saw EOF: no more reads or writes.
const CLOSING: u32 = 1;
/// `connection_lost` is due (asyncio's `_conn_lost > 0`).
const LOST: u32 = 1 << 1;
/// `connection_lost` was called.
const FINISHED: u32 = 1 << 2;
/// `write_eof()` was called.
const EOF_ASKED: u32 = 1 << 3;
/// The read side saw EOF.
const READ_EOF: u32 = 1 << 4;
/// `pause_reading()`.
const READ_PAUSED: u32 = 1 << 5;
/// The protocol's writing is paused (above the high-water mark).
const WRITE_PAUSED: u32 = 1 << 6;
/// The driver task is running (its callbacks need no wake-up to be noticed).
const IN_DRIVER: u32 = 1 << 7;
/// Warned once: a write to a closing transport.
const WARNED_CLOSING: u32 = 1 << 8;
/// Warned once: a write after `write_eof()`.
const WARNED_EOF: u32 = 1 << 9;
/// Warned once: writes to a lost connection.
const WARNED_LOST: u32 = 1 << 10;
/// `pause_writing` / `resume_writing` to deliver once the running callback returns.
const DEFER_PAUSE: u32 = 1 << 11;
const DEFER_RESUME: u32 = 1 << 12;
/// The write side is lent to a task (a `sendfile`, a TLS upgrade): it flushes the buffer
/// itself and the driver leaves writing alone.
const LENT: u32 = 1 << 13;
/// A `sendfile(2)` runs on the socket: `write` is refused (asyncio's "unable to write;
/// sendfile is in progress").
const NATIVE_SENDFILE: u32 = 1 << 14;
/// `start()` ran: the driver task exists.
const STARTED: u32 = 1 << 15;
/// The task the write side is lent to is not writing for now (a sendfile fallback reading
/// its next block): the driver flushes what the protocol writes meanwhile, as asyncio's
/// transport goes on writing during `_sendfile_fallback`.
const LENT_IDLE: u32 = 1 << 16;
/// `set_protocol` was called while the protocol was in a callback: the new one waits in
/// `Inner::replacement` until that callback returns.
const NEW_PROTOCOL: u32 = 1 << 17;

/// A use of the protocol API that fails the connection (asyncio's `RuntimeError`s), as an
/// `io::Error` payload, so the transport reports it rather than treating it as an OS error.
#[derive(Debug)]
struct Misuse(&'static str);

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Misuse {}

pub(crate) fn misuse(message: &'static str) -> io::Error {
    io::Error::other(Misuse(message))
}

fn is_misuse(error: &io::Error) -> bool {
    error.get_ref().is_some_and(|inner| inner.is::<Misuse>())
}

/// What a transport carries bytes over (public only inside the crate's private modules).
pub struct Endpoint(pub(crate) Io);

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Io::Socket(_) => "socket",
            Io::ReadPipe(_) => "read pipe",
            Io::WritePipe(_) => "write pipe",
        })
    }
}

/// The kinds of [`Endpoint`].
pub(crate) enum Io {
    /// A connected TCP or Unix socket (the streams' connection type).
    Socket(Connection),
    /// The read end of a pipe; `None` once closed.
    ReadPipe(RefCell<Option<AsyncFd<OwnedFd>>>),
    /// The write end of a pipe; `None` once closed.
    WritePipe(RefCell<Option<AsyncFd<OwnedFd>>>),
}

fn pipe_closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the pipe is closed")
}

impl Endpoint {
    /// One non-blocking read into `buf`.
    pub(crate) fn read_into(&self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.0 {
            Io::Socket(conn) => {
                let n = conn.socket().read_some(buf)?;
                if conn.is_tcp() {
                    note_short_read(Some(conn.io.registration().source()), n, buf.len());
                }
                Ok(n)
            }
            Io::ReadPipe(pipe) | Io::WritePipe(pipe) => match &*pipe.borrow() {
                Some(fd) => Ok(rustix::io::read(fd.get_ref(), buf)?),
                None => Err(pipe_closed()),
            },
        }
    }

    fn poll_read_with<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        match &self.0 {
            Io::Socket(conn) => conn.io.registration().poll_read_with(cx, op),
            Io::ReadPipe(pipe) | Io::WritePipe(pipe) => match &*pipe.borrow() {
                Some(fd) => fd.registration().poll_read_with(cx, op),
                None => Poll::Ready(Err(pipe_closed())),
            },
        }
    }

    fn write_now(&self, buf: &[u8]) -> io::Result<usize> {
        match &self.0 {
            Io::Socket(conn) => conn.write_now(buf),
            Io::WritePipe(pipe) => {
                let pipe = pipe.borrow();
                let pipe = pipe.as_ref().ok_or_else(pipe_closed)?;
                let written = rustix::io::write(pipe.get_ref(), buf).map_err(io::Error::from);
                if matches!(&written, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
                    pipe.registration().clear_writable();
                }
                written
            }
            Io::ReadPipe(_) => Err(misuse("a read pipe transport cannot write")),
        }
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &self.0 {
            Io::Socket(conn) => conn.poll_write(cx, buf),
            Io::WritePipe(pipe) => match &*pipe.borrow() {
                Some(fd) => fd.registration().poll_write_with(cx, || {
                    rustix::io::write(fd.get_ref(), buf).map_err(io::Error::from)
                }),
                None => Poll::Ready(Err(pipe_closed())),
            },
            Io::ReadPipe(_) => Poll::Ready(Err(misuse("a read pipe transport cannot write"))),
        }
    }

    /// Ends the connection: a socket is shut down both ways (its descriptor is closed when
    /// the last handle goes) and detached from its server; a pipe is closed.
    fn close(&self) {
        match &self.0 {
            Io::Socket(conn) => {
                let _ = Sink::shutdown(conn, Shutdown::Both);
                conn.detach();
            }
            Io::ReadPipe(pipe) | Io::WritePipe(pipe) => {
                let Some(fd) = pipe.borrow_mut().take() else {
                    return;
                };
                // Closing a descriptor raises no event: wake whoever waits on it (a sendfile
                // lent the write side, say), to find it closed, before it goes.
                let mut wakers = Vec::new();
                fd.registration()
                    .source()
                    .set_ready(true, true, &mut wakers);
                drop(fd);
                for waker in wakers {
                    waker.wake();
                }
            }
        }
    }

    fn raw_fd(&self) -> Option<RawFd> {
        match &self.0 {
            Io::Socket(conn) => Some(conn.socket().as_fd().as_raw_fd()),
            Io::ReadPipe(pipe) | Io::WritePipe(pipe) => {
                pipe.borrow().as_ref().map(|fd| fd.get_ref().as_raw_fd())
            }
        }
    }
}

/// What [`Transport::get_extra_info`] returns.
///
/// # Examples
///
/// ```
/// use aio_streams::{Address, ExtraInfo};
/// let info = ExtraInfo::Address(Address::Unix("/tmp/x.sock".into()));
/// assert_eq!(info.address(), Some(&Address::Unix("/tmp/x.sock".into())));
/// assert_eq!(ExtraInfo::Fd(3).fd(), Some(3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtraInfo {
    /// `"peername"`, `"sockname"`.
    Address(Address),
    /// `"socket"`, `"pipe"`: the descriptor (borrowed: the transport owns it).
    Fd(RawFd),
}

impl ExtraInfo {
    /// The address, for `"peername"` / `"sockname"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(aio_streams::ExtraInfo::Fd(3).address(), None);
    /// ```
    pub fn address(&self) -> Option<&Address> {
        match self {
            ExtraInfo::Address(addr) => Some(addr),
            ExtraInfo::Fd(_) => None,
        }
    }

    /// The descriptor, for `"socket"` / `"pipe"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(aio_streams::ExtraInfo::Fd(7).fd(), Some(7));
    /// ```
    pub fn fd(&self) -> Option<RawFd> {
        match self {
            ExtraInfo::Fd(fd) => Some(*fd),
            ExtraInfo::Address(_) => None,
        }
    }
}

/// asyncio's stream transport (`_SelectorSocketTransport`, and the Unix pipe transports): a
/// cheap, clonable handle to a connection that calls a [`Protocol`](crate::Protocol)'s
/// callbacks.
///
/// One task per connection, started with it, reads whenever the socket is readable and
/// delivers the bytes to the protocol, and flushes what [`write`](Transport::write) could not
/// send at once; nothing is spawned or allocated per message. The connection stays open
/// until it is closed, aborted, lost or (by default) the peer's EOF arrives — dropping
/// every handle does not close it, as in asyncio, where the loop holds the transport.
///
/// Writes never block: what the socket does not take is buffered, and the protocol's
/// [`pause_writing`](crate::Protocol::pause_writing) is called when the buffer goes above
/// the high-water mark (64 KiB), [`resume_writing`](crate::Protocol::resume_writing) when it
/// drains to the low-water mark (16 KiB), as asyncio's `_FlowControlMixin` does.
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use aio_streams::{Protocol, Transport, create_connection, start_server};
///
/// // A client protocol that sends a line and collects the reply.
/// struct Client(Rc<RefCell<Vec<u8>>>);
/// impl Protocol for Client {
///     fn connection_made(&mut self, transport: &Transport) {
///         transport.write(b"ping\n");
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         self.0.borrow_mut().extend_from_slice(data);
///     }
/// }
///
/// let reply = Rc::new(RefCell::new(Vec::new()));
/// let got = reply.clone();
/// aio_task::run(async move {
///     let server = start_server(
///         |reader, writer| async move {
///             let line = reader.readline().await.unwrap();
///             writer.write(&line.to_ascii_uppercase());
///             writer.close();
///         },
///         "127.0.0.1",
///         0,
///     )
///     .await?;
///     let transport = create_connection(move || Client(got.clone()), "127.0.0.1", server.port().unwrap()).await?;
///     assert!(transport.peername().is_some());
///     while !transport.is_closing() {
///         aio_scheduler::sleep(0.001).await?; // the server closes after replying
///     }
///     Ok::<_, aio_task::Error>(())
/// })??;
/// assert_eq!(*reply.borrow(), b"PING\n");
/// # Ok::<(), aio_task::Error>(())
/// ```
#[derive(Clone)]
pub struct Transport {
    pub(crate) inner: Rc<Inner>,
}

pub(crate) struct Inner {
    flags: Cell<u32>,
    /// Writes refused since the connection was lost (asyncio's `_conn_lost` count).
    lost_writes: Cell<u32>,
    /// Unsent bytes, from `start` (taken out of the cell and put back: the endpoint's write
    /// never comes back to the transport).
    buf: Cell<Vec<u8>>,
    start: Cell<usize>,
    high: Cell<usize>,
    low: Cell<usize>,
    /// `None` once `connection_lost` was called (which breaks the cycle of a protocol that
    /// keeps its transport).
    protocol: RefCell<Option<Box<dyn Driven>>>,
    /// The error for `connection_lost`.
    error: Cell<Option<io::Error>>,
    /// A protocol given to `set_protocol` during a callback of the current one (flag
    /// `NEW_PROTOCOL`): installed when that callback returns.
    replacement: Cell<Option<Box<dyn Driven>>>,
    /// The driver's waker, for calls made outside it.
    waker: Cell<Option<Waker>>,
    /// The context the protocol's callbacks run in: a copy of the one current when the
    /// transport started (asyncio's reader handle keeps the context of `add_reader`).
    /// Taken out for each turn of the driver and put back (free while no context variable
    /// was ever set).
    context: Cell<TaskContext>,
    pub(crate) endpoint: Endpoint,
}

impl Inner {
    fn has(&self, bits: u32) -> bool {
        self.flags.get() & bits != 0
    }

    fn set(&self, bits: u32) {
        self.flags.set(self.flags.get() | bits);
    }

    fn unset(&self, bits: u32) {
        self.flags.set(self.flags.get() & !bits);
    }

    fn pending(&self) -> usize {
        let buf = self.buf.take();
        let pending = buf.len() - self.start.get();
        self.buf.set(buf);
        pending
    }

    fn clear_buffer(&self) {
        let mut buf = self.buf.take();
        buf.clear();
        self.buf.set(buf);
        self.start.set(0);
    }

    /// Lets the driver task see a change made outside it.
    fn wake(&self) {
        if self.has(IN_DRIVER) {
            return;
        }
        if let Some(waker) = self.waker.take() {
            waker.wake_by_ref();
            self.waker.set(Some(waker));
        }
    }

    /// Calls `f` on the protocol, catching a panic: `None` if there is no protocol any more
    /// or it is in a callback already.
    fn call<R>(
        &self,
        f: impl FnOnce(&mut dyn Driven) -> R,
    ) -> Option<Result<R, Box<dyn Any + Send>>> {
        let result = {
            let mut guard = self.protocol.try_borrow_mut().ok()?;
            let protocol = guard.as_mut()?;
            catch_unwind(AssertUnwindSafe(|| f(&mut **protocol)))
        };
        // A callback that panicked is reported under the name of the protocol that ran
        // it: `fatal` installs a protocol it set, after naming the callback.
        if result.is_ok() {
            self.settle_protocol();
        }
        Some(result)
    }

    /// Installs a protocol that `set_protocol` left waiting during a callback, if any.
    #[inline]
    fn settle_protocol(&self) {
        if self.has(NEW_PROTOCOL) {
            self.install_replacement();
        }
    }

    #[cold]
    #[inline(never)]
    fn install_replacement(&self) {
        self.unset(NEW_PROTOCOL);
        if let Some(protocol) = self.replacement.take() {
            self.replace_protocol(protocol);
        }
    }

    /// Makes `protocol` the one the transport calls from now on, dropping the old one (after
    /// its borrow ends: its destructor may use the transport). Waits in `replacement` while
    /// the old one is in a callback; dropped unused once `connection_lost` was called.
    fn replace_protocol(&self, protocol: Box<dyn Driven>) {
        if self.has(FINISHED) {
            return;
        }
        let old = match self.protocol.try_borrow_mut() {
            Ok(mut current) => current.replace(protocol),
            Err(_) => {
                // In a callback: the last protocol set during it wins.
                let earlier = self.replacement.replace(Some(protocol));
                self.set(NEW_PROTOCOL);
                earlier
            }
        };
        // The connection goes on with the new protocol whatever the old one's destructor
        // does; a panic there is reported.
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(old))) {
            let message = aio_scheduler::panic_message(&*payload);
            report(
                "Dropping the protocol replaced by set_protocol() failed",
                io::Error::other(format!("panicked: {message}")),
            );
        }
    }

    /// Calls a protocol callback that has no result; a panic fails the connection.
    fn callback(&self, name: &'static str, f: impl FnOnce(&mut dyn Driven)) {
        if let Some(Err(payload)) = self.call(f) {
            self.fatal(name, &*payload);
        }
        self.deliver_deferred();
    }

    /// A protocol callback panicked: report it and abort the connection (asyncio's
    /// `_fatal_error` for a callback's exception).
    fn fatal(&self, name: &str, payload: &(dyn Any + Send)) {
        let message = aio_scheduler::panic_message(payload);
        let error = io::Error::other(format!("protocol.{name}() panicked: {message}"));
        report(
            &format!("Fatal error: protocol.{name}() call failed."),
            io::Error::new(error.kind(), error.to_string()),
        );
        // The error first: installing a protocol the failed callback set drops the old one,
        // whose destructor may close the transport (which would make the close error-less).
        self.force_close(Some(error));
        // That protocol takes over, as in asyncio, where `set_protocol` has taken effect
        // before the exception: it gets `connection_lost` with the error.
        self.settle_protocol();
    }

    /// asyncio's `_maybe_pause_protocol`.
    fn maybe_pause(&self) {
        if self.has(WRITE_PAUSED) || self.pending() <= self.high.get() {
            return;
        }
        self.set(WRITE_PAUSED);
        self.set(DEFER_PAUSE);
        self.deliver_deferred();
    }

    /// asyncio's `_maybe_resume_protocol`.
    fn maybe_resume(&self) {
        if !self.has(WRITE_PAUSED) || self.pending() > self.low.get() {
            return;
        }
        self.unset(WRITE_PAUSED);
        self.set(DEFER_RESUME);
        self.deliver_deferred();
    }

    /// Delivers `pause_writing` / `resume_writing` unless the protocol is in a callback
    /// (then the driver delivers them when it returns). A panic in them is reported and
    /// nothing else, as asyncio does.
    #[inline]
    fn deliver_deferred(&self) {
        if self.has(DEFER_PAUSE | DEFER_RESUME) {
            self.deliver_deferred_now();
        }
    }

    #[cold]
    #[inline(never)]
    fn deliver_deferred_now(&self) {
        let pending = self.flags.get() & (DEFER_PAUSE | DEFER_RESUME);
        if self.has(FINISHED) {
            return;
        }
        let Ok(mut guard) = self.protocol.try_borrow_mut() else {
            return;
        };
        self.unset(DEFER_PAUSE | DEFER_RESUME);
        let Some(protocol) = guard.as_mut() else {
            return;
        };
        // Both pending: the one that happened last matches the current state.
        let order: &[u32] = if self.has(WRITE_PAUSED) {
            &[DEFER_RESUME, DEFER_PAUSE]
        } else {
            &[DEFER_PAUSE, DEFER_RESUME]
        };
        for &bit in order {
            if pending & bit == 0 {
                continue;
            }
            let (name, outcome) = if bit == DEFER_PAUSE {
                (
                    "pause_writing",
                    catch_unwind(AssertUnwindSafe(|| protocol.pause_writing())),
                )
            } else {
                (
                    "resume_writing",
                    catch_unwind(AssertUnwindSafe(|| protocol.resume_writing())),
                )
            };
            if let Err(payload) = outcome {
                let message = aio_scheduler::panic_message(&*payload);
                report(
                    &format!("protocol.{name}() failed"),
                    io::Error::other(format!("panicked: {message}")),
                );
            }
        }
        drop(guard);
        self.settle_protocol();
    }

    /// asyncio's `_force_close`: drop what is buffered, stop reading, and have
    /// `connection_lost(error)` called soon.
    fn force_close(&self, error: Option<io::Error>) {
        if self.has(LOST) {
            return;
        }
        self.clear_buffer();
        self.set(CLOSING | LOST);
        if let Some(error) = error {
            self.error.set(Some(error));
        }
        if !self.has(STARTED) {
            // No driver yet (a prelude, such as a TLS handshake, runs): end the socket now,
            // which wakes whatever waits on it.
            self.endpoint.close();
        }
        self.wake();
    }

    /// asyncio's `close`.
    fn close(&self) {
        if self.has(CLOSING) {
            return;
        }
        if !self.has(STARTED) {
            // A prelude (a TLS handshake) runs and no protocol has the transport yet: end it
            // now, as asyncio closes the socket, rather than when the prelude gives up.
            self.force_close(None);
            return;
        }
        self.set(CLOSING);
        if self.pending() == 0 {
            self.set(LOST);
        }
        self.wake();
    }

    /// The buffer is empty: carry out a pending close or `write_eof`.
    fn after_flush(&self) {
        if self.has(CLOSING) {
            self.set(LOST);
        } else if self.has(EOF_ASKED) {
            self.shutdown_write();
        }
    }

    fn shutdown_write(&self) {
        if let Io::Socket(conn) = &self.endpoint.0 {
            // The peer may be gone already; a later read or write reports that.
            let _ = Sink::shutdown(conn, Shutdown::Write);
        }
    }

    /// Ends the connection without calling the protocol (the loop closed with it open, or
    /// a transport that never started); breaks the cycle of a protocol that keeps its
    /// transport.
    fn discard(&self) {
        if self.has(FINISHED) {
            return;
        }
        self.set(FINISHED | CLOSING | LOST);
        self.clear_buffer();
        if let Ok(mut protocol) = self.protocol.try_borrow_mut() {
            drop(protocol.take());
        }
        // What else may hold the transport: a protocol set and not installed yet, the
        // context's values.
        self.unset(NEW_PROTOCOL);
        drop(self.replacement.take());
        drop(self.context.take());
        if let Io::Socket(conn) = &self.endpoint.0 {
            Sink::abort(conn);
        }
        self.endpoint.close();
        drop(self.waker.take());
    }

    /// asyncio's `_call_connection_lost`: the protocol's last callback, then the socket
    /// closed and detached from its server.
    fn finish(&self) {
        // A protocol set and not installed yet is the one `connection_lost` goes to.
        self.settle_protocol();
        self.set(FINISHED | CLOSING | LOST);
        self.clear_buffer();
        let error = self.error.take();
        let protocol = self.protocol.borrow_mut().take();
        if let Some(mut protocol) = protocol {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| protocol.connection_lost(error)))
            {
                let message = aio_scheduler::panic_message(&*payload);
                report(
                    "Fatal error: protocol.connection_lost() call failed.",
                    io::Error::other(format!("panicked: {message}")),
                );
            }
        }
        self.endpoint.close();
        drop(self.waker.take());
    }

    fn reading(&self) -> bool {
        !self.has(CLOSING | READ_PAUSED | READ_EOF)
    }

    /// One turn of the driver task: flush, read, finish.
    fn drive(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut reads = 0;
        loop {
            if self.has(LOST) {
                self.finish();
                return Poll::Ready(());
            }
            if self.pending() > 0
                && (!self.has(LENT) || self.has(LENT_IDLE))
                && self.write_step(cx).is_ready()
            {
                continue;
            }
            let watch_reader = matches!(self.endpoint.0, Io::WritePipe(_));
            if watch_reader && !self.has(CLOSING) && self.reader_gone(cx) {
                // The pipe's reader went away (asyncio's `_UnixWritePipeTransport._read_ready`).
                if self.pending() > 0 {
                    self.force_close(Some(io::ErrorKind::BrokenPipe.into()));
                } else {
                    self.close();
                }
                continue;
            }
            if !watch_reader && self.reading() {
                if reads == READS_PER_TURN {
                    // Let the other tasks run; come back at once.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                let op = || match self.call(|protocol| protocol.read(&self.endpoint)) {
                    Some(Ok(Ok(n))) => Ok(Ok(n)),
                    Some(Ok(Err(error))) => Err(error),
                    Some(Err(payload)) => Ok(Err(payload)),
                    // Never here: only the driver reads, outside any callback.
                    None => Err(io::ErrorKind::WouldBlock.into()),
                };
                let read = match &self.endpoint.0 {
                    Io::Socket(conn) if conn.layer().is_none() => {
                        poll_read_ready_first(conn.io.registration(), cx, op)
                    }
                    Io::Socket(conn) => {
                        if self.layered_turn(conn, cx, &mut reads) {
                            continue;
                        }
                        Poll::Pending
                    }
                    _ => self.endpoint.poll_read_with(cx, op),
                };
                if self.after_read(read, &mut reads) {
                    continue;
                }
            }
            // Waits: the reactor has the waker for the directions above; keep it for calls
            // made outside this task too.
            match self.waker.take() {
                Some(waker) if waker.will_wake(cx.waker()) => self.waker.set(Some(waker)),
                _ => self.waker.set(Some(cx.waker().clone())),
            }
            return Poll::Pending;
        }
    }

    /// What the driver does with a read's outcome; `true` to go round again, `false` when
    /// the read waits.
    #[inline(always)]
    fn after_read(
        &self,
        read: Poll<io::Result<Result<usize, Box<dyn Any + Send>>>>,
        reads: &mut u32,
    ) -> bool {
        match read {
            Poll::Ready(Ok(Ok(0))) => {
                self.deliver_deferred();
                self.on_eof();
            }
            Poll::Ready(Ok(Ok(_))) => {
                *reads += 1;
                self.deliver_deferred();
            }
            Poll::Ready(Ok(Err(payload))) => {
                let name = if self.has(READ_EOF) {
                    "eof_received"
                } else {
                    data_callback(&self.protocol)
                };
                self.fatal(name, &*payload);
            }
            Poll::Ready(Err(error)) => {
                if is_misuse(&error) {
                    report(
                        "Fatal error: protocol.get_buffer() call failed.",
                        misuse_copy(&error),
                    );
                }
                // asyncio's "Fatal read error on socket transport": OS errors go to
                // `connection_lost` only.
                self.force_close(Some(error));
            }
            Poll::Pending => return false,
        }
        true
    }

    /// One read through the connection's layer (TLS), and what follows from it: out of the
    /// plain read path.
    #[cold]
    #[inline(never)]
    fn layered_turn(&self, conn: &Connection, cx: &mut Context<'_>, reads: &mut u32) -> bool {
        let read = self.layered_read(conn, cx);
        self.after_read(read, reads)
    }

    /// Sends what the buffer holds as far as the endpoint takes it: `Ready` once something
    /// changed (bytes sent, the connection lost), `Pending` with `cx`'s waker registered.
    #[inline(never)]
    fn write_step(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut buf = self.buf.take();
        let written = self.endpoint.poll_write(cx, &buf[self.start.get()..]);
        if let Poll::Ready(Ok(n)) = written {
            let start = self.start.get() + n;
            if start == buf.len() {
                buf.clear();
                self.start.set(0);
            } else {
                self.start.set(start);
            }
        }
        self.buf.set(buf);
        match written {
            Poll::Ready(Ok(0)) => {
                self.force_close(Some(io::ErrorKind::WriteZero.into()));
            }
            Poll::Ready(Ok(_)) => {
                self.maybe_resume();
                if self.pending() == 0 {
                    self.after_flush();
                }
            }
            Poll::Ready(Err(error)) => {
                // asyncio's "Fatal write error on socket transport": an OS error is not
                // reported, only passed to `connection_lost`.
                self.force_close(Some(error));
            }
            Poll::Pending => return Poll::Pending,
        }
        Poll::Ready(())
    }

    /// A read through the connection's layer (TLS): the layer's bytes, lent to the protocol.
    /// Same result as the plain read's `op`.
    #[inline(always)]
    fn layered_read(
        &self,
        conn: &Connection,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Result<usize, Box<dyn Any + Send>>>> {
        let Some(layer) = conn.layer() else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        let mut buf = LAYER_BUF.take();
        buf.clear();
        let result = match layer.poll_fill(cx, &mut buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Ready(Ok(0)) => Poll::Ready(Ok(Ok(0))),
            Poll::Ready(Ok(n)) => match self.call(|protocol| protocol.deliver(&buf[..n])) {
                Some(Ok(Ok(()))) => Poll::Ready(Ok(Ok(n))),
                Some(Ok(Err(error))) => Poll::Ready(Err(error)),
                Some(Err(payload)) => Poll::Ready(Ok(Err(payload))),
                None => Poll::Ready(Ok(Ok(n))),
            },
        };
        if buf.capacity() <= 2 * READ_SIZE {
            LAYER_BUF.set(buf);
        }
        result
    }

    /// The peer's EOF: asyncio's `_read_ready__on_eof` for a socket (the protocol decides
    /// whether to stay half-open), `_UnixReadPipeTransport._read_ready` for a pipe (closed).
    fn on_eof(&self) {
        self.set(READ_EOF);
        let keep_open = match self.call(|protocol| protocol.eof_received()) {
            Some(Ok(keep_open)) => keep_open,
            Some(Err(payload)) => {
                self.fatal("eof_received", &*payload);
                return;
            }
            None => false,
        };
        self.deliver_deferred();
        if matches!(self.endpoint.0, Io::ReadPipe(_)) {
            self.set(CLOSING | LOST);
        } else if !keep_open {
            self.close();
        }
    }

    /// For a write pipe: whether its reading end has closed (an error or hang-up on the
    /// descriptor). Leaves the reactor waiting for the next event otherwise.
    fn reader_gone(&self, cx: &mut Context<'_>) -> bool {
        let Io::WritePipe(pipe) = &self.endpoint.0 else {
            return false;
        };
        let pipe = pipe.borrow();
        let Some(fd) = pipe.as_ref() else {
            return true;
        };
        let registration: &Registration = fd.registration();
        loop {
            match registration.poll_readable(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return true,
                Poll::Pending => return false,
            }
            use rustix::event::{PollFd, PollFlags, Timespec};
            let mut fds = [PollFd::new(fd.get_ref(), PollFlags::empty())];
            let zero = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            match rustix::event::poll(&mut fds, Some(&zero)) {
                Ok(_) if fds[0].revents().intersects(PollFlags::ERR | PollFlags::HUP) => {
                    return true;
                }
                _ => registration.clear_readable(),
            }
        }
    }
}

thread_local! {
    /// Where a layer's reads land before the protocol gets them (one per thread, reused).
    static LAYER_BUF: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// [`Registration::poll_read_with`] for the hot path: while the source is known readable,
/// straight to `op` (the registration's poll is needed only to wait).
#[inline]
fn poll_read_ready_first<R>(
    registration: &Registration,
    cx: &mut Context<'_>,
    mut op: impl FnMut() -> io::Result<R>,
) -> Poll<io::Result<R>> {
    loop {
        if !registration.source().is_readable() {
            std::task::ready!(registration.poll_readable(cx))?;
        }
        match op() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => registration.clear_readable(),
            result => return Poll::Ready(result),
        }
    }
}

/// The name of the data callback of the protocol in `cell`, for reports.
fn data_callback(cell: &RefCell<Option<Box<dyn Driven>>>) -> &'static str {
    match cell.try_borrow() {
        Ok(protocol) => match protocol.as_deref() {
            Some(protocol) if protocol.buffered() => "buffer_updated",
            _ => "data_received",
        },
        Err(_) => "data_received",
    }
}

fn misuse_copy(error: &io::Error) -> io::Error {
    io::Error::new(error.kind(), error.to_string())
}

/// Reports to the running loop's exception handler.
fn report(message: &str, error: io::Error) {
    if let Ok(event_loop) = get_running_loop() {
        event_loop
            .call_exception_handler(&ExceptionContext::new(message).with_error(Arc::new(error)));
    }
}

impl Inner {
    /// One turn of the driver, in the transport's context.
    fn turn(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut context = self.context.take();
        self.set(IN_DRIVER);
        let poll = {
            let _entered = context.enter();
            self.drive(cx)
        };
        self.unset(IN_DRIVER);
        // Finished: the context goes now (its values may hold the transport).
        if poll.is_pending() {
            self.context.set(context);
        }
        poll
    }
}

/// The transport is its own driver: a local step of the loop (asyncio's reader callback),
/// so a wake-up per message costs no reference counting and touches no other allocation
/// (see `aio_scheduler::spawn_local_step`).
#[cfg(target_pointer_width = "64")]
impl aio_scheduler::LocalStep for Inner {
    fn step(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.turn(cx)
    }

    /// The loop closed with the connection open, or a turn panicked: break the cycle of a
    /// protocol that keeps its transport, without calling it.
    fn abandon(&self) {
        self.discard();
    }
}

/// Where local steps do not exist (their waker needs a 64-bit word), the driver is an
/// internal task's future; dropped unfinished, it ends the transport as `abandon` does.
#[cfg(not(target_pointer_width = "64"))]
struct Driver(Rc<Inner>);

#[cfg(not(target_pointer_width = "64"))]
impl Drop for Driver {
    fn drop(&mut self) {
        self.0.discard();
    }
}

impl Transport {
    /// A transport for `endpoint` and `protocol`, not started.
    pub(crate) fn new(endpoint: Endpoint, protocol: Box<dyn Driven>) -> Transport {
        Transport {
            inner: Rc::new(Inner {
                flags: Cell::new(0),
                lost_writes: Cell::new(0),
                buf: Cell::new(Vec::new()),
                start: Cell::new(0),
                high: Cell::new(DEFAULT_HIGH_WATER),
                low: Cell::new(DEFAULT_HIGH_WATER / 4),
                protocol: RefCell::new(Some(protocol)),
                error: Cell::new(None),
                replacement: Cell::new(None),
                waker: Cell::new(None),
                context: Cell::new(TaskContext::default()),
                endpoint,
            }),
        }
    }

    /// The connection the transport runs on, if it is a socket.
    pub(crate) fn connection(&self) -> Option<&Connection> {
        match &self.inner.endpoint.0 {
            Io::Socket(conn) => Some(conn),
            _ => None,
        }
    }

    /// Ends a transport that was never started, without calling its protocol.
    pub(crate) fn discard(&self) {
        self.inner.discard();
    }

    /// Starts a transport whose prelude succeeded; one closed meanwhile (its server's
    /// `abort_clients`) is ended without calling its protocol.
    pub(crate) fn start_after_prelude(&self) -> Result<(), aio_task::Error> {
        if self.inner.has(CLOSING) {
            self.discard();
            return Ok(());
        }
        self.start()
    }

    /// Lends the write side to the calling task (a `sendfile`, a layer's installation):
    /// the driver stops writing until the [`Lent`] is dropped.
    ///
    /// # Errors
    ///
    /// asyncio's `RuntimeError`s: the transport is closing, lent already, or its write side
    /// shut by `write_eof`.
    pub(crate) fn lend(&self) -> Result<Lent, aio_task::Error> {
        let inner = &*self.inner;
        if inner.has(CLOSING) {
            return Err(aio_task::Error::InvalidState("Transport is closing"));
        }
        if inner.has(LENT) {
            return Err(aio_task::Error::InvalidState(
                "a sendfile or a TLS upgrade is in progress on this transport",
            ));
        }
        if inner.has(EOF_ASKED) {
            // asyncio: `RuntimeError('Cannot call write() after write_eof()')`; the
            // transport stays open for reading.
            return Err(aio_task::Error::InvalidState(
                "Cannot call write() after write_eof()",
            ));
        }
        inner.set(LENT);
        Ok(Lent {
            transport: self.clone(),
        })
    }

    /// Calls `connection_made` and starts the driver task.
    ///
    /// # Errors
    ///
    /// Without a running loop (the transport is then closed without callbacks).
    pub(crate) fn start(&self) -> Result<(), aio_task::Error> {
        let inner = &self.inner;
        inner.set(STARTED);
        // asyncio schedules it (`call_soon`): it runs outside any task, also when this
        // start is made inside the task awaiting `create_connection`.
        aio_task::call_outside_task(|| {
            inner.callback("connection_made", |protocol| {
                protocol.connection_made(self);
            });
        });
        inner.context.set(TaskContext::capture());
        #[cfg(target_pointer_width = "64")]
        let started = aio_scheduler::spawn_local_step(inner.clone())
            .map_err(aio_task::Error::from)
            .inspect_err(|_| {
                // No running loop: break the protocol's cycle and close the endpoint.
                inner.discard();
            });
        // Local steps need a 64-bit waker word; elsewhere the driver is an internal task
        // (failing, its future was dropped, which discarded the transport).
        #[cfg(not(target_pointer_width = "64"))]
        let started = {
            let driver = Driver(inner.clone());
            aio_task::create_internal_task(std::future::poll_fn(move |cx| driver.0.turn(cx)))
                .map(drop)
        };
        started
    }

    /// Sends `data`: at once if the socket takes it, else buffered and sent by the
    /// transport's task (asyncio's `write`). Never blocks.
    ///
    /// Ignored, as asyncio ignores it: empty data; data written after
    /// [`close`](Transport::close) or [`abort`](Transport::abort) (with one warning to the
    /// loop's exception handler, "write() on a closing transport: data ignored"); data written
    /// after the connection was lost (the 5th such write warns, as asyncio's "socket.send()
    /// raised exception."). A write after [`write_eof`](Transport::write_eof) is a mistake
    /// (asyncio raises `RuntimeError`): it is ignored and reported once, "Cannot call write()
    /// after write_eof()".
    ///
    /// # Examples
    ///
    /// ```
    /// # use aio_streams::{Protocol, Transport};
    /// struct Greeter;
    /// impl Protocol for Greeter {
    ///     fn connection_made(&mut self, transport: &Transport) {
    ///         transport.write(b"hello\n");
    ///         transport.close(); // sends what is buffered first
    ///         transport.write(b"ignored"); // closing: dropped, one warning
    ///     }
    ///     fn data_received(&mut self, _: &[u8]) {}
    /// }
    /// aio_task::run(async {
    ///     let server = aio_streams::create_server(|| Greeter, "127.0.0.1", 0).await?;
    ///     let (reader, _w) = aio_streams::open_connection("127.0.0.1", server.port().unwrap()).await?;
    ///     assert_eq!(reader.read_to_end().await?, b"hello\n");
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn write(&self, data: &[u8]) {
        let inner = &*self.inner;
        if data.is_empty() {
            return;
        }
        if inner.has(LOST | CLOSING | EOF_ASKED | NATIVE_SENDFILE) {
            self.refuse_write();
            return;
        }
        let mut data = data;
        if inner.pending() == 0 {
            // Nothing queued: try the socket directly, as asyncio does.
            match inner.endpoint.write_now(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    if is_misuse(&e) {
                        report("write() on a read-only transport", misuse_copy(&e));
                        return;
                    }
                    inner.force_close(Some(e));
                    return;
                }
            }
            if data.is_empty() {
                return;
            }
            inner.wake();
        }
        let mut buf = inner.buf.take();
        buf.extend_from_slice(data);
        inner.buf.set(buf);
        inner.maybe_pause();
    }

    /// A write the transport's state refuses: counted and warned about (see
    /// [`write`](Transport::write)).
    #[cold]
    #[inline(never)]
    fn refuse_write(&self) {
        let inner = &*self.inner;
        if inner.has(LOST) {
            let count = inner.lost_writes.get() + 1;
            inner.lost_writes.set(count);
            if count >= LOST_WRITES_WARNING && !inner.has(WARNED_LOST) {
                inner.set(WARNED_LOST);
                report(
                    "socket.send() raised exception.",
                    io::Error::new(io::ErrorKind::NotConnected, "the connection is lost"),
                );
            }
            return;
        }
        if inner.has(CLOSING) {
            if !inner.has(WARNED_CLOSING) {
                inner.set(WARNED_CLOSING);
                report(
                    "write() on a closing transport: data ignored",
                    io::Error::new(io::ErrorKind::NotConnected, "the transport is closing"),
                );
            }
            return;
        }
        if inner.has(NATIVE_SENDFILE) {
            report(
                "unable to write; sendfile is in progress",
                io::Error::new(io::ErrorKind::ResourceBusy, "sendfile is in progress"),
            );
            return;
        }
        if inner.has(EOF_ASKED) && !inner.has(WARNED_EOF) {
            inner.set(WARNED_EOF);
            report(
                "Cannot call write() after write_eof()",
                io::Error::new(io::ErrorKind::InvalidInput, "write() after write_eof()"),
            );
        }
    }

    /// Sends every buffer of `chunks` in order (asyncio's `writelines`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use aio_streams::{Protocol, Transport};
    /// struct Lines;
    /// impl Protocol for Lines {
    ///     fn connection_made(&mut self, transport: &Transport) {
    ///         transport.writelines([&b"a\n"[..], b"b\n"]);
    ///         transport.close();
    ///     }
    ///     fn data_received(&mut self, _: &[u8]) {}
    /// }
    /// aio_task::run(async {
    ///     let server = aio_streams::create_server(|| Lines, "127.0.0.1", 0).await?;
    ///     let (reader, _w) = aio_streams::open_connection("127.0.0.1", server.port().unwrap()).await?;
    ///     assert_eq!(reader.read_to_end().await?, b"a\nb\n");
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn writelines<'a>(&self, chunks: impl IntoIterator<Item = &'a [u8]>) {
        for chunk in chunks {
            self.write(chunk);
        }
    }

    /// Shuts down the sending direction once the buffer is flushed (asyncio's `write_eof`):
    /// the peer reads EOF; reading goes on. On a write pipe it closes the transport, as
    /// asyncio's pipe transport does. Nothing for a read pipe, or a transport closing.
    ///
    /// # Examples
    ///
    /// ```
    /// # use aio_streams::{Protocol, Transport};
    /// struct Once;
    /// impl Protocol for Once {
    ///     fn connection_made(&mut self, transport: &Transport) {
    ///         transport.write(b"all of it");
    ///         assert!(transport.can_write_eof());
    ///         transport.write_eof();
    ///     }
    ///     fn data_received(&mut self, _: &[u8]) {}
    /// }
    /// aio_task::run(async {
    ///     let server = aio_streams::create_server(|| Once, "127.0.0.1", 0).await?;
    ///     let (reader, _w) = aio_streams::open_connection("127.0.0.1", server.port().unwrap()).await?;
    ///     assert_eq!(reader.read_to_end().await?, b"all of it");
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn write_eof(&self) {
        let inner = &*self.inner;
        if inner.has(CLOSING | EOF_ASKED) {
            return;
        }
        match inner.endpoint.0 {
            Io::ReadPipe(_) => {}
            Io::WritePipe(_) => inner.close(),
            Io::Socket(_) => {
                inner.set(EOF_ASKED);
                if inner.pending() == 0 {
                    inner.shutdown_write();
                }
            }
        }
    }

    /// Whether [`write_eof`](Transport::write_eof) is supported: for sockets and write
    /// pipes (`false` for a read pipe).
    ///
    /// # Examples
    ///
    /// See [`write_eof`](Transport::write_eof).
    pub fn can_write_eof(&self) -> bool {
        !matches!(self.inner.endpoint.0, Io::ReadPipe(_))
    }

    /// Stops delivering data to the protocol until [`resume_reading`](Transport::resume_reading)
    /// (asyncio's `pause_reading`); the kernel's buffers fill, and the peer's writes
    /// eventually wait. Harmless on a paused or closed transport.
    ///
    /// # Examples
    ///
    /// ```
    /// # use aio_streams::{Protocol, Transport};
    /// struct Slow;
    /// impl Protocol for Slow {
    ///     fn connection_made(&mut self, transport: &Transport) {
    ///         transport.pause_reading();
    ///         assert!(!transport.is_reading());
    ///         transport.resume_reading();
    ///         assert!(transport.is_reading());
    ///         transport.close();
    ///         transport.pause_reading(); // closing: nothing happens
    ///     }
    ///     fn data_received(&mut self, _: &[u8]) {}
    /// }
    /// aio_task::run(async {
    ///     let server = aio_streams::create_server(|| Slow, "127.0.0.1", 0).await?;
    ///     let (reader, _w) = aio_streams::open_connection("127.0.0.1", server.port().unwrap()).await?;
    ///     assert_eq!(reader.read_to_end().await?, b"");
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn pause_reading(&self) {
        let inner = &*self.inner;
        if inner.has(CLOSING) {
            return;
        }
        inner.set(READ_PAUSED);
    }

    /// Delivers data again after [`pause_reading`](Transport::pause_reading) (asyncio's
    /// `resume_reading`). Harmless on a transport not paused or closing.
    ///
    /// # Examples
    ///
    /// See [`pause_reading`](Transport::pause_reading).
    pub fn resume_reading(&self) {
        let inner = &*self.inner;
        if inner.has(CLOSING) || !inner.has(READ_PAUSED) {
            return;
        }
        inner.unset(READ_PAUSED);
        inner.wake();
    }

    /// Whether the transport delivers data: not paused, not closing (asyncio's
    /// `is_reading`).
    ///
    /// # Examples
    ///
    /// See [`pause_reading`](Transport::pause_reading).
    pub fn is_reading(&self) -> bool {
        !self.inner.has(CLOSING | READ_PAUSED)
    }

    /// Closes the connection once the buffer is flushed (asyncio's `close`): no more data is
    /// delivered, and the protocol's `connection_lost(None)` is called soon (from the
    /// transport's task, never inside this call). Calling it again does nothing.
    ///
    /// # Examples
    ///
    /// See [`write`](Transport::write).
    pub fn close(&self) {
        self.inner.close();
    }

    /// Closes the connection at once, dropping unsent data (asyncio's `abort`);
    /// `connection_lost(None)` is called soon.
    ///
    /// # Examples
    ///
    /// ```
    /// # use aio_streams::{Protocol, Transport};
    /// struct Rude;
    /// impl Protocol for Rude {
    ///     fn connection_made(&mut self, transport: &Transport) {
    ///         transport.write(&vec![7; 8 << 20]); // more than the socket takes at once
    ///         assert!(transport.get_write_buffer_size() > 0);
    ///         transport.abort();
    ///         assert_eq!(transport.get_write_buffer_size(), 0);
    ///         assert!(transport.is_closing());
    ///     }
    ///     fn data_received(&mut self, _: &[u8]) {}
    /// }
    /// aio_task::run(async {
    ///     let server = aio_streams::create_server(|| Rude, "127.0.0.1", 0).await?;
    ///     let (reader, _w) = aio_streams::open_connection("127.0.0.1", server.port().unwrap()).await?;
    ///     let got = reader.read_to_end().await.map(|d| d.len()).unwrap_or(0);
    ///     assert!(got < 8 << 20);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn abort(&self) {
        if let Some(conn) = self.connection() {
            // A layer must not say goodbye as if the stream were complete.
            Sink::abort(conn);
        }
        self.inner.force_close(None);
    }

    /// Whether the transport is closing or closed (asyncio's `is_closing`).
    ///
    /// # Examples
    ///
    /// See [`abort`](Transport::abort).
    pub fn is_closing(&self) -> bool {
        self.inner.has(CLOSING)
    }

    /// The peer's address (asyncio's `get_extra_info("peername")`); `None` for a pipe.
    ///
    /// # Examples
    ///
    /// See [`Transport`].
    pub fn peername(&self) -> Option<Address> {
        self.connection().and_then(Sink::peer)
    }

    /// The local address (asyncio's `get_extra_info("sockname")`); `None` for a pipe.
    ///
    /// # Examples
    ///
    /// ```
    /// # use aio_streams::{Address, Protocol, Transport};
    /// struct Quiet;
    /// impl Protocol for Quiet {
    ///     fn data_received(&mut self, _: &[u8]) {}
    /// }
    /// aio_task::run(async {
    ///     let server = aio_streams::create_server(|| Quiet, "127.0.0.1", 0).await?;
    ///     let port = server.port().unwrap();
    ///     let transport = aio_streams::create_connection(|| Quiet, "127.0.0.1", port).await?;
    ///     let Some(Address::Inet(peer)) = transport.peername() else { panic!() };
    ///     assert_eq!(peer.port(), port);
    ///     assert!(transport.sockname().is_some());
    ///     assert_eq!(transport.get_extra_info("peername").unwrap().address(), Some(&Address::Inet(peer)));
    ///     assert!(transport.get_extra_info("socket").unwrap().fd().is_some());
    ///     assert!(transport.get_extra_info("nonsense").is_none());
    ///     transport.close();
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn sockname(&self) -> Option<Address> {
        self.connection().and_then(Sink::local)
    }

    /// The socket's or pipe's descriptor while the transport is open (asyncio's
    /// `get_extra_info("socket")` / `("pipe")`), borrowed: the transport owns and closes it.
    ///
    /// # Examples
    ///
    /// See [`sockname`](Transport::sockname).
    pub fn raw_fd(&self) -> Option<RawFd> {
        if self.inner.has(FINISHED) {
            return None;
        }
        self.inner.endpoint.raw_fd()
    }

    /// asyncio's string-keyed `get_extra_info`: `"peername"`, `"sockname"` (sockets),
    /// `"socket"` (a socket's descriptor), `"pipe"` (a pipe's descriptor). Anything else, or
    /// a key that does not apply, is `None`.
    ///
    /// # Examples
    ///
    /// See [`sockname`](Transport::sockname).
    pub fn get_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        let is_socket = self.connection().is_some();
        match name {
            "peername" => self.peername().map(ExtraInfo::Address),
            "sockname" => self.sockname().map(ExtraInfo::Address),
            "socket" if is_socket => self.raw_fd().map(ExtraInfo::Fd),
            "pipe" if !is_socket => self.raw_fd().map(ExtraInfo::Fd),
            _ => None,
        }
    }

    /// Sets the write buffer's water marks (asyncio's `set_write_buffer_limits`): with only
    /// `high`, low is a quarter of it; with only `low`, high is four times it; with neither,
    /// 64 KiB and 16 KiB. New marks can pause writing at once (`pause_writing`).
    ///
    /// # Errors
    ///
    /// [`StreamError::Value`] if `high` is below `low`; the marks stay as they were.
    ///
    /// # Examples
    ///
    /// ```
    /// # use aio_streams::{Protocol, Transport};
    /// struct Marks;
    /// impl Protocol for Marks {
    ///     fn connection_made(&mut self, transport: &Transport) {
    ///         assert_eq!(transport.get_write_buffer_limits(), (16 * 1024, 64 * 1024));
    ///         transport.set_write_buffer_limits(Some(1000), None).unwrap();
    ///         assert_eq!(transport.get_write_buffer_limits(), (250, 1000));
    ///         assert!(transport.set_write_buffer_limits(Some(1), Some(2)).is_err());
    ///         transport.close();
    ///     }
    ///     fn data_received(&mut self, _: &[u8]) {}
    /// }
    /// aio_task::run(async {
    ///     let server = aio_streams::create_server(|| Marks, "127.0.0.1", 0).await?;
    ///     let (reader, _w) = aio_streams::open_connection("127.0.0.1", server.port().unwrap()).await?;
    ///     assert_eq!(reader.read_to_end().await?, b"");
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn set_write_buffer_limits(
        &self,
        high: Option<usize>,
        low: Option<usize>,
    ) -> Result<(), StreamError> {
        let (high, low) = crate::writer::water_marks(high, low)?;
        self.inner.high.set(high);
        self.inner.low.set(low);
        self.inner.maybe_pause();
        Ok(())
    }

    /// The water marks, `(low, high)` (asyncio's `get_write_buffer_limits`).
    ///
    /// # Examples
    ///
    /// See [`set_write_buffer_limits`](Transport::set_write_buffer_limits).
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        (self.inner.low.get(), self.inner.high.get())
    }

    /// Bytes written but not yet sent (asyncio's `get_write_buffer_size`).
    ///
    /// # Examples
    ///
    /// See [`abort`](Transport::abort).
    pub fn get_write_buffer_size(&self) -> usize {
        self.inner.pending()
    }

    /// Puts a [`Layer`] (TLS) between the transport's socket and its protocol, once what was
    /// written before is sent (in plaintext): `make` gets the [`Wire`] to the socket and
    /// gives the layer, which is returned. From then on the transport's reads come from
    /// [`Layer::poll_fill`] and its writes go to [`Layer::write_now`] /
    /// [`Layer::poll_write`]; `write_eof` and `close` end through [`Layer::shutdown`],
    /// `abort` through [`Layer::abort`]. The transport's own code is otherwise unchanged (a
    /// plain transport pays one branch per read for this).
    ///
    /// Pause reading first ([`pause_reading`](Transport::pause_reading)) if the peer may
    /// already be sending bytes meant for the layer, and resume it afterwards. It is how
    /// `aio-tls` makes asyncio's `create_connection(ssl=)`, `create_server(ssl=)` and
    /// `loop.start_tls` for transports.
    ///
    /// # Errors
    ///
    /// [`StreamError::State`] for a pipe transport, a transport that has a layer already,
    /// is closing, or runs a `sendfile` or another installation (`make` is not called);
    /// the connection's error if it is lost before the buffer is sent.
    ///
    /// # Examples
    ///
    /// See [`Layer`] for a whole layer; a pipe transport takes none:
    ///
    /// ```
    /// # use std::{any::Any, io, net::Shutdown, rc::Rc, task::{Context, Poll}};
    /// # struct Nothing;
    /// # impl aio_streams::Layer for Nothing {
    /// #     fn poll_fill(&self, _: &mut Context<'_>, _: &mut Vec<u8>) -> Poll<io::Result<usize>> { Poll::Ready(Ok(0)) }
    /// #     fn write_now(&self, b: &[u8]) -> io::Result<usize> { Ok(b.len()) }
    /// #     fn poll_write(&self, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> { Poll::Ready(Ok(b.len())) }
    /// #     fn shutdown(&self, _: Shutdown) -> io::Result<()> { Ok(()) }
    /// #     fn as_any(&self) -> &dyn Any { self }
    /// # }
    /// # struct Quiet;
    /// # impl aio_streams::Protocol for Quiet { fn data_received(&mut self, _: &[u8]) {} }
    /// let (_read_end, write_end) = std::io::pipe()?;
    /// aio_task::run(async move {
    ///     let transport = aio_streams::connect_write_pipe_protocol(|| Quiet, write_end)?;
    ///     assert!(transport.install_layer(|_wire| Rc::new(Nothing)).await.is_err());
    ///     assert!(transport.layer().is_none());
    ///     transport.close();
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn install_layer<L: Layer + 'static>(
        &self,
        make: impl FnOnce(Wire) -> Rc<L>,
    ) -> Result<Rc<L>, StreamError> {
        let conn = self.connection().ok_or(StreamError::State(
            "a layer (TLS) can be installed only on a TCP or Unix socket transport",
        ))?;
        if conn.layer().is_some() {
            return Err(StreamError::State(
                "the connection already has a layer (TLS)",
            ));
        }
        let lent = self.lend().map_err(|_| {
            StreamError::State("the transport is closing, or runs a sendfile or a TLS upgrade")
        })?;
        lent.flushed().await?;
        let layer = make(Wire::for_transport(&self.inner));
        conn.install_layer(layer.clone())?;
        Ok(layer)
    }

    /// The transport's [`Layer`], if one was installed
    /// ([`install_layer`](Transport::install_layer)); its crate finds its own type with
    /// [`Layer::as_any`].
    ///
    /// # Examples
    ///
    /// See [`install_layer`](Transport::install_layer).
    pub fn layer(&self) -> Option<Rc<dyn Layer>> {
        self.connection()?.layer().cloned()
    }

    /// Runs `f` on the transport's protocol if it is a `P` (asyncio's `get_protocol`, typed):
    /// `None` if it is another type, if the protocol is in one of its callbacks (call this
    /// from outside them), or after `connection_lost` (the transport drops its protocol then).
    ///
    /// # Examples
    ///
    /// ```
    /// # use aio_streams::{Protocol, Transport};
    /// struct Counter(usize);
    /// impl Protocol for Counter {
    ///     fn data_received(&mut self, data: &[u8]) { self.0 += data.len(); }
    ///     // Stay open after the server's EOF: the transport keeps its protocol until
    ///     // `connection_lost`.
    ///     fn eof_received(&mut self) -> bool { true }
    /// }
    /// aio_task::run(async {
    ///     let server = aio_streams::start_server(|_, w| async move { w.write(b"12345") }, "127.0.0.1", 0).await?;
    ///     let transport = aio_streams::create_connection(|| Counter(0), "127.0.0.1", server.port().unwrap()).await?;
    ///     while transport.with_protocol(|c: &mut Counter| c.0) != Some(5) {
    ///         aio_scheduler::sleep(0.001).await?;
    ///     }
    ///     assert_eq!(transport.with_protocol(|s: &mut String| s.len()), None); // not a String
    ///     transport.close();
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn with_protocol<P: 'static, R>(&self, f: impl FnOnce(&mut P) -> R) -> Option<R> {
        /// Installs a protocol `f` set, also if `f` panics (after the borrow ends).
        struct Settle<'a>(&'a Inner);
        impl Drop for Settle<'_> {
            fn drop(&mut self) {
                self.0.settle_protocol();
            }
        }
        let settle = Settle(&self.inner);
        let result = {
            let mut guard = self.inner.protocol.try_borrow_mut().ok()?;
            let protocol = guard.as_mut()?.as_any().downcast_mut::<P>()?;
            f(protocol)
        };
        drop(settle);
        self.inner.deliver_deferred();
        Some(result)
    }

    /// Makes `protocol` the transport's protocol from now on (asyncio's `set_protocol`):
    /// the data, EOF, flow-control and `connection_lost` callbacks that follow go to it, and
    /// the old protocol is dropped. The new one gets no `connection_made` (it is handed the
    /// transport some other way, as in asyncio). Called inside a callback of the current
    /// protocol, which is then still running, the switch happens as that callback returns.
    /// A [`BufferedProtocol`](crate::BufferedProtocol) can replace a
    /// [`Protocol`](crate::Protocol) and the other way round. After `connection_lost`
    /// nothing is called any more: `protocol` is dropped unused. Before the transport
    /// started (in a prelude: see
    /// [`create_connection_with_prelude`](crate::create_connection_with_prelude)), the
    /// protocol set is the one that gets `connection_made`. A panic in the old protocol's
    /// destructor is reported to the loop's exception handler; the connection goes on.
    ///
    /// # Examples
    ///
    /// A protocol that reads one greeting line and then hands the connection over to an
    /// echo protocol, the way a protocol upgrade (HTTP `Upgrade:`) switches:
    ///
    /// ```
    /// use aio_streams::{Protocol, Transport};
    ///
    /// struct Greeting(Option<Transport>);
    /// impl Protocol for Greeting {
    ///     fn connection_made(&mut self, transport: &Transport) {
    ///         self.0 = Some(transport.clone());
    ///     }
    ///     fn data_received(&mut self, data: &[u8]) {
    ///         let transport = self.0.as_ref().unwrap();
    ///         assert_eq!(data, b"upgrade\n");
    ///         transport.write(b"switching\n");
    ///         transport.set_protocol(Echo(transport.clone()));
    ///     }
    /// }
    /// struct Echo(Transport);
    /// impl Protocol for Echo {
    ///     fn data_received(&mut self, data: &[u8]) {
    ///         self.0.write(data);
    ///     }
    /// }
    ///
    /// aio_task::run(async {
    ///     let server = aio_streams::create_server(|| Greeting(None), "127.0.0.1", 0).await?;
    ///     let (reader, writer) =
    ///         aio_streams::open_connection("127.0.0.1", server.port().unwrap()).await?;
    ///     writer.write(b"upgrade\n");
    ///     assert_eq!(reader.readline().await?, b"switching\n");
    ///     writer.write(b"ping\n");
    ///     assert_eq!(reader.readline().await?, b"ping\n");
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn set_protocol<P: AnyProtocol>(&self, protocol: P) {
        self.inner.replace_protocol(protocol.into_driven());
    }
}

/// The write side of a transport lent to a task ([`Transport::lend`]); given back, and the
/// driver woken, when dropped.
pub(crate) struct Lent {
    transport: Transport,
}

impl Lent {
    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Refuses `write` until dropped (a `sendfile(2)` owns the socket).
    pub(crate) fn refuse_writes(&self) {
        self.transport.inner.set(NATIVE_SENDFILE);
    }

    /// Accepts `write` again (a `sendfile(2)` that could not run).
    pub(crate) fn allow_writes(&self) {
        self.transport.inner.unset(NATIVE_SENDFILE);
    }

    /// Appends `data` to the write buffer, without flow control (the lender waits for it
    /// to be sent with [`flushed`](Lent::flushed)).
    pub(crate) fn push(&self, data: &[u8]) {
        let inner = &*self.transport.inner;
        let mut buf = inner.buf.take();
        buf.extend_from_slice(data);
        inner.buf.set(buf);
    }

    /// Lets the driver write while this task does something else (a fallback reading the
    /// file's next block), until [`busy`](Lent::busy).
    pub(crate) fn idle(&self) {
        let inner = &*self.transport.inner;
        inner.set(LENT_IDLE);
        if inner.pending() > 0 {
            inner.wake();
        }
    }

    /// Takes the write side back from the driver (see [`idle`](Lent::idle)).
    pub(crate) fn busy(&self) {
        self.transport.inner.unset(LENT_IDLE);
    }

    /// Waits until the write buffer is empty, sending it from this task (asyncio's
    /// `_make_empty_waiter`).
    ///
    /// # Errors
    ///
    /// The transport was closed or lost before its buffer was sent.
    pub(crate) async fn flushed(&self) -> io::Result<()> {
        let inner = &*self.transport.inner;
        std::future::poll_fn(|cx| {
            loop {
                if inner.has(LOST) {
                    // `after_flush` or a failed write: the driver calls `connection_lost`.
                    inner.wake();
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::NotConnected,
                        "the transport is closed",
                    )));
                }
                if inner.pending() == 0 {
                    return Poll::Ready(Ok(()));
                }
                if inner.write_step(cx).is_pending() {
                    return Poll::Pending;
                }
            }
        })
        .await
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let inner = &*self.transport.inner;
        inner.unset(LENT | LENT_IDLE | NATIVE_SENDFILE);
        // The driver may have writes to send again.
        inner.wake();
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.inner.endpoint.0 {
            Io::Socket(_) => "socket",
            Io::ReadPipe(_) => "read pipe",
            Io::WritePipe(_) => "write pipe",
        };
        f.debug_struct("Transport")
            .field("kind", &kind)
            .field("fd", &self.raw_fd())
            .field("closing", &self.is_closing())
            .field("reading", &self.is_reading())
            .field("write_buffer", &self.get_write_buffer_size())
            .finish()
    }
}
