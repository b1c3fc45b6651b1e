//! A one-shot, thread-safe result slot: how a result crosses from another thread (an
//! executor's worker, another loop) back to whoever awaits or blocks on it.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::Error;

pub(crate) struct Slot<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

struct State<T> {
    value: Option<Result<T, Error>>,
    done: bool,
    waker: Option<Waker>,
}

impl<T> Slot<T> {
    pub(crate) fn new() -> Slot<T> {
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
    pub(crate) fn set(&self, value: Result<T, Error>) {
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

    pub(crate) fn is_done(&self) -> bool {
        self.lock().done
    }

    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
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
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Result<T, Error> {
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
