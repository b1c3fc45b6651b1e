//! `say_after` awaited directly, from the seed notes: awaiting one coroutine after the other
//! runs them in sequence, so the run takes about 3 seconds (compare `say_after`).
//!
//! ```text
//! cargo run --release --example say_after_await
//! ```

#[path = "clock.rs"]
mod clock;

async fn say_after(delay: u64, what: &str) -> Result<String, aio::Error> {
    aio::sleep(delay).await?;
    println!("{what}");
    Ok(format!("{what}-{delay}"))
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    println!("started at {}", clock::now());
    say_after(1, "hello").await?;
    say_after(2, "world").await?;
    println!("finished at {}", clock::now());
    Ok(())
}
