//! Errors of the synchronization primitives.

use std::fmt;

/// What can go wrong with a primitive (asyncio's `RuntimeError`, `ValueError` and
/// `BrokenBarrierError`).
///
/// # Examples
///
/// ```
/// use aio_sync::{BoundedSemaphore, SyncError};
/// let sem = BoundedSemaphore::new(1);
/// assert_eq!(sem.release(), Err(SyncError::TooManyReleases));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncError {
    /// The barrier was aborted or reset while waiting (asyncio's `BrokenBarrierError`).
    BrokenBarrier,
    /// A `BoundedSemaphore` was released above its initial value (asyncio's `ValueError`).
    TooManyReleases,
    /// `Condition::notify` without holding the lock (asyncio's `RuntimeError`).
    NotLocked,
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyncError::BrokenBarrier => "the barrier is broken",
            SyncError::TooManyReleases => "BoundedSemaphore released too many times",
            SyncError::NotLocked => "cannot notify on un-acquired lock",
        })
    }
}

impl std::error::Error for SyncError {}
