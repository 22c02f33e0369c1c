//! Collections (`/collections/…`), as `CC` and `CL` answer: a bearer token for every
//! route (`plugs/api_auth.ex@7d04f293` l.14-46: 401 `{"error": "Unauthorized"}`), a name
//! resolved within one project (`?project_id=`, or the path of `x-api-version: 2`) or
//! across all (409 when two projects have it, `CL:67-73`, fallback l.31-38), items ordered
//! by their integer id and paged by a base64 cursor of it (`CL:451-460`, `CC` l.301-305).

use super::{iso, Item, OpenFnState, Shared};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn bad_request() -> Response {
    answer(StatusCode::BAD_REQUEST, json!({"error": "Bad Request"}))
}

fn not_found() -> Response {
    answer(StatusCode::NOT_FOUND, json!({"error": "Not Found"}))
}

/// The stream's accepted parameters (`CC` l.20-27); anything else is a 400 (l.247-248).
const STREAM_PARAMS: &[&str] = &[
    "key",
    "cursor",
    "limit",
    "created_after",
    "created_before",
    "updated_after",
    "updated_before",
];

/// `default_stream_limit` (`config/config.exs@01e3357d`): there is no maximum.
const DEFAULT_LIMIT: usize = 1000;

/// `*` matches any run of characters and, since only `%` and `\` are escaped for SQL
/// `LIKE`, `_` matches any one (`CL:495-500`).
fn key_matches(pattern: &str, key: &str) -> bool {
    fn go(p: &[char], k: &[char]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], k) || (!k.is_empty() && go(p, &k[1..])),
            (Some('_'), Some(_)) => go(&p[1..], &k[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let k: Vec<char> = key.chars().collect();
    go(&p, &k)
}

fn item_json(i: &Item) -> Value {
    json!({"key": i.key, "value": i.value, "created": iso(&i.created), "updated": iso(&i.updated)})
}

/// `DateTime.from_iso8601/1`: an offset or `Z` is required (`CC` l.273-284).
fn timestamp(q: &HashMap<String, String>, name: &str) -> Result<Option<DateTime<Utc>>, Response> {
    q.get(name)
        .map(|t| {
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| bad_request())
        })
        .transpose()
}

/// Which collection a request names: `Ok(index)`, or the answer.
fn resolve(s: &OpenFnState, project: Option<&str>, name: &str) -> Result<usize, Response> {
    if let Some(p) = project {
        if uuid::Uuid::parse_str(p).is_err() {
            return Err(bad_request());
        }
        return s
            .collections
            .iter()
            .position(|c| c.project_id == p && c.name == name)
            .ok_or_else(not_found);
    }
    let found: Vec<usize> = s
        .collections
        .iter()
        .enumerate()
        .filter(|(_, c)| c.name == name)
        .map(|(i, _)| i)
        .collect();
    match found.as_slice() {
        [] => Err(not_found()),
        [one] => Ok(*one),
        _ => Err(answer(
            StatusCode::CONFLICT,
            json!({"error": "Multiple collections found with this name. Add ?project_id=<uuid> to disambiguate."}),
        )),
    }
}

/// Every `/collections/…` request.
pub(super) async fn collections(
    State(state): State<Shared>,
    method: Method,
    path: Option<Path<String>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let (_, Some(resp)) = crate::fault_for(&state).await {
        return resp;
    }
    let mut s = state.lock().expect("openfn state");
    s.collection_requests += 1;
    let n = s.collection_requests;
    let due: Vec<_> = s
        .writes_before_request
        .iter()
        .filter(|w| w.0 == n)
        .cloned()
        .collect();
    for (_, collection, key, value) in due {
        let now = s.now();
        s.upsert(super::DEFAULT_PROJECT, &collection, &key, &value, now);
    }
    // Exactly one `authorization: Bearer <token>` (api_auth.ex l.24-31).
    let auths: Vec<&str> = headers
        .get_all("authorization")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let token_ok = matches!(auths.as_slice(), [one] if one.strip_prefix("Bearer ") == Some(s.setup.collections_token.as_str()));
    if !token_ok {
        return answer(StatusCode::UNAUTHORIZED, json!({"error": "Unauthorized"}));
    }
    // `Plugs.ApiVersion` (`plugs/api_version.ex@5c7cdbeb` l.22-37): missing or 1 → v1
    // (`/:name[/:key]`, `?project_id=`), 2 → v2 (`/:project_id/:name[/:key]`).
    let versions: Vec<&str> = headers
        .get_all("x-api-version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let v2 = match versions.as_slice() {
        [] | ["1"] => false,
        ["2"] => true,
        other => {
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"error": format!("Unsupported API version: {:?}. Supported versions: 1, 2.", other.join(", "))}),
            )
        }
    };
    let path = path.map(|Path(p)| p).unwrap_or_default();
    let segments: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let (project, name, key) = match (v2, segments.as_slice()) {
        (false, [name]) => (q.get("project_id").map(String::as_str), *name, None),
        (false, [name, key]) => (q.get("project_id").map(String::as_str), *name, Some(*key)),
        (true, [project, name]) => (Some(*project), *name, None),
        (true, [project, name, key]) => (Some(*project), *name, Some(*key)),
        _ => return not_found(),
    };
    let project = project.map(str::to_string);
    let at = match resolve(&s, project.as_deref(), name) {
        Ok(i) => i,
        Err(resp) => return resp,
    };
    match (method, key) {
        (Method::GET, None) => stream(&s, at, &q, v2),
        (Method::GET, Some(key)) => match s.collections[at].items.iter().find(|i| i.key == key) {
            Some(i) => Json(item_json(i)).into_response(),
            // A missing key is a 204 with no body (`CC` l.69-71).
            None => StatusCode::NO_CONTENT.into_response(),
        },
        (Method::PUT, Some(key)) => {
            let value = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|b| b.get("value").cloned());
            match value {
                None => answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"error": "Missing required field: value"}),
                ),
                // The changeset: a string of at most 1 000 000 characters, else 200 with
                // "Format error" (`CC` l.36-37, `item.ex:40`).
                Some(Value::String(v)) if v.chars().count() <= 1_000_000 => {
                    let now = s.now();
                    let (p, n) = (
                        s.collections[at].project_id.clone(),
                        s.collections[at].name.clone(),
                    );
                    s.upsert(&p, &n, key, &v, now);
                    Json(json!({"upserted": 1, "error": null})).into_response()
                }
                Some(_) => Json(json!({"upserted": 0, "error": "Format error"})).into_response(),
            }
        }
        (Method::POST, None) => {
            let items = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|b| b.get("items").cloned());
            let Some(Value::Array(items)) = items else {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"error": "Missing required field: items"}),
                );
            };
            let mut pairs = Vec::new();
            for i in &items {
                match (i["key"].as_str(), i["value"].as_str()) {
                    (Some(k), Some(v)) => pairs.push((k.to_string(), v.to_string())),
                    // `byte_size(value)` raises on a non-string (`CL:258`).
                    _ => {
                        return answer(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            json!({"errors": {"detail": "Internal Server Error"}}),
                        )
                    }
                }
            }
            let mut keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
            keys.sort();
            if keys.windows(2).any(|w| w[0] == w[1]) {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"upserted": 0, "error": "Duplicate key found"}),
                );
            }
            // One `now` for the whole batch (`CL:243-280`).
            let now = s.now();
            let (p, n) = (
                s.collections[at].project_id.clone(),
                s.collections[at].name.clone(),
            );
            for (k, v) in &pairs {
                s.upsert(&p, &n, k, v, now);
            }
            Json(json!({"upserted": pairs.len(), "error": null})).into_response()
        }
        (Method::DELETE, Some(key)) => {
            let items = &mut s.collections[at].items;
            let before = items.len();
            items.retain(|i| i.key != key);
            if items.len() < before {
                Json(json!({"key": key, "deleted": 1, "error": null})).into_response()
            } else {
                Json(json!({"key": key, "deleted": 0, "error": "Item Not Found"})).into_response()
            }
        }
        (Method::DELETE, None) => {
            let pattern = q.get("key").cloned();
            let items = &mut s.collections[at].items;
            let before = items.len();
            items.retain(|i| pattern.as_deref().is_some_and(|p| !key_matches(p, &i.key)));
            let deleted = before - items.len();
            Json(json!({"key": pattern, "deleted": deleted, "error": null})).into_response()
        }
        _ => not_found(),
    }
}

/// `GET /collections/:name`: the matching items after the cursor, by id, and a cursor
/// only when more remain (`CC` l.187-209, 287-307; `CL:474-491`: `*_after` inclusive,
/// `*_before` exclusive).
fn stream(s: &OpenFnState, at: usize, q: &HashMap<String, String>, v2: bool) -> Response {
    let allowed = |k: &str| STREAM_PARAMS.contains(&k) || (!v2 && k == "project_id");
    if q.keys().any(|k| !allowed(k)) {
        return bad_request();
    }
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => return bad_request(),
        },
    };
    let after_id = match q.get("cursor") {
        None => 0,
        Some(c) => match base64::engine::general_purpose::STANDARD
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|t| t.parse::<u64>().ok())
        {
            Some(n) => n,
            None => return bad_request(),
        },
    };
    let bounds = (|| {
        Ok::<_, Response>([
            timestamp(q, "created_after")?,
            timestamp(q, "created_before")?,
            timestamp(q, "updated_after")?,
            timestamp(q, "updated_before")?,
        ])
    })();
    let [ca, cb, ua, ub] = match bounds {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let mut items: Vec<&Item> = s.collections[at]
        .items
        .iter()
        .filter(|i| i.id > after_id)
        .filter(|i| q.get("key").is_none_or(|p| key_matches(p, &i.key)))
        .filter(|i| ca.is_none_or(|t| i.created >= t) && cb.is_none_or(|t| i.created < t))
        .filter(|i| ua.is_none_or(|t| i.updated >= t) && ub.is_none_or(|t| i.updated < t))
        .collect();
    items.sort_by_key(|i| i.id);
    let more = items.len() > limit;
    items.truncate(limit);
    let cursor = more
        .then(|| items.last())
        .flatten()
        .map(|i| base64::engine::general_purpose::STANDARD.encode(i.id.to_string()));
    // Chunked, framed by hand as the controller does.
    let mut chunks = vec![Bytes::from_static(b"{\"items\": [")];
    for (n, i) in items.iter().enumerate() {
        let sep = if n == 0 { "" } else { "," };
        chunks.push(Bytes::from(format!("{sep}{}", item_json(i))));
    }
    chunks.push(Bytes::from(format!("], \"cursor\":{}}}", json!(cursor))));
    let body = Body::from_stream(futures_util::stream::iter(
        chunks.into_iter().map(Ok::<_, std::io::Error>),
    ));
    ([("content-type", "application/json; charset=utf-8")], body).into_response()
}
