//! `AIO_REACTOR` picks the reactor of `EventLoop::new()` (through the factory this crate
//! registers when linked): the workspace suite runs once per reactor (`.ci/run`), and this
//! checks that the variable took effect.

#![cfg(target_os = "linux")]

use aio_reactors::{ReactorKind, aio_reactor_uring::UringReactor};

#[test]
fn the_default_reactor_is_the_one_aio_reactor_names() {
    let expected = match ReactorKind::from_env() {
        ReactorKind::Epoll => "epoll",
        ReactorKind::Polling => "polling",
        // The kernel may refuse io_uring; then the default is used (with a warning).
        ReactorKind::Uring if UringReactor::new().is_err() => "epoll",
        ReactorKind::Uring => "io_uring",
    };
    let reactor = aio_reactor::new_default_reactor().unwrap();
    assert_eq!(reactor.name(), expected);
    if std::env::var("AIO_REACTOR").is_err() {
        assert_eq!(expected, "epoll", "epoll is the default on Linux");
    }
}
