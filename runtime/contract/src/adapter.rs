//! What an adapter is and what it answers, in the host's own terms. The WIT edge
//! ([`crate::wit`]) converts each contract version into these types, so the rest of the
//! host never sees generated bindings.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What an adapter can do; the host drives `Push` and `Pull` itself, and hands a
/// `CustomSync` adapter the whole run.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// The host pushes pending events through `push-batch`.
    Push,
    /// The host pulls pages through `pull-since`.
    Pull,
    /// The adapter runs the whole sync through `sync` and the store imports.
    CustomSync,
    /// Batches go through the 1.2 `encoded-push` export, as one JSON text.
    EncodedPush,
    /// A capability this host does not know (a newer adapter): kept, shown, ignored.
    #[serde(untagged)]
    Other(String),
}

impl Capability {
    /// From the contract's text form (`push`, `pull`, `custom-sync`).
    pub fn parse(text: &str) -> Self {
        match text {
            "push" => Capability::Push,
            "pull" => Capability::Pull,
            "custom-sync" => Capability::CustomSync,
            "encoded-push" => Capability::EncodedPush,
            other => Capability::Other(other.to_string()),
        }
    }

    /// The contract's text form.
    pub fn as_str(&self) -> &str {
        match self {
            Capability::Push => "push",
            Capability::Pull => "pull",
            Capability::CustomSync => "custom-sync",
            Capability::EncodedPush => "encoded-push",
            Capability::Other(s) => s,
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One configuration field an adapter understands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSpec {
    /// The extra field's name.
    pub name: String,
    /// A config without it (and with no default) is refused before any request.
    pub required: bool,
    /// Never shown, logged, or given to the adapter; reachable only as a reference.
    pub secret: bool,
    /// The value used when the field is absent.
    pub default: Option<String>,
    /// Help text for an operator.
    pub description: String,
}

/// Who an adapter is and what it needs, as `describe()` said at load.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterInfo {
    /// The config `type` it serves.
    #[serde(rename = "type")]
    pub adapter_type: String,
    /// Human-readable name.
    pub name: String,
    /// The adapter's own version (semver).
    pub version: String,
    /// What it can do.
    pub capabilities: Vec<Capability>,
    /// The fields it understands.
    pub config_fields: Vec<FieldSpec>,
}

impl AdapterInfo {
    /// Whether the adapter declared `cap`.
    pub fn has(&self, cap: &Capability) -> bool {
        self.capabilities.contains(cap)
    }

    /// The names of the fields it declares secret.
    pub fn secret_fields(&self) -> impl Iterator<Item = &str> {
        self.config_fields
            .iter()
            .filter(|f| f.secret)
            .map(|f| f.name.as_str())
    }
}

/// The config as an adapter sees it: secret values replaced by `{{secret:NAME}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterConfigView {
    /// Stable id of the config (cursors, echo suppression).
    pub id: String,
    /// The config's `type`.
    pub adapter_type: String,
    /// The external system's endpoint.
    pub url: String,
    /// The config's `auth` method.
    pub auth: Option<String>,
    /// `{name, value}` pairs; a secret's value is its reference.
    pub extra_fields: Vec<(String, String)>,
    /// The names of the secrets the host holds for this call.
    pub secret_names: Vec<String>,
}

/// One record the external system refused, with its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The refused event's guid.
    pub guid: String,
    /// Why, in the external system's words.
    pub reason: String,
}

/// An adapter's own classified failure (the contract's `sync-error`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdapterError {
    /// The config is wrong: fail fast.
    Config(String),
    /// Credentials refused: stop, do not retry.
    Unauthorized(String),
    /// Try again later, after `retry_after_ms` when the server said.
    Transient {
        /// How long the server asked to wait.
        retry_after_ms: Option<u64>,
        /// What happened.
        message: String,
    },
    /// These records were refused; the rest of the batch is sent again without them.
    Rejected(Vec<Rejection>),
    /// A bug or an unexpected answer.
    Internal(String),
}

/// What the external system did with a pushed batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushResult {
    /// How many events it accepted.
    pub accepted: u32,
    /// The events it refused.
    pub rejected: Vec<Rejection>,
    /// The receiver's id for this delivery (work order…).
    pub remote_ref: Option<String>,
}

/// An event as an adapter returned it from a pull, before the host checks it: its data
/// is still the adapter's text, its guid may be empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterEvent {
    /// Empty when the external system has no stable id for this version of the record.
    pub guid: String,
    /// The entity it targets.
    pub entity_guid: String,
    /// Event type.
    pub event_type: String,
    /// The payload as JSON text (unchecked).
    pub data: String,
    /// When it was recorded (RFC 3339, unchecked).
    pub timestamp: String,
    /// Who recorded it.
    pub user_id: String,
}

/// One page of external records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullPage {
    /// The records, as events.
    pub events: Vec<AdapterEvent>,
    /// Opaque cursor to resume after this page.
    pub next_cursor: Option<String>,
    /// Whether another page follows.
    pub has_more: bool,
}

impl PullPage {
    /// Roughly how many bytes the page holds, for the return-size limit.
    pub fn size(&self) -> usize {
        self.events
            .iter()
            .map(|e| {
                e.guid.len()
                    + e.entity_guid.len()
                    + e.event_type.len()
                    + e.data.len()
                    + e.timestamp.len()
                    + e.user_id.len()
                    + 16
            })
            .sum::<usize>()
            + self.next_cursor.as_ref().map_or(0, String::len)
    }
}

/// What a `custom-sync` adapter says its run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomSyncReport {
    /// Events delivered.
    pub pushed: u64,
    /// Records pulled.
    pub pulled: u64,
    /// Pulled events applied.
    pub applied: u64,
    /// Pulled events already stored.
    pub duplicates: u64,
    /// Events quarantined.
    pub quarantined: u64,
    /// Receiver ids of deliveries.
    pub remote_refs: Vec<String>,
}

/// One place a secret may be filled in (the 1.1 `manifest`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Placement {
    /// The value of this request header (lower-cased).
    Header {
        /// The header's name.
        name: String,
    },
    /// HTTP basic auth.
    BasicAuth,
    /// `authorization: Bearer <secret>`.
    Bearer,
    /// A JSON body to `path` on the config's own origin, as the whole string at `pointer`.
    JsonBody {
        /// The request path, e.g. `/jsonrpc`.
        path: String,
        /// An RFC 6901 JSON pointer, e.g. `/params/args/2`.
        pointer: String,
    },
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Placement::Header { name } => write!(f, "header {name}"),
            Placement::BasicAuth => f.write_str("basic auth"),
            Placement::Bearer => f.write_str("bearer token"),
            Placement::JsonBody { path, pointer } => write!(f, "JSON body of {path} at {pointer}"),
        }
    }
}

/// Where an adapter declared each secret may go (the 1.1 `manifest`); `None` on an
/// adapter means it declared nothing (a 1.0 adapter).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Placements by secret name (an extra field, or `credentials.username` /
    /// `credentials.password`).
    pub placements: std::collections::BTreeMap<String, Vec<Placement>>,
}

impl Manifest {
    /// The placements declared for `secret`.
    pub fn placements(&self, secret: &str) -> &[Placement] {
        self.placements.get(secret).map_or(&[], Vec::as_slice)
    }

    /// Whether any secret may go into a JSON body (needs the operator's approval).
    pub fn has_body_placements(&self) -> bool {
        self.placements
            .values()
            .flatten()
            .any(|p| matches!(p, Placement::JsonBody { .. }))
    }
}

/// One thing wrong with a config, as an adapter's `validate` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldProblem {
    /// The field, as `extraFields.apiKey` or `url`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}`: {}", self.field, self.message)
    }
}

/// What an adapter's connection test found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "message", rename_all = "kebab-case")]
pub enum ConnectionCheck {
    /// The system accepted the credentials.
    Ok(String),
    /// The adapter cannot test without side effects, and said so instead of sending.
    Untestable(String),
}
