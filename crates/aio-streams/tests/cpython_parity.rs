//! Byte-exact parity with CPython 3.13's `asyncio.StreamReader`: the same scenarios are run by
//! an embedded Python script and by aio, and every outcome (bytes, exception class and args,
//! buffered length, `at_eof`) must match. Skipped (with a note) when Python 3.13 is missing.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::pin::pin;
use std::process::{Command, Stdio};
use std::task::{Context, Poll, Waker};

use aio_streams::{StreamError, StreamReader};

const PYTHON_CANDIDATES: &[&str] = &["/root/.pyenv/versions/3.13.0/bin/python3", "python3.13"];

/// Reads the scenario script on stdin; prints one line per read operation. Each operation is
/// stepped once by hand: if it would wait for data it is reported as `pending` and closed
/// (which, like dropping the Rust future, leaves the buffer untouched).
const PY_SCRIPT: &str = r#"
import asyncio, sys

def hx(b):
    return bytes(b).hex()

async def main():
    out = []
    r = None
    for line in sys.stdin.read().splitlines():
        parts = line.split(' ')
        cmd = parts[0]
        if cmd == 'scenario':
            r = asyncio.StreamReader(limit=int(parts[2]))
            out.append(line)
            continue
        if cmd == 'feed':
            r.feed_data(bytes.fromhex(parts[1]))
            continue
        if cmd == 'eof':
            r.feed_eof()
            continue
        if cmd == 'read':
            coro = r.read(int(parts[1]))
        elif cmd == 'readall':
            coro = r.read(-1)
        elif cmd == 'readline':
            coro = r.readline()
        elif cmd == 'readexactly':
            coro = r.readexactly(int(parts[1]))
        elif cmd == 'readuntil':
            coro = r.readuntil(bytes.fromhex(parts[1]))
        elif cmd == 'readuntil_any':
            coro = r.readuntil(tuple(bytes.fromhex(s) for s in parts[1:]))
        else:
            raise SystemExit('unknown op ' + line)
        try:
            coro.send(None)
        except StopIteration as e:
            res = 'ok ' + hx(e.value)
        except asyncio.IncompleteReadError as e:
            res = f'IncompleteReadError partial={hx(e.partial)} expected={e.expected}'
        except asyncio.LimitOverrunError as e:
            res = f'LimitOverrunError consumed={e.consumed} message={e.args[0]}'
        except ValueError as e:
            res = f'ValueError message={e.args[0]}'
        else:
            coro.close()
            res = 'pending'
        out.append(f'{line} => {res} | buffered={len(r._buffer)} at_eof={r.at_eof()}')
    print('\n'.join(out))

asyncio.run(main())
"#;

#[derive(Debug, Clone)]
enum Op {
    Feed(&'static [u8]),
    Eof,
    Read(usize),
    ReadAll,
    Readline,
    ReadExactly(usize),
    ReadUntil(&'static [u8]),
    ReadUntilAny(&'static [&'static [u8]]),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Op {
    fn line(&self) -> String {
        match self {
            Op::Feed(data) => format!("feed {}", hex(data)),
            Op::Eof => "eof".to_owned(),
            Op::Read(n) => format!("read {n}"),
            Op::ReadAll => "readall".to_owned(),
            Op::Readline => "readline".to_owned(),
            Op::ReadExactly(n) => format!("readexactly {n}"),
            Op::ReadUntil(sep) => format!("readuntil {}", hex(sep)),
            Op::ReadUntilAny(seps) => {
                let mut line = "readuntil_any".to_owned();
                for sep in *seps {
                    line.push(' ');
                    line.push_str(&hex(sep));
                }
                line
            }
        }
    }
}

struct Scenario {
    name: &'static str,
    limit: usize,
    ops: Vec<Op>,
}

fn scenario(name: &'static str, limit: usize, ops: Vec<Op>) -> Scenario {
    Scenario { name, limit, ops }
}

/// Polls `fut` once with a no-op waker: `None` if it would wait (it is then dropped).
fn poll_once<T>(fut: impl Future<Output = T>) -> Option<T> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(value) => Some(value),
        Poll::Pending => None,
    }
}

fn describe(outcome: Option<Result<Vec<u8>, StreamError>>) -> String {
    match outcome {
        None => "pending".to_owned(),
        Some(Ok(data)) => format!("ok {}", hex(&data)),
        Some(Err(StreamError::IncompleteRead { partial, expected })) => {
            let expected = expected.map_or_else(|| "None".to_owned(), |n| n.to_string());
            format!(
                "IncompleteReadError partial={} expected={expected}",
                hex(&partial)
            )
        }
        Some(Err(StreamError::LimitOverrun { message, consumed })) => {
            format!("LimitOverrunError consumed={consumed} message={message}")
        }
        Some(Err(StreamError::LineTooLong(message) | StreamError::Value(message))) => {
            format!("ValueError message={message}")
        }
        Some(Err(other)) => format!("unexpected {other:?}"),
    }
}

fn run_aio(scenarios: &[Scenario]) -> Vec<String> {
    let mut out = Vec::new();
    for sc in scenarios {
        out.push(format!("scenario {} {}", sc.name, sc.limit));
        let reader = StreamReader::with_limit(sc.limit);
        for op in &sc.ops {
            let outcome = match op {
                Op::Feed(data) => {
                    reader.feed_data(data);
                    continue;
                }
                Op::Eof => {
                    reader.feed_eof();
                    continue;
                }
                Op::Read(n) => poll_once(reader.read(*n)),
                Op::ReadAll => poll_once(reader.read_to_end()),
                Op::Readline => poll_once(reader.readline()),
                Op::ReadExactly(n) => poll_once(reader.readexactly(*n)),
                Op::ReadUntil(sep) => poll_once(reader.readuntil(sep)),
                Op::ReadUntilAny(seps) => poll_once(reader.readuntil_any(seps)),
            };
            out.push(format!(
                "{} => {} | buffered={} at_eof={}",
                op.line(),
                describe(outcome),
                reader.buffered(),
                if reader.at_eof() { "True" } else { "False" }
            ));
        }
    }
    out
}

fn script(scenarios: &[Scenario]) -> String {
    let mut text = String::new();
    for sc in scenarios {
        text.push_str(&format!("scenario {} {}\n", sc.name, sc.limit));
        for op in &sc.ops {
            text.push_str(&op.line());
            text.push('\n');
        }
    }
    text
}

fn find_python() -> Option<&'static str> {
    PYTHON_CANDIDATES.iter().copied().find(|candidate| {
        (candidate.contains('/') && Path::new(candidate).exists() || !candidate.contains('/'))
            && Command::new(candidate)
                .args(["-c", "import sys; assert sys.version_info >= (3, 13)"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    })
}

fn run_cpython(python: &str, scenarios: &[Scenario]) -> Vec<String> {
    let mut child = Command::new(python)
        .args(["-c", PY_SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script(scenarios).as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Compares aio with CPython and returns the mismatching lines (with their scenario).
fn mismatches(scenarios: &[Scenario]) -> Option<Vec<String>> {
    let Some(python) = find_python() else {
        eprintln!("note: Python 3.13 not found; skipping the CPython parity check");
        return None;
    };
    let expected = run_cpython(python, scenarios);
    let actual = run_aio(scenarios);
    assert_eq!(
        expected.len(),
        actual.len(),
        "line counts differ:\npython: {expected:#?}\naio: {actual:#?}"
    );
    let mut current = String::new();
    let mut bad = Vec::new();
    for (py, rs) in expected.iter().zip(&actual) {
        if py.starts_with("scenario ") {
            assert_eq!(py, rs);
            current.clone_from(py);
        } else if py != rs {
            bad.push(format!("[{current}]\n  python: {py}\n  aio:    {rs}"));
        }
    }
    Some(bad)
}

fn check(scenarios: &[Scenario]) {
    if let Some(bad) = mismatches(scenarios) {
        assert!(
            bad.is_empty(),
            "differences from CPython:\n{}",
            bad.join("\n")
        );
    }
}

use Op::*;

#[test]
fn readline_over_the_limit_and_its_discard_rules() {
    check(&[
        scenario(
            "newline_later_in_buffer",
            4,
            vec![Feed(b"abcdefgh\nrest\n"), Readline, Readline, Readline],
        ),
        scenario(
            "no_newline_clears_buffer",
            4,
            vec![Feed(b"abcdefgh"), Readline, Feed(b"xy\n"), Readline],
        ),
        scenario(
            "newline_arrives_after_the_clear",
            4,
            vec![
                Feed(b"abcdefg"),
                Readline,
                Feed(b"hi\nz\n"),
                Readline,
                Readline,
            ],
        ),
        scenario(
            "exactly_at_limit",
            4,
            vec![Feed(b"abcd\nabcde\nok\n"), Readline, Readline, Readline],
        ),
        scenario(
            "short_line_under_limit_pending_then_eof",
            8,
            vec![Feed(b"abc"), Readline, Eof, Readline, Readline],
        ),
        scenario(
            "newline_right_after_limit_boundary",
            3,
            vec![Feed(b"abcd"), Readline, Feed(b"\n"), Readline],
        ),
    ]);
}

#[test]
fn readuntil_limit_overrun_keeps_the_data() {
    check(&[
        scenario(
            "not_found_within_limit",
            4,
            vec![
                Feed(b"abcdef"),
                ReadUntil(b"|"),
                ReadUntil(b"||"),
                ReadUntil(b"|||"),
                Feed(b"|"),
                ReadUntil(b"|"),
                ReadExactly(3),
                ReadUntil(b"|"),
            ],
        ),
        scenario(
            "not_found_under_limit_waits",
            8,
            vec![Feed(b"abc"), ReadUntil(b"|"), Feed(b"de|"), ReadUntil(b"|")],
        ),
        scenario(
            "found_past_limit",
            2,
            vec![
                Feed(b"xxx|yy|"),
                ReadUntil(b"|"),
                Read(1),
                ReadUntil(b"|"),
                ReadUntil(b"|"),
            ],
        ),
        scenario(
            "long_separator_offset",
            2,
            vec![
                Feed(b"xxxxab"),
                ReadUntil(b"abc"),
                Feed(b"c"),
                ReadUntil(b"abc"),
            ],
        ),
        scenario(
            "limit_one",
            1,
            vec![
                Feed(b"a|bb|"),
                ReadUntil(b"|"),
                ReadUntil(b"|"),
                ReadExactly(2),
                ReadUntil(b"|"),
            ],
        ),
    ]);
}

#[test]
fn multiple_separators_earliest_ending_match() {
    check(&[
        scenario(
            "crlf_or_lf",
            16,
            vec![
                Feed(b"one\r\ntwo\nthree\r\n"),
                ReadUntilAny(&[b"\r\n", b"\n"]),
                ReadUntilAny(&[b"\r\n", b"\n"]),
                ReadUntilAny(&[b"\n", b"\r\n"]),
            ],
        ),
        scenario(
            "ab_or_ba",
            16,
            vec![
                Feed(b"abaxba"),
                ReadUntilAny(&[b"ab", b"ba"]),
                ReadUntilAny(&[b"ab", b"ba"]),
            ],
        ),
        scenario(
            "nested_abc_bc_c",
            16,
            vec![
                Feed(b"xabcyc"),
                ReadUntilAny(&[b"abc", b"bc", b"c"]),
                ReadUntilAny(&[b"abc", b"bc", b"c"]),
            ],
        ),
        scenario(
            "not_found_uses_longest_separator_for_offset",
            3,
            vec![
                Feed(b"zzzzzz"),
                ReadUntilAny(&[b"q", b"qqqq"]),
                Feed(b"q"),
                ReadUntilAny(&[b"q", b"qqqq"]),
            ],
        ),
        scenario(
            "separator_split_across_feeds",
            16,
            vec![
                Feed(b"xa"),
                ReadUntilAny(&[b"ab", b"|"]),
                Feed(b"b"),
                ReadUntilAny(&[b"ab", b"|"]),
            ],
        ),
    ]);
}

/// Overlapping separators ending at the same byte (`b"ab"` and `b"b"`): asyncio sorts the
/// separators by length and keeps the first (shortest) match among equal ends, so the match
/// *start* used for the "found, but chunk is longer than limit" check is the shorter
/// separator's. Listed short-first, aio agrees.
#[test]
fn overlapping_separators_short_first() {
    check(&[
        scenario(
            "b_ab_within_limit",
            16,
            vec![
                Feed(b"xxab"),
                ReadUntilAny(&[b"b", b"ab"]),
                Feed(b"b"),
                ReadUntilAny(&[b"b", b"ab"]),
            ],
        ),
        scenario(
            "b_ab_limit_uses_short_match",
            2,
            vec![Feed(b"xxab"), ReadUntilAny(&[b"b", b"ab"]), ReadExactly(4)],
        ),
    ]);
}

#[test]
fn overlapping_separators_long_first() {
    check(&[
        scenario(
            "ab_b_within_limit",
            16,
            vec![Feed(b"xxab"), ReadUntilAny(&[b"ab", b"b"])],
        ),
        scenario(
            "ab_b_limit_uses_short_match",
            2,
            vec![Feed(b"xxab"), ReadUntilAny(&[b"ab", b"b"]), ReadExactly(4)],
        ),
        scenario(
            "minimal",
            1,
            vec![Feed(b"xab"), ReadUntilAny(&[b"ab", b"b"])],
        ),
    ]);
}

#[test]
fn readexactly_read_and_read_to_end() {
    check(&[
        scenario(
            "readexactly_eof_short",
            4,
            vec![
                Feed(b"abc"),
                ReadExactly(2),
                ReadExactly(5),
                Eof,
                ReadExactly(5),
                ReadExactly(1),
            ],
        ),
        scenario(
            "readexactly_more_than_limit",
            2,
            vec![Feed(b"abcdefg"), ReadExactly(6), Eof, ReadExactly(1)],
        ),
        scenario(
            "read_partial",
            4,
            vec![
                Read(1),
                Feed(b"abc"),
                Read(2),
                Read(5),
                Read(1),
                Feed(b"defghijk"),
                Read(100),
                Eof,
                Read(1),
            ],
        ),
        scenario(
            "read_to_end",
            3,
            vec![
                Feed(b"abcdefgh"),
                Feed(b"ij"),
                ReadAll,
                Eof,
                ReadAll,
                ReadAll,
            ],
        ),
        scenario(
            "read_to_end_with_buffered_before_eof",
            3,
            vec![Feed(b"abcdefgh"), Eof, Read(2), ReadAll],
        ),
    ]);
}

#[test]
fn incomplete_readuntil_and_readline_at_eof() {
    check(&[
        scenario(
            "partial_contains_buffer",
            8,
            vec![
                Feed(b"abc|de"),
                Eof,
                ReadUntil(b"|"),
                ReadUntil(b"|"),
                ReadUntil(b"|"),
            ],
        ),
        scenario(
            "partial_separator",
            8,
            vec![Feed(b"ab|"), Eof, ReadUntil(b"||"), Readline],
        ),
        scenario(
            "eof_over_limit_not_found",
            2,
            vec![Feed(b"abcdef"), Eof, ReadUntil(b"|"), Readline, Readline],
        ),
        scenario(
            "eof_short_under_min_seplen",
            8,
            vec![Feed(b"a"), Eof, ReadUntilAny(&[b"xyz", b"xy"])],
        ),
        scenario(
            "eof_empty",
            8,
            vec![Eof, ReadUntil(b"|"), Readline, Read(4)],
        ),
    ]);
}

#[test]
fn zero_length_reads_and_bad_separators() {
    check(&[
        scenario(
            "zero_length_empty_buffer",
            4,
            vec![
                Read(0),
                ReadExactly(0),
                Feed(b"ab"),
                Read(0),
                ReadExactly(0),
            ],
        ),
        scenario(
            "bad_separators",
            4,
            vec![
                Feed(b"ab"),
                ReadUntil(b""),
                ReadUntilAny(&[]),
                ReadUntilAny(&[b"a", b""]),
                Eof,
                ReadUntil(b""),
                Read(0),
                ReadExactly(0),
            ],
        ),
    ]);
}
