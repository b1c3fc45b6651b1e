//! asyncio's subprocesses for Rust: [`create_subprocess_exec`] and
//! [`create_subprocess_shell`] start a child whose pipes are [`StreamWriter`] /
//! [`StreamReader`]s, and [`Process`] waits for it, talks to it and signals it.
//!
//! - stdin, stdout and stderr are each [`PIPE`], inherited (the default), [`DEVNULL`], a file,
//!   or (stderr) [`STDOUT`]; plus working directory, environment and the readers' limit.
//! - A program that does not exist is a [`SubprocessError::Spawn`] at spawn.
//! - [`Process::communicate`] writes, reads both outputs and waits, all at once: no deadlock
//!   when the child fills both pipes.
//! - Children are reaped by the loop as soon as they exit — through a pidfd in the reactor
//!   where the kernel has pidfd, through SIGCHLD otherwise ([`ChildWatcher`]) — so a dropped
//!   `Process` leaves no zombie, and any number of waits see the exit code. Children still
//!   running when their loop closes are reaped as they exit by a process-wide thread,
//!   started only then and ending when none is left.
//! - asyncio's protocol API too: [`subprocess_exec`] / [`subprocess_shell`] (or any builder's
//!   [`protocol`](SubprocessBuilder::protocol)) call a [`SubprocessProtocol`] as the child
//!   writes and exits.
//!
//! # Examples
//!
//! Seed 000's `ls -l` through the shell:
//!
//! ```
//! use aio_subprocess::{PIPE, create_subprocess_shell};
//!
//! aio_task::run(async {
//!     let mut proc = create_subprocess_shell("ls -l / && ls /no-such-dir")
//!         .stdout(PIPE)
//!         .stderr(PIPE)
//!         .await?;
//!     let (stdout, stderr) = proc.communicate(None).await?;
//!     assert!(String::from_utf8_lossy(&stdout.unwrap()).contains("tmp"));
//!     assert!(!stderr.unwrap().is_empty());
//!     assert_ne!(proc.returncode(), Some(0)); // the second `ls` failed
//!     Ok::<_, aio_task::Error>(())
//! })??;
//! # Ok::<(), aio_task::Error>(())
//! ```
//!
//! [`StreamWriter`]: aio_streams::StreamWriter
//! [`StreamReader`]: aio_streams::StreamReader

mod error;
mod process;
mod protocol;
mod reaper;
mod watcher;

pub use error::SubprocessError;
pub use process::{
    DEVNULL, PIPE, Process, STDOUT, Stdio, SubprocessBuilder, create_subprocess_exec,
    create_subprocess_shell,
};
pub use protocol::{
    SubprocessProtocol, SubprocessProtocolSpawn, SubprocessTransport, subprocess_exec,
    subprocess_shell,
};
pub use watcher::{ChildWatcher, child_watcher, set_child_watcher};

// Unit tests make loops too: on the reactor AIO_REACTOR names.
#[cfg(test)]
use aio_reactors as _;
