//! The default reactor, on the `polling` crate (epoll on Linux, kqueue on the BSDs).

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use polling::{Event, Events, Poller};

use crate::{Driver, Notify, Reactor, Registration, Source, Sources, Waker};

/// How [`PollingReactor`] asks the kernel for events.
///
/// # Examples
///
/// ```
/// use aio_reactor::{PollMode, PollingReactor};
///
/// let reactor = PollingReactor::with_mode(PollMode::Oneshot)?;
/// assert_eq!(reactor.mode(), PollMode::Oneshot);
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollMode {
    /// Register every descriptor once for both directions, edge-triggered. An event is
    /// delivered when readiness *changes*; the descriptor is never re-armed, so a wait costs no
    /// system call beyond the wait itself. The default where the OS supports it (see
    /// `docs/design.md` for the measurement).
    Edge,
    /// Arm only the directions a task waits for, and re-arm after every event (`polling`'s
    /// default). One extra `epoll_ctl` per event.
    Oneshot,
}

/// The default [`Reactor`], built on [`polling`].
///
/// Registrations live in a slab; an event's key carries the slot index and a generation, so an
/// event that arrives for a descriptor that was deregistered (and whose slot may have been
/// reused) is ignored rather than delivered to the wrong registration.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use aio_reactor::{PollingReactor, Reactor};
///
/// let reactor = PollingReactor::new()?;
/// // No descriptors, a deadline 2 ms away: the wait times out precisely.
/// let start = Instant::now();
/// reactor.wait(Some(start + Duration::from_millis(2)))?;
/// assert!(start.elapsed() >= Duration::from_millis(2));
/// # std::io::Result::Ok(())
/// ```
pub struct PollingReactor {
    inner: Rc<Inner>,
}

struct Inner {
    poller: Arc<Poller>,
    mode: PollMode,
    slots: RefCell<Sources>,
    events: RefCell<Events>,
    /// Wakers collected from one batch of events, woken after the reactor's state is released.
    wakers: RefCell<Vec<Waker>>,
}

impl PollingReactor {
    /// A reactor in the default mode: [`PollMode::Edge`] where the OS supports it, otherwise
    /// [`PollMode::Oneshot`].
    ///
    /// # Errors
    ///
    /// The OS error from creating the poller (for example, too many open files).
    ///
    /// # Examples
    ///
    /// ```
    /// let reactor = aio_reactor::PollingReactor::new()?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn new() -> io::Result<PollingReactor> {
        let poller = Poller::new()?;
        let mode = if poller.supports_edge() {
            PollMode::Edge
        } else {
            PollMode::Oneshot
        };
        Ok(Self::from_poller(poller, mode))
    }

    /// A reactor in the given mode.
    ///
    /// # Errors
    ///
    /// The OS error from creating the poller, or `Unsupported` when `mode` is
    /// [`PollMode::Edge`] and the OS poller has no edge-triggered mode.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_reactor::{PollMode, PollingReactor};
    ///
    /// let reactor = PollingReactor::with_mode(PollMode::Oneshot)?; // works everywhere
    /// assert_eq!(reactor.mode(), PollMode::Oneshot);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn with_mode(mode: PollMode) -> io::Result<PollingReactor> {
        let poller = Poller::new()?;
        if mode == PollMode::Edge && !poller.supports_edge() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this OS poller has no edge-triggered mode",
            ));
        }
        Ok(Self::from_poller(poller, mode))
    }

    fn from_poller(poller: Poller, mode: PollMode) -> PollingReactor {
        PollingReactor {
            inner: Rc::new(Inner {
                poller: Arc::new(poller),
                mode,
                slots: RefCell::new(Sources::default()),
                events: RefCell::new(Events::new()),
                wakers: RefCell::new(Vec::new()),
            }),
        }
    }

    /// The mode this reactor runs in.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_reactor::{PollMode, PollingReactor};
    ///
    /// // Edge-triggered where the OS poller has it (epoll, kqueue).
    /// assert_eq!(PollingReactor::new()?.mode(), PollMode::Edge);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn mode(&self) -> PollMode {
        self.inner.mode
    }
}

impl Reactor for PollingReactor {
    unsafe fn register(&self, fd: RawFd) -> io::Result<Registration> {
        let inner = &self.inner;
        let key = inner.slots.borrow_mut().vacant_key();
        let (interest, mode) = match inner.mode {
            PollMode::Edge => (Event::all(key), polling::PollMode::Edge),
            PollMode::Oneshot => (Event::none(key), polling::PollMode::Oneshot),
        };
        // SAFETY: the caller guarantees `fd` stays open until the registration is dropped, and
        // the registration's drop deletes it from the poller (`Driver::deregister`).
        if let Err(e) = unsafe { inner.poller.add_with_mode(fd, interest, mode) } {
            inner.slots.borrow_mut().release(key);
            return Err(e);
        }
        let source = Rc::new(Source::new(fd, key));
        inner.slots.borrow_mut().fill(key, source.clone());
        Ok(Registration::new(source, inner.clone()))
    }

    fn wait(&self, deadline: Option<Instant>) -> io::Result<usize> {
        let inner = &self.inner;
        let mut events = inner.events.borrow_mut();
        events.clear();
        match deadline {
            // Nothing registered and no time to wait: there is nothing the kernel could say.
            Some(d) if inner.slots.borrow().is_empty() && d <= Instant::now() => return Ok(0),
            Some(d) => inner.poller.wait_deadline(&mut events, d)?,
            None => inner.poller.wait(&mut events, None)?,
        };

        let mut wakers = inner.wakers.take();
        let mut delivered = 0;
        {
            let slots = inner.slots.borrow();
            for event in events.iter() {
                // A stale event (its registration is gone, its slot maybe reused) finds no
                // source or a newer generation, and is dropped here.
                let Some(source) = slots.get(event.key) else {
                    continue;
                };
                delivered += 1;
                source.set_ready(event.readable, event.writable, &mut wakers);
                if inner.mode == PollMode::Oneshot {
                    // The kernel disarmed the descriptor; re-arm whatever still waits. If that
                    // fails, wake those waiters too rather than strand them: their next poll
                    // re-arms and reports the error.
                    source.set_armed(0);
                    if source.wanted() != 0 && inner.arm(source).is_err() {
                        source.set_ready(true, true, &mut wakers);
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
        Arc::new(PollerNotify(self.inner.poller.clone()))
    }

    fn registrations(&self) -> usize {
        self.inner.slots.borrow().len()
    }

    fn name(&self) -> &'static str {
        "polling"
    }
}

impl Driver for Inner {
    fn arm(&self, source: &Source) -> io::Result<()> {
        if self.mode == PollMode::Edge {
            return Ok(());
        }
        let wanted = source.wanted();
        if wanted == source.armed() {
            return Ok(());
        }
        let interest = Event::new(source.key(), wanted & 0b01 != 0, wanted & 0b10 != 0);
        // SAFETY: a source is only reachable through a live registration, whose contract keeps
        // the descriptor open.
        let fd = unsafe { BorrowedFd::borrow_raw(source.fd()) };
        self.poller
            .modify_with_mode(fd, interest, polling::PollMode::Oneshot)?;
        source.set_armed(wanted);
        Ok(())
    }

    fn deregister(&self, source: &Source) {
        // SAFETY: called from `Registration::drop`, before the descriptor is closed.
        let fd = unsafe { BorrowedFd::borrow_raw(source.fd()) };
        // The descriptor is open and registered, so this cannot fail in a way we could act
        // on; the slot is released either way so no event reaches the dead source.
        let _ = self.poller.delete(fd);
        self.slots.borrow_mut().release(source.key());
    }
}

impl fmt::Debug for PollingReactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollingReactor")
            .field("mode", &self.inner.mode)
            .field("registrations", &self.registrations())
            .finish()
    }
}

/// The cross-thread wake-up of a [`PollingReactor`].
struct PollerNotify(Arc<Poller>);

impl Notify for PollerNotify {
    fn notify(&self) -> io::Result<()> {
        self.0.notify()
    }
}
