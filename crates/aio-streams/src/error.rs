//! The streams' errors, with asyncio's names and messages.

use std::fmt;
use std::io;
use std::sync::Arc;

/// What can go wrong reading a stream.
///
/// # Examples
///
/// ```
/// use aio_streams::StreamError;
/// let err = StreamError::IncompleteRead { partial: vec![0; 18], expected: Some(36) };
/// assert_eq!(err.to_string(), "18 bytes read on a total of 36 expected bytes");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamError {
    /// EOF arrived before the read could complete (asyncio's `IncompleteReadError`). `partial`
    /// holds the bytes read; `expected` the count asked for (`None` for `readuntil`).
    IncompleteRead {
        /// The bytes read before EOF.
        partial: Vec<u8>,
        /// How many bytes were expected, if a count was asked for.
        expected: Option<usize>,
    },
    /// The data up to a separator would exceed the buffer limit (asyncio's
    /// `LimitOverrunError`); `consumed` is how many bytes are to be consumed. The data stays in
    /// the buffer.
    LimitOverrun {
        /// What went over: "Separator is not found, and chunk exceed the limit" or "Separator
        /// is found, but chunk is longer than limit".
        message: &'static str,
        /// Bytes to be consumed.
        consumed: usize,
    },
    /// `readline` found no newline within the limit (asyncio raises `ValueError` with the
    /// `LimitOverrunError`'s message); the data was discarded as asyncio does.
    LineTooLong(&'static str),
    /// A bad argument (asyncio's `ValueError`): an empty separator, a negative count.
    Value(&'static str),
    /// Two reads waited for data on the same reader at once (asyncio's `RuntimeError`).
    ConcurrentRead(&'static str),
    /// A call the stream's state does not allow (asyncio's `RuntimeError`): "Cannot call
    /// write() after write_eof()".
    State(&'static str),
    /// The connection failed.
    Io {
        /// The kind of the underlying error.
        kind: io::ErrorKind,
        /// Its message.
        message: Arc<str>,
    },
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::IncompleteRead { partial, expected } => match expected {
                Some(n) => write!(
                    f,
                    "{} bytes read on a total of {n} expected bytes",
                    partial.len()
                ),
                None => write!(
                    f,
                    "{} bytes read on a total of undefined expected bytes",
                    partial.len()
                ),
            },
            StreamError::LimitOverrun { message, .. } => f.write_str(message),
            StreamError::LineTooLong(message) => f.write_str(message),
            StreamError::Value(message) => f.write_str(message),
            StreamError::ConcurrentRead(what) => write!(
                f,
                "{what}() called while another coroutine is already waiting for incoming data"
            ),
            StreamError::State(message) => f.write_str(message),
            StreamError::Io { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for StreamError {}

impl From<&io::Error> for StreamError {
    fn from(error: &io::Error) -> StreamError {
        StreamError::Io {
            kind: error.kind(),
            message: Arc::from(error.to_string()),
        }
    }
}

impl From<io::Error> for StreamError {
    fn from(error: io::Error) -> StreamError {
        StreamError::from(&error)
    }
}

/// A stream error as an `io::Error` (for the futures-io traits).
pub(crate) fn to_io(error: &StreamError) -> io::Error {
    match error {
        StreamError::Io { kind, message } => io::Error::new(*kind, message.to_string()),
        other => io::Error::other(other.clone()),
    }
}
