//! `examples/tls_hello`, run as a child process on a free port with `--cert-out`, and driven
//! by real clients that verify its certificate: `curl --cacert` (skipped, with the reason
//! printed, where curl is not installed) and Python's `ssl` module; a plaintext client on the
//! TLS port fails alone. Every child has a hard timeout (coreutils' `timeout`). Run with
//! `AIO_REACTOR=uring` for the io_uring reactor: the child inherits it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "support/example_server.rs"]
mod support;
use support::binary;

/// A running `tls_hello`, killed when dropped, and the certificate it wrote.
struct Server {
    child: Child,
    port: u16,
    cert: PathBuf,
}

impl Server {
    fn start(name: &str) -> Server {
        let cert =
            std::env::temp_dir().join(format!("aio-tls-hello-{}-{name}.pem", std::process::id()));
        let mut child = Command::new(binary("tls_hello"))
            .args(["--port", "0", "--cert-out"])
            .arg(&cert)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tls_hello");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("tls_hello prints its address");
        let port = line
            .trim_end()
            .strip_prefix("listening on 127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("not the listening line: {line:?}"));
        assert!(
            std::fs::read_to_string(&cert)
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        Server { child, port, cert }
    }

    fn assert_running(&mut self) {
        let status = self.child.try_wait().expect("try_wait");
        assert!(status.is_none(), "tls_hello exited: {status:?}");
    }

    /// Stops the server and gives what it printed on stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        stderr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.cert);
    }
}

#[test]
fn curl_verifies_the_certificate_and_gets_hello() {
    let mut server = Server::start("curl");
    let url = format!("https://localhost:{}/", server.port);
    let cacert = server.cert.display().to_string();
    let output = match Command::new("timeout")
        .args([
            "30",
            "curl",
            "--silent",
            "--show-error",
            "--cacert",
            &cacert,
            &url,
            &url,
        ])
        .stdin(Stdio::null())
        .output()
    {
        Ok(output) if output.status.code() == Some(127) => {
            eprintln!("skipped: curl is not installed");
            return;
        }
        Ok(output) => output,
        Err(error) => panic!("timeout(1) does not run: {error}"),
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Two requests on one kept-alive connection.
    assert_eq!(output.stdout, b"Hello, world!Hello, world!");
    // Without the CA curl refuses the certificate (exit 60), and the server goes on.
    let refused = Command::new("timeout")
        .args(["30", "curl", "--silent", &url])
        .stdin(Stdio::null())
        .output()
        .expect("curl");
    assert_eq!(refused.status.code(), Some(60), "{refused:?}");
    server.assert_running();
    let again = Command::new("timeout")
        .args(["30", "curl", "--silent", "--cacert", &cacert, &url])
        .stdin(Stdio::null())
        .output()
        .expect("curl");
    assert_eq!(again.stdout, b"Hello, world!");
}

const PY_CLIENT: &str = r#"
import http.client, socket, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
for _ in range(3):
    conn.request("GET", "/")
    r = conn.getresponse()
    print(r.status, r.read().decode())
conn.close()
try:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        ssl.create_default_context(cafile=cafile).wrap_socket(raw, server_hostname="example.com")
except ssl.SSLCertVerificationError as e:
    print("refused:", e.verify_message)
"#;

#[test]
fn python_https_keep_alive_and_bad_clients() {
    let mut server = Server::start("python");
    // A plaintext HTTP client on the TLS port: no HTTP answer, the connection closes.
    let mut plain = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reply = Vec::new();
    let _ = plain.read_to_end(&mut reply);
    assert!(!reply.starts_with(b"HTTP"), "{reply:?}");
    server.assert_running();

    let output = Command::new("timeout")
        .args(["30", "python3", "-c", PY_CLIENT, &server.port.to_string()])
        .arg(&server.cert)
        .stdin(Stdio::null())
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout,
        "200 Hello, world!\n200 Hello, world!\n200 Hello, world!\nrefused: Hostname mismatch, certificate is not valid for 'example.com'.\n"
    );
    server.assert_running();
    let stderr = server.stop();
    // Each bad connection reported once by the loop's exception handler.
    assert_eq!(
        stderr.matches("TLS handshake failed").count(),
        2,
        "{stderr}"
    );
}
