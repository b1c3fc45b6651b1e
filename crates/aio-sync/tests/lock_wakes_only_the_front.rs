//! A `Lock` wakes only its front waiter (asyncio's `_wake_up_first`): cancelling a waiter
//! further back while the front one is already woken must not wake a second one, or two
//! tasks would hold the lock at once.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;

use aio_scheduler::sleep;
use aio_sync::Lock;
use aio_task::{Error, create_task, run};

#[test]
fn cancelling_a_back_waiter_after_a_release_wakes_nobody_else() {
    run(async {
        let lock = Rc::new(Lock::new());
        let holders = Rc::new(Cell::new(0u32));
        let max_holders = Rc::new(Cell::new(0u32));
        let guard = lock.acquire().await;
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let (l, h, m) = (lock.clone(), holders.clone(), max_holders.clone());
            tasks.push(create_task(async move {
                let _guard = l.acquire().await;
                h.set(h.get() + 1);
                m.set(m.get().max(h.get()));
                sleep(0).await.unwrap();
                h.set(h.get() - 1);
            })?);
        }
        sleep(0).await?; // A and B queue up
        // C queues behind them, polled by hand so it can be dropped at an exact moment.
        let mut c = Box::pin(lock.acquire());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(c.as_mut().poll(&mut cx).is_pending());
        drop(guard); // wakes A
        drop(c); // C leaves while A is woken but has not run: B must stay asleep
        for task in tasks {
            task.await?;
        }
        assert_eq!(max_holders.get(), 1, "two tasks held the lock at once");
        assert!(!lock.locked());
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
