//! `Event`: a flag tasks can wait for.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::waiters::{Key, Waiters, poll_turn};

/// asyncio's `Event`: `set` wakes every waiting task; `wait` returns at once while the flag
/// is set. A task woken by `set` returns even if the flag was cleared again before it ran.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use aio_sync::Event;
///
/// aio_task::run(async {
///     let event = Rc::new(Event::new());
///     let e = event.clone();
///     let waiter = aio_task::create_task(async move { e.wait().await; "woke" })?;
///     aio_scheduler::sleep(0).await?;
///     event.set();
///     assert_eq!(waiter.await?, "woke");
///     assert!(event.is_set());
///     event.clear();
///     assert!(!event.is_set());
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[derive(Default)]
pub struct Event {
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    set: bool,
    waiters: Waiters,
}

impl Event {
    /// An event that is not set.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = aio_sync::Event::new();
    /// assert!(!event.is_set());
    /// ```
    pub fn new() -> Event {
        Event::default()
    }

    /// Sets the flag and wakes every waiting task.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = aio_sync::Event::new();
    /// event.set();
    /// assert!(event.is_set());
    /// aio_task::run(async move { event.wait().await })?; // returns at once while set
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn set(&self) {
        let mut state = self.state.borrow_mut();
        if !state.set {
            state.set = true;
            state.waiters.pop_all();
        }
    }

    /// Clears the flag.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = aio_sync::Event::new();
    /// event.set();
    /// event.clear();
    /// assert!(!event.is_set());
    /// ```
    pub fn clear(&self) {
        self.state.borrow_mut().set = false;
    }

    /// Whether the flag is set.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = aio_sync::Event::new();
    /// assert!(!event.is_set());
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.state.borrow().set
    }

    /// Waits until the flag is set.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: waiting consumes nothing. Dropping the future removes it from
    /// the waiters and changes neither the flag nor what other waiters see.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_task::{Error, run, wait_for};
    ///
    /// run(async {
    ///     let event = aio_sync::Event::new();
    ///     assert!(matches!(wait_for(event.wait(), 0.01).await, Err(Error::Timeout)));
    ///     event.set();
    ///     event.wait().await;
    ///     Ok::<_, Error>(())
    /// })??;
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller]
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            at: std::panic::Location::caller(),
            event: self,
            key: None,
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}

/// The future returned by [`Event::wait`].
///
/// # Cancel safety
///
/// Cancel safe: dropping it only removes it from the waiters (see [`Event::wait`]).
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<'a> {
    /// Where it was created: reported as where the task waits (`aio_observe`).
    at: aio_observe::Site,
    event: &'a Event,
    key: Option<Key>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let (event, at) = (self.event, self.at);
        let mut state = event.state.borrow_mut();
        let free = state.set;
        poll_turn(&mut state.waiters, &mut self.key, free, cx, at).map(drop)
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.event.state.borrow_mut().waiters.remove(key);
        }
    }
}

impl fmt::Debug for Wait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait").finish_non_exhaustive()
    }
}
