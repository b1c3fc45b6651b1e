//! The subprocess example of the seed notes (asyncio's `create_subprocess_shell` recipe):
//! runs `ls -l` through the shell with stdout and stderr piped, collects both with
//! `communicate()`, and prints the exit status, then each stream that produced anything.
//!
//! ```text
//! cargo run --release --example subprocess_shell -- [COMMAND]
//! ```
//!
//! The arguments, joined with spaces, replace the command (default `ls -l`); it is given to
//! `/bin/sh -c` as is, so quote it as one argument to keep the shell syntax for `/bin/sh`:
//! `cargo run --example subprocess_shell -- 'ls /nonexistent; echo done'`.
//!
//! Output, in Python's format: the command as `repr` shows it, then a `[stdout]` and a
//! `[stderr]` section for the streams that are not empty (each followed by the blank line
//! `print` adds after the captured text's own final newline):
//!
//! ```text
//! ['ls -l' exited with 0]
//! [stdout]
//! total 8
//! -rw-r--r-- 1 user user 1234 Jan  1 12:00 Cargo.toml
//! ...
//!
//! ```
//!
//! Output that is not UTF-8 is shown with U+FFFD where Python's `decode()` would raise.
//!
//! The notes' copy of the program prints only the two sections; the `exited with` line is the
//! one in asyncio's own documentation of the recipe, which the notes' version comes from.

use aio::subprocess::PIPE;

async fn run(cmd: &str) -> Result<(), aio::Error> {
    let mut proc = aio::create_subprocess_shell(cmd)
        .stdout(PIPE)
        .stderr(PIPE)
        .await?;

    // Feeds stdin (not piped here), reads stdout and stderr to their end at the same time,
    // then waits for the child: no deadlock however much the command writes.
    let (stdout, stderr) = proc.communicate(None).await?;
    // The child has been reaped by now: `wait` returns its status at once.
    let returncode = proc.wait().await?;

    println!("[{} exited with {returncode}]", py_repr(cmd));
    // `if stdout:` — an empty capture prints nothing.
    if let Some(out) = stdout.filter(|out| !out.is_empty()) {
        println!("[stdout]\n{}", String::from_utf8_lossy(&out));
    }
    if let Some(err) = stderr.filter(|err| !err.is_empty()) {
        println!("[stderr]\n{}", String::from_utf8_lossy(&err));
    }
    Ok(())
}

/// A string as Python's `repr` writes it (what `{cmd!r}` prints): in single quotes, or in
/// double quotes if it contains a single quote and no double quote; backslashes, the quote
/// and control characters escaped.
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let code = u32::from(c);
                if code <= 0xff {
                    out.push_str(&format!("\\x{code:02x}"));
                } else {
                    out.push_str(&format!("\\u{code:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = if args.is_empty() {
        "ls -l".to_owned()
    } else {
        args.join(" ")
    };
    run(&cmd).await
}
