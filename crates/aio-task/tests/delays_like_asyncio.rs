//! Delays and deadlines as CPython 3.12 / 3.13 take them (issue 14, items 3, 5 and 10): when
//! `wait_for`'s clock starts, infinite delays, negative delays kept in the past, and nested
//! timeouts that both expire. The CPython program each test compares with, and its output
//! (identical on 3.12 and 3.13):
//!
//! ```python
//! import asyncio, math, time
//! async def main():
//!     loop = asyncio.get_running_loop()
//!     out = []
//!     loop.call_later(-2, out.append, 'b')
//!     loop.call_later(-1, out.append, 'a')
//!     await asyncio.sleep(0.01)
//!     print(out)                                   # ['b', 'a']
//!     print(round(loop.time() - asyncio.timeout(-11).when()))   # 11
//!     print(loop.call_later(math.inf, print).when())            # inf
//!     print(asyncio.timeout(math.inf).when())                   # inf
//!     async def quick(): await asyncio.sleep(0.01); return 'done'
//!     print(await asyncio.wait_for(quick(), math.inf))          # done
//!     try:
//!         await asyncio.wait_for(asyncio.sleep(math.inf), 0.05)
//!     except TimeoutError:
//!         print('sleep(inf) still sleeping at 0.05')            # printed
//!     async with asyncio.timeout(math.inf) as t:
//!         await asyncio.sleep(0.01)
//!     print('timeout(inf) expired:', t.expired())               # False
//!     aw = asyncio.wait_for(asyncio.sleep(0.05, 'late ok'), 0.2)
//!     time.sleep(0.3)
//!     t0 = time.monotonic()
//!     print(await aw, round(time.monotonic() - t0, 2))          # late ok 0.05
//!     try:
//!         async with asyncio.timeout(0.05) as outer:
//!             async with asyncio.timeout(0.05) as inner:
//!                 await asyncio.sleep(1)
//!     except TimeoutError:
//!         pass
//!     print('nested', outer.expired(), inner.expired())         # nested True True
//! asyncio.run(main())
//! ```

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use aio_scheduler::{get_running_loop, sleep};
use aio_task::{Error, create_task, run, timeout, wait_for};

#[test]
fn wait_for_counts_from_its_first_poll_not_from_when_it_was_built() {
    run(async {
        let built = wait_for(
            async {
                sleep(0.05).await?;
                Ok::<_, Error>("late ok")
            },
            0.2,
        );
        // Blocks the loop past the 0.2 s: asyncio's wait_for has not started yet either.
        std::thread::sleep(Duration::from_millis(300));
        let start = Instant::now();
        assert_eq!(built.await??, "late ok");
        assert!(start.elapsed() < Duration::from_secs(5));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn timeout_counts_from_its_call() {
    // asyncio.timeout(delay) computes loop.time() + delay when called.
    run(async {
        let scope = timeout(0.2);
        std::thread::sleep(Duration::from_millis(300));
        let out = scope.run(sleep(0.05)).await;
        assert!(matches!(out, Err(Error::Timeout)), "{out:?}");
        assert!(scope.expired());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn wait_for_around_a_ready_future_arms_no_timer() {
    run(async {
        let lp = get_running_loop()?;
        assert_eq!(lp.scheduled_timers(), 0);
        for i in 0..100 {
            assert_eq!(wait_for(async move { i }, 1.0).await?, i);
        }
        assert_eq!(
            lp.scheduled_timers(),
            0,
            "no timer inserted, not even cancelled"
        );
        // A future that waits does arm one.
        let pending = create_task(sleep(3600))?;
        let mut timed = std::pin::pin!(wait_for(&pending, 1.0));
        std::future::poll_fn(|cx| {
            assert!(timed.as_mut().poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        assert!(lp.scheduled_timers() >= 1);
        pending.cancel(None);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn infinite_delays_never_come() {
    run(async {
        let lp = get_running_loop()?;
        // sleep(inf) sleeps, with no timer.
        let out = wait_for(sleep(f64::INFINITY), 0.05).await;
        assert!(matches!(out, Err(Error::Timeout)), "{out:?}");
        let out = wait_for(sleep(Duration::MAX), 0.05).await;
        assert!(matches!(out, Err(Error::Timeout)), "{out:?}");
        // wait_for(x, inf) and timeout(inf) never expire.
        let quick = async {
            sleep(0.01).await?;
            Ok::<_, Error>("done")
        };
        assert_eq!(wait_for(quick, f64::INFINITY).await??, "done");
        assert_eq!(wait_for(async { 1 }, Duration::MAX).await?, 1);
        let scope = timeout(f64::INFINITY);
        assert!(scope.when().is_none());
        scope.run(sleep(0.01)).await??;
        assert!(!scope.expired());
        // call_later(inf): kept, never due.
        let handle = lp.call_later(f64::INFINITY, || panic!("never"))?;
        assert!(handle.when().is_none());
        sleep(0.02).await?;
        assert!(!handle.cancelled());
        handle.cancel();
        assert!(handle.cancelled());
        // NaN stays an error.
        assert!(matches!(
            wait_for(async { 1 }, f64::NAN).await,
            Err(Error::Runtime(aio_scheduler::Error::InvalidDelay(_)))
        ));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn negative_delays_stay_in_the_past_in_order() {
    run(async {
        let lp = get_running_loop()?;
        let out = Rc::new(RefCell::new(Vec::new()));
        let (b, a) = (out.clone(), out.clone());
        lp.call_later(-2, move || b.borrow_mut().push("b"))?;
        lp.call_later(-1, move || a.borrow_mut().push("a"))?;
        sleep(0.01).await?;
        assert_eq!(*out.borrow(), ["b", "a"]);

        let when = timeout(-11).when().expect("a deadline");
        let ago = lp.time() - when;
        assert!(
            ago >= Duration::from_secs(11) && ago < Duration::from_secs(12),
            "{ago:?}"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn nested_timeouts_that_both_expire_are_both_expired() {
    run(async {
        let outer = timeout(0.05);
        let inner = timeout(0.05);
        let i = inner.clone();
        let out = outer.run(async move { i.run(sleep(1)).await }).await;
        assert!(matches!(out, Err(Error::Timeout)), "{out:?}");
        assert!(outer.expired());
        assert!(inner.expired(), "the inner deadline passed too");

        // An inner scope whose deadline had not come is not expired.
        let outer = timeout(0.05);
        let inner = timeout(3600);
        let i = inner.clone();
        let out = outer.run(async move { i.run(sleep(1)).await }).await;
        assert!(matches!(out, Err(Error::Timeout)), "{out:?}");
        assert!(outer.expired() && !inner.expired());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
