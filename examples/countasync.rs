//! `countasync.py` from the seed notes: three coroutines that each print "One", sleep one
//! second without blocking, and print "Two". All three "One"s come first, then the "Two"s,
//! and the whole run takes about 1 second, not 3 (compare `countsync`).
//!
//! ```text
//! cargo run --release --example countasync
//! ```

use std::time::Instant;

async fn count() -> Result<(), aio::Error> {
    println!("One");
    aio::sleep(1).await?;
    println!("Two");
    Ok(())
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let start = Instant::now();
    // asyncio.gather(count(), count(), count())
    aio::try_gather([count(), count(), count()]).await?;
    let elapsed = start.elapsed().as_secs_f64();
    println!("countasync.rs executed in {elapsed:0.2} seconds.");
    Ok(())
}
