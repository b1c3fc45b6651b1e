//! `TlsLayer`: rustls as an `aio_streams::Layer`, so a connection's ordinary
//! `StreamReader` / `StreamWriter` read and write through TLS.

use std::any::Any;
use std::cell::{Cell, OnceCell, RefCell};
use std::future::poll_fn;
use std::io::{self, BufRead, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use aio_streams::{Layer, Wire};
use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::ServerName;

use crate::info::TlsInfo;
use crate::{TlsError, with_timeout};

/// Where the layer is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Handshaking,
    Open,
    /// The handshake failed: reads and writes fail with `error`.
    Failed,
    /// `abort`: nothing more is sent, not even close_notify.
    Aborted,
}

/// rustls between a connection's socket and its reader and writer.
pub(crate) struct TlsLayer {
    wire: Wire,
    tls: RefCell<rustls::Connection>,
    state: Cell<State>,
    /// Why the handshake failed, for the reads and writes that come after.
    failure: RefCell<Option<(io::ErrorKind, String)>>,
    /// Plaintext bytes the writer's last write handed to rustls whose records are not all
    /// on the wire yet (see `aio_streams::Layer`'s "writer's promise").
    taken: Cell<usize>,
    /// A read and a write waiting for the handshake to end.
    read_waker: Cell<Option<Waker>>,
    write_waker: Cell<Option<Waker>>,
    shutdown_timeout: Duration,
    info: OnceCell<Rc<TlsInfo>>,
}

/// The side of a TLS connection and its configuration: a client's (with the name to
/// verify) or a server's.
pub(crate) enum Side {
    Client(Arc<ClientConfig>, ServerName<'static>),
    Server(Arc<ServerConfig>),
}

impl Side {
    /// rustls's connection for this side, before its handshake.
    pub(crate) fn connection(self) -> Result<rustls::Connection, TlsError> {
        let made = match self {
            Side::Client(config, name) => {
                rustls::ClientConnection::new(config, name).map(rustls::Connection::from)
            }
            Side::Server(config) => {
                rustls::ServerConnection::new(config).map(rustls::Connection::from)
            }
        };
        made.map_err(|error| TlsError::handshake(io::Error::other(error)))
    }
}

fn would_block<T>(result: &io::Result<T>) -> bool {
    matches!(result, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

impl TlsLayer {
    pub(crate) fn new(wire: Wire, tls: rustls::Connection, shutdown_timeout: Duration) -> TlsLayer {
        TlsLayer {
            wire,
            tls: RefCell::new(tls),
            state: Cell::new(State::Handshaking),
            failure: RefCell::new(None),
            taken: Cell::new(0),
            read_waker: Cell::new(None),
            write_waker: Cell::new(None),
            shutdown_timeout,
            info: OnceCell::new(),
        }
    }

    /// What the handshake agreed on, once it is done.
    pub(crate) fn info(&self) -> Option<Rc<TlsInfo>> {
        self.info.get().cloned()
    }

    /// What the handshake of the connection under `layer` agreed on: `None` for no layer,
    /// another crate's layer, or before the handshake is done (`tls_info`'s answer).
    pub(crate) fn info_of(layer: Option<Rc<dyn Layer>>) -> Option<Rc<TlsInfo>> {
        layer?.as_any().downcast_ref::<TlsLayer>()?.info()
    }

    /// Drives the handshake to its end (the records that follow it, such as TLS 1.3 session
    /// tickets, included), with the reads and writes of this task alone.
    pub(crate) async fn handshake(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_handshake(cx)).await
    }

    /// Drives the handshake within `limit`; a failure or the timeout marks the layer failed
    /// (later reads and writes give the reason).
    pub(crate) async fn handshake_within(&self, limit: Duration) -> Result<(), TlsError> {
        let result = with_timeout(self.handshake(), limit).await;
        if let Err(error) = &result {
            self.fail(error);
        }
        result
    }

    /// The handshake failed or timed out: later reads and writes fail with `error`.
    pub(crate) fn fail(&self, error: &dyn std::fmt::Display) {
        if self.state.get() == State::Handshaking {
            self.state.set(State::Failed);
            *self.failure.borrow_mut() =
                Some((io::ErrorKind::ConnectionAborted, error.to_string()));
            self.wake_waiting();
        }
    }

    fn wake_waiting(&self) {
        for waker in [self.read_waker.take(), self.write_waker.take()]
            .into_iter()
            .flatten()
        {
            waker.wake();
        }
    }

    fn poll_handshake(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.state.get() != State::Handshaking {
                return Poll::Ready(Err(self.unusable()));
            }
            let mut tls = self.tls.borrow_mut();
            while tls.wants_write() {
                match self.wire.poll_write_with(cx, |io| tls.write_tls(io)) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    Poll::Ready(Ok(_)) => {}
                }
            }
            if !tls.is_handshaking() {
                self.info.get_or_init(|| Rc::new(TlsInfo::of(&tls)));
                drop(tls);
                self.state.set(State::Open);
                self.wake_waiting();
                return Poll::Ready(Ok(()));
            }
            let read = match self.wire.poll_read_with(cx, |io| tls.read_tls(io)) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(read) => read?,
            };
            if read == 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection during the handshake",
                )));
            }
            if let Err(error) = tls.process_new_packets() {
                // The alert that says why, if the socket takes it now.
                let _ = self.wire.write_now_with(|io| tls.write_tls(io));
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, error)));
            }
        }
    }

    /// The error of a read or write on a layer that failed or was aborted.
    fn unusable(&self) -> io::Error {
        match &*self.failure.borrow() {
            Some((kind, message)) => io::Error::new(*kind, message.clone()),
            None => io::Error::new(io::ErrorKind::NotConnected, "the TLS connection is closed"),
        }
    }

    /// Sends what rustls has queued, as far as the socket takes it now (alerts, key updates
    /// a read produced); what is left goes out with the writer's next write.
    fn send_queued_now(&self, tls: &mut rustls::Connection) {
        while tls.wants_write() {
            if self.wire.write_now_with(|io| tls.write_tls(io)).is_err() {
                return;
            }
        }
    }

    /// The writer's write: `flush` sends what rustls has queued (waiting or not).
    fn write_with(
        &self,
        buf: &[u8],
        mut flush: impl FnMut(&mut rustls::Connection) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        let mut tls = self.tls.borrow_mut();
        loop {
            while tls.wants_write() {
                match flush(&mut tls) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    Poll::Ready(Ok(_)) => {}
                }
            }
            // Everything taken before is on the wire: report it now.
            let taken = self.taken.replace(0);
            if taken > 0 {
                return Poll::Ready(Ok(taken.min(buf.len())));
            }
            let taken = tls.writer().write(buf)?;
            if taken == 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "rustls took no plaintext",
                )));
            }
            self.taken.set(taken);
        }
    }

    /// Whether reads and writes go to rustls now: `Ok(true)` once the handshake is done,
    /// `Ok(false)` (`waker` stored) while it runs.
    fn ready(&self, slot: &Cell<Option<Waker>>, waker: Option<&Waker>) -> io::Result<bool> {
        match self.state.get() {
            State::Open => Ok(true),
            State::Handshaking => {
                if let Some(waker) = waker {
                    slot.set(Some(waker.clone()));
                }
                Ok(false)
            }
            State::Failed | State::Aborted => Err(self.unusable()),
        }
    }

    /// Sends close_notify and shuts the socket down; if the socket cannot take the alert
    /// now, a task finishes that within the shutdown timeout.
    fn say_goodbye(&self, how: Shutdown) -> io::Result<()> {
        let mut tls = self.tls.borrow_mut();
        tls.send_close_notify();
        self.send_queued_now(&mut tls);
        if !tls.wants_write() {
            return self.wire.shutdown(how);
        }
        // The socket is full (a peer that does not read): finish in the background, the
        // connection kept open until then (or until the timeout aborts it).
        let mut pending = Vec::new();
        while tls.wants_write() {
            tls.write_tls(&mut pending)?;
        }
        drop(tls);
        let Some(wire) = self.wire.keep_alive() else {
            return Ok(());
        };
        let limit = self.shutdown_timeout;
        let finish = async move {
            let mut sent = 0;
            let send = poll_fn(|cx| {
                while sent < pending.len() {
                    match wire.poll_write_with(cx, |io| io.write(&pending[sent..])) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                        Poll::Ready(Ok(n)) => sent += n,
                    }
                }
                Poll::Ready(Ok(()))
            });
            let how = match aio_task::wait_for(send, limit).await {
                Ok(Ok(())) => how,
                // Timed out or failed: abort rather than leave it half done.
                _ => Shutdown::Both,
            };
            let _ = wire.shutdown(how);
        };
        aio_task::create_internal_task(finish)
            .map(drop)
            .map_err(io::Error::other)
    }
}

impl Layer for TlsLayer {
    fn poll_fill(&self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
        if !self.ready(&self.read_waker, Some(cx.waker()))? {
            return Poll::Pending;
        }
        let mut tls = self.tls.borrow_mut();
        loop {
            let mut reader = tls.reader();
            match reader.fill_buf() {
                Ok(chunk) => {
                    // Empty: close_notify came, the end of the stream.
                    let n = chunk.len();
                    buf.extend_from_slice(chunk);
                    reader.consume(n);
                    return Poll::Ready(Ok(n));
                }
                // The peer closed the socket without close_notify: asyncio reads that as
                // the end of the stream too.
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                    return Poll::Ready(Ok(0));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
            match self.wire.poll_read_with(cx, |io| tls.read_tls(io)) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Ready(Ok(_)) => {}
            }
            let processed = tls.process_new_packets();
            // Alerts, key update replies: now if the socket takes them.
            self.send_queued_now(&mut tls);
            if let Err(error) = processed {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, error)));
            }
        }
    }

    fn write_now(&self, buf: &[u8]) -> io::Result<usize> {
        if !self.ready(&self.write_waker, None)? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match self.write_with(buf, |tls| {
            let sent = self.wire.write_now_with(|io| tls.write_tls(io));
            if would_block(&sent) {
                Poll::Pending
            } else {
                Poll::Ready(sent)
            }
        }) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if !self.ready(&self.write_waker, Some(cx.waker()))? {
            return Poll::Pending;
        }
        self.write_with(buf, |tls| {
            self.wire.poll_write_with(cx, |io| tls.write_tls(io))
        })
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self.state.get() {
            State::Open | State::Handshaking => self.say_goodbye(how),
            State::Failed | State::Aborted => self.wire.shutdown(how),
        }
    }

    fn abort(&self) {
        self.state.set(State::Aborted);
        self.wake_waiting();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
