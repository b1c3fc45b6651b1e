//! Which read events let a short TCP read prove the socket drained
//! (`Source::clear_readable_after_short_read`): plain data after the socket was found empty
//! does; data that came with the peer's FIN (`EPOLLRDHUP`) or with urgent data (`EPOLLPRI`)
//! does not, so the read that would return the end of stream, or the bytes past the urgent
//! mark, still happens.

#![cfg(target_os = "linux")]

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use aio_reactor::{AsyncFd, Reactor};
use aio_reactor_epoll::EpollReactor;

/// A connected pair: the reactor's non-blocking end (registered) and the peer's blocking end.
fn pair(reactor: &EpollReactor) -> (AsyncFd<TcpStream>, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (ours, _) = listener.accept().unwrap();
    ours.set_nonblocking(true).unwrap();
    (AsyncFd::new(reactor, ours).unwrap(), peer)
}

/// Reads until `WouldBlock` (the socket found empty), as a reader that waits does.
fn drain(fd: &AsyncFd<TcpStream>) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match fd.get_ref().read(&mut buf) {
            Ok(0) => panic!("unexpected end of stream"),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                fd.registration().clear_readable();
                return all;
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Waits (bounded) until the reactor has marked `fd` readable.
fn wait_readable(reactor: &EpollReactor, fd: &AsyncFd<TcpStream>) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while !fd.registration().source().is_readable() {
        assert!(Instant::now() < give_up, "no read event");
        reactor
            .wait(Some(Instant::now() + Duration::from_millis(100)))
            .unwrap();
    }
}

/// One read of up to 256 bytes: short whenever less is queued.
fn read_once(fd: &AsyncFd<TcpStream>) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let n = fd.get_ref().read(&mut buf).unwrap();
    buf[..n].to_vec()
}

/// After a short read: whether the source took it as proof that the socket is drained
/// (and forgot its read readiness).
fn short_read_drained(fd: &AsyncFd<TcpStream>) -> bool {
    fd.registration().source().clear_readable_after_short_read()
}

#[test]
fn plain_data_after_the_socket_ran_dry_is_drained_by_a_short_read() {
    let reactor = EpollReactor::new().unwrap();
    let (ours, mut peer) = pair(&reactor);
    assert!(drain(&ours).is_empty());
    peer.write_all(b"hello").unwrap();
    wait_readable(&reactor, &ours);
    assert_eq!(read_once(&ours), b"hello");
    assert!(short_read_drained(&ours));
    assert!(!ours.registration().source().is_readable());
    // And the next data brings the next event.
    peer.write_all(b"again").unwrap();
    wait_readable(&reactor, &ours);
    assert_eq!(read_once(&ours), b"again");
}

#[test]
fn a_fresh_socket_proves_nothing_until_it_ran_dry_once() {
    let reactor = EpollReactor::new().unwrap();
    let (ours, mut peer) = pair(&reactor);
    peer.write_all(b"early").unwrap();
    wait_readable(&reactor, &ours);
    assert_eq!(read_once(&ours), b"early");
    assert!(!short_read_drained(&ours));
    assert!(ours.registration().source().is_readable());
}

#[test]
fn data_with_the_peers_fin_keeps_the_read_that_finds_the_end() {
    let reactor = EpollReactor::new().unwrap();
    let (ours, mut peer) = pair(&reactor);
    assert!(drain(&ours).is_empty());
    peer.write_all(b"last words").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    // Both in before the reactor looks: one event, EPOLLIN | EPOLLRDHUP.
    std::thread::sleep(Duration::from_millis(20));
    wait_readable(&reactor, &ours);
    assert_eq!(read_once(&ours), b"last words");
    assert!(!short_read_drained(&ours));
    assert!(ours.registration().source().is_readable());
    assert_eq!(
        read_once(&ours),
        b"",
        "the end of stream is still to be read"
    );
}

#[test]
fn urgent_data_keeps_the_read_past_its_mark() {
    let reactor = EpollReactor::new().unwrap();
    let (ours, mut peer) = pair(&reactor);
    assert!(drain(&ours).is_empty());
    peer.write_all(b"ab").unwrap();
    // SAFETY: sends one byte from a live buffer on an open socket.
    let sent = unsafe { libc::send(peer.as_raw_fd(), b"U".as_ptr().cast(), 1, libc::MSG_OOB) };
    assert_eq!(sent, 1);
    peer.write_all(b"cd").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    wait_readable(&reactor, &ours);
    // The read stops at the urgent mark: short, with "cd" still queued.
    assert_eq!(read_once(&ours), b"ab");
    assert!(!short_read_drained(&ours));
    assert_eq!(drain(&ours), b"cd");
}
