//! `StreamReader` behaviour beyond single reads: concurrent reads, `set_exception`,
//! `at_eof`, the `lines()` stream, `ReadSource`s (small chunks, pending, I/O errors) and the
//! bounded buffer while `readuntil` searches an endless source.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use aio_streams::{ReadSource, StreamError, StreamReader};
use aio_task::{create_task, run, wait_for};
use futures_core::Stream;

fn yield_now() -> aio_scheduler::Sleep {
    aio_scheduler::sleep(0)
}

fn reset() -> StreamError {
    io::Error::new(io::ErrorKind::ConnectionReset, "peer reset").into()
}

async fn collect_lines(reader: &StreamReader) -> Vec<Result<Vec<u8>, StreamError>> {
    let mut lines = reader.lines();
    let mut out = Vec::new();
    while let Some(line) = poll_fn(|cx| Pin::new(&mut lines).poll_next(cx)).await {
        out.push(line);
    }
    // Exhausted streams stay exhausted.
    assert!(
        poll_fn(|cx| Pin::new(&mut lines).poll_next(cx))
            .await
            .is_none()
    );
    out
}

// ---------------------------------------------------------------- concurrent reads

#[test]
fn second_waiting_read_gets_concurrent_read_and_first_completes() {
    run(async {
        let reader = Rc::new(StreamReader::new());
        let r1 = Rc::clone(&reader);
        let first = create_task(async move { r1.readline().await }).unwrap();
        yield_now().await.unwrap(); // first is now waiting for data
        let r2 = Rc::clone(&reader);
        let second = create_task(async move { r2.readuntil(b"|").await }).unwrap();
        yield_now().await.unwrap();
        assert!(second.done());
        let err = second.await.unwrap().unwrap_err();
        assert_eq!(err, StreamError::ConcurrentRead("readuntil"));
        assert_eq!(
            err.to_string(),
            "readuntil() called while another coroutine is already waiting for incoming data"
        );
        // Other waiting operations are refused too, with their own name.
        for (name, result) in [
            ("read", reader.read(1).await),
            ("readexactly", reader.readexactly(1).await),
        ] {
            assert_eq!(result, Err(StreamError::ConcurrentRead(name)));
        }
        assert!(!first.done());
        reader.feed_data(b"hello\nmore");
        assert_eq!(first.await.unwrap().unwrap(), b"hello\n");
        // The mark is cleared: a new read may wait again.
        let r3 = Rc::clone(&reader);
        let third = create_task(async move { r3.readexactly(6).await }).unwrap();
        yield_now().await.unwrap();
        reader.feed_data(b"!!");
        assert_eq!(third.await.unwrap().unwrap(), b"more!!");
    })
    .unwrap();
}

#[test]
fn reads_that_need_no_wait_are_allowed_while_another_waits() {
    // Checked against CPython 3.13: read(2) -> b"ab"; t.done() False after b"d|"; then
    // b"cd|e|" after b"e|".
    run(async {
        let reader = Rc::new(StreamReader::with_limit(8));
        reader.feed_data(b"abc");
        let r1 = Rc::clone(&reader);
        let waiting = create_task(async move { r1.readuntil(b"|").await }).unwrap();
        yield_now().await.unwrap();
        assert!(!waiting.done());
        // Served from the buffer without waiting, as in asyncio.
        assert_eq!(reader.read(2).await.unwrap(), b"ab");
        assert_eq!(reader.read(0).await.unwrap(), b"");
        // asyncio keeps the search offset computed before the buffer shrank (3), so "d|"
        // (buffer "cd|", 3 bytes) is not searched yet; the next feed is, from offset 3.
        reader.feed_data(b"d|");
        yield_now().await.unwrap();
        yield_now().await.unwrap();
        assert!(!waiting.done());
        reader.feed_data(b"e|");
        assert_eq!(waiting.await.unwrap().unwrap(), b"cd|e|");
    })
    .unwrap();
}

#[test]
fn dropping_a_waiting_read_clears_the_waiting_mark() {
    let reader = StreamReader::new();
    {
        let mut fut = pin!(reader.readline());
        let poll = fut.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(poll.is_pending());
    }
    reader.feed_data(b"x\n");
    let line = run(async move { reader.readline().await }).unwrap();
    assert_eq!(line.unwrap(), b"x\n");
}

#[test]
fn timed_out_read_leaves_data_and_allows_the_next_read() {
    run(async {
        let reader = StreamReader::new();
        reader.feed_data(b"partial");
        let timed = wait_for(reader.readline(), 0.01).await;
        assert!(matches!(timed, Err(aio_task::Error::Timeout)));
        assert_eq!(reader.buffered(), 7);
        reader.feed_data(b" line\n");
        assert_eq!(reader.readline().await.unwrap(), b"partial line\n");
    })
    .unwrap();
}

// ---------------------------------------------------------------- set_exception

#[test]
fn set_exception_fails_the_pending_read_and_every_later_read() {
    run(async {
        let reader = Rc::new(StreamReader::new());
        let r1 = Rc::clone(&reader);
        let pending = create_task(async move { r1.readexactly(4).await }).unwrap();
        yield_now().await.unwrap();
        reader.feed_data(b"ab");
        yield_now().await.unwrap();
        assert!(!pending.done());
        reader.set_exception(reset());
        let err = pending.await.unwrap().unwrap_err();
        assert!(matches!(
            err,
            StreamError::Io {
                kind: io::ErrorKind::ConnectionReset,
                ..
            }
        ));
        assert_eq!(err.to_string(), "peer reset");
        assert_eq!(reader.exception(), Some(err.clone()));
        // Buffered data is not handed out any more, even for zero-length reads (asyncio
        // checks the exception first).
        reader.feed_data(b"cd\n|");
        assert_eq!(reader.read(1).await, Err(err.clone()));
        assert_eq!(reader.read(0).await, Err(err.clone()));
        assert_eq!(reader.readexactly(0).await, Err(err.clone()));
        assert_eq!(reader.readline().await, Err(err.clone()));
        assert_eq!(reader.readuntil(b"|").await, Err(err.clone()));
        assert_eq!(reader.read_to_end().await, Err(err.clone()));
        assert_eq!(reader.buffered(), 6);
        // The separator is still validated before the exception, as in asyncio.
        assert!(matches!(
            reader.readuntil(b"").await,
            Err(StreamError::Value(_))
        ));
    })
    .unwrap();
}

#[test]
fn set_exception_wakes_each_kind_of_pending_read() {
    type Op = fn(&StreamReader) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, StreamError>> + '_>>;
    let ops: [Op; 5] = [
        |r| Box::pin(r.read(3)),
        |r| Box::pin(r.readexactly(3)),
        |r| Box::pin(r.readline()),
        |r| Box::pin(r.readuntil(b"|")),
        |r| Box::pin(r.read_to_end()),
    ];
    for op in ops {
        run(async move {
            let reader = Rc::new(StreamReader::new());
            let r1 = Rc::clone(&reader);
            let task = create_task(async move { op(&r1).await }).unwrap();
            yield_now().await.unwrap();
            reader.set_exception(reset());
            let result = wait_for(task, 1.0).await.unwrap().unwrap();
            assert!(matches!(result, Err(StreamError::Io { .. })));
        })
        .unwrap();
    }
}

/// The same on a socket reader, whose waiting read is parked in the reactor (the reader keeps
/// no waker of its own for a socket): `set_exception` still ends each kind of pending read,
/// and the next read fails too, while the peer stays silent.
#[test]
fn set_exception_wakes_each_kind_of_pending_socket_read() {
    type Op = fn(&StreamReader) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, StreamError>> + '_>>;
    let ops: [Op; 5] = [
        |r| Box::pin(r.read(3)),
        |r| Box::pin(r.readexactly(3)),
        |r| Box::pin(r.readline()),
        |r| Box::pin(r.readuntil(b"|")),
        |r| Box::pin(r.read_to_end()),
    ];
    let listener = Rc::new(std::net::TcpListener::bind("127.0.0.1:0").unwrap());
    let port = listener.local_addr().unwrap().port();
    for op in ops {
        let listener = listener.clone();
        run(async move {
            let (reader, _writer) = aio_streams::open_connection("127.0.0.1", port)
                .await
                .unwrap();
            let (_peer, _) = listener.accept().unwrap();
            let reader = Rc::new(reader);
            let r1 = Rc::clone(&reader);
            let task = create_task(async move { op(&r1).await }).unwrap();
            for _ in 0..3 {
                yield_now().await.unwrap();
            }
            assert!(!task.done(), "the read waits for the silent peer");
            reader.set_exception(reset());
            let result = wait_for(task, 5.0).await.unwrap().unwrap();
            assert!(matches!(result, Err(StreamError::Io { .. })), "{result:?}");
            assert!(matches!(reader.read(1).await, Err(StreamError::Io { .. })));
        })
        .unwrap();
    }
}

// ---------------------------------------------------------------- readexactly_into

/// `readexactly_into` is `readexactly` without the `Vec`: the same bytes, waiting for a frame
/// split across feeds, leaving `out` untouched and the bytes buffered when dropped mid-way,
/// and `IncompleteRead` (with what was left, consumed) at EOF.
#[test]
fn readexactly_into_reads_frames_like_readexactly() {
    run(async {
        let reader = Rc::new(StreamReader::new());
        reader.feed_data(b"0123456789abcdefXY");
        let mut frame = [0u8; 16];
        reader.readexactly_into(&mut frame).await.unwrap();
        assert_eq!(&frame, b"0123456789abcdef");
        // Two bytes of the next frame: the read waits; dropped, it loses nothing.
        let mut out = [b'-'; 4];
        assert!(matches!(
            wait_for(reader.readexactly_into(&mut out), 0.01).await,
            Err(aio_task::Error::Timeout)
        ));
        assert_eq!(&out, b"----");
        assert_eq!(reader.buffered(), 2);
        // The rest arrives while a read waits.
        let r1 = Rc::clone(&reader);
        let waiting = create_task(async move {
            let mut out = [0u8; 4];
            r1.readexactly_into(&mut out).await.map(|()| out)
        })
        .unwrap();
        yield_now().await.unwrap();
        reader.feed_data(b"Z");
        yield_now().await.unwrap();
        assert!(!waiting.done());
        reader.feed_data(b"W!");
        assert_eq!(&waiting.await.unwrap().unwrap(), b"XYZW");
        // EOF with one byte left: IncompleteRead carries it, and the buffer is empty.
        reader.feed_eof();
        let mut out = [0u8; 4];
        let err = reader.readexactly_into(&mut out).await.unwrap_err();
        assert_eq!(
            err,
            StreamError::IncompleteRead {
                partial: b"!".to_vec(),
                expected: Some(4)
            }
        );
        assert_eq!(out, [0; 4]);
        assert!(reader.at_eof());
    })
    .unwrap();
}

/// `readline_into` is `readline` appending to a reused `Vec`: lines from the buffer, a line
/// split across feeds (nothing appended while it waits, nothing lost when dropped), asyncio's
/// `LineTooLong` with `out` untouched and the line discarded, and the last line without a
/// newline, then 0 at the end.
#[test]
fn readline_into_appends_lines_like_readline() {
    run(async {
        let reader = Rc::new(StreamReader::with_limit(8));
        let mut line = b"kept:".to_vec();
        reader.feed_data(b"ab\ncd");
        assert_eq!(reader.readline_into(&mut line).await.unwrap(), 3);
        assert_eq!(line, b"kept:ab\n");
        // "cd" waits for the rest of its line; a dropped wait appends and loses nothing.
        let mut out = Vec::new();
        assert!(matches!(
            wait_for(reader.readline_into(&mut out), 0.01).await,
            Err(aio_task::Error::Timeout)
        ));
        assert!(out.is_empty());
        let r1 = Rc::clone(&reader);
        let waiting = create_task(async move {
            let mut out = Vec::new();
            r1.readline_into(&mut out).await.map(|n| (n, out))
        })
        .unwrap();
        yield_now().await.unwrap();
        reader.feed_data(b"e\nmuch too long\nx");
        assert_eq!(waiting.await.unwrap().unwrap(), (4, b"cde\n".to_vec()));
        // Over the limit of 8: LineTooLong, `out` as it was, the line discarded.
        let mut out = b"x".to_vec();
        assert!(matches!(
            reader.readline_into(&mut out).await,
            Err(StreamError::LineTooLong(_))
        ));
        assert_eq!(out, b"x");
        reader.feed_eof();
        out.clear();
        assert_eq!(reader.readline_into(&mut out).await.unwrap(), 1);
        assert_eq!(out, b"x");
        assert_eq!(reader.readline_into(&mut out).await.unwrap(), 0);
        assert_eq!(out, b"x");
    })
    .unwrap();
}

/// Regression: a drained buffer keeps its capacity for the next fill, and a read that takes
/// the whole buffer used to hand that `Vec` out as is, so a 10-byte message came back holding
/// a 40 KB allocation. Small answers from a large buffer are copied out; the reader keeps
/// the capacity, and frees it when a read waits.
#[test]
fn small_answers_do_not_carry_the_buffers_capacity() {
    run(async {
        let reader = Rc::new(StreamReader::new());
        reader.feed_data(&[1; 40_000]);
        assert_eq!(reader.readexactly(39_990).await.unwrap().len(), 39_990);
        assert_eq!(reader.readexactly(10).await.unwrap(), [1; 10]);
        // Drained: the next bytes land in the kept 40 KB buffer.
        reader.feed_data(b"0123456789");
        let frame = reader.readexactly(10).await.unwrap();
        assert_eq!(frame, b"0123456789");
        assert!(frame.capacity() < 1024, "capacity {}", frame.capacity());
        reader.feed_data(b"abc\n");
        let line = reader.readline().await.unwrap();
        assert!(line.capacity() < 1024, "capacity {}", line.capacity());
        reader.feed_data(b"xyz");
        let data = reader.read(100).await.unwrap();
        assert_eq!(data, b"xyz");
        assert!(data.capacity() < 1024, "capacity {}", data.capacity());
    })
    .unwrap();
}

// ---------------------------------------------------------------- at_eof

#[test]
fn at_eof_needs_both_eof_and_an_empty_buffer() {
    run(async {
        let reader = StreamReader::new();
        assert!(!reader.at_eof());
        reader.feed_data(b"ab");
        assert!(!reader.at_eof());
        reader.feed_eof();
        assert!(!reader.at_eof());
        assert_eq!(reader.read(1).await.unwrap(), b"a");
        assert!(!reader.at_eof());
        assert_eq!(reader.read(5).await.unwrap(), b"b");
        assert!(reader.at_eof());
        assert_eq!(reader.read(5).await.unwrap(), b"");
        assert_eq!(reader.readline().await.unwrap(), b"");
        assert!(reader.at_eof());

        let empty = StreamReader::new();
        empty.feed_data(b"");
        assert_eq!(empty.buffered(), 0);
        assert!(!empty.at_eof());
        empty.feed_eof();
        assert!(empty.at_eof());
    })
    .unwrap();
}

#[test]
fn eof_wakes_a_pending_readexactly_with_the_partial_data() {
    run(async {
        let reader = Rc::new(StreamReader::new());
        let r1 = Rc::clone(&reader);
        let task = create_task(async move { r1.readexactly(10).await }).unwrap();
        yield_now().await.unwrap();
        reader.feed_data(b"abc");
        yield_now().await.unwrap();
        reader.feed_eof();
        assert_eq!(
            task.await.unwrap(),
            Err(StreamError::IncompleteRead {
                partial: b"abc".to_vec(),
                expected: Some(10),
            })
        );
        assert!(reader.at_eof());
    })
    .unwrap();
}

// ---------------------------------------------------------------- lines()

#[test]
fn lines_yields_each_line_then_the_tail_then_ends() {
    let reader = StreamReader::new();
    reader.feed_data(b"one\ntwo\n\nthree");
    reader.feed_eof();
    let lines = run(async move { collect_lines(&reader).await }).unwrap();
    assert_eq!(
        lines,
        vec![
            Ok(b"one\n".to_vec()),
            Ok(b"two\n".to_vec()),
            Ok(b"\n".to_vec()),
            Ok(b"three".to_vec()),
        ]
    );
}

#[test]
fn lines_yields_an_error_once_then_ends() {
    let reader = StreamReader::with_limit(4);
    reader.feed_data(b"ok\ntoolongline\nafter\n");
    reader.feed_eof();
    let (lines, rest) = run(async move {
        let lines = collect_lines(&reader).await;
        (lines, reader.read_to_end().await.unwrap())
    })
    .unwrap();
    assert_eq!(
        lines,
        vec![
            Ok(b"ok\n".to_vec()),
            Err(StreamError::LineTooLong(
                "Separator is found, but chunk is longer than limit"
            )),
        ]
    );
    // The long line was discarded through its newline; the rest is still readable.
    assert_eq!(rest, b"after\n");
}

#[test]
fn lines_over_data_fed_by_another_task() {
    run(async {
        let reader = Rc::new(StreamReader::new());
        let feeder = Rc::clone(&reader);
        create_task(async move {
            for chunk in [&b"al"[..], b"pha\nbe", b"ta", b"\ngam", b"ma"] {
                feeder.feed_data(chunk);
                yield_now().await.unwrap();
            }
            feeder.feed_eof();
        })
        .unwrap();
        let lines = collect_lines(&reader).await;
        assert_eq!(
            lines,
            vec![
                Ok(b"alpha\n".to_vec()),
                Ok(b"beta\n".to_vec()),
                Ok(b"gamma".to_vec()),
            ]
        );
    })
    .unwrap();
}

#[test]
fn lines_yields_the_stream_exception_once() {
    run(async {
        let reader = Rc::new(StreamReader::new());
        let r = Rc::clone(&reader);
        let task = create_task(async move { collect_lines(&r).await }).unwrap();
        reader.feed_data(b"a\nb");
        yield_now().await.unwrap();
        reader.set_exception(reset());
        let lines = task.await.unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], Ok(b"a\n".to_vec()));
        assert!(matches!(lines[1], Err(StreamError::Io { .. })));
    })
    .unwrap();
}

// ---------------------------------------------------------------- ReadSource

/// Hands out `data` `chunk` bytes per poll, then EOF; counts polls.
struct Trickle {
    data: RefCell<VecDeque<u8>>,
    chunk: usize,
    polls: Rc<Cell<usize>>,
}

impl ReadSource for Trickle {
    fn poll_fill(&self, _: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
        self.polls.set(self.polls.get() + 1);
        let mut data = self.data.borrow_mut();
        let n = self.chunk.min(data.len());
        buf.extend(data.drain(..n));
        Poll::Ready(Ok(n))
    }
}

fn trickle(data: &[u8], chunk: usize) -> (Trickle, Rc<Cell<usize>>) {
    let polls = Rc::new(Cell::new(0));
    let source = Trickle {
        data: RefCell::new(data.iter().copied().collect()),
        chunk,
        polls: Rc::clone(&polls),
    };
    (source, polls)
}

#[test]
fn source_in_one_byte_chunks() {
    let (source, polls) = trickle(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody!tail", 1);
    let reader = StreamReader::from_source_with_limit(source, 64);
    let out = run(async move {
        let request = reader.readuntil(b"\r\n").await.unwrap();
        let headers = reader.readuntil_any(&[b"\r\n\r\n", b"\n\n"]).await.unwrap();
        let body = reader.readexactly(5).await.unwrap();
        let small = reader.read(100).await.unwrap(); // one byte arrives per poll
        let rest = reader.read_to_end().await.unwrap();
        let eof = reader.at_eof();
        (request, headers, body, small, rest, eof)
    })
    .unwrap();
    assert_eq!(out.0, b"GET / HTTP/1.1\r\n");
    assert_eq!(out.1, b"Host: x\r\n\r\n");
    assert_eq!(out.2, b"body!");
    assert_eq!(out.3, b"t");
    assert_eq!(out.4, b"ail");
    assert!(out.5);
    // 36 data polls + the EOF poll: the source is only read when needed.
    assert_eq!(polls.get(), 37);
}

#[test]
fn source_is_not_polled_when_the_buffer_suffices() {
    let (source, polls) = trickle(b"a\nb\nc\n", 100);
    let reader = StreamReader::from_source(source);
    run(async move {
        assert_eq!(reader.readline().await.unwrap(), b"a\n");
        assert_eq!(reader.readline().await.unwrap(), b"b\n");
        assert_eq!(reader.readline().await.unwrap(), b"c\n");
        assert_eq!(polls.get(), 1);
        // With the buffer empty, at_eof asks the source once, without waiting: EOF.
        assert!(reader.at_eof());
        assert_eq!(polls.get(), 2);
        assert_eq!(reader.readline().await.unwrap(), b"");
        assert!(reader.at_eof());
        assert_eq!(polls.get(), 2, "EOF is remembered, not asked again");
    })
    .unwrap();
}

/// A source fed by another task: `Pending` (registering the waker) until data is pushed.
#[derive(Default)]
struct Pipe {
    data: RefCell<VecDeque<u8>>,
    closed: Cell<bool>,
    waker: RefCell<Option<Waker>>,
    pendings: Cell<usize>,
}

impl Pipe {
    fn push(&self, bytes: &[u8]) {
        self.data.borrow_mut().extend(bytes);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    fn close(&self) {
        self.closed.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }
}

struct PipeEnd(Rc<Pipe>);

impl ReadSource for PipeEnd {
    fn poll_fill(&self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
        let mut data = self.0.data.borrow_mut();
        if data.is_empty() {
            if self.0.closed.get() {
                return Poll::Ready(Ok(0));
            }
            self.0.pendings.set(self.0.pendings.get() + 1);
            *self.0.waker.borrow_mut() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = data.len();
        buf.extend(data.drain(..));
        Poll::Ready(Ok(n))
    }
}

#[test]
fn source_pending_then_data() {
    run(async {
        let pipe = Rc::new(Pipe::default());
        let reader = Rc::new(StreamReader::from_source(PipeEnd(Rc::clone(&pipe))));
        let r = Rc::clone(&reader);
        let task = create_task(async move {
            let a = r.readline().await.unwrap();
            let b = r.readexactly(4).await.unwrap();
            let c = r.readuntil(b"|").await;
            (a, b, c)
        })
        .unwrap();
        yield_now().await.unwrap();
        assert_eq!(pipe.pendings.get(), 1);
        // A second reader is refused while the first waits on the source.
        assert_eq!(
            reader.read(1).await,
            Err(StreamError::ConcurrentRead("read"))
        );
        pipe.push(b"hel");
        yield_now().await.unwrap();
        pipe.push(b"lo\nwo");
        yield_now().await.unwrap();
        pipe.push(b"rld");
        yield_now().await.unwrap();
        pipe.push(b"xyz");
        yield_now().await.unwrap();
        pipe.close();
        let (a, b, c) = task.await.unwrap();
        assert_eq!(a, b"hello\n");
        assert_eq!(b, b"worl");
        assert_eq!(
            c,
            Err(StreamError::IncompleteRead {
                partial: b"dxyz".to_vec(),
                expected: None,
            })
        );
        assert!(reader.at_eof());
    })
    .unwrap();
}

/// Yields `chunks` one per poll, then fails with `kind` — and counts every poll after that.
struct Failing {
    chunks: RefCell<VecDeque<&'static [u8]>>,
    polls_after_error: Rc<Cell<usize>>,
    failed: Cell<bool>,
}

impl ReadSource for Failing {
    fn poll_fill(&self, _: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
        if self.failed.get() {
            self.polls_after_error.set(self.polls_after_error.get() + 1);
            return Poll::Ready(Ok(0));
        }
        match self.chunks.borrow_mut().pop_front() {
            Some(chunk) => {
                buf.extend_from_slice(chunk);
                Poll::Ready(Ok(chunk.len()))
            }
            None => {
                self.failed.set(true);
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "connection aborted",
                )))
            }
        }
    }
}

#[test]
fn source_io_error_surfaces_once_and_sticks() {
    let after = Rc::new(Cell::new(0));
    let source = Failing {
        chunks: RefCell::new(VecDeque::from([&b"ab\ncd"[..]])),
        polls_after_error: Rc::clone(&after),
        failed: Cell::new(false),
    };
    let reader = StreamReader::from_source(source);
    let (first, second, later, exception) = run(async move {
        let first = reader.readline().await;
        let second = reader.readline().await; // needs more: the source fails
        let later = [
            reader.readline().await,
            reader.read(1).await,
            reader.readexactly(1).await,
            reader.readuntil(b"d").await, // would be satisfiable from the buffer
            reader.read_to_end().await,
        ];
        (first, second, later, reader.exception())
    })
    .unwrap();
    assert_eq!(first.unwrap(), b"ab\n");
    let err = second.unwrap_err();
    assert_eq!(
        err,
        StreamError::Io {
            kind: io::ErrorKind::ConnectionAborted,
            message: "connection aborted".into(),
        }
    );
    for result in later {
        assert_eq!(result, Err(err.clone()));
    }
    assert_eq!(exception, Some(err));
    assert_eq!(after.get(), 0, "the failed source must not be polled again");
}

// ---------------------------------------------------------------- bounded buffer

/// Endless data without separators, `chunk` bytes per poll.
struct Endless {
    chunk: usize,
    polls: Rc<Cell<usize>>,
}

impl ReadSource for Endless {
    fn poll_fill(&self, _: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
        self.polls.set(self.polls.get() + 1);
        assert!(self.polls.get() < 100_000, "source polled without bound");
        buf.extend(std::iter::repeat_n(b'x', self.chunk));
        Poll::Ready(Ok(self.chunk))
    }
}

#[test]
fn readuntil_on_an_endless_source_overruns_instead_of_growing() {
    for (limit, chunk) in [(16, 7), (16, 1), (1000, 3), (5, 4096)] {
        let polls = Rc::new(Cell::new(0));
        let reader = StreamReader::from_source_with_limit(
            Endless {
                chunk,
                polls: Rc::clone(&polls),
            },
            limit,
        );
        let (result, buffered) = run(async move {
            let result = reader.readuntil(b"|").await;
            (result, reader.buffered())
        })
        .unwrap();
        let Err(StreamError::LimitOverrun { message, consumed }) = result else {
            panic!("expected LimitOverrun, got {result:?}");
        };
        assert_eq!(
            message,
            "Separator is not found, and chunk exceed the limit"
        );
        assert!(consumed > limit);
        assert_eq!(consumed, buffered, "one-byte separator: offset = buffered");
        assert!(
            buffered <= limit + chunk,
            "limit {limit}, chunk {chunk}: buffered {buffered}"
        );
        assert_eq!(polls.get(), buffered.div_ceil(chunk));
    }
}

#[test]
fn multibyte_and_multi_separators_on_an_endless_source_stay_bounded() {
    let polls = Rc::new(Cell::new(0));
    let reader = Rc::new(StreamReader::from_source_with_limit(
        Endless {
            chunk: 5,
            polls: Rc::clone(&polls),
        },
        32,
    ));
    run(async move {
        let err = reader.readuntil(b"\r\n\r\n").await.unwrap_err();
        let StreamError::LimitOverrun { consumed, .. } = err else {
            panic!("{err:?}");
        };
        let buffered = reader.buffered();
        assert_eq!(consumed, buffered + 1 - 4);
        assert!(buffered <= 32 + 4 - 1 + 5);
        // The data stays buffered: a second attempt fails the same way without reading more
        // than one further chunk.
        let err = reader.readuntil_any(&[b"|", b"<>"]).await.unwrap_err();
        assert!(matches!(err, StreamError::LimitOverrun { .. }));
        assert!(reader.buffered() <= buffered + 5);
        // readline discards everything (no newline) and fails.
        let err = reader.readline().await.unwrap_err();
        assert_eq!(
            err,
            StreamError::LineTooLong("Separator is not found, and chunk exceed the limit")
        );
        assert_eq!(reader.buffered(), 0);
    })
    .unwrap();
    assert!(polls.get() < 30);
}

// ---------------------------------------------------------------- source + set_exception

/// A source that never has data and never wakes.
struct Silent;

impl ReadSource for Silent {
    fn poll_fill(&self, _: &mut Context<'_>, _: &mut Vec<u8>) -> Poll<io::Result<usize>> {
        Poll::Pending
    }
}

#[test]
fn set_exception_wakes_a_read_waiting_on_a_source() {
    run(async {
        let reader = Rc::new(StreamReader::from_source(Silent));
        let r = Rc::clone(&reader);
        let task = create_task(async move { r.read(10).await }).unwrap();
        yield_now().await.unwrap();
        reader.set_exception(reset());
        let result = wait_for(task, 0.2).await;
        assert!(
            matches!(result, Ok(Ok(Err(StreamError::Io { .. })))),
            "pending read was not woken by set_exception: {result:?}"
        );
    })
    .unwrap();
}

// ---------------------------------------------------------------- separators (no Python needed)

/// Equal-ending matches: the shortest separator's start decides the limit check, whatever
/// the order the separators are listed in (CPython sorts them by length).
#[test]
fn equal_ending_separators_use_the_shortest_match_for_the_limit() {
    for seps in [[&b"ab"[..], b"b"], [b"b", b"ab"]] {
        let reader = StreamReader::with_limit(1);
        reader.feed_data(b"xab");
        let result =
            run(async move { (reader.readuntil_any(&seps).await, reader.buffered()) }).unwrap();
        assert_eq!(
            result,
            (
                Err(StreamError::LimitOverrun {
                    message: "Separator is found, but chunk is longer than limit",
                    consumed: 2,
                }),
                3
            ),
            "separators {seps:?}"
        );
    }
}
