//! The selector layer of aio: file-descriptor readiness delivered to [`Waker`]s.
//!
//! asyncio's event loop asks a *selector* (epoll, kqueue, ...) which file descriptors are
//! ready and turns the answer into ready callbacks. This crate is that selector, and nothing
//! else: it knows nothing of tasks or timers.
//!
//! - [`Reactor`] is the trait an event loop drives. The loop holds it as a trait object chosen
//!   at construction, so another implementation (an io_uring one, a test double) can be swapped
//!   in without a Cargo feature.
//! - [`PollingReactor`] is the default implementation, on the [`polling`] crate.
//! - [`Registration`] is the RAII token for one registered file descriptor: dropping it removes
//!   the descriptor from the poller. [`AsyncFd`] owns an I/O object together with its
//!   registration, so the descriptor can never be closed while still registered.
//! - Readiness is read with [`Registration::poll_readable`] / [`Registration::poll_writable`];
//!   a waker stored there is woken by the next event for that direction.
//!
//! # Examples
//!
//! ```
//! use std::io::{Read, Write};
//! use std::os::unix::net::UnixStream;
//! use std::task::{Context, Poll, Waker};
//! use std::time::{Duration, Instant};
//! use aio_reactor::{AsyncFd, PollingReactor, Reactor};
//!
//! let reactor = PollingReactor::new()?;
//! let (a, mut b) = UnixStream::pair()?;
//! a.set_nonblocking(true)?;
//! let a = AsyncFd::new(&reactor, a)?;
//!
//! // Nothing to read yet: the read would block, so the waker is stored.
//! let mut buf = [0u8; 8];
//! let mut cx = Context::from_waker(Waker::noop());
//! let poll = a.registration().poll_read_with(&mut cx, || a.get_ref().read(&mut buf));
//! assert!(poll.is_pending());
//!
//! // The peer writes; the reactor sees the event and the read succeeds.
//! b.write_all(b"ping")?;
//! reactor.wait(Some(Instant::now() + Duration::from_secs(5)))?;
//! let poll = a.registration().poll_read_with(&mut cx, || a.get_ref().read(&mut buf));
//! assert!(matches!(poll, Poll::Ready(Ok(4))));
//! # std::io::Result::Ok(())
//! ```

mod async_fd;
mod coalesce;
pub mod conformance;
mod default;
#[cfg(target_os = "linux")]
mod eventfd;
mod no_io;
mod polling_reactor;
mod source;
mod sources;
mod sync;

pub use async_fd::AsyncFd;
pub use coalesce::Coalesce;
pub use default::{ReactorFactory, new_default_reactor, set_default_reactor};
#[cfg(target_os = "linux")]
pub use eventfd::EventfdNotify;
pub use no_io::NoIoReactor;
pub use polling_reactor::{PollMode, PollingReactor};
pub use source::{Driver, Registration, Source};
pub use sources::{KEY_LIMIT, Sources};

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Instant;

pub use std::task::Waker;

/// The selector an event loop drives.
///
/// An implementation registers file descriptors, blocks until one of them is ready or a
/// deadline passes, and wakes the [`Waker`]s stored in the affected [`Registration`]s. It is used
/// from one thread (the loop's); only its [`Notify`] handle crosses threads.
///
/// # Examples
///
/// A loop holds the reactor as a trait object, so any implementation can stand in:
///
/// ```
/// use std::time::Instant;
/// use aio_reactor::{PollingReactor, Reactor};
///
/// let reactor: Box<dyn Reactor> = Box::new(PollingReactor::new()?);
/// // A deadline in the past polls without blocking.
/// assert_eq!(reactor.wait(Some(Instant::now()))?, 0);
/// # std::io::Result::Ok(())
/// ```
pub trait Reactor {
    /// Registers `fd` for readiness events in both directions.
    ///
    /// The file descriptor should be in non-blocking mode.
    ///
    /// # Safety
    ///
    /// `fd` must stay open until the returned [`Registration`] is dropped: dropping it removes
    /// the descriptor from the poller, which must happen before the descriptor is closed.
    /// [`AsyncFd`] upholds this by owning both.
    ///
    /// # Errors
    ///
    /// Whatever the OS reports when adding the descriptor (for example `EBADF`, or `EPERM` for a
    /// regular file, which epoll cannot watch).
    unsafe fn register(&self, fd: RawFd) -> io::Result<Registration>;

    /// Waits for I/O events until `deadline` (`None`: no deadline) and wakes the wakers of every
    /// direction that became ready. Returns the number of events delivered.
    ///
    /// A deadline at or before now polls without blocking. A [`Notify::notify`] from another
    /// thread ends the wait early. The wait is precise to well under a millisecond.
    ///
    /// # Errors
    ///
    /// An error from the OS poller (an interrupted wait is retried, not reported).
    fn wait(&self, deadline: Option<Instant>) -> io::Result<usize>;

    /// A handle that wakes [`wait`](Reactor::wait) from any thread.
    fn notifier(&self) -> Arc<dyn Notify>;

    /// How many registrations are alive. A loop with ready work and nothing registered can skip
    /// the non-blocking poll altogether.
    fn registrations(&self) -> usize;

    /// A short name for diagnostics and benchmark labels (`"polling"`, `"io_uring"`).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_reactor::{PollingReactor, Reactor};
    /// assert_eq!(PollingReactor::new()?.name(), "polling");
    /// # std::io::Result::Ok(())
    /// ```
    fn name(&self) -> &'static str {
        "unnamed"
    }
}

/// Wakes a reactor blocked in [`Reactor::wait`]; the one part of a reactor that is
/// `Send + Sync`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use aio_reactor::{PollingReactor, Reactor};
///
/// let reactor = PollingReactor::new()?;
/// let notifier = reactor.notifier();
/// std::thread::spawn(move || notifier.notify().unwrap());
/// // Returns as soon as the other thread notifies, well before the deadline.
/// let start = Instant::now();
/// reactor.wait(Some(start + Duration::from_secs(30)))?;
/// assert!(start.elapsed() < Duration::from_secs(30));
/// # std::io::Result::Ok(())
/// ```
pub trait Notify: Send + Sync {
    /// Interrupts the current or the next [`Reactor::wait`].
    ///
    /// # Errors
    ///
    /// An error from the OS (writing the wake-up descriptor).
    fn notify(&self) -> io::Result<()>;
}
