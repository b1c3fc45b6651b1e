//! `StreamPair`: a reader and a writer joined into one duplex value, for ecosystem code that
//! wants a single `AsyncRead + AsyncBufRead + AsyncWrite` (TLS adapters, HTTP servers).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::{StreamReader, StreamWriter};

/// A [`StreamReader`] and a [`StreamWriter`] as one duplex stream, implementing
/// [`futures_io::AsyncRead`], [`futures_io::AsyncBufRead`] and [`futures_io::AsyncWrite`]
/// by delegating to the halves (so `poll_close` is the writer's half-close). Join with
/// [`StreamPair::new`] or [`StreamReader::unsplit`], split back with
/// [`into_split`](StreamPair::into_split); asyncio's methods stay reachable through
/// [`reader`](StreamPair::reader) and [`writer`](StreamPair::writer).
///
/// # Examples
///
/// ```
/// use futures_lite::io::{AsyncBufReadExt, AsyncWriteExt};
/// use aio_streams::{StreamReader, StreamWriter, open_connection, start_server};
///
/// aio_task::run(async {
///     // An upper-casing line server, written against the futures-io traits.
///     let server = start_server(
///         |reader: StreamReader, writer: StreamWriter| async move {
///             let mut stream = reader.unsplit(writer);
///             let mut line = String::new();
///             stream.read_line(&mut line).await?;
///             stream.write_all(line.to_uppercase().as_bytes()).await?;
///             stream.close().await // flush + half-close
///         },
///         "127.0.0.1",
///         0,
///     )
///     .await?;
///     let (reader, writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
///     let mut stream = reader.unsplit(writer);
///     stream.write_all(b"hello\n").await?;
///     let mut reply = String::new();
///     stream.read_line(&mut reply).await?;
///     assert_eq!(reply, "HELLO\n");
///     let (_reader, writer) = stream.into_split();
///     writer.close();
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub struct StreamPair {
    reader: StreamReader,
    writer: StreamWriter,
}

impl StreamPair {
    /// Joins `reader` and `writer` (usually the two halves of one connection).
    ///
    /// # Examples
    ///
    /// ```
    /// let (_read_end, write_end) = std::io::pipe()?;
    /// aio_task::run(async move {
    ///     let writer = aio_streams::connect_write_pipe(write_end)?;
    ///     let pair = aio_streams::StreamPair::new(aio_streams::StreamReader::new(), writer);
    ///     assert_eq!(pair.reader().buffered(), 0);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(reader: StreamReader, writer: StreamWriter) -> StreamPair {
        StreamPair { reader, writer }
    }

    /// The two halves again.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_read_end, write_end) = std::io::pipe()?;
    /// aio_task::run(async move {
    ///     let writer = aio_streams::connect_write_pipe(write_end)?;
    ///     let pair = aio_streams::StreamReader::new().unsplit(writer);
    ///     let (reader, writer) = pair.into_split();
    ///     reader.feed_data(b"x");
    ///     assert_eq!(reader.buffered(), 1);
    ///     writer.close();
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_split(self) -> (StreamReader, StreamWriter) {
        (self.reader, self.writer)
    }

    /// The reading half, for asyncio's methods (`readline`, `readexactly`, …).
    ///
    /// # Examples
    ///
    /// ```
    /// let (_read_end, write_end) = std::io::pipe()?;
    /// aio_task::run(async move {
    ///     let writer = aio_streams::connect_write_pipe(write_end)?;
    ///     let pair = aio_streams::StreamReader::new().unsplit(writer);
    ///     pair.reader().feed_data(b"line\n");
    ///     assert_eq!(pair.reader().readline().await?, b"line\n");
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reader(&self) -> &StreamReader {
        &self.reader
    }

    /// The writing half, for asyncio's methods (`write`, `drain`, `close`, …).
    ///
    /// # Examples
    ///
    /// ```
    /// let (_read_end, write_end) = std::io::pipe()?;
    /// aio_task::run(async move {
    ///     let writer = aio_streams::connect_write_pipe(write_end)?;
    ///     let pair = aio_streams::StreamReader::new().unsplit(writer);
    ///     pair.writer().write(b"data");
    ///     pair.writer().drain().await?;
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn writer(&self) -> &StreamWriter {
        &self.writer
    }
}

impl StreamReader {
    /// Joins this reader with `writer` into one duplex [`StreamPair`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (_read_end, write_end) = std::io::pipe()?;
    /// aio_task::run(async move {
    ///     let writer = aio_streams::connect_write_pipe(write_end)?;
    ///     let (reader, writer) = aio_streams::StreamReader::new().unsplit(writer).into_split();
    ///     writer.close();
    ///     drop(reader);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unsplit(self, writer: StreamWriter) -> StreamPair {
        StreamPair::new(self, writer)
    }
}

/// Reads through the reader half (see `StreamReader`'s `AsyncRead`).
impl futures_io::AsyncRead for StreamPair {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().reader).poll_read(cx, buf)
    }
}

/// The reader half's buffer (see `StreamReader`'s `AsyncBufRead`).
impl futures_io::AsyncBufRead for StreamPair {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        Pin::new(&mut self.get_mut().reader).poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        Pin::new(&mut self.get_mut().reader).consume(amt);
    }
}

/// Writes through the writer half (see `StreamWriter`'s `AsyncWrite`: `poll_close` flushes
/// and half-closes; the reader half stays open).
impl futures_io::AsyncWrite for StreamPair {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().writer).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().writer).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().writer).poll_close(cx)
    }
}

impl fmt::Debug for StreamPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamPair")
            .field("reader", &self.reader)
            .field("writer", &self.writer)
            .finish()
    }
}
