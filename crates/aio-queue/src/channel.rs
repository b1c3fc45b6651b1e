//! A bounded multi-producer multi-consumer channel between threads and loops.
//!
//! [`Queue`](crate::Queue) serves the tasks of one loop and is not `Send`. A channel
//! (`bounded(capacity)`) is its counterpart across threads: its two ends, [`Sender`] and
//! [`Receiver`], are `Send + Sync + Clone` (for `T: Send`), so any number of them can live on
//! any number of loops and plain threads at once. Tasks `send(..).await` / `recv().await`
//! (parking on their `Waker`s, under any executor); plain threads call
//! [`send_blocking`](Sender::send_blocking) / [`recv_blocking`](Receiver::recv_blocking).
//!
//! The guarantees are [`Queue`](crate::Queue)'s:
//!
//! - items come out in the order they went in (one FIFO, whoever sent them);
//! - a waiting `recv` is woken when an item arrives and re-checks the channel; if it is
//!   cancelled (its future dropped) after being woken, it wakes the next waiting receiver, so
//!   a cancelled `recv` never loses an item nor swallows another receiver's wake-up; a
//!   cancelled `send` never sent its item (it is dropped with the future) and passes room it
//!   was woken for to the next sender;
//! - the channel closes when every `Sender` is gone, when every `Receiver` is gone, or on
//!   [`close`](Sender::close) from either side (asyncio's `Queue.shutdown()`): sends fail at
//!   once, giving the item back, and receives fail with [`QueueError::ShutDown`] once the items
//!   already sent are drained.
//!
//! One `Mutex` guards the items and both waiter lists, so a waiter's registration and the
//! emptiness check it follows are one atomic step; a `Condvar` per direction parks blocked
//! threads. Nothing here is on a loop's hot path: it is a door between loops.
//!
//! # Examples
//!
//! ```
//! use aio_queue::channel;
//!
//! let (tx, rx) = channel::bounded::<u32>(4);
//! // A plain thread produces, blocking while four items wait.
//! let producer = std::thread::spawn(move || {
//!     for n in 1..=100 {
//!         tx.send_blocking(n).unwrap();
//!     }
//!     // `tx` dropped: the channel closes once drained.
//! });
//! // A loop consumes.
//! let total = aio_task::run(async move {
//!     let mut total = 0;
//!     while let Ok(n) = rx.recv().await {
//!         total += n;
//!     }
//!     total
//! })?;
//! producer.join().unwrap();
//! assert_eq!(total, 5050);
//! # Ok::<(), aio_task::Error>(())
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use aio_sync::waiters::{Key, Status, Waiters};

use crate::{QueueError, Rejected};

/// A channel holding at most `capacity` items: its sending and receiving ends.
///
/// # Panics
///
/// If `capacity` is 0 (a rendezvous channel is not offered).
///
/// # Examples
///
/// ```
/// use aio_queue::{QueueError, channel};
///
/// let (tx, rx) = channel::bounded(1);
/// tx.try_send("a").unwrap();
/// assert_eq!(tx.try_send("b").unwrap_err().error, QueueError::Full);
/// assert_eq!(rx.try_recv(), Ok("a"));
/// assert_eq!(rx.try_recv(), Err(QueueError::Empty));
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(QueueError::ShutDown)); // no sender left
/// ```
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "a channel needs a capacity of at least 1");
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            capacity,
            closed: false,
            senders: 1,
            receivers: 1,
            recv_waiters: Waiters::default(),
            send_waiters: Waiters::default(),
            blocked_receivers: 0,
            blocked_senders: 0,
        }),
        not_empty: Condvar::new(),
        not_full: Condvar::new(),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Blocked receiving threads wait here.
    not_empty: Condvar,
    /// Blocked sending threads wait here.
    not_full: Condvar,
}

struct State<T> {
    items: VecDeque<T>,
    capacity: usize,
    closed: bool,
    senders: usize,
    receivers: usize,
    recv_waiters: Waiters,
    send_waiters: Waiters,
    /// Threads parked in `recv_blocking` / `send_blocking`: a condvar is signalled only when
    /// one is there.
    blocked_receivers: usize,
    blocked_senders: usize,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Every update under this lock is completed before anything that could panic (a
        // waker's `wake` runs user code), so a poisoned lock still holds a consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An item was added: wake one waiting receiver (a task and/or a thread).
    fn item_added(&self, state: &mut State<T>) {
        state.recv_waiters.pop_first();
        if state.blocked_receivers > 0 {
            self.not_empty.notify_one();
        }
    }

    /// An item was taken: wake one waiting sender.
    fn room_made(&self, state: &mut State<T>) {
        state.send_waiters.pop_first();
        if state.blocked_senders > 0 {
            self.not_full.notify_one();
        }
    }

    fn close(&self, state: &mut State<T>) -> bool {
        if state.closed {
            return false;
        }
        state.closed = true;
        state.recv_waiters.pop_all();
        state.send_waiters.pop_all();
        self.not_empty.notify_all();
        self.not_full.notify_all();
        true
    }

    fn try_send(&self, state: &mut State<T>, item: T) -> Result<(), Rejected<T>> {
        if state.closed {
            return Err(Rejected {
                error: QueueError::ShutDown,
                item,
            });
        }
        if state.items.len() >= state.capacity {
            return Err(Rejected {
                error: QueueError::Full,
                item,
            });
        }
        state.items.push_back(item);
        self.item_added(state);
        Ok(())
    }

    fn try_recv(&self, state: &mut State<T>) -> Result<T, QueueError> {
        match state.items.pop_front() {
            Some(item) => {
                self.room_made(state);
                Ok(item)
            }
            None if state.closed => Err(QueueError::ShutDown),
            None => Err(QueueError::Empty),
        }
    }
}

/// The sending end of a [`bounded`] channel: `Send + Sync` for `T: Send`, clonable (every
/// clone counts as a sender; the channel closes when the last one is dropped).
///
/// # Examples
///
/// ```
/// use aio_queue::channel;
///
/// let (tx, rx) = channel::bounded(8);
/// let senders: Vec<_> = (0..4)
///     .map(|n| {
///         let tx = tx.clone();
///         std::thread::spawn(move || tx.send_blocking(n).unwrap())
///     })
///     .collect();
/// drop(tx);
/// senders.into_iter().for_each(|t| t.join().unwrap());
/// let mut got: Vec<i32> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
/// got.sort();
/// assert_eq!(got, [0, 1, 2, 3]);
/// ```
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving end of a [`bounded`] channel: `Send + Sync` for `T: Send`, clonable (every
/// clone counts as a receiver, each item goes to exactly one of them; the channel closes when
/// the last one is dropped).
///
/// # Examples
///
/// ```
/// use aio_queue::channel;
///
/// let (tx, rx) = channel::bounded(2);
/// let rx2 = rx.clone();
/// tx.try_send(1).unwrap();
/// tx.try_send(2).unwrap();
/// // Each item goes to one receiver.
/// assert_eq!((rx.try_recv(), rx2.try_recv()), (Ok(1), Ok(2)));
/// ```
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Sends `item`, waiting while the channel is full.
    ///
    /// # Errors
    ///
    /// [`Rejected`] with [`QueueError::ShutDown`] (and the item) once the channel is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped `send` sent nothing (its item is dropped with it); room it was
    /// woken for goes to the next waiting sender.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_queue::channel;
    ///
    /// let (tx, rx) = channel::bounded(1);
    /// aio_task::run(async move {
    ///     tx.send(1).await.unwrap();
    ///     let consumer = aio_task::create_task(async move {
    ///         (rx.recv().await.unwrap(), rx.recv().await.unwrap())
    ///     })?;
    ///     tx.send(2).await.unwrap(); // waits until the consumer took 1
    ///     assert_eq!(consumer.await?, (1, 2));
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn send(&self, item: T) -> SendItem<'_, T> {
        SendItem {
            shared: &self.shared,
            item: Some(item),
            key: None,
        }
    }

    /// Sends `item` if there is room now.
    ///
    /// # Errors
    ///
    /// [`Rejected`] with [`QueueError::Full`] or [`QueueError::ShutDown`], giving the item
    /// back.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_queue::{QueueError, channel};
    /// let (tx, rx) = channel::bounded(1);
    /// assert!(tx.try_send(1).is_ok());
    /// assert_eq!(tx.try_send(2).unwrap_err().item, 2);
    /// rx.close();
    /// assert_eq!(tx.try_send(3).unwrap_err().error, QueueError::ShutDown);
    /// ```
    pub fn try_send(&self, item: T) -> Result<(), Rejected<T>> {
        let mut state = self.shared.lock();
        self.shared.try_send(&mut state, item)
    }

    /// Sends `item`, blocking this thread while the channel is full. For plain threads: on a
    /// loop's thread it would block the loop (use [`send`](Sender::send) there).
    ///
    /// # Errors
    ///
    /// [`Rejected`] with [`QueueError::ShutDown`] once the channel is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_queue::channel;
    /// let (tx, rx) = channel::bounded(1);
    /// tx.send_blocking('a').unwrap(); // room: returns at once
    /// let t = std::thread::spawn(move || tx.send_blocking('b')); // waits for room
    /// assert_eq!(rx.recv_blocking(), Ok('a'));
    /// t.join().unwrap().unwrap();
    /// assert_eq!(rx.recv_blocking(), Ok('b'));
    /// ```
    pub fn send_blocking(&self, item: T) -> Result<(), Rejected<T>> {
        let mut state = self.shared.lock();
        let mut item = item;
        loop {
            match self.shared.try_send(&mut state, item) {
                Err(Rejected {
                    error: QueueError::Full,
                    item: back,
                }) => item = back,
                other => return other,
            }
            state.blocked_senders += 1;
            state = self
                .shared
                .not_full
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
            state.blocked_senders -= 1;
        }
    }

    /// Closes the channel (asyncio's `Queue.shutdown()`): sends fail from now on, receivers
    /// get what was sent, then [`QueueError::ShutDown`]. Returns false if it was closed
    /// already.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_queue::{QueueError, channel};
    /// let (tx, rx) = channel::bounded(2);
    /// tx.try_send(1).unwrap();
    /// assert!(tx.close());
    /// assert!(!rx.close()); // already closed
    /// assert_eq!(rx.recv_blocking(), Ok(1)); // drained first
    /// assert_eq!(rx.recv_blocking(), Err(QueueError::ShutDown));
    /// ```
    pub fn close(&self) -> bool {
        let mut state = self.shared.lock();
        self.shared.close(&mut state)
    }

    /// Whether the channel is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = aio_queue::channel::bounded::<()>(1);
    /// assert!(!tx.is_closed());
    /// drop(rx); // the last receiver
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// Items waiting in the channel.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = aio_queue::channel::bounded(4);
    /// tx.try_send(()).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.shared.lock().items.len()
    }

    /// Whether no item is waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = aio_queue::channel::bounded::<u8>(4);
    /// assert!(tx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most items the channel holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = aio_queue::channel::bounded::<u8>(4);
    /// assert_eq!(tx.capacity(), 4);
    /// ```
    pub fn capacity(&self) -> usize {
        self.shared.lock().capacity
    }
}

impl<T> Receiver<T> {
    /// Receives the next item, waiting while the channel is empty.
    ///
    /// # Errors
    ///
    /// [`QueueError::ShutDown`] once the channel is closed and drained.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an item is taken only by the poll that returns it, and a receiver
    /// cancelled after being woken wakes the next one, so no item is lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_queue::channel;
    /// use aio_task::{Error, run, wait_for};
    ///
    /// let (tx, rx) = channel::bounded(1);
    /// run(async move {
    ///     // Nothing to receive: the timeout cancels the recv, which loses nothing.
    ///     assert!(matches!(wait_for(rx.recv(), 0.01).await, Err(Error::Timeout)));
    ///     tx.send("later").await.unwrap();
    ///     assert_eq!(rx.recv().await.unwrap(), "later");
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn recv(&self) -> Recv<'_, T> {
        Recv {
            shared: &self.shared,
            key: None,
        }
    }

    /// Takes an item if one is waiting.
    ///
    /// # Errors
    ///
    /// [`QueueError::Empty`]; [`QueueError::ShutDown`] if the channel is closed and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_queue::{QueueError, channel};
    /// let (tx, rx) = channel::bounded(1);
    /// assert_eq!(rx.try_recv(), Err::<u8, _>(QueueError::Empty));
    /// tx.try_send(9).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(9));
    /// ```
    pub fn try_recv(&self) -> Result<T, QueueError> {
        let mut state = self.shared.lock();
        self.shared.try_recv(&mut state)
    }

    /// Receives the next item, blocking this thread while the channel is empty. For plain
    /// threads (on a loop's thread use [`recv`](Receiver::recv)).
    ///
    /// # Errors
    ///
    /// [`QueueError::ShutDown`] once the channel is closed and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_queue::channel;
    /// let (tx, rx) = channel::bounded(1);
    /// let t = std::thread::spawn(move || rx.recv_blocking());
    /// tx.send_blocking(5).unwrap();
    /// assert_eq!(t.join().unwrap(), Ok(5));
    /// ```
    pub fn recv_blocking(&self) -> Result<T, QueueError> {
        self.recv_deadline(None)
    }

    /// [`recv_blocking`](Receiver::recv_blocking) for at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`QueueError::Empty`] when the time is up; [`QueueError::ShutDown`] once the channel
    /// is closed and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use aio_queue::{QueueError, channel};
    /// let (_tx, rx) = channel::bounded::<u8>(1);
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(QueueError::Empty));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, QueueError> {
        self.recv_deadline(Instant::now().checked_add(timeout))
    }

    fn recv_deadline(&self, deadline: Option<Instant>) -> Result<T, QueueError> {
        let mut state = self.shared.lock();
        loop {
            match self.shared.try_recv(&mut state) {
                Err(QueueError::Empty) => {}
                other => return other,
            }
            state.blocked_receivers += 1;
            state = match deadline {
                None => self
                    .shared
                    .not_empty
                    .wait(state)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        state.blocked_receivers -= 1;
                        return Err(QueueError::Empty);
                    }
                    self.shared
                        .not_empty
                        .wait_timeout(state, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
            state.blocked_receivers -= 1;
        }
    }

    /// Closes the channel, as [`Sender::close`].
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_queue::{QueueError, channel};
    /// let (tx, rx) = channel::bounded(1);
    /// rx.close();
    /// assert_eq!(tx.try_send(1).unwrap_err().error, QueueError::ShutDown);
    /// ```
    pub fn close(&self) -> bool {
        let mut state = self.shared.lock();
        self.shared.close(&mut state)
    }

    /// Whether the channel is closed (items may still wait to be received).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = aio_queue::channel::bounded::<()>(1);
    /// drop(tx); // the last sender
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// Items waiting in the channel.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = aio_queue::channel::bounded(4);
    /// tx.try_send(()).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.shared.lock().items.len()
    }

    /// Whether no item is waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = aio_queue::channel::bounded::<u8>(4);
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.shared.lock().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        self.shared.lock().receivers += 1;
        Receiver {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.senders -= 1;
        if state.senders == 0 {
            self.shared.close(&mut state);
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receivers -= 1;
        if state.receivers == 0 {
            self.shared.close(&mut state);
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Sender")
            .field("len", &state.items.len())
            .field("capacity", &state.capacity)
            .field("closed", &state.closed)
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Receiver")
            .field("len", &state.items.len())
            .field("capacity", &state.capacity)
            .field("closed", &state.closed)
            .finish()
    }
}

/// The future returned by [`Sender::send`].
///
/// # Cancel safety
///
/// Cancel safe: dropped before it completed, it sent nothing; room it was woken for goes to
/// the next waiting sender.
#[must_use = "futures do nothing unless awaited"]
pub struct SendItem<'a, T> {
    shared: &'a Shared<T>,
    item: Option<T>,
    key: Option<Key>,
}

// `SendItem` holds its item by value and never pins it.
impl<T> Unpin for SendItem<'_, T> {}

impl<T> Future for SendItem<'_, T> {
    type Output = Result<(), Rejected<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut state = this.shared.lock();
        if let Some(key) = this.key {
            if state.send_waiters.poll(key, cx) == Status::Waiting {
                return Poll::Pending;
            }
            // Woken (taken off the list): re-check rather than assume the room is ours.
            this.key = None;
        }
        let item = this
            .item
            .take()
            .expect("`SendItem` polled after completion");
        match this.shared.try_send(&mut state, item) {
            Err(Rejected {
                error: QueueError::Full,
                item,
            }) => {
                this.item = Some(item);
                this.key = Some(state.send_waiters.push(cx));
                Poll::Pending
            }
            done => Poll::Ready(done),
        }
    }
}

impl<T> Drop for SendItem<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut state = self.shared.lock();
            // Woken (taken off the list) but cancelled before using the room: pass the
            // wake-up on, so the room is not left unclaimed by a waiting sender.
            if state.send_waiters.remove(key).is_none() && state.items.len() < state.capacity {
                state.send_waiters.pop_first();
            }
        }
    }
}

impl<T> fmt::Debug for SendItem<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendItem")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// The future returned by [`Receiver::recv`].
///
/// # Cancel safety
///
/// Cancel safe: an item is taken only by the poll that returns it; a receiver cancelled after
/// being woken wakes the next one.
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, T> {
    shared: &'a Shared<T>,
    key: Option<Key>,
}

impl<T> Future for Recv<'_, T> {
    type Output = Result<T, QueueError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut state = this.shared.lock();
        if let Some(key) = this.key {
            if state.recv_waiters.poll(key, cx) == Status::Waiting {
                return Poll::Pending;
            }
            // Woken (taken off the list): re-check rather than assume an item is ours.
            this.key = None;
        }
        match this.shared.try_recv(&mut state) {
            Err(QueueError::Empty) => {
                this.key = Some(state.recv_waiters.push(cx));
                Poll::Pending
            }
            done => Poll::Ready(done),
        }
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut state = self.shared.lock();
            // Woken (taken off the list) but cancelled before taking the item: pass the
            // wake-up to the next receiver, so the item is not left unclaimed.
            if state.recv_waiters.remove(key).is_none() && !state.items.is_empty() {
                state.recv_waiters.pop_first();
            }
        }
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv")
            .field("waiting", &self.key.is_some())
            .finish()
    }
}
