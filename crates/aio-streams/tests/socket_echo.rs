//! TCP and Unix echo: byte-exact round trips, `writelines`, `write_eof`, addresses.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aio_streams::{
    Address, StreamReader, StreamWriter, open_connection, open_unix_connection, start_server,
    start_unix_server,
};
use aio_task::{Error, create_task};

/// The addresses a server-side writer reported: (peername, sockname).
type Seen = Rc<RefCell<Option<(Option<Address>, Option<Address>)>>>;

fn unix_path(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "aio-socket-echo-{}-{name}-{n}.sock",
        std::process::id()
    ))
}

/// Echoes everything until EOF, then closes.
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

/// Deterministic pseudo-random bytes.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Sends `chunks` from a separate task (so echo back-pressure cannot deadlock), then
/// `write_eof`, and reads everything back.
async fn round_trip(reader: StreamReader, writer: StreamWriter, chunks: Vec<Vec<u8>>) -> Vec<u8> {
    let sender = create_task(async move {
        for chunk in &chunks {
            writer.write(chunk);
            writer.drain().await.unwrap();
        }
        writer.write_eof();
        writer
    })
    .unwrap();
    let data = reader.read_to_end().await.unwrap();
    let writer = sender.await.unwrap();
    writer.close();
    writer.wait_closed().await.unwrap();
    data
}

fn sample_chunks() -> Vec<Vec<u8>> {
    vec![
        b"hello".to_vec(),
        vec![0u8; 1],
        (0..=255u8).collect(),
        pattern(1, 100_000),
        b"\r\n\0\xff".to_vec(),
        pattern(2, 1_000_000),
        b"end".to_vec(),
    ]
}

#[aio::test(timeout = 10)]
async fn tcp_echo_is_byte_exact() -> Result<(), Error> {
    let server = start_server(echo, "127.0.0.1", 0).await?;
    let port = server.port().unwrap();
    assert_ne!(port, 0);
    let (reader, writer) = open_connection("127.0.0.1", port).await?;
    let chunks = sample_chunks();
    let expected = chunks.concat();
    assert_eq!(round_trip(reader, writer, chunks).await, expected);
    server.close();
    server.wait_closed().await;
    Ok(())
}

#[aio::test(timeout = 10)]
async fn unix_echo_is_byte_exact() -> Result<(), Error> {
    let path = unix_path("exact");
    let server = start_unix_server(echo, &path).await?;
    assert_eq!(server.port(), None);
    let (reader, writer) = open_unix_connection(&path).await?;
    let chunks = sample_chunks();
    let expected = chunks.concat();
    assert_eq!(round_trip(reader, writer, chunks).await, expected);
    server.close();
    server.wait_closed().await;
    assert!(!path.exists());
    Ok(())
}

#[aio::test(timeout = 10)]
async fn writelines_sends_every_buffer_in_order() -> Result<(), Error> {
    let server = start_server(echo, "127.0.0.1", 0).await?;
    let (reader, writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    let big = pattern(7, 300_000);
    let lines: Vec<&[u8]> = vec![b"one\n", b"", b"two\n", &big, b"three\n"];
    writer.writelines(lines.iter().copied());
    writer.drain().await?;
    writer.write_eof();
    let data = reader.read_to_end().await?;
    assert_eq!(data, lines.concat());
    Ok(())
}

#[aio::test(timeout = 10)]
async fn write_eof_gives_the_peer_eof_and_keeps_the_other_direction_open() -> Result<(), Error> {
    // The server reads to EOF, then answers with the byte count: the client's write_eof
    // must reach it while the client can still read.
    let server = start_server(
        |reader: StreamReader, writer: StreamWriter| async move {
            let data = reader.read_to_end().await.unwrap();
            writer.write(format!("got {}", data.len()).as_bytes());
            writer.close();
        },
        "127.0.0.1",
        0,
    )
    .await?;
    let (reader, writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    assert!(writer.can_write_eof());
    writer.write(&pattern(3, 200_000));
    writer.write_eof();
    // Writes after write_eof are dropped.
    writer.write(b"ignored");
    assert_eq!(reader.read_to_end().await?, b"got 200000");
    assert!(reader.at_eof());
    Ok(())
}

#[aio::test(timeout = 10)]
async fn unix_write_eof_reaches_the_server() -> Result<(), Error> {
    let path = unix_path("eof");
    let server = start_unix_server(
        |reader: StreamReader, writer: StreamWriter| async move {
            let data = reader.read_to_end().await.unwrap();
            writer.write(&data);
            writer.write(b"!");
            writer.close();
        },
        &path,
    )
    .await?;
    let (reader, writer) = open_unix_connection(&path).await?;
    writer.write(b"over unix");
    writer.write_eof();
    assert_eq!(reader.read_to_end().await?, b"over unix!");
    server.close();
    Ok(())
}

#[aio::test(timeout = 10)]
async fn tcp_peername_and_sockname_match_both_ends() -> Result<(), Error> {
    let seen: Seen = Rc::default();
    let record = seen.clone();
    let server = start_server(
        move |reader: StreamReader, writer: StreamWriter| {
            *record.borrow_mut() = Some((writer.peername(), writer.sockname()));
            echo(reader, writer)
        },
        "127.0.0.1",
        0,
    )
    .await?;
    let port = server.port().unwrap();
    assert_ne!(port, 0);
    let expected_server = Address::Inet(format!("127.0.0.1:{port}").parse().unwrap());
    assert_eq!(server.sockets(), std::slice::from_ref(&expected_server));

    let (reader, writer) = open_connection("127.0.0.1", port).await?;
    writer.write(b"ping");
    assert_eq!(reader.read(4).await?, b"ping"); // the handler has run
    assert_eq!(writer.peername(), Some(expected_server.clone()));
    let client = writer.sockname().unwrap();
    match &client {
        Address::Inet(addr) => {
            assert_eq!(addr.ip().to_string(), "127.0.0.1");
            assert_ne!(addr.port(), 0);
        }
        other => panic!("not an inet address: {other:?}"),
    }
    let (server_peer, server_sock) = seen.borrow().clone().unwrap();
    assert_eq!(server_peer, Some(client));
    assert_eq!(server_sock, Some(expected_server));
    Ok(())
}

#[aio::test(timeout = 10)]
async fn unix_peername_and_sockname() -> Result<(), Error> {
    let path = unix_path("names");
    let seen: Seen = Rc::default();
    let record = seen.clone();
    let server = start_unix_server(
        move |reader: StreamReader, writer: StreamWriter| {
            *record.borrow_mut() = Some((writer.peername(), writer.sockname()));
            echo(reader, writer)
        },
        &path,
    )
    .await?;
    let name = Address::Unix(path.display().to_string());
    assert_eq!(server.sockets(), std::slice::from_ref(&name));
    let (reader, writer) = open_unix_connection(&path).await?;
    writer.write(b"x");
    assert_eq!(reader.read(1).await?, b"x");
    assert_eq!(writer.peername(), Some(name.clone()));
    // The client socket is unnamed.
    assert_eq!(writer.sockname(), Some(Address::Unix(String::new())));
    let (server_peer, server_sock) = seen.borrow().clone().unwrap();
    assert_eq!(server_peer, Some(Address::Unix(String::new())));
    assert_eq!(server_sock, Some(name));
    server.close();
    Ok(())
}

#[aio::test(timeout = 10)]
async fn close_flushes_buffered_data_and_wait_closed_returns() -> Result<(), Error> {
    let received: Rc<RefCell<Option<Vec<u8>>>> = Rc::default();
    let record = received.clone();
    let server = start_server(
        move |reader: StreamReader, writer: StreamWriter| {
            let record = record.clone();
            async move {
                *record.borrow_mut() = Some(reader.read_to_end().await.unwrap());
                writer.close();
            }
        },
        "127.0.0.1",
        0,
    )
    .await?;
    let (_reader, writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    let data = pattern(9, 4_000_000);
    writer.write(&data);
    assert!(!writer.is_closing());
    writer.close();
    assert!(writer.is_closing());
    writer.wait_closed().await?;
    assert_eq!(writer.get_write_buffer_size(), 0);
    server.close();
    server.wait_closed().await; // the handler has finished
    assert_eq!(received.borrow().as_deref(), Some(&data[..]));
    Ok(())
}
