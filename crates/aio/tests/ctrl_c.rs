//! Signals checked on real processes. The `ctrl_c` example runs as a child, gets SIGINT from
//! here, and must clean up and exit (first SIGINT), or die at once (second SIGINT during a
//! slow cleanup). The `signals` example server must shut down cleanly on SIGINT and SIGTERM.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// An example's binary: `cargo test` builds the examples next to the test binaries
/// (`target/<profile>/examples/`).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test -p aio` builds it",
        path.display()
    );
    path
}

/// Starts an example and returns it with a channel of its stdout lines.
fn start_example(name: &str, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(example(name))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the example");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Reads lines until one equals `wanted`; returns every line read.
fn wait_for_line(lines: &mpsc::Receiver<String>, wanted: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let done = line == wanted;
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!("no {wanted:?} line; got {seen:?}"),
        }
    }
}

fn start(args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    start_example("ctrl_c", args)
}

fn sigint(child: &Child) {
    send(child, "-INT");
}

fn send(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// Waits for the child to exit, failing (and killing it) after 20 s.
fn wait(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the example did not exit after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn first_sigint_cancels_the_main_task_which_cleans_up() {
    let (mut child, lines) = start(&[]);
    wait_for_line(&lines, "tick 2");
    sigint(&child);
    let status = wait(&mut child);
    let rest: Vec<String> = lines.iter().collect();
    assert!(
        rest.iter()
            .any(|l| l.starts_with("cancelled after") && l.ends_with("cleaning up")),
        "{rest:?}"
    );
    assert_eq!(
        rest.last().map(String::as_str),
        Some("cleanup done"),
        "{rest:?}"
    );
    assert_eq!(
        status.code(),
        Some(130),
        "KeyboardInterrupt exits 130: {status:?}"
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(stderr.trim(), "interrupted");
}

#[test]
fn second_sigint_interrupts_a_slow_cleanup_at_once() {
    let (mut child, lines) = start(&["--slow-cleanup"]);
    wait_for_line(&lines, "tick 1");
    sigint(&child);
    // The cleanup has started (and will take 30 s): the second SIGINT ends it now.
    wait_for_line(&lines, "cancelled after 1 ticks: cleaning up");
    let start = Instant::now();
    sigint(&child);
    let status = wait(&mut child);
    assert_eq!(status.signal(), Some(2), "killed by SIGINT: {status:?}");
    assert!(start.elapsed() < Duration::from_secs(15), "not at once");
    assert!(lines.iter().all(|l| l != "cleanup done"));
}

/// Regression: the first SIGINT's handler runs on the loop, so while the loop was blocked it
/// never ran, SIGINT stayed caught, and a second Ctrl-C did nothing until the loop came back.
/// asyncio's second Ctrl-C raises `KeyboardInterrupt` in whatever code is running.
#[test]
fn second_sigint_ends_a_blocked_loop_at_once() {
    let (mut child, lines) = start(&["--block"]);
    wait_for_line(&lines, "blocking the loop");
    let start = Instant::now();
    sigint(&child);
    std::thread::sleep(Duration::from_millis(100));
    sigint(&child);
    let status = wait(&mut child);
    assert_eq!(status.signal(), Some(2), "killed by SIGINT: {status:?}");
    assert!(start.elapsed() < Duration::from_secs(15), "not at once");
}

#[test]
fn run_off_the_main_thread_leaves_sigint_alone() {
    // Test threads are not the main thread: `run` must not take SIGINT from the process.
    let untouched = std::thread::spawn(|| {
        aio::run(async { aio::signal::is_default(aio::signal::SIGINT) }).unwrap()
    })
    .join()
    .unwrap();
    assert!(untouched);
}

#[test]
fn signals_example_shuts_down_cleanly_on_sigint_and_sigterm() {
    for (flag, name) in [("-INT", "SIGINT"), ("-TERM", "SIGTERM")] {
        let (mut child, lines) = start_example("signals", &[]);
        wait_for_line(&lines, "send SIGINT (Ctrl-C) or SIGTERM to stop");
        send(&child, flag);
        let status = wait(&mut child);
        let rest: Vec<String> = lines.iter().collect();
        assert_eq!(
            rest,
            [format!("received {name}"), "server closed, bye".to_owned()],
            "{name}"
        );
        assert_eq!(status.code(), Some(0), "{name}: {status:?}");
    }
}
