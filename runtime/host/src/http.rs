//! `http.send`: the adapter's only egress.
//!
//! Enforced here, in order: the egress policy (origin allowlist, public addresses; see
//! [`crate::egress`]), headers the host owns, secret placement (a reference is filled only
//! where its secret may go; see [`crate::secrets::placement`]), the request size cap (on
//! what the adapter built, before any secret is filled), a timeout, no redirects. On the
//! way back: identity encoding is asked for and any other is decoded here, the response
//! is capped, and a response holding a secret value in any usual encoding is refused as a
//! whole. Errors given back to the adapter are fixed texts: they never echo its URL,
//! headers or body.

use crate::egress::{is_not_public, Destination};
use crate::secrets::{find_references, SecretPolicy, Secrets, Slot};
use crate::HostState;
use dcsync_contract::wit::http::{BasicAuth, Host, HttpError, Method, Request, Response};
use std::io::Read;
use std::time::Duration;

/// Headers the host sets itself; an adapter that sets one gets `invalid-request`.
const HOST_OWNED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "accept-encoding",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

fn host_owned(name: &str) -> bool {
    HOST_OWNED.contains(&name) || name.starts_with("proxy-")
}

fn method(m: Method) -> reqwest::Method {
    match m {
        Method::Get => reqwest::Method::GET,
        Method::Head => reqwest::Method::HEAD,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
    }
}

fn invalid(m: impl Into<String>) -> HttpError {
    HttpError::InvalidRequest(m.into())
}

/// Fills the references in one slot of a request, by the placement rules.
struct Filler<'a> {
    secrets: &'a Secrets,
    policy: &'a SecretPolicy,
    dest: &'a Destination<'a>,
    /// Whether any secret was filled into the request.
    filled: bool,
}

impl Filler<'_> {
    /// `text` with its references filled where `slot` allows; a handed-out reference that
    /// may not go there is an error; anything else that looks like a reference is text.
    fn fill(&mut self, text: &str, slot: Slot<'_>) -> Result<String, HttpError> {
        let refs = find_references(text, self.secrets.token());
        if refs.is_empty() {
            return Ok(text.to_string());
        }
        let legacy = self.policy.manifest.is_none() && !matches!(slot, Slot::JsonBody { .. });
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for r in refs {
            out.push_str(&text[at..r.span.start]);
            at = r.span.end;
            let value = match self.secrets.value(&r.name) {
                Some(v) if r.handed_out || legacy => v,
                None if r.handed_out => {
                    return Err(invalid(format!("unknown secret reference `{}`", r.name)))
                }
                // Not a reference this run handed out: text (event data, most likely).
                _ => {
                    out.push_str(&text[r.span.clone()]);
                    continue;
                }
            };
            self.policy
                .check(
                    &r.name,
                    value.chars().count(),
                    slot,
                    &self.dest.origin,
                    self.dest.own,
                )
                .map_err(|e| invalid(e.to_string()))?;
            out.push_str(value);
            self.filled = true;
        }
        out.push_str(&text[at..]);
        Ok(out)
    }

    /// A body: references only as whole JSON strings at declared pointers.
    fn fill_body(&mut self, body: Vec<u8>, path: &str) -> Result<Vec<u8>, HttpError> {
        let Ok(text) = std::str::from_utf8(&body) else {
            return Ok(body);
        };
        let refs: Vec<_> = find_references(text, self.secrets.token())
            .into_iter()
            .filter(|r| r.handed_out)
            .collect();
        if refs.is_empty() {
            return Ok(body);
        }
        let json: serde_json::Value = serde_json::from_str(text).map_err(|_| {
            invalid("a secret reference may go into a body only as a string of a JSON body")
        })?;
        let mut located = Vec::new();
        json_strings(&json, &mut String::new(), &mut located);
        let mut out = text.to_string();
        for r in refs {
            let reference = &text[r.span.clone()];
            let value = self
                .secrets
                .value(&r.name)
                .ok_or_else(|| invalid(format!("unknown secret reference `{}`", r.name)))?;
            // Exactly one whole JSON string equal to the reference, written plainly: a
            // reference inside a longer string, an object key or an escaped form is not a
            // placement.
            let pointers: Vec<&String> = located
                .iter()
                .filter(|(_, s)| s == reference)
                .map(|(p, _)| p)
                .collect();
            let quoted = format!("\"{reference}\"");
            if pointers.len() != 1 || out.matches(&quoted).count() != 1 {
                return Err(invalid(format!(
                    "secret `{}` may go into a body only once, as a whole JSON string at its declared pointer",
                    r.name
                )));
            }
            let slot = Slot::JsonBody {
                path,
                pointer: pointers[0],
            };
            self.policy
                .check(
                    &r.name,
                    value.chars().count(),
                    slot,
                    &self.dest.origin,
                    self.dest.own,
                )
                .map_err(|e| invalid(e.to_string()))?;
            let encoded =
                serde_json::to_string(value).map_err(|_| invalid("cannot encode a secret"))?;
            out = out.replacen(&quoted, &encoded, 1);
            self.filled = true;
        }
        Ok(out.into_bytes())
    }
}

/// Every string value of `v` with its JSON pointer.
fn json_strings(v: &serde_json::Value, pointer: &mut String, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::String(s) => out.push((pointer.clone(), s.clone())),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push_str(&format!("/{i}"));
                json_strings(item, pointer, out);
                pointer.truncate(len);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                json_strings(item, pointer, out);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

impl HostState {
    /// Check and build the outgoing request; the error is what the adapter sees.
    fn prepare(&mut self, req: Request) -> Result<reqwest::RequestBuilder, HttpError> {
        let policy = &self.call.http;
        let url = url::Url::parse(&req.url).map_err(|_| invalid("the URL does not parse"))?;
        let handed_out = find_references(&req.url, self.call.secrets.token());
        if handed_out.iter().any(|r| r.handed_out) {
            return Err(invalid(
                "secret references are filled in headers, basic auth or a declared JSON body, never in the URL",
            ));
        }
        let dest = policy
            .check(&url)
            .map_err(|d| HttpError::Denied(d.to_string()))?;
        let built = req.body.as_ref().map_or(0, Vec::len);
        if built > policy.max_request {
            self.call.request_too_large = true;
            return Err(HttpError::TooLarge(format!(
                "request body of {built} bytes is over the {}-byte cap",
                policy.max_request
            )));
        }
        let mut filler = Filler {
            secrets: &self.call.secrets,
            policy: &self.call.secret_policy,
            dest: &dest,
            filled: false,
        };
        let mut builder = dest.client.request(method(req.method), url.clone());
        for (name, value) in &req.headers {
            let lower = name.to_ascii_lowercase();
            if host_owned(&lower) {
                return Err(invalid(format!("the `{lower}` header is set by the host")));
            }
            let bearer = lower == "authorization"
                && value.strip_prefix("Bearer ").is_some_and(|rest| {
                    rest.starts_with("{{secret:")
                        && rest.ends_with("}}")
                        && rest.matches("{{").count() == 1
                });
            let filled = filler.fill(
                value,
                Slot::Header {
                    name: &lower,
                    bearer,
                },
            )?;
            let name = reqwest::header::HeaderName::from_bytes(lower.as_bytes())
                .map_err(|_| invalid("a header name is not valid"))?;
            let value = reqwest::header::HeaderValue::from_str(&filled)
                .map_err(|_| invalid("a header value is not valid"))?;
            builder = builder.header(name, value);
        }
        if let Some(BasicAuth { username, password }) = &req.basic_auth {
            let user = filler.fill(username, Slot::BasicAuth)?;
            let pass = filler.fill(password, Slot::BasicAuth)?;
            builder = builder.basic_auth(user, Some(pass));
        }
        if let Some(body) = req.body {
            builder = builder.body(filler.fill_body(body, url.path())?);
        }
        let timeout = req
            .timeout_ms
            .map(|ms| Duration::from_millis(ms.into()).min(policy.timeout))
            .unwrap_or(policy.timeout);
        Ok(builder
            .header(reqwest::header::ACCEPT_ENCODING, "identity")
            .timeout(timeout))
    }
}

/// What the adapter is told when the exchange fails: the kind of failure, never a text
/// that could carry its URL (reqwest's messages name the URL).
fn failure(e: &reqwest::Error) -> HttpError {
    if is_not_public(e) {
        return HttpError::Denied("the name resolves to no public address".into());
    }
    if e.is_timeout() {
        return HttpError::Timeout("no answer within the timeout".into());
    }
    let io = std::iter::successors(std::error::Error::source(e), |s| s.source())
        .find_map(|s| s.downcast_ref::<std::io::Error>())
        .map(|io| io.kind());
    let what = match io {
        Some(std::io::ErrorKind::ConnectionRefused) => "connection refused",
        Some(std::io::ErrorKind::ConnectionReset) => "connection reset",
        Some(std::io::ErrorKind::ConnectionAborted) => "connection aborted",
        Some(std::io::ErrorKind::UnexpectedEof) => "connection closed early",
        _ if e.is_connect() => "could not connect",
        _ if e.is_body() || e.is_decode() => "the connection broke while reading the answer",
        _ if e.is_request() => "the request could not be sent",
        _ => "the exchange failed",
    };
    HttpError::Connection(what.into())
}

/// Send and read the answer: capped, decoded, and refused whole if it holds a secret.
async fn exchange(
    builder: reqwest::RequestBuilder,
    secrets: &Secrets,
    cap: usize,
) -> Result<Response, HttpError> {
    let mut resp = builder.send().await.map_err(|e| failure(&e))?;
    let status = resp.status().as_u16();
    let encoding = resp
        .headers()
        .get(reqwest::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .filter(|(k, _)| {
            *k != reqwest::header::CONTENT_ENCODING && *k != reqwest::header::CONTENT_LENGTH
        })
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let too_large = || HttpError::TooLarge(format!("response body is over the {cap}-byte cap"));
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| failure(&e))? {
        if body.len() + chunk.len() > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let body = match encoding.as_deref() {
        None | Some("identity") | Some("") => body,
        Some("gzip") | Some("x-gzip") => decode(flate2::read::GzDecoder::new(&body[..]), cap)?,
        Some("deflate") => decode(flate2::read::ZlibDecoder::new(&body[..]), cap)?,
        Some(_) => {
            return Err(HttpError::Denied(
                "the answer uses a content encoding the host does not decode".into(),
            ))
        }
    };
    let carries_secret = secrets.found_in(&body)
        || headers
            .iter()
            .any(|(k, v)| secrets.found_in(k.as_bytes()) || secrets.found_in(v.as_bytes()));
    if carries_secret {
        return Err(HttpError::Denied(
            "the answer holds a secret value of this config and was refused whole (the external system echoes credentials; see SECURITY.md)".into(),
        ));
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Inflate a compressed answer, capped.
fn decode(reader: impl Read, cap: usize) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::new();
    reader
        .take(cap as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| HttpError::Connection("the answer's compressed body is damaged".into()))?;
    if out.len() > cap {
        return Err(HttpError::TooLarge(format!(
            "response body is over the {cap}-byte cap once decoded"
        )));
    }
    Ok(out)
}

impl Host for HostState {
    async fn send(&mut self, req: Request) -> wasmtime::Result<Result<Response, HttpError>> {
        self.call.hostcall()?;
        let method = req.method;
        let started = std::time::Instant::now();
        let result = match self.prepare(req) {
            Ok(builder) => exchange(builder, &self.call.secrets, self.call.http.max_response).await,
            Err(e) => Err(e),
        };
        self.call.http_time += started.elapsed();
        match &result {
            Ok(r) => {
                tracing::debug!(target: "adapter.http", ?method, status = r.status, "adapter request")
            }
            Err(e) => {
                tracing::debug!(target: "adapter.http", ?method, error = ?e, "adapter request failed");
                if matches!(e, HttpError::Denied(_) | HttpError::InvalidRequest(_)) {
                    self.call.denials.push(format!("{e:?}"));
                }
            }
        }
        Ok(result)
    }
}
