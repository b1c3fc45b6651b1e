//! What can go wrong with a subprocess.

use std::fmt;
use std::io;
use std::sync::Arc;

/// A subprocess error: asyncio's `FileNotFoundError` / `PermissionError` at spawn,
/// `ProcessLookupError` for signalling a finished process, `ValueError` for bad arguments.
///
/// # Examples
///
/// ```
/// use aio_subprocess::{SubprocessError, create_subprocess_exec};
///
/// let err = aio_task::run(async {
///     create_subprocess_exec("/no/such/program", ["x"]).await.unwrap_err()
/// })?;
/// assert!(err.is_not_found());
/// assert!(err.to_string().starts_with("cannot run '/no/such/program': "));
/// # Ok::<(), aio_task::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SubprocessError {
    /// The program could not be started: it does not exist, is not executable, the working
    /// directory is missing, ...
    Spawn {
        /// The program (or, for a shell command, the shell).
        program: String,
        /// The OS error.
        source: Arc<io::Error>,
    },
    /// Signalling a process that has already finished (asyncio's `ProcessLookupError`).
    ProcessLookup {
        /// The finished process's id.
        pid: u32,
    },
    /// An argument that cannot work, such as `STDOUT` for stdin.
    InvalidArgument(&'static str),
    /// No running event loop, or the loop failed.
    Runtime(aio_scheduler::Error),
    /// A system call around the process failed (creating a pipe, registering it).
    Io(Arc<io::Error>),
}

impl SubprocessError {
    /// Whether this is a spawn that failed because the program (or working directory) does
    /// not exist.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = aio_task::run(async {
    ///     aio_subprocess::create_subprocess_exec("/no/such/program", ["x"]).spawn().unwrap_err()
    /// })?;
    /// assert!(err.is_not_found());
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn is_not_found(&self) -> bool {
        matches!(self, SubprocessError::Spawn { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

impl fmt::Display for SubprocessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubprocessError::Spawn { program, source } => {
                write!(f, "cannot run '{program}': {source}")
            }
            SubprocessError::ProcessLookup { pid } => {
                write!(f, "process already finished (pid {pid})")
            }
            SubprocessError::InvalidArgument(why) => f.write_str(why),
            SubprocessError::Runtime(e) => fmt::Display::fmt(e, f),
            SubprocessError::Io(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for SubprocessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SubprocessError::Spawn { source, .. } => Some(&**source),
            SubprocessError::Io(e) => Some(&**e),
            SubprocessError::Runtime(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for SubprocessError {
    fn from(e: io::Error) -> SubprocessError {
        SubprocessError::Io(Arc::new(e))
    }
}

impl From<aio_scheduler::Error> for SubprocessError {
    fn from(e: aio_scheduler::Error) -> SubprocessError {
        SubprocessError::Runtime(e)
    }
}

/// Subprocess errors inside tasks: OS errors become [`aio_task::Error::Io`], the loop's own
/// [`aio_task::Error::Runtime`], the rest [`aio_task::Error::Exception`].
impl From<SubprocessError> for aio_task::Error {
    fn from(e: SubprocessError) -> aio_task::Error {
        match e {
            SubprocessError::Io(io) => aio_task::Error::Io(io),
            SubprocessError::Runtime(e) => aio_task::Error::Runtime(e),
            other => aio_task::Error::Exception(Arc::new(other)),
        }
    }
}
