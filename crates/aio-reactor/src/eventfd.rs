//! The eventfd wake-up that Linux reactors share.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::event::{EventfdFlags, eventfd};

use crate::{Coalesce, Notify};

/// A cross-thread wake-up for a Linux reactor: an eventfd (non-blocking, close-on-exec)
/// whose writes are coalesced by a [`Coalesce`] flag, so that only the first
/// [`notify`](Notify::notify) after a wake-up writes. The reactor watches the descriptor
/// (through [`AsFd`]) for readability in its wait, and calls [`reset`](EventfdNotify::reset)
/// when it sees the wake-up. aio's epoll and io_uring reactors use it as their
/// [`Reactor::notifier`](crate::Reactor::notifier).
///
/// # Examples
///
/// ```
/// use aio_reactor::{EventfdNotify, Notify};
///
/// let wake = EventfdNotify::new()?;
/// wake.notify()?;
/// wake.notify()?; // coalesced: the counter holds one write
/// assert!(wake.is_pending());
/// let mut counter = [0u8; 8];
/// rustix::io::read(&wake, &mut counter)?;
/// assert_eq!(u64::from_ne_bytes(counter), 1);
///
/// wake.reset(); // what the reactor does when its wait saw the wake-up
/// assert!(!wake.is_pending());
/// wake.notify()?; // writes again
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct EventfdNotify {
    fd: OwnedFd,
    /// Coalesces bursts of `notify` into one write.
    pending: Coalesce,
}

impl EventfdNotify {
    /// A new eventfd with a zero counter and no wake-up pending.
    ///
    /// # Errors
    ///
    /// The OS error from creating the eventfd (for example, too many open files).
    ///
    /// # Examples
    ///
    /// See [`EventfdNotify`].
    pub fn new() -> io::Result<EventfdNotify> {
        Ok(EventfdNotify {
            fd: eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?,
            pending: Coalesce::new(),
        })
    }

    /// A wake-up arrived: empties the counter, then lets the next `notify` write again (in
    /// that order: see [`Coalesce`], whose loom model checks it).
    ///
    /// # Examples
    ///
    /// See [`EventfdNotify`].
    pub fn reset(&self) {
        self.pending.reset(|| {
            let mut counter = [0u8; 8];
            let _ = rustix::io::read(&self.fd, &mut counter);
        });
    }

    /// Whether a wake-up was written and not yet [`reset`](EventfdNotify::reset).
    ///
    /// # Examples
    ///
    /// See [`EventfdNotify`].
    pub fn is_pending(&self) -> bool {
        self.pending.is_pending()
    }
}

impl Notify for EventfdNotify {
    fn notify(&self) -> io::Result<()> {
        self.pending.notify(|| {
            match rustix::io::write(&self.fd, &1u64.to_ne_bytes()) {
                // EAGAIN: the counter is at its maximum, a wake-up is certainly pending.
                Ok(_) | Err(rustix::io::Errno::AGAIN) => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
    }
}

impl AsFd for EventfdNotify {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
