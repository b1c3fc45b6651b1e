//! `as_completed(aws).timeout(delay)`: asyncio's `as_completed(aws, timeout=)`. The deadline
//! counts from the call (as in 3.13, where `_AsCompletedIterator.__init__` arms it; 3.11 and
//! 3.12 arm it at the first `next()`). When it passes, the outcomes already finished come
//! first, in completion order, then one `TimeoutError` per awaitable left — also for one that
//! completes after the deadline — and nothing is cancelled.
//!
//! The CPython program these tests compare with:
//!
//! ```python
//! import asyncio
//!
//! async def main():
//!     loop = asyncio.get_running_loop()
//!     # finished first (in completion order), then a TimeoutError per remaining; nothing cancelled
//!     f1, f2 = loop.create_future(), loop.create_future()
//!     async def quick(tag): return tag
//!     async def waits(f): return await f
//!     async def nap(d, tag):
//!         await asyncio.sleep(d); return tag
//!     tasks = [asyncio.create_task(waits(f1)), asyncio.create_task(nap(0.01, "nap")),
//!              asyncio.create_task(quick("quick")), asyncio.create_task(waits(f2))]
//!     out = []
//!     for nxt in asyncio.as_completed(tasks, timeout=0.3):
//!         try:
//!             out.append(await nxt)
//!         except TimeoutError:
//!             out.append("TimeoutError")
//!     print(out, [t.cancelled() for t in tasks], [t.done() for t in tasks])
//!     f1.set_result("one"); f2.set_result("two")
//!     print(await tasks[0], await tasks[3])
//!     # a completion after the deadline, before the first await
//!     f3 = loop.create_future()
//!     a, b = asyncio.create_task(quick("a")), asyncio.create_task(waits(f3))
//!     it = asyncio.as_completed([a, b], timeout=0.05)
//!     await asyncio.sleep(0.1)
//!     f3.set_result("b")
//!     await asyncio.sleep(0); await asyncio.sleep(0)
//!     out = []
//!     for nxt in it:
//!         try:
//!             out.append(await nxt)
//!         except TimeoutError:
//!             out.append("TimeoutError")
//!     print(out, b.done())
//!     # all done before the deadline: no TimeoutError, no wait for the deadline
//!     t0 = loop.time()
//!     out = [await n for n in asyncio.as_completed([quick(1), quick(2)], timeout=3600)]
//!     print(sorted(out), loop.time() - t0 < 1)
//!
//! asyncio.run(main())
//! ```
//!
//! Output, 3.13:
//!
//! ```text
//! ['quick', 'nap', 'TimeoutError', 'TimeoutError'] [False, False, False, False] [False, True, True, False]
//! one two
//! ['a', 'TimeoutError'] True
//! [1, 2] True
//! ```
//!
//! 3.12 prints the same except `['a', 'b'] True` on the third line: its deadline starts at the
//! first `next(it)`, after the `sleep(0.1)`. aio follows 3.13.
//!
//! One difference: a NaN or infinite delay is rejected, as everywhere in aio
//! (`Error::Runtime(InvalidDelay)` for each awaitable left), where CPython's `timeout=nan`
//! times out at once.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::pin::Pin;
use std::time::{Duration, Instant};

use aio_scheduler::sleep;
use aio_task::{AsCompleted, Error, as_completed, create_future, create_task, run};
use futures_core::Stream;

/// The stream's next item, polled by hand (no `StreamExt` needed).
async fn next<T: 'static>(stream: &mut AsCompleted<T>) -> Option<Result<T, Error>> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

fn label(outcome: Result<&'static str, Error>) -> &'static str {
    match outcome {
        Ok(value) => value,
        Err(Error::Timeout) => "Timeout",
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn finished_outcomes_come_first_then_a_timeout_for_each_left_and_nothing_is_cancelled() {
    run(async {
        let (f1, f2) = (create_future::<&str>()?, create_future::<&str>()?);
        let tasks = vec![
            create_task(f1.clone().wait())?,
            create_task(async {
                sleep(0.01).await.unwrap();
                Ok("nap")
            })?,
            create_task(async { Ok("quick") })?,
            create_task(f2.clone().wait())?,
        ];
        let mut out = Vec::new();
        for next in as_completed(&tasks).timeout(0.3) {
            out.push(label(next.await.and_then(|r| r)));
        }
        assert_eq!(out, ["quick", "nap", "Timeout", "Timeout"]);
        assert!(tasks.iter().all(|t| !t.cancelled()));
        let done: Vec<bool> = tasks.iter().map(|t| t.done()).collect();
        assert_eq!(done, [false, true, true, false]);
        f1.set_result("one")?;
        f2.set_result("two")?;
        assert_eq!(tasks[0].clone().await??, "one");
        assert_eq!(tasks[3].clone().await??, "two");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn the_deadline_counts_from_the_call_so_a_later_completion_is_a_timeout() {
    run(async {
        let f3 = create_future::<&str>()?;
        let a = create_task(async { Ok("a") })?;
        let b = create_task(f3.clone().wait())?;
        let it = as_completed([&a, &b]).timeout(0.05);
        sleep(0.1).await?;
        f3.set_result("b")?;
        sleep(0).await?;
        sleep(0).await?;
        let mut out = Vec::new();
        for next in it {
            out.push(label(next.await.and_then(|r| r)));
        }
        assert_eq!(out, ["a", "Timeout"]);
        assert!(b.done());
        assert_eq!(b.await??, "b", "the late outcome stays in its task");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn all_done_before_the_deadline_gives_no_timeout_and_does_not_wait_for_it() {
    let start = Instant::now();
    let mut out = run(async {
        let mut out = Vec::new();
        for next in as_completed([1, 2].map(|n| async move { n })).timeout(3600) {
            out.push(next.await?);
        }
        Ok::<_, Error>(out)
    })
    .unwrap()
    .unwrap();
    out.sort_unstable();
    assert_eq!(out, [1, 2]);
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
fn the_stream_gives_a_timeout_for_each_left_then_ends() {
    run(async {
        let stuck = create_future::<&str>()?;
        let tasks = vec![
            create_task(async { Ok("quick") })?,
            create_task(stuck.clone().wait())?,
            create_task(stuck.clone().wait())?,
        ];
        let mut stream = as_completed(&tasks).timeout(0.05);
        let mut out = Vec::new();
        while let Some(outcome) = stream.next_completed().await {
            out.push(label(outcome.and_then(|r| r)));
        }
        assert_eq!(out, ["quick", "Timeout", "Timeout"]);
        assert!(next(&mut stream).await.is_none());
        assert!(tasks.iter().all(|t| !t.cancelled()));
        stuck.cancel(None);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Several tasks awaiting the iterator's awaitables at once are all woken by the deadline.
#[test]
fn concurrent_awaiters_all_get_their_timeout() {
    run(async {
        let stuck = create_future::<u8>()?;
        let tasks = vec![
            create_task(stuck.clone().wait())?,
            create_task(stuck.clone().wait())?,
        ];
        let awaiters = as_completed(tasks)
            .timeout(0.05)
            .map(create_task)
            .collect::<Result<Vec<_>, _>>()?;
        for awaiter in awaiters {
            assert!(matches!(awaiter.await?, Err(Error::Timeout)));
        }
        stuck.cancel(None);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn an_invalid_delay_is_an_error_for_each_awaitable() {
    run(async {
        let outcomes: Vec<_> = as_completed([async { 1 }]).timeout(f64::NAN).collect();
        for next in outcomes {
            assert!(matches!(
                next.await,
                Err(Error::Runtime(aio_scheduler::Error::InvalidDelay(_)))
            ));
        }
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
