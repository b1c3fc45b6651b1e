//! The examples, run as child processes and checked against the behaviour their seeds (the
//! Python programs of the notes in `seeds/`) and their doc comments state: every line of
//! output and its order where the program is deterministic, and the run time — and when each
//! line appears — where the seed gives one, with wide bounds (a sleep never ends early, so the
//! lower bounds are tight; the upper ones allow a slow, shared machine). Examples that draw
//! random numbers (`rand`, `chained`, `asyncq`) get a fixed `AIO_EXAMPLES_SEED` that makes
//! them short, and are checked by invariants (each line's time follows from the sleeps the
//! output reports; results match the draws), not by one transcript.
//!
//! The servers are driven from here: `echo_server` with `echo_client` and a raw client,
//! `chat_server` with two raw clients (and its `--demo` transcript), `udp_echo_protocol`'s
//! `--demo` (asyncio's UDP echo server and client protocols), `protocol_upgrade` (a
//! `set_protocol` switch mid-connection), `crawl` against its own
//! demo site and against an IPv6 server this test runs. `ctrl_c` and `signals` are covered by
//! `tests/ctrl_c.rs`, `http_hello` by `tests/http_hello.rs`, `hyper_hello` by
//! `tests/hyper_hello.rs`, `tls_hello` by `tests/tls_hello.rs`.
//!
//! Most examples just sleep, and the harness runs only as many tests at once as there are
//! cores, so the first test to need one starts every self-contained example at once (the
//! batch, about 10 s: `queue_demo`'s length); each test then checks its own. Running a single
//! test starts the whole batch too. Every child has a hard timeout: it is killed and the test
//! fails if it runs over. Before anything runs, `cargo build --examples` brings the binaries
//! up to date, since `cargo test --test examples` alone does not rebuild them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// How long any child may run before it is killed and its test fails.
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);
/// How much earlier than its schedule a line may appear (timer resolution).
const EARLY: f64 = 0.05;
/// How much later than its schedule a line may appear (a slow, loaded machine).
const LATE: f64 = 0.7;

// ---------------------------------------------------------------------------------------
// Running examples

/// `target/<profile>/`, where the test binary and the examples are.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>")
        .to_owned()
}

/// Brings the examples up to date, once. A plain `cargo test` builds them, but
/// `cargo test --test examples` does not, and stale binaries would hide a broken example.
/// (Cargo does not hold its build lock while the tests run.) Outside cargo, the binaries are
/// used as they are.
fn build_examples() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let Some(cargo) = std::env::var_os("CARGO") else {
            return Ok(());
        };
        let profile = match profile_dir().file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev".to_owned(),
            Some(other) => other.to_owned(),
        };
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let output = Command::new(cargo)
            .args(["build", "--quiet", "--examples", "--profile", &profile])
            .arg("--manifest-path")
            .arg(manifest)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run cargo: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    });
    if let Err(message) = built {
        panic!("the examples do not build:\n{message}");
    }
}

/// An example's binary, in `target/<profile>/examples/`.
fn example(name: &str) -> PathBuf {
    build_examples();
    let path = profile_dir().join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test -p aio` builds it",
        path.display()
    );
    path
}

/// The command for an example: no stdin, and no seed unless one is given.
fn command(name: &str, args: &[&str]) -> Command {
    let mut command = Command::new(example(name));
    command
        .args(args)
        .env_remove("AIO_EXAMPLES_SEED")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A finished run of an example.
struct Run {
    what: String,
    lines: Vec<String>,
    /// When each line arrived, in seconds since the spawn.
    times: Vec<f64>,
    /// Seconds from the spawn to the exit.
    elapsed: f64,
    status: ExitStatus,
    stderr: String,
    pid: u32,
}

impl Run {
    /// Everything about the run, for failure messages.
    fn dump(&self) -> String {
        let mut out = format!("{} ({:?}, {:.3} s)\n", self.what, self.status, self.elapsed);
        for (line, time) in self.lines.iter().zip(&self.times) {
            out.push_str(&format!("  {time:7.3} | {line:?}\n"));
        }
        out.push_str(&format!("  stderr: {:?}", self.stderr));
        out
    }

    fn assert_success(&self) {
        assert!(self.status.success(), "failed: {}", self.dump());
    }

    /// The lines are `expected`, where `{clock}` stands for a `HH:MM:SS` time of day.
    fn assert_lines(&self, expected: &[&str]) {
        let ok = self.lines.len() == expected.len()
            && self
                .lines
                .iter()
                .zip(expected)
                .all(|(line, want)| line_matches(line, want));
        assert!(ok, "expected {expected:#?}\ngot {}", self.dump());
    }

    /// Line `i` appeared `at` seconds into the run (within the bounds).
    fn assert_line_at(&self, i: usize, at: f64) {
        let time = self.times[i];
        assert!(
            time >= at - EARLY && time <= at + LATE,
            "line {i} ({:?}) came at {time:.3} s, not at {at} s: {}",
            self.lines[i],
            self.dump()
        );
    }

    /// The run took `low..high` seconds.
    fn assert_elapsed(&self, low: f64, high: f64) {
        assert!(
            self.elapsed >= low && self.elapsed < high,
            "took {:.3} s, not {low}..{high} s: {}",
            self.elapsed,
            self.dump()
        );
    }

    /// Checks a schedule: line `i` is due at `due[i]` seconds. The lines must come in the
    /// order of their due times, each at its time (within the bounds).
    fn assert_schedule(&self, due: &[f64]) {
        assert_eq!(due.len(), self.lines.len(), "{}", self.dump());
        for (i, pair) in due.windows(2).enumerate() {
            assert!(
                pair[0] <= pair[1] + 1e-9,
                "line {} (due at {} s) came after line {i} (due at {} s): {}",
                i + 1,
                pair[1],
                pair[0],
                self.dump()
            );
        }
        for (i, &at) in due.iter().enumerate() {
            self.assert_line_at(i, at);
        }
    }
}

fn is_clock(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 8
        && b.iter().enumerate().all(|(i, c)| {
            if i == 2 || i == 5 {
                *c == b':'
            } else {
                c.is_ascii_digit()
            }
        })
}

fn line_matches(line: &str, want: &str) -> bool {
    match want.split_once("{clock}") {
        Some((before, after)) => {
            line.len() == before.len() + 8 + after.len()
                && line.starts_with(before)
                && line.ends_with(after)
                && line
                    .get(before.len()..before.len() + 8)
                    .is_some_and(is_clock)
        }
        None => line == want,
    }
}

/// Runs a command to its end (killing it after [`CHILD_TIMEOUT`]).
fn run(what: String, mut command: Command) -> Result<Run, String> {
    let start = Instant::now();
    let mut child = command.spawn().map_err(|e| format!("{what}: spawn: {e}"))?;
    let pid = child.id();
    let lines = read_lines(&mut child, start);
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = start + CHILD_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let seen: Vec<String> = lines.try_iter().map(|(_, line)| line).collect();
            return Err(format!(
                "{what} did not finish in {CHILD_TIMEOUT:?} and was killed; its output: {seen:#?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed().as_secs_f64();
    let (mut out, mut times) = (Vec::new(), Vec::new());
    // The pipe ends with the child (unless a grandchild holds it: then stop waiting).
    while let Ok((time, line)) = lines.recv_timeout(Duration::from_secs(5)) {
        times.push(time);
        out.push(line);
    }
    Ok(Run {
        what,
        lines: out,
        times,
        elapsed,
        status,
        stderr: stderr.join().unwrap_or_default(),
        pid,
    })
}

/// The child's stdout lines as they come, each with its arrival time since `start`.
fn read_lines(child: &mut Child, start: Instant) -> mpsc::Receiver<(f64, String)> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send((start.elapsed().as_secs_f64(), line)).is_err() {
                break;
            }
        }
    });
    rx
}

/// A scratch directory for this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("examples-{}", std::process::id()))
        .join(name);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

// ---------------------------------------------------------------------------------------
// The batch: every self-contained example, started together

type Outcome = Mutex<mpsc::Receiver<Result<Run, String>>>;

/// The self-contained runs, by key (the example's name, and what differs if it runs twice).
fn batch_commands() -> Vec<(&'static str, Command)> {
    let mut jobs = Vec::new();
    for name in [
        "countasync",
        "countsync",
        "call_soon_later",
        "future_callback",
        "say_after",
        "say_after_await",
        "loop_lifecycle",
        "loop_identity",
        "gather_demo",
        "wait_demo",
        "as_completed_demo",
        "wait_for_demo",
        "run_in_executor",
        "taskgroup_demo",
        "queue_demo",
        "sync_demo",
        "subprocess_pipeline",
        "protocol_upgrade",
    ] {
        jobs.push((name, command(name, &[])));
    }

    let mut rand = command("rand", &[]);
    rand.env("AIO_EXAMPLES_SEED", RAND_SEED);
    jobs.push(("rand", rand));
    let mut chained = command("chained", &CHAIN_ARGS);
    chained.env("AIO_EXAMPLES_SEED", CHAINED_SEED);
    jobs.push(("chained", chained));
    let mut asyncq = command("asyncq", &["-p", "2", "-c", "5"]);
    asyncq.env("AIO_EXAMPLES_SEED", ASYNCQ_SEED);
    jobs.push(("asyncq", asyncq));

    let file = scratch("run_in_executor").join("demo1.txt");
    std::fs::write(&file, "first line\nsecond line").expect("write the demo file");
    jobs.push((
        "run_in_executor FILE",
        command(
            "run_in_executor",
            &[file.to_str().expect("a UTF-8 temp dir")],
        ),
    ));

    jobs.push(("chat_server --demo", command("chat_server", &["--demo"])));
    jobs.push((
        "udp_echo_protocol --demo",
        command("udp_echo_protocol", &["--demo"]),
    ));

    let out = scratch("crawl").join("found.txt");
    jobs.push((
        "crawl",
        command("crawl", &["--out", out.to_str().expect("a UTF-8 temp dir")]),
    ));

    let dir = scratch("subprocess_shell");
    std::fs::write(dir.join("hello.txt"), "hi\n").expect("write a file to list");
    let mut ls = command("subprocess_shell", &[]);
    ls.current_dir(&dir).env("LC_ALL", "C");
    jobs.push(("subprocess_shell", ls));
    jobs.push((
        "subprocess_shell COMMAND",
        command("subprocess_shell", &["echo out; echo err >&2; exit 3"]),
    ));
    jobs.push((
        "subprocess_shell QUOTED",
        command("subprocess_shell", &["echo 'it is'"]),
    ));
    jobs
}

fn batch() -> &'static HashMap<&'static str, Outcome> {
    static BATCH: OnceLock<HashMap<&'static str, Outcome>> = OnceLock::new();
    BATCH.get_or_init(|| {
        batch_commands()
            .into_iter()
            .map(|(key, command)| {
                let (tx, rx) = mpsc::channel();
                std::thread::spawn(move || {
                    let _ = tx.send(run(key.to_owned(), command));
                });
                (key, Mutex::new(rx))
            })
            .collect()
    })
}

/// The batch's run `key`, once it is over.
fn finished(key: &str) -> Run {
    let outcome = batch()
        .get(key)
        .unwrap_or_else(|| panic!("{key:?} is not in the batch"))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .recv_timeout(CHILD_TIMEOUT + Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{key}: no outcome"));
    outcome.unwrap_or_else(|message| panic!("{message}"))
}

// ---------------------------------------------------------------------------------------
// Parsing

/// Matches `line` against `pattern`, where each `{}` captures text up to the next literal
/// part (the whole rest, at the end).
fn scan<'a>(pattern: &str, line: &'a str) -> Option<Vec<&'a str>> {
    let mut parts = pattern.split("{}");
    let mut rest = line.strip_prefix(parts.next()?)?;
    let mut captures = Vec::new();
    for literal in parts {
        if literal.is_empty() {
            captures.push(rest);
            rest = "";
        } else {
            let at = rest.find(literal)?;
            captures.push(&rest[..at]);
            rest = &rest[at + literal.len()..];
        }
    }
    rest.is_empty().then_some(captures)
}

fn number<T: std::str::FromStr>(text: &str, run: &Run) -> T {
    text.parse()
        .unwrap_or_else(|_| panic!("{text:?} is not a number: {}", run.dump()))
}

// ---------------------------------------------------------------------------------------
// Coroutines and sleeping

#[test]
fn countasync_runs_the_three_counts_concurrently_in_about_a_second() {
    let run = finished("countasync");
    run.assert_success();
    assert_eq!(run.lines.len(), 7, "{}", run.dump());
    run.assert_lines(&["One", "One", "One", "Two", "Two", "Two", &run.lines[6]]);
    let reported = scan("countasync.rs executed in {} seconds.", &run.lines[6])
        .unwrap_or_else(|| panic!("no timing line: {}", run.dump()));
    let reported: f64 = number(reported[0], &run);
    assert!((0.99..2.5).contains(&reported), "{}", run.dump());
    for i in 0..3 {
        run.assert_line_at(i, 0.0);
        run.assert_line_at(i + 3, 1.0);
    }
    // About 1 s, clearly less than countsync's 3 s.
    run.assert_elapsed(0.95, 2.5);
}

#[test]
fn countsync_blocks_for_each_count_and_takes_about_three_seconds() {
    let run = finished("countsync");
    run.assert_success();
    assert_eq!(run.lines.len(), 7, "{}", run.dump());
    run.assert_lines(&["One", "Two", "One", "Two", "One", "Two", &run.lines[6]]);
    let reported = scan("countsync.rs executed in {} seconds.", &run.lines[6])
        .unwrap_or_else(|| panic!("no timing line: {}", run.dump()));
    let reported: f64 = number(reported[0], &run);
    assert!((2.99..4.5).contains(&reported), "{}", run.dump());
    for (i, at) in [0.0, 1.0, 1.0, 2.0, 2.0, 3.0].into_iter().enumerate() {
        run.assert_line_at(i, at);
    }
    run.assert_elapsed(2.95, 4.5);
}

#[test]
fn say_after_with_create_task_takes_two_seconds_not_three() {
    let run = finished("say_after");
    run.assert_success();
    run.assert_lines(&[
        "started at {clock}",
        "hello",
        "world",
        "finished at {clock}",
    ]);
    run.assert_line_at(1, 1.0);
    run.assert_line_at(2, 2.0);
    run.assert_line_at(3, 2.0);
    run.assert_elapsed(1.95, 2.8);
}

#[test]
fn say_after_awaited_in_turn_takes_three_seconds() {
    let run = finished("say_after_await");
    run.assert_success();
    run.assert_lines(&[
        "started at {clock}",
        "hello",
        "world",
        "finished at {clock}",
    ]);
    run.assert_line_at(1, 1.0);
    run.assert_line_at(2, 3.0);
    run.assert_elapsed(2.95, 4.0);
}

#[test]
fn call_soon_runs_at_once_and_call_later_after_a_second() {
    let run = finished("call_soon_later");
    run.assert_success();
    run.assert_lines(&["Hello call_soon()", "Hello call_later()"]);
    run.assert_line_at(0, 0.0);
    run.assert_line_at(1, 1.0);
    // main sleeps 2 s.
    run.assert_elapsed(1.95, 2.8);
}

#[test]
fn future_callback_runs_after_main_printed_everything() {
    let run = finished("future_callback");
    run.assert_success();
    run.assert_lines(&[
        "false",
        "false",
        "true",
        "Result is not set",
        "get future result: 111",
        "Run future done callback!",
    ]);
}

#[test]
fn loop_lifecycle_runs_two_loops_then_queries_a_third() {
    let run = finished("loop_lifecycle");
    run.assert_success();
    run.assert_lines(&["sleep() done", "sleep() done", "false", "false", "true"]);
    run.assert_line_at(0, 3.0);
    run.assert_line_at(1, 6.0);
    run.assert_elapsed(5.95, 7.5);
}

#[test]
fn loop_identity_the_running_loop_is_one_loop() {
    let run = finished("loop_identity");
    run.assert_success();
    run.assert_lines(&["true", "false"]);
}

// ---------------------------------------------------------------------------------------
// The random ones

/// A seed for `rand` whose run takes 3 s, with no two coroutines waking at the same time
/// (which would make the draws' order, and so the run, vary).
const RAND_SEED: &str = "4";
/// A seed for `chained 9 6 3` that takes 5 s, each chain ending at a different time.
const CHAINED_SEED: &str = "285";
const CHAINS: [i64; 3] = [9, 6, 3];
const CHAIN_ARGS: [&str; 3] = ["9", "6", "3"];
/// A seed for `asyncq -p 2 -c 5` that takes 6 s, two items waiting in the queue.
const ASYNCQ_SEED: &str = "109";

#[test]
fn rand_retries_each_coroutine_on_its_own_schedule_and_gathers_in_order() {
    const COLORS: [&str; 3] = ["\x1b[36m", "\x1b[91m", "\x1b[35m"];
    let run = finished("rand");
    run.assert_success();
    let n = run.lines.len();
    assert!(n >= 8, "{}", run.dump());
    assert_eq!(run.lines[n - 2], "", "{}", run.dump());

    // Each coroutine: "Initiated", draws too low (one per `idx + 1` seconds), "Finished".
    let mut draws = [0u32; 3]; // draws so far, per coroutine
    let mut winners: [Option<u64>; 3] = [None; 3];
    let mut initiated = Vec::new();
    let mut due = Vec::new();
    for line in &run.lines[..n - 2] {
        let idx = COLORS
            .iter()
            .position(|c| line.starts_with(c))
            .unwrap_or_else(|| panic!("{line:?} has no coroutine's color: {}", run.dump()));
        let text = &line[COLORS[idx].len()..];
        let threshold = 9 - idx as u64;
        assert!(winners[idx].is_none(), "after Finished: {}", run.dump());
        if text == format!("Initiated makerandom({idx}).") {
            initiated.push(idx);
            due.push(0.0);
            continue;
        }
        assert!(initiated.contains(&idx), "before Initiated: {}", run.dump());
        due.push(f64::from(draws[idx]) * (idx as f64 + 1.0));
        draws[idx] += 1;
        if let Some(i) = scan(
            &format!("makerandom({idx}) == {{}} too low; retrying."),
            text,
        ) {
            let i: u64 = number(i[0], &run);
            assert!(i <= threshold, "{i} is not too low: {}", run.dump());
        } else if let Some(v) = scan(
            &format!("---> Finished: makerandom({idx}) == {{}}\x1b[0m"),
            text,
        ) {
            let v: u64 = number(v[0], &run);
            assert!(v > threshold && v <= 10, "{v} does not win: {}", run.dump());
            winners[idx] = Some(v);
        } else {
            panic!("unexpected line {line:?}: {}", run.dump());
        }
    }
    assert_eq!(initiated, [0, 1, 2], "{}", run.dump());
    // At the start each runs up to its first sleep, in gather's argument order.
    let first: Vec<usize> = run.lines[..6]
        .iter()
        .map(|l| COLORS.iter().position(|c| l.starts_with(c)).unwrap())
        .collect();
    assert_eq!(first, [0, 0, 1, 1, 2, 2], "{}", run.dump());
    let winners = winners.map(|w| w.unwrap_or_else(|| panic!("unfinished: {}", run.dump())));
    assert_eq!(
        run.lines[n - 1],
        format!("r1: {}, r2: {}, r3: {}", winners[0], winners[1], winners[2]),
        "{}",
        run.dump()
    );

    // Concurrent: the run takes the longest coroutine's time, not the sum.
    let longest = due.iter().copied().fold(0.0, f64::max);
    due.extend([longest, longest]);
    run.assert_schedule(&due);
    assert!(
        longest <= 8.0,
        "seed {RAND_SEED} no longer gives a short run"
    );
    run.assert_elapsed(longest - EARLY, longest + 0.8);
}

#[test]
fn chained_runs_each_chain_in_sequence_and_the_chains_concurrently() {
    let run = finished("chained");
    run.assert_success();
    let n = run.lines.len();
    assert_eq!(n, 5 * CHAINS.len() + 1, "{}", run.dump());
    // part1's sleep and part2's, per chain, as the output reports them.
    let mut sleeps: BTreeMap<i64, (Option<f64>, Option<f64>)> = BTreeMap::new();
    let mut steps: BTreeMap<i64, usize> = BTreeMap::new();
    let mut due = Vec::new();
    for (index, line) in run.lines[..n - 1].iter().enumerate() {
        // The chain number: after the first `(`, or after "result" in the last line.
        let after = match line.strip_prefix("-->Chained result") {
            Some(rest) => rest,
            None => line.split_once('(').map_or("", |(_, rest)| rest),
        };
        let digits = after.split(|c: char| !c.is_ascii_digit()).next();
        let chain: i64 = number(digits.unwrap_or_default(), &run);
        assert!(CHAINS.contains(&chain), "{}", run.dump());
        let step = steps.entry(chain).or_default();
        let (p1, p2) = sleeps.entry(chain).or_default();
        let r1 = format!("result{chain}-1");
        let r2 = format!("result{chain}-2 derived from {r1}");
        let wanted = match *step {
            0 => format!("part1({chain}) sleeping for {{}} seconds."),
            1 => format!("Returning part1({chain}) == {r1}."),
            2 => format!("part2({chain}, '{r1}') sleeping for {{}} seconds."),
            3 => format!("Returning part2({chain}, '{r1}') == {r2}."),
            4 => format!("-->Chained result{chain} => {r2} (took {{}} seconds)."),
            _ => panic!("chain {chain} goes on at line {index}: {}", run.dump()),
        };
        let captured = scan(&wanted, line)
            .unwrap_or_else(|| panic!("line {index}: wanted {wanted:?}: {}", run.dump()));
        let seconds = || -> f64 {
            let s: u64 = number(captured[0], &run);
            assert!(s <= 10, "{}", run.dump());
            s as f64
        };
        let after_part1 = p1.unwrap_or_default();
        due.push(match *step {
            0 => {
                *p1 = Some(seconds());
                0.0
            }
            1 => after_part1,
            2 => {
                *p2 = Some(seconds());
                after_part1
            }
            3 => after_part1 + p2.unwrap_or_default(),
            _ => {
                let took: f64 = number(captured[0], &run);
                let total = after_part1 + p2.unwrap_or_default();
                assert!(
                    took >= total - EARLY && took <= total + LATE,
                    "chain {chain} took {took} s for {total} s of sleeps: {}",
                    run.dump()
                );
                total
            }
        });
        *step += 1;
    }
    // The part1s start together, in argument order.
    for (i, chain) in CHAINS.iter().enumerate() {
        assert!(
            run.lines[i].starts_with(&format!("part1({chain}) ")),
            "{}",
            run.dump()
        );
    }
    assert!(steps.values().all(|&s| s == 5), "{}", run.dump());
    let longest = due.iter().copied().fold(0.0, f64::max);
    let sum: f64 = sleeps
        .values()
        .map(|(a, b)| a.unwrap_or_default() + b.unwrap_or_default())
        .sum();
    let reported = scan("Program finished in {} seconds.", &run.lines[n - 1])
        .unwrap_or_else(|| panic!("no final line: {}", run.dump()));
    let reported: f64 = number(reported[0], &run);
    assert!(
        reported >= longest - EARLY && reported <= longest + LATE,
        "finished in {reported} s; the longest chain is {longest} s (all: {sum} s): {}",
        run.dump()
    );
    due.push(longest);
    run.assert_schedule(&due);
    assert!(
        longest <= 8.0 && sum > longest,
        "seed {CHAINED_SEED} no longer gives a short, overlapping run"
    );
    run.assert_elapsed(longest - EARLY, longest + 0.8);
}

#[test]
fn asyncq_consumers_take_every_item_in_order_then_are_cancelled() {
    let run = finished("asyncq");
    run.assert_success();
    let n = run.lines.len();
    assert!(n >= 8, "{}", run.dump());

    // Virtual time of each producer and consumer (the sum of its sleeps so far).
    let mut clock: HashMap<(bool, usize), f64> = HashMap::new();
    // Per actor: the sleep it announced and has not finished yet.
    let mut sleeping: HashMap<(bool, usize), f64> = HashMap::new();
    let mut added: Vec<(String, f64)> = Vec::new();
    let mut got: Vec<String> = Vec::new();
    let mut due = Vec::new();
    let mut startup = Vec::new();
    for line in &run.lines[..n - 1] {
        let (actor, rest) = if let Some(rest) = line.strip_prefix("Producer ") {
            (true, rest)
        } else if let Some(rest) = line.strip_prefix("Consumer ") {
            (false, rest)
        } else {
            panic!("unexpected line {line:?}: {}", run.dump());
        };
        let (name, rest) = rest.split_once(' ').expect("a name");
        let name: usize = number(name, &run);
        assert!(name < if actor { 2 } else { 5 }, "{}", run.dump());
        let key = (actor, name);
        let now = *clock.entry(key).or_default();
        if let Some(s) = scan("sleeping for {} seconds.", rest) {
            let s: u64 = number(s[0], &run);
            assert!(s <= 10, "{}", run.dump());
            assert!(
                sleeping.insert(key, s as f64).is_none(),
                "two sleeps in a row: {}",
                run.dump()
            );
            if now == 0.0 && !startup.contains(&key) {
                startup.push(key);
            }
            due.push(now);
        } else if let Some(item) = scan("added <{}> to queue.", rest).filter(|_| actor) {
            let at = now + sleeping.remove(&key).expect("slept first");
            let item = item[0].to_owned();
            assert!(
                item.len() == 10 && item.bytes().all(|b| b.is_ascii_hexdigit()),
                "{item:?} is not 5 random bytes in hex: {}",
                run.dump()
            );
            clock.insert(key, at);
            added.push((item, at));
            due.push(at);
        } else if let Some(c) = scan("got element <{}> in {} seconds.", rest).filter(|_| !actor) {
            let woke = now + sleeping.remove(&key).expect("slept first");
            // FIFO: the items come out in the order they went in.
            let (item, put_at) = added
                .get(got.len())
                .cloned()
                .unwrap_or_else(|| panic!("got an item before it was added: {}", run.dump()));
            assert_eq!(c[0], item, "{}", run.dump());
            got.push(item.clone());
            // It waits for the item, or the item waits for it.
            let at = woke.max(put_at);
            let waited: f64 = number(c[1], &run);
            assert!(
                waited >= at - put_at - EARLY && waited <= at - put_at + LATE,
                "{item} waited {waited} s, not {} s: {}",
                at - put_at,
                run.dump()
            );
            clock.insert(key, at);
            due.push(at);
        } else {
            panic!("unexpected line {line:?}: {}", run.dump());
        }
    }
    // Every item was consumed; producers end after their last item, consumers in a sleep
    // (they are cancelled there, or in `get` right after it).
    assert!(!added.is_empty(), "seed {ASYNCQ_SEED} gives no items");
    assert_eq!(got.len(), added.len(), "{}", run.dump());
    assert!(
        sleeping.keys().all(|(producer, _)| !producer),
        "a producer announced a sleep and never added its item: {}",
        run.dump()
    );
    assert_eq!(
        sleeping.len(),
        5,
        "every consumer is left sleeping: {}",
        run.dump()
    );
    // At the start, the tasks run in creation order: producers, then consumers 0 to 4.
    let consumers: Vec<usize> = startup
        .iter()
        .filter(|(producer, _)| !producer)
        .map(|&(_, c)| c)
        .collect();
    assert_eq!(consumers, [0, 1, 2, 3, 4], "{}", run.dump());
    for (i, key) in startup.iter().enumerate() {
        let expected = if key.0 { "Producer" } else { "Consumer" };
        assert!(
            run.lines[i].starts_with(&format!("{expected} {} sleeping", key.1)),
            "{}",
            run.dump()
        );
    }

    let end = due.iter().copied().fold(0.0, f64::max);
    let reported = scan("Program completed in {} seconds.", &run.lines[n - 1])
        .unwrap_or_else(|| panic!("no final line: {}", run.dump()));
    let reported: f64 = number(reported[0], &run);
    assert!(
        reported >= end - EARLY && reported <= end + LATE,
        "completed in {reported} s, the last item was taken at {end} s: {}",
        run.dump()
    );
    due.push(end);
    run.assert_schedule(&due);
    assert!(end <= 8.0, "seed {ASYNCQ_SEED} no longer gives a short run");
    run.assert_elapsed(end - EARLY, end + 0.8);
}

// ---------------------------------------------------------------------------------------
// gather, wait, as_completed, wait_for, TaskGroup, executors

#[test]
fn gather_over_tasks_and_over_coroutines_takes_two_seconds_each() {
    let run = finished("gather_demo");
    run.assert_success();
    run.assert_lines(&[
        "# gather(task1, task2)",
        "started at {clock}",
        "['hello-1', 'world-2']",
        "finished at {clock}",
        "# gather(say_after(1, 'hello'), say_after(2, 'world'))",
        "started at {clock}",
        "['hello-1', 'world-2']",
        "finished at {clock}",
    ]);
    run.assert_line_at(2, 2.0);
    run.assert_line_at(5, 2.0);
    run.assert_line_at(6, 4.0);
    run.assert_elapsed(3.95, 5.2);
}

#[test]
fn wait_with_a_timeout_returns_the_done_half_and_the_rest_is_cancelled() {
    let run = finished("wait_demo");
    run.assert_success();
    run.assert_lines(&[
        "当前数字 0",
        "当前数字 1",
        "当前数字 2",
        "当前数字 3",
        "当前数字 4",
        "取消未完成的任务",
        "数字5被取消",
        "数字6被取消",
        "数字7被取消",
        "数字8被取消",
        "数字9被取消",
    ]);
    run.assert_line_at(0, 0.5);
    run.assert_line_at(10, 0.5);
    run.assert_elapsed(0.45, 1.5);
}

#[test]
fn as_completed_yields_results_in_completion_order_as_they_come() {
    let run = finished("as_completed_demo");
    run.assert_success();
    assert_eq!(run.lines.len(), 7, "{}", run.dump());
    run.assert_lines(&[
        "Waiting:  1",
        "Waiting:  2",
        "Waiting:  4",
        "Task ret: 1",
        "Task ret: 2",
        "Task ret: 4",
        &run.lines[6],
    ]);
    for (i, at) in [0.0, 0.0, 0.0, 1.0, 2.0, 4.0].into_iter().enumerate() {
        run.assert_line_at(i, at);
    }
    let total: f64 = number(&run.lines[6], &run);
    assert!((3.99..5.0).contains(&total), "{}", run.dump());
    run.assert_elapsed(3.95, 5.0);
}

#[test]
fn wait_for_times_out_after_two_seconds_and_drops_the_coroutine() {
    let run = finished("wait_for_demo");
    run.assert_success();
    run.assert_lines(&["asyncio.TimeoutError"]);
    run.assert_line_at(0, 2.0);
    // Not the coroutine's 5 s.
    run.assert_elapsed(1.95, 2.8);
}

#[test]
fn taskgroup_waits_for_its_children_and_a_failure_cancels_the_rest() {
    let run = finished("taskgroup_demo");
    run.assert_success();
    run.assert_lines(&[
        "started at {clock}",
        "hello",
        "world",
        "Both tasks have completed now: hello-1, world-2",
        "finished at {clock}",
        "slow child cancelled by the group",
        "TaskGroup failed with 1 error(s):",
        "  - something went wrong in child 2",
        "finished at {clock}",
    ]);
    run.assert_line_at(1, 1.0);
    run.assert_line_at(2, 2.0);
    run.assert_line_at(3, 2.0);
    run.assert_line_at(5, 3.0);
    run.assert_line_at(8, 3.0);
    run.assert_elapsed(2.95, 3.8);
}

#[test]
fn run_in_executor_reads_a_demo_file_and_the_loop_runs_during_cpu_work() {
    let run = finished("run_in_executor");
    run.assert_success();
    run.assert_lines(&[
        "hello from demo1.txt",
        "",
        "在 before_cpu_bound() 完成之前执行了",
        "333333283333335000000",
    ]);
    // The demo file it wrote is gone.
    let demo = std::env::temp_dir().join(format!("aio_demo1_{}.txt", run.pid));
    assert!(!demo.exists(), "{} was left behind", demo.display());
}

#[test]
fn run_in_executor_reads_the_file_it_is_given() {
    let run = finished("run_in_executor FILE");
    run.assert_success();
    run.assert_lines(&[
        "first line",
        "second line",
        "在 before_cpu_bound() 完成之前执行了",
        "333333283333335000000",
    ]);
    // It is the caller's file: still there.
    assert!(scratch("run_in_executor").join("demo1.txt").exists());
}

// ---------------------------------------------------------------------------------------
// Queue and synchronization

#[test]
fn queue_demo_works_through_ten_one_second_items_then_join_returns() {
    let run = finished("queue_demo");
    run.assert_success();
    let mut expected = vec!["完成任务"; 10];
    expected.extend(["consumer() return", "所有任务执行完毕"]);
    run.assert_lines(&expected);
    for i in 0..10 {
        run.assert_line_at(i, (i + 1) as f64);
    }
    run.assert_line_at(11, 10.0);
    run.assert_elapsed(9.95, 11.5);
}

#[test]
fn sync_demo_prints_its_deterministic_trace() {
    let expected = [
        "--- Event ---",
        "waiter 0 waits for the event",
        "waiter 1 waits for the event",
        "waiter 2 waits for the event",
        "t=0.1 set()",
        "waiter 0 woke up",
        "waiter 1 woke up",
        "waiter 2 woke up",
        "wait() on a set event returns at once",
        "--- Condition ---",
        "consumer A checks: stock = 0, waits",
        "consumer B checks: stock = 0, waits",
        "t=0.1 producer: stock = 1, notify_all()",
        "consumer A checks: stock = 1",
        "consumer A takes an item, stock = 0",
        "consumer B checks: stock = 0, waits",
        "t=0.2 producer: stock = 1, notify(1)",
        "consumer B checks: stock = 1",
        "consumer B takes an item, stock = 0",
        "--- Lock ---",
        "worker 0 enters the critical section",
        "worker 0 leaves, counter = 1",
        "worker 1 enters the critical section",
        "worker 1 leaves, counter = 2",
        "worker 2 enters the critical section",
        "worker 2 leaves, counter = 3",
        "with the lock: counter = 3; without it: counter = 1",
        "--- Semaphore ---",
        "t=0.0 job 0 starts (0.3 s), running: 1",
        "t=0.0 job 1 starts (0.1 s), running: 2",
        "t=0.1 job 1 done",
        "t=0.1 job 2 starts (0.1 s), running: 2",
        "t=0.2 job 2 done",
        "t=0.2 job 3 starts (0.3 s), running: 2",
        "t=0.3 job 0 done",
        "t=0.3 job 4 starts (0.1 s), running: 2",
        "t=0.4 job 4 done",
        "t=0.5 job 3 done",
    ];
    let run = finished("sync_demo");
    run.assert_success();
    assert_eq!(run.lines.len(), expected.len(), "{}", run.dump());
    for (line, want) in run.lines.iter().zip(expected) {
        // The `t=` stamps are measured: never early, maybe late.
        match (scan("t={} {}", line), scan("t={} {}", want)) {
            (Some(got), Some(wanted)) => {
                let (t, due): (f64, f64) = (number(got[0], &run), number(wanted[0], &run));
                assert!(
                    got[1] == wanted[1] && t >= due && t <= due + 0.3,
                    "{line:?} is not {want:?}: {}",
                    run.dump()
                );
            }
            _ => assert_eq!(line, want, "{}", run.dump()),
        }
    }
    // 0.1 + 0.2 + 0.2 + 0.5 s of scenes.
    run.assert_elapsed(0.95, 2.0);
}

// ---------------------------------------------------------------------------------------
// Subprocesses

#[test]
fn subprocess_shell_runs_ls_l_and_prints_the_stdout_section() {
    let run = finished("subprocess_shell");
    run.assert_success();
    // The scratch directory holds one 3-byte file; the blank line is print's, after the
    // captured text's own newline.
    let ok = run.lines.len() == 5
        && run.lines[0] == "['ls -l' exited with 0]"
        && run.lines[1] == "[stdout]"
        && run.lines[2].starts_with("total ")
        && run.lines[3].starts_with("-rw")
        && run.lines[3].contains(" 3 ")
        && run.lines[3].ends_with(" hello.txt")
        && run.lines[4].is_empty();
    assert!(ok, "{}", run.dump());
}

#[test]
fn subprocess_shell_prints_both_streams_and_the_exit_status_of_a_command() {
    let run = finished("subprocess_shell COMMAND");
    run.assert_success();
    run.assert_lines(&[
        "['echo out; echo err >&2; exit 3' exited with 3]",
        "[stdout]",
        "out",
        "",
        "[stderr]",
        "err",
        "",
    ]);
}

#[test]
fn subprocess_shell_shows_the_command_as_python_repr_does() {
    let run = finished("subprocess_shell QUOTED");
    run.assert_success();
    run.assert_lines(&["[\"echo 'it is'\" exited with 0]", "[stdout]", "it is", ""]);
}

#[test]
fn subprocess_pipeline_by_hand_agrees_with_the_shell() {
    let last = 200_000u64;
    let count = (1..=last).filter(|i| i.to_string().contains('7')).count();
    let bytes: usize = (1..=last).map(|i| i.to_string().len() + 1).sum();
    let run = finished("subprocess_pipeline");
    run.assert_success();
    assert_eq!(run.lines.len(), 5, "{}", run.dump());
    let pids = scan("seq 1 200000 (pid {}) | grep -c 7 (pid {})", &run.lines[0])
        .unwrap_or_else(|| panic!("{}", run.dump()));
    let (seq, grep): (u32, u32) = (number(pids[0], &run), number(pids[1], &run));
    assert_ne!(seq, grep, "{}", run.dump());
    let pumped = scan("pumped {} bytes in {} chunks", &run.lines[1])
        .unwrap_or_else(|| panic!("{}", run.dump()));
    assert_eq!(number::<usize>(pumped[0], &run), bytes, "{}", run.dump());
    let chunks: usize = number(pumped[1], &run);
    // At most 64 KiB a chunk.
    assert!(chunks >= bytes.div_ceil(64 * 1024), "{}", run.dump());
    assert_eq!(
        run.lines[2..],
        [
            format!("by hand: {count} (seq exited with 0, grep exited with 0)"),
            format!("shell:   {count} (exited with 0)"),
            "both agree".to_owned(),
        ],
        "{}",
        run.dump()
    );
}

// ---------------------------------------------------------------------------------------
// Servers

/// A running example with its stdout lines; killed when dropped.
struct Live {
    name: &'static str,
    child: Child,
    lines: mpsc::Receiver<(f64, String)>,
}

impl Live {
    fn start(name: &'static str, args: &[&str]) -> Live {
        let mut child = command(name, args).spawn().expect("spawn the example");
        let lines = read_lines(&mut child, Instant::now());
        Live { name, child, lines }
    }

    fn next_line(&self) -> String {
        match self.lines.recv_timeout(Duration::from_secs(20)) {
            Ok((_, line)) => line,
            Err(_) => panic!("{}: no more output", self.name),
        }
    }

    /// The server is still serving.
    fn assert_running(&mut self) {
        let status = self.child.try_wait().expect("try_wait");
        assert!(status.is_none(), "{} exited: {status:?}", self.name);
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A line-reading TCP client with timeouts, so a silent server fails the test.
struct Peer {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Peer {
    fn connect(addr: &str) -> Peer {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Peer {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    fn say(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).expect("write");
    }

    fn hear(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("read a line");
        line
    }
}

#[test]
fn echo_server_echoes_each_client_once_and_keeps_serving() {
    let mut server = Live::start("echo_server", &["--host", "127.0.0.1", "--port", "0"]);
    let listening = server.next_line();
    let port = scan("服务器监听: ('127.0.0.1', {})", &listening)
        .map(|p| p[0].parse::<u16>().expect("a port"))
        .unwrap_or_else(|| panic!("not the listening line: {listening:?}"));
    assert_ne!(port, 0);
    let port_arg = port.to_string();

    for _ in 0..2 {
        let client = run(
            "echo_client".to_owned(),
            command("echo_client", &["--port", &port_arg]),
        )
        .unwrap_or_else(|message| panic!("{message}"));
        client.assert_success();
        client.assert_lines(&["发送数据: Hello Streams", "接收数据: b'Hello Streams'"]);
        for want in [
            "接收数据: Hello Streams",
            "发送数据: Hello Streams",
            "关闭连接",
        ] {
            assert_eq!(server.next_line(), want);
        }
    }

    // A client of our own: the echo, then the server closes the connection.
    let mut peer = Peer::connect(&format!("127.0.0.1:{port}"));
    peer.say("ping");
    let mut echoed = String::new();
    peer.reader
        .read_to_string(&mut echoed)
        .expect("read to the end");
    assert_eq!(echoed, "ping");
    for want in ["接收数据: ping", "发送数据: ping", "关闭连接"] {
        assert_eq!(server.next_line(), want);
    }
    server.assert_running();
}

#[test]
fn echo_protocol_echoes_each_client_and_closes_it() {
    let mut server = Live::start("echo_protocol", &["--port", "0"]);
    let listening = server.next_line();
    let port = scan("Serving on 127.0.0.1:{}", &listening)
        .map(|p| p[0].parse::<u16>().expect("a port"))
        .unwrap_or_else(|| panic!("not the listening line: {listening:?}"));
    assert_ne!(port, 0);
    for message in ["Hello World!", "again"] {
        let mut peer = Peer::connect(&format!("127.0.0.1:{port}"));
        peer.say(message);
        // The protocol writes the echo and closes the transport: the client reads to the end.
        let mut echoed = String::new();
        peer.reader
            .read_to_string(&mut echoed)
            .expect("read to the end");
        assert_eq!(echoed, message);
        let connected = server.next_line();
        assert!(
            connected.starts_with("Connection from 127.0.0.1:"),
            "{connected:?}"
        );
        for want in [
            format!("Data received: {message:?}"),
            format!("Send: {message:?}"),
            "Close the client socket".to_owned(),
        ] {
            assert_eq!(server.next_line(), want);
        }
    }
    server.assert_running();
}

#[test]
fn chat_server_demo_prints_its_transcript() {
    let run = finished("chat_server --demo");
    run.assert_success();
    run.assert_lines(&[
        "[server] listening on 127.0.0.1 (a free port)",
        "alice < *** what is your name?",
        "alice > alice",
        "[server] alice joined",
        "alice < *** welcome, alice! 1 online",
        "bob < *** what is your name?",
        "bob > bob",
        "[server] bob joined",
        "bob < *** welcome, bob! 2 online",
        "alice < *** bob joined",
        "alice > hi bob",
        "bob < alice: hi bob",
        "bob > hello alice, bye",
        "alice < bob: hello alice, bye",
        "bob disconnects",
        "[server] bob left",
        "alice < *** bob left",
        "alice disconnects",
        "[server] alice left",
        "[server] closed",
    ]);
}

/// `Transport::set_protocol`: the line protocol answers `PING`, upgrades on `UPGRADE`, and
/// the echo protocol it hands the connection to echoes the rest and hears `connection_lost`.
#[test]
fn protocol_upgrade_switches_protocols_mid_connection() {
    let run = finished("protocol_upgrade");
    run.assert_success();
    assert_eq!(run.lines.len(), 8, "{}", run.dump());
    let port =
        scan("Serving on 127.0.0.1:{}", &run.lines[0]).unwrap_or_else(|| panic!("{}", run.dump()));
    let port: u16 = number(port[0], &run);
    assert_ne!(port, 0);
    assert_eq!(
        run.lines[1..],
        [
            "client> PING",
            "server< PONG",
            "client> UPGRADE",
            "server< OK, echoing bytes from now on",
            "client> hello, raw bytes",
            "server< hello, raw bytes",
            "Echo protocol: 16 bytes echoed, connection closed",
        ]
    );
}

/// asyncio's UDP echo server and client protocols: the client's datagram comes back, the
/// client closes, and `main` ends on its `connection_lost`.
#[test]
fn udp_echo_protocol_demo_echoes_and_closes() {
    let run = finished("udp_echo_protocol --demo");
    run.assert_success();
    assert_eq!(run.lines.len(), 7, "{}", run.dump());
    assert_eq!(
        run.lines[..2],
        ["Starting UDP server", "Send: Hello World!"]
    );
    let from = scan("Received 'Hello World!' from 127.0.0.1:{}", &run.lines[2])
        .unwrap_or_else(|| panic!("{}", run.dump()));
    let port: u16 = number(from[0], &run);
    assert_ne!(port, 0);
    assert_eq!(
        run.lines[3],
        format!("Send 'Hello World!' to 127.0.0.1:{port}")
    );
    assert_eq!(
        run.lines[4..],
        [
            "Received: Hello World!",
            "Close the socket",
            "Connection closed"
        ]
    );
}

#[test]
fn chat_server_broadcasts_between_real_clients() {
    let mut server = Live::start("chat_server", &["--port", "0"]);
    let listening = server.next_line();
    let captured = scan(
        "[server] listening on 127.0.0.1:{} (connect with: nc 127.0.0.1 {})",
        &listening,
    )
    .unwrap_or_else(|| panic!("not the listening line: {listening:?}"));
    assert_eq!(captured[0], captured[1]);
    let addr = format!("127.0.0.1:{}", captured[0]);

    let mut ann = Peer::connect(&addr);
    assert_eq!(ann.hear(), "*** what is your name?\n");
    ann.say("ann\r\n"); // telnet's line ending
    assert_eq!(ann.hear(), "*** welcome, ann! 1 online\n");
    let joined = server.next_line();
    assert!(
        joined.starts_with("[server] ann joined from 127.0.0.1:"),
        "{joined:?}"
    );

    let mut ben = Peer::connect(&addr);
    assert_eq!(ben.hear(), "*** what is your name?\n");
    ben.say("ben\n");
    assert_eq!(ben.hear(), "*** welcome, ben! 2 online\n");
    assert_eq!(ann.hear(), "*** ben joined\n");
    assert!(server.next_line().starts_with("[server] ben joined from "));

    ann.say("hello ben\n");
    assert_eq!(ben.hear(), "ann: hello ben\n");
    ben.say("bye ann\n");
    assert_eq!(ann.hear(), "ben: bye ann\n");

    drop(ben);
    assert_eq!(ann.hear(), "*** ben left\n");
    assert_eq!(server.next_line(), "[server] ben left");

    // A blank name gets a guest name from the connection count.
    let mut guest = Peer::connect(&addr);
    assert_eq!(guest.hear(), "*** what is your name?\n");
    guest.say("  \n");
    assert_eq!(guest.hear(), "*** welcome, guest2! 2 online\n");
    assert_eq!(ann.hear(), "*** guest2 joined\n");
    server.assert_running();
}

/// A crawl log line without its `HH:MM:SS ` stamp.
fn unstamped(line: &str) -> &str {
    match line.split_at_checked(8) {
        Some((stamp, rest)) if is_clock(stamp) && rest.starts_with(' ') => &rest[1..],
        _ => panic!("no time stamp on {line:?}"),
    }
}

/// Checks that each URL's lines come in order: got the response, found links, wrote them.
fn assert_per_url_order(messages: &[&str], urls: &[String]) {
    for url in urls {
        let at = |prefix: &str| {
            let wanted = format!("{prefix}{url}");
            messages
                .iter()
                .position(|m| m.starts_with("INFO: areq:") && m.ends_with(&wanted))
                .unwrap_or_else(|| panic!("no {wanted:?} in {messages:#?}"))
        };
        let got = at("Got response [200] for URL: ");
        let found = at(" links for ");
        let wrote = at("Wrote results for source URL: ");
        assert!(got < found && found < wrote, "{url}: {messages:#?}");
    }
}

#[test]
fn crawl_fetches_its_demo_site_and_writes_every_link() {
    let run = finished("crawl");
    run.assert_success();
    let messages: Vec<&str> = run.lines.iter().map(|l| unstamped(l)).collect();
    let base = scan(
        "INFO: areq:Serving the demo site on http://127.0.0.1:{}/",
        messages[0],
    )
    .map(|p| format!("http://127.0.0.1:{}", p[0]))
    .unwrap_or_else(|| panic!("{}", run.dump()));
    let out = scratch("crawl").join("found.txt");

    // The order depends on the scheduling; the lines do not.
    let mut expected: Vec<String> = vec![
        "ERROR: areq:HTTP exception for http://127.0.0.1:1/ [None]: Connect call failed 127.0.0.1:1: Connection refused (os error 111)".into(),
        "ERROR: areq:HTTP exception for https://example.com/ [None]: only http:// URLs are supported".into(),
        format!("ERROR: areq:HTTP exception for {base}/missing [404]: Not Found"),
    ];
    for (path, links) in [("/", 4), ("/a", 4), ("/b", 3), ("/sub/d", 4)] {
        let url = format!("{base}{path}");
        expected.push(format!("INFO: areq:Got response [200] for URL: {url}"));
        expected.push(format!("INFO: areq:Found {links} links for {url}"));
        expected.push(format!("INFO: areq:Wrote results for source URL: {url}"));
    }
    let mut middle: Vec<String> = messages[1..messages.len() - 1]
        .iter()
        .map(|m| m.to_string())
        .collect();
    middle.sort();
    expected.sort();
    assert_eq!(middle, expected, "{}", run.dump());
    assert_eq!(
        messages[messages.len() - 1],
        format!("INFO: areq:Wrote 15 links to {}", out.display()),
        "{}",
        run.dump()
    );
    let urls: Vec<String> = ["/", "/a", "/b", "/sub/d"]
        .iter()
        .map(|p| format!("{base}{p}"))
        .collect();
    assert_per_url_order(&messages, &urls);

    // Each page's links, resolved as urljoin does, one write per page.
    let written = std::fs::read_to_string(&out).expect("the output file");
    let mut lines = written.lines();
    assert_eq!(lines.next(), Some("source_url\tparsed_url"));
    let found: BTreeSet<&str> = lines.collect();
    let b = &base;
    let expected: BTreeSet<String> = [
        ("/", format!("{b}/a")),
        ("/", format!("{b}/b")),
        ("/", format!("{b}/sub/d")),
        ("/", "http://example.com/".to_owned()),
        ("/a", format!("{b}/")),
        ("/a", format!("{b}/c")),
        ("/a", format!("{b}/a#top")),
        ("/a", format!("{b}/a?page=2")),
        ("/b", format!("{b}/a")),
        ("/b", format!("{b}/sub/d")),
        ("/b", "mailto:me@example.com".to_owned()),
        ("/sub/d", format!("{b}/sub/style.css")),
        ("/sub/d", format!("{b}/a")),
        ("/sub/d", format!("{b}/sub/e")),
        ("/sub/d", "http://example.org/x".to_owned()),
    ]
    .into_iter()
    .map(|(page, link)| format!("{b}{page}\t{link}"))
    .collect();
    let found: BTreeSet<String> = found.into_iter().map(str::to_owned).collect();
    assert_eq!(found, expected);
    assert_eq!(written.lines().count(), 16, "no duplicates: {written}");
}

/// Serves `connections` requests on `listener`: `/` is a page of links, anything else is a
/// 404. Sends each request's head back on the channel.
fn serve_http(listener: TcpListener, connections: usize) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let port = listener.local_addr().expect("local_addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut stream) = stream else { break };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut head = Vec::new();
            let mut byte = [0u8];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let body = format!(
                "<a href=\"/x\">x</a> <a href=\"y?q=1\">y</a> <a href=\"http://[::1]:{port}/z\">z</a>"
            );
            let response = if head.starts_with("GET / ") {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned()
            };
            let _ = stream.write_all(response.as_bytes());
            let _ = tx.send(head);
        }
    });
    rx
}

#[test]
fn crawl_fetches_a_list_of_urls_from_an_ipv6_literal_host() {
    let listener = match TcpListener::bind("[::1]:0") {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("skipped: no IPv6 loopback here ({error})");
            return;
        }
    };
    let port = listener.local_addr().expect("local_addr").port();
    let requests = serve_http(listener, 2);
    let base = format!("http://[::1]:{port}");
    let dir = scratch("crawl-ipv6");
    let (urls, out) = (dir.join("urls.txt"), dir.join("found.txt"));
    // A repeated URL is fetched once (the seed reads the list into a set).
    std::fs::write(&urls, format!("{base}/\n{base}/nope\n\n{base}/\n")).expect("urls");
    let run = run(
        "crawl --urls".to_owned(),
        command(
            "crawl",
            &[
                "--urls",
                urls.to_str().expect("UTF-8"),
                "--out",
                out.to_str().expect("UTF-8"),
            ],
        ),
    )
    .unwrap_or_else(|message| panic!("{message}"));
    run.assert_success();

    let messages: Vec<&str> = run.lines.iter().map(|l| unstamped(l)).collect();
    let mut got: Vec<&str> = messages[..messages.len() - 1].to_vec();
    got.sort_unstable();
    let mut expected = vec![
        format!("INFO: areq:Got response [200] for URL: {base}/"),
        format!("INFO: areq:Found 3 links for {base}/"),
        format!("INFO: areq:Wrote results for source URL: {base}/"),
        format!("ERROR: areq:HTTP exception for {base}/nope [404]: Not Found"),
    ];
    expected.sort();
    assert_eq!(got, expected, "{}", run.dump());
    assert_eq!(
        messages[messages.len() - 1],
        format!("INFO: areq:Wrote 3 links to {}", out.display())
    );
    assert_per_url_order(&messages, &[format!("{base}/")]);

    let written = std::fs::read_to_string(&out).expect("the output file");
    let mut lines: Vec<&str> = written.lines().collect();
    lines[1..].sort_unstable();
    assert_eq!(
        lines,
        [
            "source_url\tparsed_url".to_owned(),
            format!("{base}/\t{base}/x"),
            format!("{base}/\t{base}/y?q=1"),
            format!("{base}/\t{base}/z"),
        ]
    );

    // The Host header keeps the brackets; the request line has the path only.
    let mut heads: Vec<String> = (0..2)
        .map(|_| {
            requests
                .recv_timeout(Duration::from_secs(10))
                .expect("both requests")
        })
        .collect();
    heads.sort();
    for (head, path) in heads.iter().zip(["/", "/nope"]) {
        assert!(
            head.starts_with(&format!("GET {path} HTTP/1.1\r\n")),
            "{head:?}"
        );
        assert!(
            head.contains(&format!("\r\nHost: [::1]:{port}\r\n")),
            "{head:?}"
        );
    }
}
