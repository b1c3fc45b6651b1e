//! asyncio's settable `Future`: set_result, set_exception, cancel, InvalidState on a second
//! set, awaiting from tasks, and the loop it belongs to.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use aio_scheduler::{EventLoop, sleep};
use aio_task::{Error, EventLoopExt, create_future, create_task, run};

#[test]
fn set_result_wakes_the_awaiting_task() {
    let out = run(async {
        let fut = create_future::<&str>()?;
        let setter = fut.clone();
        create_task(async move {
            sleep(0.01).await.unwrap();
            setter.set_result("ready").unwrap();
        })?;
        fut.await
    })
    .unwrap()
    .unwrap();
    assert_eq!(out, "ready");
}

#[test]
fn setting_twice_is_invalid_state() {
    let lp = EventLoop::new().unwrap();
    let fut = lp.create_future::<u8>();
    fut.set_result(1).unwrap();
    assert!(matches!(fut.set_result(2), Err(Error::InvalidState(_))));
    assert!(matches!(
        fut.set_exception(std::io::Error::other("x")),
        Err(Error::InvalidState(_))
    ));
    assert!(!fut.cancel(None));
    assert_eq!(fut.result().unwrap(), 1);
}

#[test]
fn set_exception_is_what_awaiters_get() {
    let lp = EventLoop::new().unwrap();
    let fut = lp.create_future::<u8>();
    fut.set_exception(std::io::Error::other("bad input"))
        .unwrap();
    let err = lp.run_until_complete(fut.clone()).unwrap().unwrap_err();
    assert!(matches!(err, Error::Exception(_)));
    assert_eq!(err.to_string(), "bad input");
    assert!(fut.done() && !fut.cancelled());
}

#[test]
fn cancel_completes_with_cancelled() {
    let lp = EventLoop::new().unwrap();
    let fut = lp.create_future::<u8>();
    assert!(fut.cancel("bye"));
    assert!(fut.cancelled());
    let err = lp.run_until_complete(fut).unwrap().unwrap_err();
    assert_eq!(err.cancel_message(), Some("bye"));
}

#[test]
fn create_future_needs_a_running_loop() {
    assert!(create_future::<()>().is_err());
}
