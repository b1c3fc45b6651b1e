//! Layers: a protocol (TLS) between a connection's socket and its reader and writer.
//!
//! aio-streams knows nothing of TLS: a layer crate (aio-tls) implements [`Layer`] and
//! installs it on a connection with [`StreamWriter::install_layer`](crate::StreamWriter::install_layer),
//! or on a protocol transport with [`Transport::install_layer`](crate::Transport::install_layer)
//! (whose reads then come from [`Layer::poll_fill`] and go to the protocol).
//! From then on the connection's [`StreamReader`](crate::StreamReader) fills its buffer from
//! [`Layer::poll_fill`] (decrypted bytes) and its [`StreamWriter`](crate::StreamWriter)
//! hands its bytes to [`Layer::write_now`] / [`Layer::poll_write`]; the layer reaches the
//! socket through a [`Wire`]. A connection without a layer pays one branch per read and
//! write, nothing else.

use std::any::Any;
use std::fmt;
use std::io;
use std::net::Shutdown;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};

use crate::socket::{Address, Connection, Socket, StreamSocket};
use crate::{transport, writer};

/// A protocol between a connection's socket and its reader and writer (TLS): what the
/// reader reads and the writer writes go through it. Installed with
/// [`StreamWriter::install_layer`](crate::StreamWriter::install_layer); a connection keeps
/// its layer until it closes.
///
/// The reader calls [`poll_fill`](Layer::poll_fill) from the reading task; the writer calls
/// [`write_now`](Layer::write_now) from `write` and [`poll_write`](Layer::poll_write) from
/// its background flush, one at a time and never re-entrantly.
///
/// # The writer's promise
///
/// A write that reports `WouldBlock` (or `Pending`) may still have *taken* bytes — encrypted
/// them, say, with the ciphertext not all on the wire yet. The writer keeps those bytes
/// buffered and offers them again, first, on its next write: the layer then reports them
/// written (without encrypting them twice) once its own output is out. So every byte the
/// writer counts as sent is on the wire, and `close` / `write_eof` reach
/// [`shutdown`](Layer::shutdown) only after that.
///
/// # Examples
///
/// A layer that upper-cases what the writer writes (and leaves reading alone):
///
/// ```
/// use std::{any::Any, io, net::Shutdown, rc::Rc, task::{Context, Poll}};
/// use aio_streams::{Layer, Wire, open_connection, start_server};
///
/// struct Upper(Wire);
/// impl Upper {
///     fn send(&self, buf: &[u8], cx: Option<&mut Context<'_>>) -> Poll<io::Result<usize>> {
///         // One byte at a time keeps the example short: what is taken is on the wire.
///         let upper = [buf[0].to_ascii_uppercase()];
///         let op = |io: &mut dyn io::Write| io.write(&upper);
///         match cx {
///             Some(cx) => self.0.poll_write_with(cx, op),
///             None => Poll::Ready(self.0.write_now_with(op)),
///         }
///     }
/// }
/// impl Layer for Upper {
///     fn poll_fill(&self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
///         let mut chunk = [0u8; 1024];
///         let n = std::task::ready!(self.0.poll_read_with(cx, |io| io.read(&mut chunk)))?;
///         buf.extend_from_slice(&chunk[..n]);
///         Poll::Ready(Ok(n))
///     }
///     fn write_now(&self, buf: &[u8]) -> io::Result<usize> {
///         match self.send(buf, None) {
///             Poll::Ready(result) => result,
///             Poll::Pending => unreachable!("write_now_with never waits"),
///         }
///     }
///     fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
///         self.send(buf, Some(cx))
///     }
///     fn shutdown(&self, how: Shutdown) -> io::Result<()> {
///         self.0.shutdown(how)
///     }
///     fn as_any(&self) -> &dyn Any {
///         self
///     }
/// }
///
/// aio_task::run(async {
///     let server = start_server(
///         |reader, writer| async move {
///             let line = reader.readline().await?;
///             writer.write(&line);
///             writer.drain().await
///         },
///         "127.0.0.1",
///         0,
///     )
///     .await?;
///     let (reader, writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
///     writer.install_layer(|wire| Rc::new(Upper(wire)))?;
///     writer.write(b"quiet\n");
///     assert_eq!(reader.readline().await?, b"QUIET\n"); // the server echoes what it got
///     assert!(writer.layer().is_some());
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub trait Layer {
    /// Appends the bytes the layer has for the reader now and returns how many:
    /// `Ready(Ok(0))` is end of file. `Pending` (with `cx`'s waker registered) when none is
    /// available yet. As [`ReadSource::poll_fill`](crate::ReadSource::poll_fill).
    ///
    /// # Errors
    ///
    /// The error that ended the stream (it becomes the reader's exception and closes the
    /// connection, as a failed socket read does).
    fn poll_fill(&self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>>;

    /// Takes bytes of `buf` now, without waiting: how many, or `WouldBlock` (see the
    /// writer's promise in the trait's documentation).
    ///
    /// # Errors
    ///
    /// `WouldBlock`, or the error that lost the connection.
    fn write_now(&self, buf: &[u8]) -> io::Result<usize>;

    /// Takes bytes of `buf`, waiting (with `cx`'s waker registered) when it can take none.
    ///
    /// # Errors
    ///
    /// The error that lost the connection.
    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;

    /// The writer has flushed and ends the writing direction (`write_eof`: `Write`) or the
    /// connection (`close`: `Both`): the layer says goodbye (TLS's close_notify) and shuts
    /// the socket down through its [`Wire`].
    ///
    /// # Errors
    ///
    /// The socket's, if shutting it down failed (the writer ignores it: the peer may be gone).
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;

    /// The writer aborts (`abort`): unsent data is dropped, and the layer must not say
    /// goodbye as if the stream were complete. [`shutdown`](Layer::shutdown)`(Both)` follows.
    fn abort(&self) {}

    /// The layer itself, for its crate to find its own type again behind
    /// [`StreamWriter::layer`](crate::StreamWriter::layer).
    fn as_any(&self) -> &dyn Any;
}

/// A layer's way to its connection's socket: non-blocking reads and writes of the bytes on
/// the wire, with the loop's readiness. It does not keep the connection open (a layer lives
/// in its connection) unless made with [`keep_alive`](Wire::keep_alive).
///
/// Readiness is shared with the reader and the writer: each direction wakes one task, so a
/// layer waits for reading only from [`Layer::poll_fill`] (or while it alone uses the
/// connection, as during a handshake) and for writing only from [`Layer::poll_write`].
///
/// # Examples
///
/// See [`Layer`].
#[derive(Clone)]
pub struct Wire {
    conn: WireConn,
}

#[derive(Clone)]
enum WireConn {
    Weak(WeakOwner),
    Strong(Owner),
}

/// What holds a connection with a layer: a stream writer's shared state, or a transport.
#[derive(Clone)]
enum Owner {
    Writer(Rc<writer::Inner>),
    Transport(Rc<transport::Inner>),
}

#[derive(Clone)]
enum WeakOwner {
    Writer(Weak<writer::Inner>),
    Transport(Weak<transport::Inner>),
}

impl WeakOwner {
    fn upgrade(&self) -> Option<Owner> {
        match self {
            WeakOwner::Writer(conn) => conn.upgrade().map(Owner::Writer),
            WeakOwner::Transport(conn) => conn.upgrade().map(Owner::Transport),
        }
    }
}

/// A socket connection's owner, seen as the connection.
struct Conn(Owner);

impl std::ops::Deref for Conn {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        // A wire is made only for a socket connection (`install_layer`).
        match &self.0 {
            Owner::Writer(writer) => writer
                .sink()
                .connection()
                .expect("a wire's sink is a socket connection"),
            Owner::Transport(transport) => match &transport.endpoint.0 {
                transport::Io::Socket(conn) => conn,
                _ => unreachable!("a wire's transport is a socket transport"),
            },
        }
    }
}

/// The socket as `io::Read` + `io::Write`: one non-blocking `recv` / `send` per call.
struct SocketIo<'a>(&'a StreamSocket);

impl io::Read for SocketIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read_some(buf)
    }
}

impl io::Write for SocketIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_some(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection is closed")
}

impl Wire {
    /// A wire to `conn`, whose sink is a socket connection.
    pub(crate) fn new(conn: &Rc<writer::Inner>) -> Wire {
        Wire {
            conn: WireConn::Weak(WeakOwner::Writer(Rc::downgrade(conn))),
        }
    }

    /// A wire to the socket of `transport`, a socket transport.
    pub(crate) fn for_transport(transport: &Rc<transport::Inner>) -> Wire {
        Wire {
            conn: WireConn::Weak(WeakOwner::Transport(Rc::downgrade(transport))),
        }
    }

    fn conn(&self) -> Option<Conn> {
        match &self.conn {
            WireConn::Weak(conn) => conn.upgrade().map(Conn),
            WireConn::Strong(conn) => Some(Conn(conn.clone())),
        }
    }

    /// Runs `op` on the socket until it does not report `WouldBlock`, waiting for read
    /// readiness in between (`Pending`, `cx`'s waker registered).
    ///
    /// # Errors
    ///
    /// `op`'s error, or `NotConnected` once the connection is gone.
    ///
    /// # Examples
    ///
    /// See [`Layer`].
    pub fn poll_read_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&mut dyn io::Read) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let Some(conn) = self.conn() else {
            return Poll::Ready(Err(gone()));
        };
        conn.io
            .registration()
            .poll_read_with(cx, || op(&mut SocketIo(conn.socket())))
    }

    /// Runs `op` on the socket until it does not report `WouldBlock`, waiting for write
    /// readiness in between (`Pending`, `cx`'s waker registered).
    ///
    /// # Errors
    ///
    /// `op`'s error, or `NotConnected` once the connection is gone.
    ///
    /// # Examples
    ///
    /// See [`Layer`].
    pub fn poll_write_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&mut dyn io::Write) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let Some(conn) = self.conn() else {
            return Poll::Ready(Err(gone()));
        };
        conn.io
            .registration()
            .poll_write_with(cx, || op(&mut SocketIo(conn.socket())))
    }

    /// Runs `op` on the socket once, now; a `WouldBlock` also forgets the write readiness
    /// (so the next [`poll_write_with`](Wire::poll_write_with) waits for the next event).
    ///
    /// # Errors
    ///
    /// `op`'s error (`WouldBlock` included), or `NotConnected` once the connection is gone.
    ///
    /// # Examples
    ///
    /// See [`Layer`].
    pub fn write_now_with<R>(
        &self,
        op: impl FnOnce(&mut dyn io::Write) -> io::Result<R>,
    ) -> io::Result<R> {
        let conn = self.conn().ok_or_else(gone)?;
        let written = op(&mut SocketIo(conn.socket()));
        if matches!(&written, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            conn.io.registration().clear_writable();
        }
        written
    }

    /// Shuts the socket down (`shutdown(2)`).
    ///
    /// # Errors
    ///
    /// The OS error, or `NotConnected` once the connection is gone.
    ///
    /// # Examples
    ///
    /// See [`Layer`].
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.conn().ok_or_else(gone)?.socket().shutdown(how)
    }

    /// The peer's address (`None` once the connection is gone).
    ///
    /// # Examples
    ///
    /// See [`Layer`].
    pub fn peername(&self) -> Option<Address> {
        self.conn()?.socket().peer()
    }

    /// A wire that keeps the connection open while it lives (for a layer finishing its
    /// goodbye in a task of its own after the reader and writer are gone); `None` if the
    /// connection is gone already.
    ///
    /// # Examples
    ///
    /// See [`Layer`].
    pub fn keep_alive(&self) -> Option<Wire> {
        Some(Wire {
            conn: WireConn::Strong(self.conn()?.0),
        })
    }
}

impl fmt::Debug for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wire")
            .field("peername", &self.peername())
            .finish_non_exhaustive()
    }
}
