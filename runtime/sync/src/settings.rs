//! Runtime settings: what the operator decides, kept apart from DataCollect configs (which
//! never need editing): adapter and cache directories, sandbox limits, extra allowed
//! origins per adapter type, and integrity pins.
//!
//! A TOML file, every key optional:
//!
//! ```toml
//! adapters = "/opt/dcsync/adapters"
//! cache = "/var/cache/dcsync"
//!
//! [limits]
//! fuel = 20_000_000_000
//! deadline_ms = 300_000
//! memory_mib = 256
//! hostcalls = 100_000
//! max_return_mib = 64
//! max_request_mib = 32
//! max_response_mib = 64
//! log_lines = 1000
//! run_ms = 3_600_000         # a whole run; past it the run ends `incomplete`
//! stall_ms = 30_000          # a pull this long without a new record is stopped
//! keep_resident_mib = 16     # memory a pool slot keeps mapped between calls (speed vs RSS)
//!
//! [allow]            # origins an adapter type may reach besides its config URL's
//! openfn-adapter = ["https://app.openfn.org"]
//!
//! [pins]             # sha256 of the only component accepted for a type
//! mock-sync-server = "9f2c…"
//!
//! [approve_placements]   # types whose secret placements that need approval are approved
//!                        # (a JSON body, a header other than the usual credential ones)
//! openspp-adapter = true
//!
//! [secret_origins.openfn-adapter]   # a secret may also go to these allowed origins
//! collectionsToken = ["https://app.openfn.org"]
//! ```

use dcsync_contract::limits::Limits;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// A settings file that cannot be used.
#[derive(Debug, Error)]
#[error("settings {path}: {message}")]
pub struct SettingsError {
    /// The settings file.
    pub path: String,
    /// What is wrong, naming the key.
    pub message: String,
}

/// The runtime's own settings.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSettings {
    /// Directory of adapter components.
    pub adapters: Option<PathBuf>,
    /// Directory for compiled adapter code (written only by the runtime).
    pub cache: Option<PathBuf>,
    #[serde(default)]
    /// Sandbox limits per call.
    pub limits: LimitSettings,
    /// Extra origins (`scheme://host[:port]`) per adapter type.
    #[serde(default)]
    pub allow: BTreeMap<String, Vec<String>>,
    /// Required SHA-256 (hex) of the component serving a type.
    #[serde(default)]
    pub pins: BTreeMap<String, String>,
    /// Adapter types whose declared JSON-body secret placements the operator approves.
    #[serde(default)]
    pub approve_placements: BTreeMap<String, bool>,
    /// Per adapter type, per secret: extra origins (among `allow`) it may be sent to.
    #[serde(default)]
    pub secret_origins: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// An HTTP proxy for every adapter request (`http://host:port`). Without it the host
    /// connects directly and ignores `HTTP_PROXY`/`HTTPS_PROXY`: a proxy resolves names
    /// itself, so the public-address rule no longer applies through it.
    pub proxy: Option<String>,
}

/// Sandbox limits, in operator units; absent keys keep [`Limits::default`].
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Fuel per call.
    pub fuel: Option<u64>,
    /// Wall-clock time per call, ms.
    pub deadline_ms: Option<u64>,
    /// Linear memory per call (all memories), MiB.
    pub memory_mib: Option<usize>,
    /// Table elements per call (all tables).
    pub table_elements: Option<usize>,
    /// Host calls per call.
    pub hostcalls: Option<u32>,
    /// What a call may return, MiB.
    pub max_return_mib: Option<usize>,
    /// HTTP request body cap, MiB.
    pub max_request_mib: Option<usize>,
    /// HTTP response body cap, MiB.
    pub max_response_mib: Option<usize>,
    /// Log lines per call.
    pub log_lines: Option<u32>,
    /// A whole run, ms.
    pub run_ms: Option<u64>,
    /// A pull without new records for this long is stopped, ms.
    pub stall_ms: Option<u64>,
    /// Memory a pooled instance slot keeps resident between calls, MiB (0: none).
    pub keep_resident_mib: Option<usize>,
}

impl RuntimeSettings {
    /// Read and check a settings file.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let err = |message: String| SettingsError {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let settings: RuntimeSettings = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        settings.check().map_err(err)?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), String> {
        for (ty, pin) in &self.pins {
            if pin.len() != 64 || !pin.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!(
                    "pins.{ty}: must be 64 hex characters (a SHA-256), got {pin:?}"
                ));
            }
        }
        if let Some(p) = &self.proxy {
            let ok = url::Url::parse(p)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(format!(
                    "proxy: {p:?} is not an http(s) URL like \"http://proxy.internal:3128\""
                ));
            }
        }
        for (ty, secrets) in &self.secret_origins {
            for (secret, origins) in secrets {
                for o in origins {
                    if !self.allow.get(ty).is_some_and(|a| a.contains(o)) {
                        return Err(format!(
                            "secret_origins.{ty}.{secret}: {o:?} is not among allow.{ty}; a secret may go only where requests may"
                        ));
                    }
                }
            }
        }
        for (ty, origins) in &self.allow {
            for o in origins {
                let ok = url::Url::parse(o)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
                if !ok {
                    return Err(format!(
                        "allow.{ty}: {o:?} is not an http(s) origin like \"https://example.org\""
                    ));
                }
            }
        }
        let l = &self.limits;
        let zero = [
            ("fuel", l.fuel == Some(0)),
            ("deadline_ms", l.deadline_ms == Some(0)),
            ("memory_mib", l.memory_mib == Some(0)),
            ("hostcalls", l.hostcalls == Some(0)),
        ];
        if let Some((name, _)) = zero.iter().find(|(_, z)| *z) {
            return Err(format!("limits.{name} must be greater than 0"));
        }
        Ok(())
    }

    /// The sandbox limits these settings give.
    pub fn limits(&self) -> Limits {
        let d = Limits::default();
        let l = &self.limits;
        let mib = |v: Option<usize>, default: usize| v.map_or(default, |m| m << 20);
        Limits {
            fuel: l.fuel.unwrap_or(d.fuel),
            deadline: l.deadline_ms.map_or(d.deadline, Duration::from_millis),
            memory_bytes: mib(l.memory_mib, d.memory_bytes),
            table_elements: l.table_elements.unwrap_or(d.table_elements),
            hostcalls: l.hostcalls.unwrap_or(d.hostcalls),
            max_return_bytes: mib(l.max_return_mib, d.max_return_bytes),
            max_request_bytes: mib(l.max_request_mib, d.max_request_bytes),
            max_response_bytes: mib(l.max_response_mib, d.max_response_bytes),
            log_lines: l.log_lines.unwrap_or(d.log_lines),
            run_time: l.run_ms.map_or(d.run_time, Duration::from_millis),
            stall_time: l.stall_ms.map_or(d.stall_time, Duration::from_millis),
            stall_pages: d.stall_pages,
            keep_resident_bytes: mib(l.keep_resident_mib, d.keep_resident_bytes),
        }
    }

    /// Extra origins for an adapter type.
    pub fn allowed_origins(&self, adapter_type: &str) -> Vec<String> {
        self.allow.get(adapter_type).cloned().unwrap_or_default()
    }

    /// Whether the operator approves JSON-body secret placements for `adapter_type`.
    pub fn placements_approved(&self, adapter_type: &str) -> bool {
        self.approve_placements
            .get(adapter_type)
            .copied()
            .unwrap_or(false)
    }

    /// For `adapter_type`, the extra origins (as `scheme://host:port`) each secret may go to.
    pub fn secret_origins(&self, adapter_type: &str) -> BTreeMap<String, Vec<String>> {
        self.secret_origins
            .get(adapter_type)
            .map(|m| {
                m.iter()
                    .map(|(secret, origins)| {
                        let normal = origins
                            .iter()
                            .filter_map(|o| url::Url::parse(o).ok())
                            .filter_map(|u| dcsync_host::egress::origin_of(&u))
                            .collect();
                        (secret.clone(), normal)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuntimeSettings, String> {
        let s: RuntimeSettings = toml::from_str(text).map_err(|e| e.to_string())?;
        s.check()?;
        Ok(s)
    }

    #[test]
    fn limits_default_and_override() {
        let s = parse("[limits]\nmemory_mib = 64\ndeadline_ms = 1500\n").unwrap();
        let l = s.limits();
        assert_eq!(l.memory_bytes, 64 << 20);
        assert_eq!(l.deadline, Duration::from_millis(1500));
        assert_eq!(l.fuel, Limits::default().fuel);
        assert_eq!(l.keep_resident_bytes, 16 << 20, "the default");
        let none = parse("[limits]\nkeep_resident_mib = 0\n").unwrap().limits();
        assert_eq!(none.keep_resident_bytes, 0, "0 keeps nothing resident");
    }

    #[test]
    fn a_secret_may_be_granted_only_an_allowed_origin() {
        let ok = parse("[allow]\nt = [\"https://b.example.org\"]\n[secret_origins.t]\ntoken = [\"https://b.example.org\"]\n").unwrap();
        assert_eq!(
            ok.secret_origins("t")["token"],
            ["https://b.example.org:443"]
        );
        assert!(
            parse("[secret_origins.t]\ntoken = [\"https://c.example.org\"]\n")
                .unwrap_err()
                .contains("not among allow.t")
        );
        assert!(parse("proxy = \"socks://x\"\n")
            .unwrap_err()
            .contains("proxy"));
    }

    #[test]
    fn bad_settings_name_the_key() {
        assert!(parse("[limits]\nfule = 3\n")
            .unwrap_err()
            .contains("unknown field `fule`"));
        assert!(parse("[pins]\nx = \"abc\"\n")
            .unwrap_err()
            .contains("pins.x: must be 64 hex"));
        assert!(parse("[allow]\nx = [\"ftp://a\"]\n")
            .unwrap_err()
            .contains("allow.x"));
        assert!(parse("[limits]\nhostcalls = 0\n")
            .unwrap_err()
            .contains("limits.hostcalls"));
    }
}
