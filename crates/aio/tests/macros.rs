//! `#[aio::test]` and `#[aio::main]` (on functions called from ordinary tests): each run on a
//! fresh loop with the options given, closed after; returns, `Err`s and panics reported as
//! ordinary tests and functions report them. What a failing `#[aio::main]` does to the
//! process is checked on real processes in `tests/macro_main.rs`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use aio::{Error, EventLoop, create_task, get_running_loop, sleep};

#[aio::test]
async fn a_test_runs_on_a_running_loop() {
    let lp = get_running_loop().expect("a running loop");
    assert!(lp.is_running());
    assert!(aio::current_task().is_some(), "the body runs as a task");
}

#[aio::test]
async fn a_test_may_return_a_result() -> Result<(), Error> {
    let start = Instant::now();
    let a = create_task(sleep(0.05))?;
    let b = create_task(sleep(0.05))?;
    a.await??;
    b.await??;
    let elapsed = start.elapsed().as_secs_f64();
    assert!((0.05..0.5).contains(&elapsed), "{elapsed}");
    Ok(())
}

#[aio::test]
async fn a_test_may_return_early() -> Result<(), String> {
    if get_running_loop().is_ok() {
        return Ok(());
    }
    Err("no loop".to_owned())
}

#[aio::test]
#[should_panic(expected = "boom from the test's task")]
async fn a_panic_in_the_task_fails_the_test_with_its_message() {
    sleep(0.001).await.unwrap();
    panic!("boom from the test's task");
}

#[aio::test(reactor = "uring")]
#[should_panic(expected = "boom on io_uring")]
async fn a_panic_fails_the_test_on_uring_too() {
    sleep(0.001).await.unwrap();
    panic!("boom on io_uring");
}

#[aio::test]
#[should_panic(expected = "the test's run failed: cancelled: stop")]
async fn a_cancelled_test_task_fails_the_test() {
    aio::current_task().unwrap().cancel(Some("stop"));
    sleep(1.0).await.unwrap();
}

#[aio::test(reactor = "polling")]
async fn reactor_polling() {
    assert_eq!(get_running_loop().unwrap().reactor().name(), "polling");
}

#[aio::test(reactor = "epoll")]
async fn reactor_epoll() {
    assert_eq!(get_running_loop().unwrap().reactor().name(), "epoll");
}

#[aio::test(reactor = "uring")]
async fn reactor_uring() {
    // io_uring, or the default (epoll) where the kernel refuses io_uring.
    let name = get_running_loop().unwrap().reactor().name();
    assert!(["io_uring", "epoll"].contains(&name), "{name}");
    if aio::aio_reactor_uring::UringReactor::new().is_ok() {
        assert_eq!(name, "io_uring");
    }
}

#[aio::test(debug = true)]
async fn debug_true() {
    assert!(get_running_loop().unwrap().get_debug());
}

#[aio::test(debug = false, reactor = "polling")]
async fn debug_false_and_a_reactor() {
    let lp = get_running_loop().unwrap();
    assert!(!lp.get_debug());
    assert_eq!(lp.reactor().name(), "polling");
}

#[aio::test(crate = "::aio")]
async fn crate_path() {
    sleep(0.001).await.unwrap();
}

mod renamed {
    // The facade under another name, as a crate that renames the dependency would have it.
    use aio as my_aio;

    #[my_aio::test(crate = "my_aio")]
    async fn crate_renamed() {
        my_aio::sleep(0.001).await.unwrap();
    }
}

// `#[aio::main]` on functions other than `main`, so ordinary tests can call them.

/// Leaves a task behind that would run for an hour; gives the loop and the task's drop flag.
#[aio::main]
async fn leaves_a_task_behind() -> Result<(EventLoop, Rc<Cell<bool>>), Error> {
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let dropped = Rc::new(Cell::new(false));
    let flag = Flag(dropped.clone());
    create_task(async move {
        let _flag = flag;
        sleep(3600).await
    })?;
    sleep(0).await?;
    Ok((get_running_loop()?, dropped))
}

#[test]
fn main_returns_the_value_and_closes_the_loop() {
    let (lp, dropped) = leaves_a_task_behind().unwrap();
    assert!(lp.is_closed(), "the runner is closed when main returns");
    assert!(dropped.get(), "the task left behind was cancelled");
}

#[aio::main]
async fn fails() -> Result<u8, String> {
    sleep(0.001).await.map_err(|e| e.to_string())?;
    Err("failed".to_owned())
}

#[test]
fn main_returns_err_as_written() {
    assert_eq!(fails(), Err("failed".to_owned()));
}

#[aio::main(debug = true, reactor = "polling")]
async fn options_on_main() -> (bool, &'static str) {
    let lp = get_running_loop().unwrap();
    (lp.get_debug(), lp.reactor().name())
}

#[test]
fn main_takes_options() {
    assert_eq!(options_on_main(), (true, "polling"));
}

#[aio::main]
async fn panics_in_main() {
    sleep(0.001).await.unwrap();
    panic!("main's task panicked: {}", 42);
}

#[test]
fn a_panic_in_main_goes_on_with_its_message() {
    let payload = std::panic::catch_unwind(panics_in_main).unwrap_err();
    let message = payload.downcast_ref::<String>().expect("a String payload");
    assert_eq!(message, "main's task panicked: 42");
}

#[test]
fn each_test_gets_a_fresh_loop() {
    #[aio::main]
    async fn the_loop() -> EventLoop {
        get_running_loop().unwrap()
    }
    let (a, b) = (the_loop(), the_loop());
    assert!(a.is_closed() && b.is_closed());
    assert!(!a.same(&b));
}

#[aio::test(debug)]
async fn debug_alone_means_true() {
    assert!(get_running_loop().unwrap().get_debug());
}

#[aio::test(virtual_time)]
async fn an_hour_long_timeout_tested_on_virtual_time() -> Result<(), aio::Error> {
    let real = std::time::Instant::now();
    let lp = aio::get_running_loop()?;
    let start = lp.time();
    let out = aio::wait_for(aio::sleep(7200), 3600).await;
    assert!(matches!(out, Err(aio::Error::Timeout)), "{out:?}");
    assert!(lp.time() - start >= std::time::Duration::from_secs(3600));
    assert!(real.elapsed() < std::time::Duration::from_secs(60));
    Ok(())
}

#[aio::test(virtual_time = false)]
async fn virtual_time_false_keeps_the_real_clock() {
    assert!(!aio::get_running_loop().unwrap().virtual_time());
}

#[aio::test(timeout = 5)]
async fn a_test_within_its_time_limit_passes() {
    aio::sleep(0.01).await.unwrap();
}

#[aio::test(timeout = 0.05)]
#[should_panic(expected = "the test ran over its time limit of 0.05 s")]
async fn a_test_over_its_time_limit_fails_instead_of_hanging() {
    aio::sleep(3600).await.unwrap();
}
