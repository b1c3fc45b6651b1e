//! A server counts each connection from its accept until its transport closes (asyncio's
//! `Server._attach` / `_detach`), not only while its handler runs: `wait_closed`,
//! `close_clients` and `abort_clients` follow the connection, whoever holds its halves.
//! Each scenario was checked against CPython 3.13's asyncio.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;
use std::rc::Rc;

use aio_streams::{StreamReader, StreamWriter, open_connection, start_server};
use aio_task::{Error, TaskRef, current_task, wait_for};

type Kept = Rc<RefCell<Vec<(StreamReader, StreamWriter)>>>;

/// A server whose handler greets, hands its halves on to `kept` and returns.
async fn handing_on_server(kept: &Kept) -> Result<aio_streams::Server, Error> {
    let kept = kept.clone();
    start_server(
        move |reader, writer: StreamWriter| {
            let kept = kept.clone();
            async move {
                writer.write(b"hi\n");
                kept.borrow_mut().push((reader, writer));
            }
        },
        "127.0.0.1",
        0,
    )
    .await
}

/// A [`handing_on_server`] and one connection to it, greeted: its handler has returned and
/// its halves are in `kept`.
async fn one_handed_on_connection()
-> Result<(aio_streams::Server, Kept, StreamReader, StreamWriter), Error> {
    let kept = Kept::default();
    let server = handing_on_server(&kept).await?;
    let (reader, writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    assert_eq!(reader.readline().await?, b"hi\n");
    Ok((server, kept, reader, writer))
}

/// `wait_closed` does not return: a connection is still counted. (A wait that cannot end
/// here fails no matter how slow the machine; 50 ms only bounds the look.)
async fn assert_still_waits(server: &aio_streams::Server) {
    assert!(matches!(
        wait_for(server.wait_closed(), 0.05).await,
        Err(Error::Timeout)
    ));
}

#[aio::test(timeout = 10)]
async fn wait_closed_waits_for_a_connection_whose_handler_returned() -> Result<(), Error> {
    let (server, kept, reader, _writer) = one_handed_on_connection().await?;
    server.close();
    // The handler has returned, but the connection is open: asyncio's wait_closed waits.
    assert_still_waits(&server).await;
    // Closing the halves' writer ends it.
    let (_, writer) = kept.borrow_mut().pop().unwrap();
    writer.close();
    wait_for(server.wait_closed(), 5.0).await?;
    assert_eq!(reader.read_to_end().await?, b"");
    Ok(())
}

#[aio::test(timeout = 10)]
async fn dropping_the_handed_on_halves_detaches_the_connection() -> Result<(), Error> {
    let (server, kept, reader, _writer) = one_handed_on_connection().await?;
    server.close();
    assert_still_waits(&server).await;
    kept.borrow_mut().clear();
    wait_for(server.wait_closed(), 5.0).await?;
    assert_eq!(reader.read_to_end().await?, b"");
    Ok(())
}

#[aio::test(timeout = 10)]
async fn close_clients_reaches_a_connection_whose_handler_returned() -> Result<(), Error> {
    let (server, kept, reader, _writer) = one_handed_on_connection().await?;
    // Buffered data still goes out before the close.
    kept.borrow()[0].1.write(b"last words\n");
    server.close();
    server.close_clients();
    assert_eq!(reader.read_to_end().await?, b"last words\n");
    wait_for(server.wait_closed(), 5.0).await?;
    assert!(kept.borrow()[0].1.is_closing());
    Ok(())
}

#[aio::test(timeout = 10)]
async fn abort_clients_reaches_a_connection_whose_handler_returned() -> Result<(), Error> {
    let (server, kept, reader, _writer) = one_handed_on_connection().await?;
    server.abort_clients();
    let end = wait_for(reader.read_to_end(), 5.0).await?;
    assert!(matches!(end.as_deref(), Ok(b"") | Err(_)), "{end:?}");
    assert!(kept.borrow()[0].1.is_closing());
    server.close();
    wait_for(server.wait_closed(), 5.0).await?;
    Ok(())
}

#[aio::test(timeout = 10)]
async fn close_clients_reaches_a_connection_that_kept_only_its_reader() -> Result<(), Error> {
    let readers: Rc<RefCell<Vec<StreamReader>>> = Rc::default();
    let held = readers.clone();
    let server = start_server(
        move |reader, writer: StreamWriter| {
            let held = held.clone();
            async move {
                writer.write(b"hi\n");
                held.borrow_mut().push(reader);
                // The writer is dropped here; the reader keeps the socket open.
            }
        },
        "127.0.0.1",
        0,
    )
    .await?;
    let (reader, _writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    assert_eq!(reader.readline().await?, b"hi\n");
    server.close();
    assert_still_waits(&server).await;
    server.close_clients();
    assert_eq!(reader.read_to_end().await?, b"");
    wait_for(server.wait_closed(), 5.0).await?;
    Ok(())
}

#[aio::test(timeout = 10)]
async fn a_connection_closed_by_its_writer_is_not_waited_for_while_its_handler_runs()
-> Result<(), Error> {
    let gate = aio_task::create_future::<()>()?;
    let held = gate.clone();
    let server = start_server(
        move |_reader, writer: StreamWriter| {
            let gate = held.clone();
            async move {
                writer.close();
                let _ = gate.await;
            }
        },
        "127.0.0.1",
        0,
    )
    .await?;
    let (reader, _writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    assert_eq!(reader.read_to_end().await?, b"");
    server.close();
    // The handler still runs, its transport is closed: asyncio's wait_closed returns.
    wait_for(server.wait_closed(), 5.0).await?;
    gate.set_result(())?;
    Ok(())
}

#[aio::test(timeout = 10)]
async fn a_cancelled_handlers_connection_is_closed_even_if_its_writer_is_held() -> Result<(), Error>
{
    let kept: Rc<RefCell<Vec<StreamWriter>>> = Rc::default();
    let tasks: Rc<RefCell<Vec<TaskRef>>> = Rc::default();
    let (held, handlers) = (kept.clone(), tasks.clone());
    let server = start_server(
        move |_reader, writer: StreamWriter| {
            let (held, handlers) = (held.clone(), handlers.clone());
            async move {
                handlers.borrow_mut().push(current_task().unwrap());
                writer.write(b"hi\n");
                held.borrow_mut().push(writer);
                std::future::pending::<()>().await;
            }
        },
        "127.0.0.1",
        0,
    )
    .await?;
    let (reader, _writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    assert_eq!(reader.readline().await?, b"hi\n");
    let task = tasks.borrow_mut().pop().unwrap();
    task.cancel(None);
    // asyncio closes the transport of a cancelled client_connected_cb task.
    assert_eq!(wait_for(reader.read_to_end(), 5.0).await??, b"");
    assert!(kept.borrow()[0].is_closing());
    server.close();
    wait_for(server.wait_closed(), 5.0).await?;
    Ok(())
}

/// asyncio closes the whole transport when a read fails (`_fatal_error`): the writer is closing
/// too, and the server stops counting the connection.
#[aio::test(timeout = 10)]
async fn a_failed_read_closes_the_writer_and_detaches_the_connection() -> Result<(), Error> {
    let seen: Rc<RefCell<Option<(bool, bool)>>> = Rc::default();
    let report = seen.clone();
    let server = start_server(
        move |reader: StreamReader, writer: StreamWriter| {
            let report = report.clone();
            async move {
                writer.write(b"hi\n");
                let failed = reader.read(100).await.is_err();
                *report.borrow_mut() = Some((failed, writer.is_closing()));
                // Keeps the halves alive past the handler: only the failure may detach.
                std::mem::forget((reader, writer));
            }
        },
        "127.0.0.1",
        0,
    )
    .await?;
    let port = server.port().unwrap();
    // A blocking client, in a thread of its own (the loop must keep running).
    let client = std::thread::spawn(move || {
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut greeting = [0u8; 3];
        std::io::Read::read_exact(&mut &client, &mut greeting).unwrap();
        // Close with a reset (SO_LINGER 0): the server's read fails with ECONNRESET.
        linger_zero(std::os::fd::AsFd::as_fd(&client));
    });
    while seen.borrow().is_none() {
        aio_scheduler::sleep(0.001).await?;
    }
    client.join().unwrap();
    assert_eq!(
        *seen.borrow(),
        Some((true, true)),
        "(read failed, writer closing)"
    );
    server.close();
    wait_for(server.wait_closed(), 5.0).await?;
    Ok(())
}

/// `SO_LINGER` with a zero timeout: closing the socket sends a reset.
fn linger_zero(fd: std::os::fd::BorrowedFd<'_>) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `setsockopt` reads `size_of::<linger>()` bytes from a live `linger`.
    let set = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0);
}

/// A handler that returns `Err` has its connection closed gracefully, as asyncio's
/// `transport.close()`: what it wrote first still reaches the peer.
#[aio::test(timeout = 10)]
async fn a_failed_handlers_buffered_data_is_flushed_before_the_close() -> Result<(), Error> {
    const SIZE: usize = 4 << 20;
    let server = start_server(
        |_reader, writer: StreamWriter| async move {
            writer.write(&vec![7u8; SIZE]);
            Err::<(), _>(std::io::Error::other("gave up after writing"))
        },
        "127.0.0.1",
        0,
    )
    .await?;
    let (reader, _writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    let all = wait_for(reader.read_to_end(), 10.0).await??;
    assert_eq!(all.len(), SIZE);
    assert!(all.iter().all(|&b| b == 7));
    Ok(())
}

/// Slots are reused as connections come and go, whichever way each one ends, on a Unix
/// server too: after every round the server counts none, and at the end `wait_closed`
/// returns.
#[aio::test(timeout = 10)]
async fn connections_ending_every_way_leave_the_count_at_zero_round_after_round()
-> Result<(), Error> {
    let path = std::env::temp_dir().join(format!("aio-tracking-churn-{}.sock", std::process::id()));
    let kept = Kept::default();
    let held = kept.clone();
    let server = aio_streams::start_unix_server(
        move |reader, writer: StreamWriter| {
            let held = held.clone();
            async move {
                writer.write(b"hi\n");
                held.borrow_mut().push((reader, writer));
            }
        },
        &path,
    )
    .await?;
    let counted = |server: &aio_streams::Server| {
        let debug = format!("{server:?}");
        let at = debug.find("connections: ").expect("count in Debug") + 13;
        debug[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse::<usize>()
            .unwrap()
    };
    for round in 0..3 {
        let mut clients = Vec::new();
        for _ in 0..12 {
            let (reader, writer) = aio_streams::open_unix_connection(&path).await?;
            assert_eq!(reader.readline().await?, b"hi\n");
            clients.push((reader, writer));
        }
        assert_eq!(counted(&server), 12, "round {round}");
        // End them four ways: halves dropped, writer closed, writer aborted, and the
        // rest by the server's close_clients.
        let halves: Vec<_> = kept.borrow_mut().drain(..).collect();
        for (i, (reader, writer)) in halves.into_iter().enumerate() {
            match i % 4 {
                0 => drop((reader, writer)),
                1 => writer.close(),
                2 => writer.abort(),
                _ => kept.borrow_mut().push((reader, writer)),
            }
        }
        server.close_clients();
        for (reader, _writer) in &clients {
            // Every client's connection ends (EOF, or a reset for the aborted ones):
            // `wait_for` fails the test if one does not.
            let _end_or_reset = wait_for(reader.read_to_end(), 5.0).await?;
        }
        // A graceful close is counted off once flushed: give the loop a few turns.
        let mut turns = 0;
        while counted(&server) != 0 {
            turns += 1;
            assert!(
                turns < 1_000,
                "round {round}: {} still counted",
                counted(&server)
            );
            aio_scheduler::sleep(0.001).await?;
        }
        kept.borrow_mut().clear();
    }
    server.close();
    wait_for(server.wait_closed(), 5.0).await?;
    Ok(())
}
