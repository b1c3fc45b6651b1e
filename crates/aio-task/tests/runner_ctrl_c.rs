//! Ctrl-C under a `Runner` that runs twice (issue 16.3): each run installs asyncio's SIGINT
//! handling and removes it when it returns, as asyncio's `Runner.run` restores the handler in
//! its `finally`. A SIGINT in the first run cancels its main task (`KeyboardInterrupt`); SIGINT
//! is at its default between runs; the second run handles a SIGINT of its own the same way.
//!
//! No test harness (`harness = false`): Ctrl-C is handled only on the main thread.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use aio_scheduler::{signal, sleep};
use aio_task::{Error, Runner};

fn interrupted_run(runner: &Runner) -> Result<(), Error> {
    runner.run(async {
        signal::raise(signal::SIGINT)?;
        // Cancelled here by the handler, which runs in the next iteration.
        sleep(3600).await?;
        Ok::<_, Error>(())
    })?
}

fn main() {
    // A shell starts background jobs with SIGINT ignored: put the default back first.
    // SAFETY: a zeroed `sigaction` is SIG_DFL with an empty mask; no handler is installed yet.
    unsafe {
        let action: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
    assert!(signal::is_default(signal::SIGINT));
    let runner = Runner::new();
    for round in 1..=2 {
        let outcome = interrupted_run(&runner);
        assert!(
            matches!(outcome, Err(Error::KeyboardInterrupt)),
            "round {round}: {outcome:?}"
        );
        assert!(
            signal::is_default(signal::SIGINT),
            "round {round}: SIGINT is back at its default after the run"
        );
    }
    assert_eq!(
        runner.run(async { 7 }).unwrap(),
        7,
        "the runner is still usable"
    );
    runner.close();
    println!("runner_ctrl_c: ok");
}
