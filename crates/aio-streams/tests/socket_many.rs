//! Many concurrent connections to one echo server: no byte lost, duplicated or reordered.
//! All 1,000 are open at the same time: every client connects and waits at a gate until the
//! server runs 1,000 handlers at once, and only then do they all exchange data.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::path::PathBuf;
use std::rc::Rc;
use std::task::{Poll, Waker};

use aio_streams::{
    StreamReader, StreamWriter, open_connection, open_unix_connection, start_server,
    start_unix_server,
};
use aio_task::{Error, Task, create_task};

/// Connections per test, all open at once (the 1,000). A burst this size needs the
/// listener's backlog of 1,024 (std's 128 overflowed into connection resets).
const CONNECTIONS: usize = 1_000;

/// Raises the soft descriptor limit to what the tests need at once (both ends live in this
/// process, so two descriptors a connection, and the two tests may run in parallel), failing
/// clearly if the hard limit is too low.
fn ensure_descriptors() {
    let needed = (4 * CONNECTIONS + 256) as libc::rlim_t;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid `rlimit` to write into.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    if limit.rlim_cur < needed {
        assert!(
            limit.rlim_max >= needed,
            "RLIMIT_NOFILE hard limit {} is below the {needed} descriptors this test needs",
            limit.rlim_max
        );
        limit.rlim_cur = needed;
        // SAFETY: `limit` is a valid `rlimit`; raising the soft limit up to the hard one is
        // allowed for any process.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    }
}

/// Opens once, for every task waiting at it.
#[derive(Default)]
struct Gate {
    open: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl Gate {
    fn open(&self) {
        self.open.set(true);
        for waker in self.waiters.take() {
            waker.wake();
        }
    }

    async fn pass(&self) {
        poll_fn(|cx| {
            if self.open.get() {
                Poll::Ready(())
            } else {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }
}

/// How many connections are open now on each side, and the most at once on the server.
#[derive(Default)]
struct Census {
    clients: Cell<usize>,
    handlers: Cell<usize>,
    most_handlers: Cell<usize>,
}

async fn echo(census: Rc<Census>, reader: StreamReader, writer: StreamWriter) {
    census.handlers.set(census.handlers.get() + 1);
    census
        .most_handlers
        .set(census.most_handlers.get().max(census.handlers.get()));
    loop {
        let data = match reader.read(65536).await {
            Ok(data) if !data.is_empty() => data,
            _ => break,
        };
        writer.write(&data);
        if writer.drain().await.is_err() {
            break;
        }
    }
    writer.close();
    census.handlers.set(census.handlers.get() - 1);
}

/// Waits until all `CONNECTIONS` are open on both sides, then lets the clients go.
async fn open_gate_when_all_connected(census: &Census, gate: &Gate) -> Result<(), Error> {
    while census.clients.get() < CONNECTIONS || census.handlers.get() < CONNECTIONS {
        aio_scheduler::sleep(0.001).await?;
    }
    gate.open();
    Ok(())
}

/// Deterministic pseudo-random data, distinct per connection, split into a few writes of
/// varying sizes.
fn chunks_for(id: usize) -> Vec<Vec<u8>> {
    let mut x = (id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let writes = 2 + (next() % 5) as usize;
    (0..writes)
        .map(|w| {
            let len = 1 + (next() % 3000) as usize;
            // Tag each chunk with the connection and write number, so a mix-up is visible.
            let mut chunk = format!("[{id}:{w}]").into_bytes();
            chunk.extend((0..len).map(|_| next() as u8));
            chunk
        })
        .collect()
}

async fn exchange(id: usize, reader: StreamReader, writer: StreamWriter) -> Result<(), Error> {
    let chunks = chunks_for(id);
    let expected = chunks.concat();
    let sender = create_task(async move {
        for chunk in &chunks {
            writer.write(chunk);
            writer.drain().await?;
            aio_scheduler::sleep(0.0).await?; // let other connections interleave
        }
        writer.write_eof();
        Ok::<_, Error>(writer)
    })?;
    let got = reader.read_to_end().await?;
    let writer = sender.await??;
    assert_eq!(got.len(), expected.len(), "connection {id}: length");
    assert!(got == expected, "connection {id}: data differs");
    writer.close();
    writer.wait_closed().await?;
    Ok(())
}

// A generous time limit: it only turns a hang into a failure (a debug build takes seconds).
#[aio::test(timeout = 60)]
async fn many_concurrent_tcp_connections() -> Result<(), Error> {
    ensure_descriptors();
    let census = Rc::new(Census::default());
    let gate = Rc::new(Gate::default());
    let counted = census.clone();
    let server = start_server(
        move |reader, writer| echo(counted.clone(), reader, writer),
        "127.0.0.1",
        0,
    )
    .await?;
    let port = server.port().unwrap();
    let tasks: Vec<Task<Result<(), Error>>> = (0..CONNECTIONS)
        .map(|id| {
            let (census, gate) = (census.clone(), gate.clone());
            create_task(async move {
                let (reader, writer) = open_connection("127.0.0.1", port).await?;
                census.clients.set(census.clients.get() + 1);
                gate.pass().await;
                exchange(id, reader, writer).await
            })
        })
        .collect::<Result<_, _>>()?;
    open_gate_when_all_connected(&census, &gate).await?;
    for task in tasks {
        task.await??;
    }
    assert_eq!(census.most_handlers.get(), CONNECTIONS, "all open at once");
    server.close();
    server.wait_closed().await;
    Ok(())
}

// A generous time limit: it only turns a hang into a failure (a debug build takes seconds).
#[aio::test(timeout = 60)]
async fn many_concurrent_unix_connections() -> Result<(), Error> {
    ensure_descriptors();
    let path: PathBuf =
        std::env::temp_dir().join(format!("aio-socket-many-{}.sock", std::process::id()));
    let census = Rc::new(Census::default());
    let gate = Rc::new(Gate::default());
    let counted = census.clone();
    let server = start_unix_server(
        move |reader, writer| echo(counted.clone(), reader, writer),
        &path,
    )
    .await?;
    let tasks: Vec<Task<Result<(), Error>>> = (0..CONNECTIONS)
        .map(|id| {
            let (census, gate, path) = (census.clone(), gate.clone(), path.clone());
            create_task(async move {
                let (reader, writer) = open_unix_connection(&path).await?;
                census.clients.set(census.clients.get() + 1);
                gate.pass().await;
                exchange(id, reader, writer).await
            })
        })
        .collect::<Result<_, _>>()?;
    open_gate_when_all_connected(&census, &gate).await?;
    for task in tasks {
        task.await??;
    }
    assert_eq!(census.most_handlers.get(), CONNECTIONS, "all open at once");
    server.close();
    server.wait_closed().await;
    Ok(())
}
