//! loom models of the thread pool behind `run_in_executor` and `to_thread`
//! (`ThreadPoolExecutor`): `submit` racing `shutdown`, a worker's idle retirement racing the
//! submit that claims it, and a job that waits for a later one. They run the pool's own code:
//! under `cfg(loom)` its locks, atomics and worker threads are loom's, and its channel is a
//! loom-scheduled queue with crossbeam's contract (`channel` in `src/sync.rs`), whose
//! `recv_timeout` blocks on a `loom::sync::Notify` that loom may also let return on its own:
//! the idle timeout firing at any moment the queue is empty. So loom explores an idle worker
//! retiring at every point of a concurrent submit. (loom lets each `Notify` return so at
//! most once, so each worker times out at most once in a run, at any of its waits: enough
//! for these models, where what matters is one timeout against one claim; a timeout that
//! finds the worker claimed changes nothing.)
//!
//! The job counters are read with `Relaxed` loads: what makes a job's effects visible to the
//! thread that returns from `shutdown(true)` must be the pool's own synchronization (the
//! channel, the joins), and loom checks that it is.
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p aio-task --release
//! --test loom_executor`.
#![cfg(loom)]

use std::sync::Arc;

use aio_reactors as _;
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

/// `submit` from another thread racing `shutdown(true)`: the job is accepted and has run
/// exactly once by the time `shutdown` returns, or it is refused with an error, dropped, and
/// never runs; either way no worker is alive after the shutdown. With `first_job`, a job
/// submitted before the race leaves a worker that may be busy, idle, or retiring (taking
/// the idle token back) while the racing submit claims it.
fn submit_racing_shutdown(first_job: bool) {
    let pool = ThreadPoolExecutor::new(1);
    let tally = Tally::new();
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
/// must then not retire), or retired (it starts a new one).
///
/// Caught by loom: split the worker's check from its retirement (read `idle` under the
/// `counts` lock, release it, and lock again to take the token and retire): the second
/// submit takes the token in between, and the worker it claimed retires with that job
/// queued; the job never runs and `shutdown(true)` returns with one job run (`a claimed job
/// was stranded in the queue`, left 1, right 2). Retiring without checking `idle > 0` at all
/// fails the same way.
#[test]
fn an_idle_worker_retiring_never_strands_the_job_that_claimed_it() {
    loom::model(|| {
        let pool = ThreadPoolExecutor::new(1);
        let tally = Tally::new();
        pool.submit(tally.job(|| {})).unwrap();
        pool.submit(tally.job(|| {})).unwrap();
        pool.shutdown(true);
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
    loom::model(|| {
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
    loom::model(|| {
        let pool = ThreadPoolExecutor::new(1);
        let tally = Tally::new();
        let inner = pool.clone();
        pool.submit(tally.job(move || inner.shutdown(true)))
            .unwrap();
        pool.shutdown(true);
        assert_eq!((pool.workers(), tally.ran()), (0, 1), "(workers, jobs run)");
    });
}
