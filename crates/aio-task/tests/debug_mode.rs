//! Debug mode: a slow task step is reported through the exception handler as "Executing
//! <task> created at <this file>:<line>:<col> took ..."; a slow plain callback is reported
//! too; `AIO_DEBUG=1` turns debug mode on for new loops; tasks still pending when their loop
//! closes are reported "Task was destroyed but it is pending!" with their name (and creation
//! site in debug mode).

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use aio_scheduler::{EventLoop, sleep};
use aio_task::{Error, EventLoopExt, create_task};

/// What the exception handler saw: (message, task).
type Seen = Rc<RefCell<Vec<(String, Option<String>)>>>;

fn capture(lp: &EventLoop) -> Seen {
    let seen: Seen = Rc::default();
    let s = seen.clone();
    lp.set_exception_handler(move |_, ctx| {
        s.borrow_mut().push((ctx.message.clone(), ctx.task.clone()));
    });
    seen
}

fn debug_loop(slow: Duration) -> (EventLoop, Seen) {
    let lp = EventLoop::new().unwrap();
    lp.set_debug(true);
    lp.set_slow_callback_duration(slow);
    let seen = capture(&lp);
    (lp, seen)
}

/// Reports mentioning `needle`.
fn mentioning(seen: &Seen, needle: &str) -> Vec<(String, Option<String>)> {
    seen.borrow()
        .iter()
        .filter(|(message, _)| message.contains(needle))
        .cloned()
        .collect()
}

#[test]
fn a_slow_task_step_is_reported_with_its_name_and_creation_site() {
    let (lp, seen) = debug_loop(Duration::from_millis(5));
    let created_on = lp
        .run_until_complete(async {
            let line = line!() + 1;
            let task = create_task(async {
                std::thread::sleep(Duration::from_millis(30));
            })?;
            task.set_name("sluggish");
            task.await?;
            Ok::<_, Error>(line)
        })
        .unwrap()
        .unwrap();
    let reports = mentioning(&seen, "sluggish");
    assert_eq!(reports.len(), 1, "{:?}", seen.borrow());
    let (message, task) = &reports[0];
    assert!(
        message.starts_with("Executing sluggish created at "),
        "{message}"
    );
    assert!(
        message.contains(&format!("created at {}:{created_on}:", file!())),
        "the creation site is this file's create_task call: {message}"
    );
    assert!(message.contains(" took "), "{message}");
    assert_eq!(task.as_deref(), Some("sluggish"));
}

#[test]
fn a_slow_plain_callback_is_reported() {
    let (lp, seen) = debug_loop(Duration::from_millis(5));
    lp.call_soon(|| std::thread::sleep(Duration::from_millis(30)))
        .unwrap();
    lp.run_until_complete(sleep(0.001)).unwrap().unwrap();
    let reports = mentioning(&seen, "callback");
    assert_eq!(reports.len(), 1, "{:?}", seen.borrow());
    assert!(reports[0].0.starts_with("Executing callback took "));
}

#[test]
fn steps_under_the_threshold_are_not_reported() {
    let (lp, seen) = debug_loop(Duration::from_secs(2));
    lp.run_until_complete(async {
        let task = create_task(async { std::thread::sleep(Duration::from_millis(30)) }).unwrap();
        task.await.unwrap();
    })
    .unwrap();
    assert!(seen.borrow().is_empty(), "{:?}", seen.borrow());
}

#[test]
fn without_debug_mode_slow_steps_are_not_reported() {
    let lp = EventLoop::new().unwrap();
    lp.set_debug(false);
    lp.set_slow_callback_duration(Duration::from_millis(5));
    let seen = capture(&lp);
    lp.call_soon(|| std::thread::sleep(Duration::from_millis(30)))
        .unwrap();
    lp.run_until_complete(async {
        let task = create_task(async { std::thread::sleep(Duration::from_millis(30)) }).unwrap();
        task.await.unwrap();
    })
    .unwrap();
    assert!(seen.borrow().is_empty(), "{:?}", seen.borrow());
}

#[test]
fn a_task_pending_at_close_is_reported_with_its_creation_site_in_debug_mode() {
    let (lp, seen) = debug_loop(Duration::from_secs(2));
    let line = line!() + 1;
    let task = lp.create_task(sleep(3600)).unwrap();
    task.set_name("abandoned");
    lp.run_until_complete(sleep(0.001)).unwrap().unwrap();
    lp.close().unwrap();
    let reports = mentioning(&seen, "pending");
    assert_eq!(reports.len(), 1, "{:?}", seen.borrow());
    let (message, task_desc) = &reports[0];
    assert_eq!(message, "Task was destroyed but it is pending!");
    let task_desc = task_desc.as_deref().unwrap();
    assert!(
        task_desc.starts_with("abandoned created at "),
        "{task_desc}"
    );
    assert!(
        task_desc.contains(&format!("{}:{line}:", file!())),
        "{task_desc}"
    );
    assert!(task.cancelled());
}

#[test]
fn a_task_pending_at_close_is_reported_by_name_without_debug_mode() {
    let lp = EventLoop::new().unwrap();
    lp.set_debug(false);
    let seen = capture(&lp);
    let task = lp.create_task(sleep(3600)).unwrap();
    task.set_name("left behind");
    let finished = lp.create_task(async {}).unwrap();
    lp.run_until_complete(sleep(0.001)).unwrap().unwrap();
    assert!(finished.done());
    lp.close().unwrap();
    assert_eq!(
        *seen.borrow(),
        [(
            String::from("Task was destroyed but it is pending!"),
            Some(String::from("left behind"))
        )],
        "only the pending task, by name"
    );
}

#[test]
fn tasks_created_by_combinators_record_the_callers_site() {
    let (lp, seen) = debug_loop(Duration::from_secs(2));
    let line = line!() + 3;
    lp.run_until_complete(async {
        // Both created here, from coroutines, and left pending.
        std::mem::forget(aio_task::gather([sleep(3600)]));
        let _shielded = aio_task::shield(sleep(3600));
        sleep(0.001).await.unwrap();
    })
    .unwrap();
    lp.close().unwrap();
    let sites: Vec<String> = mentioning(&seen, "pending")
        .into_iter()
        .filter_map(|(_, task)| task)
        .collect();
    assert_eq!(sites.len(), 2, "{sites:?}");
    for (offset, site) in sites.iter().enumerate() {
        let expected = format!("created at {}:{}:", file!(), line + offset as u32);
        assert!(site.contains(&expected), "{site} should contain {expected}");
    }
}

/// The expectation a child process of [`aio_debug_1_enables_debug_mode_on_new_loops`] checks.
const CHILD: &str = "AIO_TASK_TEST_EXPECT_DEBUG";

#[test]
fn aio_debug_1_enables_debug_mode_on_new_loops() {
    if let Some(expected) = std::env::var_os(CHILD) {
        // In the child process: the environment was set up by the parent.
        let lp = EventLoop::new().unwrap();
        assert_eq!(lp.get_debug(), expected == "on");
        let seen = capture(&lp);
        lp.create_task(sleep(3600)).unwrap();
        lp.close().unwrap();
        let task = seen.borrow()[0].1.clone().unwrap();
        assert_eq!(task.contains(" created at "), expected == "on", "{task}");
        return;
    }
    // The environment is process-global, so each setting is tried in a child process.
    let cases: [(Option<&str>, &str); 3] = [(Some("1"), "on"), (Some("0"), "off"), (None, "off")];
    for (value, expected) in cases {
        let mut child = Command::new(std::env::current_exe().unwrap());
        child
            .args([
                "--exact",
                "aio_debug_1_enables_debug_mode_on_new_loops",
                "--test-threads=1",
            ])
            .env(CHILD, expected);
        match value {
            Some(value) => child.env("AIO_DEBUG", value),
            None => child.env_remove("AIO_DEBUG"),
        };
        let out = child.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "AIO_DEBUG={value:?}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("1 passed"),
            "the child ran the test: {stdout}"
        );
    }
}

/// A slow step of an internal task (a layer's machinery) is reported as asyncio reports a
/// slow transport callback: where it comes from, once, and with no task.
#[test]
fn a_slow_internal_task_step_names_where_it_was_created_and_no_task() {
    let (lp, seen) = debug_loop(Duration::from_millis(5));
    let line = lp
        .run_until_complete(async {
            let line = line!() + 1;
            let machinery = aio_task::create_internal_task(async {
                std::thread::sleep(Duration::from_millis(30));
            })?;
            machinery.await?;
            Ok::<_, Error>(line)
        })
        .unwrap()
        .unwrap();
    let reports = mentioning(&seen, "took");
    assert_eq!(reports.len(), 1, "{:?}", seen.borrow());
    let (message, task) = &reports[0];
    let site = format!("{}:{line}:", file!());
    assert!(
        message.starts_with("Executing internal task from ") && message.contains(&site),
        "{message}"
    );
    assert_eq!(message.matches(&site).count(), 1, "{message}");
    assert_eq!(*task, None);
}
