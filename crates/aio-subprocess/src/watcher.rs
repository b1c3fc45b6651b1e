//! Reaping children: a pidfd per child, registered with the loop's reactor, where the
//! kernel has pidfd (Linux 5.3+); SIGCHLD, handled on the loop, otherwise. No helper thread
//! either way while the loop runs, and never `waitpid(-1)`: only our own children are reaped,
//! by pid. Children still running when their loop closes go to the [`reaper`](crate::reaper)
//! thread.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::poll_fn;
use std::os::fd::OwnedFd;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Poll, Waker};

use aio_reactor::AsyncFd;
use aio_scheduler::{EventLoop, LoopHandle, signal};
use rustix::process::{Pid, PidfdFlags, WaitOptions};

/// How a loop learns that its children exited.
///
/// # Examples
///
/// ```
/// use aio_subprocess::{ChildWatcher, child_watcher, set_child_watcher};
///
/// let lp = aio_scheduler::EventLoop::new()?;
/// assert_eq!(child_watcher(&lp), ChildWatcher::Pidfd); // on Linux 5.3 and later
/// set_child_watcher(&lp, ChildWatcher::Sigchld);
/// assert_eq!(child_watcher(&lp), ChildWatcher::Sigchld);
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildWatcher {
    /// A pidfd per child in the loop's reactor (asyncio's `PidfdChildWatcher`): the default
    /// where the kernel supports it.
    Pidfd,
    /// A SIGCHLD handler on the loop that polls each child with `waitpid(pid, WNOHANG)`
    /// (asyncio's `SafeChildWatcher`): the fallback. The first such child installs the loop's
    /// SIGCHLD handler, replacing one added earlier with `add_signal_handler`.
    ///
    /// A program that later replaces that handler with its own `add_signal_handler(SIGCHLD,
    /// ..)`, or removes it, keeps its handler: the loop's children are then reaped by polling
    /// each one with `waitpid(pid, WNOHANG)` every 100 ms while any runs, so `wait()` still
    /// finishes (asyncio's SIGCHLD watchers hang there instead).
    Sigchld,
}

/// Whether `pidfd_open` works here; cleared the first time it reports `ENOSYS`.
static PIDFD_WORKS: AtomicBool = AtomicBool::new(true);

/// How often the children of a loop whose SIGCHLD handler was replaced or removed are polled.
const POLL_INTERVAL: f64 = 0.1;

/// Sets how `lp` watches the children it spawns from now on.
///
/// # Examples
///
/// ```
/// use aio_subprocess::{ChildWatcher, child_watcher, set_child_watcher};
///
/// let lp = aio_scheduler::EventLoop::new()?;
/// set_child_watcher(&lp, ChildWatcher::Sigchld); // the children spawned from now on
/// assert_eq!(child_watcher(&lp), ChildWatcher::Sigchld);
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
pub fn set_child_watcher(lp: &EventLoop, watcher: ChildWatcher) {
    lp.extension::<Children>().mode.set(Some(watcher));
}

/// How `lp` watches its children: [`ChildWatcher::Pidfd`] unless set otherwise or the kernel
/// lacks pidfd.
///
/// # Examples
///
/// ```
/// use aio_subprocess::{ChildWatcher, child_watcher};
///
/// let lp = aio_scheduler::EventLoop::new()?;
/// // Pidfd where the kernel has it (Linux 5.3+), else the SIGCHLD fallback.
/// assert!(matches!(child_watcher(&lp), ChildWatcher::Pidfd | ChildWatcher::Sigchld));
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
pub fn child_watcher(lp: &EventLoop) -> ChildWatcher {
    lp.extension::<Children>().mode()
}

/// One child, as its `Process` and its reaper share it.
pub(crate) struct ChildState {
    pub(crate) pid: i32,
    pub(crate) returncode: Cell<Option<i32>>,
    /// The loop watching the child closed before the child exited: nobody will set the
    /// returncode (the reaper thread reaps the child).
    pub(crate) orphaned: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl ChildState {
    /// Waits until the child was reaped; its returncode. `None` if the loop that watched the
    /// child closed first.
    pub(crate) async fn wait(&self) -> Option<i32> {
        poll_fn(|cx| {
            if let Some(code) = self.returncode.get() {
                return Poll::Ready(Some(code));
            }
            if self.orphaned.get() {
                return Poll::Ready(None);
            }
            let mut waiters = self.waiters.borrow_mut();
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    fn exited(&self, code: i32) {
        self.returncode.set(Some(code));
        for waker in self.waiters.take() {
            waker.wake();
        }
    }
}

/// asyncio's returncode: the exit status, or minus the signal that killed the child.
fn returncode(status: rustix::process::WaitStatus) -> i32 {
    match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => -signal,
        // Neither exited nor killed (stopped/continued: not asked for): cannot happen.
        _ => 255,
    }
}

/// `waitpid(pid, WNOHANG)`: `Some(returncode)` once reaped.
fn try_reap(pid: i32) -> Option<i32> {
    let target = Pid::from_raw(pid)?;
    match rustix::process::waitpid(Some(target), WaitOptions::NOHANG) {
        Ok(Some((_, status))) => Some(returncode(status)),
        Ok(None) => None,
        Err(rustix::io::Errno::INTR) => None,
        // ECHILD: somebody else reaped it (a `waitpid(-1)` elsewhere in the process). asyncio
        // reports 255 then, with a warning; so does aio.
        Err(_) => {
            eprintln!("aio: unknown child process pid {pid}, will report returncode 255");
            Some(255)
        }
    }
}

/// Kills the child `pid` (SIGKILL) and reaps it, blocking: for a child just started that
/// cannot be watched. SIGKILL cannot be caught, so the wait is short.
fn kill_and_reap(pid: i32) {
    let Some(target) = Pid::from_raw(pid) else {
        return;
    };
    if rustix::process::kill_process(target, rustix::process::Signal::KILL).is_err() {
        // Cannot happen for our own child not yet reaped; never block on one that may still
        // run: the reaper thread reaps it.
        crate::reaper::adopt([pid]);
        return;
    }
    while let Err(rustix::io::Errno::INTR) =
        rustix::process::waitpid(Some(target), WaitOptions::empty())
    {}
}

/// A loop's children.
#[derive(Default)]
pub(crate) struct Children {
    mode: Cell<Option<ChildWatcher>>,
    /// Every child not yet reaped.
    live: RefCell<HashMap<i32, Rc<ChildState>>>,
    /// The pidfd reapers, by pid. Dropped (cancelled) if the loop closes first.
    reapers: RefCell<HashMap<i32, async_task::Task<(), LoopHandle>>>,
    /// The SIGCHLD handler was installed once; it is never installed again, even if the
    /// program replaced or removed it since (which `SigchldHandlerGone` notices).
    sigchld_installed: Cell<bool>,
    /// The SIGCHLD handler was replaced or removed: SIGCHLD-watched children are polled.
    sigchld_displaced: Cell<bool>,
    /// The task polling them while any is left (see [`POLL_INTERVAL`]).
    poller: RefCell<Option<async_task::Task<(), LoopHandle>>>,
}

impl Children {
    fn mode(&self) -> ChildWatcher {
        match self.mode.get() {
            Some(mode) => mode,
            None if PIDFD_WORKS.load(Ordering::Relaxed) => ChildWatcher::Pidfd,
            None => ChildWatcher::Sigchld,
        }
    }

    /// Called before spawning: makes sure the SIGCHLD path is armed if it will be needed, so
    /// no exit can slip by between the spawn and the watch.
    pub(crate) fn prepare(self: &Rc<Self>, lp: &EventLoop) -> Result<(), aio_scheduler::Error> {
        crate::reaper::retry();
        if self.mode() == ChildWatcher::Sigchld {
            self.install_sigchld(lp)?;
        }
        Ok(())
    }

    fn install_sigchld(self: &Rc<Self>, lp: &EventLoop) -> Result<(), aio_scheduler::Error> {
        #[cfg(test)]
        seam::fail(None)?;
        if self.sigchld_installed.get() {
            return Ok(());
        }
        let gone = SigchldHandlerGone {
            children: Rc::downgrade(self),
            lp: lp.handle(),
        };
        lp.add_signal_handler(signal::SIGCHLD, move || {
            if let Some(children) = gone.children.upgrade() {
                children.poll_all();
            }
        })?;
        self.sigchld_installed.set(true);
        Ok(())
    }

    /// Whether a child of ours is watched through SIGCHLD (not through a pidfd).
    fn sigchld_children(&self) -> bool {
        let reapers = self.reapers.borrow();
        self.live
            .borrow()
            .keys()
            .any(|pid| !reapers.contains_key(pid))
    }

    /// With the SIGCHLD handler gone, polls the SIGCHLD-watched children until none is left.
    fn start_poller(self: &Rc<Self>, lp: LoopHandle) {
        if !self.sigchld_displaced.get() || self.poller.borrow().is_some() {
            return;
        }
        let children = Rc::downgrade(self);
        let poller = async move {
            while aio_scheduler::sleep(POLL_INTERVAL).await.is_ok() {
                let Some(children) = children.upgrade() else {
                    return;
                };
                children.poll_all();
                if !children.sigchld_children() {
                    if let Some(this) = children.poller.borrow_mut().take() {
                        this.detach(); // finishing right now: nothing to cancel
                    }
                    return;
                }
            }
        };
        let (runnable, task) = async_task::Builder::new()
            .metadata(lp)
            .spawn_local(move |_| poller, aio_scheduler::schedule);
        *self.poller.borrow_mut() = Some(task);
        runnable.schedule();
    }

    /// SIGCHLD arrived: reap every child of ours that exited.
    fn poll_all(&self) {
        let exited: Vec<(Rc<ChildState>, i32)> = self
            .live
            .borrow()
            .values()
            .filter(|child| !self.reapers.borrow().contains_key(&child.pid))
            .filter_map(|child| try_reap(child.pid).map(|code| (child.clone(), code)))
            .collect();
        for (child, code) in exited {
            self.live.borrow_mut().remove(&child.pid);
            child.exited(code);
        }
    }

    /// Starts watching the just-spawned child `pid`. If no watch can be set up, the child is
    /// killed and reaped before the error is returned.
    pub(crate) fn watch(
        self: &Rc<Self>,
        lp: &EventLoop,
        pid: i32,
    ) -> Result<Rc<ChildState>, aio_scheduler::Error> {
        let child = Rc::new(ChildState {
            pid,
            returncode: Cell::new(None),
            orphaned: Cell::new(false),
            waiters: RefCell::new(Vec::new()),
        });
        self.live.borrow_mut().insert(pid, child.clone());
        if self.mode() == ChildWatcher::Pidfd {
            match self.watch_pidfd(lp, &child) {
                Ok(()) => return Ok(child),
                Err(error) => {
                    if error.raw_os_error() == Some(libc::ENOSYS) {
                        PIDFD_WORKS.store(false, Ordering::Relaxed);
                    }
                    // Any failure (ENOSYS, out of descriptors): this child goes the SIGCHLD
                    // way. It may have exited already, so poll once after arming.
                    if let Err(error) = self.install_sigchld(lp) {
                        // No watch at all: nothing would ever reap the child, and the caller
                        // gets no `Process` to manage it. Do not leave it running or a zombie.
                        self.live.borrow_mut().remove(&pid);
                        kill_and_reap(pid);
                        return Err(error);
                    }
                }
            }
        }
        self.poll_all();
        if self.live.borrow().contains_key(&pid) {
            self.start_poller(lp.handle());
        }
        Ok(child)
    }

    fn watch_pidfd(self: &Rc<Self>, lp: &EventLoop, child: &Rc<ChildState>) -> std::io::Result<()> {
        #[cfg(test)]
        seam::fail(Some(child.pid))?;
        let pid = Pid::from_raw(child.pid).ok_or(std::io::ErrorKind::InvalidInput)?;
        let pidfd: OwnedFd = rustix::process::pidfd_open(pid, PidfdFlags::empty())?;
        let pidfd = AsyncFd::new(lp.reactor(), pidfd)?;
        let state = child.clone();
        let children = Rc::downgrade(self);
        // Readiness starts optimistic; the child has most likely not exited yet, so wait for
        // the pidfd's event before the first `waitpid` (one the reactor reports at once if
        // the child is already gone).
        pidfd.registration().clear_readable();
        let reaper = async move {
            let code = loop {
                // The pidfd turns readable when the child exits; a spurious wake-up finds it
                // still running and waits again.
                let ready = poll_fn(|cx| pidfd.registration().poll_readable(cx)).await;
                if let Some(code) = try_reap(state.pid) {
                    break code;
                }
                if ready.is_err() {
                    // The reactor cannot watch it: nothing better than to poll slowly.
                    if aio_scheduler::sleep(0.05).await.is_err() {
                        return;
                    }
                } else {
                    pidfd.registration().clear_readable();
                }
            };
            state.exited(code);
            if let Some(children) = children.upgrade() {
                children.live.borrow_mut().remove(&state.pid);
                if let Some(this) = children.reapers.borrow_mut().remove(&state.pid) {
                    this.detach(); // finishing right now: nothing to cancel
                }
            }
        };
        let (runnable, task) = async_task::Builder::new()
            .metadata(lp.handle())
            .spawn_local(move |_| reaper, aio_scheduler::schedule);
        self.reapers.borrow_mut().insert(child.pid, task);
        runnable.schedule();
        Ok(())
    }
}

/// Owned by the loop's SIGCHLD callback, so dropped when the loop drops that callback: the
/// program replaced or removed the handler (or the loop is closing, or the handler was never
/// installed because `add_signal_handler` failed). In the first case the children switch to
/// polling.
struct SigchldHandlerGone {
    children: Weak<Children>,
    lp: LoopHandle,
}

impl Drop for SigchldHandlerGone {
    fn drop(&mut self) {
        let Some(children) = self.children.upgrade() else {
            return;
        };
        if self.lp.is_closed() || !children.sigchld_installed.get() {
            return;
        }
        children.sigchld_displaced.set(true);
        if children.sigchld_children() {
            children.start_poller(self.lp.clone());
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        // The loop is closing (with either watcher: the pidfd reapers and the SIGCHLD
        // handler go with it): stop the reapers, then reap what already exited and hand the
        // rest to the reaper thread, which reaps each as it exits, instead of blocking here.
        drop(std::mem::take(&mut *self.reapers.borrow_mut()));
        drop(self.poller.borrow_mut().take());
        let live = std::mem::take(&mut *self.live.borrow_mut());
        let mut orphans = Vec::new();
        for (pid, child) in live {
            match try_reap(pid) {
                Some(code) => child.exited(code),
                None => {
                    orphans.push(pid);
                    child.orphaned.set(true);
                    for waker in child.waiters.take() {
                        waker.wake();
                    }
                }
            }
        }
        crate::reaper::adopt(orphans);
    }
}

/// Test seam (test builds of this crate only): makes both ways of watching a child fail, as
/// they can in production — `pidfd_open` out of descriptors, then the SIGCHLD fallback's
/// `add_signal_handler` (no descriptor for the loop's wake-up socket, or SIGCHLD already
/// handled by the most loops a signal can have). Forcing those causes for real would mean
/// changing process-wide state (`RLIMIT_NOFILE`, SIGCHLD subscriptions) under the other
/// tests of the binary; the seam is per thread.
#[cfg(test)]
mod seam {
    use std::cell::Cell;

    thread_local! {
        /// While set, watching a child fails with `EMFILE`.
        pub(super) static FAILING: Cell<bool> = const { Cell::new(false) };
        /// The pid of the last child whose pidfd watch the seam failed.
        pub(super) static FAILED_PID: Cell<Option<i32>> = const { Cell::new(None) };
    }

    /// `Err(EMFILE)` while [`FAILING`] is set, noting `pid`.
    pub(super) fn fail(pid: Option<i32>) -> std::io::Result<()> {
        if !FAILING.get() {
            return Ok(());
        }
        if pid.is_some() {
            FAILED_PID.set(pid);
        }
        Err(std::io::Error::from_raw_os_error(libc::EMFILE))
    }
}

#[cfg(test)]
mod tests {
    use rustix::io::Errno;
    use rustix::process::{Pid, Signal, WaitOptions, kill_process, waitpid};

    use super::seam;

    /// Regression: when neither the pidfd nor the SIGCHLD watch could be set up after the
    /// child started, `spawn` returned the error and left the child running unwatched (an
    /// orphan, and a zombie once it exited). Now it is killed and reaped before `spawn`
    /// returns, whether it still runs or already exited.
    #[test]
    fn a_child_that_cannot_be_watched_is_killed_and_reaped() {
        for (program, args) in [("sleep", &["30"][..]), ("true", &[][..])] {
            aio_task::run(async move {
                seam::FAILING.set(true);
                let spawned = crate::create_subprocess_exec(program, args).spawn();
                seam::FAILING.set(false);
                let err = spawned.expect_err("spawn must fail without an exit watch");
                let pid = seam::FAILED_PID.take().expect("the child was started");
                assert!(err.to_string().contains("Too many open files"), "{err}");

                let pid = Pid::from_raw(pid).expect("a pid");
                let left = waitpid(Some(pid), WaitOptions::NOHANG).map(|status| status.is_some());
                if left != Err(Errno::CHILD) {
                    // Still ours: do not leave it behind, then fail.
                    let _ = kill_process(pid, Signal::KILL);
                    let _ = waitpid(Some(pid), WaitOptions::empty());
                }
                assert_eq!(
                    left,
                    Err(Errno::CHILD),
                    "`{program}` must be killed and reaped by the failed spawn \
                     (Ok(false): still running, Ok(true): a zombie)"
                );
            })
            .expect("run");
        }
    }
}
