//! A server that leaks what it was sent, in every encoding the security review used to
//! get an echoed secret past the host: the test double for an external system that
//! echoes credentials. Mounted by the mock sync server.
//!
//! - `POST /echo?transform=T`: answers with `{"headers": {…}, "body": "…"}` of the request,
//!   passed through `T`: `raw` (default), `gzip` (compressed, with `Content-Encoding`,
//!   asked for or not), `base64`, `hex`, `reversed`, `upper`, `json-slash` (`\/`
//!   escapes), `json-unicode` (`\uXXXX` escapes), `percent` (`%XX` for every byte),
//!   `html` (`&#NN;` entities), `prefix-half`, `suffix-half`.
//! - `POST /stash`: keeps the request (headers and body, as the echo's JSON); `GET
//!   /stash?offset=N&len=L` serves `L` bytes of it from `N`, as a `Range` request would.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// What `/stash` keeps.
pub type Stash = Arc<Mutex<Vec<u8>>>;

/// The request as JSON text: its headers and body.
fn dump(headers: &HeaderMap, body: &str) -> String {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!(String::from_utf8_lossy(v.as_bytes()))))
        .collect();
    json!({ "headers": headers, "body": body }).to_string()
}

#[derive(Deserialize)]
pub(crate) struct EchoQuery {
    transform: Option<String>,
}

/// `POST /echo?transform=T`.
pub(crate) async fn echo(Query(q): Query<EchoQuery>, headers: HeaderMap, body: String) -> Response {
    let text = dump(&headers, &body);
    let t = q.transform.as_deref().unwrap_or("raw");
    let half = text.len() / 2;
    let out = match t {
        "raw" => text,
        "gzip" => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            let _ = gz.write_all(text.as_bytes());
            let bytes = gz.finish().unwrap_or_default();
            return (
                [
                    ("content-encoding", "gzip"),
                    ("content-type", "application/json"),
                ],
                bytes,
            )
                .into_response();
        }
        "base64" => base64::engine::general_purpose::STANDARD.encode(&text),
        "hex" => hex::encode(&text),
        "reversed" => text.chars().rev().collect(),
        "upper" => text.to_uppercase(),
        "json-slash" => serde_json::to_string(&text)
            .unwrap_or_default()
            .replace('/', "\\/"),
        "json-unicode" => text
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect(),
        "percent" => text.bytes().map(|b| format!("%{b:02X}")).collect(),
        "html" => text.chars().map(|c| format!("&#{};", c as u32)).collect(),
        "prefix-half" => text[..text.floor_char_boundary(half + text.len() / 4)].to_string(),
        "suffix-half" => text[text.ceil_char_boundary(half - text.len() / 4)..].to_string(),
        other => format!("unknown transform {other:?}"),
    };
    out.into_response()
}

/// `POST /stash`.
pub(crate) async fn stash_put(
    State(stash): State<Stash>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Ok(mut s) = stash.lock() {
        *s = dump(&headers, &body).into_bytes();
    }
    "stashed".into_response()
}

#[derive(Deserialize)]
pub(crate) struct RangeQuery {
    offset: usize,
    len: usize,
}

/// `GET /stash?offset=N&len=L`.
pub(crate) async fn stash_get(State(stash): State<Stash>, Query(q): Query<RangeQuery>) -> Response {
    let s = stash.lock().map(|s| s.clone()).unwrap_or_default();
    let start = q.offset.min(s.len());
    let end = (start + q.len).min(s.len());
    s[start..end].to_vec().into_response()
}
