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
    /// Arrived in the current round (queued and not woken).
    count: usize,
    broken: bool,
    /// The current round's waiters, then — once woken — the released (or broken) ones that
    /// have not resumed yet.
    waiters: Waiters,
    /// Tasks that arrived while a round was draining; they join once it has drained.
    blocked: Waiters,
}

impl State {
    /// asyncio's draining/resetting states: woken waiters have not all resumed yet, so a new
    /// arrival must wait before joining the next round.
    fn draining(&self) -> bool {
        self.waiters.len() > self.count
    }

    /// A woken waiter resumed: once the last one has, let the blocked arrivals in.
    fn resumed(&mut self) {
        if !self.draining() {
            self.blocked.pop_all();
        }
    }
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
                blocked: Waiters::default(),
            }),
        }
    }

    /// How many tasks must arrive.
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = aio_sync::Barrier::new(3);
    /// assert_eq!(barrier.parties(), 3);
    /// assert_eq!(aio_sync::Barrier::new(0).parties(), 1); // at least one
    /// ```
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
    /// Cancel safe until its round completes: a waiter dropped before then leaves the round (it
    /// no longer counts as arrived: [`n_waiting`](Barrier::n_waiting) goes down by one and the
    /// round needs another task), and one dropped while waiting for a finished round to drain
    /// leaves without joining. As in asyncio, a later arrival may then be given the same index
    /// as a task still waiting. Dropped after its round was released but before it ran again,
    /// it loses only its own result: the round is released for the others all the same.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Error, run, wait_for};
    ///
    /// run(async {
    ///     let barrier = aio_sync::Barrier::new(2);
    ///     // Alone, the wait times out; dropped, it no longer counts as arrived.
    ///     assert!(matches!(wait_for(barrier.wait(), 0.01).await, Err(Error::Timeout)));
    ///     assert_eq!(barrier.n_waiting(), 0);
    ///     let single = aio_sync::Barrier::new(1);
    ///     assert_eq!(single.wait().await, Ok(0));
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller]
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            at: std::panic::Location::caller(),
            barrier: self,
            phase: Phase::New,
        }
    }

    /// Breaks the barrier: every waiter, and every later `wait`, gets
    /// [`SyncError::BrokenBarrier`] until [`reset`](Barrier::reset).
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let barrier = aio_sync::Barrier::new(2);
    ///     barrier.abort();
    ///     assert_eq!(barrier.wait().await, Err(aio_sync::SyncError::BrokenBarrier));
    /// })?;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn abort(&self) {
        let mut state = self.state.borrow_mut();
        state.broken = true;
        state.count = 0;
        // Also the waiters of a released round that have not resumed yet (asyncio's
        // "draining" state): they see the barrier broken.
        state.waiters.wake_all_retag(BROKEN);
        // Tasks waiting to join see it broken too.
        state.blocked.pop_all();
    }

    /// Returns the barrier to its empty, usable state; tasks waiting in the current round get
    /// [`SyncError::BrokenBarrier`].
    ///
    /// # Examples
    ///
    /// ```
    /// aio_task::run(async {
    ///     let barrier = aio_sync::Barrier::new(1);
    ///     barrier.abort();
    ///     barrier.reset();
    ///     assert!(!barrier.broken());
    ///     assert_eq!(barrier.wait().await, Ok(0));
    /// })?;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn reset(&self) {
        let mut state = self.state.borrow_mut();
        state.broken = false;
        state.count = 0;
        // The current round and a draining one break; tasks blocked until the drain ends are
        // not part of any round yet and are left alone, as in asyncio.
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
///
/// # Cancel safety
///
/// Dropped before its round completes, it leaves the round; see [`Barrier::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<'a> {
    /// Where it was created: reported as where the task waits (`aio_observe`).
    at: aio_observe::Site,
    barrier: &'a Barrier,
    phase: Phase,
}

enum Phase {
    /// Not arrived yet.
    New,
    /// Arrived while a round was draining: waiting to join.
    Blocked(Key),
    /// Arrived in a round: (arrival index, waiter key).
    Arrived(usize, Key),
    Done,
}

impl Future for Wait<'_> {
    type Output = Result<usize, SyncError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<usize, SyncError>> {
        let barrier = self.barrier;
        let mut state = barrier.state.borrow_mut();
        loop {
            match std::mem::replace(&mut self.phase, Phase::Done) {
                Phase::Done => return Poll::Ready(Err(SyncError::BrokenBarrier)),
                Phase::Blocked(key) => {
                    if state.blocked.poll(key, cx) == Status::Waiting {
                        self.phase = Phase::Blocked(key);
                        {
                            aio_observe::park(self.at);
                            return Poll::Pending;
                        }
                    }
                    state.blocked.remove(key);
                    // Let in: arrive now.
                    self.phase = Phase::New;
                }
                Phase::New => {
                    if state.broken {
                        return Poll::Ready(Err(SyncError::BrokenBarrier));
                    }
                    if state.draining() {
                        self.phase = Phase::Blocked(state.blocked.push(cx));
                        {
                            aio_observe::park(self.at);
                            return Poll::Pending;
                        }
                    }
                    let index = state.count;
                    state.count += 1;
                    if state.count == barrier.parties {
                        // The last one releases the round, which drains as its waiters resume.
                        state.count = 0;
                        state.waiters.wake_all(RELEASED);
                        state.resumed();
                        return Poll::Ready(Ok(index));
                    }
                    self.phase = Phase::Arrived(index, state.waiters.push(cx));
                    {
                        aio_observe::park(self.at);
                        return Poll::Pending;
                    }
                }
                Phase::Arrived(index, key) => {
                    if state.waiters.poll(key, cx) == Status::Waiting {
                        self.phase = Phase::Arrived(index, key);
                        {
                            aio_observe::park(self.at);
                            return Poll::Pending;
                        }
                    }
                    let tag = state.waiters.tag(key);
                    state.waiters.remove(key);
                    state.resumed();
                    return Poll::Ready(if tag == RELEASED {
                        Ok(index)
                    } else {
                        Err(SyncError::BrokenBarrier)
                    });
                }
            }
        }
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        let mut state = self.barrier.state.borrow_mut();
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Blocked(key) => {
                state.blocked.remove(key);
            }
            Phase::Arrived(_, key) => {
                match state.waiters.remove(key) {
                    // Cancelled before its round completed: no longer counts as arrived.
                    Some(false) => state.count -= 1,
                    // Released (or broken) but cancelled before resuming: it has drained.
                    Some(true) => state.resumed(),
                    None => {}
                }
            }
            Phase::New | Phase::Done => {}
        }
    }
}

impl fmt::Debug for Wait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait").finish_non_exhaustive()
    }
}
