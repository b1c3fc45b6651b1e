//! Virtual time (issue 16.5): with `EventLoop::set_virtual_time(true)`, an idle loop jumps to
//! its next timer, so hour-long sleeps and timeouts finish at once, in the order real time
//! would give them; while a descriptor is registered, time runs at the real pace.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use aio_scheduler::aio_reactor::AsyncFd;
use aio_scheduler::{EventLoop, sleep};
use aio_task::{Error, EventLoopExt, timeout, wait_for};

fn virtual_loop() -> EventLoop {
    let lp = EventLoop::new().expect("loop");
    lp.set_virtual_time(true);
    lp
}

#[test]
fn a_thousand_tasks_sleeping_up_to_an_hour_finish_at_once_in_deadline_order() {
    let lp = virtual_loop();
    let woke = Rc::new(RefCell::new(Vec::new()));
    let start = lp.time();
    let real = Instant::now();
    // Deadlines spread over an hour, created out of order (a fixed permutation).
    let tasks: Vec<_> = (0..1000u64)
        .map(|i| {
            let seconds = (i * 7919) % 3600 + 1;
            let woke = woke.clone();
            lp.create_task(async move {
                sleep(seconds).await.expect("sleep");
                woke.borrow_mut().push(seconds);
            })
            .expect("task")
        })
        .collect();
    lp.run_until_complete(async move {
        for task in tasks {
            task.await.expect("task");
        }
    })
    .expect("run");
    let woke = woke.borrow();
    assert_eq!(woke.len(), 1000);
    assert!(
        woke.windows(2).all(|w| w[0] <= w[1]),
        "woken in deadline order"
    );
    let elapsed = lp.time() - start;
    assert!(
        elapsed >= Duration::from_secs(3600) && elapsed < Duration::from_secs(3700),
        "virtual time moved {elapsed:?}"
    );
    // The point of the feature; a bound far above what it takes, so a slow machine passes.
    assert!(
        real.elapsed() < Duration::from_secs(60),
        "{:?}",
        real.elapsed()
    );
    eprintln!(
        "1,000 sleeps over an hour took {:?} of real time",
        real.elapsed()
    );
}

#[test]
fn timeouts_expire_on_the_virtual_clock() {
    let lp = virtual_loop();
    let start = lp.time();
    let real = Instant::now();
    lp.run_until_complete(async {
        let out = wait_for(sleep(3600), 1800).await;
        assert!(matches!(out, Err(Error::Timeout)), "{out:?}");
        let scope = timeout(600);
        assert!(matches!(scope.run(sleep(3600)).await, Err(Error::Timeout)));
        assert!(scope.expired());
        assert!(matches!(wait_for(sleep(10), 60).await, Ok(Ok(()))));
    })
    .expect("run");
    let elapsed = lp.time() - start;
    assert!(
        elapsed >= Duration::from_secs(2410) && elapsed < Duration::from_secs(2500),
        "{elapsed:?}"
    );
    assert!(real.elapsed() < Duration::from_secs(60));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "wall-clock: under miri the calls between the deadlines take longer than the gaps between them (the real-time half)"
)]
fn callbacks_run_in_the_same_order_as_in_real_time() {
    let order = Rc::new(RefCell::new(Vec::new()));
    for virtual_time in [false, true] {
        let lp = EventLoop::new().expect("loop");
        lp.set_virtual_time(virtual_time);
        let log = Rc::new(RefCell::new(Vec::new()));
        for (delay, name) in [(0.03, "c"), (0.01, "a"), (0.02, "b"), (-1.0, "past")] {
            let log = log.clone();
            lp.call_later(delay, move || log.borrow_mut().push(name))
                .expect("call_later");
        }
        lp.run_until_complete(sleep(0.05))
            .expect("run")
            .expect("sleep");
        order.borrow_mut().push(log.borrow().clone());
    }
    let order = order.borrow();
    assert_eq!(order[0], ["past", "a", "b", "c"]);
    assert_eq!(order[0], order[1]);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "real I/O: registers a socket, which NoIoReactor (miri's reactor) refuses"
)]
fn with_a_descriptor_registered_time_runs_at_the_real_pace() {
    let lp = virtual_loop();
    let real = Instant::now();
    let start = lp.time();
    // A socket registered with the reactor (as a server's listener or a connection is).
    let (socket, _peer) = std::os::unix::net::UnixStream::pair().expect("pair");
    socket.set_nonblocking(true).expect("nonblocking");
    let registered = AsyncFd::new(lp.reactor(), socket).expect("register");
    lp.run_until_complete(sleep(0.05))
        .expect("run")
        .expect("sleep");
    drop(registered);
    assert!(
        real.elapsed() >= Duration::from_millis(50),
        "no jump over real I/O waits"
    );
    assert!(lp.time() - start >= Duration::from_millis(50));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "real I/O: the signal socket pair, which miri cannot make non-blocking"
)]
fn the_loops_own_signal_socket_does_not_stop_time_from_jumping() {
    let lp = virtual_loop();
    // Installing a handler registers the loop's signal socket with the reactor.
    lp.add_signal_handler(aio_scheduler::signal::SIGUSR2, || {})
        .expect("handler");
    let real = Instant::now();
    let start = lp.time();
    lp.run_until_complete(sleep(3600))
        .expect("run")
        .expect("sleep");
    assert!(lp.time() - start >= Duration::from_secs(3600));
    assert!(
        real.elapsed() < Duration::from_secs(60),
        "{:?}",
        real.elapsed()
    );
    lp.remove_signal_handler(aio_scheduler::signal::SIGUSR2)
        .expect("remove");
}

#[test]
fn a_runner_can_run_on_virtual_time() {
    let runner = aio_task::Runner::new().virtual_time(true);
    let real = Instant::now();
    runner.run(sleep(3600)).expect("run").expect("sleep");
    assert!(runner.get_loop().expect("loop").virtual_time());
    assert!(real.elapsed() < Duration::from_secs(60));
}
