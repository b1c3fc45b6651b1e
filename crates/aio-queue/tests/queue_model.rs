//! Model test for the queues (FIFO, LIFO and priority, bounded or not): random interleavings
//! of `get` / `put` / `join` futures (started, polled, cancelled by dropping) with
//! `put_nowait`, `get_nowait`, `task_done` and `shutdown`, driven by hand (no loop), checked
//! step by step against a reference model of asyncio's queue (getters / putters / joiners are
//! taken off their FIFO list when woken and re-check the queue when they run; a woken waiter
//! that is cancelled wakes the next one if it could have proceeded). Checked at every step:
//! every result (the exact item of every get), who was woken and how often, `qsize` / `empty`
//! / `full` / `is_shut_down`, and no lost wake-up (items with waiting getters, or room with
//! waiting putters, always have a woken waiter on its way). At the end every waiter is served
//! or cancelled, and no item was lost or duplicated: the items put are exactly the items got,
//! plus those still queued, plus those drained by `shutdown(immediate)` — a cancelled put's
//! item never shows up.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

// aio-sync's test helpers: one copy serves both crates.
#[path = "../../aio-sync/tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, VecDeque};
use std::task::Poll;

use aio_queue::{GenericQueue, LifoQueue, PriorityQueue, Queue, QueueError, Store};
use common::Hand;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Start a `get` and poll it once.
    Get,
    /// Start a `put` of a new item and poll it once.
    Put,
    /// Start a `join` and poll it once.
    Join,
    /// Poll the i-th pending future.
    Poll(usize),
    /// Drop the i-th pending future.
    Cancel(usize),
    PutNowait,
    GetNowait,
    TaskDone,
    Shutdown(bool),
    /// Poll every pending future, in start order.
    PollAll,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Get),
        4 => Just(Op::Put),
        1 => Just(Op::Join),
        4 => (0usize..10).prop_map(Op::Poll),
        2 => (0usize..10).prop_map(Op::Cancel),
        2 => Just(Op::PutNowait),
        2 => Just(Op::GetNowait),
        2 => Just(Op::TaskDone),
        1 => prop_oneof![Just(Op::Shutdown(false)), Just(Op::Shutdown(true))],
        1 => Just(Op::PollAll),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Fifo,
    Lifo,
    Priority,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Get,
    Put(u32),
    Join,
}

/// asyncio's `Queue`, reduced to its bookkeeping.
#[derive(Debug)]
struct Model {
    order: Order,
    items: Vec<u32>,
    maxsize: usize,
    getters: VecDeque<u32>,
    putters: VecDeque<u32>,
    joiners: VecDeque<u32>,
    unfinished: usize,
    shutdown: bool,
    /// Pending futures: kind, and whether woken (taken off its list) and not yet run.
    futures: BTreeMap<u32, (Kind, bool)>,
    /// Expected wake-ups per pending future.
    wakes: BTreeMap<u32, usize>,
    /// Items removed by `shutdown(immediate)`.
    drained: Vec<u32>,
}

impl Model {
    fn full(&self) -> bool {
        self.maxsize > 0 && self.items.len() >= self.maxsize
    }

    fn pop_first(
        list: &mut VecDeque<u32>,
        futures: &mut BTreeMap<u32, (Kind, bool)>,
        wakes: &mut BTreeMap<u32, usize>,
    ) {
        if let Some(id) = list.pop_front() {
            futures.get_mut(&id).unwrap().1 = true;
            *wakes.get_mut(&id).unwrap() += 1;
        }
    }

    fn wake_getter(&mut self) {
        Model::pop_first(&mut self.getters, &mut self.futures, &mut self.wakes);
    }

    fn wake_putter(&mut self) {
        Model::pop_first(&mut self.putters, &mut self.futures, &mut self.wakes);
    }

    fn wake_all_joiners(&mut self) {
        while !self.joiners.is_empty() {
            Model::pop_first(&mut self.joiners, &mut self.futures, &mut self.wakes);
        }
    }

    fn take(&mut self) -> Option<u32> {
        if self.items.is_empty() {
            return None;
        }
        let at = match self.order {
            Order::Fifo => 0,
            Order::Lifo => self.items.len() - 1,
            Order::Priority => {
                let min = self.items.iter().min().unwrap();
                self.items.iter().position(|i| i == min).unwrap()
            }
        };
        Some(self.items.remove(at))
    }

    fn push(&mut self, item: u32) {
        self.items.push(item);
        self.unfinished += 1;
        self.wake_getter();
    }

    fn pop(&mut self) -> Option<u32> {
        let item = self.take()?;
        self.wake_putter();
        Some(item)
    }

    fn put_nowait(&mut self, item: u32) -> Result<(), QueueError> {
        if self.shutdown {
            Err(QueueError::ShutDown)
        } else if self.full() {
            Err(QueueError::Full)
        } else {
            self.push(item);
            Ok(())
        }
    }

    fn get_nowait(&mut self) -> Result<u32, QueueError> {
        match self.pop() {
            Some(item) => Ok(item),
            None if self.shutdown => Err(QueueError::ShutDown),
            None => Err(QueueError::Empty),
        }
    }

    fn task_done(&mut self) -> Result<(), QueueError> {
        if self.unfinished == 0 {
            return Err(QueueError::TaskDoneTooManyTimes);
        }
        self.unfinished -= 1;
        if self.unfinished == 0 {
            self.wake_all_joiners();
        }
        Ok(())
    }

    fn shutdown(&mut self, immediate: bool) {
        self.shutdown = true;
        if immediate {
            while let Some(item) = self.take() {
                self.drained.push(item);
                self.unfinished = self.unfinished.saturating_sub(1);
            }
            if self.unfinished == 0 {
                self.wake_all_joiners();
            }
        }
        while !self.getters.is_empty() {
            self.wake_getter();
        }
        while !self.putters.is_empty() {
            self.wake_putter();
        }
    }

    /// A future runs (its first poll, or a poll after being woken): `Some(outcome)` when it
    /// completes, `None` when it (re-)queues.
    fn attempt(&mut self, id: u32) -> Option<Outcome> {
        let (kind, woken) = self.futures[&id];
        let outcome = match kind {
            Kind::Get => match self.pop() {
                Some(item) => Some(Outcome::Got(Ok(item))),
                None if self.shutdown => Some(Outcome::Got(Err(QueueError::ShutDown))),
                None => {
                    self.getters.push_back(id);
                    None
                }
            },
            Kind::Put(item) => {
                if self.shutdown {
                    Some(Outcome::Put(Err(QueueError::ShutDown)))
                } else if self.full() {
                    self.putters.push_back(id);
                    None
                } else {
                    self.push(item);
                    Some(Outcome::Put(Ok(())))
                }
            }
            Kind::Join => {
                // asyncio's `join` waits on an `Event`: once woken by the last
                // `task_done` it returns, even if an item was put before it ran.
                if self.unfinished == 0 || woken {
                    Some(Outcome::Joined)
                } else {
                    self.joiners.push_back(id);
                    None
                }
            }
        };
        if outcome.is_some() {
            self.futures.remove(&id);
            self.wakes.remove(&id);
        } else {
            self.futures.get_mut(&id).unwrap().1 = false;
        }
        outcome
    }

    fn start(&mut self, id: u32, kind: Kind) -> Option<Outcome> {
        self.futures.insert(id, (kind, false));
        self.wakes.insert(id, 0);
        self.attempt(id)
    }

    fn poll(&mut self, id: u32) -> Option<Outcome> {
        if self.futures[&id].1 {
            self.attempt(id)
        } else {
            None // still on its list, not woken
        }
    }

    fn cancel(&mut self, id: u32) {
        let (kind, woken) = self.futures.remove(&id).unwrap();
        self.wakes.remove(&id);
        let list = match kind {
            Kind::Get => &mut self.getters,
            Kind::Put(_) => &mut self.putters,
            Kind::Join => &mut self.joiners,
        };
        if woken {
            // Woken but cancelled before it ran: pass the wake-up on if it could have
            // proceeded.
            match kind {
                Kind::Get if !self.items.is_empty() => self.wake_getter(),
                Kind::Put(_) if !self.full() => self.wake_putter(),
                _ => {}
            }
        } else {
            list.retain(|&w| w != id);
        }
    }

    fn woken_pending(&self, which: fn(Kind) -> bool) -> bool {
        self.futures
            .values()
            .any(|&(kind, woken)| woken && which(kind))
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Got(Result<u32, QueueError>),
    Put(Result<(), QueueError>),
    Joined,
}

enum Fut<'a> {
    Get(Hand<'a, Result<u32, QueueError>>),
    Put(Hand<'a, Result<(), QueueError>>),
    Join(Hand<'a, ()>),
}

impl Fut<'_> {
    fn poll(&mut self) -> Option<Outcome> {
        match self {
            Fut::Get(h) => match h.poll() {
                Poll::Ready(r) => Some(Outcome::Got(r)),
                Poll::Pending => None,
            },
            Fut::Put(h) => match h.poll() {
                Poll::Ready(r) => Some(Outcome::Put(r)),
                Poll::Pending => None,
            },
            Fut::Join(h) => match h.poll() {
                Poll::Ready(()) => Some(Outcome::Joined),
                Poll::Pending => None,
            },
        }
    }

    fn wakes(&self) -> usize {
        match self {
            Fut::Get(h) => h.wakes(),
            Fut::Put(h) => h.wakes(),
            Fut::Join(h) => h.wakes(),
        }
    }
}

struct Harness<'a, S: Store<u32>> {
    q: &'a GenericQueue<u32, S>,
    model: Model,
    /// Pending futures in start order.
    pending: Vec<(u32, Fut<'a>)>,
    next_id: u32,
    next_item: u32,
    /// Items accepted by a completed put / put_nowait.
    accepted: Vec<u32>,
    /// Items received by a completed get / get_nowait.
    got: Vec<u32>,
}

impl<'a, S: Store<u32>> Harness<'a, S> {
    fn new(q: &'a GenericQueue<u32, S>, order: Order, maxsize: usize) -> Self {
        Harness {
            q,
            model: Model {
                order,
                items: Vec::new(),
                maxsize,
                getters: VecDeque::new(),
                putters: VecDeque::new(),
                joiners: VecDeque::new(),
                unfinished: 0,
                shutdown: false,
                futures: BTreeMap::new(),
                wakes: BTreeMap::new(),
                drained: Vec::new(),
            },
            pending: Vec::new(),
            next_id: 0,
            next_item: 0,
            accepted: Vec::new(),
            got: Vec::new(),
        }
    }

    /// A fresh item; values are scattered so that priority order differs from put order.
    fn new_item(&mut self) -> u32 {
        let n = self.next_item;
        self.next_item += 1;
        (n.wrapping_mul(2_654_435_761) % 997) * 10_000 + n
    }

    fn record(&mut self, outcome: &Outcome, kind: Kind) {
        match (outcome, kind) {
            (Outcome::Got(Ok(item)), _) => self.got.push(*item),
            (Outcome::Put(Ok(())), Kind::Put(item)) => self.accepted.push(item),
            _ => {}
        }
    }

    fn start(&mut self, kind: Kind) {
        let id = self.next_id;
        self.next_id += 1;
        let mut fut = match kind {
            Kind::Get => Fut::Get(Hand::new(self.q.get())),
            Kind::Put(item) => Fut::Put(Hand::new(self.q.put(item))),
            Kind::Join => Fut::Join(Hand::new(self.q.join())),
        };
        let expect = self.model.start(id, kind);
        let actual = fut.poll();
        assert_eq!(actual, expect, "first poll of {kind:?} #{id}");
        match actual {
            Some(outcome) => self.record(&outcome, kind),
            None => self.pending.push((id, fut)),
        }
    }

    fn poll_at(&mut self, at: usize) {
        let id = self.pending[at].0;
        let kind = self.model.futures[&id].0;
        let expect = self.model.poll(id);
        let actual = self.pending[at].1.poll();
        assert_eq!(actual, expect, "poll of {kind:?} #{id}");
        if let Some(outcome) = actual {
            self.pending.remove(at);
            self.record(&outcome, kind);
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Get => self.start(Kind::Get),
            Op::Put => {
                let item = self.new_item();
                self.start(Kind::Put(item));
            }
            Op::Join => self.start(Kind::Join),
            Op::Poll(i) if !self.pending.is_empty() => self.poll_at(i % self.pending.len()),
            Op::Cancel(i) if !self.pending.is_empty() => {
                let (id, fut) = self.pending.remove(i % self.pending.len());
                drop(fut);
                self.model.cancel(id);
            }
            Op::PutNowait => {
                let item = self.new_item();
                let expect = self.model.put_nowait(item);
                let actual = self.q.put_nowait(item);
                match actual {
                    Ok(()) => {
                        assert_eq!(expect, Ok(()), "put_nowait accepted");
                        self.accepted.push(item);
                    }
                    Err(rejected) => {
                        assert_eq!(Err(rejected.error), expect, "put_nowait refused");
                        assert_eq!(rejected.item, item, "the item is handed back");
                    }
                }
            }
            Op::GetNowait => {
                let expect = self.model.get_nowait();
                let actual = self.q.get_nowait();
                assert_eq!(actual, expect, "get_nowait");
                if let Ok(item) = actual {
                    self.got.push(item);
                }
            }
            Op::TaskDone => assert_eq!(self.q.task_done(), self.model.task_done(), "task_done"),
            Op::Shutdown(immediate) => {
                self.q.shutdown(immediate);
                self.model.shutdown(immediate);
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
        let m = &self.model;
        assert_eq!(self.q.qsize(), m.items.len(), "qsize");
        assert_eq!(self.q.empty(), m.items.is_empty(), "empty");
        assert_eq!(self.q.full(), m.full(), "full");
        assert_eq!(self.q.is_shut_down(), m.shutdown, "is_shut_down");
        let ids: Vec<u32> = self.pending.iter().map(|p| p.0).collect();
        let model_ids: Vec<u32> = m.futures.keys().copied().collect();
        assert_eq!(ids, model_ids, "pending futures");
        for (id, fut) in &self.pending {
            assert_eq!(
                fut.wakes(),
                m.wakes[id],
                "wake-ups of #{id} ({:?})",
                m.futures[id].0
            );
        }
        // No lost wake-up.
        if !m.items.is_empty() && !m.getters.is_empty() {
            assert!(
                m.woken_pending(|k| k == Kind::Get),
                "items queued while every getter sleeps"
            );
        }
        if !m.full() && !m.putters.is_empty() {
            assert!(
                m.woken_pending(|k| matches!(k, Kind::Put(_))),
                "room while every putter sleeps"
            );
        }
        if m.unfinished == 0 {
            assert!(
                m.joiners.is_empty(),
                "joiners asleep with nothing unfinished"
            );
        }
        if m.shutdown {
            assert!(
                m.getters.is_empty() && m.putters.is_empty(),
                "asleep after shutdown"
            );
        }
    }

    /// Serves every pending future (supplying items, room or `task_done` as needed), then
    /// checks that no item was lost or duplicated.
    fn drain(&mut self) {
        for _ in 0..10_000 {
            if self.pending.is_empty() {
                break;
            }
            if let Some(at) = self
                .pending
                .iter()
                .position(|(id, _)| self.model.futures[id].1)
            {
                self.poll_at(at);
                self.check();
                continue;
            }
            // Nobody is on its way: supply what the sleepers wait for; that must wake one.
            let m = &self.model;
            if !m.getters.is_empty() {
                self.apply(&Op::PutNowait);
            } else if !m.putters.is_empty() {
                self.apply(&Op::GetNowait);
            } else if !m.joiners.is_empty() {
                // Joiners wake only with the last `task_done`.
                while self.model.unfinished > 0 {
                    self.apply(&Op::TaskDone);
                }
            } else {
                unreachable!("a pending future is neither woken nor on a list");
            }
            assert!(
                self.pending.iter().any(|(id, _)| self.model.futures[id].1),
                "supplied, yet no waiter was woken"
            );
        }
        assert!(self.pending.is_empty(), "waiters left after draining");

        let mut remaining = Vec::new();
        loop {
            let expect = self.model.get_nowait();
            let actual = self.q.get_nowait();
            assert_eq!(actual, expect, "final get_nowait");
            match actual {
                Ok(item) => remaining.push(item),
                Err(_) => break,
            }
        }
        let mut out: Vec<u32> = self.got.clone();
        out.extend(&remaining);
        out.extend(&self.model.drained);
        out.sort_unstable();
        let mut accepted = self.accepted.clone();
        accepted.sort_unstable();
        assert_eq!(out, accepted, "items lost or duplicated");
        let mut dedup = out.clone();
        dedup.dedup();
        assert_eq!(dedup.len(), out.len(), "an item came out twice");

        let mut done = 0;
        while self.q.task_done().is_ok() {
            done += 1;
        }
        assert_eq!(done, self.model.unfinished, "unfinished count");
        assert!(
            Hand::start(self.q.join()).is_ok(),
            "join returns with nothing unfinished"
        );
    }
}

fn run_model<S: Store<u32>>(q: &GenericQueue<u32, S>, order: Order, maxsize: usize, ops: &[Op]) {
    let mut harness = Harness::new(q, order, maxsize);
    for op in ops {
        harness.apply(op);
    }
    harness.drain();
}

proptest! {
    #[test]
    fn queue_matches_the_asyncio_model(
        order in prop_oneof![Just(Order::Fifo), Just(Order::Lifo), Just(Order::Priority)],
        maxsize in 0usize..4,
        ops in prop::collection::vec(op(), 1..120),
    ) {
        match order {
            Order::Fifo => run_model(&Queue::new(maxsize), order, maxsize, &ops),
            Order::Lifo => run_model(&LifoQueue::new(maxsize), order, maxsize, &ops),
            Order::Priority => run_model(&PriorityQueue::new(maxsize), order, maxsize, &ops),
        }
    }
}
