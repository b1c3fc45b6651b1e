//! `StreamPair`: one duplex value (`AsyncRead + AsyncBufRead + AsyncWrite`) from a reader
//! and a writer, driven end to end with futures-io combinators only, and split back.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use aio_streams::{StreamPair, StreamReader, StreamWriter, open_connection, start_server};
use aio_task::{run, wait_for};
use futures_lite::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// Generic over the traits, as a TLS or HTTP adapter is.
async fn line_then_echo_rest<S>(mut stream: S) -> std::io::Result<()>
where
    S: futures_io::AsyncRead + futures_io::AsyncBufRead + futures_io::AsyncWrite + Unpin,
{
    let mut header = String::new();
    stream.read_line(&mut header).await?;
    stream
        .write_all(format!("header: {header}").as_bytes())
        .await?;
    // The rest of the request, echoed back through `copy` on the same value.
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await?;
    let copied = futures_lite::io::copy(&rest[..], &mut stream).await?;
    assert_eq!(copied as usize, rest.len());
    stream.close().await
}

#[test]
fn combinators_end_to_end_over_tcp() {
    const BODY: usize = 300_000;
    let body: Vec<u8> = (0..BODY).map(|i| (i % 251) as u8).collect();
    let expected = body.clone();
    let reply = run(async move {
        let server = start_server(
            |reader: StreamReader, writer: StreamWriter| {
                line_then_echo_rest(reader.unsplit(writer))
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        let (reader, writer) = open_connection("127.0.0.1", server.port().unwrap())
            .await
            .unwrap();
        let mut stream = StreamPair::new(reader, writer);
        let client = async {
            stream.write_all(b"GET /x\n").await?;
            futures_lite::io::copy(&body[..], &mut stream).await?;
            stream.close().await?; // half-close: the reply still arrives
            let mut header = String::new();
            stream.read_line(&mut header).await?;
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest).await?;
            Ok::<_, std::io::Error>((header, rest))
        };
        let reply = wait_for(client, 20.0).await.unwrap().unwrap();
        // Split back: asyncio's methods on the halves.
        let (reader, writer) = stream.into_split();
        assert!(reader.at_eof());
        writer.close();
        writer.wait_closed().await.unwrap();
        reply
    })
    .unwrap();
    assert_eq!(reply.0, "header: GET /x\n");
    assert!(reply.1 == expected, "the echoed body differs");
}

/// Bytes left buffered by the pair's `AsyncBufRead` stay for the reader's asyncio methods
/// after `into_split`.
#[test]
fn split_back_keeps_buffered_bytes() {
    let (line, rest) = run(async {
        let (_read_end, write_end) = std::io::pipe().unwrap();
        let reader = StreamReader::new();
        reader.feed_data(b"one\ntwo\nthree");
        reader.feed_eof();
        let mut pair = reader.unsplit(aio_streams::connect_write_pipe(write_end).unwrap());
        let mut line = String::new();
        pair.read_line(&mut line).await.unwrap();
        let (reader, _writer) = pair.into_split();
        (line, reader.read_to_end().await.unwrap())
    })
    .unwrap();
    assert_eq!(line, "one\n");
    assert_eq!(rest, b"two\nthree");
}
