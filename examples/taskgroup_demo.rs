//! `asyncio.TaskGroup` (Python 3.11), in the style of the asyncio documentation.
//!
//! 1. Two tasks, `say_after(1, "hello")` and `say_after(2, "world")`, run in a group; the
//!    group's scope ends when both are done (about 2 seconds, not 3), and their results are
//!    read from the task handles afterwards.
//! 2. A group whose second child fails after 1 second: the group cancels the other child
//!    (which would have slept an hour; its cancellation shows as it is dropped) and the scope
//!    fails with a group error (Python's `ExceptionGroup`), printed with each error in it.
//!
//! The run takes about 3 seconds.
//!
//! ```text
//! started at 10:00:00
//! hello
//! world
//! Both tasks have completed now: hello-1, world-2
//! finished at 10:00:02
//! slow child cancelled by the group
//! TaskGroup failed with 1 error(s):
//!   - something went wrong in child 2
//! finished at 10:00:03
//! ```
//!
//! ```text
//! cargo run --release --example taskgroup_demo
//! ```

#[path = "clock.rs"]
mod clock;

use aio::{Error, TaskGroup};

async fn say_after(delay: u64, what: &str) -> Result<String, Error> {
    aio::sleep(delay).await?;
    println!("{what}");
    Ok(format!("{what}-{delay}"))
}

/// Prints when dropped: the slow child's `except CancelledError`.
struct Cancelled(&'static str);

impl Drop for Cancelled {
    fn drop(&mut self) {
        println!("{}", self.0);
    }
}

async fn slow_child() -> Result<(), Error> {
    let guard = Cancelled("slow child cancelled by the group");
    aio::sleep(3600).await?;
    std::mem::forget(guard); // finished: nothing to report
    Ok(())
}

async fn failing_child() -> Result<(), String> {
    aio::sleep(1).await.map_err(|e| e.to_string())?;
    Err("something went wrong in child 2".to_string())
}

#[aio::main]
async fn main() -> Result<(), Error> {
    // async with asyncio.TaskGroup() as tg: task1 = tg.create_task(...); task2 = ...
    println!("started at {}", clock::now());
    let (task1, task2) = TaskGroup::run(|tg| async move {
        let task1 = tg.create_task(say_after(1, "hello"))?;
        let task2 = tg.create_task(say_after(2, "world"))?;
        Ok((task1, task2))
    })
    .await?;
    // The scope has ended: both tasks are done.
    println!(
        "Both tasks have completed now: {}, {}",
        task1.result()?,
        task2.result()?
    );
    println!("finished at {}", clock::now());

    // A failing child cancels its siblings, and the group reports every error.
    let failed = TaskGroup::run(|tg| async move {
        tg.create_task(slow_child())?;
        tg.create_task(failing_child())?;
        Ok(())
    })
    .await;
    match failed {
        Err(Error::Group(errors)) => {
            println!("TaskGroup failed with {} error(s):", errors.len());
            for error in errors.iter() {
                println!("  - {error}");
            }
        }
        other => other?,
    }
    println!("finished at {}", clock::now());
    Ok(())
}
