//! `say_after` with `create_task`, from the seed notes: two tasks sleeping 1 s and 2 s run
//! concurrently, so "hello" comes after 1 s, "world" after 2 s, and the whole run takes about
//! 2 seconds, not 3 (compare `say_after_await`, which awaits the coroutines one by one).
//!
//! ```text
//! cargo run --release --example say_after
//! ```

#[path = "clock.rs"]
mod clock;

async fn say_after(delay: u64, what: &str) -> Result<(), aio::Error> {
    aio::sleep(delay).await?;
    println!("{what}");
    Ok(())
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let task1 = aio::create_task(say_after(1, "hello"))?;
    let task2 = aio::create_task(say_after(2, "world"))?;

    println!("started at {}", clock::now());
    task1.await??;
    task2.await??;
    println!("finished at {}", clock::now());
    Ok(())
}
