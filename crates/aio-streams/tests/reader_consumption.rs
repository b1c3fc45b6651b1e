//! Consuming from the front of a large buffer costs O(consumed), not O(buffered): every read
//! method, fed a 4 MiB buffer at once and reading it in 16- or 32-byte pieces, finishes far
//! within the bound. (Before the read cursor, each read moved the rest of the buffer: 256 K
//! reads × 2 MiB on average, hours of `memmove`.) The bound is 20 s for work that takes well
//! under a second even unoptimized, so machine speed does not decide the outcome.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::future::poll_fn;
use std::pin::Pin;
use std::time::{Duration, Instant};

use aio_streams::{StreamError, StreamReader};

const TOTAL: usize = 4 * 1024 * 1024;
const LINE: usize = 32;
const BOUND: Duration = Duration::from_secs(20);

/// A reader holding `TOTAL` bytes of 32-byte lines, then EOF.
fn full_reader() -> StreamReader {
    let reader = StreamReader::new();
    let mut line = [b'x'; LINE];
    line[LINE - 1] = b'\n';
    reader.feed_data(&line.repeat(TOTAL / LINE));
    reader.feed_eof();
    reader
}

/// Reads `full_reader` to the end with `read_one` (empty at the end), checking every piece
/// has `piece` bytes and the whole takes less than [`BOUND`].
fn drains_in_bound<F>(piece: usize, read_one: F)
where
    F: AsyncFn(&mut StreamReader) -> Result<Vec<u8>, StreamError> + 'static,
{
    let mut reader = full_reader();
    let total = aio_task::run(async move {
        let started = Instant::now();
        let mut total = 0;
        loop {
            let data = read_one(&mut reader).await.unwrap();
            if data.is_empty() {
                break total;
            }
            assert_eq!(data.len(), piece);
            total += data.len();
            assert!(
                started.elapsed() < BOUND,
                "{total} bytes read in {BOUND:?}: consumption is not O(1)"
            );
        }
    })
    .unwrap();
    assert_eq!(total, TOTAL);
}

#[test]
fn readexactly_small_frames() {
    drains_in_bound(16, async |r| match r.readexactly(16).await {
        Err(StreamError::IncompleteRead { partial, .. }) if partial.is_empty() => Ok(partial),
        other => other,
    });
}

#[test]
fn read_small_pieces() {
    drains_in_bound(16, async |r| r.read(16).await);
}

#[test]
fn readline_short_lines() {
    drains_in_bound(LINE, async |r| r.readline().await);
}

#[test]
fn readuntil_short_records() {
    drains_in_bound(LINE, async |r| match r.readuntil(b"x\n").await {
        Err(StreamError::IncompleteRead { partial, .. }) if partial.is_empty() => Ok(partial),
        other => other,
    });
}

#[test]
fn async_read_small_pieces() {
    drains_in_bound(16, async |r| {
        let mut piece = [0u8; 16];
        let n = poll_fn(|cx| futures_io::AsyncRead::poll_read(Pin::new(&mut *r), cx, &mut piece))
            .await
            .unwrap();
        Ok(piece[..n].to_vec())
    });
}

/// The consumed prefix is dropped before more is appended, so feeding and reading in turn
/// keeps the buffer near what is unread, and a drained reader holds nothing.
#[test]
fn buffer_stays_bounded_while_fed_and_read_in_turn() {
    let reader = StreamReader::new();
    aio_task::run(async move {
        reader.feed_data(&[1; 4096]);
        for _ in 0..10_000 {
            reader.feed_data(&[2; 100]);
            assert_eq!(reader.readexactly(100).await.unwrap().len(), 100);
            assert_eq!(reader.buffered(), 4096);
        }
        assert_eq!(reader.read(usize::MAX).await.unwrap().len(), 4096);
        assert_eq!(reader.buffered(), 0);
    })
    .unwrap();
}
