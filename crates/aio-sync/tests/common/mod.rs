//! Shared test helpers: a future polled by hand with a waker that counts its wake-ups, so a
//! test can drive (and cancel, by dropping) waiters at exact moments without any loop; and
//! [`mini_executor`], a minimal executor. aio-queue's tests use this file too (through
//! `#[path]`): it is the one copy.

#![allow(dead_code)]

pub mod mini_executor;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

/// Counts how many times it was woken.
#[derive(Default)]
pub struct WakeCounter(AtomicUsize);

impl WakeCounter {
    /// How many times it was woken.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for WakeCounter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future polled by hand. Dropping it (or calling [`Hand::cancel`]) is cancellation.
pub struct Hand<'a, T> {
    future: Option<Pin<Box<dyn Future<Output = T> + 'a>>>,
    counter: Arc<WakeCounter>,
    waker: Waker,
}

impl<'a, T> Hand<'a, T> {
    /// Wraps a future without polling it.
    pub fn new(future: impl Future<Output = T> + 'a) -> Self {
        let counter = Arc::new(WakeCounter::default());
        Hand {
            future: Some(Box::pin(future)),
            waker: Waker::from(counter.clone()),
            counter,
        }
    }

    /// Wraps and polls once; `Err(hand)` if it is pending.
    pub fn start(future: impl Future<Output = T> + 'a) -> Result<T, Self> {
        let mut hand = Hand::new(future);
        match hand.poll() {
            Poll::Ready(out) => Ok(out),
            Poll::Pending => Err(hand),
        }
    }

    /// Wraps and polls once, expecting it to wait.
    #[track_caller]
    pub fn pending(future: impl Future<Output = T> + 'a) -> Self {
        match Hand::start(future) {
            Ok(_) => panic!("expected the future to be pending"),
            Err(hand) => hand,
        }
    }

    /// Polls; the future is released once it is ready.
    #[track_caller]
    pub fn poll(&mut self) -> Poll<T> {
        let future = self.future.as_mut().expect("polled after completion");
        let mut cx = Context::from_waker(&self.waker);
        let out = future.as_mut().poll(&mut cx);
        if out.is_ready() {
            self.future = None;
        }
        out
    }

    /// Polls, expecting completion.
    #[track_caller]
    pub fn ready(&mut self) -> T {
        match self.poll() {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("expected the future to be ready"),
        }
    }

    /// Polls, expecting it to keep waiting.
    #[track_caller]
    pub fn still_pending(&mut self) {
        assert!(
            self.poll().is_pending(),
            "expected the future to be pending"
        );
    }

    /// How many times its waker was called.
    pub fn wakes(&self) -> usize {
        self.counter.count()
    }

    /// Whether its waker was called at least once.
    pub fn woken(&self) -> bool {
        self.wakes() > 0
    }

    /// Whether it has completed.
    pub fn is_done(&self) -> bool {
        self.future.is_none()
    }

    /// Drops the future (cancellation).
    pub fn cancel(self) {
        drop(self);
    }
}
