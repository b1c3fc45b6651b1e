//! A running program dumps its tasks on a signal it opted into, and keeps running: the
//! `stuck` example (two workers deadlocked on two locks, a consumer on an empty queue, a
//! supervisor gathering them, `main` waiting for the supervisor) gets `SIGUSR1` from here,
//! twice; each time its stderr must show every task with the line of the example it waits at
//! (the lines marked `// waits:` in `examples/stuck.rs`) and the tree of who awaits whom. The
//! same through `AIO_DUMP_SIGNAL` alone (`SIGUSR2`, which the example does not handle itself).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// An example's binary (`cargo test` builds the examples next to the test binaries; so does
/// this function, since `cargo test --test dump_on_signal` alone does not).
fn example(name: &str) -> PathBuf {
    if let Some(cargo) = std::env::var_os("CARGO") {
        let built = Command::new(cargo)
            .args(["build", "--quiet", "-p", "aio", "--example", name])
            .stdin(Stdio::null())
            .status()
            .expect("run cargo build");
        assert!(built.success(), "the example does not build");
    }
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

/// The lines of `examples/stuck.rs` marked `// waits: NAME`.
fn marked_lines() -> HashMap<String, u32> {
    let source = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/stuck.rs"),
    )
    .expect("read examples/stuck.rs");
    let lines: HashMap<String, u32> = source
        .lines()
        .enumerate()
        .filter_map(|(n, line)| {
            let name = line.split("// waits: ").nth(1)?;
            Some((name.trim().to_owned(), n as u32 + 1))
        })
        .collect();
    assert_eq!(lines.len(), 4, "markers in stuck.rs: {lines:?}");
    lines
}

/// Lines of a child's pipe, through a channel.
fn lines_of(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads lines until `done` says the block is complete; panics after 20 s.
fn read_until(rx: &mpsc::Receiver<String>, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while !done(&seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("timed out; read so far:\n{}", seen.join("\n")),
        }
    }
    seen
}

fn send(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// Starts `stuck` and waits until it says every task is parked.
fn start(env: &[(&str, &str)]) -> (Child, mpsc::Receiver<String>, mpsc::Receiver<String>) {
    let mut child = Command::new(example("stuck"))
        .arg("30")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn stuck");
    let out = lines_of(child.stdout.take().expect("stdout"));
    let err = lines_of(child.stderr.take().expect("stderr"));
    read_until(&out, |seen| seen.last().is_some_and(|l| l == "ready"));
    (child, out, err)
}

/// Reads one dump (table and tree) from stderr and checks it.
fn check_dump(err: &mpsc::Receiver<String>, marks: &HashMap<String, u32>) {
    let dump = read_until(err, |seen| {
        seen.iter().any(|l| l.contains("(T) consumer"))
            && seen.iter().filter(|l| l.contains("(T) ")).count() >= 5
    });
    let text = dump.join("\n");
    let at = |name: &str| format!("stuck.rs:{}:", marks[name]);
    let row = |name: &str| {
        dump.iter()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no row for {name} in:\n{text}"))
    };
    assert!(text.contains("Event loop "), "{text}");
    for (task, mark) in [
        ("main", "main"),
        ("supervisor", "supervisor"),
        ("left", "worker"),
        ("right", "worker"),
        ("consumer", "consumer"),
    ] {
        let row = row(task);
        assert!(row.contains(" pending "), "{task}: {row}");
        assert!(
            row.contains(&at(mark)),
            "{task} should wait at {}: {row}",
            at(mark)
        );
    }
    for child in ["left", "right", "consumer"] {
        assert!(row(child).contains("supervisor ("), "{text}");
    }
    assert!(row("supervisor").contains("main (1)"), "{text}");
    // The tree: main, then the supervisor under it, then the three under the supervisor.
    let tree: Vec<&String> = dump.iter().filter(|l| l.contains("(T) ")).collect();
    assert!(tree[0].starts_with("└── (T) main"), "{text}");
    assert!(tree[1].starts_with("    └── (T) supervisor"), "{text}");
    for line in &tree[2..5] {
        assert!(line.starts_with("        "), "{text}");
    }
    assert!(tree[0].contains(&at("main")), "{text}");
}

#[test]
fn sigusr1_prints_the_tasks_and_where_each_waits_without_stopping_the_program() {
    let marks = marked_lines();
    let (mut child, out, err) = start(&[]);
    send(&child, "USR1");
    check_dump(&err, &marks);
    // Still running: a second signal, a second dump.
    send(&child, "USR1");
    check_dump(&err, &marks);
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the program stopped"
    );
    assert!(out.try_recv().is_err(), "nothing else on stdout");
    child.kill().expect("kill");
    child.wait().expect("wait");
}

#[test]
fn aio_dump_signal_makes_a_program_dump_on_a_signal_it_never_asked_for() {
    let marks = marked_lines();
    let (mut child, _out, err) = start(&[("AIO_DUMP_SIGNAL", "SIGUSR2")]);
    send(&child, "USR2");
    check_dump(&err, &marks);
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the program stopped"
    );
    child.kill().expect("kill");
    child.wait().expect("wait");
}
