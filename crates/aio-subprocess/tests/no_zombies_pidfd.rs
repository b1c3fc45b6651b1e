//! 1,000 spawns of `/bin/true` on the default (pidfd) watcher, in batches of 50 running at
//! once, a third of them dropped without ever being awaited, leave no zombie child. In its own
//! test binary, so no other test's children are counted.

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
        let mut dropped = 0;
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
