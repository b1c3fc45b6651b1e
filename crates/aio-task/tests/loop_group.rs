//! `LoopGroup` / `run_per_core`: N loops on N threads, values in index order, TaskGroup
//! semantics across loops (the first failure — an `Err`, a panic, in the future or in `main`
//! itself, or a cancellation from outside the group — cancels the other loops, and every
//! failure is reported), spawning on another loop, and a cross-loop channel under
//! cancellation. Ctrl-C is in `loop_group_ctrl_c.rs` (it needs the main thread).

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::collections::HashSet;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use aio_queue::QueueError;
use aio_queue::channel;
use aio_scheduler::sleep;
use aio_task::{Error, LoopGroup, LoopHandleExt, current_task, run, run_per_core, wait_for};

/// Counts the futures dropped before they finished (a cancelled main task's `finally`).
struct CountOnDrop(Arc<AtomicUsize>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn every_loop_runs_on_its_own_thread_and_values_come_back_in_index_order() {
    let out = LoopGroup::new()
        .loops(4)
        .run(|member| async move {
            sleep(0.001 * (4 - member.index()) as f64).await?; // finish in reverse order
            let thread = std::thread::current();
            Ok::<_, Error>((
                member.index(),
                thread.id(),
                thread.name().map(str::to_owned),
                {
                    // The loop's own handle is the one the group hands out.
                    member.handle(member.index()).is_current()
                },
            ))
        })
        .unwrap();
    assert_eq!(out.iter().map(|o| o.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
    let threads: HashSet<_> = out.iter().map(|o| o.1).collect();
    assert_eq!(threads.len(), 4, "one thread per loop");
    assert!(!threads.contains(&std::thread::current().id()));
    for (index, _, name, own) in &out {
        assert_eq!(name.as_deref(), Some(format!("aio-loop-{index}").as_str()));
        assert!(own);
    }
}

#[test]
fn run_per_core_runs_one_loop_per_cpu() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let out = run_per_core(|index| async move { Ok::<_, Error>(index) }).unwrap();
    assert_eq!(out, (0..cpus).collect::<Vec<_>>());
}

#[test]
fn a_panicking_loop_cancels_the_others_and_is_reported() {
    let cancelled = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(Barrier::new(4));
    let outcome = LoopGroup::new().loops(4).run(|member| {
        let (cancelled, started) = (cancelled.clone(), started.clone());
        async move {
            started.wait(); // every main task runs before loop 2 panics
            if member.index() == 2 {
                panic!("loop 2 broke");
            }
            let _finally = CountOnDrop(cancelled);
            sleep(3600).await?;
            Ok::<_, Error>(())
        }
    });
    let Err(Error::Group(errors)) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        matches!(&errors[0], Error::Panicked(m) if m.contains("loop 2 broke")),
        "{errors:?}"
    );
    assert_eq!(
        cancelled.load(Ordering::SeqCst),
        3,
        "the three others were cancelled"
    );
}

#[test]
fn every_failure_is_reported_the_first_one_first() {
    let failed = Arc::new(Barrier::new(2));
    let outcome = LoopGroup::new().loops(3).run(|member| {
        let failed = failed.clone();
        async move {
            match member.index() {
                0 => {
                    failed.wait();
                    Err(Error::Value("zero"))
                }
                1 => {
                    failed.wait();
                    // Fails after loop 0 did, in its first step: not cancelled in between.
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    Err(Error::Value("one"))
                }
                _ => {
                    sleep(3600).await?;
                    Ok(())
                }
            }
        }
    });
    let Err(Error::Group(errors)) = outcome else {
        panic!("{outcome:?}")
    };
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 2, "{messages:?}");
    assert!(matches!(errors[0], Error::Value("zero")), "{messages:?}");
    assert!(matches!(errors[1], Error::Value("one")), "{messages:?}");
}

#[test]
fn a_panic_in_main_itself_is_the_loops_failure() {
    let outcome = LoopGroup::new().loops(2).run(|member| {
        if member.index() == 1 {
            panic!("no future for loop 1");
        }
        async {
            sleep(3600).await?;
            Ok::<_, Error>(())
        }
    });
    let Err(Error::Group(errors)) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        matches!(&errors[..], [Error::Panicked(m)] if m.contains("no future for loop 1")),
        "{errors:?}"
    );
}

#[test]
fn a_main_task_cancelled_on_its_own_loop_fails_the_group() {
    let outcome = LoopGroup::new().loops(2).run(|member| async move {
        if member.index() == 0 {
            let me = current_task().expect("the main task");
            aio_task::create_task(async move {
                me.cancel("from inside");
            })?;
        }
        sleep(3600).await?;
        Ok::<_, Error>(())
    });
    let Err(Error::Group(errors)) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        matches!(&errors[..], [e] if e.cancel_message() == Some("from inside")),
        "{errors:?}"
    );
}

#[test]
fn a_loop_cancelled_by_the_group_is_not_a_failure_of_its_own() {
    let outcome = LoopGroup::new().loops(2).run(|member| async move {
        if member.index() == 0 {
            sleep(0.01).await?;
            return Err(Error::Value("zero"));
        }
        sleep(3600).await?;
        Ok::<_, Error>(())
    });
    // Loop 1 ends cancelled, which the group did: only loop 0's failure is reported.
    let Err(Error::Group(errors)) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(matches!(&errors[..], [Error::Value("zero")]), "{errors:?}");
}

#[test]
fn spawn_on_runs_a_non_send_future_on_another_loop() {
    // A loop lives as long as its main task: loop 1 waits until loop 0 says it is done.
    let (done_tx, done_rx) = channel::bounded::<()>(1);
    let out = LoopGroup::new()
        .loops(2)
        .run(|member| {
            let (done_tx, done_rx) = (done_tx.clone(), done_rx.clone());
            async move {
                if member.index() == 1 {
                    let _ = done_rx.recv().await;
                    return Ok::<_, Error>(String::new());
                }
                // Built on loop 1 (an `Rc` inside), awaited here on loop 0.
                let remote = member.spawn_on(1, || async {
                    let local = Rc::new(std::thread::current().name().unwrap().to_owned());
                    sleep(0.001).await.unwrap();
                    (*local).clone()
                })?;
                // The same through the handle, and cancelling a remote task.
                let forever = member.handle(1).spawn(|| sleep(3600))?;
                assert!(forever.cancel());
                assert!(forever.await.unwrap_err().is_cancelled());
                let name = remote.await;
                done_tx.close();
                name
            }
        })
        .unwrap();
    assert_eq!(out[0], "aio-loop-1");
}

/// Work sent to a loop whose main task already returned is cancelled: the loop is closed.
#[test]
fn a_loop_ends_with_its_main_task() {
    let out = LoopGroup::new()
        .loops(2)
        .run(|member| async move {
            if member.index() == 1 {
                return Ok::<_, Error>(true);
            }
            // Wait until loop 1 is closed, then try to use it.
            while !member.handle(1).is_closed() {
                sleep(0.001).await?;
            }
            Ok(member.spawn_on(1, || async {}).is_err())
        })
        .unwrap();
    assert_eq!(out, [true, true]);
}

#[test]
fn a_channel_between_loops_loses_nothing_under_cancellation() {
    const ITEMS: u64 = 20_000;
    let (tx, rx) = channel::bounded::<u64>(8);
    let timeouts = Arc::new(AtomicUsize::new(0));
    let out = LoopGroup::new().loops(3).run(|member| {
        let (tx, rx, timeouts) = (tx.clone(), rx.clone(), timeouts.clone());
        async move {
            if member.index() == 0 {
                drop(rx);
                for n in 1..=ITEMS {
                    tx.send(n).await.map_err(|r| r.error)?;
                }
                // The group's closure holds a sender too: close explicitly.
                tx.close();
                return Ok::<_, Error>(Vec::new());
            }
            drop(tx);
            let mut got = Vec::new();
            for attempt in 0u64.. {
                // Every other receive has a deadline already passed (cancelled at once
                // while waiting), the others a short one.
                let delay = if attempt % 2 == 0 { 0.0 } else { 0.0002 };
                match wait_for(rx.recv(), delay).await {
                    Ok(Ok(n)) => got.push(n),
                    Ok(Err(QueueError::ShutDown)) => break,
                    Ok(Err(e)) => return Err(e.into()),
                    Err(Error::Timeout) => {
                        timeouts.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(got)
        }
    });
    drop((tx, rx));
    let out = out.unwrap();
    let mut all: Vec<u64> = out.into_iter().flatten().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=ITEMS).collect::<Vec<_>>(),
        "each item exactly once"
    );
    assert!(
        timeouts.load(Ordering::Relaxed) > 0,
        "receives were cancelled"
    );
}

#[test]
fn zero_loops_and_a_running_loop_are_refused() {
    let zero = LoopGroup::new()
        .loops(0)
        .run(|_| async { Ok::<_, Error>(()) });
    assert!(matches!(zero, Err(Error::Value(_))), "{zero:?}");
    let nested = run(async {
        LoopGroup::new()
            .loops(1)
            .run(|_| async { Ok::<_, Error>(()) })
    })
    .unwrap();
    assert!(
        matches!(
            nested,
            Err(Error::Runtime(aio_scheduler::Error::AnotherLoopRunning))
        ),
        "{nested:?}"
    );
}

#[test]
fn a_loop_that_cannot_be_made_fails_the_group_and_nothing_runs() {
    let ran = Arc::new(AtomicUsize::new(0));
    let made = Arc::new(AtomicUsize::new(0));
    let outcome = LoopGroup::new()
        .loops(3)
        .loop_factory({
            let made = made.clone();
            move || {
                if made.fetch_add(1, Ordering::SeqCst) == 1 {
                    return Err(aio_scheduler::Error::Closed);
                }
                aio_scheduler::EventLoop::new()
            }
        })
        .run(|_| {
            ran.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Error>(()) }
        });
    let Err(Error::Group(errors)) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        matches!(&errors[..], [Error::Runtime(aio_scheduler::Error::Closed)]),
        "{errors:?}"
    );
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}
