//! A test binary of this crate links `aio-reactors` (`use aio_reactors as _;`), which
//! registers the reactor `AIO_REACTOR` names: `EventLoop::new()` builds that one, though the
//! scheduler itself names no reactor crate.

use aio_scheduler::EventLoop;

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

#[test]
#[cfg_attr(
    miri,
    ignore = "under miri the default reactor is always NoIoReactor (miri runs no epoll, io_uring or poll)"
)]
fn event_loop_new_uses_the_reactor_aio_reactor_names() {
    let lp = EventLoop::new().unwrap();
    assert_eq!(
        lp.reactor().name(),
        aio_reactors::from_env().unwrap().name()
    );
}
