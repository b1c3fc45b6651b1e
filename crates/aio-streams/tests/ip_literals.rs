//! IP literals are not sent to the resolver (asyncio's `_ipaddr_info`): connecting to
//! `127.0.0.1` or `::1`, serving on one, or binding a UDP endpoint to one starts no thread
//! of the default executor, where `getaddrinfo` runs. Names still go through it.
//!
//! Observed through the default executor's worker count: its threads start on demand, so a
//! count of zero means nothing was resolved on it.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use aio_streams::{DatagramEndpoint, StreamReader, StreamWriter, open_connection, start_server};
use aio_task::{Error, default_executor, run, wait_for};

async fn echo(reader: StreamReader, writer: StreamWriter) {
    if let Ok(line) = reader.readline().await {
        writer.write(&line);
    }
    writer.close();
}

/// Opens a connection to `host:port`, and checks the server echoes a line on it.
async fn round_trip(host: &str, port: u16) -> Result<(), Error> {
    let (reader, writer) = open_connection(host, port).await?;
    writer.write(b"ping\n");
    assert_eq!(reader.readline().await?, b"ping\n");
    Ok(())
}

fn ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[test]
fn ip_literals_skip_the_resolver() {
    run(async {
        wait_for(
            async {
                let pool = default_executor(&aio_scheduler::get_running_loop()?);
                let server = start_server(echo, "127.0.0.1", 0).await?;
                let port = server.port().unwrap();
                round_trip("127.0.0.1", port).await?;

                let udp = DatagramEndpoint::bind("127.0.0.1", 0).await?;
                let peer = DatagramEndpoint::bind("127.0.0.1", 0).await?;
                peer.connect("127.0.0.1", udp.local_addr()?.port()).await?;
                peer.send(b"dgram").await?;
                let mut buf = [0u8; 8];
                let (n, _) = udp.recv_from(&mut buf).await?;
                assert_eq!(&buf[..n], b"dgram");

                if ipv6_loopback() {
                    let server6 = start_server(echo, "::1", 0).await?;
                    let port6 = server6.port().unwrap();
                    round_trip("::1", port6).await?;
                    round_trip("0:0:0:0:0:0:0:1", port6).await?;
                    // A numeric scope id is parsed too (the loopback address needs none,
                    // and the kernel ignores it).
                    round_trip("::1%1", port6).await?;
                    let udp6 = DatagramEndpoint::bind("::1", 0).await?;
                    udp6.connect("::1", port6).await?;
                    server6.close();
                }
                assert_eq!(
                    pool.workers(),
                    0,
                    "an IP literal was resolved on the default executor"
                );

                // A name goes through getaddrinfo on the executor ("localhost" resolves
                // offline, from /etc/hosts).
                round_trip("localhost", port).await?;
                assert!(
                    pool.workers() >= 1,
                    "a name was not resolved on the executor"
                );
                server.close();
                Ok::<_, Error>(())
            },
            30.0,
        )
        .await?
    })
    .unwrap()
    .unwrap();
}
