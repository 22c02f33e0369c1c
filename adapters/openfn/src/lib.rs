//! OpenFn Lightning adapter, type `openfn-adapter`.
//!
//! Push: `POST {url}` (a webhook trigger, `…/i/{id}`) with `{"entities": [events…],
//! "batchId": …}`, authenticated by the `apiKey` extra field as `x-api-key`, or by HTTP
//! basic auth when `auth` is `basic`. What Lightning answers, and what it means here
//! (`lib/lightning_web/controllers/webhooks_controller.ex`, see `/work/research/openfn.md`):
//! - 200 `{"work_order_id"}`: delivered (the run id comes in `x-meta-run-id`);
//! - 200 or 429 with `"error": "too_many_runs"` (or 500 `no_run_created`): the work order
//!   was stored but no run started — not a delivery, retried;
//! - a trigger that answers after its run (`after_completion`): the run's status and
//!   `{"data", "meta"}` — delivered, the run's state recorded; a 504 after Lightning's
//!   timeout: the work order exists, so delivered, recorded as unconfirmed, never re-sent;
//! - 401 (no credentials), 404 (wrong ones, or no such trigger): unauthorized; 403
//!   `trigger_disabled`: a config error; 422 (the workflow cannot take work orders: never
//!   the payload's fault in Lightning) a config error; 413 splits the batch;
//! - 429 and 503 are retried (503 with its `retry-after`).
//!
//! Pull (when `collectionName` is set): the collection's items, new and updated (see
//! [`pull`]).

mod pull;

use datacollect_adapter_sdk::host;
use datacollect_adapter_sdk::http::{Request, Response};
use datacollect_adapter_sdk::{
    batch_id, export_adapter, Adapter, AdapterInfo, Config, ConnectionCheck, Event, FieldProblem,
    FieldSpec, Placement, PullPage, PushOutcome, Rejection, SecretPlacement, SyncError,
};
use serde_json::{json, Value};

/// OpenFn's JSON parser takes at most 10 000 000 bytes (`MAX_DATACLIP_SIZE_MB`, default 10);
/// stay under it.
const DEFAULT_MAX_BATCH_BYTES: u32 = 9_000_000;
const LIGHTNING_MAX_BODY: u32 = 10_000_000;

struct OpenFn;

/// What a list of events came to: accepted ones, refused ones, and the work orders.
#[derive(Default)]
struct Delivery {
    accepted: u32,
    rejected: Vec<Rejection>,
    refs: Vec<String>,
}

fn auth(config: &Config, req: Request) -> Request {
    if config.auth.as_deref() == Some("basic") {
        let (user, pass) = if config.has_secret("credentials.password") {
            (
                Config::secret_ref("credentials.username"),
                Config::secret_ref("credentials.password"),
            )
        } else {
            (
                config.extra("username").unwrap_or_default().to_string(),
                Config::secret_ref("password"),
            )
        };
        return req.basic_auth(user, pass);
    }
    if config.has_secret("apiKey") {
        return req.header("x-api-key", Config::secret_ref("apiKey"));
    }
    req
}

fn excerpt(r: &Response) -> String {
    r.text().chars().take(200).collect()
}

/// The answer's JSON body, or null.
fn body(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

/// The work order the answer names (header, body, or a sync reply's `meta`).
fn work_order_id(r: &Response, b: &Value) -> Option<String> {
    r.header("x-meta-work-order-id")
        .map(str::to_string)
        .or_else(|| b["work_order_id"].as_str().map(str::to_string))
        .or_else(|| b["meta"]["work_order_id"].as_str().map(str::to_string))
}

/// What an answer from the trigger means for the events sent: `Ok(Some(ref))` delivered,
/// `Ok(None)` refused as too large (split), `Err` for everything else.
fn outcome(r: &Response) -> Result<Option<String>, SyncError> {
    let b = body(r);
    let order = work_order_id(r, &b);
    // The usage limiter's soft answer keeps the work order but starts no run (WC l.42,
    // 58, 152-157; sync mode: 429, or 500 `no_run_created`, WC l.162-185).
    if let Some(reason @ ("too_many_runs" | "no_run_created")) = b["error"].as_str() {
        return Err(SyncError::Transient {
            retry_after_ms: r.retry_after_ms(),
            message: format!(
                "OpenFn stored work order {} but started no run ({reason}: the project's run limit); the events stay pending and are sent again",
                order.as_deref().unwrap_or("?")
            ),
        });
    }
    let run = r.header("x-meta-run-id").map(str::to_string);
    let reference = |note: String| {
        let mut s = format!("work_order_id={}", order.as_deref().unwrap_or("unknown"));
        if let Some(run) = &run {
            s.push_str(&format!(" run_id={run}"));
        }
        s + &note
    };
    match r.status {
        200..=299 => {
            // A trigger answering after its run says how the run went (`meta.state`).
            let note = match b["meta"]["state"].as_str() {
                Some(state) => format!(" state={state}"),
                None => String::new(),
            };
            Ok(Some(reference(note)))
        }
        // WC l.200-212: the work order stays, and its run goes on.
        504 if order.is_some() => Ok(Some(reference(
            " unconfirmed: the workflow did not finish within Lightning's webhook timeout; the work order exists, so it is not sent again".into(),
        ))),
        // A custom status from the workflow's own `webhook_response`: the work order
        // exists whatever the status.
        _ if b["meta"]["work_order_id"].is_string() => Ok(Some(reference(format!(
            " status={} state={}",
            r.status,
            b["meta"]["state"].as_str().unwrap_or("?")
        )))),
        401 => Err(SyncError::Unauthorized(
            "OpenFn answered 401: the trigger needs credentials and none were sent (set the apiKey extra field, or auth basic with a username and password)".into(),
        )),
        404 => Err(SyncError::Unauthorized(
            "OpenFn answered 404 (Webhook not found): wrong credentials, or no such trigger; check the webhook URL, the apiKey extra field or the basic-auth credentials, and that the trigger's auth method matches".into(),
        )),
        403 => Err(SyncError::Config(format!(
            "OpenFn refused the request (403): {}; enable the trigger in OpenFn",
            b["message"].as_str().unwrap_or("trigger disabled")
        ))),
        413 => Ok(None),
        422 => Err(SyncError::Config(format!(
            "OpenFn could not create a work order (422, {}): the workflow or its trigger needs attention in OpenFn; nothing was delivered",
            excerpt(r)
        ))),
        429 => Err(SyncError::Transient {
            retry_after_ms: r.retry_after_ms(),
            message: format!(
                "OpenFn is limiting requests (429 {}): {}",
                b["error"].as_str().unwrap_or(""),
                b["message"].as_str().unwrap_or("")
            ),
        }),
        400 | 406 | 415 => Err(SyncError::Internal(format!(
            "OpenFn refused the request's format ({}): {}",
            r.status,
            excerpt(r)
        ))),
        _ => Err(match r.clone().error_for_status() {
            Err(e) => e,
            Ok(_) => SyncError::Internal(format!("unexpected HTTP {}", r.status)),
        }),
    }
}

fn size(events: &[Event]) -> usize {
    events
        .iter()
        .map(|e| serde_json::to_vec(e).map_or(0, |v| v.len()) + 1)
        .sum()
}

/// Send `events`, splitting where Lightning refuses a batch as too large (413), down to
/// single events, which are then rejected.
///
/// Every request that Lightning answers with a work order creates one, so a part already
/// delivered is remembered for the rest of the run (`run-state`): when a later part fails
/// and the host retries the whole batch, the delivered parts are not sent again.
fn deliver(config: &Config, events: &[Event], out: &mut Delivery) -> Result<(), SyncError> {
    let id = batch_id(events);
    let key = format!("delivered:{id}");
    if let Some(reference) = host::run_get(&key) {
        out.accepted += events.len() as u32;
        out.refs.push(reference);
        return Ok(());
    }
    let body = json!({ "entities": events, "batchId": id });
    let req = Request::post(&config.url)
        .header("x-batch-id", id.clone())
        .json(&body)?;
    match outcome(&auth(config, req).send()?)? {
        Some(reference) => {
            // Best effort: run-state holds a few dozen keys.
            let _ = host::run_set(&key, &reference);
            out.accepted += events.len() as u32;
            out.refs.push(reference);
            Ok(())
        }
        None if events.len() == 1 => {
            out.rejected.push(Rejection {
                guid: events[0].guid.clone(),
                reason: "OpenFn refused the event as too large (413: over its 10 MB body limit)"
                    .into(),
            });
            Ok(())
        }
        None => {
            let (a, b) = events.split_at(events.len() / 2);
            deliver(config, a, out)?;
            deliver(config, b, out)
        }
    }
}

impl Adapter for OpenFn {
    fn describe() -> AdapterInfo {
        AdapterInfo::new(
            "openfn-adapter",
            "OpenFn Lightning",
            env!("CARGO_PKG_VERSION"),
        )
        .field(
            FieldSpec::new(
                "apiKey",
                "API key of the webhook trigger, sent as x-api-key (required when auth is api-key)",
            )
            .secret(),
        )
        .field(FieldSpec::new("username", "Basic-auth user, when auth is basic"))
        .field(FieldSpec::new("password", "Basic-auth password, when auth is basic").secret())
        .field(FieldSpec::new(
            "workflowId",
            "The workflow the trigger starts (informational)",
        ))
        .field(
            FieldSpec::new(
                "maxBatchBytes",
                "Largest request body in bytes (Lightning refuses over 10 000 000)",
            )
            .default_value("9000000"),
        )
        .field(FieldSpec::new(
            "collectionName",
            "Collection to pull records from (no pull without it)",
        ))
        .field(FieldSpec::new("collectionsToken", "Personal access token for Collections").secret())
        .field(FieldSpec::new(
            "collectionsUrl",
            "Base URL of the Lightning instance for Collections (default: the url's origin)",
        ))
        .field(FieldSpec::new(
            "projectId",
            "UUID of the project the collection belongs to (needed when two projects have a collection of that name)",
        ))
        .field(FieldSpec::new(
            "collectionsApiVersion",
            "1 (default: ?project_id=) or 2 (x-api-version: 2, the project in the path)",
        ))
    }

    fn secret_placements() -> Option<Vec<SecretPlacement>> {
        let basic = |s| SecretPlacement::new(s, [Placement::BasicAuth]);
        Some(vec![
            SecretPlacement::new("apiKey", [Placement::Header("x-api-key".into())]),
            basic("password"),
            basic("credentials.username"),
            basic("credentials.password"),
            SecretPlacement::new("collectionsToken", [Placement::Bearer]),
        ])
    }

    fn validate(config: &Config) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        let has = |name: &str| config.has_secret(name) || config.extra(name).is_some();
        match config.auth.as_deref() {
            Some("api-key") if !has("apiKey") => problems.push(FieldProblem::new(
                "extraFields.apiKey",
                "required when auth is api-key: the trigger's API key (add {\"name\": \"apiKey\", \"value\": …})",
            )),
            Some("basic") if config.extra("username").is_some() && !has("password") => {
                problems.push(FieldProblem::new(
                    "extraFields.password",
                    "required with username when auth is basic (or pass credentials to the sync instead of both)",
                ))
            }
            None | Some("api-key" | "basic" | "none") => {}
            Some(other) => problems.push(FieldProblem::new(
                "auth",
                format!("{other:?} is not an auth method of OpenFn webhooks: use api-key or basic"),
            )),
        }
        if !config.url.contains("/i/") {
            problems.push(FieldProblem::new(
                "url",
                "not a Lightning webhook trigger URL (…/i/<trigger id>): copy it from the trigger in OpenFn",
            ));
        }
        if config.extra("collectionName").is_some() && !has("collectionsToken") {
            problems.push(FieldProblem::new(
                "extraFields.collectionsToken",
                "required when collectionName is set: a personal access token of a user of the project",
            ));
        }
        if let Some(p) = config.extra("projectId") {
            let hex: String = p.chars().filter(|c| *c != '-').collect();
            if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) || p.len() != 36 {
                problems.push(FieldProblem::new(
                    "extraFields.projectId",
                    format!(
                        "{p:?} is not a UUID: copy the project's id from its settings in OpenFn"
                    ),
                ));
            }
        }
        match config.extra("collectionsApiVersion") {
            None | Some("1") => {}
            Some("2") if config.extra("projectId").is_none() => problems.push(FieldProblem::new(
                "extraFields.projectId",
                "required when collectionsApiVersion is 2 (the project is part of the path)",
            )),
            Some("2") => {}
            Some(v) => problems.push(FieldProblem::new(
                "extraFields.collectionsApiVersion",
                format!("{v:?}: Lightning's Collections API has versions 1 and 2"),
            )),
        }
        match config.extra_u32("maxBatchBytes", DEFAULT_MAX_BATCH_BYTES) {
            Ok(n) if n == 0 || n > LIGHTNING_MAX_BODY => problems.push(FieldProblem::new(
                "extraFields.maxBatchBytes",
                format!("{n} is not between 1 and {LIGHTNING_MAX_BODY} (Lightning's limit)"),
            )),
            Ok(_) => {}
            Err(SyncError::Config(m)) => {
                problems.push(FieldProblem::new("extraFields.maxBatchBytes", m))
            }
            Err(_) => {}
        }
        problems
    }

    /// `GET` on the trigger is Lightning's side-effect-free check (WC l.29-36): it goes
    /// through the same authentication as a `POST`, and creates nothing. The collection
    /// is read for one item.
    fn check_connection(config: &Config) -> Result<ConnectionCheck, SyncError> {
        let r = auth(config, Request::get(&config.url)).send()?;
        if r.status != 200 {
            return Err(outcome(&r).err().unwrap_or_else(|| {
                SyncError::Internal(format!("HTTP {} from the trigger", r.status))
            }));
        }
        let mut tried = "the webhook trigger accepted the credentials".to_string();
        if let Some(name) = config.extra("collectionName") {
            let r = pull::list_request(config, name, "limit=1")?.send()?;
            if r.status != 200 {
                return Err(pull::collections_error(r, name));
            }
            tried.push_str(&format!("; collection {name:?} is readable"));
        }
        Ok(ConnectionCheck::Ok(tried))
    }

    fn push(config: &Config, events: Vec<Event>) -> Result<PushOutcome, SyncError> {
        let max = config.extra_u32("maxBatchBytes", DEFAULT_MAX_BATCH_BYTES)? as usize;
        let mut out = Delivery::default();
        let mut start = 0;
        while start < events.len() {
            // The largest run of events under the byte bound (at least one).
            let mut end = start + 1;
            let mut bytes = size(&events[start..end]);
            while end < events.len() && bytes + size(&events[end..end + 1]) <= max {
                bytes += size(&events[end..end + 1]);
                end += 1;
            }
            deliver(config, &events[start..end], &mut out)?;
            start = end;
        }
        Ok(PushOutcome {
            accepted: out.accepted,
            rejected: out.rejected,
            remote_ref: (!out.refs.is_empty()).then(|| out.refs.join("; ")),
        })
    }

    fn pull(config: &Config, cursor: Option<String>, limit: u32) -> Result<PullPage, SyncError> {
        pull::pull(config, cursor, limit)
    }
}

export_adapter!(OpenFn);
