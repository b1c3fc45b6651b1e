//! What an idle connection costs in heap memory (issue 15.7): a streams server whose handler
//! holds its reader and writer and waits in `reader.read(n)`, with `CONNECTIONS` clients
//! connected and silent. A counting global allocator measures the heap the loop's thread holds
//! per connection, in glibc chunk sizes (`malloc_usable_size` + the 8-byte chunk header: what
//! each block really occupies), from before the first accept to when every handler waits.
//! That includes the amortized growth of the server's and the reactor's tables.
//!
//! The target is 640 bytes, and the bound. Measured 624 (polling) / 630 (io_uring)
//! before the await graph (issue 19) gave every task its park and creation lines, 662 after
//! it, and 600 since a task is one allocation (issue 17.3: the task's state moved into the
//! block that holds its future; 3 heap blocks per connection), 547 since a task's body keeps
//! no handle to its task and its outcome no tag (the handler's task block 288 → 272 bytes,
//! 2026-12-07, seventh session). `docs/benchmarks.md` (Streams,
//! "Idle connection memory") lists where each byte
//! goes, and the `conn-memory` bench row measures the same thing as resident memory with
//! 10,000 connections. glibc only: the chunk sizes come from `malloc_usable_size`.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Read;
use std::rc::Rc;
use std::sync::atomic::{AtomicIsize, Ordering};

use aio_streams::start_server;

/// Connections held at once.
const CONNECTIONS: usize = 2_000;
/// The bound per idle connection: the target (see the module docs).
const TARGET_BYTES: f64 = 640.0;

/// Counts the heap held by threads that opted in ([`COUNTING`]), in glibc chunk sizes.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_BLOCKS: AtomicIsize = AtomicIsize::new(0);
/// Live blocks by chunk size (16-byte classes up to 4 KiB; larger ones in the last), for
/// the failure message: which structure grew.
static BY_CHUNK: [AtomicIsize; 257] = [const { AtomicIsize::new(0) }; 257];

thread_local! {
    /// Set on the loop's thread only: the clients' thread is not the server's cost.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

/// What a block returned by glibc's `malloc` occupies: its usable size and the chunk header.
fn chunk(ptr: *mut u8) -> isize {
    // SAFETY: `ptr` is a live block from the system allocator (glibc's malloc on Linux).
    (unsafe { libc::malloc_usable_size(ptr.cast()) } + 8) as isize
}

fn counting() -> bool {
    COUNTING.try_with(Cell::get).unwrap_or(false)
}

fn count(ptr: *mut u8, sign: isize) {
    let size = chunk(ptr);
    LIVE_BYTES.fetch_add(sign * size, Ordering::Relaxed);
    LIVE_BLOCKS.fetch_add(sign, Ordering::Relaxed);
    BY_CHUNK[(size as usize / 16).min(256)].fetch_add(sign, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System`; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() && counting() {
            count(ptr, 1);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counting() {
            count(ptr, -1);
        }
        // SAFETY: forwarded as given.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let counted = counting();
        if counted {
            count(ptr, -1);
        }
        // SAFETY: forwarded as given.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if counted {
            // On failure the old block is still live.
            count(if new.is_null() { ptr } else { new }, 1);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> (isize, isize) {
    (
        LIVE_BYTES.load(Ordering::Relaxed),
        LIVE_BLOCKS.load(Ordering::Relaxed),
    )
}

/// Raises the soft descriptor limit to what the test needs (both ends live in this process).
fn ensure_descriptors() {
    let needed = (2 * CONNECTIONS + 256) as libc::rlim_t;
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

/// Heap bytes and blocks the loop's thread holds per idle connection.
fn idle_connection_heap() -> (f64, f64, String) {
    ensure_descriptors();
    let (per_conn_bytes, per_conn_blocks, waiting, chunks) = aio_task::run(async {
        let started = Rc::new(Cell::new(0usize));
        let counted = started.clone();
        let server = start_server(
            move |reader, writer| {
                counted.set(counted.get() + 1);
                async move {
                    // Holds both halves and waits, as the bench's handler does.
                    let data = reader.read(100).await;
                    drop(writer);
                    data.map(drop)
                }
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        let port = server.port().unwrap();
        // One connection that sends a byte first: the thread's one-time costs (the socket
        // read's scratch buffer) are not a connection's.
        let mut warm_up = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        std::io::Write::write_all(&mut warm_up, b"x").unwrap();
        while started.get() < 1 {
            aio_scheduler::sleep(0.005).await.unwrap();
        }
        // Let that handler finish and the accept loop park before the count starts.
        for _ in 0..5 {
            aio_scheduler::sleep(0.005).await.unwrap();
        }
        drop(warm_up);
        started.set(0);
        COUNTING.set(true);
        let base = live();
        let base_chunks: Vec<isize> = BY_CHUNK.iter().map(|n| n.load(Ordering::Relaxed)).collect();
        let clients = std::thread::spawn(move || {
            let streams: Vec<_> = (0..CONNECTIONS)
                .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
                .collect();
            streams
        });
        while started.get() < CONNECTIONS {
            aio_scheduler::sleep(0.005).await.unwrap();
        }
        // Every handler is in its read: let the loop settle (a few more turns).
        for _ in 0..5 {
            aio_scheduler::sleep(0.005).await.unwrap();
        }
        let now = live();
        COUNTING.set(false);
        let chunks: Vec<String> = BY_CHUNK
            .iter()
            .zip(&base_chunks)
            .enumerate()
            .filter_map(|(class, (n, base))| {
                let added = n.load(Ordering::Relaxed) - base;
                let size = if class == 256 {
                    ">= 4096".to_string()
                } else {
                    (class * 16).to_string()
                };
                (added != 0).then(|| format!("{added} x {size} B"))
            })
            .collect();
        let streams = clients.join().unwrap();
        // No handler got anything: each still waits (a read on a client end would block).
        let mut probe = streams[0].try_clone().unwrap();
        probe.set_nonblocking(true).unwrap();
        let waiting =
            matches!(probe.read(&mut [0; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        drop(streams);
        server.close();
        (
            (now.0 - base.0) as f64 / CONNECTIONS as f64,
            (now.1 - base.1) as f64 / CONNECTIONS as f64,
            waiting,
            chunks.join(", "),
        )
    })
    .unwrap();
    assert!(waiting, "the handlers should still be waiting");
    (per_conn_bytes, per_conn_blocks, chunks)
}

#[test]
fn an_idle_connection_costs_at_most_640_heap_bytes() {
    let (bytes, blocks, chunks) = idle_connection_heap();
    eprintln!("idle connection: {bytes:.1} heap bytes in {blocks:.2} blocks ({chunks})");
    // Non-vacuous: a connection costs at least its task, connection and writer.
    assert!(
        blocks >= 3.0,
        "{blocks} blocks per connection: nothing measured?"
    );
    assert!(
        bytes <= TARGET_BYTES,
        "an idle connection holds {bytes:.1} heap bytes ({blocks:.2} blocks), over the \
         {TARGET_BYTES}-byte bound; blocks added: {chunks}"
    );
}
