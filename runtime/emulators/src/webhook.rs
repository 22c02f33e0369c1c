//! A generic webhook emulator for the custom adapter: basic auth, an optional required
//! header, partial acceptance, and paged records to pull.
//!
//! - `POST /hook` `{"events": [...], "batchId"}`: 401 without valid basic auth, 400 without
//!   the required header; events whose `data.invalid` is true are refused in
//!   `{"rejected": [{guid, reason}]}`; events are stored once per guid.
//! - `GET /hook?since=<n>&limit=<n>`: `{"events": [...], "next", "hasMore"}`.

use super::faults::{Fault, FaultPlan};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub struct WebhookState {
    pub user: String,
    pub password: String,
    /// A header every request must carry, with its value.
    pub required_header: Option<(String, String)>,
    pub received: Vec<Value>,
    /// The `batchId` of every push request taken, in order.
    pub batch_ids: Vec<String>,
    guids: HashSet<String>,
    pub duplicates: u64,
    pub records: Vec<Value>,
    pub requests: u64,
    pub faults: FaultPlan,
}

#[derive(Clone, Debug)]
pub struct WebhookEmulator {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<WebhookState>>,
}

type Shared = Arc<Mutex<WebhookState>>;

impl WebhookEmulator {
    pub async fn start(
        addr: SocketAddr,
        user: &str,
        password: &str,
        required_header: Option<(&str, &str)>,
    ) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(WebhookState {
            user: user.into(),
            password: password.into(),
            required_header: required_header.map(|(n, v)| (n.to_ascii_lowercase(), v.to_string())),
            ..Default::default()
        }));
        let app = Router::new()
            .route("/hook", post(push).get(pull))
            .with_state(state.clone());
        let addr = super::spawn(addr, app).await?;
        Ok(WebhookEmulator { addr, state })
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Records the system holds, served by pull (events without a guid get a derived one).
    pub fn seed(&self, records: Vec<Value>) {
        self.state
            .lock()
            .expect("webhook state")
            .records
            .extend(records);
    }

    pub fn inject(&self, faults: Vec<Fault>) {
        self.state
            .lock()
            .expect("webhook state")
            .faults
            .inject(faults);
    }

    pub fn received(&self) -> Vec<Value> {
        self.state.lock().expect("webhook state").received.clone()
    }
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn check(s: &WebhookState, headers: &HeaderMap) -> Result<(), (StatusCode, &'static str)> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    if given.as_deref() != Some(format!("{}:{}", s.user, s.password).as_str()) {
        return Err((StatusCode::UNAUTHORIZED, "bad or missing basic auth"));
    }
    if let Some((name, value)) = &s.required_header {
        if headers.get(name.as_str()).and_then(|v| v.to_str().ok()) != Some(value.as_str()) {
            return Err((StatusCode::BAD_REQUEST, "missing required header"));
        }
    }
    Ok(())
}

/// What every request goes through: an injected fault, the count, the auth check.
async fn admit<'s>(
    state: &'s Shared,
    headers: &HeaderMap,
) -> Result<std::sync::MutexGuard<'s, WebhookState>, Response> {
    if let (_, Some(resp)) = super::fault_for(state).await {
        return Err(resp);
    }
    let mut s = state.lock().expect("webhook state");
    s.requests += 1;
    if let Err((status, message)) = check(&s, headers) {
        return Err(refuse(status, message));
    }
    Ok(s)
}

async fn push(
    State(state): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut s = match admit(&state, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let mut rejected = Vec::new();
    if let Some(id) = body["batchId"].as_str() {
        s.batch_ids.push(id.to_string());
    }
    for e in body["events"].as_array().cloned().unwrap_or_default() {
        let guid = e["guid"].as_str().unwrap_or_default().to_string();
        if e["data"]["invalid"] == json!(true) {
            rejected.push(json!({ "guid": guid, "reason": "invalid record" }));
        } else if s.guids.insert(guid) {
            s.received.push(e);
        } else {
            s.duplicates += 1;
        }
    }
    Json(json!({ "rejected": rejected })).into_response()
}

#[derive(Deserialize)]
struct PullQuery {
    since: Option<usize>,
    limit: Option<usize>,
}

async fn pull(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<PullQuery>,
) -> Response {
    let s = match admit(&state, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let start = q.since.unwrap_or(0).min(s.records.len());
    let end = (start + q.limit.unwrap_or(100).clamp(1, 1000)).min(s.records.len());
    let events = s.records[start..end].to_vec();
    let has_more = end < s.records.len();
    Json(json!({ "events": events, "next": end.to_string(), "hasMore": has_more })).into_response()
}
