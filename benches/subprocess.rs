//! The subprocess workload: spawn `/bin/true` [`SPAWNS`] times, [`CONCURRENCY`] at a time, and
//! wait for every child, on each runtime's own process API.
//!
//! [`CONCURRENCY`] worker tasks each spawn and wait for [`SPAWNS`] / [`CONCURRENCY`] children
//! in a row, so exactly that many spawn + wait sequences are in flight at any moment (until
//! the end). Every child's stdin, stdout and stderr are `/dev/null`. Each worker checks that
//! every child exited 0; after the run, [`assert_all_reaped`] checks that the runtime left no
//! child behind (no zombie, nothing still running).
//!
//! - aio: `create_subprocess_exec(...).stdin(DEVNULL)...await` then `Process::wait`, workers
//!   spawned with `aio::create_task` on a fresh `EventLoop`.
//! - tokio `current_thread`: `tokio::process::Command::new(...).spawn()?.wait().await`,
//!   workers spawned with `tokio::spawn`.
//! - smol: `smol::process::Command` (async-process) `.spawn()?.status().await` on a
//!   `LocalExecutor` inside `smol::block_on`.
//!
//! All three reap through a pidfd per child on Linux 5.3+ (aio's `ChildWatcher::Pidfd`,
//! tokio's `PidfdReaper`, async-process's `wait` backend) and start the child with `std`'s
//! `Command::spawn`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use aio::EventLoop;
use aio::subprocess::DEVNULL;
use smol::LocalExecutor;

/// The program every spawn runs.
pub const PROGRAM: &str = "/bin/true";
/// Children spawned per run.
pub const SPAWNS: usize = 500;
/// Spawn + wait sequences in flight at once: one per worker task.
pub const CONCURRENCY: usize = 10;
/// Children each worker spawns and waits for, one after the other.
const PER_WORKER: usize = SPAWNS / CONCURRENCY;

const _: () = assert!(SPAWNS.is_multiple_of(CONCURRENCY));

/// One run on the runtime `name` (`aio`, `tokio` or `smol`): the time from the first spawn to
/// the last child's exit status.
pub fn spawns(name: &str) -> Duration {
    let elapsed = match name {
        "aio" => on_aio(),
        "tokio" => on_tokio(),
        "smol" => on_smol(),
        _ => panic!("unknown runtime {name:?} (aio, tokio or smol)"),
    };
    assert_all_reaped(name);
    elapsed
}

/// Panics if this process has any child left: running, or exited and not reaped. `waitid`
/// with `WNOWAIT` only looks, so it takes nothing from a runtime's reaper.
fn assert_all_reaped(runtime: &str) {
    // SAFETY: `waitid` only writes the `siginfo_t` it is given.
    let (result, error, pid) = unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let result = libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        (result, std::io::Error::last_os_error(), info.si_pid())
    };
    // -1 / ECHILD: no children at all. 0 with no pid would be a child still running; a pid,
    // a zombie.
    assert!(
        result == -1 && error.raw_os_error() == Some(libc::ECHILD),
        "{runtime} left a child behind (waitid: {result}, pid {pid}, {error})"
    );
}

// ---- aio ------------------------------------------------------------------------------------

async fn aio_worker() -> usize {
    for _ in 0..PER_WORKER {
        let proc = aio::create_subprocess_exec(PROGRAM, Vec::<&str>::new())
            .stdin(DEVNULL)
            .stdout(DEVNULL)
            .stderr(DEVNULL)
            .await
            .expect("spawn /bin/true");
        assert_eq!(proc.wait().await.expect("wait"), 0, "aio: exit code");
    }
    PER_WORKER
}

fn on_aio() -> Duration {
    let lp = EventLoop::new().expect("event loop");
    let elapsed = lp
        .run_until_complete(async {
            let start = Instant::now();
            let workers: Vec<_> = (0..CONCURRENCY)
                .map(|_| aio::create_task(aio_worker()).expect("create_task"))
                .collect();
            let mut done = 0;
            for worker in workers {
                done += worker.await.expect("worker");
            }
            assert_eq!(done, SPAWNS);
            start.elapsed()
        })
        .expect("run_until_complete");
    lp.close().expect("close");
    elapsed
}

// ---- tokio ----------------------------------------------------------------------------------

async fn tokio_worker() -> usize {
    for _ in 0..PER_WORKER {
        let status = tokio::process::Command::new(PROGRAM)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn /bin/true")
            .wait()
            .await
            .expect("wait");
        assert_eq!(status.code(), Some(0), "tokio: exit status");
    }
    PER_WORKER
}

fn on_tokio() -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let start = Instant::now();
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|_| tokio::spawn(tokio_worker()))
            .collect();
        let mut done = 0;
        for worker in workers {
            done += worker.await.expect("worker");
        }
        assert_eq!(done, SPAWNS);
        start.elapsed()
    })
}

// ---- smol -----------------------------------------------------------------------------------

async fn smol_worker() -> usize {
    for _ in 0..PER_WORKER {
        let status = smol::process::Command::new(PROGRAM)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn /bin/true")
            .status()
            .await
            .expect("status");
        assert_eq!(status.code(), Some(0), "smol: exit status");
    }
    PER_WORKER
}

fn on_smol() -> Duration {
    let ex = LocalExecutor::new();
    smol::block_on(ex.run(async {
        let start = Instant::now();
        let workers: Vec<_> = (0..CONCURRENCY).map(|_| ex.spawn(smol_worker())).collect();
        let mut done = 0;
        for worker in workers {
            done += worker.await;
        }
        assert_eq!(done, SPAWNS);
        start.elapsed()
    }))
}
