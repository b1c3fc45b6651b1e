//! The `Queue` demo of the seed notes (asyncio 笔记, section "Queue"): `producer` fills a
//! bounded queue (`maxsize=30`) with ten `1`s and returns it; `consumer` drains it while it is
//! not empty, sleeping each item's number of seconds and marking it done; `join` then returns
//! at once, since every item was marked done.
//!
//! Expected output (10 s: one line per second, then the last two lines together). The first
//! line's second character, damaged in the notes, is 成 ("task completed"):
//!
//! ```text
//! 完成任务
//! 完成任务
//! 完成任务
//! 完成任务
//! 完成任务
//! 完成任务
//! 完成任务
//! 完成任务
//! 完成任务
//! 完成任务
//! consumer() return
//! 所有任务执行完毕
//! ```
//!
//! ```text
//! cargo run --release --example queue_demo
//! ```

use aio::Queue;

async fn consumer(queue: &Queue<u64>) -> Result<(), aio::Error> {
    while !queue.empty() {
        let second = queue.get().await?;
        aio::sleep(second).await?;
        queue.task_done()?;
        println!("完成任务");
    }
    println!("consumer() return");
    Ok(())
}

async fn producer() -> Result<Queue<u64>, aio::Error> {
    let queue = Queue::new(30);
    for _ in 0..10 {
        queue.put(1).await?;
    }
    Ok(queue)
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let queue = producer().await?;
    consumer(&queue).await?;
    queue.join().await;
    println!("所有任务执行完毕");
    Ok(())
}
