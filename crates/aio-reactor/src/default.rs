//! The process-wide default reactor: a factory that the layer choosing reactors registers.

use std::io;
use std::sync::OnceLock;

use crate::{PollingReactor, Reactor};

/// Builds a reactor: the shape of the default-reactor factory (see [`set_default_reactor`]).
pub type ReactorFactory = fn() -> io::Result<Box<dyn Reactor>>;

static FACTORY: OnceLock<ReactorFactory> = OnceLock::new();

/// Registers the factory [`new_default_reactor`] uses from now on; the first registration in
/// a process wins (asyncio's event loop *policy*, reduced to the one thing it decides here).
/// Returns whether this one was taken.
///
/// The event loop (`aio-scheduler`) knows only the [`Reactor`] trait; choosing a reactor by
/// name belongs to a layer above it that knows the implementations. `aio-reactors` registers
/// its `AIO_REACTOR`-driven choice (epoll by default on Linux) when it is linked into a
/// program, which the facade `aio` always does.
///
/// # Examples
///
/// ```
/// use aio_reactor::{PollMode, PollingReactor, Reactor, new_default_reactor, set_default_reactor};
///
/// fn oneshot() -> std::io::Result<Box<dyn Reactor>> {
///     Ok(Box::new(PollingReactor::with_mode(PollMode::Oneshot)?))
/// }
/// assert!(set_default_reactor(oneshot));
/// assert!(!set_default_reactor(oneshot)); // the first registration stays
/// assert_eq!(new_default_reactor()?.name(), "polling");
/// # std::io::Result::Ok(())
/// ```
pub fn set_default_reactor(factory: ReactorFactory) -> bool {
    FACTORY.set(factory).is_ok()
}

/// A new reactor from the registered factory (see [`set_default_reactor`]), or a
/// [`PollingReactor`] if none was registered. Under miri, always a
/// [`NoIoReactor`](crate::NoIoReactor).
///
/// # Errors
///
/// The factory's error (for example, out of file descriptors).
///
/// # Examples
///
/// ```
/// let reactor = aio_reactor::new_default_reactor()?;
/// assert_eq!(reactor.registrations(), 0);
/// # std::io::Result::Ok(())
/// ```
pub fn new_default_reactor() -> io::Result<Box<dyn Reactor>> {
    // Under miri, which cannot run epoll, io_uring or poll(2): the reactor without I/O, so
    // that loops running timers and tasks can be checked there.
    #[cfg(miri)]
    return Ok(Box::new(crate::NoIoReactor::new()));
    #[cfg(not(miri))]
    match FACTORY.get() {
        Some(factory) => factory(),
        None => Ok(Box::new(PollingReactor::new()?)),
    }
}
