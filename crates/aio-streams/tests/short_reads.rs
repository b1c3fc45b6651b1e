//! Nothing a peer sends is stranded, on every reactor (edge epoll, oneshot epoll, io_uring):
//! data and the end of stream arriving together (before the first read, or while a read
//! waits), urgent data (a read stops at its mark, so a short read does not mean the socket
//! is drained), and a long ping-pong of short reads.
//!
//! These pin down why the read path never treats a short read as "drained" (which would
//! save the `recv` that finds the socket empty): with edge-triggered epoll through `polling`
//! there is no `EPOLLRDHUP`, so a FIN that came with the data would go unreported, and an
//! io_uring multishot poll reports the wake-up's mask, in which `POLLPRI` comes with every
//! data arrival, so urgent data cannot be told apart (docs/benchmarks.md, "Streams").

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;

use aio_reactor::{PollMode, PollingReactor, Reactor};
use aio_scheduler::EventLoop;
use aio_streams::open_connection;
use aio_task::{Error, wait_for};

/// Builds a fresh reactor of one kind.
type MakeReactor = Box<dyn Fn() -> Box<dyn Reactor>>;

/// Runs `test(port)` on a loop of every reactor this machine has, against a peer thread
/// that runs `peer` on the accepted (blocking) std socket.
fn on_every_reactor<T, F>(test: impl Fn(u16) -> F, peer: fn(TcpStream))
where
    F: Future<Output = Result<T, Error>> + 'static,
    T: 'static,
{
    let mut reactors: Vec<(&str, MakeReactor)> = vec![
        (
            "edge",
            Box::new(|| Box::new(PollingReactor::with_mode(PollMode::Edge).unwrap())),
        ),
        (
            "oneshot",
            Box::new(|| Box::new(PollingReactor::with_mode(PollMode::Oneshot).unwrap())),
        ),
    ];
    reactors.push((
        "epoll",
        Box::new(|| Box::new(aio::aio_reactor_epoll::EpollReactor::new().unwrap())),
    ));
    if aio::aio_reactor_uring::UringReactor::new().is_ok() {
        reactors.push((
            "uring",
            Box::new(|| Box::new(aio::aio_reactor_uring::UringReactor::new().unwrap())),
        ));
    } else {
        eprintln!("io_uring is not available here: testing the epoll reactors only");
    }
    for (name, make) in reactors {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let peer_thread = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            peer(stream);
        });
        let event_loop = EventLoop::with_reactor(BoxedReactor(make()));
        // Generous: the point is "finishes", not "finishes fast".
        let outcome = event_loop.run_until_complete(wait_for(test(port), 2.0));
        match outcome {
            Ok(Ok(Ok(_))) => {}
            other => panic!("reactor {name}: {:?}", other.map(|o| o.map(|r| r.err()))),
        }
        event_loop.close().unwrap();
        peer_thread.join().unwrap();
    }
}

/// `EventLoop::with_reactor` takes a concrete reactor.
struct BoxedReactor(Box<dyn Reactor>);

impl Reactor for BoxedReactor {
    unsafe fn register(
        &self,
        fd: std::os::fd::RawFd,
    ) -> std::io::Result<aio_reactor::Registration> {
        // SAFETY: forwarded with the caller's own guarantee.
        unsafe { self.0.register(fd) }
    }
    fn wait(&self, deadline: Option<std::time::Instant>) -> std::io::Result<usize> {
        self.0.wait(deadline)
    }
    fn notifier(&self) -> std::sync::Arc<dyn aio_reactor::Notify> {
        self.0.notifier()
    }
    fn registrations(&self) -> usize {
        self.0.registrations()
    }
    fn name(&self) -> &'static str {
        self.0.name()
    }
}

#[test]
fn data_and_the_end_of_stream_sent_together_before_the_first_read() {
    fn peer(mut stream: TcpStream) {
        stream.write_all(&[5u8; 64]).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let _ = stream.read(&mut [0u8; 1]);
    }
    on_every_reactor(
        |port| async move {
            let (reader, _writer) = open_connection("127.0.0.1", port).await?;
            // Let both arrive before the first read.
            aio_scheduler::sleep(0.05).await?;
            assert_eq!(reader.readexactly(64).await?, vec![5u8; 64]);
            assert_eq!(reader.read(100).await?, b"");
            assert!(reader.at_eof());
            Ok(())
        },
        peer,
    );
}

#[test]
fn data_and_the_end_of_stream_sent_together_while_a_read_waits() {
    fn peer(mut stream: TcpStream) {
        stream.write_all(b"first").unwrap();
        // Meanwhile the aio side reads "first" and waits, its poll armed, for more. (Were it
        // slower, this would be the test above; either way nothing may be lost.)
        thread::sleep(std::time::Duration::from_millis(50));
        stream.write_all(&[6u8; 64]).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let _ = stream.read(&mut [0u8; 1]);
    }
    on_every_reactor(
        |port| async move {
            let (reader, _writer) = open_connection("127.0.0.1", port).await?;
            assert_eq!(reader.readexactly(5).await?, b"first");
            assert_eq!(reader.read_to_end().await?, vec![6u8; 64]);
            Ok(())
        },
        peer,
    );
}

#[test]
fn urgent_data_does_not_strand_the_bytes_after_it() {
    fn peer(mut stream: TcpStream) {
        stream.write_all(b"ab").unwrap();
        // SAFETY: sends one byte from a live buffer on an open socket.
        let sent =
            unsafe { libc::send(stream.as_raw_fd(), b"U".as_ptr().cast(), 1, libc::MSG_OOB) };
        assert_eq!(sent, 1);
        stream.write_all(b"cd").unwrap();
        thread::sleep(std::time::Duration::from_millis(50));
        stream.write_all(b"ef").unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let _ = stream.read(&mut [0u8; 1]);
    }
    on_every_reactor(
        |port| async move {
            let (reader, _writer) = open_connection("127.0.0.1", port).await?;
            aio_scheduler::sleep(0.02).await?;
            // The urgent byte is out of band (SO_OOBINLINE is off); a read stops at its mark,
            // and what follows must still be read.
            let all = reader.read_to_end().await?;
            assert_eq!(all, b"abcdef");
            Ok(())
        },
        peer,
    );
}

#[test]
fn a_long_ping_pong_loses_nothing() {
    const ROUNDS: usize = 2_000;
    fn peer(mut stream: TcpStream) {
        stream.set_nodelay(true).unwrap();
        let mut message = [0u8; 64];
        for _ in 0..ROUNDS {
            stream.read_exact(&mut message).unwrap();
            stream.write_all(&message).unwrap();
        }
        stream.shutdown(Shutdown::Write).unwrap();
        let _ = stream.read(&mut [0u8; 1]);
    }
    on_every_reactor(
        |port| async move {
            let (reader, writer) = open_connection("127.0.0.1", port).await?;
            for round in 0..ROUNDS {
                let message = [(round % 251) as u8; 64];
                writer.write(&message);
                assert_eq!(reader.readexactly(64).await?, message);
            }
            assert_eq!(reader.read(1).await?, b"");
            Ok(())
        },
        peer,
    );
}

// The reads below wait with the socket found empty, and the loop's thread then sleeps (a
// blocking sleep inside a task) while the peer sends, so that what the peer sends reaches
// the reactor as one event. On the epoll reactor a short read after a plain event skips the
// `recv` that would only find the socket empty; these pin down the two events that are not
// plain: data with the FIN, and data with urgent data.

/// The peer: waits for the aio side's `g`, then sends `burst` and, when `fin`, its FIN at
/// once; then waits for a `k` (or the end) before closing.
fn burst_on_go(mut stream: TcpStream, burst: fn(&TcpStream), fin: bool) {
    let mut go = [0u8; 1];
    stream.read_exact(&mut go).unwrap();
    assert_eq!(&go, b"g");
    burst(&stream);
    if fin {
        stream.shutdown(Shutdown::Write).unwrap();
    }
    let _ = stream.read(&mut [0u8; 1]);
}

/// Sends `x`, the urgent byte `U`, and `cd` in one go.
fn urgent_burst(mut stream: &TcpStream) {
    stream.write_all(b"x").unwrap();
    // SAFETY: sends one byte from a live buffer on an open socket.
    let sent = unsafe { libc::send(stream.as_raw_fd(), b"U".as_ptr().cast(), 1, libc::MSG_OOB) };
    assert_eq!(sent, 1);
    stream.write_all(b"cd").unwrap();
}

/// Sends 64 bytes of 7.
fn data_burst(mut stream: &TcpStream) {
    stream.write_all(&[7u8; 64]).unwrap();
}

/// Sends `g`, then holds the loop's thread while the peer answers (a blocking sleep, so the
/// peer's bytes arrive before the reactor next looks).
async fn go_and_hold(writer: &aio_streams::StreamWriter) -> Result<(), Error> {
    writer.write(b"g");
    writer.drain().await?;
    thread::sleep(std::time::Duration::from_millis(50));
    Ok(())
}

#[test]
fn streams_data_with_the_fin_after_the_socket_ran_dry() {
    on_every_reactor(
        |port| async move {
            let (reader, writer) = open_connection("127.0.0.1", port).await?;
            let reader = std::rc::Rc::new(reader);
            let r = reader.clone();
            let all = aio_task::create_task(async move { r.read_to_end().await })?;
            // The read has found the socket empty and waits.
            aio_scheduler::sleep(0.01).await?;
            go_and_hold(&writer).await?;
            assert_eq!(all.await??, vec![7u8; 64]);
            Ok(())
        },
        |stream| burst_on_go(stream, data_burst, true),
    );
}

#[test]
fn streams_urgent_data_after_the_socket_ran_dry() {
    on_every_reactor(
        |port| async move {
            let (reader, writer) = open_connection("127.0.0.1", port).await?;
            let reader = std::rc::Rc::new(reader);
            let r = reader.clone();
            let three = aio_task::create_task(async move { r.readexactly(3).await })?;
            aio_scheduler::sleep(0.01).await?;
            go_and_hold(&writer).await?;
            // The peer waits for our `k` before it closes: "cd" must not wait for its FIN.
            assert_eq!(three.await??, b"xcd");
            writer.write(b"k");
            Ok(())
        },
        |stream| burst_on_go(stream, urgent_burst, false),
    );
}

/// A client protocol recording what it receives, for the transport variants.
#[derive(Default)]
struct Collect {
    data: std::rc::Rc<std::cell::RefCell<Vec<u8>>>,
    eof: std::rc::Rc<std::cell::Cell<bool>>,
}

impl aio_streams::Protocol for Collect {
    fn data_received(&mut self, data: &[u8]) {
        self.data.borrow_mut().extend_from_slice(data);
    }
    fn eof_received(&mut self) -> bool {
        self.eof.set(true);
        false
    }
}

/// Waits (the caller's `wait_for` bounds it) until `done` holds.
async fn until(done: impl Fn() -> bool) -> Result<(), Error> {
    while !done() {
        aio_scheduler::sleep(0.002).await?;
    }
    Ok(())
}

#[test]
fn transport_data_with_the_fin_after_the_socket_ran_dry() {
    on_every_reactor(
        |port| async move {
            let collect = Collect::default();
            let (data, eof) = (collect.data.clone(), collect.eof.clone());
            let transport =
                aio_streams::create_connection(move || collect, "127.0.0.1", port).await?;
            aio_scheduler::sleep(0.01).await?;
            transport.write(b"g");
            thread::sleep(std::time::Duration::from_millis(50));
            until(|| eof.get()).await?;
            assert_eq!(*data.borrow(), vec![7u8; 64]);
            Ok(())
        },
        |stream| burst_on_go(stream, data_burst, true),
    );
}

#[test]
fn transport_urgent_data_after_the_socket_ran_dry() {
    on_every_reactor(
        |port| async move {
            let collect = Collect::default();
            let data = collect.data.clone();
            let transport =
                aio_streams::create_connection(move || collect, "127.0.0.1", port).await?;
            aio_scheduler::sleep(0.01).await?;
            transport.write(b"g");
            thread::sleep(std::time::Duration::from_millis(50));
            until(|| data.borrow().len() >= 3).await?;
            assert_eq!(*data.borrow(), b"xcd");
            transport.write(b"k");
            Ok(())
        },
        |stream| burst_on_go(stream, urgent_burst, false),
    );
}
