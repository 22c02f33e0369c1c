//! Stopping runs at a safe point: SIGINT/SIGTERM (or an embedding program) asks, and each
//! run stops before its next batch or page — never inside a transaction or an adapter
//! call — and is recorded `interrupted`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Shared by the runs it can stop; cloning shares it.
#[derive(Clone, Debug, Default)]
pub struct Interrupt {
    asked: Arc<AtomicBool>,
}

impl Interrupt {
    /// A handle nobody has used yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask every run sharing this handle to stop at its next safe point.
    pub fn interrupt(&self) {
        self.asked.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_interrupted(&self) -> bool {
        self.asked.load(Ordering::SeqCst)
    }
}
