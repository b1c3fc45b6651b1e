//! What the example-server tests share (`http_hello.rs`, `hyper_hello.rs`; `tls_hello.rs` uses
//! [`binary`]): build and start
//! an example as a child process on a free port, run client programs with a hard timeout,
//! read raw replies. Included with `#[path]`; not every test file uses every item.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a client child (python3, curl) may run.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Read timeout on the raw sockets.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// `target/<profile>/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>")
        .to_owned()
}

/// The binary of `examples/NAME.rs`, built once per test binary (`cargo test --test NAME`
/// alone does not build examples; outside cargo the binary is used as it is).
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let Some(cargo) = std::env::var_os("CARGO") else {
            return Ok(());
        };
        let profile = match profile_dir().file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev".to_owned(),
            Some(other) => other.to_owned(),
        };
        let output = Command::new(cargo)
            .args(["build", "--quiet", "--example", name, "--profile", &profile])
            .arg("--manifest-path")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run cargo: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    });
    if let Err(message) = built {
        panic!("{name} does not build:\n{message}");
    }
    profile_dir().join("examples").join(name)
}

/// A running example server, killed when dropped.
pub struct Server {
    child: Child,
    name: &'static str,
    pub addr: String,
    pub port: u16,
}

impl Server {
    /// Starts `examples/NAME` on a free port and waits for its `listening on ADDR` line.
    pub fn start(name: &'static str) -> Server {
        let mut child = Command::new(binary(name))
            .args(["--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{name} prints its address"));
        let addr = line
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("not the listening line: {line:?}"))
            .to_owned();
        let port = addr.rsplit(':').next().and_then(|p| p.parse().ok());
        let port = port.unwrap_or_else(|| panic!("no port in {line:?}"));
        assert_ne!(port, 0);
        Server {
            child,
            name,
            addr,
            port,
        }
    }

    /// A raw connection with a read timeout.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(&self.addr).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream
    }

    /// Fails the test if the server has exited.
    pub fn assert_running(&mut self) {
        let status = self.child.try_wait().expect("try_wait");
        assert!(status.is_none(), "{} exited: {status:?}", self.name);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a client to its end, killing it after [`CLIENT_TIMEOUT`]. `None` if `program` is not
/// installed.
pub fn run_client(program: &str, args: &[&str]) -> Option<Output> {
    let mut child = match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("spawn {program}: {e}"),
    };
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("wait");
            panic!(
                "{program} {args:?} ran over {CLIENT_TIMEOUT:?}; stdout {:?}, stderr {:?}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Some(child.wait_with_output().expect("wait"))
}

/// Everything the server sends until it closes.
pub fn read_to_close(stream: &mut TcpStream) -> String {
    let mut all = Vec::new();
    stream
        .read_to_end(&mut all)
        .expect("the server closes (no read timeout)");
    String::from_utf8(all).expect("UTF-8")
}

/// Runs the Python checks `names` (the script prints "ok NAME" for each) against a fresh
/// `example` server; skips, saying so, where python3 is missing.
pub fn python(example: &'static str, script: &str, names: &[&str]) {
    let mut server = Server::start(example);
    let port = server.port.to_string();
    let mut args = vec!["-c", script, &port];
    args.extend_from_slice(names);
    let Some(output) = run_client("python3", &args) else {
        eprintln!("skipped: python3 is not installed");
        return;
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python3 failed: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let expected: String = names.iter().map(|n| format!("ok {n}\n")).collect();
    assert_eq!(stdout, expected);
    server.assert_running();
}

/// curl against `example`: three URLs on one keep-alive connection, then a POST with
/// `Connection: close`; skips, saying so, where curl is missing.
pub fn curl_reuses_the_connection_and_posts(example: &'static str) {
    let mut server = Server::start(example);
    let url = format!("http://{}/", server.addr);
    let Some(output) = run_client(
        "curl",
        &[
            "--silent",
            "--show-error",
            "--http1.1",
            "--max-time",
            "20",
            "--write-out",
            " %{http_code} %{num_connects}\n",
            &url,
            &format!("{url}second"),
            &format!("{url}third"),
        ],
    ) else {
        eprintln!("skipped: curl is not installed");
        return;
    };
    assert!(output.status.success(), "{output:?}");
    // One connection for the three transfers.
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "Hello, world! 200 1\nHello, world! 200 0\nHello, world! 200 0\n"
    );

    let output = run_client(
        "curl",
        &[
            "--silent",
            "--show-error",
            "--max-time",
            "20",
            "--include",
            "--data-binary",
            "some body",
            "--header",
            "Connection: close",
            &url,
        ],
    )
    .expect("curl ran once");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n");
    assert!(text.starts_with("HTTP/1.1 200 OK\n"), "{text}");
    // Header names are case-insensitive (hyper writes them in lower case).
    assert!(
        text.to_ascii_lowercase().contains("\nconnection: close\n"),
        "{text}"
    );
    assert!(text.ends_with("\n\nHello, world!"), "{text}");
    server.assert_running();
}
