//! An io_uring [`Reactor`] for aio: the same contract as the default `polling` reactor, on
//! Linux's io_uring.
//!
//! Readiness comes from `IORING_OP_POLL_ADD` requests. The read direction uses a *multishot*
//! poll where the kernel has it (Linux 5.13+): armed once, it posts a completion every time
//! the descriptor becomes readable, so a busy socket costs no re-arm system call per event
//! (what `epoll` in oneshot mode pays). The write direction, waited on rarely, uses a oneshot
//! poll armed only while a task waits for it. Submissions are queued in the ring and go to the
//! kernel together with the wait, in one `io_uring_enter` per loop iteration; completions are
//! read from shared memory, so a non-blocking poll with nothing to submit makes no system call
//! at all.
//!
//! Choose it with `EventLoop::with_reactor(UringReactor::new()?)`, or set `AIO_REACTOR=uring`
//! for `aio::run` and `EventLoop::new()`.
//!
//! # Examples
//!
//! ```
//! use std::io::{Read, Write};
//! use std::os::unix::net::UnixStream;
//! use std::task::{Context, Poll, Waker};
//! use std::time::{Duration, Instant};
//! use aio_reactor::{AsyncFd, Reactor};
//! use aio_reactor_uring::UringReactor;
//!
//! let reactor = UringReactor::new()?;
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
//! # std::io::Result::Ok(())
//! ```

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aio_reactor::{Driver, EventfdNotify, Notify, Reactor, Registration, Source, Sources, Waker};
use io_uring::types::{SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue, types};

/// Submission queue size. Polls hold no SQE once submitted, so this only bounds how many
/// requests one loop iteration can queue before an early submit.
const RING_ENTRIES: u32 = 256;
/// Completion queue size: twice as many events per harvest as `polling`'s default batch;
/// more stay queued in the kernel (`IORING_FEAT_NODROP`) until the next harvest.
const CQ_ENTRIES: u32 = 1024;

/// The low two bits of a request's `user_data`: what the request is.
const TAG_INTERNAL: u64 = 0;
const TAG_READ: u64 = 1;
const TAG_WRITE: u64 = 2;
/// The whole `user_data` of the wake-up eventfd's poll.
const NOTIFY: u64 = u64::MAX;

/// `Source::armed` bits: a poll for that direction is live in the kernel.
const ARMED_READ: u8 = 0b01;
const ARMED_WRITE: u8 = 0b10;

const POLLIN: u32 = 0x001;
const POLLPRI: u32 = 0x002;
const POLLOUT: u32 = 0x004;
const POLLERR: u32 = 0x008;
const POLLHUP: u32 = 0x010;
const POLLRDHUP: u32 = 0x2000;

/// The io_uring reactor.
///
/// Registrations live in a slab; a request's `user_data` carries the slot, a generation and
/// the direction, so a completion for a descriptor that was deregistered (its slot maybe
/// reused) is recognised as stale and dropped.
///
/// # Cancel safety
///
/// The reactor has no futures of its own; futures built on its registrations'
/// `poll_*` functions are as cancel safe as with the default reactor (see
/// [`Registration::poll_read_with`]): a completion records readiness in the registration
/// whether or not its waiter is still there, so a waiter dropped while waiting consumes
/// nothing, and the next poll finds the readiness without a new event. A poll already in the
/// kernel for a dropped waiter stays armed; its completion records readiness (and wakes the
/// dropped waiter's stale waker once).
///
/// # Examples
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use aio_reactor::{AsyncFd, Reactor};
/// use aio_reactor_uring::UringReactor;
///
/// let reactor: Box<dyn Reactor> = Box::new(UringReactor::new()?);
/// assert_eq!(reactor.name(), "io_uring");
/// let (a, _b) = UnixStream::pair()?;
/// let a = AsyncFd::new(&*reactor, a)?;
/// assert_eq!(reactor.registrations(), 1);
/// drop(a);
/// assert_eq!(reactor.registrations(), 0);
/// # std::io::Result::Ok(())
/// ```
pub struct UringReactor {
    inner: Rc<Inner>,
}

struct Inner {
    ring: RefCell<IoUring>,
    slots: RefCell<Sources>,
    /// The cross-thread wake-up: an eventfd the ring polls.
    notify: Arc<EventfdNotify>,
    /// The kernel takes multishot polls (cleared at the first `EINVAL` for one).
    multishot: Cell<bool>,
    /// Completions copied out of the ring, then processed with the ring released.
    completions: RefCell<Vec<(u64, i32, u32)>>,
    wakers: RefCell<Vec<Waker>>,
}

fn user_data(key: usize, tag: u64) -> u64 {
    (key as u64) << 2 | tag
}

impl UringReactor {
    /// Sets up a ring and its wake-up eventfd.
    ///
    /// # Errors
    ///
    /// The OS error when the kernel refuses io_uring (`ENOSYS` on kernels without it, `EPERM`
    /// when disabled by the `kernel.io_uring_disabled` sysctl or a seccomp filter), or
    /// `Unsupported` on a kernel older than 5.11, which lacks the timed wait this reactor
    /// needs (`IORING_FEAT_EXT_ARG`).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_reactor::Reactor;
    /// let reactor = aio_reactor_uring::UringReactor::new()?;
    /// assert_eq!(reactor.registrations(), 0);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn new() -> io::Result<UringReactor> {
        let ring = build_ring().map_err(|e| {
            io::Error::new(e.kind(), format!("io_uring is not available here: {e}"))
        })?;
        if !ring.params().is_feature_ext_arg() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring on this kernel lacks IORING_FEAT_EXT_ARG (Linux 5.11+)",
            ));
        }
        let notify = EventfdNotify::new()?;
        let inner = Rc::new(Inner {
            ring: RefCell::new(ring),
            slots: RefCell::new(Sources::default()),
            notify: Arc::new(notify),
            multishot: Cell::new(true),
            completions: RefCell::new(Vec::with_capacity(CQ_ENTRIES as usize)),
            wakers: RefCell::new(Vec::new()),
        });
        inner.arm_notify()?;
        Ok(UringReactor { inner })
    }

    /// Whether read polls are multishot (the kernel supports them; Linux 5.13+).
    ///
    /// # Examples
    ///
    /// ```
    /// let reactor = aio_reactor_uring::UringReactor::new()?;
    /// println!("multishot polls: {}", reactor.multishot());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn multishot(&self) -> bool {
        self.inner.multishot.get()
    }
}

/// A ring with cooperative task running where the kernel has it (5.19+: completions are not
/// pushed to us with an interrupt; we collect them when we enter the kernel, or when the ring
/// flags that work is waiting), a plain one otherwise.
fn build_ring() -> io::Result<IoUring> {
    let coop = IoUring::builder()
        .setup_cqsize(CQ_ENTRIES)
        .setup_coop_taskrun()
        .setup_taskrun_flag()
        .build(RING_ENTRIES);
    match coop {
        Ok(ring) => Ok(ring),
        Err(e) if e.raw_os_error() == Some(22) => IoUring::builder()
            .setup_cqsize(CQ_ENTRIES)
            .build(RING_ENTRIES),
        Err(e) => Err(e),
    }
}

impl Inner {
    /// Queues `entry`, submitting first if the queue is full.
    fn push(&self, entry: &squeue::Entry) -> io::Result<()> {
        let mut ring = self.ring.borrow_mut();
        loop {
            // SAFETY: every entry this reactor queues is a poll add or poll remove, which
            // reference no memory of ours (only a descriptor, a mask and a user_data).
            if unsafe { ring.submission().push(entry) }.is_ok() {
                return Ok(());
            }
            ring.submit()?;
        }
    }

    fn arm_notify(&self) -> io::Result<()> {
        let fd = types::Fd(self.notify.as_fd().as_raw_fd());
        let entry = opcode::PollAdd::new(fd, POLLIN)
            .multi(self.multishot.get())
            .build()
            .user_data(NOTIFY);
        self.push(&entry)
    }

    fn poll_entry(&self, source: &Source, tag: u64) -> squeue::Entry {
        let fd = types::Fd(source.fd());
        let (mask, multi) = if tag == TAG_READ {
            (POLLIN | POLLPRI | POLLRDHUP, self.multishot.get())
        } else {
            (POLLOUT, false)
        };
        opcode::PollAdd::new(fd, mask)
            .multi(multi)
            .build()
            .user_data(user_data(source.key(), tag))
    }

    /// Handles the completions copied out of the ring. Returns the events delivered.
    fn dispatch(&self, wakers: &mut Vec<Waker>) -> usize {
        let completions = std::mem::take(&mut *self.completions.borrow_mut());
        let mut delivered = 0;
        let mut rearm_notify = false;
        {
            let slots = self.slots.borrow();
            for &(data, result, flags) in &completions {
                let more = cqueue::more(flags);
                if data == NOTIFY {
                    self.notify.reset();
                    if !more {
                        rearm_notify = true;
                    }
                    if result == -22 && self.multishot.get() {
                        self.multishot.set(false);
                    }
                    continue;
                }
                let tag = data & 0b11;
                if tag == TAG_INTERNAL {
                    continue;
                }
                // Stale (deregistered, slot maybe reused): dropped here.
                let Some(source) = slots.get((data >> 2) as usize) else {
                    continue;
                };
                let bit = if tag == TAG_READ {
                    ARMED_READ
                } else {
                    ARMED_WRITE
                };
                if !more {
                    source.set_armed(source.armed() & !bit);
                }
                if result == -22 && tag == TAG_READ && self.multishot.get() {
                    // A kernel without multishot polls: oneshot from now on. Wake the waiter;
                    // its next poll re-arms.
                    self.multishot.set(false);
                }
                let revents = if result < 0 {
                    // An error (EBADF, ECANCELED, ...): report readiness so the waiting
                    // operation runs and surfaces the real error, or re-arms.
                    POLLERR
                } else {
                    result as u32
                };
                let failed = revents & (POLLERR | POLLHUP) != 0;
                delivered += 1;
                source.set_ready(
                    tag == TAG_READ || failed,
                    tag == TAG_WRITE || failed,
                    wakers,
                );
            }
        }
        let mut buffer = completions;
        buffer.clear();
        *self.completions.borrow_mut() = buffer;
        if rearm_notify {
            // Cannot fail for want of space (push submits then); a failed submit leaves the
            // entry queued for the next wait.
            let _ = self.arm_notify();
        }
        delivered
    }
}

impl Reactor for UringReactor {
    unsafe fn register(&self, fd: RawFd) -> io::Result<Registration> {
        if fd < 0 {
            return Err(io::Error::from_raw_os_error(9)); // EBADF, as epoll_ctl would say
        }
        let inner = &self.inner;
        let mut slots = inner.slots.borrow_mut();
        let key = slots.vacant_key();
        let source = Rc::new(Source::new(fd, key));
        slots.fill(key, source.clone());
        // Nothing goes to the kernel yet: readiness starts optimistic, and the first
        // `WouldBlock` arms a poll (`Driver::arm`).
        Ok(Registration::new(source, inner.clone()))
    }

    fn wait(&self, deadline: Option<Instant>) -> io::Result<usize> {
        let inner = &self.inner;
        {
            let mut ring = inner.ring.borrow_mut();
            let queued = {
                let mut sq = ring.submission();
                sq.sync();
                !sq.is_empty() || sq.taskrun() || sq.cq_overflow()
            };
            let ready = !ring.completion().is_empty();
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let entered = if ready || timeout == Some(Duration::ZERO) {
                // Do not block: hand over what is queued (and collect deferred completions),
                // or make no system call at all.
                if queued {
                    ring.submit().map(drop)
                } else {
                    Ok(())
                }
            } else {
                match timeout {
                    Some(timeout) => {
                        let ts = Timespec::new()
                            .sec(timeout.as_secs())
                            .nsec(timeout.subsec_nanos());
                        let args = SubmitArgs::new().timespec(&ts);
                        ring.submitter().submit_with_args(1, &args).map(drop)
                    }
                    None => ring.submitter().submit_and_wait(1).map(drop),
                }
            };
            match entered {
                Ok(()) => {}
                // ETIME: the deadline passed; EINTR: a signal (the loop looks again); EBUSY:
                // the completion queue is full, and draining it below is the cure.
                Err(e) if matches!(e.raw_os_error(), Some(62 | 4 | 16)) => {}
                Err(e) => return Err(e),
            }
            let mut completions = inner.completions.borrow_mut();
            for cqe in ring.completion() {
                completions.push((cqe.user_data(), cqe.result(), cqe.flags()));
            }
        }
        let mut wakers = inner.wakers.take();
        let delivered = inner.dispatch(&mut wakers);
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
        self.inner.slots.borrow().len()
    }

    fn name(&self) -> &'static str {
        "io_uring"
    }
}

impl Driver for Inner {
    fn arm(&self, source: &Source) -> io::Result<()> {
        let wanted = source.wanted();
        let missing = wanted & !source.armed();
        for (bit, tag) in [(ARMED_READ, TAG_READ), (ARMED_WRITE, TAG_WRITE)] {
            if missing & bit != 0 {
                self.push(&self.poll_entry(source, tag))?;
                source.set_armed(source.armed() | bit);
            }
        }
        Ok(())
    }

    fn deregister(&self, source: &Source) {
        let key = source.key();
        let armed = source.armed();
        for (bit, tag) in [(ARMED_READ, TAG_READ), (ARMED_WRITE, TAG_WRITE)] {
            if armed & bit != 0 {
                let entry = opcode::PollRemove::new(user_data(key, tag))
                    .build()
                    .user_data(user_data(key, TAG_INTERNAL));
                // A removal that cannot be queued leaves a poll whose completions are stale
                // (the slot's generation moves on below) and which ends with the ring.
                let _ = self.push(&entry);
            }
        }
        if armed != 0 {
            // Submit now, not with the next wait: a live poll holds a reference to the file,
            // so until the removal is processed, closing the descriptor would not close the
            // file (a peer would not see the connection end, a child its stdin's EOF).
            let _ = self.ring.borrow_mut().submit();
        }
        source.set_armed(0);
        self.slots.borrow_mut().release(key);
    }
}

impl fmt::Debug for UringReactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UringReactor")
            .field("multishot", &self.inner.multishot.get())
            .field("registrations", &self.registrations())
            .finish()
    }
}
