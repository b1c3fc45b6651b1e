//! loom models of how a result crosses threads: the one-shot `Slot` and its `Promise`, which
//! `run_coroutine_threadsafe`'s `ConcurrentFuture` (and `run_in_executor`) are built on. The
//! loop side fills the promise (or drops it unfilled: the loop closed, the task was
//! cancelled); the other thread blocks in `ConcurrentFuture::result` (`Slot::wait`) or awaits
//! it from another loop (`Slot::poll`).
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p aio-task --release
//! --test loom_result`.
#![cfg(loom)]

use std::future::poll_fn;
use std::sync::Arc;

use aio_reactors as _;
use aio_task::__loom::{Promise, Slot};
use aio_task::Error;
use loom::thread;

/// The loop's side of `run_coroutine_threadsafe`: the request's promise, retargeted by the
/// relay, filled with the task's value (or not), then dropped with the relay.
fn relay(slot: &Arc<Slot<u32>>, fill: bool) -> thread::JoinHandle<()> {
    let request = Promise::new(slot.clone(), aio_scheduler::Error::Closed.into());
    thread::spawn(move || {
        let mut promise = request.retarget(Error::cancelled(None));
        if fill {
            promise.fill(Ok(42));
        }
        drop(promise);
    })
}

/// A thread blocked in `ConcurrentFuture::result` gets the value exactly once, however the
/// fill, the promise's drop and the wait interleave; a second read finds it taken.
///
/// Caught by loom: notify the condvar *before* storing the outcome in `Slot::set` (release
/// the lock, `notify_all`, then lock again to store) and the waiter that checked `done` in
/// between sleeps for good (a deadlock).
#[test]
fn the_result_reaches_a_blocked_waiter_exactly_once() {
    loom::model(|| {
        let slot = Arc::new(Slot::new());
        let producer = relay(&slot, true);
        assert_eq!(slot.wait(None).ok(), Some(42));
        assert!(matches!(slot.wait(None), Err(Error::InvalidState(_))));
        producer.join().unwrap();
    });
}

/// Awaited from another loop (`Slot::poll` with a waker), the value arrives exactly once; a
/// relay dropped unfilled (the task was cancelled) reports the cancellation instead, once.
///
/// Caught by loom: in `Slot::poll`, store the waker under a second lock after finding
/// `done` unset under the first, and the `set` in between takes no waker: the await never
/// wakes (a deadlock in `block_on`).
#[test]
fn the_result_reaches_an_awaiting_task_exactly_once() {
    loom::model(|| {
        let slot = Arc::new(Slot::new());
        let producer = relay(&slot, true);
        let out = loom::future::block_on(poll_fn(|cx| slot.poll(cx)));
        assert_eq!(out.ok(), Some(42));
        assert!(matches!(slot.wait(None), Err(Error::InvalidState(_))));
        producer.join().unwrap();
    });
    loom::model(|| {
        let slot = Arc::new(Slot::new());
        let producer = relay(&slot, false);
        let out = loom::future::block_on(poll_fn(|cx| slot.poll(cx)));
        assert!(matches!(out, Err(Error::Cancelled(_))), "{out:?}");
        producer.join().unwrap();
    });
}
