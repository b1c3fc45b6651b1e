//! The reactor conformance suite on the default reactor, in both of its modes.

mod edge {
    aio_reactor::reactor_conformance_tests!(aio_reactor::PollingReactor::new);
}

mod oneshot {
    fn make() -> std::io::Result<aio_reactor::PollingReactor> {
        aio_reactor::PollingReactor::with_mode(aio_reactor::PollMode::Oneshot)
    }
    aio_reactor::reactor_conformance_tests!(make);
}
