//! Model test for `Lock`: random interleavings of acquire / poll / cancel (drop) / release /
//! `try_acquire`, driven by hand (no loop), checked step by step against a reference model
//! of asyncio's lock (FIFO queue, `_wake_up_first`: at most the front waiter is woken, a
//! cancelled waiter re-wakes the front if the lock is free). Checked at every step: the
//! outcome of every poll, which waiters were woken (and how often), `locked()`, at most one
//! holder, and no lost wake-up (a free lock with waiters always has its front waiter woken).
//! At the end every waiter is served or cancelled and the lock returns to unlocked.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::collections::VecDeque;
use std::task::Poll;

use aio_sync::{Lock, LockGuard};
use common::Hand;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Start an `acquire` and poll it once.
    Acquire,
    /// Poll the i-th pending acquire.
    Poll(usize),
    /// Drop the i-th pending acquire.
    Cancel(usize),
    /// Drop the holder's guard.
    Release,
    TryAcquire,
    /// Poll every pending acquire, in arrival order.
    PollAll,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Acquire),
        3 => (0usize..8).prop_map(Op::Poll),
        2 => (0usize..8).prop_map(Op::Cancel),
        3 => Just(Op::Release),
        1 => Just(Op::TryAcquire),
        1 => Just(Op::PollAll),
    ]
}

/// asyncio's `Lock`, reduced to its bookkeeping.
#[derive(Default, Debug)]
struct Model {
    locked: bool,
    /// Waiters in arrival order: (id, woken).
    queue: VecDeque<(u32, bool)>,
}

impl Model {
    fn wake_front(&mut self) {
        if let Some(front) = self.queue.front_mut() {
            front.1 = true;
        }
    }

    fn position(&self, id: u32) -> usize {
        self.queue.iter().position(|w| w.0 == id).expect("queued")
    }

    /// Starting an acquire: `true` if it takes the lock at once.
    fn acquire(&mut self, id: u32) -> bool {
        if !self.locked && self.queue.is_empty() {
            self.locked = true;
            return true;
        }
        self.queue.push_back((id, false));
        false
    }

    /// Polling a queued acquire: `true` if it takes the lock.
    fn poll(&mut self, id: u32) -> bool {
        let at = self.position(id);
        if !self.queue[at].1 {
            return false;
        }
        assert!(!self.locked, "model: a woken waiter while the lock is held");
        self.queue.remove(at);
        self.locked = true;
        true
    }

    fn cancel(&mut self, id: u32) {
        let at = self.position(id);
        self.queue.remove(at);
        if !self.locked {
            self.wake_front();
        }
    }

    fn release(&mut self) {
        self.locked = false;
        self.wake_front();
    }

    fn woken(&self, id: u32) -> bool {
        self.queue[self.position(id)].1
    }
}

struct Harness<'a> {
    lock: &'a Lock,
    model: Model,
    /// Pending acquires in arrival order.
    pending: Vec<(u32, Hand<'a, LockGuard<'a>>)>,
    holder: Option<LockGuard<'a>>,
    next_id: u32,
}

impl<'a> Harness<'a> {
    fn new(lock: &'a Lock) -> Self {
        Harness {
            lock,
            model: Model::default(),
            pending: Vec::new(),
            holder: None,
            next_id: 0,
        }
    }

    fn take(&mut self, guard: LockGuard<'a>) {
        assert!(self.holder.is_none(), "two holders at once");
        self.holder = Some(guard);
    }

    fn poll_at(&mut self, at: usize) {
        let id = self.pending[at].0;
        let expect = self.model.poll(id);
        match self.pending[at].1.poll() {
            Poll::Ready(guard) => {
                assert!(
                    expect,
                    "waiter {id} took the lock, the model says it must wait"
                );
                self.pending.remove(at);
                self.take(guard);
            }
            Poll::Pending => assert!(!expect, "waiter {id} must have taken the lock"),
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Acquire => {
                let id = self.next_id;
                self.next_id += 1;
                let expect = self.model.acquire(id);
                match Hand::start(self.lock.acquire()) {
                    Ok(guard) => {
                        assert!(expect, "acquire {id} overtook the queue");
                        self.take(guard);
                    }
                    Err(hand) => {
                        assert!(!expect, "acquire {id} had to take the free lock");
                        self.pending.push((id, hand));
                    }
                }
            }
            Op::Poll(i) if !self.pending.is_empty() => self.poll_at(i % self.pending.len()),
            Op::Cancel(i) if !self.pending.is_empty() => {
                let (id, hand) = self.pending.remove(i % self.pending.len());
                drop(hand);
                self.model.cancel(id);
            }
            Op::Release => {
                if let Some(guard) = self.holder.take() {
                    drop(guard);
                    self.model.release();
                }
            }
            Op::TryAcquire => {
                let expect = !self.model.locked && self.model.queue.is_empty();
                match self.lock.try_acquire() {
                    Some(guard) => {
                        assert!(expect, "try_acquire overtook the queue");
                        self.model.locked = true;
                        self.take(guard);
                    }
                    None => assert!(!expect, "try_acquire failed on a free lock"),
                }
            }
            Op::PollAll => {
                let mut at = 0;
                while at < self.pending.len() {
                    let before = self.pending.len();
                    self.poll_at(at);
                    if self.pending.len() == before {
                        at += 1;
                    }
                }
            }
            Op::Poll(_) | Op::Cancel(_) => {}
        }
        self.check();
    }

    fn check(&self) {
        assert_eq!(self.lock.locked(), self.model.locked, "locked()");
        assert_eq!(self.holder.is_some(), self.model.locked, "holder vs locked");
        let queued: Vec<u32> = self.model.queue.iter().map(|w| w.0).collect();
        let pending: Vec<u32> = self.pending.iter().map(|p| p.0).collect();
        assert_eq!(pending, queued, "queue order");
        for (id, hand) in &self.pending {
            let expected = usize::from(self.model.woken(*id));
            assert_eq!(hand.wakes(), expected, "wake-ups of waiter {id}");
        }
        // At most one waiter woken, and only while the lock is free.
        let woken = self.model.queue.iter().filter(|w| w.1).count();
        assert!(woken <= 1, "{woken} waiters woken at once");
        assert!(woken == 0 || !self.model.locked);
        // No lost wake-up: a free lock with waiters has its front waiter on the way.
        if !self.model.locked {
            if let Some(front) = self.model.queue.front() {
                assert!(front.1, "free lock, front waiter {} never woken", front.0);
            }
        }
    }

    /// Serves every remaining waiter, releasing as it goes; the lock ends unlocked.
    fn drain(&mut self) {
        loop {
            self.apply(&Op::Release);
            let Some((id, hand)) = self.pending.first() else {
                break;
            };
            assert!(hand.woken(), "free lock, waiter {id} never woken");
            self.poll_at(0);
            self.check();
            assert!(
                self.holder.is_some(),
                "the woken front waiter must take the lock"
            );
        }
        assert!(!self.lock.locked());
        let guard = self
            .lock
            .try_acquire()
            .expect("the lock is free and nobody waits");
        drop(guard);
        assert!(format!("{:?}", self.lock).contains("waiters: 0"));
    }
}

proptest! {
    #[test]
    fn lock_matches_the_asyncio_model(ops in prop::collection::vec(op(), 1..100)) {
        let lock = Lock::new();
        let mut harness = Harness::new(&lock);
        for op in &ops {
            harness.apply(op);
        }
        harness.drain();
    }
}
