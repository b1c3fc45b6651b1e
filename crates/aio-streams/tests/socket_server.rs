//! `Server`: close, wait_closed, serve_forever, close_clients / abort_clients, Unix socket
//! cleanup, drop.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use aio_streams::{
    Address, Server, StreamReader, StreamWriter, open_connection, open_unix_connection,
    start_server, start_unix_server,
};
use aio_task::{Error, create_task, run, wait_for};

fn unix_path(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "aio-socket-server-{}-{name}-{n}.sock",
        std::process::id()
    ))
}

/// Greets, then waits for one line (or EOF) before answering and closing: the handler stays
/// active until the client says something.
async fn greeter(reader: StreamReader, writer: StreamWriter) {
    writer.write(b"hi\n");
    let line = reader.readline().await.unwrap_or_default();
    writer.write(&line);
    writer.close();
}

async fn greeter_server() -> Result<Server, Error> {
    start_server(greeter, "127.0.0.1", 0).await
}

/// Connects and waits for the greeting (so the server has accepted and the handler runs).
async fn greeted(port: u16) -> Result<(StreamReader, StreamWriter), Error> {
    let (reader, writer) = open_connection("127.0.0.1", port).await?;
    assert_eq!(reader.readline().await?, b"hi\n");
    Ok((reader, writer))
}

/// After close, a new connection is refused (or, if the port were reused, not served by us).
async fn assert_not_served(port: u16) -> Result<(), Error> {
    match open_connection("127.0.0.1", port).await {
        Err(Error::Io(error)) => assert_eq!(error.kind(), ErrorKind::ConnectionRefused),
        Err(other) => panic!("unexpected error {other:?}"),
        Ok((reader, _writer)) => assert!(
            !matches!(wait_for(reader.readline(), 0.2).await, Ok(Ok(line)) if line == b"hi\n"),
            "a closed server served a new connection"
        ),
    }
    Ok(())
}

#[aio::test(timeout = 10)]
async fn a_new_server_serves() -> Result<(), Error> {
    let server = greeter_server().await?;
    assert!(server.is_serving());
    assert_eq!(server.sockets().len(), 1);
    assert!(matches!(server.sockets()[0], Address::Inet(_)));
    assert_ne!(server.port(), Some(0));
    let (reader, writer) = greeted(server.port().unwrap()).await?;
    writer.write(b"x\n");
    assert_eq!(reader.read_to_end().await?, b"x\n");
    assert!(format!("{server:?}").contains("Server"));
    Ok(())
}

#[aio::test(timeout = 10)]
async fn close_stops_accepting_but_leaves_connections_open() -> Result<(), Error> {
    let server = greeter_server().await?;
    let port = server.port().unwrap();
    let (reader, writer) = greeted(port).await?;
    server.close();
    assert!(!server.is_serving());
    server.close(); // idempotent
    assert_not_served(port).await?;
    // The existing connection still works.
    writer.write(b"still here\n");
    assert_eq!(reader.read_to_end().await?, b"still here\n");
    Ok(())
}

#[aio::test(timeout = 10)]
async fn wait_closed_waits_for_the_handlers() -> Result<(), Error> {
    let server = greeter_server().await?;
    let port = server.port().unwrap();
    let (reader, writer) = greeted(port).await?;
    // Not closed yet: wait_closed waits.
    assert!(matches!(
        wait_for(server.wait_closed(), 0.05).await,
        Err(Error::Timeout)
    ));
    server.close();
    // Closed, but a handler is still running.
    assert!(matches!(
        wait_for(server.wait_closed(), 0.05).await,
        Err(Error::Timeout)
    ));
    writer.write(b"done\n");
    server.wait_closed().await;
    assert_eq!(reader.read_to_end().await?, b"done\n");
    // And again, at once.
    server.wait_closed().await;
    Ok(())
}

#[aio::test(timeout = 10)]
async fn wait_closed_without_connections_returns_after_close() -> Result<(), Error> {
    let server = greeter_server().await?;
    let waiter = {
        let server = std::rc::Rc::new(server);
        let waiting = server.clone();
        let task = create_task(async move { waiting.wait_closed().await })?;
        aio_scheduler::sleep(0.01).await?;
        assert!(!task.done());
        server.close();
        task
    };
    waiter.await?;
    Ok(())
}

#[aio::test(timeout = 10)]
async fn cancelling_serve_forever_closes_the_server() -> Result<(), Error> {
    let server = greeter_server().await?;
    let port = server.port().unwrap();
    // serve_forever serves meanwhile.
    let client = create_task(async move { greeted(port).await.map(|_| ()) })?;
    assert!(matches!(
        wait_for(server.serve_forever(), 0.05).await,
        Err(Error::Timeout)
    ));
    client.await??;
    assert!(!server.is_serving());
    assert_not_served(port).await?;
    Ok(())
}

#[aio::test(timeout = 10)]
async fn serve_forever_returns_when_the_server_is_closed() -> Result<(), Error> {
    let server = std::rc::Rc::new(greeter_server().await?);
    let closer = server.clone();
    create_task(async move {
        aio_scheduler::sleep(0.02).await.unwrap();
        closer.close();
    })?;
    server.serve_forever().await?;
    assert!(!server.is_serving());
    Ok(())
}

#[aio::test(timeout = 10)]
async fn close_clients_closes_connections_gracefully() -> Result<(), Error> {
    // Each handler queues 1 MB, then waits for a line that never comes.
    let server = start_server(
        |reader: StreamReader, writer: StreamWriter| async move {
            writer.write(&vec![b'z'; 1 << 20]);
            let _ = reader.readline().await;
        },
        "127.0.0.1",
        0,
    )
    .await?;
    let port = server.port().unwrap();
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        assert_eq!(reader.readexactly(1).await?, b"z"); // the handler runs
        readers.push((reader, writer));
    }
    server.close();
    server.close_clients();
    // Every client gets the rest of its data, then EOF; the handlers finish.
    for (reader, _writer) in &readers {
        assert_eq!(reader.read_to_end().await?.len(), (1 << 20) - 1);
    }
    server.wait_closed().await;
    Ok(())
}

#[aio::test(timeout = 10)]
async fn abort_clients_closes_connections_at_once() -> Result<(), Error> {
    let server = start_server(
        |reader: StreamReader, writer: StreamWriter| async move {
            writer.write(&vec![b'z'; 8 << 20]);
            let _ = reader.readline().await;
        },
        "127.0.0.1",
        0,
    )
    .await?;
    let port = server.port().unwrap();
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        assert_eq!(reader.readexactly(1).await?, b"z");
        readers.push((reader, writer));
    }
    server.abort_clients();
    // Each client sees the end (EOF or a reset), with unsent data dropped.
    for (reader, _writer) in &readers {
        if let Ok(data) = reader.read_to_end().await {
            assert!(data.len() < (8 << 20) - 1, "abort sent everything");
        }
    }
    // The server itself still serves.
    assert!(server.is_serving());
    let (reader, _writer) = open_connection("127.0.0.1", port).await?;
    assert_eq!(reader.readexactly(1).await?, b"z");
    Ok(())
}

#[aio::test(timeout = 10)]
async fn close_clients_skips_connections_that_already_ended() -> Result<(), Error> {
    let server = greeter_server().await?;
    let port = server.port().unwrap();
    let (reader, writer) = greeted(port).await?;
    writer.write(b"bye\n");
    assert_eq!(reader.read_to_end().await?, b"bye\n");
    let (reader2, _writer2) = greeted(port).await?;
    server.close_clients();
    assert_eq!(reader2.read_to_end().await?, b"");
    Ok(())
}

#[aio::test(timeout = 10)]
async fn unix_socket_file_is_removed_on_close() -> Result<(), Error> {
    let path = unix_path("close");
    let server = start_unix_server(greeter, &path).await?;
    assert!(path.exists());
    assert_eq!(server.port(), None);
    assert_eq!(
        server.sockets(),
        [Address::Unix(path.display().to_string())]
    );
    let (reader, writer) = open_unix_connection(&path).await?;
    assert_eq!(reader.readline().await?, b"hi\n");
    server.close();
    assert!(!path.exists());
    assert!(open_unix_connection(&path).await.is_err());
    writer.write(b"ok\n");
    assert_eq!(reader.read_to_end().await?, b"ok\n");
    server.wait_closed().await;
    Ok(())
}

#[aio::test(timeout = 10)]
async fn unix_server_on_an_existing_path_fails() -> Result<(), Error> {
    let path = unix_path("exists");
    let server = start_unix_server(greeter, &path).await?;
    match start_unix_server(greeter, &path).await {
        Err(Error::Io(error)) => assert_eq!(error.kind(), ErrorKind::AddrInUse),
        other => panic!("expected AddrInUse, got {other:?}"),
    }
    // The failed attempt did not remove the first server's file.
    assert!(path.exists());
    drop(server);
    assert!(!path.exists());
    Ok(())
}

#[aio::test(timeout = 10)]
async fn dropping_the_server_closes_it() -> Result<(), Error> {
    let server = greeter_server().await?;
    let port = server.port().unwrap();
    greeted(port).await?;
    drop(server);
    assert_not_served(port).await?;

    let path = unix_path("drop");
    let server = start_unix_server(greeter, &path).await?;
    drop(server);
    assert!(!path.exists());
    assert!(open_unix_connection(&path).await.is_err());
    Ok(())
}

#[test]
fn servers_close_when_the_loop_ends() {
    // A server left open at the end of `run` must not keep the port.
    let port = run(async {
        let server = greeter_server().await.unwrap();
        let port = server.port().unwrap();
        std::mem::forget(create_task(async move {
            let _ = server.serve_forever().await;
        }));
        port
    })
    .unwrap();
    match std::net::TcpStream::connect(("127.0.0.1", port)) {
        Err(error) => assert_eq!(error.kind(), ErrorKind::ConnectionRefused),
        Ok(_) => panic!("the server outlived its loop"),
    }
}

/// A finished handler's connection is released at once: the server keeps no reference to
/// it (no descriptor held until the next accept).
#[test]
fn a_finished_handlers_connection_is_released() {
    aio_task::run(async {
        let server = aio_streams::start_server(
            |reader: aio_streams::StreamReader, _writer: aio_streams::StreamWriter| async move {
                let _ = reader.read(1).await;
                // Returns without closing: dropping the halves must close the socket.
            },
            "127.0.0.1",
            0,
        )
        .await?;
        let port = server.port().unwrap();
        let (reader, writer) = aio_streams::open_connection("127.0.0.1", port).await?;
        writer.write(b"x");
        let eof = aio_task::wait_for(reader.read_to_end(), 10.0).await?;
        assert_eq!(
            eof?, b"",
            "the server side closed when its handler returned"
        );
        server.close();
        Ok::<_, aio_task::Error>(())
    })
    .unwrap()
    .unwrap();
}

/// asyncio: `serve_forever()` on a closed server raises RuntimeError("server ... is closed");
/// aio returns a `StreamError::State` at once instead of returning as if it had served.
#[aio::test(timeout = 10)]
async fn serve_forever_on_a_closed_server_is_an_error() -> Result<(), Error> {
    let server = greeter_server().await?;
    server.close();
    match server.serve_forever().await {
        Err(aio_streams::StreamError::State(message)) => {
            assert!(message.contains("closed"), "{message}");
        }
        other => panic!("expected a state error, got {other:?}"),
    }
    Ok(())
}

/// asyncio: a second `serve_forever()` while one is running raises RuntimeError("... is
/// already being awaited on serve_forever()"); the first one keeps serving.
#[aio::test(timeout = 10)]
async fn a_second_concurrent_serve_forever_is_an_error() -> Result<(), Error> {
    let server = std::rc::Rc::new(greeter_server().await?);
    let serving = server.clone();
    let first = create_task(async move { serving.serve_forever().await })?;
    aio_scheduler::sleep(0.0).await?;
    match server.serve_forever().await {
        Err(aio_streams::StreamError::State(message)) => {
            assert!(message.contains("already"), "{message}");
        }
        other => panic!("expected a state error, got {other:?}"),
    }
    assert!(
        server.is_serving(),
        "the refused call does not close the server"
    );
    greeted(server.port().unwrap()).await?;
    server.close();
    assert!(first.await?.is_ok());
    Ok(())
}
