//! `Task::cancel(msg)`: the future is dropped at its next scheduling point, destructors run,
//! awaiting gives `Cancelled` with the message; asyncio's return values and counters.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use aio_scheduler::sleep;
use aio_task::{Error, create_task, current_task, run};

/// Sets its flag when dropped: stands in for a `finally` block.
struct OnDrop(Rc<Cell<bool>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn cancel_drops_the_future_and_reports_the_message() {
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    run(async move {
        let task = create_task(async move {
            let _guard = OnDrop(d);
            sleep(3600).await.unwrap();
            unreachable!("cancelled while sleeping");
        })?;
        sleep(0).await?; // the task starts and parks in its sleep
        assert!(task.cancel("stop now"));
        assert!(
            !task.done(),
            "cancellation takes effect at the next scheduling point"
        );
        let err = task.clone().await.unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(err.cancel_message(), Some("stop now"));
        assert!(task.done() && task.cancelled());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert!(dropped.get(), "the task's destructors ran");
}

#[test]
fn cancel_returns_true_until_done_then_false() {
    run(async {
        let task = create_task(sleep(3600))?;
        assert!(task.cancel(None));
        assert!(task.cancel(None), "asyncio: True again while not done");
        assert_eq!(task.cancelling(), 2);
        let _ = task.clone().await;
        assert!(!task.cancel(None));
        let finished = create_task(async {})?;
        finished.clone().await?;
        assert!(!finished.cancel(None));
        assert!(!finished.cancelled());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_task_cancelled_before_it_starts_never_runs() {
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    run(async move {
        let task = create_task(async move { r.set(true) })?;
        task.cancel(None);
        assert!(task.await.unwrap_err().is_cancelled());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert!(!ran.get());
}

#[test]
fn a_task_that_returns_after_cancelling_itself_is_cancelled() {
    run(async {
        let task = create_task(async {
            current_task().unwrap().cancel("self");
            42
        })?;
        let err = task.await.unwrap_err();
        assert_eq!(err.cancel_message(), Some("self"));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_task_cancelled_while_running_is_dropped_at_its_next_await() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    run(async move {
        let task = create_task(async move {
            l.borrow_mut().push("before");
            current_task().unwrap().cancel(None);
            l.borrow_mut().push("still running until the await");
            sleep(0).await.unwrap();
            l.borrow_mut().push("never");
        })?;
        assert!(task.await.unwrap_err().is_cancelled());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(*log.borrow(), ["before", "still running until the await"]);
}

#[test]
fn awaiters_of_a_cancelled_task_are_woken() {
    run(async {
        let sleeper = create_task(sleep(3600))?;
        let s = sleeper.clone();
        let watcher = create_task(async move { s.await.unwrap_err().is_cancelled() })?;
        sleep(0).await?;
        sleeper.cancel(None);
        assert!(watcher.await?);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Writes through a borrow of a local of the async block that holds it, when dropped.
struct Bump<'a>(&'a mut u64, Rc<Cell<u64>>);

impl Drop for Bump<'_> {
    fn drop(&mut self) {
        *self.0 += 1;
        self.1.set(*self.0);
    }
}

// Regression (found under miri): the address a cancelled task publishes for the drop of its
// future was taken through a shared reference to the whole future, which invalidated the
// borrow a destructor inside it still wrote through (undefined behaviour, whatever the
// output). Natively this always passed; `.ci/run` runs this file under miri.
#[test]
fn a_cancelled_future_borrowing_its_own_local_is_dropped_soundly() {
    let seen = Rc::new(Cell::new(0));
    let s = seen.clone();
    run(async move {
        let task = create_task(async move {
            let mut x = 41u64;
            let _bump = Bump(&mut x, s);
            std::future::pending::<()>().await;
        })?;
        sleep(0).await?;
        task.cancel("bye");
        assert!(matches!(task.clone().await, Err(Error::Cancelled(_))));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(seen.get(), 42);
}
