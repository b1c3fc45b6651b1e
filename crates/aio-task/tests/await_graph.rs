//! The await graph (`capture_call_graph`, `task_infos`, `format_tasks`): each task's state,
//! the line it is suspended at and the line it was created at, and who awaits whom through
//! awaiting a task, `gather`, `wait`, `wait_for`, `as_completed`, `shield` and `TaskGroup`.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::rc::Rc;

use aio_queue::Queue;
use aio_scheduler::sleep;
use aio_sync::{Event, Lock};
use aio_task::{
    CallGraph, Error, TaskGroup, TaskInfo, TaskRef, TaskState, as_completed, capture_call_graph,
    create_task, current_task, format_call_graph, format_tasks, gather, run, shield, task_infos,
    wait, wait_for,
};

/// Lets every task run until it parks.
async fn settle() {
    for _ in 0..5 {
        sleep(0).await.unwrap();
    }
}

fn info(infos: &[TaskInfo], name: &str) -> TaskInfo {
    infos
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no task {name} in {infos:?}"))
        .clone()
}

fn line(info: &TaskInfo) -> u32 {
    info.suspended_at
        .unwrap_or_else(|| panic!("{} has no suspension point", info.name))
        .line()
}

fn names(graphs: &[CallGraph]) -> Vec<String> {
    let mut names: Vec<String> = graphs.iter().map(|g| g.task.name.clone()).collect();
    names.sort();
    names
}

fn cancel_all(tasks: &[TaskRef]) {
    for task in tasks {
        task.cancel(None);
    }
}

#[test]
fn a_task_is_suspended_at_the_line_of_its_sleep_and_created_where_create_task_was_called() {
    run(async {
        let created = line!() + 1;
        let task = create_task(async {
            let parked = line!() + 1;
            sleep(10).await.unwrap();
            parked
        })?;
        task.set_name("sleeper");
        settle().await;
        let infos = task_infos()?;
        let sleeper = info(&infos, "sleeper");
        assert_eq!(sleeper.state, TaskState::Pending);
        assert_eq!(sleeper.created_at.line(), created);
        assert_eq!(sleeper.created_at.file(), file!());
        assert_eq!(sleeper.suspended_at.unwrap().file(), file!());
        // The main task asks: it is running, and its own record is not shown.
        let main = info(&infos, "Task-1");
        assert_eq!((main.state, main.suspended_at), (TaskState::Running, None));
        task.cancel(None);
        // The sleep's line is the one inside the task: one below `parked`'s definition.
        let parked = sleeper.suspended_at.unwrap().line();
        Ok::<_, Error>(parked)
    })
    .unwrap()
    .map(|parked| assert!(parked > line!() - 30 && parked < line!()))
    .unwrap();
}

#[test]
fn awaiting_a_task_links_the_two_at_the_line_of_the_await() {
    run(async {
        let child = create_task(sleep(10))?;
        child.set_name("child");
        let awaited_at = Rc::new(std::cell::Cell::new(0));
        let at = awaited_at.clone();
        let c = child.clone();
        let parent = create_task(async move {
            at.set(line!() + 1);
            let _ = c.await;
        })?;
        parent.set_name("parent");
        settle().await;
        let infos = task_infos()?;
        let (child_info, parent_info) = (info(&infos, "child"), info(&infos, "parent"));
        assert_eq!(child_info.awaited_by, [parent_info.id]);
        assert!(parent_info.awaited_by.is_empty());
        assert_eq!(line(&parent_info), awaited_at.get());

        let graph = capture_call_graph(&child.erase());
        assert_eq!(names(&graph.awaited_by), ["parent"]);
        assert!(graph.awaits.is_empty());
        let graph = capture_call_graph(&parent.erase());
        assert_eq!(names(&graph.awaits), ["child"]);
        let text = format_call_graph(&child.erase());
        assert!(
            text.contains("* Task(name='child', id=2, state=pending)"),
            "{text}"
        );
        assert!(text.contains("+ Awaited by:"), "{text}");
        assert!(
            text.contains("* Task(name='parent', id=3, state=pending)"),
            "{text}"
        );
        assert!(
            text.contains(&format!("{}:{}:", file!(), awaited_at.get())),
            "{text}"
        );
        cancel_all(&[parent.erase(), child.erase()]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn gather_wait_as_completed_and_shield_children_are_awaited_by_the_task_polling_them() {
    run(async {
        let spawn = |name: &str| {
            let t = create_task(sleep(10)).unwrap();
            t.set_name(name);
            t
        };
        let (g1, g2, w1, a1, s1) = (
            spawn("g1"),
            spawn("g2"),
            spawn("w1"),
            spawn("a1"),
            spawn("s1"),
        );
        let lines = Rc::new(std::cell::RefCell::new(Vec::new()));
        let (g, l) = ([g1.clone(), g2.clone()], lines.clone());
        let gatherer = create_task(async move {
            l.borrow_mut().push(line!() + 1);
            let _ = gather(&g).await;
        })?;
        gatherer.set_name("gatherer");
        let (w, l) = (w1.clone(), lines.clone());
        let waiter = create_task(async move {
            l.borrow_mut().push(line!() + 1);
            let _ = wait([&w]).await;
        })?;
        waiter.set_name("waiter");
        let (a, l) = (a1.clone(), lines.clone());
        let iterator = create_task(async move {
            l.borrow_mut().push(line!() + 1);
            let mut completed = as_completed([&a]);
            let _ = completed.next_completed().await;
        })?;
        iterator.set_name("iterator");
        let (s, l) = (s1.clone(), lines.clone());
        let shielder = create_task(async move {
            l.borrow_mut().push(line!() + 1);
            let _ = shield(&s).await;
        })?;
        shielder.set_name("shielder");
        settle().await;
        let infos = task_infos()?;
        let id = |n: &str| info(&infos, n).id;
        for (child, parent) in [
            ("g1", "gatherer"),
            ("g2", "gatherer"),
            ("w1", "waiter"),
            ("a1", "iterator"),
            ("s1", "shielder"),
        ] {
            assert_eq!(info(&infos, child).awaited_by, [id(parent)], "{child}");
        }
        let parked: Vec<u32> = ["gatherer", "waiter", "iterator", "shielder"]
            .iter()
            .map(|n| line(&info(&infos, n)))
            .collect();
        assert_eq!(parked, *lines.borrow());
        assert_eq!(
            names(&capture_call_graph(&gatherer.erase()).awaits),
            ["g1", "g2"]
        );
        cancel_all(&[
            gatherer.erase(),
            waiter.erase(),
            iterator.erase(),
            shielder.erase(),
            g1.erase(),
            g2.erase(),
            w1.erase(),
            a1.erase(),
            s1.erase(),
        ]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn wait_for_is_transparent_and_a_task_group_owner_awaits_its_children() {
    run(async {
        let child = create_task(sleep(10))?;
        child.set_name("timed-child");
        let c = child.clone();
        let at = Rc::new(std::cell::Cell::new(0));
        let a = at.clone();
        let timed = create_task(async move {
            a.set(line!() + 1);
            let _ = wait_for(c, 60).await;
        })?;
        timed.set_name("timed");
        let group_at = Rc::new(std::cell::Cell::new(0));
        let g = group_at.clone();
        let owner = create_task(async move {
            g.set(line!() + 1);
            TaskGroup::run(|tg| async move {
                tg.create_task(async {
                    sleep(10).await?;
                    Ok::<_, Error>(())
                })?
                .set_name("member");
                Ok::<_, Error>(())
            })
            .await
        })?;
        owner.set_name("owner");
        settle().await;
        let infos = task_infos()?;
        assert_eq!(
            info(&infos, "timed-child").awaited_by,
            [info(&infos, "timed").id]
        );
        assert_eq!(line(&info(&infos, "timed")), at.get());
        assert_eq!(
            info(&infos, "member").awaited_by,
            [info(&infos, "owner").id]
        );
        assert_eq!(line(&info(&infos, "owner")), group_at.get());
        cancel_all(&[timed.erase(), child.erase(), owner.erase()]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn locks_queues_and_events_report_the_line_of_the_await() {
    run(async {
        let lock = Rc::new(Lock::new());
        let queue = Rc::new(Queue::<u8>::new(0));
        let event = Rc::new(Event::new());
        let lines = Rc::new(std::cell::RefCell::new(Vec::new()));
        let guard = lock.try_acquire();
        assert!(guard.is_some());
        let (lk, l) = (lock.clone(), lines.clone());
        let t1 = create_task(async move {
            l.borrow_mut().push(("locker", line!() + 1));
            let _guard = lk.acquire().await;
        })?;
        t1.set_name("locker");
        let (q, l) = (queue.clone(), lines.clone());
        let t2 = create_task(async move {
            l.borrow_mut().push(("getter", line!() + 1));
            let _ = q.get().await;
        })?;
        t2.set_name("getter");
        let (e, l) = (event.clone(), lines.clone());
        let t3 = create_task(async move {
            l.borrow_mut().push(("event", line!() + 1));
            e.wait().await;
        })?;
        t3.set_name("event");
        settle().await;
        let infos = task_infos()?;
        for (name, expected) in lines.borrow().iter() {
            assert_eq!(line(&info(&infos, name)), *expected, "{name}");
        }
        cancel_all(&[t1.erase(), t2.erase(), t3.erase()]);
        drop(guard);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn tasks_awaiting_each_other_show_as_a_cycle_in_the_tree() {
    run(async {
        let slot: Rc<std::cell::RefCell<Option<aio_task::Task<()>>>> = Rc::default();
        let s = slot.clone();
        let a = create_task(async move {
            sleep(0).await.unwrap();
            let b = s.borrow().clone().unwrap();
            let _ = b.await;
        })?;
        a.set_name("alpha");
        let a2 = a.clone();
        let b = create_task(async move {
            let _ = a2.await;
        })?;
        b.set_name("beta");
        *slot.borrow_mut() = Some(b.clone());
        settle().await;
        let infos = task_infos()?;
        assert_eq!(info(&infos, "alpha").awaited_by, [info(&infos, "beta").id]);
        assert_eq!(info(&infos, "beta").awaited_by, [info(&infos, "alpha").id]);
        let text = format_tasks(&aio_scheduler::get_running_loop()?);
        assert!(text.contains("cycle"), "{text}");
        assert!(
            text.contains("(T) alpha") && text.contains("(T) beta"),
            "{text}"
        );
        assert!(text.contains("└── (T) Task-1"), "{text}");
        // A graph through a cycle ends: each direction stops at a task already on the path.
        let graph = capture_call_graph(&a.erase());
        assert_eq!(names(&graph.awaits), ["beta"]);
        assert!(graph.awaits[0].awaits.is_empty());
        cancel_all(&[a.erase(), b.erase()]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn the_table_lists_every_task_with_its_line_and_awaiter() {
    run(async {
        let main = current_task().unwrap();
        main.set_name("main");
        let worker = create_task(sleep(10))?;
        worker.set_name("worker");
        let w = worker.clone();
        let boss = create_task(async move {
            let _ = w.await;
        })?;
        boss.set_name("boss");
        settle().await;
        let text = format_tasks(&aio_scheduler::get_running_loop()?);
        let header = text.lines().nth(1).unwrap();
        assert!(header.starts_with("ID  NAME"), "{text}");
        let row = text.lines().find(|l| l.contains(" worker ")).unwrap();
        assert!(
            row.contains("pending") && row.contains("boss (3)"),
            "{text}"
        );
        assert!(row.contains(&format!("{}:", file!())), "{text}");
        // The tree: main at the top, boss under nobody else, worker under boss.
        assert!(text.contains("(T) boss"), "{text}");
        let boss_line = text.lines().position(|l| l.contains("(T) boss")).unwrap();
        let worker_line = text.lines().position(|l| l.contains("(T) worker")).unwrap();
        assert_eq!(worker_line, boss_line + 1, "{text}");
        cancel_all(&[boss.erase(), worker.erase()]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn metrics_count_tasks_created_and_alive() {
    run(async {
        let lp = aio_scheduler::get_running_loop()?;
        let before = lp.metrics();
        let tasks: Vec<_> = (0..3).map(|_| create_task(sleep(10)).unwrap()).collect();
        let during = lp.metrics();
        assert_eq!(during.tasks_created - before.tasks_created, 3);
        assert_eq!(during.tasks_alive - before.tasks_alive, 3);
        for t in &tasks {
            t.cancel(None);
        }
        settle().await;
        assert_eq!(lp.metrics().tasks_alive, before.tasks_alive);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
