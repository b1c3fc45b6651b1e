//! loom models of the loop's remote queue (`RemoteQueue`, the code `Shared::send_remote` and
//! `run_once` run): a send racing the loop's decision to sleep, and a threadsafe callback
//! racing the loop's close.
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p aio-scheduler
//! --release --test loom_remote`.
#![cfg(loom)]

use aio_reactors as _;
use aio_scheduler::__loom::{RemoteQueue, ThreadsafeCallback, ThreadsafeCell};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Notify};
use loom::thread;

/// The loop's side of one wait: `run_once`'s "prepare to sleep, block only if nothing is
/// queued, wake up, drain". `reactor` stands for the reactor's wait: `Notify::wait` blocks
/// until a `notify` (one issued before the wait counts), as an eventfd or a poller's
/// notification does. A lost wake-up leaves the loop blocked for good, which loom reports as
/// a deadlock.
fn loop_until(queue: &RemoteQueue<u32>, reactor: &Notify, wanted: usize) -> Vec<u32> {
    let mut got = Vec::new();
    while got.len() < wanted {
        if queue.prepare_sleep() {
            reactor.wait();
        }
        queue.woke();
        while let Some(item) = queue.pop() {
            got.push(item);
        }
    }
    got
}

/// A send from another thread racing the loop's decision to sleep never loses the wake-up:
/// either the loop sees the item before it blocks, or the sender sees `sleeping` and
/// notifies.
///
/// Caught by loom: remove the `fence(SeqCst)` in `RemoteQueue::push` (or the one in
/// `prepare_sleep`), and loom finds the lost wake-up (a deadlock: the loop blocked with the
/// item queued) within a few hundred iterations. loom treats SeqCst loads and stores as
/// acquire/release only, so the fences are what it relies on, exactly as the code does.
#[test]
fn a_send_racing_the_loops_sleep_always_wakes_it() {
    loom::model(|| {
        let queue = Arc::new(RemoteQueue::<u32>::new());
        let reactor = Arc::new(Notify::new());
        let sender = {
            let (queue, reactor) = (queue.clone(), reactor.clone());
            thread::spawn(move || {
                if queue.push(7).unwrap_or_else(|_| panic!("open queue")) {
                    reactor.notify();
                }
            })
        };
        assert_eq!(loop_until(&queue, &reactor, 1), vec![7]);
        sender.join().unwrap();
    });
}

/// Two senders and two rounds of sleep: each send is seen, in its sender's order, however
/// the rounds interleave.
#[test]
fn two_senders_are_both_seen() {
    loom::model(|| {
        let queue = Arc::new(RemoteQueue::<u32>::new());
        let reactor = Arc::new(Notify::new());
        let senders: Vec<_> = [1, 2]
            .into_iter()
            .map(|n| {
                let (queue, reactor) = (queue.clone(), reactor.clone());
                thread::spawn(move || {
                    if queue.push(n).unwrap_or_else(|_| panic!("open queue")) {
                        reactor.notify();
                    }
                })
            })
            .collect();
        let mut got = loop_until(&queue, &reactor, 2);
        got.sort_unstable();
        assert_eq!(got, vec![1, 2]);
        for sender in senders {
            sender.join().unwrap();
        }
    });
}

/// Counts drops of what a callback captured.
struct Captured(Arc<AtomicUsize>);

impl Drop for Captured {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A callback as `LoopHandle::call_soon_threadsafe` makes it, counting its runs and the drops
/// of what it captured.
fn counted_callback(
    ran: &Arc<AtomicUsize>,
    dropped: &Arc<AtomicUsize>,
) -> std::sync::Arc<dyn ThreadsafeCallback> {
    let (ran, captured) = (ran.clone(), Captured(dropped.clone()));
    std::sync::Arc::new(ThreadsafeCell::new(move || {
        let _captured = captured;
        ran.fetch_add(1, Ordering::SeqCst);
    }))
}

/// A threadsafe callback sent while the loop closes (`LoopHandle::call_soon_threadsafe`
/// against `EventLoop::close`, that is `LoopInner::shutdown`: drain, then
/// `RemoteQueue::close`) is either accepted — then it runs on the loop once, or is dropped
/// unrun by the close, on the loop's thread, as asyncio's `close` discards `_ready` — or
/// refused (the sender gets it back with `Error::Closed`). Never run twice, never left
/// behind: once the loop has closed and the sender is done, what it captured has been
/// dropped, exactly once.
///
/// Caught by loom: in `RemoteQueue::close`, pop what is left *before* closing the queue
/// (`while let Ok(item) = self.queue.pop() {..} self.queue.close();`) and loom finds the
/// callback accepted between the two and left in the closed queue (the drop count is 0 after
/// the close), at once with `LOOM_MAX_PREEMPTIONS=2`.
#[test]
fn a_threadsafe_callback_racing_close_runs_or_is_refused_exactly_once() {
    loom::model(|| {
        let queue = Arc::new(RemoteQueue::<std::sync::Arc<dyn ThreadsafeCallback>>::new());
        let ran = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let sender = {
            let queue = queue.clone();
            let callback = counted_callback(&ran, &dropped);
            thread::spawn(move || queue.push(callback).is_ok())
        };
        // The loop: one last iteration runs what arrived, then it closes.
        while let Some(callback) = queue.pop() {
            callback.run();
        }
        queue.close(drop);
        let accepted = sender.join().unwrap();
        let ran = ran.load(Ordering::SeqCst);
        assert!(ran <= 1, "ran {ran} times");
        if !accepted {
            assert_eq!(ran, 0, "a refused callback ran");
        }
        // The queue is still alive: nothing may linger in it after the close.
        assert!(queue.is_empty());
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "captures dropped once");
    });
}

/// `ThreadsafeHandle::cancel` from the sender racing the loop running the callback: it runs at
/// most once, what it captured is dropped exactly once, and a cancel that returns before the
/// loop takes the callback keeps it from running.
///
/// There is no memory ordering to weaken here: the closure is handed over under the cell's
/// lock, taken once by whichever side comes first (`Option::take`). The model pins that
/// handover down, with a second `run` of the same entry that must do nothing.
#[test]
fn cancel_racing_the_run_of_a_threadsafe_callback() {
    loom::model(|| {
        let queue = Arc::new(RemoteQueue::<std::sync::Arc<dyn ThreadsafeCallback>>::new());
        let ran = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let callback = counted_callback(&ran, &dropped);
        assert_eq!(queue.push(callback.clone()).ok(), Some(false));
        let sender = thread::spawn(move || callback.cancel());
        let callback = queue.pop().expect("queued");
        callback.run();
        callback.run(); // a second run (a duplicated queue entry) must do nothing
        sender.join().unwrap();
        assert!(callback.cancelled());
        assert!(ran.load(Ordering::SeqCst) <= 1);
        drop(callback);
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
    });
}
