//! The task layer's error: asyncio's `CancelledError`, `InvalidStateError`, a caught panic, a
//! user exception, or a loop error.

use std::fmt;
use std::sync::Arc;

/// Why awaiting a [`Task`](crate::Task) or [`Future`](crate::Future) did not give a value.
///
/// `Error` is cheap to clone (its payloads are shared), so a result can be read more than once.
///
/// # Examples
///
/// ```
/// use aio_task::Error;
///
/// let err = Error::cancelled(Some("shutting down"));
/// assert!(err.is_cancelled());
/// assert_eq!(err.cancel_message(), Some("shutting down"));
/// assert_eq!(err.to_string(), "cancelled: shutting down");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// The task or future was cancelled (asyncio's `CancelledError`), with the message given
    /// to `cancel`, if any.
    Cancelled(Option<Arc<str>>),
    /// The operation is not allowed in the current state (asyncio's `InvalidStateError`):
    /// reading a result that is not set, setting one twice.
    InvalidState(&'static str),
    /// The task panicked; the payload's message.
    Panicked(Arc<str>),
    /// An error set with [`Future::set_exception`](crate::Future::set_exception).
    Exception(Arc<dyn std::error::Error + Send + Sync>),
    /// An event loop error (asyncio's `RuntimeError`s): closed loop, no running loop, ...
    Runtime(aio_scheduler::Error),
    /// A deadline passed (asyncio's `TimeoutError`): `wait_for`, `timeout`.
    Timeout,
    /// Several errors at once (asyncio's `ExceptionGroup`), from a `TaskGroup`.
    Group(Arc<[Error]>),
    /// An argument asyncio would reject with `ValueError` (for example, waiting on an empty set).
    Value(&'static str),
    /// An I/O error (asyncio's `OSError` family).
    Io(Arc<std::io::Error>),
    /// A synchronization primitive's error (asyncio's `BrokenBarrierError`, ...).
    Sync(aio_sync::SyncError),
    /// A queue's error (asyncio's `QueueEmpty`, `QueueFull`, `QueueShutDown`).
    Queue(aio_queue::QueueError),
    /// [`run`](crate::run)'s main task was cancelled by Ctrl-C (SIGINT) and did not swallow
    /// the cancellation (asyncio's `KeyboardInterrupt` out of `asyncio.run`).
    KeyboardInterrupt,
}

impl Error {
    /// A cancellation error with an optional message.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::Error;
    /// assert!(matches!(Error::cancelled(None), Error::Cancelled(None)));
    /// assert_eq!(Error::cancelled(Some("bye")).to_string(), "cancelled: bye");
    /// ```
    pub fn cancelled(message: Option<&str>) -> Error {
        Error::Cancelled(message.map(Arc::from))
    }

    /// Whether this is a cancellation.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::Error;
    /// assert!(Error::cancelled(None).is_cancelled());
    /// assert!(!Error::Timeout.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled(_))
    }

    /// The message given to `cancel`, for a cancellation that had one.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::Error;
    /// assert_eq!(Error::cancelled(Some("stop")).cancel_message(), Some("stop"));
    /// assert_eq!(Error::cancelled(None).cancel_message(), None);
    /// assert_eq!(Error::Timeout.cancel_message(), None); // not a cancellation
    /// ```
    pub fn cancel_message(&self) -> Option<&str> {
        match self {
            Error::Cancelled(message) => message.as_deref(),
            _ => None,
        }
    }

    /// Converts any error into an `Error`: an `aio::Error` (boxed) keeps its identity — a
    /// cancellation stays a cancellation — anything else becomes [`Error::Exception`].
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::Error;
    /// assert!(Error::from_any(Error::Timeout).is_timeout());
    /// assert!(matches!(Error::from_any("disk full"), Error::Exception(_)));
    /// ```
    pub fn from_any(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        match error.into().downcast::<Error>() {
            Ok(error) => *error,
            Err(other) => Error::Exception(Arc::from(other)),
        }
    }

    /// Whether this is a timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(aio_task::Error::Timeout.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout)
    }

    /// Whether nobody reading this error should let it pass silently: anything but a
    /// cancellation (asyncio logs unretrieved exceptions, never cancellations).
    pub(crate) fn is_reportable(&self) -> bool {
        !self.is_cancelled()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Cancelled(None) => f.write_str("cancelled"),
            Error::Cancelled(Some(message)) => write!(f, "cancelled: {message}"),
            Error::InvalidState(what) => write!(f, "invalid state: {what}"),
            Error::Panicked(message) => write!(f, "panicked: {message}"),
            Error::Exception(error) => fmt::Display::fmt(error, f),
            Error::Runtime(error) => fmt::Display::fmt(error, f),
            Error::Timeout => f.write_str("timed out"),
            Error::Group(errors) => {
                write!(f, "{} error(s) in task group", errors.len())?;
                for (i, error) in errors.iter().enumerate() {
                    write!(f, "{} {error}", if i == 0 { ":" } else { ";" })?;
                }
                Ok(())
            }
            Error::Value(what) => f.write_str(what),
            Error::Io(error) => fmt::Display::fmt(error, f),
            Error::Sync(error) => fmt::Display::fmt(error, f),
            Error::Queue(error) => fmt::Display::fmt(error, f),
            Error::KeyboardInterrupt => f.write_str("KeyboardInterrupt"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Exception(error) => Some(&**error),
            Error::Runtime(error) => Some(error),
            Error::Io(error) => Some(&**error),
            _ => None,
        }
    }
}

impl From<aio_scheduler::Error> for Error {
    fn from(error: aio_scheduler::Error) -> Error {
        Error::Runtime(error)
    }
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Error {
        Error::Io(Arc::new(error))
    }
}

impl From<aio_sync::SyncError> for Error {
    fn from(error: aio_sync::SyncError) -> Error {
        Error::Sync(error)
    }
}

impl From<aio_queue::QueueError> for Error {
    fn from(error: aio_queue::QueueError) -> Error {
        Error::Queue(error)
    }
}

/// A rejected `put_nowait` as an error (the item is dropped; match on the [`Rejected`]
/// itself to keep it).
///
/// [`Rejected`]: aio_queue::Rejected
impl<T> From<aio_queue::Rejected<T>> for Error {
    fn from(rejected: aio_queue::Rejected<T>) -> Error {
        Error::Queue(rejected.error)
    }
}
