//! asyncio's streams for Rust: [`open_connection`] / [`start_server`] (TCP) and their Unix
//! forms, giving a [`StreamReader`] and a [`StreamWriter`] per connection.
//!
//! - [`StreamReader`] has asyncio's buffer limit (64 KiB by default) and its exact outcomes:
//!   [`StreamError::LimitOverrun`] that keeps the data, `readline`'s discard rules,
//!   [`StreamError::IncompleteRead`] with the partial data, several separators where the
//!   earliest match wins, concurrent reads refused. It pulls from any [`ReadSource`] (a
//!   socket) or is fed by hand like asyncio's.
//! - [`StreamWriter`] buffers and never blocks; `drain` applies asyncio's water marks (64 KiB
//!   high, 16 KiB low) and reports a lost connection instead of hanging.
//! - [`Server`] runs each connection's handler in its own task and survives running out of
//!   file descriptors.
//! - UDP: [`DatagramEndpoint`] (awaitable sends and receives) and
//!   [`create_datagram_endpoint`] with a [`DatagramProtocol`] (asyncio's callbacks).
//! - asyncio's low-level socket calls as free functions ([`sock_recv`], [`sock_sendall`],
//!   [`sock_accept`], [`sock_connect`], ...) on non-blocking sockets, and files sent with
//!   `sendfile(2)` ([`sock_sendfile`], [`StreamWriter::sendfile`]).
//! - The protocol layer underneath asyncio's streams: [`Protocol`] / [`BufferedProtocol`]
//!   callbacks driven by a [`Transport`], from [`create_server`], [`create_connection`] and
//!   their Unix, `sock=` and pipe forms (the same [`Server`]).
//!
//! # Examples
//!
//! ```
//! use aio_streams::StreamReader;
//!
//! let reader = StreamReader::new();
//! reader.feed_data(b"hello\nworld\n");
//! reader.feed_eof();
//! let lines = aio_task::run(async move {
//!     let first = reader.readline().await.unwrap();
//!     let second = reader.readline().await.unwrap();
//!     (first, second, reader.at_eof())
//! })?;
//! assert_eq!(lines, (b"hello\n".to_vec(), b"world\n".to_vec(), true));
//! # Ok::<(), aio_task::Error>(())
//! ```

mod create;
mod datagram;
mod duplex;
mod error;
mod handoff;
mod layer;
mod net;
mod pipe;
mod protocol;
mod reader;
mod sendfile;
mod sock;
mod socket;
mod transport;
mod udp;
mod writer;

pub use create::{
    CreateServer, Prelude, connect_accepted_socket, connect_accepted_socket_with_prelude,
    connect_read_pipe_protocol, connect_write_pipe_protocol, create_connection,
    create_connection_with_prelude, create_server, create_server_sock, create_unix_connection,
    create_unix_connection_with_prelude, create_unix_server, create_unix_server_sock,
};
pub use datagram::{
    CreateDatagramEndpoint, DatagramProtocol, DatagramTransport, create_datagram_endpoint,
};
pub use duplex::StreamPair;
pub use error::StreamError;
pub use handoff::TcpAcceptor;
pub use layer::{Layer, Wire};
pub use net::{
    HandlerOutcome, OpenConnection, Server, StartServer, open_connection, open_connection_sock,
    open_unix_connection, open_unix_connection_sock, start_server, start_server_sock,
    start_unix_server, start_unix_server_sock,
};
pub use pipe::{connect_read_pipe, connect_write_pipe};
pub use protocol::{AnyProtocol, Buffered, BufferedProtocol, Protocol, READ_SIZE};
pub use reader::{DEFAULT_LIMIT, Lines, Read, ReadSource, StreamReader};
pub use sendfile::{SockSendfile, TransportSendfile, sock_sendfile};
pub use sock::{
    SockListener, sock_accept, sock_connect, sock_recv, sock_recv_into, sock_recvfrom,
    sock_recvfrom_into, sock_sendall, sock_sendto,
};
pub use socket::Address;
pub use transport::{ExtraInfo, Transport};
pub use udp::DatagramEndpoint;
pub use writer::{DEFAULT_HIGH_WATER, StreamWriter};

/// Stream errors inside tasks: an I/O failure becomes [`aio_task::Error::Io`], anything else
/// [`aio_task::Error::Exception`], so `?` works in a handler returning `aio::Error`.
impl From<StreamError> for aio_task::Error {
    fn from(error: StreamError) -> aio_task::Error {
        match error {
            StreamError::Io { kind, message } => {
                std::io::Error::new(kind, message.to_string()).into()
            }
            other => aio_task::Error::Exception(std::sync::Arc::new(other)),
        }
    }
}

// Unit tests make loops too: on the reactor AIO_REACTOR names.
#[cfg(test)]
use aio_reactors as _;
