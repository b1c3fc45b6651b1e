//! `create_subprocess_exec` / `create_subprocess_shell` and `Process` on the default (pidfd)
//! child watcher: exit codes, signals, waits (concurrent and cancelled), `communicate` with
//! large outputs on both pipes, the stream settings, environment and working directory, and
//! the errors at spawn.
//!
//! Every await that a bug could turn into a hang goes through `wait_for(.., LIMIT)`.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::rc::Rc;
use std::time::{Duration, Instant};

use aio_scheduler::{signal, sleep};
use aio_streams::StreamError;
use aio_subprocess::{
    DEVNULL, PIPE, STDOUT, SubprocessError, create_subprocess_exec, create_subprocess_shell,
};
use aio_task::{Error, create_task, run, wait_for};
use common::{LIMIT, unique_temp_path};

const NO_ARGS: [&str; 0] = [];

#[test]
fn shell_exit_code_is_the_returncode() {
    run(async {
        let proc = create_subprocess_shell("exit 7").await?;
        assert!(proc.pid() > 0);
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 7);
        assert_eq!(proc.returncode(), Some(7));
        // A finished process's wait returns the same code again, at once.
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 7);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn returncode_is_none_while_the_child_runs() {
    run(async {
        let proc = create_subprocess_exec("sleep", ["0.3"]).await?;
        assert_eq!(proc.returncode(), None);
        sleep(0.01).await?;
        assert_eq!(proc.returncode(), None);
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 0);
        assert_eq!(proc.returncode(), Some(0));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn returncode_is_set_by_the_loop_without_any_wait() {
    run(async {
        let proc = create_subprocess_shell("exit 5").await?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while proc.returncode().is_none() {
            assert!(
                Instant::now() < deadline,
                "the loop never reaped pid {} on its own",
                proc.pid()
            );
            sleep(0.01).await?;
        }
        assert_eq!(proc.returncode(), Some(5));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn exec_passes_arguments_verbatim() {
    let out = run(async {
        let mut proc = create_subprocess_exec("printf", ["%s|%s|", "two words", "$HOME;*"])
            .stdout(PIPE)
            .await?;
        let (out, err) = wait_for(proc.communicate(None), LIMIT).await??;
        assert!(err.is_none());
        assert_eq!(proc.returncode(), Some(0));
        Ok::<_, Error>(out.unwrap())
    })
    .unwrap()
    .unwrap();
    assert_eq!(out, b"two words|$HOME;*|");
}

#[test]
fn communicate_round_trips_input() {
    let input: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let expected = input.clone();
    let out = run(async move {
        let mut proc = create_subprocess_exec("cat", NO_ARGS)
            .stdin(PIPE)
            .stdout(PIPE)
            .await?;
        assert!(proc.stdin.is_some() && proc.stdout.is_some() && proc.stderr.is_none());
        let (out, err) = wait_for(proc.communicate(Some(&input)), LIMIT).await??;
        assert!(err.is_none(), "stderr was not a pipe");
        assert_eq!(proc.returncode(), Some(0));
        Ok::<_, Error>(out.expect("stdout was a pipe"))
    })
    .unwrap()
    .unwrap();
    assert_eq!(out.len(), expected.len());
    assert!(out == expected, "cat's output differs from its input");
}

#[test]
fn communicate_without_input_closes_stdin() {
    // `cat` ends only once its stdin is closed: communicate(None) must close it.
    let out = run(async {
        let mut proc = create_subprocess_exec("cat", NO_ARGS)
            .stdin(PIPE)
            .stdout(PIPE)
            .await?;
        let (out, _) = wait_for(proc.communicate(None), LIMIT).await??;
        assert_eq!(proc.returncode(), Some(0));
        Ok::<_, Error>(out.unwrap())
    })
    .unwrap()
    .unwrap();
    assert!(out.is_empty());
}

#[test]
fn communicate_moves_ten_megabytes_each_way_on_both_pipes_at_once() {
    const SIZE: usize = 10_000_000;
    // stdout echoes the input while, concurrently, stderr gets 10 MB of zeros: the child
    // blocks on a full stdout or stderr unless both are read while stdin is still written.
    let input: Vec<u8> = (0..SIZE).map(|i| (i % 253) as u8).collect();
    let expected = input.clone();
    let (out, err) = run(async move {
        let mut proc =
            create_subprocess_shell(format!("head -c {SIZE} /dev/zero >&2 & cat; wait; exit 3"))
                .stdin(PIPE)
                .stdout(PIPE)
                .stderr(PIPE)
                .await?;
        let (out, err) = wait_for(proc.communicate(Some(&input)), LIMIT).await??;
        assert_eq!(proc.returncode(), Some(3));
        Ok::<_, Error>((out.unwrap(), err.unwrap()))
    })
    .unwrap()
    .unwrap();
    assert_eq!(out.len(), SIZE);
    assert!(out == expected, "stdout is not the input echoed back");
    assert_eq!(err.len(), SIZE);
    assert!(err.iter().all(|&b| b == 0), "stderr is not all zeros");
}

#[test]
fn communicate_reads_ten_megabytes_from_both_pipes_from_two_writers() {
    const SIZE: usize = 10_000_000;
    let (out, err) = run(async {
        let mut proc = create_subprocess_shell(format!(
            "head -c {SIZE} /dev/zero & head -c {SIZE} /dev/zero >&2; wait"
        ))
        .stdin(PIPE)
        .stdout(PIPE)
        .stderr(PIPE)
        .await?;
        // The input is never read: ignored, like a broken pipe.
        let (out, err) = wait_for(proc.communicate(Some(b"ignored\n")), LIMIT).await??;
        assert_eq!(proc.returncode(), Some(0));
        Ok::<_, Error>((out.unwrap(), err.unwrap()))
    })
    .unwrap()
    .unwrap();
    assert_eq!(out.len(), SIZE);
    assert_eq!(err.len(), SIZE);
}

#[test]
fn ten_concurrent_waits_all_see_the_code() {
    run(async {
        let proc = Rc::new(create_subprocess_shell("sleep 0.1; exit 42").await?);
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let proc = proc.clone();
            tasks.push(create_task(async move { proc.wait().await })?);
        }
        for task in tasks {
            assert_eq!(wait_for(task, LIMIT).await???, 42);
        }
        assert_eq!(proc.returncode(), Some(42));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn concurrent_waits_on_an_already_exited_child() {
    run(async {
        let proc = Rc::new(create_subprocess_shell("exit 9").await?);
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 9);
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let proc = proc.clone();
                create_task(async move { proc.wait().await })
            })
            .collect::<Result<_, _>>()?;
        for task in tasks {
            assert_eq!(wait_for(task, LIMIT).await???, 9);
        }
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_timed_out_wait_changes_nothing() {
    run(async {
        let proc = create_subprocess_shell("sleep 0.3; exit 4").await?;
        let first = wait_for(proc.wait(), 0.05).await;
        assert!(
            matches!(first, Err(Error::Timeout)),
            "the wait should time out: {first:?}"
        );
        assert_eq!(proc.returncode(), None);
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 4);
        assert_eq!(proc.returncode(), Some(4));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_cancelled_waiting_task_changes_nothing() {
    run(async {
        let proc = Rc::new(create_subprocess_shell("sleep 0.3; exit 6").await?);
        let waiter = {
            let proc = proc.clone();
            create_task(async move { proc.wait().await })?
        };
        let other = {
            let proc = proc.clone();
            create_task(async move { proc.wait().await })?
        };
        sleep(0.05).await?; // both tasks are now parked in `wait`
        assert!(!waiter.done());
        assert!(waiter.cancel(None));
        let cancelled = wait_for(waiter, LIMIT).await?;
        assert!(
            matches!(&cancelled, Err(e) if e.is_cancelled()),
            "{cancelled:?}"
        );
        // The other waiter and a new one still get the code.
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 6);
        assert_eq!(wait_for(other, LIMIT).await???, 6);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn kill_gives_minus_nine() {
    run(async {
        let proc = create_subprocess_exec("sleep", ["30"]).await?;
        proc.kill()?;
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, -9);
        assert_eq!(proc.returncode(), Some(-9));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn terminate_gives_minus_fifteen() {
    run(async {
        let proc = create_subprocess_exec("sleep", ["30"]).await?;
        proc.terminate()?;
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, -15);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn send_signal_delivers_the_signal() {
    run(async {
        let proc = create_subprocess_exec("sleep", ["30"]).await?;
        proc.send_signal(signal::SIGUSR1)?;
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, -signal::SIGUSR1);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_trapped_signal_is_not_a_negative_code() {
    run(async {
        // The shell handles SIGTERM itself and exits normally with 12.
        let mut proc = create_subprocess_shell(
            "trap 'exit 12' TERM; echo ready; while :; do sleep 0.01; done",
        )
        .stdout(PIPE)
        .await?;
        let stdout = proc.stdout.take().unwrap();
        assert_eq!(wait_for(stdout.readline(), LIMIT).await??, b"ready\n");
        proc.terminate()?;
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 12);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

fn assert_process_lookup(err: SubprocessError, pid: u32) {
    assert!(
        matches!(err, SubprocessError::ProcessLookup { pid: p } if p == pid),
        "expected ProcessLookup for pid {pid}: {err:?}"
    );
    assert!(
        err.to_string().starts_with("process already finished"),
        "{err}"
    );
}

#[test]
fn signalling_a_finished_process_is_process_lookup() {
    run(async {
        let proc = create_subprocess_exec("sleep", ["30"]).await?;
        proc.kill()?;
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, -9);
        assert_process_lookup(proc.kill().unwrap_err(), proc.pid());
        assert_process_lookup(proc.terminate().unwrap_err(), proc.pid());
        assert_process_lookup(proc.send_signal(signal::SIGTERM).unwrap_err(), proc.pid());

        let done = create_subprocess_exec("true", NO_ARGS).await?;
        assert_eq!(wait_for(done.wait(), LIMIT).await??, 0);
        assert_process_lookup(done.kill().unwrap_err(), done.pid());
        // The error survives the conversion into a task error.
        let as_task_error: Error = done.send_signal(signal::SIGTERM).unwrap_err().into();
        assert!(
            as_task_error
                .to_string()
                .contains("process already finished"),
            "{as_task_error}"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn send_signal_zero_probes_the_child_without_signalling_it() {
    // As `os.kill(pid, 0)` under asyncio's `send_signal(0)`: a check that the child is
    // there, which delivers nothing. (Regression: 0 was refused as out of range.)
    run(async {
        let proc = create_subprocess_exec("sleep", ["30"]).await?;
        proc.send_signal(0)?;
        assert_eq!(proc.returncode(), None);
        proc.kill()?;
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, -9);
        assert_process_lookup(proc.send_signal(0).unwrap_err(), proc.pid());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn send_signal_out_of_range_is_invalid_argument() {
    run(async {
        let proc = create_subprocess_exec("sleep", ["30"]).await?;
        for bad in [-1, signal::NSIG, 1000] {
            let err = proc.send_signal(bad).unwrap_err();
            assert!(
                matches!(err, SubprocessError::InvalidArgument(_)),
                "signal {bad}: {err:?}"
            );
        }
        assert_eq!(proc.returncode(), None);
        proc.kill()?;
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, -9);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_missing_program_is_a_spawn_error_naming_it() {
    run(async {
        for program in [
            "/no/such/dir/aio-missing-program",
            "aio-missing-program-not-on-path",
        ] {
            let err = create_subprocess_exec(program, ["arg"]).await.unwrap_err();
            assert!(
                matches!(&err, SubprocessError::Spawn { program: p, .. } if p == program),
                "{err:?}"
            );
            assert!(err.is_not_found(), "{err:?}");
            assert!(err.to_string().contains(program), "{err}");
            assert!(std::error::Error::source(&err).is_some());
        }
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_missing_cwd_fails_at_spawn() {
    run(async {
        let missing = unique_temp_path("missing-cwd");
        let err = create_subprocess_exec("true", NO_ARGS)
            .cwd(&missing)
            .await
            .unwrap_err();
        assert!(matches!(err, SubprocessError::Spawn { .. }), "{err:?}");
        assert!(err.is_not_found(), "{err:?}");
        // The same through spawn().
        let err = create_subprocess_shell("exit 0")
            .cwd(&missing)
            .spawn()
            .unwrap_err();
        assert!(matches!(err, SubprocessError::Spawn { .. }), "{err:?}");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_program_that_is_not_executable_is_a_spawn_error() {
    let path = unique_temp_path("not-executable");
    std::fs::write(&path, b"#!/bin/sh\nexit 0\n").unwrap();
    let result = run({
        let path = path.clone();
        async move { create_subprocess_exec(&path, NO_ARGS).await.map(|_| ()) }
    })
    .unwrap();
    std::fs::remove_file(&path).unwrap();
    let err = result.unwrap_err();
    assert!(matches!(err, SubprocessError::Spawn { .. }), "{err:?}");
    assert!(!err.is_not_found(), "{err:?}");
}

#[test]
fn stdout_is_only_for_stderr() {
    run(async {
        let err = create_subprocess_exec("true", NO_ARGS)
            .stdin(STDOUT)
            .await
            .unwrap_err();
        assert!(
            matches!(err, SubprocessError::InvalidArgument(_)),
            "{err:?}"
        );
        let err = create_subprocess_exec("true", NO_ARGS)
            .stdout(STDOUT)
            .spawn()
            .unwrap_err();
        assert!(
            matches!(err, SubprocessError::InvalidArgument(_)),
            "{err:?}"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn spawning_outside_a_loop_is_a_runtime_error() {
    let err = create_subprocess_exec("true", NO_ARGS).spawn().unwrap_err();
    assert!(matches!(err, SubprocessError::Runtime(_)), "{err:?}");
}

#[test]
fn stderr_merged_into_stdout() {
    let out = run(async {
        let mut proc = create_subprocess_shell("echo out; echo err >&2; echo out2")
            .stdout(PIPE)
            .stderr(STDOUT)
            .await?;
        assert!(proc.stderr.is_none());
        let (out, err) = wait_for(proc.communicate(None), LIMIT).await??;
        assert!(err.is_none());
        Ok::<_, Error>(out.unwrap())
    })
    .unwrap()
    .unwrap();
    assert_eq!(out, b"out\nerr\nout2\n");
}

#[test]
fn devnull_streams() {
    run(async {
        // stdout discarded, stderr still seen.
        let mut proc = create_subprocess_shell("echo hidden; echo visible >&2")
            .stdout(DEVNULL)
            .stderr(PIPE)
            .await?;
        assert!(proc.stdout.is_none());
        let (out, err) = wait_for(proc.communicate(None), LIMIT).await??;
        assert!(out.is_none());
        assert_eq!(err.unwrap(), b"visible\n");

        // stdin from /dev/null: `cat` sees end of file at once.
        let mut proc = create_subprocess_exec("cat", NO_ARGS)
            .stdin(DEVNULL)
            .stdout(PIPE)
            .await?;
        assert!(proc.stdin.is_none());
        let (out, _) = wait_for(proc.communicate(None), LIMIT).await??;
        assert_eq!(out.unwrap(), b"");
        assert_eq!(proc.returncode(), Some(0));

        // Both outputs (merged) into /dev/null.
        let mut proc = create_subprocess_shell("echo a; echo b >&2; exit 2")
            .stdout(DEVNULL)
            .stderr(STDOUT)
            .await?;
        let (out, err) = wait_for(proc.communicate(None), LIMIT).await??;
        assert!(out.is_none() && err.is_none());
        assert_eq!(proc.returncode(), Some(2));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_file_as_stdout() {
    let path = unique_temp_path("stdout-file");
    let file = std::fs::File::create(&path).unwrap();
    let code = run(async move {
        let proc = create_subprocess_shell("echo to-the-file; printf 'second line'")
            .stdout(file)
            .await?;
        assert!(proc.stdout.is_none());
        Ok::<_, Error>(wait_for(proc.wait(), LIMIT).await??)
    })
    .unwrap()
    .unwrap();
    let written = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(code, 0);
    assert_eq!(written, b"to-the-file\nsecond line");
}

#[test]
fn a_file_as_stdout_with_stderr_merged_into_it() {
    let path = unique_temp_path("merged-file");
    let file = std::fs::File::create(&path).unwrap();
    run(async move {
        let proc = create_subprocess_shell("echo one; echo two >&2; echo three")
            .stdout(file)
            .stderr(STDOUT)
            .await?;
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 0);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    let written = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(written, b"one\ntwo\nthree\n");
}

#[test]
fn a_file_as_stdin() {
    let path = unique_temp_path("stdin-file");
    std::fs::write(&path, b"from a file\n").unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let out = run(async move {
        let mut proc = create_subprocess_exec("tr", ["a-z", "A-Z"])
            .stdin(file)
            .stdout(PIPE)
            .await?;
        assert!(proc.stdin.is_none());
        let (out, _) = wait_for(proc.communicate(None), LIMIT).await??;
        Ok::<_, Error>(out.unwrap())
    })
    .unwrap()
    .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(out, b"FROM A FILE\n");
}

#[test]
fn a_child_that_exits_without_reading_its_input() {
    let input = vec![b'x'; 1_000_000];
    run(async move {
        let mut proc = create_subprocess_shell("exit 3")
            .stdin(PIPE)
            .stdout(PIPE)
            .await?;
        let (out, err) = wait_for(proc.communicate(Some(&input)), LIMIT).await??;
        assert_eq!(out.unwrap(), b"");
        assert!(err.is_none());
        assert_eq!(proc.returncode(), Some(3));

        // One that reads a little of it first, then leaves.
        let mut proc = create_subprocess_shell("head -c 10; exit 4")
            .stdin(PIPE)
            .stdout(PIPE)
            .await?;
        let (out, _) = wait_for(proc.communicate(Some(&input)), LIMIT).await??;
        assert_eq!(out.unwrap(), b"xxxxxxxxxx");
        assert_eq!(proc.returncode(), Some(4));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn limit_applies_to_both_readers() {
    run(async {
        let proc = create_subprocess_shell(
            "printf 'ok\\nthis-line-is-too-long\\n'; printf 'e\\nanother-long-line\\n' >&2",
        )
        .stdout(PIPE)
        .stderr(PIPE)
        .limit(8)
        .await?;
        let stdout = proc.stdout.as_ref().unwrap();
        let stderr = proc.stderr.as_ref().unwrap();
        assert_eq!(stdout.limit(), 8);
        assert_eq!(stderr.limit(), 8);
        assert_eq!(wait_for(stdout.readline(), LIMIT).await??, b"ok\n");
        let long = wait_for(stdout.readline(), LIMIT).await?;
        assert!(matches!(long, Err(StreamError::LineTooLong(_))), "{long:?}");
        assert_eq!(wait_for(stderr.readline(), LIMIT).await??, b"e\n");
        let long = wait_for(stderr.readline(), LIMIT).await?;
        assert!(matches!(long, Err(StreamError::LineTooLong(_))), "{long:?}");
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 0);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn default_limit_is_the_streams_default() {
    run(async {
        let proc = create_subprocess_shell("exit 0")
            .stdout(PIPE)
            .stderr(PIPE)
            .await?;
        assert_eq!(
            proc.stdout.as_ref().unwrap().limit(),
            aio_streams::DEFAULT_LIMIT
        );
        assert_eq!(
            proc.stderr.as_ref().unwrap().limit(),
            aio_streams::DEFAULT_LIMIT
        );
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 0);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn env_and_cwd_reach_the_child() {
    let dir = unique_temp_path("cwd");
    std::fs::create_dir(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    let out = run({
        let dir = dir.clone();
        async move {
            let mut proc = create_subprocess_shell(
                "printf '%s|%s|[%s]|' \"$AIO_A\" \"$AIO_B\" \"$HOME\"; pwd -P",
            )
            .env("AIO_A", "one")
            .envs([("AIO_B", "two words")])
            .env_remove("HOME")
            .cwd(&dir)
            .stdout(PIPE)
            .await?;
            let (out, _) = wait_for(proc.communicate(None), LIMIT).await??;
            assert_eq!(proc.returncode(), Some(0));
            Ok::<_, Error>(out.unwrap())
        }
    })
    .unwrap()
    .unwrap();
    std::fs::remove_dir(&dir).unwrap();
    let expected = format!("one|two words|[]|{}\n", dir.display());
    assert_eq!(String::from_utf8_lossy(&out), expected);
}

#[test]
fn env_clear_leaves_only_what_is_set() {
    let out = run(async {
        let mut proc = create_subprocess_exec("/usr/bin/env", NO_ARGS)
            .env("DROPPED", "by env_clear")
            .env_clear()
            .env("ONLY", "this")
            .stdout(PIPE)
            .await?;
        let (out, _) = wait_for(proc.communicate(None), LIMIT).await??;
        Ok::<_, Error>(out.unwrap())
    })
    .unwrap()
    .unwrap();
    assert_eq!(out, b"ONLY=this\n");
}

#[test]
fn the_environment_is_inherited_by_default() {
    // PATH is set in the test's environment (the tests find `sh`, `cat` through it).
    let path = std::env::var("PATH").expect("PATH is set for the tests");
    let out = run(async {
        let mut proc = create_subprocess_shell("printf '%s' \"$PATH\"")
            .stdout(PIPE)
            .await?;
        let (out, _) = wait_for(proc.communicate(None), LIMIT).await??;
        Ok::<_, Error>(out.unwrap())
    })
    .unwrap()
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&out), path);
}

#[test]
fn pipes_used_directly_as_streams() {
    run(async {
        let mut proc = create_subprocess_exec("cat", NO_ARGS)
            .stdin(PIPE)
            .stdout(PIPE)
            .await?;
        let stdin = proc.stdin.take().unwrap();
        let stdout = proc.stdout.take().unwrap();
        for i in 0..20 {
            let line = format!("line {i}\n");
            stdin.write(line.as_bytes());
            wait_for(stdin.drain(), LIMIT).await??;
            assert_eq!(wait_for(stdout.readline(), LIMIT).await??, line.as_bytes());
        }
        stdin.close();
        assert_eq!(wait_for(stdout.read_to_end(), LIMIT).await??, b"");
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 0);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn dropping_a_process_does_not_kill_the_child() {
    let path = unique_temp_path("survivor");
    run({
        let path = path.clone();
        async move {
            let proc = create_subprocess_exec(
                "sh",
                [
                    "-c",
                    "sleep 0.1; echo alive > \"$1\"",
                    "sh",
                    path.to_str().unwrap(),
                ],
            )
            .await?;
            drop(proc);
            let deadline = Instant::now() + Duration::from_secs(20);
            while std::fs::read(&path).ok().as_deref() != Some(b"alive\n".as_slice()) {
                assert!(
                    Instant::now() < deadline,
                    "the dropped child never finished"
                );
                sleep(0.01).await?;
            }
            Ok::<_, Error>(())
        }
    })
    .unwrap()
    .unwrap();
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn processes_on_several_loops_at_once() {
    // One loop per thread, each with its own children: each sees only its own codes.
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                run(async move {
                    let proc =
                        create_subprocess_shell(format!("sleep 0.05; exit {}", 20 + i)).await?;
                    Ok::<_, Error>(wait_for(proc.wait(), LIMIT).await??)
                })
            })
        })
        .collect();
    for (i, thread) in threads.into_iter().enumerate() {
        let code = thread.join().unwrap().unwrap().unwrap();
        assert_eq!(code, 20 + i as i32);
    }
}

/// asyncio cannot read a pipe with `limit <= 0` (its StreamReader raises ValueError, logged
/// once the child runs); aio refuses it before starting anything.
#[test]
fn a_zero_limit_is_refused_before_the_child_starts() {
    let marker = unique_temp_path("zero-limit-started");
    let script = format!("touch {}", marker.display());
    run(async move {
        let outcome = create_subprocess_shell(&script).stdout(PIPE).limit(0).await;
        assert!(
            matches!(outcome, Err(SubprocessError::InvalidArgument(m)) if m.contains("Limit")),
            "{outcome:?}"
        );
        // Had it started, the shell would have made the file by now.
        sleep(0.2).await?;
        assert!(!marker.exists(), "the child ran");
        // Without a pipe to read, the limit is unused and not checked (as in asyncio).
        let proc = create_subprocess_exec("true", NO_ARGS).limit(0).await?;
        assert_eq!(wait_for(proc.wait(), LIMIT).await??, 0);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
