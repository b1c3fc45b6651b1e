//! `StreamWriter`: buffered writes with asyncio's flow control.

use std::cell::Cell;
use std::fmt;
use std::future::poll_fn;
use std::net::Shutdown;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::socket::{Address, Sink};
use crate::{Layer, StreamError, Wire};

/// asyncio's default high-water mark: 64 KiB.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;

/// asyncio's `_set_write_buffer_limits`: the `(high, low)` water marks for the given ones
/// (with only `high`, low is a quarter of it; with only `low`, high is four times it; with
/// neither, 64 KiB and 16 KiB). Shared by the stream writer and the transports.
pub(crate) fn water_marks(
    high: Option<usize>,
    low: Option<usize>,
) -> Result<(usize, usize), StreamError> {
    let high = high.unwrap_or_else(|| low.map_or(DEFAULT_HIGH_WATER, |low| 4 * low));
    let low = low.unwrap_or(high / 4);
    if high < low {
        return Err(StreamError::Value("high must be >= low must be >= 0"));
    }
    Ok((high, low))
}

/// asyncio's `StreamWriter`: `write` buffers and never blocks; [`drain`](StreamWriter::drain)
/// applies flow control.
///
/// Written data goes out as soon as the socket takes it (a direct write first; what is left
/// is flushed in the background by the loop). Flow control is asyncio's: a `write` that leaves
/// more than the high-water mark (64 KiB by default) buffered *pauses* writing, and writing
/// stays paused until a send brings the buffer down to the low-water mark (a quarter of the
/// high one, 16 KiB by default). `drain` returns at once while writing is not paused and
/// waits while it is, even when the buffer is between the marks. Every task draining resumes.
/// Once the connection is lost, `drain` reports the error instead of waiting forever.
///
/// Clones share the connection.
///
/// # Examples
///
/// ```
/// use std::io::Read;
///
/// let (mut read_end, write_end) = std::io::pipe()?;
/// aio_task::run(async move {
///     let writer = aio_streams::connect_write_pipe(write_end)?;
///     let clone = writer.clone(); // clones share the connection
///     writer.write(b"one ");
///     clone.write(b"two");
///     writer.drain().await?;
///     writer.close();
///     writer.wait_closed().await?;
///     Ok::<_, aio_task::Error>(())
/// })??;
/// let mut got = String::new();
/// read_end.read_to_string(&mut got)?;
/// assert_eq!(got, "one two");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct StreamWriter {
    inner: Rc<Inner>,
}

/// A writer's state, with its sink last: `Inner<dyn Sink>` behind every [`StreamWriter`].
/// A socket connection is the sink itself (`Inner<Connection>`, one allocation for the
/// connection and its writer, which the reader shares); other sinks (pipes) sit behind an
/// `Rc<dyn Sink>`.
pub(crate) struct Inner<S: ?Sized = dyn Sink> {
    /// Unsent bytes, from `start`. A `Cell` (taken and put back): no borrow flag, 8 bytes
    /// less in every connection. Nothing the writer calls while it holds the bytes out (the
    /// sink's write) comes back to the writer.
    buf: Cell<Vec<u8>>,
    start: Cell<usize>,
    high: Cell<usize>,
    low: Cell<usize>,
    /// Writing is paused (asyncio's `_protocol_paused`): set when the buffer goes above the
    /// high mark, cleared only by a send that leaves it at or below the low mark.
    paused: Cell<bool>,
    closing: Cell<bool>,
    /// `write_eof` was asked for: shut down writing once the buffer is flushed.
    eof: Cell<bool>,
    closed: Cell<bool>,
    /// Boxed: a lost connection is rare, and the box keeps the writer small. A `Cell` (taken
    /// and put back to look at it): no borrow flag.
    lost: Cell<Option<Box<StreamError>>>,
    /// A `write` after `write_eof`, for the next `drain` to report.
    misused: Cell<bool>,
    /// Tasks in `drain`, `wait_closed` or the `AsyncWrite` polls.
    waiters: Waiters,
    /// A background flush is running.
    flushing: Cell<bool>,
    sink: S,
}

impl<S> Inner<S> {
    /// A writer's state around `sink`, not shared yet.
    pub(crate) fn new(sink: S) -> Inner<S> {
        Inner {
            buf: Cell::new(Vec::new()),
            start: Cell::new(0),
            high: Cell::new(DEFAULT_HIGH_WATER),
            low: Cell::new(DEFAULT_HIGH_WATER / 4),
            paused: Cell::new(false),
            closing: Cell::new(false),
            eof: Cell::new(false),
            closed: Cell::new(false),
            lost: Cell::new(None),
            misused: Cell::new(false),
            waiters: Waiters::default(),
            flushing: Cell::new(false),
            sink,
        }
    }
}

impl<S: ?Sized> Inner<S> {
    /// The sink (for a socket writer, the connection).
    pub(crate) fn sink(&self) -> &S {
        &self.sink
    }
}

/// A sink shared behind an `Rc` (a pipe's) is a sink.
impl<S: Sink + ?Sized> Sink for Rc<S> {
    fn write_now(&self, buf: &[u8]) -> std::io::Result<usize> {
        (**self).write_now(buf)
    }
    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        (**self).poll_write(cx, buf)
    }
    fn shutdown(&self, how: Shutdown) -> std::io::Result<()> {
        (**self).shutdown(how)
    }
    fn peer(&self) -> Option<Address> {
        (**self).peer()
    }
    fn local(&self) -> Option<Address> {
        (**self).local()
    }
    fn read_error(&self) -> Option<StreamError> {
        (**self).read_error()
    }
    fn closed(&self) {
        (**self).closed()
    }
    fn abort(&self) {
        (**self).abort()
    }
    fn connection(&self) -> Option<&crate::socket::Connection> {
        (**self).connection()
    }
}

impl Inner {
    /// Looks at the lost-connection error (taken out of its cell and put back).
    fn with_lost<R>(&self, f: impl FnOnce(Option<&StreamError>) -> R) -> R {
        let lost = self.lost.take();
        let result = f(lost.as_deref());
        self.lost.set(lost);
        result
    }

    fn is_lost(&self) -> bool {
        self.with_lost(|lost| lost.is_some())
    }

    fn lost_error(&self) -> Option<StreamError> {
        self.with_lost(|lost| lost.cloned())
    }

    /// Works on the unsent bytes (taken out of their cell and put back).
    fn with_buf<R>(&self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let mut buf = self.buf.take();
        let result = f(&mut buf);
        self.buf.set(buf);
        result
    }

    fn pending(&self) -> usize {
        self.with_buf(|buf| buf.len()) - self.start.get()
    }

    /// asyncio's `_maybe_pause_protocol`: after a write that buffered, and after the marks
    /// change.
    fn maybe_pause(&self) {
        if self.pending() > self.high.get() {
            self.paused.set(true);
        }
    }

    /// asyncio's `_maybe_resume_protocol`: after a send. Resuming wakes every drainer.
    fn maybe_resume(&self) {
        if self.paused.get() && self.pending() <= self.low.get() {
            self.paused.set(false);
            self.wake_waiters();
        }
    }

    /// What `drain` and `poll_write` wait for: writing resumed, or the connection closed (an
    /// abort while paused lets them go, as asyncio's `connection_lost(None)` does).
    fn may_write(&self) -> bool {
        !self.paused.get() || self.closed.get()
    }

    fn wake_waiters(&self) {
        self.waiters.wake_all();
    }

    /// The connection is lost (its read failed): drop what is buffered, end every drain and
    /// `wait_closed` with `error`, and close (asyncio's `_force_close`).
    pub(crate) fn lose(&self, error: StreamError) {
        if !self.is_lost() {
            self.lost.set(Some(Box::new(error)));
        }
        self.with_buf(Vec::clear);
        self.start.set(0);
        self.finish_close();
        self.wake_waiters();
    }

    /// Writes buffered bytes while the socket takes them. `Ready` once the buffer is empty
    /// (or the connection is lost).
    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.is_lost() {
                return Poll::Ready(());
            }
            let start = self.start.get();
            let written = self.with_buf(|buf| {
                if start == buf.len() {
                    buf.clear();
                    None
                } else {
                    Some(self.sink.poll_write(cx, &buf[start..]))
                }
            });
            let Some(written) = written else {
                self.start.set(0);
                self.after_flush();
                return Poll::Ready(());
            };
            match written {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    self.lose(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
                }
                Poll::Ready(Ok(n)) => {
                    self.start.set(self.start.get() + n);
                    self.maybe_resume();
                }
                Poll::Ready(Err(error)) => self.lose(error.into()),
            }
        }
    }

    /// The buffer is empty: carry out a pending `write_eof` or `close`.
    fn after_flush(&self) {
        if self.eof.get() || self.closing.get() {
            let how = if self.closing.get() {
                Shutdown::Both
            } else {
                Shutdown::Write
            };
            // The peer may be gone already; there is nothing left to report it to.
            let _ = self.sink.shutdown(how);
        }
        if self.closing.get() {
            self.finish_close();
        }
        self.wake_waiters();
    }

    fn finish_close(&self) {
        self.closing.set(true);
        if !self.closed.replace(true) {
            self.sink.closed();
        }
    }
}

impl StreamWriter {
    pub(crate) fn new(conn: Rc<dyn Sink>) -> StreamWriter {
        StreamWriter {
            inner: Rc::new(Inner::new(conn)),
        }
    }

    /// The writer of a shared state (a socket connection's, which its reader holds too).
    pub(crate) fn from_shared(inner: Rc<Inner>) -> StreamWriter {
        StreamWriter { inner }
    }

    /// Queues `data`: written at once if the socket takes it, otherwise buffered and sent in
    /// the background. Never blocks. Data written after `close` or after the connection was
    /// lost is dropped, as asyncio does. Data written after [`write_eof`](Self::write_eof) is
    /// dropped too, and the next [`drain`](Self::drain) fails with
    /// [`StreamError::State`] ("Cannot call write() after write_eof()"), where asyncio's
    /// `write` raises it.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_read_end, write_end) = std::io::pipe()?;
    /// aio_task::run(async move {
    ///     let writer = aio_streams::connect_write_pipe(write_end)?;
    ///     writer.write(b"hello");
    ///     assert_eq!(writer.get_write_buffer_size(), 0); // the pipe took it at once
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write(&self, data: &[u8]) {
        let inner = &self.inner;
        if inner.closing.get() || inner.is_lost() {
            return;
        }
        if inner.eof.get() {
            inner.misused.set(true);
            return;
        }
        if data.is_empty() {
            return;
        }
        let mut data = data;
        if inner.pending() == 0 {
            // Nothing queued: try the socket directly, as asyncio's transport does.
            match inner.sink.write_now(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    inner.lose(e.into());
                    return;
                }
            }
            if data.is_empty() {
                return;
            }
        }
        inner.with_buf(|buf| buf.extend_from_slice(data));
        inner.maybe_pause();
        self.ensure_flushing();
    }

    /// Queues every buffer in `lines` (asyncio's `writelines`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// let (mut read_end, write_end) = std::io::pipe()?;
    /// aio_task::run(async move {
    ///     let writer = aio_streams::connect_write_pipe(write_end)?;
    ///     writer.writelines([&b"a\n"[..], b"b\n"]);
    ///     writer.close();
    ///     writer.wait_closed().await
    /// })??;
    /// let mut got = String::new();
    /// read_end.read_to_string(&mut got)?;
    /// assert_eq!(got, "a\nb\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn writelines<'a>(&self, lines: impl IntoIterator<Item = &'a [u8]>) {
        for line in lines {
            self.write(line);
        }
    }

    /// Starts the background flush if it is not running (needs a running loop; without one,
    /// `drain` flushes).
    fn ensure_flushing(&self) {
        // Marked before the task exists: a task that finished inside the call that made it
        // (an eager start) has cleared the mark again by the time the call returns.
        if self.inner.flushing.replace(true) {
            return;
        }
        let inner = self.inner.clone();
        let spawned = aio_task::create_internal_task(async move {
            poll_fn(|cx| inner.poll_flush(cx)).await;
            inner.flushing.set(false);
        });
        if spawned.is_err() {
            self.inner.flushing.set(false);
        }
    }

    /// Waits while writing is paused (asyncio's `drain`): returns at once unless a `write`
    /// (or [`set_write_buffer_limits`](Self::set_write_buffer_limits)) found the buffer above
    /// the high-water mark; then it waits until the buffer has fallen to the low-water mark.
    /// The pause has memory, as asyncio's: a buffer that drained only partly, to between the
    /// marks, or a high mark raised above what is buffered, does not resume writing.
    ///
    /// # Errors
    ///
    /// In asyncio's order: the error the connection's reader ended with (a reset it saw,
    /// even with nothing buffered here); the connection's error once it is lost, instead of
    /// waiting forever; [`StreamError::State`] once after a `write` that came after
    /// `write_eof`; and a `ConnectionReset` "Connection lost" once the writer was closed
    /// (asyncio's `ConnectionResetError('Connection lost')` after `close()`).
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: `drain` only waits, and what was written is already in the
    /// writer's buffer. Dropping the future loses no data: the buffered bytes are still sent by
    /// the background flush, and writing stays paused until the buffer is down to the low mark,
    /// exactly as if `drain` had not been called, and its waker entry goes with it. One exception: data written with no
    /// running loop has no background flush, and `drain` flushes it itself; dropped, that data
    /// stays buffered until the next `drain`, `close` or `write` on a running loop moves it.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::{open_connection, start_server};
    ///
    /// aio_task::run(async {
    ///     let server = start_server(
    ///         |reader, _| async move { reader.read_to_end().await.map(drop) },
    ///         "127.0.0.1",
    ///         0,
    ///     )
    ///     .await?;
    ///     let (_, writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    ///     for _ in 0..64 {
    ///         writer.write(&[0u8; 64 * 1024]);
    ///         // Returns at once unless writing is paused, else once the peer caught up.
    ///         writer.drain().await?;
    ///         // Not paused: the buffer is at or below the high mark.
    ///         assert!(writer.get_write_buffer_size() <= 64 * 1024);
    ///     }
    ///     writer.close();
    ///     writer.wait_closed().await?;
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    #[track_caller]
    pub fn drain(&self) -> impl Future<Output = Result<(), StreamError>> {
        // Reports this call's line as where the task waits (`aio_observe`).
        aio_observe::At::new(std::panic::Location::caller(), self.drain_inner())
    }

    async fn drain_inner(&self) -> Result<(), StreamError> {
        let inner = &self.inner;
        if let Some(error) = inner.sink.read_error() {
            return Err(error);
        }
        if let Some(error) = inner.lost_error() {
            return Err(error);
        }
        if inner.misused.take() {
            return Err(StreamError::State("Cannot call write() after write_eof()"));
        }
        if inner.closed.get() {
            return Err(connection_lost());
        }
        if !inner.paused.get() {
            return Ok(());
        }
        let wait = WaitSlot::new(&inner.waiters);
        poll_fn(|cx| {
            // Without a background flush (no running loop when written), flush from here.
            if !inner.flushing.get() {
                let _ = inner.poll_flush(cx);
            }
            if let Some(error) = inner.lost_error() {
                return Poll::Ready(Err(error));
            }
            if inner.may_write() {
                return Poll::Ready(Ok(()));
            }
            wait.register(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Sets the water marks (asyncio's `set_write_buffer_limits`): with only `high`, low is a
    /// quarter of it; with only `low`, high is four times it; with neither, the defaults.
    ///
    /// As in asyncio, new marks can pause writing (the buffer is above the new high mark) but
    /// never resume it: a paused writer resumes only when a send leaves the buffer at or below
    /// the low mark.
    ///
    /// # Errors
    ///
    /// [`StreamError::Value`] when `high` is below `low` (asyncio's `ValueError`); the marks
    /// are left as they were.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(writer: aio_streams::StreamWriter) -> Result<(), aio_streams::StreamError> {
    /// writer.set_write_buffer_limits(Some(1024), None)?;
    /// assert_eq!(writer.get_write_buffer_limits(), (256, 1024));
    /// assert!(writer.set_write_buffer_limits(Some(10), Some(100)).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_write_buffer_limits(
        &self,
        high: Option<usize>,
        low: Option<usize>,
    ) -> Result<(), StreamError> {
        let (high, low) = water_marks(high, low)?;
        self.inner.high.set(high);
        self.inner.low.set(low);
        self.inner.maybe_pause();
        Ok(())
    }

    /// The water marks, `(low, high)` (asyncio's order).
    ///
    /// # Examples
    ///
    /// ```
    /// let (_read_end, write_end) = std::io::pipe()?;
    /// aio_task::run(async move {
    ///     let writer = aio_streams::connect_write_pipe(write_end)?;
    ///     assert_eq!(writer.get_write_buffer_limits(), (16 * 1024, 64 * 1024)); // the defaults
    ///     writer.set_write_buffer_limits(None, Some(100))?;
    ///     assert_eq!(writer.get_write_buffer_limits(), (100, 400));
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        (self.inner.low.get(), self.inner.high.get())
    }

    /// Bytes written but not yet sent.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_read_end, write_end) = std::io::pipe()?; // nobody reads
    /// aio_task::run(async move {
    ///     let writer = aio_streams::connect_write_pipe(write_end)?;
    ///     writer.write(&vec![0; 1 << 20]); // more than the pipe holds
    ///     assert!(writer.get_write_buffer_size() > 0);
    ///     writer.abort();
    ///     assert_eq!(writer.get_write_buffer_size(), 0);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_write_buffer_size(&self) -> usize {
        self.inner.pending()
    }

    /// Shuts down the sending direction once the buffer is flushed (asyncio's `write_eof`);
    /// the peer's reader sees EOF.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// let (mut read_end, write_end) = std::io::pipe()?;
    /// aio_task::run(async move {
    ///     let writer = aio_streams::connect_write_pipe(write_end)?;
    ///     writer.write(b"done");
    ///     writer.write_eof(); // for a pipe: closes it once flushed
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// let mut got = String::new();
    /// read_end.read_to_string(&mut got)?; // ends: the reader saw EOF
    /// assert_eq!(got, "done");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_eof(&self) {
        let inner = &self.inner;
        if inner.eof.replace(true) || inner.closing.get() {
            return;
        }
        if inner.pending() == 0 {
            inner.after_flush();
        } else {
            self.ensure_flushing();
        }
    }

    /// Whether [`write_eof`](StreamWriter::write_eof) is supported: always (for TCP and Unix
    /// sockets it shuts down the sending direction; for a pipe it closes the pipe).
    ///
    /// # Examples
    ///
    /// ```
    /// let (_read_end, write_end) = std::io::pipe()?;
    /// aio_task::run(async move {
    ///     let writer = aio_streams::connect_write_pipe(write_end)?;
    ///     assert!(writer.can_write_eof());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn can_write_eof(&self) -> bool {
        true
    }

    /// Closes the connection once the buffer is flushed (asyncio's `close`).
    ///
    /// # Examples
    ///
    /// ```
    /// let (_read_end, write_end) = std::io::pipe()?;
    /// aio_task::run(async move {
    ///     let writer = aio_streams::connect_write_pipe(write_end)?;
    ///     writer.write(b"flushed before closing");
    ///     writer.close();
    ///     writer.write(b"dropped"); // after close: ignored, as in asyncio
    ///     writer.wait_closed().await?;
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) {
        let inner = &self.inner;
        if inner.closing.replace(true) {
            return;
        }
        if inner.pending() == 0 || inner.is_lost() {
            inner.after_flush();
        } else {
            self.ensure_flushing();
        }
    }

    /// Closes at once, dropping unsent data (asyncio's `transport.abort()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let (_read_end, write_end) = std::io::pipe()?; // nobody reads
    /// aio_task::run(async move {
    ///     let writer = aio_streams::connect_write_pipe(write_end)?;
    ///     writer.write(&vec![0; 1 << 20]);
    ///     writer.abort(); // the unsent part is dropped
    ///     assert!(writer.is_closing());
    ///     assert_eq!(writer.get_write_buffer_size(), 0);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn abort(&self) {
        let inner = &self.inner;
        inner.with_buf(Vec::clear);
        inner.start.set(0);
        inner.closing.set(true);
        inner.sink.abort();
        inner.after_flush();
    }

    /// Whether the writer is closing or closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_read_end, write_end) = std::io::pipe()?;
    /// aio_task::run(async move {
    ///     let writer = aio_streams::connect_write_pipe(write_end)?;
    ///     assert!(!writer.is_closing());
    ///     writer.close();
    ///     assert!(writer.is_closing());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_closing(&self) -> bool {
        self.inner.closing.get()
    }

    /// Waits until the connection is closed (after [`close`](StreamWriter::close) and the
    /// flush, or after it was lost).
    ///
    /// # Errors
    ///
    /// The connection's error if it was lost before closing cleanly.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: it only waits. Dropping the future does not stop or undo the
    /// close; the connection closes all the same, and its waker entry goes with it.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Error, run, wait_for};
    ///
    /// let (_read_end, write_end) = std::io::pipe()?;
    /// run(async move {
    ///     let writer = aio_streams::connect_write_pipe(write_end)?;
    ///     // Not closing: the wait times out (and is dropped, harmlessly).
    ///     assert!(matches!(wait_for(writer.wait_closed(), 0.01).await, Err(Error::Timeout)));
    ///     writer.close();
    ///     writer.wait_closed().await?;
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn wait_closed(&self) -> impl Future<Output = Result<(), StreamError>> {
        // Reports this call's line as where the task waits (`aio_observe`).
        aio_observe::At::new(std::panic::Location::caller(), self.wait_closed_inner())
    }

    async fn wait_closed_inner(&self) -> Result<(), StreamError> {
        let inner = &self.inner;
        let wait = WaitSlot::new(&inner.waiters);
        poll_fn(|cx| {
            if inner.closed.get() {
                return Poll::Ready(match inner.lost_error() {
                    Some(error) => Err(error),
                    None => Ok(()),
                });
            }
            wait.register(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// The peer's address (asyncio's `get_extra_info("peername")`); `None` for a pipe.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let server = aio_streams::start_server(|_, _| async {}, "127.0.0.1", 0).await?;
    ///     let port = server.port().unwrap();
    ///     let (_, writer) = aio_streams::open_connection("127.0.0.1", port).await?;
    ///     assert_eq!(writer.peername().unwrap().to_string(), format!("127.0.0.1:{port}"));
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn peername(&self) -> Option<Address> {
        self.inner.sink.peer()
    }

    /// This end's address (asyncio's `get_extra_info("sockname")`); `None` for a pipe.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::Address;
    ///
    /// aio_task::run(async {
    ///     let server = aio_streams::start_server(|_, _| async {}, "127.0.0.1", 0).await?;
    ///     let port = server.port().unwrap();
    ///     let (_, writer) = aio_streams::open_connection("127.0.0.1", port).await?;
    ///     let Some(Address::Inet(local)) = writer.sockname() else { panic!("a TCP socket") };
    ///     assert!(local.ip().is_loopback() && local.port() != 0);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn sockname(&self) -> Option<Address> {
        self.inner.sink.local()
    }
}

impl StreamWriter {
    /// Puts a [`Layer`] (TLS) between this connection's socket and its reader and writer:
    /// `make` gets the [`Wire`] to the socket and gives the layer, which is returned. From
    /// then on both halves go through it; bytes the reader buffered before stay buffered,
    /// and are read first. Write nothing (or flush first: `futures_io::AsyncWrite::poll_flush`)
    /// before installing: bytes still buffered here go through the layer.
    ///
    /// It is how `aio-tls` makes asyncio's `ssl=` connections and `StreamWriter.start_tls`.
    ///
    /// # Errors
    ///
    /// [`StreamError::State`] for a pipe (only TCP and Unix socket connections take a layer)
    /// or a connection that has one already; `make` is not called then.
    ///
    /// # Examples
    ///
    /// See [`Layer`] for a whole layer; a pipe takes none:
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
    /// let (_read_end, write_end) = std::io::pipe()?;
    /// aio_task::run(async move {
    ///     let writer = aio_streams::connect_write_pipe(write_end)?;
    ///     assert!(writer.install_layer(|_wire| Rc::new(Nothing)).is_err());
    ///     assert!(writer.layer().is_none());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn install_layer<L: Layer + 'static>(
        &self,
        make: impl FnOnce(Wire) -> Rc<L>,
    ) -> Result<Rc<L>, StreamError> {
        let conn = self.inner.sink.connection().ok_or(StreamError::State(
            "a layer (TLS) can be installed only on a TCP or Unix socket connection",
        ))?;
        if conn.layer().is_some() {
            return Err(StreamError::State(
                "the connection already has a layer (TLS)",
            ));
        }
        let layer = make(Wire::new(&self.inner));
        conn.install_layer(layer.clone())?;
        Ok(layer)
    }

    /// The connection's [`Layer`], if one was installed
    /// ([`install_layer`](StreamWriter::install_layer)); its crate finds its own type with
    /// [`Layer::as_any`].
    ///
    /// # Examples
    ///
    /// See [`Layer`] and [`install_layer`](StreamWriter::install_layer).
    pub fn layer(&self) -> Option<Rc<dyn Layer>> {
        self.inner.sink.connection()?.layer().cloned()
    }
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("buffered", &self.inner.pending())
            .field("closing", &self.inner.closing.get())
            .finish()
    }
}

impl StreamWriter {
    /// Waits until everything written so far has gone to the sink (asyncio's transport
    /// `_make_empty_waiter`, which `loop.sendfile` awaits before it sends on the socket
    /// itself). The error the writer was lost with, if it was; closed is an error too.
    pub(crate) async fn flushed(&self) -> Result<(), StreamError> {
        let inner = &self.inner;
        let wait = WaitSlot::new(&inner.waiters);
        poll_fn(|cx| {
            if !inner.flushing.get() {
                let _ = inner.poll_flush(cx);
            }
            if let Some(error) = inner.lost_error() {
                return Poll::Ready(Err(error));
            }
            if inner.closing.get() {
                return Poll::Ready(Err(connection_lost()));
            }
            if inner.pending() == 0 {
                return Poll::Ready(Ok(()));
            }
            wait.register(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// The socket connection under the writer, if it is one (not a pipe).
    pub(crate) fn connection(&self) -> Option<&crate::socket::Connection> {
        self.inner.sink.connection()
    }
}

impl Inner {
    fn lost_io(&self) -> Option<std::io::Error> {
        self.with_lost(|lost| lost.map(crate::error::to_io))
    }

    /// Registers a waiter (one per task: these polls have no future of their own to hold an
    /// entry); with no background flush running (no loop at write time), makes progress from
    /// here. `Ready` when `done()` holds.
    fn poll_until(&self, cx: &mut Context<'_>, done: impl Fn(&Inner) -> bool) -> Poll<()> {
        if !self.flushing.get() {
            let _ = self.poll_flush(cx);
        }
        if done(self) || self.is_lost() {
            return Poll::Ready(());
        }
        self.waiters.register_task(cx.waker());
        Poll::Pending
    }
}

/// The tasks waiting on a writer. A waiting future (`drain`, `wait_closed`) owns one entry,
/// brought up to date at each poll and removed when the future ends or is dropped, so a
/// future re-polled a million times by a select loop holds one entry, not a million, and an
/// abandoned one (a timeout) leaves nothing behind. The `AsyncWrite` polls have no future
/// to own an entry: they keep one entry per task (`Waker::will_wake`), until the next wake.
/// Every entry is woken at once (all drainers resume together, as in asyncio).
#[derive(Default)]
struct Waiters {
    /// `(id, waker)`: id 0 for the `AsyncWrite` polls, else the owning [`WaitSlot`]'s.
    /// A `Cell` (taken and put back): no borrow flag, 8 bytes less in every writer.
    entries: Cell<Vec<(u64, Waker)>>,
    /// The last id handed to a [`WaitSlot`].
    last_id: Cell<u64>,
}

impl Waiters {
    /// Keeps `waker` in the entry `id` (made if absent: the first poll, or after a wake).
    fn register(&self, id: u64, waker: &Waker) {
        let mut entries = self.entries.take();
        match entries.iter_mut().find(|(entry, _)| *entry == id) {
            // `clone_from` keeps the stored waker if it wakes the same task.
            Some((_, stored)) => stored.clone_from(waker),
            None => entries.push((id, waker.clone())),
        }
        self.entries.set(entries);
    }

    /// Keeps `waker` unless a stored `AsyncWrite` entry wakes the same task.
    fn register_task(&self, waker: &Waker) {
        let mut entries = self.entries.take();
        if !entries
            .iter()
            .any(|(id, stored)| *id == 0 && stored.will_wake(waker))
        {
            entries.push((0, waker.clone()));
        }
        self.entries.set(entries);
    }

    fn forget(&self, id: u64) {
        let mut entries = self.entries.take();
        entries.retain(|(entry, _)| *entry != id);
        self.entries.set(entries);
    }

    fn wake_all(&self) {
        for (_, waker) in self.entries.take() {
            waker.wake();
        }
    }

    /// How many wakers are stored, for the regression tests.
    #[cfg(test)]
    fn len(&self) -> usize {
        let entries = self.entries.take();
        let len = entries.len();
        self.entries.set(entries);
        len
    }
}

/// One waiting future's entry in [`Waiters`], removed when dropped.
struct WaitSlot<'a> {
    waiters: &'a Waiters,
    id: u64,
}

impl<'a> WaitSlot<'a> {
    fn new(waiters: &'a Waiters) -> WaitSlot<'a> {
        let id = waiters.last_id.get() + 1;
        waiters.last_id.set(id);
        WaitSlot { waiters, id }
    }

    fn register(&self, waker: &Waker) {
        self.waiters.register(self.id, waker);
    }
}

impl Drop for WaitSlot<'_> {
    fn drop(&mut self) {
        self.waiters.forget(self.id);
    }
}

/// The writer as a [`futures_io::AsyncWrite`], for ecosystem code written against it. Unlike
/// [`StreamWriter::write`], `poll_write` applies flow control itself: while writing is paused
/// (see [`StreamWriter::drain`]) it waits, like `drain`, until the buffer is down to the low
/// mark. `poll_flush` waits for the buffer to empty. `poll_close` is a flush and a
/// half-close, as tokio's `shutdown` and async-io's `poll_close`: asyncio's
/// [`write_eof`](StreamWriter::write_eof) (`shutdown(SHUT_WR)` on a socket, closing the
/// descriptor of a pipe), so the reader still gets the peer's reply. It is *not*
/// [`StreamWriter::close`], which closes both directions; call that (or drop both halves)
/// to release the connection.
///
/// # Examples
///
/// ```
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use futures_io::AsyncWrite;
/// use aio_streams::{open_connection, start_server};
///
/// aio_task::run(async {
///     let server = start_server(
///         |reader, _| async move { reader.read_to_end().await.map(drop) },
///         "127.0.0.1",
///         0,
///     )
///     .await?;
///     let (_, mut writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
///     let n = poll_fn(|cx| Pin::new(&mut writer).poll_write(cx, b"via futures-io")).await?;
///     assert_eq!(n, 14);
///     poll_fn(|cx| Pin::new(&mut writer).poll_close(cx)).await?;
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
impl futures_io::AsyncWrite for StreamWriter {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let inner = &self.inner;
        if let Some(error) = inner.lost_io() {
            return Poll::Ready(Err(error));
        }
        if inner.closing.get() || inner.eof.get() {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the writer is closing",
            )));
        }
        if inner.paused.get() {
            std::task::ready!(inner.poll_until(cx, Inner::may_write));
            if let Some(error) = inner.lost_io() {
                return Poll::Ready(Err(error));
            }
            if inner.closing.get() {
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "the writer is closing",
                )));
            }
        }
        self.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        let inner = &self.inner;
        std::task::ready!(inner.poll_until(cx, |i| i.pending() == 0));
        Poll::Ready(inner.lost_io().map_or(Ok(()), Err))
    }

    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        // Half-close, as tokio's `shutdown` and async-io's `poll_close` do: the reading
        // side stays open for the peer's reply. A writer already closing finishes closing.
        self.write_eof();
        let inner = &self.inner;
        std::task::ready!(inner.poll_until(cx, |i| i.pending() == 0 || i.closed.get()));
        Poll::Ready(inner.lost_io().map_or(Ok(()), Err))
    }
}

/// asyncio's `ConnectionResetError('Connection lost')`, for a `drain` after `close`.
fn connection_lost() -> StreamError {
    StreamError::Io {
        kind: std::io::ErrorKind::ConnectionReset,
        message: "Connection lost".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::io::Read;
    use std::net::TcpListener;
    use std::pin::{Pin, pin};
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};

    use super::StreamWriter;
    use crate::open_connection;

    const POLLS: usize = 100_000;

    fn stored_wakers(writer: &StreamWriter) -> usize {
        writer.inner.waiters.len()
    }

    /// A waker of its own (never `will_wake`s another), as a select wrapper that builds a
    /// new waker per poll would pass.
    struct Distinct;
    impl Wake for Distinct {
        fn wake(self: Arc<Self>) {}
    }

    /// Polls `future` once with `waker`; it must still be waiting.
    fn poll_pending<F: Future>(future: Pin<&mut F>, waker: &Waker) {
        let mut cx = Context::from_waker(waker);
        assert!(future.poll(&mut cx).is_pending(), "the wait ended early");
    }

    /// A writer whose writing is paused: its peer (a listener's backlog) never reads.
    async fn paused_writer(listener: &TcpListener) -> Result<StreamWriter, aio_task::Error> {
        let port = listener.local_addr()?.port();
        let (_, writer) = open_connection("127.0.0.1", port).await?;
        writer.set_write_buffer_limits(Some(1024), None)?;
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..256 {
            writer.write(&chunk);
            if writer.get_write_buffer_size() > 1024 {
                // One more chunk, so that what the kernel still drains of the last one (ACKs
                // arriving later) cannot bring the buffer back under the low mark.
                writer.write(&chunk);
                return Ok(writer);
            }
        }
        panic!("the kernel took 256 MiB without the peer reading");
    }

    /// Regression (issue 14): each poll of a waiting `drain` stored another waker, so a
    /// select loop re-polling it a million times grew the writer by about 16 MB.
    #[test]
    fn a_repolled_drain_keeps_one_waker() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        aio_task::run(async move {
            let writer = paused_writer(&listener).await?;
            {
                let mut drain = pin!(writer.drain());
                // The same waker, a fresh clone of it each poll, and a new task's waker
                // each poll: one entry throughout.
                for _ in 0..POLLS {
                    poll_pending(drain.as_mut(), Waker::noop());
                }
                assert_eq!(stored_wakers(&writer), 1);
                for _ in 0..POLLS {
                    poll_pending(drain.as_mut(), &Waker::noop().clone());
                }
                assert_eq!(stored_wakers(&writer), 1);
                for _ in 0..1000 {
                    poll_pending(drain.as_mut(), &Waker::from(Arc::new(Distinct)));
                }
                assert_eq!(stored_wakers(&writer), 1);
            }
            // A dropped drain (a timeout, a lost select) leaves nothing behind.
            assert_eq!(stored_wakers(&writer), 0);
            for _ in 0..100 {
                let _ = aio_task::wait_for(writer.drain(), 0.0001).await;
            }
            assert_eq!(stored_wakers(&writer), 0);
            Ok::<_, aio_task::Error>(())
        })
        .unwrap()
        .unwrap();
    }

    /// Several tasks draining one writer are all woken once the peer catches up.
    #[test]
    fn every_drainer_is_woken() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        aio_task::run(async move {
            let writer = paused_writer(&listener).await?;
            let drains: Vec<_> = (0..3)
                .map(|_| {
                    let writer = writer.clone();
                    aio_task::create_task(async move { writer.drain().await }).unwrap()
                })
                .collect();
            aio_scheduler::sleep(0.01).await?;
            assert_eq!(stored_wakers(&writer), 3);
            assert!(drains.iter().all(|drain| !drain.done()));
            // The peer reads everything, on a thread of its own.
            let reading = std::thread::spawn(move || {
                let (mut peer, _) = listener.accept()?;
                std::io::copy(&mut peer, &mut std::io::sink())
            });
            for drain in drains {
                aio_task::wait_for(drain, 10.0).await???;
            }
            assert_eq!(stored_wakers(&writer), 0);
            writer.close();
            writer.wait_closed().await?;
            reading.join().unwrap()?;
            Ok::<_, aio_task::Error>(())
        })
        .unwrap()
        .unwrap();
    }

    /// Regression (issue 14): `wait_closed` and the `AsyncWrite` polls stored a waker per
    /// poll too.
    #[test]
    fn repolled_closing_waits_keep_one_waker() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        aio_task::run(async move {
            let mut writer = paused_writer(&listener).await?;
            {
                let mut flush = pin!(std::future::poll_fn(|cx| {
                    futures_io::AsyncWrite::poll_flush(Pin::new(&mut writer), cx)
                }));
                for _ in 0..POLLS {
                    poll_pending(flush.as_mut(), &Waker::noop().clone());
                }
            }
            assert_eq!(stored_wakers(&writer), 1);
            // The close waits for the flush, which the peer never lets finish.
            writer.close();
            {
                let mut closed = pin!(writer.wait_closed());
                for _ in 0..POLLS {
                    poll_pending(closed.as_mut(), &Waker::noop().clone());
                }
                assert_eq!(stored_wakers(&writer), 2);
            }
            assert_eq!(stored_wakers(&writer), 1);
            // Read the peer's side so the close completes.
            let (mut peer, _) = listener.accept()?;
            let reading = std::thread::spawn(move || {
                let mut sink = Vec::new();
                peer.read_to_end(&mut sink).map(|_| ())
            });
            aio_task::wait_for(writer.wait_closed(), 10.0).await??;
            reading.join().unwrap()?;
            Ok::<_, aio_task::Error>(())
        })
        .unwrap()
        .unwrap();
    }
}
