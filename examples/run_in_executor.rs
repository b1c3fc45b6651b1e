//! `loop.run_in_executor` from the seed notes: blocking work runs on other threads while the
//! event loop stays free.
//!
//! 1. `blocking_io` reads a file and prints it, on a thread pool of 4 workers; the loop
//!    awaits the result without blocking.
//! 2. `cpu_bound` (the sum of `i * i` for `i` in `0..10**7`, 333333283333335000000) runs in
//!    an executor while `gather` also runs the coroutine `before_cpu_bound`, which prints its
//!    message *before* `cpu_bound` prints its sum: the loop keeps running while the CPU work
//!    happens elsewhere. The message is the seed's, "在 before_cpu_bound() 完成之前执行了"
//!    ("ran before before_cpu_bound() finished"); the seed's copy of it lost two characters
//!    to an encoding error, restored here from the original post.
//!
//! The seed reads `/Users/tiger/develop/tmp/demo1.txt`; this port reads the file named by its
//! first argument, or else writes a small demo file (`aio_demo1_PID.txt`) to the temp
//! directory, reads that, and removes it. The seed runs `cpu_bound` on a
//! `ProcessPoolExecutor`; aio has no process pool, so it runs on a second
//! `ThreadPoolExecutor` (Rust has no GIL, so a thread gives the same parallelism). The run
//! takes about 20 milliseconds.
//!
//! ```text
//! hello from demo1.txt
//!
//! 在 before_cpu_bound() 完成之前执行了
//! 333333283333335000000
//! ```
//!
//! ```text
//! cargo run --release --example run_in_executor
//! ```

use std::hint::black_box;
use std::path::PathBuf;

fn blocking_io(file: &PathBuf) -> std::io::Result<()> {
    let result = std::fs::read_to_string(file)?;
    println!("{result}");
    Ok(())
}

fn cpu_bound() {
    // `black_box` keeps the compiler from replacing the loop with the closed-form sum, which
    // would leave no CPU work to overlap with. The sum needs more than 64 bits.
    let result: u128 = (0..black_box(10u128.pow(7)))
        .map(|i| black_box(i) * i)
        .sum();
    println!("{result}");
}

async fn before_cpu_bound() {
    println!("在 before_cpu_bound() 完成之前执行了");
}

async fn main_task(file: PathBuf) -> Result<(), aio::Error> {
    // Blocking I/O goes to a thread pool.
    let thread_pool = aio::ThreadPoolExecutor::new(4);
    aio::run_in_executor(Some(&thread_pool), move || blocking_io(&file)).await??;

    // CPU-bound work goes to another pool, to show that the loop keeps running meanwhile.
    let process_pool = aio::ThreadPoolExecutor::new(4);
    let (cpu, ()) = aio::gather!(
        aio::run_in_executor(Some(&process_pool), cpu_bound),
        before_cpu_bound(), // finishes before cpu_bound()
    )
    .await?;
    cpu?;
    thread_pool.shutdown(false);
    process_pool.shutdown(false);
    Ok(())
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let (file, temporary) = match std::env::args_os().nth(1) {
        Some(path) => (PathBuf::from(path), false),
        None => {
            let path = std::env::temp_dir().join(format!("aio_demo1_{}.txt", std::process::id()));
            std::fs::write(&path, "hello from demo1.txt\n")?;
            (path, true)
        }
    };
    let outcome = main_task(file.clone()).await;
    if temporary {
        std::fs::remove_file(&file)?;
    }
    outcome
}
