//! The HTTP API handlers. Configs are validated exactly like `dcsync check`: the
//! DataCollect format first, then the fields the adapter declares; an invalid one gets a
//! 422 naming the field, and nothing is stored.

use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::ServerState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use datacollect_sync::config::{ConfigError, Credentials, ExternalSyncConfig};
use datacollect_sync::resolve::FieldProblem;
use datacollect_sync::status::{adapter_entries, config_status, run_quarantine, AdapterEntry};
use datacollect_sync::store::{blocking, RunRecord, StoreError};
use datacollect_sync::{EventApplier, SyncError, SyncService};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

type AppState = State<Arc<ServerState>>;

/// An error answer: the status, the message, the field it is about (the first, when
/// there are several), and every problem of a config, field by field.
struct Problem {
    status: StatusCode,
    error: String,
    field: Option<String>,
    problems: Vec<FieldProblem>,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.error, "field": self.field });
        if !self.problems.is_empty() {
            body["problems"] = json!(self.problems);
        }
        (self.status, Json(body)).into_response()
    }
}

fn invalid(error: impl ToString, field: Option<&str>) -> Problem {
    Problem {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        error: error.to_string(),
        field: field.map(str::to_string),
        problems: Vec::new(),
    }
}

pub(super) fn problem(status: StatusCode, error: impl ToString, field: Option<&str>) -> Response {
    Problem {
        status,
        error: error.to_string(),
        field: field.map(str::to_string),
        problems: Vec::new(),
    }
    .into_response()
}

fn store_problem(e: StoreError) -> Response {
    match e {
        StoreError::AlreadyRunning(id) => problem(
            StatusCode::CONFLICT,
            format!("a sync of {id:?} is already running; wait for it to finish (GET /api/runs?configId=…) and ask again"),
            Some("configId"),
        ),
        StoreError::Invalid(_) => problem(StatusCode::UNPROCESSABLE_ENTITY, e, None),
        _ => problem(StatusCode::INTERNAL_SERVER_ERROR, e, None),
    }
}

fn refusal(status: StatusCode, error: impl ToString, field: Option<&str>) -> Problem {
    Problem {
        status,
        ..invalid(error, field)
    }
}

/// The service that answers about `config`: the server's one service, or (one tenant per
/// config) its tenant's.
fn service_of(
    state: &ServerState,
    config: &ExternalSyncConfig,
) -> Result<Arc<SyncService>, Problem> {
    let Some(tenants) = &state.tenants else {
        return Ok(state.service.clone());
    };
    if let Err(e) = tenants.location_of(&config.id) {
        return Err(invalid(e, Some("configId")));
    }
    tenants
        .service(config)
        .map_err(|e| refusal(StatusCode::SERVICE_UNAVAILABLE, e, None))
}

/// The service that answers a request about runs or quarantine of the config `config_id`:
/// with one store, the server's (any config, or none); with one tenant per config, the
/// tenant of the config named, which must be (run and quarantine ids are per tenant).
fn service_for(state: &ServerState, config_id: Option<&str>) -> Result<Arc<SyncService>, Problem> {
    if state.tenants.is_none() {
        return Ok(state.service.clone());
    }
    let Some(id) = config_id else {
        return Err(invalid(
            "configId is required: this server serves one tenant per config (a postgres:// store without ?tenant=), and run and quarantine ids are per tenant; name the config (configId=…)",
            Some("configId"),
        ));
    };
    let Some(config) = state.configs.get(id) else {
        return Err(refusal(
            StatusCode::NOT_FOUND,
            format!("no config {id:?}"),
            Some("configId"),
        ));
    };
    service_of(state, &config)
}

/// Parse and check a config as `dcsync check` does; the 422 names the field.
async fn validate(state: &ServerState, body: &Value) -> Result<ExternalSyncConfig, Problem> {
    let mut config = ExternalSyncConfig::from_value(body).map_err(|e| {
        let field = match &e {
            ConfigError::Missing(f) => Some(f.to_string()),
            ConfigError::Invalid { field, .. } => {
                Some(field.trim_start_matches("externalSync.").to_string())
            }
            _ => None,
        };
        invalid(&e, field.as_deref())
    })?;
    match state.service.check(&config).await {
        Ok(resolved) => config = resolved.config,
        Err(e) => {
            let problems = e.problems();
            let field = problems.first().map(|p| p.field.clone());
            return Err(Problem {
                problems,
                ..invalid(&e, field.as_deref())
            });
        }
    }
    Ok(config)
}

/// A config as the API shows it: secrets masked (by name, as stored, and as the adapter
/// serving it now declares), with its sync state.
async fn summary(state: &ServerState, config: &ExternalSyncConfig) -> Value {
    let mut config = config.clone();
    if let Some(adapter) = state.service.registry.get(&config.adapter_type) {
        config.mark_secret(adapter.info.secret_fields());
    }
    // A store that cannot answer (a tenant's that cannot open) leaves the sync state empty.
    let mut status = None;
    if let Ok(service) = service_of(state, &config) {
        let id = config.id.clone();
        if let Ok(names) =
            blocking(&service.store, move |s| s.remember_secret_names(&id, &[])).await
        {
            config.mark_secret(names.iter().map(String::as_str));
        }
        let id = config.id.clone();
        status = blocking(&service.store, move |s| config_status(s, &id))
            .await
            .ok();
    }
    let (pending, quarantined, last_run, held) = match status {
        Some(s) => (s.pending, s.quarantined, s.last_run, s.held),
        None => (0, 0, None, None),
    };
    json!({ "config": config.to_json(true), "pending": pending, "quarantined": quarantined,
            "lastRun": last_run, "held": held })
}

pub async fn list_configs(State(state): AppState) -> Response {
    let mut out = Vec::new();
    for c in state.configs.list() {
        out.push(summary(&state, &c).await);
    }
    Json(out).into_response()
}

pub async fn create_config(State(state): AppState, ApiJson(body): ApiJson<Value>) -> Response {
    let config = match validate(&state, &body).await {
        Ok(c) => c,
        Err(p) => return p.into_response(),
    };
    if let Some(Err(e)) = state.tenants.as_ref().map(|t| t.location_of(&config.id)) {
        return problem(StatusCode::UNPROCESSABLE_ENTITY, e, Some("id"));
    }
    if state.configs.get(&config.id).is_some() {
        return problem(
            StatusCode::CONFLICT,
            format!("a config with id {:?} exists; PUT to change it", config.id),
            Some("id"),
        );
    }
    if let Err(e) = state.configs.put(&config) {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, e, None);
    }
    (StatusCode::CREATED, Json(summary(&state, &config).await)).into_response()
}

pub async fn get_config(State(state): AppState, ApiPath(id): ApiPath<String>) -> Response {
    match state.configs.get(&id) {
        Some(c) => Json(summary(&state, &c).await).into_response(),
        None => problem(StatusCode::NOT_FOUND, format!("no config {id:?}"), None),
    }
}

pub async fn update_config(
    State(state): AppState,
    ApiPath(id): ApiPath<String>,
    ApiJson(mut body): ApiJson<Value>,
) -> Response {
    let Some(previous) = state.configs.get(&id) else {
        return problem(StatusCode::NOT_FOUND, format!("no config {id:?}"), None);
    };
    // A config placed in the directory under an id that names no tenant (made for SQLite,
    // say) is refused here as on create, not saved to sync nowhere.
    if let Some(Err(e)) = state.tenants.as_ref().map(|t| t.location_of(&id)) {
        return problem(StatusCode::UNPROCESSABLE_ENTITY, e, Some("id"));
    }
    let target = if body.get("externalSync").is_some() {
        &mut body["externalSync"]
    } else {
        &mut body
    };
    match target.get("id") {
        Some(given) if given != &json!(id) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the id cannot change",
                Some("id"),
            )
        }
        // A body that is not an object is the validation's to refuse (422), not a panic
        // (found by the API fuzz target).
        _ => {
            if let Some(o) = target.as_object_mut() {
                o.insert("id".into(), json!(id));
            }
        }
    }
    let mut config = match validate(&state, &body).await {
        Ok(c) => c,
        Err(p) => return p.into_response(),
    };
    if let Err(e) = config.keep_secrets_from(&previous) {
        let field = match &e {
            ConfigError::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        };
        return invalid(&e, field.as_deref()).into_response();
    }
    if let Err(e) = state.configs.put(&config) {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, e, None);
    }
    Json(summary(&state, &config).await).into_response()
}

pub async fn delete_config(State(state): AppState, ApiPath(id): ApiPath<String>) -> Response {
    match state.configs.delete(&id) {
        Ok(true) => {
            if let Some(tenants) = &state.tenants {
                tenants.forget(&id); // its tenant's connection pool closes with it
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => problem(StatusCode::NOT_FOUND, format!("no config {id:?}"), None),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, e, None),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRequest {
    config_id: String,
    credentials: Option<CredentialsBody>,
}

#[derive(Deserialize)]
pub struct CredentialsBody {
    username: String,
    password: String,
}

/// `POST /api/sync/external` (the original sync server's endpoint): starts a run and
/// answers at once with its id; 409 while the config is already syncing.
pub async fn sync(State(state): AppState, ApiJson(req): ApiJson<SyncRequest>) -> Response {
    let Some(config) = state.configs.get(&req.config_id) else {
        return problem(
            StatusCode::NOT_FOUND,
            format!("no config {:?}", req.config_id),
            Some("configId"),
        );
    };
    let service = match service_of(&state, &config) {
        Ok(s) => s,
        Err(p) => return p.into_response(),
    };
    let manager = match service.initialized_manager(config).await {
        Ok(m) if m.is_initialized() => m,
        Ok(_) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                SyncError::NotInitialized,
                Some("type"),
            )
        }
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, e, None),
    };
    let credentials = req
        .credentials
        .map(|c| Credentials::new(c.username, c.password));
    match manager.spawn_synchronize(credentials).await {
        Ok((run_id, _)) => (
            StatusCode::ACCEPTED,
            Json(json!({ "runId": run_id, "status": "running" })),
        )
            .into_response(),
        Err(SyncError::Store(e)) => store_problem(e),
        Err(e @ SyncError::Held { .. }) => problem(StatusCode::LOCKED, e, None),
        Err(e) => problem(StatusCode::UNPROCESSABLE_ENTITY, e, None),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunsQuery {
    config_id: Option<String>,
    limit: Option<u32>,
}

pub async fn runs(State(state): AppState, ApiQuery(q): ApiQuery<RunsQuery>) -> Response {
    let limit = q.limit.unwrap_or(50).min(1000);
    let service = match service_for(&state, q.config_id.as_deref()) {
        Ok(s) => s,
        Err(p) => return p.into_response(),
    };
    match blocking(&service.store, move |s| {
        s.runs(q.config_id.as_deref(), limit)
    })
    .await
    {
        Ok(r) => Json(r).into_response(),
        Err(e) => store_problem(e),
    }
}

/// `?configId=`: which config's tenant a run or quarantine request is about (required with
/// one tenant per config; with one store, a run is found by its id alone, as ever).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigQuery {
    config_id: Option<String>,
}

/// The run `id` of the service, or none; with one tenant per config, none unless it is a
/// run of the config named.
fn run_of(per_tenant: bool, config_id: Option<&str>, run: Option<RunRecord>) -> Option<RunRecord> {
    run.filter(|r| !per_tenant || config_id == Some(r.config_id.as_str()))
}

pub async fn run(
    State(state): AppState,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ConfigQuery>,
) -> Response {
    let service = match service_for(&state, q.config_id.as_deref()) {
        Ok(s) => s,
        Err(p) => return p.into_response(),
    };
    match blocking(&service.store, move |s| s.run(id)).await {
        Ok(r) => match run_of(state.tenants.is_some(), q.config_id.as_deref(), r) {
            Some(r) => Json(r).into_response(),
            None => problem(StatusCode::NOT_FOUND, format!("no run {id}"), None),
        },
        Err(e) => store_problem(e),
    }
}

/// `POST /api/configs/{id}/release`: lift the host's hold (an answer held a secret).
pub async fn release_config(State(state): AppState, ApiPath(id): ApiPath<String>) -> Response {
    let Some(config) = state.configs.get(&id) else {
        return problem(StatusCode::NOT_FOUND, format!("no config {id:?}"), None);
    };
    let service = match service_of(&state, &config) {
        Ok(s) => s,
        Err(p) => return p.into_response(),
    };
    match blocking(&service.store, move |s| s.release_config(&id)).await {
        Ok(released) => Json(json!({ "released": released })).into_response(),
        Err(e) => store_problem(e),
    }
}

/// `GET /api/runs/{id}/quarantine`: the open quarantine entries the run produced.
pub async fn run_quarantined(
    State(state): AppState,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ConfigQuery>,
) -> Response {
    let service = match service_for(&state, q.config_id.as_deref()) {
        Ok(s) => s,
        Err(p) => return p.into_response(),
    };
    let per_tenant = state.tenants.is_some();
    let found = blocking(&service.store, move |s| {
        match run_of(per_tenant, q.config_id.as_deref(), s.run(id)?) {
            Some(run) => run_quarantine(s, &run).map(Some),
            None => Ok(None),
        }
    })
    .await;
    match found {
        Ok(Some(q)) => Json(q).into_response(),
        Ok(None) => problem(StatusCode::NOT_FOUND, format!("no run {id}"), None),
        Err(e) => store_problem(e),
    }
}

/// `GET /api/quarantine[?configId=]`: open entries, of one config (and the local events
/// that could not be applied, which belong to none) or of all.
pub async fn quarantine(State(state): AppState, ApiQuery(q): ApiQuery<ConfigQuery>) -> Response {
    let service = match service_for(&state, q.config_id.as_deref()) {
        Ok(s) => s,
        Err(p) => return p.into_response(),
    };
    match blocking(&service.store, move |s| {
        s.quarantine(q.config_id.as_deref())
    })
    .await
    {
        Ok(q) => Json(q).into_response(),
        Err(e) => store_problem(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryRequest {
    ids: Option<Vec<i64>>,
    /// Whose tenant (required with one tenant per config, where every open entry of the
    /// tenant is retried without `ids`).
    config_id: Option<String>,
}

/// `POST /api/quarantine/retry {"ids"?, "configId"?}`.
pub async fn retry_quarantine(
    State(state): AppState,
    ApiJson(req): ApiJson<RetryRequest>,
) -> Response {
    let service = match service_for(&state, req.config_id.as_deref()) {
        Ok(s) => s,
        Err(p) => return p.into_response(),
    };
    // With one store every open entry is retried without `ids`, as ever; with a tenant per
    // config, the config's own (and its tenant's local ones), and given `ids` only among them.
    let only = req.config_id.filter(|_| state.tenants.is_some());
    let result = blocking(&service.store, move |s| {
        let own = || -> Result<Vec<i64>, StoreError> {
            Ok(s.quarantine(only.as_deref())?
                .iter()
                .map(|q| q.id)
                .collect())
        };
        let ids = match req.ids {
            Some(ids) if only.is_some() => {
                let own = own()?;
                ids.into_iter().filter(|i| own.contains(i)).collect()
            }
            Some(ids) => ids,
            None => own()?,
        };
        s.retry_quarantined(&ids, &EventApplier::new())
    })
    .await;
    match result {
        Ok(n) => Json(json!({ "requeued": n })).into_response(),
        Err(e) => store_problem(e),
    }
}

pub async fn adapters(State(state): AppState) -> Response {
    let loaded: Vec<AdapterEntry> = adapter_entries(&state.service.registry)
        .into_iter()
        .filter(|e| matches!(e, AdapterEntry::Loaded { .. }))
        .collect();
    Json(loaded).into_response()
}
