//! The `tracing` feature: a span per task (id, name, parent task) around its steps, events for
//! slow callbacks (debug mode), exception-handler calls and unretrieved task errors, and loop
//! iterations at trace level — seen through `tracing-subscriber`'s fmt layer writing to a
//! buffer. Run with `cargo test -p aio-task --features tracing --test task_tracing`.
#![cfg(feature = "tracing")]

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aio_scheduler::{EventLoop, sleep};
use aio_task::{EventLoopExt, create_task, current_task};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with a fmt subscriber (every level, no colours) and returns what it wrote.
fn captured(f: impl FnOnce()) -> String {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = buffer.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn each_task_step_runs_in_a_span_with_its_id_name_and_parent() {
    let out = captured(|| {
        aio_task::run(async {
            current_task().unwrap().set_name("main");
            let child = create_task(async {
                tracing::info!("child step one");
                sleep(0).await.unwrap();
                tracing::info!("child step two");
            })
            .unwrap();
            child.set_name("worker");
            child.await.unwrap();
        })
        .unwrap();
    });
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("child step")).collect();
    assert_eq!(lines.len(), 2, "{out}");
    for line in lines {
        // The child's span, nested in nothing else: it runs as a task of its own.
        assert!(
            line.contains(" INFO task{id=2 parent_task=1 created_at="),
            "{line}"
        );
        assert!(
            line.contains(" name=worker}: task_tracing: child step"),
            "{line}"
        );
    }
}

#[test]
fn slow_callbacks_exception_handler_calls_and_unretrieved_errors_are_events() {
    let out = captured(|| {
        let lp = EventLoop::new().unwrap();
        lp.set_debug(true);
        lp.set_slow_callback_duration(Duration::from_millis(1));
        lp.set_exception_handler(|_, _| {});
        lp.call_soon(|| std::thread::sleep(Duration::from_millis(20)))
            .unwrap();
        let failing = lp
            .create_task(async { panic!("boom") })
            .map(|t| t.erase())
            .unwrap();
        lp.run_until_complete(sleep(0.01)).unwrap().unwrap();
        assert!(failing.done());
        drop(failing); // nobody looked at the error
        lp.run_until_complete(sleep(0)).unwrap().unwrap();
    });
    assert!(out.contains("WARN aio::loop: slow callback"), "{out}");
    assert!(
        out.lines().any(|l| l.contains("ERROR")
            && l.contains("aio::task")
            && l.contains("Task exception was never retrieved")
            && l.contains("boom")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("ERROR aio::exception") && l.contains("Executing callback took")),
        "{out}"
    );
    assert!(out.contains("TRACE aio::loop: loop iteration"), "{out}");
}
