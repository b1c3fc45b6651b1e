//! An I/O object owned together with its registration.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd};

use crate::{Reactor, Registration};

/// An I/O object registered with a reactor for as long as this value lives.
///
/// `AsyncFd` owns both the object and its [`Registration`], and drops the registration first,
/// so the descriptor leaves the poller before it is closed. There is deliberately no `get_mut`:
/// replacing the object in place would close a registered descriptor.
///
/// The object should be in non-blocking mode (for sockets, `set_nonblocking(true)`).
///
/// # Examples
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use aio_reactor::{AsyncFd, PollingReactor, Reactor};
///
/// let reactor = PollingReactor::new()?;
/// let (a, _b) = UnixStream::pair()?;
/// a.set_nonblocking(true)?;
/// let a = AsyncFd::new(&reactor, a)?;
/// assert_eq!(reactor.registrations(), 1);
/// let a: UnixStream = a.into_inner(); // deregistered, still open
/// assert_eq!(reactor.registrations(), 0);
/// # drop(a);
/// # std::io::Result::Ok(())
/// ```
pub struct AsyncFd<T: AsFd> {
    // Field order matters: the registration is dropped (deregistered) before `io` is closed.
    registration: Registration,
    io: T,
}

impl<T: AsFd> AsyncFd<T> {
    /// Registers `io` with `reactor`.
    ///
    /// # Errors
    ///
    /// The OS error from adding the descriptor to the poller.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use aio_reactor::{AsyncFd, PollingReactor, Reactor};
    ///
    /// let reactor = PollingReactor::new()?;
    /// let (a, _b) = UnixStream::pair()?;
    /// a.set_nonblocking(true)?;
    /// let a = AsyncFd::new(&reactor, a)?;
    /// assert_eq!(reactor.registrations(), 1);
    /// drop(a); // deregistered, then closed
    /// assert_eq!(reactor.registrations(), 0);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn new(reactor: &dyn Reactor, io: T) -> io::Result<AsyncFd<T>> {
        // SAFETY: `io` owns the descriptor and lives in the same struct as the registration,
        // which is dropped first (field order, and `into_inner` drops it explicitly), so the
        // descriptor is open for the whole life of the registration.
        let registration = unsafe { reactor.register(io.as_fd().as_raw_fd()) }?;
        Ok(AsyncFd { registration, io })
    }

    /// The I/O object.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use aio_reactor::{AsyncFd, PollingReactor};
    ///
    /// let reactor = PollingReactor::new()?;
    /// let (a, _b) = UnixStream::pair()?;
    /// let a = AsyncFd::new(&reactor, a)?;
    /// assert!(a.get_ref().peer_addr().is_ok());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// The registration, for readiness.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    /// use std::os::unix::net::UnixStream;
    /// use aio_reactor::{AsyncFd, PollingReactor};
    ///
    /// let reactor = PollingReactor::new()?;
    /// let (a, _b) = UnixStream::pair()?;
    /// let a = AsyncFd::new(&reactor, a)?;
    /// assert_eq!(a.registration().fd(), a.get_ref().as_raw_fd());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn registration(&self) -> &Registration {
        &self.registration
    }

    /// Deregisters the object and gives it back, still open.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use std::os::unix::net::UnixStream;
    /// use aio_reactor::{AsyncFd, PollingReactor, Reactor};
    ///
    /// let reactor = PollingReactor::new()?;
    /// let (a, _b) = UnixStream::pair()?;
    /// let mut a: UnixStream = AsyncFd::new(&reactor, a)?.into_inner();
    /// assert_eq!(reactor.registrations(), 0);
    /// a.write_all(b"still open")?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn into_inner(self) -> T {
        let AsyncFd { registration, io } = self;
        drop(registration);
        io
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for AsyncFd<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncFd")
            .field("io", &self.io)
            .field("registration", &self.registration)
            .finish()
    }
}
