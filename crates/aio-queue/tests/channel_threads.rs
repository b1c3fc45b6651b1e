//! `channel::bounded` across real threads and loops: producers and consumers on several loops
//! and plain threads at once, with receives and sends cancelled by short timeouts all along.
//! Every item arrives exactly once, and closing wakes everyone.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::collections::HashSet;
use std::time::Duration;

use aio_queue::QueueError;
use aio_queue::channel::{self, Receiver, Sender};
use aio_task::{Error, run, wait_for};

const PER_PRODUCER: u32 = 3_000;

/// A loop that sends `PER_PRODUCER` items tagged with `id`, each `send` raced against a short
/// timeout that cancels it now and then (a cancelled send sent nothing: it is retried).
fn loop_producer(tx: Sender<u32>, id: u32) -> std::thread::JoinHandle<u32> {
    std::thread::spawn(move || {
        run(async move {
            let mut cancelled = 0;
            for n in 0..PER_PRODUCER {
                let item = id * 1_000_000 + n;
                loop {
                    match wait_for(tx.send(item), 0.0005).await {
                        Ok(Ok(())) => break,
                        Ok(Err(rejected)) => panic!("closed early: {rejected}"),
                        Err(Error::Timeout) => cancelled += 1,
                        Err(other) => panic!("{other}"),
                    }
                }
            }
            cancelled
        })
        .expect("the loop runs")
    })
}

/// A loop that receives until the channel is closed and drained, each `recv` raced against a
/// short timeout (a cancelled recv took nothing).
fn loop_consumer(rx: Receiver<u32>) -> std::thread::JoinHandle<(Vec<u32>, u32)> {
    std::thread::spawn(move || {
        run(async move {
            let (mut got, mut cancelled) = (Vec::new(), 0);
            for attempt in 0u32.. {
                // Every third receive has a deadline already passed: it registers as a waiter
                // when the channel is empty, and is cancelled at once.
                let delay = if attempt % 3 == 0 { 0.0 } else { 0.0005 };
                match wait_for(rx.recv(), delay).await {
                    Ok(Ok(item)) => got.push(item),
                    Ok(Err(QueueError::ShutDown)) => break,
                    Ok(Err(other)) => panic!("{other}"),
                    Err(Error::Timeout) => cancelled += 1,
                    Err(other) => panic!("{other}"),
                }
            }
            (got, cancelled)
        })
        .expect("the loop runs")
    })
}

#[test]
fn every_item_arrives_once_across_loops_and_threads_under_cancellation() {
    let (tx, rx) = channel::bounded::<u32>(4);
    let mut producers = Vec::new();
    for id in 1..=2 {
        producers.push(loop_producer(tx.clone(), id));
    }
    let blocking_tx = tx.clone();
    let blocking_producer = std::thread::spawn(move || {
        for n in 0..PER_PRODUCER {
            blocking_tx.send_blocking(3_000_000 + n).unwrap();
        }
    });
    drop(tx);
    let consumers: Vec<_> = (0..2).map(|_| loop_consumer(rx.clone())).collect();
    let blocking_rx = rx.clone();
    let blocking_consumer = std::thread::spawn(move || {
        let mut got = Vec::new();
        loop {
            match blocking_rx.recv_timeout(Duration::from_micros(300)) {
                Ok(item) => got.push(item),
                Err(QueueError::Empty) => {}
                Err(_) => return got,
            }
        }
    });
    drop(rx);

    let mut cancelled_sends = 0;
    for p in producers {
        cancelled_sends += p.join().unwrap();
    }
    blocking_producer.join().unwrap();
    // Every sender is gone now: the consumers drain the channel and stop.
    let mut all = blocking_consumer.join().unwrap();
    let mut cancelled_recvs = 0;
    for c in consumers {
        let (got, cancelled) = c.join().unwrap();
        // Each producer's items keep their order for any one consumer (one FIFO).
        for id in 1..=3u32 {
            let mine: Vec<u32> = got
                .iter()
                .copied()
                .filter(|i| i / 1_000_000 == id)
                .collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "producer {id} out of order"
            );
        }
        all.extend(got);
        cancelled_recvs += cancelled;
    }
    assert_eq!(
        all.len(),
        3 * PER_PRODUCER as usize,
        "nothing lost or duplicated"
    );
    let unique: HashSet<u32> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len());
    eprintln!("cancelled sends {cancelled_sends}, cancelled receives {cancelled_recvs}");
    assert!(
        cancelled_recvs > 0,
        "the receives were cancelled now and then"
    );
}

#[test]
fn closing_wakes_waiting_receivers_on_every_loop_and_thread() {
    let (tx, rx) = channel::bounded::<u8>(1);
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let rx = rx.clone();
            std::thread::spawn(move || run(async move { rx.recv().await }).unwrap())
        })
        .collect();
    let blocked = {
        let rx = rx.clone();
        std::thread::spawn(move || rx.recv_blocking())
    };
    std::thread::sleep(Duration::from_millis(20));
    tx.close();
    for w in waiters {
        assert_eq!(w.join().unwrap(), Err(QueueError::ShutDown));
    }
    assert_eq!(blocked.join().unwrap(), Err(QueueError::ShutDown));
    assert_eq!(
        tx.try_send(1).unwrap_err().error,
        QueueError::ShutDown,
        "sends fail once closed"
    );
}
