//! The stream halves as `futures-io` `AsyncRead` / `AsyncWrite`: a bulk transfer through the
//! traits alone is byte-exact, and `poll_write` applies the water marks. Generic code of an
//! ecosystem crate written against the traits (futures-lite's `io::copy`, `BufReader`,
//! `AsyncBufReadExt`, `AsyncWriteExt`) works on aio's streams unchanged.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::future::poll_fn;
use std::pin::Pin;

use aio_streams::{StreamReader, StreamWriter, open_connection, start_server};
use aio_task::{Error, run, wait_for};
use futures_io::{AsyncRead, AsyncWrite};

const SIZE: usize = 2 * 1024 * 1024;

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

async fn read_all(mut reader: StreamReader) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 10_000];
    loop {
        let n = poll_fn(|cx| Pin::new(&mut reader).poll_read(cx, &mut buf)).await?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn bulk_transfer_through_the_traits_is_byte_exact() {
    run(async {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let server = start_server(
            move |reader: StreamReader, _writer: StreamWriter| {
                let done = done_tx.clone();
                async move {
                    let _ = done.send(read_all(reader).await.map(|d| d.len()));
                }
            },
            "127.0.0.1",
            0,
        )
        .await?;
        let (_, mut writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
        let data: Vec<u8> = (0..SIZE).map(pattern).collect();
        let mut sent = 0;
        while sent < data.len() {
            let chunk = &data[sent..(sent + 7_919).min(data.len())];
            let n = poll_fn(|cx| Pin::new(&mut writer).poll_write(cx, chunk)).await?;
            // Flow control: the buffer never runs far past the high-water mark.
            assert!(writer.get_write_buffer_size() <= 64 * 1024 + 7_919);
            sent += n;
        }
        poll_fn(|cx| Pin::new(&mut writer).poll_flush(cx)).await?;
        assert_eq!(writer.get_write_buffer_size(), 0);
        poll_fn(|cx| Pin::new(&mut writer).poll_close(cx)).await?;
        // The server side counted every byte.
        let received = loop {
            if let Ok(n) = done_rx.try_recv() {
                break n;
            }
            aio_scheduler::sleep(0.001).await?;
        };
        assert_eq!(received?, SIZE);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn read_through_the_trait_sees_the_exact_bytes() {
    run(async {
        let server = start_server(
            |_reader: StreamReader, writer: StreamWriter| async move {
                let data: Vec<u8> = (0..SIZE).map(pattern).collect();
                writer.write(&data);
                writer.close();
                let _ = writer.wait_closed().await;
            },
            "127.0.0.1",
            0,
        )
        .await?;
        let (reader, _writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
        let data = wait_for(read_all(reader), 30.0).await??;
        assert_eq!(data.len(), SIZE);
        assert!(data.iter().enumerate().all(|(i, &b)| b == pattern(i)));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// An echo server written with futures-lite alone: `io::copy` from the connection's
/// `StreamReader` to its `StreamWriter`, then `AsyncWriteExt::close`. The client writes with
/// `write_all` in uneven pieces, `flush`es, half-closes, and reads the echo back with
/// `read_to_end`, concurrently (2 MiB does not fit in the socket buffers both ways).
#[test]
fn futures_lite_copy_echoes_every_byte_in_order() {
    use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
    use std::cell::Cell;
    use std::rc::Rc;

    run(async {
        let copied = Rc::new(Cell::new(None));
        let report = copied.clone();
        let server = start_server(
            move |reader: StreamReader, mut writer: StreamWriter| {
                let report = report.clone();
                async move {
                    let n = futures_lite::io::copy(reader, &mut writer).await?;
                    // `StreamWriter::close` (asyncio's) would shadow the trait's.
                    AsyncWriteExt::close(&mut writer).await?;
                    report.set(Some(n));
                    Ok::<_, std::io::Error>(())
                }
            },
            "127.0.0.1",
            0,
        )
        .await?;
        let (mut reader, writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
        let data: Vec<u8> = (0..SIZE).map(pattern).collect();
        let to_send = data.clone();
        let sending = aio_task::create_task(async move {
            let mut writer = writer;
            for piece in to_send.chunks(12_345) {
                writer.write_all(piece).await?;
            }
            writer.flush().await?;
            assert_eq!(writer.get_write_buffer_size(), 0);
            writer.write_eof();
            Ok::<_, std::io::Error>(writer)
        })?;
        let mut echoed = Vec::new();
        let n = // `StreamReader::read_to_end` (asyncio's) would shadow the trait's.
        wait_for(AsyncReadExt::read_to_end(&mut reader, &mut echoed), 30.0).await??;
        let _writer = sending.await??;
        assert_eq!(n, SIZE);
        assert!(echoed == data, "the echo differs from what was sent");
        assert_eq!(copied.get(), Some(SIZE as u64));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// futures-lite's `BufReader` over an aio reader: `read_line` splits exactly where the
/// newlines are (a CRLF line, a line longer than the reader's 64 KiB limit and the
/// `BufReader`'s 8 KiB buffer, a last line without a newline), then reports EOF; the server
/// side writes with `AsyncWriteExt::write_all`, `flush` and `close` on an aio writer.
#[test]
fn futures_lite_bufreader_reads_lines_written_with_write_all() {
    use futures_lite::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let long = format!("{}\n", "x".repeat(100_000));
    let expected = vec![
        "alpha\n".to_owned(),
        "beta\r\n".to_owned(),
        "\n".to_owned(),
        long,
        "tail without newline".to_owned(),
    ];
    let sent = expected.concat();
    let closed = std::rc::Rc::new(std::cell::Cell::new(false));
    let report = closed.clone();
    run(async move {
        let server = start_server(
            move |_reader: StreamReader, mut writer: StreamWriter| {
                let sent = sent.clone();
                let report = report.clone();
                async move {
                    // Uneven pieces, so lines straddle the writes.
                    for piece in sent.as_bytes().chunks(7_001) {
                        writer.write_all(piece).await?;
                    }
                    writer.flush().await?;
                    let flushed = writer.get_write_buffer_size() == 0;
                    // `StreamWriter::close` (asyncio's) would shadow the trait's.
                    // The trait's close is a half-close (asyncio's `write_eof`): the
                    // transport is not closing; the handler's end drops the connection.
                    AsyncWriteExt::close(&mut writer).await?;
                    report.set(flushed && !writer.is_closing());
                    Ok::<_, std::io::Error>(())
                }
            },
            "127.0.0.1",
            0,
        )
        .await?;
        let (reader, _writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
        let mut reader = BufReader::new(reader);
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = wait_for(reader.read_line(&mut line), 30.0).await??;
            if n == 0 {
                break;
            }
            assert_eq!(n, line.len());
            lines.push(line);
        }
        assert_eq!(lines, expected);
        // EOF stays EOF.
        let mut line = String::new();
        assert_eq!(reader.read_line(&mut line).await?, 0);
        assert!(line.is_empty());
        // The server's flush emptied the buffer and its half-close completed.
        wait_for(
            async {
                while !closed.get() {
                    aio_scheduler::sleep(0.001).await?;
                }
                Ok::<_, Error>(())
            },
            10.0,
        )
        .await??;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
