//! `resolve`: the one step that turns a parsed config into one a sync may run with,
//! checked against the adapter that serves its type now. `dcsync check`, the API and every
//! sync call it, so a hot swap to an adapter that declares a new secret or a new required
//! field takes effect before the next call.
//!
//! It marks the adapter's declared secrets, checks required fields and the host's own
//! settings, and reports every problem at once, each naming its field.

use dcsync_contract::adapter::AdapterInfo;
use dcsync_contract::config::{ExternalSyncConfig, SyncSettings};
use std::fmt;

/// One thing wrong with a config, and the field it is about.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
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

/// Every problem found, in field order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ResolveError {
    /// The adapter type the config was checked against.
    pub adapter_type: String,
    /// The problems (at least one).
    pub problems: Vec<FieldProblem>,
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config for {:?} is not usable: ", self.adapter_type)?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A config a sync may run with.
#[derive(Clone, Debug)]
pub struct ResolvedConfig {
    /// The config, its declared secrets marked.
    pub config: ExternalSyncConfig,
    /// The host's settings from its extra fields.
    pub settings: SyncSettings,
}

/// Check `config` against the adapter described by `info`.
pub fn resolve(
    config: &ExternalSyncConfig,
    info: &AdapterInfo,
) -> Result<ResolvedConfig, ResolveError> {
    let mut config = config.clone();
    config.mark_secret(info.secret_fields());
    let mut problems = Vec::new();
    for f in &info.config_fields {
        if f.required && f.default.is_none() && config.extra(&f.name).is_none() {
            problems.push(FieldProblem {
                field: format!("extraFields.{}", f.name),
                message: format!(
                    "required by {} (add {{\"name\": \"{}\", \"value\": …}} to extraFields){}",
                    info.adapter_type,
                    f.name,
                    if f.description.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", f.description)
                    }
                ),
            });
        }
    }
    let settings = match config.settings() {
        Ok(s) => Some(s),
        Err((field, message)) => {
            problems.push(FieldProblem { field, message });
            None
        }
    };
    match settings {
        Some(settings) if problems.is_empty() => Ok(ResolvedConfig { config, settings }),
        _ => Err(ResolveError {
            adapter_type: info.adapter_type.clone(),
            problems,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dcsync_contract::adapter::FieldSpec;

    fn info(fields: Vec<FieldSpec>) -> AdapterInfo {
        AdapterInfo {
            adapter_type: "t".into(),
            name: "T".into(),
            version: "1.0.0".into(),
            capabilities: vec![],
            config_fields: fields,
        }
    }

    fn field(name: &str, required: bool, secret: bool) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            required,
            secret,
            default: None,
            description: String::new(),
        }
    }

    fn config(extra: &str) -> ExternalSyncConfig {
        ExternalSyncConfig::from_json(&format!(
            r#"{{"type": "t", "url": "https://x.example.org", "extraFields": [{extra}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn declared_secrets_are_marked() {
        let c = config(r#"{"name": "passcode", "value": "123456"}"#);
        assert!(!c.is_secret("passcode"));
        let r = resolve(&c, &info(vec![field("passcode", false, true)])).unwrap();
        assert!(r.config.is_secret("passcode"));
        assert!(!format!("{:?}", r.config).contains("123456"));
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_field() {
        let c = config(r#"{"name": "c", "value": "1"}"#);
        let err = resolve(
            &c,
            &info(vec![
                field("a", true, false),
                field("b", true, true),
                field("c", true, false),
            ]),
        )
        .unwrap_err();
        let fields: Vec<&str> = err.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["extraFields.a", "extraFields.b"]);
        assert!(
            err.to_string().contains("extraFields.a") && err.to_string().contains("extraFields.b")
        );
    }

    #[test]
    fn a_default_satisfies_a_required_field() {
        let mut f = field("a", true, false);
        f.default = Some("x".into());
        assert!(resolve(&config(""), &info(vec![f])).is_ok());
    }
}
