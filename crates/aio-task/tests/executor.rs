//! `run_in_executor` / `to_thread` and `ThreadPoolExecutor`: the closure runs on another
//! thread while the loop keeps running; a panic becomes `Error::Panicked`; a user executor is
//! used; the pool grows on demand up to `max_workers`, retires idle threads, joins on
//! `shutdown(true)` and refuses work afterwards.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use aio_scheduler::{EventLoop, sleep};
use aio_task::{
    Error, Executor, Job, ThreadPoolExecutor, create_task, default_executor, run, run_in_executor,
    to_thread,
};

/// Polls `condition` every millisecond until it holds or `limit` passes.
fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return true;
        }
        thread::sleep(Duration::from_millis(1));
    }
    condition()
}

/// A latch jobs block on until the test opens it.
#[derive(Default)]
struct Latch {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Latch {
    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !*open && Instant::now() < deadline {
            open = self
                .opened
                .wait_timeout(open, Duration::from_millis(50))
                .unwrap()
                .0;
        }
    }

    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

#[test]
fn the_closure_runs_on_another_thread() {
    let loop_thread = thread::current().id();
    let (a, b) = run(async {
        let a = run_in_executor(None, || thread::current().id()).await?;
        let b = to_thread(|| thread::current().id()).await?;
        Ok::<_, Error>((a, b))
    })
    .unwrap()
    .unwrap();
    assert_ne!(a, loop_thread);
    assert_ne!(b, loop_thread);
}

#[test]
fn the_loop_keeps_running_while_the_closure_blocks() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    run(async move {
        let stop = Arc::new(AtomicBool::new(false));
        let (ticker_log, ticker_stop) = (l.clone(), stop.clone());
        let ticker = create_task(async move {
            while !ticker_stop.load(Ordering::SeqCst) {
                ticker_log.lock().unwrap().push("tick");
                sleep(0.002).await.unwrap();
            }
        })?;
        let closure_log = l.clone();
        to_thread(move || {
            closure_log.lock().unwrap().push("closure start");
            thread::sleep(Duration::from_millis(100));
            closure_log.lock().unwrap().push("closure end");
        })
        .await?;
        stop.store(true, Ordering::SeqCst);
        ticker.await?;
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    let log = log.lock().unwrap();
    let start = log.iter().position(|e| *e == "closure start").unwrap();
    let end = log.iter().position(|e| *e == "closure end").unwrap();
    assert!(
        log[start..end].contains(&"tick"),
        "the ticker ran while the closure blocked: {log:?}"
    );
}

#[test]
fn a_blocked_closure_can_wait_for_the_loop() {
    // The closure blocks until a task on the loop answers it: only possible if the loop runs.
    let (to_loop, from_closure) = std::sync::mpsc::channel::<()>();
    let (to_closure, from_loop) = std::sync::mpsc::channel::<()>();
    let answered = run(async move {
        let pending = to_thread(move || {
            to_loop.send(()).unwrap();
            from_loop.recv_timeout(Duration::from_secs(10)).is_ok()
        });
        let responder = create_task(async move {
            let start = Instant::now();
            while from_closure.try_recv().is_err() && start.elapsed() < Duration::from_secs(10) {
                sleep(0.001).await.unwrap();
            }
            to_closure.send(()).unwrap();
        })?;
        let answered = pending.await?;
        responder.await?;
        Ok::<_, Error>(answered)
    })
    .unwrap()
    .unwrap();
    assert!(answered);
}

#[test]
fn a_panic_in_the_closure_becomes_panicked() {
    run(async {
        let err = to_thread(|| -> u8 { panic!("worker broke") })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Panicked(m) if &**m == "worker broke"),
            "{err:?}"
        );
        let pool = ThreadPoolExecutor::new(1);
        let err = run_in_executor(Some(&pool), || -> () { panic!("pool worker broke") })
            .await
            .unwrap_err();
        assert!(matches!(&err, Error::Panicked(m) if &**m == "pool worker broke"));
        // The worker survived the panic.
        assert_eq!(run_in_executor(Some(&pool), || 3).await?, 3);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Runs each job on a new thread and counts submissions.
#[derive(Default)]
struct Counting {
    submitted: AtomicUsize,
}

impl Executor for Counting {
    fn submit(&self, job: Job) -> Result<(), Error> {
        self.submitted.fetch_add(1, Ordering::SeqCst);
        thread::spawn(job);
        Ok(())
    }
}

/// Refuses every job.
struct Refusing;

impl Executor for Refusing {
    fn submit(&self, _job: Job) -> Result<(), Error> {
        Err(Error::Value("no capacity"))
    }
}

#[test]
fn a_user_supplied_executor_is_used() {
    let counting = Arc::new(Counting::default());
    let c = counting.clone();
    let sum = run(async move {
        let mut sum = 0;
        for i in 1..=3 {
            sum += run_in_executor(Some(&*c), move || i * 10).await?;
        }
        Ok::<_, Error>(sum)
    })
    .unwrap()
    .unwrap();
    assert_eq!(sum, 60);
    assert_eq!(counting.submitted.load(Ordering::SeqCst), 3);
}

#[test]
fn an_executor_refusing_the_job_gives_its_error() {
    let out = run(async { run_in_executor(Some(&Refusing), || 1).await }).unwrap();
    assert!(matches!(out, Err(Error::Value("no capacity"))), "{out:?}");
}

#[test]
fn the_default_executor_needs_a_running_loop() {
    let mut fut = std::pin::pin!(to_thread(|| 1));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let polled = fut.as_mut().poll(&mut cx);
    assert!(
        matches!(
            polled,
            std::task::Poll::Ready(Err(Error::Runtime(aio_scheduler::Error::NoRunningLoop)))
        ),
        "{polled:?}"
    );
}

#[test]
fn the_pool_creates_threads_on_demand_up_to_max_workers() {
    const MAX: usize = 3;
    const JOBS: usize = 7;
    let pool = ThreadPoolExecutor::new(MAX);
    assert_eq!(pool.max_workers(), MAX);
    assert_eq!(pool.workers(), 0, "no thread before the first job");
    let latch = Arc::new(Latch::default());
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
    for _ in 0..JOBS {
        let (latch, running, most, finished, threads) = (
            latch.clone(),
            running.clone(),
            most.clone(),
            finished.clone(),
            threads.clone(),
        );
        pool.submit(Box::new(move || {
            threads.lock().unwrap().insert(thread::current().id());
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            latch.wait();
            running.fetch_sub(1, Ordering::SeqCst);
            finished.fetch_add(1, Ordering::SeqCst);
        }))
        .unwrap();
        assert!(pool.workers() <= MAX);
    }
    // Every worker is blocked on the latch: exactly MAX jobs run, the rest wait in the queue.
    assert!(eventually(Duration::from_secs(10), || running
        .load(Ordering::SeqCst)
        == MAX));
    assert_eq!(pool.workers(), MAX);
    latch.release();
    assert!(eventually(Duration::from_secs(10), || finished
        .load(Ordering::SeqCst)
        == JOBS));
    assert_eq!(most.load(Ordering::SeqCst), MAX);
    assert!(pool.workers() <= MAX);
    assert_eq!(
        threads.lock().unwrap().len(),
        MAX,
        "the queued jobs reused the workers"
    );
    pool.shutdown(true);
}

#[test]
fn the_pool_grows_on_demand_from_a_loop_too() {
    let pool = ThreadPoolExecutor::new(2);
    let p = pool.clone();
    let outs = run(async move {
        let latch = Arc::new(Latch::default());
        let jobs: Vec<_> = (0..4)
            .map(|i| {
                let latch = latch.clone();
                run_in_executor(Some(&p), move || {
                    latch.wait();
                    i
                })
            })
            .collect();
        assert!(p.workers() <= 2);
        latch.release();
        let mut outs = Vec::new();
        for job in jobs {
            outs.push(job.await?);
        }
        Ok::<_, Error>(outs)
    })
    .unwrap()
    .unwrap();
    assert_eq!(outs, [0, 1, 2, 3]);
    assert!((1..=2).contains(&pool.workers()));
    pool.shutdown(true);
}

/// Regression: `submit` used to start a worker only when none was idle, so two jobs submitted
/// back to back with one idle worker both went to it, and a job waiting for the other waited
/// until its own timeout. Every job must get a worker of its own while the pool has room
/// (asyncio's `ThreadPoolExecutor` claims an idle worker per job, else starts one).
#[test]
fn a_job_waiting_for_the_next_one_gets_its_own_worker() {
    use std::sync::mpsc;
    let pool = ThreadPoolExecutor::new(8);
    for round in 0..20 {
        // All the pool's workers idle again before the pair is submitted.
        let (warm_tx, warm_rx) = mpsc::channel();
        pool.submit(Box::new(move || warm_tx.send(()).unwrap()))
            .unwrap();
        warm_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        // Let the worker get back to waiting (if it has not yet, this round cannot fail).
        thread::sleep(Duration::from_millis(10));

        let (b_done_tx, b_done_rx) = mpsc::channel::<()>();
        let (a_saw_tx, a_saw_rx) = mpsc::channel();
        pool.submit(Box::new(move || {
            let saw_b = b_done_rx.recv_timeout(Duration::from_secs(5)).is_ok();
            a_saw_tx.send(saw_b).unwrap();
        }))
        .unwrap();
        pool.submit(Box::new(move || b_done_tx.send(()).unwrap()))
            .unwrap();
        let saw_b = a_saw_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(
            saw_b,
            "round {round}: job A waited for B, which had no worker"
        );
    }
    assert!(pool.workers() <= 8);
    pool.shutdown(true);
}

/// Jobs queued while every worker was busy must not leave idle tokens behind: once the
/// workers have retired, the next job still gets a thread (and a panicking raw job does not
/// take its worker's count with it).
#[test]
fn after_saturation_and_retirement_the_next_job_still_runs() {
    use std::sync::mpsc;
    let pool = ThreadPoolExecutor::with_idle_timeout(2, Duration::from_millis(50));
    let latch = Arc::new(Latch::default());
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..5 {
        let (latch, done) = (latch.clone(), done.clone());
        pool.submit(Box::new(move || {
            latch.wait();
            done.fetch_add(1, Ordering::SeqCst);
        }))
        .unwrap();
    }
    pool.submit(Box::new(|| panic!("a raw job panics")))
        .unwrap();
    latch.release();
    assert!(eventually(Duration::from_secs(10), || done
        .load(Ordering::SeqCst)
        == 5));
    assert!(
        eventually(Duration::from_secs(10), || pool.workers() == 0),
        "idle workers retire"
    );
    let (tx, rx) = mpsc::channel();
    pool.submit(Box::new(move || tx.send(()).unwrap())).unwrap();
    assert!(rx.recv_timeout(Duration::from_secs(10)).is_ok());
    pool.shutdown(true);
}

#[test]
fn idle_threads_retire() {
    let pool = ThreadPoolExecutor::with_idle_timeout(4, Duration::from_millis(50));
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let done = done.clone();
        pool.submit(Box::new(move || {
            thread::sleep(Duration::from_millis(5));
            done.fetch_add(1, Ordering::SeqCst);
        }))
        .unwrap();
    }
    assert!(pool.workers() >= 1);
    assert!(eventually(Duration::from_secs(10), || done
        .load(Ordering::SeqCst)
        == 3));
    assert!(
        eventually(Duration::from_secs(10), || pool.workers() == 0),
        "idle workers retire after the idle timeout"
    );
    // A retired pool still takes work: a new worker starts.
    let (tx, rx) = std::sync::mpsc::channel();
    pool.submit(Box::new(move || tx.send(7).unwrap())).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 7);
    pool.shutdown(true);
}

#[test]
fn shutdown_with_wait_joins_the_workers_after_the_queued_jobs() {
    let pool = ThreadPoolExecutor::new(2);
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..5 {
        let done = done.clone();
        pool.submit(Box::new(move || {
            thread::sleep(Duration::from_millis(10));
            done.fetch_add(1, Ordering::SeqCst);
        }))
        .unwrap();
    }
    pool.shutdown(true);
    assert_eq!(
        done.load(Ordering::SeqCst),
        5,
        "queued jobs ran before the join returned"
    );
    assert_eq!(pool.workers(), 0);
}

#[test]
fn concurrent_shutdowns_with_wait_all_wait_for_the_workers() {
    // Python's shutdown(wait=True) joins every thread in each call. Here the second call
    // used to find the handles taken by the first and return at once, with the job running
    // (the loom model `two_shutdowns_with_wait_both_wait_for_the_workers` proves the fix).
    let pool = ThreadPoolExecutor::new(1);
    let latch = Arc::new(Latch::default());
    let done = Arc::new(AtomicBool::new(false));
    let (job_latch, job_done) = (latch.clone(), done.clone());
    pool.submit(Box::new(move || {
        job_latch.wait();
        job_done.store(true, Ordering::SeqCst);
    }))
    .unwrap();
    let shutdowns: Vec<_> = (0..2)
        .map(|_| {
            let (pool, done) = (pool.clone(), done.clone());
            thread::spawn(move || {
                pool.shutdown(true);
                (done.load(Ordering::SeqCst), pool.workers())
            })
        })
        .collect();
    // Gives both calls time to reach their wait: only whether the old bug shows depends on it.
    thread::sleep(Duration::from_millis(50));
    latch.release();
    for shutdown in shutdowns {
        assert_eq!(shutdown.join().unwrap(), (true, 0), "(job done, workers)");
    }
}

#[test]
fn a_job_can_shut_its_own_pool_down_with_wait() {
    // It waits for the other workers, not for itself (joining its own thread used to panic in
    // the job).
    let pool = ThreadPoolExecutor::new(2);
    let (tx, rx) = std::sync::mpsc::channel();
    let inner = pool.clone();
    pool.submit(Box::new(move || {
        inner.shutdown(true);
        tx.send(inner.workers()).unwrap();
    }))
    .unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 1);
    assert!(pool.submit(Box::new(|| {})).is_err());
    pool.shutdown(true);
    assert_eq!(pool.workers(), 0);
}

#[test]
fn submitting_after_shutdown_is_an_error() {
    let pool = ThreadPoolExecutor::new(2);
    pool.submit(Box::new(|| {})).unwrap();
    pool.shutdown(false);
    let err = pool.submit(Box::new(|| {})).unwrap_err();
    assert!(matches!(err, Error::InvalidState(_)), "{err:?}");
    pool.shutdown(true); // a second shutdown is harmless, and joins
    assert_eq!(pool.workers(), 0);
}

#[test]
fn run_in_executor_on_a_shut_down_pool_gives_invalid_state() {
    let pool = ThreadPoolExecutor::new(2);
    pool.shutdown(false);
    let out = run(async move { run_in_executor(Some(&pool), || 1).await }).unwrap();
    assert!(matches!(out, Err(Error::InvalidState(_))), "{out:?}");
}

#[test]
fn default_max_workers_is_min_32_and_cpus_plus_4() {
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(
        ThreadPoolExecutor::default_max_workers(),
        (cpus + 4).min(32)
    );
    let lp = EventLoop::new().unwrap();
    assert_eq!(
        default_executor(&lp).max_workers(),
        ThreadPoolExecutor::default_max_workers()
    );
    assert_eq!(ThreadPoolExecutor::new(0).max_workers(), 1, "at least one");
}

#[test]
fn closing_the_loop_shuts_its_default_executor_down() {
    let lp = EventLoop::new().unwrap();
    let pool = default_executor(&lp);
    let five = lp.run_until_complete(async { to_thread(|| 5).await });
    assert_eq!(five.unwrap().unwrap(), 5);
    lp.close().unwrap();
    assert!(pool.submit(Box::new(|| {})).is_err());
}

#[test]
fn run_waits_for_the_default_executors_threads() {
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    run(async move {
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        // Started, then abandoned: `run` still waits for the thread before returning.
        drop(to_thread(move || {
            started_tx.send(()).unwrap();
            thread::sleep(Duration::from_millis(50));
            f.store(true, Ordering::SeqCst);
        }));
        while started_rx.try_recv().is_err() {
            sleep(0.001).await.unwrap();
        }
    })
    .unwrap();
    assert!(finished.load(Ordering::SeqCst));
}
