//! The stream halves as `futures-io` `AsyncRead` / `AsyncWrite`: a bulk transfer through the
//! traits alone is byte-exact, and `poll_write` applies the water marks.

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
