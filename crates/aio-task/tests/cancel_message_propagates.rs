//! `outer.cancel("msg")` while `outer` awaits something: asyncio's `Task.cancel` calls
//! `self._fut_waiter.cancel(msg=msg)`, so the awaited task or future is cancelled with the
//! same message — also through `gather`, whose `cancel(msg)` passes it to every child. In aio
//! the awaited side is cancelled when the awaiting future (`Join`, `Wait`, `Gather`) is
//! dropped with the cancelled task's future; the message travels with it.
//!
//! The CPython program these tests compare with (3.11, 3.12 and 3.13 print the same):
//!
//! ```python
//! import asyncio
//!
//! async def main():
//!     loop = asyncio.get_running_loop()
//!     # 1. outer -> inner task -> future
//!     fut = loop.create_future()
//!     async def inner_body():
//!         try:
//!             await fut
//!         except asyncio.CancelledError as e:
//!             print("inner saw", e.args)
//!             raise
//!     inner = asyncio.create_task(inner_body())
//!     async def outer_body():
//!         await inner
//!     outer = asyncio.create_task(outer_body())
//!     await asyncio.sleep(0)
//!     outer.cancel("msg")
//!     for t, name in [(outer, "outer"), (inner, "inner")]:
//!         try:
//!             await t
//!         except asyncio.CancelledError as e:
//!             print(name, "cancelled", t.cancelled(), e.args)
//!     print("fut cancelled", fut.cancelled())
//!     try:
//!         fut.result()
//!     except asyncio.CancelledError as e:
//!         print("fut result", e.args)
//!     # 2. outer -> future directly
//!     fut2 = loop.create_future()
//!     outer2 = asyncio.create_task(fut2_wait(fut2))
//!     await asyncio.sleep(0)
//!     outer2.cancel("m2")
//!     try:
//!         await outer2
//!     except asyncio.CancelledError as e:
//!         print("outer2", e.args)
//!     try:
//!         fut2.result()
//!     except asyncio.CancelledError as e:
//!         print("fut2", fut2.cancelled(), e.args)
//!     # 3. through gather
//!     fut3 = loop.create_future()
//!     async def child():
//!         try:
//!             await asyncio.sleep(3600)
//!         except asyncio.CancelledError as e:
//!             print("child saw", e.args)
//!             raise
//!     t3 = asyncio.create_task(child())
//!     outer3 = asyncio.create_task(gwait(fut3, t3))
//!     await asyncio.sleep(0)
//!     outer3.cancel("m3")
//!     try:
//!         await outer3
//!     except asyncio.CancelledError as e:
//!         print("outer3", e.args)
//!     for x, name in [(fut3, "fut3"), (t3, "t3")]:
//!         try:
//!             await x
//!         except asyncio.CancelledError as e:
//!             print(name, x.cancelled(), e.args)
//!
//! async def fut2_wait(f):
//!     await f
//!
//! async def gwait(*aws):
//!     await asyncio.gather(*aws)
//!
//! asyncio.run(main())
//! ```
//!
//! Output:
//!
//! ```text
//! inner saw ('msg',)
//! outer cancelled True ('msg',)
//! inner cancelled True ()
//! fut cancelled True
//! fut result ('msg',)
//! outer2 ('m2',)
//! fut2 True ('m2',)
//! child saw ('m3',)
//! outer3 ('m3',)
//! fut3 True ('m3',)
//! t3 True ('m3',)
//! ```
//!
//! (`inner cancelled True ()`: CPython hands the `CancelledError('msg')` the inner coroutine
//! raised to the *first* awaiter of `inner` — `outer`, whose wake-up consumed it — and
//! later awaiters get a fresh one without arguments. aio's inner task ends with the message
//! that reached its coroutine, `"msg"`, for whoever awaits it.)

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use aio_scheduler::sleep;
use aio_task::{Error, create_future, create_task, gather, run};

fn message(outcome: Result<impl Sized, Error>) -> Option<String> {
    match outcome {
        Err(Error::Cancelled(message)) => message.map(|m| m.to_string()),
        Err(other) => panic!("expected a cancellation, got {other:?}"),
        Ok(_) => panic!("expected a cancellation, got a value"),
    }
}

#[test]
fn cancelling_the_awaiting_task_passes_the_message_to_the_awaited_task_and_its_future() {
    run(async {
        let fut = create_future::<u8>()?;
        let inner = create_task(fut.clone().wait())?;
        let outer = create_task(inner.clone())?;
        sleep(0).await?; // both tasks park: outer in its `Join`, inner in its `Wait`
        assert!(outer.cancel("msg"));
        assert_eq!(message(outer.clone().await).as_deref(), Some("msg"));
        inner.erase().wait().await;
        assert!(inner.cancelled());
        assert_eq!(message(inner.clone().await).as_deref(), Some("msg"));
        assert!(fut.cancelled());
        assert_eq!(message(fut.result()).as_deref(), Some("msg"));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn cancelling_the_awaiting_task_passes_the_message_to_the_awaited_future() {
    run(async {
        let fut = create_future::<u8>()?;
        let outer = create_task(fut.clone().wait())?;
        sleep(0).await?;
        assert!(outer.cancel("m2"));
        assert_eq!(message(outer.clone().await).as_deref(), Some("m2"));
        assert!(fut.cancelled());
        assert_eq!(message(fut.result()).as_deref(), Some("m2"));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn cancelling_the_task_awaiting_a_gather_passes_the_message_to_every_child() {
    run(async {
        let fut = create_future::<()>()?;
        let child = create_task(async { sleep(3600).await.map_err(Error::from) })?;
        let (f, c) = (fut.clone(), child.clone());
        let outer = create_task(async move { aio_task::gather!(f, c).await })?;
        sleep(0).await?;
        assert!(outer.cancel("m3"));
        assert_eq!(message(outer.clone().await).as_deref(), Some("m3"));
        child.erase().wait().await;
        assert!(fut.cancelled() && child.cancelled());
        assert_eq!(message(fut.result()).as_deref(), Some("m3"));
        assert_eq!(message(child.clone().await).as_deref(), Some("m3"));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_vec_gather_passes_the_message_too() {
    run(async {
        let children = (0..3)
            .map(|_| create_task(sleep(3600)))
            .collect::<Result<Vec<_>, _>>()?;
        let outer = create_task(gather(&children))?;
        sleep(0).await?;
        assert!(outer.cancel("all of you"));
        let _ = outer.clone().await;
        for child in &children {
            child.erase().wait().await;
            assert_eq!(message(child.clone().await).as_deref(), Some("all of you"));
        }
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_cancel_without_message_still_cancels_without_one() {
    run(async {
        let fut = create_future::<u8>()?;
        let inner = create_task(fut.clone().wait())?;
        let outer = create_task(inner.clone())?;
        sleep(0).await?;
        outer.cancel(None);
        assert_eq!(message(outer.clone().await), None);
        inner.erase().wait().await;
        assert_eq!(message(inner.clone().await), None);
        assert_eq!(message(fut.result()), None);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// A cancelled task's message reaches only what its own future was awaiting: a `Join` dropped
/// later, by some other task that was not cancelled, cancels without a message.
#[test]
fn the_message_does_not_leak_to_later_drops() {
    run(async {
        let fut = create_future::<u8>()?;
        let outer = create_task(fut.clone().wait())?;
        sleep(0).await?;
        outer.cancel("only outer");
        let _ = outer.clone().await;
        // Now drop a `Join` mid-await from a task that ends normally.
        let victim = create_task(sleep(3600))?;
        let v = victim.clone();
        let dropper = create_task(async move {
            let join = v;
            let _ = aio_task::wait_for(join, 0.001).await;
        })?;
        dropper.await?;
        victim.erase().wait().await;
        assert_eq!(message(victim.clone().await), None);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
