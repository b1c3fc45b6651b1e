//! The SIGCHLD watcher's handler is an ordinary `add_signal_handler(SIGCHLD, ..)` on the loop.
//! A program that later replaces it with a handler of its own, or removes it, must not leave
//! `wait()` hanging: the children it watched (and later ones) are still reaped, and the
//! program's own handler stays in place. In its own test binary: SIGCHLD's disposition and
//! subscriber slots are process-wide.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use aio_scheduler::{get_running_loop, signal::SIGCHLD, sleep};
use aio_subprocess::{
    ChildWatcher, create_subprocess_exec, create_subprocess_shell, set_child_watcher,
};
use aio_task::{Error, run, wait_for};
use common::LIMIT;

/// Regression: the program's SIGCHLD handler replaced the watcher's, and `wait()` never
/// finished.
#[test]
fn wait_finishes_after_the_program_replaces_the_sigchld_handler() {
    run(async {
        let lp = get_running_loop()?;
        set_child_watcher(&lp, ChildWatcher::Sigchld);
        let proc = create_subprocess_exec("sleep", ["0.2"]).await?;
        let seen = Rc::new(Cell::new(0));
        let count = seen.clone();
        lp.add_signal_handler(SIGCHLD, move || count.set(count.get() + 1))?;

        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 0);
        // Later children too, and spawning them does not take SIGCHLD back.
        for code in [3, 4] {
            let proc = create_subprocess_shell(format!("exit {code}")).await?;
            assert_eq!(wait_for(proc.wait(), LIMIT).await??, code);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while seen.get() == 0 {
            assert!(Instant::now() < deadline, "the program's handler never ran");
            sleep(0.01).await?;
        }
        assert!(
            lp.remove_signal_handler(SIGCHLD)?,
            "the program's handler is in place"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Regression: removing the loop's SIGCHLD handler (the watcher's) left `wait()` hanging.
#[test]
fn wait_finishes_after_the_program_removes_the_sigchld_handler() {
    run(async {
        let lp = get_running_loop()?;
        set_child_watcher(&lp, ChildWatcher::Sigchld);
        let proc = create_subprocess_exec("sleep", ["0.2"]).await?;
        assert!(lp.remove_signal_handler(SIGCHLD)?, "the watcher's handler");
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 0);
        let proc = create_subprocess_shell("exit 5").await?;
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 5);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// The same, with the handler replaced between two runs of the loop (the loop not running).
#[test]
fn wait_finishes_after_the_handler_is_replaced_outside_a_run() {
    let lp = aio_scheduler::EventLoop::new().unwrap();
    set_child_watcher(&lp, ChildWatcher::Sigchld);
    let proc = lp
        .run_until_complete(async { create_subprocess_exec("sleep", ["0.2"]).await })
        .unwrap()
        .unwrap();
    lp.add_signal_handler(SIGCHLD, || {}).unwrap();
    let code = lp
        .run_until_complete(async { wait_for(proc.wait(), LIMIT).await })
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(code, 0);
    lp.close().unwrap();
}
