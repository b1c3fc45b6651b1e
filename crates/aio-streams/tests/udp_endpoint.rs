//! UDP endpoints on the reactor: datagrams arrive whole and in order on loopback, a receive
//! waits without blocking the loop, `connect` restricts the peer.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use aio_streams::DatagramEndpoint;
use aio_task::{Error, create_task, run, wait_for};

#[test]
fn datagrams_round_trip() {
    run(async {
        let server = DatagramEndpoint::bind("127.0.0.1", 0).await?;
        let client = DatagramEndpoint::bind("127.0.0.1", 0).await?;
        let to = server.local_addr()?;
        for i in 0..50u8 {
            client.send_to(&[i; 100], to).await?;
        }
        let mut buf = [0u8; 200];
        for i in 0..50u8 {
            let (n, from) = wait_for(server.recv_from(&mut buf), 10.0).await??;
            assert_eq!((n, from), (100, client.local_addr()?));
            assert!(
                buf[..n].iter().all(|&b| b == i),
                "datagram {i} intact and in order"
            );
        }
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_receive_waits_while_other_tasks_run() {
    run(async {
        let server = std::rc::Rc::new(DatagramEndpoint::bind("127.0.0.1", 0).await?);
        let port = server.local_addr()?.port();
        let s = server.clone();
        let receiver = create_task(async move {
            let mut buf = [0u8; 16];
            let n = s.recv(&mut buf).await?;
            Ok::<_, Error>(buf[..n].to_vec())
        })?;
        aio_scheduler::sleep(0.01).await?; // the receiver is parked, the loop runs
        assert!(!receiver.done());
        let client = DatagramEndpoint::bind("127.0.0.1", 0).await?;
        client.connect("127.0.0.1", port).await?;
        assert_eq!(client.peer_addr(), Some(server.local_addr()?));
        client.send(b"late").await?;
        assert_eq!(wait_for(receiver, 10.0).await???, b"late");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn sending_to_nowhere_connected_is_an_error_not_a_hang() {
    run(async {
        let udp = DatagramEndpoint::bind("127.0.0.1", 0).await?;
        assert!(udp.send(b"x").await.is_err(), "not connected");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// A connected endpoint receives only from its peer (the kernel filters the rest, as for
/// asyncio's `create_datagram_endpoint(remote_addr=...)`): a stranger's datagram never
/// arrives, the peer's does.
#[test]
fn a_connected_endpoint_hears_only_its_peer() {
    run(async {
        let listener = DatagramEndpoint::bind("127.0.0.1", 0).await?;
        let peer = DatagramEndpoint::bind("127.0.0.1", 0).await?;
        let stranger = DatagramEndpoint::bind("127.0.0.1", 0).await?;
        let peer_addr = peer.local_addr()?;
        listener
            .connect(&peer_addr.ip().to_string(), peer_addr.port())
            .await?;
        let to = listener.local_addr()?;
        stranger.send_to(b"from a stranger", to).await?;
        peer.send_to(b"from the peer", to).await?;
        let mut buf = [0u8; 64];
        let (n, from) = wait_for(listener.recv_from(&mut buf), 10.0).await??;
        assert_eq!(&buf[..n], b"from the peer");
        assert_eq!(from, peer_addr);
        // Nothing else is waiting: the stranger's datagram was dropped, not queued.
        assert!(matches!(
            wait_for(listener.recv(&mut buf), 0.1).await,
            Err(Error::Timeout)
        ));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
