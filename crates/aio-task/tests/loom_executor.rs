//! loom models of the thread pool behind `run_in_executor` and `to_thread`
//! (`ThreadPoolExecutor`): `submit` racing `shutdown`, a worker's idle retirement racing the
//! submit that claims it, a job that waits for a later one, and `shutdown(true)` racing
//! itself. They run the pool's own code: under `cfg(loom)` its locks, atomics and worker
//! threads are loom's, and its channel is a loom-scheduled queue with crossbeam's contract
//! (`channel` in `src/sync.rs`). loom has no time, so the models that need the idle timeout
//! run a clock thread ([`clock`]) whose ticks time out every worker waiting for a job at that
//! moment; loom places each tick at every point of the other threads' runs, so a worker
//! times out at every point of a concurrent submit.
//!
//! (A first version let loom end a worker's wait spuriously instead, with a
//! `loom::sync::Notify`. loom then always runs another thread's next step first, and never
//! timed a worker out just before a send: retiring without checking `idle > 0` went
//! unnoticed in the first model. The clock thread has no such blind spot.)
//!
//! The job counters are read with `Relaxed` loads: what makes a job's effects visible to the
//! thread that returns from `shutdown(true)` must be the pool's own synchronization (the
//! channel, the joins), and loom checks that it is.
//!
//! The two shutdown-against-shutdown models run without a preemption bound
//! (`exhaustively`): every interleaving. The other four keep `LOOM_MAX_PREEMPTIONS` (3 in
//! CI), under which each weakening named below is caught at once; without a bound, loom's
//! depth-first search can take minutes to reach the failing schedule.
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p aio-task --release
//! --test loom_executor`.
#![cfg(loom)]

use std::sync::Arc;

use aio_reactors as _;
use aio_task::__loom::IdleClock;
use aio_task::{Executor, Job, ThreadPoolExecutor};
use loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use loom::sync::{Condvar, Mutex};
use loom::thread;

/// How many times the jobs of a model ran, and how many of them were dropped (run or not).
#[derive(Clone)]
struct Tally {
    ran: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

/// Counts its drop: a job's closure owns one, so a job that is run or refused drops it once,
/// and a job lost in a queue never does.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Relaxed);
    }
}

impl Tally {
    fn new() -> Tally {
        Tally {
            ran: Arc::new(AtomicUsize::new(0)),
            dropped: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A job that counts its run, then runs `then`.
    fn job(&self, then: impl FnOnce() + Send + 'static) -> Job {
        let ran = self.ran.clone();
        let guard = DropCount(self.dropped.clone());
        Box::new(move || {
            let _guard = guard;
            ran.fetch_add(1, Relaxed);
            then();
        })
    }

    fn ran(&self) -> usize {
        self.ran.load(Relaxed)
    }

    fn dropped(&self) -> usize {
        self.dropped.load(Relaxed)
    }
}

/// The idle timeout firing: a thread that ticks `pool`'s clock `ticks` times, each time
/// timing out every worker then waiting for a job, at whatever points loom schedules it.
fn clock(pool: &ThreadPoolExecutor, ticks: usize) -> thread::JoinHandle<()> {
    let clock = IdleClock::new(pool);
    thread::spawn(move || {
        for _ in 0..ticks {
            clock.tick();
        }
    })
}

/// Runs the model `f` with no preemption bound, whatever `LOOM_MAX_PREEMPTIONS` says: these
/// models are small enough for loom to explore every interleaving (about a second).
fn exhaustively(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = None;
    builder.check(f);
}

/// `submit` from another thread racing `shutdown(true)`: the job is accepted and has run
/// exactly once by the time `shutdown` returns, or it is refused with an error, dropped, and
/// never runs; either way no worker is alive after the shutdown. With `first_job`, a job
/// submitted before the race leaves a worker that may be busy, idle, or retiring (taking
/// the idle token back) while the racing submit claims it.
fn submit_racing_shutdown(first_job: bool) {
    let pool = ThreadPoolExecutor::new(1);
    let tally = Tally::new();
    let clock = clock(&pool, 1);
    if first_job {
        pool.submit(tally.job(|| {})).unwrap();
    }
    let submitter = {
        let (pool, job) = (pool.clone(), tally.job(|| {}));
        thread::spawn(move || pool.submit(job).is_ok())
    };
    pool.shutdown(true);
    let ran_by_shutdown = tally.ran();
    assert_eq!(pool.workers(), 0, "a worker outlived shutdown(true)");
    let accepted = submitter.join().unwrap();
    let expected = usize::from(first_job) + usize::from(accepted);
    assert_eq!(
        ran_by_shutdown, expected,
        "accepted: {accepted}, but shutdown(true) returned before the job ran"
    );
    drop(pool);
    clock.join().unwrap();
    assert_eq!(tally.ran(), expected, "a job ran after shutdown, or twice");
    assert_eq!(
        tally.dropped(),
        usize::from(first_job) + 1,
        "a job was lost"
    );
}

/// A submit racing `shutdown(true)` either runs its job once before the shutdown returns or
/// is refused, and the refused job never runs; no worker survives the shutdown.
///
/// Caught by loom: release the sender lock before the send in `submit` (clone the sender out
/// of the lock, drop the guard, then claim a worker and send): the shutdown takes the sender
/// and joins the workers in between, and returns before the accepted job ran
/// (`accepted: true, but shutdown(true) returned before the job ran`, left 0, right 1).
#[test]
fn a_submit_racing_shutdown_runs_its_job_once_or_is_refused() {
    loom::model(|| submit_racing_shutdown(false));
}

/// The same race with a worker already started by an earlier job: busy, idle, or timing out
/// while the racing submit claims it.
///
/// Caught by loom: the same weakening as above (left 1, right 2); and so are both weakenings
/// of the next model, since the earlier job's worker is the one the racing submit claims.
#[test]
fn a_submit_racing_shutdown_with_a_worker_alive() {
    loom::model(|| submit_racing_shutdown(true));
}

/// A worker timing out (retiring when idle) racing the submit that claims it: the claimed
/// worker stays for the job, or the submit finds it gone and starts another; either way
/// both jobs run. At `max_workers = 1` the second submit meets the worker busy with the
/// first job (the job waits for it: `unclaimed`), idle (it takes the idle token: the worker
/// must then not retire), or retired (it starts a new one). The clock ticks twice.
///
/// Caught by loom: split the worker's check from its retirement (read `idle` under the
/// `counts` lock, release it, and lock again to take the token and retire): the second
/// submit takes the token in between, and the worker it claimed retires with that job
/// queued; the job never runs and `shutdown(true)` returns with one job run (`a claimed job
/// was stranded in the queue`, left 1, right 2). Retiring without checking `idle > 0` at all
/// fails the same way (and so does the first model: the worker started for the job times
/// out before the job is sent, and retires).
#[test]
fn an_idle_worker_retiring_never_strands_the_job_that_claimed_it() {
    loom::model(|| {
        let pool = ThreadPoolExecutor::new(1);
        let tally = Tally::new();
        let clock = clock(&pool, 2);
        pool.submit(tally.job(|| {})).unwrap();
        pool.submit(tally.job(|| {})).unwrap();
        pool.shutdown(true);
        clock.join().unwrap();
        assert_eq!(tally.ran(), 2, "a claimed job was stranded in the queue");
        assert_eq!(pool.workers(), 0);
        assert_eq!(tally.dropped(), 2);
    });
}

/// A job that waits for a later job (at `max_workers = 2`) gets that job run on a second
/// worker: the first worker, blocked in the first job, is not idle, so the second submit
/// starts a thread (the claim invariant of `Counts`: below `max_workers` the queue never
/// holds more jobs than there are workers waiting for one).
///
/// Caught by loom: count a worker idle when it receives a job instead of when it has run
/// it: the second submit takes the blocked worker's idle token instead of starting a
/// thread, and its job waits behind the first forever (`deadlock; threads = [(Id(0),
/// Blocked(..)), (Id(1), Blocked(..))]`: the model's thread in `shutdown`'s join, the one
/// worker in the first job).
///
/// Without a clock: its workers never time out.
#[test]
fn a_job_waiting_for_a_later_job_does_not_starve_it() {
    loom::model(|| {
        let pool = ThreadPoolExecutor::new(2);
        let tally = Tally::new();
        let latch = Arc::new((Mutex::new(false), Condvar::new()));
        let waits = latch.clone();
        pool.submit(tally.job(move || {
            let (open, opened) = &*waits;
            let mut open = open.lock().unwrap();
            while !*open {
                open = opened.wait(open).unwrap();
            }
        }))
        .unwrap();
        pool.submit(tally.job(move || {
            let (open, opened) = &*latch;
            *open.lock().unwrap() = true;
            opened.notify_all();
        }))
        .unwrap();
        pool.shutdown(true);
        assert_eq!(tally.ran(), 2);
        assert_eq!(pool.workers(), 0);
    });
}

/// Two `shutdown(true)` calls racing (asyncio's `shutdown(wait=True)` from two threads): each
/// returns only once the queued job has run and every worker has exited, as Python's
/// `ThreadPoolExecutor.shutdown` joins every thread in each call.
///
/// Found by this model: the second call used to find the worker handles already taken by
/// the first and return at once (`(workers, jobs run)`, left `(1, 0)`, right `(0, 1)`); a
/// call now also waits, on `Workers::exited`, for the workers another call is joining.
/// Caught by loom: drop that wait again (left `(1, 1)`, right `(0, 1)`).
#[test]
fn two_shutdowns_with_wait_both_wait_for_the_workers() {
    exhaustively(|| {
        let pool = ThreadPoolExecutor::new(1);
        let tally = Tally::new();
        pool.submit(tally.job(|| {})).unwrap();
        let other = {
            let (pool, tally) = (pool.clone(), tally.clone());
            thread::spawn(move || {
                pool.shutdown(true);
                (pool.workers(), tally.ran())
            })
        };
        pool.shutdown(true);
        assert_eq!((pool.workers(), tally.ran()), (0, 1), "(workers, jobs run)");
        assert_eq!(other.join().unwrap(), (0, 1), "(workers, jobs run)");
    });
}

/// A job that shuts its own pool down with `wait`, racing the owner's `shutdown(true)`: the
/// job's call waits for the other workers but not for its own thread, and the owner's call
/// returns once that worker has exited.
///
/// Caught by loom: in `shutdown`, wait for `alive == 0` even on a worker of the pool (drop
/// the `WORKER_OF` check): the job waits for its own thread to exit, the owner for the job's
/// worker (a deadlock).
#[test]
fn a_job_shutting_its_own_pool_down_racing_shutdown() {
    exhaustively(|| {
        let pool = ThreadPoolExecutor::new(1);
        let tally = Tally::new();
        let inner = pool.clone();
        pool.submit(tally.job(move || inner.shutdown(true)))
            .unwrap();
        pool.shutdown(true);
        assert_eq!((pool.workers(), tally.ran()), (0, 1), "(workers, jobs run)");
    });
}
