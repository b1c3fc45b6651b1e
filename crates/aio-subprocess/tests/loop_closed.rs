//! A `Process` outliving the loop that spawned it: waiting must fail, not hang.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::time::Duration;

use aio_scheduler::Error as LoopError;
use aio_subprocess::{SubprocessError, create_subprocess_exec};

#[test]
fn wait_after_the_spawning_loop_closed_is_an_error_not_a_hang() {
    // Spawned on one loop, still running when that loop closes.
    let proc = aio_task::run(async { create_subprocess_exec("sleep", ["0.3"]).await })
        .unwrap()
        .unwrap();
    assert_eq!(proc.returncode(), None);
    let outcome = aio_task::run(async move {
        let waited = aio_task::wait_for(proc.wait(), Duration::from_secs(10)).await;
        let signalled = proc.kill();
        (waited, signalled)
    })
    .unwrap();
    match outcome {
        (
            Ok(Err(SubprocessError::Runtime(LoopError::Closed))),
            Err(SubprocessError::Runtime(_)),
        ) => {}
        other => panic!("expected the closed-loop error from wait and kill, got {other:?}"),
    }
}
