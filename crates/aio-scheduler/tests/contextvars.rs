//! Context variables (PEP 567) at the loop level: tokens and `reset`, `Context::run`, and
//! callbacks running in a copy of the context current when they were scheduled (asyncio's
//! `Handle`). Each test records the CPython 3.11 program it mirrors and its output.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::cell::RefCell;
use std::rc::Rc;

use aio_scheduler::context::{Context, ContextError, ContextVar, copy_context};
use aio_scheduler::{EventLoop, sleep};

/// ```python
/// import contextvars
/// a = contextvars.ContextVar("a"); b = contextvars.ContextVar("b")
/// t1 = a.set(1); t2 = a.set(2)
/// print(a.get())
/// a.reset(t2); print(a.get())
/// try: a.reset(t2)
/// except RuntimeError as e: print("RuntimeError", e)
/// try: b.reset(t1)
/// except ValueError as e: print("ValueError", e)
/// ctx = contextvars.copy_context()
/// try: ctx.run(a.reset, t1)
/// except ValueError as e: print("ValueError", e)
/// a.reset(t1)
/// print(a.get("missing"))
/// ```
/// prints
/// ```text
/// 2
/// 1
/// RuntimeError <Token used ...> has already been used once
/// ValueError <Token ...> was created by a different ContextVar
/// ValueError <Token ...> was created in a different Context
/// missing
/// ```
#[test]
fn reset_restores_and_refuses_used_foreign_and_other_context_tokens() {
    let a = ContextVar::new("a");
    let b = ContextVar::new("b");
    let t1 = a.set(1);
    let t2 = a.set(2);
    assert_eq!(a.get(), Some(2));
    a.reset(&t2).unwrap();
    assert_eq!(a.get(), Some(1));
    assert_eq!(a.reset(&t2), Err(ContextError::TokenUsed));
    assert_eq!(b.reset(&t1), Err(ContextError::TokenOtherVar));
    let ctx = copy_context();
    assert_eq!(
        ctx.run(|| a.reset(&t1)).unwrap(),
        Err(ContextError::TokenOtherContext)
    );
    a.reset(&t1).unwrap();
    assert_eq!(a.get_or(-1), -1);
    assert_eq!(
        ContextError::TokenUsed.to_string(),
        "Token has already been used once"
    );
}

/// ```python
/// import contextvars
/// a = contextvars.ContextVar("a")
/// ctx = contextvars.Context()
/// def f():
///     a.set(10)
///     return a.get()
/// print(ctx.run(f), a.get("missing"), ctx[a], ctx.run(a.get))
/// try: ctx.run(lambda: ctx.run(a.get))
/// except RuntimeError as e: print("RuntimeError", e)
/// ```
/// prints `10 missing 10 10` then `RuntimeError cannot enter context: ... is already entered`.
#[test]
fn context_run_keeps_its_sets_and_cannot_be_entered_twice() {
    let a = ContextVar::new("a");
    let ctx = Context::new();
    let f = || {
        a.set(10);
        a.get()
    };
    assert_eq!(ctx.run(f).unwrap(), Some(10));
    assert_eq!(a.get(), None);
    assert_eq!(ctx.get(&a), Some(10));
    assert_eq!(ctx.run(|| a.get()).unwrap(), Some(10));
    assert_eq!(
        ctx.run(|| ctx.run(|| a.get())).unwrap(),
        Err(ContextError::AlreadyEntered)
    );
    // After a panic inside `run`, the previous context is current again.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ctx.run(|| -> () { panic!("inside") })
    }));
    assert!(caught.is_err());
    assert_eq!(a.get(), None);
    assert_eq!(ctx.run(|| a.get()).unwrap(), Some(10));
}

/// ```python
/// import asyncio, contextvars
/// var = contextvars.ContextVar("var")
/// log = []
/// def cb(tag):
///     log.append(f"{tag} sees {var.get('none')}")
///     var.set("cb-" + tag)
/// async def main():
///     loop = asyncio.get_running_loop()
///     var.set("one")
///     loop.call_soon(cb, "soon")
///     loop.call_later(0.001, cb, "later")
///     loop.call_at(loop.time() + 0.002, cb, "at")
///     var.set("two")
///     loop.call_soon(cb, "soon2")
///     ctx = contextvars.Context()
///     loop.call_soon(cb, "ctx", context=ctx)
///     await asyncio.sleep(0.01)
///     log.append(f"main {var.get()} ctx {ctx.get(var)}")
/// asyncio.run(main())
/// print("\n".join(log))
/// ```
/// prints
/// ```text
/// soon sees one
/// soon2 sees two
/// ctx sees none
/// later sees one
/// at sees one
/// main two ctx cb-ctx
/// ```
#[test]
fn callbacks_run_in_the_context_current_when_scheduled() {
    static VAR: ContextVar<String> = ContextVar::new("var");
    let log = Rc::new(RefCell::new(Vec::<String>::new()));
    let cb = |tag: &'static str, log: Rc<RefCell<Vec<String>>>| {
        move || {
            log.borrow_mut()
                .push(format!("{tag} sees {}", VAR.get_or("none".into())));
            VAR.set(format!("cb-{tag}"));
        }
    };
    let lp = EventLoop::new().unwrap();
    let l = lp.clone();
    let log2 = log.clone();
    // The main future runs in a context of its own here, as asyncio.run's main task does.
    let main_ctx = Context::new();
    main_ctx
        .run(|| {
            lp.run_until_complete(async move {
                VAR.set("one".into());
                l.call_soon(cb("soon", log2.clone()))?;
                l.call_later(0.001, cb("later", log2.clone()))?;
                l.call_at(
                    l.time() + std::time::Duration::from_millis(2),
                    cb("at", log2.clone()),
                )?;
                VAR.set("two".into());
                l.call_soon(cb("soon2", log2.clone()))?;
                let ctx = Context::new();
                l.call_soon_with_context(cb("ctx", log2.clone()), ctx.clone())?;
                sleep(0.01).await?;
                log2.borrow_mut().push(format!(
                    "main {} ctx {}",
                    VAR.get().unwrap(),
                    ctx.get(&VAR).unwrap()
                ));
                Ok::<_, aio_scheduler::Error>(())
            })
        })
        .unwrap()
        .unwrap()
        .unwrap();
    lp.close().unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "soon sees one",
            "soon2 sees two",
            "ctx sees none",
            "later sees one",
            "at sees one",
            "main two ctx cb-ctx",
        ]
    );
    assert_eq!(VAR.get(), None); // nothing leaked out of `main_ctx`
}

/// A callback scheduled with `call_soon_threadsafe` runs in an empty context: the sending
/// thread's values are not `Send` (asyncio copies the sending thread's context; see
/// docs/design.md). Its sets do not leak into the loop's context either.
#[test]
fn threadsafe_callbacks_run_in_an_empty_context_and_do_not_leak() {
    static VAR: ContextVar<u32> = ContextVar::new("var");
    let lp = EventLoop::new().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    VAR.set(1);
    lp.call_soon_threadsafe(move || {
        s.lock().unwrap().push(VAR.get());
        VAR.set(2);
    })
    .unwrap();
    let after = lp
        .run_until_complete(async {
            sleep(0).await.unwrap();
            VAR.get()
        })
        .unwrap();
    lp.close().unwrap();
    assert_eq!(*seen.lock().unwrap(), [None]);
    assert_eq!((after, VAR.get()), (Some(1), Some(1)));
}
