//! The coalescing flag of a cross-thread notifier.

use crate::sync::atomic::{AtomicBool, Ordering};

/// The flag that lets a burst of [`Notify::notify`](crate::Notify::notify) calls cost one
/// wake-up signal (one eventfd write) instead of one each: only the first `notify` after a
/// wake-up signals; the reactor re-arms the flag when it consumes the wake-up.
///
/// The order in [`reset`](Coalesce::reset) is the whole point: the wake-up is consumed
/// (the eventfd counter read) first, and only then is the flag cleared. Cleared first, a
/// `notify` in between would signal, see its signal swallowed by the read, and leave the
/// flag set with nothing pending: every later `notify` would be lost. In this order, a
/// `notify` before the clear finds the flag set and signals nothing, which is right, since the
/// wake-up being consumed is returning the reactor's wait now; a `notify` after it signals
/// again. `aio-scheduler`'s `tests/loom_notify.rs` checks it, with the loop's remote queue.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use aio_reactor::Coalesce;
///
/// let flag = Coalesce::new();
/// let writes = AtomicU64::new(0); // stands for an eventfd's counter
/// let signal = || {
///     writes.fetch_add(1, Ordering::SeqCst);
///     Ok(())
/// };
/// for _ in 0..3 {
///     flag.notify(signal)?;
/// }
/// assert_eq!(writes.load(Ordering::SeqCst), 1); // coalesced
/// flag.reset(|| writes.store(0, Ordering::SeqCst)); // the reactor consumed the wake-up
/// flag.notify(signal)?;
/// assert_eq!(writes.load(Ordering::SeqCst), 1); // signals again
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug, Default)]
pub struct Coalesce {
    pending: AtomicBool,
}

impl Coalesce {
    /// A flag with no wake-up pending.
    pub fn new() -> Coalesce {
        Coalesce {
            pending: AtomicBool::new(false),
        }
    }

    /// The notifier's side: calls `signal` (writes the eventfd) unless a wake-up is already
    /// pending.
    ///
    /// # Errors
    ///
    /// `signal`'s error.
    pub fn notify(&self, signal: impl FnOnce() -> std::io::Result<()>) -> std::io::Result<()> {
        if self.pending.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        signal()
    }

    /// The reactor's side, when its wait saw the wake-up: `consume` it (read the eventfd),
    /// then let the next `notify` signal again. In that order (see the type's documentation).
    pub fn reset(&self, consume: impl FnOnce()) {
        consume();
        // A swap rather than a store: the same instruction on x86 (a SeqCst store is an
        // `xchg`), and every write to the flag is then a read-modify-write, one chain in
        // modification order. loom leaves a plain store that no other thread has read
        // unordered against such writes, and reports a lost wake-up that the C++ model
        // rules out (a SeqCst total order that would need a cycle).
        self.pending.swap(false, Ordering::SeqCst);
    }

    /// Whether a wake-up was signalled and not yet consumed.
    pub fn is_pending(&self) -> bool {
        self.pending.load(Ordering::SeqCst)
    }
}
