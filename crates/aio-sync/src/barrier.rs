//! `Barrier`: wait until a number of tasks have arrived.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::SyncError;
use crate::waiters::{Key, Status, Waiters};

/// Wake-up tags: how a round ended for its waiters.
const RELEASED: u8 = 0;
const BROKEN: u8 = 1;

/// asyncio's `Barrier` (3.11): `parties` tasks call [`wait`](Barrier::wait); the last to
/// arrive releases them all. Each gets its arrival index (0 for the first). The barrier then
/// starts over for the next round.
///
/// [`abort`](Barrier::abort) breaks the barrier: current and later waiters get
/// [`SyncError::BrokenBarrier`] until [`reset`](Barrier::reset), which also breaks the
/// current waiters and returns the barrier to its empty, usable state.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use aio_sync::Barrier;
///
/// let indices = aio_task::run(async {
///     let barrier = Rc::new(Barrier::new(3));
///     let mut tasks = Vec::new();
///     for _ in 0..3 {
///         let b = barrier.clone();
///         tasks.push(aio_task::create_task(async move { b.wait().await })?);
///     }
///     let mut indices = Vec::new();
///     for task in tasks {
///         indices.push(task.await?);
///     }
///     Ok::<_, aio_task::Error>(indices)
/// })??;
/// let mut indices: Vec<usize> = indices.into_iter().map(Result::unwrap).collect();
/// indices.sort();
/// assert_eq!(indices, [0, 1, 2]);
/// # Ok::<(), aio_task::Error>(())
/// ```
pub struct Barrier {
    parties: usize,
    state: RefCell<State>,
}

struct State {
    /// Arrived in the current round.
    count: usize,
    broken: bool,
    waiters: Waiters,
}

impl Barrier {
    /// A barrier for `parties` tasks (at least one).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(aio_sync::Barrier::new(4).parties(), 4);
    /// ```
    pub fn new(parties: usize) -> Barrier {
        Barrier {
            parties: parties.max(1),
            state: RefCell::new(State {
                count: 0,
                broken: false,
                waiters: Waiters::default(),
            }),
        }
    }

    /// How many tasks must arrive.
    ///
    /// # Examples
    ///
    /// See [`Barrier::new`].
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// Tasks waiting in the current round.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(aio_sync::Barrier::new(2).n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        self.state.borrow().count
    }

    /// Whether the barrier is broken (aborted).
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = aio_sync::Barrier::new(2);
    /// barrier.abort();
    /// assert!(barrier.broken());
    /// barrier.reset();
    /// assert!(!barrier.broken());
    /// ```
    pub fn broken(&self) -> bool {
        self.state.borrow().broken
    }

    /// Waits until `parties` tasks are waiting; returns this task's arrival index.
    ///
    /// # Errors
    ///
    /// [`SyncError::BrokenBarrier`] if the barrier is or becomes broken, or is reset while
    /// waiting.
    ///
    /// # Cancel safety
    ///
    /// A waiter cancelled before its round completes leaves the round (it no longer counts
    /// as arrived).
    ///
    /// # Examples
    ///
    /// See [`Barrier`].
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            barrier: self,
            arrival: None,
        }
    }

    /// Breaks the barrier: every waiter, and every later `wait`, gets
    /// [`SyncError::BrokenBarrier`] until [`reset`](Barrier::reset).
    ///
    /// # Examples
    ///
    /// See [`Barrier::broken`].
    pub fn abort(&self) {
        let mut state = self.state.borrow_mut();
        state.broken = true;
        state.count = 0;
        // Also the waiters of a released round that have not resumed yet (asyncio's
        // "draining" state): they see the barrier broken.
        state.waiters.wake_all_retag(BROKEN);
    }

    /// Returns the barrier to its empty, usable state; tasks waiting in the current round get
    /// [`SyncError::BrokenBarrier`].
    ///
    /// # Examples
    ///
    /// See [`Barrier::broken`].
    pub fn reset(&self) {
        let mut state = self.state.borrow_mut();
        state.broken = false;
        state.count = 0;
        state.waiters.wake_all_retag(BROKEN);
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.broken())
            .finish()
    }
}

/// The future returned by [`Barrier::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<'a> {
    barrier: &'a Barrier,
    /// (arrival index, waiter key) once arrived and waiting.
    arrival: Option<(usize, Key)>,
}

impl Future for Wait<'_> {
    type Output = Result<usize, SyncError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<usize, SyncError>> {
        let barrier = self.barrier;
        let mut state = barrier.state.borrow_mut();
        match self.arrival {
            None => {
                if state.broken {
                    return Poll::Ready(Err(SyncError::BrokenBarrier));
                }
                let index = state.count;
                state.count += 1;
                if state.count == barrier.parties {
                    // The last one releases the round.
                    state.count = 0;
                    state.waiters.wake_all(RELEASED);
                    return Poll::Ready(Ok(index));
                }
                let key = state.waiters.push(cx);
                self.arrival = Some((index, key));
                Poll::Pending
            }
            Some((index, key)) => {
                if state.waiters.poll(key, cx) == Status::Waiting {
                    return Poll::Pending;
                }
                let tag = state.waiters.tag(key);
                state.waiters.remove(key);
                self.arrival = None;
                Poll::Ready(if tag == RELEASED {
                    Ok(index)
                } else {
                    Err(SyncError::BrokenBarrier)
                })
            }
        }
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some((_, key)) = self.arrival.take() {
            let mut state = self.barrier.state.borrow_mut();
            if state.waiters.remove(key) == Some(false) {
                // Cancelled before its round completed: it no longer counts as arrived.
                state.count -= 1;
            }
        }
    }
}

impl fmt::Debug for Wait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait").finish_non_exhaustive()
    }
}
