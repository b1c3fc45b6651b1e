//! A task is one heap block (its state, its asyncio state and its future together), and that
//! block's two reference counts keep the promises of the old two-allocation design: the
//! future and the asyncio state are dropped on the loop's thread only, even when the last
//! reference is a waker dropped on another thread after the loop closed.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::{self, ThreadId};

use aio_scheduler::{EventLoop, sleep};
use aio_task::{EventLoopExt, create_task, run};

/// Counts the heap blocks each thread allocates.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    /// The size of the last block this thread allocated.
    static LAST_SIZE: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counter is a thread-local `Cell` (const
// initialized, no allocation, no destructor).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        let _ = LAST_SIZE.try_with(|n| n.set(layout.size()));
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn create_task_allocates_one_block() {
    run(async {
        // Warm up: the registry, the ready queue and the loop's buffers reach their size.
        for _ in 0..64 {
            let t = create_task(async { 1 })?;
            t.await?;
        }
        sleep(0.0).await?;
        let mut counts = Vec::new();
        for _ in 0..16 {
            let before = allocations();
            let task = create_task(async { 2 })?;
            counts.push(allocations() - before);
            assert_eq!(task.await?, 2);
        }
        assert!(
            counts.iter().all(|&n| n == 1),
            "heap blocks per create_task: {counts:?}"
        );
        Ok::<_, aio_task::Error>(())
    })
    .unwrap()
    .unwrap();
}

/// What a task of `()` costs beside its future, on a 64-bit target (`docs/benchmarks.md`
/// lists it field by field): the scheduling header 24, the asyncio header 40, the completion
/// cell 40 (its outcome in 8 bytes: the status says whether that holds an error), the task's
/// context 8. The body keeps no handle to its own task: the block hands the cell in. An
/// output other than `()` adds its own size, untagged.
#[cfg(all(target_pointer_width = "64", not(feature = "tracing")))]
#[test]
fn a_task_block_is_its_future_plus_112_bytes_and_its_output() {
    /// A future of 24 bytes that is ready at once.
    struct ThreeWords([u64; 3]);

    impl Future for ThreeWords {
        type Output = u64;

        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u64> {
            Poll::Ready(self.0.iter().sum())
        }
    }

    run(async {
        let before = allocations();
        let task = create_task(async {
            let _ = ThreeWords([1, 2, 3]).await;
        })?;
        assert_eq!(allocations() - before, 1, "one block");
        let block = LAST_SIZE.with(Cell::get);
        task.await?;
        // The async block holds the `ThreeWords` it awaits and its state byte.
        let future = std::mem::size_of::<ThreeWords>() + 8;
        assert_eq!(block - future, 112, "block of {block} bytes");
        // A `u64` output costs its 8 bytes and no tag (an `Option<u64>` would take 16).
        let task = create_task(async { 2 * ThreeWords([1, 2, 3]).await })?;
        let block = LAST_SIZE.with(Cell::get);
        assert_eq!(task.await?, 12);
        assert_eq!(block - future, 120, "block of {block} bytes");
        Ok::<_, aio_task::Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Panics if dropped on a thread other than the one that made it.
struct PinnedToThread(ThreadId, Arc<Mutex<Vec<&'static str>>>);

impl Drop for PinnedToThread {
    fn drop(&mut self) {
        assert_eq!(thread::current().id(), self.0, "dropped off its thread");
        self.1.lock().unwrap().push("future dropped");
    }
}

/// Pending forever; hands its waker out.
struct Parked {
    _pinned: PinnedToThread,
    _not_send: Rc<()>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl Future for Parked {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[test]
fn a_waker_outliving_its_closed_loop_frees_the_task_on_another_thread() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let waker = Arc::new(Mutex::new(None));
    let lp = EventLoop::new().unwrap();
    let task = lp
        .create_task(Parked {
            _pinned: PinnedToThread(thread::current().id(), log.clone()),
            _not_send: Rc::new(()),
            waker: waker.clone(),
        })
        .unwrap();
    lp.run_until_complete(sleep(0.01)).unwrap().unwrap();
    drop(task);
    // Closing cancels the pending task: its future is dropped here, on the loop's thread.
    lp.close().unwrap();
    drop(lp);
    assert_eq!(*log.lock().unwrap(), ["future dropped"]);
    // The waker is the task's last reference. Waking it reaches a closed loop; dropping it on
    // another thread frees the block, and drops nothing that belongs to the loop's thread.
    let waker = waker.lock().unwrap().take().expect("the task was polled");
    thread::spawn(move || {
        waker.wake_by_ref();
        waker.wake();
    })
    .join()
    .expect("no panic on the other thread");
    assert_eq!(*log.lock().unwrap(), ["future dropped"]);
}

#[test]
fn a_task_cancelling_itself_has_its_future_dropped_when_that_step_returns() {
    run(async {
        let steps = Rc::new(Cell::new(0));
        let s = steps.clone();
        let me = Rc::new(std::cell::RefCell::new(None::<aio_task::TaskRef>));
        let m = me.clone();
        let task = create_task(async move {
            s.set(1);
            let own = m.borrow().clone().expect("set before the first step");
            assert!(own.cancel(None));
            // The request takes effect at this suspension: no further step runs.
            let _ = sleep(0.0).await;
            s.set(2);
        })?;
        *me.borrow_mut() = Some(task.erase());
        let outcome = task.await;
        assert!(matches!(outcome, Err(aio_task::Error::Cancelled(_))));
        assert_eq!(steps.get(), 1);
        me.borrow_mut().take();
        Ok::<_, aio_task::Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn wakes_from_many_threads_while_the_task_runs_each_lead_to_a_step() {
    run(async {
        // The task parks 200 times; each time another thread wakes it, possibly while the
        // step that parked is still running (the wake then re-queues the task).
        let rounds = if cfg!(miri) { 20 } else { 200 };
        let task = create_task(async move {
            for _ in 0..rounds {
                let mut sent = false;
                std::future::poll_fn(|cx| {
                    if sent {
                        return Poll::Ready(());
                    }
                    sent = true;
                    let waker = cx.waker().clone();
                    thread::spawn(move || waker.wake());
                    Poll::Pending
                })
                .await;
            }
            rounds
        })?;
        assert_eq!(task.await?, rounds);
        Ok::<_, aio_task::Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Counts its drops; panics when dropped if `panics`.
struct Bomb {
    drops: Rc<Cell<u32>>,
    panics: bool,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        if self.panics {
            panic!("boom in drop");
        }
    }
}

#[test]
fn a_future_whose_drop_panics_on_cancel_leaves_the_task_done_and_the_loop_running() {
    // Regression: a panic unwinding out of the step that drops a cancelled task's future left
    // the task marked running for good (its block and the loop's shared state leaked).
    run(async {
        let drops = Rc::new(Cell::new(0));
        let d = drops.clone();
        let task = create_task(async move {
            let _bomb = Bomb {
                drops: d,
                panics: true,
            };
            std::future::pending::<()>().await;
        })?;
        sleep(0.0).await?;
        assert!(task.cancel(None));
        let outcome = task.clone().await;
        assert!(
            matches!(outcome, Err(aio_task::Error::Cancelled(_))),
            "{outcome:?}"
        );
        assert_eq!(drops.get(), 1);
        assert!(task.done());
        // The loop goes on: another task runs to completion.
        assert_eq!(create_task(async { 7 })?.await?, 7);
        Ok::<_, aio_task::Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_pending_future_whose_drop_panics_at_close_does_not_stop_the_others_being_dropped() {
    let drops = Rc::new(Cell::new(0));
    let lp = EventLoop::new().unwrap();
    for panics in [true, false, true, false] {
        let d = drops.clone();
        let task = lp
            .create_task(async move {
                let _bomb = Bomb { drops: d, panics };
                std::future::pending::<()>().await;
            })
            .unwrap();
        drop(task);
    }
    lp.run_until_complete(sleep(0.01)).unwrap().unwrap();
    lp.close().unwrap();
    drop(lp);
    assert_eq!(drops.get(), 4, "every pending future is dropped at close");
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

#[test]
#[cfg_attr(miri, ignore = "reads /proc/self/fd")]
fn a_panicking_drop_of_a_cancelled_future_does_not_leak_its_loop() {
    // Regression: the unwinding step kept the task's reference, so the task's block — and
    // through its loop handle the loop's shared state with its wake-up descriptor — leaked.
    let before = open_fds();
    for _ in 0..20 {
        let lp = EventLoop::new().unwrap();
        lp.run_until_complete(async {
            let task = create_task(async {
                let _bomb = Bomb {
                    drops: Rc::new(Cell::new(0)),
                    panics: true,
                };
                std::future::pending::<()>().await;
            })?;
            sleep(0.0).await?;
            task.cancel(None);
            let _ = task.clone().await;
            Ok::<_, aio_task::Error>(())
        })
        .unwrap()
        .unwrap();
        lp.close().unwrap();
    }
    let grown = open_fds().saturating_sub(before);
    assert!(
        grown < 5,
        "{grown} descriptors left behind by 20 closed loops"
    );
}

#[test]
fn a_new_tasks_first_step_runs_after_what_other_threads_sent_before() {
    // asyncio: `create_task` is `call_soon(task.__step)`, appended to the one ready deque
    // after whatever another thread's `call_soon_threadsafe` appended earlier.
    run(async {
        let log = Arc::new(Mutex::new(Vec::new()));
        let handle = aio_scheduler::get_running_loop()?.handle();
        let l = log.clone();
        thread::spawn(move || {
            handle.call_soon_threadsafe(move || l.lock().unwrap().push("from thread"))
        })
        .join()
        .unwrap()?;
        let l = log.clone();
        let task = create_task(async move { l.lock().unwrap().push("task's first step") })?;
        task.await?;
        assert_eq!(*log.lock().unwrap(), ["from thread", "task's first step"]);
        Ok::<_, aio_task::Error>(())
    })
    .unwrap()
    .unwrap();
}
