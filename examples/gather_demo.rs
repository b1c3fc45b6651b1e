//! `asyncio.gather` from the seed notes, in its two forms: gathering two *tasks* created with
//! `create_task`, then gathering two *coroutines* (which gather wraps in tasks itself). Either
//! way `say_after(1, "hello")` and `say_after(2, "world")` run concurrently, each part takes
//! about 2 seconds (not 3), and the results come back in argument order as a list — printed
//! as Python prints it. The two parts are separate programs in the seed; here they run one
//! after the other, each under a `#` heading, for about 4 seconds in all.
//!
//! ```text
//! # gather(task1, task2)
//! started at 10:00:00
//! ['hello-1', 'world-2']
//! finished at 10:00:02
//! # gather(say_after(1, 'hello'), say_after(2, 'world'))
//! started at 10:00:02
//! ['hello-1', 'world-2']
//! finished at 10:00:04
//! ```
//!
//! ```text
//! cargo run --release --example gather_demo
//! ```

#[path = "clock.rs"]
mod clock;

async fn say_after(delay: u64, what: &str) -> Result<String, aio::Error> {
    aio::sleep(delay).await?;
    Ok(format!("{what}-{delay}"))
}

/// A list of strings as Python's `print(list)` shows it: `['a', 'b']`.
fn py_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// `gather` with tasks as arguments.
async fn with_tasks() -> Result<(), aio::Error> {
    let task1 = aio::create_task(say_after(1, "hello"))?;
    let task2 = aio::create_task(say_after(2, "world"))?;

    println!("started at {}", clock::now());
    let ret: Vec<String> = aio::gather([&task1, &task2])
        .await?
        .into_iter()
        .collect::<Result<_, _>>()?;
    println!("{}", py_list(&ret));
    println!("finished at {}", clock::now());
    Ok(())
}

/// `gather` with coroutines as arguments: it turns them into tasks.
async fn with_coroutines() -> Result<(), aio::Error> {
    println!("started at {}", clock::now());
    let ret = aio::try_gather([say_after(1, "hello"), say_after(2, "world")]).await?;
    println!("{}", py_list(&ret));
    println!("finished at {}", clock::now());
    Ok(())
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    println!("# gather(task1, task2)");
    with_tasks().await?;
    println!("# gather(say_after(1, 'hello'), say_after(2, 'world'))");
    with_coroutines().await?;
    Ok(())
}
