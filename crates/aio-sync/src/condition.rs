//! `Condition`: wait for a notification while holding a lock.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::lock::{Acquire, LockGuard};
use crate::waiters::{Key, Status, Waiters};
use crate::{Lock, SyncError};

/// asyncio's `Condition`: tasks wait for a notification, releasing a [`Lock`] while they
/// wait and holding it again when they return.
///
/// The lock is the condition's own ([`Condition::new`]) or a shared one
/// ([`Condition::with_lock`]). [`wait`](Condition::wait) takes the guard of that lock,
/// releases it, waits for [`notify`](Condition::notify) / [`notify_all`](Condition::notify_all),
/// re-acquires the lock and returns a new guard. If the waiting future is dropped (the task was
/// cancelled), the lock is left cleanly not held — never lost; and if it had been notified, the
/// notification passes to the next waiter, so a notify is never lost to a cancelled waiter.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use aio_sync::Condition;
///
/// aio_task::run(async {
///     let cond = Rc::new(Condition::new());
///     let ready = Rc::new(Cell::new(false));
///     let (c, r) = (cond.clone(), ready.clone());
///     let consumer = aio_task::create_task(async move {
///         let guard = c.acquire().await;
///         let (_guard, ok) = c.wait_for(guard, || r.get()).await?;
///         Ok::<_, aio_sync::SyncError>(ok)
///     })?;
///     aio_scheduler::sleep(0).await?;
///     let guard = cond.acquire().await;
///     ready.set(true);
///     cond.notify_all(&guard)?;
///     drop(guard);
///     assert!(consumer.await??);
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub struct Condition {
    lock: Rc<Lock>,
    waiters: RefCell<Waiters>,
}

impl Default for Condition {
    fn default() -> Self {
        Condition::new()
    }
}

impl Condition {
    /// A condition with a lock of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = aio_sync::Condition::new();
    /// assert!(!cond.locked());
    /// ```
    pub fn new() -> Condition {
        Condition::with_lock(Rc::new(Lock::new()))
    }

    /// A condition over a shared lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// let lock = Rc::new(aio_sync::Lock::new());
    /// let cond = aio_sync::Condition::with_lock(lock.clone());
    /// let guard = lock.try_acquire().unwrap();
    /// assert!(cond.locked());
    /// # drop(guard);
    /// ```
    pub fn with_lock(lock: Rc<Lock>) -> Condition {
        Condition {
            lock,
            waiters: RefCell::new(Waiters::default()),
        }
    }

    /// The underlying lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = aio_sync::Condition::new();
    /// assert!(!cond.lock().locked());
    /// ```
    pub fn lock(&self) -> &Rc<Lock> {
        &self.lock
    }

    /// Acquires the underlying lock.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe, as [`Lock::acquire`]: dropping the future gives up its place
    /// in the lock's queue and passes on a wake-up it had received.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let cond = aio_sync::Condition::new();
    ///     let guard = cond.acquire().await;
    ///     assert!(cond.locked());
    ///     drop(guard);
    ///     assert!(!cond.locked());
    /// })?;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> Acquire<'_> {
        self.lock.acquire()
    }

    /// Whether the underlying lock is held.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = aio_sync::Condition::new();
    /// let guard = cond.lock().try_acquire().unwrap();
    /// assert!(cond.locked());
    /// drop(guard);
    /// assert!(!cond.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// Releases the lock (the guard), waits for a notification, re-acquires the lock and
    /// returns the new guard.
    ///
    /// # Errors
    ///
    /// [`SyncError::NotLocked`] if `guard` belongs to another lock than this condition's
    /// (asyncio's "cannot wait on un-acquired lock"); that guard is dropped, releasing its
    /// lock.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe in one respect: the guard passed in is consumed. Once the future has been
    /// polled the lock is released, and dropping the future does not take it back, so the caller
    /// is left without the lock; the lock itself is left free, never stuck held.
    /// Dropped before its first poll, the future drops the guard, releasing the lock. A
    /// notification it had received — still waiting, or already re-acquiring the lock — passes to
    /// the next waiter, so no `notify` is lost to a cancelled waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use aio_task::{Error, create_task, run};
    ///
    /// run(async {
    ///     let cond = Rc::new(aio_sync::Condition::new());
    ///     let c = cond.clone();
    ///     let waiter = create_task(async move {
    ///         let guard = c.wait(c.acquire().await).await?;
    ///         let held = c.locked();
    ///         drop(guard);
    ///         Ok::<_, aio_sync::SyncError>(held)
    ///     })?;
    ///     aio_scheduler::sleep(0).await?; // the waiter releases the lock and waits
    ///     cond.notify(&cond.acquire().await, 1)?;
    ///     assert!(waiter.await??); // it returned holding the lock
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller]
    pub fn wait<'a>(&'a self, guard: LockGuard<'a>) -> Wait<'a> {
        let phase = if std::ptr::eq(guard.lock(), &*self.lock) {
            Phase::Release(guard)
        } else {
            Phase::Refused
        };
        Wait {
            at: std::panic::Location::caller(),
            condition: self,
            phase,
        }
    }

    /// Waits until `predicate` is true (checking it first, then after each notification) and
    /// returns the guard and the predicate's final value (asyncio's `wait_for`).
    ///
    /// # Errors
    ///
    /// As [`wait`](Condition::wait).
    ///
    /// # Cancel safety
    ///
    /// As [`wait`](Condition::wait): dropping the future leaves the caller without the lock (the
    /// guard passed in is consumed; the lock is left not held) and passes on a notification it
    /// had received. The predicate is not called again.
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let cond = aio_sync::Condition::new();
    ///     let guard = cond.acquire().await;
    ///     // The predicate is already true: no wait, the guard comes straight back.
    ///     let (guard, ok) = cond.wait_for(guard, || true).await?;
    ///     assert!(ok && cond.locked());
    ///     drop(guard);
    ///     Ok::<_, aio_sync::SyncError>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub async fn wait_for<'a>(
        &'a self,
        mut guard: LockGuard<'a>,
        mut predicate: impl FnMut() -> bool,
    ) -> Result<(LockGuard<'a>, bool), SyncError> {
        loop {
            if predicate() {
                return Ok((guard, true));
            }
            guard = self.wait(guard).await?;
        }
    }

    /// Wakes up to `n` waiting tasks. The caller proves it holds the lock by passing the
    /// guard.
    ///
    /// # Errors
    ///
    /// [`SyncError::NotLocked`] if `guard` is not this condition's lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = aio_sync::Condition::new();
    /// let other = aio_sync::Lock::new();
    /// let guard = other.try_acquire().unwrap();
    /// assert_eq!(cond.notify(&guard, 1), Err(aio_sync::SyncError::NotLocked));
    /// ```
    pub fn notify(&self, guard: &LockGuard<'_>, n: usize) -> Result<(), SyncError> {
        if !std::ptr::eq(guard.lock(), &*self.lock) {
            return Err(SyncError::NotLocked);
        }
        self.wake(n);
        Ok(())
    }

    /// Wakes every waiting task.
    ///
    /// # Errors
    ///
    /// [`SyncError::NotLocked`] if `guard` is not this condition's lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use aio_task::{Error, create_task, run};
    ///
    /// run(async {
    ///     let cond = Rc::new(aio_sync::Condition::new());
    ///     let mut waiters = Vec::new();
    ///     for _ in 0..3 {
    ///         let c = cond.clone();
    ///         waiters.push(create_task(async move { c.wait(c.acquire().await).await.map(drop) })?);
    ///     }
    ///     aio_scheduler::sleep(0).await?;
    ///     cond.notify_all(&cond.acquire().await)?;
    ///     for w in waiters {
    ///         w.await??;
    ///     }
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn notify_all(&self, guard: &LockGuard<'_>) -> Result<(), SyncError> {
        self.notify(guard, usize::MAX)
    }

    fn wake(&self, n: usize) {
        let mut waiters = self.waiters.borrow_mut();
        for _ in 0..n {
            if !waiters.wake_first() {
                break;
            }
        }
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .field("waiters", &self.waiters.borrow().len())
            .finish()
    }
}

/// The future returned by [`Condition::wait`].
///
/// # Cancel safety
///
/// Dropping it leaves the lock not held (the guard it was given is not returned) and passes on
/// a notification it had received; see [`Condition::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<'a> {
    /// Where it was created: reported as where the task waits (`aio_observe`).
    at: aio_observe::Site,
    condition: &'a Condition,
    phase: Phase<'a>,
}

enum Phase<'a> {
    /// Given the guard of another lock.
    Refused,
    /// Not polled yet: still holding the lock.
    Release(LockGuard<'a>),
    /// Lock released, waiting for a notification.
    Notify(Key),
    /// Notified, taking the lock back.
    Reacquire(Acquire<'a>),
    Done,
}

impl<'a> Future for Wait<'a> {
    type Output = Result<LockGuard<'a>, SyncError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let condition = self.condition;
        loop {
            match std::mem::replace(&mut self.phase, Phase::Done) {
                Phase::Refused => return Poll::Ready(Err(SyncError::NotLocked)),
                Phase::Release(guard) => {
                    let key = condition.waiters.borrow_mut().push(cx);
                    drop(guard);
                    self.phase = Phase::Notify(key);
                    {
                        aio_observe::park(self.at);
                        return Poll::Pending;
                    }
                }
                Phase::Notify(key) => {
                    let mut waiters = condition.waiters.borrow_mut();
                    if waiters.poll(key, cx) == Status::Waiting {
                        drop(waiters);
                        self.phase = Phase::Notify(key);
                        {
                            aio_observe::park(self.at);
                            return Poll::Pending;
                        }
                    }
                    waiters.remove(key);
                    drop(waiters);
                    self.phase = Phase::Reacquire(condition.lock.acquire());
                }
                Phase::Reacquire(mut acquire) => {
                    if let Poll::Ready(guard) = Pin::new(&mut acquire).poll(cx) {
                        return Poll::Ready(Ok(guard));
                    }
                    self.phase = Phase::Reacquire(acquire);
                    {
                        aio_observe::park(self.at);
                        return Poll::Pending;
                    }
                }
                Phase::Done => return Poll::Ready(Err(SyncError::NotLocked)),
            }
        }
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Notify(key) => {
                let mut waiters = self.condition.waiters.borrow_mut();
                if waiters.remove(key) == Some(true) {
                    // Notified but cancelled before using it: pass the notification on.
                    waiters.wake_first();
                }
            }
            Phase::Reacquire(acquire) => {
                // Notified, then cancelled while taking the lock back: the notification had
                // no effect, so it goes to the next waiter. (asyncio's waiter would finish
                // re-acquiring first; a dropped future cannot.) The acquire future leaves the
                // lock's queue cleanly.
                drop(acquire);
                self.condition.waiters.borrow_mut().wake_first();
            }
            // `Release` drops its guard (the lock is released).
            _ => {}
        }
    }
}

impl fmt::Debug for Wait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait").finish_non_exhaustive()
    }
}
