//! Done callbacks are never called synchronously: completion schedules them with
//! `call_soon`, in registration order. They can be removed; adding one to a finished task
//! schedules it soon.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;
use std::rc::Rc;

use aio_scheduler::sleep;
use aio_task::{Error, EventLoopExt, create_task, run};

#[test]
fn callbacks_run_in_registration_order_in_a_later_iteration() {
    let log = Rc::new(RefCell::new(Vec::<String>::new()));
    let l = log.clone();
    run(async move {
        let task = create_task(async { 7 })?;
        for i in 0..3 {
            let l = l.clone();
            task.add_done_callback(move |t| {
                l.borrow_mut()
                    .push(format!("cb{i}={}", t.result().unwrap()))
            });
        }
        let value = task.clone().await?;
        l.borrow_mut().push(format!("awaited={value}"));
        sleep(0).await?;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    // asyncio wakes the awaiting task through a done callback registered when it started
    // awaiting, so the three callbacks registered earlier run first (and still see the
    // value), then the awaiter resumes.
    assert_eq!(*log.borrow(), ["cb0=7", "cb1=7", "cb2=7", "awaited=7"]);
}

#[test]
fn removed_callbacks_do_not_run_and_late_ones_still_do() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    run(async move {
        let task = create_task(async {})?;
        let l1 = l.clone();
        let id = task.add_done_callback(move |_| l1.borrow_mut().push("removed"));
        assert!(task.remove_done_callback(id));
        task.clone().await?;
        let l2 = l.clone();
        task.add_done_callback(move |_| l2.borrow_mut().push("added after done"));
        assert!(
            l.borrow().is_empty(),
            "not synchronous even when already done"
        );
        sleep(0).await?;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(*log.borrow(), ["added after done"]);
}

#[test]
fn future_callbacks_follow_the_same_rules() {
    let lp = aio_scheduler::EventLoop::new().unwrap();
    let fut = lp.create_future::<u8>();
    let log = Rc::new(RefCell::new(Vec::new()));
    for i in 0..2 {
        let l = log.clone();
        fut.add_done_callback(move |f| l.borrow_mut().push((i, f.result().unwrap())));
    }
    fut.set_result(9).unwrap();
    assert!(log.borrow().is_empty());
    lp.run_until_complete(sleep(0)).unwrap().unwrap();
    assert_eq!(*log.borrow(), [(0, 9), (1, 9)]);
}
