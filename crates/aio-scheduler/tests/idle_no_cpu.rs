//! An idle loop sleeps in the kernel instead of spinning: waiting 300 ms for a timer (also with
//! an idle, always-writable descriptor registered and waited on), or 300 ms with nothing
//! scheduled at all until another thread stops it, costs the loop's thread almost no CPU time.
//!
//! CPU time is this thread's own utime + stime from `/proc/thread-self/stat` (tests run in
//! parallel threads, so the process-wide figure would include other tests). Those fields are in
//! `USER_HZ` ticks, which the Linux ABI fixes at 100 per second.
//!
//! Why the bound is safe: a spinning loop stays on the CPU for the whole 300 ms wait and is
//! charged ~300 ms (less only if the machine is so oversubscribed that it is preempted, which
//! can only make a spin look cheaper, never make an idle loop look expensive). An idle loop
//! makes a handful of system calls and is charged ~0 ms; tick-based accounting can charge a
//! mostly-sleeping thread at most a stray tick or two (10 ms each). 100 ms sits far from both.

#![cfg(target_os = "linux")]

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::os::unix::net::UnixStream;
use std::pin::pin;
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use aio_scheduler::aio_reactor::AsyncFd;
use aio_scheduler::{EventLoop, sleep};

const IDLE: Duration = Duration::from_millis(300);
const CPU_BOUND: Duration = Duration::from_millis(100);
/// Linux's `USER_HZ` (the unit of utime/stime in /proc), fixed by the ABI.
const USER_HZ: u64 = 100;

/// CPU time (user + system) consumed so far by the calling thread.
fn thread_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    // The command name (field 2) is in parentheses and may contain spaces: split after it.
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields[14 - 3].parse().unwrap();
    let stime: u64 = fields[15 - 3].parse().unwrap();
    Duration::from_millis((utime + stime) * 1000 / USER_HZ)
}

/// Runs `f` on this thread and returns (wall time, CPU time of this thread).
fn measure(f: impl FnOnce()) -> (Duration, Duration) {
    let cpu_before = thread_cpu_time();
    let start = Instant::now();
    f();
    let wall = start.elapsed();
    (wall, thread_cpu_time() - cpu_before)
}

#[test]
#[cfg_attr(
    miri,
    ignore = "real I/O: sockets, signals or CPU-time measurement, which miri does not run"
)]
fn sleeping_loop_uses_almost_no_cpu() {
    let lp = EventLoop::new().unwrap();
    let (wall, cpu) = measure(|| lp.run_until_complete(sleep(IDLE)).unwrap().unwrap());
    assert!(wall >= IDLE, "the sleep ended early ({wall:?})");
    assert!(cpu < CPU_BOUND, "idle loop used {cpu:?} of CPU in {wall:?}");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "real I/O: sockets, signals or CPU-time measurement, which miri does not run"
)]
fn loop_waiting_on_idle_registered_fd_uses_almost_no_cpu() {
    let lp = EventLoop::new().unwrap();
    // A connected socket nobody writes to: always writable, never readable.
    let (a, _peer) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let a = AsyncFd::new(lp.reactor(), a).unwrap();
    a.registration().clear_readable();
    let mut spurious_reads = 0u32;
    let (wall, cpu) = measure(|| {
        lp.run_until_complete(async {
            let mut timeout = pin!(sleep(IDLE));
            std::future::poll_fn(|cx| {
                if let Poll::Ready(res) = timeout.as_mut().poll(cx) {
                    return Poll::Ready(res);
                }
                // Wait for a read that never comes, with the same waker.
                if a.registration().poll_readable(cx).is_ready() {
                    spurious_reads += 1;
                    a.registration().clear_readable();
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            })
            .await
        })
        .unwrap()
        .unwrap();
    });
    assert!(wall >= IDLE, "the sleep ended early ({wall:?})");
    assert!(
        spurious_reads <= 1,
        "read readiness reported {spurious_reads} times for a socket nobody wrote to"
    );
    assert!(cpu < CPU_BOUND, "idle loop used {cpu:?} of CPU in {wall:?}");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "real I/O: sockets, signals or CPU-time measurement, which miri does not run"
)]
fn loop_with_nothing_scheduled_uses_almost_no_cpu() {
    let lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    let (wall, cpu) = measure(|| {
        let stopper = thread::spawn(move || {
            thread::sleep(IDLE);
            handle.stop().unwrap();
        });
        lp.run_forever().unwrap();
        stopper.join().unwrap();
    });
    assert!(
        wall >= IDLE,
        "run_forever returned before stop() ({wall:?})"
    );
    assert!(cpu < CPU_BOUND, "idle loop used {cpu:?} of CPU in {wall:?}");
}
