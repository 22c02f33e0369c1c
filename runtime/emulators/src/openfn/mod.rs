//! An OpenFn Lightning emulator: a webhook trigger and Collections, answering as the
//! Lightning source does. Each behaviour cites where it comes from, as in
//! `/work/research/openfn.md`: `WC` is `lib/lightning_web/controllers/webhooks_controller.ex`
//! (newest in the index), `WA` `lib/lightning_web/plugs/webhook_auth.ex@00289f35`, `CC`
//! `lib/lightning_web/controllers/collections_controller.ex@bf8a54eb` with its fallback
//! controller, `CL` `lib/lightning/collections.ex@00b40a44`, `PP` Plug's `parsers.ex`.
//!
//! - `POST /i/{trigger}[/…]` ([`webhook`]): bodies parsed before authentication; 401/404
//!   authentication answers; 403 for a disabled trigger; the usage limiter's answers (a 200
//!   that started no run, 429s without `Retry-After`, a 503 with one); 200
//!   `{"work_order_id"}`; with `after_completion`, the workflow's own answer or a 504
//!   after the timeout (the work order stays).
//! - `GET /collections/{name}` and the item routes ([`collections`]): bearer tokens,
//!   `?project_id=` and the `x-api-version: 2` path form, 409 for a name in two projects,
//!   `updated_after` (inclusive) and the other filters, ordering by item id, base64 id
//!   cursors, string values, microsecond timestamps.

// Its checks return the ready answer as their error, as handlers do; boxing a response on
// an emulator's error paths would buy nothing.
#![allow(clippy::result_large_err)]

mod collections;
mod webhook;

use super::faults::{Fault, FaultPlan};
use axum::extract::DefaultBodyLimit;
use axum::routing::any;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `MAX_DATACLIP_SIZE_MB` (default 10) × 1 000 000: the JSON parser's `length`
/// (`lib/lightning_web/plug_configs.ex:14`, `config/runtime.exs@00adcf87`).
pub const MAX_BODY: usize = 10_000_000;

/// The project collections belong to unless a test says otherwise.
pub const DEFAULT_PROJECT: &str = "4b1e3a7c-0000-4000-8000-000000000001";

/// When the trigger answers (`webhook_reply`, `lib/lightning/workflows/trigger.ex@75897d59:29,49`).
#[derive(Clone, Debug, Default)]
pub enum WebhookReply {
    /// At once, with the work order id (the default).
    #[default]
    BeforeStart,
    /// When the run finishes, or 504 after `timeout` (`WEBHOOK_RESPONSE_TIMEOUT_MS`,
    /// default 30 s). The run takes `run_time` and succeeds or fails.
    AfterCompletion {
        /// How long the workflow runs.
        run_time: Duration,
        /// How long the trigger waits for it.
        timeout: Duration,
        /// Whether the run succeeds.
        succeeds: bool,
    },
}

/// What the usage and rate limiters, or the database, answer for the next webhook request
/// (the open-source default limiter always says `:ok`; hosted instances differ).
#[derive(Clone, Debug)]
pub enum LimiterAnswer {
    /// Soft limit: the work order is stored `rejected`, no run starts, and the answer is
    /// still a 200 `{"work_order_id", "error": "too_many_runs"}` (WC l.42, 58, 152-157).
    TooManyRuns,
    /// Hard limit: 429 `{"error": "runs_hard_limit", "message": "Runs limit exceeded"}`,
    /// no `Retry-After` (WC l.99-102).
    RunsHardLimit,
    /// Rate limit: 429 `{"error": "too_many_requests", "message": …}`, no `Retry-After`
    /// (WC l.43-48).
    TooManyRequests,
    /// Database trouble: 503 with `retry_after` and a `retry-after` header (WC l.71-83).
    DatabaseUnavailable {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// `WorkOrders.create_for` failed (no snapshot…): 422 `{"error": "invalid_request",
    /// "details"}`, never caused by the payload (WC l.86-91).
    InvalidRequest,
}

/// How the emulated instance is set up.
#[derive(Clone, Debug, Default)]
pub struct OpenFnSetup {
    /// The trigger's id (`/i/{id}`).
    pub webhook_id: String,
    /// The trigger's API key (`x-api-key`), if it has one.
    pub api_key: Option<String>,
    /// The trigger's basic-auth credentials, if it has them.
    pub basic: Option<(String, String)>,
    /// The personal access token Collections accept.
    pub collections_token: String,
    /// The trigger is disabled (`enabled: false`).
    pub disabled: bool,
    /// When the trigger answers.
    pub reply: WebhookReply,
    /// The JSON parser's limit (`MAX_DATACLIP_SIZE_MB` × 1 000 000); default [`MAX_BODY`].
    pub max_dataclip_bytes: Option<usize>,
}

/// One accepted webhook request.
#[derive(Clone, Debug)]
pub struct WorkOrder {
    /// Its id.
    pub id: String,
    /// Its run's id (`None` when the limiter rejected it: no run).
    pub run_id: Option<String>,
    /// The dataclip body as Lightning stores it (non-objects wrapped as `_json`, a
    /// top-level `configuration` removed).
    pub body: Value,
    /// The `x-batch-id` header, if sent.
    pub batch_id: Option<String>,
    /// `pending`, or `rejected` by the usage limiter.
    pub state: &'static str,
}

/// A collection item.
#[derive(Clone, Debug)]
pub struct Item {
    /// The integer primary key items are ordered and paged by.
    pub id: u64,
    /// Its key.
    pub key: String,
    /// Its value: always a string (`item.ex:24-30`).
    pub value: String,
    /// `inserted_at`.
    pub created: DateTime<Utc>,
    /// `updated_at`: bumped by every upsert, even of the same value.
    pub updated: DateTime<Utc>,
}

/// A collection: a name within a project.
#[derive(Clone, Debug)]
pub struct Collection {
    /// The project's id (a UUID).
    pub project_id: String,
    /// Its name.
    pub name: String,
    /// Its items.
    pub items: Vec<Item>,
}

/// Everything the emulator holds.
#[derive(Debug, Default)]
pub struct OpenFnState {
    setup: OpenFnSetup,
    /// Work orders created, in order (rejected ones included).
    pub work_orders: Vec<WorkOrder>,
    /// The collections.
    pub collections: Vec<Collection>,
    /// Generic faults (status, latency, dropped connections) for the next requests.
    pub faults: FaultPlan,
    /// Limiter answers for the next webhook requests, in order.
    pub limiter: VecDeque<LimiterAnswer>,
    /// Webhook requests received (every method).
    pub webhook_requests: u64,
    /// Collections requests received.
    pub collection_requests: u64,
    /// Writes to make just before the collections request with that number (from 1) is
    /// answered: `(request, collection, key, value)`, in the default project. A test's way
    /// to change items between the pages of one pass.
    pub writes_before_request: Vec<(u64, String, String, String)>,
    next_item_id: u64,
    last_time: DateTime<Utc>,
}

impl OpenFnState {
    /// Now, strictly after the previous call, with microseconds (`utc_datetime_usec`).
    fn now(&mut self) -> DateTime<Utc> {
        let now = Utc::now().max(self.last_time + chrono::Duration::microseconds(1));
        self.last_time = now;
        now
    }

    fn collection_mut(&mut self, project: &str, name: &str) -> &mut Collection {
        let at = match self
            .collections
            .iter()
            .position(|c| c.project_id == project && c.name == name)
        {
            Some(i) => i,
            None => {
                self.collections.push(Collection {
                    project_id: project.into(),
                    name: name.into(),
                    items: Vec::new(),
                });
                self.collections.len() - 1
            }
        };
        &mut self.collections[at]
    }

    /// Upsert one item at `now`: a new key gets the next id and `created = now`, an
    /// existing one keeps both (`CL:370-404`).
    fn upsert(&mut self, project: &str, name: &str, key: &str, value: &str, now: DateTime<Utc>) {
        self.next_item_id += 1;
        let id = self.next_item_id;
        let items = &mut self.collection_mut(project, name).items;
        match items.iter_mut().find(|i| i.key == key) {
            Some(item) => {
                item.value = value.to_string();
                item.updated = now;
            }
            None => items.push(Item {
                id,
                key: key.into(),
                value: value.into(),
                created: now,
                updated: now,
            }),
        }
    }
}

/// A running OpenFn emulator.
#[derive(Clone, Debug)]
pub struct OpenFnEmulator {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state, for tests to inspect.
    pub state: Arc<Mutex<OpenFnState>>,
}

type Shared = Arc<Mutex<OpenFnState>>;

impl OpenFnEmulator {
    /// Start on `addr` (port 0: any free port).
    pub async fn start(addr: SocketAddr, setup: OpenFnSetup) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(OpenFnState {
            setup,
            ..Default::default()
        }));
        let app = Router::new()
            .route("/i/{*path}", any(webhook::webhook))
            .route("/collections/{*path}", any(collections::collections))
            // The parsers enforce the dataclip limit themselves (413); the transport
            // takes up to 10× that before cutting (`protocol_options`).
            .layer(DefaultBodyLimit::max(10 * MAX_BODY))
            .with_state(state.clone());
        let addr = super::spawn(addr, app).await?;
        Ok(OpenFnEmulator { addr, state })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OpenFnState> {
        self.state.lock().expect("openfn state")
    }

    /// The webhook trigger URL.
    pub fn webhook_url(&self) -> String {
        format!("http://{}/i/{}", self.addr, self.lock().setup.webhook_id)
    }

    /// The instance's base URL (Collections live under it).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Create or update an item of `collection` in the default project (an update keeps
    /// its place in the order and its `created`).
    pub fn put_item(&self, collection: &str, key: &str, value: &str) {
        self.put_item_in(DEFAULT_PROJECT, collection, key, value);
    }

    /// [`OpenFnEmulator::put_item`] in another project.
    pub fn put_item_in(&self, project: &str, collection: &str, key: &str, value: &str) {
        let mut s = self.lock();
        let now = s.now();
        s.upsert(project, collection, key, value, now);
    }

    /// Create an empty collection.
    pub fn create_collection(&self, project: &str, name: &str) {
        self.lock().collection_mut(project, name);
    }

    /// Write `key = value` in `collection` just before collections request number `n`.
    pub fn write_before_request(&self, n: u64, collection: &str, key: &str, value: &str) {
        self.lock()
            .writes_before_request
            .push((n, collection.into(), key.into(), value.into()));
    }

    /// Collections requests received.
    pub fn collection_requests(&self) -> u64 {
        self.lock().collection_requests
    }

    /// Queue generic faults for the next requests.
    pub fn inject(&self, faults: Vec<Fault>) {
        self.lock().faults.inject(faults);
    }

    /// Queue limiter answers for the next webhook requests.
    pub fn limit(&self, answers: Vec<LimiterAnswer>) {
        self.lock().limiter.extend(answers);
    }

    /// Enable or disable the trigger.
    pub fn set_disabled(&self, disabled: bool) {
        self.lock().setup.disabled = disabled;
    }

    /// Change when the trigger answers.
    pub fn set_reply(&self, reply: WebhookReply) {
        self.lock().setup.reply = reply;
    }

    /// The entities received in work orders that started a run.
    pub fn entities(&self) -> Vec<Value> {
        self.lock()
            .work_orders
            .iter()
            .filter(|w| w.run_id.is_some())
            .flat_map(|w| w.body["entities"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Every work order, rejected ones included.
    pub fn work_orders(&self) -> Vec<WorkOrder> {
        self.lock().work_orders.clone()
    }

    /// Webhook requests received.
    pub fn webhook_requests(&self) -> u64 {
        self.lock().webhook_requests
    }
}

/// Lightning's timestamp encoding: UTC, six fractional digits, `Z` (`item.ex:45-57`).
pub fn iso(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
