//! The `call_soon()` / `call_later()` demo from the seed notes: a callback queued for the next
//! iteration, one for a second later, while the main task sleeps two seconds.
//!
//! Output: `Hello call_soon()` at once, `Hello call_later()` after 1 s, exit after 2 s.
//!
//! ```text
//! cargo run --release --example call_soon_later
//! ```

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let lp = aio::get_running_loop()?;
    lp.call_soon(|| println!("Hello call_soon()"))?;
    lp.call_later(1, || println!("Hello call_later()"))?;
    aio::sleep(2).await?;
    Ok(())
}
