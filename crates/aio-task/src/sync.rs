//! The primitives of the cross-thread paths (the result slot's locks; the thread pool's locks,
//! atomics, channel and threads), switched to `loom`'s under `cfg(loom)` so the models in
//! `tests/loom_*.rs` explore every interleaving of the same code the tasks and the pool run.
//! Outside `cfg(loom)` these are plain re-exports of `std` and `crossbeam-channel`.

#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard, atomic};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard, atomic};

/// The thread pool's worker threads.
#[cfg(not(loom))]
pub(crate) mod thread {
    pub(crate) use std::thread::{Builder, JoinHandle, current};

    /// Whether the thread has returned (so its handle need not be kept for a join).
    pub(crate) fn is_finished<T>(handle: &JoinHandle<T>) -> bool {
        handle.is_finished()
    }
}

/// The thread pool's worker threads: loom's, which it schedules.
#[cfg(loom)]
pub(crate) mod thread {
    pub(crate) use loom::thread::{Builder, JoinHandle, current};

    /// loom's handles cannot tell; keeping every handle until the join changes nothing but
    /// memory.
    pub(crate) fn is_finished<T>(_: &JoinHandle<T>) -> bool {
        false
    }
}

/// The thread pool's job queue: crossbeam's unbounded channel.
#[cfg(not(loom))]
pub(crate) mod channel {
    pub(crate) use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
}

/// The thread pool's job queue under loom, with crossbeam's contract for what the pool uses:
/// a message sent is received exactly once, in order; `recv_timeout` gives `Disconnected` only
/// once the queue is empty and every sender is gone; `send` fails only once every receiver is
/// gone.
///
/// loom has no clock, so the model drives one: a receiver that finds the queue empty waits
/// (on loom's condvar) for a send, the last sender's drop, or a [`Receiver::tick`], which
/// times out every receiver waiting at that moment. A model's clock thread
/// (`IdleClock::tick`) ticks at whatever points loom schedules it: the idle timeout firing at
/// any moment. Without ticks, a wait lasts until the next send, as a long timeout's does.
#[cfg(loom)]
pub(crate) mod channel {
    use std::collections::VecDeque;
    use std::sync::Arc;
    use std::time::Duration;

    use loom::thread::ThreadId;

    pub(crate) use crossbeam_channel::{RecvTimeoutError, SendError};

    struct State<T> {
        queue: VecDeque<T>,
        senders: usize,
        receivers: usize,
        /// The threads blocked in `recv_timeout`.
        waiting: Vec<ThreadId>,
        /// The threads whose wait a tick ended, until their `recv_timeout` returns.
        timed_out: Vec<ThreadId>,
    }

    struct Shared<T> {
        state: super::Mutex<State<T>>,
        changed: super::Condvar,
    }

    impl<T> Shared<T> {
        fn lock(&self) -> super::MutexGuard<'_, State<T>> {
            self.state.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    pub(crate) struct Sender<T>(Arc<Shared<T>>);

    pub(crate) struct Receiver<T>(Arc<Shared<T>>);

    pub(crate) fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
        let shared = Arc::new(Shared {
            state: super::Mutex::new(State {
                queue: VecDeque::new(),
                senders: 1,
                receivers: 1,
                waiting: Vec::new(),
                timed_out: Vec::new(),
            }),
            changed: super::Condvar::new(),
        });
        (Sender(shared.clone()), Receiver(shared))
    }

    impl<T> Sender<T> {
        pub(crate) fn send(&self, message: T) -> Result<(), SendError<T>> {
            let mut state = self.0.lock();
            if state.receivers == 0 {
                return Err(SendError(message));
            }
            state.queue.push_back(message);
            self.0.changed.notify_all();
            Ok(())
        }
    }

    impl<T> Clone for Sender<T> {
        fn clone(&self) -> Sender<T> {
            self.0.lock().senders += 1;
            Sender(self.0.clone())
        }
    }

    impl<T> Drop for Sender<T> {
        fn drop(&mut self) {
            let mut state = self.0.lock();
            state.senders -= 1;
            if state.senders == 0 {
                self.0.changed.notify_all();
            }
        }
    }

    impl<T> Receiver<T> {
        pub(crate) fn recv_timeout(&self, _timeout: Duration) -> Result<T, RecvTimeoutError> {
            let me = loom::thread::current().id();
            let mut state = self.0.lock();
            loop {
                let timed_out = match state.timed_out.iter().position(|id| *id == me) {
                    Some(at) => {
                        state.timed_out.swap_remove(at);
                        true
                    }
                    None => false,
                };
                if let Some(message) = state.queue.pop_front() {
                    return Ok(message);
                }
                if state.senders == 0 {
                    return Err(RecvTimeoutError::Disconnected);
                }
                if timed_out {
                    return Err(RecvTimeoutError::Timeout);
                }
                state.waiting.push(me);
                state = self
                    .0
                    .changed
                    .wait(state)
                    .unwrap_or_else(|e| e.into_inner());
                state.waiting.retain(|id| *id != me);
            }
        }

        /// The clock: every receiver waiting now times out.
        pub(crate) fn tick(&self) {
            let mut state = self.0.lock();
            let waiting = std::mem::take(&mut state.waiting);
            if !waiting.is_empty() {
                state.timed_out.extend(waiting);
                self.0.changed.notify_all();
            }
        }
    }

    impl<T> Drop for Receiver<T> {
        fn drop(&mut self) {
            self.0.lock().receivers -= 1;
        }
    }
}
