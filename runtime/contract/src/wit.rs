//! The WIT edge: host bindings generated from `wit/`, and the conversions between them and
//! the internal model. One bindings module serves every 1.x adapter, since wasmtime links
//! semver-compatible interface versions; a 2.0 contract would add a module here and
//! convert into the same model, and nothing above this module would change.

use crate::adapter::{
    AdapterConfigView, AdapterError, AdapterEvent, AdapterInfo, Capability, ConnectionCheck,
    CustomSyncReport, FieldProblem, FieldSpec, Manifest, Placement, PullPage, PushResult,
    Rejection,
};
use crate::model::{FormSubmission, SyncLevel};
use crate::text::neutralise;

#[allow(missing_docs)]
mod v1 {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "adapter-world",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

pub use v1::datacollect::external_sync::{event_applier, event_store, http, log, run_state, types};
pub use v1::exports::datacollect::external_sync::{adapter, checks, encoded_push, manifest};
pub use v1::AdapterWorld;

/// The oldest and newest contract versions this host serves (any 1.x up to its own).
pub const MIN_VERSION: (u64, u64) = (1, 0);
/// See [`MIN_VERSION`].
pub const MAX_VERSION: (u64, u64) = (1, 2);

impl From<SyncLevel> for types::SyncLevel {
    fn from(l: SyncLevel) -> Self {
        match l {
            SyncLevel::Local => types::SyncLevel::Local,
            SyncLevel::Remote => types::SyncLevel::Remote,
            SyncLevel::External => types::SyncLevel::External,
        }
    }
}

impl From<&FormSubmission> for types::FormSubmission {
    fn from(e: &FormSubmission) -> Self {
        types::FormSubmission {
            guid: e.guid.clone(),
            entity_guid: e.entity_guid.clone(),
            type_: e.event_type.clone(),
            data: e.data.to_string(),
            timestamp: e.timestamp.clone(),
            user_id: e.user_id.clone(),
            sync_level: e.sync_level.into(),
        }
    }
}

impl From<types::FormSubmission> for AdapterEvent {
    fn from(e: types::FormSubmission) -> Self {
        // Identifiers end up in quarantine listings and error texts on an operator's
        // terminal: no escape sequence survives them. (`data` is JSON, escaped when shown.)
        AdapterEvent {
            guid: neutralise(&e.guid),
            entity_guid: neutralise(&e.entity_guid),
            event_type: neutralise(&e.type_),
            data: e.data,
            timestamp: neutralise(&e.timestamp),
            user_id: neutralise(&e.user_id),
        }
    }
}

impl From<types::Rejection> for Rejection {
    fn from(r: types::Rejection) -> Self {
        Rejection {
            guid: neutralise(&r.guid),
            reason: neutralise(&r.reason),
        }
    }
}

impl From<types::FieldSpec> for FieldSpec {
    fn from(f: types::FieldSpec) -> Self {
        FieldSpec {
            name: neutralise(&f.name),
            required: f.required,
            secret: f.secret,
            default: f.default.as_deref().map(neutralise),
            description: neutralise(&f.description),
        }
    }
}

impl From<types::AdapterInfo> for AdapterInfo {
    fn from(i: types::AdapterInfo) -> Self {
        AdapterInfo {
            adapter_type: neutralise(&i.type_),
            name: neutralise(&i.name),
            version: neutralise(&i.version),
            capabilities: i
                .capabilities
                .iter()
                .map(|c| Capability::parse(&neutralise(c)))
                .collect(),
            config_fields: i.config_fields.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<&AdapterConfigView> for types::AdapterConfig {
    fn from(c: &AdapterConfigView) -> Self {
        types::AdapterConfig {
            id: c.id.clone(),
            type_: c.adapter_type.clone(),
            url: c.url.clone(),
            auth: c.auth.clone(),
            extra_fields: c
                .extra_fields
                .iter()
                .map(|(name, value)| types::ExtraField {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            secret_names: c.secret_names.clone(),
        }
    }
}

impl From<types::SyncError> for AdapterError {
    fn from(e: types::SyncError) -> Self {
        match e {
            types::SyncError::Config(m) => AdapterError::Config(neutralise(&m)),
            types::SyncError::Unauthorized(m) => AdapterError::Unauthorized(neutralise(&m)),
            types::SyncError::Transient(t) => AdapterError::Transient {
                retry_after_ms: t.retry_after_ms,
                message: neutralise(&t.message),
            },
            types::SyncError::Rejected(r) => {
                AdapterError::Rejected(r.into_iter().map(Into::into).collect())
            }
            types::SyncError::Internal(m) => AdapterError::Internal(neutralise(&m)),
        }
    }
}

impl From<types::PushResult> for PushResult {
    fn from(r: types::PushResult) -> Self {
        PushResult {
            accepted: r.accepted,
            rejected: r.rejected.into_iter().map(Into::into).collect(),
            remote_ref: r.remote_ref.as_deref().map(neutralise),
        }
    }
}

impl From<types::PullPage> for PullPage {
    fn from(p: types::PullPage) -> Self {
        PullPage {
            events: p.events.into_iter().map(Into::into).collect(),
            next_cursor: p.next_cursor,
            has_more: p.has_more,
        }
    }
}

impl From<types::SyncReport> for CustomSyncReport {
    fn from(r: types::SyncReport) -> Self {
        CustomSyncReport {
            pushed: r.pushed,
            pulled: r.pulled,
            applied: r.applied,
            duplicates: r.duplicates,
            quarantined: r.quarantined,
            remote_refs: r.remote_refs.iter().map(|s| neutralise(s)).collect(),
        }
    }
}

impl From<manifest::Placement> for Placement {
    fn from(p: manifest::Placement) -> Self {
        match p {
            // Shown by `dcsync check` and `dcsync adapters`: no escape sequence may hide
            // the approval warning printed after them.
            manifest::Placement::Header(name) => Placement::Header {
                name: neutralise(&name.to_ascii_lowercase()),
            },
            manifest::Placement::BasicAuth => Placement::BasicAuth,
            manifest::Placement::Bearer => Placement::Bearer,
            manifest::Placement::JsonBody(b) => Placement::JsonBody {
                path: neutralise(&b.path),
                pointer: neutralise(&b.pointer),
            },
        }
    }
}

impl From<Vec<manifest::SecretPlacement>> for Manifest {
    fn from(list: Vec<manifest::SecretPlacement>) -> Self {
        let mut m = Manifest::default();
        for s in list {
            m.placements
                .entry(neutralise(&s.secret))
                .or_default()
                .extend(s.placements.into_iter().map(Placement::from));
        }
        m
    }
}

impl From<checks::FieldProblem> for FieldProblem {
    fn from(p: checks::FieldProblem) -> Self {
        FieldProblem {
            field: neutralise(&p.field),
            message: neutralise(&p.message),
        }
    }
}

impl From<checks::ConnectionCheck> for ConnectionCheck {
    fn from(c: checks::ConnectionCheck) -> Self {
        match c {
            checks::ConnectionCheck::Ok(m) => ConnectionCheck::Ok(neutralise(&m)),
            checks::ConnectionCheck::Untestable(m) => ConnectionCheck::Untestable(neutralise(&m)),
        }
    }
}
