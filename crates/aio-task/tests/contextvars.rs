//! Context variables and tasks (PEP 567, asyncio's `Task.__init__`): each task runs in a copy
//! of the context current when it was created; its sets are seen by its later steps, never by
//! its creator or its siblings; `create_task_with_context` runs a task in a given context
//! itself. Each test records the CPython 3.11 program it mirrors and that program's output.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;
use std::rc::Rc;

use aio_scheduler::{EventLoop, sleep};
use aio_task::{
    Context, ContextVar, Error, EventLoopExt, create_task, create_task_with_context, gather, run,
};

/// ```python
/// import asyncio, contextvars
/// var = contextvars.ContextVar("var", default="unset")
/// log = []
/// async def child(name):
///     log.append(f"{name} start {var.get()}")
///     var.set(name)
///     await asyncio.sleep(0)
///     log.append(f"{name} after yield {var.get()}")
/// async def main():
///     var.set("parent")
///     a = asyncio.create_task(child("a"))
///     var.set("parent-later")
///     b = asyncio.create_task(child("b"))
///     await asyncio.gather(a, b)
///     log.append(f"parent {var.get()}")
/// asyncio.run(main())
/// log.append(f"outside {var.get()}")
/// print("\n".join(log))
/// ```
/// prints
/// ```text
/// a start parent
/// b start parent-later
/// a after yield a
/// b after yield b
/// parent parent-later
/// outside unset
/// ```
#[test]
fn tasks_inherit_at_creation_and_are_isolated_from_creator_and_siblings() {
    static VAR: ContextVar<String> = ContextVar::with_default("var", String::new());
    let log = Rc::new(RefCell::new(Vec::new()));
    let get = move || {
        let v = VAR.get().unwrap();
        if v.is_empty() { "unset".to_string() } else { v }
    };
    let child = move |name: &'static str, log: Rc<RefCell<Vec<String>>>| async move {
        log.borrow_mut().push(format!("{name} start {}", get()));
        VAR.set(name.to_string());
        sleep(0).await.unwrap();
        log.borrow_mut()
            .push(format!("{name} after yield {}", get()));
    };
    let l = log.clone();
    run(async move {
        VAR.set("parent".into());
        let a = create_task(child("a", l.clone()))?;
        VAR.set("parent-later".into());
        let b = create_task(child("b", l.clone()))?;
        let _ = gather([&a, &b]).await;
        l.borrow_mut().push(format!("parent {}", get()));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    log.borrow_mut().push(format!("outside {}", get()));
    assert_eq!(
        *log.borrow(),
        [
            "a start parent",
            "b start parent-later",
            "a after yield a",
            "b after yield b",
            "parent parent-later",
            "outside unset",
        ]
    );
}

/// ```python
/// import asyncio, contextvars
/// var = contextvars.ContextVar("var", default=0)
/// async def main():
///     ctx = contextvars.Context()
///     async def t():
///         print("task sees", var.get())
///         var.set(5)
///         await asyncio.sleep(0)
///         print("task after", var.get())
///     await asyncio.get_running_loop().create_task(t(), context=ctx)
///     print("ctx", ctx[var], "main", var.get())
/// asyncio.run(main())
/// ```
/// prints `task sees 0`, `task after 5`, `ctx 5 main 0`.
#[test]
fn a_task_given_a_context_runs_in_it_and_its_sets_show_there() {
    static VAR: ContextVar<i32> = ContextVar::with_default("var", 0);
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let lp = EventLoop::new().unwrap();
    let l2 = lp.clone();
    lp.run_until_complete(async move {
        VAR.set(1); // the main future's value is not the task's
        let ctx = Context::new();
        let l3 = l.clone();
        let task = l2.create_task_with_context(
            async move {
                l3.borrow_mut()
                    .push(format!("task sees {}", VAR.get().unwrap()));
                VAR.set(5);
                sleep(0).await.unwrap();
                l3.borrow_mut()
                    .push(format!("task after {}", VAR.get().unwrap()));
            },
            ctx.clone(),
        )?;
        task.await?;
        VAR.set(0);
        l.borrow_mut().push(format!(
            "ctx {} main {}",
            ctx.get(&VAR).unwrap(),
            VAR.get().unwrap()
        ));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
    lp.close().unwrap();
    assert_eq!(
        *log.borrow(),
        ["task sees 0", "task after 5", "ctx 5 main 0"]
    );
}

/// The free function, on the running loop: the same rule (asyncio 3.11's
/// `asyncio.create_task(coro, context=ctx)`).
#[test]
fn create_task_with_context_outside_a_loop_fails_and_inside_uses_the_context() {
    static VAR: ContextVar<u8> = ContextVar::new("var");
    assert!(create_task_with_context(async {}, Context::new()).is_err());
    let ctx = Context::new();
    ctx.run(|| VAR.set(9)).unwrap();
    let c = ctx.clone();
    let seen = run(async move {
        let task = create_task_with_context(async { VAR.get() }, c)?;
        task.await
    })
    .unwrap()
    .unwrap();
    assert_eq!(seen, Some(9));
}

/// A task's context is entered while it steps: `Context::run` on it from inside fails, as
/// CPython's `RuntimeError: cannot enter context: ... is already entered`.
///
/// ```python
/// import asyncio, contextvars
/// async def main():
///     ctx = contextvars.Context()
///     async def t():
///         try: ctx.run(lambda: None)
///         except RuntimeError as e: print("RuntimeError")
///     await asyncio.get_running_loop().create_task(t(), context=ctx)
///     print(ctx.run(lambda: "ok"))
/// asyncio.run(main())
/// ```
/// prints `RuntimeError` then `ok`.
#[test]
fn a_task_context_is_entered_during_its_steps_only() {
    let out = run(async {
        let ctx = Context::new();
        let c = ctx.clone();
        let inner = create_task_with_context(async move { c.run(|| ()) }, ctx.clone())?.await?;
        Ok::<_, Error>((inner, ctx.run(|| "ok")))
    })
    .unwrap()
    .unwrap();
    assert_eq!(out, (Err(aio_task::ContextError::AlreadyEntered), Ok("ok")));
}

/// A child created by a task sees the task's own sets (its copy is taken from the task's
/// context), and grandchildren are isolated the same way; the main future of `run` is a task
/// too, so its sets do not leak out of `run`.
///
/// ```python
/// import asyncio, contextvars
/// var = contextvars.ContextVar("var", default=0)
/// async def leaf(): return var.get()
/// async def mid():
///     var.set(var.get() + 10)
///     t = asyncio.create_task(leaf())
///     var.set(99)
///     return await t
/// async def main():
///     var.set(1)
///     r = await asyncio.gather(mid(), mid())
///     return r, var.get()
/// print(asyncio.run(main()), var.get())
/// ```
/// prints `([11, 11], 1) 0` (gather wraps each coroutine in a task).
#[test]
fn nested_tasks_copy_from_their_creator_task() {
    static VAR: ContextVar<i32> = ContextVar::with_default("var", 0);
    async fn leaf() -> i32 {
        VAR.get().unwrap()
    }
    async fn mid() -> Result<i32, Error> {
        VAR.set(VAR.get().unwrap() + 10);
        let t = create_task(leaf())?;
        VAR.set(99);
        t.await
    }
    let out = run(async {
        VAR.set(1);
        let (first, second) = (create_task(mid())?, create_task(mid())?);
        let r = (first.await??, second.await??);
        Ok::<_, Error>((r, VAR.get().unwrap()))
    })
    .unwrap()
    .unwrap();
    assert_eq!((out, VAR.get().unwrap()), (((11, 11), 1), 0));
}

/// Eager tasks (asyncio 3.12) run their first step inside `create_task`, in their own copy:
/// a set in that step does not reach the creator.
///
/// ```python
/// import asyncio, contextvars   # python3.12
/// var = contextvars.ContextVar("var", default=0)
/// async def child():
///     var.set(7); await asyncio.sleep(0); return var.get()
/// async def main():
///     asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
///     t = asyncio.create_task(child())
///     print(var.get(), await t)
/// asyncio.run(main())
/// ```
/// prints `0 7`.
#[test]
fn an_eager_first_step_runs_in_the_task_context() {
    static VAR: ContextVar<i32> = ContextVar::with_default("var", 0);
    let out = run(async {
        aio_scheduler::get_running_loop()?.set_task_factory(aio_task::EAGER_TASK_FACTORY);
        let t = create_task(async {
            VAR.set(7);
            sleep(0).await.unwrap();
            VAR.get().unwrap()
        })?;
        let before = VAR.get().unwrap();
        Ok::<_, Error>((before, t.await?))
    })
    .unwrap()
    .unwrap();
    assert_eq!(out, (0, 7));
}
