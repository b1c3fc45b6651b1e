//! `run` (asyncio.run): returns main's outcome, cancels leftover tasks (their destructors
//! run), refuses to nest. Closing a loop with live tasks drops them without hanging.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::Cell;
use std::rc::Rc;

use aio_scheduler::{EventLoop, sleep};
use aio_task::{Error, EventLoopExt, create_task, run};

struct OnDrop(Rc<Cell<u32>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn run_cancels_leftover_tasks() {
    let dropped = Rc::new(Cell::new(0));
    let d = dropped.clone();
    let out = run(async move {
        for _ in 0..3 {
            let guard = OnDrop(d.clone());
            create_task(async move {
                let _guard = guard;
                sleep(3600).await.unwrap();
            })?;
        }
        sleep(0).await?;
        Ok::<_, Error>("main done")
    })
    .unwrap()
    .unwrap();
    assert_eq!(out, "main done");
    assert_eq!(dropped.get(), 3);
}

#[test]
fn run_reports_a_panicking_main_as_an_error() {
    let err = run(async { panic!("main broke") }).unwrap_err();
    assert!(matches!(err, Error::Panicked(m) if &*m == "main broke"));
}

#[test]
fn run_inside_a_running_loop_is_an_error() {
    let lp = EventLoop::new().unwrap();
    let nested = lp.run_until_complete(async { run(async { 1 }) }).unwrap();
    assert!(matches!(
        nested,
        Err(Error::Runtime(aio_scheduler::Error::AnotherLoopRunning))
    ));
}

#[test]
fn closing_a_loop_drops_its_pending_tasks() {
    let dropped = Rc::new(Cell::new(0));
    let lp = EventLoop::new().unwrap();
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let guard = OnDrop(dropped.clone());
        tasks.push(
            lp.create_task(async move {
                let _guard = guard;
                sleep(3600).await.unwrap();
            })
            .unwrap(),
        );
    }
    lp.run_until_complete(sleep(0.001)).unwrap().unwrap();
    assert_eq!(dropped.get(), 0);
    lp.close().unwrap();
    assert_eq!(dropped.get(), 5);
    assert!(tasks.iter().all(|t| t.cancelled()));
}

#[test]
fn dropping_an_unclosed_loop_drops_its_tasks() {
    let dropped = Rc::new(Cell::new(0));
    {
        let lp = EventLoop::new().unwrap();
        let guard = OnDrop(dropped.clone());
        lp.create_task(async move {
            let _guard = guard;
            sleep(3600).await.unwrap();
        })
        .unwrap();
        lp.run_until_complete(sleep(0)).unwrap().unwrap();
    }
    assert_eq!(dropped.get(), 1);
}
