//! The loop's errors: asyncio's `RuntimeError`s and `ValueError`s, as one enum.

use std::fmt;
use std::io;
use std::sync::Arc;

/// What can go wrong when driving or scheduling on an [`EventLoop`](crate::EventLoop).
///
/// Messages follow asyncio's where asyncio has one (`"Event loop is closed"`, ...).
///
/// # Examples
///
/// ```
/// use aio_scheduler::{EventLoop, Error};
///
/// let lp = EventLoop::new()?;
/// lp.close()?;
/// let err = lp.call_soon(|| {}).unwrap_err();
/// assert!(matches!(err, Error::Closed));
/// assert_eq!(err.to_string(), "Event loop is closed");
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The loop was closed: nothing can run or be scheduled on it.
    Closed,
    /// `run_forever` / `run_until_complete` on a loop that is already running.
    AlreadyRunning,
    /// Running a loop while another loop runs on this thread.
    AnotherLoopRunning,
    /// `close()` on a running loop.
    CloseRunning,
    /// A call that needs a running loop (`get_running_loop`, `sleep`) made outside one.
    NoRunningLoop,
    /// `stop()` was called before the future given to `run_until_complete` finished.
    StoppedBeforeComplete,
    /// A delay or deadline that cannot be scheduled: NaN, infinite, or too far away.
    InvalidDelay(Box<str>),
    /// The reactor failed (the OS poller reported an error), or a system call the loop
    /// needed (a signal's wake-up socket) did.
    Io(Arc<io::Error>),
    /// A signal number outside `1..NSIG` (asyncio's `ValueError`).
    InvalidSignal(i32),
    /// A signal that cannot be handled on a loop: SIGKILL and SIGSTOP, which cannot be caught
    /// at all, and the fault signals (asyncio's `RuntimeError`).
    UncatchableSignal(i32),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Closed => f.write_str("Event loop is closed"),
            Error::AlreadyRunning => f.write_str("This event loop is already running"),
            Error::AnotherLoopRunning => {
                f.write_str("Cannot run the event loop while another loop is running")
            }
            Error::CloseRunning => f.write_str("Cannot close a running event loop"),
            Error::NoRunningLoop => f.write_str("no running event loop"),
            Error::StoppedBeforeComplete => {
                f.write_str("Event loop stopped before Future completed.")
            }
            Error::InvalidDelay(why) => write!(f, "invalid delay: {why}"),
            Error::Io(e) => write!(f, "reactor error: {e}"),
            Error::InvalidSignal(signal) => {
                write!(f, "sig {signal} out of range(1, {})", crate::signal::NSIG)
            }
            Error::UncatchableSignal(signal) => write!(f, "sig {signal} cannot be caught"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(Arc::new(e))
    }
}
