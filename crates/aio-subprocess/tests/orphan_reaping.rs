//! Children still running when their loop closes are reaped once they exit, although the
//! program never spawns again: none stays a zombie. Both watchers (pidfd and SIGCHLD) hand
//! their leftover children over when the loop closes. Children aio did not spawn are left
//! alone (no `waitpid(-1)`), and the reaper thread ends once nothing is left to reap.
//!
//! In its own test binary, with one test: nothing else spawns (a spawn used to be what reaped
//! the leftovers) or reaps while the children are being looked at.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use aio_scheduler::{EventLoop, get_running_loop};
use aio_subprocess::{ChildWatcher, create_subprocess_exec, set_child_watcher};
use aio_task::{Error, run};
use common::{proc_state, unique_temp_path};

/// Children left running at each loop's close.
const CHILDREN: usize = 20;
/// How long an exited child may stay a zombie (the reaper's goal is well under a second).
const ZOMBIE_LIMIT: Duration = Duration::from_secs(2);
/// How long the children may take to notice the flag and exit (machine speed only).
const EXIT_LIMIT: Duration = Duration::from_secs(30);

/// A shell that runs until the file `$0` exists: still running when the loop closes, however
/// slow the machine, and exiting only when the test says so.
const WAIT_FOR_FLAG: &str = "until [ -e \"$0\" ]; do sleep 0.02; done";

/// How the loop ends.
#[derive(Debug, Clone, Copy)]
enum Close {
    /// `aio_task::run` returns (and closes it).
    RunReturns,
    /// A loop of the program's own: `EventLoop::close` (asyncio's `loop.close()`).
    LoopClose,
}

/// Spawns [`CHILDREN`] children on a loop watching them with `watcher`, and closes the loop
/// (dropping the `Process`es) while they all still run. Their pids.
fn spawn_and_close_the_loop(watcher: ChildWatcher, close: Close, flag: &Path) -> Vec<u32> {
    let flag = flag.to_owned();
    let spawn = async move {
        set_child_watcher(&get_running_loop()?, watcher);
        let mut pids = Vec::new();
        for _ in 0..CHILDREN {
            let proc = create_subprocess_exec(
                "sh",
                ["-c".as_ref(), WAIT_FOR_FLAG.as_ref(), flag.as_os_str()],
            )
            .await?;
            assert_eq!(proc.returncode(), None);
            pids.push(proc.pid());
        }
        Ok::<_, Error>(pids)
    };
    match close {
        Close::RunReturns => run(spawn).expect("run").expect("spawns"),
        Close::LoopClose => {
            let lp = EventLoop::new().expect("a loop");
            let pids = lp
                .run_until_complete(spawn)
                .expect("run_until_complete")
                .expect("spawns");
            lp.close().expect("close");
            pids
        }
    }
}

/// Lets the children exit (creates `flag`), then waits until every one of `pids` is reaped:
/// gone from `/proc`, or (the pid reused) no longer our child. Fails if one stays a zombie
/// for longer than [`ZOMBIE_LIMIT`] after it was first seen as one.
fn release_and_check_reaped(watcher: ChildWatcher, pids: &[u32], flag: &Path) {
    std::fs::write(flag, b"").expect("create the flag file");
    let me = std::process::id();
    let started = Instant::now();
    let mut zombie_since: Vec<Option<Instant>> = vec![None; pids.len()];
    loop {
        let mut left = 0;
        for (pid, since) in pids.iter().zip(&mut zombie_since) {
            match proc_state(*pid) {
                Some((ppid, state)) if ppid == me => {
                    left += 1;
                    if state == 'Z' {
                        let since = *since.get_or_insert_with(Instant::now);
                        assert!(
                            since.elapsed() < ZOMBIE_LIMIT,
                            "{watcher:?}: pid {pid} exited after its loop closed and is still \
                             a zombie {ZOMBIE_LIMIT:?} later (nothing spawns again to reap it)"
                        );
                    }
                }
                _ => {} // reaped
            }
        }
        if left == 0 {
            return;
        }
        assert!(
            started.elapsed() < EXIT_LIMIT,
            "{watcher:?}: {left} children never exited"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Threads of this process named `name`.
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim() == name)
        })
        .count()
}

#[test]
fn children_outliving_their_loop_are_reaped_without_a_later_spawn() {
    // A child that aio did not spawn, left unwaited throughout: its status must stay for its
    // owner (no `waitpid(-1)` anywhere).
    let mut foreign = std::process::Command::new("true")
        .spawn()
        .expect("spawn a child outside aio");

    // Sequentially: each loop closes with its children running, then nothing spawns again.
    for (watcher, close) in [
        (ChildWatcher::Pidfd, Close::RunReturns),
        (ChildWatcher::Sigchld, Close::RunReturns),
        (ChildWatcher::Pidfd, Close::LoopClose),
        (ChildWatcher::Sigchld, Close::LoopClose),
    ] {
        let flag = unique_temp_path("orphan-flag");
        let pids = spawn_and_close_the_loop(watcher, close, &flag);
        release_and_check_reaped(watcher, &pids, &flag);
        let _ = std::fs::remove_file(&flag);
    }

    let status = foreign
        .wait()
        .expect("the foreign child's status is still there for its owner");
    assert!(status.success(), "{status:?}");

    // Nothing left to reap: the reaper thread ends.
    let deadline = Instant::now() + Duration::from_secs(10);
    while threads_named("aio-reaper") > 0 {
        assert!(
            Instant::now() < deadline,
            "the reaper thread is still there with nothing left to reap"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
