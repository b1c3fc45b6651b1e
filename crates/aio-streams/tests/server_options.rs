//! `limit` / `backlog` on `open_connection` and `start_server` (asyncio's `limit=` and
//! `backlog=`), and servers listening on every address their host names.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::net::{IpAddr, SocketAddr};

use aio_streams::{
    Address, StreamError, StreamReader, StreamWriter, open_connection, open_unix_connection,
    start_server, start_unix_server,
};
use aio_task::Error;

/// Echoes one line, or says why it could not read one.
async fn line_echo(reader: StreamReader, writer: StreamWriter) {
    match reader.readline().await {
        Ok(line) => writer.write(&line),
        Err(StreamError::LineTooLong { .. }) => writer.write(b"too long\n"),
        Err(other) => writer.write(format!("error {other}\n").as_bytes()),
    }
}

#[aio::test(timeout = 10)]
async fn a_servers_limit_applies_to_every_connection_reader() -> Result<(), Error> {
    let server = start_server(line_echo, "127.0.0.1", 0).limit(8).await?;
    let port = server.port().unwrap();
    let (reader, writer) = open_connection("127.0.0.1", port).await?;
    writer.write(b"short\n");
    assert_eq!(reader.readline().await?, b"short\n");
    let (reader, writer) = open_connection("127.0.0.1", port).await?;
    writer.write(b"longer than eight bytes\n");
    assert_eq!(reader.readline().await?, b"too long\n");
    Ok(())
}

#[aio::test(timeout = 10)]
async fn open_connections_limit_is_the_readers() -> Result<(), Error> {
    let server = start_server(
        |_reader, writer: StreamWriter| async move { writer.write(b"0123456789\nok\n") },
        "127.0.0.1",
        0,
    )
    .await?;
    let (reader, _writer) = open_connection("127.0.0.1", server.port().unwrap())
        .limit(4)
        .await?;
    assert_eq!(reader.limit(), 4);
    assert!(matches!(
        reader.readline().await,
        Err(StreamError::LineTooLong { .. })
    ));
    // asyncio discards the over-long line and goes on with the next.
    assert_eq!(reader.readline().await?, b"ok\n");
    // The default is asyncio's 64 KiB.
    let (reader, _writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    assert_eq!(reader.limit(), 64 * 1024);
    Ok(())
}

#[aio::test(timeout = 10)]
async fn a_zero_limit_is_refused_as_asyncio_refuses_it() -> Result<(), Error> {
    let refused = |outcome: &Error| matches!(outcome, Error::Value(m) if m.contains("Limit"));
    let server = start_server(line_echo, "127.0.0.1", 0).limit(0).await;
    assert!(refused(&server.unwrap_err()));
    let server = start_server(line_echo, "127.0.0.1", 0).await?;
    let opened = open_connection("127.0.0.1", server.port().unwrap())
        .limit(0)
        .await;
    assert!(refused(&opened.unwrap_err()));
    let path = std::env::temp_dir().join(format!("aio-zero-limit-{}.sock", std::process::id()));
    let unix = start_unix_server(line_echo, &path).limit(0).await;
    assert!(refused(&unix.unwrap_err()));
    assert!(!path.exists(), "nothing was bound");
    Ok(())
}

#[aio::test(timeout = 10)]
async fn unix_servers_and_connections_take_a_limit_too() -> Result<(), Error> {
    let path = std::env::temp_dir().join(format!("aio-unix-limit-{}.sock", std::process::id()));
    let server = start_unix_server(line_echo, &path).limit(4).await?;
    let (reader, writer) = open_unix_connection(&path).limit(3).await?;
    assert_eq!(reader.limit(), 3);
    writer.write(b"abcdef\n");
    assert_eq!(reader.readexactly(9).await?, b"too long\n");
    server.close();
    Ok(())
}

#[aio::test(timeout = 10)]
async fn a_small_backlog_still_serves() -> Result<(), Error> {
    let server = start_server(line_echo, "127.0.0.1", 0).backlog(1).await?;
    // A small backlog still serves (connections wait in it until the loop accepts).
    let port = server.port().unwrap();
    for _ in 0..3 {
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        writer.write(b"x\n");
        assert_eq!(reader.readline().await?, b"x\n");
    }
    Ok(())
}

/// Whether this machine can bind an IPv6 loopback socket.
fn has_ipv6() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[aio::test(timeout = 10)]
async fn an_empty_host_listens_on_every_interface_of_both_families() -> Result<(), Error> {
    let server = start_server(line_echo, "", 0).await?;
    let addrs: Vec<SocketAddr> = server
        .sockets()
        .iter()
        .map(|a| match a {
            Address::Inet(addr) => *addr,
            Address::Unix(path) => panic!("a Unix socket {path}"),
        })
        .collect();
    assert!(addrs.iter().any(|a| a.ip() == IpAddr::from([0u8; 4])));
    if has_ipv6() {
        assert_eq!(addrs.len(), 2, "{addrs:?}");
        assert!(addrs.iter().any(|a| a.is_ipv6() && a.ip().is_unspecified()));
    }
    // Every socket serves, each on its own port (port 0 picks one per socket, as in
    // asyncio).
    for addr in &addrs {
        let host = if addr.is_ipv4() { "127.0.0.1" } else { "::1" };
        let (reader, writer) = open_connection(host, addr.port()).await?;
        writer.write(b"hello\n");
        assert_eq!(reader.readline().await?, b"hello\n");
    }
    server.close();
    server.wait_closed().await;
    for addr in &addrs {
        let host = if addr.is_ipv4() { "127.0.0.1" } else { "::1" };
        assert!(open_connection(host, addr.port()).await.is_err());
    }
    Ok(())
}

#[aio::test(timeout = 10)]
async fn a_bind_failure_names_the_address() -> Result<(), Error> {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port();
    let error = start_server(line_echo, "127.0.0.1", port)
        .await
        .unwrap_err();
    let Error::Io(error) = error else {
        panic!("{error:?}")
    };
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
    assert!(
        error.to_string().starts_with(&format!(
            "error while attempting to bind on address 127.0.0.1:{port}"
        )),
        "{error}"
    );
    Ok(())
}

#[aio::test(timeout = 10)]
async fn a_bind_failure_on_one_address_closes_the_sockets_already_bound() -> Result<(), Error> {
    if !has_ipv6() {
        return Ok(()); // needs both families
    }
    // [::1]:port is taken; 0.0.0.0:port (bound first for host "") is free.
    let taken = std::net::TcpListener::bind("[::1]:0")?;
    let port = taken.local_addr()?.port();
    let error = start_server(line_echo, "", port).await.unwrap_err();
    let Error::Io(error) = error else {
        panic!("{error:?}")
    };
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse, "{error}");
    assert!(
        error.to_string().contains(&format!("[::]:{port}")),
        "{error}"
    );
    // The IPv4 socket bound before the failure was closed again.
    std::net::TcpListener::bind(("127.0.0.1", port))?;
    Ok(())
}

#[aio::test(timeout = 10)]
async fn an_address_this_machine_lacks_is_skipped_and_none_left_is_an_error() -> Result<(), Error> {
    // 192.0.2.1 (TEST-NET-1) is on no interface here: EADDRNOTAVAIL, skipped as asyncio
    // 3.13 skips it; with nothing else to bind, the call fails and says so.
    let error = start_server(line_echo, "192.0.2.1", 0).await.unwrap_err();
    let Error::Io(error) = error else {
        panic!("{error:?}")
    };
    assert_eq!(
        error.kind(),
        std::io::ErrorKind::AddrNotAvailable,
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("no address of 192.0.2.1:0 could be bound"),
        "{error}"
    );
    Ok(())
}
