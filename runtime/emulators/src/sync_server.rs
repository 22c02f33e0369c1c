//! The mock sync server: an in-memory external system for demos and tests.
//!
//! - `POST /mock-sync` `{"data": [events…]}`: stores events idempotently by guid; answers
//!   `{"received", "duplicates", "rejected": [{guid, reason}]}`.
//! - `GET /mock-sync?since=<cursor>&limit=<n>`: pages of the external records it holds
//!   (seeded, never the pushed ones): `{"data", "nextCursor", "hasMore"}`.
//! - Started with [`MockSyncServer::start_original`], it answers as the servers built for
//!   the original DataCollect adapter do (idpass-data-collect@5478720,
//!   `MockSyncServerAdapter`): a push gets a bare `200 ok`, and `GET ?since=<timestamp>`
//!   answers one bare JSON array of every record `{id, timestamp, …fields}` whose
//!   timestamp sorts after `since` (compared as strings, as the original did).
//! - `POST /mock-sync/seed` `{"records": [{entityGuid, type?, data, timestamp?, guid?}…]}`.
//! - `GET /mock-sync/received`: what was pushed, with request counts and batch ids.
//! - `POST /mock-sync/faults` `{status?, retryAfter?, delayMs?, malformed?, drop?, rejectGuids?, times?}`
//!   (one fault, or an array of them): faults for the next requests, in order;
//!   `DELETE /mock-sync/faults` clears the queue and the latency.
//! - `DELETE /mock-sync/received`: forgets what was pushed and resets every counter.
//! - `POST /mock-sync/echo[?transform=T]`, `POST|GET /mock-sync/stash`: a server that
//!   leaks what it was sent, in many encodings (see [`crate::leaky`]).
//! - `GET /mock-sync/redirect?to=URL`: a 302 to URL.

use super::faults::{Fault, FaultPlan};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// Everything the mock server holds.
#[derive(Debug, Default)]
pub struct MockState {
    pub received: Vec<Value>,
    received_guids: HashSet<String>,
    pub push_requests: u64,
    pub duplicates: u64,
    pub batch_ids: Vec<String>,
    pub external: Vec<Value>,
    pub pull_requests: u64,
    /// Every request the server answered, on any path.
    pub requests: u64,
    /// The `x-api-key` header of each push, as received.
    pub api_keys: Vec<String>,
    /// Answer in the original adapter's shapes (bare arrays, no paging).
    pub original_shape: bool,
    pub faults: FaultPlan,
}

/// A running mock sync server.
#[derive(Clone, Debug)]
pub struct MockSyncServer {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<MockState>>,
}

impl MockSyncServer {
    /// Start on `addr` (port 0: any free port) in the current tokio runtime.
    pub async fn start(addr: SocketAddr) -> std::io::Result<Self> {
        Self::start_with(addr, MockState::default()).await
    }

    /// A server built for the original DataCollect adapter (see the module docs).
    pub async fn start_original(addr: SocketAddr) -> std::io::Result<Self> {
        Self::start_with(
            addr,
            MockState {
                original_shape: true,
                ..Default::default()
            },
        )
        .await
    }

    async fn start_with(addr: SocketAddr, state: MockState) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(state));
        let app = Router::new()
            .route("/mock-sync", post(push).get(pull))
            .route("/mock-sync/seed", post(seed))
            .route("/mock-sync/received", get(received).delete(clear_received))
            .route("/mock-sync/faults", post(faults).delete(clear_faults))
            .route("/mock-sync/echo", post(super::leaky::echo))
            .route("/mock-sync/redirect", get(redirect))
            .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
            .with_state(state.clone())
            .merge(
                Router::new()
                    .route(
                        "/mock-sync/stash",
                        post(super::leaky::stash_put).get(super::leaky::stash_get),
                    )
                    .with_state(super::leaky::Stash::default()),
            )
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                count_request,
            ));
        let addr = super::spawn(addr, app).await?;
        Ok(MockSyncServer { addr, state })
    }

    /// The URL to put in a config.
    pub fn url(&self) -> String {
        format!("http://{}/mock-sync", self.addr)
    }

    /// Add external records, served by pull.
    pub fn seed(&self, records: Vec<Value>) {
        if let Ok(mut s) = self.state.lock() {
            s.external.extend(records.into_iter().map(normalize_record));
        }
    }

    /// Queue faults for the next requests.
    pub fn inject(&self, faults: Vec<Fault>) {
        if let Ok(mut s) = self.state.lock() {
            s.faults.inject(faults);
        }
    }

    /// Make every push and pull answer `ms` milliseconds late.
    pub fn set_latency(&self, ms: u64) {
        if let Ok(mut s) = self.state.lock() {
            s.faults.latency_ms = ms;
        }
    }

    /// Faults queued and not yet used.
    pub fn pending_faults(&self) -> usize {
        self.state.lock().map(|s| s.faults.pending()).unwrap_or(0)
    }

    /// Every request answered so far, on any path.
    pub fn requests(&self) -> u64 {
        self.state.lock().map(|s| s.requests).unwrap_or(0)
    }

    /// A snapshot: (events received, push requests, duplicates).
    pub fn received(&self) -> (Vec<Value>, u64, u64) {
        let s = self.state.lock().expect("mock state");
        (s.received.clone(), s.push_requests, s.duplicates)
    }
}

fn normalize_record(mut r: Value) -> Value {
    if let Some(o) = r.as_object_mut() {
        o.entry("type")
            .or_insert_with(|| json!("upsert-external-entity"));
        o.entry("timestamp").or_insert_with(|| {
            json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        });
        o.entry("userId")
            .or_insert_with(|| json!("mock-sync-server"));
        o.entry("syncLevel").or_insert_with(|| json!(2));
        o.entry("data").or_insert_with(|| json!({}));
    }
    r
}

type Shared = Arc<Mutex<MockState>>;

/// Count every request, whatever its path.
async fn count_request(
    State(state): State<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Ok(mut s) = state.lock() {
        s.requests += 1;
    }
    next.run(req).await
}

/// Take the next fault and apply its delay; the response it dictates, if any.
async fn apply_fault(state: &Shared) -> (Option<Fault>, Option<Response>) {
    super::fault_for(state).await
}

async fn push(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let (fault, resp) = apply_fault(&state).await;
    if let Some(resp) = resp {
        return resp;
    }
    let Some(Json(body)) = body else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "body must be JSON {\"data\": [...]}"})),
        )
            .into_response();
    };
    let Some(events) = body.get("data").and_then(Value::as_array) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "missing data array"})),
        )
            .into_response();
    };
    let reject: HashSet<String> = fault
        .map(|f| f.reject_guids.into_iter().collect())
        .unwrap_or_default();
    let mut s = state.lock().expect("mock state");
    s.push_requests += 1;
    if let Some(id) = headers.get("x-batch-id").and_then(|v| v.to_str().ok()) {
        s.batch_ids.push(id.to_string());
    }
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        s.api_keys.push(key.to_string());
    }
    let (mut received, mut duplicates, mut rejected) = (0, 0, Vec::new());
    for e in events {
        let guid = e
            .get("guid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if reject.contains(&guid) {
            rejected.push(json!({"guid": guid, "reason": "rejected by mock server (injected)"}));
        } else if guid.is_empty() {
            rejected.push(json!({"guid": guid, "reason": "event has no guid"}));
        } else if s.received_guids.insert(guid) {
            s.received.push(e.clone());
            received += 1;
        } else {
            duplicates += 1;
        }
    }
    s.duplicates += duplicates;
    if s.original_shape {
        return "ok".into_response();
    }
    Json(json!({"received": received, "duplicates": duplicates, "rejected": rejected}))
        .into_response()
}

/// The original adapter's pull: every record after `since`, as one bare array of
/// `{id, timestamp, …data}`.
fn original_pull(s: &MockState, since: &str) -> Response {
    let records: Vec<Value> = s
        .external
        .iter()
        .filter(|r| r["timestamp"].as_str().unwrap_or_default() > since)
        .map(|r| {
            let mut flat = r["data"].as_object().cloned().unwrap_or_default();
            flat.insert("id".into(), r["entityGuid"].clone());
            flat.insert("timestamp".into(), r["timestamp"].clone());
            Value::Object(flat)
        })
        .collect();
    Json(records).into_response()
}

#[derive(Deserialize)]
struct PullQuery {
    since: Option<String>,
    limit: Option<usize>,
}

async fn pull(State(state): State<Shared>, Query(q): Query<PullQuery>) -> Response {
    if let (_, Some(resp)) = apply_fault(&state).await {
        return resp;
    }
    if state.lock().is_ok_and(|s| s.original_shape) {
        let mut s = state.lock().expect("mock state");
        s.pull_requests += 1;
        return original_pull(&s, q.since.as_deref().unwrap_or_default());
    }
    // The original adapter sends `since=` (empty) on its first pull.
    let start = match q
        .since
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::parse::<usize>)
    {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "since must be a cursor from a previous page"})),
            )
                .into_response()
        }
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let mut s = state.lock().expect("mock state");
    s.pull_requests += 1;
    let end = (start + limit).min(s.external.len());
    let data: Vec<Value> = s
        .external
        .get(start..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let has_more = end < s.external.len();
    Json(json!({"data": data, "nextCursor": end.max(start).to_string(), "hasMore": has_more}))
        .into_response()
}

async fn seed(State(state): State<Shared>, Json(body): Json<Value>) -> Response {
    let records = match body {
        Value::Array(r) => r,
        Value::Object(mut o) => match o.remove("records") {
            Some(Value::Array(r)) => r,
            _ => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": "send {\"records\": [...]}"})),
                )
                    .into_response()
            }
        },
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "send {\"records\": [...]}"})),
            )
                .into_response()
        }
    };
    if let Some(bad) = records
        .iter()
        .position(|r| r.get("entityGuid").and_then(Value::as_str).is_none())
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("records[{bad}] needs an entityGuid")})),
        )
            .into_response();
    }
    let n = records.len();
    let mut s = state.lock().expect("mock state");
    s.external.extend(records.into_iter().map(normalize_record));
    Json(json!({"seeded": n, "total": s.external.len()})).into_response()
}

async fn received(State(state): State<Shared>) -> Response {
    let s = state.lock().expect("mock state");
    Json(json!({
        "events": s.received,
        "pushRequests": s.push_requests,
        "duplicates": s.duplicates,
        "batchIds": s.batch_ids,
        "pullRequests": s.pull_requests,
    }))
    .into_response()
}

#[derive(Deserialize)]
struct RedirectQuery {
    to: String,
}

/// A 302 to wherever `to` says: a server trying to bounce a client elsewhere.
async fn redirect(Query(q): Query<RedirectQuery>) -> Response {
    (StatusCode::FOUND, [("location", q.to)]).into_response()
}

/// One fault or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Faults {
    One(Fault),
    Many(Vec<Fault>),
}

async fn clear_faults(State(state): State<Shared>) -> Response {
    let mut s = state.lock().expect("mock state");
    s.faults = FaultPlan::default();
    Json(json!({"queued": 0})).into_response()
}

async fn clear_received(State(state): State<Shared>) -> Response {
    let mut s = state.lock().expect("mock state");
    s.received.clear();
    s.received_guids.clear();
    s.batch_ids.clear();
    s.api_keys.clear();
    (s.push_requests, s.pull_requests, s.duplicates, s.requests) = (0, 0, 0, 0);
    Json(json!({"cleared": true})).into_response()
}

async fn faults(State(state): State<Shared>, Json(list): Json<Faults>) -> Response {
    let list = match list {
        Faults::One(f) => vec![f],
        Faults::Many(l) => l,
    };
    let n = list.len();
    state.lock().expect("mock state").faults.inject(list);
    Json(json!({"queued": n})).into_response()
}
