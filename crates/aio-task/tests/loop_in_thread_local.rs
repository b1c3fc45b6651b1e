//! A loop kept in a thread-local (asyncio's per-thread loop, as a policy keeps it) is dropped
//! during thread exit, after aio's own thread-locals may be gone. Closing it then must not
//! touch them: this test aborted the process ("panic in a destructor during cleanup") when the
//! cancel-message slot was read with `with_borrow` instead of `try_with`.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;

use aio_scheduler::{EventLoop, sleep};
use aio_task::EventLoopExt;

thread_local! {
    static LOOP: RefCell<Option<EventLoop>> = const { RefCell::new(None) };
}

#[test]
fn a_loop_dropped_at_thread_exit_closes_quietly() {
    let worker = std::thread::spawn(|| {
        // Touched first, so its destructor is registered first and runs last: after the
        // thread-locals aio registers below.
        LOOP.with(|slot| assert!(slot.borrow().is_none()));
        let lp = EventLoop::new().expect("loop");
        // A task cancelled with a message: the cancel-message slot gets initialised (it is
        // registered after `LOOP`, so it is destroyed first at thread exit).
        let doomed = lp.create_task(sleep(3600)).expect("task");
        doomed.cancel(Some("bye"));
        lp.run_until_complete(sleep(0.01))
            .expect("run")
            .expect("sleep");
        assert!(doomed.cancelled());
        // A task left awaiting a pending future and a pending task: closing the loop cancels
        // them, and their awaits in progress ask for the cancel message.
        let pending = lp.create_future::<u8>();
        let waiter = lp.create_task(async move { pending.await }).expect("task");
        let sleeper = lp.create_task(sleep(3600)).expect("task");
        lp.create_task(sleeper).expect("task"); // a task whose future is the awaited task
        lp.run_until_complete(sleep(0.01))
            .expect("run")
            .expect("sleep");
        assert!(!waiter.done());
        LOOP.with(|slot| *slot.borrow_mut() = Some(lp));
    });
    worker.join().expect("the thread exits without a panic");
}
