//! aio against tokio (`current_thread`) and smol (`LocalExecutor`), on the same workloads, in
//! one run of one binary.
//!
//! ```text
//! cargo bench -p aio-benches                  # everything (well over a minute once built)
//! cargo bench -p aio-benches -- yield socket  # only the workloads whose key contains a word
//! ```
//!
//! Workload keys, in the order they run (see `docs/benchmarks.md` for the results):
//!
//! | key | workload | reported |
//! | --- | --- | --- |
//! | `spawn` | spawn 200,000 trivial tasks, then await them all | tasks/s |
//! | `spawn-each` | spawn one trivial task and await it, 200,000 times in a row | tasks/s |
//! | `gather` | gather 100,000 trivial tasks (aio `gather`; tokio and smol: spawn all, await every handle in order) | tasks/s |
//! | `yield` | 1,000 tasks × 1,000 yields each (aio `sleep(0)`, tokio `yield_now`, smol `yield_now`) | yields/s |
//! | `ping-pong` | two tasks waking each other 500,000 times through the same hand-written `!Send` signal | round trips/s |
//! | `sparse` | 1,000 tasks sleeping until distinct deadlines ~1 ms apart (with jitter) over ~1 s; how late each wakes | mean and p99 lateness, µs |
//! | `burst` | 100,000 tasks spawned at once, each sleeping a pseudo-random 1–100 ms from its own start; how late each wakes | mean and p99 lateness, µs |
//! | `cancel` | 1,000,000 long timers created, polled once (registered), dropped (cancelled), then one yield so lazy purging runs | timers/s |
//! | `wait_for_ready` | 1,000,000 `wait_for`s in a row in one task, each around a ready future with a 1 s timeout (aio `wait_for`, tokio `time::timeout`, smol `or` with a `Timer`), then one yield | calls/s |
//! | `wait_for_sleeping` | the same, 500,000 times, around a future that is pending once (it wakes itself): the timeout's timer is registered, then cancelled | calls/s |
//! | `memory` | 100,000 tasks parked in a 1-hour sleep; resident-memory growth per task, in a fresh child process per runtime | bytes/task |
//! | `socket` | two tasks ping-ponging one byte 100,000 times over a Unix socket pair; aio on its default epoll reactor, and on `polling` in both modes (its own table) | round trips/s |
//! | `registered` | `ping-pong` and `yield` on aio's default loop, bare and with one idle socket registered (as `aio::run` registers its Ctrl-C wake-up) | its own table |
//! | `lock` | 100 tasks × 10,000 acquisitions of one lock (aio `Lock`, tokio `Mutex`, async-lock `Mutex`), bumping a shared counter | acquisitions/s |
//! | `queue` | 4 producers and 4 consumers moving 2,000,000 items through one bounded queue of 128 (aio `Queue`, async-channel `bounded`; tokio: `mpsc`, one consumer) | items/s |
//! | `queue-pingpong` | two tasks passing a number back and forth 500,000 times through two queues of size 1 | round trips/s |
//! | `to_thread` | 20,000 trivial closures sent to the blocking-thread pool and awaited one after another (aio `to_thread`, tokio `spawn_blocking`, smol `unblock`) | round trips/s |
//! | `small-frames` | a thread sends 16 MiB of 32-byte lines over one loopback TCP connection; the runtime reads it as 16-byte `readexactly` (tokio, smol: `read_exact` on a `BufReader`), then as 16-byte `readexactly_into` a reused array (aio's read without the `Vec`; tokio and smol: the same `read_exact` again), then as `readline` (`read_line` on a `BufReader`), then as `readline_into` a reused `Vec` (tokio, smol: the same `read_line` into a reused `String`) | frames/s, lines/s |
//! | `echo` | TCP echo, 50 connections × 2,000 round trips of 64 bytes, against aio / tokio / raw epoll servers, driven by one epoll client thread (`ECHO_CLIENT=tokio`: the earlier tokio client); also the server and client threads' CPU per round trip, over 3 longer runs of 50 × 10,000 | round trips/s, µs |
//! | `echo-protocol`, `echo-buffered` | the `echo` workload (same client and runs) on aio's protocol layer: `create_server` with a `Protocol` echoing in `data_received`, and with a `BufferedProtocol`; beside the streams server and the raw epoll server, with each one's server user CPU per round trip against raw epoll's (either key runs both; `echo` selects them too) | its own table |
//! | `bulk` | one TCP connection, the client sends up to 512 MiB (3 s at most), the server reads and discards | GB/s |
//! | `http` | `examples/http_hello.rs`'s handler on aio and the same HTTP/1.1 logic on tokio (`http.rs`), 50 keep-alive connections × 2,000 `GET`s each from one epoll client thread; server thread CPU (user + system) per request over all runs | requests/s, µs |
//! | `conn-memory` | 10,000 idle TCP connections held by the server; resident-memory growth per connection, in a fresh server child process | bytes/connection |
//! | `process` | spawn `/bin/true` 500 times, 10 spawn + wait at a time (10 worker tasks × 50 in a row), stdio to `/dev/null` | spawns/s |
//! | `per-core` | scaling with cores (`per_core.rs`): an HTTP keep-alive server doing 50 µs of calibrated CPU work per request, on `aio::LoopGroup` with 1 and 2 loops (`SO_REUSEPORT`) and on tokio's multi-thread runtime with 1 and 2 workers; one epoll client, 50 connections, 1.5 s per run, 5 runs interleaved | its own table (requests/s, 2-vs-1 ratio) |
//! | `uring` | aio's two reactors side by side, tokio as the reference: the `yield`, `sparse` and `socket` workloads and the `echo` workload (with server CPU per round trip) on aio with `PollingReactor` (default mode) and with `UringReactor`, and on tokio | its own table |
//!
//! Throughput workloads run 3 times per runtime, interleaved across runtimes, and the best
//! (shortest) run is reported; the sparse-timer workload also runs 3 times, and the run with
//! the lowest mean lateness is reported (with that run's p99); the reactor-mode comparison runs
//! 5 times per mode. Every measurement gets a fresh runtime; only the workload itself is timed,
//! not building or dropping the runtime. The workload bodies are shared
//! (`workloads.rs`); each runtime module (`on_aio.rs`, `on_tokio.rs`, `on_smol.rs`) only
//! spawns, awaits and supplies its own yield, sleep, socket, lock, queue, timeout and
//! blocking-pool primitives.
//!
//! The table's ratio columns read "> 1 means aio is better" on every row: for rates they are
//! aio / peer, for lateness and memory (lower is better) they are peer / aio.
//!
//! The memory workload re-runs this binary as `compare --memory <aio|tokio|smol>`, which
//! prints the bytes per idle task and exits; `conn-memory` as `compare --conn-memory
//! <aio|tokio> <connections>` (see `streams.rs`). The streams rows have no smol value ("—").
//! The process workload (`subprocess.rs`) runs each runtime's own process API; its key is
//! `process`, not `spawn-…`, so that the word `spawn` (which selects by substring) still
//! selects only the task-spawn workloads.
//!
//! The reactor comparison (`uring`) prints its own table, columns aio on `polling`, aio on
//! io_uring, tokio, with ratios "> 1 means io_uring is better". Its loops are built on an
//! explicit reactor (`EventLoop::with_reactor`), so `AIO_REACTOR` does not change it.
//!
//! For profiling one runtime alone, `compare --one <yield|sparse|burst|socket|gather|wait_for_ready|
//! wait_for_sleeping|to_thread|echo> <runtime>` runs one round of that workload and prints its
//! result; `compare --one small-frames <aio|tokio|smol> <exact|exact-into|lines|lines-into>` one
//! run of one `small-frames` read. Runtimes: `aio` (the default reactor),
//! `aio-edge`, `aio-oneshot`, `aio-uring`, `aio-registered` (a socket registered, as `aio::run` has), `tokio`, `smol`; for `echo` (servers) `aio`,
//! `aio-edge`, `aio-oneshot`, `aio-uring`, `tokio`, `epoll`, `protocol`, `buffered`, `layered` (the streams
//! as asyncio builds them, a `StreamReader` fed by a protocol), and an optional third argument,
//! the round trips per connection (default 2,000). The echo server threads are named
//! `server-<…>` (e.g. `server-uring`), so per-thread counts can pick them out.

mod http;
mod measure;
mod on_aio;
mod on_smol;
mod on_tokio;
mod per_core;
mod streams;
mod subprocess;
mod workloads;

use std::cell::Cell;
use std::process::Command;
use std::time::{Duration, Instant};

use aio_reactor::{PollMode, PollingReactor};

use measure::{human, mean_and_p99_us, rate};
use on_aio::{Aio, AioReactor};
use on_smol::Smol;
use on_tokio::Tokio;

const SPAWN_TASKS: usize = 200_000;
const YIELD_TASKS: usize = 1_000;
const YIELDS_PER_TASK: usize = 1_000;
const PING_PONGS: usize = 500_000;
const SPARSE_TIMERS: usize = 1_000;
/// When the first sparse timer fires: late enough that every task has started and parked.
const SPARSE_FIRST: Duration = Duration::from_millis(20);
/// Tasks in the timer burst, each sleeping 1–100 ms.
const BURST_TIMERS: usize = 100_000;
const CANCELLED_TIMERS: usize = 1_000_000;
const GATHER_TASKS: usize = 100_000;
const READY_WAIT_FORS: usize = 1_000_000;
const SLEEPING_WAIT_FORS: usize = 500_000;
const IDLE_TASKS: usize = 100_000;
const SOCKET_ROUND_TRIPS: usize = 100_000;
const LOCK_TASKS: usize = 100;
const LOCKS_PER_TASK: usize = 10_000;
const QUEUE_CAPACITY: usize = 128;
const QUEUE_PRODUCERS: usize = 4;
const QUEUE_CONSUMERS: usize = 4;
const QUEUE_ITEMS: usize = 2_000_000;
const QUEUE_PING_PONGS: usize = 500_000;
const TO_THREAD_ROUND_TRIPS: usize = 20_000;
/// Repetitions of each throughput measurement and of the sparse-timer run; the best is
/// reported.
const RUNS: usize = 3;
/// Repetitions of each reactor mode's socket ping-pong: this comparison decides the reactor's
/// default mode, and the two modes are closer to each other than run-to-run noise on a busy
/// machine, so it gets more runs than the rest.
const REACTOR_RUNS: usize = 5;
/// Repetitions of the TCP echo per server: its client and server share the machine's two
/// CPUs, so it is noisier than the rest (single runs of tokio measured 85–129 k round
/// trips/s).
const ECHO_RUNS: usize = 5;
/// Runs per server for the echo server's CPU per round trip, and their round trips per
/// connection (50 × 10,000 = 500,000 per run, 1.5 M per server): `getrusage` splits user and
/// system time by 4-ms tick samples, and the raw epoll server spends ~0.1 µs of user time per
/// round trip, so 100,000 round trips were a handful of ticks. The longer runs bring its user
/// figure to about ±15 % (one standard deviation, printed with the table).
const ECHO_CPU_RUNS: usize = 3;
const ECHO_CPU_ROUND_TRIPS: usize = 10_000;
/// Rounds of the `echo-protocol` comparison, each one CPU run per server, interleaved. Its
/// target is a ratio of two user figures near the noise floor (protocol and raw epoll user
/// time are both a few percent of the servers' CPU), so it gets three times the `echo` row's
/// runs (about ±6 % on each pooled figure) and prints each round's ratio beside the pooled
/// one: a round where the machine changed regime shows there instead of moving the verdict
/// silently.
const PROTOCOL_ECHO_ROUNDS: usize = 9;
/// Runs per server of the `http` workload, interleaved: the best rate, and the CPU per
/// request over all of them.
const HTTP_RUNS: usize = 5;

/// One runtime under test. Every method builds a fresh runtime, runs one workload on it and
/// returns the raw measurement.
pub trait Runtime {
    /// The runtime's name, as printed and as passed to `--memory`.
    fn name(&self) -> &'static str;
    /// Spawns `n` trivial tasks, then awaits them all.
    fn spawn_all_then_await(&self, n: usize) -> Duration;
    /// Spawns a trivial task and awaits it, `n` times in a row.
    fn spawn_await_each(&self, n: usize) -> Duration;
    /// Gathers `n` trivial tasks: their values, in argument order (aio `gather`; the peers
    /// spawn them all, then await every handle in order).
    fn gather(&self, n: usize) -> Duration;
    /// `tasks` tasks, each yielding `per_task` times.
    fn yields(&self, tasks: usize, per_task: usize) -> Duration;
    /// Two tasks waking each other `round_trips` times through a [`workloads::Signal`].
    fn ping_pong(&self, round_trips: usize) -> Duration;
    /// One task per offset sleeping until start + offset; how late each woke.
    fn sparse_timers(&self, offsets: &[Duration]) -> Vec<Duration>;
    /// One task per delay, all spawned at once, each sleeping its delay from its own start;
    /// how late each woke.
    fn burst_timers(&self, delays: &[Duration]) -> Vec<Duration>;
    /// Registers `n` timers and cancels them (see [`workloads::register_and_cancel`]).
    fn cancel_timers(&self, n: usize) -> Duration;
    /// `n` `wait_for`s in a row around a future that is ready at once (see
    /// [`workloads::in_sequence`]).
    fn wait_for_ready(&self, n: usize) -> Duration;
    /// `n` `wait_for`s in a row around a [`workloads::yield_once`]: each registers its
    /// timeout's timer, then cancels it when the guarded future finishes.
    fn wait_for_sleeping(&self, n: usize) -> Duration;
    /// Resident-memory growth per task with `n` idle tasks parked. Meaningful only in a fresh
    /// process (see `--memory`).
    fn idle_task_bytes(&self, n: usize) -> f64;
    /// Two tasks ping-ponging one byte `round_trips` times over a Unix socket pair.
    fn socket_ping_pong(&self, round_trips: usize) -> Duration;
    /// `tasks` tasks, each acquiring one shared lock `per_task` times (see
    /// [`workloads::locker`]).
    fn lock(&self, tasks: usize, per_task: usize) -> Duration;
    /// `producers` tasks send `items` numbers in total through one bounded queue of
    /// `capacity`, `consumers` tasks receive them. tokio, which has no multi-consumer channel,
    /// runs a single consumer.
    fn queue(&self, capacity: usize, producers: usize, consumers: usize, items: usize) -> Duration;
    /// Two tasks passing a number back and forth `round_trips` times through two queues of
    /// capacity 1.
    fn queue_ping_pong(&self, round_trips: usize) -> Duration;
    /// `round_trips` trivial closures run one after another on the runtime's blocking-thread
    /// pool, each awaited before the next is sent (aio `to_thread`, tokio `spawn_blocking`,
    /// smol `unblock`).
    fn to_thread(&self, round_trips: usize) -> Duration;
    /// Connects to a [`workloads::small_frames_feeder`] on `port` and reads everything it
    /// sends in `kind`'s small reads, checking the byte count: the time of the reads.
    fn small_frames(&self, port: u16, kind: workloads::SmallFrames) -> Duration;
}

/// The runtimes compared, in table order (aio on its default reactor mode).
const RUNTIMES: [&dyn Runtime; 3] = [
    &Aio {
        reactor: AioReactor::Default,
    },
    &Tokio,
    &Smol,
];

/// Which way a row's numbers improve.
#[derive(Clone, Copy)]
enum Better {
    Higher,
    Lower,
}

/// One line of the results table: a value per runtime, in [`RUNTIMES`] order.
struct Row {
    workload: String,
    unit: &'static str,
    better: Better,
    values: [f64; 3],
}

impl Row {
    fn new(
        workload: impl Into<String>,
        unit: &'static str,
        better: Better,
        values: [f64; 3],
    ) -> Row {
        let row = Row {
            workload: workload.into(),
            unit,
            better,
            values,
        };
        eprintln!("  {:<44} {}", row.workload, row.cells()[..3].join(" | "));
        row
    }

    /// How much better aio is than runtime `peer` (> 1: aio is better).
    fn advantage(&self, peer: usize) -> f64 {
        match self.better {
            Better::Higher => self.values[0] / self.values[peer],
            Better::Lower => self.values[peer] / self.values[0],
        }
    }

    /// aio, tokio, smol, aio-vs-tokio, aio-vs-smol.
    fn cells(&self) -> Vec<String> {
        let mut cells: Vec<String> = self.values.iter().map(|&v| human(v)).collect();
        for peer in [1, 2] {
            let advantage = self.advantage(peer);
            cells.push(if advantage.is_nan() {
                "—".to_owned()
            } else {
                format!("{advantage:.2}")
            });
        }
        cells
    }
}

/// `count` operations per run, best of [`RUNS`] runs per runtime, the runs interleaved across
/// runtimes so drift in machine load hits all of them alike: the best rate per runtime.
fn best_rates(
    runtimes: [&dyn Runtime; 3],
    count: usize,
    measure: impl Fn(&dyn Runtime) -> Duration,
) -> [f64; 3] {
    let mut best = [Duration::MAX; 3];
    for _ in 0..RUNS {
        for (slot, runtime) in best.iter_mut().zip(runtimes) {
            *slot = (*slot).min(measure(runtime));
        }
    }
    best.map(|d| rate(count, d))
}

/// A throughput row of the main table (see [`best_rates`]).
fn throughput(
    workload: &str,
    unit: &'static str,
    count: usize,
    measure: impl Fn(&dyn Runtime) -> Duration,
) -> Row {
    let rates = best_rates(RUNTIMES, count, measure);
    Row::new(workload, unit, Better::Higher, rates)
}

/// Mean and p99 lateness in µs per runtime: of [`RUNS`] runs (interleaved across runtimes),
/// the one with the lowest mean.
fn sparse_timers(runtimes: [&dyn Runtime; 3]) -> [(f64, f64); 3] {
    let offsets = workloads::sparse_deadlines(SPARSE_TIMERS, SPARSE_FIRST);
    let mut best = [(f64::INFINITY, f64::INFINITY); 3];
    for _ in 0..RUNS {
        for (slot, runtime) in best.iter_mut().zip(runtimes) {
            let stats = mean_and_p99_us(&mut runtime.sparse_timers(&offsets));
            if stats.0 < slot.0 {
                *slot = stats;
            }
        }
    }
    best
}

/// [`sparse_timers`] for the burst: mean and p99 lateness in µs per runtime, of [`RUNS`]
/// interleaved runs the one with the lowest mean.
fn burst_timers(runtimes: [&dyn Runtime; 3]) -> [(f64, f64); 3] {
    let delays = workloads::burst_delays(BURST_TIMERS);
    let mut best = [(f64::INFINITY, f64::INFINITY); 3];
    for _ in 0..RUNS {
        for (slot, runtime) in best.iter_mut().zip(runtimes) {
            let stats = mean_and_p99_us(&mut runtime.burst_timers(&delays));
            if stats.0 < slot.0 {
                *slot = stats;
            }
        }
    }
    best
}

/// The bytes per idle task of `runtime`, measured in a fresh child process.
fn idle_task_bytes_in_child(runtime: &dyn Runtime) -> f64 {
    let exe = std::env::current_exe().expect("current_exe");
    let output = Command::new(exe)
        .args(["--memory", runtime.name()])
        .output()
        .expect("spawn the memory child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "memory child for {} failed: {}{}",
        runtime.name(),
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .trim()
        .parse()
        .expect("the memory child prints a number")
}

/// The socket ping-pong on aio in `mode`.
fn aio_socket(mode: PollMode) -> Duration {
    Aio {
        reactor: AioReactor::Polling(mode),
    }
    .socket_ping_pong(SOCKET_ROUND_TRIPS)
}

/// aio's socket ping-pong runs on the epoll reactor and on `polling` in both modes.
struct ReactorModes {
    epoll: Vec<Duration>,
    edge: Vec<Duration>,
    oneshot: Vec<Duration>,
    default_mode: PollMode,
}

/// The socket ping-pong on every runtime (aio on its Linux default, the epoll reactor), and
/// on aio's `polling` reactor (the default before it) in both modes.
fn sockets() -> (Row, ReactorModes) {
    let (mut epoll, mut edge, mut oneshot, mut tokio, mut smol) =
        (vec![], vec![], vec![], vec![], vec![]);
    // Interleaved, so the reactors (and the peers) see the same machine conditions.
    for run in 0..REACTOR_RUNS {
        epoll.push(
            Aio {
                reactor: AioReactor::Epoll,
            }
            .socket_ping_pong(SOCKET_ROUND_TRIPS),
        );
        edge.push(aio_socket(PollMode::Edge));
        oneshot.push(aio_socket(PollMode::Oneshot));
        if run < RUNS {
            tokio.push(Tokio.socket_ping_pong(SOCKET_ROUND_TRIPS));
            smol.push(Smol.socket_ping_pong(SOCKET_ROUND_TRIPS));
        }
    }
    let default_mode = PollingReactor::new().expect("poller").mode();
    let best = |runs: &[Duration]| rate(SOCKET_ROUND_TRIPS, *runs.iter().min().expect("runs"));
    let aio = best(&epoll);
    let row = Row::new(
        "unix-socket ping-pong (aio epoll)".to_string(),
        "round trips/s",
        Better::Higher,
        [aio, best(&tokio), best(&smol)],
    );
    let modes = ReactorModes {
        epoll,
        edge,
        oneshot,
        default_mode,
    };
    (row, modes)
}

fn print_table(rows: &[Row]) {
    println!("| workload | unit | aio | tokio | smol | aio vs tokio | aio vs smol |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for row in rows {
        println!(
            "| {} | {} | {} |",
            row.workload,
            row.unit,
            row.cells().join(" | ")
        );
    }
    println!();
    println!(
        "Ratios: > 1 means aio is better (rates: aio / peer; lateness and memory: peer / aio)."
    );
}

fn print_reactor_modes(sockets: &ReactorModes) {
    let runs = |runs: &[Duration]| {
        runs.iter()
            .map(|&d| human(rate(SOCKET_ROUND_TRIPS, d)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let best = |runs: &[Duration]| rate(SOCKET_ROUND_TRIPS, *runs.iter().min().expect("runs"));
    println!();
    println!(
        "Reactor mode (aio, unix-socket ping-pong, {SOCKET_ROUND_TRIPS} round trips, best of \
         {REACTOR_RUNS}):"
    );
    println!();
    println!("| reactor | best round trips/s | all runs |");
    println!("| --- | ---: | --- |");
    println!(
        "| epoll (default) | {} | {} |",
        human(best(&sockets.epoll)),
        runs(&sockets.epoll)
    );
    println!(
        "| polling Edge | {} | {} |",
        human(best(&sockets.edge)),
        runs(&sockets.edge)
    );
    println!(
        "| polling Oneshot | {} | {} |",
        human(best(&sockets.oneshot)),
        runs(&sockets.oneshot)
    );
    println!();
    println!(
        "epoll / polling Edge = {:.2}; Edge / Oneshot = {:.2}; polling's default mode is {:?}.",
        best(&sockets.epoll) / best(&sockets.edge),
        best(&sockets.edge) / best(&sockets.oneshot),
        sockets.default_mode
    );
}

/// A busy loop with a socket registered (as `aio::run` registers its Ctrl-C wake-up) against
/// the bare loop, on `ping-pong` and `yield`, interleaved; best of [`RUNS`] each.
fn print_registered() {
    let bare = Aio {
        reactor: AioReactor::Default,
    };
    let registered = Aio {
        reactor: AioReactor::Registered,
    };
    type Workload<'a> = (&'a str, usize, &'a dyn Fn(&Aio) -> Duration);
    let workloads: [Workload; 2] = [
        ("ping-pong (500k)", PING_PONGS, &|rt| {
            rt.ping_pong(PING_PONGS)
        }),
        (
            "yield (1k tasks × 1k yields)",
            YIELD_TASKS * YIELDS_PER_TASK,
            &|rt| rt.yields(YIELD_TASKS, YIELDS_PER_TASK),
        ),
    ];
    let reactor = bare.reactor.event_loop().reactor().name();
    println!();
    println!(
        "A registered socket (`aio::run`'s Ctrl-C wake-up) on a busy loop, on the {reactor} \
         reactor, best of {RUNS}:"
    );
    println!();
    println!("| workload | bare loop, per s | socket registered, per s | registered / bare |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, n, run) in workloads {
        let (mut a, mut b) = (vec![], vec![]);
        for _ in 0..RUNS {
            a.push(run(&bare));
            b.push(run(&registered));
        }
        let best = |runs: &[Duration]| rate(n, *runs.iter().min().expect("runs"));
        println!(
            "| {name} | {} | {} | {:.3} |",
            human(best(&a)),
            human(best(&b)),
            best(&b) / best(&a)
        );
    }
}

/// The project's targets, checked against this run's rows.
fn print_targets(rows: &[Row]) {
    let find = |prefix: &str| rows.iter().find(|row| row.workload.starts_with(prefix));
    let mut echo_cpu_target = None;
    let mut checks = Vec::new();
    if let Some(row) = find("spawn 200k, then await all") {
        checks.push((
            "spawn ≥ 1.2× smol",
            row.advantage(2),
            row.advantage(2) >= 1.2,
        ));
    }
    if let Some(row) = find("yield") {
        checks.push(("yields ≥ tokio", row.advantage(1), row.advantage(1) >= 1.0));
    }
    if let Some(row) = find("sparse timers: mean") {
        checks.push((
            "sparse-timer mean < 50 µs",
            row.values[0],
            row.values[0] < 50.0,
        ));
    }
    if let Some(row) = find("idle task memory") {
        checks.push((
            "≤ 256 bytes per idle task",
            row.values[0],
            row.values[0] <= 256.0,
        ));
    }
    if let Some(row) = find("lock") {
        checks.push((
            "lock ≥ smol async-lock",
            row.advantage(2),
            row.advantage(2) >= 1.0,
        ));
    }
    if let Some(row) = find("queue(128)") {
        checks.push(("queue ≥ tokio", row.advantage(1), row.advantage(1) >= 1.0));
    }
    if let Some(row) = find("TCP echo") {
        checks.push((
            "echo round trips ≥ 1.1× tokio",
            row.advantage(1),
            row.advantage(1) >= 1.1,
        ));
    }
    if let (Some(row), Some((raw, raw_noise, aio_noise))) =
        (find("echo server user CPU"), EPOLL_ECHO_CPU.get())
    {
        let ratio = row.values[0] / raw;
        let noise = (raw_noise.powi(2) + aio_noise.powi(2)).sqrt() * 100.0;
        checks.push((
            echo_cpu_target.insert(format!(
                "echo server user CPU per round trip ≤ 1.5× raw epoll (aio / raw, ±{noise:.0} %)"
            )),
            ratio,
            ratio <= 1.5,
        ));
    }
    if let Some(row) = find("spawn /bin/true") {
        checks.push((
            "process spawns ≥ 1.2× tokio",
            row.advantage(1),
            row.advantage(1) >= 1.2,
        ));
    }
    if checks.is_empty() {
        return;
    }
    println!();
    println!("Targets:");
    for (target, value, met) in checks {
        let verdict = if met { "met" } else { "MISSED" };
        println!("- {target}: {verdict} ({value:.2})");
    }
}

thread_local! {
    /// The raw epoll server's user CPU per echo round trip (µs) and the relative noise of
    /// that figure and of aio's, for the targets.
    static EPOLL_ECHO_CPU: Cell<Option<(f64, f64, f64)>> = const { Cell::new(None) };
}

/// The streams servers, in reference-table order: aio, tokio, raw epoll.
const STREAM_SERVERS: [streams::Server; 3] = [
    streams::Server::AIO,
    streams::Server::Tokio,
    streams::Server::Epoll,
];

/// The echo workload's results per server: of [`ECHO_RUNS`] runs, the best round-trip rate;
/// over the separate, longer CPU runs ([`ECHO_CPU_ROUND_TRIPS`] per connection), the server
/// thread's CPU per round trip (µs): total CPU over total round trips, not the lowest run.
struct EchoBest {
    rates: [f64; 3],
    user: [f64; 3],
    system: [f64; 3],
    /// User + system (exact: only the split between the two is sampled).
    total: [f64; 3],
    /// One standard deviation of `user`, relative: `getrusage` splits CPU time into user and
    /// system by sampling at the scheduler tick, so the user figure is a count of about
    /// `user / tick` samples with Poisson noise.
    user_noise: [f64; 3],
    /// The client thread's CPU per round trip (µs) over the same runs, per server.
    client_user: [f64; 3],
    client_system: [f64; 3],
    /// CPU time over wall time in the CPU runs, per server: the server thread's and the
    /// client thread's (1.0 = always running, never waiting for the other side).
    server_busy: [f64; 3],
    client_busy: [f64; 3],
}

/// The kernel's scheduler tick on the benchmark machine (`CONFIG_HZ=250`), which samples the
/// user/system split of `getrusage`. Only used to size the noise of the user figure.
const TICK: Duration = Duration::from_millis(4);

/// The echo workload on three servers: [`ECHO_RUNS`] short runs per server for the rate, then
/// `cpu_runs` long runs per server for the CPU figures, each set interleaved across servers.
fn echo_best(servers: [streams::Server; 3], cpu_runs: usize) -> EchoBest {
    let trips = streams::ECHO_CONNECTIONS * streams::ECHO_ROUND_TRIPS;
    let mut best = [Duration::MAX; 3];
    for _ in 0..ECHO_RUNS {
        for (i, server) in servers.into_iter().enumerate() {
            let run = streams::echo(server, streams::ECHO_ROUND_TRIPS);
            best[i] = best[i].min(run.elapsed);
        }
    }
    let mut user = [Duration::ZERO; 3];
    let mut system = [Duration::ZERO; 3];
    let mut client_user = [Duration::ZERO; 3];
    let mut client_system = [Duration::ZERO; 3];
    let mut elapsed = [Duration::ZERO; 3];
    for _ in 0..cpu_runs {
        for (i, server) in servers.into_iter().enumerate() {
            let run = streams::echo(server, ECHO_CPU_ROUND_TRIPS);
            user[i] += run.server_user;
            system[i] += run.server_system;
            client_user[i] += run.client_user;
            client_system[i] += run.client_system;
            elapsed[i] += run.elapsed;
        }
    }
    let cpu_trips = (cpu_runs * streams::ECHO_CONNECTIONS * ECHO_CPU_ROUND_TRIPS) as f64;
    let per_trip = |cpu: Duration| cpu.as_secs_f64() * 1e6 / cpu_trips;
    EchoBest {
        rates: best.map(|d| rate(trips, d)),
        user: user.map(per_trip),
        system: system.map(per_trip),
        total: [0, 1, 2].map(|i| per_trip(user[i] + system[i])),
        user_noise: user.map(|u| 1.0 / (u.as_secs_f64() / TICK.as_secs_f64()).max(1.0).sqrt()),
        client_user: client_user.map(per_trip),
        client_system: client_system.map(per_trip),
        // The server's CPU window (bind to last EOF) is a little longer than the client's
        // timed one (all connected to all done): its figure can exceed 1.0 slightly.
        server_busy: [0, 1, 2]
            .map(|i| (user[i] + system[i]).as_secs_f64() / elapsed[i].as_secs_f64()),
        client_busy: [0, 1, 2]
            .map(|i| (client_user[i] + client_system[i]).as_secs_f64() / elapsed[i].as_secs_f64()),
    }
}

/// The echo workload ([`echo_best`] with [`ECHO_CPU_RUNS`]). Returns the main-table rows and,
/// for [`print_streams_reference`], the whole result.
fn echo_rows() -> (Vec<Row>, EchoBest) {
    let best = echo_best(STREAM_SERVERS, ECHO_CPU_RUNS);
    let EchoBest {
        rates,
        user,
        user_noise,
        ..
    } = best;
    EPOLL_ECHO_CPU.set(Some((user[2], user_noise[2], user_noise[0])));
    let rows = vec![
        Row::new(
            "TCP echo, 50 conns × 2k round trips (64 B)",
            "round trips/s",
            Better::Higher,
            [rates[0], rates[1], f64::NAN],
        ),
        Row::new(
            "echo server user CPU per round trip",
            "µs",
            Better::Lower,
            [user[0], user[1], f64::NAN],
        ),
    ];
    (rows, best)
}

/// The protocol echo servers beside the streams server and the raw epoll reference: the
/// `echo-protocol` / `echo-buffered` rows, in this order.
const PROTOCOL_SERVERS: [streams::Server; 4] = [
    streams::Server::Protocol,
    streams::Server::Buffered,
    streams::Server::AIO,
    streams::Server::Epoll,
];

/// The `echo-protocol` workload's results, per server of [`PROTOCOL_SERVERS`]: the best
/// rate of [`ECHO_RUNS`] runs, and the server thread's CPU per round trip over
/// [`PROTOCOL_ECHO_ROUNDS`] runs of [`ECHO_CPU_ROUND_TRIPS`] (as the `echo` row measures it,
/// with the user figure's relative noise).
struct ProtocolEcho {
    rates: [f64; 4],
    user: [f64; 4],
    system: [f64; 4],
    user_noise: [f64; 4],
    /// Each round's user time per server, in round order.
    rounds: Vec<[Duration; 4]>,
}

/// The `echo` workload (same client, same runs) on the protocol servers, the streams server
/// and the raw epoll server, interleaved.
fn echo_protocol() -> ProtocolEcho {
    let trips = streams::ECHO_CONNECTIONS * streams::ECHO_ROUND_TRIPS;
    let mut best = [Duration::MAX; 4];
    for _ in 0..ECHO_RUNS {
        for (i, server) in PROTOCOL_SERVERS.into_iter().enumerate() {
            best[i] = best[i].min(streams::echo(server, streams::ECHO_ROUND_TRIPS).elapsed);
        }
    }
    let mut user = [Duration::ZERO; 4];
    let mut system = [Duration::ZERO; 4];
    let mut rounds = Vec::with_capacity(PROTOCOL_ECHO_ROUNDS);
    for _ in 0..PROTOCOL_ECHO_ROUNDS {
        let mut round = [Duration::ZERO; 4];
        for (i, server) in PROTOCOL_SERVERS.into_iter().enumerate() {
            let run = streams::echo(server, ECHO_CPU_ROUND_TRIPS);
            user[i] += run.server_user;
            system[i] += run.server_system;
            round[i] = run.server_user;
        }
        rounds.push(round);
    }
    let cpu_trips =
        (PROTOCOL_ECHO_ROUNDS * streams::ECHO_CONNECTIONS * ECHO_CPU_ROUND_TRIPS) as f64;
    let per_trip = |cpu: Duration| cpu.as_secs_f64() * 1e6 / cpu_trips;
    let result = ProtocolEcho {
        rates: best.map(|d| rate(trips, d)),
        user: user.map(per_trip),
        system: system.map(per_trip),
        user_noise: user.map(|u| 1.0 / (u.as_secs_f64() / TICK.as_secs_f64()).max(1.0).sqrt()),
        rounds,
    };
    for (i, server) in PROTOCOL_SERVERS.into_iter().enumerate() {
        eprintln!(
            "  echo on {:<9} {} round trips/s, server user {:.3} µs / system {:.3} µs",
            server.name(),
            human(result.rates[i]),
            result.user[i],
            result.system[i]
        );
    }
    result
}

/// The `echo-protocol` / `echo-buffered` table and its target.
fn print_protocol_echo(echo: &ProtocolEcho) {
    println!();
    println!(
        "Echo on the protocol layer (`echo-protocol`, `echo-buffered`), the streams server and \
         the raw epoll reference, same client and runs as `echo`:"
    );
    println!();
    println!(
        "| server | round trips/s | server user CPU / round trip (µs) | ± | server system CPU / \
         round trip (µs) | user vs raw epoll | user vs streams |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let names = [
        "echo-protocol (`Protocol`)",
        "echo-buffered (`BufferedProtocol`)",
        "echo (streams)",
        "raw epoll",
    ];
    for (i, name) in names.iter().enumerate() {
        println!(
            "| {name} | {} | {:.3} | {:.0} % | {:.2} | {:.2} | {:.2} |",
            human(echo.rates[i]),
            echo.user[i],
            echo.user_noise[i] * 100.0,
            echo.system[i],
            echo.user[i] / echo.user[3],
            echo.user[i] / echo.user[2],
        );
    }
    println!();
    println!("Targets:");
    for (i, name) in ["protocol", "buffered protocol"].iter().enumerate() {
        let ratio = echo.user[i] / echo.user[3];
        let noise = (echo.user_noise[i].powi(2) + echo.user_noise[3].powi(2)).sqrt() * 100.0;
        let verdict = if ratio <= 1.5 { "met" } else { "MISSED" };
        let mut per_round: Vec<f64> = echo
            .rounds
            .iter()
            .map(|round| round[i].as_secs_f64() / round[3].as_secs_f64())
            .collect();
        let shown = per_round
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(" ");
        per_round.sort_by(f64::total_cmp);
        let median = per_round
            .get(per_round.len() / 2)
            .copied()
            .unwrap_or(f64::NAN);
        println!(
            "- {name} server user CPU per round trip ≤ 1.5× raw epoll ({name} / raw over \
             {PROTOCOL_ECHO_ROUNDS} rounds, ±{noise:.0} %): {verdict} ({ratio:.2}); each round: \
             {shown} (median {median:.2})"
        );
    }
}

/// The `http` workload: [`HTTP_RUNS`] runs per server (aio, tokio), interleaved.
fn http_rows() -> Vec<Row> {
    let servers = [http::Server::Aio, http::Server::Tokio];
    let requests = http::CONNECTIONS * http::REQUESTS;
    let mut best = [Duration::MAX; 2];
    let mut user = [Duration::ZERO; 2];
    let mut system = [Duration::ZERO; 2];
    for _ in 0..HTTP_RUNS {
        for (i, server) in servers.into_iter().enumerate() {
            let run = http::run(server, http::REQUESTS);
            best[i] = best[i].min(run.elapsed);
            user[i] += run.server_user;
            system[i] += run.server_system;
        }
    }
    let per_request = |cpu: Duration| cpu.as_secs_f64() * 1e6 / (HTTP_RUNS * requests) as f64;
    eprintln!(
        "  http server CPU per request, user / system (µs): aio {:.2} / {:.2}, tokio {:.2} / {:.2}",
        per_request(user[0]),
        per_request(system[0]),
        per_request(user[1]),
        per_request(system[1])
    );
    vec![
        Row::new(
            "HTTP keep-alive, 50 conns × 2k requests",
            "requests/s",
            Better::Higher,
            [rate(requests, best[0]), rate(requests, best[1]), f64::NAN],
        ),
        Row::new(
            "http server user+system CPU per request",
            "µs",
            Better::Lower,
            [
                per_request(user[0] + system[0]),
                per_request(user[1] + system[1]),
                f64::NAN,
            ],
        ),
    ]
}

/// The bulk workload, [`RUNS`] runs per server, interleaved: the best GB/s per server.
fn bulk_rates() -> [f64; 3] {
    let mut best = [0.0f64; 3];
    for _ in 0..RUNS {
        for (i, server) in STREAM_SERVERS.into_iter().enumerate() {
            let (bytes, elapsed) = streams::bulk(server);
            best[i] = best[i].max(bytes as f64 / elapsed.as_secs_f64() / 1e9);
        }
    }
    best
}

/// The streams servers side by side with the raw epoll reference.
fn print_streams_reference(echo: Option<&EchoBest>, bulk: Option<&[f64; 3]>) {
    if echo.is_none() && bulk.is_none() {
        return;
    }
    println!();
    println!("Streams, with the raw epoll reference server:");
    println!();
    println!("| measurement | unit | aio | tokio | raw epoll | aio vs tokio | aio vs raw epoll |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    let line = |name: &str, unit: &str, v: &[f64; 3], higher: bool| {
        let ratio = |peer: f64| if higher { v[0] / peer } else { peer / v[0] };
        println!(
            "| {name} | {unit} | {} | {} | {} | {:.2} | {:.2} |",
            human(v[0]),
            human(v[1]),
            human(v[2]),
            ratio(v[1]),
            ratio(v[2])
        );
    };
    if let Some(echo) = echo {
        line(
            "TCP echo (50 × 2k × 64 B)",
            "round trips/s",
            &echo.rates,
            true,
        );
        let noise = echo
            .user_noise
            .map(|n| format!("{:.0}", n * 100.0))
            .join(" / ");
        line(
            &format!("echo server user CPU / round trip (±{noise} %)"),
            "µs",
            &echo.user,
            false,
        );
        line(
            "echo server system CPU / round trip",
            "µs",
            &echo.system,
            false,
        );
    }
    if let Some(bulk) = bulk {
        line("bulk, 1 connection (≤ 512 MiB)", "GB/s", bulk, true);
    }
    if let Some(echo) = echo {
        let list = |v: [f64; 3], scale: f64, digits: usize| {
            v.map(|x| format!("{:.digits$}", x * scale)).join(" / ")
        };
        println!();
        println!(
            "Echo client: {} (`ECHO_CLIENT`), one thread. Against aio / tokio / raw epoll, over \
             the CPU runs: client CPU per round trip user {} µs, system {} µs; CPU over wall \
             time (100 % = never waited), server {} %, client {} %.",
            streams::EchoClient::from_env().name(),
            list(echo.client_user, 1.0, 2),
            list(echo.client_system, 1.0, 2),
            list(echo.server_busy, 100.0, 0),
            list(echo.client_busy, 100.0, 0),
        );
    }
}

// ---- reactors: polling vs io_uring ------------------------------------------------------

/// One line of the reactor table: aio on `polling`, aio on io_uring, tokio.
struct ReactorRow {
    workload: &'static str,
    unit: &'static str,
    better: Better,
    values: [f64; 3],
}

impl ReactorRow {
    fn new(
        workload: &'static str,
        unit: &'static str,
        better: Better,
        values: [f64; 3],
    ) -> ReactorRow {
        eprintln!("  {workload:<44} {}", values.map(human).join(" | "));
        ReactorRow {
            workload,
            unit,
            better,
            values,
        }
    }

    /// How much better aio on io_uring (column 1) is than column `peer` (0: aio on
    /// `polling`, 2: tokio); > 1: io_uring is better.
    fn advantage(&self, peer: usize) -> f64 {
        match self.better {
            Better::Higher => self.values[1] / self.values[peer],
            Better::Lower => self.values[peer] / self.values[1],
        }
    }
}

/// The `uring` group's results.
struct Reactors {
    rows: Vec<ReactorRow>,
    /// The polling reactor's mode (its default).
    mode: PollMode,
    /// Whether the io_uring reactor's read polls are multishot on this kernel.
    multishot: bool,
    /// The relative noise of the echo rows' user CPU figures (see [`EchoBest`]).
    echo_user_noise: [f64; 3],
}

/// The `uring` group: the yield, sparse-timer, socket and echo workloads on aio with
/// `PollingReactor` (its default mode) and with `UringReactor`, and on tokio. Every workload
/// keeps its runs and interleaving from the main table (echo: [`ECHO_RUNS`] runs per server).
fn reactor_rows() -> Reactors {
    eprintln!("aio-benches, reactors: aio on polling | aio on io_uring | tokio");
    let polling = AioReactor::polling();
    let AioReactor::Polling(mode) = polling else {
        unreachable!("AioReactor::polling() is a polling reactor")
    };
    let on_polling = Aio { reactor: polling };
    let on_uring = Aio {
        reactor: AioReactor::Uring,
    };
    let runtimes: [&dyn Runtime; 3] = [&on_polling, &on_uring, &Tokio];
    let mut rows = Vec::new();
    rows.push(ReactorRow::new(
        "yield (1k tasks × 1k yields)",
        "yields/s",
        Better::Higher,
        best_rates(runtimes, YIELD_TASKS * YIELDS_PER_TASK, |rt| {
            rt.yields(YIELD_TASKS, YIELDS_PER_TASK)
        }),
    ));
    let sparse = sparse_timers(runtimes);
    rows.push(ReactorRow::new(
        "sparse timers: mean lateness (1k over 1 s)",
        "µs late",
        Better::Lower,
        sparse.map(|s| s.0),
    ));
    rows.push(ReactorRow::new(
        "sparse timers: p99 lateness",
        "µs late",
        Better::Lower,
        sparse.map(|s| s.1),
    ));
    rows.push(ReactorRow::new(
        "unix-socket ping-pong (100k)",
        "round trips/s",
        Better::Higher,
        best_rates(runtimes, SOCKET_ROUND_TRIPS, |rt| {
            rt.socket_ping_pong(SOCKET_ROUND_TRIPS)
        }),
    ));
    let echo = echo_best(
        [
            streams::Server::Aio(polling),
            streams::Server::Aio(AioReactor::Uring),
            streams::Server::Tokio,
        ],
        1,
    );
    rows.push(ReactorRow::new(
        "TCP echo, 50 conns × 2k round trips (64 B)",
        "round trips/s",
        Better::Higher,
        echo.rates,
    ));
    rows.push(ReactorRow::new(
        "echo server user+system CPU per round trip",
        "µs",
        Better::Lower,
        echo.total,
    ));
    rows.push(ReactorRow::new(
        "— of which user",
        "µs",
        Better::Lower,
        echo.user,
    ));
    rows.push(ReactorRow::new(
        "— of which system",
        "µs",
        Better::Lower,
        echo.system,
    ));
    Reactors {
        rows,
        mode,
        multishot: on_aio::uring_multishot(),
        echo_user_noise: echo.user_noise,
    }
}

fn print_reactors(reactors: &Reactors) {
    let Reactors {
        rows,
        mode,
        multishot,
        echo_user_noise,
    } = reactors;
    println!();
    println!(
        "Reactors: aio on `PollingReactor` ({mode:?}) and on `UringReactor` (multishot read \
         polls: {multishot}), tokio `current_thread` as the reference:"
    );
    println!();
    println!(
        "| workload | unit | aio, polling | aio, io_uring | tokio | io_uring vs polling | \
         io_uring vs tokio |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for row in rows {
        println!(
            "| {} | {} | {} | {:.2} | {:.2} |",
            row.workload,
            row.unit,
            row.values.map(human).join(" | "),
            row.advantage(0),
            row.advantage(2)
        );
    }
    println!();
    println!(
        "Ratios: > 1 means io_uring is better (rates: io_uring / peer; lateness and CPU: \
         peer / io_uring). Rates: best of {RUNS} ({ECHO_RUNS} for echo); lateness: the run \
         with the lowest mean of {RUNS}; CPU: one run of 50 × {ECHO_CPU_ROUND_TRIPS} round \
         trips per server (user ±{:.0} / {:.0} / {:.0} %, one standard deviation).",
        echo_user_noise[0] * 100.0,
        echo_user_noise[1] * 100.0,
        echo_user_noise[2] * 100.0
    );
}

/// `--one <workload> <runtime>`: one round of a workload on one runtime, for profiling it
/// alone.
fn run_once(workload: &str, name: &str, round_trips: Option<usize>) {
    if workload == "echo" {
        let server = streams::Server::named(name);
        let per_connection = round_trips.unwrap_or(streams::ECHO_ROUND_TRIPS);
        let trips = streams::ECHO_CONNECTIONS * per_connection;
        let run = streams::echo(server, per_connection);
        let per_trip = |cpu: Duration| cpu.as_secs_f64() * 1e6 / trips as f64;
        println!(
            "echo on {name} ({} client): {trips} round trips, {} round trips/s; CPU per round \
             trip: server user {:.3} µs, system {:.3} µs; client user {:.3} µs, system {:.3} µs",
            streams::EchoClient::from_env().name(),
            human(rate(trips, run.elapsed)),
            per_trip(run.server_user),
            per_trip(run.server_system),
            per_trip(run.client_user),
            per_trip(run.client_system)
        );
        return;
    }
    let reactor = match name {
        "aio" => Some(AioReactor::Default),
        "aio-edge" => Some(AioReactor::Polling(PollMode::Edge)),
        "aio-oneshot" => Some(AioReactor::Polling(PollMode::Oneshot)),
        "aio-uring" => Some(AioReactor::Uring),
        "aio-registered" => Some(AioReactor::Registered),
        _ => None,
    };
    let aio;
    let runtime: &dyn Runtime = match reactor {
        Some(reactor) => {
            aio = Aio { reactor };
            &aio
        }
        None => runtime_named(name),
    };
    match workload {
        "yield" => {
            let n = YIELD_TASKS * YIELDS_PER_TASK;
            let per_s = rate(n, runtime.yields(YIELD_TASKS, YIELDS_PER_TASK));
            println!("yield on {name}: {n} yields, {} yields/s", human(per_s));
        }
        "sparse" => {
            let offsets = workloads::sparse_deadlines(SPARSE_TIMERS, SPARSE_FIRST);
            let (mean, p99) = mean_and_p99_us(&mut runtime.sparse_timers(&offsets));
            println!(
                "sparse on {name}: {SPARSE_TIMERS} timers, lateness mean {mean:.1} µs, \
                 p99 {p99:.1} µs"
            );
        }
        "burst" => {
            let delays = workloads::burst_delays(BURST_TIMERS);
            let (mean, p99) = mean_and_p99_us(&mut runtime.burst_timers(&delays));
            println!(
                "burst on {name}: {BURST_TIMERS} timers, lateness mean {mean:.1} µs, \
                 p99 {p99:.1} µs"
            );
        }
        "socket" => {
            let per_s = rate(
                SOCKET_ROUND_TRIPS,
                runtime.socket_ping_pong(SOCKET_ROUND_TRIPS),
            );
            println!(
                "socket on {name}: {SOCKET_ROUND_TRIPS} round trips, {} round trips/s",
                human(per_s)
            );
        }
        "gather" => {
            let per_s = rate(GATHER_TASKS, runtime.gather(GATHER_TASKS));
            println!(
                "gather on {name}: {GATHER_TASKS} tasks, {} tasks/s",
                human(per_s)
            );
        }
        "wait_for_ready" | "wait_for_sleeping" => {
            let (n, elapsed) = if workload == "wait_for_ready" {
                (READY_WAIT_FORS, runtime.wait_for_ready(READY_WAIT_FORS))
            } else {
                (
                    SLEEPING_WAIT_FORS,
                    runtime.wait_for_sleeping(SLEEPING_WAIT_FORS),
                )
            };
            println!(
                "{workload} on {name}: {n} calls, {} calls/s",
                human(rate(n, elapsed))
            );
        }
        "to_thread" => {
            let per_s = rate(
                TO_THREAD_ROUND_TRIPS,
                runtime.to_thread(TO_THREAD_ROUND_TRIPS),
            );
            println!(
                "to_thread on {name}: {TO_THREAD_ROUND_TRIPS} round trips, {} round trips/s",
                human(per_s)
            );
        }
        _ => panic!(
            "--one runs yield, sparse, socket, gather, wait_for_ready, wait_for_sleeping, \
             to_thread or echo, not {workload:?}"
        ),
    }
}

/// `--one small-frames <runtime> <kind>`: one run of one `small-frames` read (for counting
/// instructions with callgrind: the reading thread is the loop's, the feeder is a second
/// thread). Runtimes: `aio` (the default reactor), `tokio`, `smol`.
fn small_frames_once(name: &str, kind: &str) {
    let kind = match kind {
        "exact" => workloads::SmallFrames::Exact,
        "exact-into" => workloads::SmallFrames::ExactInto,
        "lines" => workloads::SmallFrames::Lines,
        "lines-into" => workloads::SmallFrames::LinesInto,
        _ => panic!("small-frames reads exact, exact-into, lines or lines-into, not {kind:?}"),
    };
    let aio = Aio {
        reactor: AioReactor::Default,
    };
    let runtime: &dyn Runtime = if name == "aio" {
        &aio
    } else {
        runtime_named(name)
    };
    let (port, feeder) = workloads::small_frames_feeder();
    let elapsed = runtime.small_frames(port, kind);
    feeder.join().expect("feeder");
    println!(
        "small-frames {kind:?} on {name}: {} reads, {} reads/s",
        kind.reads(),
        human(rate(kind.reads(), elapsed))
    );
}

fn runtime_named(name: &str) -> &'static dyn Runtime {
    RUNTIMES
        .into_iter()
        .find(|runtime| runtime.name() == name)
        .unwrap_or_else(|| panic!("unknown runtime {name:?} (aio, tokio or smol)"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|arg| arg == "--memory") {
        let name = args.get(at + 1).expect("--memory needs a runtime name");
        println!("{}", runtime_named(name).idle_task_bytes(IDLE_TASKS));
        return;
    }
    if let Some(at) = args.iter().position(|arg| arg == "--conn-memory") {
        let name = args.get(at + 1).expect("--conn-memory needs a server name");
        let connections = args
            .get(at + 2)
            .and_then(|n| n.parse().ok())
            .expect("--conn-memory needs a connection count");
        streams::idle_connection_child(streams::Server::named(name), connections);
        return;
    }
    if let Some(at) = args.iter().position(|arg| arg == "--one") {
        let (Some(workload), Some(name)) = (args.get(at + 1), args.get(at + 2)) else {
            panic!(
                "--one needs a workload (yield, sparse, socket, gather, wait_for_ready, \
                 wait_for_sleeping, to_thread, echo) and a runtime"
            );
        };
        if workload == "small-frames" {
            // `--one small-frames <runtime> [exact|exact-into|lines|lines-into]`.
            small_frames_once(name, args.get(at + 3).map_or("exact", String::as_str));
            return;
        }
        // `--one echo <server> <n>`: n round trips per connection instead of the default.
        let round_trips = args
            .get(at + 3)
            .map(|n| n.parse().expect("round trips per connection"));
        run_once(workload, name, round_trips);
        return;
    }
    // `cargo bench` passes `--bench`; flags are ignored, words select workloads by key.
    let words: Vec<&str> = args
        .iter()
        .filter(|arg| !arg.starts_with('-'))
        .map(String::as_str)
        .collect();
    let selected = |key: &str| words.is_empty() || words.iter().any(|word| key.contains(word));

    let started = Instant::now();
    eprintln!("aio-benches: aio | tokio | smol (best of {RUNS} for rates)");
    let mut rows = Vec::new();
    if selected("spawn") {
        rows.push(throughput(
            "spawn 200k, then await all",
            "tasks/s",
            SPAWN_TASKS,
            |rt| rt.spawn_all_then_await(SPAWN_TASKS),
        ));
    }
    if selected("spawn-each") {
        rows.push(throughput(
            "spawn + await one at a time (200k)",
            "tasks/s",
            SPAWN_TASKS,
            |rt| rt.spawn_await_each(SPAWN_TASKS),
        ));
    }
    if selected("gather") {
        rows.push(throughput(
            "gather 100k trivial tasks",
            "tasks/s",
            GATHER_TASKS,
            |rt| rt.gather(GATHER_TASKS),
        ));
    }
    if selected("yield") {
        rows.push(throughput(
            "yield (1k tasks × 1k yields)",
            "yields/s",
            YIELD_TASKS * YIELDS_PER_TASK,
            |rt| rt.yields(YIELD_TASKS, YIELDS_PER_TASK),
        ));
    }
    if selected("ping-pong") {
        rows.push(throughput(
            "ping-pong through a shared signal (500k)",
            "round trips/s",
            PING_PONGS,
            |rt| rt.ping_pong(PING_PONGS),
        ));
    }
    if selected("sparse") {
        let stats = sparse_timers(RUNTIMES);
        let unit = "µs late";
        rows.push(Row::new(
            "sparse timers: mean lateness (1k over 1 s)",
            unit,
            Better::Lower,
            stats.map(|s| s.0),
        ));
        rows.push(Row::new(
            "sparse timers: p99 lateness",
            unit,
            Better::Lower,
            stats.map(|s| s.1),
        ));
    }
    if selected("burst") {
        let stats = burst_timers(RUNTIMES);
        let unit = "µs late";
        rows.push(Row::new(
            "timer burst: mean lateness (100k × 1–100 ms)",
            unit,
            Better::Lower,
            stats.map(|s| s.0),
        ));
        rows.push(Row::new(
            "timer burst: p99 lateness",
            unit,
            Better::Lower,
            stats.map(|s| s.1),
        ));
    }
    if selected("cancel") {
        rows.push(throughput(
            "timers registered + cancelled (1M)",
            "timers/s",
            CANCELLED_TIMERS,
            |rt| rt.cancel_timers(CANCELLED_TIMERS),
        ));
    }
    if selected("wait_for_ready") {
        rows.push(throughput(
            "wait_for(ready future, 1 s) (1M)",
            "calls/s",
            READY_WAIT_FORS,
            |rt| rt.wait_for_ready(READY_WAIT_FORS),
        ));
    }
    if selected("wait_for_sleeping") {
        rows.push(throughput(
            "wait_for(yield-once future, 1 s) (500k)",
            "calls/s",
            SLEEPING_WAIT_FORS,
            |rt| rt.wait_for_sleeping(SLEEPING_WAIT_FORS),
        ));
    }
    if selected("memory") {
        rows.push(Row::new(
            "idle task memory (100k parked in sleep)",
            "bytes/task",
            Better::Lower,
            RUNTIMES.map(idle_task_bytes_in_child),
        ));
    }
    if selected("registered") {
        print_registered();
    }
    let mut reactor_modes = None;
    if selected("socket") {
        let (row, modes) = sockets();
        rows.push(row);
        reactor_modes = Some(modes);
    }
    if selected("lock") {
        rows.push(throughput(
            "lock (100 tasks × 10k acquisitions)",
            "acquisitions/s",
            LOCK_TASKS * LOCKS_PER_TASK,
            |rt| rt.lock(LOCK_TASKS, LOCKS_PER_TASK),
        ));
    }
    if selected("queue") {
        rows.push(throughput(
            "queue(128), 4 producers → 4 consumers (2M)",
            "items/s",
            QUEUE_ITEMS,
            |rt| {
                rt.queue(
                    QUEUE_CAPACITY,
                    QUEUE_PRODUCERS,
                    QUEUE_CONSUMERS,
                    QUEUE_ITEMS,
                )
            },
        ));
    }
    if selected("queue-pingpong") {
        rows.push(throughput(
            "queue(1) ping-pong (500k)",
            "round trips/s",
            QUEUE_PING_PONGS,
            |rt| rt.queue_ping_pong(QUEUE_PING_PONGS),
        ));
    }
    if selected("to_thread") {
        rows.push(throughput(
            "to_thread round trip (20k in a row)",
            "round trips/s",
            TO_THREAD_ROUND_TRIPS,
            |rt| rt.to_thread(TO_THREAD_ROUND_TRIPS),
        ));
    }
    if selected("small-frames") {
        for (kind, workload, unit) in [
            (
                workloads::SmallFrames::Exact,
                "16 MiB as 16-byte readexactly (TCP)",
                "frames/s",
            ),
            (
                workloads::SmallFrames::ExactInto,
                "16 MiB as 16-byte readexactly_into (TCP)",
                "frames/s",
            ),
            (
                workloads::SmallFrames::Lines,
                "16 MiB as 32-byte readline (TCP)",
                "lines/s",
            ),
            (
                workloads::SmallFrames::LinesInto,
                "16 MiB as 32-byte readline_into (TCP)",
                "lines/s",
            ),
        ] {
            rows.push(throughput(workload, unit, kind.reads(), |rt| {
                let (port, feeder) = workloads::small_frames_feeder();
                let elapsed = rt.small_frames(port, kind);
                feeder.join().expect("feeder");
                elapsed
            }));
        }
    }
    let mut echo = None;
    if selected("echo") {
        let (echo_rows, reference) = echo_rows();
        rows.extend(echo_rows);
        echo = Some(reference);
    }
    let protocol_echo =
        (selected("echo-protocol") || selected("echo-buffered")).then(echo_protocol);
    let mut bulk = None;
    if selected("bulk") {
        let rates = bulk_rates();
        rows.push(Row::new(
            "TCP bulk, 1 connection (≤ 512 MiB)",
            "GB/s",
            Better::Higher,
            [rates[0], rates[1], f64::NAN],
        ));
        bulk = Some(rates);
    }
    if selected("http") {
        rows.extend(http_rows());
    }
    if selected("conn-memory") {
        let connections = streams::idle_connections();
        if connections < streams::IDLE_CONNECTIONS {
            eprintln!(
                "conn-memory: descriptor limit too low for {}, measuring {connections} \
                 connections",
                streams::IDLE_CONNECTIONS
            );
        }
        let per = |server| streams::idle_connection_bytes(server, connections);
        rows.push(Row::new(
            format!("idle TCP connection memory ({connections} held)"),
            "bytes/conn",
            Better::Lower,
            [
                per(streams::Server::AIO),
                per(streams::Server::Tokio),
                f64::NAN,
            ],
        ));
    }
    if selected("process") {
        rows.push(throughput(
            &format!(
                "spawn {} ×{}, {} at a time",
                subprocess::PROGRAM,
                subprocess::SPAWNS,
                subprocess::CONCURRENCY
            ),
            "spawns/s",
            subprocess::SPAWNS,
            |rt| subprocess::spawns(rt.name()),
        ));
    }
    let reactors = selected("uring").then(reactor_rows);

    if rows.is_empty()
        && reactors.is_none()
        && protocol_echo.is_none()
        && !selected("registered")
        && !selected("per-core")
    {
        eprintln!(
            "no workload key contains {words:?}; the keys are spawn, spawn-each, gather, yield, \
             ping-pong, sparse, cancel, wait_for_ready, wait_for_sleeping, memory, socket, lock, \
             queue, queue-pingpong, to_thread, small-frames, echo, echo-protocol, echo-buffered, \
             http, bulk, conn-memory, process, uring, registered, per-core"
        );
        return;
    }
    if !rows.is_empty() {
        println!();
        print_table(&rows);
    }
    if let Some(modes) = &reactor_modes {
        print_reactor_modes(modes);
    }
    print_streams_reference(echo.as_ref(), bulk.as_ref());
    if let Some(protocol_echo) = &protocol_echo {
        print_protocol_echo(protocol_echo);
    }
    if let Some(reactors) = &reactors {
        print_reactors(reactors);
    }
    if selected("per-core") {
        per_core::print_rows();
    }
    print_targets(&rows);
    eprintln!();
    eprintln!(
        "aio-benches: done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
