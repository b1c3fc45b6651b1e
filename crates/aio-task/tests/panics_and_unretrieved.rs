//! A panic inside a task becomes that task's error and the loop keeps running; an error
//! nobody retrieved is reported through the loop's exception handler, once, with the task's
//! name; a retrieved one is not.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;
use std::rc::Rc;

use aio_scheduler::{EventLoop, sleep};
use aio_task::{Error, EventLoopExt, create_task};

fn capture(lp: &EventLoop) -> Rc<RefCell<Vec<String>>> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    lp.set_exception_handler(move |_, ctx| s.borrow_mut().push(ctx.to_string()));
    seen
}

#[test]
fn a_panic_becomes_the_tasks_error_and_the_loop_continues() {
    let lp = EventLoop::new().unwrap();
    let seen = capture(&lp);
    let out = lp
        .run_until_complete(async {
            let bad = create_task(async { panic!("boom") })?;
            let good = create_task(async {
                sleep(0.005).await.unwrap();
                "fine"
            })?;
            let err = bad.await.unwrap_err();
            assert!(matches!(&err, Error::Panicked(m) if &**m == "boom"));
            good.await
        })
        .unwrap()
        .unwrap();
    assert_eq!(out, "fine");
    assert!(
        seen.borrow().is_empty(),
        "retrieved errors are not reported"
    );
}

#[test]
fn an_unretrieved_panic_is_reported_once_with_the_task_name() {
    let lp = EventLoop::new().unwrap();
    let seen = capture(&lp);
    lp.run_until_complete(async {
        let task = create_task(async { panic!("nobody looks") }).unwrap();
        task.set_name("lonely");
        drop(task);
        sleep(0.005).await.unwrap();
    })
    .unwrap();
    assert_eq!(
        *seen.borrow(),
        ["Task exception was never retrieved (task lonely): panicked: nobody looks"]
    );
}

#[test]
fn cancellation_is_never_reported() {
    let lp = EventLoop::new().unwrap();
    let seen = capture(&lp);
    lp.run_until_complete(async {
        let task = create_task(sleep(3600)).unwrap();
        task.cancel(None);
        drop(task);
        sleep(0.005).await.unwrap();
    })
    .unwrap();
    assert!(seen.borrow().is_empty());
}

#[test]
fn an_unretrieved_future_exception_is_reported() {
    let lp = EventLoop::new().unwrap();
    let seen = capture(&lp);
    let fut = lp.create_future::<()>();
    fut.set_exception(std::io::Error::other("lost")).unwrap();
    drop(fut);
    assert_eq!(
        *seen.borrow(),
        ["Future exception was never retrieved: lost"]
    );
}

#[test]
fn reading_an_error_through_exception_counts_as_retrieving_it() {
    // asyncio: calling `exception()` clears the "never retrieved" report, for futures and
    // tasks alike.
    let lp = EventLoop::new().unwrap();
    let seen = capture(&lp);
    lp.run_until_complete(async {
        let task = create_task(async { panic!("looked at") }).unwrap();
        let future = aio_task::create_future::<()>().unwrap();
        future
            .set_exception(std::io::Error::other("also looked at"))
            .unwrap();
        sleep(0).await.unwrap();
        assert!(matches!(task.exception(), Ok(Some(Error::Panicked(_)))));
        assert_eq!(
            future.exception().unwrap().unwrap().to_string(),
            "also looked at"
        );
        drop((task, future));
        sleep(0.005).await.unwrap();
    })
    .unwrap();
    assert!(seen.borrow().is_empty(), "{:?}", seen.borrow());
}
