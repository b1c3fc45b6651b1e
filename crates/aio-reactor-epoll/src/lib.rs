//! aio's default reactor on Linux: epoll, driven directly, one system call per loop wait.
//!
//! [`EpollReactor`] implements [`aio_reactor::Reactor`] on `epoll` through `rustix`, with
//! nothing in between:
//!
//! - every descriptor is registered **once**, edge-triggered, for both directions: an event
//!   arrives when readiness changes, and nothing is ever re-armed;
//! - a blocking wait is **one** `epoll_pwait2` with a nanosecond timeout (Linux 5.11+). On an
//!   older kernel (the first `ENOSYS`) the reactor switches to a timerfd registered in the
//!   same epoll, re-armed only when the earliest deadline changes, and a plain `epoll_pwait`
//!   without timeout: still one call per wait while the deadline stays, never a rounded one;
//! - the cross-thread wake-up is an eventfd registered once; an atomic flag makes a burst of
//!   [`Notify::notify`] calls cost one `write` and the wait that sees it one `read`;
//! - a non-blocking poll is one `epoll_pwait` with a zero timeout, or no call at all when
//!   nothing is registered.
//!
//! `docs/design.md` (aio's repository) says why this is the default on Linux and shows the
//! system-call counts; `PollingReactor` (the `polling` crate) stays for other systems and
//! `AIO_REACTOR=polling`.
//!
//! The crate is empty on systems other than Linux.
//!
//! # Examples
//!
//! ```
//! # #[cfg(target_os = "linux")] {
//! use std::io::{Read, Write};
//! use std::os::unix::net::UnixStream;
//! use std::task::{Context, Poll, Waker};
//! use std::time::{Duration, Instant};
//! use aio_reactor::{AsyncFd, Reactor};
//! use aio_reactor_epoll::EpollReactor;
//!
//! let reactor = EpollReactor::new()?;
//! let (a, mut b) = UnixStream::pair()?;
//! a.set_nonblocking(true)?;
//! let a = AsyncFd::new(&reactor, a)?;
//! let mut buf = [0u8; 8];
//! let mut cx = Context::from_waker(Waker::noop());
//! assert!(a.registration().poll_read_with(&mut cx, || a.get_ref().read(&mut buf)).is_pending());
//! b.write_all(b"ping")?;
//! reactor.wait(Some(Instant::now() + Duration::from_secs(5)))?;
//! let poll = a.registration().poll_read_with(&mut cx, || a.get_ref().read(&mut buf));
//! assert!(matches!(poll, Poll::Ready(Ok(4))));
//! # }
//! # std::io::Result::Ok(())
//! ```

#![cfg(target_os = "linux")]

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aio_reactor::{
    Driver, EventfdNotify, KEY_LIMIT, Notify, Reactor, Registration, Source, Sources, Waker,
};
use rustix::event::Timespec;
use rustix::event::epoll::{self, Event, EventData, EventFlags};
use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags};

/// Events harvested per wait; more stay queued in the kernel for the next one.
const EVENTS: usize = 1024;

/// The epoll tag of the wake-up eventfd. Source keys are below [`KEY_LIMIT`], so neither
/// this nor [`TIMER`] can be taken for one.
const NOTIFY: u64 = u64::MAX;
/// The epoll tag of the fallback timerfd.
const TIMER: u64 = u64::MAX - 1;
const _: () = assert!(KEY_LIMIT as u64 <= TIMER);

// `epoll_pwait2` writes `libc::epoll_event`s into a buffer of rustix `Event`s: the same
// record (the kernel's `struct epoll_event`), checked here.
const _: () = assert!(size_of::<Event>() == size_of::<libc::epoll_event>());
const _: () = assert!(align_of::<Event>() >= align_of::<libc::epoll_event>());

/// How an [`EpollReactor`] times its waits.
///
/// # Examples
///
/// ```
/// # #[cfg(target_os = "linux")] {
/// use aio_reactor_epoll::{EpollReactor, Timing};
/// let reactor = EpollReactor::with_timing(Timing::Timerfd)?;
/// assert_eq!(reactor.timing(), Timing::Timerfd);
/// # }
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// `epoll_pwait2` with the timeout in nanoseconds (Linux 5.11+): a wait is one system
    /// call. The reactor moves to [`Timing::Timerfd`] at the first `ENOSYS` (or `EPERM`, as a
    /// seccomp filter may answer).
    Pwait2,
    /// A timerfd in the epoll set, armed (`timerfd_settime`) only when the deadline differs
    /// from the one it is armed for, and `epoll_pwait` without timeout: kernels before 5.11.
    /// `epoll_pwait`'s own timeout counts whole milliseconds, which would make every short
    /// wait up to a millisecond late; the timer keeps the nanosecond precision.
    Timerfd,
}

/// The epoll reactor: the default of `EventLoop::new()` and `aio::run` on Linux.
///
/// Registrations live in [`Sources`]; an event's epoll tag is its source's key (slot and
/// generation), so an event for a descriptor that was deregistered (its slot maybe reused)
/// is dropped instead of reaching the wrong registration.
///
/// # Cancel safety
///
/// The reactor has no futures of its own; futures built on its registrations' `poll_*`
/// functions are as cancel safe as with any reactor (see
/// [`Registration::poll_read_with`]): an event records readiness in the registration whether
/// or not its waiter is still there, so a waiter dropped while waiting consumes nothing.
///
/// # Examples
///
/// ```
/// # #[cfg(target_os = "linux")] {
/// use std::os::unix::net::UnixStream;
/// use aio_reactor::{AsyncFd, Reactor};
/// use aio_reactor_epoll::EpollReactor;
///
/// let reactor: Box<dyn Reactor> = Box::new(EpollReactor::new()?);
/// assert_eq!(reactor.name(), "epoll");
/// let (a, _b) = UnixStream::pair()?;
/// let a = AsyncFd::new(&*reactor, a)?;
/// assert_eq!(reactor.registrations(), 1);
/// drop(a);
/// assert_eq!(reactor.registrations(), 0);
/// # }
/// # std::io::Result::Ok(())
/// ```
pub struct EpollReactor {
    inner: Rc<Inner>,
}

struct Inner {
    epoll: OwnedFd,
    sources: RefCell<Sources>,
    events: RefCell<Vec<Event>>,
    /// Wakers collected from one batch of events, woken after the reactor's state is released.
    wakers: RefCell<Vec<Waker>>,
    /// The cross-thread wake-up: an eventfd in the epoll set.
    notify: Arc<EventfdNotify>,
    /// `epoll_pwait2` is in use (cleared at its first `ENOSYS`).
    pwait2: Cell<bool>,
    /// The fallback timer, made the first time it is needed.
    timer: RefCell<Option<OwnedFd>>,
    /// The deadline the timer is armed for and has not fired for yet.
    timer_armed: Cell<Option<Instant>>,
}

impl EpollReactor {
    /// An epoll reactor with [`Timing::Pwait2`] (which falls back to [`Timing::Timerfd`] on
    /// kernels without `epoll_pwait2`).
    ///
    /// # Errors
    ///
    /// The OS error from creating the epoll instance or the eventfd (for example, too many
    /// open files).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// use aio_reactor::Reactor;
    /// let reactor = aio_reactor_epoll::EpollReactor::new()?;
    /// assert_eq!(reactor.registrations(), 0);
    /// # }
    /// # std::io::Result::Ok(())
    /// ```
    pub fn new() -> io::Result<EpollReactor> {
        EpollReactor::with_timing(Timing::Pwait2)
    }

    /// An epoll reactor that times its waits as `timing` says. [`Timing::Timerfd`] works on
    /// every kernel; it is how the fallback is tested on a kernel that has `epoll_pwait2`.
    ///
    /// # Errors
    ///
    /// The OS error from creating the epoll instance or the eventfd.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// use std::time::{Duration, Instant};
    /// use aio_reactor::Reactor;
    /// use aio_reactor_epoll::{EpollReactor, Timing};
    ///
    /// let reactor = EpollReactor::with_timing(Timing::Timerfd)?;
    /// let deadline = Instant::now() + Duration::from_micros(300);
    /// reactor.wait(Some(deadline))?;
    /// assert!(Instant::now() >= deadline);
    /// # }
    /// # std::io::Result::Ok(())
    /// ```
    pub fn with_timing(timing: Timing) -> io::Result<EpollReactor> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let notify = EventfdNotify::new()?;
        epoll::add(
            &epoll,
            &notify,
            EventData::new_u64(NOTIFY),
            EventFlags::IN | EventFlags::ET,
        )?;
        Ok(EpollReactor {
            inner: Rc::new(Inner {
                epoll,
                sources: RefCell::new(Sources::default()),
                events: RefCell::new(Vec::with_capacity(EVENTS)),
                wakers: RefCell::new(Vec::new()),
                notify: Arc::new(notify),
                pwait2: Cell::new(timing == Timing::Pwait2),
                timer: RefCell::new(None),
                timer_armed: Cell::new(None),
            }),
        })
    }

    /// How waits are timed now: [`Timing::Pwait2`] until the kernel refuses it.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// let reactor = aio_reactor_epoll::EpollReactor::new()?;
    /// println!("timing: {:?}", reactor.timing());
    /// # }
    /// # std::io::Result::Ok(())
    /// ```
    pub fn timing(&self) -> Timing {
        if self.inner.pwait2.get() {
            Timing::Pwait2
        } else {
            Timing::Timerfd
        }
    }
}

thread_local! {
    /// This thread's timer slack is already set for [`precise_timeouts`].
    static PRECISE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Sets the calling thread's timer slack to 1 ns, once per thread. Linux lets a sleeping
/// system call's timeout (`epoll_pwait2`'s, `poll`'s) end up to the thread's timer slack late,
/// 50 µs by default, so that wake-ups can be merged; a timerfd is not subject to it. Without
/// this, the epoll reactor's timers woke about 50 µs later than the `polling` reactor's
/// (sparse-timer row: 69–71 µs mean lateness against 24–31 µs). The loop's thread sleeps
/// only to wait for its next timer or I/O, so precise wake-ups are what it is for; the
/// setting also makes the thread's other sleeps precise. A failure (a seccomp filter
/// refusing `prctl`) leaves the default slack: timers are then up to 50 µs late, nothing
/// else changes.
fn precise_timeouts() {
    let _ = PRECISE.try_with(|done| {
        if !done.replace(true) {
            let _ = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1));
        }
    });
}

impl Inner {
    /// Blocks in `epoll_pwait2` for at most `timeout` (`None`: no limit).
    fn pwait2(&self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()> {
        events.clear();
        if timeout.is_some_and(|t| !t.is_zero()) {
            precise_timeouts();
        }
        let timespec = timeout.map(|t| libc::timespec {
            tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: t.subsec_nanos().into(),
        });
        let timespec_ptr = timespec
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        let capacity = libc::c_int::try_from(events.capacity()).unwrap_or(libc::c_int::MAX);
        // SAFETY: the buffer holds `capacity` records of the kernel's `struct epoll_event`
        // layout (asserted at the top of this file) and lives across the call; the timeout
        // is null or points at a live timespec; a null signal mask leaves the mask alone
        // (its size argument is then ignored). The kernel writes at most `capacity` records.
        let n = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                self.epoll.as_raw_fd(),
                events.as_mut_ptr().cast::<libc::epoll_event>(),
                capacity,
                timespec_ptr,
                std::ptr::null::<libc::sigset_t>(),
                0usize,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = usize::try_from(n).expect("a non-negative count");
        // SAFETY: the kernel initialised the first `n` records (n <= capacity).
        unsafe { events.set_len(n) };
        Ok(())
    }

    /// `epoll_pwait` with a zero (non-blocking) or no timeout.
    fn epoll_wait(&self, events: &mut Vec<Event>, block: bool) -> io::Result<()> {
        events.clear();
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let timeout = if block { None } else { Some(&zero) };
        epoll::wait(&self.epoll, rustix::buffer::spare_capacity(events), timeout)?;
        Ok(())
    }

    /// Arms the fallback timer for `deadline`, unless it is armed for it already.
    fn arm_timer(&self, deadline: Instant, timeout: Duration) -> io::Result<()> {
        if self.timer_armed.get() == Some(deadline) {
            return Ok(());
        }
        let mut timer = self.timer.borrow_mut();
        if timer.is_none() {
            let fd = rustix::time::timerfd_create(
                TimerfdClockId::Monotonic,
                TimerfdFlags::CLOEXEC | TimerfdFlags::NONBLOCK,
            )?;
            epoll::add(
                &self.epoll,
                &fd,
                EventData::new_u64(TIMER),
                EventFlags::IN | EventFlags::ET,
            )?;
            *timer = Some(fd);
        }
        let fd = timer.as_ref().expect("made above");
        let value = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            // Relative to now; never zero (that would disarm): the caller waits only for a
            // deadline in the future.
            it_value: Timespec {
                tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: timeout.subsec_nanos().max(1).into(),
            },
        };
        rustix::time::timerfd_settime(fd, TimerfdTimerFlags::empty(), &value)?;
        self.timer_armed.set(Some(deadline));
        Ok(())
    }

    /// One wait, as [`Reactor::wait`] describes, leaving the events in `events`.
    fn harvest(&self, events: &mut Vec<Event>, deadline: Option<Instant>) -> io::Result<()> {
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if timeout == Some(Duration::ZERO) {
            return self.epoll_wait(events, false);
        }
        if self.pwait2.get() {
            match self.pwait2(events, timeout) {
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                    self.pwait2.set(false);
                }
                other => return other,
            }
        }
        if let (Some(deadline), Some(timeout)) = (deadline, timeout) {
            self.arm_timer(deadline, timeout)?;
        }
        self.epoll_wait(events, true)
    }
}

impl Reactor for EpollReactor {
    unsafe fn register(&self, fd: RawFd) -> io::Result<Registration> {
        if fd < 0 {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        let inner = &self.inner;
        let key = inner.sources.borrow_mut().vacant_key();
        // SAFETY: `fd` is not negative, and the caller guarantees it stays open until the
        // registration is dropped (whose drop deletes it from the epoll set first).
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let interest =
            EventFlags::IN | EventFlags::OUT | EventFlags::PRI | EventFlags::RDHUP | EventFlags::ET;
        if let Err(e) = epoll::add(
            &inner.epoll,
            borrowed,
            EventData::new_u64(key as u64),
            interest,
        ) {
            inner.sources.borrow_mut().release(key);
            return Err(e.into());
        }
        let source = Rc::new(Source::new(fd, key));
        inner.sources.borrow_mut().fill(key, source.clone());
        Ok(Registration::new(source, inner.clone()))
    }

    fn wait(&self, deadline: Option<Instant>) -> io::Result<usize> {
        let inner = &self.inner;
        // Nothing registered and no time to wait: there is nothing the kernel could say (a
        // pending wake-up stays queued in the epoll set for the next blocking wait).
        if inner.sources.borrow().is_empty() && deadline.is_some_and(|d| d <= Instant::now()) {
            return Ok(0);
        }
        let mut events = inner.events.borrow_mut();
        match inner.harvest(&mut events, deadline) {
            Ok(()) => {}
            // A signal: the caller's loop looks at its state and waits again.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => events.clear(),
            Err(e) => return Err(e),
        }

        let mut wakers = inner.wakers.take();
        let mut delivered = 0;
        {
            let sources = inner.sources.borrow();
            for event in events.iter() {
                let (tag, flags) = (event.data.u64(), event.flags);
                match tag {
                    NOTIFY => inner.notify.reset(),
                    TIMER => inner.timer_armed.set(None),
                    key => {
                        // A stale event (its registration gone, its slot maybe reused) finds
                        // no source or a newer generation, and is dropped here.
                        let Some(source) = sources.get(key as usize) else {
                            continue;
                        };
                        let failed = flags.intersects(EventFlags::ERR | EventFlags::HUP);
                        let readable = failed
                            || flags
                                .intersects(EventFlags::IN | EventFlags::PRI | EventFlags::RDHUP);
                        let writable = failed || flags.contains(EventFlags::OUT);
                        // Plain data, with no FIN, urgent data, error or hang-up: what lets
                        // a short TCP read prove the socket drained.
                        let plain =
                            !failed && !flags.intersects(EventFlags::PRI | EventFlags::RDHUP);
                        delivered += 1;
                        source.set_ready_reporting(readable, writable, plain, &mut wakers);
                    }
                }
            }
        }
        drop(events);
        for waker in wakers.drain(..) {
            waker.wake();
        }
        inner.wakers.replace(wakers);
        Ok(delivered)
    }

    fn notifier(&self) -> Arc<dyn Notify> {
        self.inner.notify.clone()
    }

    fn registrations(&self) -> usize {
        self.inner.sources.borrow().len()
    }

    fn name(&self) -> &'static str {
        "epoll"
    }
}

impl Driver for Inner {
    fn arm(&self, _source: &Source) -> io::Result<()> {
        // Edge-triggered for both directions from the start: nothing to arm, ever.
        Ok(())
    }

    fn deregister(&self, source: &Source) {
        // SAFETY: called from `Registration::drop`, before the descriptor is closed.
        let fd = unsafe { BorrowedFd::borrow_raw(source.fd()) };
        // The descriptor is open and registered, so this cannot fail in a way we could act
        // on; the slot is released either way so no event reaches the dead source.
        let _ = epoll::delete(&self.epoll, fd);
        self.sources.borrow_mut().release(source.key());
    }
}

impl fmt::Debug for EpollReactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EpollReactor")
            .field("timing", &self.timing())
            .field("registrations", &self.registrations())
            .field("epoll", &self.inner.epoll.as_fd())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A timed wait sets the waiting thread's timer slack to 1 ns: with the default 50 µs,
    /// `epoll_pwait2`'s timeouts ended about 50 µs late (the sparse-timer row's mean
    /// lateness was 66–74 µs on this reactor against 22–25 µs after). A fresh thread, so
    /// that no other test's wait has set it already.
    #[test]
    fn a_timed_wait_makes_the_threads_timeouts_precise() {
        std::thread::spawn(|| {
            assert_ne!(rustix::thread::current_timer_slack().unwrap(), 1);
            let reactor = EpollReactor::new().unwrap();
            reactor
                .wait(Some(Instant::now() + Duration::from_millis(1)))
                .unwrap();
            assert_eq!(rustix::thread::current_timer_slack().unwrap(), 1);
        })
        .join()
        .unwrap();
    }

    /// A burst of notifies from another thread costs one eventfd write: the counter the
    /// wait reads back is 1, not the number of notifies.
    #[test]
    fn a_burst_of_notifies_writes_the_eventfd_once() {
        let reactor = EpollReactor::new().unwrap();
        let notifier = reactor.notifier();
        std::thread::spawn(move || {
            for _ in 0..100 {
                notifier.notify().unwrap();
            }
        })
        .join()
        .unwrap();
        let mut counter = [0u8; 8];
        rustix::io::read(&*reactor.inner.notify, &mut counter).unwrap();
        assert_eq!(u64::from_ne_bytes(counter), 1);
        // Put back (epoll checks the counter when it hands out the edge): the wait sees the
        // wake-up, resets the flag, and the next notify writes again.
        rustix::io::write(&*reactor.inner.notify, &counter).unwrap();
        let start = Instant::now();
        reactor
            .wait(Some(Instant::now() + Duration::from_secs(5)))
            .unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "the wake-up was lost"
        );
        assert!(!reactor.inner.notify.is_pending());
        reactor.notifier().notify().unwrap();
        assert!(reactor.inner.notify.is_pending());
    }

    /// The fallback timer is armed once per distinct deadline: waits that end early (a
    /// notify) and wait again for the same deadline leave it alone.
    /// A stream of notifies from another thread, racing with the resets: every wait ends
    /// at a notify, long before its deadline (a lost wake-up would leave the flag set and
    /// make every later notify a no-op; see `EventfdNotify::reset` for the order that
    /// prevents it). A stress check: the race window is a few instructions wide.
    #[test]
    fn a_notify_racing_with_the_reset_is_not_lost() {
        let reactor = EpollReactor::new().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (notifier, stop) = (reactor.notifier(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    notifier.notify().unwrap();
                }
            })
        };
        let patience = Duration::from_secs(3);
        let lost = (0..50_000).any(|_| {
            let start = Instant::now();
            reactor.wait(Some(start + patience)).unwrap();
            start.elapsed() >= patience
        });
        stop.store(true, Ordering::Relaxed);
        thread.join().unwrap();
        assert!(
            !lost,
            "a wait ran to its deadline under a stream of notifies"
        );
    }

    #[test]
    fn the_fallback_timer_is_rearmed_only_when_the_deadline_changes() {
        let reactor = EpollReactor::with_timing(Timing::Timerfd).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        reactor.notifier().notify().unwrap();
        reactor.wait(Some(deadline)).unwrap();
        assert_eq!(reactor.inner.timer_armed.get(), Some(deadline));
        let timer = reactor
            .inner
            .timer
            .borrow()
            .as_ref()
            .unwrap()
            .try_clone()
            .unwrap();
        let first = rustix::time::timerfd_gettime(&timer).unwrap().it_value;
        std::thread::sleep(Duration::from_millis(20));
        reactor.notifier().notify().unwrap();
        reactor.wait(Some(deadline)).unwrap();
        // Not re-armed: the time left kept running down (a re-arm would have reset it to
        // the full remaining time measured after the sleep, but never *more* than before).
        let second = rustix::time::timerfd_gettime(&timer).unwrap().it_value;
        let nanos = |t: Timespec| t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128;
        assert!(nanos(second) < nanos(first) - 10_000_000);
        // A new deadline re-arms it.
        let later = deadline + Duration::from_secs(30);
        reactor.notifier().notify().unwrap();
        reactor.wait(Some(later)).unwrap();
        assert_eq!(reactor.inner.timer_armed.get(), Some(later));
        let third = rustix::time::timerfd_gettime(&timer).unwrap().it_value;
        assert!(third.tv_sec >= 50);
    }

    /// With the timer's deadline passed, the wait sees the timer's event and forgets the
    /// deadline, so the same deadline later would arm again.
    #[test]
    fn the_fallback_timer_fires_and_is_forgotten() {
        let reactor = EpollReactor::with_timing(Timing::Timerfd).unwrap();
        let deadline = Instant::now() + Duration::from_millis(2);
        reactor.wait(Some(deadline)).unwrap();
        assert!(Instant::now() >= deadline);
        assert_eq!(reactor.inner.timer_armed.get(), None);
    }
}
