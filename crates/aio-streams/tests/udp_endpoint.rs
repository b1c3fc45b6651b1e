//! UDP endpoints on the reactor: datagrams arrive whole and in order on loopback, a receive
//! waits without blocking the loop, `connect` restricts the peer.

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
