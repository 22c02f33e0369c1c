//! Conversions between the generated WIT types and the SDK's plain types.

use crate::bindings::datacollect::external_sync::types as wit;
use crate::bindings::exports::datacollect::external_sync::{checks, manifest};
use crate::model::*;

impl From<Placement> for manifest::Placement {
    fn from(p: Placement) -> Self {
        match p {
            Placement::Header(h) => manifest::Placement::Header(h),
            Placement::BasicAuth => manifest::Placement::BasicAuth,
            Placement::Bearer => manifest::Placement::Bearer,
            Placement::JsonBody { path, pointer } => {
                manifest::Placement::JsonBody(manifest::JsonBodyPlacement { path, pointer })
            }
        }
    }
}

impl From<SecretPlacement> for manifest::SecretPlacement {
    fn from(s: SecretPlacement) -> Self {
        manifest::SecretPlacement {
            secret: s.secret,
            placements: s.placements.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<FieldProblem> for checks::FieldProblem {
    fn from(p: FieldProblem) -> Self {
        checks::FieldProblem {
            field: p.field,
            message: p.message,
        }
    }
}

impl From<ConnectionCheck> for checks::ConnectionCheck {
    fn from(c: ConnectionCheck) -> Self {
        match c {
            ConnectionCheck::Ok(m) => checks::ConnectionCheck::Ok(m),
            ConnectionCheck::Untestable(m) => checks::ConnectionCheck::Untestable(m),
        }
    }
}

impl From<wit::SyncLevel> for SyncLevel {
    fn from(l: wit::SyncLevel) -> Self {
        match l {
            wit::SyncLevel::Local => SyncLevel::Local,
            wit::SyncLevel::Remote => SyncLevel::Remote,
            wit::SyncLevel::External => SyncLevel::External,
        }
    }
}

impl From<SyncLevel> for wit::SyncLevel {
    fn from(l: SyncLevel) -> Self {
        match l {
            SyncLevel::Local => wit::SyncLevel::Local,
            SyncLevel::Remote => wit::SyncLevel::Remote,
            SyncLevel::External => wit::SyncLevel::External,
        }
    }
}

pub(crate) fn event_from_wit(e: wit::FormSubmission) -> Result<Event, SyncError> {
    let data = Data::from_json(e.data)
        .map_err(|err| SyncError::Internal(format!("event {}: data is not JSON: {err}", e.guid)))?;
    Ok(Event {
        guid: e.guid,
        entity_guid: e.entity_guid,
        event_type: e.type_,
        data,
        timestamp: e.timestamp,
        user_id: e.user_id,
        sync_level: e.sync_level.into(),
    })
}

pub(crate) fn events_from_wit(events: Vec<wit::FormSubmission>) -> Result<Vec<Event>, SyncError> {
    events.into_iter().map(event_from_wit).collect()
}

impl From<Event> for wit::FormSubmission {
    fn from(e: Event) -> Self {
        wit::FormSubmission {
            guid: e.guid,
            entity_guid: e.entity_guid,
            type_: e.event_type,
            data: e.data.json().to_string(),
            timestamp: e.timestamp,
            user_id: e.user_id,
            sync_level: e.sync_level.into(),
        }
    }
}

impl From<wit::AdapterConfig> for Config {
    fn from(c: wit::AdapterConfig) -> Self {
        Config {
            id: c.id,
            adapter_type: c.type_,
            url: c.url,
            auth: c.auth,
            extra_fields: c
                .extra_fields
                .into_iter()
                .map(|f| (f.name, f.value))
                .collect(),
            secret_names: c.secret_names,
        }
    }
}

impl From<wit::Rejection> for Rejection {
    fn from(r: wit::Rejection) -> Self {
        Rejection {
            guid: r.guid,
            reason: r.reason,
        }
    }
}

impl From<Rejection> for wit::Rejection {
    fn from(r: Rejection) -> Self {
        wit::Rejection {
            guid: r.guid,
            reason: r.reason,
        }
    }
}

impl From<PushOutcome> for wit::PushResult {
    fn from(p: PushOutcome) -> Self {
        wit::PushResult {
            accepted: p.accepted,
            rejected: p.rejected.into_iter().map(Into::into).collect(),
            remote_ref: p.remote_ref,
        }
    }
}

impl From<PullPage> for wit::PullPage {
    fn from(p: PullPage) -> Self {
        wit::PullPage {
            events: p.events.into_iter().map(Into::into).collect(),
            next_cursor: p.next_cursor,
            has_more: p.has_more,
        }
    }
}

impl From<SyncReport> for wit::SyncReport {
    fn from(r: SyncReport) -> Self {
        wit::SyncReport {
            pushed: r.pushed,
            pulled: r.pulled,
            applied: r.applied,
            duplicates: r.duplicates,
            quarantined: r.quarantined,
            remote_refs: r.remote_refs,
        }
    }
}

impl From<SyncError> for wit::SyncError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Config(m) => wit::SyncError::Config(m),
            SyncError::Unauthorized(m) => wit::SyncError::Unauthorized(m),
            SyncError::Transient {
                retry_after_ms,
                message,
            } => wit::SyncError::Transient(wit::TransientError {
                retry_after_ms,
                message,
            }),
            SyncError::Rejected(r) => {
                wit::SyncError::Rejected(r.into_iter().map(Into::into).collect())
            }
            SyncError::Internal(m) => wit::SyncError::Internal(m),
        }
    }
}

impl From<AdapterInfo> for wit::AdapterInfo {
    fn from(i: AdapterInfo) -> Self {
        wit::AdapterInfo {
            type_: i.adapter_type,
            name: i.name,
            version: i.version,
            capabilities: i.capabilities,
            config_fields: i
                .config_fields
                .into_iter()
                .map(|f| wit::FieldSpec {
                    name: f.name,
                    required: f.required,
                    secret: f.secret,
                    default: f.default,
                    description: f.description,
                })
                .collect(),
        }
    }
}
