//! 200 spawns of `/bin/true` on the SIGCHLD watcher, in batches of 50 running at once, a
//! third of them dropped without ever being awaited, leave no zombie child. In its own test
//! binary: SIGCHLD is process-wide, and no other test's children may be counted.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::time::Duration;

use aio_scheduler::get_running_loop;
use aio_subprocess::{ChildWatcher, child_watcher, create_subprocess_exec, set_child_watcher};
use aio_task::{Error, run, wait_for};
use common::{LIMIT, zombies_after};

const TOTAL: usize = 200;
const BATCH: usize = 50;
const NO_ARGS: [&str; 0] = [];

#[test]
fn two_hundred_spawns_leave_no_zombie() {
    run(async {
        let lp = get_running_loop()?;
        set_child_watcher(&lp, ChildWatcher::Sigchld);
        assert_eq!(child_watcher(&lp), ChildWatcher::Sigchld);
        let mut dropped = 0;
        for batch in 0..TOTAL / BATCH {
            let mut kept = Vec::new();
            for i in 0..BATCH {
                let proc = create_subprocess_exec("/bin/true", NO_ARGS).await?;
                if (batch * BATCH + i).is_multiple_of(3) {
                    drop(proc);
                    dropped += 1;
                } else {
                    kept.push(proc);
                }
            }
            for proc in &kept {
                assert_eq!(wait_for(proc.wait(), LIMIT).await??, 0);
            }
        }
        assert!(dropped > TOTAL / 4);
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
