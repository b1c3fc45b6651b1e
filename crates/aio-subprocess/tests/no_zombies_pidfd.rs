//! 1,000 spawns of `/bin/true` on the default (pidfd) watcher, in batches of 50 running at
//! once — a third of them dropped without ever being awaited, a sixth dropped after a wait
//! that was cancelled — leave no zombie child, and the pidfd path starts no helper thread
//! (no thread in `/proc/self/task` that was not there before). In its own test binary, so no other
//! test's children or threads are counted.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::time::Duration;

use aio_scheduler::get_running_loop;
use aio_subprocess::{ChildWatcher, PIPE, child_watcher, create_subprocess_exec};
use aio_task::{Error, run, wait_for};
use common::{LIMIT, zombies_after};

const TOTAL: usize = 1_000;
const BATCH: usize = 50;
const NO_ARGS: [&str; 0] = [];

#[test]
fn a_thousand_spawns_leave_no_zombie() {
    run(async {
        assert_eq!(child_watcher(&get_running_loop()?), ChildWatcher::Pidfd);
        let threads_before = threads();
        let mut dropped = 0;
        let mut cancelled = 0;
        for batch in 0..TOTAL / BATCH {
            let mut kept = Vec::new();
            for i in 0..BATCH {
                let n = batch * BATCH + i;
                // Some with a pipe, so dropping also closes a stream.
                let builder = create_subprocess_exec("/bin/true", NO_ARGS);
                let builder = if n.is_multiple_of(2) {
                    builder.stdout(PIPE)
                } else {
                    builder
                };
                let proc = builder.await?;
                if n.is_multiple_of(3) {
                    drop(proc);
                    dropped += 1;
                } else if n % 3 == 1 && n % 2 == 1 {
                    // A wait abandoned at its first suspension, then the process dropped.
                    let waited = wait_for(proc.wait(), 0).await;
                    if matches!(waited, Err(Error::Timeout)) {
                        cancelled += 1;
                    }
                    drop(proc);
                } else {
                    kept.push(proc);
                }
            }
            for proc in &kept {
                assert_eq!(wait_for(proc.wait(), LIMIT).await??, 0);
            }
        }
        assert!(dropped > TOTAL / 4);
        assert!(cancelled > 0, "no wait was cancelled before its child exited");
        let threads_after = threads();
        for (name, count) in &threads_after {
            assert!(
                *count <= threads_before.get(name).copied().unwrap_or(0),
                "the pidfd path started a thread of its own: {threads_before:?} -> {threads_after:?}"
            );
        }
        let zombies = zombies_after(Duration::from_secs(10)).await;
        assert!(
            zombies.is_empty(),
            "{} zombie children left: {zombies:?}",
            zombies.len()
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// This process's threads, counted by name — except the harness's threads for the `common`
/// module's own unit test, which may come and go while this test runs.
fn threads() -> std::collections::HashMap<String, usize> {
    let mut names = std::collections::HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let comm = task.expect("task").path().join("comm");
        let Ok(name) = std::fs::read_to_string(comm) else {
            continue; // the thread ended meanwhile
        };
        let name = name.trim().to_owned();
        if !name.starts_with("common::") {
            *names.entry(name).or_insert(0) += 1;
        }
    }
    names
}
