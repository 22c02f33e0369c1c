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
//!
//! Over 400 lines: the one egress path, request and answer, kept in one file so the order
//! of the rules it enforces reads top to bottom.

use crate::egress::{is_not_public, origin_of, Destination};
use crate::secrets::{find_references, SecretPolicy, Secrets, Slot};
use crate::tape::{Tape, TapeAnswer, TapeRequest};
use crate::HostState;
use base64::Engine as _;
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

/// A body holding a secret may be at most this large: it is parsed to find the
/// secret's place, and the host's own work must stay bounded.
const MAX_BODY_WITH_SECRET: usize = 1 << 20;

impl Filler<'_> {
    /// `text` with its references filled where `slot` allows; a handed-out reference that
    /// may not go there is an error; anything else that looks like a reference is text.
    fn fill(&mut self, text: &str, slot: Slot<'_>) -> Result<String, HttpError> {
        let refs = find_references(text, self.secrets.token());
        if refs.is_empty() {
            return Ok(text.to_string());
        }
        let legacy = self.policy.manifest.is_none();
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for r in refs {
            out.push_str(&text[at..r.span.start]);
            at = r.span.end;
            let value = match self.secrets.value(&r.name) {
                Some(v) if r.handed_out || legacy => v,
                None if r.handed_out => {
                    return Err(invalid("a secret reference names no secret of this run"))
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

    /// A body: a handed-out reference only as a whole JSON string, written plainly, at a
    /// declared pointer of a declared path; every other occurrence refuses the request.
    /// The secret replaces exactly that string's bytes: what was checked is what is sent.
    /// Returns the body to send and whether a secret was filled into it.
    fn fill_body(&mut self, body: Vec<u8>, path: &str) -> Result<(Vec<u8>, bool), HttpError> {
        let Ok(text) = std::str::from_utf8(&body) else {
            return Ok((body, false)); // no reference can be filled in it: sent as it is
        };
        let refs: Vec<_> = find_references(text, self.secrets.token())
            .into_iter()
            .filter(|r| r.handed_out)
            .collect();
        if refs.is_empty() {
            return Ok((body, false));
        }
        if body.len() > MAX_BODY_WITH_SECRET {
            return Err(invalid(format!(
                "a request body holding a secret may be at most {MAX_BODY_WITH_SECRET} bytes"
            )));
        }
        let mut spans = Vec::with_capacity(refs.len());
        for r in &refs {
            let value = self
                .secrets
                .value(&r.name)
                .ok_or_else(|| invalid("a secret reference names no secret of this run"))?;
            let pointer = crate::json_body::pointer_of(text, r.span.clone()).ok_or_else(|| {
                invalid(format!(
                    "secret `{}` may go into a body only as a whole JSON string, written plainly, in an object with no repeated keys",
                    r.name
                ))
            })?;
            let slot = Slot::JsonBody {
                path,
                pointer: &pointer,
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
            // The span includes the string's quotes.
            spans.push((r.span.start - 1..r.span.end + 1, encoded));
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (span, encoded) in spans {
            out.push_str(&text[at..span.start]);
            out.push_str(&encoded);
            at = span.end;
        }
        out.push_str(&text[at..]);
        self.filled = true;
        Ok((out.into_bytes(), true))
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
        if req.basic_auth.is_some()
            && req
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        {
            return Err(invalid(
                "a request may carry basic auth or an authorization header, not both",
            ));
        }
        let mut filler = Filler {
            secrets: &self.call.secrets,
            policy: &self.call.secret_policy,
            dest: &dest,
            filled: false,
        };
        let mut builder = dest.client.request(method(req.method), url.clone());
        let mut content_type = None;
        for (name, value) in &req.headers {
            let lower = name.to_ascii_lowercase();
            if host_owned(&lower) {
                return Err(invalid(format!("the `{lower}` header is set by the host")));
            }
            if lower == "content-type" {
                content_type = Some(value.clone());
                continue;
            }
            // Bearer: the whole value is `Bearer ` and one reference, nothing around it.
            let bearer = lower == "authorization"
                && value.strip_prefix("Bearer ").is_some_and(|rest| {
                    let refs = find_references(rest, self.call.secrets.token());
                    refs.len() == 1 && refs[0].span == (0..rest.len())
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
            let user = filler.fill(username, Slot::BasicAuthUser)?;
            let pass = filler.fill(password, Slot::BasicAuthPassword)?;
            builder = builder.basic_auth(user, Some(pass));
        }
        if let Some(body) = req.body {
            let path = policy.relative_path(&url);
            let (body, holds_secret) = filler.fill_body(body, &path)?;
            if holds_secret {
                // A body that holds a secret is JSON, and says so: a server must not read
                // it as a form whose fields it would store.
                if content_type
                    .as_deref()
                    .is_some_and(|c| !c.to_ascii_lowercase().starts_with("application/json"))
                {
                    return Err(invalid(
                        "a request body holding a secret must be sent as application/json",
                    ));
                }
                content_type = Some("application/json".into());
            }
            builder = builder.body(body);
        }
        if let Some(ct) = content_type {
            let value = reqwest::header::HeaderValue::from_str(&ct)
                .map_err(|_| invalid("a header value is not valid"))?;
            builder = builder.header(reqwest::header::CONTENT_TYPE, value);
        }
        self.call.secret_sent |= filler.filled;
        if let Some(origin) = origin_of(&url) {
            self.call.origins.insert(origin);
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

/// The call's answer held a secret value: the host stops the call (a trap the adapter
/// cannot catch), so it learns nothing more in it, and the config is held until the
/// operator looks (see SECURITY.md: an answer holding a secret is either a system echoing
/// credentials or an adapter probing for them).
#[derive(Debug, thiserror::Error)]
#[error("an answer held a secret value of this config; the call was stopped")]
pub struct SecretEchoed;

/// Why an exchange gave no answer.
enum Failed {
    /// What the adapter is told.
    Http(HttpError),
    /// The answer held a secret.
    SecretEchoed,
}

impl From<HttpError> for Failed {
    fn from(e: HttpError) -> Self {
        Failed::Http(e)
    }
}

/// Answers larger than this are decoded and scanned off the async threads.
const INLINE_WORK: usize = 256 << 10;

/// An answer as it came over the wire: every header, the body still encoded.
struct Raw {
    status: u16,
    headers: Headers,
    body: Vec<u8>,
}

/// Send, and read the answer up to the cap.
async fn fetch(builder: reqwest::RequestBuilder, cap: usize) -> Result<Raw, Failed> {
    let mut resp = builder.send().await.map_err(|e| failure(&e))?;
    let status = resp.status().as_u16();
    let headers: Headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| failure(&e))? {
        if body.len() + chunk.len() > cap {
            return Err(
                HttpError::TooLarge(format!("response body is over the {cap}-byte cap")).into(),
            );
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Raw {
        status,
        headers,
        body,
    })
}

/// Read an answer: decoded, capped, and refused whole if it holds a secret.
async fn finish(raw: Raw, secrets: &Secrets, cap: usize) -> Result<Response, Failed> {
    let Raw {
        status,
        headers: all,
        body,
    } = raw;
    if body.len() > cap {
        return Err(
            HttpError::TooLarge(format!("response body is over the {cap}-byte cap")).into(),
        );
    }
    let encodings: Vec<String> = all
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("content-encoding"))
        .flat_map(|(_, v)| {
            v.split(',')
                .map(|e| e.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .filter(|e| !e.is_empty() && e != "identity")
        .collect();
    let headers: Headers = all
        .into_iter()
        .filter(|(k, _)| {
            !k.eq_ignore_ascii_case("content-encoding") && !k.eq_ignore_ascii_case("content-length")
        })
        .collect();
    let large = body.len() > INLINE_WORK;
    let secrets = secrets.clone();
    let work = move || inspect(body, headers, &encodings, &secrets, cap);
    let (body, headers) = if large {
        tokio::task::spawn_blocking(work).await.map_err(|_| {
            Failed::Http(HttpError::Connection("the answer could not be read".into()))
        })??
    } else {
        work()?
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Response headers, as the adapter is given them.
type Headers = Vec<(String, String)>;

/// Decode the answer and look for secrets in it: the bytes and headers the adapter may
/// be given, or why not.
fn inspect(
    body: Vec<u8>,
    headers: Headers,
    encodings: &[String],
    secrets: &Secrets,
    cap: usize,
) -> Result<(Vec<u8>, Headers), Failed> {
    let body = match encodings {
        [] => body,
        [one] if one == "gzip" || one == "x-gzip" => {
            decode(flate2::read::GzDecoder::new(&body[..]), cap)?
        }
        [one] if one == "deflate" => decode(flate2::read::ZlibDecoder::new(&body[..]), cap)?,
        _ => {
            return Err(HttpError::Denied(
                "the answer uses a content encoding the host does not decode".into(),
            )
            .into())
        }
    };
    // A compressed body sent without saying so is looked into as well.
    let hidden = body
        .starts_with(&[0x1f, 0x8b])
        .then(|| decode(flate2::read::GzDecoder::new(&body[..]), cap).unwrap_or_default());
    let holds = secrets.found_in(&body)
        || hidden.as_deref().is_some_and(|h| secrets.found_in(h))
        || headers
            .iter()
            .any(|(k, v)| secrets.found_in(k.as_bytes()) || secrets.found_in(v.as_bytes()));
    if holds {
        return Err(Failed::SecretEchoed);
    }
    Ok((body, headers))
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
        let taped = self
            .call
            .tape
            .clone()
            .map(|t| (t, TapeRequest::of(&req, self.call.secrets.token())));
        let cap = self.call.http.max_response;
        let result = match self.prepare(req) {
            Err(e) => Err(Failed::Http(e)),
            Ok(builder) => match &taped {
                // Replaying (or scripted): every rule above applied; the answer comes from
                // the recording.
                Some((tape, request)) if !matches!(**tape, Tape::Record(_)) => {
                    match tape.answer_for(request).flatten() {
                        Some(a) => {
                            let raw = Raw {
                                status: a.status,
                                body: a.body_bytes(),
                                headers: a.headers,
                            };
                            finish(raw, &self.call.secrets, cap).await
                        }
                        None => Err(Failed::Http(HttpError::Connection(
                            "the recording has no such request".into(),
                        ))),
                    }
                }
                _ => match fetch(builder, cap).await {
                    Err(e) => Err(e),
                    Ok(raw) => {
                        let kept = taped.as_ref().map(|_| TapeAnswer {
                            status: raw.status,
                            headers: raw.headers.clone(),
                            body: base64::engine::general_purpose::STANDARD.encode(&raw.body),
                        });
                        let answer = finish(raw, &self.call.secrets, cap).await;
                        // Only an answer that held no secret is kept.
                        if let (Ok(_), Some((tape, request)), Some(kept)) = (&answer, &taped, kept)
                        {
                            tape.keep(request.clone(), kept);
                        }
                        answer
                    }
                },
            },
        };
        self.call.http_time += started.elapsed();
        match result {
            Ok(r) => {
                tracing::debug!(target: "adapter.http", ?method, status = r.status, "adapter request");
                Ok(Ok(r))
            }
            Err(Failed::SecretEchoed) => {
                tracing::warn!(target: "adapter.http", ?method, config = %self.call.config_id, "an answer held a secret value; call stopped");
                self.call.secret_echoed = true;
                self.call.denials.push(
                    "an answer held a secret value of this config; the call was stopped".into(),
                );
                Err(SecretEchoed.into())
            }
            Err(Failed::Http(e)) => {
                tracing::debug!(target: "adapter.http", ?method, error = ?e, "adapter request failed");
                if matches!(e, HttpError::Denied(_) | HttpError::InvalidRequest(_)) {
                    self.call.denials.push(format!("{e:?}"));
                }
                Ok(Err(e))
            }
        }
    }
}
