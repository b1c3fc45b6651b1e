//! asyncio's protocols: [`Protocol`] (`data_received` with borrowed bytes) and
//! [`BufferedProtocol`] (the read lands in the protocol's own buffer), driven by a
//! [`Transport`].

use std::any::Any;
use std::cell::RefCell;
use std::io;

use crate::transport::{Endpoint, Transport};

/// How much one read asks for: the size of the scratch buffer a [`Protocol`]'s data is read
/// into, and the size hint given to [`BufferedProtocol::get_buffer`].
pub const READ_SIZE: usize = 64 * 1024;

/// asyncio's `asyncio.Protocol`: callbacks a [`Transport`] calls on the loop's thread.
///
/// The transport owns the protocol and calls it with `&mut self`, in asyncio's order:
/// [`connection_made`](Protocol::connection_made) first, then any number of
/// [`data_received`](Protocol::data_received), at most one
/// [`eof_received`](Protocol::eof_received), and
/// [`connection_lost`](Protocol::connection_lost) last and exactly once (unless the loop is
/// dropped with the connection open). [`pause_writing`](Protocol::pause_writing) and
/// [`resume_writing`](Protocol::resume_writing) come in pairs while the connection lives.
///
/// A callback may use the transport freely: `write`, `close`, `abort`, `pause_reading`...
/// Flow-control calls that a `write` inside a callback triggers (`pause_writing`) are
/// delivered as soon as the running callback returns.
///
/// A callback that panics fails its connection, as an exception in asyncio's `data_received`
/// does: the panic goes to the loop's exception handler ("Fatal error: protocol.X() call
/// failed.") and the transport is aborted (`connection_lost` gets the error). The loop and
/// other connections are not affected. A panic in `pause_writing` / `resume_writing` is
/// reported and nothing else (asyncio's "protocol.pause_writing() failed").
///
/// # Examples
///
/// The asyncio documentation's `EchoServerProtocol`:
///
/// ```
/// use aio_streams::{Protocol, Transport, create_connection, create_server};
///
/// struct Echo(Option<Transport>);
///
/// impl Protocol for Echo {
///     fn connection_made(&mut self, transport: &Transport) {
///         self.0 = Some(transport.clone());
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         self.0.as_ref().unwrap().write(data);
///     }
/// }
///
/// aio_task::run(async {
///     let server = create_server(|| Echo(None), "127.0.0.1", 0).await?;
///     let (reader, writer) = aio_streams::open_connection("127.0.0.1", server.port().unwrap()).await?;
///     writer.write(b"hello\n");
///     assert_eq!(reader.readline().await?, b"hello\n");
///     Ok::<_, aio_task::Error>(())
/// })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub trait Protocol: 'static {
    /// The connection is made; `transport` is its handle (clone it to keep it).
    fn connection_made(&mut self, transport: &Transport) {
        let _ = transport;
    }

    /// Bytes arrived. `data` is borrowed from the transport's read buffer: copy what must
    /// outlive the call.
    fn data_received(&mut self, data: &[u8]);

    /// The peer shut down its sending direction. Return `true` to keep the connection
    /// half-open (the transport can still write; close it yourself), `false` (the default,
    /// asyncio's `None`) to close it.
    fn eof_received(&mut self) -> bool {
        false
    }

    /// The connection is closed: `None` after a regular close or EOF, the error otherwise
    /// (a reset, a failed write, or a panic in one of this protocol's callbacks).
    fn connection_lost(&mut self, error: Option<io::Error>) {
        let _ = error;
    }

    /// The transport's write buffer went above its high-water mark (64 KiB by default).
    fn pause_writing(&mut self) {}

    /// The transport's write buffer drained to its low-water mark (16 KiB by default).
    fn resume_writing(&mut self) {}
}

/// asyncio's `asyncio.BufferedProtocol`: the transport reads straight into a buffer the
/// protocol lends it, without a copy.
///
/// Called in the same order as a [`Protocol`], with [`get_buffer`](BufferedProtocol::get_buffer)
/// and [`buffer_updated`](BufferedProtocol::buffer_updated) in place of `data_received`.
/// Pass it wrapped in [`Buffered`] to [`create_connection`](crate::create_connection) and
/// the other functions.
///
/// # Examples
///
/// A protocol that counts bytes in a fixed buffer of its own:
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use aio_streams::{Buffered, BufferedProtocol, Transport, create_server, open_connection};
///
/// struct Count { buf: [u8; 256], total: Rc<Cell<usize>> }
///
/// impl BufferedProtocol for Count {
///     fn get_buffer(&mut self, _size_hint: usize) -> &mut [u8] {
///         &mut self.buf
///     }
///     fn buffer_updated(&mut self, nbytes: usize) {
///         self.total.set(self.total.get() + nbytes);
///     }
///     fn eof_received(&mut self) -> bool {
///         false // close
///     }
/// }
///
/// let total = Rc::new(Cell::new(0));
/// let seen = total.clone();
/// aio_task::run(async move {
///     let server = create_server(
///         move || Buffered(Count { buf: [0; 256], total: seen.clone() }),
///         "127.0.0.1",
///         0,
///     )
///     .await?;
///     let (reader, writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
///     writer.write(&[1; 1000]);
///     writer.write_eof();
///     assert_eq!(reader.read(10).await?, b""); // the server closed after EOF
///     Ok::<_, aio_task::Error>(())
/// })??;
/// assert_eq!(total.get(), 1000);
/// # Ok::<(), aio_task::Error>(())
/// ```
pub trait BufferedProtocol: 'static {
    /// As [`Protocol::connection_made`].
    fn connection_made(&mut self, transport: &Transport) {
        let _ = transport;
    }

    /// The buffer the next read goes into; `size_hint` is how much the transport would
    /// like ([`READ_SIZE`]). It must not be empty (an empty buffer fails the connection, as
    /// asyncio's "get_buffer() returned an empty buffer").
    fn get_buffer(&mut self, size_hint: usize) -> &mut [u8];

    /// `nbytes` bytes were read into the start of the buffer [`get_buffer`](Self::get_buffer)
    /// returned.
    fn buffer_updated(&mut self, nbytes: usize);

    /// As [`Protocol::eof_received`].
    fn eof_received(&mut self) -> bool {
        false
    }

    /// As [`Protocol::connection_lost`].
    fn connection_lost(&mut self, error: Option<io::Error>) {
        let _ = error;
    }

    /// As [`Protocol::pause_writing`].
    fn pause_writing(&mut self) {}

    /// As [`Protocol::resume_writing`].
    fn resume_writing(&mut self) {}
}

/// Marks a [`BufferedProtocol`] for the functions that take a protocol factory:
/// `create_server(|| Buffered(MyProtocol::new()), ...)`.
///
/// # Examples
///
/// ```
/// use aio_streams::{Buffered, BufferedProtocol};
/// struct Sink([u8; 16]);
/// impl BufferedProtocol for Sink {
///     fn get_buffer(&mut self, _: usize) -> &mut [u8] { &mut self.0 }
///     fn buffer_updated(&mut self, _: usize) {}
/// }
/// let wrapped = Buffered(Sink([0; 16]));
/// assert_eq!(wrapped.0 .0.len(), 16);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Buffered<P>(pub P);

/// A protocol a transport can drive: any [`Protocol`], or a [`BufferedProtocol`] wrapped in
/// [`Buffered`]. Implemented for those two only.
///
/// # Examples
///
/// ```
/// use aio_streams::{AnyProtocol, Protocol};
/// struct Nothing;
/// impl Protocol for Nothing {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
/// fn takes(_: impl AnyProtocol) {}
/// takes(Nothing);
/// ```
pub trait AnyProtocol: 'static + sealed::Sealed {}

pub(crate) mod sealed {
    use super::{Buffered, BufferedProtocol, Driven, Plain, Protocol};

    /// Turns a protocol into what the transport drives (a trait out of users' reach).
    pub trait Sealed {
        fn into_driven(self) -> Box<dyn Driven>;
    }
    impl<P: Protocol> Sealed for P {
        fn into_driven(self) -> Box<dyn Driven> {
            Box::new(Plain(self))
        }
    }
    impl<P: BufferedProtocol> Sealed for Buffered<P> {
        fn into_driven(self) -> Box<dyn Driven> {
            Box::new(self)
        }
    }
}

impl<P: Protocol> AnyProtocol for P {}

impl<P: BufferedProtocol> AnyProtocol for Buffered<P> {}

/// What the transport needs of a protocol: one trait object for both kinds.
pub trait Driven {
    fn connection_made(&mut self, transport: &Transport);
    /// One read from `from`, delivered to the protocol: the byte count (0 at EOF, nothing
    /// delivered then) or the read's error (`WouldBlock` included, nothing delivered).
    fn read(&mut self, from: &Endpoint) -> io::Result<usize>;
    /// Hands the protocol bytes read elsewhere (through a layer: TLS's plaintext).
    fn deliver(&mut self, data: &[u8]) -> io::Result<()>;
    fn eof_received(&mut self) -> bool;
    fn connection_lost(&mut self, error: Option<io::Error>);
    fn pause_writing(&mut self);
    fn resume_writing(&mut self);
    /// The user's protocol, for [`Transport::with_protocol`].
    fn as_any(&mut self) -> &mut dyn Any;
    /// A [`BufferedProtocol`] (for reports naming its callbacks).
    fn buffered(&self) -> bool;
}

/// A [`Protocol`] as a [`Driven`].
struct Plain<P>(P);

thread_local! {
    /// The buffer every [`Protocol`]'s read on this thread lands in (borrowed while in use: a
    /// nested read, which cannot happen today, would make its own). A panic in
    /// `data_received` releases the borrow as it unwinds.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_SIZE].into_boxed_slice());
}

impl<P: Protocol> Driven for Plain<P> {
    fn connection_made(&mut self, transport: &Transport) {
        self.0.connection_made(transport);
    }
    fn read(&mut self, from: &Endpoint) -> io::Result<usize> {
        SCRATCH.with(|scratch| {
            let mut own;
            let mut shared = scratch.try_borrow_mut();
            let buf: &mut [u8] = match &mut shared {
                Ok(shared) => shared,
                Err(_) => {
                    own = vec![0; READ_SIZE];
                    &mut own
                }
            };
            let n = from.read_into(buf)?;
            if n > 0 {
                self.0.data_received(&buf[..n]);
            }
            Ok(n)
        })
    }
    fn deliver(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.data_received(data);
        Ok(())
    }
    fn eof_received(&mut self) -> bool {
        self.0.eof_received()
    }
    fn connection_lost(&mut self, error: Option<io::Error>) {
        self.0.connection_lost(error);
    }
    fn pause_writing(&mut self) {
        self.0.pause_writing();
    }
    fn resume_writing(&mut self) {
        self.0.resume_writing();
    }
    fn as_any(&mut self) -> &mut dyn Any {
        &mut self.0
    }
    fn buffered(&self) -> bool {
        false
    }
}

impl<P: BufferedProtocol> Driven for Buffered<P> {
    fn connection_made(&mut self, transport: &Transport) {
        self.0.connection_made(transport);
    }
    fn read(&mut self, from: &Endpoint) -> io::Result<usize> {
        let buf = self.0.get_buffer(READ_SIZE);
        if buf.is_empty() {
            return Err(crate::transport::misuse(
                "get_buffer() returned an empty buffer",
            ));
        }
        let n = from.read_into(buf)?;
        if n > 0 {
            self.0.buffer_updated(n);
        }
        Ok(n)
    }
    fn deliver(&mut self, data: &[u8]) -> io::Result<()> {
        let mut rest = data;
        while !rest.is_empty() {
            let buf = self.0.get_buffer(rest.len());
            if buf.is_empty() {
                return Err(crate::transport::misuse(
                    "get_buffer() returned an empty buffer",
                ));
            }
            let n = buf.len().min(rest.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.0.buffer_updated(n);
            rest = &rest[n..];
        }
        Ok(())
    }
    fn eof_received(&mut self) -> bool {
        self.0.eof_received()
    }
    fn connection_lost(&mut self, error: Option<io::Error>) {
        self.0.connection_lost(error);
    }
    fn pause_writing(&mut self) {
        self.0.pause_writing();
    }
    fn resume_writing(&mut self) {
        self.0.resume_writing();
    }
    fn as_any(&mut self) -> &mut dyn Any {
        &mut self.0
    }
    fn buffered(&self) -> bool {
        true
    }
}
