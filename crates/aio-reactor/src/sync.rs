//! The atomics of the cross-thread paths, switched to `loom`'s under `cfg(loom)` so the
//! models in `tests/loom_*.rs` explore every interleaving of the same code the reactors run.

#[cfg(loom)]
pub(crate) use loom::sync::atomic;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic;
