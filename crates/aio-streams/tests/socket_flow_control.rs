//! `StreamWriter` flow control: water marks, `drain` blocking while the peer does not read,
//! resuming when it reads again, several drainers, `set_write_buffer_limits`.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;
use std::rc::Rc;

use aio_streams::{DEFAULT_HIGH_WATER, StreamReader, StreamWriter, open_connection, start_server};
use aio_task::{Error, Task, create_task, wait_for};

type Slot = Rc<RefCell<Option<(StreamReader, StreamWriter)>>>;

/// A client connection whose server side does not read: the handler parks its reader and
/// writer in the returned slot, and the test decides when (and whether) to read.
async fn stalled_connection()
-> Result<(aio_streams::Server, Slot, StreamReader, StreamWriter), Error> {
    let slot: Slot = Rc::default();
    let park = slot.clone();
    let server = start_server(
        move |reader: StreamReader, writer: StreamWriter| {
            *park.borrow_mut() = Some((reader, writer));
            async {}
        },
        "127.0.0.1",
        0,
    )
    .await?;
    let (reader, writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    // Wait until the server accepted (the handler ran).
    while slot.borrow().is_none() {
        aio_scheduler::sleep(0.001).await?;
    }
    Ok((server, slot, reader, writer))
}

/// Writes until the kernel's buffers are full and the writer's own buffer holds at least
/// `target` bytes.
async fn fill(writer: &StreamWriter, target: usize) -> Result<usize, Error> {
    let chunk = vec![0x5a; 256 * 1024];
    let mut written = 0;
    while writer.get_write_buffer_size() < target {
        writer.write(&chunk);
        written += chunk.len();
        // Let the background flush push what the socket takes.
        for _ in 0..3 {
            aio_scheduler::sleep(0.0).await?;
        }
        assert!(written < 512 * 1024 * 1024, "the buffer never grew");
    }
    Ok(written)
}

/// Starts reading (and counting) everything the server side receives.
fn resume_reading(slot: &Slot) -> Result<Task<usize>, Error> {
    let (reader, writer) = slot.borrow_mut().take().unwrap();
    create_task(async move {
        let _keep = writer; // the connection stays open while reading
        let mut total = 0;
        loop {
            match reader.read(1 << 20).await {
                Ok(data) if !data.is_empty() => total += data.len(),
                _ => return total,
            }
        }
    })
}

#[aio::test(timeout = 10)]
async fn default_limits_are_asyncios() -> Result<(), Error> {
    let (_server, _slot, _reader, writer) = stalled_connection().await?;
    assert_eq!(DEFAULT_HIGH_WATER, 64 * 1024);
    assert_eq!(writer.get_write_buffer_limits(), (16 * 1024, 64 * 1024));
    assert_eq!(writer.get_write_buffer_size(), 0);
    Ok(())
}

#[aio::test(timeout = 10)]
async fn set_write_buffer_limits_semantics() -> Result<(), Error> {
    let (_server, _slot, _reader, writer) = stalled_connection().await?;
    writer.set_write_buffer_limits(Some(1000), None)?;
    assert_eq!(writer.get_write_buffer_limits(), (250, 1000));
    writer.set_write_buffer_limits(None, Some(300))?;
    assert_eq!(writer.get_write_buffer_limits(), (300, 1200));
    writer.set_write_buffer_limits(Some(5000), Some(10))?;
    assert_eq!(writer.get_write_buffer_limits(), (10, 5000));
    writer.set_write_buffer_limits(Some(0), None)?;
    assert_eq!(writer.get_write_buffer_limits(), (0, 0));
    writer.set_write_buffer_limits(None, None)?;
    assert_eq!(writer.get_write_buffer_limits(), (16 * 1024, 64 * 1024));
    // asyncio: ValueError("high (10) must be >= low (100) must be >= 0"), marks unchanged.
    assert!(matches!(
        writer.set_write_buffer_limits(Some(10), Some(100)),
        Err(aio_streams::StreamError::Value(_))
    ));
    assert_eq!(writer.get_write_buffer_limits(), (16 * 1024, 64 * 1024));
    Ok(())
}

#[aio::test(timeout = 10)]
async fn drain_blocks_above_high_water_until_low_water() -> Result<(), Error> {
    let (_server, slot, _reader, writer) = stalled_connection().await?;
    let (low, high) = writer.get_write_buffer_limits();
    // Well above the high mark, so nothing the kernel might still take can bring it down.
    let written = fill(&writer, 2 * 1024 * 1024).await?;
    assert!(writer.get_write_buffer_size() > high);

    // The peer does not read: drain stays pending.
    assert!(matches!(
        wait_for(writer.drain(), 0.05).await,
        Err(Error::Timeout)
    ));
    assert!(writer.get_write_buffer_size() > high);

    // The peer reads again: drain returns once the buffer is at or below the low mark.
    let reading = resume_reading(&slot)?;
    writer.drain().await?;
    assert!(writer.get_write_buffer_size() <= low);

    // Everything arrives.
    writer.close();
    writer.wait_closed().await?;
    assert_eq!(writer.get_write_buffer_size(), 0);
    assert_eq!(reading.await?, written);
    Ok(())
}

/// Whether `drain` is still waiting after one poll, taken with no loop iteration in between
/// (so no background flush can run and change the buffer first).
async fn drain_pending_now(writer: &StreamWriter) -> bool {
    futures_lite::future::poll_once(writer.drain())
        .await
        .is_none()
}

#[aio::test(timeout = 10)]
async fn drain_returns_at_once_when_never_paused() -> Result<(), Error> {
    let (_server, _slot, _reader, writer) = stalled_connection().await?;
    // A high mark nothing reaches: writing never pauses, whatever is buffered.
    writer.set_write_buffer_limits(Some(1 << 30), Some(0))?;
    fill(&writer, 1024 * 1024).await?;
    // Between the marks, never paused: drain does not wait.
    assert!(writer.get_write_buffer_size() > 0);
    assert!(!drain_pending_now(&writer).await);
    wait_for(writer.drain(), 10.0).await??;
    Ok(())
}

/// asyncio's pause has memory (`_FlowControlMixin`): `_maybe_pause_protocol` (after a write
/// that buffers, and in `set_write_buffer_limits`) pauses when the buffer is above the high
/// mark; only `_maybe_resume_protocol`, after a send, resumes, once the buffer is at or below
/// the low mark. Checked against CPython 3.11-3.13: raising the marks above the buffered
/// amount, even the low one, does not resume, and `drain` keeps waiting.
///
/// Regression: `drain` compared the buffer with the high mark at each call, so it returned
/// at once after the high mark was raised while writing was paused.
#[aio::test(timeout = 10)]
async fn raising_the_marks_while_paused_does_not_resume() -> Result<(), Error> {
    let (_server, slot, _reader, writer) = stalled_connection().await?;
    writer.set_write_buffer_limits(Some(1 << 30), None)?;
    let written = fill(&writer, 1024 * 1024).await?;
    assert!(!drain_pending_now(&writer).await, "not paused yet");

    // Lowering the high mark below the buffered amount pauses at once.
    writer.set_write_buffer_limits(Some(64 * 1024), None)?;
    assert!(drain_pending_now(&writer).await);
    assert!(matches!(
        wait_for(writer.drain(), 0.05).await,
        Err(Error::Timeout)
    ));

    // Raising it again above the buffered amount does not resume: drain waits.
    let buffered = writer.get_write_buffer_size();
    writer.set_write_buffer_limits(Some(buffered + 1024 * 1024), None)?;
    assert!(writer.get_write_buffer_size() <= writer.get_write_buffer_limits().1);
    assert!(
        drain_pending_now(&writer).await,
        "raising high resumed writing"
    );
    assert!(matches!(
        wait_for(writer.drain(), 0.05).await,
        Err(Error::Timeout)
    ));

    // Not even a low mark above the buffered amount resumes by itself (asyncio checks the
    // low mark only after a send, and the peer takes nothing).
    let buffered = writer.get_write_buffer_size();
    writer.set_write_buffer_limits(
        Some(buffered + 2 * 1024 * 1024),
        Some(buffered + 1024 * 1024),
    )?;
    assert!(
        drain_pending_now(&writer).await,
        "raising low resumed writing"
    );

    // The peer reads: the next send finds the buffer at or below the low mark and
    // resumes; every drainer returns, and everything arrives.
    let reading = resume_reading(&slot)?;
    wait_for(writer.drain(), 10.0).await??;
    writer.close();
    writer.wait_closed().await?;
    assert_eq!(reading.await?, written);
    Ok(())
}

#[aio::test(timeout = 10)]
async fn custom_marks_are_honoured() -> Result<(), Error> {
    let (_server, slot, _reader, writer) = stalled_connection().await?;
    // Only `low`: high = 4 * low.
    writer.set_write_buffer_limits(None, Some(100 * 1024))?;
    assert_eq!(writer.get_write_buffer_limits(), (100 * 1024, 400 * 1024));
    fill(&writer, 4 * 1024 * 1024).await?;
    assert!(matches!(
        wait_for(writer.drain(), 0.05).await,
        Err(Error::Timeout)
    ));
    let reading = resume_reading(&slot)?;
    writer.drain().await?;
    assert!(writer.get_write_buffer_size() <= 100 * 1024);
    writer.close();
    writer.wait_closed().await?;
    reading.await?;
    Ok(())
}

#[aio::test(timeout = 10)]
async fn every_concurrent_drainer_resumes() -> Result<(), Error> {
    let (_server, slot, _reader, writer) = stalled_connection().await?;
    let (low, _) = writer.get_write_buffer_limits();
    fill(&writer, 2 * 1024 * 1024).await?;
    let drainers: Vec<Task<usize>> = (0..5)
        .map(|_| {
            let writer = writer.clone();
            create_task(async move {
                writer.drain().await.unwrap();
                writer.get_write_buffer_size()
            })
        })
        .collect::<Result<_, _>>()?;
    aio_scheduler::sleep(0.05).await?;
    assert!(
        drainers.iter().all(|d| !d.done()),
        "a drainer returned early"
    );

    let reading = resume_reading(&slot)?;
    for drainer in drainers {
        assert!(drainer.await? <= low);
    }
    writer.close();
    writer.wait_closed().await?;
    reading.await?;
    Ok(())
}

#[aio::test(timeout = 10)]
async fn write_never_blocks_and_buffers_everything() -> Result<(), Error> {
    let (_server, slot, _reader, writer) = stalled_connection().await?;
    fill(&writer, 1024 * 1024).await?;
    let before = writer.get_write_buffer_size();
    // write() itself returns at once however much is queued.
    let big = vec![1u8; 8 * 1024 * 1024];
    writer.write(&big);
    assert_eq!(writer.get_write_buffer_size(), before + big.len());
    let reading = resume_reading(&slot)?;
    writer.close();
    writer.wait_closed().await?;
    assert!(reading.await? > big.len());
    Ok(())
}

/// asyncio: `abort()` while a `drain` waits on a paused writer ends that drain normally
/// (`connection_lost(None)` releases the waiters); the next `drain` is "Connection lost".
/// The pause is never resumed here (nothing was sent), so the drainer must not hang on it.
#[aio::test(timeout = 10)]
async fn abort_releases_a_drain_waiting_on_a_paused_writer() -> Result<(), Error> {
    let (_server, _slot, _reader, writer) = stalled_connection().await?;
    fill(&writer, 1024 * 1024).await?;
    let draining = writer.clone();
    let drainer = create_task(async move { draining.drain().await })?;
    aio_scheduler::sleep(0.05).await?;
    assert!(!drainer.done(), "drain returned while paused");
    writer.abort();
    wait_for(drainer, 10.0).await???;
    let error = writer.drain().await.unwrap_err();
    assert_eq!(error.to_string(), "Connection lost");
    Ok(())
}
