//! asyncio's synchronization primitives for Rust: [`Lock`], [`Event`], [`Condition`],
//! [`Semaphore`], [`BoundedSemaphore`] and [`Barrier`].
//!
//! They are built on [`Waker`](std::task::Waker)s alone and know nothing of the event loop,
//! so they work under any executor. Like asyncio's they are for the tasks of one thread (not
//! `Send`/`Sync`; no atomics), and they keep asyncio's guarantees:
//!
//! - FIFO: waiters are served in arrival order; a newcomer never overtakes a queued waiter.
//! - Cancellation is dropping the waiting future, and it never loses anything: a waiter woken
//!   and then cancelled passes its wake-up (lock, permit, notification) on to the next.
//! - Guards release on drop: the Rust form of `async with lock:`.
//!
//! # Examples
//!
//! ```
//! use std::rc::Rc;
//! use aio_sync::{Event, Lock};
//!
//! aio_task::run(async {
//!     let lock = Rc::new(Lock::new());
//!     let done = Rc::new(Event::new());
//!     let (l, d) = (lock.clone(), done.clone());
//!     aio_task::create_task(async move {
//!         let _guard = l.acquire().await; // async with lock:
//!         d.set();
//!     })?;
//!     done.wait().await;
//!     assert!(!lock.locked());
//!     Ok::<_, aio_task::Error>(())
//! })??;
//! # Ok::<(), aio_task::Error>(())
//! ```

mod barrier;
mod condition;
mod error;
mod event;
mod lock;
mod semaphore;
pub mod waiters;

pub use barrier::Barrier;
pub use condition::Condition;
pub use error::SyncError;
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use semaphore::{BoundedSemaphore, Permit, Semaphore};

/// The futures returned by the primitives' waiting methods.
pub mod futures {
    pub use crate::barrier::Wait as BarrierWait;
    pub use crate::condition::Wait as ConditionWait;
    pub use crate::event::Wait as EventWait;
    pub use crate::lock::Acquire as LockAcquire;
    pub use crate::semaphore::Acquire as SemaphoreAcquire;
}

// Unit tests make loops too: on the reactor AIO_REACTOR names.
#[cfg(test)]
use aio_reactors as _;
