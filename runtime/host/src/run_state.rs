//! `run-state` (1.1): values that live for one sync run, shared by the calls of that run
//! only (a session id, an Odoo uid), so an adapter logs in once per run rather than once
//! per call. Bounded: a run may keep [`MAX_KEYS`] keys and [`MAX_BYTES`] bytes in all.

use crate::HostState;
use dcsync_contract::wit::run_state::Host;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Keys one run may keep.
pub const MAX_KEYS: usize = 64;
/// Bytes (keys and values) one run may keep.
pub const MAX_BYTES: usize = 64 << 10;

/// The values of one run.
#[derive(Debug, Default)]
pub struct RunState {
    values: BTreeMap<String, String>,
}

impl RunState {
    fn bytes_with(&self, key: &str, value: &str) -> usize {
        self.values
            .iter()
            .filter(|(k, _)| k.as_str() != key)
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
            + key.len()
            + value.len()
    }
}

/// A run's state, shared by the contexts of its calls.
pub type SharedRunState = Arc<Mutex<RunState>>;

impl Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        self.call.hostcall()?;
        Ok(self
            .call
            .run_state
            .lock()
            .ok()
            .and_then(|s| s.values.get(&key).cloned()))
    }

    async fn set(&mut self, key: String, value: String) -> wasmtime::Result<bool> {
        self.call.hostcall()?;
        let Ok(mut state) = self.call.run_state.lock() else {
            return Ok(false);
        };
        let new_key = !state.values.contains_key(&key);
        if (new_key && state.values.len() >= MAX_KEYS) || state.bytes_with(&key, &value) > MAX_BYTES
        {
            return Ok(false);
        }
        state.values.insert(key, value);
        Ok(true)
    }
}
