//! A one-shot, thread-safe result slot: how a result crosses from another thread (an
//! executor's worker, another loop) back to whoever awaits or blocks on it.

use crate::sync::{Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::Error;

/// The slot: filled once, read once.
pub struct Slot<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

struct State<T> {
    value: Option<Result<T, Error>>,
    done: bool,
    waker: Option<Waker>,
}

impl<T> Default for Slot<T> {
    fn default() -> Slot<T> {
        Slot::new()
    }
}

impl<T> Slot<T> {
    /// An empty slot.
    pub fn new() -> Slot<T> {
        Slot {
            state: Mutex::new(State {
                value: None,
                done: false,
                waker: None,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding this lock cannot leave the state inconsistent (every update
        // is a plain assignment), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores the outcome (only the first one counts) and wakes the waiter.
    pub fn set(&self, value: Result<T, Error>) {
        let waker = {
            let mut state = self.lock();
            if state.done {
                return;
            }
            state.value = Some(value);
            state.done = true;
            state.waker.take()
        };
        self.ready.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Replaces an outcome nobody has taken yet (used when the real error is only known after
    /// a dropped promise already filled the slot).
    pub fn replace(&self, value: Result<T, Error>) {
        let mut state = self.lock();
        if !state.done || state.value.is_some() {
            state.value = Some(value);
            state.done = true;
        }
    }

    /// Whether an outcome was stored.
    pub fn is_done(&self) -> bool {
        self.lock().done
    }

    /// The outcome if stored (taking it), else registers the waker.
    pub fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        let mut state = self.lock();
        if state.done {
            return Poll::Ready(
                state
                    .value
                    .take()
                    .unwrap_or(Err(Error::InvalidState("the result was already taken"))),
            );
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Blocks this thread until the outcome is set, for at most `timeout`.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<T, Error> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut state = self.lock();
        while !state.done {
            state = match deadline {
                None => self.ready.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Error::Timeout);
                    }
                    self.ready
                        .wait_timeout(state, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        state
            .value
            .take()
            .unwrap_or(Err(Error::InvalidState("the result was already taken")))
    }
}

/// Something that holds a [`Slot`]: the slot itself, or a larger shared state around one.
pub trait HasSlot<T> {
    /// The slot.
    fn slot(&self) -> &Slot<T>;
}

impl<T> HasSlot<T> for Slot<T> {
    fn slot(&self) -> &Slot<T> {
        self
    }
}

/// The producing side of a [`Slot`]: fills it exactly once. Dropped without a value (the
/// job was thrown away, the loop closed before running it, the task was dropped), it fills
/// the slot with `on_drop`, so whoever waits always gets an answer.
pub struct Promise<T, S: HasSlot<T> = Slot<T>> {
    target: Option<std::sync::Arc<S>>,
    on_drop: Error,
    _value: std::marker::PhantomData<fn(T)>,
}

impl<T, S: HasSlot<T>> Promise<T, S> {
    /// A promise to fill `target`, which reports `on_drop` if dropped unfilled.
    pub fn new(target: std::sync::Arc<S>, on_drop: Error) -> Promise<T, S> {
        Promise {
            target: Some(target),
            on_drop,
            _value: std::marker::PhantomData,
        }
    }

    /// The same promise, reporting `on_drop` instead if dropped unfilled from now on.
    pub fn retarget(mut self, on_drop: Error) -> Promise<T, S> {
        Promise {
            target: self.target.take(),
            on_drop,
            _value: std::marker::PhantomData,
        }
    }

    /// Fills the slot (once; later calls do nothing).
    pub fn fill(&mut self, value: Result<T, Error>) {
        if let Some(target) = self.target.take() {
            target.slot().set(value);
        }
    }

    /// Fills the slot and consumes the promise.
    pub fn set(mut self, value: Result<T, Error>) {
        self.fill(value);
    }
}

impl<T, S: HasSlot<T>> Drop for Promise<T, S> {
    fn drop(&mut self) {
        if let Some(target) = self.target.take() {
            target.slot().set(Err(self.on_drop.clone()));
        }
    }
}

impl<T> std::fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("done", &self.is_done())
            .finish_non_exhaustive()
    }
}

impl<T, S: HasSlot<T>> std::fmt::Debug for Promise<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Promise")
            .field("filled", &self.target.is_none())
            .finish_non_exhaustive()
    }
}
