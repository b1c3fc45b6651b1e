//! `StreamReader`: asyncio's buffered reader, with its limits and errors.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::StreamError;
use crate::socket::SocketSource;

/// asyncio's default buffer limit: 64 KiB.
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// Where a [`StreamReader`] gets more bytes when its buffer runs short: a socket, a pipe.
///
/// A reader without a source is *fed* instead ([`StreamReader::feed_data`] /
/// [`StreamReader::feed_eof`]), as asyncio's `StreamReader` is fed by its protocol.
///
/// # Examples
///
/// A source that hands out a fixed byte string, a few bytes at a time:
///
/// ```
/// use std::{cell::RefCell, io, task::{Context, Poll}};
/// use aio_streams::{ReadSource, StreamReader};
///
/// struct Chunks(RefCell<Vec<u8>>);
/// impl ReadSource for Chunks {
///     fn poll_fill(&self, _: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
///         let mut rest = self.0.borrow_mut();
///         let n = rest.len().min(3);
///         buf.extend(rest.drain(..n));
///         Poll::Ready(Ok(n)) // 0 once drained: EOF
///     }
/// }
///
/// let reader = StreamReader::from_source(Chunks(RefCell::new(b"one\ntwo\n".to_vec())));
/// let lines = aio_task::run(async move {
///     (reader.readline().await.unwrap(), reader.readline().await.unwrap())
/// })?;
/// assert_eq!(lines, (b"one\n".to_vec(), b"two\n".to_vec()));
/// # Ok::<(), aio_task::Error>(())
/// ```
pub trait ReadSource {
    /// Appends the bytes available now to `buf` and returns how many: `Ready(Ok(0))` is end
    /// of file. `Pending` (with `cx`'s waker registered) when none is available yet.
    ///
    /// # Errors
    ///
    /// The I/O error that ended the stream.
    fn poll_fill(&self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>>;
}

/// asyncio's `StreamReader`: a byte buffer with `read`, `readline`, `readexactly` and
/// `readuntil`, filled from a [`ReadSource`] or fed by hand.
///
/// It keeps asyncio's semantics exactly, including the limit (default 64 KiB):
///
/// - `readuntil` whose separator is not found within the limit, or is found past it, fails
///   with [`StreamError::LimitOverrun`] and leaves the data in the buffer;
/// - `readline` over the limit fails with [`StreamError::LineTooLong`] and discards the data
///   up to and including the newline (or the whole buffer if there is none);
/// - EOF before `readexactly(n)` (or `readuntil`) completes gives
///   [`StreamError::IncompleteRead`] with the partial data;
/// - two reads waiting for data at once fail with [`StreamError::ConcurrentRead`] instead of
///   corrupting each other.
///
/// A reader with a source reads only when an operation needs more bytes, so its buffer never
/// grows much past what the pending operation needs (asyncio pauses reading above twice the
/// limit; here reading is paused whenever nobody reads).
///
/// # Examples
///
/// ```
/// use aio_streams::{StreamError, StreamReader};
///
/// let reader = StreamReader::new();
/// reader.feed_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody");
/// reader.feed_eof();
/// aio_task::run(async move {
///     assert_eq!(reader.readuntil(b"\r\n").await?, b"GET / HTTP/1.1\r\n");
///     assert_eq!(reader.readuntil(b"\r\n\r\n").await?, b"Host: x\r\n\r\n");
///     let err = reader.readexactly(10).await.unwrap_err();
///     assert_eq!(err.to_string(), "4 bytes read on a total of 10 expected bytes");
///     assert!(reader.at_eof());
///     Ok::<_, StreamError>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StreamReader {
    /// The buffer: bytes before `start` are consumed, the rest are unread. Emptied (and
    /// freed) whenever everything is consumed, so `start == 0` then.
    buf: RefCell<Vec<u8>>,
    /// The read cursor: consuming advances it instead of moving the unread bytes.
    start: Cell<usize>,
    limit: usize,
    source: Source,
    /// Boxed: an error is rare, and the reader lives inline in every connection's task.
    /// A `Cell` (taken and put back to look at it): 8 bytes, no borrow flag.
    error: Cell<Option<Box<StreamError>>>,
    /// Bumped by every feed, so a waiting read knows it was fed (not just polled). 32 bits:
    /// a wait would have to miss 2^32 feeds, each of which wakes it, to be fooled.
    fed: Cell<u32>,
    /// The operation waiting for data, if any (asyncio's `_waiter`).
    waiting: Cell<Option<Op>>,
    eof: Cell<bool>,
}

/// The read operations that wait for data, for [`StreamError::ConcurrentRead`]: one byte
/// where a `&'static str` took sixteen in every reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Read,
    Readexactly,
    Readuntil,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Readexactly => "readexactly",
            Op::Readuntil => "readuntil",
        }
    }
}

/// Where a reader's bytes come from — fed by hand, a socket (the common case, inline) or any
/// [`ReadSource`] — and where the read waiting for them keeps its waker, for
/// [`feed_data`](StreamReader::feed_data), [`feed_eof`](StreamReader::feed_eof) and
/// [`set_exception`](StreamReader::set_exception) to wake it. A socket reader keeps none:
/// the reactor holds the same waker for the socket's readability, and is asked to wake it.
/// 24 bytes in every reader (a source and a separate waker took 32).
enum Source {
    Fed(Cell<Option<Waker>>),
    Socket(SocketSource),
    Other(Box<OtherSource>),
}

/// A [`ReadSource`] and the waker of the read waiting on it (behind one thin pointer).
struct OtherSource {
    waker: Cell<Option<Waker>>,
    source: Box<dyn ReadSource>,
}

impl Source {
    /// Asks the source for bytes; `None` for a reader fed by hand.
    fn poll_fill(
        &self,
        cx: &mut Context<'_>,
        buf: &mut Vec<u8>,
    ) -> Option<Poll<io::Result<usize>>> {
        match self {
            Source::Fed(_) => None,
            Source::Socket(socket) => Some(socket.poll_fill(cx, buf)),
            Source::Other(other) => Some(other.source.poll_fill(cx, buf)),
        }
    }

    fn waker(&self) -> Option<&Cell<Option<Waker>>> {
        match self {
            Source::Fed(waker) => Some(waker),
            Source::Socket(_) => None,
            Source::Other(other) => Some(&other.waker),
        }
    }
}

impl Default for StreamReader {
    fn default() -> Self {
        StreamReader::new()
    }
}

impl StreamReader {
    /// A reader fed by hand, with the default 64 KiB limit.
    ///
    /// # Examples
    ///
    /// ```
    /// let reader = aio_streams::StreamReader::new();
    /// assert_eq!(reader.limit(), aio_streams::DEFAULT_LIMIT);
    /// assert_eq!(reader.buffered(), 0);
    /// ```
    pub fn new() -> StreamReader {
        StreamReader::with_limit(DEFAULT_LIMIT)
    }

    /// A reader fed by hand, with the given limit (at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(aio_streams::StreamReader::with_limit(16).limit(), 16);
    /// ```
    pub fn with_limit(limit: usize) -> StreamReader {
        StreamReader {
            buf: RefCell::new(Vec::new()),
            start: Cell::new(0),
            limit: limit.max(1),
            source: Source::Fed(Cell::new(None)),
            error: Cell::new(None),
            fed: Cell::new(0),
            waiting: Cell::new(None),
            eof: Cell::new(false),
        }
    }

    /// A reader that pulls from `source`, with the default limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{io, task::{Context, Poll}};
    /// use aio_streams::{ReadSource, StreamReader};
    ///
    /// struct Empty; // a source at end of file at once
    /// impl ReadSource for Empty {
    ///     fn poll_fill(&self, _: &mut Context<'_>, _: &mut Vec<u8>) -> Poll<io::Result<usize>> {
    ///         Poll::Ready(Ok(0))
    ///     }
    /// }
    /// let reader = StreamReader::from_source(Empty);
    /// assert!(reader.at_eof()); // asks the source once
    /// ```
    pub fn from_source(source: impl ReadSource + 'static) -> StreamReader {
        StreamReader::from_source_with_limit(source, DEFAULT_LIMIT)
    }

    /// A reader that pulls from `source`, with the given limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{io, task::{Context, Poll}};
    /// use aio_streams::{ReadSource, StreamReader};
    ///
    /// struct Zeros; // endless zero bytes, 8 at a time
    /// impl ReadSource for Zeros {
    ///     fn poll_fill(&self, _: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
    ///         buf.extend_from_slice(&[0; 8]);
    ///         Poll::Ready(Ok(8))
    ///     }
    /// }
    /// let reader = StreamReader::from_source_with_limit(Zeros, 16);
    /// // No newline within the limit: asyncio's "Separator is not found".
    /// assert!(aio_task::run(async move { reader.readline().await })?.is_err());
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn from_source_with_limit(source: impl ReadSource + 'static, limit: usize) -> StreamReader {
        let mut reader = StreamReader::with_limit(limit);
        reader.source = Source::Other(Box::new(OtherSource {
            waker: Cell::new(None),
            source: Box::new(source),
        }));
        reader
    }

    /// A reader of a connected socket (kept inline: no box, no dynamic call per read).
    pub(crate) fn from_socket(source: SocketSource, limit: usize) -> StreamReader {
        let mut reader = StreamReader::with_limit(limit);
        reader.source = Source::Socket(source);
        reader
    }

    /// The buffer limit.
    ///
    /// # Examples
    ///
    /// ```
    /// let reader = aio_streams::StreamReader::with_limit(0);
    /// assert_eq!(reader.limit(), 1); // at least 1
    /// ```
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Adds bytes to the buffer and wakes a read waiting for them (asyncio's `feed_data`).
    ///
    /// # Examples
    ///
    /// ```
    /// let reader = aio_streams::StreamReader::new();
    /// reader.feed_data(b"ab");
    /// reader.feed_data(b"c");
    /// let data = aio_task::run(async move { reader.read(10).await })??;
    /// assert_eq!(data, b"abc");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn feed_data(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut buf = self.buf.borrow_mut();
        self.compact(&mut buf);
        buf.extend_from_slice(data);
        drop(buf);
        self.wake();
    }

    /// Marks the end of the stream (asyncio's `feed_eof`).
    ///
    /// # Examples
    ///
    /// ```
    /// let reader = aio_streams::StreamReader::new();
    /// reader.feed_data(b"last");
    /// reader.feed_eof();
    /// assert!(!reader.at_eof()); // bytes still buffered
    /// let (data, at_eof) = aio_task::run(async move {
    ///     (reader.read_to_end().await, reader.at_eof())
    /// })?;
    /// assert_eq!((data?, at_eof), (b"last".to_vec(), true));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn feed_eof(&self) {
        self.eof.set(true);
        self.wake();
    }

    /// Fails every read from now on with `error` (asyncio's `set_exception`).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::{StreamError, StreamReader};
    /// let reader = StreamReader::new();
    /// reader.set_exception(std::io::Error::from(std::io::ErrorKind::ConnectionReset).into());
    /// let err = aio_task::run(async move { reader.read(10).await })?.unwrap_err();
    /// assert!(matches!(err, StreamError::Io { kind: std::io::ErrorKind::ConnectionReset, .. }));
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn set_exception(&self, error: StreamError) {
        self.error.set(Some(Box::new(error)));
        self.wake();
    }

    /// The error set with [`set_exception`](StreamReader::set_exception) or met reading.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(aio_streams::StreamReader::new().exception().is_none());
    /// ```
    pub fn exception(&self) -> Option<StreamError> {
        self.with_error(|error| error.cloned())
    }

    /// Looks at the error (taken out of its cell and put back).
    #[inline]
    fn with_error<R>(&self, f: impl FnOnce(Option<&StreamError>) -> R) -> R {
        let error = self.error.take();
        let result = f(error.as_deref());
        self.error.set(error);
        result
    }

    #[inline]
    fn has_error(&self) -> bool {
        self.with_error(|error| error.is_some())
    }

    fn fail(&self, error: &StreamError) {
        self.error.set(Some(Box::new(error.clone())));
    }

    /// Whether the stream ended and the buffer is empty (asyncio's `at_eof`).
    ///
    /// asyncio's reader learns about EOF when the loop pushes it in; this one pulls, so with
    /// an empty buffer and nobody waiting to read, `at_eof` asks the source once without
    /// waiting (one non-blocking read). What that read brings in stays buffered for the
    /// next read; an error it meets becomes the reader's [`exception`](Self::exception).
    ///
    /// # Examples
    ///
    /// ```
    /// let reader = aio_streams::StreamReader::new();
    /// assert!(!reader.at_eof());
    /// reader.feed_eof();
    /// assert!(reader.at_eof());
    /// ```
    pub fn at_eof(&self) -> bool {
        if !self.eof.get()
            && self.buffered() == 0
            && self.waiting.get().is_none()
            && !self.has_error()
        {
            // A waiting read would have its waker replaced; nobody waits here, and the
            // next read polls again with its own.
            let mut cx = Context::from_waker(Waker::noop());
            let filled = self.source.poll_fill(&mut cx, &mut self.buf.borrow_mut());
            match filled {
                Some(Poll::Ready(Ok(0))) => self.eof.set(true),
                Some(Poll::Ready(Err(error))) => self.fail(&StreamError::from(error)),
                Some(Poll::Ready(Ok(_))) | None => {}
                Some(Poll::Pending) => self.release_if_empty(),
            }
        }
        self.eof.get() && self.buffered() == 0
    }

    /// Bytes buffered and not read yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let reader = aio_streams::StreamReader::new();
    /// reader.feed_data(b"abc");
    /// assert_eq!(reader.buffered(), 3);
    /// ```
    pub fn buffered(&self) -> usize {
        self.buf.borrow().len() - self.start.get()
    }

    fn wake(&self) {
        self.fed.set(self.fed.get().wrapping_add(1));
        match &self.source {
            Source::Socket(socket) => socket.wake_reader(),
            source => {
                if let Some(waker) = source.waker().and_then(Cell::take) {
                    waker.wake();
                }
            }
        }
    }

    #[inline]
    fn check_error(&self) -> Result<(), StreamError> {
        if self.has_error() {
            return Err(self.error_now());
        }
        Ok(())
    }

    #[cold]
    fn error_now(&self) -> StreamError {
        self.with_error(|error| error.cloned())
            .expect("called with an error set")
    }

    /// The buffer's allocated size, for the memory regression tests.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.borrow().capacity()
    }

    /// Takes up to `n` unread bytes out of the buffer: O(n), whatever is left behind.
    fn take(&self, n: usize) -> Vec<u8> {
        let mut buf = self.buf.borrow_mut();
        let start = self.start.get();
        if start == 0 && n >= buf.len() {
            return take_all(&mut buf);
        }
        let end = buf.len().min(start.saturating_add(n));
        let taken = buf[start..end].to_vec();
        drop(buf);
        self.consume_unread(end - start);
        taken
    }

    /// The fast path of every read: if at least `n` bytes are unread, takes exactly `n` in one
    /// borrow of the buffer (no future, no waker). `None` (nothing consumed) otherwise.
    #[inline]
    fn take_exactly(&self, n: usize) -> Option<Vec<u8>> {
        let mut buf = self.buf.borrow_mut();
        let start = self.start.get();
        let unread = buf.len() - start;
        if unread < n {
            return None;
        }
        if unread == n {
            if start == 0 {
                return Some(take_all(&mut buf));
            }
            let taken = buf[start..].to_vec();
            buf.clear();
            self.start.set(0);
            return Some(taken);
        }
        let taken = buf[start..start + n].to_vec();
        self.start.set(start + n);
        Some(taken)
    }

    /// The fast path of `readline` / `readuntil`: if `separator` (not empty) is buffered and
    /// starts within the limit, takes everything up to and including it in one borrow of the
    /// buffer. `None` (nothing consumed) otherwise, including when the limit is overrun: the
    /// general path decides that error.
    #[inline]
    fn take_through(&self, separator: &[u8]) -> Option<Vec<u8>> {
        let mut buf = self.buf.borrow_mut();
        let start = self.start.get();
        let at = find(&buf[start..], separator)?;
        if at > self.limit {
            return None;
        }
        let end = start + at + separator.len();
        let taken = buf[start..end].to_vec();
        if end == buf.len() {
            buf.clear();
            self.start.set(0);
        } else {
            self.start.set(end);
        }
        Some(taken)
    }

    /// As [`take_through`](Self::take_through), appending to `out`; the length appended.
    #[inline]
    fn append_through(&self, separator: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        let mut buf = self.buf.borrow_mut();
        let start = self.start.get();
        let at = find(&buf[start..], separator)?;
        if at > self.limit {
            return None;
        }
        let end = start + at + separator.len();
        out.extend_from_slice(&buf[start..end]);
        if end == buf.len() {
            buf.clear();
            self.start.set(0);
        } else {
            self.start.set(end);
        }
        Some(end - start)
    }

    /// As [`take_exactly`](Self::take_exactly), into `out` (all of it).
    #[inline]
    fn take_exactly_into(&self, out: &mut [u8]) -> bool {
        let n = out.len();
        let mut buf = self.buf.borrow_mut();
        let start = self.start.get();
        let unread = buf.len() - start;
        if unread < n {
            return false;
        }
        out.copy_from_slice(&buf[start..start + n]);
        if unread == n {
            buf.clear();
            self.start.set(0);
        } else {
            self.start.set(start + n);
        }
        true
    }

    /// Marks `n` unread bytes (at most all of them) consumed, by moving the read cursor.
    /// Once nothing is left unread the buffer is emptied, keeping its capacity for the next
    /// fill (bytes go straight into it); it is freed when a read finds nothing to read and
    /// waits ([`poll_more`](Self::poll_more)), so a waiting reader holds no buffer.
    fn consume_unread(&self, n: usize) {
        let mut buf = self.buf.borrow_mut();
        let start = self.start.get().saturating_add(n);
        if start >= buf.len() {
            buf.clear();
            self.start.set(0);
        } else {
            self.start.set(start);
        }
    }

    /// Frees an empty buffer's memory: a read is about to wait (an idle connection holds no
    /// read buffer), and the next fill allocates just what arrives.
    fn release_if_empty(&self) {
        let mut buf = self.buf.borrow_mut();
        if buf.is_empty() && buf.capacity() > 0 {
            *buf = Vec::new();
            self.start.set(0);
        }
    }

    /// Before bytes are appended: drops the consumed prefix once it is at least as long as
    /// what is unread, so the unread bytes moved are never more than the bytes consumed since
    /// the last move (amortized O(1) per byte), and the buffer stays at most about twice what
    /// is unread.
    fn compact(&self, buf: &mut Vec<u8>) {
        let start = self.start.get();
        if start > 0 && start >= buf.len() - start {
            buf.drain(..start);
            self.start.set(0);
        }
    }

    /// asyncio's `_wait_for_data`: waits until more data arrived or the stream ended.
    fn wait_for_data(&self, operation: Op) -> WaitForData<'_> {
        WaitForData {
            reader: self,
            operation,
            fed: 0,
            started: false,
        }
    }

    fn poll_more(&self, cx: &mut Context<'_>, fed: u32) -> Poll<Result<(), StreamError>> {
        self.check_error()?;
        let filled = {
            let mut buf = self.buf.borrow_mut();
            self.compact(&mut buf);
            self.source.poll_fill(cx, &mut buf)
        };
        match filled {
            Some(filled) => {
                match filled {
                    Poll::Pending => {
                        self.release_if_empty();
                        // Also reachable by `set_exception` / `feed_eof`, not only the source.
                        self.store_waker(cx);
                        Poll::Pending
                    }
                    Poll::Ready(Ok(0)) => {
                        self.eof.set(true);
                        Poll::Ready(Ok(()))
                    }
                    Poll::Ready(Ok(_)) => Poll::Ready(Ok(())),
                    Poll::Ready(Err(error)) => {
                        let error = StreamError::from(error);
                        self.fail(&error);
                        Poll::Ready(Err(error))
                    }
                }
            }
            None => {
                if self.fed.get() != fed || self.eof.get() {
                    return Poll::Ready(Ok(()));
                }
                self.release_if_empty();
                self.store_waker(cx);
                Poll::Pending
            }
        }
    }

    /// Keeps `cx`'s waker for [`wake`](Self::wake). The stored one stays if it wakes the same
    /// task (the usual case: one task reading message after message), which saves a waker
    /// clone and drop — two atomic reference-count updates — per wait.
    fn store_waker(&self, cx: &Context<'_>) {
        let Some(stored) = self.source.waker() else {
            return; // a socket: the reactor keeps the waker
        };
        match stored.take() {
            Some(waker) if waker.will_wake(cx.waker()) => stored.set(Some(waker)),
            _ => stored.set(Some(cx.waker().clone())),
        }
    }

    /// Reads up to `n` bytes: what is buffered, or — if nothing is — the next bytes to
    /// arrive. Empty at EOF, and for `n == 0`.
    ///
    /// # Errors
    ///
    /// The stream's error; [`StreamError::ConcurrentRead`].
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe. Bytes leave the buffer only in the poll that returns them;
    /// bytes the source delivered while the read waited stay buffered for the next read. Dropping
    /// the future also ends its wait, so the next read is not refused with
    /// [`StreamError::ConcurrentRead`].
    ///
    /// The future is a named type, [`Read`], of 32 bytes: a connection's task waiting in
    /// `read` holds nothing more (an idle connection's memory is mostly its task).
    ///
    /// # Examples
    ///
    /// ```
    /// let reader = aio_streams::StreamReader::new();
    /// reader.feed_data(b"hello");
    /// reader.feed_eof();
    /// let (a, b, c) = aio_task::run(async move {
    ///     (reader.read(3).await, reader.read(100).await, reader.read(1).await)
    /// })?;
    /// assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (b"hel".to_vec(), b"lo".to_vec(), vec![]));
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    #[track_caller]
    pub fn read(&self, n: usize) -> Read<'_> {
        Read {
            reader: self,
            n,
            fed: 0,
            state: ReadState::Start,
            // Reported as where the task waits (`aio_observe`).
            at: std::panic::Location::caller(),
        }
    }

    /// Reads everything up to EOF (asyncio's `read(-1)`).
    ///
    /// # Errors
    ///
    /// The stream's error; [`StreamError::ConcurrentRead`].
    ///
    /// # Cancel safety
    ///
    /// This method is **not** cancel safe: it collects block after block in a vector of its own,
    /// and dropping the future loses every block collected so far (those bytes have left the
    /// reader's buffer). Only a block being waited for when it is dropped stays buffered.
    ///
    /// # Examples
    ///
    /// ```
    /// let reader = aio_streams::StreamReader::new();
    /// reader.feed_data(b"all ");
    /// reader.feed_data(b"of it");
    /// reader.feed_eof();
    /// let data = aio_task::run(async move { reader.read_to_end().await })??;
    /// assert_eq!(data, b"all of it");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn read_to_end(&self) -> impl Future<Output = Result<Vec<u8>, StreamError>> {
        // Reports this call's line as where the task waits (`aio_observe`).
        aio_observe::At::new(std::panic::Location::caller(), self.read_to_end_inner())
    }

    async fn read_to_end_inner(&self) -> Result<Vec<u8>, StreamError> {
        let mut data = Vec::new();
        loop {
            let block = self.read(self.limit).await?;
            if block.is_empty() {
                return Ok(data);
            }
            data.extend_from_slice(&block);
        }
    }

    /// Reads exactly `n` bytes.
    ///
    /// # Errors
    ///
    /// [`StreamError::IncompleteRead`] (with the bytes read, which leave the buffer) if the
    /// stream ends first; the stream's error; [`StreamError::ConcurrentRead`].
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: it takes the `n` bytes out of the buffer only once all of them
    /// are there, so dropping the future mid-way — after part of them arrived — loses nothing:
    /// the bytes received so far stay buffered, and a later `readexactly` (or any read) gets them.
    /// (Unlike tokio's `read_exact`, which loses what it copied.)
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Error, run, wait_for};
    ///
    /// let reader = aio_streams::StreamReader::new();
    /// reader.feed_data(b"abc");
    /// run(async move {
    ///     // Only 3 of 5 bytes: the read waits, and the timeout drops it.
    ///     assert!(matches!(wait_for(reader.readexactly(5), 0.01).await, Err(Error::Timeout)));
    ///     assert_eq!(reader.buffered(), 3); // nothing lost
    ///     reader.feed_data(b"de");
    ///     assert_eq!(reader.readexactly(5).await?, b"abcde");
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller]
    pub fn readexactly(&self, n: usize) -> impl Future<Output = Result<Vec<u8>, StreamError>> {
        // Reports this call's line as where the task waits (`aio_observe`).
        aio_observe::At::new(std::panic::Location::caller(), self.readexactly_inner(n))
    }

    async fn readexactly_inner(&self, n: usize) -> Result<Vec<u8>, StreamError> {
        self.check_error()?;
        loop {
            if let Some(frame) = self.take_exactly(n) {
                return Ok(frame);
            }
            self.short_of(n, Op::Readexactly).await?;
        }
    }

    /// Reads exactly `out.len()` bytes into `out`: [`readexactly`](Self::readexactly)
    /// without the allocation (tokio's and futures' `read_exact`, with asyncio's errors).
    ///
    /// # Errors
    ///
    /// [`StreamError::IncompleteRead`] if the stream ends first, with the bytes read (which
    /// leave the buffer; `out` is left as it was); the stream's error;
    /// [`StreamError::ConcurrentRead`].
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe, as [`readexactly`](Self::readexactly): `out` is written
    /// and the bytes consumed only once all of them are buffered, so dropping the future
    /// mid-way loses nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let reader = aio_streams::StreamReader::new();
    /// reader.feed_data(b"0123456789abcdef!");
    /// reader.feed_eof();
    /// let (frame, rest) = aio_task::run(async move {
    ///     let mut frame = [0u8; 16];
    ///     reader.readexactly_into(&mut frame).await.unwrap();
    ///     // One byte left: too few for another frame.
    ///     let rest = reader.readexactly_into(&mut frame).await.unwrap_err();
    ///     (frame, rest)
    /// })?;
    /// assert_eq!(&frame, b"0123456789abcdef");
    /// assert!(matches!(
    ///     rest,
    ///     aio_streams::StreamError::IncompleteRead { partial, expected: Some(16) } if partial == b"!"
    /// ));
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    #[track_caller]
    pub fn readexactly_into(
        &self,
        out: &mut [u8],
    ) -> impl Future<Output = Result<(), StreamError>> {
        // Reports this call's line as where the task waits (`aio_observe`).
        aio_observe::At::new(
            std::panic::Location::caller(),
            self.readexactly_into_inner(out),
        )
    }

    async fn readexactly_into_inner(&self, out: &mut [u8]) -> Result<(), StreamError> {
        self.check_error()?;
        loop {
            if self.take_exactly_into(out) {
                return Ok(());
            }
            self.short_of(out.len(), Op::Readexactly).await?;
        }
    }

    /// Fewer than `n` bytes are buffered: fails at EOF (asyncio's `IncompleteReadError`, with
    /// everything buffered), else waits for more.
    async fn short_of(&self, n: usize, operation: Op) -> Result<(), StreamError> {
        if self.eof.get() {
            let partial = self.take(usize::MAX);
            return Err(StreamError::IncompleteRead {
                partial,
                expected: Some(n),
            });
        }
        self.wait_for_data(operation).await
    }

    /// Reads up to and including a newline. At EOF, returns what is left (possibly without a
    /// newline; empty at the very end).
    ///
    /// # Errors
    ///
    /// [`StreamError::LineTooLong`] when the line exceeds the limit: the data up to and
    /// including the newline is discarded (or the whole buffer, if no newline was found), as
    /// in asyncio. The stream's error; [`StreamError::ConcurrentRead`].
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: nothing leaves the buffer until a whole line is returned (or
    /// an error decided), so dropping the future while it waits for the rest of a line keeps the
    /// part received so far buffered.
    ///
    /// # Examples
    ///
    /// ```
    /// let reader = aio_streams::StreamReader::new();
    /// reader.feed_data(b"a\nb");
    /// reader.feed_eof();
    /// let lines = aio_task::run(async move {
    ///     let mut lines = Vec::new();
    ///     loop {
    ///         let line = reader.readline().await.unwrap();
    ///         if line.is_empty() { break lines; }
    ///         lines.push(line);
    ///     }
    /// })?;
    /// assert_eq!(lines, [b"a\n".to_vec(), b"b".to_vec()]);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    #[track_caller]
    pub fn readline(&self) -> impl Future<Output = Result<Vec<u8>, StreamError>> {
        // Reports this call's line as where the task waits (`aio_observe`).
        aio_observe::At::new(std::panic::Location::caller(), self.readline_inner())
    }

    async fn readline_inner(&self) -> Result<Vec<u8>, StreamError> {
        self.check_error()?;
        if let Some(line) = self.take_through(b"\n") {
            return Ok(line);
        }
        match self.readuntil(b"\n").await {
            Ok(line) => Ok(line),
            Err(StreamError::IncompleteRead { partial, .. }) => Ok(partial),
            Err(StreamError::LimitOverrun { message, consumed }) => {
                let newline = {
                    let buf = self.buf.borrow();
                    buf.get(self.start.get() + consumed) == Some(&b'\n')
                };
                // Up to and including the newline, or everything.
                self.consume_unread(if newline { consumed + 1 } else { usize::MAX });
                Err(StreamError::LineTooLong(message))
            }
            Err(error) => Err(error),
        }
    }

    /// Reads a line as [`readline`](Self::readline) does and appends it to `out`, returning
    /// its length (0 at the very end): `readline` without a new `Vec` per line, when `out` is
    /// reused (tokio's and futures' `read_line` / `read_until`, with asyncio's limit and
    /// errors).
    ///
    /// # Errors
    ///
    /// As [`readline`](Self::readline); `out` is left as it was.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe, as [`readline`](Self::readline): nothing leaves the buffer,
    /// and nothing is appended to `out`, until a whole line is there.
    ///
    /// # Examples
    ///
    /// ```
    /// let reader = aio_streams::StreamReader::new();
    /// reader.feed_data(b"one\ntwo\nthree");
    /// reader.feed_eof();
    /// let lines = aio_task::run(async move {
    ///     let mut line = Vec::new();
    ///     let mut lines = Vec::new();
    ///     loop {
    ///         line.clear();
    ///         if reader.readline_into(&mut line).await.unwrap() == 0 {
    ///             break lines;
    ///         }
    ///         lines.push(String::from_utf8(line.clone()).unwrap());
    ///     }
    /// })?;
    /// assert_eq!(lines, ["one\n", "two\n", "three"]);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    #[track_caller]
    pub fn readline_into(
        &self,
        out: &mut Vec<u8>,
    ) -> impl Future<Output = Result<usize, StreamError>> {
        // Reports this call's line as where the task waits (`aio_observe`).
        aio_observe::At::new(
            std::panic::Location::caller(),
            self.readline_into_inner(out),
        )
    }

    async fn readline_into_inner(&self, out: &mut Vec<u8>) -> Result<usize, StreamError> {
        self.check_error()?;
        if let Some(n) = self.append_through(b"\n", out) {
            return Ok(n);
        }
        let line = self.readline().await?;
        out.extend_from_slice(&line);
        Ok(line.len())
    }

    /// Reads up to and including `separator`.
    ///
    /// # Errors
    ///
    /// [`StreamError::LimitOverrun`] when the data before the separator exceeds the limit, or
    /// no separator is found within it: the data stays buffered.
    /// [`StreamError::IncompleteRead`] (with everything buffered, which is consumed) when the
    /// stream ends first. [`StreamError::Value`] for an empty separator. The stream's error;
    /// [`StreamError::ConcurrentRead`].
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: the bytes before the separator stay buffered until the
    /// separator has arrived, so dropping the future while it waits consumes nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::{StreamError, StreamReader};
    /// let reader = StreamReader::with_limit(4);
    /// reader.feed_data(b"toolong|");
    /// let err = aio_task::run(async move { reader.readuntil(b"|").await })?.unwrap_err();
    /// assert!(matches!(err, StreamError::LimitOverrun { consumed: 7, .. }));
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    #[track_caller]
    pub fn readuntil(
        &self,
        separator: &[u8],
    ) -> impl Future<Output = Result<Vec<u8>, StreamError>> {
        // Reports this call's line as where the task waits (`aio_observe`).
        aio_observe::At::new(
            std::panic::Location::caller(),
            self.readuntil_inner(separator),
        )
    }

    async fn readuntil_inner(&self, separator: &[u8]) -> Result<Vec<u8>, StreamError> {
        if !separator.is_empty() {
            self.check_error()?;
            if let Some(chunk) = self.take_through(separator) {
                return Ok(chunk);
            }
        }
        self.readuntil_any(&[separator]).await
    }

    /// Reads up to and including the earliest-ending match of any of `separators` (asyncio
    /// 3.13's tuple of separators): the shortest result that ends with one of them.
    ///
    /// # Errors
    ///
    /// As [`readuntil`](StreamReader::readuntil); [`StreamError::Value`] for no separator or an
    /// empty one.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe, as [`readuntil`](StreamReader::readuntil): nothing is
    /// consumed until a separator is found.
    ///
    /// # Examples
    ///
    /// ```
    /// let reader = aio_streams::StreamReader::new();
    /// reader.feed_data(b"key=value;next");
    /// let field = aio_task::run(async move { reader.readuntil_any(&[b";", b"="]).await })??;
    /// assert_eq!(field, b"key="); // "=" ends first
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn readuntil_any(
        &self,
        separators: &[&[u8]],
    ) -> impl Future<Output = Result<Vec<u8>, StreamError>> {
        // Reports this call's line as where the task waits (`aio_observe`).
        aio_observe::At::new(
            std::panic::Location::caller(),
            self.readuntil_any_inner(separators),
        )
    }

    async fn readuntil_any_inner(&self, separators: &[&[u8]]) -> Result<Vec<u8>, StreamError> {
        let min_len = separators
            .iter()
            .map(|s| s.len())
            .min()
            .ok_or(StreamError::Value(
                "Separator should contain at least one element",
            ))?;
        if min_len == 0 {
            return Err(StreamError::Value(
                "Separator should be at least one-byte string",
            ));
        }
        let max_len = separators.iter().map(|s| s.len()).max().unwrap_or(min_len);
        self.check_error()?;
        let mut offset = 0;
        let (start, end) = loop {
            {
                let buf = self.buf.borrow();
                let buf = &buf[self.start.get()..];
                if buf.len() - offset.min(buf.len()) >= min_len {
                    let found = separators
                        .iter()
                        .filter_map(|sep| {
                            find(&buf[offset..], sep).map(|i| (offset + i, sep.len()))
                        })
                        // Earliest end first; on a tie the shortest separator, as CPython
                        // (which tries them sorted by length) — it decides the limit check.
                        .min_by_key(|&(start, len)| (start + len, len));
                    if let Some((start, len)) = found {
                        break (start, start + len);
                    }
                    offset = (buf.len() + 1).saturating_sub(max_len);
                    if offset > self.limit {
                        return Err(StreamError::LimitOverrun {
                            message: "Separator is not found, and chunk exceed the limit",
                            consumed: offset,
                        });
                    }
                }
            }
            if self.eof.get() {
                let partial = self.take(usize::MAX);
                return Err(StreamError::IncompleteRead {
                    partial,
                    expected: None,
                });
            }
            self.wait_for_data(Op::Readuntil).await?;
        };
        if start > self.limit {
            return Err(StreamError::LimitOverrun {
                message: "Separator is found, but chunk is longer than limit",
                consumed: start,
            });
        }
        Ok(self.take(end))
    }

    /// The lines of the stream, as a [`Stream`](futures_core::Stream) (asyncio's `async for
    /// line in reader`). Ends at EOF; an error is yielded once, then the stream ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use std::pin::Pin;
    /// use futures_core::Stream;
    ///
    /// let reader = aio_streams::StreamReader::new();
    /// reader.feed_data(b"x\ny\n");
    /// reader.feed_eof();
    /// let count = aio_task::run(async move {
    ///     let mut lines = reader.lines();
    ///     let mut n = 0;
    ///     while let Some(line) = poll_fn(|cx| Pin::new(&mut lines).poll_next(cx)).await {
    ///         line.unwrap();
    ///         n += 1;
    ///     }
    ///     n
    /// })?;
    /// assert_eq!(count, 2);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn lines(&self) -> Lines<'_> {
        Lines {
            reader: self,
            next: None,
            done: false,
        }
    }
}

/// The future returned by [`StreamReader::read`]: up to `n` bytes, waiting for some if none
/// are buffered.
///
/// # Cancel safety
///
/// Cancel safe, as [`StreamReader::read`] says: bytes leave the buffer only in the poll that
/// returns them, and dropping it ends its wait.
///
/// # Examples
///
/// ```
/// let reader = aio_streams::StreamReader::new();
/// reader.feed_data(b"abcdef");
/// let data = aio_task::run(async move {
///     let read: aio_streams::Read<'_> = reader.read(4);
///     read.await
/// })??;
/// assert_eq!(data, b"abcd");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Read<'a> {
    reader: &'a StreamReader,
    n: usize,
    /// The reader's feed count when the wait began.
    fed: u32,
    state: ReadState,
    /// Where `read` was called (see `aio_observe`).
    at: aio_observe::Site,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ReadState {
    Start,
    /// Marked as the reader's waiting operation (cleared when done or dropped).
    Waiting,
    Done,
}

impl Future for Read<'_> {
    type Output = Result<Vec<u8>, StreamError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let reader = self.reader;
        match self.state {
            ReadState::Start => {
                self.state = ReadState::Done;
                reader.check_error()?;
                if self.n == 0 {
                    return Poll::Ready(Ok(Vec::new()));
                }
                if reader.buffered() > 0 || reader.eof.get() {
                    return Poll::Ready(Ok(reader.take(self.n)));
                }
                if reader.waiting.get().is_some() {
                    return Poll::Ready(Err(StreamError::ConcurrentRead(Op::Read.name())));
                }
                reader.waiting.set(Some(Op::Read));
                self.fed = reader.fed.get();
                self.state = ReadState::Waiting;
            }
            ReadState::Waiting => {}
            ReadState::Done => panic!("`Read` polled after completion"),
        }
        let Poll::Ready(more) = reader.poll_more(cx, self.fed) else {
            aio_observe::park(self.at);
            return Poll::Pending;
        };
        reader.waiting.set(None);
        self.state = ReadState::Done;
        more?;
        Poll::Ready(Ok(reader.take(self.n)))
    }
}

impl Drop for Read<'_> {
    fn drop(&mut self) {
        if self.state == ReadState::Waiting {
            self.reader.waiting.set(None);
        }
    }
}

impl fmt::Debug for Read<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Read")
            .field("n", &self.n)
            .field("state", &self.state)
            .finish()
    }
}

/// asyncio's `_wait_for_data`: marks the reader as waiting (refusing a second waiting read)
/// at its first poll, and clears the mark when it ends or is dropped. A named future of 24
/// bytes, so every read future holding one stays small.
struct WaitForData<'a> {
    reader: &'a StreamReader,
    operation: Op,
    /// The reader's feed count at the first poll.
    fed: u32,
    started: bool,
}

impl Future for WaitForData<'_> {
    type Output = Result<(), StreamError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let reader = self.reader;
        if !self.started {
            if reader.waiting.get().is_some() {
                return Poll::Ready(Err(StreamError::ConcurrentRead(self.operation.name())));
            }
            reader.waiting.set(Some(self.operation));
            self.started = true;
            self.fed = reader.fed.get();
        }
        let more = reader.poll_more(cx, self.fed);
        if more.is_ready() {
            reader.waiting.set(None);
            self.started = false;
        }
        more
    }
}

impl Drop for WaitForData<'_> {
    fn drop(&mut self) {
        if self.started {
            self.reader.waiting.set(None);
        }
    }
}

/// The whole buffer, as the answer of a read (nothing consumed before it). Handed out without
/// a copy when it is at least half full, and nothing stays allocated; a buffer kept with a
/// larger capacity (emptied, then refilled with less) is copied out instead, so a small
/// message never carries a 64 KiB allocation, and the buffer keeps its capacity.
fn take_all(buf: &mut Vec<u8>) -> Vec<u8> {
    if buf.capacity() <= 2 * buf.len() {
        return std::mem::take(buf);
    }
    let taken = buf.clone();
    buf.clear();
    taken
}

/// The first index of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    match needle {
        [byte] => memchr::memchr(*byte, haystack),
        _ => memchr::memmem::find(haystack, needle),
    }
}

impl fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("buffered", &self.buffered())
            .field("eof", &self.eof.get())
            .field("limit", &self.limit)
            .finish()
    }
}

type LineFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, StreamError>> + 'a>>;

/// The stream returned by [`StreamReader::lines`].
///
/// # Cancel safety
///
/// Cancel safe: the stream keeps its line read inside itself between polls, so a
/// `poll_next` abandoned while waiting resumes it on the next poll; dropping the stream drops
/// a [`readline`](StreamReader::readline), which is cancel safe, so no partial line is lost.
pub struct Lines<'a> {
    reader: &'a StreamReader,
    next: Option<LineFuture<'a>>,
    done: bool,
}

impl futures_core::Stream for Lines<'_> {
    type Item = Result<Vec<u8>, StreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let reader = self.reader;
        let next = self.next.get_or_insert_with(|| Box::pin(reader.readline()));
        let line = std::task::ready!(next.as_mut().poll(cx));
        self.next = None;
        Poll::Ready(match line {
            Ok(line) if line.is_empty() => {
                self.done = true;
                None
            }
            Ok(line) => Some(Ok(line)),
            Err(error) => {
                self.done = true;
                Some(Err(error))
            }
        })
    }
}

impl fmt::Debug for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lines").field("done", &self.done).finish()
    }
}

impl StreamReader {
    /// Copies buffered bytes into `out`, pulling (or waiting for) more when the buffer is
    /// empty: the poll-level read behind [`futures_io::AsyncRead`].
    fn poll_read_some(&self, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<io::Result<usize>> {
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            if let Some(error) = self.with_error(|error| error.map(crate::error::to_io)) {
                return Poll::Ready(Err(error));
            }
            {
                let buf = self.buf.borrow();
                let unread = &buf[self.start.get()..];
                if !unread.is_empty() {
                    let n = out.len().min(unread.len());
                    out[..n].copy_from_slice(&unread[..n]);
                    drop(buf);
                    self.consume_unread(n);
                    return Poll::Ready(Ok(n));
                }
            }
            if self.eof.get() {
                return Poll::Ready(Ok(0));
            }
            match self.poll_more(cx, self.fed.get()) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(crate::error::to_io(&error))),
                Poll::Ready(Ok(())) => {}
            }
        }
    }
}

/// The reader as a [`futures_io::AsyncRead`], for ecosystem code written against it. Reads
/// take buffered bytes first (`AsyncRead` needs `&mut`, so it cannot race another read).
///
/// # Examples
///
/// ```
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use futures_io::AsyncRead;
///
/// let mut reader = aio_streams::StreamReader::new();
/// reader.feed_data(b"bytes");
/// reader.feed_eof();
/// let n = aio_task::run(async move {
///     let mut buf = [0u8; 8];
///     let n = poll_fn(|cx| Pin::new(&mut reader).poll_read(cx, &mut buf)).await.unwrap();
///     (n, buf)
/// })?;
/// assert_eq!(&n.1[..n.0], b"bytes");
/// # Ok::<(), aio_task::Error>(())
/// ```
impl futures_io::AsyncRead for StreamReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_some(cx, buf)
    }
}

/// The reader as a [`futures_io::AsyncBufRead`]: `poll_fill_buf` hands out the unread part
/// of the reader's own buffer (pulling, or waiting for, more when it is empty), and `consume`
/// moves the read cursor, so `read_line`, `read_until` and `lines` of the `…Ext` traits copy
/// nothing twice. Bytes not consumed stay buffered for asyncio's methods
/// ([`readline`](StreamReader::readline), [`readexactly`](StreamReader::readexactly), …).
///
/// # Examples
///
/// ```
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use futures_io::AsyncBufRead;
///
/// let mut reader = aio_streams::StreamReader::new();
/// reader.feed_data(b"peek, then take");
/// let rest = aio_task::run(async move {
///     let seen = poll_fn(|cx| {
///         Pin::new(&mut reader).poll_fill_buf(cx).map_ok(|buf| buf.to_vec())
///     })
///     .await
///     .unwrap();
///     assert_eq!(seen, b"peek, then take");
///     Pin::new(&mut reader).consume(6);
///     reader.read(100).await.unwrap()
/// })?;
/// assert_eq!(rest, b"then take");
/// # Ok::<(), aio_task::Error>(())
/// ```
impl futures_io::AsyncBufRead for StreamReader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        loop {
            if let Some(error) = this.error.get_mut().as_deref() {
                return Poll::Ready(Err(crate::error::to_io(error)));
            }
            if this.buffered() > 0 || this.eof.get() {
                break;
            }
            match this.poll_more(cx, this.fed.get()) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(crate::error::to_io(&error))),
                Poll::Ready(Ok(())) => {}
            }
        }
        let start = this.start.get();
        Poll::Ready(Ok(&this.buf.get_mut()[start..]))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.consume_unread(amt);
    }
}
