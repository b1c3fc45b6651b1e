//! The reactor conformance suite on the io_uring reactor.

aio_reactor::reactor_conformance_tests!(aio_reactor_uring::UringReactor::new);
