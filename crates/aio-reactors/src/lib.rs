//! Chooses aio's reactor by name: the one crate that knows every reactor.
//!
//! The event loop (`aio-scheduler`) knows only the [`Reactor`] trait; `EventLoop::new()` asks
//! [`aio_reactor::new_default_reactor`] for its reactor. This crate registers the factory
//! behind it, driven by the `AIO_REACTOR` environment variable (see [`ReactorKind`]):
//!
//! | `AIO_REACTOR` | reactor |
//! |---|---|
//! | unset, empty, `epoll` | `aio_reactor_epoll::EpollReactor` on Linux, [`PollingReactor`] elsewhere |
//! | `polling` | [`PollingReactor`] (the `polling` crate) |
//! | `uring`, `io_uring` | `aio_reactor_uring::UringReactor` on Linux (the default, with one warning, where the kernel refuses io_uring) |
//!
//! On Linux the registration happens when the crate is linked into a program, before `main`
//! (an `.init_array` entry), so any program or test binary that links it, directly or
//! through the facade `aio`, runs `EventLoop::new()` and `aio::run` on the reactor the
//! environment names. A test binary of a crate below the facade links it with one line,
//! `use aio_reactors as _;`. [`install`] does the same explicitly (and is what the entry
//! calls).
//!
//! # Examples
//!
//! ```
//! use aio_reactors::{ReactorKind, new_reactor};
//!
//! let reactor = new_reactor(ReactorKind::Polling)?;
//! assert_eq!(reactor.name(), "polling");
//! // Linked here, so the default factory is this crate's.
//! let default = aio_reactor::new_default_reactor()?;
//! assert_eq!(default.name(), new_reactor(ReactorKind::from_env())?.name());
//! # std::io::Result::Ok(())
//! ```

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

pub use aio_reactor::{PollingReactor, Reactor};
#[cfg(target_os = "linux")]
pub use aio_reactor_epoll;
#[cfg(target_os = "linux")]
pub use aio_reactor_uring;

/// A reactor named by `AIO_REACTOR`.
///
/// # Examples
///
/// ```
/// use aio_reactors::ReactorKind;
/// assert_eq!(ReactorKind::parse(Some("uring")), ReactorKind::Uring);
/// assert_eq!(ReactorKind::parse(Some("polling")), ReactorKind::Polling);
/// assert_eq!(ReactorKind::parse(None), ReactorKind::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReactorKind {
    /// `aio_reactor_epoll::EpollReactor`: the default on Linux. Elsewhere, [`PollingReactor`].
    Epoll,
    /// [`PollingReactor`], on the `polling` crate: the default on other systems.
    Polling,
    /// `aio_reactor_uring::UringReactor` (Linux 5.11+).
    Uring,
}

impl Default for ReactorKind {
    /// [`ReactorKind::Epoll`] on Linux, [`ReactorKind::Polling`] elsewhere.
    fn default() -> ReactorKind {
        if cfg!(target_os = "linux") {
            ReactorKind::Epoll
        } else {
            ReactorKind::Polling
        }
    }
}

impl ReactorKind {
    /// The kind a value of `AIO_REACTOR` names; unset, empty or unknown: the default.
    ///
    /// # Examples
    ///
    /// ```
    /// use aio_reactors::ReactorKind;
    /// assert_eq!(ReactorKind::parse(Some("io_uring")), ReactorKind::Uring);
    /// assert_eq!(ReactorKind::parse(Some("kqueue")), ReactorKind::default()); // unknown
    /// ```
    pub fn parse(value: Option<&str>) -> ReactorKind {
        match value {
            Some("uring" | "io_uring") => ReactorKind::Uring,
            Some("polling") => ReactorKind::Polling,
            Some("epoll") => ReactorKind::Epoll,
            _ => ReactorKind::default(),
        }
    }

    /// The kind `AIO_REACTOR` names, read once per process. An unknown value warns once on
    /// stderr and means the default.
    ///
    /// # Examples
    ///
    /// ```
    /// println!("loops use {:?}", aio_reactors::ReactorKind::from_env());
    /// ```
    pub fn from_env() -> ReactorKind {
        static KIND: std::sync::OnceLock<ReactorKind> = std::sync::OnceLock::new();
        *KIND.get_or_init(|| {
            let value = std::env::var("AIO_REACTOR").ok();
            if let Some(other) = value.as_deref().filter(|v| {
                !matches!(*v, "" | "epoll" | "polling" | "uring" | "io_uring")
            }) {
                warn_once(&format!(
                    "aio: unknown AIO_REACTOR={other:?} (epoll, polling or uring); using the default reactor"
                ));
            }
            ReactorKind::parse(value.as_deref())
        })
    }
}

/// Prints one warning line per process.
fn warn_once(message: &str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!("{message}");
    }
}

/// A new reactor of `kind`. Where the kernel refuses io_uring (`ENOSYS`, `EPERM` from the
/// `io_uring_disabled` sysctl or a seccomp filter), [`ReactorKind::Uring`] gives the default
/// reactor instead, with one warning line on stderr per process.
///
/// # Errors
///
/// The OS error from creating the reactor (for example, out of file descriptors).
///
/// # Examples
///
/// ```
/// use aio_reactors::{ReactorKind, new_reactor};
/// let reactor = new_reactor(ReactorKind::Epoll)?;
/// assert_eq!(reactor.name(), if cfg!(target_os = "linux") { "epoll" } else { "polling" });
/// # std::io::Result::Ok(())
/// ```
pub fn new_reactor(kind: ReactorKind) -> io::Result<Box<dyn Reactor>> {
    #[cfg(target_os = "linux")]
    let uring = || -> io::Result<Box<dyn Reactor>> {
        Ok(Box::new(aio_reactor_uring::UringReactor::new()?))
    };
    #[cfg(not(target_os = "linux"))]
    let uring = || -> io::Result<Box<dyn Reactor>> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring needs Linux",
        ))
    };
    new_reactor_with(kind, uring)
}

/// [`new_reactor`] with the io_uring constructor given, so the fallback can be tested without
/// a kernel that refuses io_uring.
fn new_reactor_with(
    kind: ReactorKind,
    uring: impl FnOnce() -> io::Result<Box<dyn Reactor>>,
) -> io::Result<Box<dyn Reactor>> {
    match kind {
        ReactorKind::Polling => Ok(Box::new(PollingReactor::new()?)),
        ReactorKind::Uring => match uring() {
            Ok(reactor) => Ok(reactor),
            Err(error) => {
                warn_once(&format!(
                    "aio: AIO_REACTOR=uring, but {error}; using the default reactor"
                ));
                new_reactor(ReactorKind::default())
            }
        },
        #[cfg(target_os = "linux")]
        ReactorKind::Epoll => Ok(Box::new(aio_reactor_epoll::EpollReactor::new()?)),
        #[cfg(not(target_os = "linux"))]
        ReactorKind::Epoll => Ok(Box::new(PollingReactor::new()?)),
    }
}

/// A new reactor of the kind `AIO_REACTOR` names ([`ReactorKind::from_env`]): the factory
/// [`install`] registers.
///
/// # Errors
///
/// As [`new_reactor`].
///
/// # Examples
///
/// ```
/// let reactor = aio_reactors::from_env()?;
/// println!("this process uses {}", reactor.name());
/// # std::io::Result::Ok(())
/// ```
pub fn from_env() -> io::Result<Box<dyn Reactor>> {
    new_reactor(ReactorKind::from_env())
}

/// Registers [`from_env`] as the process's default reactor factory
/// ([`aio_reactor::set_default_reactor`]), so `EventLoop::new()` and `aio::run` build the
/// reactor `AIO_REACTOR` names. On Linux this already happened before `main` in any program
/// that links this crate; elsewhere, call it once at start-up. Returns whether the
/// registration was taken (`false`: a factory was registered before, by this call or
/// another).
///
/// # Examples
///
/// ```
/// aio_reactors::install();
/// let reactor = aio_reactor::new_default_reactor()?;
/// assert_eq!(reactor.name(), aio_reactors::from_env()?.name());
/// # std::io::Result::Ok(())
/// ```
pub fn install() -> bool {
    aio_reactor::set_default_reactor(from_env)
}

/// Runs [`install`] when the program is loaded (before `main`, and before any test thread).
#[cfg(target_os = "linux")]
extern "C" fn install_at_load() {
    install();
}

/// The load-time entry: the dynamic loader (or, for a static binary, the C runtime) calls
/// every function in `.init_array` before `main`. `#[used]` keeps it in the link whenever
/// this crate is linked.
#[cfg(target_os = "linux")]
#[used]
// SAFETY: `.init_array` holds `extern "C" fn()` pointers called once, single-threaded,
// before `main`; `install_at_load` has that type, does not unwind (it only stores a
// function pointer in a `OnceLock`, which neither allocates nor panics), and touches no
// state that needs the Rust runtime set up.
#[unsafe(link_section = ".init_array")]
static INSTALL_AT_LOAD: extern "C" fn() = install_at_load;

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel that refuses io_uring: the default reactor is built instead (and works), not
    /// an error.
    #[test]
    fn a_refused_io_uring_falls_back_to_the_default_reactor() {
        let refused = || -> io::Result<Box<dyn Reactor>> {
            Err(io::Error::from_raw_os_error(1)) // EPERM: io_uring_disabled
        };
        let reactor = new_reactor_with(ReactorKind::Uring, refused).unwrap();
        let expected = if cfg!(target_os = "linux") {
            "epoll"
        } else {
            "polling"
        };
        assert_eq!(reactor.name(), expected);
        assert_eq!(reactor.wait(Some(std::time::Instant::now())).unwrap(), 0);
    }

    /// The load-time registration happened: the default factory is this crate's, so the
    /// default reactor is the one `AIO_REACTOR` names, not the bare `PollingReactor`
    /// fallback.
    #[test]
    #[cfg(target_os = "linux")]
    fn linking_the_crate_registers_the_factory() {
        assert!(!install(), "the factory was not registered at load time");
        let name = aio_reactor::new_default_reactor().unwrap().name();
        assert_eq!(name, from_env().unwrap().name());
    }
}
