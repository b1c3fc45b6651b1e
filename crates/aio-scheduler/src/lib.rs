//! asyncio's event loop for Rust: a ready queue, a timer heap and a reactor, driven one
//! iteration at a time exactly as CPython's `BaseEventLoop._run_once` drives them.
//!
//! This is the scheduler layer of aio. It runs callbacks and task steps; the tasks themselves
//! (and asyncio's `Future`) live in `aio-task`, above it, and the selector lives in
//! `aio-reactor`, below it.
//!
//! - [`EventLoop`]: `call_soon`, `call_later`, `call_at`, `run_forever`,
//!   `run_until_complete`, `stop`, `close`, `time`, exception handlers.
//! - [`LoopHandle`]: the `Send + Sync` door into a loop (`call_soon_threadsafe`, `stop`, and
//!   the schedule function for task wake-ups).
//! - [`sleep`] / [`sleep_until`]: delays in `f64` seconds or [`Duration`](std::time::Duration).
//! - [`get_running_loop`]: the loop running on this thread.
//! - [`context`]: `contextvars` — [`ContextVar`](context::ContextVar),
//!   [`Context`](context::Context), [`copy_context`](context::copy_context).
//! - [`TimerHeap`]: the timer heap with asyncio's lazy-cancellation rules.
//!
//! # Examples
//!
//! ```
//! use std::time::{Duration, Instant};
//! use aio_scheduler::{EventLoop, sleep};
//!
//! let lp = EventLoop::new()?;
//! let start = Instant::now();
//! let l = lp.clone();
//! lp.call_later(0.05, move || l.stop())?;
//! lp.run_forever()?; // idles in the kernel until the timer fires
//! assert!(start.elapsed() >= Duration::from_millis(50));
//!
//! let answer = lp.run_until_complete(async {
//!     sleep(0.01).await?;
//!     Ok::<_, aio_scheduler::Error>(42)
//! })??;
//! assert_eq!(answer, 42);
//! lp.close()?;
//! # Ok::<(), aio_scheduler::Error>(())
//! ```

pub mod context;
mod delay;
mod error;
mod event_loop;
mod handle;
// Compiled everywhere (the loop keeps its table), offered on 64-bit targets only.
#[cfg_attr(not(target_pointer_width = "64"), allow(dead_code))]
mod local;
pub mod observe;
mod raw_task;
mod remote;
pub mod signal;
mod sleep;
mod sync;
mod timers;

pub use aio_reactor;
pub use delay::{Delay, IntoDelay};
pub use error::Error;
pub use event_loop::{
    EventLoop, ExceptionContext, ExceptionHandler, LoopHandle, Runnable, WeakLoop,
    dropping_unfinished_main, get_running_loop, now, panic_message, running_debug, schedule,
};
pub use handle::{Handle, ThreadsafeHandle, TimerHandle};
#[cfg(target_pointer_width = "64")]
pub use local::{LocalStep, spawn_local_step};
pub use observe::LoopMetrics;
pub use raw_task::{RunnableVTable, TaskRunnable};
pub use sleep::{Sleep, sleep, sleep_until};
pub use timers::{TimerHeap, TimerKey};

/// The cross-thread protocols, for the loom models in `tests/loom_*.rs` only (`--cfg loom`).
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::handle::{ThreadsafeCallback, ThreadsafeCell};
    pub use crate::remote::RemoteQueue;
}

// Unit tests make loops too: on the reactor AIO_REACTOR names.
#[cfg(test)]
use aio_reactors as _;
