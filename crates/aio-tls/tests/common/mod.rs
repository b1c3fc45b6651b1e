//! What the TLS tests share: certificates made at run time, scratch directories, the loop's
//! reports, bounded Python children.

#![allow(dead_code)] // each test binary uses its own part

use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;

use aio_tls::rustls::RootCertStore;
use rcgen::{CertificateParams, KeyPair};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate and its key.
pub struct Cert {
    pub der: CertificateDer<'static>,
    pub pem: String,
    pub key_der: Vec<u8>,
    pub key_pem: String,
}

impl Cert {
    /// Self-signed for `localhost` (and 127.0.0.1).
    pub fn localhost() -> Cert {
        let params =
            CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).expect("params");
        Cert::sign(params)
    }

    /// For `localhost`, but expired in 2001.
    pub fn expired() -> Cert {
        let mut params = CertificateParams::new(vec!["localhost".into()]).expect("params");
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        Cert::sign(params)
    }

    /// Signs with a new key, under a distinguished name of its own (certificates sharing a
    /// name would make an untrusted one look like a bad signature by the trusted one).
    fn sign(mut params: CertificateParams) -> Cert {
        static SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("aio-tls test certificate {serial}"),
        );
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-signed");
        Cert {
            der: cert.der().clone(),
            pem: cert.pem(),
            key_der: key.serialize_der(),
            key_pem: key.serialize_pem(),
        }
    }

    pub fn server_config(&self) -> Arc<aio_tls::rustls::ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(self.key_der.clone().into());
        aio_tls::server_config(vec![self.der.clone()], key).expect("server config")
    }

    /// A client trusting this certificate alone.
    pub fn client_config(&self) -> Arc<aio_tls::rustls::ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.der.clone()).expect("root");
        aio_tls::client_config(roots)
    }
}

/// A fresh directory for this test's files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aio-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The failures the loop's exception handler saw: (message, error text).
pub type Reports = Rc<RefCell<Vec<(String, String)>>>;

pub fn collect_reports() -> Reports {
    let reports = Reports::default();
    let sink = Rc::clone(&reports);
    aio_scheduler::get_running_loop()
        .expect("running loop")
        .set_exception_handler(move |_, ctx| {
            let error = ctx
                .error
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_default();
            sink.borrow_mut().push((ctx.message.clone(), error));
        });
    reports
}

/// Runs `python3 -c script args...` on an executor thread, bounded; (status ok, stdout, stderr).
pub async fn python(script: &'static str, args: Vec<String>) -> (bool, String, String) {
    let output = aio_task::to_thread(move || {
        Command::new("timeout")
            .args(["30", "python3", "-c", script])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("python3 runs")
    })
    .await
    .expect("executor thread");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A running Python server, killed when dropped.
pub struct PyServer(pub Child);

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl PyServer {
    /// Starts `python3 -c script args...` (bounded to 60 s) and reads the first line it
    /// prints (its port, or "ready").
    pub fn start(script: &str, args: &[String]) -> (PyServer, String) {
        let mut child = Command::new("timeout")
            .args(["60", "python3", "-c", script])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .expect("first line");
        (PyServer(child), first.trim().to_owned())
    }
}
