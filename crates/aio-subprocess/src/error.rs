//! What can go wrong with a subprocess.

use std::fmt;
use std::io;
use std::sync::Arc;

/// A subprocess error: asyncio's `FileNotFoundError` / `PermissionError` at spawn,
/// `ProcessLookupError` for signalling a finished process, `ValueError` for bad arguments.
///
/// A spawn error says which path was at fault — the working directory or the program — as
/// CPython sets the exception's `filename` to the one or the other
/// ([`filename`](SubprocessError::filename)).
///
/// # Examples
///
/// ```
/// use aio_subprocess::{SubprocessError, create_subprocess_exec};
///
/// let (missing_program, missing_cwd) = aio_task::run(async {
///     let missing_program = create_subprocess_exec("/no/such/program", ["x"]).await;
///     let missing_cwd = create_subprocess_exec("/bin/true", ["x"]).cwd("/no/such/dir").await;
///     (missing_program.unwrap_err(), missing_cwd.unwrap_err())
/// })?;
/// assert!(missing_program.is_not_found());
/// assert_eq!(missing_program.filename(), Some("/no/such/program"));
/// assert_eq!(
///     missing_program.to_string(),
///     "cannot run '/no/such/program': No such file or directory (os error 2)"
/// );
/// assert!(missing_cwd.is_not_found());
/// assert_eq!(missing_cwd.filename(), Some("/no/such/dir"));
/// assert_eq!(
///     missing_cwd.to_string(),
///     "cannot run '/bin/true': working directory '/no/such/dir': \
///      No such file or directory (os error 2)"
/// );
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
        /// The working directory, when it is what failed (missing, not a directory, not
        /// searchable: the child enters it before running the program); `None` when the
        /// program is at fault.
        cwd: Option<String>,
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

    /// For a spawn error, the path at fault (CPython's `OSError.filename`): the working
    /// directory if it could not be entered, else the program. `None` for other errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::create_subprocess_exec;
    ///
    /// aio_task::run(async {
    ///     let no_program = create_subprocess_exec("/no/such/program", ["x"]).spawn().unwrap_err();
    ///     assert_eq!(no_program.filename(), Some("/no/such/program"));
    ///     let no_dir = create_subprocess_exec("/bin/true", [] as [&str; 0])
    ///         .cwd("/no/such/dir")
    ///         .spawn()
    ///         .unwrap_err();
    ///     assert_eq!(no_dir.filename(), Some("/no/such/dir"));
    /// })?;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn filename(&self) -> Option<&str> {
        match self {
            SubprocessError::Spawn { program, cwd, .. } => Some(cwd.as_deref().unwrap_or(program)),
            _ => None,
        }
    }
}

impl fmt::Display for SubprocessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubprocessError::Spawn {
                program,
                cwd: Some(cwd),
                source,
            } => write!(
                f,
                "cannot run '{program}': working directory '{cwd}': {source}"
            ),
            SubprocessError::Spawn {
                program,
                cwd: None,
                source,
            } => write!(f, "cannot run '{program}': {source}"),
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
