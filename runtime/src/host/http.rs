//! `http.send`: the adapter's only egress.
//!
//! Enforced here: an origin allowlist (scheme + host + port), resolved addresses checked
//! at connect time (no loopback / private / link-local unless the config itself targets
//! such an address), no redirects, a per-request timeout, request and response size caps.
//! Secret references are filled in only on the way out; secret values are scrubbed from
//! what comes back.

use super::HostState;
use crate::engine::bindings::datacollect::external_sync::http::{
    BasicAuth, Host, HttpError, Method, Request, Response,
};
use crate::secrets::Secrets;
use base64::Engine as _;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The two HTTP clients the host shares between calls: one that refuses non-public
/// addresses, for configs that target public systems, and one for configs that target
/// local or private systems themselves (the local mock servers).
#[derive(Clone, Debug)]
pub struct HttpClients {
    public_only: reqwest::Client,
    any_address: reqwest::Client,
}

/// Name resolution for the public-only client: a name to its addresses.
pub type Lookup = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>
        + Send
        + Sync,
>;

/// The system resolver.
fn system_lookup() -> Lookup {
    Arc::new(|host: String| {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    })
}

/// What the public-only resolver says when it refuses a name (also how we recognise it).
const NOT_PUBLIC: &str = "resolves to no public address";

impl HttpClients {
    /// Clients that resolve names with the system resolver.
    pub fn new() -> Result<Self, reqwest::Error> {
        Self::with_lookup(system_lookup())
    }

    /// Clients whose public-only resolver uses `lookup` (tests point names anywhere).
    pub fn with_lookup(lookup: Lookup) -> Result<Self, reqwest::Error> {
        let builder = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(8)
                .user_agent(concat!("dcsync/", env!("CARGO_PKG_VERSION")))
        };
        Ok(HttpClients {
            public_only: builder()
                .dns_resolver(Arc::new(PublicOnly { lookup }))
                .build()?,
            any_address: builder().build()?,
        })
    }
}

/// What one config's adapter may reach over HTTP.
#[derive(Clone, Debug)]
pub struct HttpPolicy {
    /// `None`: no network at all (`describe()`).
    clients: Option<HttpClients>,
    /// Allowed origins, as `scheme://host:port`.
    allowed: Vec<String>,
    /// The config itself targets a loopback or private address.
    allow_private: bool,
    timeout: Duration,
    max_request: usize,
    max_response: usize,
}

fn origin_of(url: &url::Url) -> Option<String> {
    Some(format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str()?.to_ascii_lowercase(),
        url.port_or_known_default()?
    ))
}

impl HttpPolicy {
    /// The config URL's origin plus `extra_origins` (operator allowlist additions).
    /// No network: every request is denied (for `describe()`, which must not do I/O).
    pub fn offline(limits: &crate::engine::Limits) -> Self {
        HttpPolicy {
            clients: None,
            allowed: Vec::new(),
            allow_private: false,
            timeout: Duration::from_secs(1),
            max_request: limits.max_request_bytes,
            max_response: limits.max_response_bytes,
        }
    }

    pub fn for_config(
        clients: &HttpClients,
        config_url: &str,
        extra_origins: &[String],
        timeout: Duration,
        limits: &crate::engine::Limits,
    ) -> Self {
        let mut allowed = Vec::new();
        let mut allow_private = false;
        if let Ok(u) = url::Url::parse(config_url) {
            allowed.extend(origin_of(&u));
            allow_private = match u.host() {
                Some(url::Host::Ipv4(ip)) => !is_public(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => !is_public(IpAddr::V6(ip)),
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                None => false,
            };
        }
        for o in extra_origins {
            if let Some(origin) = url::Url::parse(o).ok().as_ref().and_then(origin_of) {
                allowed.push(origin);
            }
        }
        HttpPolicy {
            clients: Some(clients.clone()),
            allowed,
            allow_private,
            timeout,
            max_request: limits.max_request_bytes,
            max_response: limits.max_response_bytes,
        }
    }
}

/// Not loopback, private, link-local, unique-local, CGNAT, multicast or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// A resolver that drops non-public addresses, so a public name cannot be pointed at the
/// host's own network.
struct PublicOnly {
    lookup: Lookup,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let lookup = self.lookup.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = lookup(host.clone())
                .await?
                .into_iter()
                .filter(|ip| is_public(*ip))
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            if addrs.is_empty() {
                let msg = format!(
                    "{host} {NOT_PUBLIC} (loopback, private and link-local addresses are refused)"
                );
                return Err(msg.into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
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
            .map_err(|e| HttpError::InvalidRequest(format!("bad URL {:?}: {e}", req.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HttpError::Denied(format!(
                "scheme {:?} is not allowed",
                url.scheme()
            )));
        }
        let origin =
            origin_of(&url).ok_or_else(|| HttpError::InvalidRequest("URL has no host".into()))?;
        if !policy.allowed.contains(&origin) {
            return Err(HttpError::Denied(format!(
                "{origin} is not an allowed origin for this config (allowed: {})",
                policy.allowed.join(", ")
            )));
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if !policy.allow_private && literal.is_some_and(|ip| !is_public(ip)) {
            return Err(HttpError::Denied(format!(
                "{origin} is not a public address"
            )));
        }
        let Some(clients) = &policy.clients else {
            return Err(HttpError::Denied(
                "no network access here (describe() must not do I/O)".into(),
            ));
        };
        let client = if policy.allow_private {
            &clients.any_address
        } else {
            &clients.public_only
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
        if msg.contains(NOT_PUBLIC) {
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
