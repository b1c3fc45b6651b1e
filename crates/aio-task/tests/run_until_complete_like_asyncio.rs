//! `run_until_complete` as CPython 3.12 / 3.13 runs it (issue 14.10): a future of another
//! loop is refused at once, and a task whose run was interrupted by `stop()` is left alone,
//! so a second `run_until_complete` finishes it. The CPython program and its output:
//!
//! ```python
//! import asyncio
//! l1 = asyncio.new_event_loop(); l2 = asyncio.new_event_loop()
//! f = l2.create_future()
//! l1.run_until_complete(f)
//! # ValueError: The future belongs to a different loop than the one specified as the loop argument
//! async def main():
//!     await f
//! l1.run_until_complete(main())
//! # RuntimeError: Task <...> got Future <Future pending> attached to a different loop
//!
//! lp = asyncio.new_event_loop()
//! async def work():
//!     await asyncio.sleep(0.05)
//!     return 'finished'
//! task = lp.create_task(work())
//! lp.call_soon(lp.stop)
//! lp.run_until_complete(task)   # RuntimeError: Event loop stopped before Future completed.
//! print('cancelling', task.cancelling(), 'done', task.done())   # cancelling 0 done False
//! print(lp.run_until_complete(task))                            # finished
//! ```

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::time::Duration;

use aio_scheduler::{EventLoop, sleep};
use aio_task::{Error, EventLoopExt, gather};

/// Runs `f` on a thread of its own and fails (instead of hanging) if it takes over 10 s.
fn bounded(f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(()) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("hung"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("the test panicked"),
    }
}

#[test]
fn a_pending_future_of_another_loop_is_refused_at_once() {
    bounded(|| {
        let l1 = EventLoop::new().unwrap();
        let l2 = EventLoop::new().unwrap();
        let foreign = l2.create_future::<u8>();
        let out = l1.run_until_complete(foreign.clone()).unwrap();
        assert!(matches!(out, Err(Error::InvalidState(_))), "{out:?}");
        assert!(!foreign.done(), "the other loop's future is left alone");

        let task = l2.create_task(sleep(3600)).unwrap();
        let out = l1.run_until_complete(task.clone()).unwrap();
        assert!(matches!(out, Err(Error::InvalidState(_))), "{out:?}");
        assert!(!task.done() && !task.cancelled());

        // Awaited inside a task of l1: the same error, at once.
        let f2 = foreign.clone();
        let out = l1
            .run_until_complete(l1.create_task(async move { f2.await }).unwrap())
            .unwrap();
        assert!(matches!(out, Ok(Err(Error::InvalidState(_)))), "{out:?}");

        // A finished one gives its result, as `await` on a done future does in asyncio.
        foreign.set_result(7).unwrap();
        assert_eq!(l1.run_until_complete(foreign).unwrap().unwrap(), 7);
    });
}

#[test]
fn a_task_interrupted_by_stop_is_left_alone_and_a_second_run_finishes_it() {
    bounded(|| {
        let lp = EventLoop::new().unwrap();
        let task = lp
            .create_task(async {
                sleep(0.05).await?;
                Ok::<_, aio_scheduler::Error>("finished")
            })
            .unwrap();
        let l = lp.clone();
        lp.call_soon(move || l.stop()).unwrap();
        let out = lp.run_until_complete(task.clone());
        assert!(
            matches!(out, Err(aio_scheduler::Error::StoppedBeforeComplete)),
            "{out:?}"
        );
        assert_eq!(task.cancelling(), 0);
        assert!(!task.done());
        assert_eq!(
            lp.run_until_complete(task).unwrap().unwrap().unwrap(),
            "finished"
        );
    });
}

#[test]
fn a_gather_interrupted_by_stop_leaves_its_children_running() {
    bounded(|| {
        let lp = EventLoop::new().unwrap();
        let child = lp
            .create_task(async {
                sleep(0.05).await?;
                Ok::<_, aio_scheduler::Error>(1)
            })
            .unwrap();
        let l = lp.clone();
        lp.call_soon(move || l.stop()).unwrap();
        let c = child.clone();
        let out = lp.run_until_complete(async move { gather([&c]).await });
        assert!(matches!(
            out,
            Err(aio_scheduler::Error::StoppedBeforeComplete)
        ));
        assert_eq!(child.cancelling(), 0);
        assert_eq!(lp.run_until_complete(child).unwrap().unwrap().unwrap(), 1);
    });
}
