//! `#[aio::main]` and `#[aio::test]`: an `async fn main` or an `async fn` test, run on a new
//! aio event loop with `aio::run`'s semantics.
//!
//! Use them through the facade (`#[aio::main]`, `#[aio::test]`), which re-exports them and
//! holds the run-time helpers the expansions call; the documentation with examples is on
//! the re-exports, [`aio::main`](../aio/attr.main.html) and
//! [`aio::test`](../aio/attr.test.html).
//!
//! Both expand to a plain function that builds an `aio::Runner` (with the options given),
//! runs the body as the main task, closes the runner and returns the body's value:
//!
//! ```text
//! #[aio::main(debug = true)]              fn main() -> R {
//! async fn main() -> R { BODY }     =>        async fn __aio_body() -> R { BODY }
//!                                             ::aio::__private::run_main(
//!                                                 ::aio::__private::runner(None, Some(true)),
//!                                                 __aio_body(),
//!                                             )
//!                                         }
//! ```
//!
//! `#[aio::test]` is the same with `#[test]` added and `run_test` instead of `run_main`.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, ItemFn, LitBool, LitStr, Path, parse_macro_input};

/// Runs an `async fn main` on a new event loop, as `aio::run` does (asyncio's
/// `asyncio.run(main())`), Ctrl-C included.
///
/// The function stays as written — any return type `fn main` may have: `()`,
/// `Result<(), E>` with `E: Debug`, `ExitCode`, ... — and becomes the body of the main task
/// of an `aio::Runner`; `fn main` returns what it returns, after the runner is closed (tasks
/// left behind cancelled, the default executor shut down, the loop closed). So a fallible
/// `main` needs one `?` per fallible call and none at the end.
///
/// When the run itself fails there is no value to return, and the process ends the way the
/// failure would end a Python program:
///
/// - the main task panicked: the panic goes on out of `main` with the same message (printed
///   once, where it happened), status 101, as for any panicking `main`;
/// - Ctrl-C: the first SIGINT cancels the main task (its pending `await` fails with
///   `Error::Cancelled` and its destructors run); if the task ends cancelled, the runner is
///   closed, `KeyboardInterrupt` is printed on stderr and the process dies by SIGINT (status
///   130 in the shell), as CPython does after an unhandled `KeyboardInterrupt`. A second
///   Ctrl-C ends the process at once;
/// - anything else (the loop cannot be made, the main task was cancelled by another task):
///   `Error: {error}` on stderr and exit status 1, as a `main` returning `Err` gives.
///
/// # Options
///
/// - `reactor = "epoll"`, `"polling"` or `"uring"`: the loop's reactor (by
///   `aio_reactors::new_reactor`; io_uring falls back to the default where the kernel
///   refuses it).
///   Without it, `AIO_REACTOR` decides, as for `aio::run`.
/// - `debug = true` (or `debug`): the loop's debug mode (asyncio's `run(debug=True)`);
///   without it, `AIO_DEBUG` decides.
/// - `crate = "path"`: where the `aio` facade is, when it is renamed or re-exported
///   (default `::aio`).
///
/// The function must be an `async fn` with no arguments and no generics.
///
/// # Examples
///
/// asyncio's `countasync.py`:
///
/// ```
/// async fn count() -> Result<(), aio::Error> {
///     println!("One");
///     aio::sleep(0.01).await?;
///     println!("Two");
///     Ok(())
/// }
///
/// #[aio::main]
/// async fn main() -> Result<(), aio::Error> {
///     let tasks = [aio::create_task(count())?, aio::create_task(count())?];
///     for task in tasks {
///         task.await??;
///     }
///     Ok(())
/// }
/// ```
///
/// Options, and a `main` returning an `ExitCode`:
///
/// ```
/// use std::process::ExitCode;
///
/// #[aio::main(reactor = "polling", debug = true)]
/// async fn main() -> ExitCode {
///     let lp = aio::get_running_loop().unwrap();
///     assert!(lp.get_debug());
///     assert_eq!(lp.reactor().name(), "polling");
///     ExitCode::SUCCESS
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Main, args, item)
}

/// Runs an `async fn` test on a fresh event loop: `#[test]` on a function that runs the body
/// as the main task of a new `aio::Runner`, and closes the runner after it (tasks left behind
/// cancelled, the default executor shut down, the loop closed).
///
/// The test may return `()` or `Result<(), E>` with `E: Debug` (any type `#[test]` accepts),
/// and fails as an ordinary test does: a panic inside the test's task fails it with the
/// task's panic message, so `#[should_panic(expected = "...")]` works; an `Err` fails it; a
/// run that fails otherwise (the loop cannot be made, the test's task was cancelled) panics
/// with the error. Other attributes (`#[should_panic]`, `#[ignore]`, ...) go after
/// `#[aio::test]`; do not add `#[test]` as well.
///
/// Options: `reactor = "epoll"` / `"polling"` / `"uring"`, `debug = true` and `crate = "path"`, as for
/// [`main`](macro@main); `timeout = SECONDS`: the test fails (its body dropped) if it runs
/// longer, so a test that would hang fails instead; and `virtual_time` (or
/// `virtual_time = true`): the loop runs on
/// virtual time (`aio::Runner::virtual_time`, tokio's `start_paused`): whenever it is idle
/// with no I/O registered, its clock jumps to the next timer, so a test of an hour-long
/// timeout finishes at once, with timers in the same order as in real time.
///
/// # Examples
///
/// ```ignore
/// #[aio::test]
/// async fn sleeps_concurrently() -> Result<(), aio::Error> {
///     let start = std::time::Instant::now();
///     let a = aio::create_task(aio::sleep(0.05))?;
///     let b = aio::create_task(aio::sleep(0.05))?;
///     a.await??;
///     b.await??;
///     assert!(start.elapsed().as_secs_f64() < 0.09);
///     Ok(())
/// }
///
/// #[aio::test(reactor = "uring", debug = true)]
/// #[should_panic(expected = "boom")]
/// async fn a_panic_fails_the_test() {
///     aio::sleep(0.001).await.unwrap();
///     panic!("boom");
/// }
/// ```
///
/// (The same tests run in the facade's `tests/macros.rs`.)
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Test, args, item)
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Main,
    Test,
}

impl Kind {
    fn attribute(self) -> &'static str {
        match self {
            Kind::Main => "#[aio::main]",
            Kind::Test => "#[aio::test]",
        }
    }
}

/// The options inside the attribute's parentheses.
#[derive(Default)]
struct Options {
    reactor: Option<(Span, Reactor)>,
    debug: Option<(Span, bool)>,
    virtual_time: Option<(Span, bool)>,
    timeout: Option<(Span, f64)>,
    krate: Option<(Span, Path)>,
}

#[derive(Clone, Copy)]
enum Reactor {
    Epoll,
    Polling,
    Uring,
}

const OPTIONS_HELP: &str = "expected `reactor = \"epoll\"`, `\"polling\"` or `\"uring\"`, `debug = true`, `virtual_time = true`, `timeout = SECONDS` (tests), or `crate = \"path\"`";

impl Options {
    fn parse(&mut self, kind: Kind, meta: syn::meta::ParseNestedMeta) -> syn::Result<()> {
        let span = meta.path.span();
        if meta.path.is_ident("reactor") {
            let value: LitStr = meta.value()?.parse()?;
            let reactor = match value.value().as_str() {
                "epoll" => Reactor::Epoll,
                "polling" => Reactor::Polling,
                "uring" => Reactor::Uring,
                other => {
                    return Err(syn::Error::new(
                        value.span(),
                        format!(
                            "unknown reactor \"{other}\": expected \"epoll\", \"polling\" or \"uring\""
                        ),
                    ));
                }
            };
            set_once(&mut self.reactor, span, reactor, "reactor")
        } else if meta.path.is_ident("debug") {
            // `debug` alone means `debug = true`.
            let enabled = if meta.input.peek(syn::Token![=]) {
                meta.value()?.parse::<LitBool>()?.value
            } else {
                true
            };
            set_once(&mut self.debug, span, enabled, "debug")
        } else if meta.path.is_ident("crate") {
            let value: LitStr = meta.value()?.parse()?;
            let path: Path = value.parse()?;
            set_once(&mut self.krate, span, path, "crate")
        } else if meta.path.is_ident("virtual_time") {
            // `virtual_time` alone means `virtual_time = true`.
            let enabled = if meta.input.peek(syn::Token![=]) {
                meta.value()?.parse::<LitBool>()?.value
            } else {
                true
            };
            set_once(&mut self.virtual_time, span, enabled, "virtual_time")
        } else if meta.path.is_ident("timeout") && kind == Kind::Test {
            let value: syn::Lit = meta.value()?.parse()?;
            let seconds = match &value {
                syn::Lit::Float(float) => float.base10_parse::<f64>()?,
                syn::Lit::Int(int) => int.base10_parse::<u32>().map(f64::from)?,
                _ => {
                    return Err(syn::Error::new(
                        value.span(),
                        "expected the time limit in seconds: `timeout = 10` or `timeout = 2.5`",
                    ));
                }
            };
            if !(seconds > 0.0 && seconds.is_finite()) {
                return Err(syn::Error::new(
                    value.span(),
                    "the time limit must be a positive number of seconds",
                ));
            }
            set_once(&mut self.timeout, span, seconds, "timeout")
        } else {
            let shown = path_to_string(&meta.path);
            Err(syn::Error::new(
                span,
                format!(
                    "unknown {} option `{shown}`: {OPTIONS_HELP}",
                    kind.attribute()
                ),
            ))
        }
    }
}

fn path_to_string(path: &Path) -> String {
    quote!(#path).to_string().replace(' ', "")
}

fn set_once<T>(slot: &mut Option<(Span, T)>, span: Span, value: T, name: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            span,
            format!("the `{name}` option is given twice"),
        ));
    }
    *slot = Some((span, value));
    Ok(())
}

fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut options = Options::default();
    let parser = syn::meta::parser(|meta| options.parse(kind, meta));
    let parsed = syn::parse::Parser::parse(parser, args);
    let function = parse_macro_input!(item as ItemFn);
    let expanded = parsed.and_then(|()| expand_fn(kind, &options, function.clone()));
    match expanded {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            // The error, and a function of the same name that compiles, so the error is the
            // only one (no "`main` function not found" after it).
            let error = error.to_compile_error();
            let ItemFn { vis, sig, .. } = function;
            let ident = &sig.ident;
            let output = &sig.output;
            quote! {
                #error
                #[allow(dead_code, unreachable_code)]
                #vis fn #ident() #output {
                    loop {}
                }
            }
            .into()
        }
    }
}

fn check(kind: Kind, function: &ItemFn) -> syn::Result<()> {
    let sig = &function.sig;
    let what = match kind {
        Kind::Main => "the main function",
        Kind::Test => "a test function",
    };
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            format!(
                "{} goes on an `async fn`: write `async fn {}`",
                kind.attribute(),
                sig.ident
            ),
        ));
    }
    if !sig.inputs.is_empty() {
        return Err(syn::Error::new(
            sig.inputs.span(),
            format!("{what} takes no arguments"),
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new(
            variadic.span(),
            format!("{what} takes no arguments"),
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            format!("{what} cannot be generic"),
        ));
    }
    if sig.constness.is_some() || sig.abi.is_some() || !matches!(sig.safety, syn::Safety::Default) {
        return Err(syn::Error::new(
            sig.span(),
            format!("{} goes on a plain `async fn`", kind.attribute()),
        ));
    }
    if kind == Kind::Test {
        if let Some(attr) = function.attrs.iter().find(|attr| is_test_attribute(attr)) {
            return Err(syn::Error::new(
                attr.span(),
                "a second test attribute: #[aio::test] adds `#[test]` itself",
            ));
        }
    }
    Ok(())
}

/// `#[test]` or `#[core::prelude::v1::test]`-like paths ending in `test`.
fn is_test_attribute(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "test")
}

fn expand_fn(kind: Kind, options: &Options, function: ItemFn) -> syn::Result<TokenStream2> {
    check(kind, &function)?;
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
        ..
    } = function;
    let krate = match &options.krate {
        Some((_, path)) => quote!(#path),
        None => quote!(::aio),
    };
    let reactor = match options.reactor {
        None => quote!(::core::option::Option::None),
        Some((_, Reactor::Epoll)) => {
            quote!(::core::option::Option::Some(#krate::ReactorKind::Epoll))
        }
        Some((_, Reactor::Polling)) => {
            quote!(::core::option::Option::Some(#krate::ReactorKind::Polling))
        }
        Some((_, Reactor::Uring)) => {
            quote!(::core::option::Option::Some(#krate::ReactorKind::Uring))
        }
    };
    let debug = match options.debug {
        None => quote!(::core::option::Option::None),
        Some((_, enabled)) => quote!(::core::option::Option::Some(#enabled)),
    };
    let virtual_time = options.virtual_time.is_some_and(|(_, enabled)| enabled);
    let body = match options.timeout {
        None => quote!(__aio_body()),
        Some((_, seconds)) => quote!(#krate::__private::time_limit(__aio_body(), #seconds)),
    };
    let ident = &sig.ident;
    let output = &sig.output;
    // The body stays an `async fn` of its own, so `?`, `return` and the return type work in
    // it exactly as written; the outer function only runs it.
    let body_span = block.span();
    let run = match kind {
        Kind::Main => quote_spanned!(body_span=> #krate::__private::run_main),
        Kind::Test => quote_spanned!(body_span=> #krate::__private::run_test),
    };
    let test_attr = match kind {
        Kind::Main => quote!(),
        Kind::Test => quote!(#[::core::prelude::v1::test]),
    };
    Ok(quote! {
        #test_attr
        #(#attrs)*
        #vis fn #ident() #output {
            async fn __aio_body() #output #block
            #run(
                #krate::__private::runner(#reactor, #debug).virtual_time(#virtual_time),
                #body,
            )
        }
    })
}
