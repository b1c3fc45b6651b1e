//! asyncio's datagram protocols: [`create_datagram_endpoint`] gives a [`DatagramTransport`]
//! that calls a [`DatagramProtocol`]'s methods on the loop as datagrams arrive (asyncio's
//! `_SelectorDatagramTransport`).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, IntoFuture, poll_fn};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;

use aio_reactor::AsyncFd;
use aio_scheduler::{EventLoop, ExceptionContext, get_running_loop, panic_message};
use aio_task::Error;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use crate::net::resolve;

/// The largest datagram a transport reads (asyncio's `max_size`, 256 KiB: more than any UDP
/// datagram).
const MAX_DATAGRAM: usize = 256 * 1024;

/// How many datagrams a transport delivers before it lets other tasks run.
const READ_BATCH: usize = 32;

/// asyncio's default high-water mark for a transport's write buffer.
const HIGH_WATER: usize = 64 * 1024;

/// The callbacks of a datagram endpoint (asyncio's `asyncio.DatagramProtocol`). Every method
/// has a default that does nothing, as in asyncio's base class; implement those you need.
///
/// The transport calls them on the loop's thread: [`connection_made`] first, then any number
/// of [`datagram_received`] / [`error_received`] (and [`pause_writing`] /
/// [`resume_writing`]), and [`connection_lost`] last, exactly once, after which the transport
/// lets go of the protocol. A method that panics closes its transport (which then calls
/// `connection_lost` with the panic as the error); the panic is reported to the loop's
/// exception handler, and the loop goes on.
///
/// [`connection_made`]: DatagramProtocol::connection_made
/// [`datagram_received`]: DatagramProtocol::datagram_received
/// [`error_received`]: DatagramProtocol::error_received
/// [`pause_writing`]: DatagramProtocol::pause_writing
/// [`resume_writing`]: DatagramProtocol::resume_writing
/// [`connection_lost`]: DatagramProtocol::connection_lost
///
/// # Examples
///
/// ```
/// use std::net::SocketAddr;
/// use aio_streams::{DatagramProtocol, DatagramTransport};
///
/// /// Counts what it receives.
/// #[derive(Default)]
/// struct Counter {
///     datagrams: usize,
/// }
///
/// impl DatagramProtocol for Counter {
///     fn datagram_received(&mut self, _data: &[u8], _addr: SocketAddr) {
///         self.datagrams += 1;
///     }
/// }
/// # let _ = Counter::default();
/// ```
pub trait DatagramProtocol: 'static {
    /// The endpoint is ready; `transport` is its transport (clone it to keep it).
    fn connection_made(&mut self, transport: &DatagramTransport) {
        let _ = transport;
    }

    /// A datagram arrived from `addr`.
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        let _ = (data, addr);
    }

    /// A send or receive failed (asyncio's `OSError`): an ICMP error such as
    /// `ConnectionRefused` on a connected socket whose peer does not listen, for one.
    fn error_received(&mut self, error: io::Error) {
        let _ = error;
    }

    /// The transport's write buffer went over its high-water mark.
    fn pause_writing(&mut self) {}

    /// The transport's write buffer drained to its low-water mark.
    fn resume_writing(&mut self) {}

    /// The transport is closed: `None` after [`close`](DatagramTransport::close) or
    /// [`abort`](DatagramTransport::abort), the error for a failure.
    fn connection_lost(&mut self, error: Option<io::Error>) {
        let _ = error;
    }
}

/// A UDP endpoint that calls its [`DatagramProtocol`] (asyncio's datagram transport). A
/// cheap handle: clones share the endpoint. It stays open, reading, until closed — dropping
/// every handle does not close it.
///
/// # Examples
///
/// ```
/// use std::net::SocketAddr;
/// use aio_streams::{DatagramProtocol, DatagramTransport, create_datagram_endpoint};
///
/// #[derive(Default)]
/// struct Echo(Option<DatagramTransport>);
///
/// impl DatagramProtocol for Echo {
///     fn connection_made(&mut self, transport: &DatagramTransport) {
///         self.0 = Some(transport.clone());
///     }
///     fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
///         let _ = self.0.as_ref().unwrap().sendto(data, Some(addr));
///     }
/// }
///
/// aio_task::run(async {
///     let (server, _) = create_datagram_endpoint(Echo::default, Some(("127.0.0.1", 0)), None).await?;
///     let addr = server.sockname().unwrap();
///     let client = aio_streams::DatagramEndpoint::bind("127.0.0.1", 0).await?;
///     client.send_to(b"echo?", addr).await?;
///     let mut buf = [0; 16];
///     let (n, from) = client.recv_from(&mut buf).await?;
///     assert_eq!((&buf[..n], from), (&b"echo?"[..], addr));
///     server.close();
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
#[derive(Clone)]
pub struct DatagramTransport {
    inner: Rc<Inner>,
}

type SharedProtocol = Rc<RefCell<dyn DatagramProtocol>>;

struct Inner {
    event_loop: EventLoop,
    /// Taken (deregistered and closed) after `connection_lost`.
    socket: RefCell<Option<AsyncFd<UdpSocket>>>,
    /// Let go after `connection_lost`: a protocol holding a clone of the transport makes a
    /// cycle, broken then.
    protocol: RefCell<Option<SharedProtocol>>,
    /// The connected peer (`remote_addr`).
    peer: Option<SocketAddr>,
    sockname: Option<SocketAddr>,
    buffer: RefCell<VecDeque<(Vec<u8>, Option<SocketAddr>)>>,
    buffer_size: Cell<usize>,
    high: Cell<usize>,
    low: Cell<usize>,
    protocol_paused: Cell<bool>,
    /// A task is sending the buffer.
    flushing: Cell<bool>,
    closing: Cell<bool>,
    /// asyncio's `_conn_lost`: nonzero once `connection_lost` is scheduled.
    conn_lost: Cell<u32>,
}

/// `create_datagram_endpoint`'s addresses and options, owned.
struct Setup {
    local: Option<(String, u16)>,
    remote: Option<(String, u16)>,
    reuse_port: bool,
    allow_broadcast: bool,
}

/// Creates a UDP endpoint (asyncio's `loop.create_datagram_endpoint`): bound to `local_addr`
/// (port 0: a free one), connected to `remote_addr` — its only peer, and where
/// [`sendto(data, None)`](DatagramTransport::sendto) sends — or both. `protocol_factory`
/// makes the protocol. Await it for the transport and the protocol, whose
/// [`connection_made`](DatagramProtocol::connection_made) has run by then.
///
/// With only `remote_addr`, the kernel picks the local address. Names are resolved off the
/// loop; with both, the first pair of addresses of the same family is used.
///
/// # Errors
///
/// When awaited: [`Error::Value`] with neither address (asyncio: "unexpected address
/// family"); [`Error::Io`] if an address cannot be resolved, bound or connected;
/// [`Error::Runtime`] outside a running loop.
///
/// # Examples
///
/// ```
/// use aio_streams::{DatagramProtocol, create_datagram_endpoint};
///
/// struct Quiet;
/// impl DatagramProtocol for Quiet {}
///
/// aio_task::run(async {
///     let (a, _) = create_datagram_endpoint(|| Quiet, Some(("127.0.0.1", 0)), None).await?;
///     let peer = a.sockname().unwrap();
///     let (b, _) = create_datagram_endpoint(|| Quiet, None, Some(("127.0.0.1", peer.port())))
///         .await?;
///     assert_eq!(b.peername(), Some(peer));
///     a.close();
///     b.close();
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn create_datagram_endpoint<P, F>(
    protocol_factory: F,
    local_addr: Option<(&str, u16)>,
    remote_addr: Option<(&str, u16)>,
) -> CreateDatagramEndpoint<P, F>
where
    P: DatagramProtocol,
    F: FnOnce() -> P + 'static,
{
    CreateDatagramEndpoint {
        factory: protocol_factory,
        setup: Setup {
            local: local_addr.map(|(host, port)| (host.to_owned(), port)),
            remote: remote_addr.map(|(host, port)| (host.to_owned(), port)),
            reuse_port: false,
            allow_broadcast: false,
        },
        _protocol: std::marker::PhantomData,
    }
}

/// A [`create_datagram_endpoint`] to await, with its options.
#[must_use = "the endpoint is created only when awaited"]
pub struct CreateDatagramEndpoint<P, F> {
    factory: F,
    setup: Setup,
    _protocol: std::marker::PhantomData<fn() -> P>,
}

impl<P, F> CreateDatagramEndpoint<P, F> {
    /// Binds with `SO_REUSEPORT` (asyncio's `reuse_port=`, default `false`): several endpoints
    /// that all ask for it may bind the same address and port.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::{DatagramProtocol, create_datagram_endpoint};
    /// struct Quiet;
    /// impl DatagramProtocol for Quiet {}
    ///
    /// aio_task::run(async {
    ///     let (a, _) = create_datagram_endpoint(|| Quiet, Some(("127.0.0.1", 0)), None)
    ///         .reuse_port(true)
    ///         .await?;
    ///     let port = a.sockname().unwrap().port();
    ///     let (b, _) = create_datagram_endpoint(|| Quiet, Some(("127.0.0.1", port)), None)
    ///         .reuse_port(true)
    ///         .await?;
    ///     assert_eq!(b.sockname().unwrap().port(), port);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn reuse_port(mut self, reuse: bool) -> Self {
        self.setup.reuse_port = reuse;
        self
    }

    /// Sets `SO_BROADCAST` (asyncio's `allow_broadcast=`, default `false`): datagrams may
    /// then be sent to a broadcast address.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::{DatagramProtocol, create_datagram_endpoint};
    /// struct Quiet;
    /// impl DatagramProtocol for Quiet {}
    ///
    /// aio_task::run(async {
    ///     let (t, _) = create_datagram_endpoint(|| Quiet, Some(("0.0.0.0", 0)), None)
    ///         .allow_broadcast(true)
    ///         .await?;
    ///     t.close();
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn allow_broadcast(mut self, allow: bool) -> Self {
        self.setup.allow_broadcast = allow;
        self
    }
}

impl<P, F> fmt::Debug for CreateDatagramEndpoint<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateDatagramEndpoint")
            .field("local_addr", &self.setup.local)
            .field("remote_addr", &self.setup.remote)
            .field("reuse_port", &self.setup.reuse_port)
            .field("allow_broadcast", &self.setup.allow_broadcast)
            .finish()
    }
}

impl<P, F> IntoFuture for CreateDatagramEndpoint<P, F>
where
    P: DatagramProtocol,
    F: FnOnce() -> P + 'static,
{
    type Output = Result<(DatagramTransport, Rc<RefCell<P>>), Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let CreateDatagramEndpoint { factory, setup, .. } = self;
            let socket = open_socket(&setup).await?;
            let event_loop = get_running_loop()?;
            let peer = socket.peer_addr().ok();
            let sockname = socket.local_addr().ok();
            let socket = AsyncFd::new(event_loop.reactor(), socket)?;
            let protocol = Rc::new(RefCell::new(factory()));
            let shared: SharedProtocol = protocol.clone();
            let transport = DatagramTransport {
                inner: Rc::new(Inner {
                    event_loop,
                    socket: RefCell::new(Some(socket)),
                    protocol: RefCell::new(Some(shared)),
                    peer,
                    sockname,
                    buffer: RefCell::new(VecDeque::new()),
                    buffer_size: Cell::new(0),
                    high: Cell::new(HIGH_WATER),
                    low: Cell::new(HIGH_WATER / 4),
                    protocol_paused: Cell::new(false),
                    flushing: Cell::new(false),
                    closing: Cell::new(false),
                    conn_lost: Cell::new(0),
                }),
            };
            let made = transport.clone();
            aio_task::call_outside_task(|| {
                transport.call_protocol("connection_made", move |p| p.connection_made(&made));
            });
            if !transport.inner.closing.get() {
                let reader = transport.clone();
                aio_task::create_internal_task(async move { reader.read_loop().await })?;
            }
            Ok((transport, protocol))
        })
    }
}

/// The socket `create_datagram_endpoint` asks for: non-blocking, options set, bound and
/// connected as asked.
async fn open_socket(setup: &Setup) -> Result<UdpSocket, Error> {
    let local = match &setup.local {
        Some((host, port)) => Some(resolve(host, *port).await?),
        None => None,
    };
    let remote = match &setup.remote {
        Some((host, port)) => Some(resolve(host, *port).await?),
        None => None,
    };
    let (local, remote) = match (local, remote) {
        (None, None) => return Err(Error::Value("unexpected address family")),
        (Some(local), None) => (local.first().copied(), None),
        (None, Some(remote)) => (None, remote.first().copied()),
        (Some(local), Some(remote)) => {
            let pair = local.iter().find_map(|l| {
                remote
                    .iter()
                    .find(|r| r.is_ipv4() == l.is_ipv4())
                    .map(|r| (*l, *r))
            });
            let (l, r) = pair.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "local and remote addresses have no address family in common",
                )
            })?;
            (Some(l), Some(r))
        }
    };
    let Some(any) = local.or(remote) else {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no address").into());
    };
    let family = if any.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let socket = rustix::net::socket_with(family, SocketType::DGRAM, flags, None)
        .map_err(io::Error::from)?;
    if setup.reuse_port {
        rustix::net::sockopt::set_socket_reuseport(&socket, true).map_err(io::Error::from)?;
    }
    if setup.allow_broadcast {
        rustix::net::sockopt::set_socket_broadcast(&socket, true).map_err(io::Error::from)?;
    }
    if let Some(local) = local {
        rustix::net::bind(&socket, &local).map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("error while attempting to bind on address {local}: {e}"),
            )
        })?;
    }
    if let Some(remote) = remote {
        // A datagram socket connects at once: it only records the peer.
        rustix::net::connect(&socket, &remote).map_err(io::Error::from)?;
    }
    Ok(UdpSocket::from(socket))
}

impl DatagramTransport {
    /// Calls the protocol's `what` on the loop's thread, now. A panic is reported to the
    /// loop's exception handler and closes the transport. After `connection_lost` there is
    /// no protocol, and nothing is called.
    fn call_protocol(&self, what: &'static str, call: impl FnOnce(&mut dyn DatagramProtocol)) {
        let Some(protocol) = self.inner.protocol.borrow().clone() else {
            return;
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| call(&mut *protocol.borrow_mut())));
        if let Err(payload) = outcome {
            let message = panic_message(&*payload);
            let text = format!("protocol.{what}() panicked: {message}");
            self.inner.event_loop.call_exception_handler(
                &ExceptionContext::new(format!("Fatal error: protocol.{what}() call failed."))
                    .with_error(Arc::new(io::Error::other(text.clone()))),
            );
            let error = io::Error::other(text);
            if what != "connection_lost" {
                self.force_close(Some(error));
            }
        }
    }

    /// Calls the protocol's `what` now, or — when the protocol is busy in one of its own
    /// methods (it called the transport) — from the loop, soon after.
    fn call_protocol_or_defer(
        &self,
        what: &'static str,
        call: impl FnOnce(&mut dyn DatagramProtocol) + 'static,
    ) {
        let busy = self
            .inner
            .protocol
            .borrow()
            .as_ref()
            .is_some_and(|p| p.try_borrow_mut().is_err());
        if busy {
            let me = self.clone();
            // A closed loop runs nothing: the call is dropped, as the protocol is busy.
            let _ = self
                .inner
                .event_loop
                .call_soon(move || me.call_protocol(what, call));
        } else {
            self.call_protocol(what, call);
        }
    }

    /// Receives and delivers datagrams until the transport closes.
    async fn read_loop(self) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            for _ in 0..READ_BATCH {
                let received = poll_fn(|cx| {
                    if self.inner.closing.get() {
                        return Poll::Ready(None);
                    }
                    let socket = self.inner.socket.borrow();
                    let Some(socket) = socket.as_ref() else {
                        return Poll::Ready(None);
                    };
                    socket
                        .registration()
                        .poll_read_with(cx, || socket.get_ref().recv_from(&mut buf))
                        .map(Some)
                })
                .await;
                match received {
                    None => return,
                    Some(Ok((n, addr))) => {
                        let data = &buf[..n];
                        self.call_protocol("datagram_received", |p| {
                            p.datagram_received(data, addr);
                        });
                    }
                    // ICMP errors (ECONNREFUSED on a connected socket, ...): the endpoint
                    // goes on.
                    Some(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {}
                    Some(Err(error)) => {
                        self.call_protocol("error_received", |p| p.error_received(error));
                    }
                }
            }
            // A flood of datagrams does not starve the loop's other tasks.
            if aio_scheduler::sleep(0).await.is_err() {
                return;
            }
        }
    }

    /// Wakes the read loop (waiting for a datagram) so that it sees the transport closing.
    fn stop_reading(&self) {
        self.wake(true, false);
    }

    /// Wakes the tasks waiting on the socket in the directions given: they look again at
    /// the transport's state (a spurious readiness costs one `WouldBlock`).
    fn wake(&self, readable: bool, writable: bool) {
        let socket = self.inner.socket.borrow();
        if let Some(socket) = socket.as_ref() {
            let mut wakers = Vec::new();
            socket
                .registration()
                .source()
                .set_ready(readable, writable, &mut wakers);
            for waker in wakers {
                waker.wake();
            }
        }
    }

    /// Sends one datagram (asyncio's `sendto`): to `addr`, or to the connected peer with
    /// `None`. The datagram goes at once if the socket takes it, else into the write buffer,
    /// which the loop sends as the socket allows (in order); the call never waits. A failed
    /// send goes to [`error_received`](DatagramProtocol::error_received). After the transport
    /// is closed, datagrams are dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Value`] for an `addr` other than the peer of a connected transport (asyncio:
    /// "Invalid address: must be None or ...").
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::{DatagramEndpoint, DatagramProtocol, create_datagram_endpoint};
    /// struct Quiet;
    /// impl DatagramProtocol for Quiet {}
    ///
    /// aio_task::run(async {
    ///     let peer = DatagramEndpoint::bind("127.0.0.1", 0).await?;
    ///     let port = peer.local_addr()?.port();
    ///     let (t, _) = create_datagram_endpoint(|| Quiet, None, Some(("127.0.0.1", port))).await?;
    ///     t.sendto(b"to the peer", None)?;
    ///     let mut buf = [0; 32];
    ///     assert_eq!(peer.recv_from(&mut buf).await?.0, 11);
    ///     // Only the peer: another address is refused.
    ///     assert!(t.sendto(b"x", Some("127.0.0.1:9".parse().unwrap())).is_err());
    ///     t.close();
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn sendto(&self, data: &[u8], addr: Option<SocketAddr>) -> Result<(), Error> {
        let inner = &self.inner;
        if let (Some(peer), Some(addr)) = (inner.peer, addr) {
            if peer != addr {
                return Err(Error::Value(
                    "Invalid address: must be None or the connected peer's address",
                ));
            }
        }
        if inner.conn_lost.get() > 0 {
            inner.conn_lost.set(inner.conn_lost.get() + 1);
            return Ok(());
        }
        if inner.buffer.borrow().is_empty() {
            let sent = {
                let socket = inner.socket.borrow();
                let Some(socket) = socket.as_ref() else {
                    return Ok(());
                };
                let sent = send_one(socket.get_ref(), data, addr);
                if matches!(&sent, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
                    socket.registration().clear_writable();
                }
                sent
            };
            match sent {
                Ok(_) => return Ok(()),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => {
                    self.call_protocol_or_defer("error_received", move |p| {
                        p.error_received(error);
                    });
                    return Ok(());
                }
            }
        }
        self.enqueue(data, addr);
        Ok(())
    }

    /// Buffers a datagram the socket did not take, for the flushing task.
    fn enqueue(&self, data: &[u8], addr: Option<SocketAddr>) {
        let inner = &self.inner;
        inner.buffer.borrow_mut().push_back((data.to_vec(), addr));
        inner.buffer_size.set(inner.buffer_size.get() + data.len());
        self.maybe_pause_protocol();
        self.ensure_flushing();
    }

    /// Starts the task that sends the buffer, if none runs.
    fn ensure_flushing(&self) {
        if self.inner.flushing.replace(true) {
            return;
        }
        let me = self.clone();
        let started = aio_task::create_internal_task(async move {
            me.flush().await;
            me.inner.flushing.set(false);
        });
        if started.is_err() {
            self.inner.flushing.set(false);
        }
    }

    /// Sends the buffered datagrams in order, waiting for the socket as needed (asyncio's
    /// `_sendto_ready`); then resumes the protocol, and finishes a pending close.
    async fn flush(&self) {
        loop {
            let Some((data, addr)) = self.inner.buffer.borrow_mut().pop_front() else {
                break;
            };
            let sent = poll_fn(|cx| {
                // Aborted meanwhile: the buffer was dropped.
                if self.inner.conn_lost.get() > 0 {
                    return Poll::Ready(None);
                }
                let socket = self.inner.socket.borrow();
                match socket.as_ref() {
                    None => Poll::Ready(None),
                    Some(socket) => socket
                        .registration()
                        .poll_write_with(cx, || send_one(socket.get_ref(), &data, addr))
                        .map(Some),
                }
            })
            .await;
            let Some(sent) = sent else {
                return;
            };
            self.inner
                .buffer_size
                .set(self.inner.buffer_size.get().saturating_sub(data.len()));
            if let Err(error) = sent {
                self.call_protocol("error_received", |p| p.error_received(error));
            }
            self.maybe_resume_protocol();
        }
        self.maybe_resume_protocol();
        if self.inner.closing.get() && self.inner.conn_lost.get() == 0 {
            self.inner.conn_lost.set(1);
            self.schedule_connection_lost(None);
        }
    }

    fn maybe_pause_protocol(&self) {
        let inner = &self.inner;
        if inner.buffer_size.get() > inner.high.get() && !inner.protocol_paused.replace(true) {
            self.call_protocol_or_defer("pause_writing", |p| p.pause_writing());
        }
    }

    fn maybe_resume_protocol(&self) {
        let inner = &self.inner;
        if inner.protocol_paused.get() && inner.buffer_size.get() <= inner.low.get() {
            inner.protocol_paused.set(false);
            self.call_protocol_or_defer("resume_writing", |p| p.resume_writing());
        }
    }

    /// Calls `connection_lost` from the loop, then closes the socket and lets go of the
    /// protocol (asyncio's `_call_connection_lost`).
    fn schedule_connection_lost(&self, error: Option<io::Error>) {
        let me = self.clone();
        let finish = move || {
            me.call_protocol("connection_lost", |p| p.connection_lost(error));
            drop(me.inner.socket.borrow_mut().take());
            drop(me.inner.protocol.borrow_mut().take());
        };
        if let Err(closed) = self.inner.event_loop.call_soon(finish) {
            // The loop is closed: nothing will run it; close the socket now.
            let _ = closed;
            drop(self.inner.socket.borrow_mut().take());
            drop(self.inner.protocol.borrow_mut().take());
        }
    }

    /// Closes the transport (asyncio's `close`): stops receiving at once; the buffered
    /// datagrams are still sent, then `connection_lost(None)` is called, from the loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::{DatagramProtocol, create_datagram_endpoint};
    /// struct Quiet;
    /// impl DatagramProtocol for Quiet {}
    ///
    /// aio_task::run(async {
    ///     let (t, _) = create_datagram_endpoint(|| Quiet, Some(("127.0.0.1", 0)), None).await?;
    ///     assert!(!t.is_closing());
    ///     t.close();
    ///     assert!(t.is_closing());
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn close(&self) {
        let inner = &self.inner;
        if inner.closing.replace(true) {
            return;
        }
        self.stop_reading();
        if inner.buffer.borrow().is_empty() && inner.conn_lost.get() == 0 {
            inner.conn_lost.set(1);
            self.schedule_connection_lost(None);
        }
    }

    /// Closes the transport at once (asyncio's `abort`): the buffered datagrams are dropped;
    /// `connection_lost(None)` is called from the loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::{DatagramProtocol, create_datagram_endpoint};
    /// struct Quiet;
    /// impl DatagramProtocol for Quiet {}
    ///
    /// aio_task::run(async {
    ///     let (t, _) = create_datagram_endpoint(|| Quiet, Some(("127.0.0.1", 0)), None).await?;
    ///     t.abort();
    ///     assert!(t.is_closing());
    ///     assert_eq!(t.get_write_buffer_size(), 0);
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn abort(&self) {
        self.force_close(None);
    }

    /// asyncio's `_force_close`.
    fn force_close(&self, error: Option<io::Error>) {
        let inner = &self.inner;
        if inner.conn_lost.get() > 0 {
            return;
        }
        inner.buffer.borrow_mut().clear();
        inner.buffer_size.set(0);
        inner.closing.set(true);
        inner.conn_lost.set(1);
        // The read loop and a flush waiting for room see the transport closed, and end.
        self.wake(true, true);
        self.schedule_connection_lost(error);
    }

    /// Whether the transport is closing or closed (asyncio's `is_closing`).
    ///
    /// # Examples
    ///
    /// See [`close`](DatagramTransport::close).
    pub fn is_closing(&self) -> bool {
        self.inner.closing.get()
    }

    /// The bytes waiting in the write buffer (asyncio's `get_write_buffer_size`).
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::{DatagramProtocol, create_datagram_endpoint};
    /// struct Quiet;
    /// impl DatagramProtocol for Quiet {}
    ///
    /// aio_task::run(async {
    ///     let (t, _) = create_datagram_endpoint(|| Quiet, Some(("127.0.0.1", 0)), None).await?;
    ///     t.sendto(b"to myself", t.sockname())?; // the socket takes it at once
    ///     assert_eq!(t.get_write_buffer_size(), 0);
    ///     t.close();
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn get_write_buffer_size(&self) -> usize {
        self.inner.buffer_size.get()
    }

    /// Sets the write buffer's water marks (asyncio's `set_write_buffer_limits`): with only
    /// `high`, low is a quarter of it; with neither, 64 KiB and 16 KiB.
    ///
    /// # Errors
    ///
    /// [`Error::Value`] when `high` is below `low`.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_streams::{DatagramProtocol, create_datagram_endpoint};
    /// struct Quiet;
    /// impl DatagramProtocol for Quiet {}
    ///
    /// aio_task::run(async {
    ///     let (t, _) = create_datagram_endpoint(|| Quiet, Some(("127.0.0.1", 0)), None).await?;
    ///     t.set_write_buffer_limits(Some(1000), None)?;
    ///     assert_eq!(t.get_write_buffer_limits(), (250, 1000));
    ///     assert!(t.set_write_buffer_limits(Some(1), Some(2)).is_err());
    ///     t.close();
    ///     Ok::<_, aio_task::Error>(())
    /// })??;
    /// # Ok::<(), aio_task::Error>(())
    /// ```
    pub fn set_write_buffer_limits(
        &self,
        high: Option<usize>,
        low: Option<usize>,
    ) -> Result<(), Error> {
        let (high, low) = crate::writer::water_marks(high, low).map_err(|error| match error {
            crate::StreamError::Value(message) => Error::Value(message),
            other => Error::from(other),
        })?;
        self.inner.high.set(high);
        self.inner.low.set(low);
        self.maybe_pause_protocol();
        Ok(())
    }

    /// The write buffer's water marks, `(low, high)` (asyncio's `get_write_buffer_limits`).
    ///
    /// # Examples
    ///
    /// See [`set_write_buffer_limits`](DatagramTransport::set_write_buffer_limits).
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        (self.inner.low.get(), self.inner.high.get())
    }

    /// The bound address (asyncio's `get_extra_info("sockname")`).
    ///
    /// # Examples
    ///
    /// See [`create_datagram_endpoint`].
    pub fn sockname(&self) -> Option<SocketAddr> {
        self.inner.sockname
    }

    /// The connected peer, for an endpoint made with a `remote_addr` (asyncio's
    /// `get_extra_info("peername")`).
    ///
    /// # Examples
    ///
    /// See [`create_datagram_endpoint`].
    pub fn peername(&self) -> Option<SocketAddr> {
        self.inner.peer
    }
}

fn send_one(socket: &UdpSocket, data: &[u8], addr: Option<SocketAddr>) -> io::Result<usize> {
    match addr {
        Some(addr) => socket.send_to(data, addr),
        None => socket.send(data),
    }
}

impl fmt::Debug for DatagramTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramTransport")
            .field("sockname", &self.inner.sockname)
            .field("peername", &self.inner.peer)
            .field("closing", &self.inner.closing.get())
            .field("write_buffer_size", &self.inner.buffer_size.get())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    //! The buffered path: loopback UDP sends practically never report `WouldBlock`, so these
    //! tests put datagrams in the buffer as a refused send would.

    use std::cell::RefCell;
    use std::rc::Rc;

    use super::{DatagramProtocol, DatagramTransport, create_datagram_endpoint};
    use crate::DatagramEndpoint;

    type Log = Rc<RefCell<Vec<String>>>;

    struct Flow(Log);

    impl DatagramProtocol for Flow {
        fn pause_writing(&mut self) {
            self.0.borrow_mut().push("pause".into());
        }
        fn resume_writing(&mut self) {
            self.0.borrow_mut().push("resume".into());
        }
        fn connection_lost(&mut self, error: Option<std::io::Error>) {
            assert!(error.is_none());
            self.0.borrow_mut().push("lost".into());
        }
    }

    async fn receive(peer: &DatagramEndpoint, n: usize) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        for _ in 0..n {
            let (len, _) = aio_task::wait_for(peer.recv_from(&mut buf), 20.0)
                .await
                .unwrap()
                .unwrap();
            got.push(buf[..len].to_vec());
        }
        got
    }

    async fn setup(log: &Log) -> (DatagramTransport, DatagramEndpoint) {
        let peer = DatagramEndpoint::bind("127.0.0.1", 0).await.unwrap();
        let port = peer.local_addr().unwrap().port();
        let l = log.clone();
        let (transport, _) =
            create_datagram_endpoint(move || Flow(l), None, Some(("127.0.0.1", port)))
                .await
                .unwrap();
        (transport, peer)
    }

    /// Over the high-water mark: pause_writing once; the buffer goes out in order; at the
    /// low-water mark, resume_writing once.
    #[test]
    fn buffered_datagrams_go_out_in_order_with_pause_and_resume() {
        let log: Log = Rc::default();
        let l = log.clone();
        let got = aio_task::run(async move {
            let (transport, peer) = setup(&l).await;
            transport
                .set_write_buffer_limits(Some(100), Some(0))
                .unwrap();
            for i in 0..3u8 {
                transport.enqueue(&[i; 60], None);
            }
            assert_eq!(*l.borrow(), ["pause"]);
            assert_eq!(transport.get_write_buffer_size(), 180);
            // A datagram sent now goes behind the buffered ones.
            transport.sendto(&[9; 10], None).unwrap();
            let got = receive(&peer, 4).await;
            assert_eq!(transport.get_write_buffer_size(), 0);
            transport.close();
            got
        })
        .unwrap();
        assert_eq!(got, [vec![0; 60], vec![1; 60], vec![2; 60], vec![9; 10]]);
        assert_eq!(*log.borrow(), ["pause", "resume", "lost"]);
    }

    /// close() with datagrams buffered: they are still sent, then connection_lost.
    #[test]
    fn close_sends_the_buffer_first() {
        let log: Log = Rc::default();
        let l = log.clone();
        let got = aio_task::run(async move {
            let (transport, peer) = setup(&l).await;
            transport.enqueue(b"first", None);
            transport.enqueue(b"second", None);
            transport.close();
            assert!(
                l.borrow().is_empty(),
                "connection_lost waits for the buffer"
            );
            let got = receive(&peer, 2).await;
            while !l.borrow().contains(&"lost".to_string()) {
                aio_scheduler::sleep(0.001).await.unwrap();
            }
            got
        })
        .unwrap();
        assert_eq!(got, [b"first".to_vec(), b"second".to_vec()]);
        assert_eq!(*log.borrow(), ["lost"]);
    }

    /// abort() drops the buffer: nothing more is sent.
    #[test]
    fn abort_drops_the_buffer() {
        let log: Log = Rc::default();
        let l = log.clone();
        aio_task::run(async move {
            let (transport, peer) = setup(&l).await;
            transport.enqueue(b"dropped", None);
            transport.abort();
            assert_eq!(transport.get_write_buffer_size(), 0);
            while !l.borrow().contains(&"lost".to_string()) {
                aio_scheduler::sleep(0.001).await.unwrap();
            }
            let mut buf = [0u8; 16];
            let nothing = aio_task::wait_for(peer.recv_from(&mut buf), 0.05).await;
            assert!(
                matches!(nothing, Err(aio_task::Error::Timeout)),
                "{nothing:?}"
            );
        })
        .unwrap();
        assert_eq!(*log.borrow(), ["lost"]);
    }
}
