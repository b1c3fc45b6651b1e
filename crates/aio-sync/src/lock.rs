//! `Lock`: asyncio's mutual exclusion lock, FIFO and cancellation-safe.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::waiters::{Key, Turn, Waiters, poll_turn};

/// asyncio's `Lock`: one holder at a time, handed over in arrival order.
///
/// [`acquire`](Lock::acquire) gives a [`LockGuard`]; dropping the guard releases the lock
/// (the Rust form of `async with lock:`). Fairness follows asyncio exactly: a task that
/// arrives while others wait queues behind them; `release` wakes the first waiter (it does
/// not hand the lock over: the waiter takes it when it runs); a waiter that is cancelled —
/// its `acquire` future dropped — after being woken passes the wake-up on to the next.
///
/// Not thread-safe, like asyncio's: it is for the tasks of one loop (any executor works).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use aio_sync::Lock;
///
/// aio_task::run(async {
///     let lock = Rc::new(Lock::new());
///     let guard = lock.acquire().await;
///     assert!(lock.locked());
///     let l = lock.clone();
///     let waiter = aio_task::create_task(async move { drop(l.acquire().await); "got it" })?;
///     aio_scheduler::sleep(0).await?;
///     assert!(!waiter.done()); // queued behind the holder
///     drop(guard);
///     assert_eq!(waiter.await?, "got it");
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[derive(Default)]
pub struct Lock {
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    locked: bool,
    waiters: Waiters,
}

impl Lock {
    /// An unlocked lock.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!aio_sync::Lock::new().locked());
    /// ```
    pub fn new() -> Lock {
        Lock::default()
    }

    /// Whether the lock is held.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = aio_sync::Lock::new();
    /// let guard = lock.try_acquire().unwrap();
    /// assert!(lock.locked());
    /// drop(guard);
    /// assert!(!lock.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.state.borrow().locked
    }

    /// Waits for the lock and returns a guard that releases it when dropped.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe. Dropping the future before it completes gives up its place in
    /// the queue; if a release had already woken it, the wake-up passes to the next waiter, so the
    /// lock is never left free while waiters sleep. Nothing is held until the future returns the
    /// guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Error, run, wait_for};
    ///
    /// run(async {
    ///     let lock = aio_sync::Lock::new();
    ///     let guard = lock.acquire().await;
    ///     // A second acquire waits behind the holder; the timeout drops it, leaving the queue.
    ///     assert!(matches!(wait_for(lock.acquire(), 0.01).await, Err(Error::Timeout)));
    ///     drop(guard);
    ///     assert!(lock.try_acquire().is_some());
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire {
            at: std::panic::Location::caller(),
            lock: self,
            key: None,
        }
    }

    /// Takes the lock if it is free and nobody is queued for it.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = aio_sync::Lock::new();
    /// let guard = lock.try_acquire().unwrap();
    /// assert!(lock.try_acquire().is_none());
    /// drop(guard);
    /// assert!(lock.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<LockGuard<'_>> {
        let mut state = self.state.borrow_mut();
        // asyncio: the fast path only when no (non-cancelled) waiter is queued. Cancelled
        // waiters leave the queue at once here, so "queue empty" is the same test.
        if state.locked || !state.waiters.is_empty() {
            return None;
        }
        state.locked = true;
        Some(LockGuard { lock: self })
    }

    fn release(&self) {
        let mut state = self.state.borrow_mut();
        state.locked = false;
        state.waiters.wake_front();
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Lock")
            .field("locked", &state.locked)
            .field("waiters", &state.waiters.len())
            .finish()
    }
}

/// The future returned by [`Lock::acquire`].
///
/// # Cancel safety
///
/// Cancel safe: dropped before it completes, it leaves the lock's queue and passes on a
/// wake-up it had received (see [`Lock::acquire`]).
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    /// Where it was created: reported as where the task waits (`aio_observe`).
    at: aio_observe::Site,
    lock: &'a Lock,
    key: Option<Key>,
}

impl<'a> Future for Acquire<'a> {
    type Output = LockGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a>> {
        let (lock, at) = (self.lock, self.at);
        let mut state = lock.state.borrow_mut();
        let state = &mut *state;
        let free = !state.locked && state.waiters.is_empty();
        match poll_turn(&mut state.waiters, &mut self.key, free, cx, at) {
            Poll::Pending => Poll::Pending,
            // Free, or woken by a release: nobody could take the lock since, because this
            // waiter stayed queued (and fast paths require an empty queue).
            Poll::Ready(Turn::Now | Turn::Woken) => {
                state.locked = true;
                Poll::Ready(LockGuard { lock })
            }
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut state = self.lock.state.borrow_mut();
            state.waiters.remove(key);
            // asyncio: a cancelled acquirer wakes the front one if the lock is free (the
            // wake-up it may have received would otherwise be lost) — only the front one, and
            // only if it is not woken already, so at most one waiter is ever on its way.
            if !state.locked {
                state.waiters.wake_front();
            }
        }
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("queued", &self.key.is_some())
            .finish()
    }
}

/// Holds a [`Lock`]; dropping it releases the lock and wakes the first waiter.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl<'a> LockGuard<'a> {
    /// The lock this guard holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = aio_sync::Lock::new();
    /// let guard = lock.try_acquire().unwrap();
    /// assert!(std::ptr::eq(guard.lock(), &lock));
    /// ```
    pub fn lock(&self) -> &'a Lock {
        self.lock
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.lock.release();
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}
