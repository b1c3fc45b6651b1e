//! `current_task()` is the task being run (None outside tasks); `all_tasks()` lists the
//! loop's pending tasks and forgets finished ones.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use aio_scheduler::{EventLoop, sleep};
use aio_task::{Error, all_tasks, create_task, current_task, run};

#[test]
fn current_task_is_the_running_task() {
    run(async {
        let main = current_task().expect("main runs as a task");
        let child = create_task(async { current_task().unwrap().get_name() })?;
        let child_ref = child.erase();
        assert_eq!(child.await?, child_ref.get_name());
        assert!(
            current_task().unwrap().same(&main),
            "restored after other tasks ran"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert!(current_task().is_none());
}

#[test]
fn a_plain_future_on_run_until_complete_is_not_a_task() {
    let lp = EventLoop::new().unwrap();
    assert!(
        lp.run_until_complete(async { current_task().is_none() })
            .unwrap()
    );
}

#[test]
fn all_tasks_lists_pending_tasks_only() {
    run(async {
        let sleeper = create_task(sleep(3600))?;
        let quick = create_task(async {})?;
        let names = |tasks: Vec<aio_task::TaskRef>| {
            let mut n: Vec<_> = tasks.iter().map(|t| t.get_name()).collect();
            n.sort();
            n
        };
        assert_eq!(names(all_tasks()?), ["Task-1", "Task-2", "Task-3"]);
        quick.await?;
        assert_eq!(names(all_tasks()?), ["Task-1", "Task-2"]);
        sleeper.cancel(None);
        let _ = sleeper.await;
        assert_eq!(names(all_tasks()?), ["Task-1"]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert!(all_tasks().is_err(), "no running loop");
}
