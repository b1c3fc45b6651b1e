//! Per-descriptor readiness state shared by a reactor and its [`Registration`]s.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Readiness bit for the read direction (see [`Source::armed`]).
const READ: u8 = 0b01;
/// Readiness bit for the write direction (see [`Source::armed`]).
const WRITE: u8 = 0b10;
/// In `ready`, beside the two readiness bits: every read event since the last `WouldBlock`
/// came from a reactor that reports the peer's end of stream and urgent data apart from plain
/// data, and none of them carried either (see [`Source::clear_readable_after_short_read`]).
const SHORT_READ_DRAINS: u8 = 0b100;

/// The readiness state of one registered file descriptor.
///
/// A reactor creates one per registration and hands it out inside a [`Registration`]. When an
/// event arrives, the reactor calls [`Source::set_ready`], which marks the direction ready and
/// collects its waker. Reactor implementations use this type; users go through
/// [`Registration`].
///
/// Readiness starts *set* in both directions: a fresh descriptor is tried optimistically, and
/// the first `WouldBlock` clears it (see [`Registration::poll_read_with`]).
///
/// # Examples
///
/// ```
/// use std::task::{Context, Waker};
/// use aio_reactor::Source;
///
/// let source = Source::new(0, 7);
/// assert_eq!(source.key(), 7);
/// source.clear_readable();
/// let mut wakers = Vec::new();
/// source.set_ready(true, false, &mut wakers);
/// assert!(source.is_readable());
/// ```
pub struct Source {
    fd: RawFd,
    armed: Cell<u8>,
    /// The directions ([`READ`], [`WRITE`]) in which the reactor saw readiness that no
    /// operation has consumed yet: bits beside `armed`, not a flag per direction, so the
    /// source (one allocation per registered descriptor) is 40 bytes.
    ready: Cell<u8>,
    key: usize,
    /// The task waiting for the next read readiness event.
    read: Cell<Option<Waker>>,
    /// The task waiting for the next write readiness event, boxed: a socket waits to write
    /// only when its send buffer is full, and the box keeps every registration (one per
    /// connection) at 40 bytes, a smaller allocation than 48.
    write: Cell<Option<Box<Waker>>>,
}

impl Source {
    /// Takes the waker waiting on direction `bit`.
    fn take_waker(&self, bit: u8) -> Option<Waker> {
        if bit == READ {
            self.read.take()
        } else {
            self.write.take().map(|waker| *waker)
        }
    }

    fn has_waiter(&self, bit: u8) -> bool {
        if bit == READ {
            let waker = self.read.take();
            let has = waker.is_some();
            self.read.set(waker);
            has
        } else {
            let waker = self.write.take();
            let has = waker.is_some();
            self.write.set(waker);
            has
        }
    }

    fn clear(&self, bit: u8) {
        self.ready.set(self.ready.get() & !bit);
    }

    /// Whether direction `bit` is ready; if not, keeps `cx`'s waker for it (the stored one
    /// stays if it wakes the same task).
    fn poll_direction(&self, bit: u8, cx: &mut Context<'_>) -> bool {
        if self.ready.get() & bit != 0 {
            return true;
        }
        if bit == READ {
            match self.read.take() {
                Some(w) if w.will_wake(cx.waker()) => self.read.set(Some(w)),
                _ => self.read.set(Some(cx.waker().clone())),
            }
        } else {
            match self.write.take() {
                Some(w) if w.will_wake(cx.waker()) => self.write.set(Some(w)),
                Some(mut w) => {
                    cx.waker().clone_into(&mut w);
                    self.write.set(Some(w));
                }
                None => self.write.set(Some(Box::new(cx.waker().clone()))),
            }
        }
        false
    }

    /// A source for `fd`, identified in the reactor's events by `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// let source = aio_reactor::Source::new(3, 42);
    /// assert_eq!((source.fd(), source.key()), (3, 42));
    /// ```
    pub fn new(fd: RawFd, key: usize) -> Source {
        Source {
            fd,
            armed: Cell::new(0),
            ready: Cell::new(READ | WRITE),
            key,
            read: Cell::new(None),
            write: Cell::new(None),
        }
    }

    /// The registered file descriptor.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(aio_reactor::Source::new(5, 0).fd(), 5);
    /// ```
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// The key the reactor uses for this source in its events.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(aio_reactor::Source::new(5, 9).key(), 9);
    /// ```
    pub fn key(&self) -> usize {
        self.key
    }

    /// Records an event: marks the given directions ready and moves their wakers into
    /// `wakers`, for the reactor to wake once it has released its own state.
    ///
    /// # Examples
    ///
    /// ```
    /// let source = aio_reactor::Source::new(0, 0);
    /// let mut wakers = Vec::new();
    /// source.set_ready(false, true, &mut wakers);
    /// assert!(source.is_writable());
    /// ```
    pub fn set_ready(&self, readable: bool, writable: bool, wakers: &mut Vec<Waker>) {
        self.set_ready_reporting(readable, writable, false, wakers);
    }

    /// [`set_ready`](Source::set_ready) for a reactor whose read events tell plain data
    /// apart from the peer's end of stream and urgent data (epoll with `EPOLLRDHUP` and
    /// `EPOLLPRI` in its interest): `plain_read` says this event carried neither, nor an
    /// error or hang-up. Only such events let a short read prove the descriptor drained
    /// (see [`clear_readable_after_short_read`](Source::clear_readable_after_short_read));
    /// `set_ready` counts every read event as not plain.
    ///
    /// # Examples
    ///
    /// ```
    /// let source = aio_reactor::Source::new(0, 0);
    /// let mut wakers = Vec::new();
    /// source.clear_readable(); // a read found the descriptor empty
    /// source.set_ready_reporting(true, false, true, &mut wakers); // then plain data came
    /// assert!(source.clear_readable_after_short_read()); // a short read took all of it
    /// assert!(!source.is_readable());
    ///
    /// source.set_ready_reporting(true, false, false, &mut wakers); // data and a FIN, say
    /// assert!(!source.clear_readable_after_short_read()); // read on: the EOF is still there
    /// assert!(source.is_readable());
    /// ```
    pub fn set_ready_reporting(
        &self,
        readable: bool,
        writable: bool,
        plain_read: bool,
        wakers: &mut Vec<Waker>,
    ) {
        if readable && !plain_read {
            self.clear(SHORT_READ_DRAINS);
        }
        for (hit, bit) in [(readable, READ), (writable, WRITE)] {
            if hit {
                self.ready.set(self.ready.get() | bit);
                wakers.extend(self.take_waker(bit));
            }
        }
    }

    /// Whether read readiness is recorded and not yet consumed.
    ///
    /// # Examples
    ///
    /// ```
    /// let source = aio_reactor::Source::new(0, 0);
    /// assert!(source.is_readable()); // optimistic until the first WouldBlock
    /// source.clear_readable();
    /// assert!(!source.is_readable());
    /// ```
    pub fn is_readable(&self) -> bool {
        self.ready.get() & READ != 0
    }

    /// Whether write readiness is recorded and not yet consumed.
    ///
    /// # Examples
    ///
    /// ```
    /// let source = aio_reactor::Source::new(0, 0);
    /// source.clear_writable();
    /// assert!(!source.is_writable());
    /// ```
    pub fn is_writable(&self) -> bool {
        self.ready.get() & WRITE != 0
    }

    /// Forgets read readiness: the next [`Registration::poll_readable`] waits for a new event.
    ///
    /// # Examples
    ///
    /// ```
    /// let source = aio_reactor::Source::new(0, 0);
    /// source.clear_readable();
    /// assert!(!source.is_readable());
    /// ```
    pub fn clear_readable(&self) {
        // The descriptor was found empty: from here, plain read events alone may follow.
        self.ready.set(self.ready.get() & !READ | SHORT_READ_DRAINS);
    }

    /// A read returned fewer bytes than it asked for (and more than none): forgets read
    /// readiness, as [`clear_readable`](Source::clear_readable) does, when that proves the
    /// descriptor drained — so the next read waits for an event instead of making a system
    /// call only to learn `WouldBlock`. Returns whether it did.
    ///
    /// It does only when every read event since the descriptor was last found empty was
    /// plain (see [`set_ready_reporting`](Source::set_ready_reporting)). Then nothing that a
    /// short read can leave behind is unreported: more data, or the peer's FIN, arriving
    /// after the read brings a new event; a FIN or urgent data that came before it made its
    /// event not plain, and the readiness stays for the next read (which returns the end of
    /// stream, or the data past the urgent mark). Call it only for descriptors whose reads
    /// return everything queued up to the buffer's size — TCP sockets; not Unix sockets,
    /// whose reads stop between different writers' data.
    ///
    /// # Examples
    ///
    /// ```
    /// let source = aio_reactor::Source::new(0, 0);
    /// // A fresh source has seen no event: a short read proves nothing yet.
    /// assert!(!source.clear_readable_after_short_read());
    /// assert!(source.is_readable());
    /// ```
    pub fn clear_readable_after_short_read(&self) -> bool {
        let drains = self.ready.get() & SHORT_READ_DRAINS != 0;
        if drains {
            self.clear(READ);
        }
        drains
    }

    /// Forgets write readiness: the next [`Registration::poll_writable`] waits for a new event.
    ///
    /// # Examples
    ///
    /// ```
    /// let source = aio_reactor::Source::new(0, 0);
    /// source.clear_writable();
    /// assert!(!source.is_writable());
    /// ```
    pub fn clear_writable(&self) {
        self.clear(WRITE);
    }

    /// Which directions have a task waiting: `(read, write)`. A oneshot reactor arms exactly
    /// these.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(aio_reactor::Source::new(0, 0).waiting(), (false, false));
    /// ```
    pub fn waiting(&self) -> (bool, bool) {
        (self.has_waiter(READ), self.has_waiter(WRITE))
    }

    /// Interest bits a reactor last armed in the kernel (bit 0 read, bit 1 write), for reactors
    /// that must re-arm after every event. Edge-triggered reactors ignore it.
    ///
    /// # Examples
    ///
    /// ```
    /// let source = aio_reactor::Source::new(0, 0);
    /// source.set_armed(0b11);
    /// assert_eq!(source.armed(), 0b11);
    /// ```
    pub fn armed(&self) -> u8 {
        self.armed.get()
    }

    /// Records which interest bits are armed in the kernel (see [`Source::armed`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let source = aio_reactor::Source::new(0, 0);
    /// source.set_armed(0b01);
    /// assert_eq!(source.armed(), 0b01);
    /// ```
    pub fn set_armed(&self, bits: u8) {
        self.armed.set(bits);
    }

    /// The interest bits [`Source::waiting`] asks for, in the encoding of [`Source::armed`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(aio_reactor::Source::new(0, 0).wanted(), 0);
    /// ```
    pub fn wanted(&self) -> u8 {
        let (r, w) = self.waiting();
        (if r { READ } else { 0 }) | (if w { WRITE } else { 0 })
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("fd", &self.fd)
            .field("key", &self.key)
            .field("readable", &self.is_readable())
            .field("writable", &self.is_writable())
            .finish()
    }
}

/// The reactor side of a [`Registration`]: what a registration asks of the reactor that made
/// it. Implemented by reactors, not by users.
///
/// # Examples
///
/// A driver for a reactor that never needs to re-arm (edge-triggered) and has nothing to undo:
///
/// ```
/// use std::{io, rc::Rc};
/// use aio_reactor::{Driver, Registration, Source};
///
/// struct Edge;
/// impl Driver for Edge {
///     fn arm(&self, _: &Source) -> io::Result<()> { Ok(()) }
///     fn deregister(&self, _: &Source) {}
/// }
/// let registration = Registration::new(Rc::new(Source::new(0, 0)), Rc::new(Edge));
/// assert_eq!(registration.fd(), 0);
/// ```
pub trait Driver {
    /// A task started waiting on `source` (its [`Source::wanted`] may have grown): make sure the
    /// kernel will report the directions it waits for.
    ///
    /// # Errors
    ///
    /// The OS error from re-arming the descriptor; it is returned to the waiting task.
    fn arm(&self, source: &Source) -> io::Result<()>;

    /// The registration is being dropped: remove the descriptor from the poller. Called while
    /// the descriptor is still open.
    fn deregister(&self, source: &Source);
}

/// A registered file descriptor. Dropping it removes the descriptor from the reactor.
///
/// Obtained from [`Reactor::register`](crate::Reactor::register), or owned by an
/// [`AsyncFd`](crate::AsyncFd) together with the I/O object.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::os::unix::net::UnixStream;
/// use std::task::{Context, Waker};
/// use aio_reactor::{AsyncFd, PollingReactor};
///
/// let reactor = PollingReactor::new()?;
/// let (a, _b) = UnixStream::pair()?;
/// a.set_nonblocking(true)?;
/// let a = AsyncFd::new(&reactor, a)?;
/// let mut cx = Context::from_waker(Waker::noop());
/// // A fresh socket has room in its send buffer: the write goes through at once.
/// let poll = a.registration().poll_write_with(&mut cx, || a.get_ref().write(b"hi"));
/// assert!(matches!(poll, std::task::Poll::Ready(Ok(2))));
/// # std::io::Result::Ok(())
/// ```
pub struct Registration {
    source: Rc<Source>,
    driver: Rc<dyn Driver>,
}

impl Registration {
    /// Ties a source to the driver that deregisters it. For reactor implementations.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::{io, rc::Rc};
    /// # use aio_reactor::{Driver, Registration, Source};
    /// # struct Edge;
    /// # impl Driver for Edge {
    /// #     fn arm(&self, _: &Source) -> io::Result<()> { Ok(()) }
    /// #     fn deregister(&self, _: &Source) {}
    /// # }
    ///
    /// let source = Rc::new(Source::new(5, 1));
    /// let registration = Registration::new(source.clone(), Rc::new(Edge));
    /// assert!(std::ptr::eq(registration.source(), &*source)); // shares the readiness state
    /// ```
    pub fn new(source: Rc<Source>, driver: Rc<dyn Driver>) -> Registration {
        Registration { source, driver }
    }

    /// The registered file descriptor.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::{io, rc::Rc};
    /// # use aio_reactor::{Driver, Registration, Source};
    /// # struct Edge;
    /// # impl Driver for Edge {
    /// #     fn arm(&self, _: &Source) -> io::Result<()> { Ok(()) }
    /// #     fn deregister(&self, _: &Source) {}
    /// # }
    ///
    /// let registration = Registration::new(Rc::new(Source::new(5, 1)), Rc::new(Edge));
    /// assert_eq!(registration.fd(), 5);
    /// ```
    pub fn fd(&self) -> RawFd {
        self.source.fd
    }

    /// The shared readiness state.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::{io, rc::Rc};
    /// # use aio_reactor::{Driver, Registration, Source};
    /// # struct Edge;
    /// # impl Driver for Edge {
    /// #     fn arm(&self, _: &Source) -> io::Result<()> { Ok(()) }
    /// #     fn deregister(&self, _: &Source) {}
    /// # }
    /// let registration = Registration::new(Rc::new(Source::new(0, 3)), Rc::new(Edge));
    /// assert_eq!(registration.source().key(), 3);
    /// ```
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Ready when the descriptor may be readable; otherwise stores the waker, which the next
    /// read event wakes.
    ///
    /// Readiness can be spurious: if the read then fails with `WouldBlock`, call
    /// [`clear_readable`](Registration::clear_readable) and poll again
    /// ([`poll_read_with`](Registration::poll_read_with) does exactly that).
    ///
    /// # Errors
    ///
    /// An OS error from arming the descriptor in the poller.
    ///
    /// # Cancel safety
    ///
    /// Not a future, but a future built on it (`poll_fn(|cx| reg.poll_readable(cx))`) is cancel
    /// safe: it consumes nothing. Readiness an event brings stays recorded in the registration
    /// until an operation reports `WouldBlock`, so a waiter dropped before it ran again leaves
    /// it for the next poll. Each direction stores one waker — the latest poll's — so a
    /// dropped waiter's waker stays until the next event (one spurious wake-up) or until
    /// another poll replaces it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use std::task::{Context, Waker};
    /// use aio_reactor::{AsyncFd, PollingReactor};
    ///
    /// let reactor = PollingReactor::new()?;
    /// let (a, _b) = UnixStream::pair()?;
    /// a.set_nonblocking(true)?;
    /// let a = AsyncFd::new(&reactor, a)?;
    /// let mut cx = Context::from_waker(Waker::noop());
    /// a.registration().clear_readable();
    /// assert!(a.registration().poll_readable(&mut cx).is_pending());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_ready(READ, cx)
    }

    /// Ready when the descriptor may be writable; otherwise stores the waker, which the next
    /// write event wakes. Readiness can be spurious, as for
    /// [`poll_readable`](Registration::poll_readable).
    ///
    /// # Errors
    ///
    /// An OS error from arming the descriptor in the poller.
    ///
    /// # Cancel safety
    ///
    /// Not a future, but a future built on it (`poll_fn(|cx| reg.poll_writable(cx))`) is cancel
    /// safe: it consumes nothing. Readiness an event brings stays recorded in the registration
    /// until an operation reports `WouldBlock`, so a waiter dropped before it ran again leaves
    /// it for the next poll. Each direction stores one waker — the latest poll's — so a
    /// dropped waiter's waker stays until the next event (one spurious wake-up) or until
    /// another poll replaces it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use std::task::{Context, Waker};
    /// use aio_reactor::{AsyncFd, PollingReactor};
    ///
    /// let reactor = PollingReactor::new()?;
    /// let (a, _b) = UnixStream::pair()?;
    /// a.set_nonblocking(true)?;
    /// let a = AsyncFd::new(&reactor, a)?;
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(a.registration().poll_writable(&mut cx).is_ready());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_ready(WRITE, cx)
    }

    /// Ready if `direction` is; otherwise stores the waker and makes sure the kernel will
    /// report the direction.
    fn poll_ready(&self, direction: u8, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.source.poll_direction(direction, cx) {
            return Poll::Ready(Ok(()));
        }
        match self.driver.arm(&self.source) {
            Ok(()) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Runs `op` until it does not report `WouldBlock`, waiting on `direction` in between.
    fn poll_with<R>(
        &self,
        direction: u8,
        cx: &mut Context<'_>,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            if let Err(e) = std::task::ready!(self.poll_ready(direction, cx)) {
                return Poll::Ready(Err(e));
            }
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if direction == READ {
                        self.source.clear_readable();
                    } else {
                        self.source.clear_writable();
                    }
                }
                res => return Poll::Ready(res),
            }
        }
    }

    /// Forgets read readiness, after an operation reported `WouldBlock`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use aio_reactor::{AsyncFd, PollingReactor};
    ///
    /// let reactor = PollingReactor::new()?;
    /// let (a, _b) = UnixStream::pair()?;
    /// let a = AsyncFd::new(&reactor, a)?;
    /// assert!(a.registration().source().is_readable()); // optimistic at first
    /// a.registration().clear_readable();
    /// assert!(!a.registration().source().is_readable());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn clear_readable(&self) {
        self.source.clear_readable();
    }

    /// Forgets write readiness, after an operation reported `WouldBlock`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use std::task::{Context, Waker};
    /// use aio_reactor::{AsyncFd, PollingReactor};
    ///
    /// let reactor = PollingReactor::new()?;
    /// let (a, _b) = UnixStream::pair()?;
    /// let a = AsyncFd::new(&reactor, a)?;
    /// a.registration().clear_writable();
    /// assert!(!a.registration().source().is_writable());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn clear_writable(&self) {
        self.source.clear_writable();
    }

    /// Runs a non-blocking read operation `op` until it does not report `WouldBlock`, waiting
    /// for read readiness in between.
    ///
    /// # Errors
    ///
    /// Any error of `op` other than `WouldBlock`, or an error arming the descriptor.
    ///
    /// # Cancel safety
    ///
    /// Not a future, but a future built on it (`poll_fn(|cx| reg.poll_read_with(cx, op))`) is
    /// cancel safe as long as `op` is: `op` runs only inside a poll and its result is returned by
    /// that same poll, so a future dropped while pending has done no read; the readiness it waited
    /// for stays recorded for the next poll (see [`poll_readable`](Registration::poll_readable)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixStream;
    /// use std::task::{Context, Poll, Waker};
    /// use aio_reactor::{AsyncFd, PollingReactor};
    ///
    /// let reactor = PollingReactor::new()?;
    /// let (a, mut b) = UnixStream::pair()?;
    /// a.set_nonblocking(true)?;
    /// let a = AsyncFd::new(&reactor, a)?;
    /// b.write_all(b"data")?; // already readable: no wait needed
    /// let mut buf = [0u8; 8];
    /// let mut cx = Context::from_waker(Waker::noop());
    /// let read = a.registration().poll_read_with(&mut cx, || a.get_ref().read(&mut buf));
    /// assert!(matches!(read, Poll::Ready(Ok(4))));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn poll_read_with<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_with(READ, cx, op)
    }

    /// Runs a non-blocking write operation `op` until it does not report `WouldBlock`,
    /// waiting for write readiness in between.
    ///
    /// # Errors
    ///
    /// Any error of `op` other than `WouldBlock`, or an error arming the descriptor.
    ///
    /// # Cancel safety
    ///
    /// As [`poll_read_with`](Registration::poll_read_with): a future built on it is cancel safe
    /// as long as `op` is; dropped while pending, it has written nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use std::os::unix::net::UnixStream;
    /// use std::task::{Context, Poll, Waker};
    /// use aio_reactor::{AsyncFd, PollingReactor};
    ///
    /// let reactor = PollingReactor::new()?;
    /// let (a, _b) = UnixStream::pair()?;
    /// a.set_nonblocking(true)?;
    /// let a = AsyncFd::new(&reactor, a)?;
    /// let mut cx = Context::from_waker(Waker::noop());
    /// // Fill the socket buffer: the write then waits for room.
    /// let (reg, data) = (a.registration(), [0u8; 4096]);
    /// while let Poll::Ready(Ok(_)) = reg.poll_write_with(&mut cx, || a.get_ref().write(&data)) {}
    /// assert!(!a.registration().source().is_writable());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn poll_write_with<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_with(WRITE, cx, op)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.driver.deregister(&self.source);
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Registration").field(&self.source).finish()
    }
}
