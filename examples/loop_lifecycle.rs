//! Starting and stopping event loops, from the seed notes: `run_until_complete` on a new
//! loop, `aio::run`, then the state queries and `close()` on a loop that never ran.
//!
//! Output (after about 2 × 3 s):
//! ```text
//! sleep() done
//! sleep() done
//! false
//! false
//! true
//! ```
//!
//! ```text
//! cargo run --release --example loop_lifecycle
//! ```

async fn sleep(seconds: u64) -> Result<(), aio::Error> {
    aio::sleep(seconds).await?;
    println!("sleep() done");
    Ok(())
}

fn main() -> Result<(), aio::Error> {
    // Start, case 1: a loop of our own.
    let lp = aio::new_event_loop()?;
    lp.run_until_complete(sleep(3))??;
    lp.close()?;

    // Start, case 2: aio::run.
    aio::run(sleep(3))??;

    // Stop.
    let lp = aio::new_event_loop()?;
    println!("{}", lp.is_closed());
    println!("{}", lp.is_running());
    lp.stop();
    lp.close()?;
    println!("{}", lp.is_closed());
    Ok(())
}
