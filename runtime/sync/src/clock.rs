//! The run loop's clock: what it waits on (backoff, Retry-After, the pause between batches)
//! and what it measures its time budget, stall time and duration with. The system clock
//! in production; [`ManualClock`] in tests and simulations, where a wait of minutes passes
//! at once and is still accounted for.
//!
//! (Per-call limits are not on this clock: an adapter call's deadline is wasmtime's epoch,
//! real time by nature.)

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A source of time for a sync run.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> Instant;
    /// Wait `d`.
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Real time (tokio's timer for waits).
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A clock that moves only when waited on: `sleep(d)` returns at once and moves it `d`
/// forward. [`ManualClock::waited`] says how long a run waited in all.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    offset: Mutex<Duration>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock {
            start: Instant::now(),
            offset: Mutex::new(Duration::ZERO),
        }
    }
}

impl ManualClock {
    /// A clock standing at the present moment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Move the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        *self.offset.lock().expect("clock") += d;
    }

    /// How far the clock has moved.
    pub fn waited(&self) -> Duration {
        *self.offset.lock().expect("clock")
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + self.waited()
    }

    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.advance(d);
        Box::pin(std::future::ready(()))
    }
}
