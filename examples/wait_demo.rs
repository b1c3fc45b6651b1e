//! `asyncio.wait(tasks, timeout=0.5)` from the seed notes: ten coroutines `num(n)` sleep
//! `n * 0.1` seconds. After 0.5 s `wait` returns the finished ones (0 to 4) and the pending
//! ones (5 to 9) without cancelling anything; the program prints each finished result, then
//! cancels the pending tasks, and each of those reports its cancellation ("数字n被取消",
//! "number n was cancelled") as it is dropped. The seed drives the loop by hand
//! (`new_event_loop` / `run_until_complete` / `close`); `#[aio::main]` does the same: a new
//! loop, the main task run to completion, the loop closed. The run takes about 0.5 seconds.
//!
//! Python's `except asyncio.CancelledError: print(...); raise` becomes a guard whose `Drop`
//! prints: cancelling an aio task drops its future. Python returns `done` and `pending` as
//! sets, so its order varies; here they are in argument order.
//!
//! ```text
//! 当前数字 0
//! 当前数字 1
//! 当前数字 2
//! 当前数字 3
//! 当前数字 4
//! 取消未完成的任务
//! 数字5被取消
//! 数字6被取消
//! 数字7被取消
//! 数字8被取消
//! 数字9被取消
//! ```
//!
//! ```text
//! cargo run --release --example wait_demo
//! ```

/// Prints the cancellation message when dropped before `num` finished.
struct CancelledGuard {
    n: Option<u32>,
}

impl Drop for CancelledGuard {
    fn drop(&mut self) {
        if let Some(n) = self.n {
            println!("数字{n}被取消");
        }
    }
}

async fn num(n: u32) -> Result<u32, aio::Error> {
    let mut guard = CancelledGuard { n: Some(n) };
    let slept = aio::sleep(f64::from(n) * 0.1).await;
    guard.n = None; // finished (or failed): not cancelled
    slept?;
    Ok(n)
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let tasks = (0..10).map(num);
    let (complete, pending) = aio::wait(tasks).timeout(0.5).await?;
    for i in &complete {
        println!("当前数字 {}", i.result()??);
    }
    if !pending.is_empty() {
        println!("取消未完成的任务");
        for p in &pending {
            p.cancel(None);
        }
    }
    Ok(())
}
