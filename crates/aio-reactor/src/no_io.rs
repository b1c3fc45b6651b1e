//! A reactor that watches no file descriptors: timers and cross-thread wake-ups only.

use std::io;
use std::os::fd::RawFd;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crate::{Notify, Reactor, Registration};

/// A [`Reactor`] for loops that only run timers, tasks and callbacks: its
/// [`wait`](Reactor::wait) sleeps on a condition variable until the deadline or a
/// [`Notify::notify`], and [`register`](Reactor::register) refuses every descriptor.
///
/// It makes no system call of its own (the condition variable is the standard library's),
/// which is what lets the scheduler's and the task layer's tests run under miri: under
/// `cfg(miri)` it is the default reactor ([`new_default_reactor`](crate::new_default_reactor),
/// and `aio-reactors`' choice).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use aio_reactor::{NoIoReactor, Reactor};
///
/// let reactor = NoIoReactor::new();
/// let notifier = reactor.notifier();
/// std::thread::spawn(move || notifier.notify().unwrap());
/// // Returns at the notify, long before the deadline.
/// let start = Instant::now();
/// assert_eq!(reactor.wait(Some(start + Duration::from_secs(30)))?, 0);
/// assert!(start.elapsed() < Duration::from_secs(30));
/// // A deadline in the past polls.
/// assert_eq!(reactor.wait(Some(Instant::now()))?, 0);
/// // No descriptors.
/// assert!(unsafe { reactor.register(0) }.is_err());
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug, Default)]
pub struct NoIoReactor {
    wakeup: Arc<Wakeup>,
}

#[derive(Debug, Default)]
struct Wakeup {
    /// A notify arrived that no wait has consumed yet.
    notified: Mutex<bool>,
    cond: Condvar,
}

impl Notify for Wakeup {
    fn notify(&self) -> io::Result<()> {
        *self.notified.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cond.notify_one();
        Ok(())
    }
}

impl NoIoReactor {
    /// A new reactor with no wake-up pending.
    pub fn new() -> NoIoReactor {
        NoIoReactor::default()
    }
}

impl Reactor for NoIoReactor {
    /// Always fails: this reactor watches no descriptors.
    ///
    /// # Safety
    ///
    /// None needed; the descriptor is not used.
    unsafe fn register(&self, _fd: RawFd) -> io::Result<Registration> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "NoIoReactor watches no file descriptors",
        ))
    }

    fn wait(&self, deadline: Option<Instant>) -> io::Result<usize> {
        let mut notified = self
            .wakeup
            .notified
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        loop {
            if std::mem::take(&mut *notified) {
                return Ok(0);
            }
            notified = match deadline {
                None => self
                    .wakeup
                    .cond
                    .wait(notified)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Ok(0);
                    }
                    self.wakeup
                        .cond
                        .wait_timeout(notified, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    fn notifier(&self) -> Arc<dyn Notify> {
        self.wakeup.clone()
    }

    fn registrations(&self) -> usize {
        0
    }

    fn name(&self) -> &'static str {
        "no-io"
    }
}
