//! `TaskGroup`: the scope waits for its children; the first failure cancels the other
//! children and the body and every error comes back in `Error::Group`; no new tasks in a
//! finished or shutting-down group; cancelling the owner cancels the children; a child
//! cancelled from outside is not a failure.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use aio_scheduler::sleep;
use aio_task::{Error, TaskGroup, create_future, create_task, run};

/// Counts drops: stands in for a `finally` block.
struct OnDrop(Rc<Cell<u32>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// A child that never finishes unless cancelled, counting its drop.
fn forever(
    dropped: &Rc<Cell<u32>>,
) -> impl std::future::Future<Output = Result<(), Error>> + use<> {
    let guard = OnDrop(dropped.clone());
    async move {
        let _guard = guard;
        sleep(3600).await?;
        Ok(())
    }
}

fn group_errors(outcome: Result<impl std::fmt::Debug, Error>) -> Vec<String> {
    match outcome {
        Err(Error::Group(errors)) => errors.iter().map(ToString::to_string).collect(),
        other => panic!("expected Error::Group, got {other:?}"),
    }
}

#[test]
fn the_scope_waits_for_children_when_the_body_returns_first() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    run(async move {
        let (l1, l2) = (l.clone(), l.clone());
        let (a, b) = TaskGroup::run(|tg| async move {
            let a = tg.create_task(async move {
                sleep(0.02).await?;
                l1.borrow_mut().push("a");
                Ok::<_, Error>(1)
            })?;
            let b = tg.create_task(async move {
                sleep(0.01).await?;
                l2.borrow_mut().push("b");
                Ok::<_, Error>("two")
            })?;
            l.borrow_mut().push("body returned");
            Ok((a, b))
        })
        .await?;
        assert!(
            a.done() && b.done(),
            "both children finished before the scope"
        );
        assert_eq!((a.result()?, b.result()?), (1, "two"));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    let mut log = log.borrow().clone();
    assert_eq!(log[0], "body returned");
    log[1..].sort_unstable();
    assert_eq!(log, ["body returned", "a", "b"]);
}

#[test]
fn the_first_failure_cancels_the_other_children_and_the_body() {
    let dropped = Rc::new(Cell::new(0));
    let d = dropped.clone();
    let body_resumed = Rc::new(Cell::new(false));
    let r = body_resumed.clone();
    run(async move {
        let gate = create_future::<()>()?;
        let g = gate.clone();
        let mut children = Vec::new();
        let outcome = TaskGroup::run(|tg| {
            let children = &mut children;
            async move {
                children.push(tg.create_task(forever(&d))?);
                children.push(tg.create_task(forever(&d))?);
                tg.create_task(async move {
                    g.await.unwrap();
                    Err::<(), _>(std::io::Error::other("disk full"))
                })?;
                let _body_guard = OnDrop(d.clone());
                gate.set_result(())?;
                sleep(3600).await?;
                r.set(true);
                Ok(())
            }
        })
        .await;
        assert_eq!(group_errors(outcome), ["disk full"]);
        for child in &children {
            assert!(child.cancelled(), "the other children were cancelled");
        }
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(dropped.get(), 3, "both children and the body were dropped");
    assert!(!body_resumed.get());
}

#[test]
fn a_panicking_child_fails_the_group_too() {
    run(async {
        let outcome = TaskGroup::run(|tg| async move {
            tg.create_task(async {
                sleep(0.001).await?;
                panic!("child panicked");
                #[allow(unreachable_code)]
                Ok::<(), Error>(())
            })?;
            Ok("body value")
        })
        .await;
        assert_eq!(group_errors(outcome), ["panicked: child panicked"]);
    })
    .unwrap();
}

#[test]
fn children_failing_at_the_same_time_are_all_reported() {
    run(async {
        let outcome = TaskGroup::run(|tg| async move {
            // Both start in the same iteration and fail together in the next one.
            tg.create_task(async move {
                sleep(0).await.unwrap();
                Err::<(), _>(String::from("first"))
            })?;
            tg.create_task(async move {
                sleep(0).await.unwrap();
                Err::<(), _>(std::io::Error::other("second"))
            })?;
            Ok(())
        })
        .await;
        let mut errors = group_errors(outcome);
        errors.sort();
        assert_eq!(errors, ["first", "second"]);
    })
    .unwrap();
}

#[test]
fn a_body_error_is_reported_and_cancels_the_children() {
    let dropped = Rc::new(Cell::new(0));
    let d = dropped.clone();
    run(async move {
        let outcome: Result<(), Error> = TaskGroup::run(|tg| async move {
            tg.create_task(forever(&d))?;
            sleep(0).await?;
            Err(Error::Value("the body gave up"))
        })
        .await;
        assert_eq!(group_errors(outcome), ["the body gave up"]);
    })
    .unwrap();
    assert_eq!(dropped.get(), 1);
}

#[test]
fn creating_a_task_in_a_finished_group_is_an_error() {
    run(async {
        let group = TaskGroup::run(|tg| async move { Ok(tg) }).await?;
        let err = group.create_task(async { Ok::<_, Error>(()) }).unwrap_err();
        assert!(
            matches!(err, Error::InvalidState(m) if m.contains("finished")),
            "{err:?}"
        );
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

/// On drop (its task cancelled by the group), tries to create a task in the group.
struct CreateOnDrop {
    tg: TaskGroup,
    outcome: Rc<RefCell<Option<Result<(), Error>>>>,
}

impl Drop for CreateOnDrop {
    fn drop(&mut self) {
        let created = self
            .tg
            .create_task(async { Ok::<_, Error>(()) })
            .map(|_| ());
        *self.outcome.borrow_mut() = Some(created);
    }
}

#[test]
fn creating_a_task_while_the_group_shuts_down_is_an_error() {
    let outcome = Rc::new(RefCell::new(None));
    let o = outcome.clone();
    run(async move {
        let result = TaskGroup::run(|tg| async move {
            let guard = CreateOnDrop {
                tg: tg.clone(),
                outcome: o,
            };
            tg.create_task(async move {
                let _guard = guard;
                sleep(3600).await?;
                Ok::<_, Error>(())
            })?;
            tg.create_task(async {
                sleep(0).await.unwrap();
                Err::<(), _>("failure")
            })?;
            Ok(())
        })
        .await;
        assert_eq!(group_errors(result), ["failure"]);
    })
    .unwrap();
    let created = outcome.borrow_mut().take().expect("the guard was dropped");
    assert!(
        matches!(created, Err(Error::InvalidState(m)) if m.contains("shutting down")),
        "{created:?}"
    );
}

#[test]
fn cancelling_the_owning_task_cancels_the_children() {
    let dropped = Rc::new(Cell::new(0));
    let d = dropped.clone();
    run(async move {
        let children = Rc::new(RefCell::new(Vec::new()));
        let c = children.clone();
        let owner = create_task(TaskGroup::run(|tg| async move {
            for _ in 0..3 {
                c.borrow_mut().push(tg.create_task(forever(&d))?);
            }
            sleep(3600).await?;
            Ok(())
        }))?;
        sleep(0).await?;
        sleep(0).await?; // the children have started
        assert_eq!(children.borrow().len(), 3);
        owner.cancel(None);
        assert!(owner.await.unwrap_err().is_cancelled());
        let children: Vec<_> = children.borrow_mut().drain(..).collect();
        for child in children {
            assert!(child.await.unwrap_err().is_cancelled());
        }
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(dropped.get(), 3);
}

#[test]
fn a_child_cancelled_from_outside_is_not_a_failure() {
    run(async {
        let (victim, survivor) = TaskGroup::run(|tg| async move {
            let victim = tg.create_task(async {
                sleep(3600).await?;
                Ok::<_, Error>(0)
            })?;
            let survivor = tg.create_task(async {
                sleep(0.02).await?;
                Ok::<_, Error>(2)
            })?;
            let v = victim.clone();
            create_task(async move {
                sleep(0.001).await.unwrap();
                v.cancel("from outside");
            })?;
            Ok((victim, survivor))
        })
        .await?;
        assert!(victim.cancelled());
        assert_eq!(survivor.result()?, 2, "the other child was not cancelled");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_child_can_add_tasks_while_the_scope_waits() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    run(async move {
        let lb = l.clone();
        TaskGroup::run(|tg| async move {
            let (group, lc, l) = (tg.clone(), lb.clone(), lb);
            tg.create_task(async move {
                sleep(0.005).await?;
                let lg = lc.clone();
                group.create_task(async move {
                    sleep(0.005).await?;
                    lg.borrow_mut().push("grandchild");
                    Ok::<_, Error>(())
                })?;
                lc.borrow_mut().push("child");
                Ok::<_, Error>(())
            })?;
            l.borrow_mut().push("body");
            Ok(())
        })
        .await?;
        l.borrow_mut().push("scope");
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(*log.borrow(), ["body", "child", "grandchild", "scope"]);
}

#[test]
fn a_body_ending_in_cancellation_ends_the_scope_cancelled() {
    // asyncio: `raise CancelledError` in the body cancels the children and, once they are
    // done, the scope re-raises the CancelledError.
    let dropped = Rc::new(Cell::new(0));
    let d = dropped.clone();
    run(async move {
        let outcome: Result<(), Error> = TaskGroup::run(|tg| async move {
            tg.create_task(forever(&d))?;
            sleep(0).await?;
            Err(Error::cancelled(Some("body")))
        })
        .await;
        assert!(
            matches!(&outcome, Err(e) if e.cancel_message() == Some("body")),
            "{outcome:?}"
        );
    })
    .unwrap();
    assert_eq!(dropped.get(), 1, "the child was cancelled");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "wall-clock: under miri the calls between the deadlines take longer than the gaps between them"
)]
fn a_child_failing_while_another_is_inside_a_shield_cancels_only_the_outside() {
    // CPython: child `a` awaits `shield(inner)`, child `b` fails. The group cancels `a` (its
    // await of the shield ends cancelled at once), reports only `b`'s error, and `inner`
    // keeps running after the group is over, then finishes with its result:
    // ['a cancelled', "group: ['b fails']", 'inner done at exit: False', 'inner finished',
    //  'inner result: 5']
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    run(async move {
        let l_inner = l.clone();
        let inner = create_task(async move {
            sleep(0.05).await?;
            l_inner.borrow_mut().push("inner finished".to_string());
            Ok::<_, Error>(5)
        })?;
        let shielded = inner.clone();
        let (la, lb) = (l.clone(), l.clone());
        let outcome = TaskGroup::run(|tg| async move {
            let a = tg.create_task(async move {
                let _cancelled = LogOnDrop(la, "a cancelled");
                let value = aio_task::shield(&shielded).await??;
                Ok::<_, Error>(value)
            })?;
            tg.create_task(async move {
                sleep(0.01).await.unwrap();
                lb.borrow_mut().push("b failing".to_string());
                Err::<(), _>(std::io::Error::other("b fails"))
            })?;
            Ok(a)
        })
        .await;
        l.borrow_mut()
            .push(format!("group: {:?}", group_errors(outcome)));
        l.borrow_mut()
            .push(format!("inner done at exit: {}", inner.done()));
        let value = inner.await??;
        l.borrow_mut().push(format!("inner result: {value}"));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "b failing",
            "a cancelled",
            "group: [\"b fails\"]",
            "inner done at exit: false",
            "inner finished",
            "inner result: 5",
        ]
    );
}

/// Logs a line when dropped: the `except CancelledError` of the Python version.
struct LogOnDrop(Rc<RefCell<Vec<String>>>, &'static str);

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        self.0.borrow_mut().push(self.1.to_string());
    }
}
