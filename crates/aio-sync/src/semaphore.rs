//! `Semaphore` and `BoundedSemaphore`: FIFO, and a permit is never lost.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::SyncError;
use crate::waiters::{Key, Turn, Waiters, poll_turn};

/// asyncio's `Semaphore`: a counter of permits; `acquire` waits while none is free.
///
/// Waiters are served in arrival order. As in asyncio (3.12+), `release` hands the permit to
/// the first waiter when it wakes it; a waiter cancelled after being woken gives the permit
/// back and wakes the next one, so permits are never lost. [`locked`](Semaphore::locked) is
/// true when no permit is free or a waiter is queued (a new `acquire` would have to wait).
///
/// [`acquire`](Semaphore::acquire) gives a [`Permit`] that releases on drop;
/// [`Permit::forget`] keeps the permit taken, for asyncio-style manual
/// [`release`](Semaphore::release).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use aio_sync::Semaphore;
///
/// aio_task::run(async {
///     let sem = Rc::new(Semaphore::new(2));
///     let a = sem.acquire().await;
///     let _b = sem.acquire().await;
///     assert!(sem.locked());
///     let s = sem.clone();
///     let third = aio_task::create_task(async move { s.acquire().await.forget() })?;
///     aio_scheduler::sleep(0).await?;
///     assert!(!third.done());
///     drop(a); // the permit goes to the waiting task
///     third.await?;
///     assert_eq!(sem.value(), 0);
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub struct Semaphore {
    state: RefCell<State>,
    /// For `BoundedSemaphore`: the initial value, which releases may not exceed.
    bound: Option<usize>,
}

struct State {
    value: usize,
    waiters: Waiters,
}

impl State {
    /// asyncio's `_wake_up_next`: hands a permit to the first waiter not yet woken.
    fn wake_next(&mut self) -> bool {
        if self.value == 0 || !self.waiters.any_waiting() {
            return false;
        }
        self.value -= 1;
        self.waiters.wake_first()
    }

    /// Wakes as many waiters as there are free permits.
    fn wake_all_possible(&mut self) {
        while self.wake_next() {}
    }
}

impl Semaphore {
    /// A semaphore with `value` permits.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(aio_sync::Semaphore::new(3).value(), 3);
    /// ```
    pub fn new(value: usize) -> Semaphore {
        Semaphore {
            state: RefCell::new(State {
                value,
                waiters: Waiters::default(),
            }),
            bound: None,
        }
    }

    /// Free permits.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = aio_sync::Semaphore::new(2);
    /// let permit = sem.try_acquire().unwrap();
    /// assert_eq!(sem.value(), 1);
    /// drop(permit);
    /// assert_eq!(sem.value(), 2);
    /// ```
    pub fn value(&self) -> usize {
        self.state.borrow().value
    }

    /// Whether `acquire` would wait: no free permit, or waiters queued.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = aio_sync::Semaphore::new(1);
    /// assert!(!sem.locked());
    /// let permit = sem.try_acquire().unwrap();
    /// assert!(sem.locked());
    /// # drop(permit);
    /// ```
    pub fn locked(&self) -> bool {
        let state = self.state.borrow();
        state.value == 0 || !state.waiters.is_empty()
    }

    /// Waits for a permit.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe. Dropping the future before it completes gives up its place in
    /// the queue; a permit already handed to it (a release woke it, but it had not run yet) goes
    /// back to the semaphore and on to the next waiter, so no permit is lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Error, run, wait_for};
    ///
    /// run(async {
    ///     let sem = aio_sync::Semaphore::new(1);
    ///     let permit = sem.acquire().await;
    ///     assert_eq!(sem.value(), 0);
    ///     // No permit free: the acquire waits, and the timeout drops it.
    ///     assert!(matches!(wait_for(sem.acquire(), 0.01).await, Err(Error::Timeout)));
    ///     drop(permit);
    ///     assert_eq!(sem.value(), 1);
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire {
            at: std::panic::Location::caller(),
            semaphore: self,
            key: None,
        }
    }

    /// Takes a permit if one is free and nobody is queued.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = aio_sync::Semaphore::new(1);
    /// let permit = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_none());
    /// drop(permit);
    /// assert_eq!(sem.value(), 1);
    /// ```
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        let mut state = self.state.borrow_mut();
        if state.value == 0 || !state.waiters.is_empty() {
            return None;
        }
        state.value -= 1;
        Some(Permit { semaphore: self })
    }

    /// Returns a permit (asyncio's `release`), waking the first waiter. Use it with permits
    /// taken with [`Permit::forget`].
    ///
    /// # Errors
    ///
    /// [`SyncError::TooManyReleases`] for a [`BoundedSemaphore`] released above its initial
    /// value. A plain semaphore never fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = aio_sync::Semaphore::new(0);
    /// sem.release()?;
    /// assert_eq!(sem.value(), 1);
    /// # Ok::<(), aio_sync::SyncError>(())
    /// ```
    pub fn release(&self) -> Result<(), SyncError> {
        let mut state = self.state.borrow_mut();
        if let Some(bound) = self.bound {
            // Permits handed to woken waiters are still out.
            if state.value >= bound {
                return Err(SyncError::TooManyReleases);
            }
        }
        state.value += 1;
        state.wake_next();
        Ok(())
    }

    fn put_back(&self) {
        let mut state = self.state.borrow_mut();
        state.value += 1;
        state.wake_next();
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Semaphore")
            .field("value", &state.value)
            .field("waiters", &state.waiters.len())
            .finish()
    }
}

/// The future returned by [`Semaphore::acquire`].
///
/// # Cancel safety
///
/// Cancel safe: dropped before it completes, it leaves the queue, and a permit already handed
/// to it goes back to the semaphore and on to the next waiter (see [`Semaphore::acquire`]).
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    /// Where it was created: reported as where the task waits (`aio_observe`).
    at: aio_observe::Site,
    semaphore: &'a Semaphore,
    key: Option<Key>,
}

impl<'a> Future for Acquire<'a> {
    type Output = Permit<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit<'a>> {
        let (semaphore, at) = (self.semaphore, self.at);
        let mut state = semaphore.state.borrow_mut();
        let free = state.value > 0 && state.waiters.is_empty();
        match poll_turn(&mut state.waiters, &mut self.key, free, cx, at) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Turn::Now) => state.value -= 1,
            // The permit was handed over (counted) when this waiter was woken. New waiters
            // may have queued behind this one meanwhile.
            Poll::Ready(Turn::Woken) => state.wake_all_possible(),
        }
        Poll::Ready(Permit { semaphore })
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut state = self.semaphore.state.borrow_mut();
            if state.waiters.remove(key) == Some(true) {
                // Woken, so handed a permit it will not use: give it back.
                state.value += 1;
            }
            state.wake_all_possible();
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

/// A permit of a [`Semaphore`]; dropping it releases the permit.
#[must_use = "the permit is released as soon as it is dropped"]
pub struct Permit<'a> {
    semaphore: &'a Semaphore,
}

impl Permit<'_> {
    /// Keeps the permit taken without a guard (asyncio style: give it back later with
    /// [`Semaphore::release`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = aio_sync::Semaphore::new(1);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.value(), 0);
    /// sem.release()?;
    /// assert_eq!(sem.value(), 1);
    /// # Ok::<(), aio_sync::SyncError>(())
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.semaphore.put_back();
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

/// asyncio's `BoundedSemaphore`: a [`Semaphore`] whose [`release`](Semaphore::release) fails
/// with [`SyncError::TooManyReleases`] above the initial value. Derefs to [`Semaphore`].
///
/// # Examples
///
/// ```
/// use aio_sync::{BoundedSemaphore, SyncError};
/// let sem = BoundedSemaphore::new(1);
/// sem.try_acquire().unwrap().forget();
/// sem.release()?;
/// assert_eq!(sem.release(), Err(SyncError::TooManyReleases));
/// # Ok::<(), SyncError>(())
/// ```
#[derive(Debug)]
pub struct BoundedSemaphore {
    semaphore: Semaphore,
}

impl BoundedSemaphore {
    /// A bounded semaphore with `value` permits, which is also its maximum.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = aio_sync::BoundedSemaphore::new(2);
    /// assert_eq!(sem.value(), 2);
    /// assert!(sem.release().is_err()); // already at its bound
    /// ```
    pub fn new(value: usize) -> BoundedSemaphore {
        let mut semaphore = Semaphore::new(value);
        semaphore.bound = Some(value);
        BoundedSemaphore { semaphore }
    }
}

impl std::ops::Deref for BoundedSemaphore {
    type Target = Semaphore;

    fn deref(&self) -> &Semaphore {
        &self.semaphore
    }
}
