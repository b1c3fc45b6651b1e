//! `Event` keeps asyncio's guarantees: `set` wakes every waiter, a woken waiter returns even
//! if the flag was cleared before it ran, `wait` returns at once while the flag is set, and a
//! cancelled waiter is harmless (ports of CPython's `EventTests`).

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use aio_scheduler::sleep;
use aio_sync::Event;
use aio_task::{Error, Task, create_task, run};
use common::Hand;

type Log = Rc<RefCell<Vec<u32>>>;

fn waiter(event: &Rc<Event>, id: u32, log: &Log) -> Result<Task<()>, Error> {
    let (event, log) = (event.clone(), log.clone());
    create_task(async move {
        event.wait().await;
        log.borrow_mut().push(id);
    })
}

/// CPython `test_wait`: `set` wakes every waiter; a waiter created after the tasks started
/// but before `set` runs first (it finds the flag set without waiting).
#[test]
fn set_wakes_all_waiters() {
    run(async {
        let event = Rc::new(Event::new());
        assert!(!event.is_set());
        let log: Log = Rc::default();
        let t1 = waiter(&event, 1, &log)?;
        let t2 = waiter(&event, 2, &log)?;
        sleep(0).await?;
        assert_eq!(*log.borrow(), []);
        let t3 = waiter(&event, 3, &log)?;
        event.set();
        sleep(0).await?;
        assert_eq!(*log.borrow(), [3, 1, 2]);
        assert!(t1.done() && t2.done() && t3.done());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_wait_on_set`.
#[test]
fn wait_returns_at_once_when_set() {
    let event = Event::new();
    event.set();
    assert!(Hand::start(event.wait()).is_ok(), "no waiting while set");
    assert!(Hand::start(event.wait()).is_ok(), "still set");
    event.clear();
    assert!(Hand::start(event.wait()).is_err());
}

/// CPython `test_wait_cancel`: the cancelled waiter leaves no trace; a later `set` works.
#[test]
fn cancelled_waiter_is_harmless() {
    run(async {
        let event = Rc::new(Event::new());
        let e = event.clone();
        let task = create_task(async move { e.wait().await })?;
        sleep(0).await?;
        task.cancel(None);
        assert!(task.await.unwrap_err().is_cancelled());
        let log: Log = Rc::default();
        let other = waiter(&event, 1, &log)?;
        sleep(0).await?;
        event.set();
        other.await?;
        assert_eq!(*log.borrow(), [1]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Cancelling a waiter after `set` woke it (before it ran) disturbs nobody else.
#[test]
fn waiter_cancelled_after_set_is_harmless() {
    let event = Event::new();
    let a = Hand::pending(event.wait());
    let mut b = Hand::pending(event.wait());
    let c = Hand::pending(event.wait());
    c.cancel(); // cancelled before set
    event.set();
    assert!(a.woken() && b.woken());
    a.cancel(); // cancelled after being woken
    b.ready();
    assert!(event.is_set());
}

/// CPython `test_clear` and `test_clear_with_waiters`: a waiter woken by `set` returns even
/// though the flag was cleared before it ran; setting again does not re-queue it.
#[test]
fn waiter_woken_then_cleared_still_returns() {
    run(async {
        let event = Rc::new(Event::new());
        event.set();
        assert!(event.is_set());
        event.clear();
        assert!(!event.is_set());

        let log: Log = Rc::default();
        let t = waiter(&event, 1, &log)?;
        sleep(0).await?;
        assert_eq!(*log.borrow(), []);
        event.set();
        event.clear();
        assert!(!event.is_set());
        event.set();
        event.set();
        sleep(0).await?;
        assert_eq!(*log.borrow(), [1]);
        assert!(t.done());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Hand-polled: set then clear before the waiters are polled; they all complete, and a new
/// waiter blocks.
#[test]
fn set_clear_before_poll_still_completes_every_woken_waiter() {
    let event = Event::new();
    let mut hands: Vec<_> = (0..4).map(|_| Hand::pending(event.wait())).collect();
    event.set();
    event.clear();
    assert!(hands.iter().all(Hand::woken));
    let mut late = Hand::pending(event.wait());
    for hand in &mut hands {
        hand.ready();
    }
    late.still_pending();
    assert!(!late.woken());
    event.set();
    assert!(late.woken());
    late.ready();
}

/// An event can be set and waited on repeatedly (many rounds).
#[test]
fn event_rounds() {
    run(async {
        let go = Rc::new(Event::new());
        let log: Log = Rc::default();
        for round in 0..5 {
            let tasks: Vec<_> = (0..3)
                .map(|i| waiter(&go, round * 10 + i, &log))
                .collect::<Result<_, _>>()?;
            sleep(0).await?;
            assert_eq!(log.borrow().len(), (round * 3) as usize);
            go.set();
            for task in tasks {
                task.await?;
            }
            go.clear();
        }
        assert_eq!(log.borrow().len(), 15);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
