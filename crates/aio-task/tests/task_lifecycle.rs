//! Tasks: non-`Send` futures, results, names, dropping the handle does not cancel, the
//! result is InvalidState while pending.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use aio_scheduler::{EventLoop, sleep};
use aio_task::{Error, EventLoopExt, create_task, run};

#[test]
fn non_send_futures_run_as_tasks() {
    let out = run(async {
        let shared = Rc::new(RefCell::new(vec![1]));
        let s = shared.clone();
        let task = create_task(async move {
            s.borrow_mut().push(2);
            s.borrow().len()
        })?;
        let n = task.await?;
        Ok::<_, Error>((n, shared.borrow().clone()))
    })
    .unwrap()
    .unwrap();
    assert_eq!(out, (2, vec![1, 2]));
}

#[test]
fn dropping_the_handle_does_not_cancel() {
    let finished = Rc::new(Cell::new(false));
    let f = finished.clone();
    run(async move {
        drop(create_task(async move {
            sleep(0.01).await.unwrap();
            f.set(true);
        })?);
        sleep(0.05).await?;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert!(finished.get(), "a detached task still runs to completion");
}

#[test]
fn default_names_count_up_and_can_be_changed() {
    run(async {
        let a = create_task(async {})?;
        let b = create_task(async {})?;
        assert_eq!(a.get_name(), "Task-2");
        assert_eq!(b.get_name(), "Task-3");
        b.set_name("worker");
        assert_eq!(b.get_name(), "worker");
        assert_eq!(b.erase().get_name(), "worker");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn result_is_invalid_state_while_pending() {
    run(async {
        let task = create_task(async { 5 })?;
        assert!(matches!(task.result(), Err(Error::InvalidState(_))));
        assert!(!task.done());
        sleep(0).await?;
        assert!(task.done() && !task.cancelled());
        assert_eq!(task.result()?, 5);
        assert_eq!(task.result()?, 5, "result() can be read again");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn awaiting_moves_the_value_out_once() {
    run(async {
        let task = create_task(async { String::from("once") })?;
        let other = task.clone();
        assert_eq!(task.await?, "once");
        assert!(matches!(other.await, Err(Error::InvalidState(_))));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn tasks_created_before_the_loop_runs_start_in_order() {
    let lp = EventLoop::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    for name in ["first", "second"] {
        let l = log.clone();
        lp.create_task(async move { l.borrow_mut().push(name) })
            .unwrap();
    }
    let l = log.clone();
    lp.run_until_complete(async move { l.borrow_mut().push("main") })
        .unwrap();
    assert_eq!(*log.borrow(), ["first", "second", "main"]);
}

#[test]
fn create_task_needs_a_running_or_open_loop() {
    assert!(matches!(
        create_task(async {}),
        Err(Error::Runtime(aio_scheduler::Error::NoRunningLoop))
    ));
    let lp = EventLoop::new().unwrap();
    lp.close().unwrap();
    assert!(matches!(
        lp.create_task(async {}),
        Err(Error::Runtime(aio_scheduler::Error::Closed))
    ));
}
