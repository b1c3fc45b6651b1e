//! Ctrl-C under a `LoopGroup`, as under `aio::run`: the first SIGINT cancels every loop's main
//! task (once) and the group returns `KeyboardInterrupt`, with SIGINT back at its default; a
//! second SIGINT ends the process at once, even while every loop is stuck.
//!
//! No test harness (`harness = false`): Ctrl-C is handled only on the main thread. The second
//! part runs this binary again as a child process (`LOOP_GROUP_CHILD=stuck`) and sends it two
//! SIGINTs with `kill`.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aio_scheduler::{signal, sleep};
use aio_task::{Error, LoopGroup};

struct CountOnDrop(Arc<AtomicUsize>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Waits (on the loop) until the group's SIGINT handler is installed.
async fn until_ctrl_c_is_handled() -> Result<(), Error> {
    while signal::is_default(signal::SIGINT) {
        sleep(0.001).await?;
    }
    Ok(())
}

fn sigint_default() {
    // A shell starts background jobs with SIGINT ignored: put the default back first.
    // SAFETY: a zeroed `sigaction` is SIG_DFL with an empty mask; no handler is installed yet.
    unsafe {
        let action: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
}

/// In this process: one SIGINT cancels the three loops' main tasks.
fn first_sigint_cancels_every_loop() {
    let cancelled = Arc::new(AtomicUsize::new(0));
    // Every main task has started (and holds its counter) before the signal: a loop whose
    // cancel arrives before its main future's first step never runs it, so nothing of it
    // would be counted (a race of the test, seen once in CI under load).
    let started = Arc::new(AtomicUsize::new(0));
    let outcome = LoopGroup::new().loops(3).run(|member| {
        let (cancelled, started) = (cancelled.clone(), started.clone());
        async move {
            let _finally = CountOnDrop(cancelled);
            started.fetch_add(1, Ordering::SeqCst);
            until_ctrl_c_is_handled().await?;
            if member.index() == 1 {
                while started.load(Ordering::SeqCst) < 3 {
                    sleep(0.001).await?;
                }
                signal::raise(signal::SIGINT)?;
            }
            sleep(3600).await?;
            Ok::<_, Error>(())
        }
    });
    assert!(
        matches!(outcome, Err(Error::KeyboardInterrupt)),
        "{outcome:?}"
    );
    assert_eq!(
        cancelled.load(Ordering::SeqCst),
        3,
        "every main task was cancelled"
    );
    assert!(
        signal::is_default(signal::SIGINT),
        "SIGINT is back at its default after the run"
    );
    // And the next group runs normally.
    let out = LoopGroup::new()
        .loops(2)
        .run(|m| async move { Ok::<_, Error>(m.index()) })
        .unwrap();
    assert_eq!(out, [0, 1]);
}

/// The child: two loops that block their threads after saying they are ready.
fn stuck_child() -> ! {
    let _ = LoopGroup::new().loops(2).run(|member| async move {
        until_ctrl_c_is_handled().await?;
        println!("ready {}", member.index());
        // Stuck: the loop cannot run the cancellation.
        std::thread::sleep(Duration::from_secs(60));
        Ok::<_, Error>(())
    });
    println!("returned");
    std::process::exit(0);
}

/// A child process whose loops are stuck: the first SIGINT cannot end it, the second does.
fn second_sigint_interrupts_a_stuck_group() {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .env("LOOP_GROUP_CHILD", "stuck")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut ready = Vec::new();
    for _ in 0..2 {
        ready.push(lines.next().expect("a line").expect("read"));
    }
    ready.sort();
    assert_eq!(ready, ["ready 0", "ready 1"]);
    let pid = child.id() as libc::pid_t;
    // SAFETY: `kill` with the pid of our own child, which has not been reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first SIGINT only asks the loops to cancel"
    );
    // SAFETY: as above; the child is still running.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the second SIGINT did not end the child");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
}

fn main() {
    sigint_default();
    if std::env::var_os("LOOP_GROUP_CHILD").is_some() {
        stuck_child();
    }
    assert!(signal::is_default(signal::SIGINT));
    first_sigint_cancels_every_loop();
    second_sigint_interrupts_a_stuck_group();
    println!("loop_group_ctrl_c: 2 passed, 0 failed");
}
