//! Pipes as streams: asyncio's `loop.connect_read_pipe` / `connect_write_pipe`, wrapped in a
//! [`StreamReader`] / [`StreamWriter`] (what `asyncio.subprocess` does for a child's pipes).

use std::cell::RefCell;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;
use std::task::{Context, Poll};

use aio_reactor::AsyncFd;
use aio_scheduler::get_running_loop;

use crate::socket::{ReadCall, Sink, read_appending};
use crate::{ReadSource, StreamReader, StreamWriter};

/// Registers `fd` (made non-blocking) with the running loop's reactor.
fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    let event_loop = get_running_loop().map_err(io::Error::other)?;
    rustix::io::ioctl_fionbio(&fd, true)?;
    AsyncFd::new(event_loop.reactor(), fd)
}

/// The read end of a pipe as a [`ReadSource`].
struct PipeSource(AsyncFd<OwnedFd>);

impl ReadSource for PipeSource {
    fn poll_fill(&self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
        let fd = self.0.get_ref().as_fd();
        self.0
            .registration()
            .poll_read_with(cx, || read_appending(buf, fd, ReadCall::Read, None))
    }
}

/// The write end of a pipe as a [`Sink`]. Closing the writer (or `write_eof`) closes the
/// descriptor, which is how the reading side sees end of file.
struct PipeSink(RefCell<Option<AsyncFd<OwnedFd>>>);

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the pipe is closed")
}

impl Sink for PipeSink {
    fn write_now(&self, buf: &[u8]) -> io::Result<usize> {
        let pipe = self.0.borrow();
        let pipe = pipe.as_ref().ok_or_else(closed)?;
        let written = rustix::io::write(pipe.get_ref(), buf).map_err(io::Error::from);
        if matches!(&written, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            pipe.registration().clear_writable();
        }
        written
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let pipe = self.0.borrow();
        let Some(pipe) = pipe.as_ref() else {
            return Poll::Ready(Err(closed()));
        };
        pipe.registration().poll_write_with(cx, || {
            rustix::io::write(pipe.get_ref(), buf).map_err(io::Error::from)
        })
    }

    fn shutdown(&self, _: Shutdown) -> io::Result<()> {
        // Deregisters, then closes (`AsyncFd` drops its registration first).
        drop(self.0.borrow_mut().take());
        Ok(())
    }
}

/// Reads the pipe (or other non-seekable stream descriptor: a FIFO, a character device)
/// `fd` through a [`StreamReader`] with buffer limit `limit` (asyncio's
/// `loop.connect_read_pipe` with a `StreamReaderProtocol`). The descriptor is made
/// non-blocking and closed when the reader is dropped.
///
/// # Errors
///
/// Without a running loop, or if the descriptor cannot be registered with the reactor (a
/// regular file cannot: it is always ready).
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use aio_streams::{DEFAULT_LIMIT, connect_read_pipe};
///
/// let (read_end, mut write_end) = std::io::pipe()?;
/// write_end.write_all(b"through a pipe\n")?;
/// drop(write_end);
/// let line = aio_task::run(async move {
///     let reader = connect_read_pipe(read_end, DEFAULT_LIMIT)?;
///     Ok::<_, aio_task::Error>(reader.readline().await?)
/// })??;
/// assert_eq!(line, b"through a pipe\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect_read_pipe(fd: impl Into<OwnedFd>, limit: usize) -> io::Result<StreamReader> {
    let source = PipeSource(register(fd.into())?);
    Ok(StreamReader::from_source_with_limit(source, limit))
}

/// Writes to the pipe `fd` through a [`StreamWriter`] (asyncio's `loop.connect_write_pipe`):
/// the same buffering and `drain` flow control as a socket's writer; `close` and `write_eof`
/// close the descriptor once the buffer is flushed, and writing after the reading end went
/// away loses the writer with [`io::ErrorKind::BrokenPipe`]. That needs SIGPIPE ignored, as
/// Rust programs (and Python) have it by default: a pipe write cannot opt out of the signal
/// as socket writes do (`MSG_NOSIGNAL`), so a program that restored SIGPIPE's default action
/// is killed by it, as by any pipe write.
///
/// # Errors
///
/// As [`connect_read_pipe`].
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use aio_streams::connect_write_pipe;
///
/// let (mut read_end, write_end) = std::io::pipe()?;
/// aio_task::run(async move {
///     let writer = connect_write_pipe(write_end)?;
///     writer.write(b"to the other end");
///     writer.close();
///     writer.wait_closed().await?;
///     Ok::<_, aio_task::Error>(())
/// })??;
/// let mut got = String::new();
/// read_end.read_to_string(&mut got)?; // EOF: the writer closed its end
/// assert_eq!(got, "to the other end");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect_write_pipe(fd: impl Into<OwnedFd>) -> io::Result<StreamWriter> {
    let sink = PipeSink(RefCell::new(Some(register(fd.into())?)));
    Ok(StreamWriter::new(Rc::new(sink)))
}
