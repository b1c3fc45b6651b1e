//! A loop sleeping 1 ms at a time, 1,000 times (or the count given as the first argument),
//! under `aio::run` (so with the Ctrl-C wake-up registered): every sleep is one blocking
//! wait of the reactor. `docs/benchmarks.md` counts its system calls per wait with
//! `strace -c -f`.
//!
//! ```text
//! cargo run --release --example sleep_ticks -- 1000
//! ```

use std::time::Instant;

#[aio::main]
async fn main() {
    let ticks: u32 = std::env::args()
        .nth(1)
        .map_or(1000, |arg| arg.parse().expect("a number of ticks"));
    let start = Instant::now();
    for _ in 0..ticks {
        aio::sleep(0.001).await.expect("sleep");
    }
    let reactor = aio::get_running_loop().expect("running").reactor().name();
    println!(
        "{ticks} sleeps of 1 ms on {reactor}: {:.1} ms",
        start.elapsed().as_secs_f64() * 1000.0
    );
}
