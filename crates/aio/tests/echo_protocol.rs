//! `examples/echo_protocol` as a child process on a free port: plain, with a raw client; and
//! with `--tls --cert-out`, with Python's `ssl` client verifying the certificate it wrote, a
//! plaintext client failing alone, and the server serving on. Every child has a hard timeout.
//! Run with `AIO_REACTOR=uring` for the io_uring reactor: the child inherits it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "support/example_server.rs"]
mod support;
use support::binary;

/// A running `echo_protocol`, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    cert: Option<PathBuf>,
}

impl Server {
    fn start(tls: bool) -> Server {
        let mut command = Command::new("timeout");
        command
            .arg("60")
            .arg(binary("echo_protocol"))
            .args(["--port", "0"]);
        let cert = tls.then(|| {
            let cert =
                std::env::temp_dir().join(format!("aio-echo-protocol-{}.pem", std::process::id()));
            command.arg("--tls").arg("--cert-out").arg(&cert);
            cert
        });
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn echo_protocol");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // The first line to the test; the rest read and dropped (the server prints a
            // line per callback, and a closed pipe would fail its `println!`).
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok).unwrap_or_default();
            let _ = tx.send(first);
            lines.for_each(drop);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("echo_protocol prints its address");
        let port = line
            .trim_end()
            .strip_prefix("Serving on 127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("not the serving line: {line:?}"));
        Server { child, port, cert }
    }

    fn assert_running(&mut self) {
        let status = self.child.try_wait().expect("try_wait");
        assert!(status.is_none(), "echo_protocol exited: {status:?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(cert) = &self.cert {
            let _ = std::fs::remove_file(cert);
        }
    }
}

/// Sends `data` on a plain connection and reads to the end.
fn raw_exchange(port: u16, data: &[u8]) -> Vec<u8> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(data).unwrap();
    let mut got = Vec::new();
    let _ = conn.read_to_end(&mut got);
    got
}

/// Python's `ssl`: sends argv 3, prints what comes back until the server's close_notify.
const PY_CLIENT: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
tls = ctx.wrap_socket(raw, server_hostname="localhost")
tls.sendall(sys.argv[3].encode())
got = b""
while chunk := tls.recv(100):
    got += chunk
print(tls.version(), got.decode())
"#;

fn python(port: u16, cert: &PathBuf, message: &str) -> String {
    let output = Command::new("timeout")
        .args(["30", "python3", "-c", PY_CLIENT, &port.to_string()])
        .arg(cert)
        .arg(message)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn plain_echo_then_close() {
    let mut server = Server::start(false);
    assert_eq!(raw_exchange(server.port, b"Hello World!"), b"Hello World!");
    server.assert_running();
}

#[test]
fn tls_echo_verified_by_python_and_a_plaintext_client_fails_alone() {
    let mut server = Server::start(true);
    let cert = server.cert.clone().unwrap();
    assert!(
        std::fs::read_to_string(&cert)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert_eq!(
        python(server.port, &cert, "Hello World!"),
        "TLSv1.3 Hello World!\n"
    );
    let reply = raw_exchange(server.port, b"Hello World!");
    assert!(!reply.starts_with(b"Hello"), "{reply:?}");
    server.assert_running();
    assert_eq!(python(server.port, &cert, "again"), "TLSv1.3 again\n");
}
