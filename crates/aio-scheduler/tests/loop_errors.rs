//! Misuse of a loop gives a clear error — never a hang or a panic: nested runs, closed
//! loops, closing a running loop, no running loop.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;
use std::rc::Rc;

use aio_scheduler::{Error, EventLoop, get_running_loop, sleep};

#[test]
fn running_a_running_loop_is_an_error() {
    let lp = EventLoop::new().unwrap();
    let lp2 = lp.clone();
    let inner = lp
        .run_until_complete(async move { lp2.run_until_complete(async {}).map(|_| ()) })
        .unwrap();
    assert!(matches!(inner, Err(Error::AlreadyRunning)), "{inner:?}");

    let lp3 = lp.clone();
    let inner = lp
        .run_until_complete(async move { lp3.run_forever() })
        .unwrap();
    assert!(matches!(inner, Err(Error::AlreadyRunning)), "{inner:?}");
}

#[test]
fn running_another_loop_inside_a_running_loop_is_an_error() {
    let outer = EventLoop::new().unwrap();
    let other = EventLoop::new().unwrap();
    let result = outer
        .run_until_complete(async move { other.run_until_complete(async { 1 }) })
        .unwrap();
    assert!(
        matches!(result, Err(Error::AnotherLoopRunning)),
        "{result:?}"
    );
    assert_eq!(
        result.unwrap_err().to_string(),
        "Cannot run the event loop while another loop is running"
    );
}

#[test]
fn closed_loop_refuses_everything() {
    let lp = EventLoop::new().unwrap();
    lp.close().unwrap();
    assert!(lp.is_closed());
    assert!(matches!(lp.call_soon(|| {}), Err(Error::Closed)));
    assert!(matches!(lp.call_later(1.0, || {}), Err(Error::Closed)));
    assert!(matches!(lp.call_at(lp.time(), || {}), Err(Error::Closed)));
    assert!(matches!(lp.call_soon_threadsafe(|| {}), Err(Error::Closed)));
    assert!(matches!(lp.handle().stop(), Err(Error::Closed)));
    assert!(matches!(lp.run_forever(), Err(Error::Closed)));
    assert!(matches!(
        lp.run_until_complete(async {}),
        Err(Error::Closed)
    ));
    assert_eq!(Error::Closed.to_string(), "Event loop is closed");
    lp.close().unwrap(); // closing twice is fine
}

#[test]
fn closing_a_running_loop_is_an_error() {
    let lp = EventLoop::new().unwrap();
    let lp2 = lp.clone();
    let result = lp.run_until_complete(async move { lp2.close() }).unwrap();
    assert!(matches!(result, Err(Error::CloseRunning)));
    assert!(!lp.is_closed());
    lp.close().unwrap();
}

#[test]
fn get_running_loop_outside_a_loop_is_an_error() {
    assert!(matches!(get_running_loop(), Err(Error::NoRunningLoop)));
    let lp = EventLoop::new().unwrap();
    let inside = lp.run_until_complete(async { get_running_loop().is_ok() });
    assert!(inside.unwrap());
    assert!(get_running_loop().is_err(), "cleared after the run");
}

#[test]
fn stop_before_the_future_completes_is_reported() {
    let lp = EventLoop::new().unwrap();
    let lp2 = lp.clone();
    lp.call_later(0.01, move || lp2.stop()).unwrap();
    let result = lp.run_until_complete(sleep(3600));
    assert!(
        matches!(result, Err(Error::StoppedBeforeComplete)),
        "{result:?}"
    );
    // The loop is still usable afterwards.
    assert_eq!(lp.run_until_complete(async { 3 }).unwrap(), 3);
}

#[test]
fn a_panicking_callback_goes_to_the_exception_handler_and_the_loop_continues() {
    let lp = EventLoop::new().unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    lp.set_exception_handler(move |_, ctx| {
        s.borrow_mut()
            .push(format!("{}: {}", ctx.message, ctx.error.as_ref().unwrap()));
    });
    lp.call_soon(|| panic!("boom")).unwrap();
    let after = Rc::new(RefCell::new(false));
    let a = after.clone();
    lp.call_soon(move || *a.borrow_mut() = true).unwrap();
    lp.run_until_complete(sleep(0)).unwrap().unwrap();
    assert_eq!(*seen.borrow(), ["Exception in callback: panicked: boom"]);
    assert!(
        *after.borrow(),
        "the callback after the panicking one still ran"
    );
}

#[test]
fn a_panicking_exception_handler_does_not_take_the_loop_down() {
    let lp = EventLoop::new().unwrap();
    lp.set_exception_handler(|_, _| panic!("handler is broken"));
    lp.call_soon(|| panic!("boom")).unwrap();
    assert_eq!(lp.run_until_complete(async { 5 }).unwrap(), 5);
}

#[test]
fn the_main_future_panicking_leaves_the_loop_usable() {
    let lp = EventLoop::new().unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = lp.run_until_complete(async { panic!("main failed") });
    }));
    assert!(caught.is_err());
    assert!(!lp.is_running());
    assert!(get_running_loop().is_err());
    assert_eq!(lp.run_until_complete(async { 9 }).unwrap(), 9);
}

#[test]
fn dropping_the_owner_closes_the_loop_and_clones_see_it_closed() {
    let lp = EventLoop::new().unwrap();
    let clone = lp.clone();
    let dropped = Rc::new(RefCell::new(false));
    let d = dropped.clone();
    struct SetOnDrop(Rc<RefCell<bool>>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            *self.0.borrow_mut() = true;
        }
    }
    let guard = SetOnDrop(d);
    lp.call_later(3600.0, move || drop(guard)).unwrap();
    drop(clone.clone()); // a clone's drop changes nothing
    assert!(!clone.is_closed());
    drop(lp);
    assert!(clone.is_closed());
    assert!(
        *dropped.borrow(),
        "the pending callback was dropped by the close"
    );
    assert!(matches!(clone.call_soon(|| {}), Err(Error::Closed)));
    assert!(matches!(
        clone.run_until_complete(async {}),
        Err(Error::Closed)
    ));
}

#[test]
fn the_owner_dropped_during_a_run_closes_the_loop_when_the_run_ends() {
    let lp = EventLoop::new().unwrap();
    let clone = lp.clone();
    let out = clone
        .run_until_complete(async move {
            drop(lp);
            // Still running: the loop is closed only once this run is over.
            let running = get_running_loop().unwrap();
            assert!(!running.is_closed());
            sleep(0).await.unwrap();
            7
        })
        .unwrap();
    assert_eq!(out, 7);
    assert!(clone.is_closed());
}

#[test]
fn an_owner_dropped_in_a_run_that_panics_is_closed_when_the_handle_that_ran_it_goes() {
    let lp = EventLoop::new().unwrap();
    let runner = lp.clone();
    let held = lp.clone();
    runner.call_later(3600.0, move || held.stop()).unwrap(); // the loop holds itself
    let weak = runner.downgrade();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runner.run_until_complete(async move {
            drop(lp);
            panic!("the main future fails");
        })
    }));
    assert!(outcome.is_err());
    assert!(!runner.is_running());
    drop(runner);
    assert!(
        weak.upgrade().is_none(),
        "closed once the last outside handle went, though the run panicked"
    );
}
