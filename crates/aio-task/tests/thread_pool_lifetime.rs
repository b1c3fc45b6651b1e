//! A `ThreadPoolExecutor` lives as long as its handles: dropping the last one lets the
//! workers finish their queue and exit, without waiting out the idle timeout.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::sync::mpsc;
use std::time::Duration;

use aio_task::{Executor, ThreadPoolExecutor};

/// Sends on its channel when the thread that owns it exits.
struct ExitSignal(mpsc::Sender<()>);

impl Drop for ExitSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

thread_local! {
    static ON_EXIT: std::cell::RefCell<Option<ExitSignal>> = const { std::cell::RefCell::new(None) };
}

#[test]
fn dropping_the_last_handle_stops_the_workers() {
    // Idle workers would linger for a minute; the test waits at most 10 s.
    let pool = ThreadPoolExecutor::with_idle_timeout(1, Duration::from_secs(60));
    let (exited, on_exit) = mpsc::channel();
    let (ran, job_ran) = mpsc::channel();
    pool.submit(Box::new(move || {
        ON_EXIT.with(|slot| *slot.borrow_mut() = Some(ExitSignal(exited)));
        ran.send(()).unwrap();
    }))
    .unwrap();
    job_ran.recv_timeout(Duration::from_secs(10)).unwrap();
    let clone = pool.clone();
    drop(pool);
    assert!(
        on_exit.recv_timeout(Duration::from_millis(200)).is_err(),
        "a clone still holds the pool"
    );
    drop(clone);
    on_exit
        .recv_timeout(Duration::from_secs(10))
        .expect("the worker exits once the last handle is gone");
}
