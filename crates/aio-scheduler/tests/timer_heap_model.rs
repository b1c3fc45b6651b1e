//! `TimerHeap` behaves like a simple reference model under random operations: exactly the
//! live (not cancelled, not yet fired) timers fire, each once, in (deadline, insertion) order;
//! `cancel` succeeds only for live timers (never for a fired or cancelled one, even after its
//! slot is reused); and `len()` / `cancelled_count()` follow asyncio's lazy-cancellation rule:
//! `purge()` rebuilds the heap without cancelled entries when it holds more than 100 entries
//! and more than half are cancelled, and otherwise only drops cancelled entries from the head.
//!
//! No real time passes: deadlines are a fixed base `Instant` plus offsets.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::time::{Duration, Instant};

use aio_scheduler::{TimerHeap, TimerKey};
use proptest::prelude::*;
use proptest::sample::Index;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In the heap, will fire.
    Live,
    /// In the heap, will not fire.
    Cancelled,
    /// Out of the heap (fired, or cancelled and purged/popped).
    Gone,
}

#[derive(Debug)]
struct ModelTimer {
    deadline_ms: u64,
    seq: u64,
    state: State,
}

/// The reference: every timer ever inserted, by id (= index = insertion order = payload).
#[derive(Debug, Default)]
struct Model {
    timers: Vec<ModelTimer>,
    now_ms: u64,
}

impl Model {
    fn in_heap(&self) -> impl Iterator<Item = (usize, &ModelTimer)> {
        self.timers
            .iter()
            .enumerate()
            .filter(|(_, t)| t.state != State::Gone)
    }

    fn len(&self) -> usize {
        self.in_heap().count()
    }

    fn cancelled(&self) -> usize {
        self.in_heap()
            .filter(|(_, t)| t.state == State::Cancelled)
            .count()
    }

    /// The earliest entry still in the heap, cancelled or not.
    fn head(&self) -> Option<usize> {
        self.in_heap()
            .min_by_key(|(_, t)| (t.deadline_ms, t.seq))
            .map(|(id, _)| id)
    }

    fn insert(&mut self, offset_ms: u64) -> usize {
        let id = self.timers.len();
        self.timers.push(ModelTimer {
            deadline_ms: self.now_ms + offset_ms,
            seq: id as u64,
            state: State::Live,
        });
        id
    }

    fn cancel(&mut self, id: usize) -> Option<usize> {
        let t = &mut self.timers[id];
        if t.state == State::Live {
            t.state = State::Cancelled;
            Some(id)
        } else {
            None
        }
    }

    fn purge(&mut self) {
        let count = self.len();
        let cancelled = self.cancelled();
        if count > 100 && cancelled * 2 > count {
            for t in &mut self.timers {
                if t.state == State::Cancelled {
                    t.state = State::Gone;
                }
            }
        } else {
            while let Some(head) = self.head() {
                if self.timers[head].state != State::Cancelled {
                    break;
                }
                self.timers[head].state = State::Gone;
            }
        }
    }

    fn pop_due(&mut self) -> Option<usize> {
        while let Some(head) = self.head() {
            let t = &mut self.timers[head];
            if t.deadline_ms > self.now_ms {
                return None;
            }
            let was = t.state;
            t.state = State::Gone;
            if was == State::Live {
                return Some(head);
            }
        }
        None
    }
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u64),
    /// Insert `n` timers at offsets `base + (i * step) % 37`: many ties and a quick way past the
    /// 100-entry rebuild threshold.
    InsertMany {
        n: usize,
        base: u64,
        step: u64,
    },
    /// Cancel one previously returned key (live, fired or already cancelled alike).
    Cancel(Index),
    /// Cancel `n` consecutive previously returned keys, starting anywhere.
    CancelMany {
        start: Index,
        n: usize,
    },
    /// Move time forward and pop everything due.
    Advance(u64),
    Purge,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..100).prop_map(Op::Insert),
        2 => (1usize..80, 0u64..100, 0u64..5).prop_map(|(n, base, step)| Op::InsertMany { n, base, step }),
        4 => any::<Index>().prop_map(Op::Cancel),
        2 => (any::<Index>(), 1usize..120).prop_map(|(start, n)| Op::CancelMany { start, n }),
        2 => (0u64..60).prop_map(Op::Advance),
        3 => Just(Op::Purge),
    ]
}

struct Harness {
    base: Instant,
    heap: TimerHeap<usize>,
    keys: Vec<TimerKey>,
    model: Model,
}

impl Harness {
    fn new() -> Harness {
        let base = Instant::now();
        Harness {
            base,
            heap: TimerHeap::new(base),
            keys: Vec::new(),
            model: Model::default(),
        }
    }

    fn at(&self, ms: u64) -> Instant {
        self.base + Duration::from_millis(ms)
    }

    fn insert(&mut self, offset_ms: u64) {
        let id = self.model.insert(offset_ms);
        let key = self.heap.insert(self.at(self.model.now_ms + offset_ms), id);
        assert_eq!(self.keys.len(), id);
        self.keys.push(key);
    }

    fn cancel(&mut self, id: usize) {
        let expected = self.model.cancel(id);
        let got = self.heap.cancel(self.keys[id]);
        assert_eq!(got, expected, "cancel of timer {id}");
    }

    fn advance(&mut self, d_ms: u64) {
        self.model.now_ms += d_ms;
        let now = self.at(self.model.now_ms);
        let mut fired = Vec::new();
        while let Some(id) = self.heap.pop_due(now) {
            fired.push(id);
            assert!(fired.len() <= self.keys.len(), "pop_due never stops");
        }
        let mut expected = Vec::new();
        while let Some(id) = self.model.pop_due() {
            expected.push(id);
        }
        assert_eq!(fired, expected, "timers fired at t={}ms", self.model.now_ms);
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Insert(offset) => self.insert(offset),
            Op::InsertMany { n, base, step } => {
                for i in 0..n as u64 {
                    self.insert(base + (i * step) % 37);
                }
            }
            Op::Cancel(index) => {
                if !self.keys.is_empty() {
                    self.cancel(index.index(self.keys.len()));
                }
            }
            Op::CancelMany { start, n } => {
                if !self.keys.is_empty() {
                    let start = start.index(self.keys.len());
                    for id in start..(start + n).min(self.keys.len()) {
                        self.cancel(id);
                    }
                }
            }
            Op::Advance(d) => self.advance(d),
            Op::Purge => {
                self.heap.purge();
                self.model.purge();
            }
        }
    }

    fn check(&self, after: &Op) {
        let (heap, model) = (&self.heap, &self.model);
        assert_eq!(heap.len(), model.len(), "len() after {after:?}");
        assert_eq!(
            heap.cancelled_count(),
            model.cancelled(),
            "cancelled_count() after {after:?}"
        );
        assert_eq!(heap.is_empty(), model.len() == 0);
        assert_eq!(
            heap.next_deadline(),
            model.head().map(|id| self.at(model.timers[id].deadline_ms)),
            "next_deadline() after {after:?}"
        );
        for (id, key) in self.keys.iter().enumerate() {
            assert_eq!(
                heap.is_scheduled(*key),
                model.timers[id].state == State::Live,
                "is_scheduled(timer {id}) after {after:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn timer_heap_matches_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut h = Harness::new();
        for op in &ops {
            h.apply(op);
            h.check(op);
        }
        // Finally everything still live fires, in order, and the heap ends empty.
        h.advance(1_000_000);
        h.check(&Op::Advance(1_000_000));
        prop_assert_eq!(h.heap.len(), h.model.cancelled());
        h.heap.purge();
        h.model.purge();
        prop_assert!(h.heap.is_empty());
        prop_assert_eq!(h.heap.cancelled_count(), 0);
        // A fired or cancelled key stays dead, even though its slot has been reused since.
        for key in &h.keys {
            prop_assert_eq!(h.heap.cancel(*key), None);
        }
    }
}

fn heap_with(n: u64) -> (Instant, TimerHeap<u64>, Vec<TimerKey>) {
    let t0 = Instant::now();
    let mut heap = TimerHeap::new(t0);
    let keys = (0..n)
        .map(|i| heap.insert(t0 + Duration::from_millis(i), i))
        .collect();
    (t0, heap, keys)
}

fn drain_all(heap: &mut TimerHeap<u64>, t0: Instant) -> Vec<u64> {
    let far = t0 + Duration::from_secs(3600);
    std::iter::from_fn(|| heap.pop_due(far)).collect()
}

#[test]
fn purge_rebuilds_when_most_of_a_large_heap_is_cancelled() {
    let (t0, mut heap, keys) = heap_with(1000);
    // Cancel 600 spread over the whole heap (i % 5 in {0, 1, 2}), head included.
    for (i, key) in keys.iter().enumerate() {
        if i % 5 < 3 {
            assert_eq!(heap.cancel(*key), Some(i as u64));
        }
    }
    assert_eq!((heap.len(), heap.cancelled_count()), (1000, 600));
    heap.purge();
    assert_eq!((heap.len(), heap.cancelled_count()), (400, 0));
    let expected: Vec<u64> = (0..1000).filter(|i| i % 5 >= 3).collect();
    assert_eq!(drain_all(&mut heap, t0), expected);
}

#[test]
fn purge_only_pops_cancelled_head_when_few_are_cancelled() {
    let (t0, mut heap, keys) = heap_with(200);
    // 40 of 200 cancelled: the 20 earliest (the head) and 20 in the middle.
    let cancelled: Vec<usize> = (0..20).chain(100..120).collect();
    for &i in &cancelled {
        heap.cancel(keys[i]);
    }
    assert_eq!((heap.len(), heap.cancelled_count()), (200, 40));
    heap.purge();
    // No rebuild (40 * 2 <= 200): only the 20 at the head went.
    assert_eq!((heap.len(), heap.cancelled_count()), (180, 20));
    assert_eq!(heap.next_deadline(), Some(t0 + Duration::from_millis(20)));
    let expected: Vec<u64> = (20..200).filter(|i| !(100..120).contains(i)).collect();
    assert_eq!(drain_all(&mut heap, t0), expected);
    assert_eq!((heap.len(), heap.cancelled_count()), (0, 0));
}

#[test]
fn purge_rebuild_thresholds_are_strict() {
    // Exactly half cancelled (51 of 102, none at the head): not "more than half", no rebuild.
    let (_, mut heap, keys) = heap_with(102);
    for key in &keys[51..] {
        heap.cancel(*key);
    }
    heap.purge();
    assert_eq!((heap.len(), heap.cancelled_count()), (102, 51));

    // One more cancelled: 52 of 102 is more than half, and 102 > 100: rebuilt.
    heap.cancel(keys[50]);
    heap.purge();
    assert_eq!((heap.len(), heap.cancelled_count()), (50, 0));

    // Exactly 100 entries (not more than 100), 60 cancelled away from the head: no rebuild.
    let (_, mut heap, keys) = heap_with(100);
    for key in &keys[40..] {
        heap.cancel(*key);
    }
    heap.purge();
    assert_eq!((heap.len(), heap.cancelled_count()), (100, 60));

    // 101 entries, 60 cancelled away from the head: rebuilt.
    let (_, mut heap, keys) = heap_with(101);
    for key in &keys[41..] {
        heap.cancel(*key);
    }
    heap.purge();
    assert_eq!((heap.len(), heap.cancelled_count()), (41, 0));
}
