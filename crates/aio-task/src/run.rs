//! `run`: asyncio's `asyncio.run`.

use std::future::Future;

use std::cell::Cell;
use std::rc::Rc;

use aio_scheduler::{EventLoop, ExceptionContext, get_running_loop, signal};

use crate::task::{Registry, spawn};
use crate::{Error, TaskRef};

/// Runs `main` as a task on a new event loop and returns its output (asyncio's
/// `asyncio.run`).
///
/// When `main` finishes, every task still alive is cancelled and the loop runs until they
/// are all done (a task that failed with something other than cancellation on the way is
/// reported to the exception handler); then the default executor is shut down (waiting for
/// its threads) and the loop is closed.
///
/// Ctrl-C works as with asyncio's `Runner`: when `run` is called on the main thread and
/// SIGINT has its default disposition, the first SIGINT cancels the main task, which gets the
/// chance to clean up (its pending `await` fails with [`Error::Cancelled`]); if the task ends
/// cancelled, `run` returns [`Error::KeyboardInterrupt`] after the usual shutdown. From the
/// first SIGINT on, SIGINT is back at its default disposition (reset in the signal handler
/// itself, so even while the loop is blocked), and a second one ends the process at once. On other threads, or with a SIGINT handler of the program's own, `run`
/// leaves SIGINT alone.
///
/// # Errors
///
/// [`Error::Runtime`] if called while a loop is running on this thread or if the loop cannot
/// be created; [`Error::KeyboardInterrupt`] as above; otherwise `main`'s task error
/// ([`Error::Panicked`], [`Error::Cancelled`]).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// let answer = aio_task::run(async {
///     aio_scheduler::sleep(0.01).await?;
///     Ok::<_, aio_task::Error>(42)
/// })??;
/// assert_eq!(answer, 42);
/// assert!(start.elapsed() >= Duration::from_millis(10));
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn run<F>(main: F) -> Result<F::Output, Error>
where
    F: Future + 'static,
    F::Output: 'static,
{
    if get_running_loop().is_ok() {
        return Err(aio_scheduler::Error::AnotherLoopRunning.into());
    }
    let event_loop = EventLoop::new()?;
    let outcome = spawn(&event_loop, main).and_then(|task| {
        let interrupts = handle_ctrl_c(&event_loop, task.erase());
        let outcome = event_loop
            .run_until_complete(task)
            .map_err(Error::from)
            .and_then(|result| result);
        match outcome {
            Err(Error::Cancelled(_)) if interrupts.get() > 0 => Err(Error::KeyboardInterrupt),
            other => other,
        }
    });
    cancel_all_tasks(&event_loop);
    // asyncio.run: wait for the default executor's threads (only if one was started). An
    // error here can only mean the loop cannot run, and closing it next is all that is left.
    let _ = event_loop.run_until_complete(crate::shutdown_default_executor());
    // Not running (run_until_complete returned), so close cannot fail.
    let _ = event_loop.close();
    outcome
}

/// asyncio's `Runner._on_sigint`, installed when SIGINT is at its default on the main thread:
/// the first SIGINT cancels `main` and puts SIGINT back to its default, so the next one ends
/// the process even if the loop is stuck. Returns the number of SIGINTs seen.
fn handle_ctrl_c(event_loop: &EventLoop, main: TaskRef) -> Rc<Cell<u32>> {
    let interrupts = Rc::new(Cell::new(0u32));
    if !signal::is_main_thread() || !signal::is_default(signal::SIGINT) {
        return interrupts;
    }
    let count = interrupts.clone();
    let weak = event_loop.downgrade();
    let installed = event_loop.add_signal_handler(signal::SIGINT, move || {
        count.set(count.get() + 1);
        if count.get() > 1 || main.done() {
            // A second SIGINT that arrived before the first was handled: interrupt now.
            signal::die_by(signal::SIGINT);
        }
        // Default disposition first: if the cancellation runs a long cleanup, the next
        // SIGINT must not wait for it.
        if let Some(event_loop) = weak.upgrade() {
            let _ = event_loop.remove_signal_handler(signal::SIGINT);
        }
        main.cancel(None);
    });
    // Without the handler (out of slots, no socket), Ctrl-C keeps its default: it ends the
    // process, as it would without `run`. With it, the first SIGINT also puts the default
    // back in signal context, so the second ends the process even if the loop is blocked
    // and never gets to run the handler above.
    if installed.is_ok() {
        let _ = signal::reset_on_delivery(signal::SIGINT);
    }
    interrupts
}

/// asyncio's `_cancel_all_tasks`: cancel what is left, wait for it, report real failures.
fn cancel_all_tasks(event_loop: &EventLoop) {
    let tasks = event_loop.extension::<Registry>().live();
    if tasks.is_empty() {
        return;
    }
    for task in &tasks {
        task.cancel(None);
    }
    let waiting: Vec<TaskRef> = tasks.clone();
    // The loop is not closed and not running here; an error would only mean it cannot run,
    // and closing it next drops whatever is left either way.
    let _ = event_loop.run_until_complete(async move {
        for task in &waiting {
            task.wait().await;
        }
    });
    for task in tasks {
        if let Some(error) = task.error().filter(|e| !e.is_cancelled()) {
            let ctx = ExceptionContext::new("unhandled exception during aio::run() shutdown")
                .with_task(task.get_name())
                .with_error(std::sync::Arc::new(error));
            event_loop.call_exception_handler(&ctx);
        }
    }
}
