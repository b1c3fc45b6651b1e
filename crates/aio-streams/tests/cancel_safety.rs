//! The `# Cancel safety` sections of aio-streams, checked by dropping futures mid-way — after
//! they started waiting and, for the reads, after part of what they wait for has arrived —
//! on real sockets (127.0.0.1, port 0) and fed readers: the cancel-safe reads leave every byte
//! buffered, `drain` loses nothing written, a dropped receive loses no datagram, and dropped
//! connect / server futures leave nothing connected or bound. The two documented exceptions
//! are pinned down too: `read_to_end` loses what it collected, `serve_forever` closes the
//! server.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;

use aio_scheduler::sleep;
use aio_streams::{DatagramEndpoint, StreamError, StreamReader, open_connection, start_server};
use aio_task::{Error, run, wait_for};

/// Polls `future` once, then drops it: `Some` if it completed in that poll.
async fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    poll_fn(|cx| {
        Poll::Ready(match future.as_mut().poll(cx) {
            Poll::Ready(out) => Some(out),
            Poll::Pending => None,
        })
    })
    .await
}

/// Runs `op` under a 10 ms timeout (dropping it mid-way) until `ready()` holds, at most 500
/// times: each round is a cancellation after the operation started waiting.
async fn cancel_until<F: Future>(mut op: impl FnMut() -> F, ready: impl Fn() -> bool) {
    for _ in 0..500 {
        if ready() {
            return;
        }
        assert!(
            matches!(wait_for(op(), 0.01).await, Err(Error::Timeout)),
            "the operation completed instead of waiting"
        );
    }
    panic!("the peer's bytes never arrived");
}

/// A server whose handler writes `first`, waits for one byte from the client, then writes
/// `rest`; returns its port.
async fn two_part_server(
    first: &'static [u8],
    rest: &'static [u8],
) -> Result<(u16, aio_streams::Server), Error> {
    let server = start_server(
        move |reader, writer| async move {
            writer.write(first);
            reader.read(1).await?;
            writer.write(rest);
            writer.drain().await
        },
        "127.0.0.1",
        0,
    )
    .await?;
    Ok((server.port().unwrap(), server))
}

#[test]
fn read_dropped_while_waiting_loses_nothing_and_leaves_no_concurrent_read() {
    run(async {
        let reader = StreamReader::new();
        assert!(poll_once(reader.read(10)).await.is_none());
        reader.feed_data(b"after");
        assert_eq!(reader.read(10).await?, b"after");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn readexactly_dropped_after_partial_data_keeps_it_buffered() {
    run(async {
        let (port, _server) = two_part_server(b"abc", b"de").await?;
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        cancel_until(|| reader.readexactly(5), || reader.buffered() == 3).await;
        writer.write(b"g"); // go on
        assert_eq!(reader.readexactly(5).await?, b"abcde");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn readuntil_dropped_after_partial_data_keeps_it_buffered() {
    run(async {
        let (port, _server) = two_part_server(b"key", b"=value").await?;
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        cancel_until(|| reader.readuntil(b"="), || reader.buffered() == 3).await;
        writer.write(b"g");
        assert_eq!(reader.readuntil(b"=").await?, b"key=");
        assert_eq!(reader.read(100).await?, b"value");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn readline_dropped_after_partial_data_keeps_it_buffered() {
    run(async {
        let (port, _server) = two_part_server(b"half a ", b"line\n").await?;
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        cancel_until(|| reader.readline(), || reader.buffered() == 7).await;
        writer.write(b"g");
        assert_eq!(reader.readline().await?, b"half a line\n");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn readuntil_any_dropped_after_partial_data_keeps_it_buffered() {
    run(async {
        let reader = StreamReader::new();
        reader.feed_data(b"no separator yet");
        assert!(
            poll_once(reader.readuntil_any(&[b";", b"\n"]))
                .await
                .is_none()
        );
        assert_eq!(reader.buffered(), 16);
        reader.feed_data(b";");
        assert_eq!(
            reader.readuntil_any(&[b";", b"\n"]).await?,
            b"no separator yet;"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn lines_dropped_while_waiting_keeps_the_partial_line() {
    use futures_core::Stream;
    run(async {
        let reader = StreamReader::new();
        reader.feed_data(b"one\ntw");
        let mut lines = reader.lines();
        let first = poll_fn(|cx| Pin::new(&mut lines).poll_next(cx)).await;
        assert_eq!(first.unwrap()?, b"one\n");
        // The next line is incomplete: abandon the poll, then the stream itself.
        let pending = poll_once(poll_fn(|cx| Pin::new(&mut lines).poll_next(cx))).await;
        assert!(pending.is_none());
        drop(lines);
        assert_eq!(reader.buffered(), 2);
        reader.feed_data(b"o\n");
        assert_eq!(reader.readline().await?, b"two\n");
        Ok::<_, StreamError>(())
    })
    .unwrap()
    .unwrap();
}

/// The documented exception: `read_to_end` keeps what it collected in its own vector.
#[test]
fn read_to_end_dropped_mid_way_loses_what_it_collected() {
    run(async {
        let reader = StreamReader::new();
        reader.feed_data(b"collected");
        assert!(poll_once(reader.read_to_end()).await.is_none());
        assert_eq!(reader.buffered(), 0, "the bytes left the buffer");
        reader.feed_data(b" later");
        reader.feed_eof();
        assert_eq!(reader.read_to_end().await?, b" later");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn drain_dropped_while_paused_loses_no_written_byte() {
    const TOTAL: usize = 32 << 20;
    run(async {
        // The server reads nothing for 200 ms, then counts everything up to EOF.
        let server = start_server(
            |reader, writer| async move {
                sleep(0.2).await?;
                let n = reader.read_to_end().await?.len();
                writer.write(format!("{n}\n").as_bytes());
                writer.drain().await?;
                Ok::<_, Error>(())
            },
            "127.0.0.1",
            0,
        )
        .await?;
        let (reader, writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..TOTAL / chunk.len() {
            writer.write(&chunk);
        }
        // Far more than the socket buffers hold: writing is paused and drain waits.
        assert!(matches!(
            wait_for(writer.drain(), 0.02).await,
            Err(Error::Timeout)
        ));
        assert!(writer.get_write_buffer_size() > 0);
        writer.write_eof();
        let count = wait_for(reader.readline(), 30.0).await??;
        assert_eq!(count, format!("{TOTAL}\n").as_bytes());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn wait_closed_dropped_does_not_stop_the_close() {
    run(async {
        let (read_end, write_end) = std::io::pipe().unwrap();
        let writer = aio_streams::connect_write_pipe(write_end)?;
        let reader = aio_streams::connect_read_pipe(read_end, 1 << 16)?;
        writer.write(&vec![1u8; 1 << 20]); // more than the pipe holds: the close must wait
        writer.close();
        assert!(poll_once(writer.wait_closed()).await.is_none());
        assert_eq!(reader.read_to_end().await?.len(), 1 << 20);
        wait_for(writer.wait_closed(), 5.0).await??;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

// The three "while resolving" tests use a name: an IP literal is parsed on the loop's thread
// (no resolver), so its future gets past resolving in its first poll.
#[test]
fn open_connection_dropped_while_resolving_connects_nothing() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    run(async move {
        assert!(
            poll_once(open_connection("localhost", port))
                .await
                .is_none()
        );
        sleep(0.05).await?; // the resolution finishes on its thread, unused
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a dropped open_connection connected: {accepted:?}"
    );
}

#[test]
fn start_server_dropped_while_resolving_binds_nothing() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    run(async move {
        let starting = start_server(|_, _| async {}, "localhost", port);
        assert!(poll_once(starting).await.is_none());
        sleep(0.05).await?;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    // Nothing listens there: the port can be bound again.
    std::net::TcpListener::bind(("127.0.0.1", port))
        .expect("a dropped start_server bound its port");
}

#[test]
fn server_wait_closed_dropped_changes_nothing() {
    run(async {
        let server = start_server(|_, _| async {}, "127.0.0.1", 0).await?;
        assert!(poll_once(server.wait_closed()).await.is_none());
        assert!(server.is_serving());
        server.close();
        wait_for(server.wait_closed(), 5.0).await?;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// The documented exception: dropping `serve_forever` closes the server.
#[test]
fn serve_forever_dropped_closes_the_server() {
    run(async {
        let server = start_server(|_, _| async {}, "127.0.0.1", 0).await?;
        assert!(poll_once(server.serve_forever()).await.is_none());
        assert!(!server.is_serving());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn udp_recv_dropped_while_waiting_loses_no_datagram() {
    run(async {
        let a = DatagramEndpoint::bind("127.0.0.1", 0).await?;
        let b = DatagramEndpoint::bind("127.0.0.1", 0).await?;
        b.connect("127.0.0.1", a.local_addr()?.port()).await?;
        let mut buf = [0u8; 16];
        assert!(poll_once(b.recv_from(&mut buf)).await.is_none());
        assert!(poll_once(b.recv(&mut buf)).await.is_none());
        a.send_to(b"one", b.local_addr()?).await?;
        a.send_to(b"two", b.local_addr()?).await?;
        // Both dropped receives waited; neither took a datagram.
        let n = wait_for(b.recv(&mut buf), 5.0).await??;
        assert_eq!(&buf[..n], b"one");
        let (n, from) = wait_for(b.recv_from(&mut buf), 5.0).await??;
        assert_eq!((&buf[..n], from), (&b"two"[..], a.local_addr()?));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn udp_connect_dropped_while_resolving_leaves_the_endpoint_unconnected() {
    run(async {
        let a = DatagramEndpoint::bind("127.0.0.1", 0).await?;
        let b = DatagramEndpoint::bind("127.0.0.1", 0).await?;
        let port = b.local_addr()?.port();
        assert!(poll_once(a.connect("localhost", port)).await.is_none());
        sleep(0.05).await?;
        assert_eq!(a.peer_addr(), None);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
