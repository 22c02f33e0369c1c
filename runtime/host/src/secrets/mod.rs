//! Secret values for one run: handed to the adapter only as references, filled into
//! outgoing requests only where the secret's placement allows ([`placement`]), and looked
//! for in everything that comes back ([`forms`]).
//!
//! A reference is `{{secret:NAME:TOKEN}}`, where TOKEN is random per run: the host fills
//! only references that carry this run's token, so text that merely looks like a
//! reference — in event data a field worker typed, or pulled from a system — reaches the
//! external system verbatim. A 1.0 adapter's `{{secret:NAME}}` (no token) is filled under
//! the 1.0 rule only: request headers and basic auth toward the config's own origin.

mod forms;
pub mod placement;
mod references;

pub use forms::MIN_SCAN_LEN;
pub use placement::{SecretPolicy, Slot};
pub use references::{find_references, Reference};

use forms::Scanner;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Secrets shorter than this may not go into a request body: too short to be found
/// reliably in what comes back (`dcsync check` warns about them).
pub const MIN_BODY_SECRET_LEN: usize = 8;

/// The secrets of one run (a config's secret fields, and the credentials of a sync).
#[derive(Clone)]
pub struct Secrets {
    inner: Arc<Inner>,
}

struct Inner {
    values: BTreeMap<String, String>,
    token: String,
    scanner: Scanner,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.inner.values.keys()).finish()
    }
}

impl Default for Secrets {
    fn default() -> Self {
        Secrets::new(BTreeMap::new())
    }
}

impl Secrets {
    /// Secrets with these values by name (empty values are no secrets), and a fresh
    /// random reference token.
    pub fn new(values: BTreeMap<String, String>) -> Self {
        let values: BTreeMap<String, String> =
            values.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        let token = hex::encode(rand::random::<[u8; 12]>());
        let scanner = Scanner::new(&values);
        Secrets {
            inner: Arc::new(Inner {
                values,
                token,
                scanner,
            }),
        }
    }

    /// The reference an adapter is given for the secret `name`.
    pub fn reference(&self, name: &str) -> String {
        format!("{{{{secret:{name}:{}}}}}", self.inner.token)
    }

    /// This run's reference token.
    pub fn token(&self) -> &str {
        &self.inner.token
    }

    /// The value of `name`.
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.inner.values.get(name).map(String::as_str)
    }

    /// The names of the secrets held.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.inner.values.keys().map(String::as_str)
    }

    /// Whether no secret is held.
    pub fn is_empty(&self) -> bool {
        self.inner.values.is_empty()
    }

    /// The secrets too short to be found reliably in text (under [`MIN_SCAN_LEN`]).
    pub fn too_short(&self) -> impl Iterator<Item = &str> {
        self.inner
            .values
            .iter()
            .filter(|(_, v)| v.chars().count() < MIN_SCAN_LEN)
            .map(|(k, _)| k.as_str())
    }

    /// Whether `bytes` hold any secret value, in any usual encoding (raw, any case, JSON-,
    /// URL-, HTML-escaped, hex, base64, reversed, half of it…).
    pub fn found_in(&self, bytes: &[u8]) -> bool {
        self.inner.scanner.found_in(bytes)
    }

    /// Why a pulled record must be refused for holding a secret value of this config (the
    /// adapter could only have got one by defeating the host; it must not reach the
    /// store), if it holds one.
    pub fn refusal_for(&self, e: &dcsync_contract::adapter::AdapterEvent) -> Option<String> {
        [&e.data, &e.entity_guid, &e.guid, &e.event_type, &e.user_id]
            .iter()
            .any(|s| self.found_in(s.as_bytes()))
            .then(|| "the record holds a secret value of this config; refused".to_string())
    }

    /// `text` with every secret value, in any of those encodings, replaced by `***`: for
    /// what the host records (run history, logs), never for what an adapter is given.
    pub fn scrub(&self, text: &str) -> String {
        self.inner.scanner.scrub(text)
    }
}

#[cfg(test)]
mod tests;
