//! `Runner`, asyncio 3.11's `asyncio.Runner` (issue 16.3). CPython 3.12 / 3.13 print `1`,
//! `bg done`, `2`, `True` for:
//!
//! ```python
//! import asyncio
//! async def bg():
//!     await asyncio.sleep(0.05); print('bg done')
//! async def first():
//!     asyncio.get_running_loop().create_task(bg())
//!     return 1
//! async def second():
//!     await asyncio.sleep(0.1); return 2
//! with asyncio.Runner() as r:
//!     print(r.run(first()))
//!     print(r.run(second()))   # bg, left behind by the first run, finishes during this one
//!     lp = r.get_loop()
//! print(lp.is_closed())        # True
//! ```

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use aio_scheduler::{EventLoop, sleep};
use aio_task::{Error, Runner, create_task, run};

#[test]
fn tasks_left_by_one_run_go_on_in_the_next_and_close_ends_the_loop() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let runner = Runner::new();
    let l = log.clone();
    let first = runner
        .run(async move {
            create_task(async move {
                sleep(0.05).await.ok();
                l.borrow_mut().push("bg done");
            })?;
            Ok::<_, Error>(1)
        })
        .unwrap()
        .unwrap();
    log.borrow_mut().push("first returned");
    let second = runner
        .run(async {
            sleep(0.1).await?;
            Ok::<_, Error>(2)
        })
        .unwrap()
        .unwrap();
    assert_eq!((first, second), (1, 2));
    assert_eq!(*log.borrow(), ["first returned", "bg done"]);
    let lp = runner.get_loop().unwrap();
    drop(runner); // as leaving the `with` block
    assert!(lp.is_closed());
}

#[test]
fn close_cancels_what_is_left_and_a_closed_runner_refuses_to_run() {
    let runner = Runner::new();
    let cancelled = Rc::new(Cell::new(false));
    let c = cancelled.clone();
    runner
        .run(async move {
            create_task(async move {
                struct OnDrop(Rc<Cell<bool>>);
                impl Drop for OnDrop {
                    fn drop(&mut self) {
                        self.0.set(true);
                    }
                }
                let _guard = OnDrop(c);
                sleep(3600).await.ok();
            })
            .map(drop)
        })
        .unwrap()
        .unwrap();
    assert!(!cancelled.get());
    runner.close();
    assert!(cancelled.get(), "the leftover task was cancelled by close");
    runner.close(); // again: nothing
    assert!(matches!(
        runner.run(async {}),
        Err(Error::Runtime(aio_scheduler::Error::Closed))
    ));
    assert!(runner.get_loop().is_err());
}

#[test]
fn a_runner_never_used_can_be_closed_and_still_run() {
    // asyncio: close() on a runner that never made its loop does nothing.
    let runner = Runner::new();
    runner.close();
    assert_eq!(runner.run(async { 5 }).unwrap(), 5);
}

#[test]
fn run_inside_a_running_loop_is_refused() {
    let out = run(async { Runner::new().run(async {}).map(drop) }).unwrap();
    assert!(matches!(
        out,
        Err(Error::Runtime(aio_scheduler::Error::AnotherLoopRunning))
    ));
}

#[test]
fn debug_and_the_loop_factory_are_used() {
    let made = Rc::new(Cell::new(0));
    let m = made.clone();
    let runner = Runner::new().debug(true).loop_factory(move || {
        m.set(m.get() + 1);
        EventLoop::new()
    });
    let lp = runner.get_loop().unwrap();
    assert!(lp.get_debug());
    runner.run(async {}).unwrap();
    runner.run(async {}).unwrap();
    assert_eq!(made.get(), 1, "one loop for every run");
    assert!(lp.same(&runner.get_loop().unwrap()));
}

#[test]
fn a_failing_main_is_reported_and_the_runner_stays_usable() {
    let runner = Runner::new();
    let out = runner.run(async { panic!("boom") });
    assert!(matches!(out, Err(Error::Panicked(_))), "{out:?}");
    assert_eq!(runner.run(async { 3 }).unwrap(), 3);
}
