//! Cancelling a `get` or `put` (dropping its future) keeps asyncio's guarantees: a cancelled
//! getter never steals an item and leaves the getters' queue; a woken-then-cancelled getter
//! passes its wake-up to the next getter; a cancelled putter never loses another item nor
//! duplicates its own (its item is dropped with the future, never half-put) and passes its
//! wake-up on; getters and putters keep being served FIFO. Ports of CPython's
//! `test_get_cancelled_race`, `test_put_cancelled_race`, `test_cancelled_*`,
//! `test_why_are_*_waiting`, `test_*_cancel_drop*`.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

// aio-sync's test helpers: one copy serves both crates.
#[path = "../../aio-sync/tests/common/mod.rs"]
mod common;

use std::rc::Rc;

use aio_queue::{Queue, QueueError};
use aio_scheduler::sleep;
use aio_task::{Error, Task, create_task, run, wait_for};
use common::Hand;

/// Awaits a task that must finish (a lost wake-up fails the test instead of hanging it).
async fn finish<T: 'static>(task: Task<T>) -> T {
    wait_for(task, 5.0)
        .await
        .expect("deadlock: the task never finished")
        .expect("the task failed")
}

fn count(q: &impl std::fmt::Debug, field: &str) -> String {
    let debug = format!("{q:?}");
    let key = format!("{field}: ");
    let at = debug.find(&key).expect("Debug shows the field") + key.len();
    debug[at..].split([',', ' ']).next().unwrap().to_string()
}

fn getter(q: &Rc<Queue<char>>) -> Result<Task<Result<char, QueueError>>, Error> {
    let q = q.clone();
    create_task(async move { q.get().await })
}

fn putter(q: &Rc<Queue<char>>, item: char) -> Result<Task<Result<(), QueueError>>, Error> {
    let q = q.clone();
    create_task(async move { q.put(item).await })
}

/// CPython `test_get_cancelled_race`.
#[test]
fn get_cancelled_race() {
    run(async {
        let q = Rc::new(Queue::new(0));
        let t1 = getter(&q)?;
        let t2 = getter(&q)?;
        sleep(0).await?;
        t1.cancel(None);
        sleep(0).await?;
        assert!(t1.done());
        q.put('a').await.unwrap();
        sleep(0).await?;
        assert_eq!(finish(t2).await, Ok('a'));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_put_cancelled_race`.
#[test]
fn put_cancelled_race() {
    run(async {
        let q = Rc::new(Queue::new(1));
        let put_a = putter(&q, 'a')?;
        let put_b = putter(&q, 'b')?;
        let put_c = putter(&q, 'X')?;
        sleep(0).await?;
        assert!(put_a.done());
        assert!(!put_b.done());
        put_c.cancel(None);
        sleep(0).await?;
        assert!(put_c.done());
        assert_eq!(q.get_nowait(), Ok('a'));
        sleep(0).await?;
        assert_eq!(q.get_nowait(), Ok('b'));
        assert_eq!(finish(put_b).await, Ok(()));
        assert_eq!(
            q.get_nowait(),
            Err(QueueError::Empty),
            "the cancelled 'X' never went in"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_cancelled_getters_not_being_held_in_self_getters`.
#[test]
fn cancelled_getters_leave_the_getters_queue() {
    run(async {
        let q = Rc::new(Queue::<u8>::new(5));
        assert!(matches!(wait_for(q.get(), 0.01).await, Err(Error::Timeout)));
        assert_eq!(count(&*q, "getters"), "0");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_cancelled_puts_not_being_held_in_self_putters`.
#[test]
fn cancelled_puts_leave_the_putters_queue() {
    run(async {
        let q = Rc::new(Queue::new(1));
        q.put_nowait('1').unwrap();
        let put_task = putter(&q, '1')?;
        sleep(0).await?;
        assert_eq!(count(&*q, "putters"), "1");
        put_task.cancel(None);
        assert!(put_task.await.unwrap_err().is_cancelled());
        assert_eq!(count(&*q, "putters"), "0");
        assert_eq!(q.qsize(), 1);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_cancelled_put_silence_value_error_exception`: the putter was already taken
/// off the queue by `get_nowait` (woken) when it is cancelled: the cancellation is clean and
/// its item does not go in.
#[test]
fn cancelled_put_after_being_woken_is_clean() {
    run(async {
        let q = Rc::new(Queue::new(1));
        q.put_nowait('1').unwrap();
        let put_task = putter(&q, '2')?;
        sleep(0).await?;
        q.get_nowait().unwrap(); // wakes (dequeues) the putter
        put_task.cancel(None);
        assert!(put_task.await.unwrap_err().is_cancelled());
        assert_eq!(count(&*q, "putters"), "0");
        assert_eq!(q.qsize(), 0, "the cancelled put's item was not put");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_why_are_getters_waiting`: a producer and a consumer over a queue of one
/// complete.
#[test]
fn why_are_getters_waiting() {
    run(async {
        let q = Rc::new(Queue::new(1));
        let qq = q.clone();
        let consumer = create_task(async move {
            let mut got = Vec::new();
            for _ in 0..5 {
                got.push(qq.get().await.unwrap());
            }
            got
        })?;
        let qq = q.clone();
        let producer = create_task(async move {
            for i in 0..5 {
                qq.put(i).await.unwrap();
            }
        })?;
        finish(producer).await;
        assert_eq!(finish(consumer).await, [0, 1, 2, 3, 4]);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_why_are_putters_waiting`: a getter taking every item with `get_nowait`
/// wakes a putter per item; all four putters complete.
#[test]
fn why_are_putters_waiting() {
    run(async {
        let q = Rc::new(Queue::new(2));
        let qq = q.clone();
        let getter = create_task(async move {
            sleep(0).await.unwrap();
            let num = qq.qsize();
            for _ in 0..num {
                qq.get_nowait().unwrap();
            }
        })?;
        let putters: Vec<_> = ['0', '1', '2', '3']
            .into_iter()
            .map(|item| putter(&q, item))
            .collect::<Result<_, _>>()?;
        finish(getter).await;
        for task in putters {
            assert_eq!(finish(task).await, Ok(()));
        }
        assert_eq!(q.get_nowait(), Ok('2'));
        assert_eq!(q.get_nowait(), Ok('3'));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_get_cancel_drop_one_pending_reader`: the reader woken by the first put is
/// cancelled before it runs; the item stays and the next reader gets item 1, not 2.
#[test]
fn get_cancel_drop_one_pending_reader() {
    run(async {
        let q = Rc::new(Queue::new(0));
        let reader = getter(&q)?;
        sleep(0).await?;
        q.put_nowait('1').unwrap();
        q.put_nowait('2').unwrap();
        reader.cancel(None);
        let result = match reader.await {
            Err(e) if e.is_cancelled() => finish(getter(&q)?).await,
            other => other?,
        };
        assert_eq!(result, Ok('1'), "if we get 2, 1 was dropped");
        assert_eq!(q.get_nowait(), Ok('2'));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_get_cancel_drop_many_pending_readers`: reader 1 is cancelled after being
/// woken; readers 2 and 3 get both items.
#[test]
fn get_cancel_drop_many_pending_readers() {
    run(async {
        let q = Rc::new(Queue::new(0));
        let reader1 = getter(&q)?;
        let reader2 = getter(&q)?;
        let reader3 = getter(&q)?;
        sleep(0).await?;
        q.put_nowait('1').unwrap();
        q.put_nowait('2').unwrap();
        reader1.cancel(None);
        assert!(reader1.await.unwrap_err().is_cancelled());
        let r3 = finish(reader3).await.unwrap();
        let r2 = finish(reader2).await.unwrap();
        let mut got = [r2, r3];
        got.sort();
        assert_eq!(got, ['1', '2']);
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// CPython `test_put_cancel_drop`: the writer woken by `get_nowait` is cancelled before it
/// runs; retried, its item goes in exactly once.
#[test]
fn put_cancel_drop() {
    run(async {
        let q = Rc::new(Queue::new(1));
        q.put_nowait('1').unwrap();
        let writer = putter(&q, '2')?;
        sleep(0).await?;
        assert_eq!(q.get_nowait(), Ok('1'));
        writer.cancel(None);
        match writer.await {
            Err(e) if e.is_cancelled() => finish(putter(&q, '2')?).await.unwrap(),
            other => other?.unwrap(),
        }
        assert_eq!(q.get_nowait(), Ok('2'));
        assert_eq!(q.qsize(), 0, "put exactly once");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// Hand-polled: a getter woken by a put and dropped before it runs does not take the item;
/// its wake-up passes to the next getter, which gets the item.
#[test]
fn woken_then_cancelled_getter_passes_its_wake_up_on() {
    let q = Queue::new(0);
    let a = Hand::pending(q.get());
    let mut b = Hand::pending(q.get());
    let mut c = Hand::pending(q.get());
    q.put_nowait(1).unwrap();
    assert!(a.woken() && !b.woken());
    a.cancel();
    assert_eq!(q.qsize(), 1, "the cancelled getter took nothing");
    assert!(b.woken(), "wake-up passed on");
    assert!(!c.woken());
    assert_eq!(b.ready(), Ok(1));
    c.still_pending();
    q.put_nowait(2).unwrap();
    assert_eq!(c.ready(), Ok(2));
}

/// Hand-polled: a getter cancelled before being woken just leaves; nobody else is woken and
/// the order of the others is kept.
#[test]
fn unwoken_getter_cancelled_leaves_quietly() {
    let q = Queue::new(0);
    let mut a = Hand::pending(q.get());
    let b = Hand::pending(q.get());
    let mut c = Hand::pending(q.get());
    b.cancel();
    assert!(!a.woken() && !c.woken());
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    assert!(a.woken() && c.woken());
    assert_eq!(a.ready(), Ok(1));
    assert_eq!(c.ready(), Ok(2));
}

/// Hand-polled: a woken getter cancelled after someone else took the item wakes nobody (there
/// is nothing to take), and the queue stays consistent.
#[test]
fn woken_getter_cancelled_after_the_item_is_gone_wakes_nobody() {
    let q = Queue::new(0);
    let a = Hand::pending(q.get());
    let mut b = Hand::pending(q.get());
    q.put_nowait(1).unwrap();
    assert_eq!(q.get_nowait(), Ok(1)); // a newcomer takes it first
    a.cancel();
    assert!(!b.woken(), "nothing to take: no wake-up to pass");
    b.still_pending();
    q.put_nowait(2).unwrap();
    assert_eq!(b.ready(), Ok(2));
}

/// Hand-polled: a putter woken by a get and dropped before it runs puts nothing; its wake-up
/// passes to the next putter, whose item goes in. Items are neither lost nor duplicated, and
/// the cancelled putter's item is dropped with its future.
#[test]
fn woken_then_cancelled_putter_passes_its_wake_up_on() {
    let q = Queue::new(1);
    let first = Rc::new('x');
    q.put_nowait(first.clone()).unwrap();
    let cancelled_item = Rc::new('a');
    let a = Hand::pending(q.put(cancelled_item.clone()));
    let mut b = Hand::pending(q.put(Rc::new('b')));
    let mut c = Hand::pending(q.put(Rc::new('c')));
    assert_eq!(
        Rc::strong_count(&cancelled_item),
        2,
        "held by the pending put"
    );
    assert_eq!(*q.get_nowait().unwrap(), 'x');
    assert!(a.woken() && !b.woken());
    a.cancel();
    assert_eq!(
        Rc::strong_count(&cancelled_item),
        1,
        "dropped with the future"
    );
    assert!(b.woken() && !c.woken(), "wake-up passed on");
    assert_eq!(b.ready(), Ok(()));
    c.still_pending();
    assert_eq!(*q.get_nowait().unwrap(), 'b');
    assert_eq!(c.ready(), Ok(()));
    assert_eq!(*q.get_nowait().unwrap(), 'c');
    assert_eq!(q.get_nowait(), Err(QueueError::Empty));
    assert_eq!(Rc::strong_count(&first), 1);
}

/// Hand-polled: a woken putter cancelled after the room was taken by a newcomer wakes
/// nobody; the newcomer's item is there once.
#[test]
fn woken_putter_cancelled_after_the_room_is_gone_wakes_nobody() {
    let q = Queue::new(1);
    q.put_nowait(0).unwrap();
    let a = Hand::pending(q.put(1));
    let mut b = Hand::pending(q.put(2));
    assert_eq!(q.get_nowait(), Ok(0));
    q.put_nowait(9).unwrap(); // a newcomer takes the room
    a.cancel();
    assert!(!b.woken(), "no room: no wake-up to pass");
    assert_eq!(q.get_nowait(), Ok(9));
    assert_eq!(b.ready(), Ok(()));
    assert_eq!(q.get_nowait(), Ok(2));
    assert_eq!(q.get_nowait(), Err(QueueError::Empty));
}

/// A woken getter that finds the queue empty when it runs re-queues at the back (asyncio:
/// `while self.empty()` loops), and is served later; nothing is lost.
#[test]
fn woken_getter_finding_nothing_waits_again() {
    let q = Queue::new(0);
    let mut a = Hand::pending(q.get());
    let mut b = Hand::pending(q.get());
    q.put_nowait(1).unwrap();
    assert_eq!(q.get_nowait(), Ok(1)); // stolen before `a` ran
    a.still_pending(); // back in the queue, behind `b`
    q.put_nowait(2).unwrap();
    assert!(b.woken());
    assert_eq!(b.ready(), Ok(2));
    q.put_nowait(3).unwrap();
    assert_eq!(a.ready(), Ok(3));
}

/// Many getter tasks, some cancelled at various points, and a producer: every item is
/// received exactly once, in put order.
#[test]
fn getters_cancelled_at_random_points_lose_nothing() {
    run(async {
        let q = Rc::new(Queue::new(0));
        let log = Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (q, log) = (q.clone(), log.clone());
            tasks.push(create_task(async move {
                loop {
                    let item: u32 = q.get().await.unwrap();
                    log.borrow_mut().push(item);
                    sleep(0).await.unwrap();
                }
            })?);
        }
        sleep(0).await?;
        for item in 0..200u32 {
            q.put_nowait(item).unwrap();
            if item % 7 == 0 {
                tasks[(item as usize / 7) % 20].cancel(None);
            }
            if item % 3 == 0 {
                sleep(0).await?;
            }
        }
        for _ in 0..10 {
            sleep(0).await?;
        }
        let mut remaining = Vec::new();
        while let Ok(item) = q.get_nowait() {
            remaining.push(item);
        }
        for task in &tasks {
            task.cancel(None);
        }
        let mut all = log.borrow().clone();
        all.extend(remaining);
        assert_eq!(
            all,
            (0..200).collect::<Vec<_>>(),
            "lost, duplicated or reordered"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
