//! An OpenFn Lightning emulator: a webhook trigger and Collections, answering as
//! `reference/external-systems.md` says the real ones do.
//!
//! - `POST /i/{webhook}`: 200 `{"work_order_id"}` with `x-meta-work-order-id` and
//!   `x-meta-run-id`; 401 without credentials; 404 with wrong ones or an unknown webhook;
//!   413 over the size limit (10 MB); 415 when the body is not JSON; 422 when an entity
//!   carries `"data": {"invalid": true}` (a stand-in for a workflow's validation).
//! - `GET /collections/{name}?cursor=&limit=&key=&created_after=&created_before=` with
//!   `Authorization: Bearer`: items in insertion order, an opaque cursor, `null` at the end;
//!   any other query parameter is a 400; a missing or wrong token is a 401.

use super::faults::{Fault, FaultPlan};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// OpenFn's default request body limit.
pub const MAX_BODY: usize = 10 * 1024 * 1024;

/// How the emulated instance is set up.
#[derive(Clone, Debug, Default)]
pub struct OpenFnSetup {
    pub webhook_id: String,
    /// The trigger's API key (`x-api-key`), if it has one.
    pub api_key: Option<String>,
    /// The trigger's basic-auth credentials, if it has them.
    pub basic: Option<(String, String)>,
    /// The Collections access token.
    pub collections_token: String,
}

/// One accepted webhook request.
#[derive(Clone, Debug)]
pub struct WorkOrder {
    pub id: String,
    pub run_id: String,
    pub body: Value,
    pub batch_id: Option<String>,
}

/// A collection item.
#[derive(Clone, Debug)]
pub struct Item {
    pub key: String,
    pub value: String,
    pub created: String,
    pub updated: String,
}

#[derive(Debug, Default)]
pub struct OpenFnState {
    setup: OpenFnSetup,
    pub work_orders: Vec<WorkOrder>,
    pub collections: BTreeMap<String, Vec<Item>>,
    pub faults: FaultPlan,
    pub webhook_requests: u64,
    last_time: chrono::DateTime<chrono::Utc>,
}

impl OpenFnState {
    /// A timestamp strictly after the previous one (items are ordered by it).
    fn tick(&mut self) -> String {
        let now = chrono::Utc::now().max(self.last_time + chrono::Duration::milliseconds(1));
        self.last_time = now;
        now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
}

/// A running OpenFn emulator.
#[derive(Clone, Debug)]
pub struct OpenFnEmulator {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<OpenFnState>>,
}

type Shared = Arc<Mutex<OpenFnState>>;

impl OpenFnEmulator {
    pub async fn start(addr: SocketAddr, setup: OpenFnSetup) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(OpenFnState {
            setup,
            ..Default::default()
        }));
        let app = Router::new()
            .route("/i/{webhook}", post(webhook))
            .route("/collections/{name}", get(collection))
            .layer(DefaultBodyLimit::max(4 * MAX_BODY))
            .with_state(state.clone());
        let addr = super::spawn(addr, app).await?;
        Ok(OpenFnEmulator { addr, state })
    }

    /// The webhook trigger URL.
    pub fn webhook_url(&self) -> String {
        let id = self
            .state
            .lock()
            .map(|s| s.setup.webhook_id.clone())
            .unwrap_or_default();
        format!("http://{}/i/{id}", self.addr)
    }

    /// Create or update a collection item (an update keeps its place in the order).
    pub fn put_item(&self, collection: &str, key: &str, value: &str) {
        let mut s = self.state.lock().expect("openfn state");
        let now = s.tick();
        let items = s.collections.entry(collection.to_string()).or_default();
        match items.iter_mut().find(|i| i.key == key) {
            Some(item) => {
                item.value = value.to_string();
                item.updated = now;
            }
            None => items.push(Item {
                key: key.into(),
                value: value.into(),
                created: now.clone(),
                updated: now,
            }),
        }
    }

    pub fn inject(&self, faults: Vec<Fault>) {
        self.state
            .lock()
            .expect("openfn state")
            .faults
            .inject(faults);
    }

    /// The entities received, over all work orders.
    pub fn entities(&self) -> Vec<Value> {
        let s = self.state.lock().expect("openfn state");
        s.work_orders
            .iter()
            .flat_map(|w| w.body["entities"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    pub fn work_orders(&self) -> Vec<WorkOrder> {
        self.state.lock().expect("openfn state").work_orders.clone()
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// 401 when no credentials came, 404 when they are wrong (it does not say which).
fn check_trigger_auth(setup: &OpenFnSetup, headers: &HeaderMap) -> Result<(), StatusCode> {
    if setup.api_key.is_none() && setup.basic.is_none() {
        return Ok(());
    }
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    if key.is_none() && basic.is_none() {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let key_ok = matches!((&setup.api_key, key), (Some(want), Some(got)) if want == got);
    let basic_ok =
        matches!((&setup.basic, &basic), (Some((u, p)), Some(got)) if *got == format!("{u}:{p}"));
    if key_ok || basic_ok {
        Ok(())
    } else {
        Err(StatusCode::NOT_FOUND)
    }
}

async fn webhook(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let (_, Some(resp)) = super::fault_for(&state).await {
        return resp;
    }
    let mut s = state.lock().expect("openfn state");
    s.webhook_requests += 1;
    if id != s.setup.webhook_id {
        return error(StatusCode::NOT_FOUND, "Not Found");
    }
    if let Err(status) = check_trigger_auth(&s.setup, &headers) {
        let message = if status == StatusCode::UNAUTHORIZED {
            "Unauthorized"
        } else {
            "Not Found"
        };
        return error(status, message);
    }
    if body.len() > MAX_BODY {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large");
    }
    let Ok(parsed) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "body is not JSON");
    };
    let entities = parsed["entities"].as_array().cloned().unwrap_or_default();
    if let Some(bad) = entities
        .iter()
        .find(|e| e["data"]["invalid"] == json!(true))
    {
        let msg = format!(
            "entity {} failed validation",
            bad["guid"].as_str().unwrap_or("?")
        );
        return error(StatusCode::UNPROCESSABLE_ENTITY, &msg);
    }
    let order = WorkOrder {
        id: uuid::Uuid::new_v4().to_string(),
        run_id: uuid::Uuid::new_v4().to_string(),
        batch_id: headers
            .get("x-batch-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: parsed,
    };
    let resp = (
        StatusCode::OK,
        [
            ("x-meta-work-order-id", order.id.clone()),
            ("x-meta-run-id", order.run_id.clone()),
        ],
        Json(json!({ "work_order_id": order.id })),
    )
        .into_response();
    s.work_orders.push(order);
    resp
}

async fn collection(
    State(state): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let (_, Some(resp)) = super::fault_for(&state).await {
        return resp;
    }
    let s = state.lock().expect("openfn state");
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if token != Some(s.setup.collections_token.as_str()) {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    if let Some(k) = q.keys().find(|k| {
        !["cursor", "limit", "key", "created_after", "created_before"].contains(&k.as_str())
    }) {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("unknown query parameter {k}"),
        );
    }
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(50)
        .clamp(1, 1000);
    let start = match q.get("cursor").filter(|c| !c.is_empty()) {
        None => 0,
        Some(c) => match base64::engine::general_purpose::STANDARD
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|t| t.parse::<usize>().ok())
        {
            Some(n) => n,
            None => return error(StatusCode::BAD_REQUEST, "invalid cursor"),
        },
    };
    let items = s.collections.get(&name).cloned().unwrap_or_default();
    let matching: Vec<(usize, Item)> = items
        .into_iter()
        .enumerate()
        .filter(|(_, i)| q.get("key").is_none_or(|k| *k == i.key))
        .filter(|(_, i)| {
            q.get("created_after")
                .is_none_or(|t| i.created.as_str() > t.as_str())
        })
        .filter(|(_, i)| {
            q.get("created_before")
                .is_none_or(|t| i.created.as_str() < t.as_str())
        })
        .filter(|(n, _)| *n >= start)
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .take(limit)
        .map(|(_, i)| json!({ "key": i.key, "value": i.value, "created": i.created, "updated": i.updated }))
        .collect();
    let cursor = matching
        .get(limit)
        .map(|(n, _)| base64::engine::general_purpose::STANDARD.encode(n.to_string()));
    Json(json!({ "items": page, "cursor": cursor })).into_response()
}
