//! `chained.py` from the seed notes: chaining coroutines. For each argument `n`, `chain(n)`
//! awaits `part1(n)` and then `part2(n, result)`, each sleeping a random `0..=10` seconds;
//! `gather` runs the chains concurrently, so `part2` of one chain starts as soon as its own
//! `part1` is done, and the whole program takes as long as the *longest chain* — the maximum
//! of the per-chain `part1 + part2` times, not their sum.
//!
//! The arguments are the chain numbers (default `9 6 3`; the seed's default is `1 2 3`). The
//! seed calls `random.seed(444)`; this port seeds a small xorshift generator from the clock
//! (`rng.rs`), so the sleeps change from run to run. One run of
//! `cargo run --release --example chained -- 9 6 3` (16 s = 6 + 10, the longest chain, while
//! the three chains sum to 41 s):
//!
//! ```text
//! part1(9) sleeping for 6 seconds.
//! part1(6) sleeping for 8 seconds.
//! part1(3) sleeping for 10 seconds.
//! Returning part1(9) == result9-1.
//! part2(9, 'result9-1') sleeping for 10 seconds.
//! Returning part1(6) == result6-1.
//! part2(6, 'result6-1') sleeping for 5 seconds.
//! Returning part1(3) == result3-1.
//! part2(3, 'result3-1') sleeping for 2 seconds.
//! Returning part2(3, 'result3-1') == result3-2 derived from result3-1.
//! -->Chained result3 => result3-2 derived from result3-1 (took 12.00 seconds).
//! Returning part2(6, 'result6-1') == result6-2 derived from result6-1.
//! -->Chained result6 => result6-2 derived from result6-1 (took 13.00 seconds).
//! Returning part2(9, 'result9-1') == result9-2 derived from result9-1.
//! -->Chained result9 => result9-2 derived from result9-1 (took 16.00 seconds).
//! Program finished in 16.00 seconds.
//! ```
//!
//! ```text
//! cargo run --release --example chained -- 9 6 3
//! ```

use std::time::Instant;

#[path = "rng.rs"]
mod rng;

async fn part1(n: i64) -> Result<String, aio::Error> {
    let i = rng::randint(0, 10);
    println!("part1({n}) sleeping for {i} seconds.");
    aio::sleep(i).await?;
    let result = format!("result{n}-1");
    println!("Returning part1({n}) == {result}.");
    Ok(result)
}

async fn part2(n: i64, arg: &str) -> Result<String, aio::Error> {
    let i = rng::randint(0, 10);
    // Python prints the tuple `(n, arg)`: `part2(9, 'result9-1')`.
    println!("part2({n}, '{arg}') sleeping for {i} seconds.");
    aio::sleep(i).await?;
    let result = format!("result{n}-2 derived from {arg}");
    println!("Returning part2({n}, '{arg}') == {result}.");
    Ok(result)
}

async fn chain(n: i64) -> Result<(), aio::Error> {
    let start = Instant::now();
    let p1 = part1(n).await?;
    let p2 = part2(n, &p1).await?;
    let end = start.elapsed().as_secs_f64();
    println!("-->Chained result{n} => {p2} (took {end:0.2} seconds).");
    Ok(())
}

#[aio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<i64> = if args.is_empty() {
        vec![9, 6, 3]
    } else {
        args.iter()
            .map(|a| {
                a.parse()
                    .map_err(|e| format!("invalid chain number {a:?}: {e}"))
            })
            .collect::<Result<_, _>>()?
    };
    let start = Instant::now();
    // asyncio.gather(*(chain(n) for n in args))
    aio::try_gather(args.into_iter().map(chain)).await?;
    let end = start.elapsed().as_secs_f64();
    println!("Program finished in {end:0.2} seconds.");
    Ok(())
}
