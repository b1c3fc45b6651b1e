//! `create_subprocess_exec` / `create_subprocess_shell` and `Process`.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::future::{Future, IntoFuture, Ready, poll_fn};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::process::Stdio as StdStdio;
use std::rc::Rc;
use std::task::Poll;

use aio_scheduler::{get_running_loop, signal};
use aio_streams::{
    DEFAULT_LIMIT, StreamReader, StreamWriter, connect_read_pipe, connect_write_pipe,
};

use crate::SubprocessError;
use crate::watcher::{ChildState, Children};

/// Where one of a child's standard streams goes (asyncio's `stdin=` / `stdout=` /
/// `stderr=` arguments).
///
/// # Examples
///
/// ```
/// use aio_subprocess::{DEVNULL, PIPE, STDOUT, Stdio};
/// assert!(matches!(PIPE, Stdio::Pipe));
/// assert!(matches!(DEVNULL, Stdio::DevNull));
/// assert!(matches!(STDOUT, Stdio::Stdout));
/// assert!(matches!(Stdio::default(), Stdio::Inherit));
/// ```
#[derive(Debug, Default)]
#[non_exhaustive]
pub enum Stdio {
    /// Shared with this process (asyncio's `None`, the default).
    #[default]
    Inherit,
    /// A pipe, exposed as the `Process`'s `stdin` writer or `stdout` / `stderr` reader.
    Pipe,
    /// `/dev/null` (asyncio's `DEVNULL`).
    DevNull,
    /// For stderr only: wherever stdout goes (asyncio's `STDOUT`).
    Stdout,
    /// An open file (or any descriptor), handed to the child.
    File(OwnedFd),
}

/// asyncio's `subprocess.PIPE`.
pub const PIPE: Stdio = Stdio::Pipe;
/// asyncio's `subprocess.DEVNULL`.
pub const DEVNULL: Stdio = Stdio::DevNull;
/// asyncio's `subprocess.STDOUT`: stderr merged into stdout.
pub const STDOUT: Stdio = Stdio::Stdout;

impl From<File> for Stdio {
    fn from(file: File) -> Stdio {
        Stdio::File(file.into())
    }
}

impl From<OwnedFd> for Stdio {
    fn from(fd: OwnedFd) -> Stdio {
        Stdio::File(fd)
    }
}

/// A subprocess to start: what [`create_subprocess_exec`] and [`create_subprocess_shell`]
/// return. Set the streams, working directory and environment, then `.await` it (or call
/// [`spawn`](SubprocessBuilder::spawn)) to get the [`Process`].
///
/// # Cancel safety
///
/// Awaiting the builder starts the child at once: `.await` calls
/// [`spawn`](SubprocessBuilder::spawn) when it turns the builder into its future, which is
/// ready on its first poll. There is no waiting to cancel; once `.await` has been reached the
/// child runs, whatever happens to the future.
///
/// # Examples
///
/// ```
/// use aio_subprocess::{PIPE, create_subprocess_exec};
///
/// let out = aio_task::run(async {
///     let mut proc = create_subprocess_exec("sh", ["-c", "echo $GREETING from $PWD"])
///         .env("GREETING", "hello")
///         .cwd("/tmp")
///         .stdout(PIPE)
///         .await?;
///     let (stdout, _) = proc.communicate(None).await?;
///     Ok::<_, aio_task::Error>(stdout.unwrap())
/// })??;
/// assert_eq!(out, b"hello from /tmp\n");
/// # Ok::<(), aio_task::Error>(())
/// ```
#[must_use = "a subprocess starts only when awaited or spawned"]
pub struct SubprocessBuilder {
    program: OsString,
    args: Vec<OsString>,
    stdin: Stdio,
    stdout: Stdio,
    stderr: Stdio,
    cwd: Option<PathBuf>,
    env: Vec<(OsString, Option<OsString>)>,
    env_clear: bool,
    limit: usize,
}

/// Starts `program` with `args` (asyncio's `create_subprocess_exec`). `program` is looked up
/// in `PATH` unless it contains a `/`. Await the result (or call
/// [`spawn`](SubprocessBuilder::spawn)) to start it.
///
/// # Examples
///
/// ```
/// use aio_subprocess::create_subprocess_exec;
///
/// let code = aio_task::run(async {
///     let proc = create_subprocess_exec("true", Vec::<&str>::new()).await?;
///     Ok::<_, aio_task::Error>(proc.wait().await?)
/// })??;
/// assert_eq!(code, 0);
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn create_subprocess_exec<I, S>(program: impl AsRef<OsStr>, args: I) -> SubprocessBuilder
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    SubprocessBuilder::new(
        program.as_ref().to_owned(),
        args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
    )
}

/// Runs `command` through `/bin/sh -c` (asyncio's `create_subprocess_shell`). Await the
/// result (or call [`spawn`](SubprocessBuilder::spawn)) to start it.
///
/// # Examples
///
/// ```
/// use aio_subprocess::create_subprocess_shell;
///
/// let code = aio_task::run(async {
///     let proc = create_subprocess_shell("exit 7").await?;
///     Ok::<_, aio_task::Error>(proc.wait().await?)
/// })??;
/// assert_eq!(code, 7);
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn create_subprocess_shell(command: impl AsRef<OsStr>) -> SubprocessBuilder {
    SubprocessBuilder::new(
        OsString::from("/bin/sh"),
        vec![OsString::from("-c"), command.as_ref().to_owned()],
    )
}

impl SubprocessBuilder {
    fn new(program: OsString, args: Vec<OsString>) -> SubprocessBuilder {
        SubprocessBuilder {
            program,
            args,
            stdin: Stdio::Inherit,
            stdout: Stdio::Inherit,
            stderr: Stdio::Inherit,
            cwd: None,
            env: Vec::new(),
            env_clear: false,
            limit: DEFAULT_LIMIT,
        }
    }

    /// Where the child's stdin comes from ([`PIPE`] gives [`Process::stdin`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::{PIPE, create_subprocess_exec};
    ///
    /// let out = aio_task::run(async {
    ///     let mut proc = create_subprocess_exec("wc", ["-c"]).stdin(PIPE).stdout(PIPE).await?;
    ///     Ok::<_, aio_task::Error>(proc.communicate(Some(b"12345")).await?.0.unwrap())
    /// })??;
    /// assert_eq!(String::from_utf8_lossy(&out).trim(), "5");
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn stdin(mut self, stdin: impl Into<Stdio>) -> Self {
        self.stdin = stdin.into();
        self
    }

    /// Where the child's stdout goes ([`PIPE`] gives [`Process::stdout`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::{PIPE, create_subprocess_exec};
    ///
    /// aio_task::run(async {
    ///     let proc = create_subprocess_exec("echo", ["piped"]).stdout(PIPE).await?;
    ///     assert_eq!(proc.stdout.as_ref().unwrap().readline().await?, b"piped\n");
    ///     proc.wait().await?;
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn stdout(mut self, stdout: impl Into<Stdio>) -> Self {
        self.stdout = stdout.into();
        self
    }

    /// Where the child's stderr goes ([`PIPE`] gives [`Process::stderr`]; [`STDOUT`] merges
    /// it into stdout).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::{PIPE, STDOUT, create_subprocess_shell};
    ///
    /// let out = aio_task::run(async {
    ///     let mut proc = create_subprocess_shell("echo out; echo err >&2")
    ///         .stdout(PIPE)
    ///         .stderr(STDOUT)
    ///         .await?;
    ///     let (stdout, stderr) = proc.communicate(None).await?;
    ///     assert!(stderr.is_none());
    ///     Ok::<_, aio_task::Error>(stdout.unwrap())
    /// })??;
    /// assert_eq!(out, b"out\nerr\n");
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn stderr(mut self, stderr: impl Into<Stdio>) -> Self {
        self.stderr = stderr.into();
        self
    }

    /// The child's working directory (asyncio's `cwd=`).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::{PIPE, create_subprocess_exec};
    ///
    /// let out = aio_task::run(async {
    ///     let mut proc = create_subprocess_exec("pwd", Vec::<&str>::new())
    ///         .cwd("/")
    ///         .stdout(PIPE)
    ///         .await?;
    ///     Ok::<_, aio_task::Error>(proc.communicate(None).await?.0.unwrap())
    /// })??;
    /// assert_eq!(out, b"/\n");
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Sets one environment variable for the child (on top of this process's environment,
    /// unless [`env_clear`](Self::env_clear)).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::{PIPE, create_subprocess_shell};
    ///
    /// let out = aio_task::run(async {
    ///     let mut proc = create_subprocess_shell("echo $COLOUR")
    ///         .env("COLOUR", "blue")
    ///         .stdout(PIPE)
    ///         .await?;
    ///     Ok::<_, aio_task::Error>(proc.communicate(None).await?.0.unwrap())
    /// })??;
    /// assert_eq!(out, b"blue\n");
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Sets several environment variables (asyncio's `env=` is `env_clear().envs(...)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::{PIPE, create_subprocess_exec};
    ///
    /// let out = aio_task::run(async {
    ///     let mut proc = create_subprocess_exec("/usr/bin/env", Vec::<&str>::new())
    ///         .env_clear()
    ///         .envs([("A", "1"), ("B", "2")])
    ///         .stdout(PIPE)
    ///         .await?;
    ///     Ok::<_, aio_task::Error>(proc.communicate(None).await?.0.unwrap())
    /// })??;
    /// assert_eq!(out, b"A=1\nB=2\n");
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn envs<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (key, value) in vars {
            self = self.env(key, value);
        }
        self
    }

    /// Removes one environment variable from the child's environment.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::{PIPE, create_subprocess_shell};
    ///
    /// let out = aio_task::run(async {
    ///     let mut proc = create_subprocess_shell("echo \"[$HOME]\"")
    ///         .env_remove("HOME")
    ///         .stdout(PIPE)
    ///         .await?;
    ///     Ok::<_, aio_task::Error>(proc.communicate(None).await?.0.unwrap())
    /// })??;
    /// assert_eq!(out, b"[]\n");
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Starts the child with an empty environment (plus what [`env`](Self::env) adds).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::{PIPE, create_subprocess_exec};
    ///
    /// let out = aio_task::run(async {
    ///     let mut proc = create_subprocess_exec("/usr/bin/env", Vec::<&str>::new())
    ///         .env_clear()
    ///         .stdout(PIPE)
    ///         .await?;
    ///     Ok::<_, aio_task::Error>(proc.communicate(None).await?.0.unwrap())
    /// })??;
    /// assert!(out.is_empty()); // nothing inherited
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn env_clear(mut self) -> Self {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// The buffer limit of the stdout and stderr readers (asyncio's `limit=`, default 64 KiB).
    /// Zero is refused by [`spawn`](Self::spawn) when stdout or stderr is a pipe, before
    /// anything starts.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::{PIPE, create_subprocess_shell};
    ///
    /// aio_task::run(async {
    ///     let proc = create_subprocess_shell("echo a-long-line").stdout(PIPE).limit(4).await?;
    ///     let stdout = proc.stdout.as_ref().unwrap();
    ///     assert_eq!(stdout.limit(), 4);
    ///     assert!(stdout.readline().await.is_err()); // longer than the limit
    ///     proc.wait().await?;
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Starts the child now, on the running loop.
    ///
    /// # Errors
    ///
    /// [`SubprocessError::Spawn`] if the program cannot be started (it does not exist, is not
    /// executable, the working directory is missing); [`SubprocessError::InvalidArgument`]
    /// for `STDOUT` given as stdin or stdout, or a zero [`limit`](Self::limit) with a stdout
    /// or stderr pipe to read (nothing is started); [`SubprocessError::Runtime`] without a running loop;
    /// [`SubprocessError::Io`] if a pipe cannot be made, or cannot be connected to the loop
    /// once the child runs — the child is then killed (and reaped by the watcher), as asyncio
    /// kills it.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::create_subprocess_exec;
    ///
    /// aio_task::run(async {
    ///     let proc = create_subprocess_exec("sleep", ["0"]).spawn()?;
    ///     assert!(proc.pid() > 0);
    ///     assert_eq!(proc.wait().await?, 0);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn spawn(self) -> Result<Process, SubprocessError> {
        let limit = self.limit;
        let reads_a_pipe = matches!(self.stdout, Stdio::Pipe) || matches!(self.stderr, Stdio::Pipe);
        if self.limit == 0 && reads_a_pipe {
            // asyncio cannot make the pipe's StreamReader then (ValueError), but finds out
            // only once the child runs, and just logs it; refused here before anything starts.
            return Err(SubprocessError::InvalidArgument("Limit cannot be <= 0"));
        }
        let Spawned {
            stdin: stdin_pipe,
            stdout: stdout_pipe,
            stderr: stderr_pipe,
            state,
        } = self.spawn_raw()?;
        let connected = (|| -> Result<_, SubprocessError> {
            #[cfg(test)]
            if tests::FAIL_PIPE_CONNECT.take() {
                return Err(io::Error::other("injected pipe connect failure").into());
            }
            Ok((
                stdin_pipe.map(connect_write_pipe).transpose()?,
                stdout_pipe
                    .map(|fd| connect_read_pipe(fd, limit))
                    .transpose()?,
                stderr_pipe
                    .map(|fd| connect_read_pipe(fd, limit))
                    .transpose()?,
            ))
        })();
        match connected {
            Ok((stdin, stdout, stderr)) => Ok(Process {
                stdin,
                stdout,
                stderr,
                state,
            }),
            Err(error) => {
                kill_unconnected(&state);
                Err(error)
            }
        }
    }

    /// Starts the child on the running loop, watched by it, and gives the parent's ends of
    /// the pipes asked for, not yet connected to the loop.
    pub(crate) fn spawn_raw(self) -> Result<Spawned, SubprocessError> {
        if matches!(self.stdin, Stdio::Stdout) || matches!(self.stdout, Stdio::Stdout) {
            return Err(SubprocessError::InvalidArgument(
                "STDOUT can only be used for stderr",
            ));
        }
        let lp = get_running_loop()?;
        let children = lp.extension::<Children>();
        children.prepare(&lp)?;

        let mut command = std::process::Command::new(&self.program);
        command.args(&self.args);
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        if self.env_clear {
            command.env_clear();
        }
        for (key, value) in &self.env {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }

        let mut stdin_pipe = None;
        match self.stdin {
            Stdio::Pipe => {
                let (read, write) = io::pipe()?;
                command.stdin(read);
                stdin_pipe = Some(OwnedFd::from(write));
            }
            other => {
                command.stdin(child_stdio(other)?);
            }
        }
        let merge = matches!(self.stderr, Stdio::Stdout);
        let mut stdout_pipe = None;
        // Where stderr goes when it is merged into stdout: a second handle on stdout's target.
        let mut merged: Option<StdStdio> = None;
        match self.stdout {
            Stdio::Pipe => {
                let (read, write) = io::pipe()?;
                if merge {
                    merged = Some(write.try_clone()?.into());
                }
                command.stdout(write);
                stdout_pipe = Some(OwnedFd::from(read));
            }
            Stdio::Inherit => {
                if merge {
                    merged = Some(io::stdout().as_fd().try_clone_to_owned()?.into());
                }
                command.stdout(StdStdio::inherit());
            }
            Stdio::DevNull => {
                if merge {
                    merged = Some(StdStdio::null());
                }
                command.stdout(StdStdio::null());
            }
            Stdio::File(fd) => {
                if merge {
                    merged = Some(fd.try_clone()?.into());
                }
                command.stdout(fd);
            }
            Stdio::Stdout => unreachable!("refused above"),
        }
        let mut stderr_pipe = None;
        match self.stderr {
            Stdio::Pipe => {
                let (read, write) = io::pipe()?;
                command.stderr(write);
                stderr_pipe = Some(OwnedFd::from(read));
            }
            Stdio::Stdout => {
                command.stderr(merged.take().unwrap_or_else(StdStdio::inherit));
            }
            other => {
                command.stderr(child_stdio(other)?);
            }
        }

        let child = command.spawn().map_err(|source| SubprocessError::Spawn {
            program: self.program.to_string_lossy().into_owned(),
            cwd: self
                .cwd
                .as_deref()
                .filter(|dir| cwd_failed(dir, &source))
                .map(|dir| dir.to_string_lossy().into_owned()),
            source: std::sync::Arc::new(source),
        })?;
        // The child's ends of the pipes live in `command`: close them here, or the readers
        // would never see end of file.
        drop(command);
        let pid = child.id();
        // `std`'s handle neither waits nor kills on drop; reaping is the watcher's job.
        drop(child);
        let state = children.watch(&lp, pid as i32)?;
        Ok(Spawned {
            stdin: stdin_pipe,
            stdout: stdout_pipe,
            stderr: stderr_pipe,
            state,
        })
    }
}

/// A child just started: the parent's ends of its pipes, and its state.
pub(crate) struct Spawned {
    pub(crate) stdin: Option<OwnedFd>,
    pub(crate) stdout: Option<OwnedFd>,
    pub(crate) stderr: Option<OwnedFd>,
    pub(crate) state: Rc<ChildState>,
}

/// asyncio closes the transport — killing the child — when its pipes cannot be connected.
/// The watcher reaps it; until then the pid is still ours.
pub(crate) fn kill_unconnected(state: &ChildState) {
    if state.returncode.get().is_none() {
        // SAFETY: `kill` has no memory-safety preconditions.
        unsafe { libc::kill(state.pid, libc::SIGKILL) };
    }
}

/// Whether the working directory `dir` is what made the spawn fail with `error`, rather than
/// the program. `std` reports the child's failed `chdir` and `exec` alike, as a bare OS
/// error; the child enters `dir` before it runs the program, so if `dir` cannot be entered
/// for the very reason the spawn gave (missing, not a directory, not searchable), that is
/// what failed — CPython's child says so itself, and names the cwd in the exception then.
fn cwd_failed(dir: &Path, error: &io::Error) -> bool {
    let Some(errno) = error.raw_os_error() else {
        return false;
    };
    let entering = match std::fs::metadata(dir) {
        Err(error) => error.raw_os_error(),
        Ok(meta) if !meta.is_dir() => Some(libc::ENOTDIR),
        // Search permission, checked as `chdir` checks it: with the effective ids.
        Ok(_) => rustix::fs::accessat(
            rustix::fs::CWD,
            dir,
            rustix::fs::Access::EXEC_OK,
            rustix::fs::AtFlags::EACCESS,
        )
        .err()
        .map(|errno| errno.raw_os_error()),
    };
    entering == Some(errno)
}

/// A non-pipe, non-merged stream setting as `std`'s.
fn child_stdio(stdio: Stdio) -> io::Result<StdStdio> {
    Ok(match stdio {
        Stdio::Inherit => StdStdio::inherit(),
        Stdio::DevNull => StdStdio::null(),
        Stdio::File(fd) => fd.into(),
        Stdio::Pipe | Stdio::Stdout => unreachable!("handled by the caller"),
    })
}

impl IntoFuture for SubprocessBuilder {
    type Output = Result<Process, SubprocessError>;
    type IntoFuture = Ready<Result<Process, SubprocessError>>;

    /// Starts the child when awaited, as `await asyncio.create_subprocess_exec(...)` does.
    fn into_future(self) -> Self::IntoFuture {
        std::future::ready(self.spawn())
    }
}

impl fmt::Debug for SubprocessBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubprocessBuilder")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("cwd", &self.cwd)
            .finish_non_exhaustive()
    }
}

/// A running (or finished) child process (asyncio's `asyncio.subprocess.Process`).
///
/// The pipes asked for with [`PIPE`] are here as streams. The child is reaped by the loop
/// as soon as it exits, whether or not anyone waits: dropping a `Process` (or cancelling a
/// [`wait`](Process::wait)) leaves no zombie, and dropping it does not kill the child.
///
/// # Examples
///
/// ```
/// use aio_subprocess::{PIPE, create_subprocess_exec};
///
/// aio_task::run(async {
///     let proc = create_subprocess_exec("cat", Vec::<&str>::new())
///         .stdin(PIPE)
///         .stdout(PIPE)
///         .await?;
///     let (stdin, stdout) = (proc.stdin.as_ref().unwrap(), proc.stdout.as_ref().unwrap());
///     stdin.write(b"ping\n");
///     assert_eq!(stdout.readline().await?, b"ping\n");
///     stdin.close();
///     assert_eq!(proc.wait().await?, 0);
///     assert_eq!(proc.returncode(), Some(0));
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub struct Process {
    /// The child's stdin, if it was [`PIPE`].
    pub stdin: Option<StreamWriter>,
    /// The child's stdout, if it was [`PIPE`].
    pub stdout: Option<StreamReader>,
    /// The child's stderr, if it was [`PIPE`].
    pub stderr: Option<StreamReader>,
    state: Rc<ChildState>,
}

impl Process {
    /// The child's process id.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::{PIPE, create_subprocess_shell};
    ///
    /// aio_task::run(async {
    ///     let mut proc = create_subprocess_shell("echo $$").stdout(PIPE).await?;
    ///     let pid = proc.pid();
    ///     let out = proc.communicate(None).await?.0.unwrap();
    ///     assert_eq!(String::from_utf8_lossy(&out).trim(), pid.to_string());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn pid(&self) -> u32 {
        self.state.pid as u32
    }

    /// `None` while the child runs; then its exit status, or minus the number of the signal
    /// that killed it (asyncio's `returncode`). Set as soon as the loop has reaped the child,
    /// whether or not anyone waits.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let proc = aio_subprocess::create_subprocess_exec("sleep", ["30"]).await?;
    ///     assert_eq!(proc.returncode(), None); // still running
    ///     proc.kill()?;
    ///     proc.wait().await?;
    ///     assert_eq!(proc.returncode(), Some(-9));
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn returncode(&self) -> Option<i32> {
        self.state.returncode.get()
    }

    /// Waits for the child to exit and returns [`returncode`](Self::returncode). Any number
    /// of tasks may wait at once; all see the code. Cancelling a wait changes nothing: the
    /// child is still reaped, and a later wait returns at once.
    ///
    /// Like asyncio, `wait` does not read the pipes: a child writing more than a pipe holds
    /// to a pipe nobody reads blocks forever; use [`communicate`](Self::communicate).
    ///
    /// # Errors
    ///
    /// [`SubprocessError::Runtime`] ([`aio_scheduler::Error::Closed`]) if the loop that
    /// spawned the child closed while it was still running: nothing watches it any more (it
    /// is reaped in the background by a reaper thread), so waiting would never end.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: it only waits for the reaper, which runs whether or not
    /// anyone waits. Dropping the future loses no exit status — `returncode` is set when the
    /// child exits and a later `wait` returns it at once. (The dropped wait's waker stays
    /// registered until the child exits.)
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Error, run, wait_for};
    ///
    /// run(async {
    ///     let proc = aio_subprocess::create_subprocess_exec("sleep", ["30"]).await?;
    ///     // Still running: the wait times out and is dropped, changing nothing.
    ///     assert!(matches!(wait_for(proc.wait(), 0.01).await, Err(Error::Timeout)));
    ///     proc.terminate()?;
    ///     assert_eq!(proc.wait().await?, -15);
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub async fn wait(&self) -> Result<i32, SubprocessError> {
        self.state
            .wait()
            .await
            .ok_or(SubprocessError::Runtime(aio_scheduler::Error::Closed))
    }

    /// Sends `input` (if given) to stdin and closes it, reads stdout and stderr to their end
    /// at the same time, then waits for the child (asyncio's `communicate`). Returns what
    /// stdout and stderr gave, `None` for a stream that is not a pipe.
    ///
    /// Everything runs at once, so a child that fills both output pipes while its input is
    /// still being written does not deadlock; a child that exits without reading its input
    /// is not an error (the broken pipe is ignored, as asyncio does).
    ///
    /// # Errors
    ///
    /// A read error on stdout or stderr; as [`wait`](Self::wait).
    ///
    /// # Cancel safety
    ///
    /// This method is **not** cancel safe. Dropping the future before it completes:
    ///
    /// - loses the output read so far: stdout and stderr are read with
    ///   [`read_to_end`](StreamReader::read_to_end), which collects them in vectors of its own,
    ///   so what it collected has left the pipes' readers for good;
    /// - leaves `input` sent or on its way: it is handed to stdin's writer in the first poll,
    ///   and the writer delivers it in the background. If no more than the writer's
    ///   high-water mark (64 KiB) of it stays buffered, stdin is closed in that same poll;
    ///   otherwise `communicate` first waits in [`drain`](StreamWriter::drain), and dropped
    ///   there it leaves stdin open. Calling `communicate` again sends the input again;
    /// - does not kill the child, which is still reaped when it exits.
    ///
    /// To put a time limit on a child, kill it on timeout and then wait, rather than dropping
    /// `communicate` and calling it again.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::{PIPE, create_subprocess_exec};
    ///
    /// let (out, err) = aio_task::run(async {
    ///     let mut proc = create_subprocess_exec("sh", ["-c", "tr a-z A-Z; echo done >&2"])
    ///         .stdin(PIPE)
    ///         .stdout(PIPE)
    ///         .stderr(PIPE)
    ///         .await?;
    ///     Ok::<_, aio_task::Error>(proc.communicate(Some(b"round trip")).await?)
    /// })??;
    /// assert_eq!(out.unwrap(), b"ROUND TRIP");
    /// assert_eq!(err.unwrap(), b"done\n");
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub async fn communicate(
        &mut self,
        input: Option<&[u8]>,
    ) -> Result<(Option<Vec<u8>>, Option<Vec<u8>>), SubprocessError> {
        let feed = pin!(feed_stdin(self.stdin.as_ref(), input));
        let out = pin!(read_all(self.stdout.as_ref()));
        let err = pin!(read_all(self.stderr.as_ref()));
        let (out, err) = join3(feed, out, err).await;
        let (out, err) = (out?, err?);
        self.wait().await?;
        Ok((out, err))
    }

    /// Sends `signal` to the child (asyncio's `send_signal`). Signal 0 sends nothing and only
    /// checks that the child is still there.
    ///
    /// # Errors
    ///
    /// [`SubprocessError::InvalidArgument`] for a number outside `0..NSIG`;
    /// [`SubprocessError::ProcessLookup`] once the child has finished (and was reaped);
    /// [`SubprocessError::Runtime`] if the loop that spawned it has closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::create_subprocess_exec;
    /// use aio_scheduler::signal::SIGTERM;
    ///
    /// aio_task::run(async {
    ///     let proc = create_subprocess_exec("sleep", ["30"]).await?;
    ///     proc.send_signal(SIGTERM)?;
    ///     assert_eq!(proc.wait().await?, -SIGTERM);
    ///     let err = proc.send_signal(SIGTERM).unwrap_err();
    ///     assert!(err.to_string().starts_with("process already finished"));
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn send_signal(&self, signal: i32) -> Result<(), SubprocessError> {
        signal_child(&self.state, signal)
    }

    /// Asks the child to stop: SIGTERM (asyncio's `terminate`).
    ///
    /// # Errors
    ///
    /// As [`send_signal`](Self::send_signal).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::create_subprocess_exec;
    ///
    /// aio_task::run(async {
    ///     let proc = create_subprocess_exec("sleep", ["30"]).await?;
    ///     proc.terminate()?;
    ///     assert_eq!(proc.wait().await?, -15);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn terminate(&self) -> Result<(), SubprocessError> {
        self.send_signal(signal::SIGTERM)
    }

    /// Kills the child: SIGKILL (asyncio's `kill`). Its returncode becomes `-9`.
    ///
    /// # Errors
    ///
    /// As [`send_signal`](Self::send_signal).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_subprocess::create_subprocess_exec;
    ///
    /// aio_task::run(async {
    ///     let proc = create_subprocess_exec("sleep", ["30"]).await?;
    ///     proc.kill()?;
    ///     assert_eq!(proc.wait().await?, -9);
    ///     assert!(proc.kill().is_err()); // already finished
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn kill(&self) -> Result<(), SubprocessError> {
        self.send_signal(libc::SIGKILL)
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("pid", &self.pid())
            .field("returncode", &self.returncode())
            .finish_non_exhaustive()
    }
}

/// Sends `signal` to the child of `state`, unless it was reaped (asyncio's `send_signal`).
pub(crate) fn signal_child(state: &ChildState, signal: i32) -> Result<(), SubprocessError> {
    if state.returncode.get().is_some() {
        return Err(SubprocessError::ProcessLookup {
            pid: state.pid as u32,
        });
    }
    if state.orphaned.get() {
        // Its loop closed: the orphan reaper may reap it at any time, after which the pid
        // could name another process.
        return Err(SubprocessError::Runtime(aio_scheduler::Error::Closed));
    }
    // 0 delivers nothing: it checks that the child is still there, as `os.kill(pid, 0)`.
    if !(0..signal::NSIG).contains(&signal) {
        return Err(SubprocessError::InvalidArgument(
            "signal number out of range",
        ));
    }
    // Not reaped yet (the returncode is set in the same step as the reap, on this
    // thread), so the pid is still ours even if the child has exited: no race with pid
    // reuse.
    // SAFETY: `kill` has no memory-safety preconditions.
    if unsafe { libc::kill(state.pid, signal) } != 0 {
        return Err(io::Error::last_os_error().into());
    }
    Ok(())
}

/// asyncio's `_feed_stdin`: write, drain, close; a child that went away is not an error.
async fn feed_stdin(stdin: Option<&StreamWriter>, input: Option<&[u8]>) {
    let Some(stdin) = stdin else {
        return;
    };
    if let Some(input) = input {
        stdin.write(input);
        // BrokenPipe / ConnectionReset: the child exited without reading. Ignored.
        let _ = stdin.drain().await;
    }
    stdin.close();
}

async fn read_all(stream: Option<&StreamReader>) -> Result<Option<Vec<u8>>, SubprocessError> {
    match stream {
        None => Ok(None),
        Some(reader) => reader
            .read_to_end()
            .await
            .map(Some)
            .map_err(|e| io::Error::other(e).into()),
    }
}

/// Polls three futures together until all are done.
async fn join3<A, B, C>(
    mut a: std::pin::Pin<&mut A>,
    mut b: std::pin::Pin<&mut B>,
    mut c: std::pin::Pin<&mut C>,
) -> (B::Output, C::Output)
where
    A: Future<Output = ()>,
    B: Future,
    C: Future,
{
    let (mut a_done, mut b_out, mut c_out) = (false, None, None);
    poll_fn(|cx| {
        if !a_done {
            a_done = a.as_mut().poll(cx).is_ready();
        }
        if b_out.is_none() {
            if let Poll::Ready(out) = b.as_mut().poll(cx) {
                b_out = Some(out);
            }
        }
        if c_out.is_none() {
            if let Poll::Ready(out) = c.as_mut().poll(cx) {
                c_out = Some(out);
            }
        }
        if a_done && b_out.is_some() && c_out.is_some() {
            Poll::Ready((b_out.take().unwrap(), c_out.take().unwrap()))
        } else {
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::{Duration, Instant};

    use crate::{PIPE, SubprocessError, create_subprocess_exec};

    thread_local! {
        /// Makes the next `spawn` on this thread fail to connect its pipes, after the child
        /// has started (as a failed reactor registration would).
        pub(super) static FAIL_PIPE_CONNECT: Cell<bool> = const { Cell::new(false) };
    }

    /// Whether a process of ours runs `sleep <token>` (a killed child, even before it is
    /// reaped, has an empty command line).
    fn sleeper_runs(token: &str) -> bool {
        let wanted = format!("sleep\0{token}\0");
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
            .any(|cmdline| cmdline == wanted.as_bytes())
    }

    /// Regression: when the pipes could not be connected after the child had started, `spawn`
    /// returned the error and left the child running. asyncio kills it (it closes the
    /// transport, then waits).
    #[test]
    fn a_child_whose_pipes_cannot_be_connected_is_killed() {
        // Unique, so parallel tests cannot be mistaken for this child.
        let token = format!("30.{}{}", std::process::id(), line!());
        FAIL_PIPE_CONNECT.set(true);
        let outcome = aio_task::run(async move {
            let spawned = create_subprocess_exec("sleep", [&token])
                .stdout(PIPE)
                .spawn();
            assert!(
                matches!(spawned, Err(SubprocessError::Io(_))),
                "{spawned:?}"
            );
            let start = Instant::now();
            while sleeper_runs(&token) {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "the child was left running"
                );
                aio_scheduler::sleep(0.01).await.unwrap();
            }
        });
        outcome.unwrap();
    }
}
