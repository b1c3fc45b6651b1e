//! A loop dropped without `close()` is closed and freed even when its own callbacks, timers or
//! task steps hold a clone of it (issue 14.1). One test per binary run, so that no other test
//! opens descriptors while this one counts them.

use aio_reactors::{ReactorKind, new_reactor};

use std::time::Duration;

use aio_scheduler::{EventLoop, WeakLoop, schedule, sleep};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Builds 200 loops on `choice`, lets `hold` put a clone of each loop inside the loop itself,
/// runs each briefly and drops it. Returns the descriptors left open and the loops still alive.
fn churn(choice: ReactorKind, hold: fn(&EventLoop)) -> (usize, usize) {
    let before = open_fds();
    let mut weak: Vec<WeakLoop> = Vec::new();
    for _ in 0..200 {
        let lp = EventLoop::with_boxed_reactor(new_reactor(choice).expect("reactor"));
        hold(&lp);
        lp.run_until_complete(sleep(Duration::ZERO))
            .expect("run")
            .expect("sleep");
        weak.push(lp.downgrade());
        drop(lp);
    }
    let alive = weak.iter().filter(|w| w.upgrade().is_some()).count();
    (open_fds().saturating_sub(before), alive)
}

fn timer_holds_loop(lp: &EventLoop) {
    let l2 = lp.clone();
    lp.call_later(3600.0, move || l2.stop())
        .expect("call_later");
}

fn callback_holds_loop(lp: &EventLoop) {
    // A callback that schedules itself again, holding the loop: one is always queued.
    fn again(lp: EventLoop) {
        let next = lp.clone();
        lp.call_soon(move || again(next)).expect("call_soon");
    }
    again(lp.clone());
}

fn task_holds_loop(lp: &EventLoop) {
    // A task step (a raw async-task runnable) that holds the loop and never finishes.
    let l2 = lp.clone();
    let (runnable, task) = async_task::Builder::new()
        .metadata(lp.handle())
        .spawn_local(
            move |_| async move {
                sleep(3600.0).await.ok();
                l2.stop();
            },
            schedule,
        );
    task.detach();
    lp.schedule(runnable);
}

fn cross_thread_callback_holds_loop(lp: &EventLoop) {
    // A callback queued through the thread-safe path while the loop is not running, holding
    // the loop's `Send` handle (the handle alone must not keep anything alive either).
    let handle = lp.handle();
    let h2 = handle.clone();
    handle
        .call_soon_threadsafe(move || {
            let _ = h2.stop();
        })
        .expect("threadsafe");
    timer_holds_loop(lp);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "counts descriptors in /proc/self/fd (hidden by miri's isolation) on every real reactor"
)]
fn loops_holding_themselves_are_freed_on_drop_on_every_reactor() {
    for choice in [ReactorKind::Epoll, ReactorKind::Polling, ReactorKind::Uring] {
        for (what, hold) in [
            ("timer", timer_holds_loop as fn(&EventLoop)),
            ("callback", callback_holds_loop),
            ("task", task_holds_loop),
            ("threadsafe + timer", cross_thread_callback_holds_loop),
        ] {
            let (fds, alive) = churn(choice, hold);
            assert_eq!(
                (fds, alive),
                (0, 0),
                "{choice:?}, a {what} holding its loop: descriptors left open, loops alive"
            );
        }
    }
}
