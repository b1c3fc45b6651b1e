//! Property tests: `StreamReader` against a small pure-Rust transcription of asyncio's
//! `StreamReader` algorithms, on random data (a small alphabet, so separators are common),
//! random chunkings, random operation sequences and random small limits.
//!
//! Two feeding modes:
//! - everything fed (plus EOF) before reading: the outcomes must equal the model's on the
//!   whole byte string, whatever the chunking;
//! - chunks fed while reading, one chunk each time the reader waits for data (EOF once the
//!   chunks run out). asyncio's outcomes legitimately depend on arrival here (a `readuntil`
//!   can hit "not found within the limit" before the separator arrives), so the model is
//!   given the same chunks and the same "one chunk per wait" rule. This mode is driven both
//!   by hand (polling with a no-op waker) and by two aio tasks on a real event loop.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use aio_streams::{StreamError, StreamReader};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Readline,
    ReadUntilBar,
    ReadUntilAbOrNewline,
    ReadExactly(usize),
    Read(usize),
}

type Outcome = Result<Vec<u8>, StreamError>;

/// asyncio's `StreamReader`, transcribed: the buffer, EOF, and the chunks still to arrive
/// (one is appended each time an operation waits).
struct Model {
    buf: Vec<u8>,
    eof: bool,
    limit: usize,
    pending: VecDeque<Vec<u8>>,
}

impl Model {
    fn wait(&mut self) {
        assert!(!self.eof, "_wait_for_data after EOF");
        match self.pending.pop_front() {
            Some(chunk) => self.buf.extend_from_slice(&chunk),
            None => self.eof = true,
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.buf.len());
        self.buf.drain(..n).collect()
    }

    fn read(&mut self, n: usize) -> Outcome {
        if n == 0 {
            return Ok(Vec::new());
        }
        if self.buf.is_empty() && !self.eof {
            self.wait();
        }
        Ok(self.take(n))
    }

    fn readexactly(&mut self, n: usize) -> Outcome {
        if n == 0 {
            return Ok(Vec::new());
        }
        while self.buf.len() < n {
            if self.eof {
                return Err(StreamError::IncompleteRead {
                    partial: self.take(usize::MAX),
                    expected: Some(n),
                });
            }
            self.wait();
        }
        Ok(self.take(n))
    }

    fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
        haystack
            .get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|i| i + from)
    }

    fn readuntil(&mut self, separators: &[&[u8]]) -> Outcome {
        let mut seps = separators.to_vec();
        seps.sort_by_key(|s| s.len()); // stable, like Python's sorted(key=len)
        let min_len = seps[0].len();
        let max_len = seps[seps.len() - 1].len();
        let mut offset = 0usize;
        let (start, end) = loop {
            let buflen = self.buf.len();
            if buflen as isize - offset as isize >= min_len as isize {
                let mut found: Option<(usize, usize)> = None;
                for sep in &seps {
                    if let Some(i) = Self::find(&self.buf, sep, offset) {
                        let end = i + sep.len();
                        if found.is_none_or(|(_, e)| end < e) {
                            found = Some((i, end));
                        }
                    }
                }
                if let Some(found) = found {
                    break found;
                }
                offset = (buflen + 1).saturating_sub(max_len);
                if offset > self.limit {
                    return Err(StreamError::LimitOverrun {
                        message: "Separator is not found, and chunk exceed the limit",
                        consumed: offset,
                    });
                }
            }
            if self.eof {
                return Err(StreamError::IncompleteRead {
                    partial: self.take(usize::MAX),
                    expected: None,
                });
            }
            self.wait();
        };
        if start > self.limit {
            return Err(StreamError::LimitOverrun {
                message: "Separator is found, but chunk is longer than limit",
                consumed: start,
            });
        }
        Ok(self.take(end))
    }

    fn readline(&mut self) -> Outcome {
        match self.readuntil(&[b"\n"]) {
            Ok(line) => Ok(line),
            Err(StreamError::IncompleteRead { partial, .. }) => Ok(partial),
            Err(StreamError::LimitOverrun { message, consumed }) => {
                if self.buf.get(consumed) == Some(&b'\n') {
                    self.buf.drain(..=consumed);
                } else {
                    self.buf.clear();
                }
                Err(StreamError::LineTooLong(message))
            }
            Err(other) => Err(other),
        }
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        match op {
            Op::Readline => self.readline(),
            Op::ReadUntilBar => self.readuntil(&[b"|"]),
            Op::ReadUntilAbOrNewline => self.readuntil(&[b"ab", b"\n"]),
            Op::ReadExactly(k) => self.readexactly(*k),
            Op::Read(k) => self.read(*k),
        }
    }
}

/// What a run produced: each operation's outcome with the buffered length and `at_eof` right
/// after it, then the bytes left in the buffer.
type Trace = (Vec<(Outcome, usize, bool)>, Vec<u8>);

fn model_trace(limit: usize, initial: Vec<u8>, eof: bool, chunks: &[Vec<u8>], ops: &[Op]) -> Trace {
    let mut model = Model {
        buf: initial,
        eof,
        limit,
        pending: chunks.iter().cloned().collect(),
    };
    let steps = ops
        .iter()
        .map(|op| {
            let outcome = model.apply(op);
            (outcome, model.buf.len(), model.eof && model.buf.is_empty())
        })
        .collect();
    (steps, model.buf)
}

async fn apply(reader: &StreamReader, op: &Op) -> Outcome {
    match op {
        Op::Readline => reader.readline().await,
        Op::ReadUntilBar => reader.readuntil(b"|").await,
        Op::ReadUntilAbOrNewline => reader.readuntil_any(&[b"ab", b"\n"]).await,
        Op::ReadExactly(k) => reader.readexactly(*k).await,
        Op::Read(k) => reader.read(*k).await,
    }
}

/// Runs the operations, then collects the rest of the buffer without letting anything more
/// arrive (EOF is fed first, so the drain never waits).
async fn reader_trace(reader: &StreamReader, ops: &[Op]) -> Trace {
    let mut steps = Vec::new();
    for op in ops {
        let outcome = apply(reader, op).await;
        steps.push((outcome, reader.buffered(), reader.at_eof()));
    }
    reader.feed_eof();
    let rest = reader.read_to_end().await.expect("drain");
    (steps, rest)
}

/// Polls `fut` to completion with a no-op waker, feeding the next chunk (or EOF) to `reader`
/// each time it is pending.
fn drive<T>(
    reader: &StreamReader,
    chunks: &mut VecDeque<Vec<u8>>,
    fut: impl Future<Output = T>,
) -> T {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    let mut eof_fed = false;
    loop {
        if let Poll::Ready(value) = fut.as_mut().poll(&mut cx) {
            return value;
        }
        assert!(!eof_fed, "still pending after EOF");
        match chunks.pop_front() {
            Some(chunk) => reader.feed_data(&chunk),
            None => {
                reader.feed_eof();
                eof_fed = true;
            }
        }
    }
}

fn split(data: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut rest = data;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap()).min(rest.len());
        chunks.push(rest[..n].to_vec());
        rest = &rest[n..];
    }
    chunks
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Readline),
        Just(Op::ReadUntilBar),
        Just(Op::ReadUntilAbOrNewline),
        (0usize..8).prop_map(Op::ReadExactly),
        (0usize..8).prop_map(Op::Read),
    ]
}

fn data_strategy() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(proptest::sample::select(b"ab\n|".to_vec()), 0..48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Everything fed before reading: the chunking must not matter at all.
    #[test]
    fn fed_upfront_matches_model(
        data in data_strategy(),
        sizes in proptest::collection::vec(1usize..6, 1..6),
        ops in proptest::collection::vec(op_strategy(), 1..12),
        limit in 1usize..16,
    ) {
        let expected = model_trace(limit, data.clone(), true, &[], &ops);
        let reader = StreamReader::with_limit(limit);
        for chunk in split(&data, &sizes) {
            reader.feed_data(&chunk);
        }
        reader.feed_eof();
        let actual = drive(&reader, &mut VecDeque::new(), reader_trace(&reader, &ops));
        prop_assert_eq!(&actual, &expected);

        // Same result with one single chunk.
        let reader = StreamReader::with_limit(limit);
        reader.feed_data(&data);
        reader.feed_eof();
        let single = drive(&reader, &mut VecDeque::new(), reader_trace(&reader, &ops));
        prop_assert_eq!(&single, &expected);
    }

    /// Chunks arrive one per wait, driven by hand.
    #[test]
    fn fed_while_reading_matches_model(
        data in data_strategy(),
        sizes in proptest::collection::vec(1usize..6, 1..6),
        ops in proptest::collection::vec(op_strategy(), 1..12),
        limit in 1usize..16,
    ) {
        let chunks = split(&data, &sizes);
        let expected = model_trace(limit, Vec::new(), false, &chunks, &ops);
        let reader = StreamReader::with_limit(limit);
        let mut queue: VecDeque<_> = chunks.into_iter().collect();
        let mut steps = Vec::new();
        for op in &ops {
            let outcome = drive(&reader, &mut queue, apply(&reader, op));
            steps.push((outcome, reader.buffered(), reader.at_eof()));
        }
        reader.feed_eof();
        let rest = drive(&reader, &mut VecDeque::new(), reader.read_to_end()).unwrap();
        prop_assert_eq!(&(steps, rest), &expected);
    }

    /// Chunks fed by a second aio task that yields to the loop after each chunk.
    #[test]
    fn feeder_task_matches_model(
        data in data_strategy(),
        sizes in proptest::collection::vec(1usize..6, 1..6),
        ops in proptest::collection::vec(op_strategy(), 1..12),
        limit in 1usize..16,
    ) {
        let chunks = split(&data, &sizes);
        let expected = model_trace(limit, Vec::new(), false, &chunks, &ops);
        let actual = aio_task::run(async move {
            let reader = Rc::new(StreamReader::with_limit(limit));
            let feeder = Rc::clone(&reader);
            let _task = aio_task::create_task(async move {
                for chunk in chunks {
                    feeder.feed_data(&chunk);
                    aio_scheduler::sleep(0).await.unwrap();
                }
                feeder.feed_eof();
            })
            .unwrap();
            reader_trace(&reader, &ops).await
        })
        .unwrap();
        prop_assert_eq!(&actual, &expected);
    }
}

/// A readline whose newline arrives only after the limit is passed: with chunked arrival
/// asyncio reports "not found" and clears the buffer (the model and aio agree), whereas with
/// the whole line buffered it reports "found, but too long" and discards through the newline.
#[test]
fn arrival_matters_for_limit_errors() {
    let data = b"aaaaaa\nb\n".to_vec();
    let ops = [Op::Readline, Op::Readline];
    let chunked = vec![b"aaaa".to_vec(), b"aa\nb\n".to_vec()];
    let upfront = model_trace(3, data.clone(), true, &[], &ops);
    let incremental = model_trace(3, Vec::new(), false, &chunked, &ops);
    assert_eq!(
        upfront.0[0].0,
        Err(StreamError::LineTooLong(
            "Separator is found, but chunk is longer than limit"
        ))
    );
    assert_eq!(upfront.0[1].0, Ok(b"b\n".to_vec()));
    assert_eq!(
        incremental.0[0].0,
        Err(StreamError::LineTooLong(
            "Separator is not found, and chunk exceed the limit"
        ))
    );

    let reader = StreamReader::with_limit(3);
    let mut queue: VecDeque<_> = chunked.into_iter().collect();
    let first = drive(&reader, &mut queue, reader.readline());
    assert_eq!(first, incremental.0[0].0);
    let second = drive(&reader, &mut queue, reader.readline());
    assert_eq!(second, incremental.0[1].0);
}
