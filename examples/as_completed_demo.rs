//! `asyncio.as_completed` from the seed notes: three tasks `foo(1)`, `foo(2)` and `foo(4)`
//! each print "Waiting:" and sleep `n` seconds; iterating `as_completed(tasks)` gives one
//! awaitable per task, and awaiting them yields the results in completion order, each as soon
//! as it is ready (after 1, 2 and 4 seconds). The last line is the elapsed time in seconds,
//! printed like Python's `print(float)`: about 4, not 7.
//!
//! ```text
//! Waiting:  1
//! Waiting:  2
//! Waiting:  4
//! Task ret: 1
//! Task ret: 2
//! Task ret: 4
//! 4.001052583
//! ```
//!
//! ```text
//! cargo run --release --example as_completed_demo
//! ```

use std::time::Instant;

async fn foo(n: u64) -> Result<u64, aio::Error> {
    // print('Waiting: ', n): print's separator adds a second space.
    println!("Waiting:  {n}");
    aio::sleep(n).await?;
    Ok(n)
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let start = Instant::now();
    let coroutine1 = foo(1);
    let coroutine2 = foo(2);
    let coroutine3 = foo(4);

    // asyncio.ensure_future(coroutine): schedule each as a task.
    let tasks = [
        aio::create_task(coroutine1)?,
        aio::create_task(coroutine2)?,
        aio::create_task(coroutine3)?,
    ];
    for task in aio::as_completed(&tasks) {
        // Two layers: the task's own outcome (cancelled, panicked), then `foo`'s `Result`.
        let result = task.await??;
        println!("Task ret: {result}");
    }
    println!("{}", start.elapsed().as_secs_f64());
    Ok(())
}
