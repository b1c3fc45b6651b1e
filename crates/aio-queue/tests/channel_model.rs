//! Model test for `channel::bounded`: random interleavings of `send` / `recv` futures (started,
//! polled, cancelled by dropping) with `try_send`, `try_recv` and `close`, driven by hand (no
//! loop), checked step by step against a reference model (waiters in FIFO lists, taken off
//! when woken, re-checking the channel when they run; a woken waiter that is cancelled wakes
//! the next one if it could have proceeded). Checked at every step: every result (the exact
//! item of every receive), how often each waiter was woken, `len`, `is_closed`, and no lost
//! wake-up (items with waiting receivers, or room with waiting senders, always have a woken
//! waiter on its way). At the end no item was lost or duplicated: the items sent are exactly
//! the items received plus those still in the channel; a cancelled send's item never shows up.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

// aio-sync's test helpers: one copy serves both crates.
#[path = "../../aio-sync/tests/common/mod.rs"]
mod common;

use std::collections::{HashMap, VecDeque};
use std::task::Poll;

use aio_queue::channel::{self, Receiver, Sender};
use aio_queue::{QueueError, Rejected};
use common::Hand;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Start a `recv` and poll it once.
    Recv,
    /// Start a `send` of a new item and poll it once.
    Send,
    /// Poll the i-th pending future.
    Poll(usize),
    /// Drop the i-th pending future.
    Cancel(usize),
    TrySend,
    TryRecv,
    Close,
    /// Poll every pending future, in start order.
    PollAll,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Recv),
        4 => Just(Op::Send),
        4 => (0usize..10).prop_map(Op::Poll),
        3 => (0usize..10).prop_map(Op::Cancel),
        2 => Just(Op::TrySend),
        2 => Just(Op::TryRecv),
        1 => Just(Op::Close),
        2 => Just(Op::PollAll),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Recv,
    Send(u32),
}

type Out = Result<Option<u32>, Rejected<u32>>;

struct Pending<'a> {
    id: usize,
    kind: Kind,
    hand: Hand<'a, Out>,
}

#[derive(Default)]
struct Model {
    items: VecDeque<u32>,
    capacity: usize,
    closed: bool,
    /// Waiters queued (not woken), by id, in arrival order.
    receivers: VecDeque<usize>,
    senders: VecDeque<usize>,
    /// Woken ids (taken off their list, not yet run).
    woken: Vec<usize>,
    /// Wake-ups per id.
    wakes: HashMap<usize, usize>,
}

impl Model {
    fn wake_receiver(&mut self) {
        if let Some(id) = self.receivers.pop_front() {
            self.woken.push(id);
            *self.wakes.entry(id).or_default() += 1;
        }
    }
    fn wake_sender(&mut self) {
        if let Some(id) = self.senders.pop_front() {
            self.woken.push(id);
            *self.wakes.entry(id).or_default() += 1;
        }
    }
    fn try_send(&mut self, item: u32) -> Result<(), QueueError> {
        if self.closed {
            return Err(QueueError::ShutDown);
        }
        if self.items.len() >= self.capacity {
            return Err(QueueError::Full);
        }
        self.items.push_back(item);
        self.wake_receiver();
        Ok(())
    }
    fn try_recv(&mut self) -> Result<u32, QueueError> {
        match self.items.pop_front() {
            Some(item) => {
                self.wake_sender();
                Ok(item)
            }
            None if self.closed => Err(QueueError::ShutDown),
            None => Err(QueueError::Empty),
        }
    }
    fn queued(&self, id: usize) -> bool {
        self.receivers.contains(&id) || self.senders.contains(&id)
    }
    /// A poll of waiter `id`: `None` while it stays pending.
    fn poll(&mut self, id: usize, kind: Kind) -> Option<Out> {
        if self.queued(id) {
            return None;
        }
        self.woken.retain(|w| *w != id);
        match kind {
            Kind::Recv => match self.try_recv() {
                Ok(item) => Some(Ok(Some(item))),
                Err(QueueError::Empty) => {
                    self.receivers.push_back(id);
                    None
                }
                Err(error) => Some(Err(Rejected { error, item: 0 })),
            },
            Kind::Send(item) => match self.try_send(item) {
                Ok(()) => Some(Ok(None)),
                Err(QueueError::Full) => {
                    self.senders.push_back(id);
                    None
                }
                Err(error) => Some(Err(Rejected { error, item })),
            },
        }
    }
    fn cancel(&mut self, id: usize, kind: Kind) {
        let before = (self.receivers.len(), self.senders.len());
        self.receivers.retain(|w| *w != id);
        self.senders.retain(|w| *w != id);
        if before != (self.receivers.len(), self.senders.len()) {
            return; // was queued: just leaves
        }
        // Woken but cancelled: passes the wake-up on if it could have proceeded.
        self.woken.retain(|w| *w != id);
        match kind {
            Kind::Recv if !self.items.is_empty() => self.wake_receiver(),
            Kind::Send(_) if self.items.len() < self.capacity => self.wake_sender(),
            _ => {}
        }
    }
    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            while !self.receivers.is_empty() {
                self.wake_receiver();
            }
            while !self.senders.is_empty() {
                self.wake_sender();
            }
        }
    }
}

fn start<'a>(tx: &'a Sender<u32>, rx: &'a Receiver<u32>, kind: Kind) -> Hand<'a, Out> {
    match kind {
        Kind::Recv => Hand::new(async move {
            rx.recv()
                .await
                .map(Some)
                .map_err(|error| Rejected { error, item: 0 })
        }),
        Kind::Send(item) => Hand::new(async move { tx.send(item).await.map(|()| None) }),
    }
}

fn run_model(capacity: usize, ops: &[Op]) {
    let (tx, rx) = channel::bounded::<u32>(capacity);
    let mut model = Model {
        capacity,
        ..Model::default()
    };
    let mut pending: Vec<Pending<'_>> = Vec::new();
    let mut next_item = 0u32;
    let mut next_id = 0usize;
    let mut sent: Vec<u32> = Vec::new();
    let mut received: Vec<u32> = Vec::new();

    let poll_one = |p: &mut Pending<'_>,
                    model: &mut Model,
                    sent: &mut Vec<u32>,
                    received: &mut Vec<u32>|
     -> bool {
        let expected = model.poll(p.id, p.kind);
        let got = p.hand.poll();
        match (expected, got) {
            (None, Poll::Pending) => false,
            (Some(want), Poll::Ready(out)) => {
                assert_eq!(out, want, "waiter {} ({:?})", p.id, p.kind);
                match (p.kind, out) {
                    (Kind::Send(item), Ok(None)) => sent.push(item),
                    (Kind::Recv, Ok(Some(item))) => received.push(item),
                    _ => {}
                }
                true
            }
            (want, got) => panic!(
                "waiter {} ({:?}): model {want:?}, got {got:?}",
                p.id, p.kind
            ),
        }
    };

    for op in ops {
        match *op {
            Op::Recv | Op::Send => {
                let kind = if matches!(op, Op::Recv) {
                    Kind::Recv
                } else {
                    next_item += 1;
                    Kind::Send(next_item)
                };
                let mut p = Pending {
                    id: next_id,
                    kind,
                    hand: start(&tx, &rx, kind),
                };
                next_id += 1;
                if !poll_one(&mut p, &mut model, &mut sent, &mut received) {
                    pending.push(p);
                }
            }
            Op::Poll(i) => {
                if !pending.is_empty() {
                    let i = i % pending.len();
                    if poll_one(&mut pending[i], &mut model, &mut sent, &mut received) {
                        pending.remove(i);
                    }
                }
            }
            Op::PollAll => {
                let mut i = 0;
                while i < pending.len() {
                    if poll_one(&mut pending[i], &mut model, &mut sent, &mut received) {
                        pending.remove(i);
                    } else {
                        i += 1;
                    }
                }
            }
            Op::Cancel(i) => {
                if !pending.is_empty() {
                    let p = pending.remove(i % pending.len());
                    model.cancel(p.id, p.kind);
                    p.hand.cancel();
                }
            }
            Op::TrySend => {
                next_item += 1;
                let want = model.try_send(next_item);
                let got = tx.try_send(next_item).map_err(|r| {
                    assert_eq!(r.item, next_item, "the item comes back");
                    r.error
                });
                assert_eq!(got, want);
                if got.is_ok() {
                    sent.push(next_item);
                }
            }
            Op::TryRecv => {
                let want = model.try_recv();
                let got = rx.try_recv();
                assert_eq!(got, want);
                if let Ok(item) = got {
                    received.push(item);
                }
            }
            Op::Close => {
                model.close();
                tx.close();
            }
        }
        // Who was woken, and how often.
        for p in &pending {
            assert_eq!(
                p.hand.wakes(),
                model.wakes.get(&p.id).copied().unwrap_or(0),
                "waiter {} ({:?}) wake count",
                p.id,
                p.kind
            );
        }
        // No lost wake-up.
        let woken_receiver = pending
            .iter()
            .any(|p| p.kind == Kind::Recv && model.woken.contains(&p.id));
        let woken_sender = pending
            .iter()
            .any(|p| matches!(p.kind, Kind::Send(_)) && model.woken.contains(&p.id));
        if !model.items.is_empty() && !model.receivers.is_empty() {
            assert!(woken_receiver, "items wait, receivers wait, none woken");
        }
        if model.items.len() < capacity && !model.senders.is_empty() {
            assert!(woken_sender, "room, senders wait, none woken");
        }
        assert_eq!(rx.len(), model.items.len());
        assert_eq!(tx.is_closed(), model.closed);
    }

    // Drain: every item sent is received exactly once, in order.
    drop(pending);
    received.extend(std::iter::from_fn(|| rx.try_recv().ok()));
    assert_eq!(received, sent, "FIFO, nothing lost or duplicated");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn channel_matches_the_model(
        capacity in 1usize..4,
        ops in prop::collection::vec(op(), 1..150),
    ) {
        run_model(capacity, &ops);
    }
}

/// A receiver woken for an item and then cancelled hands the wake-up to the next receiver:
/// the item is not stranded.
#[test]
fn a_cancelled_woken_receiver_passes_the_item_on() {
    let (tx, rx) = channel::bounded::<u8>(2);
    let first = Hand::pending(rx.recv());
    let mut second = Hand::pending(rx.recv());
    tx.try_send(7).unwrap();
    assert!(first.woken() && !second.woken());
    first.cancel();
    assert!(second.woken(), "the wake-up was passed on");
    assert_eq!(second.ready(), Ok(7));
}

/// A sender woken for room and then cancelled hands the room to the next sender, and its own
/// item is never sent.
#[test]
fn a_cancelled_woken_sender_passes_the_room_on_and_sends_nothing() {
    let (tx, rx) = channel::bounded::<u8>(1);
    tx.try_send(1).unwrap();
    let first = Hand::pending(tx.send(2));
    let mut second = Hand::pending(tx.send(3));
    assert_eq!(rx.try_recv(), Ok(1));
    assert!(first.woken() && !second.woken());
    first.cancel();
    assert!(second.woken());
    assert_eq!(second.ready(), Ok(()));
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(rx.try_recv(), Err(QueueError::Empty));
}
