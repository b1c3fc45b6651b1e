//! `HyperIo`: any futures-io `AsyncBufRead + AsyncWrite` (aio's [`StreamPair`]) as hyper 1.x's
//! `hyper::rt::Read + hyper::rt::Write`.
//!
//! hyper 1.x does its I/O through its own `rt` traits, not futures-io's nor tokio's, so every
//! runtime other than tokio (which has `hyper-util`'s `TokioIo`) needs this glue. It reads
//! through `AsyncBufRead`: `poll_fill_buf` lends the unread part of the `StreamReader`'s own
//! buffer, `put_slice` copies it into hyper's buffer, `consume` moves the reader's cursor. That
//! is the one copy `AsyncRead::poll_read` would make too, without `unsafe` and without first
//! zeroing hyper's uninitialized buffer (which an `AsyncRead`-based adapter must do to make a
//! `&mut [u8]` of it). Writes map one to one; hyper's `poll_shutdown` is futures-io's
//! `poll_close`, which on aio is a flush and a half-close (`write_eof`). `is_write_vectored` stays false: hyper then gathers a response's head and
//! body into one buffer and `StreamWriter` gets a single `poll_write`.
//!
//! [`StreamPair`]: aio::aio_streams::StreamPair

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_io::{AsyncBufRead, AsyncWrite};

/// A futures-io stream as hyper's `rt::Read + rt::Write`.
#[derive(Debug)]
pub struct HyperIo<T>(pub T);

impl<T: AsyncBufRead + Unpin> hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let inner = &mut self.get_mut().0;
        let unread = ready!(Pin::new(&mut *inner).poll_fill_buf(cx))?;
        // An empty slice is the end of the stream: hyper sees a read of 0 bytes.
        let n = unread.len().min(buf.remaining());
        buf.put_slice(&unread[..n]);
        Pin::new(inner).consume(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> hyper::rt::Write for HyperIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_close(cx)
    }
}
