//! asyncio's queues for Rust: [`Queue`] (FIFO), [`LifoQueue`] and [`PriorityQueue`].
//!
//! Built on [`Waker`](std::task::Waker)s alone, with no knowledge of the event loop, so they
//! work under any executor. Like asyncio's they are for the tasks of one thread, and they keep
//! asyncio's guarantees:
//!
//! - getters and putters are served FIFO;
//! - a woken getter re-checks the queue rather than being handed an item, and if it is
//!   cancelled (its future dropped) after being woken it wakes the next getter — so a
//!   cancelled `get` never loses or duplicates an item and never swallows another waiter's
//!   wake-up; putters are symmetric;
//! - `task_done` / `join` count unfinished items; `shutdown` (asyncio 3.13) makes `put` fail
//!   at once and `get` fail once the queue is empty, or with `immediate`, drains it.
//!
//! Between threads and loops, [`channel::bounded`] is a `Send` multi-producer multi-consumer
//! channel with the same cancellation guarantees, usable from tasks on any loop and from plain
//! threads.
//!
//! # Examples
//!
//! ```
//! use std::rc::Rc;
//! use aio_queue::Queue;
//!
//! aio_task::run(async {
//!     let queue = Rc::new(Queue::new(2));
//!     let q = queue.clone();
//!     let consumer = aio_task::create_task(async move {
//!         let mut total = 0;
//!         while let Ok(n) = q.get().await {
//!             total += n;
//!             q.task_done().unwrap();
//!         }
//!         total // the queue was shut down and drained
//!     })?;
//!     for n in 1..=10 {
//!         queue.put(n).await.unwrap(); // waits while two items are queued
//!     }
//!     queue.join().await; // every item processed
//!     queue.shutdown(false);
//!     assert_eq!(consumer.await?, 55);
//!     Ok::<_, aio_task::Error>(())
//! })??;
//! # Ok::<(), aio_task::Error>(())
//! ```

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use aio_sync::waiters::{Key, Status, Waiters};

pub mod channel;

/// What can go wrong with a queue (asyncio's `QueueEmpty`, `QueueFull`, `QueueShutDown` and
/// the `ValueError` of `task_done`).
///
/// # Examples
///
/// ```
/// use aio_queue::{Queue, QueueError};
/// let queue = Queue::<u8>::new(1);
/// assert_eq!(queue.get_nowait(), Err(QueueError::Empty));
/// assert_eq!(queue.task_done(), Err(QueueError::TaskDoneTooManyTimes));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueueError {
    /// `get_nowait` on an empty queue.
    Empty,
    /// `put_nowait` on a full queue.
    Full,
    /// The queue was shut down: `put` fails at once, `get` once the queue is empty.
    ShutDown,
    /// `task_done` called more times than items were put.
    TaskDoneTooManyTimes,
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QueueError::Empty => "the queue is empty",
            QueueError::Full => "the queue is full",
            QueueError::ShutDown => "the queue is shut down",
            QueueError::TaskDoneTooManyTimes => "task_done() called too many times",
        })
    }
}

impl std::error::Error for QueueError {}

/// An item `put_nowait` could not queue, handed back with the reason.
///
/// # Examples
///
/// ```
/// use aio_queue::{Queue, QueueError};
/// let queue = Queue::new(1);
/// queue.put_nowait("a").unwrap();
/// let rejected = queue.put_nowait("b").unwrap_err();
/// assert_eq!((rejected.error, rejected.item), (QueueError::Full, "b"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected<T> {
    /// Why: [`QueueError::Full`] or [`QueueError::ShutDown`].
    pub error: QueueError,
    /// The item, not queued.
    pub item: T,
}

impl<T> fmt::Display for Rejected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl<T: fmt::Debug> std::error::Error for Rejected<T> {}

/// The order a queue hands items out in.
pub trait Store<T>: Default {
    /// Adds an item.
    fn push(&mut self, item: T);
    /// Takes the next item.
    fn pop(&mut self) -> Option<T>;
    /// Items held.
    fn len(&self) -> usize;
    /// Whether no item is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// First in, first out ([`Queue`]).
#[derive(Debug)]
pub struct Fifo<T>(VecDeque<T>);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}

impl<T> Store<T> for Fifo<T> {
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Last in, first out ([`LifoQueue`]).
#[derive(Debug)]
pub struct Lifo<T>(Vec<T>);

impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}

impl<T> Store<T> for Lifo<T> {
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Smallest first ([`PriorityQueue`], asyncio's `heapq` order).
#[derive(Debug)]
pub struct Priority<T: Ord>(BinaryHeap<Reverse<T>>);

impl<T: Ord> Default for Priority<T> {
    fn default() -> Self {
        Priority(BinaryHeap::new())
    }
}

impl<T: Ord> Store<T> for Priority<T> {
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// asyncio's `Queue`: first in, first out.
pub type Queue<T> = GenericQueue<T, Fifo<T>>;
/// asyncio's `LifoQueue`: last in, first out.
pub type LifoQueue<T> = GenericQueue<T, Lifo<T>>;
/// asyncio's `PriorityQueue`: smallest item first.
pub type PriorityQueue<T> = GenericQueue<T, Priority<T>>;

/// The queue behind [`Queue`], [`LifoQueue`] and [`PriorityQueue`]; `S` decides the order.
///
/// # Examples
///
/// ```
/// use aio_queue::{LifoQueue, PriorityQueue};
/// let lifo = LifoQueue::new(0);
/// let prio = PriorityQueue::new(0);
/// for n in [2, 3, 1] {
///     lifo.put_nowait(n).unwrap();
///     prio.put_nowait(n).unwrap();
/// }
/// assert_eq!(lifo.get_nowait(), Ok(1)); // last in
/// assert_eq!(prio.get_nowait(), Ok(1)); // smallest
/// assert_eq!(prio.get_nowait(), Ok(2));
/// ```
pub struct GenericQueue<T, S: Store<T>> {
    state: RefCell<State<T, S>>,
}

struct State<T, S> {
    items: S,
    maxsize: usize,
    getters: Waiters,
    putters: Waiters,
    joiners: Waiters,
    unfinished: usize,
    shutdown: bool,
    _items: std::marker::PhantomData<fn(T) -> T>,
}

impl<T, S: Store<T>> State<T, S> {
    fn full(&self) -> bool {
        self.maxsize > 0 && self.items.len() >= self.maxsize
    }

    /// asyncio's `put_nowait` after the checks.
    fn push(&mut self, item: T) {
        self.items.push(item);
        self.unfinished += 1;
        self.getters.pop_first();
    }

    /// asyncio's `get_nowait` after the checks.
    fn pop(&mut self) -> Option<T> {
        let item = self.items.pop()?;
        self.putters.pop_first();
        Some(item)
    }
}

impl<T, S: Store<T>> GenericQueue<T, S> {
    /// A queue holding at most `maxsize` items (0: unbounded).
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = aio_queue::Queue::<u8>::new(0);
    /// assert_eq!(queue.maxsize(), 0);
    /// assert!(!queue.full());
    /// ```
    pub fn new(maxsize: usize) -> GenericQueue<T, S> {
        GenericQueue {
            state: RefCell::new(State {
                items: S::default(),
                maxsize,
                getters: Waiters::default(),
                putters: Waiters::default(),
                joiners: Waiters::default(),
                unfinished: 0,
                shutdown: false,
                _items: std::marker::PhantomData,
            }),
        }
    }

    /// Items in the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = aio_queue::Queue::new(0);
    /// queue.put_nowait(1).unwrap();
    /// assert_eq!(queue.qsize(), 1);
    /// ```
    pub fn qsize(&self) -> usize {
        self.state.borrow().items.len()
    }

    /// Whether the queue holds no item.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(aio_queue::Queue::<u8>::new(1).empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.state.borrow().items.is_empty()
    }

    /// Whether the queue holds `maxsize` items (never, for an unbounded queue).
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = aio_queue::Queue::new(1);
    /// queue.put_nowait(()).unwrap();
    /// assert!(queue.full());
    /// ```
    pub fn full(&self) -> bool {
        self.state.borrow().full()
    }

    /// The capacity given to [`new`](GenericQueue::new) (0: unbounded).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(aio_queue::Queue::<u8>::new(8).maxsize(), 8);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.state.borrow().maxsize
    }

    /// Puts an item, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`QueueError::ShutDown`] once the queue is shut down (the item is dropped, as in
    /// asyncio).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe for the item: dropping the future before it completes drops the item with
    /// it (as tokio's `mpsc::Sender::send`), so an item whose `put` was waiting on a full queue is
    /// lost to the caller. It is never half-put: either the future returned `Ok` and the item is
    /// queued (counted for [`join`](GenericQueue::join)), or it is not in the queue at all. The
    /// future gives up its place among the putters, and a wake-up it had received (room was made)
    /// passes to the next putter while there is room, so no putter is left waiting for nothing.
    /// To keep the item, use [`put_nowait`](GenericQueue::put_nowait), which hands it back in
    /// [`Rejected`].
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Error, run, wait_for};
    ///
    /// run(async {
    ///     let queue = aio_queue::Queue::new(1);
    ///     queue.put("a").await?;
    ///     // Full: this put waits, and the timeout drops it together with its item.
    ///     assert!(matches!(wait_for(queue.put("b"), 0.01).await, Err(Error::Timeout)));
    ///     assert_eq!(queue.qsize(), 1);
    ///     assert_eq!(queue.get().await?, "a");
    ///     Ok::<_, Box<dyn std::error::Error>>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn put(&self, item: T) -> Put<'_, T, S> {
        Put {
            at: std::panic::Location::caller(),
            queue: self,
            item: Some(item),
            key: None,
        }
    }

    /// Takes an item, waiting while the queue is empty.
    ///
    /// # Errors
    ///
    /// [`QueueError::ShutDown`] once the queue is shut down and empty.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: an item is taken off the queue only in the poll that returns
    /// it, so dropping the future never loses one. A getter woken by a `put` but dropped before it
    /// ran passes the wake-up to the next getter while items remain, so the item is not left
    /// unclaimed with getters asleep.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Error, run, wait_for};
    ///
    /// run(async {
    ///     let queue = aio_queue::Queue::new(0);
    ///     // Empty: the get waits, and the timeout drops it without taking anything.
    ///     assert!(matches!(wait_for(queue.get(), 0.01).await, Err(Error::Timeout)));
    ///     queue.put_nowait(7).unwrap();
    ///     assert_eq!(queue.get().await, Ok(7));
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller]
    pub fn get(&self) -> Get<'_, T, S> {
        Get {
            at: std::panic::Location::caller(),
            queue: self,
            key: None,
        }
    }

    /// Puts an item if there is room.
    ///
    /// # Errors
    ///
    /// [`Rejected`] with [`QueueError::Full`] or [`QueueError::ShutDown`], giving the item
    /// back.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_queue::{Queue, QueueError};
    /// let queue = Queue::new(1);
    /// queue.put_nowait(1).unwrap();
    /// assert_eq!(queue.put_nowait(2).unwrap_err().error, QueueError::Full);
    /// queue.shutdown(false);
    /// assert_eq!(queue.put_nowait(3).unwrap_err().error, QueueError::ShutDown);
    /// ```
    pub fn put_nowait(&self, item: T) -> Result<(), Rejected<T>> {
        let mut state = self.state.borrow_mut();
        if state.shutdown {
            return Err(Rejected {
                error: QueueError::ShutDown,
                item,
            });
        }
        if state.full() {
            return Err(Rejected {
                error: QueueError::Full,
                item,
            });
        }
        state.push(item);
        Ok(())
    }

    /// Takes an item if there is one.
    ///
    /// # Errors
    ///
    /// [`QueueError::Empty`]; [`QueueError::ShutDown`] if the queue is empty and shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_queue::{Queue, QueueError};
    /// let queue = Queue::new(0);
    /// queue.put_nowait('x').unwrap();
    /// assert_eq!(queue.get_nowait(), Ok('x'));
    /// assert_eq!(queue.get_nowait(), Err(QueueError::Empty));
    /// ```
    pub fn get_nowait(&self) -> Result<T, QueueError> {
        let mut state = self.state.borrow_mut();
        match state.pop() {
            Some(item) => Ok(item),
            None if state.shutdown => Err(QueueError::ShutDown),
            None => Err(QueueError::Empty),
        }
    }

    /// Marks one item taken with `get` as processed; when every item put has been marked,
    /// [`join`](GenericQueue::join) returns.
    ///
    /// # Errors
    ///
    /// [`QueueError::TaskDoneTooManyTimes`] if called more times than items were put.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_queue::{Queue, QueueError};
    /// let queue = Queue::new(0);
    /// queue.put_nowait(1).unwrap();
    /// queue.get_nowait().unwrap();
    /// assert_eq!(queue.task_done(), Ok(()));
    /// assert_eq!(queue.task_done(), Err(QueueError::TaskDoneTooManyTimes));
    /// ```
    pub fn task_done(&self) -> Result<(), QueueError> {
        let mut state = self.state.borrow_mut();
        if state.unfinished == 0 {
            return Err(QueueError::TaskDoneTooManyTimes);
        }
        state.unfinished -= 1;
        if state.unfinished == 0 {
            state.joiners.pop_all();
        }
        Ok(())
    }

    /// Waits until every item put has been marked done with
    /// [`task_done`](GenericQueue::task_done).
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: waiting consumes nothing, and dropping the future only removes
    /// it from the joiners.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Error, run, wait_for};
    ///
    /// run(async {
    ///     let queue = aio_queue::Queue::new(0);
    ///     queue.put_nowait(1).unwrap();
    ///     // One item not marked done: join waits (and is dropped by the timeout).
    ///     assert!(matches!(wait_for(queue.join(), 0.01).await, Err(Error::Timeout)));
    ///     queue.get_nowait().unwrap();
    ///     queue.task_done().unwrap();
    ///     queue.join().await; // returns at once
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller]
    pub fn join(&self) -> Join<'_, T, S> {
        Join {
            at: std::panic::Location::caller(),
            queue: self,
            key: None,
        }
    }

    /// Shuts the queue down (asyncio 3.13): `put` fails from now on, `get` fails once the
    /// queue is empty. With `immediate`, the queue is emptied at once (the removed items count
    /// as done, releasing `join`). Every waiting getter and putter is woken to see it.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_queue::{Queue, QueueError};
    /// let queue = Queue::new(0);
    /// queue.put_nowait(1).unwrap();
    /// queue.shutdown(false);
    /// assert_eq!(queue.put_nowait(2).unwrap_err().error, QueueError::ShutDown);
    /// assert_eq!(queue.get_nowait(), Ok(1)); // still drained normally
    /// assert_eq!(queue.get_nowait(), Err(QueueError::ShutDown));
    /// ```
    pub fn shutdown(&self, immediate: bool) {
        let mut state = self.state.borrow_mut();
        state.shutdown = true;
        let mut drained = Vec::new();
        if immediate {
            while let Some(item) = state.items.pop() {
                drained.push(item);
                state.unfinished = state.unfinished.saturating_sub(1);
            }
            if state.unfinished == 0 {
                state.joiners.pop_all();
            }
        }
        state.getters.pop_all();
        state.putters.pop_all();
        drop(state);
        // Dropped outside the borrow: an item's destructor may use the queue.
        drop(drained);
    }

    /// Whether [`shutdown`](GenericQueue::shutdown) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = aio_queue::Queue::<u8>::new(0);
    /// queue.shutdown(true);
    /// assert!(queue.is_shut_down());
    /// ```
    pub fn is_shut_down(&self) -> bool {
        self.state.borrow().shutdown
    }
}

impl<T, S: Store<T>> fmt::Debug for GenericQueue<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Queue")
            .field("qsize", &state.items.len())
            .field("maxsize", &state.maxsize)
            .field("getters", &state.getters.len())
            .field("putters", &state.putters.len())
            .field("unfinished", &state.unfinished)
            .field("shutdown", &state.shutdown)
            .finish()
    }
}

/// The future returned by [`GenericQueue::put`].
///
/// # Cancel safety
///
/// Dropped before it completes, it drops its item (never half-put) and passes on a wake-up it
/// had received; see [`GenericQueue::put`].
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, T, S: Store<T>> {
    /// Where it was created: reported as where the task waits (`aio_observe`).
    at: aio_observe::Site,
    queue: &'a GenericQueue<T, S>,
    item: Option<T>,
    key: Option<Key>,
}

impl<T, S: Store<T>> Unpin for Put<'_, T, S> {}

impl<T, S: Store<T>> Future for Put<'_, T, S> {
    type Output = Result<(), QueueError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), QueueError>> {
        let this = &mut *self;
        let mut state = this.queue.state.borrow_mut();
        if let Some(key) = this.key {
            if state.putters.poll(key, cx) == Status::Waiting {
                {
                    aio_observe::park(self.at);
                    return Poll::Pending;
                }
            }
            // Woken (taken off the queue): re-check.
            this.key = None;
        }
        if state.shutdown {
            this.item = None;
            return Poll::Ready(Err(QueueError::ShutDown));
        }
        if state.full() {
            this.key = Some(state.putters.push(cx));
            {
                aio_observe::park(self.at);
                return Poll::Pending;
            }
        }
        match this.item.take() {
            Some(item) => {
                state.push(item);
                Poll::Ready(Ok(()))
            }
            None => Poll::Ready(Err(QueueError::ShutDown)),
        }
    }
}

impl<T, S: Store<T>> Drop for Put<'_, T, S> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut state = self.queue.state.borrow_mut();
            // `None`: it had been woken (taken off the queue). asyncio: pass the wake-up on
            // if there is room, so no putter is left waiting for nothing.
            if state.putters.remove(key).is_none() && !state.full() {
                state.putters.pop_first();
            }
        }
    }
}

impl<T, S: Store<T>> fmt::Debug for Put<'_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put").finish_non_exhaustive()
    }
}

/// The future returned by [`GenericQueue::get`].
///
/// # Cancel safety
///
/// Cancel safe: dropping it never loses an item; see [`GenericQueue::get`].
#[must_use = "futures do nothing unless awaited"]
pub struct Get<'a, T, S: Store<T>> {
    /// Where it was created: reported as where the task waits (`aio_observe`).
    at: aio_observe::Site,
    queue: &'a GenericQueue<T, S>,
    key: Option<Key>,
}

impl<T, S: Store<T>> Future for Get<'_, T, S> {
    type Output = Result<T, QueueError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, QueueError>> {
        let this = &mut *self;
        let mut state = this.queue.state.borrow_mut();
        if let Some(key) = this.key {
            if state.getters.poll(key, cx) == Status::Waiting {
                {
                    aio_observe::park(self.at);
                    return Poll::Pending;
                }
            }
            // Woken (taken off the queue): re-check rather than assume an item is ours.
            this.key = None;
        }
        if let Some(item) = state.pop() {
            return Poll::Ready(Ok(item));
        }
        if state.shutdown {
            return Poll::Ready(Err(QueueError::ShutDown));
        }
        this.key = Some(state.getters.push(cx));
        aio_observe::park(self.at);
        Poll::Pending
    }
}

impl<T, S: Store<T>> Drop for Get<'_, T, S> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut state = self.queue.state.borrow_mut();
            // Woken (taken off the queue) but cancelled before taking the item: pass the
            // wake-up to the next getter, so the item is not left unclaimed.
            if state.getters.remove(key).is_none() && !state.items.is_empty() {
                state.getters.pop_first();
            }
        }
    }
}

impl<T, S: Store<T>> fmt::Debug for Get<'_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get").finish_non_exhaustive()
    }
}

/// The future returned by [`GenericQueue::join`].
///
/// # Cancel safety
///
/// Cancel safe: dropping it only removes it from the joiners.
#[must_use = "futures do nothing unless awaited"]
pub struct Join<'a, T, S: Store<T>> {
    /// Where it was created: reported as where the task waits (`aio_observe`).
    at: aio_observe::Site,
    queue: &'a GenericQueue<T, S>,
    key: Option<Key>,
}

impl<T, S: Store<T>> Future for Join<'_, T, S> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut state = this.queue.state.borrow_mut();
        if let Some(key) = this.key {
            if state.joiners.poll(key, cx) == Status::Waiting {
                {
                    aio_observe::park(self.at);
                    return Poll::Pending;
                }
            }
            // Woken by the last `task_done` (asyncio waits on an Event: a woken waiter
            // returns even if new items arrived before it ran).
            this.key = None;
            return Poll::Ready(());
        }
        if state.unfinished == 0 {
            return Poll::Ready(());
        }
        this.key = Some(state.joiners.push(cx));
        aio_observe::park(self.at);
        Poll::Pending
    }
}

impl<T, S: Store<T>> Drop for Join<'_, T, S> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.queue.state.borrow_mut().joiners.remove(key);
        }
    }
}

impl<T, S: Store<T>> fmt::Debug for Join<'_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join").finish_non_exhaustive()
    }
}

// Unit tests make loops too: on the reactor AIO_REACTOR names.
#[cfg(test)]
use aio_reactors as _;
