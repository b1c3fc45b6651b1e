//! `AIO_REACTOR` picks the reactor of `EventLoop::new()`: the suite runs once per reactor
//! (`.ci/run`), and this checks that the variable took effect.

use aio_scheduler::{EventLoop, ReactorChoice};

#[test]
fn event_loop_new_uses_the_reactor_aio_reactor_names() {
    let lp = EventLoop::new().unwrap();
    let expected = match ReactorChoice::from_env() {
        ReactorChoice::Polling => "polling",
        // The kernel may refuse io_uring; then the default is used (with a warning).
        ReactorChoice::Uring if aio_reactor_uring::UringReactor::new().is_err() => "polling",
        ReactorChoice::Uring => "io_uring",
    };
    assert_eq!(lp.reactor().name(), expected);
}
