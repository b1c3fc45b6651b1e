//! `sleep` and `sleep_until`: futures that complete after a delay, on the running loop.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::event_loop::{self, with_running};
use crate::timers::TimerKey;
use crate::{Error, IntoDelay};

/// Completes after `delay`: `f64` seconds, whole seconds, or a [`Duration`](std::time::Duration)
/// (asyncio's `asyncio.sleep`).
///
/// A delay of zero or less does not touch the timer heap: like asyncio's `sleep(0)`, it yields
/// to the loop for exactly one iteration, letting everything already ready run first. An
/// infinite delay (`f64::INFINITY`, `Duration::MAX`) sleeps forever without a timer, as
/// asyncio's `sleep(math.inf)` does.
///
/// # Errors
///
/// The future completes with [`Error::InvalidDelay`] for a NaN delay, and with
/// [`Error::NoRunningLoop`] when polled outside a running loop (a zero delay works anywhere).
///
/// # Cancel safety
///
/// Dropping the future cancels its timer; nothing else is lost but the time already slept (a
/// new `sleep(delay)` counts from its own creation: use [`sleep_until`] to keep a deadline).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use aio_scheduler::{EventLoop, sleep};
///
/// let lp = EventLoop::new()?;
/// let start = Instant::now();
/// lp.run_until_complete(async {
///     sleep(0.05).await?;
///     sleep(Duration::from_millis(50)).await
/// })??;
/// assert!(start.elapsed() >= Duration::from_millis(100));
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
#[track_caller]
pub fn sleep(delay: impl IntoDelay) -> Sleep {
    let state = match delay.into_delay() {
        Err(e) => State::Failed(Some(Box::new(e))),
        Ok(d) if d.is_due() => State::Yield { yielded: false },
        Ok(d) => match d.deadline(crate::now()) {
            Some(deadline) => State::Start(deadline),
            None => State::Forever { checked: false },
        },
    };
    Sleep {
        state,
        at: std::panic::Location::caller(),
        _thread: PhantomData,
    }
}

/// Completes at `deadline` (on the loop's [`time`](crate::EventLoop::time) clock). A deadline in
/// the past completes at the next timer check.
///
/// # Errors
///
/// The future completes with [`Error::NoRunningLoop`] when polled outside a running loop.
///
/// # Cancel safety
///
/// Dropping the future cancels its timer, and nothing is lost: a new `sleep_until` of the same
/// `deadline` ends when the dropped one would have.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use aio_scheduler::{EventLoop, sleep_until};
///
/// let lp = EventLoop::new()?;
/// let deadline = Instant::now() + Duration::from_millis(20);
/// lp.run_until_complete(sleep_until(deadline))??;
/// assert!(Instant::now() >= deadline);
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        state: State::Start(deadline),
        at: std::panic::Location::caller(),
        _thread: PhantomData,
    }
}

/// The future returned by [`sleep`] and [`sleep_until`]: `Ok(())` once the time has come.
///
/// # Cancel safety
///
/// Cancel safe: a sleep holds nothing but its timer, which dropping it cancels (the loop's
/// heap purges the entry at its next iteration). Only the time already slept is lost: a new
/// [`sleep`]`(delay)` counts `delay` from its own creation, so to keep a deadline across drops,
/// [`sleep_until`] the same `Instant`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use aio_scheduler::{Error, EventLoop, Sleep, sleep};
///
/// let lp = EventLoop::new()?;
/// let nap: Sleep = sleep(Duration::from_millis(10));
/// assert!(nap.deadline().is_some()); // not registered until first polled
/// lp.run_until_complete(nap)??;
/// let bad = lp.run_until_complete(sleep(f64::NAN))?;
/// assert!(matches!(bad, Err(Error::InvalidDelay(_))));
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
///
/// A sleep belongs to its thread's loop: it is neither `Send` nor `Sync` (its timer is known
/// by a key that is unique only among that thread's timers).
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// send(aio_scheduler::sleep(1));
/// ```
///
/// ```compile_fail
/// fn sync<T: Sync>(_: T) {}
/// sync(aio_scheduler::sleep(1));
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    state: State,
    /// Where it was created: reported as where the task waits (`aio_observe`).
    at: aio_observe::Site,
    /// Not `Send` nor `Sync`: a registered sleep's key is unique only among the timers of
    /// its own thread, and a sleep belongs to the loop of that thread.
    _thread: PhantomData<*const ()>,
}

enum State {
    /// Boxed: errors are rare, and a sleeping future should stay small.
    Failed(Option<Box<Error>>),
    Yield {
        yielded: bool,
    },
    Start(Instant),
    /// An infinite delay: pending until dropped, with no timer.
    Forever {
        checked: bool,
    },
    /// Registered: the key alone, which is unique among the heaps of this thread's loops (see
    /// [`event_loop::with_timer`]). With the `Instant` of `Start` (whose nanoseconds leave
    /// room for the other states' tags) the state is 16 bytes, the whole sleep 24: a task
    /// awaiting a sleep it was handed holds two.
    Waiting {
        key: TimerKey,
    },
    Done,
}

impl Sleep {
    /// When the sleep ends, until it is first polled (`None` for a zero delay or an invalid
    /// one, and once the timer is registered: the deadline then lives in the loop's timer heap
    /// only, which keeps a sleeping task small).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let at = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(aio_scheduler::sleep_until(at).deadline(), Some(at));
    /// assert_eq!(aio_scheduler::sleep(0).deadline(), None);
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Start(deadline) => Some(deadline),
            _ => None,
        }
    }
}

impl Future for Sleep {
    type Output = Result<(), Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        // The yield (`sleep(0)`) is the hot path: keep it small enough to inline.
        match &mut this.state {
            State::Yield { yielded } => {
                if *yielded {
                    this.state = State::Done;
                    Poll::Ready(Ok(()))
                } else {
                    *yielded = true;
                    cx.waker().wake_by_ref();
                    aio_observe::park(this.at);
                    Poll::Pending
                }
            }
            State::Done => Poll::Ready(Ok(())),
            _ => {
                let polled = this.poll_timer(cx);
                if polled.is_pending() {
                    aio_observe::park(this.at);
                }
                polled
            }
        }
    }
}

impl Sleep {
    /// Everything but the yield: errors, registering the timer, checking it.
    #[inline(never)]
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match &mut self.state {
            State::Failed(error) => {
                let error = error
                    .take()
                    .map_or(Error::InvalidDelay("already reported".into()), |e| *e);
                self.state = State::Done;
                Poll::Ready(Err(error))
            }
            State::Start(deadline) => {
                let deadline = *deadline;
                let waker = cx.waker().clone();
                let registered =
                    with_running(|inner| inner.timers.borrow_mut().wakers.insert(deadline, waker));
                match registered {
                    Some(key) => {
                        self.state = State::Waiting { key };
                        Poll::Pending
                    }
                    None => {
                        self.state = State::Done;
                        Poll::Ready(Err(Error::NoRunningLoop))
                    }
                }
            }
            State::Waiting { key } => {
                let key = *key;
                let waiting = event_loop::with_timer(key, |timers| {
                    if let Some(waker) = timers.get_mut(key)
                        && !waker.will_wake(cx.waker())
                    {
                        // The old waker goes after the heap's borrow (see `cancel_timer`).
                        return Some(std::mem::replace(waker, cx.waker().clone()));
                    }
                    None
                });
                match waiting {
                    Some(_replaced) => Poll::Pending,
                    // Fired (no heap holds it any more), so the deadline has passed.
                    None => {
                        self.state = State::Done;
                        Poll::Ready(Ok(()))
                    }
                }
            }
            State::Forever { checked } => {
                if !*checked {
                    if with_running(|_| ()).is_none() {
                        self.state = State::Done;
                        return Poll::Ready(Err(Error::NoRunningLoop));
                    }
                    *checked = true;
                }
                Poll::Pending
            }
            State::Yield { .. } | State::Done => Poll::Ready(Ok(())),
        }
    }

    #[inline(never)]
    fn cancel_timer(key: TimerKey) {
        // The payload is dropped after the heap's borrow ends: a waker's drop may free a
        // task. During shutdown the heap may be mid-drain (borrowed): the timer is being
        // discarded anyway.
        let _payload = event_loop::with_timer(key, |timers| timers.cancel(key));
    }
}

impl Drop for Sleep {
    #[inline]
    fn drop(&mut self) {
        if let State::Waiting { key } = &self.state {
            Self::cancel_timer(*key);
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline())
            .finish()
    }
}
