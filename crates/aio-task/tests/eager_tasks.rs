//! Eager tasks (`TaskFactory::Eager`, asyncio 3.12's `eager_task_factory`): a task runs
//! inside `create_task` until its first suspension; one that finishes there is done at once
//! and never scheduled; the ordering matches CPython 3.12. Without it, a new task has not run
//! when `create_task` returns.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use aio_scheduler::{EventLoop, get_running_loop, sleep};
use aio_task::{
    EAGER_TASK_FACTORY, Error, EventLoopExt, TaskFactory, create_task, current_task, gather, run,
};

#[test]
fn without_eager_a_new_task_has_not_run_when_create_task_returns() {
    run(async {
        assert_eq!(get_running_loop()?.get_task_factory(), TaskFactory::Default);
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let task = create_task(async move { r.set(true) })?;
        assert!(!ran.get() && !task.done());
        sleep(0).await?;
        assert!(ran.get() && task.done());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn an_eager_task_runs_inside_create_task_until_its_first_suspension() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    run(async move {
        get_running_loop()?.set_task_factory(TaskFactory::Eager);
        let l2 = l.clone();
        let task = create_task(async move {
            l2.borrow_mut().push("child: first step");
            sleep(0).await.unwrap();
            l2.borrow_mut().push("child: second step");
            5
        })?;
        l.borrow_mut().push("create_task returned");
        assert!(!task.done(), "suspended at its first await");
        assert_eq!(task.await?, 5);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "child: first step",
            "create_task returned",
            "child: second step"
        ]
    );
}

#[test]
fn an_eager_task_that_finishes_at_once_is_done_and_never_scheduled() {
    run(async {
        let lp = get_running_loop()?;
        lp.set_task_factory(EAGER_TASK_FACTORY);
        assert_eq!(lp.get_task_factory(), TaskFactory::Eager);
        let before = lp.all_tasks().len();
        let task = create_task(async { "done already" })?;
        assert!(task.done());
        assert_eq!(task.result()?, "done already");
        assert_eq!(lp.all_tasks().len(), before, "not a live task");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn an_eager_task_that_panics_at_once_fails_without_disturbing_the_creator() {
    run(async {
        get_running_loop()?.set_task_factory(TaskFactory::Eager);
        let task = create_task(async { panic!("eager boom") })?;
        assert!(task.done());
        assert!(matches!(task.await, Err(Error::Panicked(m)) if &*m == "eager boom"));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn inside_its_eager_step_the_new_task_is_current() {
    run(async {
        get_running_loop()?.set_task_factory(TaskFactory::Eager);
        let me = current_task().unwrap();
        let seen = Rc::new(RefCell::new(None));
        let s = seen.clone();
        let task = create_task(async move {
            *s.borrow_mut() = current_task();
        })?;
        let inside = seen.borrow_mut().take().expect("ran eagerly");
        assert!(
            inside.same(&task.erase()),
            "the child was current during its step"
        );
        assert!(
            current_task().unwrap().same(&me),
            "the creator is current again"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn tasks_created_before_the_loop_runs_are_scheduled_not_eager() {
    let lp = EventLoop::new().unwrap();
    lp.set_task_factory(TaskFactory::Eager);
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let task = lp.create_task(async move { r.set(true) }).unwrap();
    assert!(!ran.get() && !task.done());
    lp.run_until_complete(task).unwrap().unwrap();
    assert!(ran.get());
}

#[test]
fn eager_children_of_a_gather_run_while_it_is_created() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    run(async move {
        get_running_loop()?.set_task_factory(TaskFactory::Eager);
        let all = gather((0..3).map(|i| {
            let l = l.clone();
            async move {
                l.borrow_mut().push(format!("start {i}"));
                sleep(0).await.unwrap();
                i
            }
        }));
        l.borrow_mut().push(String::from("gather created"));
        assert_eq!(all.await?, [0, 1, 2]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(
        *log.borrow(),
        ["start 0", "start 1", "start 2", "gather created"]
    );
}

/// The same program as this CPython 3.12 one, with the same log:
///
/// ```python
/// async def main():
///     loop = asyncio.get_running_loop()
///     loop.set_task_factory(asyncio.eager_task_factory)
///     log = []
///     loop.call_soon(lambda: log.append("soon"))
///     async def child():
///         log.append(f"child start, current={asyncio.current_task().get_name()}")
///         await asyncio.sleep(0)
///         log.append("child end")
///     async def quick():
///         log.append("quick ran")
///         return 7
///     t = asyncio.create_task(child())
///     log.append(f"after create, current={asyncio.current_task().get_name()} done={t.done()}")
///     q = asyncio.create_task(quick())
///     log.append(f"quick done={q.done()} result={q.result()} live={q in asyncio.all_tasks()}")
///     await asyncio.sleep(0)
///     log.append("main resumed")
///     await t
///     log.append("main end")
/// ```
#[test]
fn the_ordering_matches_cpython_3_12() {
    let log = Rc::new(RefCell::new(Vec::<String>::new()));
    let l = log.clone();
    run(async move {
        let lp = get_running_loop()?;
        lp.set_task_factory(TaskFactory::Eager);
        let soon = l.clone();
        lp.call_soon(move || soon.borrow_mut().push("soon".into()))?;
        let lc = l.clone();
        let t = create_task(async move {
            let name = current_task().unwrap().get_name();
            lc.borrow_mut().push(format!("child start, current={name}"));
            sleep(0).await.unwrap();
            lc.borrow_mut().push("child end".into());
        })?;
        let me = current_task().unwrap().get_name();
        l.borrow_mut()
            .push(format!("after create, current={me} done={}", t.done()));
        let lq = l.clone();
        let q = create_task(async move {
            lq.borrow_mut().push("quick ran".into());
            7
        })?;
        let live = aio_task::all_tasks()?
            .iter()
            .any(|task| task.same(&q.erase()));
        l.borrow_mut().push(format!(
            "quick done={} result={} live={live}",
            q.done(),
            q.result()?
        ));
        sleep(0).await?;
        l.borrow_mut().push("main resumed".into());
        t.await?;
        l.borrow_mut().push("main end".into());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "child start, current=Task-2",
            "after create, current=Task-1 done=false",
            "quick ran",
            "quick done=true result=7 live=false",
            "soon",
            "child end",
            "main resumed",
            "main end",
        ]
    );
}
