//! What issue 19's "seeing inside" costs (`docs/benchmarks.md`, "Seeing inside").
//!
//! ```text
//! cargo bench -p aio-benches --bench observe
//! ```
//!
//! - `park`: the recording every await pays, always on: a task awaiting `sleep(0)` 2,000,000
//!   times (each await parks once: the sleep writes its line to the park slot, the task step
//!   saves, empties and reads it back and stores it in the task), against the same loop
//!   awaiting a hand-written yield that records nothing. The difference per await is the
//!   recording (plus `sleep`'s own bookkeeping, which the hand-written yield does not have;
//!   both are printed).
//! - `capture`: asking. `format_tasks` (the `ps` table and `pstree` tree) and
//!   `capture_call_graph` of one task over 1,000 and 10,000 parked tasks, half of them awaiting
//!   the other half; time per task.
//!
//! Each figure is the best of 5 runs.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use aio::{EventLoop, EventLoopExt, capture_call_graph, format_tasks};

/// A yield that records nothing: pending once, waking itself.
struct BareYield(bool);

impl Future for BareYield {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A yield that records its line like aio's primitives do.
struct RecordedYield(bool, &'static std::panic::Location<'static>);

impl Future for RecordedYield {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        aio_observe::park(self.1);
        Poll::Pending
    }
}

const AWAITS: u32 = 2_000_000;

fn best<F: FnMut() -> Duration>(mut f: F) -> Duration {
    (0..5).map(|_| f()).min().unwrap()
}

fn time_awaits<F, Fut>(make: F) -> Duration
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let lp = EventLoop::new().unwrap();
    let start = Instant::now();
    lp.run_until_complete(
        lp.create_task(async move {
            for _ in 0..AWAITS {
                make().await;
            }
        })
        .unwrap(),
    )
    .unwrap()
    .unwrap();
    start.elapsed()
}

fn per(d: Duration, n: u32) -> f64 {
    d.as_secs_f64() * 1e9 / f64::from(n)
}

fn park() {
    let bare = best(|| time_awaits(|| BareYield(false)));
    let recorded = best(|| time_awaits(|| RecordedYield(false, std::panic::Location::caller())));
    let sleep0 = best(|| time_awaits(|| async { aio::sleep(0).await.unwrap() }));
    println!("park: {AWAITS} awaits in one task, best of 5");
    println!(
        "  hand-written yield, records nothing : {:6.2} ns/await",
        per(bare, AWAITS)
    );
    println!(
        "  the same, recording its line         : {:6.2} ns/await",
        per(recorded, AWAITS)
    );
    println!(
        "  aio::sleep(0) (records its line)     : {:6.2} ns/await",
        per(sleep0, AWAITS)
    );
}

fn capture(tasks: u32) {
    let lp = EventLoop::new().unwrap();
    let mut handles = Vec::new();
    for i in 0..tasks / 2 {
        let leaf = lp.create_task(aio::sleep(3600)).unwrap();
        leaf.set_name(format!("leaf-{i}"));
        let l = leaf.clone();
        let waiter = lp.create_task(async move { l.await.ok() }).unwrap();
        handles.push(waiter.erase());
        handles.push(leaf.erase());
    }
    lp.run_until_complete(aio::sleep(0.001)).unwrap().unwrap();
    let table = best(|| {
        let start = Instant::now();
        let text = format_tasks(&lp);
        let took = start.elapsed();
        assert!(text.lines().count() > tasks as usize);
        took
    });
    let graph = best(|| {
        let start = Instant::now();
        let g = capture_call_graph(&handles[1]);
        let took = start.elapsed();
        assert_eq!(g.awaited_by.len(), 1);
        took
    });
    println!(
        "capture: {tasks} tasks: format_tasks {:.2} ms ({:.0} ns/task), capture_call_graph {:.2} ms ({:.0} ns/task)",
        table.as_secs_f64() * 1e3,
        per(table, tasks),
        graph.as_secs_f64() * 1e3,
        per(graph, tasks)
    );
    for h in &handles {
        h.cancel(None);
    }
    lp.run_until_complete(aio::sleep(0)).unwrap().unwrap();
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |key: &str| filter.is_empty() || filter.iter().any(|f| key.contains(f.as_str()));
    if wanted("park") {
        park();
    }
    if wanted("capture") {
        capture(1_000);
        capture(10_000);
    }
}
