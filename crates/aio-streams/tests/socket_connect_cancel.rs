//! A connect that cannot complete is cancellable: dropping `open_connection` (here, by
//! `wait_for` expiring) abandons it at once, and nothing is left blocking — the program
//! ends promptly instead of waiting on a stuck connect.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::time::{Duration, Instant};

use aio_task::{Error, run, wait_for};

#[test]
fn a_stuck_connect_is_cancelled_cleanly() {
    // A listener that never accepts, its backlog filled by plain sockets: further connects
    // get no answer (the kernel drops their SYNs) and would block for minutes.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut fillers = Vec::new();
    let start = Instant::now();
    let outcome = run(async move {
        // Fill the backlog from the loop's side, with non-blocking connects that complete.
        for _ in 0..512 {
            match wait_for(aio_streams::open_connection("127.0.0.1", port), 0.2).await {
                Ok(Ok(conn)) => fillers.push(conn),
                // The backlog is full: this connect is stuck and was abandoned.
                Ok(Err(_)) | Err(Error::Timeout) => return Ok::<_, Error>(fillers.len()),
                Err(e) => return Err(e),
            }
        }
        Ok(fillers.len())
    })
    .unwrap()
    .unwrap();
    assert!(
        outcome > 0,
        "some connections completed before the backlog filled"
    );
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "a stuck connect kept the program from ending"
    );
    drop(listener);
}
