//! Local steps (`spawn_local_step`): loop machinery woken through a waker with no reference
//! count. Each wake (or burst of wakes) before a step runs makes one step, also when the
//! wakes come from another thread, or while the loop is not running, through the remote
//! queue; a waker of a finished step reaches nothing (not even a later step in the same
//! slot); a panicking step, or a panicking destructor of a finished one, is reported and the
//! loop goes on; closing the loop drops the steps still waiting. A step the loop lets go of
//! unfinished (it panicked, or the loop closed) is abandoned first, and only then.
#![cfg(target_pointer_width = "64")]

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use aio_scheduler::{Error, EventLoop, LocalStep, sleep, spawn_local_step};

/// Counts its steps, keeps its waker, finishes when told to, and notes its drop.
#[derive(Default)]
struct Probe {
    steps: Cell<u32>,
    waker: RefCell<Option<Waker>>,
    finish: Cell<bool>,
    /// Wakes itself this many times inside its next step.
    self_wakes: Cell<u32>,
    dropped: Rc<Cell<bool>>,
    /// `abandon` calls.
    abandoned: Rc<Cell<u32>>,
}

impl LocalStep for Probe {
    fn step(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.steps.set(self.steps.get() + 1);
        *self.waker.borrow_mut() = Some(cx.waker().clone());
        for _ in 0..self.self_wakes.replace(0) {
            cx.waker().wake_by_ref();
        }
        if self.finish.get() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn abandon(&self) {
        self.abandoned.set(self.abandoned.get() + 1);
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.dropped.set(true);
    }
}

impl Probe {
    fn waker(&self) -> Waker {
        self.waker.borrow().clone().expect("stepped once")
    }
}

/// What `lp`'s exception handler is given, as text, in order.
fn capture_reports(lp: &EventLoop) -> Rc<RefCell<Vec<String>>> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    lp.set_exception_handler(move |_, ctx| s.borrow_mut().push(ctx.to_string()));
    seen
}

/// Lets the loop run what is ready (a few iterations).
async fn settle() {
    for _ in 0..3 {
        sleep(0).await.unwrap();
    }
}

/// A probe spawned on the running loop, after its first step.
async fn started() -> Rc<Probe> {
    let probe = Rc::new(Probe::default());
    spawn_local_step(probe.clone()).unwrap();
    settle().await;
    assert_eq!(probe.steps.get(), 1);
    probe
}

#[test]
fn wakes_before_a_step_make_one_step() {
    let lp = EventLoop::new().unwrap();
    lp.run_until_complete(async {
        let probe = Rc::new(Probe::default());
        spawn_local_step(probe.clone())?;
        assert_eq!(probe.steps.get(), 0, "the first step waits for the loop");
        settle().await;
        assert_eq!(probe.steps.get(), 1);
        let waker = probe.waker();
        assert!(waker.will_wake(&waker.clone()));
        waker.wake_by_ref();
        let clone = waker.clone();
        clone.wake(); // by value
        waker.wake_by_ref();
        settle().await;
        assert_eq!(probe.steps.get(), 2, "three wakes, one step");
        // Wakes made during a step queue the next one (once).
        probe.self_wakes.set(3);
        waker.wake_by_ref();
        settle().await;
        assert_eq!(probe.steps.get(), 4);
        probe.finish.set(true);
        waker.wake_by_ref();
        settle().await;
        assert_eq!(probe.steps.get(), 5);
        assert_eq!(
            Rc::strong_count(&probe),
            1,
            "the loop let go of the finished step"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_wake_from_another_thread_wakes_the_sleeping_loop() {
    let lp = EventLoop::new().unwrap();
    lp.run_until_complete(async {
        let probe = started().await;
        let waker = probe.waker();
        let waking = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            waker.wake();
        });
        // The loop blocks in its reactor until the wake arrives (bounded for safety).
        let start = std::time::Instant::now();
        while probe.steps.get() < 2 {
            assert!(start.elapsed() < Duration::from_secs(20), "wake lost");
            sleep(0.005).await?;
        }
        waking.join().unwrap();
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_wake_while_the_loop_is_not_running_runs_at_the_next_run() {
    let lp = EventLoop::new().unwrap();
    let probe = lp.run_until_complete(started()).unwrap();
    // Through the remote queue (the loop is not running), and merged there too.
    for _ in 0..3 {
        probe.waker().wake_by_ref();
    }
    let waker = probe.waker();
    std::thread::spawn(move || waker.wake()).join().unwrap();
    assert_eq!(probe.steps.get(), 1, "not run outside the loop");
    lp.run_until_complete(settle()).unwrap();
    assert_eq!(probe.steps.get(), 2, "four wakes, one step");
}

#[test]
fn the_waker_of_a_finished_step_reaches_nothing() {
    let lp = EventLoop::new().unwrap();
    lp.run_until_complete(async {
        let first = Rc::new(Probe::default());
        first.finish.set(true);
        spawn_local_step(first.clone())?;
        settle().await;
        assert_eq!(first.steps.get(), 1);
        assert_eq!(
            Rc::strong_count(&first),
            1,
            "the loop let go of the finished step"
        );
        let stale = first.waker();
        // A new step takes the freed slot; the old waker must not wake it.
        let second = Rc::new(Probe::default());
        spawn_local_step(second.clone())?;
        settle().await;
        assert_eq!(second.steps.get(), 1);
        stale.wake_by_ref();
        settle().await;
        assert_eq!((first.steps.get(), second.steps.get()), (1, 1));
        second.waker().wake_by_ref();
        settle().await;
        assert_eq!(second.steps.get(), 2);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Panics at its first step; counts its `abandon` calls (the second field), which panic too
/// if the third says so.
struct Panicky(Rc<Cell<bool>>, Rc<Cell<u32>>, bool);

impl LocalStep for Panicky {
    fn step(&self, _: &mut Context<'_>) -> Poll<()> {
        panic!("a step failed");
    }

    fn abandon(&self) {
        self.1.set(self.1.get() + 1);
        assert!(!self.2, "abandoning failed");
    }
}

impl Drop for Panicky {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn a_panicking_step_is_reported_and_dropped_and_the_loop_goes_on() {
    let lp = EventLoop::new().unwrap();
    let seen = capture_reports(&lp);
    let dropped = Rc::new(Cell::new(false));
    let abandoned = Rc::new(Cell::new(0));
    let (d, a) = (dropped.clone(), abandoned.clone());
    let finished = lp
        .run_until_complete(async move {
            spawn_local_step(Rc::new(Panicky(d, a, false)))?;
            settle().await;
            Ok::<_, Error>("the loop went on")
        })
        .unwrap()
        .unwrap();
    assert_eq!(finished, "the loop went on");
    assert!(dropped.get());
    assert_eq!(abandoned.get(), 1);
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].contains("Exception in callback") && seen[0].contains("a step failed"),
        "{seen:?}"
    );
}

#[test]
fn a_step_and_its_abandon_that_both_panic_are_both_reported_in_order() {
    let lp = EventLoop::new().unwrap();
    let seen = capture_reports(&lp);
    let dropped = Rc::new(Cell::new(false));
    let abandoned = Rc::new(Cell::new(0));
    let (d, a) = (dropped.clone(), abandoned.clone());
    lp.run_until_complete(async move {
        spawn_local_step(Rc::new(Panicky(d, a, true)))?;
        settle().await;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert!(dropped.get());
    assert_eq!(abandoned.get(), 1);
    let seen = seen.borrow();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].contains("a step failed"), "{seen:?}");
    assert!(seen[1].contains("abandoning failed"), "{seen:?}");
}

#[test]
fn a_finished_step_is_not_abandoned() {
    let lp = EventLoop::new().unwrap();
    let abandoned = lp
        .run_until_complete(async {
            let probe = started().await;
            probe.finish.set(true);
            probe.waker().wake();
            settle().await;
            assert_eq!(probe.steps.get(), 2);
            probe.abandoned.clone()
        })
        .unwrap();
    lp.close().unwrap();
    assert_eq!(abandoned.get(), 0);
}

#[test]
fn closing_the_loop_drops_waiting_steps_and_later_wakes_do_nothing() {
    let lp = EventLoop::new().unwrap();
    let probe = lp.run_until_complete(started()).unwrap();
    let dropped = probe.dropped.clone();
    let abandoned = probe.abandoned.clone();
    let waker = probe.waker();
    drop(probe);
    assert!(!dropped.get(), "the loop holds it while it waits");
    assert_eq!(abandoned.get(), 0);
    lp.close().unwrap();
    assert!(dropped.get());
    assert_eq!(abandoned.get(), 1);
    waker.wake_by_ref(); // nothing to reach, on this thread or another
    std::thread::spawn(move || waker.wake()).join().unwrap();
}

#[test]
fn outside_a_running_loop_there_is_no_local_step() {
    let probe = Rc::new(Probe::default());
    let dropped = probe.dropped.clone();
    assert!(matches!(spawn_local_step(probe), Err(Error::NoRunningLoop)));
    assert!(dropped.get());
}

/// Finishes at its first step, and panics when dropped.
struct PanicsOnDrop;

impl LocalStep for PanicsOnDrop {
    fn step(&self, _: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("a step's destructor failed");
    }
}

#[test]
fn a_panicking_destructor_of_a_finished_step_is_reported_and_the_loop_goes_on() {
    let lp = EventLoop::new().unwrap();
    let seen = capture_reports(&lp);
    let finished = lp
        .run_until_complete(async {
            spawn_local_step(Rc::new(PanicsOnDrop))?;
            settle().await;
            Ok::<_, Error>("the loop went on")
        })
        .unwrap()
        .unwrap();
    assert_eq!(finished, "the loop went on");
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].contains("a step's destructor failed"), "{seen:?}");
}
