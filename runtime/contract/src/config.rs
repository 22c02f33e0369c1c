//! The DataCollect external sync config (`ExternalSyncConfig`): parsing, validation and
//! redaction.
//!
//! The JSON format of the original product is accepted unchanged, bare or wrapped in
//! `{"externalSync": …}`. Every error names the field and says how to fix it. Secret values
//! never leave this module in `Debug`, `Display` or an error: they print as `***`.
//!
//! Over 400 lines: parsing, validation, secret marking and redaction of one type, kept
//! together so every path a secret can take out of a config is in one file.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use thiserror::Error;

/// Extra fields the host itself understands, for every adapter.
pub const HOST_FIELDS: &[&str] = &[
    "batchSize",
    "retryAttempts",
    "delayBetweenBatches",
    "timeout",
    "syncInterval",
    "maxInFlight",
];

/// A config that cannot be used, with the field and the fix.
#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    /// Not JSON.
    #[error("config is not valid JSON (line {line}, column {column}): {message}")]
    Json {
        /// Where the JSON breaks.
        line: usize,
        /// See `line`.
        column: usize,
        /// The parser's message.
        message: String,
    },
    #[error("config must be a JSON object, bare or as {{\"externalSync\": {{…}}}}")]
    /// JSON, but not an object.
    NotAnObject,
    /// A required field is absent.
    #[error("missing required field `{0}`")]
    Missing(&'static str),
    /// A field is present but wrong.
    #[error("field `{field}`: {message}")]
    Invalid {
        /// The field, as a path (`externalSync.extraFields[2].value`).
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// One `{name, value}` pair of `extraFields`.
#[derive(Clone, PartialEq, Eq)]
pub struct ExtraField {
    /// The field's name.
    pub name: String,
    value: String,
}

impl ExtraField {
    /// A field with a value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        ExtraField {
            name: name.into(),
            value: value.into(),
        }
    }

    /// The value, secret or not: handle with care.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// Whether a field name looks like it holds a secret (case-insensitive), so that an
/// adapter need not declare it for it to be one:
/// - every `header.*` field (a header an operator adds is there to authenticate);
/// - names containing password, passwd, passphrase, secret, token, key, credential,
///   authorization, cookie, bearer, session, signature or private;
/// - names with a word (split at camelCase, `.`, `_`, `-`) that is pass, pwd, auth, otp,
///   sig, pin or pat: `apiAuth`, `db_pwd`, `pin`, `user.otp` (not `footprint`).
///
/// Adapters declare more through `describe()`; once a name was secret for a config it
/// stays secret (the store remembers it), whatever a later adapter version declares.
pub fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    if n.starts_with("header.") {
        return true;
    }
    const PARTS: [&str; 13] = [
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "key",
        "credential",
        "authorization",
        "cookie",
        "bearer",
        "session",
        "signature",
        "private",
    ];
    const WORDS: [&str; 7] = ["pass", "pwd", "auth", "otp", "sig", "pin", "pat"];
    PARTS.iter().any(|w| n.contains(w)) || words(name).any(|w| WORDS.contains(&w.as_str()))
}

/// The words of a field name: split at `.`, `_`, `-`, spaces and lower-to-upper case
/// changes, lower-cased.
fn words(name: &str) -> impl Iterator<Item = String> + '_ {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if matches!(c, '.' | '_' | '-' | ' ') {
            out.push(std::mem::take(&mut word));
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            out.push(std::mem::take(&mut word));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    out.push(word);
    out.into_iter().filter(|w| !w.is_empty())
}

/// An external sync config.
#[derive(Clone, PartialEq)]
pub struct ExternalSyncConfig {
    /// Stable id for cursors and run history: the `id` field, else `type@url`.
    pub id: String,
    /// Which adapter to use.
    pub adapter_type: String,
    /// The external system's endpoint (http or https).
    pub url: String,
    /// Authentication method (`basic`, `api-key`, …).
    pub auth: Option<String>,
    /// `{name, value}` pairs, in the config's order.
    pub extra_fields: Vec<ExtraField>,
    /// Names of the extra fields whose values are secret.
    secret_fields: BTreeSet<String>,
    /// Top-level keys dcsync does not know (the original product's configs carry some
    /// of their own), kept as they were written: each is also handed to the adapter as an
    /// extra field of that name (its JSON text when not a string), unless `extraFields`
    /// has one of that name.
    top_level: BTreeMap<String, Value>,
    /// The extra fields that were added from `top_level` (written back there).
    from_top_level: BTreeSet<String>,
}

/// The keys of an external sync config dcsync itself reads.
const KNOWN_KEYS: [&str; 5] = ["id", "type", "url", "auth", "extraFields"];

/// Host-side settings read from the extra fields, with their defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncSettings {
    /// Events per pushed batch, records per pulled page (`batchSize`, default 100).
    pub batch_size: u32,
    /// Retries of a transient failure (`retryAttempts`, default 3).
    pub retry_attempts: u32,
    /// Pause between pushed batches (`delayBetweenBatches`, ms, default 0).
    pub delay_between_batches_ms: u64,
    /// Per HTTP request (`timeout`, ms, default 30000).
    pub timeout_ms: u64,
    /// Time between scheduled syncs (`syncInterval`, ms), if any.
    pub sync_interval_ms: Option<u64>,
    /// Pushed batches on the wire at once (`maxInFlight`, default 1: in order). Above 1,
    /// for receivers that accept concurrent batches: they may arrive out of order.
    pub max_in_flight: u32,
}

/// The most batches `maxInFlight` may put on the wire at once.
pub const MAX_IN_FLIGHT: u64 = 16;

impl ExternalSyncConfig {
    /// Parse a config from JSON text, bare or wrapped in `{"externalSync": …}`.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        // Editors on some systems write a byte-order mark: not part of the JSON.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let value: Value = serde_json::from_str(text).map_err(|e| ConfigError::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        Self::from_value(&value)
    }

    /// Parse a config from a JSON value, bare or wrapped in `{"externalSync": …}`.
    pub fn from_value(value: &Value) -> Result<Self, ConfigError> {
        let mut obj = value.as_object().ok_or(ConfigError::NotAnObject)?;
        let mut prefix = "";
        if let Some(inner) = obj.get("externalSync") {
            obj = inner
                .as_object()
                .ok_or_else(|| invalid("externalSync", "must be an object"))?;
            prefix = "externalSync.";
        }
        let field = |name: &str| format!("{prefix}{name}");
        let top_level: BTreeMap<String, Value> = obj
            .iter()
            .filter(|(k, _)| !KNOWN_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let string = |name: &'static str| -> Result<Option<String>, ConfigError> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid(field(name), "must be a string")),
            }
        };
        let adapter_type = string("type")?.ok_or(ConfigError::Missing("type"))?;
        if adapter_type.trim().is_empty() {
            return Err(invalid(
                field("type"),
                "must not be empty (e.g. \"mock-sync-server\")",
            ));
        }
        let url = string("url")?.ok_or(ConfigError::Missing("url"))?;
        let parsed = check_url(&url).map_err(|m| invalid(field("url"), m))?;
        let auth = string("auth")?;
        let mut extra_fields = parse_extra_fields(obj.get("extraFields"), &field("extraFields"))?;
        let mut from_top_level = BTreeSet::new();
        for (key, value) in &top_level {
            if !extra_fields.iter().any(|f| &f.name == key) {
                from_top_level.insert(key.clone());
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                extra_fields.push(ExtraField::new(key.clone(), text));
            }
        }
        let id = match string("id")? {
            Some(id) if !id.trim().is_empty() => id,
            Some(_) => return Err(invalid(field("id"), "must not be empty")),
            None => default_id(&adapter_type, &parsed),
        };
        let secret_fields = extra_fields
            .iter()
            .filter(|f| looks_secret(&f.name))
            .map(|f| f.name.clone())
            .collect();
        let config = ExternalSyncConfig {
            id,
            adapter_type,
            url,
            auth,
            extra_fields,
            secret_fields,
            top_level,
            from_top_level,
        };
        config
            .settings()
            .map_err(|(name, m)| invalid(field(&name), m))?;
        Ok(config)
    }

    /// The config as DataCollect JSON (bare), secret values shown as `***` when `redact`;
    /// top-level keys dcsync does not know are written back where they were.
    pub fn to_json(&self, redact: bool) -> Value {
        let fields: Vec<Value> = self
            .extra_fields
            .iter()
            .filter(|f| !self.is_top_level(&f.name))
            .map(|f| {
                let value = if redact && self.is_secret(&f.name) {
                    "***"
                } else {
                    f.value.as_str()
                };
                serde_json::json!({ "name": f.name, "value": value })
            })
            .collect();
        let mut v = serde_json::json!({ "id": self.id, "type": self.adapter_type, "url": self.url, "extraFields": fields });
        if let Some(auth) = &self.auth {
            v["auth"] = Value::String(auth.clone());
        }
        for (key, value) in &self.top_level {
            v[key] = if redact && self.is_secret(key) {
                Value::String("***".into())
            } else {
                value.clone()
            };
        }
        v
    }

    /// Top-level keys dcsync does not know, handed to the adapter as extra fields.
    pub fn top_level_keys(&self) -> impl Iterator<Item = &str> {
        self.top_level.keys().map(String::as_str)
    }

    /// Whether the extra field `name` came from a top-level key.
    fn is_top_level(&self, name: &str) -> bool {
        self.from_top_level.contains(name)
    }

    /// Take the values of fields given as `***` from `previous` (an edit that did not
    /// touch a secret sends it back masked). Refused when the URL moved to another origin
    /// (a stored credential is not carried to a new host: type it again) or when there is
    /// no stored value to keep.
    pub fn keep_secrets_from(&mut self, previous: &ExternalSyncConfig) -> Result<(), ConfigError> {
        let origin = |u: &str| {
            url::Url::parse(u).ok().map(|u| {
                (
                    u.scheme().to_string(),
                    u.host_str().map(str::to_ascii_lowercase),
                    u.port_or_known_default(),
                )
            })
        };
        let moved = origin(&self.url) != origin(&previous.url);
        for (i, f) in self.extra_fields.iter_mut().enumerate() {
            if f.value != "***" {
                continue;
            }
            // A top-level key (`{"password": "***"}`) is named as itself; a listed one by
            // its place in `extraFields`.
            let top_level = self.from_top_level.contains(&f.name);
            let field = if top_level {
                f.name.clone()
            } else {
                format!("extraFields[{i}].value")
            };
            if moved {
                return Err(invalid(
                    field,
                    format!("the URL moved to another origin: type the value of {:?} again rather than keeping the stored one", f.name),
                ));
            }
            match previous.extra(&f.name) {
                Some(old) => {
                    f.value = old.to_string();
                    // A top-level key is written back from `top_level`: keep the stored
                    // value there too, as it was (a number stays a number), or the
                    // config would be saved with a literal `***` in place of the secret.
                    if top_level {
                        let kept = previous
                            .top_level
                            .get(&f.name)
                            .cloned()
                            .unwrap_or_else(|| Value::String(old.to_string()));
                        self.top_level.insert(f.name.clone(), kept);
                    }
                }
                None => {
                    return Err(invalid(
                        field,
                        format!("no stored value of {:?} to keep: type it", f.name),
                    ))
                }
            }
        }
        for name in previous.secret_fields.iter() {
            self.secret_fields.insert(name.clone());
        }
        Ok(())
    }

    /// The names of the extra fields treated as secret.
    pub fn secret_field_names(&self) -> impl Iterator<Item = &str> {
        self.secret_fields.iter().map(String::as_str)
    }

    /// The value of an extra field (secret or not).
    pub fn extra(&self, name: &str) -> Option<&str> {
        self.extra_fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.as_str())
    }

    /// Whether the extra field `name` is treated as secret.
    pub fn is_secret(&self, name: &str) -> bool {
        self.secret_fields.contains(name)
    }

    /// Treat these extra fields as secret too (the adapter declared them so).
    pub fn mark_secret<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        self.secret_fields
            .extend(names.into_iter().map(str::to_string));
    }

    /// The extra fields that are secret, with their values.
    pub fn secrets(&self) -> impl Iterator<Item = (&str, &str)> {
        self.extra_fields
            .iter()
            .filter(|f| self.is_secret(&f.name))
            .map(|f| (f.name.as_str(), f.value.as_str()))
    }

    /// The host-side settings, with defaults; `Err((field, message))` if one is bad.
    pub fn settings(&self) -> Result<SyncSettings, (String, String)> {
        let number = |name: &str, default: u64, min: u64| -> Result<u64, (String, String)> {
            let Some(raw) = self.extra(name) else {
                return Ok(default);
            };
            let n: u64 = raw.trim().parse().map_err(|_| {
                (
                    format!("extraFields.{name}"),
                    format!("must be a whole number, got {raw:?} (e.g. \"{default}\")"),
                )
            })?;
            if n < min {
                return Err((
                    format!("extraFields.{name}"),
                    if name == "syncInterval" {
                        format!("must be at least {min} (milliseconds: 1 s), got {n}")
                    } else {
                        format!("must be at least {min}, got {n}")
                    },
                ));
            }
            Ok(n)
        };
        let batch_size = number("batchSize", 100, 1)?;
        if batch_size > 10_000 {
            return Err((
                "extraFields.batchSize".into(),
                format!("must be at most 10000, got {batch_size}"),
            ));
        }
        let max_in_flight = number("maxInFlight", 1, 1)?;
        if max_in_flight > MAX_IN_FLIGHT {
            return Err((
                "extraFields.maxInFlight".into(),
                format!("must be at most {MAX_IN_FLIGHT}, got {max_in_flight}"),
            ));
        }
        Ok(SyncSettings {
            batch_size: batch_size as u32,
            max_in_flight: max_in_flight as u32,
            retry_attempts: number("retryAttempts", 3, 0)?.min(100) as u32,
            delay_between_batches_ms: number("delayBetweenBatches", 0, 0)?,
            timeout_ms: number("timeout", 30_000, 1)?,
            // Under a second, a scheduler would write hundreds of runs a second.
            sync_interval_ms: match self.extra("syncInterval") {
                None => None,
                Some(_) => Some(number("syncInterval", 60_000, 1_000)?),
            },
        })
    }
}

fn check_url(url: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(url).map_err(|e| {
        format!("{url:?} is not a valid URL ({e}); write e.g. \"https://example.org/sync\"")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "must be an http or https URL, got scheme {:?}",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{url:?} has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "must not carry credentials; use \"auth\": \"basic\" with username/password extra fields"
                .into(),
        );
    }
    Ok(parsed)
}

fn default_id(adapter_type: &str, url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    format!("{adapter_type}@{u}")
}

fn parse_extra_fields(value: Option<&Value>, field: &str) -> Result<Vec<ExtraField>, ConfigError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(invalid(
                field,
                "must be an array of {\"name\": …, \"value\": …} objects",
            ))
        }
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let obj = item
            .as_object()
            .ok_or_else(|| invalid(&at, "must be an object {\"name\": …, \"value\": …}"))?;
        for key in obj.keys() {
            if key != "name" && key != "value" {
                return Err(invalid(
                    &at,
                    format!("unknown key `{key}` (only name and value)"),
                ));
            }
        }
        let name = match obj.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) => {
                return Err(invalid(format!("{at}.name"), "must not be empty"))
            }
            Some(_) => return Err(invalid(format!("{at}.name"), "must be a string")),
            None => return Err(invalid(format!("{at}.name"), "is missing")),
        };
        let value = match obj.get("value") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => {
                return Err(invalid(
                    format!("{at}.value"),
                    format!("must be a string; write \"{n}\" in quotes"),
                ))
            }
            Some(Value::Bool(b)) => {
                return Err(invalid(
                    format!("{at}.value"),
                    format!("must be a string; write \"{b}\" in quotes"),
                ))
            }
            Some(_) => return Err(invalid(format!("{at}.value"), "must be a string")),
            None => return Err(invalid(format!("{at}.value"), "is missing")),
        };
        if !seen.insert(name.clone()) {
            return Err(invalid(
                format!("{at}.name"),
                format!("duplicate name {name:?}: each extra field may appear once"),
            ));
        }
        out.push(ExtraField { name, value });
    }
    Ok(out)
}

impl fmt::Debug for ExternalSyncConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<_> = self
            .extra_fields
            .iter()
            .map(|e| {
                let v = if self.is_secret(&e.name) {
                    "***"
                } else {
                    e.value.as_str()
                };
                (e.name.as_str(), v)
            })
            .collect();
        f.debug_struct("ExternalSyncConfig")
            .field("id", &self.id)
            .field("type", &self.adapter_type)
            .field("url", &self.url)
            .field("auth", &self.auth)
            .field("extra_fields", &fields)
            .finish()
    }
}

impl fmt::Display for ExternalSyncConfig {
    /// One line, secrets as `***`, long values cut (a config with a 50 MB field is not
    /// printed back whole).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {}", short(&self.adapter_type), short(&self.url))?;
        if let Some(a) = &self.auth {
            write!(f, " (auth {})", short(a))?;
        }
        for e in &self.extra_fields {
            let v = if self.is_secret(&e.name) {
                "***".into()
            } else {
                short(&e.value)
            };
            write!(f, ", {}={}", short(&e.name), v)?;
        }
        Ok(())
    }
}

/// `text`, or its start and its length when it is long.
fn short(text: &str) -> String {
    const SHOWN: usize = 80;
    if text.chars().count() <= SHOWN {
        return text.to_string();
    }
    let start: String = text.chars().take(SHOWN).collect();
    format!("{start}… ({} bytes)", text.len())
}

impl fmt::Debug for ExtraField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = if looks_secret(&self.name) {
            "***"
        } else {
            self.value.as_str()
        };
        write!(f, "{}={:?}", self.name, v)
    }
}

/// Credentials passed to a sync: secrets like any other.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Who syncs.
    pub username: String,
    password: String,
}

impl Credentials {
    /// Credentials for one sync.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The password: handle with care.
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &"***")
            .field("password", &"***")
            .finish()
    }
}
