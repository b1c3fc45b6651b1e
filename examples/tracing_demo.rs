//! aio's `tracing` spans and events through `tracing-subscriber`'s fmt layer: every task step
//! runs in a `task{id, parent_task, created_at, name}` span, a slow callback (debug mode) and
//! a task error nobody retrieved are events, and `RUST_LOG`-style verbosity is the
//! subscriber's business (here: everything from INFO up; TRACE would add one event per loop
//! iteration).
//!
//! ```text
//! cargo run --example tracing_demo --features tracing
//! ```
//!
//! Debug mode's reports and the unretrieved error also reach the loop's exception handler,
//! which prints its own `aio: ...` line on stderr as usual.
//!
//! Output on stdout (times and paths shortened):
//!
//! ```text
//! INFO task{id=1 created_at=examples/tracing_demo.rs:47:5 name=main}: tracing_demo: starting two workers
//! INFO task{id=2 parent_task=1 created_at=examples/tracing_demo.rs:53:16 name=fast}: tracing_demo: working delay=0.01
//! INFO task{id=3 parent_task=1 created_at=examples/tracing_demo.rs:55:16 name=slow}: tracing_demo: working delay=0.02
//! INFO task{id=2 parent_task=1 ... name=fast}: tracing_demo: done
//! INFO task{id=3 parent_task=1 ... name=slow}: tracing_demo: done
//! WARN aio::task: slow task step task=blocker seconds=0.050122291
//! ERROR aio::exception: Executing blocker created at examples/tracing_demo.rs:64:19 took 0.050 seconds task="blocker"
//! ERROR task{id=1 ... name=main}: aio::task: Task exception was never retrieved task="doomed" error=panicked: lost
//! ERROR task{id=1 ... name=main}: aio::exception: Task exception was never retrieved task="doomed" error=panicked: lost
//! INFO task{id=1 ... name=main}: tracing_demo: bye
//! ```

use std::time::Duration;

use aio::{create_task, current_task, get_running_loop, sleep};

async fn worker(delay: f64) -> Result<(), aio::Error> {
    tracing::info!(delay, "working");
    sleep(delay).await?;
    tracing::info!("done");
    Ok(())
}

fn main() -> Result<(), aio::Error> {
    // Installed before the loop starts, so the main task's span is recorded too (a span made
    // while no subscriber is installed stays disabled).
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .init();
    aio::run(amain())?
}

async fn amain() -> Result<(), aio::Error> {
    current_task().expect("main is a task").set_name("main");
    tracing::info!("starting two workers");
    let fast = create_task(worker(0.01))?;
    fast.set_name("fast");
    let slow = create_task(worker(0.02))?;
    slow.set_name("slow");
    fast.await??;
    slow.await??;

    // Debug mode reports a step that blocks the loop for longer than 10 ms.
    let lp = get_running_loop()?;
    lp.set_debug(true);
    lp.set_slow_callback_duration(Duration::from_millis(10));
    let blocker = create_task(async { std::thread::sleep(Duration::from_millis(50)) })?;
    blocker.set_name("blocker");
    blocker.await?;
    lp.set_debug(false);

    // A task fails and its error is never looked at. (The panic hook would print the panic
    // where it happens; the demo shows only what aio reports.)
    std::panic::set_hook(Box::new(|_| {}));
    let doomed = create_task(async { panic!("lost") })?;
    doomed.set_name("doomed");
    sleep(0).await?;
    drop(doomed);
    sleep(0).await?;
    tracing::info!("bye");
    Ok(())
}
