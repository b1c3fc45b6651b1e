//! `Gather::cancel` and the same task passed twice, compared with CPython 3.11 (a Rust value
//! moves out once, so a duplicate in `gather` is the one documented difference):
//!
//! ```text
//! gather dup: [1, 1]
//! cancel: True
//! gather raised CancelledError
//! a: True False q b: True
//! cancel again: False
//! as_completed dup: [1]
//! ```

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use aio_scheduler::sleep;
use aio_task::{Error, as_completed, create_task, gather, run};

#[test]
fn cancel_cancels_the_pending_children_and_the_gather() {
    run(async {
        let quick = create_task(async { Ok::<_, Error>("q") })?;
        let slow = create_task(async {
            sleep(3600).await?;
            Ok::<_, Error>("never")
        })?;
        let mut gathered = gather([&quick, &slow]);
        sleep(0).await?;
        assert!(gathered.cancel(None), "a pending child was cancelled");
        let outcome = (&mut gathered).await;
        assert!(matches!(outcome, Err(Error::Cancelled(_))), "{outcome:?}");
        assert!(quick.done() && !quick.cancelled());
        assert_eq!(quick.result()??, "q");
        assert!(slow.cancelled());
        assert!(!gathered.cancel(None), "nothing left to cancel");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn cancel_with_return_exceptions_ends_the_gather_cancelled() {
    // CPython 3.11: `g = gather(d, t, return_exceptions=True); g.cancel("enough")`, then
    // `await g` raises CancelledError('enough'); `d` keeps its result, `t` is cancelled.
    // (Regression: the cancelled gather returned the children's outcomes.)
    run(async {
        let quick = create_task(async { 1 })?;
        let slow = create_task(async {
            let _ = sleep(3600).await;
            2
        })?;
        let gathered = gather([&quick, &slow]).return_exceptions();
        sleep(0).await?;
        assert!(gathered.cancel("stop"));
        let outcome = gathered.await;
        assert!(
            matches!(&outcome, Err(Error::Cancelled(Some(m))) if m.as_ref() == "stop"),
            "{outcome:?}"
        );
        assert_eq!(quick.result()?, 1);
        assert!(slow.cancelled());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// asyncio gives `[1, 1]`: Python shares the result object. A Rust task's value moves out
/// once, so the second place gets a clear `InvalidState` instead (never a hang or a panic);
/// the first place still gets the value, and `return_exceptions` shows both.
#[test]
fn the_same_task_twice_moves_its_value_out_once() {
    run(async {
        let task = create_task(async {
            sleep(0.01).await?;
            Ok::<_, Error>(1)
        })?;
        let outcomes = gather([&task, &task]).return_exceptions().await?;
        assert_eq!(*outcomes[0].as_ref().unwrap().as_ref().unwrap(), 1);
        assert!(
            matches!(&outcomes[1], Err(Error::InvalidState(m)) if m.contains("already taken")),
            "{:?}",
            outcomes[1]
        );
        let values = gather([&task, &task]).await;
        assert!(matches!(values, Err(Error::InvalidState(_))), "{values:?}");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn as_completed_yields_a_task_given_twice_once() {
    run(async {
        let task = create_task(async {
            sleep(0.01).await?;
            Ok::<_, Error>(1)
        })?;
        let mut results = Vec::new();
        for next in as_completed([&task, &task]) {
            results.push(next.await??);
        }
        assert_eq!(results, [1]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
