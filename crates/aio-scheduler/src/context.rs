//! Python's `contextvars` (PEP 567): [`ContextVar`], [`Token`], [`Context`] and
//! [`copy_context`].
//!
//! Each thread has a *current context*: an immutable map from variables to values, replaced
//! (copy-on-write) by every [`ContextVar::set`]. The loop runs each callback in a copy of the
//! context that was current when it was scheduled (asyncio's `Handle`), and `aio-task` runs
//! each task in a copy of the context current when the task was created (asyncio's
//! `Task.__init__`), through [`TaskContext`].
//!
//! Cost: the map is an `Rc<HashMap>`, copied whole on `set` (fine for the handful of
//! variables a program has). Until some thread sets a variable or enters a context, a
//! process-wide flag is `false` and callbacks and task steps skip the context entirely (one
//! relaxed load of a static); afterwards each step swaps one thread-local pointer in and out.
//!
//! # Examples
//!
//! ```
//! use aio_scheduler::context::{ContextVar, copy_context};
//!
//! static REQUEST: ContextVar<u32> = ContextVar::new("request");
//!
//! assert_eq!(REQUEST.get(), None); // unset, no default: Python's LookupError
//! let token = REQUEST.set(7);
//! let snapshot = copy_context();
//! REQUEST.set(8);
//! assert_eq!(snapshot.run(|| REQUEST.get())?, Some(7)); // the copy kept 7
//! REQUEST.reset(&token)?;
//! assert_eq!(REQUEST.get(), None);
//! # Ok::<(), aio_scheduler::context::ContextError>(())
//! ```

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

type Map = HashMap<u64, Rc<dyn Any>>;

/// `true` once any thread has set a variable or entered a context: until then every context
/// is empty and the current context of every thread is `None`, so callbacks and task steps
/// need not swap anything. Invariant: a thread's `CURRENT` is `Some` only if this is `true`.
static IN_USE: AtomicBool = AtomicBool::new(false);

/// Keys of [`ContextVar`]s (0: not assigned yet).
static NEXT_VAR: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The current context; `None` is an empty context nobody holds.
    static CURRENT: Cell<Option<Context>> = const { Cell::new(None) };
}

#[inline]
fn in_use() -> bool {
    IN_USE.load(Ordering::Relaxed)
}

/// Whether no context is current on this thread.
#[inline]
fn none_current() -> bool {
    CURRENT.with(|c| {
        let cur = c.take();
        let none = cur.is_none();
        c.set(cur);
        none
    })
}

/// Makes `ctx` current, returning the previous one.
fn install(ctx: Option<Context>) -> Option<Context> {
    if ctx.is_some() && !in_use() {
        IN_USE.store(true, Ordering::Relaxed);
    }
    CURRENT.with(|c| c.replace(ctx))
}

/// The current context (a new reference, not a copy), if there is one.
fn current() -> Option<Context> {
    CURRENT.with(|c| {
        let cur = c.take();
        let out = cur.clone();
        c.set(cur);
        out
    })
}

/// The current context, creating (and installing) an empty one if there is none.
fn current_or_new() -> Context {
    if let Some(ctx) = current() {
        return ctx;
    }
    let ctx = Context::new();
    install(Some(ctx.clone()));
    ctx
}

/// Errors of [`ContextVar::reset`] and [`Context::run`]: PEP 567's `RuntimeError`s and
/// `ValueError`s.
///
/// # Examples
///
/// ```
/// use aio_scheduler::context::{ContextError, ContextVar};
/// let var = ContextVar::new("v");
/// let token = var.set(1);
/// var.reset(&token)?;
/// assert_eq!(var.reset(&token), Err(ContextError::TokenUsed));
/// # Ok::<(), ContextError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextError {
    /// `RuntimeError: Token has already been used once`.
    TokenUsed,
    /// `ValueError: Token was created by a different ContextVar`.
    TokenOtherVar,
    /// `ValueError: Token was created in a different Context`.
    TokenOtherContext,
    /// `RuntimeError: cannot enter context: ... is already entered`.
    AlreadyEntered,
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ContextError::TokenUsed => "Token has already been used once",
            ContextError::TokenOtherVar => "Token was created by a different ContextVar",
            ContextError::TokenOtherContext => "Token was created in a different Context",
            ContextError::AlreadyEntered => "cannot enter context: it is already entered",
        })
    }
}

impl std::error::Error for ContextError {}

struct Inner {
    data: RefCell<Option<Rc<Map>>>,
    entered: Cell<bool>,
}

/// A context: PEP 567's `contextvars.Context`, a mapping from [`ContextVar`]s to values.
///
/// `Clone` gives another reference to the *same* context (as assigning a Python object
/// does); [`copy`](Context::copy) gives a new context with the same values.
///
/// # Examples
///
/// ```
/// use aio_scheduler::context::{Context, ContextVar};
/// let var = ContextVar::new("v");
/// let ctx = Context::new();
/// ctx.run(|| var.set("inside"))?; // the set stays in `ctx`
/// assert_eq!(var.get(), None);
/// assert_eq!(ctx.get(&var), Some("inside"));
/// assert_eq!(ctx.run(|| var.get())?, Some("inside"));
/// # Ok::<(), aio_scheduler::context::ContextError>(())
/// ```
#[derive(Clone)]
pub struct Context(Rc<Inner>);

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

impl Context {
    /// An empty context (Python's `contextvars.Context()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = aio_scheduler::context::Context::new();
    /// assert!(ctx.is_empty());
    /// ```
    pub fn new() -> Context {
        Context::from_data(None)
    }

    fn from_data(data: Option<Rc<Map>>) -> Context {
        Context(Rc::new(Inner {
            data: RefCell::new(data),
            entered: Cell::new(false),
        }))
    }

    fn data(&self) -> Option<Rc<Map>> {
        self.0.data.borrow().clone()
    }

    /// A new context holding the same values (`Context.copy()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::context::{Context, ContextVar};
    /// let var = ContextVar::new("v");
    /// let a = Context::new();
    /// a.run(|| var.set(1))?;
    /// let b = a.copy();
    /// b.run(|| var.set(2))?;
    /// assert_eq!((a.get(&var), b.get(&var)), (Some(1), Some(2)));
    /// # Ok::<(), aio_scheduler::context::ContextError>(())
    /// ```
    pub fn copy(&self) -> Context {
        Context::from_data(self.data())
    }

    /// Runs `f` with this context current (`Context.run`), then restores the previous one.
    /// What `f` sets stays in this context.
    ///
    /// # Errors
    ///
    /// [`ContextError::AlreadyEntered`] if this context is being run already (on this
    /// thread, further up the stack, or as the context of the task running this).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::context::{Context, ContextError};
    /// let ctx = Context::new();
    /// let inner = ctx.run(|| ctx.run(|| ()))?;
    /// assert_eq!(inner, Err(ContextError::AlreadyEntered));
    /// # Ok::<(), ContextError>(())
    /// ```
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> Result<R, ContextError> {
        if self.0.entered.get() {
            return Err(ContextError::AlreadyEntered);
        }
        struct Leave<'a>(&'a Context, Option<Context>);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.0.entered.set(false);
                install(self.1.take());
            }
        }
        self.0.entered.set(true);
        let _leave = Leave(self, install(Some(self.clone())));
        Ok(f())
    }

    /// The value of `var` in this context (`ctx[var]`), without defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::context::{ContextVar, copy_context};
    /// let var = ContextVar::with_default("v", 0);
    /// assert_eq!(copy_context().get(&var), None); // the default is not a value
    /// var.set(5);
    /// assert_eq!(copy_context().get(&var), Some(5));
    /// ```
    pub fn get<T: Clone + 'static>(&self, var: &ContextVar<T>) -> Option<T> {
        let data = self.data()?;
        data.get(&var.key())?.downcast_ref::<T>().cloned()
    }

    /// Whether `var` has a value in this context (`var in ctx`).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::context::{ContextVar, copy_context};
    /// let var = ContextVar::new("v");
    /// assert!(!copy_context().contains(&var));
    /// var.set(());
    /// assert!(copy_context().contains(&var));
    /// ```
    pub fn contains<T: Clone + 'static>(&self, var: &ContextVar<T>) -> bool {
        self.data().is_some_and(|d| d.contains_key(&var.key()))
    }

    /// How many variables have a value here (`len(ctx)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::context::{Context, ContextVar};
    /// let (a, b) = (ContextVar::new("a"), ContextVar::new("b"));
    /// let ctx = Context::new();
    /// ctx.run(|| { a.set(1); b.set(2); a.set(3); })?;
    /// assert_eq!(ctx.len(), 2);
    /// # Ok::<(), aio_scheduler::context::ContextError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.data().map_or(0, |d| d.len())
    }

    /// Whether no variable has a value here.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(aio_scheduler::context::Context::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `self` and `other` are the same context (Python's `is`).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = aio_scheduler::context::Context::new();
    /// assert!(a.same(&a.clone()) && !a.same(&a.copy()));
    /// ```
    pub fn same(&self, other: &Context) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("len", &self.len())
            .field("entered", &self.0.entered.get())
            .finish()
    }
}

/// A copy of the current context (`contextvars.copy_context()`).
///
/// # Examples
///
/// ```
/// use aio_scheduler::context::{ContextVar, copy_context};
/// let var = ContextVar::new("v");
/// var.set(1);
/// let ctx = copy_context();
/// var.set(2);
/// assert_eq!(ctx.get(&var), Some(1));
/// ```
pub fn copy_context() -> Context {
    Context::from_data(current().and_then(|c| c.data()))
}

/// The copy a callback or task takes when it is created: `None` for an empty context, which
/// costs nothing.
fn capture() -> Option<Context> {
    if !in_use() {
        return None;
    }
    let data = current().and_then(|c| c.data())?;
    Some(Context::from_data(Some(data)))
}

/// A context variable (`contextvars.ContextVar`). Usually a `static`: [`new`](ContextVar::new)
/// and [`with_default`](ContextVar::with_default) are `const`.
///
/// Values are kept per context, so a task's [`set`](ContextVar::set) is seen by the task's
/// later steps and the tasks it creates afterwards, never by its creator or its siblings.
///
/// # Examples
///
/// ```
/// use aio_scheduler::context::ContextVar;
///
/// static LEVEL: ContextVar<u8> = ContextVar::with_default("level", 1);
/// assert_eq!(LEVEL.get(), Some(1));
/// assert_eq!(LEVEL.name(), "level");
/// let token = LEVEL.set(3);
/// assert_eq!(LEVEL.get(), Some(3));
/// assert_eq!(token.old_value(), None); // it had no value (only a default)
/// LEVEL.reset(&token)?;
/// assert_eq!(LEVEL.get(), Some(1));
/// # Ok::<(), aio_scheduler::context::ContextError>(())
/// ```
pub struct ContextVar<T> {
    name: &'static str,
    default: Option<T>,
    key: AtomicU64,
    _marker: PhantomData<fn() -> T>,
}

impl<T: Clone + 'static> ContextVar<T> {
    /// A variable without a default: [`get`](ContextVar::get) is `None` where it is unset.
    ///
    /// # Examples
    ///
    /// ```
    /// let var = aio_scheduler::context::ContextVar::<String>::new("user");
    /// assert_eq!(var.get(), None);
    /// ```
    pub const fn new(name: &'static str) -> ContextVar<T> {
        ContextVar {
            name,
            default: None,
            key: AtomicU64::new(0),
            _marker: PhantomData,
        }
    }

    /// A variable whose [`get`](ContextVar::get) is `default` where it is unset
    /// (`ContextVar(name, default=...)`).
    ///
    /// # Examples
    ///
    /// ```
    /// let var = aio_scheduler::context::ContextVar::with_default("retries", 3);
    /// assert_eq!(var.get(), Some(3));
    /// ```
    pub const fn with_default(name: &'static str, default: T) -> ContextVar<T> {
        ContextVar {
            name,
            default: Some(default),
            key: AtomicU64::new(0),
            _marker: PhantomData,
        }
    }

    fn key(&self) -> u64 {
        let key = self.key.load(Ordering::Relaxed);
        if key != 0 {
            return key;
        }
        let fresh = NEXT_VAR.fetch_add(1, Ordering::Relaxed);
        match self
            .key
            .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh,
            Err(existing) => existing,
        }
    }

    /// The name given at creation.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(aio_scheduler::context::ContextVar::<u8>::new("n").name(), "n");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn lookup(&self) -> Option<T> {
        if !in_use() {
            return None;
        }
        let data = current()?.data()?;
        data.get(&self.key())?.downcast_ref::<T>().cloned()
    }

    /// The value in the current context, else the variable's default, else `None` (where
    /// Python raises `LookupError`).
    ///
    /// # Examples
    ///
    /// ```
    /// let var = aio_scheduler::context::ContextVar::new("v");
    /// assert_eq!(var.get(), None);
    /// var.set(1.5);
    /// assert_eq!(var.get(), Some(1.5));
    /// ```
    pub fn get(&self) -> Option<T> {
        self.lookup().or_else(|| self.default.clone())
    }

    /// The value in the current context, else `default` (`var.get(default)`: it wins over
    /// the variable's own default).
    ///
    /// # Examples
    ///
    /// ```
    /// let var = aio_scheduler::context::ContextVar::with_default("v", 1);
    /// assert_eq!(var.get_or(2), 2);
    /// var.set(3);
    /// assert_eq!(var.get_or(2), 3);
    /// ```
    pub fn get_or(&self, default: T) -> T {
        self.lookup().unwrap_or(default)
    }

    /// Sets the value in the current context, returning a [`Token`] that
    /// [`reset`](ContextVar::reset) takes to restore the previous value.
    ///
    /// # Examples
    ///
    /// ```
    /// let var = aio_scheduler::context::ContextVar::new("v");
    /// let first = var.set('a');
    /// let second = var.set('b');
    /// assert_eq!((first.old_value(), second.old_value()), (None, Some('a')));
    /// ```
    pub fn set(&self, value: T) -> Token<T> {
        let ctx = current_or_new();
        let key = self.key();
        let old_data = ctx.data();
        let old = old_data.as_ref().and_then(|d| d.get(&key).cloned());
        let mut map = old_data.as_deref().cloned().unwrap_or_default();
        drop(old_data);
        map.insert(key, Rc::new(value));
        *ctx.0.data.borrow_mut() = Some(Rc::new(map));
        Token {
            ctx,
            key,
            old,
            used: Cell::new(false),
            _marker: PhantomData,
        }
    }

    /// Restores the value this variable had before the [`set`](ContextVar::set) that
    /// returned `token` (removing it if it had none).
    ///
    /// # Errors
    ///
    /// As PEP 567: [`ContextError::TokenUsed`] if the token was reset already,
    /// [`ContextError::TokenOtherVar`] if another variable made it,
    /// [`ContextError::TokenOtherContext`] if it was made in another context than the
    /// current one.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::context::{ContextError, ContextVar, Context};
    /// let (a, b) = (ContextVar::new("a"), ContextVar::new("b"));
    /// let token = a.set(1);
    /// assert_eq!(b.reset(&token), Err(ContextError::TokenOtherVar));
    /// assert_eq!(Context::new().run(|| a.reset(&token))?, Err(ContextError::TokenOtherContext));
    /// a.reset(&token)?;
    /// assert_eq!(a.get(), None);
    /// # Ok::<(), ContextError>(())
    /// ```
    pub fn reset(&self, token: &Token<T>) -> Result<(), ContextError> {
        if token.used.get() {
            return Err(ContextError::TokenUsed);
        }
        if token.key != self.key() {
            return Err(ContextError::TokenOtherVar);
        }
        if !current().is_some_and(|c| c.same(&token.ctx)) {
            return Err(ContextError::TokenOtherContext);
        }
        let mut map = token.ctx.data().as_deref().cloned().unwrap_or_default();
        match &token.old {
            Some(old) => map.insert(token.key, old.clone()),
            None => map.remove(&token.key),
        };
        *token.ctx.0.data.borrow_mut() = (!map.is_empty()).then(|| Rc::new(map));
        token.used.set(true);
        Ok(())
    }
}

impl<T> fmt::Debug for ContextVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextVar")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What [`ContextVar::set`] returns: the means to undo that set with
/// [`ContextVar::reset`], once, in the same context (`contextvars.Token`).
///
/// # Examples
///
/// ```
/// let var = aio_scheduler::context::ContextVar::new("v");
/// var.set(1);
/// let token = var.set(2);
/// assert_eq!(token.old_value(), Some(1));
/// var.reset(&token)?;
/// assert_eq!(var.get(), Some(1));
/// # Ok::<(), aio_scheduler::context::ContextError>(())
/// ```
pub struct Token<T> {
    ctx: Context,
    key: u64,
    old: Option<Rc<dyn Any>>,
    used: Cell<bool>,
    _marker: PhantomData<fn() -> T>,
}

impl<T: Clone + 'static> Token<T> {
    /// The value the variable had before the set, `None` if it had none (Python's
    /// `Token.MISSING`).
    ///
    /// # Examples
    ///
    /// ```
    /// let var = aio_scheduler::context::ContextVar::new("v");
    /// assert_eq!(var.set(1).old_value(), None);
    /// ```
    pub fn old_value(&self) -> Option<T> {
        self.old.as_ref()?.downcast_ref::<T>().cloned()
    }

    /// The context the set was made in.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::context::{Context, ContextVar};
    /// let ctx = Context::new();
    /// let token = ctx.run(|| ContextVar::new("v").set(1))?;
    /// assert!(token.context().same(&ctx));
    /// # Ok::<(), aio_scheduler::context::ContextError>(())
    /// ```
    pub fn context(&self) -> &Context {
        &self.ctx
    }
}

impl<T> fmt::Debug for Token<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("used", &self.used.get())
            .finish_non_exhaustive()
    }
}

/// The context a task runs its steps in, for task implementations (`aio-task`): a copy of the
/// context current at creation ([`capture`](TaskContext::capture), asyncio's
/// `Task.__init__`) or a given one ([`with`](TaskContext::with), `create_task(context=)`),
/// made current for each step by [`enter`](TaskContext::enter).
///
/// Entering an empty context costs one relaxed load while no variable was ever set in the
/// process, one thread-local read where no context is current (as where the loop runs a
/// step), and two thread-local pointer swaps otherwise.
///
/// # Examples
///
/// ```
/// use aio_scheduler::context::{ContextVar, TaskContext};
/// let var = ContextVar::new("v");
/// var.set("creator");
/// let mut task = TaskContext::capture();
/// {
///     let _step = task.enter();
///     assert_eq!(var.get(), Some("creator"));
///     var.set("task");
/// }
/// assert_eq!(var.get(), Some("creator")); // the task's set stays in the task
/// let _step = task.enter();
/// assert_eq!(var.get(), Some("task")); // and its next step sees it
/// ```
#[derive(Default)]
pub struct TaskContext(Option<Context>);

impl TaskContext {
    /// A copy of the current context; free when it is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let _empty = aio_scheduler::context::TaskContext::capture(); // no allocation
    /// ```
    pub fn capture() -> TaskContext {
        TaskContext(capture())
    }

    /// Runs in `ctx` itself (not a copy): sets made by the steps show in `ctx`.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_scheduler::context::{Context, ContextVar, TaskContext};
    /// let var = ContextVar::new("v");
    /// let ctx = Context::new();
    /// let mut task = TaskContext::with(ctx.clone());
    /// drop({ let _step = task.enter(); var.set(1) });
    /// assert_eq!(ctx.get(&var), Some(1));
    /// ```
    pub fn with(ctx: Context) -> TaskContext {
        TaskContext(Some(ctx))
    }

    /// Makes this context current until the guard drops.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut task = aio_scheduler::context::TaskContext::default();
    /// let step = task.enter();
    /// drop(step); // the previous context is current again
    /// ```
    pub fn enter(&mut self) -> Entered<'_> {
        Entered::new(&mut self.0)
    }
}

impl fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TaskContext").field(&self.0).finish()
    }
}

/// A context made current by [`TaskContext::enter`]; dropping it stores what the step set
/// back and restores the previous context.
///
/// # Examples
///
/// ```
/// use aio_scheduler::context::{ContextVar, TaskContext};
/// let var = ContextVar::new("v");
/// let mut task = TaskContext::default();
/// let step: aio_scheduler::context::Entered<'_> = task.enter();
/// var.set(1);
/// drop(step);
/// assert_eq!(var.get(), None);
/// ```
pub struct Entered<'a> {
    slot: &'a mut Option<Context>,
    /// `None`: the fast path (nothing was swapped in; the previous context was `None`).
    prev: Option<Option<Context>>,
    /// Whether this guard marked the context entered (and must unmark it).
    marked: bool,
}

impl<'a> Entered<'a> {
    #[inline]
    pub(crate) fn new(slot: &'a mut Option<Context>) -> Entered<'a> {
        // An empty context entered where none is current: nothing to swap (what the step
        // sets is taken back on drop). Loop-level code, where a task or a transport steps,
        // runs with none current.
        if slot.is_none() && (!in_use() || none_current()) {
            return Entered {
                slot,
                prev: None,
                marked: false,
            };
        }
        let ctx = slot.take();
        let marked = ctx.as_ref().is_some_and(|c| !c.0.entered.replace(true));
        Entered {
            slot,
            prev: Some(install(ctx)),
            marked,
        }
    }
}

impl fmt::Debug for Entered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entered").finish_non_exhaustive()
    }
}

impl Drop for Entered<'_> {
    #[inline]
    fn drop(&mut self) {
        let ours = match self.prev.take() {
            Some(prev) => install(prev),
            // Fast path: only if the step set the first variable is there anything to take.
            None if in_use() => CURRENT.with(Cell::take),
            None => return,
        };
        if self.marked {
            if let Some(ctx) = &ours {
                ctx.0.entered.set(false);
            }
        }
        *self.slot = ours;
    }
}

/// A callback's context: a copy of the scheduling context, taken at scheduling time.
pub(crate) fn capture_for_callback() -> Option<Context> {
    capture()
}
