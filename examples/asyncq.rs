//! `asyncq.py` from the seed notes: producers and consumers over an `aio::Queue`.
//!
//! Each of the `-p` producers (default 5) puts a random `0..=10` items into an unbounded
//! queue, sleeping a random `0..=10` seconds before each; an item is a random 5-byte hex
//! string (`makeitem`) and the instant it was put. Each of the `-c` consumers (default 10)
//! loops forever: sleep a random `0..=10` seconds, `get` an item, print how long it sat in the
//! queue, `task_done`. `main` gathers the producers, then `q.join()` waits until every item
//! was processed (implicitly waiting for the consumers), and cancels the consumers, which are
//! still blocked in `sleep` or `get`. The program takes as long as the last item needs to be
//! produced and consumed, at most about 110 seconds.
//!
//! The flags follow the seed's `argparse`: `-p N` / `--nprod N` / `--nprod=N` / `-pN`, and the
//! same for `-c` / `--ncon`; unique prefixes such as `--np` and `--nc` also work, as with
//! argparse (which is how the second seed's `--np 2 --nc 5` runs). The seed calls
//! `random.seed(444)` and uses `os.urandom`; this port draws everything from a small xorshift
//! generator seeded from the clock (`rng.rs`), so every run differs. One run of
//! `cargo run --release --example asyncq -- -p 2 -c 5` (9 s):
//!
//! ```text
//! Producer 0 sleeping for 3 seconds.
//! Producer 1 sleeping for 3 seconds.
//! Consumer 0 sleeping for 4 seconds.
//! Consumer 1 sleeping for 3 seconds.
//! Consumer 2 sleeping for 3 seconds.
//! Consumer 3 sleeping for 5 seconds.
//! Consumer 4 sleeping for 4 seconds.
//! Producer 0 added <377b1e8f82> to queue.
//! Producer 0 sleeping for 5 seconds.
//! Producer 1 added <413b8802f8> to queue.
//! Consumer 1 got element <377b1e8f82> in 0.00013 seconds.
//! Consumer 1 sleeping for 3 seconds.
//! Consumer 2 got element <413b8802f8> in 0.00009 seconds.
//! Consumer 2 sleeping for 4 seconds.
//! Producer 0 added <06c055b3ab> to queue.
//! Producer 0 sleeping for 1 seconds.
//! Consumer 0 got element <06c055b3ab> in 0.00021 seconds.
//! Consumer 0 sleeping for 4 seconds.
//! Producer 0 added <17a8613276> to queue.
//! Consumer 4 got element <17a8613276> in 0.00022 seconds.
//! Consumer 4 sleeping for 5 seconds.
//! Program completed in 9.00954 seconds.
//! ```
//!
//! ```text
//! cargo run --release --example asyncq -- -p 2 -c 5
//! ```

use std::rc::Rc;
use std::time::Instant;

use aio::Queue;

#[path = "rng.rs"]
mod rng;

/// A queued item: the random string and the instant it was put (`(i, t)` in the seed).
type Item = (String, Instant);

/// `os.urandom(size).hex()`.
async fn makeitem(size: usize) -> String {
    (0..size)
        .map(|_| format!("{:02x}", rng::randint(0, 255)))
        .collect()
}

async fn randsleep(caller: Option<&str>) -> Result<(), aio::Error> {
    let i = rng::randint(0, 10);
    if let Some(caller) = caller {
        println!("{caller} sleeping for {i} seconds.");
    }
    aio::sleep(i).await?;
    Ok(())
}

async fn produce(name: usize, q: Rc<Queue<Item>>) -> Result<(), aio::Error> {
    let n = rng::randint(0, 10);
    for _ in 0..n {
        // Synchronous loop for each single producer.
        randsleep(Some(&format!("Producer {name}"))).await?;
        let i = makeitem(5).await;
        let t = Instant::now();
        q.put((i.clone(), t)).await?;
        println!("Producer {name} added <{i}> to queue.");
    }
    Ok(())
}

async fn consume(name: usize, q: Rc<Queue<Item>>) -> Result<(), aio::Error> {
    loop {
        randsleep(Some(&format!("Consumer {name}"))).await?;
        let (i, t) = q.get().await?;
        let now = Instant::now();
        println!(
            "Consumer {name} got element <{i}> in {:0.5} seconds.",
            (now - t).as_secs_f64()
        );
        q.task_done()?;
    }
}

async fn main_task(nprod: usize, ncon: usize) -> Result<(), aio::Error> {
    let q = Rc::new(Queue::new(0));
    let producers = (0..nprod)
        .map(|n| aio::create_task(produce(n, q.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    let consumers = (0..ncon)
        .map(|n| aio::create_task(consume(n, q.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    for outcome in aio::gather(&producers).await? {
        outcome?;
    }
    q.join().await; // Implicitly awaits consumers, too
    for c in consumers {
        c.cancel(None);
    }
    Ok(())
}

const USAGE: &str = "usage: asyncq [-h] [-p NPROD] [-c NCON]";

/// Exits like argparse on a command-line error: usage and message on stderr, status 2.
fn usage_error(message: &str) -> ! {
    eprintln!("{USAGE}\nasyncq: error: {message}");
    std::process::exit(2);
}

/// The seed's `argparse` setup: `-p/--nprod` (default 5) and `-c/--ncon` (default 10).
fn parse_args() -> (usize, usize) {
    let (mut nprod, mut ncon) = (5, 10);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            println!(
                "{USAGE}\n\noptions:\n  -h, --help            show this help message and exit\n  \
                 -p NPROD, --nprod NPROD\n  -c NCON, --ncon NCON"
            );
            std::process::exit(0);
        }
        // Which option, and its value if attached (`-p2`, `--nprod=2`).
        let (long, attached) = match arg.split_once('=') {
            Some((opt, value)) if arg.starts_with("--") => (opt.to_owned(), Some(value.into())),
            _ if arg.starts_with("--") => (arg.clone(), None),
            _ if arg.starts_with("-p") || arg.starts_with("-c") => {
                let value = (arg.len() > 2).then(|| arg[2..].to_owned());
                (
                    if arg.starts_with("-p") {
                        "--nprod"
                    } else {
                        "--ncon"
                    }
                    .to_owned(),
                    value,
                )
            }
            _ => usage_error(&format!("unrecognized arguments: {arg}")),
        };
        // argparse accepts any unambiguous prefix of a long option (`--np`, `--nc`).
        let (name, target) = if long.len() > 3 && "--nprod".starts_with(&long) {
            ("-p/--nprod", &mut nprod)
        } else if long.len() > 3 && "--ncon".starts_with(&long) {
            ("-c/--ncon", &mut ncon)
        } else if long.len() > 2 && "--nprod".starts_with(&long) {
            usage_error(&format!(
                "ambiguous option: {long} could match --nprod, --ncon"
            ))
        } else {
            usage_error(&format!("unrecognized arguments: {arg}"))
        };
        let Some(value) = attached.or_else(|| args.next()) else {
            usage_error(&format!("argument {name}: expected one argument"))
        };
        // Python's `range(n)` is empty for a negative `n`.
        *target = match value.trim().parse::<i64>() {
            Ok(n) => usize::try_from(n).unwrap_or(0),
            Err(_) => usage_error(&format!("argument {name}: invalid int value: '{value}'")),
        };
    }
    (nprod, ncon)
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let (nprod, ncon) = parse_args();
    let start = Instant::now();
    main_task(nprod, ncon).await?;
    let elapsed = start.elapsed().as_secs_f64();
    println!("Program completed in {elapsed:0.5} seconds.");
    Ok(())
}
