//! The completion cell shared by [`Future`](crate::Future) and [`Task`](crate::Task): a result
//! slot, the wakers of whoever awaits it, and done callbacks.

use std::cell::{Cell, UnsafeCell};
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use aio_scheduler::EventLoop;

use crate::Error;

/// Identifies a done callback, for `remove_done_callback`.
///
/// # Examples
///
/// ```
/// use aio_task::{EventLoopExt, Future};
/// let lp = aio_scheduler::EventLoop::new()?;
/// let fut: Future<u8> = lp.create_future();
/// let id = fut.add_done_callback(|_| unreachable!("removed"));
/// assert!(fut.remove_done_callback(id));
/// assert!(!fut.remove_done_callback(id));
/// # Ok::<(), aio_task::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallbackId(u64);

/// How the outcome ended, kept after the value is taken.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Finished,
    Failed,
    Cancelled,
}

/// Who is told of completion, in registration order: asyncio wakes an awaiting task through
/// a done callback too, so waiters and callbacks share one queue.
enum Listener<H> {
    Waker(Waker),
    Callback(CallbackId, Box<dyn FnOnce(&H)>),
}

/// Rarely used parts, allocated on first use: listeners beyond the first waiter, a task's
/// name once it is set, the message of a requested cancellation.
struct Extra<H> {
    listeners: Vec<Listener<H>>,
    next_callback: u64,
    name: Option<Box<str>>,
    cancel_message: Option<Arc<str>>,
    /// Where the task was created (recorded in debug mode only).
    created_at: Option<&'static std::panic::Location<'static>>,
    /// A combinator waiting for this outcome through a done callback (`gather`, `wait`,
    /// `as_completed`, a `TaskGroup`): who awaits it, for the await graph.
    awaited_by: Option<std::rc::Weak<dyn crate::observe::Awaiter>>,
}

impl<H> Default for Extra<H> {
    fn default() -> Self {
        Extra {
            listeners: Vec::new(),
            next_callback: 0,
            name: None,
            cancel_message: None,
            created_at: None,
            awaited_by: None,
        }
    }
}

/// The completion cell. `H` is the handle type passed to done callbacks. The owner knows the
/// loop and passes it in where callbacks are scheduled, which keeps a task's cell small.
pub(crate) struct Core<T, H> {
    /// The value, from completion until an `.await` takes it: initialized exactly while
    /// `has_value` is set. No tag of its own (an `Option<T>` adds 8 bytes to a `T` without a
    /// niche, such as a `u64`): the flag sits with the other flags, and the status says which
    /// of `value` and `error` holds the outcome, so a task of `()` keeps its outcome in the 8
    /// bytes of `error` (an enum of pending, value, error and taken took 16).
    value: UnsafeCell<MaybeUninit<T>>,
    has_value: Cell<bool>,
    /// The error (boxed: errors are rare), until an `.await` takes it.
    error: Cell<Option<Box<Error>>>,
    status: Cell<Status>,
    retrieved: Cell<bool>,
    /// A task's cancel requests (see `task.rs`): here, where it shares the padding after the
    /// two flags, rather than in the task's header, where it took eight bytes. Unused by
    /// futures (at no cost to them).
    pub(crate) cancels: Cell<u32>,
    waiter: Cell<Option<Waker>>,
    extra: Cell<Option<Box<Extra<H>>>>,
}

impl<T, H> Drop for Core<T, H> {
    fn drop(&mut self) {
        drop(self.take_value());
    }
}

impl<T, H> Core<T, H> {
    /// Stores the value (the outcome is set once: there is none yet).
    fn put_value(&self, value: T) {
        debug_assert!(!self.has_value.get(), "the outcome is set once");
        // SAFETY: no value is stored (`has_value` is clear), so nothing is overwritten, and
        // no reference into the cell is alive: `take_value` moves the value out, and nothing
        // else reads it.
        unsafe { (*self.value.get()).write(value) };
        self.has_value.set(true);
    }

    /// Moves the value out, if one is stored.
    fn take_value(&self) -> Option<T> {
        if !self.has_value.replace(false) {
            return None;
        }
        // SAFETY: `has_value` was set, so the value is initialized; clearing the flag first
        // makes this the only read of it.
        Some(unsafe { (*self.value.get()).assume_init_read() })
    }

    pub(crate) fn new() -> Self {
        Core {
            value: UnsafeCell::new(MaybeUninit::uninit()),
            has_value: Cell::new(false),
            error: Cell::new(None),
            status: Cell::new(Status::Pending),
            retrieved: Cell::new(false),
            cancels: Cell::new(0),
            waiter: Cell::new(None),
            extra: Cell::new(None),
        }
    }

    pub(crate) fn done(&self) -> bool {
        self.status.get() != Status::Pending
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.status.get() == Status::Cancelled
    }

    pub(crate) fn failed(&self) -> bool {
        self.status.get() == Status::Failed
    }

    fn with_extra<R>(&self, f: impl FnOnce(&mut Extra<H>) -> R) -> R {
        let mut extra = self.extra.take().unwrap_or_default();
        let r = f(&mut extra);
        self.extra.set(Some(extra));
        r
    }

    /// Reads the lazily allocated part without allocating it.
    fn peek_extra<R>(&self, f: impl FnOnce(Option<&Extra<H>>) -> R) -> R {
        let extra = self.extra.take();
        let r = f(extra.as_deref());
        self.extra.set(extra);
        r
    }

    pub(crate) fn name(&self) -> Option<String> {
        self.peek_extra(|e| e.and_then(|e| e.name.as_deref().map(str::to_owned)))
    }

    pub(crate) fn set_name(&self, name: String) {
        self.with_extra(|e| e.name = Some(name.into_boxed_str()));
    }

    pub(crate) fn created_at(&self) -> Option<&'static std::panic::Location<'static>> {
        self.peek_extra(|e| e.and_then(|e| e.created_at))
    }

    pub(crate) fn set_created_at(&self, location: &'static std::panic::Location<'static>) {
        self.with_extra(|e| e.created_at = Some(location));
    }

    pub(crate) fn cancel_message(&self) -> Option<Arc<str>> {
        self.peek_extra(|e| e.and_then(|e| e.cancel_message.clone()))
    }

    pub(crate) fn set_cancel_message(&self, message: &str) {
        self.with_extra(|e| e.cancel_message = Some(Arc::from(message)));
    }

    /// Records the combinator that waits for this outcome (see [`crate::observe`]).
    pub(crate) fn set_awaited_by(&self, awaiter: std::rc::Weak<dyn crate::observe::Awaiter>) {
        self.with_extra(|e| e.awaited_by = Some(awaiter));
    }

    /// Calls `f` with every waker waiting for this outcome: those of awaits in progress, and
    /// those the combinator recorded by [`set_awaited_by`](Self::set_awaited_by) holds. Only
    /// the await graph asks (never on a hot path).
    pub(crate) fn for_each_waiter(&self, f: &mut dyn FnMut(&Waker)) {
        let waiter = self.waiter.take();
        if let Some(waker) = &waiter {
            f(waker);
        }
        self.waiter.set(waiter);
        let awaiter = self.peek_extra(|extra| {
            if let Some(extra) = extra {
                for listener in &extra.listeners {
                    if let Listener::Waker(waker) = listener {
                        f(waker);
                    }
                }
            }
            extra.and_then(|e| e.awaited_by.as_ref()?.upgrade())
        });
        if let Some(awaiter) = awaiter {
            awaiter.for_each_waker(f);
        }
    }

    pub(crate) fn remove_callback(&self, id: CallbackId) -> bool {
        self.with_extra(|extra| {
            let before = extra.listeners.len();
            extra
                .listeners
                .retain(|l| !matches!(l, Listener::Callback(cid, _) if *cid == id));
            extra.listeners.len() != before
        })
    }
}

impl<T, H: Clone + 'static> Core<T, H> {
    /// Sets the outcome, wakes every waiter and schedules the done callbacks (in registration
    /// order, through `call_soon`). Returns false if the outcome was already set.
    pub(crate) fn complete(
        &self,
        result: Result<T, Error>,
        handle: &H,
        event_loop: Option<EventLoop>,
    ) -> bool {
        if self.done() {
            return false;
        }
        self.status.set(match &result {
            Ok(_) => Status::Finished,
            Err(e) if e.is_cancelled() => Status::Cancelled,
            Err(_) => Status::Failed,
        });
        match result {
            Ok(value) => self.put_value(value),
            Err(error) => self.error.set(Some(Box::new(error))),
        }
        // The first waiter registered before any other listener (see `register`).
        if let Some(waker) = self.waiter.take() {
            waker.wake();
        }
        let Some(mut extra) = self.extra.take() else {
            return true;
        };
        let listeners = std::mem::take(&mut extra.listeners);
        self.extra.set(Some(extra));
        // Waking a task and `call_soon` both append to the ready queue, so the listeners run
        // in the next iteration in the order they registered. A closed or dropped loop runs
        // no more callbacks (they are dropped, as a closed asyncio loop drops its ready
        // queue); waiters are still woken.
        let event_loop = event_loop.filter(|l| !l.is_closed());
        for listener in listeners {
            match listener {
                Listener::Waker(waker) => waker.wake(),
                Listener::Callback(_, callback) => {
                    if let Some(event_loop) = &event_loop {
                        let handle = handle.clone();
                        let _ = event_loop.call_soon(move || callback(&handle));
                    }
                }
            }
        }
        true
    }

    pub(crate) fn add_callback(
        &self,
        callback: Box<dyn FnOnce(&H)>,
        handle: &H,
        event_loop: Option<EventLoop>,
    ) -> CallbackId {
        let id = self.with_extra(|extra| {
            extra.next_callback += 1;
            CallbackId(extra.next_callback)
        });
        if self.done() {
            if let Some(event_loop) = event_loop {
                let handle = handle.clone();
                let _ = event_loop.call_soon(move || callback(&handle));
            }
        } else {
            self.with_extra(|extra| extra.listeners.push(Listener::Callback(id, callback)));
        }
        id
    }
}

impl<T, H> Core<T, H> {
    /// Registers `cx`'s waker to be woken on completion, keeping registration order with
    /// the done callbacks. The common case (one awaiter, no callbacks) allocates nothing.
    fn register(&self, cx: &mut Context<'_>) {
        let waker = cx.waker();
        if let Some(w) = self.waiter.take() {
            let same = w.will_wake(waker);
            self.waiter.set(Some(w));
            if same {
                return;
            }
        } else if self.peek_extra(|extra| extra.is_none_or(|e| e.listeners.is_empty())) {
            self.waiter.set(Some(waker.clone()));
            return;
        }
        self.with_extra(|extra| {
            let known = extra
                .listeners
                .iter()
                .any(|l| matches!(l, Listener::Waker(w) if w.will_wake(waker)));
            if !known {
                extra.listeners.push(Listener::Waker(waker.clone()));
            }
        });
    }

    /// Polls for completion without taking the value.
    pub(crate) fn poll_done(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.done() {
            return Poll::Ready(());
        }
        self.register(cx);
        Poll::Pending
    }

    /// Polls for the outcome and moves it out (what `.await` does).
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        if !self.done() {
            self.register(cx);
            return Poll::Pending;
        }
        let taken = match self.take_value() {
            Some(value) => Ok(value),
            None => match self.error.take() {
                Some(error) => Err(*error),
                None => {
                    return Poll::Ready(Err(Error::InvalidState(
                        "the result was already taken by another await",
                    )));
                }
            },
        };
        self.retrieved.set(true);
        Poll::Ready(taken)
    }

    /// The error, if the outcome is one (without marking it retrieved).
    pub(crate) fn error(&self) -> Option<Error> {
        let error = self.error.take();
        let copy = error.as_deref().cloned();
        self.error.set(error);
        copy
    }

    /// asyncio's `exception()`: `Ok(None)` for a result, `Ok(Some(error))` for an error (now
    /// retrieved), `Err` with the cancellation for a cancelled outcome, `InvalidState` while
    /// pending.
    pub(crate) fn exception(&self) -> Result<Option<Error>, Error> {
        match self.status.get() {
            Status::Pending => Err(Error::InvalidState("Exception is not set.")),
            Status::Finished => Ok(None),
            Status::Cancelled => Err(self.error().unwrap_or(Error::cancelled(None))),
            Status::Failed => match self.error() {
                Some(error) => {
                    self.retrieved.set(true);
                    Ok(Some(error))
                }
                None => Err(Error::InvalidState(
                    "the error was already taken by an await",
                )),
            },
        }
    }

    /// An error nobody ever looked at, for the "exception was never retrieved" report.
    pub(crate) fn unretrieved_error(&self) -> Option<Error> {
        if self.retrieved.get() {
            return None;
        }
        self.error().filter(Error::is_reportable)
    }

    pub(crate) fn mark_retrieved(&self) {
        self.retrieved.set(true);
    }
}

impl<T: Clone, H> Core<T, H> {
    /// A copy of the outcome (asyncio's `result()`).
    pub(crate) fn result(&self) -> Result<T, Error> {
        if !self.done() {
            return Err(Error::InvalidState("Result is not set."));
        }
        let value = self.take_value();
        let result = match &value {
            Some(value) => Ok(value.clone()),
            None => match self.error() {
                Some(error) => Err(error),
                None => {
                    return Err(Error::InvalidState(
                        "the result was already taken by an await",
                    ));
                }
            },
        };
        if let Some(value) = value {
            self.put_value(value);
        }
        self.retrieved.set(true);
        result
    }
}

/// Reports an error that was never retrieved through the loop's exception handler (or the
/// default one, if the loop is gone).
pub(crate) fn report_unretrieved(
    event_loop: Option<EventLoop>,
    message: &str,
    task: Option<String>,
    error: Error,
) {
    #[cfg(feature = "tracing")]
    tracing::error!(
        target: "aio::task",
        task = task.as_deref(),
        error = %error,
        "{message}"
    );
    let mut ctx =
        aio_scheduler::ExceptionContext::new(message).with_error(std::sync::Arc::new(error));
    if let Some(task) = task {
        ctx = ctx.with_task(task);
    }
    match event_loop {
        Some(event_loop) => event_loop.call_exception_handler(&ctx),
        None => aio_scheduler::EventLoop::default_exception_handler(&ctx),
    }
}
