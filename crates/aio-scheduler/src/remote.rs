//! The remote queue: what other threads send to a loop, and the handshake that decides when a
//! send must wake the loop up.
//!
//! The loop thread has no atomics on its hot path; it pays for them only here, when it is
//! about to block. The handshake is a store-fence-load on each side (Dekker's pattern):
//!
//! * the loop: `sleeping = true`, `fence(SeqCst)`, look at the queue, block if empty;
//! * a sender: push, `fence(SeqCst)`, look at `sleeping`, notify if set.
//!
//! The two fences are ordered one way or the other, so either the loop sees the item before
//! it blocks, or the sender sees `sleeping` and notifies. `tests/loom_remote.rs` checks it.
//!
//! The fences carry the ordering, so the flag's own accesses are relaxed: one barrier per
//! sleep (x86: one `mfence`) instead of three (a sequentially consistent store is an `xchg`
//! there). Clearing the flag on waking needs no ordering either: a sender that still reads
//! `true` afterwards only notifies once more than needed (a spurious wake-up); one that reads
//! the cleared flag read a store made after the loop's fence, so its item is seen at the
//! latest by the loop's next `prepare_sleep`, whose fence then follows the sender's.

use concurrent_queue::{ConcurrentQueue, PushError};

use crate::sync::atomic::{AtomicBool, Ordering, fence};

/// A multi-producer queue into one loop, with the loop's sleep/wake handshake.
pub struct RemoteQueue<T> {
    queue: ConcurrentQueue<T>,
    /// Set while the loop is (about to be) blocked in the reactor: only then do remote
    /// pushes pay for a wake-up.
    sleeping: AtomicBool,
}

impl<T> RemoteQueue<T> {
    /// An empty, open queue; the loop is awake.
    pub fn new() -> RemoteQueue<T> {
        RemoteQueue {
            queue: ConcurrentQueue::unbounded(),
            sleeping: AtomicBool::new(false),
        }
    }

    /// Pushes from any thread. `Ok(true)`: the loop may be blocked, the caller must notify
    /// it. `Err(item)`: the queue is closed (the loop was closed), the item comes back.
    pub fn push(&self, item: T) -> Result<bool, T> {
        match self.queue.push(item) {
            Ok(()) => {
                // Pairs with the fence in `prepare_sleep`: either the loop sees this item
                // before it blocks, or this thread sees `sleeping` and wakes it.
                fence(Ordering::SeqCst);
                Ok(self.sleeping.load(Ordering::Relaxed))
            }
            Err(PushError::Closed(item) | PushError::Full(item)) => Err(item),
        }
    }

    /// The loop is about to block: from here on, pushes notify. Returns whether the queue is
    /// empty, that is, whether the loop may block (if not, it must only poll).
    pub fn prepare_sleep(&self) -> bool {
        self.sleeping.store(true, Ordering::Relaxed);
        // Pairs with the fence in `push`.
        fence(Ordering::SeqCst);
        self.queue.is_empty()
    }

    /// The loop is back from the reactor: pushes stop notifying.
    pub fn woke(&self) {
        self.sleeping.store(false, Ordering::Relaxed);
    }

    /// The oldest item, if any.
    pub fn pop(&self) -> Option<T> {
        self.queue.pop().ok()
    }

    /// Whether the queue holds nothing.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Closes the queue (later pushes fail) and hands what it still held to `dispose`. Every
    /// item pushed successfully is then either popped before or disposed of here, exactly
    /// once.
    pub fn close(&self, mut dispose: impl FnMut(T)) {
        self.queue.close();
        while let Ok(item) = self.queue.pop() {
            dispose(item);
        }
    }
}

impl<T> Default for RemoteQueue<T> {
    fn default() -> RemoteQueue<T> {
        RemoteQueue::new()
    }
}

impl<T> std::fmt::Debug for RemoteQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteQueue")
            .field("len", &self.queue.len())
            .field("sleeping", &self.sleeping.load(Ordering::SeqCst))
            .finish()
    }
}
