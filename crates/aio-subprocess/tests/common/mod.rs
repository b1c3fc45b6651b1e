//! Helpers shared by the subprocess tests: this process's children as `/proc` shows them,
//! and the bounded waits every potentially hanging `await` goes through.

#![allow(dead_code)] // each test file uses its own subset

use std::time::{Duration, Instant};

/// The deadline for any single await that could hang if the crate had a bug.
pub const LIMIT: f64 = 20.0;

/// `(ppid, state)` of process `pid` from `/proc/<pid>/stat`, or `None` if it is gone.
pub fn proc_state(pid: u32) -> Option<(u32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat).map(|(_, ppid, state)| (ppid, state))
}

/// `(pid, ppid, state)` from the text of a `/proc/<pid>/stat` file. The command name is in
/// parentheses and may itself contain spaces and parentheses: the fields after it start at
/// the last `)`.
fn parse_stat(stat: &str) -> Option<(u32, u32, char)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let pid = stat[..open].trim().parse().ok()?;
    let mut rest = stat[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((pid, ppid, state))
}

/// `(pid, state)` of every process whose parent is this test process.
pub fn children() -> Vec<(u32, char)> {
    let me = std::process::id();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        // A process can vanish between the listing and the read: skip it.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((_, ppid, state)) = parse_stat(&stat) {
            if ppid == me {
                found.push((pid, state));
            }
        }
    }
    found
}

/// The zombie children of this test process.
pub fn zombie_children() -> Vec<u32> {
    children()
        .into_iter()
        .filter(|&(_, state)| state == 'Z')
        .map(|(pid, _)| pid)
        .collect()
}

/// Scans for zombie children until there are none or `within` has passed, sleeping on the
/// running loop between scans so it keeps reaping; the zombies left (empty on success).
pub async fn zombies_after(within: Duration) -> Vec<u32> {
    let deadline = Instant::now() + within;
    loop {
        let zombies = zombie_children();
        if zombies.is_empty() || Instant::now() >= deadline {
            return zombies;
        }
        aio_scheduler::sleep(0.02)
            .await
            .expect("sleep on the running loop");
    }
}

/// A path under the temporary directory that no other test (or run) uses.
pub fn unique_temp_path(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "aio-subprocess-{tag}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

#[test]
fn parse_stat_handles_awkward_command_names() {
    assert_eq!(
        parse_stat("123 (a) b) (c) Z 45 123 123 0 -1"),
        Some((123, 45, 'Z'))
    );
    assert_eq!(parse_stat("7 (sleep) S 1 7 7 0"), Some((7, 1, 'S')));
    assert_eq!(parse_stat("garbage"), None);
}
