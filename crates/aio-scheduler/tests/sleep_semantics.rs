//! `sleep`: zero yields exactly one iteration, negative means as soon as possible, positive
//! delays are honoured (never early), deadlines work, and invalid delays are clear errors.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use aio_scheduler::{Error, EventLoop, sleep, sleep_until};

/// A callback that re-schedules itself every iteration, counting iterations.
fn iteration_counter(lp: &EventLoop) -> Rc<Cell<u32>> {
    fn tick(lp: EventLoop, count: Rc<Cell<u32>>) {
        count.set(count.get() + 1);
        let lp2 = lp.clone();
        let _ = lp.call_soon(move || tick(lp2, count));
    }
    let count = Rc::new(Cell::new(0));
    let (lp2, c) = (lp.clone(), count.clone());
    lp.call_soon(move || tick(lp2, c)).unwrap();
    count
}

#[test]
fn sleep_zero_yields_exactly_one_iteration() {
    let lp = EventLoop::new().unwrap();
    let count = iteration_counter(&lp);
    let c = count.clone();
    let deltas = lp
        .run_until_complete(async move {
            let mut deltas = Vec::new();
            for _ in 0..5 {
                let before = c.get();
                sleep(0).await.unwrap();
                deltas.push(c.get() - before);
            }
            deltas
        })
        .unwrap();
    assert_eq!(deltas, [1, 1, 1, 1, 1]);
}

#[test]
fn negative_delay_means_as_soon_as_possible() {
    let lp = EventLoop::new().unwrap();
    let start = Instant::now();
    lp.run_until_complete(async {
        sleep(-5.0).await.unwrap();
        sleep(-1).await.unwrap();
    })
    .unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));

    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let handle = lp.call_later(-10.0, move || r.set(true)).unwrap();
    assert!(handle.when().unwrap() <= lp.time());
    lp.run_until_complete(sleep(0.001)).unwrap().unwrap();
    assert!(ran.get());
}

#[test]
fn sleep_is_never_early() {
    let lp = EventLoop::new().unwrap();
    for delay in [
        Duration::from_micros(300),
        Duration::from_millis(2),
        Duration::from_millis(15),
    ] {
        let start = Instant::now();
        lp.run_until_complete(sleep(delay)).unwrap().unwrap();
        assert!(start.elapsed() >= delay, "woke early for {delay:?}");
    }
}

#[test]
fn sleep_until_deadline() {
    let lp = EventLoop::new().unwrap();
    let deadline = Instant::now() + Duration::from_millis(10);
    lp.run_until_complete(sleep_until(deadline))
        .unwrap()
        .unwrap();
    assert!(Instant::now() >= deadline);
    // A deadline in the past completes at once.
    lp.run_until_complete(sleep_until(Instant::now() - Duration::from_secs(1)))
        .unwrap()
        .unwrap();
}

#[test]
fn nan_is_the_one_invalid_delay() {
    let lp = EventLoop::new().unwrap();
    let err = lp.run_until_complete(sleep(f64::NAN)).unwrap().unwrap_err();
    assert!(matches!(err, Error::InvalidDelay(_)), "{err:?}");
    let err = lp.call_later(f64::NAN, || {}).unwrap_err();
    assert!(matches!(err, Error::InvalidDelay(_)), "{err:?}");
    // Far past: due at once, like any negative delay.
    lp.run_until_complete(sleep(f64::NEG_INFINITY))
        .unwrap()
        .unwrap();
    assert!(
        lp.call_later(f64::NEG_INFINITY, || {})
            .unwrap()
            .when()
            .is_some(),
        "a deadline before the start of Instant is clamped, not a panic"
    );
}

#[test]
fn sleep_outside_a_running_loop_is_an_error_not_a_hang() {
    let mut sleep = std::pin::pin!(sleep(0.01));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match sleep.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Err(Error::NoRunningLoop)) => {}
        other => panic!("expected NoRunningLoop, got {other:?}"),
    }
}

#[test]
fn dropping_a_sleep_cancels_its_timer() {
    let lp = EventLoop::new().unwrap();
    let start = Instant::now();
    lp.run_until_complete(async {
        let long = sleep(3600);
        let mut long = std::pin::pin!(long);
        // Register the timer, then drop it: the loop must not wait for it.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(long.as_mut().poll(&mut cx).is_pending());
    })
    .unwrap();
    // With the hour-long timer cancelled, an idle loop with nothing else to do still returns.
    lp.run_until_complete(sleep(0.001)).unwrap().unwrap();
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
fn every_integer_type_is_whole_seconds() {
    use aio_scheduler::IntoDelay;
    let idx: usize = 2;
    use aio_scheduler::Delay::{After, Before, Never};
    assert_eq!(
        (idx + 1).into_delay().unwrap(),
        After(Duration::from_secs(3))
    );
    assert_eq!(1u8.into_delay().unwrap(), After(Duration::from_secs(1)));
    assert_eq!(1u16.into_delay().unwrap(), After(Duration::from_secs(1)));
    assert_eq!((-1i8).into_delay().unwrap(), Before(Duration::from_secs(1)));
    assert_eq!(
        (-1i16).into_delay().unwrap(),
        Before(Duration::from_secs(1))
    );
    assert_eq!(
        (-5isize).into_delay().unwrap(),
        Before(Duration::from_secs(5))
    );
    assert_eq!(7u128.into_delay().unwrap(), After(Duration::from_secs(7)));
    assert_eq!(
        i128::MIN.into_delay().unwrap(),
        Before(Duration::from_secs(u64::MAX))
    );
    assert_eq!(
        u128::MAX.into_delay().unwrap(),
        Never,
        "too large is never, not a wrap"
    );
}

/// Polls `nap` once inside a run of `lp`, which registers its timer in `lp`'s heap.
fn register_in(lp: &EventLoop, nap: &mut aio_scheduler::Sleep) {
    use std::future::Future;
    lp.run_until_complete(std::future::poll_fn(|cx| {
        assert!(std::pin::Pin::new(&mut *nap).poll(cx).is_pending());
        std::task::Poll::Ready(())
    }))
    .unwrap();
}

// A registered sleep keeps only its timer's key; the key is unique among the heaps of its
// thread's loops, so dropping the sleep while another loop runs cancels its own timer there
// and leaves the running loop's (which sits in the same slot of that loop's heap) alone.
#[test]
fn a_sleep_dropped_while_another_loop_runs_cancels_only_its_own_timer() {
    let a = EventLoop::new().unwrap();
    let b = EventLoop::new().unwrap();
    let mut nap = sleep(3600);
    register_in(&a, &mut nap);
    assert_eq!(a.scheduled_timers(), 1);
    let b2 = b.clone();
    b.run_until_complete(async move {
        let mut own = sleep(3600);
        std::future::poll_fn(|cx| {
            use std::future::Future;
            assert!(std::pin::Pin::new(&mut own).poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        drop(nap);
        // An iteration of `b` purges whatever was cancelled in its heap.
        sleep(0).await.unwrap();
        assert_eq!(b2.scheduled_timers(), 1, "b's own timer survives");
    })
    .unwrap();
    a.run_until_complete(sleep(0)).unwrap().unwrap();
    assert_eq!(a.scheduled_timers(), 0, "a's timer was cancelled");
}

#[test]
fn a_sleep_dropped_outside_any_run_cancels_its_timer() {
    let lp = EventLoop::new().unwrap();
    let mut nap = sleep(3600);
    register_in(&lp, &mut nap);
    drop(nap);
    lp.run_until_complete(sleep(0)).unwrap().unwrap();
    assert_eq!(lp.scheduled_timers(), 0);
}

// A sleep polled again outside its loop's run still sees its timer pending, and after its
// loop fired it, done. (Virtual time: the loop's clock jumps to the deadline, whatever the
// machine's speed.)
#[test]
fn a_registered_sleep_polled_outside_its_loops_run_knows_whether_it_fired() {
    use std::future::Future;
    let lp = EventLoop::new().unwrap();
    lp.set_virtual_time(true);
    let mut nap = sleep(3600);
    register_in(&lp, &mut nap);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(std::pin::Pin::new(&mut nap).poll(&mut cx).is_pending());
    lp.run_until_complete(sleep(7200)).unwrap().unwrap();
    assert_eq!(lp.scheduled_timers(), 0, "the nap's timer fired");
    assert!(matches!(
        std::pin::Pin::new(&mut nap).poll(&mut cx),
        std::task::Poll::Ready(Ok(()))
    ));
}

#[cfg(target_pointer_width = "64")]
#[test]
fn a_sleep_is_three_words() {
    // The deadline until registered, then the timer's key (16 with the state's tag), and
    // where it was created: a task awaiting a sleep it was handed holds two.
    assert_eq!(std::mem::size_of::<aio_scheduler::Sleep>(), 24);
}

// asyncio's `len(loop._scheduled)`: a cancelled timer stays counted until it reaches the head
// of the one merged order, even when sleeps and callbacks sit in separate heaps.
#[test]
fn a_cancelled_callback_behind_a_live_sleep_stays_counted_until_purged_in_order() {
    use std::future::Future;
    let lp = EventLoop::new().unwrap();
    let handle = lp.call_later(120, || {}).unwrap();
    let lp2 = lp.clone();
    let counted = lp
        .run_until_complete(async move {
            let mut nap = sleep(60);
            std::future::poll_fn(|cx| {
                assert!(std::pin::Pin::new(&mut nap).poll(cx).is_pending());
                std::task::Poll::Ready(())
            })
            .await;
            handle.cancel();
            // An iteration purges cancelled heads: the callback is not one (the sleep, due
            // earlier, is), so both stay.
            sleep(0).await.unwrap();
            lp2.scheduled_timers()
        })
        .unwrap();
    assert_eq!(counted, 2);
}
