//! `Transport::sendfile` (asyncio's `loop.sendfile(transport, file, ...)`): `sendfile(2)` on a
//! plain socket transport with offsets and counts, writes refused while it runs (asyncio's
//! "unable to write; sendfile is in progress"), the read/write fallback (a pipe as the file, a
//! write pipe transport), and the errors asyncio gives.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::net::TcpListener;
use std::rc::Rc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aio_streams::{
    Protocol, Transport, connect_read_pipe_protocol, connect_write_pipe_protocol, create_connection,
};
use aio_task::{Error, run};

/// A file of `len` bytes whose content depends on the position (so an offset mistake shows),
/// unlinked at once.
fn data_file(len: usize, name: &str) -> (File, Vec<u8>) {
    let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    let path = std::env::temp_dir().join(format!(
        "aio-transport-sendfile-{name}-{}",
        std::process::id()
    ));
    std::fs::write(&path, &data).unwrap();
    let file = File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    (file, data)
}

/// A raw peer on a thread: accepts one connection, waits for `go` (if given), then reads
/// to the end.
fn raw_peer(go: Option<mpsc::Receiver<()>>) -> (u16, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        if let Some(go) = go {
            go.recv().unwrap();
        }
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap();
        got
    });
    (port, peer)
}

/// Waits (on the loop) until `done()` holds; fails the test after 20 s.
async fn until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        aio_scheduler::sleep(0.001).await.unwrap();
    }
}

type Log = Rc<RefCell<Vec<String>>>;

fn capture_exceptions() -> Log {
    let seen: Log = Rc::default();
    let s = seen.clone();
    aio_scheduler::get_running_loop()
        .unwrap()
        .set_exception_handler(move |_, ctx| s.borrow_mut().push(ctx.to_string()));
    seen
}

/// What a [`Quiet`] protocol received, and how its connection ended.
type Received = Rc<RefCell<(Vec<u8>, Option<Option<String>>)>>;

/// Records what it receives and how the connection ended.
struct Quiet(Received);

impl Protocol for Quiet {
    fn data_received(&mut self, data: &[u8]) {
        self.0.borrow_mut().0.extend_from_slice(data);
    }
    fn connection_lost(&mut self, error: Option<io::Error>) {
        self.0.borrow_mut().1 = Some(error.map(|e| e.to_string()));
    }
}

fn quiet() -> (Quiet, Received) {
    let state = Rc::default();
    (Quiet(Rc::clone(&state)), state)
}

/// 32 MiB from an offset, with a count, to a peer that does not read at first: the native
/// sendfile is in flight (the socket full), a write meanwhile is refused and reported, and
/// the bytes arrive as written before + the file's range + written after.
#[test]
fn native_sendfile_with_offset_and_count_keeps_write_order() {
    let (file, data) = data_file(32 << 20, "native");
    let (go, wait) = mpsc::channel();
    let (port, peer) = raw_peer(Some(wait));
    let (offset, count) = (12_345u64, (32 << 20) - 20_000);
    let (sent, refused, reading_after, mut file) = run(async move {
        let log = capture_exceptions();
        let (protocol, _) = quiet();
        let transport = create_connection(move || protocol, "127.0.0.1", port).await?;
        transport.write(b"HEAD");
        let sending = {
            let transport = transport.clone();
            aio_task::create_task(async move {
                let sent = transport
                    .sendfile(&file, offset, Some(count))
                    .fallback(false) // proves sendfile(2) sent it
                    .await;
                (sent, file)
            })?
        };
        // Reading is paused as soon as the sendfile starts; the peer is not reading, so
        // 32 MiB cannot all be sent yet: the sendfile is in flight.
        until("the sendfile to start", || !transport.is_reading()).await;
        transport.write(b"REFUSED");
        let refused = log.borrow().clone();
        go.send(()).unwrap();
        let (sent, file) = sending.await?;
        let reading_after = transport.is_reading();
        transport.write(b"TAIL");
        transport.close();
        Ok::<_, Error>((sent, refused, reading_after, file))
    })
    .unwrap()
    .unwrap();
    assert_eq!(sent.unwrap(), count);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].contains("unable to write; sendfile is in progress"),
        "{refused:?}"
    );
    assert!(reading_after, "reading is resumed after the sendfile");
    let got = peer.join().unwrap();
    let start = offset as usize;
    let mut want = b"HEAD".to_vec();
    want.extend_from_slice(&data[start..start + count]);
    want.extend_from_slice(b"TAIL");
    assert_eq!(got.len(), want.len());
    assert!(got == want, "the bytes differ");
    // asyncio leaves the file's position after what was sent.
    assert_eq!(file.stream_position().unwrap(), offset + count as u64);
}

/// What was written before the sendfile and is still buffered (a big write) goes first.
#[test]
fn a_buffered_write_is_sent_before_the_file() {
    let (file, data) = data_file(1 << 20, "buffered");
    let (port, peer) = raw_peer(None);
    let head = vec![b'h'; 4 << 20];
    let want_head = head.clone();
    run(async move {
        let (protocol, _) = quiet();
        let transport = create_connection(move || protocol, "127.0.0.1", port).await?;
        transport.write(&head);
        let sent = transport.sendfile(&file, 0, None).await?;
        assert_eq!(sent, 1 << 20);
        assert_eq!(transport.get_write_buffer_size(), 0);
        transport.close();
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    let got = peer.join().unwrap();
    assert_eq!(got.len(), want_head.len() + data.len());
    assert!(got[..want_head.len()] == want_head[..]);
    assert!(
        got[want_head.len()..] == data[..],
        "the file's bytes differ"
    );
}

/// A pipe as the file: no sendfile(2), the fallback reads and sends it through the
/// transport; writes are accepted meanwhile (asyncio's fallback does not refuse them).
#[test]
fn a_pipe_file_goes_through_the_fallback() {
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
    let (reader, mut writer) = io::pipe().unwrap();
    let feed = data.clone();
    let feeder = std::thread::spawn(move || writer.write_all(&feed).unwrap());
    let (port, peer) = raw_peer(None);
    run(async move {
        let log = capture_exceptions();
        let (protocol, _) = quiet();
        let transport = create_connection(move || protocol, "127.0.0.1", port).await?;
        transport.write(b"<");
        let sent = transport.sendfile(&reader, 0, None).await?;
        assert_eq!(sent, 3_000_000);
        transport.write(b">");
        transport.close();
        assert!(log.borrow().is_empty(), "{:?}", log.borrow());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    feeder.join().unwrap();
    let got = peer.join().unwrap();
    assert_eq!(got.len(), data.len() + 2);
    assert_eq!(got[0], b'<');
    assert_eq!(got[got.len() - 1], b'>');
    assert!(got[1..got.len() - 1] == data[..], "the bytes differ");
}

/// A write pipe transport has no socket: the fallback, with offset and count.
#[test]
fn a_write_pipe_transport_sends_a_file_through_the_fallback() {
    let (file, data) = data_file(700_000, "pipe");
    let (mut read_end, write_end) = io::pipe().unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        read_end.read_to_end(&mut got).unwrap();
        got
    });
    let (offset, count) = (100u64, 600_000);
    run(async move {
        let (protocol, _) = quiet();
        let transport = connect_write_pipe_protocol(move || protocol, write_end)?;
        let without = transport
            .sendfile(&file, offset, Some(count))
            .fallback(false)
            .await;
        assert!(
            matches!(&without, Err(Error::Io(e)) if e.kind() == io::ErrorKind::Unsupported),
            "{without:?}"
        );
        assert_eq!(transport.sendfile(&file, offset, Some(count)).await?, count);
        transport.close();
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    let got = reader.join().unwrap();
    assert!(got == data[100..600_100], "the bytes differ");
}

/// asyncio's errors: a closing transport, a zero count, a read pipe transport, a second
/// sendfile while one runs; an offset past the end sends nothing.
#[test]
fn errors_as_asyncio_gives_them() {
    let (file, _) = data_file(64 << 20, "errors");
    let (go, wait) = mpsc::channel();
    let (port, peer) = raw_peer(Some(wait));
    let (read_end, _write_end) = io::pipe().unwrap();
    run(async move {
        let (protocol, _) = quiet();
        let transport = create_connection(move || protocol, "127.0.0.1", port).await?;
        let zero = transport.sendfile(&file, 0, Some(0)).await;
        assert!(matches!(zero, Err(Error::Value(_))), "{zero:?}");
        assert_eq!(transport.sendfile(&file, 1 << 40, None).await?, 0);

        let file = Rc::new(file);
        let sending = {
            let (transport, file) = (transport.clone(), Rc::clone(&file));
            aio_task::create_task(async move { transport.sendfile(&*file, 0, None).await })?
        };
        until("the sendfile to start", || !transport.is_reading()).await;
        let second = transport.sendfile(&*file, 0, None).await;
        assert!(matches!(second, Err(Error::InvalidState(_))), "{second:?}");
        // Closed while it runs: the sendfile fails, the peer's side ends.
        transport.abort();
        let aborted = sending.await?;
        assert!(matches!(aborted, Err(Error::Io(_))), "{aborted:?}");
        go.send(()).unwrap();

        let closing = transport.sendfile(&*file, 0, None).await;
        assert!(
            matches!(closing, Err(Error::InvalidState("Transport is closing"))),
            "{closing:?}"
        );

        let (protocol, _) = quiet();
        let read_pipe = connect_read_pipe_protocol(move || protocol, read_end)?;
        let refused = read_pipe.sendfile(&*file, 0, None).await;
        assert!(
            matches!(refused, Err(Error::InvalidState(_))),
            "{refused:?}"
        );
        read_pipe.close();
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    // The peer got part of the file at most, then the end of the connection.
    assert!(peer.join().unwrap().len() < 64 << 20);
}

/// The transport keeps working after a sendfile: it reads what the peer sends.
#[test]
fn reading_goes_on_after_a_sendfile() {
    let (file, data) = data_file(100_000, "reading");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = vec![0; 100_000];
        conn.read_exact(&mut got).unwrap();
        conn.write_all(b"thanks").unwrap();
        got
    });
    run(async move {
        let (protocol, state) = quiet();
        let transport: Transport = create_connection(move || protocol, "127.0.0.1", port).await?;
        assert_eq!(transport.sendfile(&file, 0, None).await?, 100_000);
        until("the reply", || state.borrow().0 == b"thanks").await;
        until("the end", || state.borrow().1.is_some()).await;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert!(peer.join().unwrap() == data);
}

/// An abort while a write pipe transport's sendfile waits for room in the pipe ends the
/// sendfile with an error (closing a pipe raises no event: the transport wakes the waiting
/// sendfile itself). The reader never reads, so the pipe fills and the sendfile waits.
#[test]
fn an_abort_ends_a_pipe_sendfile_that_waits_for_room() {
    let (file, _) = data_file(4 << 20, "pipe-abort");
    let (read_end, write_end) = io::pipe().unwrap();
    run(async move {
        let (protocol, _) = quiet();
        let transport = connect_write_pipe_protocol(move || protocol, write_end)?;
        let file = Rc::new(file);
        let sending = {
            let (transport, file) = (transport.clone(), file.clone());
            aio_task::create_task(async move { transport.sendfile(&file, 0, None).await })?
        };
        // Let it fill the pipe (64 KiB) and wait for room.
        aio_scheduler::sleep(0.05).await?;
        assert!(!sending.done(), "the pipe is full: the sendfile waits");
        transport.abort();
        // Bounded: without the wake-up it would wait forever.
        let outcome = aio_task::wait_for(sending, 5.0).await?;
        assert!(
            matches!(&outcome, Ok(Err(Error::Io(e))) if e.kind() == io::ErrorKind::NotConnected),
            "{outcome:?}"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    drop(read_end);
}

/// While a fallback waits for its file's next block, what the protocol wrote meanwhile is
/// sent (asyncio's transport goes on writing during `_sendfile_fallback`). The file is a pipe
/// whose second block comes only once the peer has received everything written before it:
/// were the write side held until the next block, the two would wait for each other.
#[test]
fn writes_during_a_fallback_go_out_while_it_waits_for_the_file() {
    const BIG: usize = 8 << 20;
    let (pipe_read, mut pipe_write) = io::pipe().unwrap();
    let (go_file, file_waits) = mpsc::channel::<()>();
    let (go_peer, peer_waits) = mpsc::channel::<()>();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let feeder = std::thread::spawn(move || {
        pipe_write.write_all(&[b'A'; 1000]).unwrap();
        file_waits.recv().unwrap();
        pipe_write.write_all(&[b'B'; 1000]).unwrap();
    });
    let peer = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        peer_waits.recv().unwrap();
        let mut got = vec![0u8; 1000 + BIG];
        conn.read_exact(&mut got).unwrap();
        go_file.send(()).unwrap();
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest).unwrap();
        got.extend_from_slice(&rest);
        got
    });
    let sent = run(async move {
        let (protocol, _) = quiet();
        let transport = create_connection(move || protocol, "127.0.0.1", port).await?;
        let sending = {
            let transport = transport.clone();
            aio_task::create_task(async move { transport.sendfile(&pipe_read, 0, None).await })?
        };
        // The first block is out; the fallback waits for the pipe's next one.
        aio_scheduler::sleep(0.1).await?;
        transport.write(&vec![b'M'; BIG]); // more than the socket takes at once
        go_peer.send(()).unwrap();
        let sent = aio_task::wait_for(sending, 10.0).await???;
        transport.close();
        Ok::<_, Error>(sent)
    })
    .unwrap()
    .unwrap();
    assert_eq!(sent, 2000);
    feeder.join().unwrap();
    let got = peer.join().unwrap();
    assert_eq!(got.len(), 2000 + BIG);
    assert!(got[..1000].iter().all(|&b| b == b'A'));
    assert!(got[1000..1000 + BIG].iter().all(|&b| b == b'M'));
    assert!(got[1000 + BIG..].iter().all(|&b| b == b'B'));
}

/// After `write_eof`, a sendfile is refused (asyncio's "Cannot call write() after
/// write_eof()") and the transport stays open for reading, whether the file would go by
/// `sendfile(2)` or by the fallback.
#[test]
fn a_sendfile_after_write_eof_is_refused_and_the_transport_stays_open() {
    let (file, _) = data_file(10_000, "after-eof");
    let (pipe_read, pipe_write) = io::pipe().unwrap();
    drop(pipe_write); // the fallback would read an empty file, never block
    let (port, peer) = raw_peer(None);
    run(async move {
        let (protocol, _) = quiet();
        let transport = create_connection(move || protocol, "127.0.0.1", port).await?;
        transport.write_eof();
        for outcome in [
            aio_task::wait_for(transport.sendfile(&file, 0, None).into_future(), 5.0).await?,
            aio_task::wait_for(transport.sendfile(&pipe_read, 0, None).into_future(), 5.0).await?,
        ] {
            assert!(
                matches!(&outcome, Err(Error::InvalidState(m)) if m.contains("write_eof")),
                "{outcome:?}"
            );
        }
        assert!(!transport.is_closing());
        transport.close();
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert!(peer.join().unwrap().is_empty());
}
