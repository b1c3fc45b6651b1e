//! One iteration runs exactly the callbacks that were ready when it started; callbacks they
//! schedule run in the next iteration; `stop()` ends the loop after the current iteration.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;
use std::rc::Rc;

use aio_scheduler::EventLoop;

type Log = Rc<RefCell<Vec<String>>>;

fn push(log: &Log, what: impl Into<String>) {
    log.borrow_mut().push(what.into());
}

#[test]
fn callbacks_scheduled_during_an_iteration_wait_for_the_next() {
    let lp = EventLoop::new().unwrap();
    let log: Log = Rc::default();
    {
        let (l, lp2) = (log.clone(), lp.clone());
        lp.call_soon(move || {
            push(&l, "a");
            let l2 = l.clone();
            lp2.call_soon(move || push(&l2, "a-child")).unwrap();
        })
        .unwrap();
    }
    {
        let (l, lp2) = (log.clone(), lp.clone());
        // Stops the loop at the end of the first iteration: "a-child" must not have run.
        lp.call_soon(move || {
            push(&l, "stopper");
            lp2.stop();
        })
        .unwrap();
    }
    lp.run_forever().unwrap();
    assert_eq!(*log.borrow(), ["a", "stopper"]);

    // The child is still queued and runs in the next iteration.
    let l = log.clone();
    let lp2 = lp.clone();
    lp.call_soon(move || {
        push(&l, "stop2");
        lp2.stop();
    })
    .unwrap();
    lp.run_forever().unwrap();
    assert_eq!(*log.borrow(), ["a", "stopper", "a-child", "stop2"]);
}

#[test]
fn stop_before_run_forever_runs_exactly_one_iteration() {
    let lp = EventLoop::new().unwrap();
    let log: Log = Rc::default();
    let (l, lp2) = (log.clone(), lp.clone());
    lp.call_soon(move || {
        push(&l, "first");
        let l2 = l.clone();
        lp2.call_soon(move || push(&l2, "second")).unwrap();
    })
    .unwrap();
    lp.stop();
    lp.run_forever().unwrap();
    assert_eq!(*log.borrow(), ["first"]);
    assert!(!lp.is_running());
}

#[test]
#[cfg_attr(
    miri,
    ignore = "wall-clock: under miri the calls between the deadlines take longer than the 10 ms that separate them"
)]
fn callbacks_run_in_fifo_order_and_timers_in_deadline_order() {
    let lp = EventLoop::new().unwrap();
    let log: Log = Rc::default();
    for (delay, name) in [(0.03, "t30"), (0.01, "t10"), (0.02, "t20")] {
        let l = log.clone();
        lp.call_later(delay, move || push(&l, name)).unwrap();
    }
    for name in ["s1", "s2", "s3"] {
        let l = log.clone();
        lp.call_soon(move || push(&l, name)).unwrap();
    }
    lp.run_until_complete(aio_scheduler::sleep(0.05))
        .unwrap()
        .unwrap();
    assert_eq!(*log.borrow(), ["s1", "s2", "s3", "t10", "t20", "t30"]);
}

#[test]
fn equal_deadlines_fire_in_scheduling_order() {
    let lp = EventLoop::new().unwrap();
    let log: Log = Rc::default();
    let when = lp.time() + std::time::Duration::from_millis(5);
    for i in 0..5 {
        let l = log.clone();
        lp.call_at(when, move || push(&l, i.to_string())).unwrap();
    }
    lp.run_until_complete(aio_scheduler::sleep(0.02))
        .unwrap()
        .unwrap();
    assert_eq!(*log.borrow(), ["0", "1", "2", "3", "4"]);
}

#[test]
fn run_until_complete_lets_callbacks_scheduled_on_the_way_out_run() {
    // asyncio stops through the future's done callback, so a callback the main coroutine
    // scheduled just before returning still runs before run_until_complete returns.
    let lp = EventLoop::new().unwrap();
    let log: Log = Rc::default();
    let (l, lp2) = (log.clone(), lp.clone());
    lp.run_until_complete(async move {
        let l2 = l.clone();
        lp2.call_soon(move || push(&l2, "scheduled by main"))
            .unwrap();
        push(&l, "main returns");
    })
    .unwrap();
    assert_eq!(*log.borrow(), ["main returns", "scheduled by main"]);
}

#[test]
fn past_deadlines_keep_their_order() {
    // asyncio orders timers by deadline even when every deadline is already past.
    let lp = EventLoop::new().unwrap();
    let log: Log = Rc::default();
    let now = lp.time();
    for (ago_ms, name) in [(10, "10ms ago"), (30, "30ms ago"), (20, "20ms ago")] {
        let l = log.clone();
        lp.call_at(now - std::time::Duration::from_millis(ago_ms), move || {
            push(&l, name)
        })
        .unwrap();
    }
    lp.run_until_complete(aio_scheduler::sleep(0.001))
        .unwrap()
        .unwrap();
    assert_eq!(*log.borrow(), ["30ms ago", "20ms ago", "10ms ago"]);
}

// Sleeps and `call_at` callbacks sit in two heaps of the loop; timers of equal deadline still
// fire in scheduling order across them: a callback, a sleeping future's wake-up, a callback.
// (Virtual time: the clock jumps to the deadline.)
#[test]
fn equal_deadlines_fire_in_scheduling_order_across_sleeps_and_callbacks() {
    use std::future::Future;
    let lp = EventLoop::new().unwrap();
    lp.set_virtual_time(true);
    let log: Log = Rc::default();
    let when = lp.time() + std::time::Duration::from_secs(1);
    let (l, lp2) = (log.clone(), lp.clone());
    lp.run_until_complete(async move {
        let l2 = l.clone();
        lp2.call_at(when, move || push(&l2, "callback 1")).unwrap();
        let mut nap = std::pin::pin!(aio_scheduler::sleep_until(when));
        // Registers the sleep's timer now, between the two callbacks.
        std::future::poll_fn(|cx| {
            assert!(nap.as_mut().poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        let l3 = l.clone();
        lp2.call_at(when, move || push(&l3, "callback 2")).unwrap();
        nap.await.unwrap();
        push(&l, "sleep");
    })
    .unwrap();
    lp.run_until_complete(aio_scheduler::sleep(0))
        .unwrap()
        .unwrap();
    assert_eq!(*log.borrow(), ["callback 1", "sleep", "callback 2"]);
}
