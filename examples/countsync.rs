//! `countsync.py`, the blocking counterpart of `countasync`: each `count()` blocks the thread
//! for its one-second sleep, so the output alternates One/Two and the run takes about 3 s.
//!
//! ```text
//! cargo run --release --example countsync
//! ```

use std::time::{Duration, Instant};

fn count() {
    println!("One");
    std::thread::sleep(Duration::from_secs(1));
    println!("Two");
}

fn main() {
    let start = Instant::now();
    for _ in 0..3 {
        count();
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!("countsync.rs executed in {elapsed:0.2} seconds.");
}
