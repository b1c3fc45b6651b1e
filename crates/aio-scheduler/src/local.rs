//! Local steps: loop machinery that is woken like a task but is not one. asyncio runs a
//! transport's I/O as callbacks the selector puts on the ready queue (`add_reader`); a local
//! step is that, behind a [`Waker`] so it can wait on anything a future waits on.
//!
//! A local step lives in its loop's table, and its waker names it by number: the loop's tag,
//! the slot and the slot's generation, packed into the waker's data word. Cloning or dropping
//! that waker touches nothing, and waking it on the thread running its loop is a look-up and a
//! push onto the ready queue: no reference count, no atomic operation, where a task's waker
//! has both. A wake from anywhere else (another thread, or the loop's thread while the loop is
//! not running) goes through the loop's remote queue, found in a process-wide map of the loops
//! that have local steps (their tags are unique in it), and is merged with other wakes of the
//! same step as a local one is. A wake that finds its step gone (finished, or its loop
//! closed) does nothing, unless the slot has had 256 occupants since (a spurious run).
//!
//! The data word holds the tag in its high half, so local steps exist on 64-bit targets
//! only.

use std::any::Any;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use crate::Error;
use crate::event_loop::{LoopInner, Ready, Remote, Shared, with_running};

/// A panic's payload.
pub(crate) type Panic = Box<dyn Any + Send>;

/// Machinery a loop runs step by step, woken through the waker of the [`Context`] each step
/// gets, until a step returns `Ready` (see [`spawn_local_step`]).
///
/// # Examples
///
/// A step that counts its runs and finishes at the third (it wakes itself to be run again):
///
/// ```
/// use std::{cell::Cell, rc::Rc, task::{Context, Poll}};
/// use aio_scheduler::{EventLoop, LocalStep, sleep, spawn_local_step};
///
/// struct Thrice(Cell<u32>);
/// impl LocalStep for Thrice {
///     fn step(&self, cx: &mut Context<'_>) -> Poll<()> {
///         self.0.set(self.0.get() + 1);
///         if self.0.get() == 3 {
///             return Poll::Ready(());
///         }
///         cx.waker().wake_by_ref();
///         Poll::Pending
///     }
/// }
///
/// let lp = EventLoop::new()?;
/// let counter = Rc::new(Thrice(Cell::new(0)));
/// let c = counter.clone();
/// lp.run_until_complete(async move {
///     spawn_local_step(c)?;
///     sleep(0.01).await
/// })??;
/// assert_eq!(counter.0.get(), 3);
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
pub trait LocalStep {
    /// One step: `Ready` when the machinery is done (the loop then drops it), `Pending` after
    /// arranging for `cx`'s waker to be woken when there is more to do. As a future's poll,
    /// a step may be run when nothing is new (a spurious wake-up: see
    /// [`spawn_local_step`]) and must then just wait again.
    fn step(&self, cx: &mut Context<'_>) -> Poll<()>;

    /// Called once when the loop lets go of the step without it finishing: after a step
    /// panicked, or when the loop closes with the step unfinished. The loop then drops its
    /// reference. A step shared elsewhere (its `Rc` also held by what it drives) ends its
    /// work here, as a task's future is dropped in those cases. Does nothing by default; a
    /// panic in it is reported as the step's would be.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc, task::{Context, Poll}};
    /// use aio_scheduler::{EventLoop, LocalStep, sleep, spawn_local_step};
    ///
    /// struct Forever(Cell<bool>);
    /// impl LocalStep for Forever {
    ///     fn step(&self, _: &mut Context<'_>) -> Poll<()> {
    ///         Poll::Pending // never woken again
    ///     }
    ///     fn abandon(&self) {
    ///         self.0.set(true);
    ///     }
    /// }
    ///
    /// let lp = EventLoop::new()?;
    /// let step = Rc::new(Forever(Cell::new(false)));
    /// let s = step.clone();
    /// lp.run_until_complete(async move { spawn_local_step(s) })??;
    /// assert!(!step.0.get());
    /// lp.close()?;
    /// assert!(step.0.get());
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    fn abandon(&self) {}
}

/// Runs `step` on the running loop: its first step in the loop's next iteration (after what
/// is ready now), and a further one each time its waker is woken, until a step returns
/// `Ready`. Several wakes before a step runs make one step. The loop drops the step when it
/// finishes, when a step panics (reported as "Exception in callback", as a callback's panic
/// is; so is a panic in the step's destructor), or when the loop closes; in the last two
/// cases it calls [`LocalStep::abandon`] first.
///
/// A waker kept after its step finished reaches nothing, unless the step's slot has since
/// been taken by 256 more steps (the generation is 8 bits): then it can make that later
/// step run once for nothing, which steps tolerate as futures tolerate spurious wake-ups.
///
/// A local step is not a task: `current_task()` is `None` while it runs, and nothing lists
/// it. What makes it cheaper than one is its waker, which needs no reference count (see the
/// module's documentation).
///
/// # Errors
///
/// [`Error::NoRunningLoop`] outside a running loop; [`Error::Io`] if the loop already has
/// 2^24 local steps (`step` is dropped either way, without [`abandon`](LocalStep::abandon):
/// the loop never had it).
///
/// # Examples
///
/// See [`LocalStep`].
pub fn spawn_local_step(step: Rc<dyn LocalStep>) -> Result<(), Error> {
    with_running(|inner| inner.spawn_local(step)).unwrap_or(Err(Error::NoRunningLoop))
}

/// The loop's local steps, by slot.
#[derive(Default)]
pub(crate) struct LocalSteps {
    entries: Vec<Entry>,
    free: Vec<u32>,
}

#[derive(Default)]
struct Entry {
    step: Option<Rc<dyn LocalStep>>,
    /// Counts the slot's occupants (wrapping): a waker of an earlier one matches no longer.
    generation: u8,
    /// A run is queued.
    scheduled: bool,
}

/// The most slots a loop's table has (what a waker's data word has room for).
const MAX_SLOTS: usize = 1 << SLOT_BITS;
const SLOT_BITS: u32 = 24;
const GENERATION_BITS: u32 = 8;

impl LocalSteps {
    /// Adds `step`, scheduled: the caller queues its first run. Returns its slot and
    /// generation, or gives `step` back when the table is full.
    fn insert(&mut self, step: Rc<dyn LocalStep>) -> Result<(u32, u8), Rc<dyn LocalStep>> {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None if self.entries.len() < MAX_SLOTS => {
                self.entries.push(Entry::default());
                u32::try_from(self.entries.len() - 1).expect("fewer than 2^24 slots")
            }
            None => return Err(step),
        };
        let entry = &mut self.entries[slot as usize];
        entry.step = Some(step);
        entry.scheduled = true;
        Ok((slot, entry.generation))
    }

    /// Marks the step in `slot` scheduled; `true` if it is there and was not yet (the caller
    /// then queues its run).
    fn schedule(&mut self, slot: u32, generation: u8) -> bool {
        match self.entries.get_mut(slot as usize) {
            Some(entry)
                if entry.generation == generation && entry.step.is_some() && !entry.scheduled =>
            {
                entry.scheduled = true;
                true
            }
            _ => false,
        }
    }

    /// The step in `slot`, for a queued run: no longer scheduled from here on, so a wake
    /// during the run queues the next one.
    fn take_for_run(&mut self, slot: u32, generation: u8) -> Option<Rc<dyn LocalStep>> {
        let entry = self.entries.get_mut(slot as usize)?;
        if entry.generation != generation {
            return None;
        }
        entry.scheduled = false;
        entry.step.clone()
    }

    /// Empties `slot` (its step finished or failed); returns the step to drop.
    fn remove(&mut self, slot: u32, generation: u8) -> Option<Rc<dyn LocalStep>> {
        let entry = self.entries.get_mut(slot as usize)?;
        if entry.generation != generation {
            return None;
        }
        let step = entry.step.take()?;
        entry.generation = entry.generation.wrapping_add(1);
        entry.scheduled = false;
        self.free.push(slot);
        Some(step)
    }

    /// Every step, for the loop's close.
    pub(crate) fn drain(&mut self) -> Vec<Rc<dyn LocalStep>> {
        self.free.clear();
        std::mem::take(&mut self.entries)
            .into_iter()
            .filter_map(|entry| entry.step)
            .collect()
    }
}

impl LoopInner {
    fn spawn_local(&self, step: Rc<dyn LocalStep>) -> Result<(), Error> {
        let inserted = self.local_steps.borrow_mut().insert(step);
        let Ok((slot, generation)) = inserted else {
            return Err(Error::Io(Arc::new(std::io::Error::other(
                "too many local steps on one loop (2^24)",
            ))));
        };
        if self.local_tag.get() == 0 {
            self.local_tag.set(register(Arc::downgrade(&self.shared)));
        }
        self.push_ready(Ready::Local(slot, generation));
        Ok(())
    }

    /// The tag this loop's local wakers carry: given at its first local step, and unique
    /// among the loops that have one (0: none yet).
    pub(crate) fn local_tag(&self) -> u32 {
        self.local_tag.get()
    }

    /// A wake of the step in `slot` on the loop's thread.
    fn wake_local(&self, slot: u32, generation: u8) {
        if self.schedule_wake(slot, generation) {
            // As a task's wake-up: straight onto the ready queue.
            self.ready
                .borrow_mut()
                .push_back(Ready::Local(slot, generation));
        }
    }

    /// Marks a wake of the step in `slot`, made here or come through the remote queue:
    /// `true` if the caller is to queue its run (none is queued yet). Only while the table
    /// itself is being changed (a step being dropped wakes another) is it borrowed: then the
    /// run is queued anyway; a run of a step that is not due is harmless.
    pub(crate) fn schedule_wake(&self, slot: u32, generation: u8) -> bool {
        self.local_steps
            .try_borrow_mut()
            .map_or(true, |mut steps| steps.schedule(slot, generation))
    }

    /// Runs a queued step (`Ready::Local`). Returns the panic of the step, or of its drop
    /// when it is done with, if any.
    /// Runs the step in `slot`. The panics it caused, in order (its step's, then its
    /// `abandon`'s, then its destructor's), each to be reported.
    pub(crate) fn run_local(&self, slot: u32, generation: u8) -> Result<(), Vec<Panic>> {
        let step = self.local_steps.borrow_mut().take_for_run(slot, generation);
        let Some(step) = step else {
            return Ok(());
        };
        let waker = local_waker(self.local_tag(), slot, generation);
        let polled = catch_unwind(AssertUnwindSafe(|| {
            step.step(&mut Context::from_waker(&waker))
        }));
        if matches!(polled, Ok(Poll::Pending)) {
            return Ok(());
        }
        // Finished or failed: out of the table; a failed step is abandoned first. The step's
        // destructor may run here.
        let mut panics = Vec::new();
        if let Err(payload) = polled {
            panics.push(payload);
            panics.extend(catch_unwind(AssertUnwindSafe(|| step.abandon())).err());
        }
        let removed = self.local_steps.borrow_mut().remove(slot, generation);
        panics.extend(catch_unwind(AssertUnwindSafe(move || drop((removed, step)))).err());
        if panics.is_empty() {
            Ok(())
        } else {
            Err(panics)
        }
    }

    pub(crate) fn unregister_local(&self) {
        let tag = self.local_tag.replace(0);
        if tag != 0 {
            unregister(tag);
        }
    }
}

/// The loops that have local steps, by tag (where a wake that is not made on the running
/// loop goes), and the next tag to try.
struct Loops {
    by_tag: HashMap<u32, Weak<Shared>>,
    next: u32,
}

static LOOPS: Mutex<Option<Loops>> = Mutex::new(None);

/// Enters a loop in the map under a tag no other loop there has (never 0), and returns it.
fn register(shared: Weak<Shared>) -> u32 {
    let mut loops = LOOPS.lock().unwrap_or_else(|e| e.into_inner());
    let loops = loops.get_or_insert_with(|| Loops {
        by_tag: HashMap::new(),
        next: 1,
    });
    // At most as many tries as loops in the map (far fewer than 2^32).
    let tag = loop {
        let tag = loops.next;
        loops.next = loops.next.checked_add(1).unwrap_or(1);
        if !loops.by_tag.contains_key(&tag) {
            break tag;
        }
    };
    loops.by_tag.insert(tag, shared);
    tag
}

fn unregister(tag: u32) {
    let mut loops = LOOPS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(loops) = loops.as_mut() {
        loops.by_tag.remove(&tag);
    }
}

/// A wake made away from the running loop: through the loop's remote queue.
fn wake_remote(tag: u32, slot: u32, generation: u8) {
    let shared = {
        let loops = LOOPS.lock().unwrap_or_else(|e| e.into_inner());
        loops
            .as_ref()
            .and_then(|loops| loops.by_tag.get(&tag))
            .and_then(Weak::upgrade)
    };
    if let Some(shared) = shared {
        // A closed loop refuses it: the step is gone with it.
        let _ = shared.send_remote(Remote::Local(slot, generation));
    }
}

fn pack(tag: u32, slot: u32, generation: u8) -> usize {
    let low = (slot << GENERATION_BITS) | u32::from(generation);
    ((u64::from(tag) << 32) | u64::from(low)) as usize
}

fn unpack(data: *const ()) -> (u32, u32, u8) {
    let word = data as usize as u64;
    let low = word as u32;
    ((word >> 32) as u32, low >> GENERATION_BITS, low as u8)
}

/// The waker of the step in `slot` of the loop tagged `tag`.
pub(crate) fn local_waker(tag: u32, slot: u32, generation: u8) -> Waker {
    let data = std::ptr::without_provenance::<()>(pack(tag, slot, generation));
    // SAFETY: the vtable's functions never dereference the data word, which is a plain
    // number; what they touch is this thread's running loop (through its thread-local) or
    // the process-wide map behind a mutex, so each may run on any thread, any number of
    // times, and cloning and dropping own nothing.
    unsafe { Waker::from_raw(RawWaker::new(data, &LOCAL_WAKER_VTABLE)) }
}

static LOCAL_WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake, waker_drop);

fn waker_clone(data: *const ()) -> RawWaker {
    RawWaker::new(data, &LOCAL_WAKER_VTABLE)
}

fn waker_wake(data: *const ()) {
    let (tag, slot, generation) = unpack(data);
    let local = with_running(|inner| {
        let here = inner.local_tag() == tag;
        if here {
            inner.wake_local(slot, generation);
        }
        here
    });
    if local != Some(true) {
        wake_remote(tag, slot, generation);
    }
}

fn waker_drop(_: *const ()) {}

// The slot count fits the bits a waker has for it.
const _: () = assert!(SLOT_BITS + GENERATION_BITS == 32);
