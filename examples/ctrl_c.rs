//! Ctrl-C under `aio::run`, as under `asyncio.run`: the first SIGINT cancels the main task.
//! Cancelling a task drops its future at its pending `await`, so its cleanup runs — here a
//! guard's `Drop`, the Rust form of a `finally:` block. `run` then returns
//! `Error::KeyboardInterrupt` and the program exits with status 130, as Python does. A second
//! Ctrl-C while the cleanup still runs ends the process at once.
//!
//! ```text
//! $ cargo run --example ctrl_c        # press Ctrl-C after a few ticks
//! working; press Ctrl-C to stop
//! tick 1
//! tick 2
//! ^Ccancelled after 2 ticks: cleaning up
//! cleanup done
//! interrupted
//! ```
//!
//! `--slow-cleanup` makes the cleanup take 30 s: press Ctrl-C twice to see the second one
//! interrupt it. `--block` blocks the loop itself for 30 s after the first tick (as a
//! CPU-bound step would): the first Ctrl-C cannot be handled until the loop runs again, and
//! the second ends the process at once, as asyncio's second `KeyboardInterrupt` does.

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Runs when the work is dropped: on cancellation, at the `await` it was parked in.
struct Cleanup {
    ticks: Rc<Cell<u32>>,
    slow: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        say(&format!(
            "cancelled after {} ticks: cleaning up",
            self.ticks.get()
        ));
        if self.slow {
            std::thread::sleep(Duration::from_secs(30));
        }
        say("cleanup done");
    }
}

async fn work(slow: bool, block: bool) -> Result<(), aio::Error> {
    let ticks = Rc::new(Cell::new(0));
    let _cleanup = Cleanup {
        ticks: ticks.clone(),
        slow,
    };
    say("working; press Ctrl-C to stop");
    loop {
        aio::sleep(0.1).await?;
        ticks.set(ticks.get() + 1);
        say(&format!("tick {}", ticks.get()));
        if block {
            say("blocking the loop");
            std::thread::sleep(Duration::from_secs(30));
        }
    }
}

fn main() {
    let slow = std::env::args().any(|arg| arg == "--slow-cleanup");
    let block = std::env::args().any(|arg| arg == "--block");
    match aio::run(work(slow, block)) {
        Err(aio::Error::KeyboardInterrupt) => {
            eprintln!("interrupted");
            std::process::exit(130);
        }
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
        Ok(Err(error)) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
        Ok(Ok(())) => {}
    }
}
