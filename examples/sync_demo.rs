//! The synchronization primitives of the seed notes (asyncio 笔记, section 协程同步): the
//! notes only sketch them (`async with lock: pass`, `await cond.wait_for(...)`, and `pass`
//! for `Event` and `Semaphore`), so this demo gives each a small, deterministic scene.
//!
//! - **Event**: three waiters block in `wait()`; one `set()` wakes them all, in arrival
//!   order; `wait()` on a set event returns at once.
//! - **Condition**: two consumers `wait_for(stock > 0)` on a shared counter. `notify_all()`
//!   with one item wakes both: the first takes the item, the second re-checks the predicate,
//!   finds the stock empty and waits again until a `notify(1)` with a second item.
//! - **Lock**: three workers do a read-sleep-write increment of a shared counter; holding the
//!   lock (`async with lock:` is a guard here) serializes them in arrival order, and the
//!   counter ends at 3; without the lock, all three read 0 and it ends at 1.
//! - **Semaphore**: five jobs of different lengths share a `Semaphore(2)`; never more than two
//!   run at once, and each freed permit goes to the next job in line.
//!
//! Expected output (1.0 s; the times are seconds since the scene began):
//!
//! ```text
//! --- Event ---
//! waiter 0 waits for the event
//! waiter 1 waits for the event
//! waiter 2 waits for the event
//! t=0.1 set()
//! waiter 0 woke up
//! waiter 1 woke up
//! waiter 2 woke up
//! wait() on a set event returns at once
//! --- Condition ---
//! consumer A checks: stock = 0, waits
//! consumer B checks: stock = 0, waits
//! t=0.1 producer: stock = 1, notify_all()
//! consumer A checks: stock = 1
//! consumer A takes an item, stock = 0
//! consumer B checks: stock = 0, waits
//! t=0.2 producer: stock = 1, notify(1)
//! consumer B checks: stock = 1
//! consumer B takes an item, stock = 0
//! --- Lock ---
//! worker 0 enters the critical section
//! worker 0 leaves, counter = 1
//! worker 1 enters the critical section
//! worker 1 leaves, counter = 2
//! worker 2 enters the critical section
//! worker 2 leaves, counter = 3
//! with the lock: counter = 3; without it: counter = 1
//! --- Semaphore ---
//! t=0.0 job 0 starts (0.3 s), running: 1
//! t=0.0 job 1 starts (0.1 s), running: 2
//! t=0.1 job 1 done
//! t=0.1 job 2 starts (0.1 s), running: 2
//! t=0.2 job 2 done
//! t=0.2 job 3 starts (0.3 s), running: 2
//! t=0.3 job 0 done
//! t=0.3 job 4 starts (0.1 s), running: 2
//! t=0.4 job 4 done
//! t=0.5 job 3 done
//! ```
//!
//! ```text
//! cargo run --release --example sync_demo
//! ```

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use aio::{Condition, Event, Lock, Semaphore};

/// Seconds since `start`, for the `t=` stamps.
fn t(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

async fn event_scene() -> Result<(), aio::Error> {
    println!("--- Event ---");
    let start = Instant::now();
    let event = Rc::new(Event::new());
    let waiters = (0..3)
        .map(|n| {
            let event = event.clone();
            aio::create_task(async move {
                println!("waiter {n} waits for the event");
                event.wait().await;
                println!("waiter {n} woke up");
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    aio::sleep(0.1).await?;
    println!("t={:.1} set()", t(start));
    event.set();
    for waiter in waiters {
        waiter.await?;
    }
    event.wait().await;
    println!("wait() on a set event returns at once");
    Ok(())
}

async fn consumer(name: char, cond: Rc<Condition>, stock: Rc<Cell<u32>>) -> Result<(), aio::Error> {
    let guard = cond.acquire().await;
    let (guard, _) = cond
        .wait_for(guard, || {
            let s = stock.get();
            println!(
                "consumer {name} checks: stock = {s}{}",
                if s == 0 { ", waits" } else { "" }
            );
            s > 0
        })
        .await?;
    stock.set(stock.get() - 1);
    println!("consumer {name} takes an item, stock = {}", stock.get());
    drop(guard);
    Ok(())
}

async fn condition_scene() -> Result<(), aio::Error> {
    println!("--- Condition ---");
    let start = Instant::now();
    let cond = Rc::new(Condition::new());
    let stock = Rc::new(Cell::new(0));
    let a = aio::create_task(consumer('A', cond.clone(), stock.clone()))?;
    let b = aio::create_task(consumer('B', cond.clone(), stock.clone()))?;

    aio::sleep(0.1).await?;
    let guard = cond.acquire().await;
    stock.set(stock.get() + 1);
    println!(
        "t={:.1} producer: stock = {}, notify_all()",
        t(start),
        stock.get()
    );
    cond.notify_all(&guard)?;
    drop(guard);

    aio::sleep(0.1).await?;
    let guard = cond.acquire().await;
    stock.set(stock.get() + 1);
    println!(
        "t={:.1} producer: stock = {}, notify(1)",
        t(start),
        stock.get()
    );
    cond.notify(&guard, 1)?;
    drop(guard);

    a.await??;
    b.await??;
    Ok(())
}

/// A read-sleep-write increment of `counter`, inside `lock` if one is given.
async fn increment(
    n: usize,
    lock: Option<Rc<Lock>>,
    counter: Rc<Cell<u32>>,
) -> Result<(), aio::Error> {
    let guard = match &lock {
        Some(lock) => Some(lock.acquire().await),
        None => None,
    };
    if guard.is_some() {
        println!("worker {n} enters the critical section");
    }
    let value = counter.get();
    // Another task may run here; only the lock keeps it out of the critical section.
    aio::sleep(0.05).await?;
    counter.set(value + 1);
    if guard.is_some() {
        println!("worker {n} leaves, counter = {}", counter.get());
    }
    Ok(())
}

async fn lock_scene() -> Result<(), aio::Error> {
    println!("--- Lock ---");
    let lock = Rc::new(Lock::new());
    let locked = Rc::new(Cell::new(0));
    for outcome in
        aio::gather((0..3).map(|n| increment(n, Some(lock.clone()), locked.clone()))).await?
    {
        outcome?;
    }
    let unlocked = Rc::new(Cell::new(0));
    for outcome in aio::gather((0..3).map(|n| increment(n, None, unlocked.clone()))).await? {
        outcome?;
    }
    println!(
        "with the lock: counter = {}; without it: counter = {}",
        locked.get(),
        unlocked.get()
    );
    Ok(())
}

async fn job(
    n: usize,
    seconds: f64,
    sem: Rc<Semaphore>,
    running: Rc<Cell<u32>>,
    start: Instant,
) -> Result<(), aio::Error> {
    let permit = sem.acquire().await;
    running.set(running.get() + 1);
    println!(
        "t={:.1} job {n} starts ({seconds} s), running: {}",
        t(start),
        running.get()
    );
    aio::sleep(seconds).await?;
    running.set(running.get() - 1);
    println!("t={:.1} job {n} done", t(start));
    drop(permit);
    Ok(())
}

async fn semaphore_scene() -> Result<(), aio::Error> {
    println!("--- Semaphore ---");
    let start = Instant::now();
    let sem = Rc::new(Semaphore::new(2));
    let running = Rc::new(Cell::new(0));
    let lengths = [0.3, 0.1, 0.1, 0.3, 0.1];
    let jobs = lengths
        .iter()
        .enumerate()
        .map(|(n, &seconds)| job(n, seconds, sem.clone(), running.clone(), start));
    for outcome in aio::gather(jobs).await? {
        outcome?;
    }
    Ok(())
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    event_scene().await?;
    condition_scene().await?;
    lock_scene().await?;
    semaphore_scene().await
}
