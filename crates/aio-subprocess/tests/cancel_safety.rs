//! The `# Cancel safety` sections of aio-subprocess, checked: a `wait` dropped while the
//! child runs loses no exit status (a later wait returns it; no zombie), and — the documented
//! exception — a `communicate` dropped mid-way loses the output it had collected, while the
//! input it was given is still delivered.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

use aio_subprocess::{PIPE, create_subprocess_exec, create_subprocess_shell};
use aio_task::{Error, run, wait_for};

/// Polls `future` once, then drops it: `Some` if it completed in that poll.
async fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    poll_fn(|cx| {
        Poll::Ready(match future.as_mut().poll(cx) {
            Poll::Ready(out) => Some(out),
            Poll::Pending => None,
        })
    })
    .await
}

#[test]
fn wait_dropped_while_the_child_runs_loses_no_exit_status() {
    run(async {
        let proc = create_subprocess_exec("sleep", ["30"]).await?;
        assert!(poll_once(proc.wait()).await.is_none());
        assert!(matches!(
            wait_for(proc.wait(), 0.01).await,
            Err(Error::Timeout)
        ));
        proc.kill()?;
        // Reaped with nobody waiting: the status is kept for the next wait.
        while proc.returncode().is_none() {
            aio_scheduler::sleep(0.005).await?;
        }
        assert_eq!(poll_once(proc.wait()).await.transpose()?, Some(-9));
        assert!(
            common::zombies_after(std::time::Duration::from_millis(200))
                .await
                .is_empty()
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// The documented exception: output collected by a dropped `communicate` is gone.
#[test]
fn communicate_dropped_mid_way_loses_the_output_it_collected() {
    run(async {
        // "first" is in the stdout pipe before "ready" is on stderr.
        let mut proc = create_subprocess_shell("echo first; echo ready >&2; exec sleep 30")
            .stdout(PIPE)
            .stderr(PIPE)
            .await?;
        let ready = proc.stderr.as_ref().unwrap().readline().await?;
        assert_eq!(ready, b"ready\n");
        assert!(matches!(
            wait_for(proc.communicate(None), 0.2).await,
            Err(Error::Timeout)
        ));
        proc.kill()?;
        assert_eq!(proc.wait().await?, -9);
        // The child is gone and its stdout at EOF: "first" was taken and dropped.
        let rest = proc.stdout.as_ref().unwrap().read_to_end().await?;
        assert_eq!(rest, b"");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// The input handed to a dropped `communicate` still reaches the child (and, being small,
/// stdin was closed in the first poll).
#[test]
fn communicate_dropped_after_its_first_poll_still_delivers_small_input() {
    run(async {
        let mut proc = create_subprocess_exec("sh", ["-c", "cat > /dev/null; echo $? >&2"])
            .stdin(PIPE)
            .stderr(PIPE)
            .await?;
        assert!(poll_once(proc.communicate(Some(b"input"))).await.is_none());
        // cat saw EOF (stdin closed) and exited: the shell reports it.
        let line = wait_for(proc.stderr.as_ref().unwrap().readline(), 5.0).await??;
        assert_eq!(line, b"0\n");
        assert_eq!(wait_for(proc.wait(), 5.0).await??, 0);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
