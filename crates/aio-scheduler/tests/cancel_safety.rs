//! The `# Cancel safety` sections of aio-scheduler, checked: a sleep dropped after it started
//! waiting leaves nothing behind (its timer is cancelled and purged) and loses nothing a
//! `sleep_until` of the same deadline cannot take up; `run_until_complete` drops the future it
//! was given when it returns early, destructors and timers included. Futures are polled once
//! by hand, then dropped, at exact moments; no test depends on timing.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use aio_scheduler::{Error, EventLoop, get_running_loop, sleep, sleep_until};

/// Polls `future` once, with the running loop's waker, and hands it back: it must be waiting.
async fn started<F: Future>(future: F) -> Pin<Box<F>> {
    let mut future = Box::pin(future);
    poll_fn(|cx| {
        assert!(
            future.as_mut().poll(cx).is_pending(),
            "expected the future to wait"
        );
        Poll::Ready(())
    })
    .await;
    future
}

#[test]
fn sleep_dropped_while_waiting_cancels_its_timer() {
    let lp = EventLoop::new().unwrap();
    lp.run_until_complete(async {
        let lp = get_running_loop()?;
        let waiting = started(sleep(3600)).await;
        assert_eq!(lp.scheduled_timers(), 1);
        drop(waiting);
        sleep(0).await?; // the next iteration purges the cancelled entry
        assert_eq!(lp.scheduled_timers(), 0);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn sleep_until_dropped_then_recreated_ends_at_the_same_deadline() {
    let lp = EventLoop::new().unwrap();
    let deadline = Instant::now() + Duration::from_millis(10);
    lp.run_until_complete(async move {
        drop(started(sleep_until(deadline)).await);
        sleep_until(deadline).await?;
        assert!(Instant::now() >= deadline);
        assert_eq!(get_running_loop()?.scheduled_timers(), 0);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Sets its flag when dropped.
struct SetOnDrop(Rc<Cell<bool>>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn run_until_complete_stopped_early_drops_the_future_and_its_timer() {
    let lp = EventLoop::new().unwrap();
    let dropped = Rc::new(Cell::new(false));
    let guard = SetOnDrop(dropped.clone());
    let stopper = lp.clone();
    lp.call_soon(move || stopper.stop()).unwrap();
    let outcome = lp.run_until_complete(async move {
        let _guard = guard;
        sleep(3600).await
    });
    assert!(matches!(outcome, Err(Error::StoppedBeforeComplete)));
    assert!(dropped.get());
    assert_eq!(lp.scheduled_timers(), 1); // cancelled, not purged yet
    lp.run_until_complete(sleep(0)).unwrap().unwrap();
    assert_eq!(lp.scheduled_timers(), 0);
}
