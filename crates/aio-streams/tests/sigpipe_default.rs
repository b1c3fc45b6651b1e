//! A program that restores SIGPIPE's default action (as command-line tools do, to end quietly
//! in `| head`) must still get an error, not be killed, when it writes to a Unix stream whose
//! peer has gone. Runs without the test harness: it changes a process-wide signal action.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::time::Duration;

use aio_streams::{open_unix_connection, start_unix_server};

fn main() {
    // SAFETY: sets SIGPIPE's disposition to the default; installs no handler code.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(previous, libc::SIG_ERR);
    let path = std::env::temp_dir().join(format!("aio-sigpipe-{}.sock", std::process::id()));
    let outcome = aio_task::run(async move {
        // The server drops both halves at once: the connection closes.
        let server = start_unix_server(|_reader, _writer| async {}, &path).await?;
        let (reader, writer) = open_unix_connection(&path).await?;
        assert_eq!(reader.read_to_end().await?, b"");
        let mut failed = None;
        for _ in 0..1_000 {
            writer.write(&[0u8; 4096]);
            if let Err(error) = writer.drain().await {
                failed = Some(error);
                break;
            }
            aio_scheduler::sleep(Duration::from_millis(1)).await?;
        }
        server.close();
        Ok::<_, aio_task::Error>(failed)
    });
    let failed = outcome.expect("loop").expect("test");
    let error = failed.expect("writing to a closed Unix socket never failed");
    println!("sigpipe_default: the write failed with {error}, the process lives: ok");
}
