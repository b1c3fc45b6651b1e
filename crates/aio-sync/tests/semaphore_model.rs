//! Model test for `Semaphore` and `BoundedSemaphore`: random interleavings of acquire / poll /
//! cancel (drop) / permit drop / `forget` + `release` / extra releases / `try_acquire`, driven
//! by hand (no loop), checked step by step against a reference model of asyncio's 3.12+
//! semaphore (`_wake_up_next` hands a permit to the first waiter not yet woken; a woken waiter
//! that is cancelled gives it back; a successful acquire wakes as many queued waiters as there
//! are free permits). Checked at every step: the outcome of every operation, who was woken,
//! `value()`, `locked()`, permit conservation (free + held + forgotten + handed to woken
//! waiters == total), and no lost wake-up (a free permit with sleeping waiters always has a
//! woken waiter on its way, which wakes them). At the end every waiter is served or
//! cancelled and the value returns to the total.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::collections::VecDeque;
use std::task::Poll;

use aio_sync::{BoundedSemaphore, Permit, Semaphore, SyncError};
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
    /// Drop the i-th held permit.
    DropPermit(usize),
    /// `forget` the i-th held permit.
    Forget(usize),
    /// `release` a forgotten permit.
    ReleaseForgotten,
    /// `release` with no permit out: grows a plain semaphore, usually refused by a bounded one.
    ExtraRelease,
    TryAcquire,
    /// Poll every pending acquire, in arrival order.
    PollAll,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Acquire),
        3 => (0usize..8).prop_map(Op::Poll),
        2 => (0usize..8).prop_map(Op::Cancel),
        3 => (0usize..8).prop_map(Op::DropPermit),
        1 => (0usize..8).prop_map(Op::Forget),
        2 => Just(Op::ReleaseForgotten),
        1 => Just(Op::ExtraRelease),
        1 => Just(Op::TryAcquire),
        1 => Just(Op::PollAll),
    ]
}

/// asyncio's `Semaphore` / `BoundedSemaphore`, reduced to its bookkeeping.
#[derive(Debug)]
struct Model {
    value: usize,
    bound: Option<usize>,
    /// Permits in existence (the initial value plus accepted extra releases).
    total: usize,
    /// Waiters in arrival order: (id, woken).
    queue: VecDeque<(u32, bool)>,
}

impl Model {
    fn wake_next(&mut self) -> bool {
        if self.value == 0 {
            return false;
        }
        match self.queue.iter_mut().find(|w| !w.1) {
            Some(waiter) => {
                waiter.1 = true;
                self.value -= 1;
                true
            }
            None => false,
        }
    }

    fn wake_all_possible(&mut self) {
        while self.wake_next() {}
    }

    fn locked(&self) -> bool {
        self.value == 0 || !self.queue.is_empty()
    }

    fn position(&self, id: u32) -> usize {
        self.queue.iter().position(|w| w.0 == id).expect("queued")
    }

    fn acquire(&mut self, id: u32) -> bool {
        if !self.locked() {
            self.value -= 1;
            return true;
        }
        self.queue.push_back((id, false));
        false
    }

    fn poll(&mut self, id: u32) -> bool {
        let at = self.position(id);
        if !self.queue[at].1 {
            return false;
        }
        self.queue.remove(at);
        self.wake_all_possible();
        true
    }

    fn cancel(&mut self, id: u32) {
        let at = self.position(id);
        let (_, woken) = self.queue.remove(at).unwrap();
        if woken {
            self.value += 1;
        }
        self.wake_all_possible();
    }

    /// A permit given back (guard drop, or `release`).
    fn put_back(&mut self) {
        self.value += 1;
        self.wake_next();
    }

    /// `release()`: `Err` if a bounded semaphore refuses it.
    fn release(&mut self) -> Result<(), SyncError> {
        if let Some(bound) = self.bound {
            if self.value >= bound {
                return Err(SyncError::TooManyReleases);
            }
        }
        self.put_back();
        Ok(())
    }

    fn woken(&self, id: u32) -> bool {
        self.queue[self.position(id)].1
    }
}

struct Harness<'a> {
    sem: &'a Semaphore,
    model: Model,
    pending: Vec<(u32, Hand<'a, Permit<'a>>)>,
    held: Vec<Permit<'a>>,
    forgotten: usize,
    next_id: u32,
}

impl<'a> Harness<'a> {
    fn new(sem: &'a Semaphore, initial: usize, bounded: bool) -> Self {
        Harness {
            sem,
            model: Model {
                value: initial,
                bound: bounded.then_some(initial),
                total: initial,
                queue: VecDeque::new(),
            },
            pending: Vec::new(),
            held: Vec::new(),
            forgotten: 0,
            next_id: 0,
        }
    }

    fn poll_at(&mut self, at: usize) {
        let id = self.pending[at].0;
        let expect = self.model.poll(id);
        match self.pending[at].1.poll() {
            Poll::Ready(permit) => {
                assert!(
                    expect,
                    "waiter {id} got a permit, the model says it must wait"
                );
                self.pending.remove(at);
                self.held.push(permit);
            }
            Poll::Pending => assert!(!expect, "waiter {id} must have got its permit"),
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Acquire => {
                let id = self.next_id;
                self.next_id += 1;
                let expect = self.model.acquire(id);
                match Hand::start(self.sem.acquire()) {
                    Ok(permit) => {
                        assert!(expect, "acquire {id} overtook the queue");
                        self.held.push(permit);
                    }
                    Err(hand) => {
                        assert!(!expect, "acquire {id} had to take a free permit");
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
            Op::DropPermit(i) if !self.held.is_empty() => {
                drop(self.held.remove(i % self.held.len()));
                self.model.put_back();
            }
            Op::Forget(i) if !self.held.is_empty() => {
                self.held.remove(i % self.held.len()).forget();
                self.forgotten += 1;
            }
            Op::ReleaseForgotten if self.forgotten > 0 => {
                self.forgotten -= 1;
                let expect = self.model.release();
                assert_eq!(self.sem.release(), expect, "release of a forgotten permit");
                if expect.is_err() {
                    // Refused (a bounded semaphore counts woken waiters' permits as out):
                    // the permit stays forgotten.
                    self.forgotten += 1;
                }
            }
            Op::ExtraRelease => {
                let expect = self.model.release();
                assert_eq!(self.sem.release(), expect, "extra release");
                if expect.is_ok() {
                    self.model.total += 1;
                }
            }
            Op::TryAcquire => {
                let expect = !self.model.locked();
                match self.sem.try_acquire() {
                    Some(permit) => {
                        assert!(expect, "try_acquire overtook the queue");
                        self.model.value -= 1;
                        self.held.push(permit);
                    }
                    None => assert!(!expect, "try_acquire failed with a free permit"),
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
            _ => {}
        }
        self.check();
    }

    fn check(&self) {
        assert_eq!(self.sem.value(), self.model.value, "value()");
        assert_eq!(self.sem.locked(), self.model.locked(), "locked()");
        let queued: Vec<u32> = self.model.queue.iter().map(|w| w.0).collect();
        let pending: Vec<u32> = self.pending.iter().map(|p| p.0).collect();
        assert_eq!(pending, queued, "queue order");
        for (id, hand) in &self.pending {
            let expected = usize::from(self.model.woken(*id));
            assert_eq!(hand.wakes(), expected, "wake-ups of waiter {id}");
        }
        let handed = self.model.queue.iter().filter(|w| w.1).count();
        assert_eq!(
            self.model.value + self.held.len() + self.forgotten + handed,
            self.model.total,
            "a permit was lost or made up"
        );
        // No lost wake-up: a free permit next to an un-woken waiter is only allowed while a
        // woken waiter is on its way (a newcomer queued behind it for FIFO's sake; the woken
        // one wakes it when it runs, or when it is cancelled).
        if self.model.value > 0 && self.model.queue.iter().any(|w| !w.1) {
            assert!(
                self.model.queue.iter().any(|w| w.1),
                "free permit while every waiter sleeps"
            );
        }
    }

    /// Gives every permit back and serves every remaining waiter; the value ends at `total`.
    fn drain(&mut self) {
        while self.forgotten > 0 {
            self.forgotten -= 1;
            let expect = self.model.release();
            assert_eq!(self.sem.release(), expect);
            if expect.is_err() {
                // A bounded semaphore grown past its bound by extra releases refuses it.
                self.model.total -= 1;
            }
            self.check();
        }
        loop {
            while let Some(permit) = self.held.pop() {
                drop(permit);
                self.model.put_back();
                self.check();
            }
            if self.pending.is_empty() {
                break;
            }
            if self.model.total == 0 {
                // Nothing can ever serve them: cancel instead.
                self.apply(&Op::Cancel(0));
                continue;
            }
            let at = self
                .pending
                .iter()
                .position(|p| p.1.woken())
                .expect("all permits free, yet no waiter was woken");
            self.poll_at(at);
            self.check();
        }
        assert_eq!(self.sem.value(), self.model.total);
        assert_eq!(self.sem.locked(), self.model.total == 0);
        assert!(format!("{:?}", self.sem).contains("waiters: 0"));
    }
}

proptest! {
    #[test]
    fn semaphore_matches_the_asyncio_model(
        initial in 0usize..4,
        ops in prop::collection::vec(op(), 1..100),
    ) {
        let sem = Semaphore::new(initial);
        let mut harness = Harness::new(&sem, initial, false);
        for op in &ops {
            harness.apply(op);
        }
        harness.drain();
    }

    #[test]
    fn bounded_semaphore_matches_the_asyncio_model(
        initial in 0usize..4,
        ops in prop::collection::vec(op(), 1..100),
    ) {
        let sem = BoundedSemaphore::new(initial);
        let mut harness = Harness::new(&sem, initial, true);
        for op in &ops {
            harness.apply(op);
        }
        harness.drain();
    }
}
