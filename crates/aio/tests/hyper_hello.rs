//! `examples/hyper_hello` (hyper 1.x on aio), run as a child process on a free port and driven
//! by real clients: Python's `http.client` (keep-alive requests on one connection, a pipelined
//! batch, malformed requests), `curl` (skipped, with the reason printed, where it is not
//! installed) and raw sockets from here (pipelining in one write, a bad client not stalling the
//! others). The HTTP is hyper's; what these tests check is that hyper runs on aio's streams
//! through `StreamPair`. Every child has a hard timeout and every socket a read timeout. Run
//! with `AIO_REACTOR=uring` for the io_uring reactor: the child inherits it.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

#[path = "support/example_server.rs"]
mod support;
use support::{Server, read_to_close};

/// The Python side: one check per function, each printing "ok NAME".
const PYTHON: &str = r#"
import http.client, socket, sys
port = int(sys.argv[1])
T = 10

def keep_alive():
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=T)
    local = None
    for i, (method, body) in enumerate([("GET", None), ("POST", b"x" * 100000), ("HEAD", None),
                                        ("PUT", b""), ("GET", None), ("DELETE", b"abc")]):
        conn.request(method, f"/path/{i}?q=1", body=body, headers={"X-Test": str(i)})
        r = conn.getresponse()
        data = r.read()
        assert r.status == 200 and r.version == 11, (r.status, r.version)
        assert r.getheader("Content-Length") == "13", r.getheaders()
        assert r.getheader("Content-Type") == "text/plain", r.getheaders()
        assert data == (b"" if method == "HEAD" else b"Hello, world!"), data
        assert not r.will_close
        name = conn.sock.getsockname()
        assert local in (None, name), "a new connection was opened"
        local = name
    # A chunked request body on the same connection.
    conn.putrequest("POST", "/chunked")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    r = conn.getresponse()
    assert r.status == 200 and r.read() == b"Hello, world!"
    assert conn.sock.getsockname() == local, "a new connection was opened"
    conn.close()

class Shared:
    """One buffered reader for every response on a socket: HTTPResponse would otherwise
    make its own and lose what it read ahead (the next pipelined responses)."""
    def __init__(self, sock):
        self.fp = sock.makefile("rb")
    def makefile(self, *args, **kwargs):
        fp = self.fp
        class NoClose:
            def __getattr__(self, name):
                return getattr(fp, name)
            def close(self):
                pass
        return NoClose()

def pipelined():
    s = socket.create_connection(("127.0.0.1", port), timeout=T)
    batch = b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(20))
    batch += b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    batch += b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    s.sendall(batch)
    shared = Shared(s)
    for i in range(22):
        r = http.client.HTTPResponse(shared)
        r.begin()
        assert r.status == 200 and r.read() == b"Hello, world!", i
        assert r.will_close == (i == 21), (i, r.will_close)
    assert shared.fp.read() == b"", "closed after the Connection: close request"
    s.close()

def bad_request():
    for request in [b"NONSENSE\r\n\r\n",
                    b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
                    b"GET / HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
                    b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"]:
        s = socket.create_connection(("127.0.0.1", port), timeout=T)
        # A good request first, then the bad one, then a good one that is never answered.
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + request + b"GET / HTTP/1.1\r\n\r\n")
        shared = Shared(s)
        r = http.client.HTTPResponse(shared)
        r.begin()
        assert r.status == 200 and r.read() == b"Hello, world!"
        r = http.client.HTTPResponse(shared)
        r.begin()
        assert r.status == 400, (request[:40], r.status)
        r.read()
        assert shared.fp.read() == b"", "closed after the 400"
        s.close()

for check in sys.argv[2:]:
    globals()[check]()
    print("ok", check)
"#;

fn python(names: &[&str]) {
    support::python("hyper_hello", PYTHON, names);
}

#[test]
fn python_keep_alive_requests_share_one_connection() {
    python(&["keep_alive"]);
}

#[test]
fn python_pipelined_batch_is_answered_in_order() {
    python(&["pipelined"]);
}

#[test]
fn python_bad_request_gets_400_and_the_connection_closes() {
    python(&["bad_request"]);
}

#[test]
fn curl_reuses_the_connection_and_posts() {
    support::curl_reuses_the_connection_and_posts("hyper_hello");
}

/// The responses in `text`, each as (status line, body), checking each head's
/// `content-length: 13`.
fn responses(text: &str) -> Vec<(String, String)> {
    let mut rest = text;
    let mut all = Vec::new();
    while !rest.is_empty() {
        let (head, after) = rest.split_once("\r\n\r\n").expect("a complete head");
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().to_owned();
        let length: usize = lines
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap_or_else(|| panic!("no content-length in {head:?}"))
            .parse()
            .unwrap();
        all.push((status, after[..length].to_owned()));
        rest = &after[length..];
    }
    all
}

#[test]
fn raw_pipelined_requests_in_one_write() {
    let server = Server::start("hyper_hello");
    let mut stream = server.connect();
    let batch = "GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(10)
        + "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    stream.write_all(batch.as_bytes()).unwrap();
    let all = responses(&read_to_close(&mut stream));
    assert_eq!(all.len(), 11, "{all:?}");
    for (status, body) in all {
        assert_eq!(
            (status.as_str(), body.as_str()),
            ("HTTP/1.1 200 OK", "Hello, world!")
        );
    }
}

#[test]
fn a_bad_or_stalled_client_does_not_stop_the_others() {
    let mut server = Server::start("hyper_hello");
    // A client that sent half a head, one that sent half a body, one that never reads.
    let mut half_head = server.connect();
    half_head.write_all(b"GET / HTTP/1.1\r\nHost: x").unwrap();
    let mut half_body = server.connect();
    half_body
        .write_all(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc")
        .unwrap();
    let deaf = server.connect();
    (&deaf)
        .write_all("GET / HTTP/1.1\r\n\r\n".repeat(2000).as_bytes())
        .unwrap();
    // Garbage: 400, closed.
    let mut bad = server.connect();
    bad.write_all(b"\x00\x01\x02 not http at all\r\n\r\n")
        .unwrap();
    let reply = read_to_close(&mut bad);
    assert!(
        reply.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{reply:?}"
    );

    // Meanwhile, others are served at once.
    let start = Instant::now();
    for _ in 0..5 {
        let mut client = server.connect();
        client
            .write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let all = responses(&read_to_close(&mut client));
        assert_eq!(
            all,
            [("HTTP/1.1 200 OK".to_owned(), "Hello, world!".to_owned())]
        );
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );

    // The stalled ones are still served when their clients go on.
    half_head
        .write_all(b"\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(responses(&read_to_close(&mut half_head)).len(), 1);
    half_body.write_all(&[b'x'; 97]).unwrap();
    half_body.shutdown(Shutdown::Write).unwrap();
    let mut reply = String::new();
    let _ = half_body.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply:?}");
    assert!(reply.ends_with("\r\n\r\nHello, world!"), "{reply:?}");
    drop(deaf);
    server.assert_running();
}
