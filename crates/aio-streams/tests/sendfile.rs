//! `sock_sendfile` and `StreamWriter::sendfile`: `sendfile(2)` for a regular file on a stream
//! socket (files far bigger than the socket buffer, offsets and counts, the file's position
//! afterwards), the read/write fallback for a pipe, and the errors asyncio gives.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::fs::File;
use std::future::IntoFuture;
use std::io::{Read, Seek, Write};
use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::UnixStream;
use std::thread::JoinHandle;

use aio_streams::{connect_write_pipe, open_connection, sock_sendfile};
use aio_task::{Error, run};

/// A file of `len` bytes whose content depends on the position (so an offset mistake shows),
/// unlinked at once.
fn data_file(len: usize, name: &str) -> (File, Vec<u8>) {
    let data: Vec<u8> = (0..len).map(|i| (i * 7 % 253) as u8).collect();
    let path = std::env::temp_dir().join(format!("aio-sendfile-{name}-{}", std::process::id()));
    std::fs::write(&path, &data).unwrap();
    let file = File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    (file, data)
}

/// Reads `peer` to its end on a thread.
fn drain_peer(mut peer: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        got
    })
}

/// 8 MiB through a Unix socket pair (whose buffer holds a few hundred KiB): sendfile(2), with
/// `fallback(false)` to prove it is not the fallback that sent it.
#[test]
fn a_file_bigger_than_the_socket_buffer() {
    let (file, data) = data_file(8 << 20, "big");
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let peer = drain_peer(b);
    let (sent, mut file) = run(async move {
        let sent = sock_sendfile(&a, &file, 0, None)
            .fallback(false)
            .into_future()
            .await;
        (sent, file)
    })
    .unwrap();
    let sent = sent.unwrap();
    assert_eq!(sent, data.len());
    assert!(peer.join().unwrap() == data, "the bytes differ");
    // asyncio leaves the file's position after what was sent.
    assert_eq!(file.stream_position().unwrap(), data.len() as u64);
}

#[test]
fn offset_and_count_over_tcp() {
    let (file, data) = data_file(1 << 20, "range");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    server.set_nonblocking(true).unwrap();
    let peer = drain_peer(client);
    let (offset, count) = (1000, 300_001);
    let len = data.len();
    let (sent, past_end, mut file, server) = run(async move {
        let sent = sock_sendfile(&server, &file, offset, Some(count))
            .fallback(false)
            .into_future()
            .await?;
        // A count past the end sends what there is.
        let tail = len as u64 - 10;
        let past_end = sock_sendfile(&server, &file, tail, Some(1000))
            .into_future()
            .await?;
        Ok::<_, Error>((sent, past_end, file, server))
    })
    .unwrap()
    .unwrap();
    assert_eq!((sent, past_end), (count, 10));
    assert_eq!(
        file.stream_position().unwrap(),
        data.len() as u64,
        "position after the last send"
    );
    drop(server);
    let got = peer.join().unwrap();
    let offset = offset as usize;
    let mut want = data[offset..offset + count].to_vec();
    want.extend_from_slice(&data[data.len() - 10..]);
    assert!(got == want, "the bytes differ");
}

/// A pipe is not a regular file: sendfile(2) cannot read it, so the fallback reads it (on the
/// executor: the pipe is blocking) and sends what it reads; up to its end, or `count`.
#[test]
fn a_pipe_goes_through_the_fallback() {
    let data: Vec<u8> = (0..3_000_000).map(|i| (i % 241) as u8).collect();
    for count in [None, Some(1_234_567)] {
        let (read_end, mut write_end) = std::io::pipe().unwrap();
        let feed = data.clone();
        let feeder = std::thread::spawn(move || {
            // The fallback stops reading at `count`: a broken pipe then is expected.
            let _ = write_end.write_all(&feed);
        });
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let peer = drain_peer(b);
        let (sent, read_end) = run(async move {
            let sent = sock_sendfile(&a, &read_end, 0, count).into_future().await;
            (sent, read_end)
        })
        .unwrap();
        let sent = sent.unwrap();
        let want = count.unwrap_or(data.len());
        assert_eq!(sent, want);
        assert!(peer.join().unwrap() == data[..want], "the bytes differ");
        drop(read_end);
        feeder.join().unwrap();
    }
}

/// A non-blocking pipe is read on the loop, when readable.
#[test]
fn a_non_blocking_pipe_goes_through_the_fallback() {
    let (read_end, mut write_end) = std::io::pipe().unwrap();
    rustix::io::ioctl_fionbio(&read_end, true).unwrap();
    let feeder = std::thread::spawn(move || {
        for i in 0..100u8 {
            write_end.write_all(&[i; 1000]).unwrap();
        }
    });
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let peer = drain_peer(b);
    let sent = run(async move { sock_sendfile(&a, &read_end, 0, None).into_future().await })
        .unwrap()
        .unwrap();
    feeder.join().unwrap();
    assert_eq!(sent, 100_000);
    let got = peer.join().unwrap();
    assert!(
        got.chunks(1000)
            .enumerate()
            .all(|(i, c)| c == [i as u8; 1000])
    );
}

#[test]
fn without_fallback_a_pipe_is_an_error() {
    let (read_end, _write_end) = std::io::pipe().unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let error = run(async move {
        sock_sendfile(&a, &read_end, 0, None)
            .fallback(false)
            .into_future()
            .await
            .unwrap_err()
    })
    .unwrap();
    assert!(
        matches!(&error, Error::Io(e) if e.kind() == std::io::ErrorKind::Unsupported),
        "{error:?}"
    );
}

#[test]
fn datagram_and_blocking_sockets_and_a_zero_count_are_refused() {
    let (file, _) = data_file(10, "refused");
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(true).unwrap();
    let (blocking, _b) = UnixStream::pair().unwrap();
    let (udp_error, blocking_error, zero_error) = run(async move {
        let udp_error = sock_sendfile(&udp, &file, 0, None).into_future().await;
        let blocking_error = sock_sendfile(&blocking, &file, 0, None).into_future().await;
        let zero_error = sock_sendfile(&udp, &file, 0, Some(0)).into_future().await;
        (
            udp_error.unwrap_err(),
            blocking_error.unwrap_err(),
            zero_error.unwrap_err(),
        )
    })
    .unwrap();
    assert!(
        matches!(zero_error, Error::Value(m) if m.contains("positive")),
        "{zero_error:?}"
    );
    assert!(
        matches!(udp_error, Error::Value(m) if m.contains("SOCK_STREAM")),
        "{udp_error:?}"
    );
    assert!(
        matches!(blocking_error, Error::Value(m) if m.contains("non-blocking")),
        "{blocking_error:?}"
    );
}

/// `StreamWriter::sendfile` sends what was written before first, then the file (bigger than
/// the socket buffer) with sendfile(2), then what is written after.
#[test]
fn a_stream_writer_sends_a_file_in_order() {
    let (file, data) = data_file(5 << 20, "writer");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        drain_peer(conn).join().unwrap()
    });
    let sent = run(async move {
        let (_reader, writer) = open_connection("127.0.0.1", port).await?;
        // More than the socket takes at once: the file must wait for it.
        writer.write(&vec![b'h'; 3 << 20]);
        let sent = writer.sendfile(&file, 0, None).await?;
        writer.write(b"trailer");
        writer.close();
        writer.wait_closed().await?;
        Ok::<_, Error>(sent)
    })
    .unwrap()
    .unwrap();
    assert_eq!(sent, data.len());
    let got = peer.join().unwrap();
    assert_eq!(got.len(), (3 << 20) + data.len() + 7);
    assert!(got[..3 << 20].iter().all(|&b| b == b'h'));
    assert!(
        got[3 << 20..(3 << 20) + data.len()] == data[..],
        "file bytes differ"
    );
    assert_eq!(&got[got.len() - 7..], b"trailer");
}

/// A pipe writer has no socket for sendfile(2): the file goes through write and drain.
#[test]
fn a_pipe_writer_sends_a_file_through_the_fallback() {
    let (file, data) = data_file(1 << 20, "pipewriter");
    let (read_end, write_end) = std::io::pipe().unwrap();
    let peer = drain_peer(read_end);
    let sent = run(async move {
        let writer = connect_write_pipe(write_end)?;
        let sent = writer.sendfile(&file, 100, Some(500_000)).await?;
        writer.close();
        writer.wait_closed().await?;
        Ok::<_, Error>(sent)
    })
    .unwrap()
    .unwrap();
    assert_eq!(sent, 500_000);
    assert!(
        peer.join().unwrap() == data[100..500_100],
        "the bytes differ"
    );
}

#[test]
fn a_closed_writer_refuses_sendfile() {
    let (file, _) = data_file(10, "closed");
    let (_read_end, write_end) = std::io::pipe().unwrap();
    let error = run(async move {
        let writer = connect_write_pipe(write_end).unwrap();
        writer.close();
        writer.sendfile(&file, 0, None).await.unwrap_err()
    })
    .unwrap();
    assert!(
        matches!(error, Error::Exception(_) | Error::Io(_)),
        "{error:?}"
    );
}

/// Throughput of the two paths, for docs/benchmarks.md (run on demand, in release mode):
/// 256 MiB from a file through a Unix socket pair to a thread that discards it, with
/// `sendfile(2)` and with the read/send fallback (the same file given as a pipe fed by a
/// thread from the file).
///
/// `cargo test --release -p aio-streams --test sendfile -- --ignored --nocapture throughput`
#[test]
#[ignore = "a measurement, not a check"]
fn throughput_native_and_fallback() {
    const SIZE: usize = 256 << 20;
    let (file, _) = data_file(SIZE, "throughput");
    let discard = |peer: UnixStream| {
        std::thread::spawn(move || {
            let mut peer = peer;
            let mut buf = vec![0u8; 1 << 20];
            let mut total = 0;
            loop {
                match peer.read(&mut buf).unwrap() {
                    0 => break total,
                    n => total += n,
                }
            }
        })
    };
    // sendfile(2).
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let peer = discard(b);
    let start = std::time::Instant::now();
    let (sent, file) = run(async move {
        let sent = sock_sendfile(&a, &file, 0, None)
            .fallback(false)
            .into_future()
            .await
            .unwrap();
        (sent, file)
    })
    .unwrap();
    let native = start.elapsed();
    assert_eq!((sent, peer.join().unwrap()), (SIZE, SIZE));
    // The fallback: the same bytes through a pipe.
    let (read_end, mut write_end) = std::io::pipe().unwrap();
    let feeder = std::thread::spawn(move || {
        let mut file = file;
        file.rewind().unwrap();
        std::io::copy(&mut file, &mut write_end).unwrap();
    });
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let peer = discard(b);
    let start = std::time::Instant::now();
    let sent = run(async move { sock_sendfile(&a, &read_end, 0, None).into_future().await })
        .unwrap()
        .unwrap();
    let fallback = start.elapsed();
    feeder.join().unwrap();
    assert_eq!((sent, peer.join().unwrap()), (SIZE, SIZE));
    let rate = |d: std::time::Duration| SIZE as f64 / d.as_secs_f64() / (1 << 20) as f64;
    println!(
        "256 MiB: sendfile(2) {:.0} ms ({:.0} MiB/s), fallback {:.0} ms ({:.0} MiB/s)",
        native.as_secs_f64() * 1e3,
        rate(native),
        fallback.as_secs_f64() * 1e3,
        rate(fallback)
    );
}
