//! The plain types an adapter works with.
//!
//! Over 400 lines: the SDK's whole data model (config, events, outcomes, field specs) for
//! adapter authors to read in one place; the last 60 are its unit tests.

use serde::{Deserialize, Serialize};

/// Where an event stands in the DataCollect sync chain; `0`, `1`, `2` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncLevel {
    Local,
    Remote,
    External,
}

impl Serialize for SyncLevel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(match self {
            SyncLevel::Local => 0,
            SyncLevel::Remote => 1,
            SyncLevel::External => 2,
        })
    }
}

impl<'de> Deserialize<'de> for SyncLevel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u8::deserialize(d)? {
            0 => Ok(SyncLevel::Local),
            1 => Ok(SyncLevel::Remote),
            2 => Ok(SyncLevel::External),
            n => Err(serde::de::Error::custom(format!(
                "syncLevel must be 0, 1 or 2, not {n}"
            ))),
        }
    }
}

/// An event's payload, kept as the JSON text it arrived as: passing events through (the
/// common case for push) costs no parse and no re-encoding. [`Data::value`] parses it when
/// an adapter needs to look inside.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Data(Box<serde_json::value::RawValue>);

impl Data {
    /// From a JSON value.
    pub fn from_value(v: &serde_json::Value) -> Self {
        Data(serde_json::value::to_raw_value(v).expect("a JSON value always encodes"))
    }

    /// From JSON text; an error if it is not JSON.
    pub fn from_json(text: String) -> Result<Self, serde_json::Error> {
        serde_json::value::RawValue::from_string(text).map(Data)
    }

    /// The payload, parsed.
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(self.0.get()).unwrap_or(serde_json::Value::Null)
    }

    /// The payload as JSON text.
    pub fn json(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for Data {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

/// One DataCollect event (FormSubmission), in its JSON wire shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Empty in a pulled event when the external system has no stable id for this version
    /// of the record: the host then derives a deterministic one.
    #[serde(default)]
    pub guid: String,
    pub entity_guid: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: Data,
    pub timestamp: String,
    #[serde(default)]
    pub user_id: String,
    #[serde(default = "external")]
    pub sync_level: SyncLevel,
}

fn external() -> SyncLevel {
    SyncLevel::External
}

/// The config the adapter runs with. Secret values are references (`{{secret:NAME}}`):
/// put them in a header, a body or [`crate::http::Request::basic_auth`] and the host fills
/// them in when it sends the request.
#[derive(Clone, Debug)]
pub struct Config {
    pub id: String,
    pub adapter_type: String,
    pub url: String,
    pub auth: Option<String>,
    pub extra_fields: Vec<(String, String)>,
    pub secret_names: Vec<String>,
}

impl Config {
    /// The value of an extra field (a reference, for a secret field).
    pub fn extra(&self, name: &str) -> Option<&str> {
        self.extra_fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// An extra field parsed as a number, or `default` when absent.
    pub fn extra_u32(&self, name: &str, default: u32) -> Result<u32, SyncError> {
        match self.extra(name) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| {
                SyncError::Config(format!(
                    "extra field `{name}` must be a whole number, not {v:?}"
                ))
            }),
        }
    }

    /// Whether the host holds a secret of this name for the call.
    pub fn has_secret(&self, name: &str) -> bool {
        self.secret_names.iter().any(|n| n == name)
    }

    /// The reference that stands for the secret `name` in this call: the one the host
    /// handed out with the config (it carries the run's token, so the host fills it). Put
    /// it where the secret's placement allows.
    pub fn secret_ref(name: &str) -> String {
        REFERENCES
            .with(|r| r.borrow().get(name).cloned())
            .unwrap_or_else(|| format!("{{{{secret:{name}}}}}"))
    }
}

thread_local! {
    /// The secret references of the config of the call in progress (an instance serves
    /// one call, so this is that call's).
    static REFERENCES: std::cell::RefCell<std::collections::BTreeMap<String, String>> =
        Default::default();
}

/// Remember the references `config` carries, for [`Config::secret_ref`].
pub(crate) fn remember_references(config: &Config) {
    REFERENCES.with(|r| {
        let mut r = r.borrow_mut();
        r.clear();
        for (name, value) in &config.extra_fields {
            if config.has_secret(name) && value.starts_with("{{secret:") {
                r.insert(name.clone(), value.clone());
            }
        }
    });
}

/// Where a secret may be filled in (see [`Adapter::secret_placements`](crate::Adapter::secret_placements)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The value of this request header.
    Header(String),
    /// HTTP basic auth.
    BasicAuth,
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// A JSON body sent to `path` on the config's own origin, as the whole string at the
    /// JSON pointer `pointer` (e.g. `/jsonrpc`, `/params/args/2`). Needs the operator's
    /// approval.
    JsonBody {
        /// The request path.
        path: String,
        /// An RFC 6901 JSON pointer.
        pointer: String,
    },
}

/// The placements of one secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretPlacement {
    /// An extra field's name, or `credentials.username` / `credentials.password`.
    pub secret: String,
    /// Where it may go.
    pub placements: Vec<Placement>,
}

impl SecretPlacement {
    /// `secret` may go into these places.
    pub fn new(secret: &str, placements: impl IntoIterator<Item = Placement>) -> Self {
        SecretPlacement {
            secret: secret.into(),
            placements: placements.into_iter().collect(),
        }
    }
}

/// One thing wrong with a config (see [`Adapter::validate`](crate::Adapter::validate)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field, e.g. `extraFields.apiKey` or `auth`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl FieldProblem {
    /// A problem with `field`.
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        FieldProblem {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What a connection test found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionCheck {
    /// The system accepted the credentials; what was tried.
    Ok(String),
    /// The adapter cannot test without side effects, and says so instead of sending.
    Untestable(String),
}

/// One record the external system refused, in the shape most receivers answer with
/// (`{"guid": …, "reason": …}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The refused event's guid.
    pub guid: String,
    /// Why, in the receiver's words.
    #[serde(default)]
    pub reason: String,
}

/// What the external system did with a batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PushOutcome {
    /// How many events of the batch it accepted.
    pub accepted: u32,
    /// The events it refused (the host quarantines them).
    pub rejected: Vec<Rejection>,
    /// The receiver's id for this delivery (work order, job id…).
    pub remote_ref: Option<String>,
}

impl PushOutcome {
    /// Every event of a batch of `count` accepted.
    pub fn all(count: usize) -> Self {
        PushOutcome {
            accepted: count as u32,
            ..Default::default()
        }
    }

    /// The batch `events` with the receiver's `rejected` refused and the rest accepted.
    /// Rejections of guids that are not in the batch, and repeats, are dropped: a receiver
    /// that over-reports cannot make the count go wrong.
    pub fn with_rejections(events: &[Event], rejected: Vec<Rejection>) -> Self {
        let guids: Vec<&str> = events.iter().map(|e| e.guid.as_str()).collect();
        Self::rejecting(&guids, rejected)
    }

    /// [`PushOutcome::with_rejections`] for an [`EncodedBatch`] (its guids are read from
    /// its text only when there are rejections).
    pub fn with_rejections_of(
        batch: &EncodedBatch,
        rejected: Vec<Rejection>,
    ) -> Result<Self, SyncError> {
        if rejected.is_empty() {
            return Ok(PushOutcome::all(batch.count as usize));
        }
        let guids = batch.guids()?;
        let guids: Vec<&str> = guids.iter().map(String::as_str).collect();
        Ok(Self::rejecting(&guids, rejected))
    }

    fn rejecting(guids: &[&str], rejected: Vec<Rejection>) -> Self {
        let in_batch: std::collections::HashSet<&str> = guids.iter().copied().collect();
        let mut seen = std::collections::HashSet::new();
        let rejected: Vec<Rejection> = rejected
            .into_iter()
            .filter(|r| in_batch.contains(r.guid.as_str()) && seen.insert(r.guid.clone()))
            .collect();
        PushOutcome {
            accepted: (guids.len() - rejected.len()) as u32,
            rejected,
            remote_ref: None,
        }
    }
}

/// A batch handed over as one JSON text (contract 1.2, `encoded-push`): what
/// [`crate::Adapter::push_encoded`] gets. An adapter that sends events on as they are puts
/// [`EncodedBatch::events`] into its request body unchanged.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedBatch {
    /// The events as a JSON array, each in the DataCollect wire shape, `data` as stored.
    pub events: String,
    /// How many events it holds.
    pub count: u32,
    /// The same id [`batch_id`] gives for these events.
    pub batch_id: String,
}

impl EncodedBatch {
    /// The events, parsed (their `data` kept as the text it came as).
    pub fn events(&self) -> Result<Vec<Event>, SyncError> {
        serde_json::from_str(&self.events)
            .map_err(|e| SyncError::Internal(format!("the host's encoded batch: {e}")))
    }

    /// The events' guids, in batch order (read from the text).
    pub fn guids(&self) -> Result<Vec<String>, SyncError> {
        #[derive(Deserialize)]
        struct Guid {
            guid: String,
        }
        let guids: Vec<Guid> = serde_json::from_str(&self.events)
            .map_err(|e| SyncError::Internal(format!("the host's encoded batch: {e}")))?;
        Ok(guids.into_iter().map(|g| g.guid).collect())
    }
}

/// One page of pulled events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PullPage {
    pub events: Vec<Event>,
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

/// What a whole `custom-sync` run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncReport {
    pub pushed: u64,
    pub pulled: u64,
    pub applied: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub remote_refs: Vec<String>,
}

/// Why a call failed; the class decides what the host does next.
#[derive(Clone, Debug, PartialEq)]
pub enum SyncError {
    /// The config is wrong: the run fails fast.
    Config(String),
    /// Credentials refused: the run stops, no retry.
    Unauthorized(String),
    /// Retried with backoff; `retry_after_ms` from the server's `Retry-After`.
    Transient {
        retry_after_ms: Option<u64>,
        message: String,
    },
    /// These records are quarantined; the rest of the batch is sent again.
    Rejected(Vec<Rejection>),
    /// Anything else: the run fails.
    Internal(String),
}

impl SyncError {
    pub fn transient(message: impl Into<String>) -> Self {
        SyncError::Transient {
            retry_after_ms: None,
            message: message.into(),
        }
    }
}

/// One config field the adapter understands, for validation before any sync. Built as
/// `FieldSpec::new("apiKey", "The API key").required().secret()`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldSpec {
    /// The extra field's name.
    pub name: String,
    /// A config without it (and without a default) is refused before any request.
    pub required: bool,
    /// The host never shows, logs or hands over its value; the adapter gets a reference.
    pub secret: bool,
    /// The value used when the field is absent.
    pub default: Option<String>,
    /// Help text for an operator (shown by `dcsync check` and the admin page).
    pub description: String,
}

impl FieldSpec {
    /// An optional, non-secret field.
    pub fn new(name: &str, description: &str) -> Self {
        FieldSpec {
            name: name.into(),
            required: false,
            secret: false,
            default: None,
            description: description.into(),
        }
    }

    /// The config must have it.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Its value is a secret.
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// The value when the config leaves it out.
    pub fn default_value(mut self, value: &str) -> Self {
        self.default = Some(value.into());
        self
    }
}

/// Who the adapter is.
#[derive(Clone, Debug, PartialEq)]
pub struct AdapterInfo {
    pub adapter_type: String,
    pub name: String,
    pub version: String,
    pub capabilities: Vec<String>,
    pub config_fields: Vec<FieldSpec>,
}

impl AdapterInfo {
    /// An adapter that can push and pull, with no config fields yet.
    pub fn new(adapter_type: &str, name: &str, version: &str) -> Self {
        AdapterInfo {
            adapter_type: adapter_type.into(),
            name: name.into(),
            version: version.into(),
            capabilities: vec!["push".into(), "pull".into()],
            config_fields: Vec::new(),
        }
    }

    /// Declare a config field.
    pub fn field(mut self, field: FieldSpec) -> Self {
        self.config_fields.push(field);
        self
    }

    /// Replace the capabilities (`push`, `pull`, `custom-sync`).
    pub fn capabilities(mut self, caps: &[&str]) -> Self {
        self.capabilities = caps.iter().map(|c| c.to_string()).collect();
        self
    }
}

/// A short stable id for a list of parts (SHA-256, hex): the same parts give the same id.
/// Use it for the guid of a pulled record's version when the external system's own version
/// marker is too coarse (e.g. a timestamp with one-second resolution).
pub fn stable_id(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A stable id for a batch: the same events give the same id, so a receiver can drop a
/// batch delivered twice (delivery is at least once).
pub fn batch_id(events: &[Event]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for e in events {
        h.update(e.guid.as_bytes());
        h.update(b"\n");
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(guid: &str) -> Event {
        Event {
            guid: guid.into(),
            entity_guid: "e".into(),
            event_type: "create-individual".into(),
            data: Data::from_value(&serde_json::json!({})),
            timestamp: "2025-01-01T00:00:00Z".into(),
            user_id: String::new(),
            sync_level: SyncLevel::Local,
        }
    }

    #[test]
    fn batch_id_is_stable_and_depends_on_the_guids() {
        let a = [event("1"), event("2")];
        assert_eq!(batch_id(&a), batch_id(&a.clone()));
        assert_ne!(batch_id(&a), batch_id(&[event("1"), event("3")]));
    }

    #[test]
    fn events_use_the_datacollect_wire_shape() {
        let json = serde_json::to_value(event("g")).unwrap();
        assert_eq!(json["entityGuid"], "e");
        assert_eq!(json["type"], "create-individual");
        assert_eq!(json["syncLevel"], 0);
    }

    #[test]
    fn over_reported_rejections_do_not_break_the_count() {
        let batch = [event("1"), event("2")];
        let r = |g: &str| Rejection {
            guid: g.into(),
            reason: "no".into(),
        };
        let out = PushOutcome::with_rejections(&batch, vec![r("2"), r("2"), r("9"), r("7")]);
        assert_eq!(out.accepted, 1);
        assert_eq!(out.rejected, vec![r("2")]);
    }

    #[test]
    fn field_specs_read_at_the_call_site() {
        let f = FieldSpec::new("apiKey", "key").required().secret();
        assert!(f.required && f.secret && f.default.is_none());
        let d = FieldSpec::new("batchSize", "n").default_value("50");
        assert_eq!(d.default.as_deref(), Some("50"));
        assert!(!d.required && !d.secret);
    }

    #[test]
    fn secret_references_have_the_host_syntax() {
        assert_eq!(Config::secret_ref("apiKey"), "{{secret:apiKey}}");
    }
}
