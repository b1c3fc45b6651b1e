//! The process-wide reaper of children left behind: children still running when the loop
//! that watched them closed (and, rarely, a child that could be neither watched nor killed).
//! Nothing on a loop can reap them any more, and nothing says the program will ever spawn
//! again, so a thread does: started lazily when the first such child is handed over, it
//! blocks in `poll(2)` on a pidfd per child (plus a wake-up pipe for new arrivals), reaps each
//! one by pid as it exits, and ends as soon as none is left. Never `waitpid(-1)`: children
//! that aio did not spawn are left to their owners.
//!
//! Where `pidfd_open` fails (before Linux 5.3, or out of descriptors) the thread polls those
//! children with `waitpid(pid, WNOHANG)` every [`POLL_INTERVAL`] instead.

use std::io::{PipeReader, PipeWriter, Read, Write};
use std::os::fd::OwnedFd;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::{Pid, PidfdFlags, WaitOptions};

/// How often children without a pidfd are polled: 100 ms.
const POLL_INTERVAL: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 100_000_000,
};

/// What the loops (handing children over) and the reaper thread share.
struct Shared {
    /// Pids handed over and not yet taken by the thread.
    pending: Vec<i32>,
    /// The write end of the running thread's wake-up pipe; `None` while no thread runs.
    wake: Option<PipeWriter>,
    /// A wake-up byte is in the pipe that the thread has not taken `pending` since: no
    /// second one is needed (so the pipe never fills and a write never blocks).
    woken: bool,
}

static SHARED: Mutex<Shared> = Mutex::new(Shared {
    pending: Vec::new(),
    wake: None,
    woken: false,
});

fn shared() -> MutexGuard<'static, Shared> {
    // Nothing panics while holding the lock; if something did, the state is still whole.
    SHARED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Hands the children `pids` (ours, not yet reaped, which nothing else will wait for) to the
/// reaper thread, starting it if it is not running.
pub(crate) fn adopt(pids: impl IntoIterator<Item = i32>) {
    let mut shared = shared();
    let before = shared.pending.len();
    shared.pending.extend(pids);
    if shared.pending.len() == before {
        return;
    }
    if shared.woken {
        return;
    }
    match shared.wake.as_mut() {
        Some(wake) => {
            // At most one byte is ever in the pipe (see `woken`), so this cannot block. It
            // cannot fail either: the thread holds the read end until it has cleared `wake`.
            if wake.write_all(&[1]).is_ok() {
                shared.woken = true;
            }
        }
        None => start(&mut shared),
    }
}

/// At a spawn: if children were handed over but no thread could be started for them (out of
/// threads or descriptors), reaps those that exited meanwhile and tries to start it again.
pub(crate) fn retry() {
    let mut shared = shared();
    if shared.wake.is_some() || shared.pending.is_empty() {
        return;
    }
    shared.pending.retain(|&pid| !reaped(pid));
    if !shared.pending.is_empty() {
        start(&mut shared);
    }
}

/// Starts the reaper thread. On failure the children stay pending, for [`retry`] or the next
/// [`adopt`].
fn start(shared: &mut Shared) {
    let Ok((read, write)) = std::io::pipe() else {
        return;
    };
    let started = std::thread::Builder::new()
        .name("aio-reaper".into())
        .spawn(move || reap_until_none_left(read));
    if started.is_ok() {
        // The thread waits for the lock, held here, before it looks at anything.
        shared.wake = Some(write);
        shared.woken = false;
    }
}

/// `waitpid(pid, WNOHANG)`: whether `pid` is reaped (or gone: reaped by someone else, which
/// a `waitpid(-1)` elsewhere can do; nobody is waiting for its status here).
fn reaped(pid: i32) -> bool {
    let Some(target) = Pid::from_raw(pid) else {
        return true;
    };
    match rustix::process::waitpid(Some(target), WaitOptions::NOHANG) {
        Ok(Some(_)) => true,
        Ok(None) | Err(rustix::io::Errno::INTR) => false,
        Err(_) => true,
    }
}

/// A child the thread waits for.
struct Orphan {
    pid: i32,
    /// Readable once the child exits; `None` if `pidfd_open` failed (polled instead).
    pidfd: Option<OwnedFd>,
}

impl Orphan {
    fn new(pid: i32) -> Orphan {
        #[cfg(test)]
        if tests::NO_PIDFD.load(std::sync::atomic::Ordering::Relaxed) {
            return Orphan { pid, pidfd: None };
        }
        // Not reaped yet, so the pid still names our child (exited or not): no reuse race.
        let pidfd = Pid::from_raw(pid)
            .and_then(|target| rustix::process::pidfd_open(target, PidfdFlags::empty()).ok());
        Orphan { pid, pidfd }
    }
}

/// The reaper thread: takes over the handed-over children, reaps those that exited, sleeps
/// until one exits or more arrive; ends when none is left.
fn reap_until_none_left(mut wake: PipeReader) {
    let mut orphans: Vec<Orphan> = Vec::new();
    // Pids whose pidfd the last `poll` reported readable.
    let mut signalled: Vec<i32> = Vec::new();
    loop {
        {
            let mut shared = shared();
            shared.woken = false;
            orphans.extend(shared.pending.drain(..).map(Orphan::new));
            orphans.retain(|orphan| !reaped(orphan.pid));
            if orphans.is_empty() {
                // Under the lock: a child handed over from now on starts a new thread.
                shared.wake = None;
                return;
            }
        }
        // A pidfd that was readable although its child could not be reaped stays readable:
        // Linux 5.3-5.6 signal a pidfd when the thread-group leader exits while other threads
        // run on. Polling it again would spin, so that child is polled on the timer instead.
        for orphan in orphans.iter_mut() {
            if signalled.contains(&orphan.pid) {
                orphan.pidfd = None;
            }
        }
        signalled.clear();
        let mut fds = Vec::with_capacity(orphans.len() + 1);
        fds.push(PollFd::new(&wake, PollFlags::IN));
        fds.extend(
            orphans
                .iter()
                .filter_map(|orphan| orphan.pidfd.as_ref())
                .map(|pidfd| PollFd::new(pidfd, PollFlags::IN)),
        );
        let polled = orphans.iter().any(|orphan| orphan.pidfd.is_none());
        // Which pidfd turned readable does not matter: every child is checked above, and a
        // few `waitpid(WNOHANG)` cost less than bookkeeping. EINTR: just go round again.
        let woken = match rustix::event::poll(&mut fds, polled.then_some(&POLL_INTERVAL)) {
            Ok(_) => {
                let with_pidfd = orphans.iter().filter(|orphan| orphan.pidfd.is_some());
                for (orphan, fd) in with_pidfd.zip(&fds[1..]) {
                    if !fd.revents().is_empty() {
                        signalled.push(orphan.pid);
                    }
                }
                fds[0].revents().contains(PollFlags::IN)
            }
            Err(rustix::io::Errno::INTR) => false,
            Err(_) => {
                // Out of memory for the poll set, say: poll the children instead of spinning.
                std::thread::sleep(Duration::from_millis(100));
                false
            }
        };
        drop(fds);
        if woken {
            // One byte at most (see `Shared::woken`), and the pipe is readable: no blocking.
            let _ = wake.read(&mut [0; 8]);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    /// While set, the reaper gets no pidfd for the children it takes over (as before Linux
    /// 5.3, or out of descriptors), so it polls them.
    pub(super) static NO_PIDFD: AtomicBool = AtomicBool::new(false);

    /// Whether `pid` is still our child (running or a zombie).
    fn still_ours(pid: u32) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        let fields: Vec<&str> = stat[stat.rfind(')').expect("comm") + 1..]
            .split_whitespace()
            .collect();
        fields.get(1) == Some(&std::process::id().to_string().as_str())
    }

    /// Children handed over without a pidfd are polled and reaped all the same, and the
    /// thread takes more children while it runs.
    #[test]
    fn children_without_a_pidfd_are_polled_and_reaped() {
        NO_PIDFD.store(true, Ordering::Relaxed);
        let mut pids = Vec::new();
        for delay in ["0.2", "0"] {
            #[allow(clippy::zombie_processes)] // waited for by the reaper thread
            let child = std::process::Command::new("sleep")
                .arg(delay)
                .spawn()
                .expect("spawn sleep");
            // `std`'s handle neither waits nor kills on drop: the child is the reaper's.
            pids.push(child.id());
            super::adopt([child.id() as i32]);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        for pid in pids {
            while still_ours(pid) {
                assert!(Instant::now() < deadline, "pid {pid} was never reaped");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // Cleared only now: the thread may take the pids over at any time before this.
        NO_PIDFD.store(false, Ordering::Relaxed);
    }
}
