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
/// loom has no clock. A receiver that finds the queue empty blocks on its thread's
/// `loom::sync::Notify` until a send (or the last sender's drop) wakes it, and loom also
/// explores the wait returning on its own: that is the timeout firing, at whatever moment
/// loom chooses while the queue is empty. loom lets each `Notify` return spuriously once, so
/// each worker thread may time out once in its life, at any of its waits (or once more if a
/// send picked it in the very moment it timed out).
#[cfg(loom)]
pub(crate) mod channel {
    use std::collections::VecDeque;
    use std::sync::Arc;
    use std::time::Duration;

    use loom::sync::Notify;
    use loom::thread::ThreadId;

    pub(crate) use crossbeam_channel::{RecvTimeoutError, SendError};

    struct State<T> {
        queue: VecDeque<T>,
        senders: usize,
        receivers: usize,
        /// The threads blocked in `recv_timeout`, oldest first: a send wakes the first.
        waiting: VecDeque<ThreadId>,
        /// Each receiving thread's wake-up, made at its first wait.
        wake_ups: Vec<(ThreadId, Arc<Notify>)>,
    }

    impl<T> State<T> {
        fn wake_up(&mut self, thread: ThreadId) -> Arc<Notify> {
            if let Some((_, notify)) = self.wake_ups.iter().find(|(id, _)| *id == thread) {
                return notify.clone();
            }
            let notify = Arc::new(Notify::new());
            self.wake_ups.push((thread, notify.clone()));
            notify
        }

        fn wake(&mut self, thread: ThreadId) {
            self.wake_up(thread).notify();
        }
    }

    type Shared<T> = Arc<super::Mutex<State<T>>>;

    fn lock<T>(shared: &Shared<T>) -> super::MutexGuard<'_, State<T>> {
        shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) struct Sender<T>(Shared<T>);

    pub(crate) struct Receiver<T>(Shared<T>);

    pub(crate) fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
        let shared = Arc::new(super::Mutex::new(State {
            queue: VecDeque::new(),
            senders: 1,
            receivers: 1,
            waiting: VecDeque::new(),
            wake_ups: Vec::new(),
        }));
        (Sender(shared.clone()), Receiver(shared))
    }

    impl<T> Sender<T> {
        pub(crate) fn send(&self, message: T) -> Result<(), SendError<T>> {
            let mut state = lock(&self.0);
            if state.receivers == 0 {
                return Err(SendError(message));
            }
            state.queue.push_back(message);
            if let Some(thread) = state.waiting.pop_front() {
                state.wake(thread);
            }
            Ok(())
        }
    }

    impl<T> Clone for Sender<T> {
        fn clone(&self) -> Sender<T> {
            lock(&self.0).senders += 1;
            Sender(self.0.clone())
        }
    }

    impl<T> Drop for Sender<T> {
        fn drop(&mut self) {
            let mut state = lock(&self.0);
            state.senders -= 1;
            if state.senders == 0 {
                while let Some(thread) = state.waiting.pop_front() {
                    state.wake(thread);
                }
            }
        }
    }

    impl<T> Receiver<T> {
        pub(crate) fn recv_timeout(&self, _timeout: Duration) -> Result<T, RecvTimeoutError> {
            let me = loom::thread::current().id();
            let mut state = lock(&self.0);
            loop {
                if let Some(message) = state.queue.pop_front() {
                    return Ok(message);
                }
                if state.senders == 0 {
                    return Err(RecvTimeoutError::Disconnected);
                }
                let wake_up = state.wake_up(me);
                state.waiting.push_back(me);
                drop(state);
                wake_up.wait();
                state = lock(&self.0);
                if let Some(at) = state.waiting.iter().position(|id| *id == me) {
                    // Nobody woke this thread: the timeout fired.
                    state.waiting.remove(at);
                    return match state.queue.pop_front() {
                        Some(message) => Ok(message),
                        None if state.senders == 0 => Err(RecvTimeoutError::Disconnected),
                        None => Err(RecvTimeoutError::Timeout),
                    };
                }
            }
        }
    }

    impl<T> Drop for Receiver<T> {
        fn drop(&mut self) {
            lock(&self.0).receivers -= 1;
        }
    }
}
