//! `asyncio.wait_for` from the seed notes: `sleep(5)` — a coroutine that would sleep 5
//! seconds and then print "hello asyncio" — is awaited with a 2-second timeout. The deadline
//! passes first, so the coroutine is dropped without printing (asyncio cancels it) and the
//! program prints the timeout instead, after about 2 seconds.
//!
//! ```text
//! asyncio.TimeoutError
//! ```
//!
//! ```text
//! cargo run --release --example wait_for_demo
//! ```

async fn sleep(second: u64) -> Result<(), aio::Error> {
    aio::sleep(second).await?;
    println!("hello asyncio");
    Ok(())
}

async fn test_timeout(second: u64) -> Result<(), aio::Error> {
    match aio::wait_for(sleep(second), 2).await {
        // The coroutine finished in time: its own outcome.
        Ok(outcome) => outcome,
        Err(aio::Error::Timeout) => {
            println!("asyncio.TimeoutError");
            Ok(())
        }
        Err(other) => Err(other),
    }
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    // Test the timeout.
    test_timeout(5).await
}
