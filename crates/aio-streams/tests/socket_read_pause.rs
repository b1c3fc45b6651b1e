//! Reading pauses on a real socket when nobody reads. asyncio's protocol pushes every chunk
//! into the reader and pauses the transport once the buffer is above twice the limit; aio's
//! reader pulls, so it reads from the socket only when a read needs bytes. Either way the
//! peer meets backpressure: its writes stop completing once the kernel's buffers are full,
//! the reader's buffer stays within twice the limit, and when reading resumes every byte
//! arrives, in order.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::io::{ErrorKind, Write};
use std::os::unix::net::{UnixListener, UnixStream};

use aio_streams::{DEFAULT_LIMIT, StreamReader, open_unix_connection};
use aio_task::{Error, run, to_thread, wait_for};

/// Far more than the socket's buffers hold, and far more than twice the limit.
const TOTAL: usize = 16 * 1024 * 1024;

fn pattern(i: usize) -> u8 {
    (i % 253) as u8
}

/// Writes from `data[*sent..]` without blocking until the socket takes no more; returns how
/// much it took this time.
fn push(peer: &mut UnixStream, data: &[u8], sent: &mut usize) -> usize {
    let before = *sent;
    loop {
        assert!(
            *sent < data.len(),
            "the socket took everything: no backpressure"
        );
        let end = (*sent + 64 * 1024).min(data.len());
        match peer.write(&data[*sent..end]) {
            Ok(n) => *sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return *sent - before,
            Err(e) => panic!("peer write: {e}"),
        }
    }
}

/// Lets the loop run a while: were the reader reading in the background, it would now.
async fn let_the_loop_run() -> Result<(), Error> {
    for _ in 0..20 {
        aio_scheduler::sleep(0.0).await?;
    }
    aio_scheduler::sleep(0.01).await?;
    Ok(())
}

#[test]
fn an_unread_socket_pushes_back_and_every_byte_arrives_once_reading_resumes() {
    let path = std::env::temp_dir().join(format!("aio-read-pause-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let data: Vec<u8> = (0..TOTAL).map(pattern).collect();
    let twice_the_limit = 2 * DEFAULT_LIMIT;

    let connect_to = path.clone();
    run(async move {
        let reader: StreamReader = open_unix_connection(&connect_to).await?.0;
        assert_eq!(reader.limit(), DEFAULT_LIMIT);
        let (mut peer, _) = listener.accept()?;
        peer.set_nonblocking(true)?;

        // Nobody reads: the peer's writes stop completing long before TOTAL, and stay
        // stopped however long the loop runs; the reader took nothing from the socket.
        let mut sent = 0;
        push(&mut peer, &data, &mut sent);
        let_the_loop_run().await?;
        assert_eq!(
            push(&mut peer, &data, &mut sent),
            0,
            "someone read the socket"
        );
        assert_eq!(reader.buffered(), 0, "the reader read with no read asking");
        assert!(sent < TOTAL / 2, "the socket took {sent} bytes");

        // One small read pulls one chunk, within twice the limit; then reading is paused
        // again: the buffer does not grow, although the socket is full.
        assert_eq!(reader.read(1).await?, [pattern(0)]);
        let buffered = reader.buffered();
        assert!(
            buffered > 0 && buffered < twice_the_limit,
            "{buffered} bytes buffered"
        );
        push(&mut peer, &data, &mut sent);
        let_the_loop_run().await?;
        assert_eq!(
            push(&mut peer, &data, &mut sent),
            0,
            "someone read the socket"
        );
        assert_eq!(
            reader.buffered(),
            buffered,
            "the reader read with no read asking"
        );

        // Reading resumes: the peer writes the rest (blocking, on a thread of its own) while
        // the reader takes small pieces; the buffer never goes above twice the limit, and
        // every byte arrives in order.
        peer.set_nonblocking(false)?;
        let rest = data[sent..].to_vec();
        let writing = to_thread(move || {
            peer.write_all(&rest)?;
            peer.shutdown(std::net::Shutdown::Write)
        });
        let reading = async {
            let mut next = 1;
            let mut most_buffered = buffered;
            loop {
                let piece = reader.read(10_000).await?;
                if piece.is_empty() {
                    return Ok::<_, Error>((next, most_buffered));
                }
                for &byte in &piece {
                    assert_eq!(byte, pattern(next), "byte {next} is wrong");
                    next += 1;
                }
                most_buffered = most_buffered.max(reader.buffered());
            }
        };
        let (received, most_buffered) = wait_for(reading, 60.0).await??;
        writing.await??;
        assert_eq!(received, TOTAL);
        assert!(
            most_buffered <= twice_the_limit,
            "{most_buffered} bytes buffered"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    let _ = std::fs::remove_file(&path);
}
