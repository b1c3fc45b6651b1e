//! A loop dropped without `close()` is closed and freed even when one of its tasks, futures'
//! done callbacks or tasks' done callbacks holds a clone of it (issue 14.1). One test in this
//! binary, so no other test opens descriptors while it counts them.

use aio_reactors::{ReactorKind, new_reactor};

use aio_scheduler::{EventLoop, WeakLoop, sleep};
use aio_task::EventLoopExt;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// 200 loops on `choice`, each given something of its own that holds it, run briefly and
/// dropped: the descriptors left open and the loops still alive.
fn churn(choice: ReactorKind, hold: fn(&EventLoop)) -> (usize, usize) {
    let before = open_fds();
    let mut weak: Vec<WeakLoop> = Vec::new();
    for _ in 0..200 {
        let lp = EventLoop::with_boxed_reactor(new_reactor(choice).expect("reactor"));
        hold(&lp);
        lp.run_until_complete(sleep(0))
            .expect("run")
            .expect("sleep");
        weak.push(lp.downgrade());
        drop(lp);
    }
    let alive = weak.iter().filter(|w| w.upgrade().is_some()).count();
    (open_fds().saturating_sub(before), alive)
}

fn task_holds_loop(lp: &EventLoop) {
    let l2 = lp.clone();
    lp.create_task(async move {
        sleep(3600.0).await.ok();
        l2.stop();
    })
    .expect("task");
}

fn future_callback_holds_loop(lp: &EventLoop) {
    let l2 = lp.clone();
    let fut = lp.create_future::<()>();
    fut.add_done_callback(move |_| l2.stop());
    // The future is kept by a task that waits on it forever.
    lp.create_task(async move { fut.await.ok() }).expect("task");
}

fn task_callback_holds_loop(lp: &EventLoop) {
    let l2 = lp.clone();
    let task = lp
        .create_task(async { sleep(3600.0).await.ok() })
        .expect("task");
    task.add_done_callback(move |_| l2.stop());
}

#[test]
fn loops_held_by_their_tasks_and_callbacks_are_freed_on_drop() {
    for choice in [ReactorKind::Epoll, ReactorKind::Polling, ReactorKind::Uring] {
        for (what, hold) in [
            ("task", task_holds_loop as fn(&EventLoop)),
            ("future's done callback", future_callback_holds_loop),
            ("task's done callback", task_callback_holds_loop),
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
