//! The FIFO waiter list every primitive here is built on, public so that other primitives
//! (`aio-queue`'s queues) can share it.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

/// Identifies a waiter; never matches a later waiter that reuses the slot.
///
/// # Examples
///
/// ```
/// use std::task::{Context, Waker};
/// use aio_sync::waiters::Waiters;
///
/// let cx = Context::from_waker(Waker::noop());
/// let mut waiters = Waiters::default();
/// let key = waiters.push(&cx);
/// assert_eq!(waiters.remove(key), Some(false)); // it was queued, not woken
/// let reused = waiters.push(&cx); // same slot, new generation
/// assert_ne!(reused, key);
/// assert_eq!(waiters.remove(key), None); // the old key matches nothing
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    index: u32,
    generation: u32,
}

struct Slot {
    generation: u32,
    waiter: Option<Waiter>,
}

struct Waiter {
    waker: Option<Waker>,
    /// Woken (asyncio: its future's result was set) and not yet run.
    woken: bool,
    /// What the waker had to say (see [`Waiters::wake_all`]).
    tag: u8,
}

/// Waiters in arrival order, each with its [`Waker`]. Two ways to wake, as in asyncio:
/// [`wake_first`](Waiters::wake_first) marks the first waiter woken but keeps it queued until
/// it runs (locks, semaphores: nobody can overtake it), [`pop_first`](Waiters::pop_first)
/// takes it off the queue (queues, events: it re-checks the state when it runs).
///
/// # Examples
///
/// ```
/// use std::task::{Context, Waker};
/// use aio_sync::waiters::{Status, Waiters};
///
/// let cx = Context::from_waker(Waker::noop());
/// let mut waiters = Waiters::default();
/// let first = waiters.push(&cx);
/// let second = waiters.push(&cx);
/// assert!(waiters.wake_first());
/// assert_eq!(waiters.poll(first, &cx), Status::Woken);
/// assert_eq!(waiters.poll(second, &cx), Status::Waiting);
/// assert_eq!(waiters.remove(first), Some(true)); // it had been woken
/// assert!(waiters.pop_first()); // `second` leaves the queue, woken
/// assert_eq!(waiters.poll(second, &cx), Status::Gone);
/// ```
#[derive(Default)]
pub struct Waiters {
    slots: Vec<Slot>,
    free: Vec<u32>,
    order: VecDeque<Key>,
}

/// What [`Waiters::poll`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Still queued and not woken; the waker was updated.
    Waiting,
    /// Woken, still queued (see [`Waiters::wake_first`]).
    Woken,
    /// No longer queued: popped and woken, or removed.
    Gone,
}

impl Waiters {
    /// Queued waiters.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether no waiter is queued.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Queues a waiter at the back.
    pub fn push(&mut self, cx: &Context<'_>) -> Key {
        let waiter = Waiter {
            waker: Some(cx.waker().clone()),
            woken: false,
            tag: 0,
        };
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    waiter: None,
                });
                u32::try_from(self.slots.len() - 1).expect("more than 2^32 waiters")
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.waiter = Some(waiter);
        let key = Key {
            index,
            generation: slot.generation,
        };
        self.order.push_back(key);
        key
    }

    fn get_mut(&mut self, key: Key) -> Option<&mut Waiter> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        slot.waiter.as_mut()
    }

    /// Checks a waiter; while it waits, stores the current waker.
    pub fn poll(&mut self, key: Key, cx: &Context<'_>) -> Status {
        match self.get_mut(key) {
            None => Status::Gone,
            Some(waiter) if waiter.woken => Status::Woken,
            Some(waiter) => {
                match &waiter.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => waiter.waker = Some(cx.waker().clone()),
                }
                Status::Waiting
            }
        }
    }

    fn release(&mut self, key: Key) -> Option<Waiter> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let waiter = slot.waiter.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(key.index);
        Some(waiter)
    }

    /// Removes a waiter (it was served, or cancelled). Returns whether it had been woken;
    /// `None` if it was no longer queued.
    pub fn remove(&mut self, key: Key) -> Option<bool> {
        let waiter = self.release(key)?;
        // Served waiters are almost always at the front.
        if self.order.front() == Some(&key) {
            self.order.pop_front();
        } else if let Some(pos) = self.order.iter().position(|k| *k == key) {
            self.order.remove(pos);
        }
        Some(waiter.woken)
    }

    /// Wakes the first waiter that is not woken yet, leaving it queued (asyncio's
    /// `Condition._notify` and `Semaphore._wake_up_next`). Returns false if there was none.
    pub fn wake_first(&mut self) -> bool {
        let Some(key) = self.order.iter().copied().find(|k| {
            self.slots[k.index as usize]
                .waiter
                .as_ref()
                .is_some_and(|w| !w.woken)
        }) else {
            return false;
        };
        let waiter = self.get_mut(key).expect("queued keys are live");
        waiter.woken = true;
        if let Some(waker) = waiter.waker.take() {
            waker.wake();
        }
        true
    }

    /// Wakes the front waiter unless it is woken already (asyncio's `_wake_up_first` for a
    /// lock: at most one woken waiter at a time). Returns whether a waiter was woken.
    pub fn wake_front(&mut self) -> bool {
        let Some(&key) = self.order.front() else {
            return false;
        };
        let waiter = self.get_mut(key).expect("queued keys are live");
        if waiter.woken {
            return false;
        }
        waiter.woken = true;
        if let Some(waker) = waiter.waker.take() {
            waker.wake();
        }
        true
    }

    /// Wakes every waiter not woken yet, tagging it with `tag`, and leaves them queued: each
    /// reads its tag ([`Waiters::tag`]) and removes itself when it runs.
    pub fn wake_all(&mut self, tag: u8) {
        for key in self.order.iter() {
            if let Some(waiter) = self.slots[key.index as usize].waiter.as_mut() {
                if !waiter.woken {
                    waiter.woken = true;
                    waiter.tag = tag;
                    if let Some(waker) = waiter.waker.take() {
                        waker.wake();
                    }
                }
            }
        }
    }

    /// Tags every queued waiter with `tag` — also those already woken but not yet run — and
    /// wakes those not woken yet.
    pub fn wake_all_retag(&mut self, tag: u8) {
        for key in self.order.iter() {
            if let Some(waiter) = self.slots[key.index as usize].waiter.as_mut() {
                waiter.tag = tag;
                if !waiter.woken {
                    waiter.woken = true;
                    if let Some(waker) = waiter.waker.take() {
                        waker.wake();
                    }
                }
            }
        }
    }

    /// The tag a waiter was woken with.
    pub fn tag(&mut self, key: Key) -> u8 {
        self.get_mut(key).map_or(0, |w| w.tag)
    }

    /// Whether any queued waiter has not been woken yet.
    pub fn any_waiting(&self) -> bool {
        self.order.iter().any(|k| {
            self.slots[k.index as usize]
                .waiter
                .as_ref()
                .is_some_and(|w| !w.woken)
        })
    }

    /// Takes the first waiter off the queue and wakes it. Returns false if there was none.
    pub fn pop_first(&mut self) -> bool {
        let Some(key) = self.order.pop_front() else {
            return false;
        };
        if let Some(mut waiter) = self.release(key) {
            if let Some(waker) = waiter.waker.take() {
                waker.wake();
            }
        }
        true
    }

    /// Takes every waiter off the queue and wakes them all.
    pub fn pop_all(&mut self) {
        while self.pop_first() {}
    }
}

impl std::fmt::Debug for Waiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiters").field("len", &self.len()).finish()
    }
}

/// How a FIFO wait got its turn: [`poll_turn`]'s answer.
pub(crate) enum Turn {
    /// At the first poll, on the caller's fast path: nothing was queued.
    Now,
    /// Queued, then woken (or taken off the queue by the waker); no longer queued.
    Woken,
}

/// The queue half of a FIFO wait's poll, as `Lock`, `Semaphore` and `Event` wait. At the
/// first poll (`key` is `None`): `Ready(Turn::Now)` if `free` (the caller's fast path,
/// which for fairness also requires an empty queue where the primitive has one), else the
/// waiter is queued behind the others and `key` set. At a later poll: `Ready(Turn::Woken)`
/// once it was woken, having left the queue (`key` cleared); still pending otherwise.
/// While pending, the task is reported parked at `at` (`aio_observe`).
pub(crate) fn poll_turn(
    waiters: &mut Waiters,
    key: &mut Option<Key>,
    free: bool,
    cx: &Context<'_>,
    at: aio_observe::Site,
) -> Poll<Turn> {
    match *key {
        None if free => return Poll::Ready(Turn::Now),
        None => *key = Some(waiters.push(cx)),
        Some(queued) => match waiters.poll(queued, cx) {
            Status::Waiting => {}
            Status::Woken | Status::Gone => {
                waiters.remove(queued);
                *key = None;
                return Poll::Ready(Turn::Woken);
            }
        },
    }
    aio_observe::park(at);
    Poll::Pending
}
