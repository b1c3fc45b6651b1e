//! The timer heap: asyncio's `_scheduled` list, with lazy cancellation.

use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;
use std::time::{Duration, Instant};

/// asyncio's `_MIN_SCHEDULED_TIMER_HANDLES`: below this many timers the heap is never rebuilt.
pub(crate) const MIN_SCHEDULED_FOR_REBUILD: usize = 100;

/// Identifies one scheduled timer in a [`TimerHeap`]. A key never matches a later timer that
/// reuses the same slot.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use aio_scheduler::TimerHeap;
///
/// let t0 = Instant::now();
/// let mut heap = TimerHeap::new(t0);
/// let key = heap.insert(t0 + Duration::from_secs(1), "a");
/// assert!(heap.is_scheduled(key));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerKey {
    index: u32,
    seq: u32,
}

/// A heap entry (16 bytes): `when` in nanoseconds since the epoch, `seq` for FIFO among equal
/// deadlines. `seq` also tells a slot's occupants apart; it is 32 bits and wraps, so a
/// stale `TimerKey` could only be mistaken for a new timer after 2^32 insertions that all
/// landed in the same slot while the key was kept.
///
/// An event loop's heaps take their sequence numbers from one counter per thread, shared by
/// every loop on it: a key is unique among all of that thread's loops' heaps, not only its
/// own, so a key alone tells which of a thread's loops holds the timer (an
/// `aio_scheduler::Sleep` keeps nothing else). A loop's heaps never leave their thread (the
/// loop is not `Send`). A heap made with [`TimerHeap::new`] counts for itself, wherever it
/// is moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    when: u64,
    seq: u32,
    index: u32,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: `BinaryHeap` is a max-heap and the earliest deadline must come out first.
        (other.when, other.seq).cmp(&(self.when, self.seq))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A payload's place in the slab: `value` is `Some` while the timer is scheduled. `None`
/// means cancelled while its heap entry (which owns the slot: no entry ever points at a free
/// slot) waits to be popped or purged, or free (on the free list, no entry left); which of
/// the two is always known from the side, so the two states share the `Option`'s niche and a
/// slot of a 16-byte payload (a `Waker`) is 24 bytes.
struct Slot<T> {
    seq: u32,
    value: Option<T>,
}

thread_local! {
    /// The next sequence number of a timer inserted on this thread (see [`Entry`]).
    static NEXT_SEQ: Cell<u32> = const { Cell::new(0) };
}

/// A min-heap of timers keyed by deadline, with asyncio's cancellation rules.
///
/// Cancelling is O(1): the entry is marked and stays in the heap until it reaches the head and
/// [`purge`](TimerHeap::purge) drops it, or — when more than 100 timers are scheduled and more
/// than half of them are cancelled — `purge` rebuilds the heap without them. Timers with equal
/// deadlines come out in insertion order. Payloads live in a slab, so scheduling a timer
/// allocates nothing once the slab has grown.
///
/// Deadlines are stored as nanoseconds since `epoch`; a deadline before the epoch counts as due
/// at once.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use aio_scheduler::TimerHeap;
///
/// let t0 = Instant::now();
/// let ms = Duration::from_millis;
/// let mut heap = TimerHeap::new(t0);
/// heap.insert(t0 + ms(30), "c");
/// let b = heap.insert(t0 + ms(20), "b");
/// heap.insert(t0 + ms(10), "a");
/// heap.cancel(b);
/// assert_eq!(heap.pop_due(t0 + ms(25)), Some("a"));
/// assert_eq!(heap.pop_due(t0 + ms(25)), None); // "b" was cancelled, "c" is not due
/// assert_eq!(heap.pop_due(t0 + ms(30)), Some("c"));
/// ```
pub struct TimerHeap<T> {
    heap: BinaryHeap<Entry>,
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    cancelled: usize,
    /// The next sequence number; `None` for a loop's heap, which takes them from the
    /// thread's counter (see [`Entry`]).
    next_seq: Option<u32>,
    epoch: Instant,
    /// Timers ever inserted and cancelled (for the loop's metrics).
    inserted_total: u64,
    cancelled_total: u64,
}

impl<T> TimerHeap<T> {
    /// An empty heap measuring deadlines from `epoch`.
    ///
    /// # Examples
    ///
    /// ```
    /// let heap = aio_scheduler::TimerHeap::<()>::new(std::time::Instant::now());
    /// assert!(heap.is_empty());
    /// ```
    pub fn new(epoch: Instant) -> TimerHeap<T> {
        TimerHeap {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            cancelled: 0,
            next_seq: Some(0),
            epoch,
            inserted_total: 0,
            cancelled_total: 0,
        }
    }

    /// A heap of an event loop: its sequence numbers come from the thread's counter, so its
    /// keys are unique among the heaps of all the loops of this thread (see [`Entry`]). The
    /// heap must stay on this thread.
    pub(crate) fn for_loop(epoch: Instant) -> TimerHeap<T> {
        TimerHeap {
            next_seq: None,
            ..TimerHeap::new(epoch)
        }
    }

    /// Deadline `when` in this heap's ticks (nanoseconds since its epoch).
    pub(crate) fn ticks(&self, when: Instant) -> u64 {
        u64::try_from(when.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    fn instant(&self, ticks: u64) -> Instant {
        self.epoch + Duration::from_nanos(ticks)
    }

    /// Schedules `value` for `when`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let t0 = Instant::now();
    /// let mut heap = aio_scheduler::TimerHeap::new(t0);
    /// let later = heap.insert(t0 + Duration::from_millis(20), "later");
    /// heap.insert(t0 + Duration::from_millis(10), "sooner");
    /// assert!(heap.is_scheduled(later));
    /// assert_eq!(heap.next_deadline(), Some(t0 + Duration::from_millis(10)));
    /// assert_eq!(heap.len(), 2);
    /// ```
    pub fn insert(&mut self, when: Instant, value: T) -> TimerKey {
        let seq = match &mut self.next_seq {
            Some(next) => std::mem::replace(next, next.wrapping_add(1)),
            None => NEXT_SEQ.with(|next| next.replace(next.get().wrapping_add(1))),
        };
        self.inserted_total += 1;
        let slot = Slot {
            seq,
            value: Some(value),
        };
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index as usize] = slot;
                index
            }
            None => {
                self.slots.push(slot);
                u32::try_from(self.slots.len() - 1).expect("more than 2^32 timers")
            }
        };
        self.heap.push(Entry {
            when: self.ticks(when),
            seq,
            index,
        });
        TimerKey { index, seq }
    }

    fn slot(&self, key: TimerKey) -> Option<&Slot<T>> {
        self.slots
            .get(key.index as usize)
            .filter(|slot| slot.seq == key.seq)
    }

    /// Whether the timer is still waiting to fire (not fired, not cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// let t0 = Instant::now();
    /// let mut heap = aio_scheduler::TimerHeap::new(t0);
    /// let key = heap.insert(t0, ());
    /// heap.pop_due(t0);
    /// assert!(!heap.is_scheduled(key));
    /// ```
    pub fn is_scheduled(&self, key: TimerKey) -> bool {
        self.slot(key).is_some_and(|slot| slot.value.is_some())
    }

    /// The payload of a timer that is still scheduled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// let t0 = Instant::now();
    /// let mut heap = aio_scheduler::TimerHeap::new(t0);
    /// let key = heap.insert(t0, 1);
    /// *heap.get_mut(key).unwrap() += 1;
    /// assert_eq!(heap.pop_due(t0), Some(2));
    /// ```
    pub fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        match self.slots.get_mut(key.index as usize) {
            Some(slot) if slot.seq == key.seq => slot.value.as_mut(),
            _ => None,
        }
    }

    /// Cancels a scheduled timer and returns its payload; `None` if it already fired or was
    /// cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// let t0 = Instant::now();
    /// let mut heap = aio_scheduler::TimerHeap::new(t0);
    /// let key = heap.insert(t0, "x");
    /// assert_eq!(heap.cancel(key), Some("x"));
    /// assert_eq!(heap.cancel(key), None);
    /// assert_eq!(heap.cancelled_count(), 1);
    /// ```
    pub fn cancel(&mut self, key: TimerKey) -> Option<T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.seq != key.seq {
            return None;
        }
        let value = slot.value.take()?;
        self.cancelled += 1;
        self.cancelled_total += 1;
        Some(value)
    }

    /// Entries in the heap, cancelled ones included (asyncio's `len(_scheduled)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// let t0 = Instant::now();
    /// let mut heap = aio_scheduler::TimerHeap::new(t0);
    /// let key = heap.insert(t0, ());
    /// heap.cancel(key);
    /// assert_eq!(heap.len(), 1);
    /// heap.purge();
    /// assert_eq!(heap.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether the heap holds no entries at all.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// let t0 = Instant::now();
    /// let mut heap = aio_scheduler::TimerHeap::new(t0);
    /// let key = heap.insert(t0, ());
    /// heap.cancel(key);
    /// assert!(!heap.is_empty()); // a cancelled entry stays until purged
    /// heap.purge();
    /// assert!(heap.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Cancelled entries still in the heap.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let t0 = Instant::now();
    /// let mut heap = aio_scheduler::TimerHeap::new(t0);
    /// let first = heap.insert(t0, 1);
    /// heap.insert(t0 + Duration::from_secs(1), 2);
    /// heap.cancel(first);
    /// assert_eq!(heap.cancelled_count(), 1);
    /// heap.purge(); // a cancelled head is popped
    /// assert_eq!((heap.cancelled_count(), heap.len()), (0, 1));
    /// ```
    pub fn cancelled_count(&self) -> usize {
        self.cancelled
    }

    /// How many timers were ever inserted, and how many of them were cancelled (the loop's
    /// [`metrics`](crate::EventLoop::metrics)).
    ///
    /// # Examples
    ///
    /// ```
    /// let t0 = std::time::Instant::now();
    /// let mut heap = aio_scheduler::TimerHeap::new(t0);
    /// let key = heap.insert(t0, ());
    /// heap.insert(t0, ());
    /// heap.cancel(key);
    /// heap.purge();
    /// assert_eq!(heap.totals(), (2, 1)); // kept after the purge
    /// ```
    pub fn totals(&self) -> (u64, u64) {
        (self.inserted_total, self.cancelled_total)
    }

    /// asyncio's purge at the top of `_run_once`: when more than 100 timers are scheduled and
    /// more than half are cancelled, rebuild the heap without the cancelled ones; otherwise pop
    /// cancelled entries off the head.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let t0 = Instant::now();
    /// let mut heap = aio_scheduler::TimerHeap::new(t0);
    /// let keys: Vec<_> = (0..200u64).map(|i| heap.insert(t0 + Duration::from_secs(i), i)).collect();
    /// for key in &keys[..150] {
    ///     heap.cancel(*key);
    /// }
    /// heap.purge(); // 150 of 200 cancelled: rebuilt
    /// assert_eq!((heap.len(), heap.cancelled_count()), (50, 0));
    /// ```
    pub fn purge(&mut self) {
        let count = self.heap.len();
        if count > MIN_SCHEDULED_FOR_REBUILD && self.cancelled * 2 > count {
            self.rebuild();
        } else {
            while self.head_cancelled() {
                self.pop_head();
            }
        }
    }

    /// The deadline at the head of the heap (which may be a cancelled entry unless
    /// [`purge`](TimerHeap::purge) ran first).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let t0 = Instant::now();
    /// let mut heap = aio_scheduler::TimerHeap::new(t0);
    /// heap.insert(t0 + Duration::from_millis(5), ());
    /// assert_eq!(heap.next_deadline(), Some(t0 + Duration::from_millis(5)));
    /// ```
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|entry| self.instant(entry.when))
    }

    /// The head entry's `(deadline in ticks, sequence number)`, cancelled or not: what orders
    /// the heads of two heaps of one epoch and one thread's sequence numbers against each
    /// other (a loop keeps sleeps and callbacks apart, see `event_loop::Timers`).
    pub(crate) fn head(&self) -> Option<(u64, u32)> {
        self.heap.peek().map(|entry| (entry.when, entry.seq))
    }

    /// Whether the head entry is cancelled.
    pub(crate) fn head_cancelled(&self) -> bool {
        self.heap
            .peek()
            .is_some_and(|entry| self.slots[entry.index as usize].value.is_none())
    }

    /// Pops the head entry: `Some(payload)` if it was live, `None` if it was cancelled (or
    /// the heap is empty).
    pub(crate) fn pop_head(&mut self) -> Option<T> {
        let head = self.heap.pop()?;
        let value = self.slots[head.index as usize].value.take();
        self.free.push(head.index);
        if value.is_none() {
            self.cancelled -= 1;
        }
        value
    }

    /// Drops every cancelled entry (the rebuild of [`purge`](TimerHeap::purge)).
    pub(crate) fn rebuild(&mut self) {
        let mut entries = std::mem::take(&mut self.heap).into_vec();
        entries.retain(|entry| {
            let live = self.slots[entry.index as usize].value.is_some();
            if !live {
                self.free.push(entry.index);
            }
            live
        });
        self.heap = BinaryHeap::from(entries);
        self.cancelled = 0;
    }

    /// Removes and returns the earliest live timer due at `now` (deadline `<= now`), dropping
    /// cancelled entries it passes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let t0 = Instant::now();
    /// let mut heap = aio_scheduler::TimerHeap::new(t0);
    /// heap.insert(t0 + Duration::from_millis(10), "b");
    /// heap.insert(t0 + Duration::from_millis(5), "a");
    /// assert_eq!(heap.pop_due(t0), None); // nothing due yet
    /// let later = t0 + Duration::from_millis(10);
    /// assert_eq!(heap.pop_due(later), Some("a")); // earliest first
    /// assert_eq!(heap.pop_due(later), Some("b"));
    /// assert!(heap.is_empty());
    /// ```
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        let now = self.ticks(now);
        while self.head().is_some_and(|(when, _)| when <= now) {
            if let Some(value) = self.pop_head() {
                return Some(value);
            }
        }
        None
    }

    /// Removes every timer and returns the live payloads, for shutting a loop down.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// let t0 = Instant::now();
    /// let mut heap = aio_scheduler::TimerHeap::new(t0);
    /// heap.insert(t0, 1);
    /// let k = heap.insert(t0, 2);
    /// heap.cancel(k);
    /// assert_eq!(heap.drain(), vec![1]);
    /// assert!(heap.is_empty());
    /// ```
    pub fn drain(&mut self) -> Vec<T> {
        self.heap.clear();
        self.free.clear();
        self.cancelled = 0;
        std::mem::take(&mut self.slots)
            .into_iter()
            .filter_map(|slot| slot.value)
            .collect()
    }
}

impl<T> fmt::Debug for TimerHeap<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHeap")
            .field("len", &self.len())
            .field("cancelled", &self.cancelled)
            .field("next_deadline", &self.next_deadline())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn a_sleeping_futures_slot_is_its_waker_and_sequence_number() {
        // 16 + 4, and the cancelled / free states in the `Option`'s niche.
        assert_eq!(std::mem::size_of::<Slot<std::task::Waker>>(), 24);
    }

    #[test]
    fn a_cancelled_entry_frees_its_slot_only_when_it_leaves_the_heap() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new(t0);
        let late = heap.insert(t0 + Duration::from_secs(60), "late");
        let soon = heap.insert(t0 + Duration::from_secs(1), "soon");
        assert_eq!(heap.cancel(late), Some("late"));
        // The cancelled entry still owns its slot: a new timer takes a fresh one.
        let next = heap.insert(t0 + Duration::from_secs(2), "next");
        assert_ne!(next.index, late.index);
        assert_eq!(heap.pop_due(t0 + Duration::from_secs(120)), Some("soon"));
        assert_eq!(heap.pop_due(t0 + Duration::from_secs(120)), Some("next"));
        assert_eq!(heap.pop_due(t0 + Duration::from_secs(120)), None);
        assert_eq!((heap.len(), heap.cancelled_count()), (0, 0));
        // Now free, the slot is reused, and the stale key does not reach the new timer.
        let reused = heap.insert(t0, "reused");
        assert!(heap.is_scheduled(reused));
        assert!([late.index, soon.index].contains(&reused.index));
        assert_eq!(heap.cancel(late), None);
        assert_eq!(heap.cancel(soon), None);
        assert!(heap.is_scheduled(reused));
    }

    #[test]
    fn pop_head_takes_cancelled_entries_too() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new(t0);
        let first = heap.insert(t0, 1);
        let second = heap.insert(t0 + Duration::from_secs(1), 2);
        heap.cancel(first);
        assert_eq!(heap.head(), Some((heap.ticks(t0), first.seq)));
        assert!(heap.head_cancelled());
        assert_eq!(heap.pop_head(), None);
        assert_eq!((heap.len(), heap.cancelled_count()), (1, 0));
        assert_eq!(
            heap.head(),
            Some((heap.ticks(t0 + Duration::from_secs(1)), second.seq))
        );
        assert_eq!(heap.pop_head(), Some(2));
    }

    // A heap of its own counts its sequence numbers itself, so a heap moved to another
    // thread keeps its promise that a stale key never matches a reused slot.
    #[test]
    fn a_heap_moved_to_another_thread_never_matches_a_stale_key() {
        let t0 = Instant::now();
        let (heap, stale) = std::thread::spawn(move || {
            let mut heap = TimerHeap::new(t0);
            let key = heap.insert(t0, "old");
            assert_eq!(heap.pop_due(t0), Some("old"));
            (heap, key)
        })
        .join()
        .unwrap();
        std::thread::spawn(move || {
            let mut heap = heap;
            let new = heap.insert(t0, "new");
            assert_eq!(new.index, stale.index, "the slot is reused");
            assert!(!heap.is_scheduled(stale));
        })
        .join()
        .unwrap();
    }
}
