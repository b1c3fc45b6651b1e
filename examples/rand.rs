//! `rand.py` from the seed notes: three `makerandom` coroutines run concurrently, each drawing
//! random integers in `0..=10` until one beats its threshold (9, 8 and 7), sleeping `idx + 1`
//! seconds between draws. Each coroutine prints in its own ANSI color (cyan, red, magenta), so
//! their interleaving shows; `gather` returns the three winners in argument order.
//!
//! The seed calls `random.seed(444)`; this port seeds a small xorshift generator from the
//! clock instead (`rng.rs`), so the draws — and the run time, usually 10 to 30 seconds —
//! change from run to run. One run (12 s; colors not shown):
//!
//! ```text
//! Initiated makerandom(0).
//! ---> Finished: makerandom(0) == 10
//! Initiated makerandom(1).
//! makerandom(1) == 4 too low; retrying.
//! Initiated makerandom(2).
//! makerandom(2) == 7 too low; retrying.
//! ---> Finished: makerandom(1) == 9
//! makerandom(2) == 5 too low; retrying.
//! makerandom(2) == 7 too low; retrying.
//! makerandom(2) == 6 too low; retrying.
//! ---> Finished: makerandom(2) == 8
//!
//! r1: 10, r2: 9, r3: 8
//! ```
//!
//! ```text
//! cargo run --release --example rand
//! ```

#[path = "rng.rs"]
mod rng;

/// ANSI colors: end of color, cyan, red, magenta.
const C: [&str; 4] = ["\x1b[0m", "\x1b[36m", "\x1b[91m", "\x1b[35m"];

async fn makerandom(idx: usize, threshold: u64) -> Result<u64, aio::Error> {
    println!("{}Initiated makerandom({idx}).", C[idx + 1]);
    let mut i = rng::randint(0, 10);
    while i <= threshold {
        println!("{}makerandom({idx}) == {i} too low; retrying.", C[idx + 1]);
        aio::sleep(idx as f64 + 1.0).await?;
        i = rng::randint(0, 10);
    }
    println!(
        "{}---> Finished: makerandom({idx}) == {i}{}",
        C[idx + 1],
        C[0]
    );
    Ok(i)
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    // asyncio.gather(*(makerandom(i, 10 - i - 1) for i in range(3)))
    let res = aio::try_gather((0..3).map(|i| makerandom(i, 10 - i as u64 - 1))).await?;
    let [r1, r2, r3] = res[..] else {
        unreachable!("gather returns one result per coroutine");
    };
    println!();
    println!("r1: {r1}, r2: {r2}, r3: {r3}");
    Ok(())
}
