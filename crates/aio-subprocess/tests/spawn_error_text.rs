//! A failed spawn says which path was at fault: the working directory (`cwd`) or the
//! program, as CPython's `OSError.filename` names the cwd or the program
//! (`SubprocessError::filename`, and the message). The error kind is the OS error's
//! (`NotFound` for a missing one). (A cwd without search permission, EACCES, cannot be
//! tested reliably: the tests may run as root, which may enter any directory.)

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::io;
use std::path::Path;

use aio_subprocess::{SubprocessError, create_subprocess_exec};
use common::unique_temp_path;

const NO_ARGS: [&str; 0] = [];

/// The error of spawning `program` in `cwd` (if any).
fn spawn_error(program: &Path, cwd: Option<&Path>) -> SubprocessError {
    let program = program.to_owned();
    let cwd = cwd.map(Path::to_owned);
    aio_task::run(async move {
        let builder = create_subprocess_exec(&program, NO_ARGS);
        let builder = match cwd {
            Some(cwd) => builder.cwd(cwd),
            None => builder,
        };
        builder.await.map(|_| ()).expect_err("the spawn must fail")
    })
    .expect("run")
}

/// The OS error under a spawn error.
fn os_error(err: &SubprocessError) -> &io::Error {
    std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<io::Error>())
        .unwrap_or_else(|| panic!("no io::Error under {err:?}"))
}

/// A spawn error blaming the working directory `cwd`, with the OS error `errno`.
fn assert_blames_cwd(err: &SubprocessError, program: &Path, cwd: &Path, errno: i32) {
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("cannot run '{}': ", program.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("working directory '{}'", cwd.display())),
        "the message must name the working directory: {text}"
    );
    assert_eq!(os_error(err).raw_os_error(), Some(errno), "{err:?}");
    let cwd = cwd.to_str().expect("a UTF-8 temporary path");
    assert!(
        matches!(err, SubprocessError::Spawn { program: p, cwd: Some(c), .. }
            if Path::new(p) == program && c == cwd),
        "{err:?}"
    );
    assert_eq!(err.filename(), Some(cwd));
}

/// A spawn error blaming the program, with the OS error `errno`.
fn assert_blames_program(err: &SubprocessError, program: &Path, errno: i32) {
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("cannot run '{}': ", program.display())),
        "{text}"
    );
    assert!(
        !text.contains("working directory"),
        "the working directory is fine: {text}"
    );
    assert_eq!(os_error(err).raw_os_error(), Some(errno), "{err:?}");
    assert!(
        matches!(err, SubprocessError::Spawn { program: p, cwd: None, .. }
            if Path::new(p) == program),
        "{err:?}"
    );
    assert_eq!(err.filename().map(Path::new), Some(program));
}

#[test]
fn a_missing_cwd_is_named_as_the_missing_path() {
    let missing = unique_temp_path("missing-cwd");
    let program = Path::new("/bin/true");
    let err = spawn_error(program, Some(&missing));
    assert_blames_cwd(&err, program, &missing, libc::ENOENT);
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(os_error(&err).kind(), io::ErrorKind::NotFound);
}

#[test]
fn a_missing_program_is_named_as_the_missing_path() {
    let program = unique_temp_path("missing-program");
    // With a working directory that is fine, and without one.
    for cwd in [Some(std::env::temp_dir()), None] {
        let err = spawn_error(&program, cwd.as_deref());
        assert_blames_program(&err, &program, libc::ENOENT);
        assert!(err.is_not_found(), "{err:?}");
        assert_eq!(os_error(&err).kind(), io::ErrorKind::NotFound);
    }
}

#[test]
fn with_both_missing_the_cwd_is_blamed_as_it_is_entered_first() {
    let program = unique_temp_path("missing-program");
    let missing = unique_temp_path("missing-cwd");
    let err = spawn_error(&program, Some(&missing));
    assert_blames_cwd(&err, &program, &missing, libc::ENOENT);
    assert!(err.is_not_found(), "{err:?}");
}

#[test]
fn a_cwd_that_is_a_file_is_named_with_enotdir() {
    let file = unique_temp_path("cwd-is-a-file");
    std::fs::write(&file, b"").unwrap();
    let program = Path::new("/bin/true");
    let err = spawn_error(program, Some(&file));
    std::fs::remove_file(&file).unwrap();
    assert_blames_cwd(&err, program, &file, libc::ENOTDIR);
    assert!(!err.is_not_found(), "{err:?}");
}

#[test]
fn a_program_that_is_not_executable_is_named_with_eacces() {
    let path = unique_temp_path("not-executable");
    std::fs::write(&path, b"#!/bin/sh\nexit 0\n").unwrap();
    let err = spawn_error(&path, Some(&std::env::temp_dir()));
    std::fs::remove_file(&path).unwrap();
    assert_blames_program(&err, &path, libc::EACCES);
    assert_eq!(os_error(&err).kind(), io::ErrorKind::PermissionDenied);
    assert!(!err.is_not_found(), "{err:?}");
}
