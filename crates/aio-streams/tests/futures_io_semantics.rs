//! futures-io semantics as the ecosystem expects them: `AsyncWriteExt::close` flushes and
//! half-closes (asyncio's `write_eof`; a pipe's write end is closed), so the peer's reply
//! stays readable; `StreamReader` is an `AsyncBufRead`; `io::copy` works both ways.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use aio_streams::{
    StreamReader, StreamWriter, connect_read_pipe, connect_write_pipe, open_connection,
    open_unix_connection, start_server, start_unix_server,
};
use aio_task::{run, wait_for};
use futures_lite::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// Reads the request to its end, then answers with its length.
async fn answer_after_eof(
    reader: StreamReader,
    writer: StreamWriter,
) -> Result<(), aio_task::Error> {
    let request = reader.read_to_end().await?;
    writer.write(
        format!(
            "got {} bytes: {}",
            request.len(),
            String::from_utf8_lossy(&request)
        )
        .as_bytes(),
    );
    writer.drain().await?;
    writer.close();
    Ok(())
}

/// Request, futures-io close, then the reply through futures-io.
async fn request_close_reply(mut reader: StreamReader, mut writer: StreamWriter) -> String {
    writer.write_all(b"request").await.unwrap();
    AsyncWriteExt::close(&mut writer).await.unwrap();
    let mut reply = String::new();
    AsyncReadExt::read_to_string(&mut reader, &mut reply)
        .await
        .unwrap();
    reply
}

#[test]
fn tcp_close_half_closes_and_the_reply_is_read() {
    let reply = run(async {
        let server = start_server(answer_after_eof, "127.0.0.1", 0)
            .await
            .unwrap();
        let (reader, writer) = open_connection("127.0.0.1", server.port().unwrap())
            .await
            .unwrap();
        wait_for(request_close_reply(reader, writer), 10.0)
            .await
            .unwrap()
    })
    .unwrap();
    assert_eq!(reply, "got 7 bytes: request");
}

#[test]
fn unix_close_half_closes_and_the_reply_is_read() {
    let path = std::env::temp_dir().join(format!("aio-fio-close-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let reply = run({
        let path = path.clone();
        async move {
            let _server = start_unix_server(answer_after_eof, &path).await.unwrap();
            let (reader, writer) = open_unix_connection(&path).await.unwrap();
            wait_for(request_close_reply(reader, writer), 10.0)
                .await
                .unwrap()
        }
    })
    .unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(reply, "got 7 bytes: request");
}

#[test]
fn pipe_close_closes_the_write_end_and_the_reply_is_read() {
    use std::io::{Read, Write};
    let (mut request_in, request_out) = std::io::pipe().unwrap();
    let (reply_in, mut reply_out) = std::io::pipe().unwrap();
    // The peer: reads the request to EOF (the writer's close), then replies.
    let peer = std::thread::spawn(move || {
        let mut request = Vec::new();
        request_in.read_to_end(&mut request).unwrap();
        write!(
            reply_out,
            "got {} bytes: {}",
            request.len(),
            String::from_utf8_lossy(&request)
        )
        .unwrap();
    });
    let reply = run(async move {
        let reader = connect_read_pipe(reply_in, aio_streams::DEFAULT_LIMIT).unwrap();
        let writer = connect_write_pipe(request_out).unwrap();
        wait_for(request_close_reply(reader, writer), 10.0)
            .await
            .unwrap()
    })
    .unwrap();
    peer.join().unwrap();
    assert_eq!(reply, "got 7 bytes: request");
}

/// An echo server made of `io::copy(reader, writer)` and a client that copies a buffer in
/// and the reply out, half-closing in between: `copy` both ways, through the traits only.
#[test]
fn io_copy_both_ways_through_an_echo() {
    const SIZE: usize = 1 << 20;
    let data: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    let expected = data.clone();
    let echoed = run(async move {
        let server = start_server(
            |mut reader: StreamReader, mut writer: StreamWriter| async move {
                futures_lite::io::copy(&mut reader, &mut writer).await?;
                AsyncWriteExt::close(&mut writer).await
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        let (mut reader, mut writer) = open_connection("127.0.0.1", server.port().unwrap())
            .await
            .unwrap();
        let client = async {
            let sent = futures_lite::io::copy(&data[..], &mut writer).await?;
            AsyncWriteExt::close(&mut writer).await?;
            let mut echoed = Vec::new();
            futures_lite::io::copy(&mut reader, &mut echoed).await?;
            Ok::<_, std::io::Error>((sent, echoed))
        };
        wait_for(client, 20.0).await.unwrap().unwrap()
    })
    .unwrap();
    assert_eq!(echoed.0, SIZE as u64);
    assert!(echoed.1 == expected, "the echo differs");
}

/// `StreamReader` is an `AsyncBufRead`: `read_line` and `fill_buf` / `consume` work on it
/// directly, and what they leave stays for asyncio's methods.
#[test]
fn reader_is_async_buf_read() {
    let (line, peeked, rest) = run(async {
        let mut reader = StreamReader::new();
        reader.feed_data(b"first line\nsecond");
        reader.feed_data(b" line\ntail");
        reader.feed_eof();
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        let peeked = reader.fill_buf().await.unwrap().to_vec();
        reader.consume(7); // "second "
        let rest = reader.readline().await.unwrap();
        (line, peeked, rest)
    })
    .unwrap();
    assert_eq!(line, "first line\n");
    assert_eq!(peeked, b"second line\ntail");
    assert_eq!(rest, b"line\n");
}
