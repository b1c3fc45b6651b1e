//! loom model of the reactors' cross-thread wake-up: the eventfd notifier of the epoll and
//! io_uring reactors, whose writes are coalesced by `aio_reactor::Coalesce`, under the loop's
//! remote queue (`RemoteQueue`, the code `Shared::send_remote` and `run_once` run).
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p aio-scheduler
//! --release --test loom_notify`.
#![cfg(loom)]

use aio_reactor::Coalesce;
use aio_reactors as _;
use aio_scheduler::__loom::RemoteQueue;
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

/// An eventfd as the reactors use it: a counter that `write` adds to and `read` empties,
/// and a wait that returns once it is non-zero. A write that a read empties before the wait
/// looks brings no wake-up of its own (as with epoll's edge, which re-checks the counter, or
/// an io_uring poll, which re-polls the file).
#[derive(Default)]
struct EventFd {
    counter: Mutex<u64>,
    readable: Condvar,
}

/// The notifier and the wait, with the reactors' code for the coalescing (`EventNotify`'s
/// `notify` and `reset`).
#[derive(Default)]
struct Reactor {
    pending: Coalesce,
    fd: EventFd,
}

impl Reactor {
    fn notify(&self) {
        self.pending
            .notify(|| {
                *self.fd.counter.lock().unwrap() += 1;
                self.fd.readable.notify_all();
                Ok(())
            })
            .unwrap();
    }

    /// `Reactor::wait` with no deadline: blocks until the eventfd is readable, then (in the
    /// event dispatch) consumes the wake-up. Blocked for good is a deadlock to loom.
    fn wait(&self) {
        let mut counter = self.fd.counter.lock().unwrap();
        while *counter == 0 {
            counter = self.fd.readable.wait(counter).unwrap();
        }
        drop(counter);
        self.pending.reset(|| *self.fd.counter.lock().unwrap() = 0);
    }
}

/// Three sends from another thread, each notifying if the loop sleeps, against a loop that
/// sleeps whenever its queue is empty: every send is seen. This covers the coalescing flag
/// never losing a notification across several wake-ups (a lost one leaves the loop blocked
/// with items queued: a deadlock).
///
/// Caught by loom: swap the two steps of `Coalesce::reset` (clear `pending`, then consume —
/// the order the io_uring reactor had before it shared `Coalesce`), and loom finds the
/// notification a read swallowed, which leaves `pending` set with an empty counter: the
/// third send's notify writes nothing and the loop sleeps for good.
#[test]
fn notifications_are_never_lost_across_wake_ups() {
    loom::model(|| {
        let queue = Arc::new(RemoteQueue::<u32>::new());
        let reactor = Arc::new(Reactor::default());
        let sender = {
            let (queue, reactor) = (queue.clone(), reactor.clone());
            thread::spawn(move || {
                for n in 0..3 {
                    if queue.push(n).unwrap_or_else(|_| panic!("open queue")) {
                        reactor.notify();
                    }
                }
            })
        };
        let mut got = Vec::new();
        while got.len() < 3 {
            if queue.prepare_sleep() {
                reactor.wait();
            }
            queue.woke();
            while let Some(item) = queue.pop() {
                got.push(item);
            }
        }
        assert_eq!(got, vec![0, 1, 2]);
        sender.join().unwrap();
    });
}
