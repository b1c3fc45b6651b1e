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

/// An internal task (a layer's machinery, as a transport's driver) is no asyncio task: not
/// listed, no `Task-N` number, no current task while it runs, and the loop closing while it
/// waits drops it without "Task was destroyed but it is pending!" — but drops it.
#[test]
fn internal_tasks_are_machinery_not_tasks() {
    use std::cell::RefCell;
    use std::rc::Rc;

    struct Dropped(Rc<RefCell<Vec<&'static str>>>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.borrow_mut().push("dropped");
        }
    }

    let lp = EventLoop::new().unwrap();
    let reports = Rc::new(RefCell::new(Vec::new()));
    let r = reports.clone();
    lp.set_exception_handler(move |_, ctx| r.borrow_mut().push(ctx.message.clone()));
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    lp.run_until_complete(async move {
        let first = aio_task::create_internal_task(async { current_task().is_none() })?;
        let guard = Dropped(l.clone());
        aio_task::create_internal_task(async move {
            let _guard = guard;
            sleep(3600).await.unwrap();
        })?;
        assert!(all_tasks()?.is_empty(), "internal tasks are not listed");
        assert!(first.await?, "no current task inside an internal task");
        let user = create_task(async {})?;
        assert_eq!(user.get_name(), "Task-1", "internal tasks take no number");
        user.await?;
        // Inside a task, a call made outside it sees none, and the task is current again
        // afterwards, also after a panic.
        let me = create_task(async {
            assert!(aio_task::call_outside_task(|| current_task().is_none()));
            let caught = std::panic::catch_unwind(|| {
                aio_task::call_outside_task(|| panic!("in a callback"));
            });
            assert!(caught.is_err());
            current_task().is_some()
        })?;
        assert!(me.await?);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert!(log.borrow().is_empty());
    lp.close().unwrap();
    assert_eq!(*log.borrow(), ["dropped"], "closing the loop drops it");
    assert!(reports.borrow().is_empty(), "{:?}", reports.borrow());
}

/// asyncio's task factories make tasks; the eager one does not start a layer's machinery
/// inside the call that creates it (an internal task always starts from the ready queue),
/// while it still starts a task.
#[test]
fn the_eager_task_factory_does_not_start_internal_tasks_at_once() {
    use aio_task::{EventLoopExt, TaskFactory};
    use std::cell::Cell;
    use std::rc::Rc;

    let lp = EventLoop::new().unwrap();
    lp.set_task_factory(TaskFactory::Eager);
    lp.run_until_complete(async {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let machinery = aio_task::create_internal_task(async move { r.set(true) })?;
        assert!(!ran.get(), "an internal task waits for the loop");
        let r = ran.clone();
        let task = create_task(async move { r.get() })?;
        assert!(task.done(), "a task starts eagerly");
        assert!(!task.await?);
        machinery.await?;
        assert!(ran.get());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
