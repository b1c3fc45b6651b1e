//! A SIGINT handler the program adds itself under [`aio_task::run`] replaces `run`'s Ctrl-C
//! handling for good, as a handler added with asyncio's `loop.add_signal_handler(SIGINT, ...)`
//! replaces `Runner`'s: it sees every SIGINT, and none of them ends the process.
//!
//! Regression: `run` asks for SIGINT's default disposition back at the next delivery (so a
//! second Ctrl-C ends a stuck loop); that request outlived `run`'s own handler, so the user's
//! handler saw one SIGINT and the second one killed the process.
//!
//! No test harness (`harness = false`): `run` handles Ctrl-C only on the main thread, and the
//! harness runs tests on threads of its own.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use aio_scheduler::{get_running_loop, signal, sleep};

fn main() {
    // `run` takes over Ctrl-C only when it finds SIGINT at its default disposition, and a
    // shell starts background jobs with SIGINT ignored: put the default back first.
    // SAFETY: a zeroed `sigaction` is SIG_DFL with an empty mask; no handler is installed yet.
    unsafe {
        let action: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
    assert!(
        signal::is_default(signal::SIGINT),
        "SIGINT must start at its default"
    );
    let seen = Rc::new(Cell::new(0u32));
    let count = seen.clone();
    let seen_inside = seen.clone();
    let outcome = aio_task::run(async move {
        let lp = get_running_loop()?;
        lp.add_signal_handler(signal::SIGINT, move || count.set(count.get() + 1))?;
        for delivered in 1..=3 {
            signal::raise(signal::SIGINT)?;
            assert!(
                !signal::is_default(signal::SIGINT),
                "delivery {delivered} put SIGINT back to its default"
            );
            // The handler runs as a loop callback, once the loop has read the wake-up byte.
            let deadline = Instant::now() + Duration::from_secs(10);
            while seen_inside.get() < delivered && Instant::now() < deadline {
                sleep(0.001).await?;
            }
            assert_eq!(
                seen_inside.get(),
                delivered,
                "delivery {delivered} was not handled"
            );
        }
        Ok::<_, aio_task::Error>(())
    });
    assert!(
        matches!(outcome, Ok(Ok(()))),
        "run ended with {outcome:?} instead of finishing normally"
    );
    assert_eq!(seen.get(), 3, "the handler saw every SIGINT");
    // Closing the loop removed the handler and restored what was there before `run`.
    assert!(signal::is_default(signal::SIGINT));
    println!("test a_user_sigint_handler_sees_every_delivery ... ok");
    println!("1 passed, 0 failed");
}
