//! `call_soon_threadsafe` joins the same FIFO as `call_soon`, from the loop's own thread and
//! from another one (issue 14.10). CPython 3.12 and 3.13 print `['hello', 'world']`,
//! `['from thread', 'from loop']` and `['hello', 'world']` for:
//!
//! ```python
//! import asyncio, threading
//! async def main():
//!     loop = asyncio.get_running_loop()
//!     out = []
//!     loop.call_soon_threadsafe(out.append, 'hello')
//!     loop.call_soon(out.append, 'world')
//!     await asyncio.sleep(0.01)
//!     print(out)
//!     out.clear()
//!     t = threading.Thread(target=lambda: loop.call_soon_threadsafe(out.append, 'from thread'))
//!     t.start(); t.join()
//!     loop.call_soon(out.append, 'from loop')
//!     await asyncio.sleep(0.01)
//!     print(out)
//! asyncio.run(main())
//! loop = asyncio.new_event_loop()   # and before the loop runs
//! out = []
//! loop.call_soon_threadsafe(out.append, 'hello')
//! loop.call_soon(out.append, 'world')
//! loop.run_until_complete(asyncio.sleep(0.01))
//! print(out)
//! ```

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::sync::{Arc, Mutex};

use aio_scheduler::{EventLoop, get_running_loop, sleep};

type Log = Arc<Mutex<Vec<&'static str>>>;

fn push(log: &Log, what: &'static str) -> impl FnOnce() + Send + 'static {
    let log = log.clone();
    move || log.lock().unwrap().push(what)
}

#[test]
fn threadsafe_then_call_soon_run_in_call_order_on_a_running_loop() {
    let lp = EventLoop::new().unwrap();
    let log: Log = Arc::default();
    let l = log.clone();
    lp.run_until_complete(async move {
        let lp = get_running_loop().unwrap();
        // Through the loop and through its Send handle, from the loop's thread.
        lp.call_soon_threadsafe(push(&l, "hello")).unwrap();
        lp.call_soon(push(&l, "world")).unwrap();
        lp.handle()
            .call_soon_threadsafe(push(&l, "handle"))
            .unwrap();
        lp.call_soon(push(&l, "again")).unwrap();
        sleep(0.01).await.unwrap();
        assert_eq!(*l.lock().unwrap(), ["hello", "world", "handle", "again"]);
        l.lock().unwrap().clear();

        let handle = lp.handle();
        let l2 = l.clone();
        std::thread::spawn(move || handle.call_soon_threadsafe(push(&l2, "from thread")))
            .join()
            .unwrap()
            .unwrap();
        lp.call_soon(push(&l, "from loop")).unwrap();
        sleep(0.01).await.unwrap();
        assert_eq!(*l.lock().unwrap(), ["from thread", "from loop"]);
    })
    .unwrap();
}

#[test]
fn threadsafe_then_call_soon_run_in_call_order_before_the_loop_runs() {
    let lp = EventLoop::new().unwrap();
    let log: Log = Arc::default();
    lp.call_soon_threadsafe(push(&log, "hello")).unwrap();
    lp.call_soon(push(&log, "world")).unwrap();
    let handle = lp.handle();
    let l2 = log.clone();
    std::thread::spawn(move || handle.call_soon_threadsafe(push(&l2, "from thread")))
        .join()
        .unwrap()
        .unwrap();
    lp.call_soon(push(&log, "from loop")).unwrap();
    lp.run_until_complete(sleep(0.01)).unwrap().unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        ["hello", "world", "from thread", "from loop"]
    );
}
