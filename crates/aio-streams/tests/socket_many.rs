//! Many concurrent connections to one echo server: no byte lost, duplicated or reordered.

use std::path::PathBuf;

use aio_streams::{
    StreamReader, StreamWriter, open_connection, open_unix_connection, start_server,
    start_unix_server,
};
use aio_task::{Error, Task, create_task, run, wait_for};

/// Connections per test, all at once (the 1,000). A burst this size needs the
/// listener's backlog of 1,024 (std's 128 overflowed into connection resets).
const CONNECTIONS: usize = 1_000;

fn run_test<F: Future<Output = Result<(), Error>> + 'static>(test: F) {
    // A generous guard: it only turns a hang into a failure (a debug build takes a few seconds).
    run(async move { wait_for(test, 60.0).await.and_then(|r| r) })
        .expect("loop")
        .expect("test");
}

async fn echo(reader: StreamReader, writer: StreamWriter) {
    loop {
        let data = match reader.read(65536).await {
            Ok(data) if !data.is_empty() => data,
            _ => break,
        };
        writer.write(&data);
        if writer.drain().await.is_err() {
            return;
        }
    }
    writer.close();
}

/// Deterministic pseudo-random data, distinct per connection, split into a few writes of
/// varying sizes.
fn chunks_for(id: usize) -> Vec<Vec<u8>> {
    let mut x = (id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let writes = 2 + (next() % 5) as usize;
    (0..writes)
        .map(|w| {
            let len = 1 + (next() % 3000) as usize;
            // Tag each chunk with the connection and write number, so a mix-up is visible.
            let mut chunk = format!("[{id}:{w}]").into_bytes();
            chunk.extend((0..len).map(|_| next() as u8));
            chunk
        })
        .collect()
}

async fn exchange(id: usize, reader: StreamReader, writer: StreamWriter) -> Result<(), Error> {
    let chunks = chunks_for(id);
    let expected = chunks.concat();
    let sender = create_task(async move {
        for chunk in &chunks {
            writer.write(chunk);
            writer.drain().await?;
            aio_scheduler::sleep(0.0).await?; // let other connections interleave
        }
        writer.write_eof();
        Ok::<_, Error>(writer)
    })?;
    let got = reader.read_to_end().await?;
    let writer = sender.await??;
    assert_eq!(got.len(), expected.len(), "connection {id}: length");
    assert!(got == expected, "connection {id}: data differs");
    writer.close();
    writer.wait_closed().await?;
    Ok(())
}

#[test]
fn many_concurrent_tcp_connections() {
    run_test(async {
        let server = start_server(echo, "127.0.0.1", 0).await?;
        let port = server.port().unwrap();
        let tasks: Vec<Task<Result<(), Error>>> = (0..CONNECTIONS)
            .map(|id| {
                create_task(async move {
                    let (reader, writer) = open_connection("127.0.0.1", port).await?;
                    exchange(id, reader, writer).await
                })
            })
            .collect::<Result<_, _>>()?;
        for task in tasks {
            task.await??;
        }
        server.close();
        server.wait_closed().await;
        Ok(())
    });
}

#[test]
fn many_concurrent_unix_connections() {
    run_test(async {
        let path: PathBuf =
            std::env::temp_dir().join(format!("aio-socket-many-{}.sock", std::process::id()));
        let server = start_unix_server(echo, &path).await?;
        let tasks: Vec<Task<Result<(), Error>>> = (0..CONNECTIONS)
            .map(|id| {
                let path = path.clone();
                create_task(async move {
                    let (reader, writer) = open_unix_connection(&path).await?;
                    exchange(id, reader, writer).await
                })
            })
            .collect::<Result<_, _>>()?;
        for task in tasks {
            task.await??;
        }
        server.close();
        server.wait_closed().await;
        Ok(())
    });
}
