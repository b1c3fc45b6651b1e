//! What the halves of a connection report at its edges, compared with asyncio 3.11 on the
//! same sequence (each test quotes what CPython printed):
//! `at_eof()` after the last byte was read, `write()` after `write_eof()`, `drain()` after
//! `close()`, and `drain()` after the reader saw the connection reset.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::io::{ErrorKind, Read};
use std::net::TcpListener;
use std::time::Duration;

use aio_scheduler::sleep;
use aio_streams::{StreamError, StreamReader, StreamWriter, open_connection, start_server};
use aio_task::{Error, to_thread};

/// A server that sends `abc` and closes.
async fn abc_server() -> Result<aio_streams::Server, Error> {
    start_server(
        |_reader: StreamReader, writer: StreamWriter| async move {
            writer.write(b"abc");
            writer.close();
            let _ = writer.wait_closed().await;
        },
        "127.0.0.1",
        0,
    )
    .await
}

/// Regression: a pull-based reader only learned about EOF on its next read, so after
/// `readexactly(3)` of a 3-byte stream whose peer had closed, `at_eof()` stayed false for
/// ever. asyncio: `False` right after the read, `True` once the EOF arrived.
#[aio::test(timeout = 10)]
async fn at_eof_turns_true_once_the_peer_closed_after_the_last_byte() -> Result<(), Error> {
    let server = abc_server().await?;
    let (reader, _writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    assert_eq!(reader.readexactly(3).await?, b"abc");
    let mut waited = 0;
    while !reader.at_eof() {
        assert!(waited < 5000, "at_eof() never turned true");
        sleep(0.001).await?;
        waited += 1;
    }
    assert_eq!(reader.read(10).await?, b"");
    assert!(reader.at_eof());
    Ok(())
}

/// `at_eof()` looking at the socket must not eat data or hide it: with bytes still coming,
/// it is false and the bytes are read afterwards in order.
#[aio::test(timeout = 10)]
async fn at_eof_keeps_data_that_arrives() -> Result<(), Error> {
    let server = abc_server().await?;
    let (reader, _writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    let mut got = Vec::new();
    // Poll at_eof() while the data arrives; whatever it pulls in stays readable.
    while !reader.at_eof() {
        if reader.buffered() > 0 {
            got.extend(reader.read(1).await?);
        } else {
            sleep(0.001).await?;
        }
    }
    assert_eq!(got, b"abc");
    Ok(())
}

/// asyncio: `write()` after `write_eof()` raises `RuntimeError('Cannot call write() after
/// write_eof()')`. aio's `write` queues without failing, so the error comes from the next
/// `drain()` and the data is not sent.
#[aio::test(timeout = 10)]
async fn write_after_write_eof_is_reported_by_drain() -> Result<(), Error> {
    let server = start_server(
        |reader: StreamReader, writer: StreamWriter| async move {
            let all = reader.read_to_end().await.unwrap_or_default();
            writer.write(&all);
            writer.close();
        },
        "127.0.0.1",
        0,
    )
    .await?;
    let (reader, writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    writer.write(b"before");
    writer.write_eof();
    writer.write(b"after");
    let error = writer.drain().await.unwrap_err();
    assert_eq!(error.to_string(), "Cannot call write() after write_eof()");
    assert!(matches!(error, StreamError::State(_)), "{error:?}");
    // Reported once; the bytes written after EOF never left.
    writer.drain().await?;
    assert_eq!(reader.read_to_end().await?, b"before");
    Ok(())
}

/// asyncio: `drain()` after `close()` (and after `wait_closed()`) raises
/// `ConnectionResetError('Connection lost')`.
#[aio::test(timeout = 10)]
async fn drain_after_close_is_connection_lost() -> Result<(), Error> {
    let server = abc_server().await?;
    let (_reader, writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    writer.close();
    let error = writer.drain().await.unwrap_err();
    assert!(
        matches!(
            &error,
            StreamError::Io {
                kind: ErrorKind::ConnectionReset,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "Connection lost");
    writer.wait_closed().await?;
    assert!(writer.drain().await.is_err());
    Ok(())
}

/// asyncio's `drain()` raises the reader's exception first: a reset seen by the reader fails
/// the next `drain()` even with nothing buffered.
#[aio::test(timeout = 10)]
async fn drain_reports_a_reset_the_reader_saw() -> Result<(), Error> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut byte = [0u8; 1];
        let _ = socket.read(&mut byte);
        // SO_LINGER 0: close sends RST instead of FIN.
        let socket = linger_zero(socket);
        drop(socket);
    });
    let (reader, writer) = open_connection("127.0.0.1", port).await?;
    writer.write(b"x");
    writer.drain().await?;
    let read = reader.read(10).await;
    let seen = match read {
        Err(StreamError::Io { kind, .. }) => kind,
        other => panic!("expected a reset, got {other:?}"),
    };
    assert_eq!(seen, ErrorKind::ConnectionReset);
    assert_eq!(writer.get_write_buffer_size(), 0);
    let error = writer.drain().await.unwrap_err();
    assert!(
        matches!(
            &error,
            StreamError::Io {
                kind: ErrorKind::ConnectionReset,
                ..
            }
        ),
        "{error:?}"
    );
    to_thread(move || peer.join().unwrap()).await?;
    sleep(Duration::ZERO).await?;
    Ok(())
}

/// Sets `SO_LINGER {on, 0}` so closing the socket resets the connection.
fn linger_zero(socket: std::net::TcpStream) -> std::net::TcpStream {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `socket` is an open TCP socket; `linger` is a valid `struct linger` that lives
    // across the call, and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    socket
}
