//! `open_connection` resolves names off the loop, on the default executor (asyncio runs
//! `getaddrinfo` there too), so the loop keeps running while a lookup is in flight.
//!
//! Deterministic, with no dependence on how long a lookup takes: every worker of the loop's
//! default executor is held on a gate first, so the lookup cannot start until the test
//! opens it. Meanwhile other tasks must get to run, and the connection must not complete.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex};

use aio_streams::{Address, open_connection};
use aio_task::{Error, create_task, default_executor, run, to_thread, wait_for};

/// A gate worker threads wait on. Opened when dropped too, so a failing test never leaves
/// the default executor's threads blocked (the loop waits for them when it closes).
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn wait(&self) {
        let (open, changed) = &*self.0;
        let mut open = open.lock().unwrap();
        while !*open {
            open = changed.wait(open).unwrap();
        }
    }

    fn open(&self) {
        let (open, changed) = &*self.0;
        *open.lock().unwrap() = true;
        changed.notify_all();
    }
}

struct OpenOnDrop(Gate);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

#[test]
fn the_loop_runs_while_a_name_lookup_is_in_flight() {
    // "localhost" resolves offline (/etc/hosts); the listener's backlog completes the
    // connect without an accept.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    run(async move {
        let gate = Gate::default();
        let _release = OpenOnDrop(gate.clone());
        let pool = default_executor(&aio_scheduler::get_running_loop()?);
        let blockers = (0..pool.max_workers())
            .map(|_| {
                let gate = gate.clone();
                to_thread(move || gate.wait())
            })
            .collect::<Vec<_>>();

        // The lookup is queued behind the held workers.
        let connecting = create_task(async move { open_connection("localhost", port).await })?;
        let ticks = Rc::new(Cell::new(0));
        let counted = ticks.clone();
        let ticker = create_task(async move {
            for _ in 0..100 {
                counted.set(counted.get() + 1);
                aio_scheduler::sleep(0.0).await?;
            }
            Ok::<_, Error>(())
        })?;
        ticker.await??;
        assert_eq!(ticks.get(), 100);
        assert!(
            !connecting.done(),
            "open_connection completed while no executor worker could resolve the name"
        );

        // Let the workers go: the lookup runs, and the connect completes on the loop.
        gate.open();
        let (_reader, writer) = wait_for(connecting, 10.0).await???;
        let expected = Address::Inet(([127, 0, 0, 1], port).into());
        assert_eq!(writer.peername(), Some(expected));
        for blocker in blockers {
            blocker.await?;
        }
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    drop(listener);
}
