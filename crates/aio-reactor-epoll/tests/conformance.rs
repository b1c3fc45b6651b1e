//! The reactor conformance suite on the epoll reactor: once with the nanosecond
//! `epoll_pwait2` wait (this kernel's), once with the timerfd fallback of older kernels.

#![cfg(target_os = "linux")]

use aio_reactor_epoll::{EpollReactor, Timing};

aio_reactor::reactor_conformance_tests!(EpollReactor::new);

mod timerfd {
    use super::*;

    fn make() -> std::io::Result<EpollReactor> {
        EpollReactor::with_timing(Timing::Timerfd)
    }

    aio_reactor::reactor_conformance_tests!(make);
}
