//! The SIGCHLD fallback watcher: with `set_child_watcher(.., ChildWatcher::Sigchld)` exit
//! codes, signal codes, concurrent and cancelled waits, and `communicate` work as with pidfd.
//! In its own test binary: SIGCHLD's disposition is process-wide.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::rc::Rc;
use std::time::{Duration, Instant};

use aio_scheduler::{get_running_loop, sleep};
use aio_subprocess::{
    ChildWatcher, PIPE, SubprocessError, child_watcher, create_subprocess_exec,
    create_subprocess_shell, set_child_watcher,
};
use aio_task::{Error, create_task, run, wait_for};
use common::LIMIT;

const NO_ARGS: [&str; 0] = [];

/// Switches the running loop to the SIGCHLD watcher.
fn use_sigchld() -> Result<(), Error> {
    let lp = get_running_loop()?;
    assert_eq!(child_watcher(&lp), ChildWatcher::Pidfd, "the default");
    set_child_watcher(&lp, ChildWatcher::Sigchld);
    assert_eq!(child_watcher(&lp), ChildWatcher::Sigchld);
    Ok(())
}

#[test]
fn exit_codes() {
    run(async {
        use_sigchld()?;
        let proc = create_subprocess_shell("exit 7").await?;
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 7);
        assert_eq!(proc.returncode(), Some(7));

        let proc = create_subprocess_exec("sleep", ["0.2"]).await?;
        assert_eq!(proc.returncode(), None);
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 0);

        // Children that exit at once, many in a row: none is missed between spawn and watch.
        for code in 0..20 {
            let proc = create_subprocess_shell(format!("exit {code}")).await?;
            assert_eq!(wait_for(proc.wait(), LIMIT).await??, code);
        }
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn returncode_is_set_without_any_wait() {
    run(async {
        use_sigchld()?;
        let proc = create_subprocess_shell("exit 5").await?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while proc.returncode().is_none() {
            assert!(Instant::now() < deadline, "pid {} never reaped", proc.pid());
            sleep(0.01).await?;
        }
        assert_eq!(proc.returncode(), Some(5));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn kill_and_terminate_codes() {
    run(async {
        use_sigchld()?;
        let proc = create_subprocess_exec("sleep", ["30"]).await?;
        proc.kill()?;
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, -9);
        let err = proc.kill().unwrap_err();
        assert!(
            matches!(err, SubprocessError::ProcessLookup { .. }),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("process already finished"));

        let proc = create_subprocess_exec("sleep", ["30"]).await?;
        proc.terminate()?;
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, -15);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn ten_concurrent_waits() {
    run(async {
        use_sigchld()?;
        let proc = Rc::new(create_subprocess_shell("sleep 0.1; exit 42").await?);
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let proc = proc.clone();
                create_task(async move { proc.wait().await })
            })
            .collect::<Result<_, _>>()?;
        for task in tasks {
            assert_eq!(wait_for(task, LIMIT).await???, 42);
        }
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn several_children_at_once_each_get_their_own_code() {
    // One SIGCHLD can stand for several exits: every child must still be reaped.
    run(async {
        use_sigchld()?;
        let mut procs = Vec::new();
        for code in 0..20 {
            procs.push((
                code,
                create_subprocess_shell(format!("sleep 0.05; exit {code}")).await?,
            ));
        }
        for (code, proc) in &procs {
            assert_eq!(wait_for(proc.wait(), LIMIT).await??, *code);
        }
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_cancelled_wait_then_a_new_one() {
    run(async {
        use_sigchld()?;
        let proc = create_subprocess_shell("sleep 0.3; exit 4").await?;
        assert!(matches!(
            wait_for(proc.wait(), 0.05).await,
            Err(Error::Timeout)
        ));
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 4);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn communicate_round_trips() {
    let input: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let expected = input.clone();
    let (out, err) = run(async move {
        use_sigchld()?;
        let mut proc = create_subprocess_shell("cat; echo done >&2; exit 1")
            .stdin(PIPE)
            .stdout(PIPE)
            .stderr(PIPE)
            .await?;
        let (out, err) = wait_for(proc.communicate(Some(&input)), LIMIT).await??;
        assert_eq!(proc.returncode(), Some(1));
        Ok::<_, Error>((out.unwrap(), err.unwrap()))
    })
    .unwrap()
    .unwrap();
    assert!(out == expected, "cat's output differs from its input");
    assert_eq!(err, b"done\n");
}

#[test]
fn a_missing_program_is_still_a_spawn_error() {
    run(async {
        use_sigchld()?;
        let err = create_subprocess_exec("/no/such/aio-program", NO_ARGS)
            .await
            .unwrap_err();
        assert!(err.is_not_found(), "{err:?}");
        // And the loop still works for the next child.
        let proc = create_subprocess_shell("exit 3").await?;
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 3);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// The protocol API on the SIGCHLD watcher: process_exited comes from the SIGCHLD handler's
/// reaping, and connection_lost follows the pipes' ends.
#[test]
fn subprocess_protocol_on_sigchld() {
    use std::cell::RefCell;

    use aio_subprocess::{SubprocessProtocol, subprocess_shell};

    #[derive(Default)]
    struct Events(Rc<RefCell<Vec<String>>>);
    impl SubprocessProtocol for Events {
        fn pipe_data_received(&mut self, fd: i32, data: &[u8]) {
            let text = String::from_utf8_lossy(data);
            self.0
                .borrow_mut()
                .push(format!("data {fd} {}", text.trim_end()));
        }
        fn process_exited(&mut self) {
            self.0.borrow_mut().push("exited".into());
        }
        fn connection_lost(&mut self, _error: Option<std::io::Error>) {
            self.0.borrow_mut().push("lost".into());
        }
    }

    let events = Rc::new(RefCell::new(Vec::new()));
    let e = events.clone();
    run(async move {
        use_sigchld()?;
        let (transport, _) = subprocess_shell(move || Events(e), "echo hi; exit 6").await?;
        assert_eq!(wait_for(transport.wait(), LIMIT).await??, 6);
        wait_for(transport.wait_closed(), LIMIT).await?;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    let events = events.borrow();
    assert!(events.contains(&"data 1 hi".to_string()), "{events:?}");
    assert!(events.contains(&"exited".to_string()), "{events:?}");
    assert_eq!(
        events.last().map(String::as_str),
        Some("lost"),
        "{events:?}"
    );
}
