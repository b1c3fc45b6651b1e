//! asyncio's streams for Rust.
//!
//! This first part of the crate is the reading side: [`StreamReader`], with asyncio's buffer
//! limit (64 KiB by default) and its exact outcomes — [`StreamError::LimitOverrun`] that
//! keeps the data, `readline`'s discard rules, [`StreamError::IncompleteRead`] with the
//! partial data, several separators where the earliest match wins, concurrent reads refused.
//! It reads from any [`ReadSource`] (a socket, a pipe) or is fed by hand like asyncio's.
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

mod error;
mod reader;

pub use error::StreamError;
pub use reader::{DEFAULT_LIMIT, Lines, ReadSource, StreamReader};
