//! `examples/http_per_core`, run as a child process with two loops on a free port, both ways
//! of sharing it: `SO_REUSEPORT` (a server per loop) and `--acceptor` (loop 0 accepts, every
//! loop serves). Each test opens many connections, checks every reply, then sends SIGINT: the
//! loops are cancelled, each says how many connections it served (both served some), and the
//! process ends as interrupted. A second SIGINT is not needed. Run with `AIO_REACTOR=uring`
//! for the io_uring reactor: the child inherits it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/example_server.rs"]
mod support;

/// SIGINT's number on Linux.
const SIGINT: i32 = 2;

const HELLO_CLOSE: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, world!";
const HELLO: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!";

/// Connections opened per test: with two listening sockets, the chance that the kernel's
/// hash sends all of them to one is 2^-39.
const CONNECTIONS: usize = 40;

struct PerCore {
    child: Child,
    addr: String,
}

impl PerCore {
    fn start(args: &[&str]) -> PerCore {
        let mut child = Command::new(support::binary("http_per_core"))
            .args(["--port", "0", "--loops", "2"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn http_per_core");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("http_per_core prints its address");
        let addr = line
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("not the listening line: {line:?}"))
            .to_owned();
        PerCore { child, addr }
    }

    fn request(&self, request: &str) -> String {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        stream
            .set_read_timeout(Some(support::READ_TIMEOUT))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        support::read_to_close(&mut stream)
    }

    /// SIGINT, then the loops' reports from stderr, checking the process ended interrupted.
    fn interrupt(mut self) -> Vec<u64> {
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "SIGINT did not end http_per_core"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(status.signal(), Some(SIGINT), "{status:?}; {stderr}");
        assert!(stderr.contains("KeyboardInterrupt"), "{stderr}");
        let mut served = vec![None; 2];
        for line in stderr.lines() {
            if let Some(rest) = line.strip_prefix("loop ") {
                let (index, count) = rest.split_once(": ").expect("loop I: N connections");
                let count = count.strip_suffix(" connections").expect("N connections");
                served[index.parse::<usize>().unwrap()] = Some(count.parse().unwrap());
            }
        }
        served
            .into_iter()
            .map(|s| s.unwrap_or_else(|| panic!("every loop reports: {stderr}")))
            .collect()
    }
}

impl Drop for PerCore {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn both_loops_serve(args: &[&str]) {
    let server = PerCore::start(args);
    for i in 0..CONNECTIONS {
        let reply = if i % 2 == 0 {
            server.request("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        } else {
            // Two keep-alive requests, then close.
            server.request("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n")
        };
        let expected = if i % 2 == 0 {
            HELLO_CLOSE.to_owned()
        } else {
            HELLO.to_owned() + HELLO_CLOSE
        };
        assert_eq!(reply, expected, "connection {i}");
    }
    let served = server.interrupt();
    assert_eq!(served.iter().sum::<u64>(), CONNECTIONS as u64, "{served:?}");
    assert!(
        served.iter().all(|&n| n > 0),
        "both loops accepted: {served:?}"
    );
}

#[test]
fn two_loops_share_the_port_with_reuse_port_and_both_accept() {
    both_loops_serve(&[]);
}

#[test]
fn one_acceptor_hands_sockets_to_both_loops() {
    both_loops_serve(&["--acceptor"]);
}

#[test]
fn python_clients_are_served_by_the_group() {
    // Python's http.client, concurrently from threads: the loops serve them all.
    let server = PerCore::start(&[]);
    let port = server.addr.rsplit(':').next().unwrap().to_owned();
    let script = r#"
import http.client, sys, threading
port = int(sys.argv[1])
errors = []
def client():
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        for _ in range(20):
            conn.request("GET", "/")
            r = conn.getresponse()
            assert r.status == 200 and r.read() == b"Hello, world!"
        conn.close()
    except Exception as e:
        errors.append(e)
threads = [threading.Thread(target=client) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
assert not errors, errors
print("ok")
"#;
    let Some(output) = support::run_client("python3", &["-c", script, &port]) else {
        eprintln!("skipped: python3 is not installed");
        return;
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ok\n");
    let served = server.interrupt();
    assert_eq!(served.iter().sum::<u64>(), 8, "{served:?}");
}
