//! Other threads can wake a loop that is blocked in the reactor: a `Waker` of the
//! `run_until_complete` future (or of a task) woken from another thread, a
//! `LoopHandle::call_soon_threadsafe` (whose callback runs on the loop's thread), and
//! `LoopHandle::stop()` all end the blocking wait — with no timers pending as well as with one
//! far away — and rapid repeated wake-ups are never lost.
//!
//! Each loop runs on its own thread and reports back over a channel; the test thread waits with
//! `recv_timeout`, so a lost wake-up fails the test instead of hanging it.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use aio_scheduler::{EventLoop, LoopHandle};

/// How long the test thread waits for a loop before declaring the wake-up lost.
const WATCHDOG: Duration = Duration::from_secs(5);

/// Pending until `flag` is set; on its first poll it sends its waker to `waker_tx`.
struct FlagFuture {
    flag: Arc<AtomicBool>,
    waker_tx: Option<mpsc::Sender<Waker>>,
}

impl Future for FlagFuture {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.flag.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        if let Some(tx) = self.waker_tx.take() {
            tx.send(cx.waker().clone()).unwrap();
        }
        Poll::Pending
    }
}

/// Sleeps ~50 ms (so the loop is blocked in the reactor by then), sets the flag, wakes.
fn wake_later(waker_rx: Receiver<Waker>, flag: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let waker = waker_rx.recv_timeout(WATCHDOG).expect("no waker was sent");
        thread::sleep(Duration::from_millis(50));
        flag.store(true, Ordering::SeqCst);
        waker.wake();
    })
}

#[test]
fn main_future_woken_from_another_thread_with_no_timers() {
    let (done_tx, done_rx) = mpsc::channel();
    // Detached: on a lost wake-up it stays blocked, and the test fails on the timeout below.
    thread::spawn(move || {
        let lp = EventLoop::new().unwrap();
        let flag = Arc::new(AtomicBool::new(false));
        let (waker_tx, waker_rx) = mpsc::channel();
        let waker_thread = wake_later(waker_rx, flag.clone());
        let future = FlagFuture {
            flag: flag.clone(),
            waker_tx: Some(waker_tx),
        };
        let res = lp.run_until_complete(future);
        waker_thread.join().unwrap();
        done_tx
            .send((res.is_ok(), flag.load(Ordering::SeqCst)))
            .unwrap();
    });
    let (ok, flag) = done_rx
        .recv_timeout(WATCHDOG)
        .expect("the loop was not woken by the cross-thread wake");
    assert!(ok, "run_until_complete failed");
    assert!(flag, "the future completed before it was woken");
}

#[test]
fn main_future_woken_from_another_thread_with_a_far_timer() {
    let lp = EventLoop::new().unwrap();
    // Watchdog on the loop itself: a far timer (so the reactor waits with a deadline), which
    // records a failure and stops the loop if the wake-up is lost.
    let watchdog_fired = Arc::new(AtomicBool::new(false));
    let (w, l) = (watchdog_fired.clone(), lp.clone());
    lp.call_later(10.0, move || {
        w.store(true, Ordering::SeqCst);
        l.stop();
    })
    .unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let (waker_tx, waker_rx) = mpsc::channel();
    let waker_thread = wake_later(waker_rx, flag.clone());
    let start = Instant::now();
    let res = lp.run_until_complete(FlagFuture {
        flag: flag.clone(),
        waker_tx: Some(waker_tx),
    });
    waker_thread.join().unwrap();
    assert!(!watchdog_fired.load(Ordering::SeqCst), "the watchdog fired");
    assert!(res.is_ok(), "run_until_complete: {res:?}");
    assert!(flag.load(Ordering::SeqCst));
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn task_woken_from_another_thread() {
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let lp = EventLoop::new().unwrap();
        let handle = lp.handle();
        let flag = Arc::new(AtomicBool::new(false));
        let (waker_tx, waker_rx) = mpsc::channel();
        let waker_thread = wake_later(waker_rx, flag.clone());
        let future = FlagFuture {
            flag: flag.clone(),
            waker_tx: Some(waker_tx),
        };
        // A task (not the main future): its waker goes through `aio_scheduler::schedule`.
        let (runnable, task) = async_task::Builder::new()
            .metadata(handle)
            .spawn(move |_| future, aio_scheduler::schedule);
        lp.schedule(runnable);
        let res = lp.run_until_complete(task);
        waker_thread.join().unwrap();
        done_tx.send(res.is_ok()).unwrap();
    });
    let ok = done_rx
        .recv_timeout(WATCHDOG)
        .expect("the loop was not woken by the task's cross-thread wake");
    assert!(ok);
}

/// Starts a loop on a new thread running `run_forever` with nothing scheduled; returns its
/// handle, its thread id, and the channel its `run_forever` result arrives on.
fn spawn_idle_loop() -> (LoopHandle, ThreadId, Receiver<Result<(), String>>) {
    let (handle_tx, handle_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let lp = EventLoop::new().unwrap();
        handle_tx
            .send((lp.handle(), thread::current().id()))
            .unwrap();
        let res = lp.run_forever().map_err(|e| e.to_string());
        let _ = done_tx.send(res);
    });
    let (handle, id) = handle_rx.recv_timeout(WATCHDOG).unwrap();
    (handle, id, done_rx)
}

#[test]
fn call_soon_threadsafe_runs_on_loop_thread_and_wakes_it() {
    let (handle, loop_thread, done) = spawn_idle_loop();
    thread::sleep(Duration::from_millis(50)); // let the loop block in the reactor
    assert!(done.try_recv().is_err(), "run_forever returned by itself");

    let (ran_tx, ran_rx) = mpsc::channel();
    handle
        .call_soon_threadsafe(move || ran_tx.send(thread::current().id()).unwrap())
        .unwrap();
    let ran_on = ran_rx
        .recv_timeout(WATCHDOG)
        .expect("call_soon_threadsafe did not wake the blocked loop");
    assert_eq!(ran_on, loop_thread, "the callback ran on another thread");
    assert_ne!(ran_on, thread::current().id());

    // The loop is still running (a callback does not stop it)...
    thread::sleep(Duration::from_millis(20));
    assert!(
        done.try_recv().is_err(),
        "run_forever returned after a callback"
    );
    handle.stop().unwrap();
    done.recv_timeout(WATCHDOG).unwrap().unwrap();
}

#[test]
fn stop_from_another_thread_stops_run_forever() {
    let (handle, _, done) = spawn_idle_loop();
    thread::sleep(Duration::from_millis(50));
    assert!(done.try_recv().is_err(), "run_forever returned by itself");
    handle.stop().unwrap();
    let res = done
        .recv_timeout(WATCHDOG)
        .expect("LoopHandle::stop() did not stop the blocked loop");
    res.unwrap();
}

/// Lost-wake-up stress: 2,000 times in a row the loop blocks waiting for a value that another
/// thread publishes and then wakes it. The other thread spins (no sleeping) until the loop has
/// stored its waker, then waits a varying 0-20 µs before waking, so the wake-ups land at
/// varying points of the loop's way into (and out of) the reactor. A lost wake-up leaves the
/// loop blocked and fails the round's 5 s watchdog. The loop's own check-then-sleep window is
/// only nanoseconds wide, so this is a smoke test for lost wake-ups, not a proof of their
/// absence.
#[test]
fn rapid_cross_thread_wakes_are_never_lost() {
    const ROUNDS: u64 = 2_000;
    /// The value published by the other thread, and the waker of the loop side waiting for it.
    type Slot = Arc<Mutex<(u64, Option<Waker>)>>;
    let slot: Slot = Arc::new(Mutex::new((0, None)));
    // The round the loop side is waiting for (set when it stores its waker).
    let waiting = Arc::new(AtomicU64::new(0));
    let (done_tx, done_rx) = mpsc::channel();

    let (s, w) = (slot.clone(), waiting.clone());
    thread::spawn(move || {
        let lp = EventLoop::new().unwrap();
        let res = lp.run_until_complete(async move {
            for round in 1..=ROUNDS {
                poll_fn(|cx| {
                    let mut slot = s.lock().unwrap();
                    if slot.0 >= round {
                        Poll::Ready(())
                    } else {
                        slot.1 = Some(cx.waker().clone());
                        w.store(round, Ordering::SeqCst);
                        Poll::Pending
                    }
                })
                .await;
            }
        });
        let _ = done_tx.send(res.is_ok());
    });

    for round in 1..=ROUNDS {
        let limit = Instant::now() + WATCHDOG;
        while waiting.load(Ordering::SeqCst) < round {
            assert!(
                Instant::now() < limit,
                "wake-up of round {} was lost",
                round - 1
            );
            thread::yield_now();
        }
        // A varying delay of 0 to ~20 µs.
        let spin_until = Instant::now() + Duration::from_nanos(round * 7_919 % 20_000);
        while Instant::now() < spin_until {
            std::hint::spin_loop();
        }
        let waker = {
            let mut slot = slot.lock().unwrap();
            slot.0 = round;
            slot.1.take()
        };
        waker.expect("the loop side stored a waker").wake();
    }
    let ok = done_rx
        .recv_timeout(WATCHDOG)
        .expect("wake-up of the last round was lost");
    assert!(ok);
}

#[test]
fn stop_sent_before_run_forever_stops_after_one_iteration() {
    let lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    thread::spawn(move || handle.stop().unwrap())
        .join()
        .unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    lp.call_soon(move || r.store(true, Ordering::SeqCst))
        .unwrap();
    // Bounded by the far timer: were the queued stop lost, this would take 10 s and the
    // assertion below would fail rather than the test hanging.
    let (l, late) = (lp.clone(), Arc::new(AtomicBool::new(false)));
    let lt = late.clone();
    lp.call_later(10.0, move || {
        lt.store(true, Ordering::SeqCst);
        l.stop();
    })
    .unwrap();
    lp.run_forever().unwrap();
    assert!(ran.load(Ordering::SeqCst), "the ready callback did not run");
    assert!(!late.load(Ordering::SeqCst), "the queued stop was lost");
}
