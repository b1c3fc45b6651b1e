//! Tasks, `sleep(0)` and `call_soon` chains interleave exactly as in CPython 3.11.
//!
//! The expected trace was produced by this Python program:
//!
//! ```python
//! async def main():
//!     loop = asyncio.get_running_loop()
//!     log = []
//!     def cb(i):
//!         log.append(f"cb{i}")
//!         if i < 3: loop.call_soon(cb, i + 1)
//!     loop.call_soon(cb, 0)
//!     async def t(name):
//!         for i in range(3):
//!             log.append(f"{name}{i}")
//!             await asyncio.sleep(0)
//!     a = asyncio.create_task(t("a")); b = asyncio.create_task(t("b"))
//!     await a; await b
//!     print(log)
//! ```

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;
use std::rc::Rc;

use aio_scheduler::{EventLoop, get_running_loop, sleep};
use aio_task::{Error, create_task, run};

type Log = Rc<RefCell<Vec<String>>>;

fn cb(lp: EventLoop, log: Log, i: u32) {
    log.borrow_mut().push(format!("cb{i}"));
    if i < 3 {
        let lp2 = lp.clone();
        lp.call_soon(move || cb(lp2, log, i + 1)).unwrap();
    }
}

async fn t(name: &'static str, log: Log) -> Result<(), Error> {
    for i in 0..3 {
        log.borrow_mut().push(format!("{name}{i}"));
        sleep(0).await?;
    }
    Ok(())
}

#[test]
fn trace_matches_cpython() {
    let log: Log = Rc::default();
    let l = log.clone();
    run(async move {
        let lp = get_running_loop()?;
        let (lp2, l2) = (lp.clone(), l.clone());
        lp.call_soon(move || cb(lp2, l2, 0))?;
        let a = create_task(t("a", l.clone()))?;
        let b = create_task(t("b", l.clone()))?;
        a.await??;
        b.await??;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "cb0", "a0", "b0", "cb1", "a1", "b1", "cb2", "a2", "b2", "cb3"
        ]
    );
}
