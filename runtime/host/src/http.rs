//! `http.send`: the adapter's only egress.
//!
//! Enforced here: an origin allowlist (scheme + host + port), resolved addresses checked
//! at connect time (no loopback / private / link-local unless the config itself targets
//! such an address), no redirects, a per-request timeout, request and response size caps.
//! Secret references are filled in only on the way out; secret values are scrubbed from
//! what comes back.

use crate::egress::is_not_public;
use crate::secrets::Secrets;
use crate::HostState;
use base64::Engine as _;
use dcsync_contract::wit::http::{BasicAuth, Host, HttpError, Method, Request, Response};
use std::time::Duration;

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

impl HostState {
    /// Check and build the outgoing request; the error is what the adapter sees.
    fn prepare(&mut self, req: Request) -> Result<reqwest::RequestBuilder, HttpError> {
        let policy = &self.call.http;
        if req.url.contains("{{secret:") {
            return Err(HttpError::InvalidRequest(
                "secret references are filled in headers, body and basic-auth only, never in the URL".into(),
            ));
        }
        let url = url::Url::parse(&req.url)
            .map_err(|e| HttpError::InvalidRequest(format!("the URL does not parse: {e}")))?;
        policy
            .check(&url)
            .map_err(|d| HttpError::Denied(d.to_string()))?;
        let Some(client) = policy.client() else {
            return Err(HttpError::Denied("no network access here".into()));
        };
        let secrets = &self.call.secrets;
        let fill = |s: &str| secrets.fill(s).map_err(HttpError::InvalidRequest);
        let mut builder = client.request(method(req.method), url);
        for (name, value) in &req.headers {
            let value = fill(value)?;
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HttpError::InvalidRequest(format!("bad header name {name:?}")))?;
            let value = reqwest::header::HeaderValue::from_str(&value)
                .map_err(|_| HttpError::InvalidRequest(format!("bad value for header {name}")))?;
            builder = builder.header(name, value);
        }
        let mut derived = None;
        if let Some(BasicAuth { username, password }) = &req.basic_auth {
            let (user, pass) = (fill(username)?, fill(password)?);
            if (user.as_str(), pass.as_str()) != (username.as_str(), password.as_str()) {
                // A server that echoes the Authorization header must not hand the secret back.
                derived = Some(
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")),
                );
            }
            builder = builder.basic_auth(user, Some(pass));
        }
        if let Some(body) = req.body {
            let body = match std::str::from_utf8(&body) {
                Ok(text) if text.contains("{{secret:") => fill(text)?.into_bytes(),
                _ => body,
            };
            if body.len() > policy.max_request {
                return Err(HttpError::TooLarge(format!(
                    "request body of {} bytes is over the {}-byte cap",
                    body.len(),
                    policy.max_request
                )));
            }
            builder = builder.body(body);
        }
        let timeout = req
            .timeout_ms
            .map(|ms| Duration::from_millis(ms.into()).min(policy.timeout))
            .unwrap_or(policy.timeout);
        if let Some(d) = derived {
            self.call.secrets.insert_derived(d);
        }
        Ok(builder.timeout(timeout))
    }
}

/// Send and read the answer (capped), scrubbing secrets out of it.
async fn exchange(
    builder: reqwest::RequestBuilder,
    secrets: Secrets,
    cap: usize,
) -> Result<Response, HttpError> {
    let secrets = &secrets;
    let classify = |e: reqwest::Error| {
        let msg = secrets.scrub(&error_chain(&e));
        if is_not_public(&e) {
            HttpError::Denied(msg)
        } else if e.is_timeout() {
            HttpError::Timeout(msg)
        } else {
            HttpError::Connection(msg)
        }
    };
    let mut resp = builder.send().await.map_err(classify)?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                secrets.scrub(&String::from_utf8_lossy(v.as_bytes())),
            )
        })
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > cap {
            return Err(HttpError::TooLarge(format!(
                "response body is over the {cap}-byte cap"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response {
        status,
        headers,
        body: secrets.scrub_bytes(body),
    })
}

/// A reqwest error with its causes, which hold the useful part ("connection refused").
fn error_chain(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

impl Host for HostState {
    async fn send(&mut self, req: Request) -> wasmtime::Result<Result<Response, HttpError>> {
        self.call.hostcall()?;
        let (method, url) = (req.method, req.url.clone());
        let started = std::time::Instant::now();
        let result = match self.prepare(req) {
            Ok(builder) => {
                exchange(
                    builder,
                    self.call.secrets.clone(),
                    self.call.http.max_response,
                )
                .await
            }
            Err(e) => Err(e),
        };
        self.call.http_time += started.elapsed();
        match &result {
            Ok(r) => {
                tracing::debug!(target: "adapter.http", ?method, url, status = r.status, "adapter request")
            }
            Err(e) => {
                let e = format!("{e:?}");
                tracing::debug!(target: "adapter.http", ?method, url, error = e, "adapter request failed");
                if matches!(result, Err(HttpError::Denied(_))) {
                    self.call.denials.push(e);
                }
            }
        }
        Ok(result)
    }
}
