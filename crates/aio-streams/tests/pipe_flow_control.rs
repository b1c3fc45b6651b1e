//! `StreamWriter` flow control over a pipe, where the test controls exactly how much the
//! reading end takes: once paused above the high-water mark, writing stays paused until the
//! buffer is down to the low one, as asyncio's `_FlowControlMixin` does.
#![cfg(target_os = "linux")]

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::io::Read;
use std::os::fd::AsRawFd;

use aio_streams::connect_write_pipe;
use aio_task::{Error, run, to_thread, wait_for};
use futures_lite::future::poll_once;

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// The pipe's capacity in bytes (`F_GETPIPE_SZ`): at most this much sits in the pipe.
fn pipe_capacity(fd: &impl AsRawFd) -> usize {
    // SAFETY: `fd` is an open pipe descriptor for the duration of the call, and
    // F_GETPIPE_SZ takes no argument besides it.
    let size = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ) };
    assert!(size > 0, "F_GETPIPE_SZ failed");
    usize::try_from(size).unwrap()
}

/// Regression: `drain` (and `poll_write`) returned at once whenever the buffer was at or
/// below the high mark, so after a partial drain from above high to between the marks the
/// writer was let go early. asyncio stays paused until the buffer reaches the low mark
/// (checked with CPython: 16C written with C the pipe's capacity, marks 8C / 2C, the reader
/// takes 9C: 6C stay buffered and `drain` waits).
#[test]
fn a_partial_drain_to_between_the_marks_keeps_writing_paused() {
    run(async {
        let (mut read_end, write_end) = std::io::pipe()?;
        let cap = pipe_capacity(&write_end);
        let mut writer = connect_write_pipe(write_end)?;
        let (low, high) = (2 * cap, 8 * cap);
        writer.set_write_buffer_limits(Some(high), Some(low))?;

        let total = 16 * cap;
        let data: Vec<u8> = (0..total).map(pattern).collect();
        writer.write(&data);
        // The pipe took at most `cap` directly: the rest is buffered, above high. Paused.
        assert!(writer.get_write_buffer_size() >= total - cap);
        assert!(poll_once(writer.drain()).await.is_none());

        // The reading end takes exactly 9C, then stops. Whatever it read was flushed, and the
        // pipe holds at most C more: the buffer ends between 6C and 7C, between the marks.
        let taken = 9 * cap;
        let (mut read_end, mut got) = to_thread(move || {
            let mut got = vec![0u8; taken];
            read_end.read_exact(&mut got).map(|()| (read_end, got))
        })
        .await??;
        let buffered = writer.get_write_buffer_size();
        assert!(
            buffered > low && buffered <= high,
            "{buffered} bytes buffered"
        );

        // Still paused: drain waits, and so does the futures-io write.
        assert!(
            poll_once(writer.drain()).await.is_none(),
            "drain returned between the marks"
        );
        assert!(matches!(
            wait_for(writer.drain(), 0.05).await,
            Err(Error::Timeout)
        ));
        let write = futures_lite::AsyncWriteExt::write(&mut writer, b"more");
        assert!(poll_once(write).await.is_none(), "poll_write did not wait");
        assert!(writer.get_write_buffer_size() <= high);

        // The reading end takes the rest: the buffer reaches the low mark, drain returns.
        let rest = to_thread(move || {
            let mut rest = Vec::new();
            read_end.read_to_end(&mut rest).map(|_| rest)
        });
        wait_for(writer.drain(), 10.0).await??;
        writer.close();
        writer.wait_closed().await?;
        got.extend(rest.await??);
        assert_eq!(got.len(), total);
        assert!(got == data, "the bytes arrived altered or out of order");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Regression: with the eager task factory, a `StreamWriter`'s background flush could finish
/// inside the call that started it (a first step that emptied the buffer), after which the
/// writer marked a flush as running for good: later writes stayed buffered and `drain` never
/// returned. Bytes left buffered while no loop ran, into a pipe that then has room, make the
/// first step finish at once.
#[test]
fn the_eager_task_factory_never_leaves_the_writer_without_its_flush() {
    use aio_task::{EventLoopExt, TaskFactory};

    let lp = aio_scheduler::EventLoop::new().unwrap();
    lp.set_task_factory(TaskFactory::Eager);
    let (mut read_end, write_end) = std::io::pipe().unwrap();
    let cap = pipe_capacity(&write_end);
    let writer = lp
        .run_until_complete(async move { connect_write_pipe(write_end) })
        .unwrap()
        .unwrap();
    // No loop runs: the pipe takes `cap`, 1000 bytes stay buffered with no flush started.
    writer.write(&vec![1u8; cap]);
    writer.write(&[2u8; 1000]);
    assert_eq!(writer.get_write_buffer_size(), 1000);
    let mut first = vec![0u8; cap];
    read_end.read_exact(&mut first).unwrap();
    // The pipe has room again: one loop iteration takes the reactor's event, so the flush's
    // first step finds the pipe writable.
    lp.run_until_complete(aio_scheduler::sleep(0.01))
        .unwrap()
        .unwrap();
    let reader = std::thread::spawn(move || {
        let mut rest = Vec::new();
        read_end.read_to_end(&mut rest).map(|_| rest.len())
    });
    let big = 300_000;
    lp.run_until_complete(async {
        writer.write(&[3u8; 1000]); // starts the flush: its first step empties the buffer
        writer.write(&vec![4u8; big]); // above the high-water mark: paused
        wait_for(writer.drain(), 10.0).await??;
        writer.close();
        writer.wait_closed().await?;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(reader.join().unwrap().unwrap(), 1000 + 1000 + big);
}
