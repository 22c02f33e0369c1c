//! `/i/{trigger}[/…]`: the webhook trigger, in Lightning's order of checks — the body is
//! parsed first (Plug.Parsers in the endpoint), then the trigger is looked up and
//! authenticated (`WebhookAuth`), then the `:api` pipeline's `accepts ["json"]`, then the
//! controller (`reject_unfetched`, disabled trigger, limiters, the work order).

use super::{iso, LimiterAnswer, OpenFnState, Shared, WebhookReply, WorkOrder, MAX_BODY};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::io::Read;

/// A JSON error body, as the controllers and `ErrorView` write them.
fn error(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// An error raised by a plug before any controller (parse errors): rendered by the
/// endpoint's `render_errors` with `accepts: ~w(html json)`, so JSON only when the
/// `Accept` header negotiates JSON; with no `Accept`, or one holding `*/*` (axios sends
/// that), the bare reason phrase (phoenix `render_errors.ex:156-189`,
/// `controller.ex:1541-1556`).
fn plug_error(status: StatusCode, headers: &HeaderMap) -> Response {
    let phrase = status.canonical_reason().unwrap_or("Error");
    let accept = header(headers, "accept").unwrap_or("");
    if accept.contains("json") && !accept.contains("*/*") {
        error(status, json!({ "error": phrase }))
    } else {
        (status, phrase.to_string()).into_response()
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// What Plug.Parsers made of the body.
enum Parsed {
    /// A map: the dataclip body.
    Params(Map<String, Value>),
    /// A content type no parser took: `%Plug.Conn.Unfetched{}` (`pass: ["*/*"]`).
    Unfetched,
}

/// Plug.Parsers with Lightning's options (`plug_configs.ex:9-19`): gunzip when
/// `Content-Encoding: gzip` (`DecompressBody`); JSON (`application/json`, `*/*+json`) up
/// to [`MAX_BODY`] (413 over it, 400 when malformed, `PP json.ex:92-107`), a non-object
/// wrapped as `{"_json": …}` (`json.ex:97-101`); urlencoded and multipart parsed; no
/// `Content-Type` at all gives `%{}` whatever was sent (`parsers.ex:316-321`).
fn parse(headers: &HeaderMap, body: &[u8], max: usize) -> Result<Parsed, StatusCode> {
    let inflated;
    let body =
        if header(headers, "content-encoding").is_some_and(|e| e.eq_ignore_ascii_case("gzip")) {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .take(max as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|_| StatusCode::BAD_REQUEST)?;
            inflated = out;
            &inflated[..]
        } else {
            body
        };
    let Some(content_type) = header(headers, "content-type") else {
        return Ok(Parsed::Params(Map::new()));
    };
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || mime.ends_with("+json") {
        if body.len() > max {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        let value: Value = serde_json::from_slice(body).map_err(|_| StatusCode::BAD_REQUEST)?;
        return Ok(Parsed::Params(match value {
            Value::Object(m) => m,
            other => Map::from_iter([("_json".to_string(), other)]),
        }));
    }
    if mime == "application/x-www-form-urlencoded" {
        let pairs = url_pairs(body);
        return Ok(Parsed::Params(
            pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        ));
    }
    if mime == "multipart/form-data" {
        // Parsed into fields and uploads; the emulator keeps none of them.
        return Ok(Parsed::Params(Map::new()));
    }
    Ok(Parsed::Unfetched)
}

fn url_pairs(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
                .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
                .flatten()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], escaped) {
                (_, Some(b)) => {
                    out.push(b);
                    i += 3;
                }
                (b'+', None) => {
                    out.push(b' ');
                    i += 1;
                }
                (b, None) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// `WebhookAuth` (WA l.42-152): the trigger by id, then its auth methods. No credential
/// header at all is a 401; a wrong one a 404 that does not confirm the trigger exists.
fn authenticate(s: &OpenFnState, trigger: &str, headers: &HeaderMap) -> Result<(), Response> {
    let not_found = || error(StatusCode::NOT_FOUND, json!({"error": "Webhook not found"}));
    if trigger != s.setup.webhook_id {
        return Err(not_found());
    }
    if s.setup.api_key.is_none() && s.setup.basic.is_none() {
        return Ok(());
    }
    let key = header(headers, "x-api-key");
    let authorization = header(headers, "authorization");
    if key.is_none() && authorization.is_none() {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            json!({"error": "Unauthorized"}),
        ));
    }
    let key_ok = matches!((&s.setup.api_key, key), (Some(want), Some(got)) if want == got);
    // The literal header must equal "Basic " <> Base64("user:pass") (WA l.144-152).
    let basic_ok = matches!((&s.setup.basic, authorization), (Some((u, p)), Some(got))
        if got == format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))));
    if key_ok || basic_ok {
        Ok(())
    } else {
        Err(not_found())
    }
}

/// `POST|GET /i/{trigger}[/…]`.
pub(super) async fn webhook(
    State(state): State<Shared>,
    method: Method,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let (_, Some(resp)) = crate::fault_for(&state).await {
        return resp;
    }
    let max = state
        .lock()
        .expect("openfn state")
        .setup
        .max_dataclip_bytes
        .unwrap_or(MAX_BODY);
    let parsed = match parse(&headers, &body, max) {
        Ok(p) => p,
        Err(status) => {
            state.lock().expect("openfn state").webhook_requests += 1;
            return plug_error(status, &headers);
        }
    };
    let trigger = path.split('/').next().unwrap_or_default().to_string();
    let admitted = {
        let mut s = state.lock().expect("openfn state");
        admit(&mut s, &method, &trigger, &headers, parsed)
    };
    match admitted {
        Ok(accepted) => reply(accepted).await,
        Err(resp) => resp,
    }
}

/// A work order created with a run, to answer for.
struct Accepted {
    id: String,
    run_id: String,
    final_state: Value,
    reply: WebhookReply,
    inserted_at: String,
}

/// Everything up to the work order's creation, under the state's lock.
fn admit(
    s: &mut OpenFnState,
    method: &Method,
    trigger: &str,
    headers: &HeaderMap,
    parsed: Parsed,
) -> Result<Accepted, Response> {
    s.webhook_requests += 1;
    authenticate(s, trigger, headers)?;
    // The router's `:api` pipeline: `accepts ["json"]` (406 otherwise).
    if let Some(accept) = header(headers, "accept") {
        if !accept.contains("json") && !accept.contains("*/*") {
            return Err((StatusCode::NOT_ACCEPTABLE, "Not Acceptable").into_response());
        }
    }
    match *method {
        // `check/2` (WC l.29-36).
        Method::GET => {
            return Err(Json(json!({"message": "OpenFn webhook trigger found. Make a POST request to execute this workflow."}))
                .into_response())
        }
        Method::POST => {}
        _ => return Err(error(StatusCode::NOT_FOUND, json!({"error": "Not Found"}))),
    }
    // `reject_unfetched` (WC l.13-27).
    let Parsed::Params(mut params) = parsed else {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({"error": "Unsupported Media Type"}),
        ));
    };
    // WC l.109-115.
    if s.setup.disabled {
        return Err(error(
            StatusCode::FORBIDDEN,
            json!({"error": "trigger_disabled", "message": "Unable to process request, trigger is disabled. Enable it on OpenFn to allow requests to this endpoint."}),
        ));
    }
    // The dataclip drops a top-level `configuration` (`dataclip.ex` remove_configuration/1).
    params.remove("configuration");
    let mut order = WorkOrder {
        id: uuid::Uuid::new_v4().to_string(),
        run_id: Some(uuid::Uuid::new_v4().to_string()),
        body: Value::Object(params),
        batch_id: header(headers, "x-batch-id").map(str::to_string),
        state: "pending",
    };
    match s.limiter.pop_front() {
        None => {}
        Some(LimiterAnswer::TooManyRuns) => {
            order.run_id = None;
            order.state = "rejected";
            let id = order.id.clone();
            s.work_orders.push(order);
            return Err((
                StatusCode::OK,
                [("x-meta-work-order-id", id.clone())],
                Json(json!({"work_order_id": id, "error": "too_many_runs"})),
            )
                .into_response());
        }
        Some(LimiterAnswer::RunsHardLimit) => {
            return Err(error(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"error": "runs_hard_limit", "message": "Runs limit exceeded"}),
            ))
        }
        Some(LimiterAnswer::TooManyRequests) => {
            return Err(error(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"error": "too_many_requests", "message": "Too many runs in the last minute"}),
            ))
        }
        Some(LimiterAnswer::DatabaseUnavailable { retry_after }) => {
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                [("retry-after", retry_after.to_string())],
                Json(json!({"error": "service_unavailable", "message": format!("Unable to process request due to temporary database issues. Please try again in {retry_after}s."), "retry_after": retry_after})),
            )
                .into_response())
        }
        Some(LimiterAnswer::InvalidRequest) => {
            return Err(error(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": "invalid_request", "details": {"snapshot": ["can't be blank"]}}),
            ))
        }
    }
    let accepted = Accepted {
        id: order.id.clone(),
        run_id: order.run_id.clone().unwrap_or_default(),
        final_state: order.body.clone(),
        reply: s.setup.reply.clone(),
        inserted_at: iso(&s.now()),
    };
    s.work_orders.push(order);
    Ok(accepted)
}

/// The answer for a created work order: at once, or when its run finishes.
async fn reply(a: Accepted) -> Response {
    let Accepted {
        id,
        run_id,
        final_state,
        reply,
        inserted_at,
    } = a;
    let meta_headers = [
        ("x-meta-work-order-id", id.clone()),
        ("x-meta-run-id", run_id.clone()),
    ];
    match reply {
        // WC l.66-69, 119-127, 141-148: the run id only in a header.
        WebhookReply::BeforeStart => (
            StatusCode::OK,
            meta_headers,
            Json(json!({"work_order_id": id})),
        )
            .into_response(),
        // WC l.130-139, 188-213; the body from `run_channel.ex` maybe_broadcast_webhook_response.
        WebhookReply::AfterCompletion {
            run_time,
            timeout,
            succeeds,
        } => {
            if run_time > timeout {
                tokio::time::sleep(timeout).await;
                return (
                    StatusCode::GATEWAY_TIMEOUT,
                    meta_headers,
                    Json(json!({"error": "timeout", "message": "Workflow did not complete within timeout period", "work_order_id": id})),
                )
                    .into_response();
            }
            tokio::time::sleep(run_time).await;
            let finished_at = iso(&chrono::Utc::now());
            let (state_name, data, error_type) = if succeeds {
                ("success", final_state, Value::Null)
            } else {
                (
                    "failed",
                    json!({"message": "Run completed with status: failed. As a security policy, OpenFn does not send state data when the run errors out to avoid leaking sensitive information"}),
                    json!("RuntimeError"),
                )
            };
            // success_code / error_code default to 201.
            (
                StatusCode::CREATED,
                meta_headers,
                Json(json!({"data": data, "meta": {
                    "work_order_id": id, "run_id": run_id, "state": state_name,
                    "error_type": error_type, "inserted_at": inserted_at,
                    "started_at": inserted_at, "claimed_at": inserted_at,
                    "finished_at": finished_at}})),
            )
                .into_response()
        }
    }
}
