//! A child still running when its loop closes (its `Process` dropped) is not left a zombie:
//! once it has exited, a later spawn, on a new loop, reaps it. In its own test binary, so
//! nothing else spawns (and so reaps orphans) while the zombie is being looked at.

mod common;

use std::time::{Duration, Instant};

use aio_scheduler::get_running_loop;
use aio_subprocess::{ChildWatcher, create_subprocess_exec, set_child_watcher};
use aio_task::{Error, run, wait_for};
use common::{LIMIT, proc_state};

const NO_ARGS: [&str; 0] = [];

/// Spawns `sleep 0.3` and returns its pid while it still runs, letting `run` close the loop
/// and drop the `Process`.
fn spawn_and_abandon(watcher: ChildWatcher) -> u32 {
    run(async move {
        set_child_watcher(&get_running_loop()?, watcher);
        let proc = create_subprocess_exec("sleep", ["0.3"]).await?;
        assert_eq!(proc.returncode(), None);
        Ok::<_, Error>(proc.pid())
    })
    .unwrap()
    .unwrap()
}

/// Waits (bounded) until `pid` has exited. `true` if it is now a zombie child of ours,
/// `false` if it was reaped already (it exited before its loop closed, on a very slow
/// machine: then the orphan path was not exercised).
fn wait_until_exited(pid: u32) -> bool {
    let me = std::process::id();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match proc_state(pid) {
            Some((ppid, 'Z')) => {
                assert_eq!(ppid, me);
                return true;
            }
            None => return false,
            Some((ppid, _)) => {
                assert_eq!(ppid, me, "pid {pid} is not our child");
                assert!(Instant::now() < deadline, "pid {pid} never exited");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// A spawn on a fresh loop, which must reap the orphan `pid`.
fn spawn_later_and_check(pid: u32, watcher: ChildWatcher) {
    run(async move {
        set_child_watcher(&get_running_loop()?, watcher);
        let proc = create_subprocess_exec("true", NO_ARGS).await?;
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 0);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    let state = proc_state(pid);
    assert!(
        !matches!(state, Some((ppid, 'Z')) if ppid == std::process::id()),
        "pid {pid} is still a zombie after a later spawn: {state:?}"
    );
}

#[test]
fn a_child_outliving_its_loop_is_reaped_by_a_later_spawn() {
    // Sequentially in one test: a spawn from a parallel test would reap the orphan too.
    for (abandoned_on, later_on) in [
        (ChildWatcher::Pidfd, ChildWatcher::Pidfd),
        (ChildWatcher::Sigchld, ChildWatcher::Pidfd),
        (ChildWatcher::Pidfd, ChildWatcher::Sigchld),
    ] {
        let pid = spawn_and_abandon(abandoned_on);
        if !wait_until_exited(pid) {
            eprintln!("pid {pid} was reaped when its loop closed; orphan path not exercised");
            continue;
        }
        spawn_later_and_check(pid, later_on);
    }
}
