//! A program that is stuck, and says where: its tasks wait on each other, and sending it
//! `SIGUSR1` prints every task — where each is suspended, who awaits it — to stderr, as a
//! table like `python -m asyncio ps` and a tree like `python -m asyncio pstree`, without
//! stopping it.
//!
//! ```text
//! cargo run --example stuck -- [SECONDS]
//! kill -USR1 PID          # from another terminal, as often as you like
//! ```
//!
//! Two workers each hold one lock and want the other's (a deadlock); a consumer waits for a
//! queue nobody fills; a supervisor gathers the three; `main` waits for the supervisor with a
//! time limit (SECONDS, default 60), then cancels everything and exits. It prints its pid
//! and `ready` once every task is parked. A dump looks like this (abridged):
//!
//! ```text
//! ID  NAME        STATE    SUSPENDED AT             AWAITED BY      CREATED AT
//! 1   main        pending  examples/stuck.rs:95:18  -               examples/stuck.rs:64:1
//! 2   left        pending  examples/stuck.rs:53:26  supervisor (5)  examples/stuck.rs:77:16
//! ...
//! └── (T) main [id 1, pending] examples/stuck.rs:95:18
//!     └── (T) supervisor [id 5, pending] examples/stuck.rs:85:9
//!         ├── (T) left [id 2, pending] examples/stuck.rs:53:26
//! ```
//!
//! `AIO_DUMP_SIGNAL=USR2` makes any aio program do the same on that signal, without code.
//! The lines marked `// waits:` below are the ones the dump names (`tests/dump_on_signal.rs`
//! checks it).

use std::io::Write;
use std::rc::Rc;

use aio::signal::SIGUSR1;
use aio::{Event, Lock, Queue, create_task, gather, get_running_loop, sleep, wait_for};

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Takes `first`, tells `holding` it does, waits for the other worker to hold its own, then
/// wants `second`: each worker holds what the other wants.
async fn worker(
    first: Rc<Lock>,
    second: Rc<Lock>,
    holding: Rc<Event>,
    other_holding: Rc<Event>,
) -> Result<(), aio::Error> {
    let _mine = first.acquire().await;
    holding.set();
    other_holding.wait().await;
    let _theirs = second.acquire().await; // waits: worker
    Ok(())
}

async fn consumer(queue: Rc<Queue<String>>) -> Result<(), aio::Error> {
    loop {
        let item = queue.get().await?; // waits: consumer
        say(&format!("consumed {item}"));
    }
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(60.0);
    aio::current_task()
        .expect("main runs as a task")
        .set_name("main");
    get_running_loop()?.dump_on_signal(SIGUSR1)?;

    let (a, b) = (Rc::new(Lock::new()), Rc::new(Lock::new()));
    let (a_held, b_held) = (Rc::new(Event::new()), Rc::new(Event::new()));
    let left = create_task(worker(a.clone(), b.clone(), a_held.clone(), b_held.clone()))?;
    left.set_name("left");
    let right = create_task(worker(b, a, b_held, a_held))?;
    right.set_name("right");
    let queue = Rc::new(Queue::new(0));
    let eater = create_task(consumer(queue.clone()))?;
    eater.set_name("consumer");
    let supervisor = create_task(async move {
        gather([&left, &right, &eater]).await // waits: supervisor
    })?;
    supervisor.set_name("supervisor");

    // Let every task reach its wait, then tell whoever watches.
    for _ in 0..10 {
        sleep(0).await?;
    }
    say(&format!("pid {}", std::process::id()));
    say("ready");
    let waited = wait_for(supervisor, seconds).await; // waits: main
    match waited {
        Err(aio::Error::Timeout) => say("gave up waiting: still stuck"),
        other => say(&format!("finished: {other:?}")),
    }
    Ok(())
}
