//! The crawler of the seed notes (`areq.py`): reads a list of URLs, fetches them all
//! concurrently (`gather`), extracts every `href="..."` link of each page, resolves it
//! against the page's URL (as `urllib.parse.urljoin` does) and appends `source<TAB>link`
//! lines to `foundurls.txt`. A URL that fails (refused, 404, ...) is logged and skipped, as
//! in the seed.
//!
//! Without `--urls`, the example serves a small site itself on a free local port (no
//! internet needed): four pages with relative and absolute links — sent with a
//! `Content-Length`, chunked, or delimited by closing the connection — plus a page that
//! does not exist (404), a port nothing listens on, and an `https://` URL. The HTTP/1.1
//! client is hand-written on aio's streams (`open_connection`, `readuntil`, `readexactly`,
//! `read_to_end`): only `http://` URLs are supported, and redirects are not followed. Each
//! URL gets 10 seconds, connect included: the connect runs on the loop, so a host that never
//! answers is abandoned at the deadline. (Name resolution runs on a worker thread, as
//! asyncio's `getaddrinfo` does, and cannot be cancelled: a name that never resolves delays
//! the program's exit, which waits for that thread, until the resolver gives up.)
//!
//! ```text
//! cargo run --release --example crawl -- [--urls urls.txt] [--out foundurls.txt]
//! ```
//!
//! Output (the port and times vary; so may the order of the lines, with the scheduling):
//!
//! ```text
//! 12:00:00 INFO: areq:Serving the demo site on http://127.0.0.1:36617/
//! 12:00:00 ERROR: areq:HTTP exception for http://127.0.0.1:1/ [None]: Connect call failed 127.0.0.1:1: Connection refused (os error 111)
//! 12:00:00 ERROR: areq:HTTP exception for https://example.com/ [None]: only http:// URLs are supported
//! 12:00:00 INFO: areq:Got response [200] for URL: http://127.0.0.1:36617/
//! 12:00:00 INFO: areq:Found 4 links for http://127.0.0.1:36617/
//! 12:00:00 INFO: areq:Got response [200] for URL: http://127.0.0.1:36617/a
//! 12:00:00 INFO: areq:Found 4 links for http://127.0.0.1:36617/a
//! 12:00:00 INFO: areq:Got response [200] for URL: http://127.0.0.1:36617/b
//! 12:00:00 INFO: areq:Found 3 links for http://127.0.0.1:36617/b
//! 12:00:00 INFO: areq:Got response [200] for URL: http://127.0.0.1:36617/sub/d
//! 12:00:00 INFO: areq:Found 4 links for http://127.0.0.1:36617/sub/d
//! 12:00:00 ERROR: areq:HTTP exception for http://127.0.0.1:36617/missing [404]: Not Found
//! 12:00:00 INFO: areq:Wrote results for source URL: http://127.0.0.1:36617/
//! 12:00:00 INFO: areq:Wrote results for source URL: http://127.0.0.1:36617/a
//! 12:00:00 INFO: areq:Wrote results for source URL: http://127.0.0.1:36617/b
//! 12:00:00 INFO: areq:Wrote results for source URL: http://127.0.0.1:36617/sub/d
//! 12:00:00 INFO: areq:Wrote 15 links to foundurls.txt
//! ```
//!
//! and `foundurls.txt` holds a header line and 15 links, such as
//! `http://127.0.0.1:40123/sub/d<TAB>http://127.0.0.1:40123/sub/style.css`.

#[path = "clock.rs"]
mod clock;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use aio::aio_streams::{StreamError, StreamReader, StreamWriter, open_connection};

/// How long one URL may take, connect to last byte.
const FETCH_TIMEOUT: f64 = 10.0;

fn log(level: &str, message: &str) {
    println!("{} {level}: areq:{message}", clock::now());
}

// ---------------------------------------------------------------------------------------
// URLs

/// An `http://` URL split for a request.
struct HttpUrl {
    /// As `open_connection` wants it: an IPv6 address without its brackets (`::1`).
    host: String,
    port: u16,
    /// For the `Host` header: host, and port if given, as in the URL (`[::1]:8080`).
    authority: String,
    /// Path and query, never empty.
    target: String,
}

/// The scheme of `url` (lowercased), if it starts with one (`http:`, `mailto:`, ...).
fn scheme(url: &str) -> Option<String> {
    let (scheme, _) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then(|| scheme.to_ascii_lowercase())
}

fn parse_http(url: &str) -> Result<HttpUrl, FetchError> {
    if scheme(url).as_deref() != Some("http") {
        return Err(FetchError::other("only http:// URLs are supported"));
    }
    let rest = match url.get(.."http://".len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case("http://") => &url["http://".len()..],
        _ => return Err(FetchError::other("malformed URL")),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest[..end].rsplit('@').next().unwrap_or_default(); // drop user:pass@
    let mut target = rest[end..].split('#').next().unwrap_or_default().to_owned();
    if !target.starts_with('/') {
        target.insert(0, '/');
    }
    // host[:port], where host may be a bracketed IPv6 address.
    let (host, port) = match authority.rfind(':') {
        Some(colon) if !authority[colon..].contains(']') => {
            let port = authority[colon + 1..]
                .parse()
                .map_err(|_| FetchError::other("invalid port"))?;
            (&authority[..colon], port)
        }
        _ => (authority, 80),
    };
    // `[::1]` names the address `::1`: the brackets only keep its colons apart from the
    // port's, and the resolver does not take them.
    let host = match host.strip_prefix('[') {
        Some(bracketed) => bracketed
            .strip_suffix(']')
            .ok_or_else(|| FetchError::other("malformed IPv6 address"))?,
        None if host.contains(':') => return Err(FetchError::other("malformed host")),
        None => host,
    };
    if host.is_empty() {
        return Err(FetchError::other("no host in URL"));
    }
    Ok(HttpUrl {
        host: host.to_owned(),
        port,
        authority: authority.to_owned(),
        target,
    })
}

/// RFC 3986's `remove_dot_segments` for an absolute path.
fn remove_dots(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut out: Vec<&str> = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." => {}
            ".." => {
                out.pop();
            }
            other => out.push(other),
        }
        if last && matches!(*segment, "." | "..") {
            out.push(""); // "/a/b/.." is "/a/", a directory
        }
    }
    format!("/{}", out.join("/"))
}

/// `link` resolved against `base` (`urllib.parse.urljoin` for the common cases).
fn urljoin(base: &str, link: &str) -> String {
    let link = link.trim();
    if scheme(link).is_some() {
        return link.to_owned();
    }
    // base = scheme://authority path ?query #fragment
    let Some(base_scheme) = scheme(base) else {
        return link.to_owned();
    };
    let after_scheme = &base[base_scheme.len() + 1..];
    let Some(hier) = after_scheme.strip_prefix("//") else {
        return link.to_owned(); // mailto:... has no base to resolve against
    };
    let origin_len = base.len() - hier.len() + hier.find(['/', '?', '#']).unwrap_or(hier.len());
    let origin = &base[..origin_len];
    let no_fragment = base.split('#').next().unwrap_or(base);
    let path_query = &no_fragment[origin_len..];
    let path = path_query.split('?').next().unwrap_or_default();

    // The link's path and the query/fragment that follow it.
    let split = link.find(['?', '#']).unwrap_or(link.len());
    let (link_path, link_tail) = link.split_at(split);

    if let Some(rest) = link.strip_prefix("//") {
        format!("{base_scheme}://{rest}")
    } else if link.is_empty() {
        no_fragment.to_owned()
    } else if link.starts_with('#') {
        format!("{no_fragment}{link}")
    } else if link.starts_with('?') {
        format!("{origin}{}{link}", if path.is_empty() { "/" } else { path })
    } else if link.starts_with('/') {
        format!("{origin}{}{link_tail}", remove_dots(link_path))
    } else {
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let dir = if dir.is_empty() { "/" } else { dir };
        format!(
            "{origin}{}{link_tail}",
            remove_dots(&format!("{dir}{link_path}"))
        )
    }
}

/// The values of every `href="..."` in `html` (the seed's `HREF_RE = r'href="(.*?)"'`).
fn hrefs(html: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("href=\"") {
        rest = &rest[start + "href=\"".len()..];
        match rest.find(['"', '\n']) {
            Some(end) if rest.as_bytes()[end] == b'"' => {
                found.push(&rest[..end]);
                rest = &rest[end + 1..];
            }
            Some(_) => {} // no closing quote on this line: not a match
            None => break,
        }
    }
    found
}

// ---------------------------------------------------------------------------------------
// The HTTP/1.1 client

/// Why a fetch failed: the HTTP status, if there was one, and a message (the seed logs
/// aiohttp's `status` and `message`).
struct FetchError {
    status: Option<u16>,
    message: String,
}

impl FetchError {
    fn other(message: impl Into<String>) -> FetchError {
        FetchError {
            status: None,
            message: message.into(),
        }
    }
}

impl From<StreamError> for FetchError {
    fn from(error: StreamError) -> FetchError {
        FetchError::other(error.to_string())
    }
}

impl From<aio::Error> for FetchError {
    fn from(error: aio::Error) -> FetchError {
        FetchError::other(error.to_string())
    }
}

/// A chunked body (`Transfer-Encoding: chunked`).
async fn read_chunked(reader: &StreamReader) -> Result<Vec<u8>, FetchError> {
    let mut body = Vec::new();
    loop {
        let line = reader.readuntil(b"\r\n").await?;
        let line = String::from_utf8_lossy(&line);
        let size = line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| FetchError::other(format!("bad chunk size {size:?}")))?;
        if size == 0 {
            break; // trailers, if any, are left unread: the connection closes anyway
        }
        body.extend(reader.readexactly(size).await?);
        reader.readexactly(2).await?; // the chunk's CRLF
    }
    Ok(body)
}

/// GETs `url` and returns its body as text (the seed's `fetch_html`, including
/// `raise_for_status`).
async fn fetch_html(url: &str) -> Result<String, FetchError> {
    let target = parse_http(url)?;
    let (reader, writer) = open_connection(&target.host, target.port).await?;
    let result = exchange(url, &target, &reader, &writer).await;
    writer.close();
    let body = result?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

async fn exchange(
    url: &str,
    target: &HttpUrl,
    reader: &StreamReader,
    writer: &StreamWriter,
) -> Result<Vec<u8>, FetchError> {
    writer.write(
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: aio-crawl/0.1\r\n\
             Accept: text/html\r\nConnection: close\r\n\r\n",
            target.target, target.authority
        )
        .as_bytes(),
    );
    writer.drain().await?;

    let head = reader.readuntil(b"\r\n\r\n").await?;
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.split("\r\n");
    // "HTTP/1.1 200 OK"
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let status = match (parts.next(), parts.next().map(str::parse::<u16>)) {
        (Some(version), Some(Ok(status))) if version.starts_with("HTTP/") => status,
        _ => {
            return Err(FetchError::other(format!(
                "bad status line {status_line:?}"
            )));
        }
    };
    let reason = parts.next().unwrap_or_default().to_owned();
    if status >= 400 {
        return Err(FetchError {
            status: Some(status),
            message: reason,
        });
    }
    log("INFO", &format!("Got response [{status}] for URL: {url}"));

    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| FetchError::other("bad Content-Length"))?,
                );
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            }
        }
    }
    if matches!(status, 100..200 | 204 | 304) {
        return Ok(Vec::new());
    }
    Ok(if chunked {
        read_chunked(reader).await?
    } else if let Some(n) = content_length {
        reader.readexactly(n).await?
    } else {
        reader.read_to_end().await? // delimited by the server closing the connection
    })
}

// ---------------------------------------------------------------------------------------
// The crawler (the seed's parse / write_one / bulk_crawl_and_write)

/// The links of the page at `url`, resolved; empty (after logging why) if it failed.
async fn parse(url: &str) -> BTreeSet<String> {
    let html = match aio::wait_for(fetch_html(url), FETCH_TIMEOUT).await {
        Ok(Ok(html)) => html,
        Ok(Err(error)) => {
            let status = error.status.map_or("None".to_owned(), |s| s.to_string());
            log(
                "ERROR",
                &format!("HTTP exception for {url} [{status}]: {}", error.message),
            );
            return BTreeSet::new();
        }
        Err(error) => {
            log(
                "ERROR",
                &format!("HTTP exception for {url} [None]: {error}"),
            );
            return BTreeSet::new();
        }
    };
    let found: BTreeSet<String> = hrefs(&html)
        .into_iter()
        .map(|link| urljoin(url, link))
        .collect();
    log("INFO", &format!("Found {} links for {url}", found.len()));
    found
}

/// Appends the links of `url` to `out`; returns how many.
async fn write_one(out: PathBuf, url: String) -> Result<usize, aio::Error> {
    let found = parse(&url).await;
    if found.is_empty() {
        return Ok(0);
    }
    let mut lines = String::new();
    for link in &found {
        let _ = writeln!(lines, "{url}\t{link}");
    }
    // The seed appends with aiofiles; a thread does the blocking write here. One write per
    // page keeps each page's lines together.
    aio::to_thread(move || {
        std::fs::OpenOptions::new()
            .append(true)
            .open(out)?
            .write_all(lines.as_bytes())
    })
    .await??;
    log("INFO", &format!("Wrote results for source URL: {url}"));
    Ok(found.len())
}

async fn bulk_crawl_and_write(out: PathBuf, urls: Vec<String>) -> Result<usize, aio::Error> {
    let results = aio::gather(urls.into_iter().map(|url| write_one(out.clone(), url))).await?;
    let mut total = 0;
    for written in results {
        total += written?;
    }
    Ok(total)
}

// ---------------------------------------------------------------------------------------
// The demo site

/// How a page's body is delimited.
#[derive(Clone, Copy)]
enum Framing {
    ContentLength,
    Chunked,
    Close,
}

const PAGES: &[(&str, Framing, &str)] = &[
    (
        "/",
        Framing::ContentLength,
        r##"<html><body><h1>Home</h1>
<a href="/a">A</a> <a href="b">B</a> <a href="sub/d">D</a>
<a href="http://example.com/">elsewhere</a>
</body></html>"##,
    ),
    (
        "/a",
        Framing::ContentLength,
        r##"<html><body><h1 id="top">A</h1>
<a href="/">home</a> <a href="c">C</a> <a href="#top">top</a> <a href="?page=2">next</a>
<a href="/">home again</a>
</body></html>"##,
    ),
    (
        "/b",
        Framing::Close,
        r##"<html><body><h1>B</h1>
<a href="a">A</a> <a href="/sub/d">D</a> <a href="mailto:me@example.com">mail</a>
</body></html>"##,
    ),
    (
        "/sub/d",
        Framing::Chunked,
        r##"<html><head><link href="style.css" rel="stylesheet"></head><body><h1>D</h1>
<a href="../a">A</a> <a href="./e">E</a> <a href="//example.org/x">x</a>
</body></html>"##,
    ),
];

/// Serves one request of the demo site.
async fn serve_page(reader: StreamReader, writer: StreamWriter) {
    let Ok(request) = reader.readuntil(b"\r\n\r\n").await else {
        writer.close();
        return;
    };
    let request = String::from_utf8_lossy(&request);
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let page = PAGES.iter().find(|(p, _, _)| *p == path);
    let response = match page {
        None => {
            let body = "<html><body>404 Not Found</body></html>";
            format!(
                "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        }
        Some((_, Framing::ContentLength, body)) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        Some((_, Framing::Close, body)) => {
            format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n{body}")
        }
        Some((_, Framing::Chunked, body)) => {
            let mut response = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\
                 Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                .to_owned();
            for chunk in body.as_bytes().chunks(40) {
                let chunk = String::from_utf8_lossy(chunk);
                let _ = write!(response, "{:x}\r\n{chunk}\r\n", chunk.len());
            }
            response.push_str("0\r\n\r\n");
            response
        }
    };
    writer.write(response.as_bytes());
    writer.close();
}

// ---------------------------------------------------------------------------------------

/// `--urls FILE` (default: the demo site), `--out FILE` (default `foundurls.txt`).
fn args() -> (Option<PathBuf>, PathBuf) {
    let mut urls = None;
    let mut out = PathBuf::from("foundurls.txt");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--urls", Some(value)) => urls = Some(PathBuf::from(value)),
            ("--out", Some(value)) => out = PathBuf::from(value),
            _ => {
                eprintln!("usage: crawl [--urls FILE] [--out FILE]");
                std::process::exit(2);
            }
        }
    }
    (urls, out)
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let (urls_file, out) = args();
    let mut site = None;
    let urls: Vec<String> = match urls_file {
        Some(file) => {
            let mut seen = BTreeSet::new(); // the seed reads the URLs into a set
            std::fs::read_to_string(file)?
                .lines()
                .map(str::trim)
                .filter(|url| !url.is_empty() && seen.insert(url.to_owned()))
                .map(str::to_owned)
                .collect()
        }
        None => {
            let server = aio::start_server(serve_page, "127.0.0.1", 0).await?;
            let base = format!("http://127.0.0.1:{}", server.port().unwrap_or_default());
            log("INFO", &format!("Serving the demo site on {base}/"));
            site = Some(server);
            let mut urls: Vec<String> = ["/", "/a", "/b", "/sub/d", "/missing"]
                .iter()
                .map(|path| format!("{base}{path}"))
                .collect();
            urls.push("http://127.0.0.1:1/".to_owned()); // nothing listens there
            urls.push("https://example.com/".to_owned()); // not supported
            urls
        }
    };

    std::fs::write(&out, "source_url\tparsed_url\n")?;
    let total = bulk_crawl_and_write(out.clone(), urls).await?;
    log("INFO", &format!("Wrote {total} links to {}", out.display()));

    if let Some(server) = site {
        server.close();
        server.wait_closed().await;
    }
    Ok(())
}
