//! `timeout`, `timeout_at` and `wait_for`: a deadline around a future.

use std::cell::Cell;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use aio_scheduler::{Delay, IntoDelay, Sleep, sleep_until};
use pin_project_lite::pin_project;

use crate::Error;

/// A deadline that can be read, moved or cancelled while the future it guards runs
/// (asyncio 3.11's `Timeout` context manager). Create it with [`timeout`] or
/// [`timeout_at`], then guard a future with [`Timeout::run`]. Clones share the deadline, so
/// the guarded code itself can [`reschedule`](Timeout::reschedule) it.
///
/// When the deadline passes, the guarded future is dropped (its destructors run) and the scope
/// gives [`Error::Timeout`]. Scopes nest: only the one that expired reports `Timeout`; an outer
/// scope expiring drops the inner scope along with everything in it.
///
/// # Cancel safety
///
/// A `Timeout` is not a future: dropping it changes nothing. The future [`Timeout::run`] returns
/// ([`Timed`]) is as cancel safe as the future it guards: dropping it drops that future
/// (which cancels an awaited [`Task`](crate::Task)) and cancels the timer.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use aio_scheduler::sleep;
/// use aio_task::{Error, run, timeout};
///
/// run(async {
///     let deadline = timeout(0.01);
///     let scope = deadline.clone();
///     let outcome = deadline
///         .run(async move {
///             let later = std::time::Instant::now() + Duration::from_millis(50);
///             scope.reschedule(Some(later)).unwrap();
///             sleep(0.02).await.unwrap(); // would have expired at 10 ms
///             "finished"
///         })
///         .await;
///     assert_eq!(outcome?, "finished");
///     assert!(!deadline.expired());
///
///     let late = timeout(0.01);
///     assert!(matches!(late.run(sleep(3600)).await, Err(Error::Timeout)));
///     assert!(late.expired());
///     Ok::<_, Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[derive(Clone)]
pub struct Timeout {
    state: Rc<TimeoutState>,
}

struct TimeoutState {
    when: Cell<Option<Instant>>,
    /// Bumped by `reschedule`, so a running scope re-arms its timer.
    generation: Cell<u64>,
    expired: Cell<bool>,
    /// The guarded future finished before the deadline (asyncio's "finished" state).
    finished: Cell<bool>,
    /// An invalid delay given to `timeout`, reported when the scope runs.
    error: Cell<Option<Error>>,
    /// The running scope, woken by `reschedule` to re-arm.
    waker: Cell<Option<Waker>>,
}

/// A [`Timeout`] expiring `delay` from now (`f64` seconds, whole seconds, or a `Duration`).
/// As asyncio's `timeout(delay)` computes `loop.time() + delay` when called, the deadline
/// counts from this call, not from when the scope first runs.
///
/// A delay of zero or less expires at once: as under asyncio's `timeout(0)`, the guarded
/// future runs to its first suspension, so one that never waits finishes and anything that
/// would wait gets [`Error::Timeout`]. A negative delay is kept, so [`when`](Timeout::when)
/// lies in the past; an infinite one (`f64::INFINITY`, `Duration::MAX`) never expires and its
/// `when` is `None`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use aio_task::{run, timeout};
///
/// let past = timeout(-11);
/// assert!(past.when().unwrap() + Duration::from_secs(10) < Instant::now());
/// assert!(timeout(f64::INFINITY).when().is_none());
/// run(async {
///     assert!(timeout(0.5).run(aio_scheduler::sleep(0.01)).await.is_ok());
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn timeout(delay: impl IntoDelay) -> Timeout {
    Timeout {
        state: Rc::new(TimeoutState::after(delay)),
    }
}

/// A [`Timeout`] expiring at `when` (`None`: no deadline until rescheduled).
///
/// # Examples
///
/// ```
/// use aio_task::{run, timeout_at};
/// run(async {
///     let t = timeout_at(None);
///     assert_eq!(t.run(async { 5 }).await?, 5);
///     assert!(t.when().is_none());
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn timeout_at(when: Option<Instant>) -> Timeout {
    Timeout {
        state: Rc::new(TimeoutState::new(when)),
    }
}

impl TimeoutState {
    fn new(when: Option<Instant>) -> TimeoutState {
        TimeoutState {
            when: Cell::new(when),
            generation: Cell::new(0),
            expired: Cell::new(false),
            finished: Cell::new(false),
            error: Cell::new(None),
            waker: Cell::new(None),
        }
    }

    /// asyncio's `timeout(delay)`: the deadline `delay` from now (`None`: never), or the
    /// delay's error.
    fn after(delay: impl IntoDelay) -> TimeoutState {
        match delay.into_delay() {
            Ok(delay) => TimeoutState::new(delay.deadline(aio_scheduler::now())),
            Err(error) => TimeoutState::failed(error.into()),
        }
    }

    fn failed(error: Error) -> TimeoutState {
        let state = TimeoutState::new(None);
        state.error.set(Some(error));
        state
    }
}

/// What [`wait_for`] accepts: a [`Task`](crate::Task) by reference, an aio
/// [`Future`](crate::Future), or any other future — a coroutine, in asyncio's words.
///
/// The difference matters only for a deadline that has already passed: a task or future is
/// looked at once (a finished one gives its result, as asyncio's `wait_for(done, 0)`; a
/// pending one is cancelled), while a coroutine is never started (asyncio's
/// `wait_for(coro, 0)` cancels the task it wraps the coroutine in before that task ever runs).
/// A task given by value is a future like any other, so it counts as a coroutine here: with
/// an expired deadline it is dropped unpolled, which neither takes its result nor cancels it.
/// Give `&task` for asyncio's treatment of a task (with a deadline still ahead, both forms
/// behave the same: the task is awaited, and cancelled if the deadline passes).
///
/// # Examples
///
/// ```
/// use aio_task::{Awaitable, Error, create_task, run, wait_for};
///
/// fn is_coroutine<A: Awaitable>(_: &A) -> bool {
///     A::IS_COROUTINE
/// }
/// run(async {
///     let task = create_task(async { 1 })?;
///     assert!(!is_coroutine(&&task));
///     assert!(is_coroutine(&task.clone())); // by value: a future like any other
///     assert!(is_coroutine(&async { 2 }));
///     aio_scheduler::sleep(0).await?; // the task finishes
///     assert_eq!(wait_for(&task, 0).await??, 1);
///     assert!(matches!(wait_for(async { 2 }, 0).await, Err(Error::Timeout)));
///     Ok::<_, Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub trait Awaitable {
    /// The future [`wait_for`] polls.
    type Future: Future;

    /// Whether polling the future runs code of its own (a coroutine, any plain future) rather
    /// than only looking at something already scheduled (a task, a settable future).
    const IS_COROUTINE: bool;

    /// The future to poll.
    #[track_caller]
    fn into_awaitable(self) -> Self::Future;
}

impl<F: Future> Awaitable for F {
    type Future = F;
    const IS_COROUTINE: bool = true;

    #[track_caller]
    fn into_awaitable(self) -> F {
        self
    }
}

/// The task itself: a new handle to it, which cancels the task if dropped while it waits (at
/// the deadline), as asyncio's `wait_for` does.
impl<T: 'static> Awaitable for &crate::Task<T> {
    type Future = crate::Task<T>;
    const IS_COROUTINE: bool = false;

    fn into_awaitable(self) -> crate::Task<T> {
        self.clone()
    }
}

/// As the future by value: the future itself is shared, not copied.
impl<T: 'static> Awaitable for &crate::Future<T> {
    type Future = crate::Wait<T>;
    const IS_COROUTINE: bool = false;

    fn into_awaitable(self) -> crate::Wait<T> {
        self.clone().into_future()
    }
}

impl<T: 'static> Awaitable for crate::Future<T> {
    type Future = crate::Wait<T>;
    const IS_COROUTINE: bool = false;

    #[track_caller]
    fn into_awaitable(self) -> crate::Wait<T> {
        self.into_future()
    }
}

/// Awaits `future` for at most `delay` (asyncio's `wait_for`): its output, or
/// [`Error::Timeout`] after dropping it (which cancels an awaited task). With a delay of zero
/// or less, as in asyncio, a finished [`Task`](crate::Task) (given as `&task`) or
/// [`Future`](crate::Future) gives its result, a pending one is cancelled, and a coroutine (any
/// other future, a task given by value included) is dropped without ever being polled: its
/// body never starts (see [`Awaitable`]). An infinite delay never times out.
///
/// The delay counts from the first poll, not from this call: asyncio's `wait_for` is a
/// coroutine, whose `timeout()` scope starts when it first runs (where
/// [`timeout`](crate::timeout) counts from its call). That first poll polls `future` first:
/// a future that is ready at once costs no clock reading and no timer. Only if it is still
/// pending is the clock read (once) and the timer armed, so the deadline counts from the end
/// of `future`'s first step — the same instant unless that step blocks the thread, which
/// asyncio would count against the deadline.
///
/// # Cancel safety
///
/// As cancel safe as `future`: dropping a `wait_for` drops `future` (cancelling an awaited
/// task) and its timer.
///
/// # Errors
///
/// [`Error::Timeout`]; [`Error::Runtime`] for an invalid delay or outside a running loop.
///
/// # Examples
///
/// ```
/// use aio_scheduler::sleep;
/// use aio_task::{Error, run, wait_for};
///
/// run(async {
///     assert_eq!(wait_for(async { 1 }, 1.0).await?, 1);
///     assert!(matches!(wait_for(sleep(3600), 0.01).await, Err(Error::Timeout)));
///     Ok::<_, Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[track_caller]
pub fn wait_for<A: Awaitable>(future: A, delay: impl IntoDelay) -> WaitFor<A::Future> {
    WaitFor {
        future: Some(future.into_awaitable()),
        stage: Stage::Start(delay.into_delay().map_err(Error::from)),
        start_if_due: !A::IS_COROUTINE,
        at: std::panic::Location::caller(),
    }
}

impl Timeout {
    /// The current deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use aio_task::timeout_at;
    ///
    /// let at = Instant::now() + Duration::from_secs(5);
    /// let scope = timeout_at(Some(at));
    /// assert_eq!(scope.when(), Some(at));
    /// scope.reschedule(None)?;
    /// assert_eq!(scope.when(), None);
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn when(&self) -> Option<Instant> {
        self.state.when.get()
    }

    /// Moves the deadline (`None` removes it), before the scope runs or while the guarded
    /// future runs.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] once the scope is over, as asyncio's `RuntimeError`: "Cannot
    /// change state of expired Timeout" after the deadline fired, "Cannot change state of
    /// finished Timeout" after the guarded future finished in time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use aio_task::{Error, run, timeout};
    ///
    /// run(async {
    ///     let scope = timeout(3600);
    ///     scope.reschedule(Some(Instant::now() + Duration::from_secs(60)))?;
    ///     assert_eq!(scope.run(async { 1 }).await?, 1);
    ///     assert!(matches!(scope.reschedule(None), Err(Error::InvalidState(_))));
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn reschedule(&self, when: Option<Instant>) -> Result<(), Error> {
        if self.state.expired.get() {
            return Err(Error::InvalidState(
                "Cannot change state of expired Timeout",
            ));
        }
        if self.state.finished.get() {
            return Err(Error::InvalidState(
                "Cannot change state of finished Timeout",
            ));
        }
        self.state.when.set(when);
        self.state.generation.set(self.state.generation.get() + 1);
        if let Some(waker) = self.state.waker.take() {
            waker.wake();
        }
        Ok(())
    }

    /// Whether the deadline passed while guarding a future.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{run, timeout};
    ///
    /// run(async {
    ///     let scope = timeout(0.01);
    ///     assert!(!scope.expired());
    ///     assert!(scope.run(aio_scheduler::sleep(3600)).await.is_err());
    ///     assert!(scope.expired());
    ///     let in_time = timeout(1);
    ///     in_time.run(async {}).await?;
    ///     assert!(!in_time.expired());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn expired(&self) -> bool {
        self.state.expired.get()
    }

    /// Guards `future` with this deadline.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `future`: dropping the [`Timed`] drops `future` and cancels the timer. If
    /// it is dropped while still running after the deadline passed (an outer scope expired first,
    /// say), the scope still counts as [`expired`](Timeout::expired).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Error, create_task, run, timeout};
    ///
    /// run(async {
    ///     let task = create_task(async { 1 })?;
    ///     assert_eq!(timeout(1).run(task).await??, 1); // a task is awaited as `.await` would
    ///     let slow = timeout(0.01).run(aio_scheduler::sleep(3600));
    ///     assert!(matches!(slow.await, Err(Error::Timeout)));
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn run<F: IntoFuture>(&self, future: F) -> Timed<F::IntoFuture> {
        Timed::new(future.into_future(), self.clone())
    }
}

impl fmt::Debug for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("when", &self.when())
            .field("expired", &self.expired())
            .finish()
    }
}

pin_project! {
    /// A future guarded by a [`Timeout`]: what [`Timeout::run`] returns.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as the guarded future: dropping the scope drops that future and the
    /// timer. Dropped after its deadline passed (an outer scope expired first), the scope
    /// still counts as [`expired`](Timeout::expired), as in asyncio.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Timed, run, timeout};
    ///
    /// run(async {
    ///     let scope = timeout(1.0);
    ///     let guarded: Timed<_> = scope.run(async { 3 });
    ///     assert_eq!(guarded.await?, 3);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timed<F> {
        #[pin]
        future: Option<F>,
        scope: Timeout,
        timer: Option<Sleep>,
        // The generation the timer was armed for.
        armed: Option<u64>,
        started: bool,
    }

    impl<F> PinnedDrop for Timed<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // Dropped while still guarding its future, after its deadline passed: an outer
            // scope expired around this one (or the task was cancelled) before this scope
            // could look at its own timer. asyncio's timer callback marks a scope expired
            // when it fires, whoever ends the scope, so two nested scopes whose deadlines
            // both passed are both `expired()`.
            if *this.started && this.future.is_some() {
                let state = &this.scope.state;
                if !state.expired.get()
                    && state.when.get().is_some_and(|w| w <= aio_scheduler::now())
                {
                    state.expired.set(true);
                }
            }
        }
    }
}

impl<F> Timed<F> {
    fn new(future: F, scope: Timeout) -> Timed<F> {
        Timed {
            future: Some(future),
            scope,
            timer: None,
            armed: None,
            started: false,
        }
    }
}

impl<F: Future> Future for Timed<F> {
    type Output = Result<F::Output, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let state = &this.scope.state;
        if let Some(error) = state.error.take() {
            this.future.set(None);
            return Poll::Ready(Err(error));
        }
        if this.future.is_none() {
            return Poll::Ready(Err(Error::InvalidState("polled after completion")));
        }
        if !*this.started {
            *this.started = true;
            if state
                .when
                .get()
                .is_some_and(|when| when <= aio_scheduler::now())
            {
                // Already expired: as under asyncio's `timeout(0)`, the future runs up to its
                // first suspension; anything still pending is dropped, which cancels an
                // awaited task.
                let polled = this.future.as_mut().as_pin_mut().map(|f| f.poll(cx));
                this.future.set(None);
                return Poll::Ready(match polled {
                    Some(Poll::Ready(output)) => {
                        state.finished.set(true);
                        Ok(output)
                    }
                    _ => {
                        state.expired.set(true);
                        Err(Error::Timeout)
                    }
                });
            }
            // The deadline has not passed and no timer exists yet: poll the future first,
            // and arm the timer only if it waits. A future that is ready at once never
            // touches the timer heap.
            if let Some(future) = this.future.as_mut().as_pin_mut() {
                if let Poll::Ready(output) = future.poll(cx) {
                    this.future.set(None);
                    state.finished.set(true);
                    return Poll::Ready(Ok(output));
                }
            }
            if let Poll::Ready(fired) = poll_deadline(state, this.timer, this.armed, cx) {
                this.future.set(None);
                state.waker.set(None);
                return Poll::Ready(fired);
            }
            state.waker.set(Some(cx.waker().clone()));
            return Poll::Pending;
        }
        // This scope's deadline is checked before the guarded future runs: when an outer and
        // an inner deadline have both passed, the outer scope is the one that expired (the
        // inner one never gets to report), as in asyncio.
        if let Poll::Ready(fired) = poll_deadline(state, this.timer, this.armed, cx) {
            this.future.set(None);
            state.waker.set(None);
            return Poll::Ready(fired);
        }
        if let Some(future) = this.future.as_mut().as_pin_mut() {
            if let Poll::Ready(output) = future.poll(cx) {
                this.future.set(None);
                state.waker.set(None);
                state.finished.set(true);
                return Poll::Ready(Ok(output));
            }
        }
        // The guarded future may have moved the deadline: then re-arm (and check) once more.
        let moved = *this.armed != Some(state.generation.get());
        if moved && let Poll::Ready(fired) = poll_deadline(state, this.timer, this.armed, cx) {
            this.future.set(None);
            state.waker.set(None);
            return Poll::Ready(fired);
        }
        state.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

/// (Re-)arms the timer if the deadline moved since it was armed, and polls it: `Ready` with
/// the scope's outcome once it fired.
fn poll_deadline<T>(
    state: &TimeoutState,
    timer: &mut Option<Sleep>,
    armed: &mut Option<u64>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, Error>> {
    if *armed != Some(state.generation.get()) {
        *armed = Some(state.generation.get());
        *timer = state.when.get().map(sleep_until);
    }
    let Some(sleep) = timer.as_mut() else {
        return Poll::Pending;
    };
    // The scope's own timer is not where the task waits: the await it guards is.
    let parked = aio_observe::replace(None);
    let polled = Pin::new(sleep).poll(cx);
    aio_observe::replace(parked);
    let fired = std::task::ready!(polled);
    *timer = None;
    Poll::Ready(match fired {
        Ok(()) => {
            state.expired.set(true);
            Err(Error::Timeout)
        }
        Err(error) => Err(error.into()),
    })
}

impl<F> fmt::Debug for Timed<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = &self.scope.state;
        f.debug_struct("Timed")
            .field("when", &state.when.get())
            .field("expired", &state.expired.get())
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The future [`wait_for`] returns: `future`'s output, or [`Error::Timeout`] once the
    /// delay has passed (counted from the first poll).
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `future`: dropping it drops `future` (cancelling an awaited task)
    /// and the timer.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{WaitFor, run, wait_for};
    ///
    /// run(async {
    ///     let bounded: WaitFor<_> = wait_for(async { "in time" }, 1.0);
    ///     assert_eq!(bounded.await?, "in time");
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    #[must_use = "futures do nothing unless awaited"]
    pub struct WaitFor<F> {
        #[pin]
        future: Option<F>,
        stage: Stage,
        // Whether a delay of zero or less still polls the future once: yes for a task or
        // future (asyncio's `wait_for(done, 0)` gives its result), no for a coroutine, which
        // asyncio never starts.
        start_if_due: bool,
        // The `wait_for` call: where the task waits when the awaited future reports no line
        // of its own (awaiting a task, or a future of another crate).
        at: aio_observe::Site,
    }
}

/// Where a [`WaitFor`] is. Nobody else sees its deadline (unlike a [`Timeout`]'s), so it
/// needs no shared state: a `wait_for` allocates nothing.
enum Stage {
    /// Not polled yet: the delay, or why it is not one.
    Start(Result<Delay, Error>),
    /// The future waits; the timer (`None`: an infinite delay).
    Waiting(Option<Sleep>),
    Done,
}

impl<F: Future> Future for WaitFor<F> {
    type Output = Result<F::Output, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let at = self.at;
        let polled = self.poll_guarded(cx);
        if polled.is_pending() {
            // The guarded await's own line if it reported one, else the `wait_for` call (a
            // task polled from here reports this file's line: not the user's either).
            let inner = aio_observe::replace(None).filter(|site| site.file() != file!());
            aio_observe::park(inner.unwrap_or(at));
        }
        polled
    }
}

impl<F: Future> WaitFor<F> {
    fn poll_guarded(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<F::Output, Error>> {
        let mut this = self.project();
        if let Stage::Start(delay) = this.stage {
            let delay = match delay {
                Ok(delay) => *delay,
                Err(error) => {
                    let error = error.clone(); // rare: an invalid delay
                    this.future.set(None);
                    *this.stage = Stage::Done;
                    return Poll::Ready(Err(error));
                }
            };
            if delay.is_due() {
                // Expired before it began (asyncio's `wait_for(aw, 0)`): a task or future is
                // looked at once, a coroutine is dropped unpolled.
                let polled = match this.future.as_mut().as_pin_mut() {
                    Some(future) if *this.start_if_due => future.poll(cx),
                    _ => Poll::Pending,
                };
                this.future.set(None);
                *this.stage = Stage::Done;
                return Poll::Ready(match polled {
                    Poll::Ready(output) => Ok(output),
                    Poll::Pending => Err(Error::Timeout),
                });
            }
            // The future first: one that is ready at once costs no clock reading and no timer.
            if let Some(future) = this.future.as_mut().as_pin_mut() {
                if let Poll::Ready(output) = future.poll(cx) {
                    this.future.set(None);
                    *this.stage = Stage::Done;
                    return Poll::Ready(Ok(output));
                }
            }
            // It waits: the one clock reading, and the timer.
            let timer = delay.deadline(aio_scheduler::now()).map(sleep_until);
            *this.stage = Stage::Waiting(timer);
            return match poll_timer(this.stage, cx) {
                Poll::Ready(outcome) => {
                    this.future.set(None);
                    Poll::Ready(outcome.map(|never| match never {}))
                }
                Poll::Pending => Poll::Pending,
            };
        }
        // The deadline is checked before the future runs, as in a `Timeout` scope.
        if let Poll::Ready(outcome) = poll_timer(this.stage, cx) {
            this.future.set(None);
            return Poll::Ready(outcome.map(|never| match never {}));
        }
        match this.future.as_mut().as_pin_mut() {
            Some(future) => match future.poll(cx) {
                Poll::Ready(output) => {
                    this.future.set(None);
                    *this.stage = Stage::Done;
                    Poll::Ready(Ok(output))
                }
                Poll::Pending => Poll::Pending,
            },
            None => Poll::Ready(Err(Error::InvalidState("polled after completion"))),
        }
    }
}

/// Polls a waiting `wait_for`'s timer: `Ready` with the outcome once it fired (or failed).
fn poll_timer(
    stage: &mut Stage,
    cx: &mut Context<'_>,
) -> Poll<Result<std::convert::Infallible, Error>> {
    let Stage::Waiting(Some(timer)) = stage else {
        return Poll::Pending;
    };
    // The timer is not where the task waits: the await `wait_for` guards is.
    let parked = aio_observe::replace(None);
    let polled = Pin::new(timer).poll(cx);
    aio_observe::replace(parked);
    let fired = std::task::ready!(polled);
    *stage = Stage::Done;
    Poll::Ready(Err(match fired {
        Ok(()) => Error::Timeout,
        Err(error) => error.into(),
    }))
}

impl<F> fmt::Debug for WaitFor<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match &self.stage {
            Stage::Start(_) => "not started",
            Stage::Waiting(_) => "waiting",
            Stage::Done => "done",
        };
        f.debug_struct("WaitFor")
            .field("stage", &stage)
            .finish_non_exhaustive()
    }
}
