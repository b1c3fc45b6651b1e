//! Getting event loops, from the seed notes: the running loop is the same loop wherever it
//! is fetched from, and a new loop is a different one.
//!
//! Output:
//! ```text
//! true
//! false
//! ```
//!
//! ```text
//! cargo run --release --example loop_identity
//! ```

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let loop1 = aio::get_running_loop()?;
    let loop2 = aio::current_task()
        .and_then(|_| aio::get_running_loop().ok())
        .expect("inside a task, on a running loop");
    let loop3 = aio::new_event_loop()?;
    println!("{}", loop1.same(&loop2));
    println!("{}", loop1.same(&loop2) && loop2.same(&loop3));
    Ok(())
}
