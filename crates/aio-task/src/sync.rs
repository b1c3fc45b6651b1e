//! The locks of the cross-thread result slot, switched to `loom`'s under `cfg(loom)` so the
//! models in `tests/loom_*.rs` explore every interleaving of the same code the tasks run.

#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
