//! A task awaiting itself: asyncio raises `RuntimeError('Task cannot await on itself: ...')`
//! into the task at its next step (tasks.py, `__step_run_and_handle_result`: `result is
//! self` → `call_soon(self.__step, RuntimeError(...))`), one loop iteration later; aio gives
//! `Error::InvalidState("Task cannot await on itself")` after the same one iteration,
//! instead of waiting forever.
//!
//! The CPython program this compares with (3.11, 3.12 and 3.13 print the same):
//!
//! ```python
//! import asyncio
//!
//! async def main():
//!     log = []
//!     async def ticker():
//!         for i in range(4):
//!             log.append(f"tick {i}")
//!             await asyncio.sleep(0)
//!     async def selfish():
//!         me = asyncio.current_task()
//!         log.append("awaiting myself")
//!         try:
//!             await me
//!         except RuntimeError as e:
//!             log.append(f"RuntimeError: {str(e).split(':')[0]}")
//!         return "survived"
//!     t = asyncio.create_task(ticker())
//!     s = asyncio.create_task(selfish())
//!     print(await s, t.done())
//!     await t
//!     print(log)
//!
//! asyncio.run(main())
//! ```
//!
//! Output:
//!
//! ```text
//! survived False
//! ['tick 0', 'awaiting myself', 'tick 1', 'RuntimeError: Task cannot await on itself', 'tick 2', 'tick 3']
//! ```

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;

use aio_scheduler::sleep;
use aio_task::{Error, Task, create_task, run, wait_for};

#[test]
fn awaiting_itself_is_an_error_one_iteration_later() {
    let log = Rc::new(RefCell::new(Vec::<String>::new()));
    let l = log.clone();
    run(async move {
        let ticker_log = l.clone();
        let ticker = create_task(async move {
            for i in 0..4 {
                ticker_log.borrow_mut().push(format!("tick {i}"));
                sleep(0).await.unwrap();
            }
        })?;
        let me: Rc<OnceCell<Task<&'static str>>> = Rc::new(OnceCell::new());
        let (m, selfish_log) = (me.clone(), l.clone());
        let selfish = create_task(async move {
            selfish_log.borrow_mut().push("awaiting myself".to_owned());
            let myself = m.get().expect("set right after create_task").clone();
            match myself.await {
                Err(Error::InvalidState(what)) => {
                    selfish_log
                        .borrow_mut()
                        .push(format!("InvalidState: {what}"));
                }
                other => panic!("expected InvalidState, got {other:?}"),
            }
            "survived"
        })?;
        me.set(selfish.clone()).unwrap();
        // Bounded: without the check the task waits for itself forever.
        let survived = wait_for(&selfish, 5.0).await??;
        assert_eq!(survived, "survived");
        assert!(!ticker.done());
        ticker.await?;
        assert!(!selfish.cancelled(), "the failed await cancelled nothing");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "tick 0",
            "awaiting myself",
            "tick 1",
            "InvalidState: Task cannot await on itself",
            "tick 2",
            "tick 3"
        ]
    );
}

#[test]
fn awaiting_itself_through_a_clone_is_the_same_error() {
    run(async {
        let me: Rc<OnceCell<Task<bool>>> = Rc::new(OnceCell::new());
        let m = me.clone();
        let task = create_task(async move {
            let join = m.get().unwrap().clone();
            matches!(join.await, Err(Error::InvalidState(_)))
        })?;
        me.set(task.clone()).unwrap();
        assert!(wait_for(task, 5.0).await??);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Awaiting another task is unaffected, even when it is awaited from inside the task that
/// later becomes current again.
#[test]
fn awaiting_another_task_still_waits_for_it() {
    run(async {
        let other = create_task(async {
            sleep(0.01).await.unwrap();
            5
        })?;
        let o = other.clone();
        let waiter = create_task(o)?;
        assert_eq!(wait_for(waiter, 5.0).await???, 5);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
