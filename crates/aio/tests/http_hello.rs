//! `examples/http_hello`, run as a child process on a free port and driven by real clients:
//! Python's `http.client` (keep-alive, pipelining, `Connection: close`, HTTP/1.0, bad
//! requests), `curl` (skipped, with the reason printed, where it is not installed) and raw
//! sockets from here (limits, and a stalled client not stalling the others). Every child has a
//! hard timeout and every socket a read timeout. Run with `AIO_REACTOR=uring` for the io_uring
//! reactor: the child inherits it.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

#[path = "support/example_server.rs"]
mod support;
use support::{Server, read_to_close};

const HELLO: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!";
const HELLO_CLOSE: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, world!";

/// The Python side: one check per function, each printing "ok NAME".
const PYTHON: &str = r#"
import http.client, socket, sys
port = int(sys.argv[1])
T = 10

def keep_alive():
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=T)
    local = None
    for i, (method, body) in enumerate([("GET", None), ("POST", b"x" * 100000), ("HEAD", None),
                                        ("PUT", b""), ("GET", None)]):
        conn.request(method, f"/path/{i}?q=1", body=body, headers={"X-Test": str(i)})
        r = conn.getresponse()
        data = r.read()
        assert r.status == 200 and r.version == 11, (r.status, r.version)
        assert r.getheader("Content-Length") == "13"
        assert data == (b"" if method == "HEAD" else b"Hello, world!"), data
        assert not r.will_close
        name = conn.sock.getsockname()
        assert local in (None, name), "a new connection was opened"
        local = name
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
    batch += b"POST /body HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
    batch += b"GET /last HTTP/1.1\r\nConnection: close\r\n\r\n"
    s.sendall(batch)
    shared = Shared(s)
    for i in range(22):
        r = http.client.HTTPResponse(shared)
        r.begin()
        assert r.status == 200 and r.read() == b"Hello, world!", i
        assert r.will_close == (i == 21), (i, r.will_close)
    assert shared.fp.read() == b"", "closed after the Connection: close request"
    s.close()

def connection_close():
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=T)
    conn.request("GET", "/", headers={"Connection": "close"})
    r = conn.getresponse()
    assert r.status == 200 and r.getheader("Connection") == "close" and r.will_close
    assert r.read() == b"Hello, world!"
    # The server closed: a raw socket sees the reply, then EOF.
    s = socket.create_connection(("127.0.0.1", port), timeout=T)
    s.sendall(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\n\r\n")
    got = b""
    while chunk := s.recv(65536):
        got += chunk
    assert got.count(b"HTTP/1.1 200") == 1 and got.endswith(b"Hello, world!"), got

def http10():
    s = socket.create_connection(("127.0.0.1", port), timeout=T)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    got = b""
    while chunk := s.recv(65536):
        got += chunk
    assert got.endswith(b"Connection: close\r\n\r\nHello, world!"), got
    s = socket.create_connection(("127.0.0.1", port), timeout=T)
    shared = Shared(s)
    for i in range(3):
        s.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = http.client.HTTPResponse(shared)
        r.begin()
        assert r.status == 200 and r.getheader("Connection") == "keep-alive", i
        assert r.read() == b"Hello, world!"
    s.close()

def bad_request():
    for request, status in [(b"NONSENSE\r\n\r\n", 400),
                            (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400),
                            (b"GET / HTTP/1.1\r\n folded: x\r\n\r\n", 400),
                            (b"GET / HTTP/1.1\r\nContent-Length: nope\r\n\r\n", 400),
                            (b"GET / HTTP/2.0\r\n\r\n", 505),
                            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
                            (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 400),
                            (b"GET / HTTP/1.1\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
                            (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431)]:
        s = socket.create_connection(("127.0.0.1", port), timeout=T)
        # A good request first: the bad one fails only itself, then the connection closes.
        s.sendall(b"GET / HTTP/1.1\r\n\r\n" + request + b"GET / HTTP/1.1\r\n\r\n")
        shared = Shared(s)
        r = http.client.HTTPResponse(shared)
        r.begin()
        assert r.status == 200 and r.read() == b"Hello, world!"
        r = http.client.HTTPResponse(shared)
        r.begin()
        assert r.status == status, (request[:40], r.status, status)
        assert r.getheader("Connection") == "close" and r.will_close
        r.read()
        assert shared.fp.read() == b"", "closed after the error"
        s.close()

for check in sys.argv[2:]:
    globals()[check]()
    print("ok", check)
"#;

fn python(names: &[&str]) {
    support::python("http_hello", PYTHON, names);
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
fn python_connection_close_and_http10_close_after_the_reply() {
    python(&["connection_close", "http10"]);
}

#[test]
fn python_bad_requests_get_their_status_and_the_connection_closes() {
    python(&["bad_request"]);
}

#[test]
fn curl_reuses_the_connection_and_posts() {
    support::curl_reuses_the_connection_and_posts("http_hello");
}

#[test]
fn raw_pipelined_requests_in_one_write() {
    let server = Server::start("http_hello");
    let mut stream = server.connect();
    let batch = "GET / HTTP/1.1\r\n\r\n".repeat(10) + "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    stream.write_all(batch.as_bytes()).unwrap();
    assert_eq!(read_to_close(&mut stream), HELLO.repeat(10) + HELLO_CLOSE);
}

#[test]
fn a_stalled_or_bad_client_does_not_stall_the_others() {
    let mut server = Server::start("http_hello");
    // Half a head, half a body, a huge declared body, and a client that never reads.
    let mut half_head = server.connect();
    half_head.write_all(b"GET / HTTP/1.1\r\nHost: x").unwrap();
    let mut half_body = server.connect();
    half_body
        .write_all(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc")
        .unwrap();
    let mut huge = server.connect();
    huge.write_all(b"POST / HTTP/1.1\r\nContent-Length: 1000000000000\r\n\r\n")
        .unwrap();
    let mut deaf = server.connect();
    deaf.write_all("GET / HTTP/1.1\r\n\r\n".repeat(2000).as_bytes())
        .unwrap();
    // A flood of 100 KiB without a newline: 400, closed.
    let mut flood = server.connect();
    let _ = flood.write_all(&[b'a'; 100 * 1024]);
    let mut reply = Vec::new();
    let _ = flood.read_to_end(&mut reply);
    assert!(
        reply.starts_with(b"HTTP/1.1 400 Bad Request\r\n"),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );

    // Meanwhile, others are served at once.
    let start = Instant::now();
    for _ in 0..5 {
        let mut client = server.connect();
        client
            .write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        assert_eq!(read_to_close(&mut client), HELLO_CLOSE);
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );

    // The stalled ones are still open and finish when their clients do.
    half_head
        .write_all(b"\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_to_close(&mut half_head), HELLO_CLOSE);
    half_body.write_all(&[b'x'; 97]).unwrap();
    half_body.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_close(&mut half_body), HELLO);
    drop((huge, deaf));
    server.assert_running();
}
