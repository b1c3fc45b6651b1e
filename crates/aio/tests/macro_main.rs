//! `#[aio::main]` on real processes: what the process does when the run fails (no value to
//! return). Runs without the test harness, so the functions run on the process's main thread
//! as a program's `main` does (Ctrl-C is handled only there). Without `AIO_MACRO_MAIN_CASE`
//! this program is the driver: it runs itself once per case and checks each child's status
//! and output.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitCode, Termination};

use aio::{Error, sleep};

#[aio::main]
async fn exit_code() -> ExitCode {
    sleep(0.001).await.unwrap();
    ExitCode::from(3)
}

#[aio::main]
async fn returns_err() -> Result<(), String> {
    sleep(0.001).await.map_err(|e| e.to_string())?;
    Err("bad input".to_owned())
}

#[aio::main]
async fn panics() {
    sleep(0.001).await.unwrap();
    panic!("boom in the main task");
}

#[aio::main]
async fn cancelled() -> Result<(), Error> {
    aio::current_task().unwrap().cancel(Some("by itself"));
    sleep(10).await?;
    Ok(())
}

#[aio::main(reactor = "polling")]
async fn interrupted() -> Result<(), Error> {
    struct Cleanup;
    impl Drop for Cleanup {
        fn drop(&mut self) {
            println!("cleanup ran");
        }
    }
    let _cleanup = Cleanup;
    print!("working"); // no newline: must still be flushed before the process dies
    aio::signal::raise(aio::signal::SIGINT)?;
    sleep(10).await?;
    Ok(())
}

/// Runs this program with `case`; gives (status code or None, signal or None, stdout, stderr).
fn run_case(case: &str) -> (Option<i32>, Option<i32>, String, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .env("AIO_MACRO_MAIN_CASE", case)
        .output()
        .expect("run the case");
    (
        output.status.code(),
        output.status.signal(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn driver() -> ExitCode {
    let check = |name: &str, ok: bool, detail: String| {
        println!("{name} ... {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            println!("    {detail}");
        }
        ok
    };
    let (mut all, mut passed, mut failed) = (true, 0, 0);
    let mut check = |name: &str, ok: bool, detail: String| {
        if check(name, ok, detail) {
            passed += 1;
            true
        } else {
            failed += 1;
            false
        }
    };

    let (code, _, _, stderr) = run_case("exit_code");
    all &= check(
        "an ExitCode is returned",
        code == Some(3),
        format!("{code:?} {stderr}"),
    );

    let (code, _, _, stderr) = run_case("returns_err");
    all &= check(
        "Err from main: Error: {e:?}, status 1",
        code == Some(1) && stderr.contains("Error: \"bad input\""),
        format!("{code:?} {stderr}"),
    );

    let (code, _, _, stderr) = run_case("panics");
    all &= check(
        "a panic in the main task: status 101, the message printed once",
        code == Some(101) && stderr.matches("boom in the main task").count() == 1,
        format!("{code:?} {stderr}"),
    );

    let (code, _, _, stderr) = run_case("cancelled");
    all &= check(
        "the main task cancelled: Error: cancelled, status 1",
        code == Some(1) && stderr.contains("Error: cancelled: by itself"),
        format!("{code:?} {stderr}"),
    );

    let (code, signal, stdout, stderr) = run_case("interrupted");
    all &= check(
        "Ctrl-C: cleanup, KeyboardInterrupt, death by SIGINT",
        code.is_none()
            && signal == Some(aio::signal::SIGINT)
            && stdout.contains("working")
            && stdout.contains("cleanup ran")
            && stderr.contains("KeyboardInterrupt"),
        format!("{code:?} {signal:?} {stdout:?} {stderr:?}"),
    );

    println!(
        "\ntest result: {}. {passed} passed; {failed} failed",
        if all { "ok" } else { "FAILED" }
    );
    let _ = std::io::stdout().flush();
    if all {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn main() -> ExitCode {
    match std::env::var("AIO_MACRO_MAIN_CASE").as_deref() {
        Err(_) => driver(),
        Ok("exit_code") => exit_code(),
        Ok("returns_err") => returns_err().report(),
        Ok("panics") => {
            panics();
            ExitCode::SUCCESS
        }
        Ok("cancelled") => cancelled().report(),
        Ok("interrupted") => interrupted().report(),
        Ok(other) => panic!("unknown case {other}"),
    }
}
