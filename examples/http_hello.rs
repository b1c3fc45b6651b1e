//! A keep-alive HTTP/1.1 "Hello, world!" server on aio's streams, written as a user would:
//! `start_server`, `StreamReader::readline` / `read`, `StreamWriter::write` / `drain`.
//!
//! ```text
//! cargo run --release --example http_hello -- [--host 127.0.0.1] [--port 0]
//! ```
//!
//! prints `listening on 127.0.0.1:PORT` (port 0, the default, picks a free one) and serves
//! until Ctrl-C. Every request gets `Hello, world!` (`HEAD`: the headers only):
//!
//! - Connections are kept alive: HTTP/1.1 unless the request says `Connection: close`,
//!   HTTP/1.0 only with `Connection: keep-alive`. Pipelined requests are answered in order.
//! - A body given by `Content-Length` is read and discarded; `Transfer-Encoding` gets 501.
//! - Bounded: a request line over 8 KiB or a malformed request gets 400, a header line over
//!   8 KiB, more than 100 headers or a head over 64 KiB gets 431, another HTTP version 505;
//!   each closes the connection. A connection idle (or sending its head) for more than
//!   [`IDLE_TIMEOUT`] seconds is closed.
//! - Closing after a reply is "lingering": the server shuts down its sending side, then reads
//!   and discards what the client still sends (at most 1 MiB, for at most 2 s), so the client
//!   reads the reply rather than a reset.
//!
//! Each connection is its own task, so a slow or malicious client only ever holds its own.
//!
//! The protocol part ([`Head`], [`Reject`]) only looks at lines, so `benches/` reuses this
//! file for the `http` row (the same logic on tokio).

use aio::aio_streams::{Address, StreamError, StreamReader, StreamWriter, start_server};

/// The longest request line or header line, CRLF included (Apache's `LimitRequestLine`).
pub const MAX_LINE: usize = 8190;
/// The most header fields in one request.
pub const MAX_HEADERS: usize = 100;
/// The longest request head (request line, headers and the blank line).
pub const MAX_HEAD: usize = 64 * 1024;
/// Seconds a connection may wait for (the rest of) a request head, or for more body.
pub const IDLE_TIMEOUT: f64 = 30.0;
/// The body's read size when discarding it.
const BODY_CHUNK: usize = 64 * 1024;
/// Lingering close: how much, and for how long, a closing connection still reads.
const LINGER_BYTES: usize = 1 << 20;
const LINGER_SECONDS: f64 = 2.0;

macro_rules! body {
    () => {
        "Hello, world!"
    };
}

/// The body every request gets (13 bytes).
pub const BODY: &str = body!();

macro_rules! hello {
    ($connection:literal, $body:expr) => {
        concat!(
            "HTTP/1.1 200 OK\r\n",
            "Content-Type: text/plain\r\n",
            "Content-Length: 13\r\n",
            $connection,
            "\r\n",
            $body
        )
        .as_bytes()
    };
}

/// Why a request is refused: its response, after which the connection closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// 400: a malformed request line or header, or a request line over [`MAX_LINE`].
    BadRequest,
    /// 431: a header line over [`MAX_LINE`], more than [`MAX_HEADERS`], or a head over
    /// [`MAX_HEAD`].
    TooLarge,
    /// 501: a `Transfer-Encoding` (this server reads `Content-Length` bodies only).
    NotImplemented,
    /// 505: an HTTP version other than 1.0 and 1.1.
    VersionNotSupported,
}

impl Reject {
    /// The full response.
    pub fn response(self) -> &'static [u8] {
        match self {
            Reject::BadRequest => {
                b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nBad Request\n"
            }
            Reject::TooLarge => {
                b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\nContent-Length: 32\r\nConnection: close\r\n\r\nRequest Header Fields Too Large\n"
            }
            Reject::NotImplemented => {
                b"HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain\r\nContent-Length: 16\r\nConnection: close\r\n\r\nNot Implemented\n"
            }
            Reject::VersionNotSupported => {
                b"HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Type: text/plain\r\nContent-Length: 27\r\nConnection: close\r\n\r\nHTTP Version Not Supported\n"
            }
        }
    }
}

/// A request head, fed line by line: [`Head::request_line`], then [`Head::header`] until it
/// says the head is complete.
#[derive(Debug, Clone, Default)]
pub struct Head {
    http10: bool,
    head_method: bool,
    close: bool,
    keep_alive: bool,
    content_length: Option<u64>,
    headers: usize,
    size: usize,
}

/// `tchar` of RFC 9110: what a method or a field name is made of.
fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The line without its line ending (CRLF, or a bare LF as RFC 9112 allows).
fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

impl Head {
    /// Starts a head from its request line (`METHOD target HTTP/1.x`, line ending included).
    ///
    /// # Errors
    ///
    /// [`Reject::BadRequest`] for a malformed or over-long line,
    /// [`Reject::VersionNotSupported`] for a version other than 1.0 and 1.1.
    pub fn request_line(line: &[u8]) -> Result<Head, Reject> {
        if line.len() > MAX_LINE {
            return Err(Reject::BadRequest);
        }
        let mut parts = trim_eol(line).split(|&b| b == b' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Reject::BadRequest);
        };
        if !is_token(method) || target.is_empty() || target.iter().any(|&b| b <= b' ' || b == 0x7f)
        {
            return Err(Reject::BadRequest);
        }
        let http10 = match version {
            b"HTTP/1.1" => false,
            b"HTTP/1.0" => true,
            [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
                if major.is_ascii_digit() && minor.is_ascii_digit() =>
            {
                return Err(Reject::VersionNotSupported);
            }
            _ => return Err(Reject::BadRequest),
        };
        Ok(Head {
            http10,
            head_method: method == b"HEAD",
            size: line.len(),
            ..Head::default()
        })
    }

    /// Takes the next header line (line ending included). `Ok(true)`: that was the blank line
    /// ending the head.
    ///
    /// # Errors
    ///
    /// [`Reject::TooLarge`] past the limits, [`Reject::BadRequest`] for a malformed field (a
    /// folded line, a space before the colon, a bad or conflicting `Content-Length`),
    /// [`Reject::NotImplemented`] for a `Transfer-Encoding`.
    pub fn header(&mut self, line: &[u8]) -> Result<bool, Reject> {
        self.size += line.len();
        if line.len() > MAX_LINE || self.size > MAX_HEAD {
            return Err(Reject::TooLarge);
        }
        let field = trim_eol(line);
        if field.is_empty() {
            return Ok(true);
        }
        self.headers += 1;
        if self.headers > MAX_HEADERS {
            return Err(Reject::TooLarge);
        }
        let colon = field
            .iter()
            .position(|&b| b == b':')
            .ok_or(Reject::BadRequest)?;
        let (name, value) = (&field[..colon], trim_ows(&field[colon + 1..]));
        // Also rejects obs-fold (a line starting with a space) and "Name : value".
        if !is_token(name) || value.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
            return Err(Reject::BadRequest);
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            let length = std::str::from_utf8(value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(Reject::BadRequest)?;
            if self.content_length.is_some_and(|l| l != length) {
                return Err(Reject::BadRequest);
            }
            self.content_length = Some(length);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(Reject::NotImplemented);
        } else if name.eq_ignore_ascii_case(b"connection") {
            for option in value.split(|&b| b == b',').map(trim_ows) {
                self.close |= option.eq_ignore_ascii_case(b"close");
                self.keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        }
        Ok(false)
    }

    /// Whether the connection stays open after this request.
    pub fn keep_alive(&self) -> bool {
        !self.close && (!self.http10 || self.keep_alive)
    }

    /// The body's length (to read and discard).
    pub fn body_length(&self) -> u64 {
        self.content_length.unwrap_or(0)
    }

    /// The reply.
    pub fn response(&self) -> &'static [u8] {
        match (self.keep_alive(), self.http10, self.head_method) {
            (true, false, false) => hello!("", body!()),
            (true, false, true) => hello!("", ""),
            (true, true, false) => hello!("Connection: keep-alive\r\n", body!()),
            (true, true, true) => hello!("Connection: keep-alive\r\n", ""),
            (false, _, false) => hello!("Connection: close\r\n", body!()),
            (false, _, true) => hello!("Connection: close\r\n", ""),
        }
    }
}

/// How a connection ends.
enum End {
    /// The client is gone, or broke the protocol mid-message: close at once.
    Now,
    /// After a reply that closes the connection: a lingering close.
    Linger,
}

/// Reads one request head. `Ok(None)`: the connection ended (EOF between requests, in the
/// middle of a head, or a read error).
async fn read_head(reader: &StreamReader) -> Result<Option<Head>, Reject> {
    // RFC 9112 §2.2: ignore empty lines before a request line (bounded by the head limit).
    let mut skipped = 0;
    let mut head = loop {
        let line = match reader.readline().await {
            Ok(line) if line.ends_with(b"\n") => line,
            Err(StreamError::LineTooLong(_)) => return Err(Reject::BadRequest),
            Ok(_) | Err(_) => return Ok(None), // EOF (maybe mid-line) or a failed read
        };
        if trim_eol(&line).is_empty() {
            skipped += line.len();
            if skipped > MAX_HEAD {
                return Err(Reject::BadRequest);
            }
            continue;
        }
        break Head::request_line(&line)?;
    };
    loop {
        let line = match reader.readline().await {
            Ok(line) if line.ends_with(b"\n") => line,
            Err(StreamError::LineTooLong(_)) => return Err(Reject::TooLarge),
            Ok(_) | Err(_) => return Ok(None),
        };
        if head.header(&line)? {
            return Ok(Some(head));
        }
    }
}

/// Reads and drops `length` bytes of body. `false`: the connection ended or stalled first.
async fn discard_body(reader: &StreamReader, mut length: u64) -> bool {
    while length > 0 {
        let chunk = length.min(BODY_CHUNK as u64) as usize;
        match aio::wait_for(reader.read(chunk), IDLE_TIMEOUT).await {
            Ok(Ok(data)) if !data.is_empty() => length -= data.len() as u64,
            _ => return false,
        }
    }
    true
}

/// Shuts down the sending side once the replies are out, reads and drops what the client
/// still sends (bounded), then closes.
async fn linger_close(reader: &StreamReader, writer: &StreamWriter) {
    if writer.drain().await.is_ok() {
        writer.write_eof();
        let _ = aio::wait_for(
            async {
                let mut dropped = 0;
                while dropped < LINGER_BYTES {
                    match reader.read(BODY_CHUNK).await {
                        Ok(data) if !data.is_empty() => dropped += data.len(),
                        _ => break,
                    }
                }
            },
            LINGER_SECONDS,
        )
        .await;
    }
    writer.close();
}

/// Serves one connection: requests in order until it closes.
pub async fn serve_connection(reader: StreamReader, writer: StreamWriter) {
    let end = loop {
        let head = match aio::wait_for(read_head(&reader), IDLE_TIMEOUT).await {
            Ok(Ok(Some(head))) => head,
            Ok(Ok(None)) | Err(_) => break End::Now, // gone, or idle too long
            Ok(Err(reject)) => {
                writer.write(reject.response());
                break End::Linger;
            }
        };
        if !discard_body(&reader, head.body_length()).await {
            break End::Now;
        }
        writer.write(head.response());
        if !head.keep_alive() {
            break End::Linger;
        }
        if writer.drain().await.is_err() {
            break End::Now;
        }
    };
    match end {
        End::Now => writer.close(),
        End::Linger => linger_close(&reader, &writer).await,
    }
}

/// `--host H --port P` (defaults 127.0.0.1 and 0, a free port).
fn address() -> (String, u16) {
    let mut host = "127.0.0.1".to_owned();
    let mut port = 0;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--host", Some(value)) => host = value,
            ("--port", Some(value)) => port = value.parse().expect("--port takes a number"),
            _ => {
                eprintln!("usage: http_hello [--host HOST] [--port PORT]");
                std::process::exit(2);
            }
        }
    }
    (host, port)
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let (host, port) = address();
    // The reader's limit bounds each `readline`: a longer line is `LineTooLong`.
    let server = start_server(serve_connection, &host, port)
        .limit(MAX_LINE)
        .await?;
    for socket in server.sockets() {
        if let Address::Inet(addr) = socket {
            println!("listening on {addr}");
        }
    }
    server.serve_forever().await?;
    Ok(())
}
