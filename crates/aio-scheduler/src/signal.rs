//! Unix signals delivered to the event loop: asyncio's `loop.add_signal_handler`.
//!
//! A signal handler (the C one, in signal context) only writes the signal's number, as one
//! byte, to a non-blocking socket of every loop that handles the signal — asyncio's
//! `signal.set_wakeup_fd` scheme. Each such loop reads its socket through its reactor and
//! runs the registered callback as an ordinary loop callback, on the loop's thread, where it
//! may do anything a callback may.
//!
//! Several loops (one per thread) may handle the same signal; each gets every delivery. The
//! process-wide disposition is installed when the first loop subscribes to a signal and the
//! one found then is restored when the last one leaves.
//!
//! # Examples
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use aio_scheduler::{EventLoop, signal};
//!
//! let lp = EventLoop::new()?;
//! let seen = Rc::new(Cell::new(0));
//! let count = seen.clone();
//! let stopper = lp.clone();
//! lp.add_signal_handler(signal::SIGUSR2, move || {
//!     count.set(count.get() + 1);
//!     stopper.stop();
//! })?;
//! signal::raise(signal::SIGUSR2)?;
//! lp.run_forever()?;
//! assert_eq!(seen.get(), 1);
//! assert!(lp.remove_signal_handler(signal::SIGUSR2)?);
//! # Ok::<(), aio_scheduler::Error>(())
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::poll_fn;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

use aio_reactor::AsyncFd;

use crate::{Error, EventLoop, LoopHandle};

pub use libc::{
    SIGALRM, SIGCHLD, SIGCONT, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM, SIGTSTP, SIGUSR1,
    SIGUSR2, SIGWINCH,
};

/// One more than the highest signal number (asyncio's `signal.NSIG`).
pub const NSIG: i32 = 65;

/// How many loops can handle one signal at the same time.
const SLOTS: usize = 8;

/// Per signal, the write ends of the loops handling it (`-1`: free slot). Read in signal
/// context, so plain atomics.
static WAKE_FDS: [[AtomicI32; SLOTS]; NSIG as usize] =
    [const { [const { AtomicI32::new(-1) }; SLOTS] }; NSIG as usize];

/// Signal handlers currently between reading a slot and finishing their write. A loop
/// closes its socket only once this is zero after clearing its slots, so a handler never
/// writes to a descriptor number that was closed (and maybe reused) under it.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Per signal: put the default disposition back at the next delivery, in signal context (see
/// [`reset_on_delivery`]).
static RESET_ON_DELIVERY: [AtomicBool; NSIG as usize] =
    [const { AtomicBool::new(false) }; NSIG as usize];

/// Per signal, the disposition found before the first subscriber and how many slots are in
/// use. Only touched outside signal context.
static INSTALLED: Mutex<Vec<Option<Installed>>> = Mutex::new(Vec::new());

struct Installed {
    previous: libc::sigaction,
    subscribers: usize,
}

// SAFETY (for `Send`): `libc::sigaction` is plain data (a handler address, flags and a
// mask); it is only ever copied back into `sigaction(2)`.
unsafe impl Send for Installed {}

/// The C-level handler: write the signal number to every subscribed loop.
extern "C" fn on_signal(signal: libc::c_int) {
    // SAFETY: `__errno_location` returns this thread's errno; saving and restoring it keeps
    // the interrupted code's errno intact, as a signal handler must.
    let saved_errno = unsafe { *libc::__errno_location() };
    if RESET_ON_DELIVERY
        .get(signal as usize)
        .is_some_and(|reset| reset.swap(false, Ordering::SeqCst))
    {
        // SAFETY: `sigaction` is async-signal-safe; a zeroed action is SIG_DFL with an empty
        // mask.
        unsafe {
            let action: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
    IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
    if let Some(slots) = WAKE_FDS.get(signal as usize) {
        let byte = signal as u8;
        for slot in slots {
            let fd = slot.load(Ordering::SeqCst);
            if fd >= 0 {
                // SAFETY: `write` is async-signal-safe; `fd` stays open while IN_FLIGHT is
                // non-zero (see `Listener::drop`); the buffer is one byte on this stack. A
                // full socket (EAGAIN) drops the byte: the loop has plenty to read already.
                unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
            }
        }
    }
    IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved_errno };
}

/// Checks that `signal` can be handled on a loop: asyncio's `_check_signal`, plus the fault
/// signals, which only make sense handled synchronously on the faulting thread.
fn check(signal: i32) -> Result<(), Error> {
    if !(1..NSIG).contains(&signal) {
        return Err(Error::InvalidSignal(signal));
    }
    if [libc::SIGKILL, libc::SIGSTOP].contains(&signal) {
        return Err(Error::UncatchableSignal(signal));
    }
    if [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE].contains(&signal) {
        return Err(Error::UncatchableSignal(signal));
    }
    Ok(())
}

fn installed() -> std::sync::MutexGuard<'static, Vec<Option<Installed>>> {
    let mut table = INSTALLED
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    if table.is_empty() {
        table.resize_with(NSIG as usize, || None);
    }
    table
}

/// Adds `fd` to `signal`'s subscribers, installing the handler for the first one. Returns
/// the slot.
fn subscribe(signal: i32, fd: i32) -> Result<usize, Error> {
    let mut table = installed();
    let slots = &WAKE_FDS[signal as usize];
    let slot = slots
        .iter()
        .position(|s| s.load(Ordering::SeqCst) < 0)
        .ok_or_else(|| {
            Error::from(io::Error::other(format!(
                "signal {signal} is already handled by {SLOTS} event loops"
            )))
        })?;
    slots[slot].store(fd, Ordering::SeqCst);
    let entry = &mut table[signal as usize];
    match entry {
        Some(installed) => installed.subscribers += 1,
        None => {
            // SAFETY: a zeroed `sigaction` is a valid value (SIG_DFL, no flags, empty mask);
            // `on_signal` only does async-signal-safe work; `previous` receives the old one.
            let previous = unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                let mut previous: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, &action, &mut previous) != 0 {
                    let error = io::Error::last_os_error();
                    slots[slot].store(-1, Ordering::SeqCst);
                    return Err(if error.raw_os_error() == Some(libc::EINVAL) {
                        Error::UncatchableSignal(signal)
                    } else {
                        error.into()
                    });
                }
                previous
            };
            *entry = Some(Installed {
                previous,
                subscribers: 1,
            });
        }
    }
    Ok(slot)
}

/// Frees `slot` of `signal`, restoring the previous disposition after the last subscriber.
fn unsubscribe(signal: i32, slot: usize) {
    let mut table = installed();
    WAKE_FDS[signal as usize][slot].store(-1, Ordering::SeqCst);
    let entry = &mut table[signal as usize];
    if let Some(installed) = entry {
        installed.subscribers -= 1;
        if installed.subscribers == 0 {
            RESET_ON_DELIVERY[signal as usize].store(false, Ordering::SeqCst);
            // SAFETY: restores the disposition `sigaction` gave us when we installed ours.
            unsafe { libc::sigaction(signal, &installed.previous, std::ptr::null_mut()) };
            *entry = None;
        }
    }
}

/// Sends `signal` to this process (`raise(3)`): for tests and examples.
///
/// # Errors
///
/// [`Error::InvalidSignal`] for a number outside `1..NSIG`.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use aio_scheduler::{Error, EventLoop, signal};
///
/// let lp = EventLoop::new()?;
/// let seen = Rc::new(Cell::new(false));
/// let (s, stopper) = (seen.clone(), lp.clone());
/// lp.add_signal_handler(signal::SIGCONT, move || { s.set(true); stopper.stop() })?;
/// signal::raise(signal::SIGCONT)?;
/// lp.run_forever()?; // until the handler stops it
/// assert!(seen.get());
/// assert!(matches!(signal::raise(0), Err(Error::InvalidSignal(0))));
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
pub fn raise(signal: i32) -> Result<(), Error> {
    if !(1..NSIG).contains(&signal) {
        return Err(Error::InvalidSignal(signal));
    }
    // SAFETY: `raise` has no memory-safety preconditions.
    if unsafe { libc::raise(signal) } != 0 {
        return Err(io::Error::last_os_error().into());
    }
    Ok(())
}

/// Makes the next delivery of `signal` put its default disposition back, in the C-level
/// handler itself, before any loop has run its callback (`SA_RESETHAND` for a handler added
/// with [`EventLoop::add_signal_handler`]). The loops still get that delivery; a further one
/// takes the default action even while the loop is blocked. `aio::run` uses it so that a
/// second Ctrl-C ends a program whose loop is stuck, as asyncio's second `KeyboardInterrupt`
/// does. The request ends with the delivery, when the last handler of `signal` is removed, or
/// when a handler for `signal` is added (or replaced) on any loop.
///
/// # Errors
///
/// [`Error::InvalidSignal`] / [`Error::UncatchableSignal`] as for `add_signal_handler`.
///
/// # Examples
///
/// ```
/// use aio_scheduler::{EventLoop, signal};
///
/// let lp = EventLoop::new()?;
/// let stopper = lp.clone();
/// lp.add_signal_handler(signal::SIGUSR1, move || stopper.stop())?;
/// signal::reset_on_delivery(signal::SIGUSR1)?;
/// assert!(!signal::is_default(signal::SIGUSR1));
/// signal::raise(signal::SIGUSR1)?; // delivered to the loop, and the default is back
/// assert!(signal::is_default(signal::SIGUSR1));
/// lp.run_forever()?; // the callback still runs: it stops the loop
/// # Ok::<(), aio_scheduler::Error>(())
/// ```
pub fn reset_on_delivery(signal: i32) -> Result<(), Error> {
    check(signal)?;
    RESET_ON_DELIVERY[signal as usize].store(true, Ordering::SeqCst);
    Ok(())
}

/// Whether `signal` currently has its default disposition (nobody installed a handler or
/// asked to ignore it). `aio::run` handles Ctrl-C only when SIGINT is at its default, as
/// asyncio's `Runner` does only when it finds `default_int_handler`.
///
/// # Examples
///
/// ```
/// use aio_scheduler::signal;
/// assert!(signal::is_default(signal::SIGWINCH));
/// assert!(!signal::is_default(0)); // not a signal
/// ```
pub fn is_default(signal: i32) -> bool {
    if !(1..NSIG).contains(&signal) {
        return false;
    }
    // SAFETY: querying only (null new action); `current` is written by the call.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction == libc::SIG_DFL
    }
}

/// Whether the calling thread is the process's main thread (signals sent to the process
/// from a terminal are meant for it).
///
/// # Examples
///
/// ```
/// let on_main = std::thread::spawn(aio_scheduler::signal::is_main_thread).join().unwrap();
/// assert!(!on_main);
/// ```
pub fn is_main_thread() -> bool {
    // SAFETY: neither call has preconditions.
    unsafe { libc::gettid() == libc::getpid() }
}

/// Ends the process the way `signal` would if nobody handled it: restores the default
/// disposition and raises it. For a second Ctrl-C, which must interrupt at once.
///
/// # Examples
///
/// ```no_run
/// aio_scheduler::signal::die_by(aio_scheduler::signal::SIGINT);
/// ```
pub fn die_by(signal: i32) -> ! {
    // SAFETY: a zeroed `sigaction` is SIG_DFL with an empty mask; `raise` and `abort` have
    // no preconditions.
    unsafe {
        let action: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, &action, std::ptr::null_mut());
        let mut unblock: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut unblock);
        libc::sigaddset(&mut unblock, signal);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &unblock, std::ptr::null_mut());
        libc::raise(signal);
        // A signal whose default action does not terminate (SIGCHLD, SIGWINCH, ...).
        libc::abort()
    }
}

type Callback = Rc<dyn Fn()>;

/// A loop's signal state: its socket pair, the reader task and the callbacks.
#[derive(Default)]
pub(crate) struct Signals {
    listener: RefCell<Option<Listener>>,
}

struct Listener {
    /// The end signal handlers write to. Closed only after every slot holding it is freed
    /// and no handler is in flight.
    write: UnixStream,
    /// Signal number → (callback, slot in `WAKE_FDS`).
    handlers: Rc<RefCell<HashMap<i32, (Callback, usize)>>>,
    /// Reads the socket and schedules callbacks. Dropped (cancelled) before `write` closes.
    task: Option<async_task::Task<(), LoopHandle>>,
    /// Counts the socket as the loop's own registration while it lives (virtual time does
    /// not wait for it).
    _own: crate::event_loop::OwnRegistration,
}

impl Drop for Listener {
    fn drop(&mut self) {
        for (signal, (_, slot)) in self.handlers.borrow_mut().drain() {
            unsubscribe(signal, slot);
        }
        drop(self.task.take());
        // No handler can load our descriptor any more; wait out those that already did.
        while IN_FLIGHT.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
    }
}

impl Listener {
    fn start(lp: &EventLoop) -> Result<Listener, Error> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let read = AsyncFd::new(lp.reactor(), read)?;
        let own = lp.own_registration();
        let handlers: Rc<RefCell<HashMap<i32, (Callback, usize)>>> = Rc::default();
        let table = handlers.clone();
        let weak = lp.downgrade();
        let listen = async move {
            let mut buf = [0u8; 64];
            loop {
                let read = poll_fn(|cx| {
                    read.registration()
                        .poll_read_with(cx, || read.get_ref().read(&mut buf))
                })
                .await;
                let (Ok(n @ 1..), Some(lp)) = (read, weak.upgrade()) else {
                    return;
                };
                for &signal in &buf[..n] {
                    let callback = table.borrow().get(&i32::from(signal)).map(|h| h.0.clone());
                    if let Some(callback) = callback {
                        // As a callback of its own: a panicking handler is reported like any
                        // other callback and does not stop signal delivery.
                        let _ = lp.call_soon(move || callback());
                    }
                }
            }
        };
        let (runnable, task) = async_task::Builder::new()
            .metadata(lp.handle())
            .spawn_local(move |_| listen, crate::schedule);
        runnable.schedule();
        Ok(Listener {
            write,
            handlers,
            task: Some(task),
            _own: own,
        })
    }
}

impl EventLoop {
    /// Runs `callback` on this loop's thread, as a loop callback, every time `signal` is
    /// delivered to the process (asyncio's `loop.add_signal_handler`). Replaces this loop's
    /// earlier handler for the same signal, and withdraws a pending
    /// [`reset_on_delivery`](crate::signal::reset_on_delivery) for it: under `aio::run`, a
    /// SIGINT handler of the program's own replaces `run`'s Ctrl-C handling for good. (A SIGCHLD
    /// handler replaces the subprocess layer's SIGCHLD child watcher on this loop, which then
    /// polls its children instead; see `aio_subprocess::ChildWatcher::Sigchld`.)
    ///
    /// The handler stays installed until [`remove_signal_handler`](Self::remove_signal_handler)
    /// or until the loop closes; then the signal's previous disposition is restored.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSignal`] for a number outside `1..NSIG`, [`Error::UncatchableSignal`]
    /// for SIGKILL and SIGSTOP (and the fault signals SIGSEGV, SIGBUS, SIGILL, SIGFPE),
    /// [`Error::Closed`] on a closed loop, [`Error::Io`] if the wake-up socket cannot be made.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use aio_scheduler::{Error, EventLoop, signal};
    ///
    /// let lp = EventLoop::new()?;
    /// let which = Rc::new(Cell::new(""));
    /// let (w, stopper) = (which.clone(), lp.clone());
    /// lp.add_signal_handler(signal::SIGCONT, || unreachable!("replaced"))?;
    /// lp.add_signal_handler(signal::SIGCONT, move || { w.set("second"); stopper.stop() })?;
    /// signal::raise(signal::SIGCONT)?;
    /// lp.run_forever()?;
    /// assert_eq!(which.get(), "second"); // the later handler replaced the first
    /// assert!(lp.remove_signal_handler(signal::SIGCONT)?);
    /// let sigkill = 9;
    /// assert!(matches!(lp.add_signal_handler(sigkill, || {}), Err(Error::UncatchableSignal(9))));
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn add_signal_handler(
        &self,
        signal: i32,
        callback: impl Fn() + 'static,
    ) -> Result<(), Error> {
        check(signal)?;
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let signals = self.extension::<Signals>();
        let mut listener = signals.listener.borrow_mut();
        if listener.is_none() {
            *listener = Some(Listener::start(self)?);
        }
        let Some(listener) = listener.as_mut() else {
            unreachable!("set just above");
        };
        let callback: Callback = Rc::new(callback);
        let mut handlers = listener.handlers.borrow_mut();
        if let Some(entry) = handlers.get_mut(&signal) {
            entry.0 = callback;
        } else {
            let slot = subscribe(signal, listener.write.as_raw_fd())?;
            handlers.insert(signal, (callback, slot));
        }
        // A new handler wants every delivery: withdraw an earlier `reset_on_delivery` (made
        // for a handler this one replaces, such as `aio::run`'s Ctrl-C handling), which
        // would otherwise end the process at the second delivery.
        RESET_ON_DELIVERY[signal as usize].store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Removes this loop's handler for `signal` (asyncio's `loop.remove_signal_handler`).
    /// Returns whether there was one. When no loop handles the signal any more, its previous
    /// disposition is restored (for SIGINT usually the default: Ctrl-C ends the process).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSignal`] / [`Error::UncatchableSignal`] as for
    /// [`add_signal_handler`](Self::add_signal_handler).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = aio_scheduler::EventLoop::new()?;
    /// assert!(!lp.remove_signal_handler(aio_scheduler::signal::SIGUSR1)?);
    /// assert!(lp.add_signal_handler(9, || {}).is_err()); // SIGKILL cannot be caught
    /// # Ok::<(), aio_scheduler::Error>(())
    /// ```
    pub fn remove_signal_handler(&self, signal: i32) -> Result<bool, Error> {
        check(signal)?;
        if self.is_closed() {
            return Ok(false);
        }
        let signals = self.extension::<Signals>();
        let mut listener = signals.listener.borrow_mut();
        let Some(active) = listener.as_mut() else {
            return Ok(false);
        };
        let removed = active.handlers.borrow_mut().remove(&signal);
        let Some((_, slot)) = removed else {
            return Ok(false);
        };
        unsubscribe(signal, slot);
        if active.handlers.borrow().is_empty() {
            // The last one: drop the socket pair and the reader task.
            *listener = None;
        }
        Ok(true)
    }
}
