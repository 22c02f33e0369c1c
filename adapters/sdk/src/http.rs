//! Outbound HTTP through the host: the adapter's only network access.
//!
//! The host allows only the config URL's origin (plus what the operator adds), never
//! follows redirects, and fills in `{{secret:NAME}}` references at send time.

use crate::bindings::datacollect::external_sync::http as wit;
use crate::SyncError;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// An HTTP request under construction.
#[derive(Clone, Debug)]
pub struct Request {
    method: wit::Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    basic_auth: Option<(String, String)>,
    timeout_ms: Option<u32>,
}

impl Request {
    fn new(method: wit::Method, url: impl Into<String>) -> Self {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            basic_auth: None,
            timeout_ms: None,
        }
    }

    pub fn get(url: impl Into<String>) -> Self {
        Self::new(wit::Method::Get, url)
    }

    pub fn post(url: impl Into<String>) -> Self {
        Self::new(wit::Method::Post, url)
    }

    pub fn put(url: impl Into<String>) -> Self {
        Self::new(wit::Method::Put, url)
    }

    /// Add a header; its value may hold `{{secret:NAME}}` references.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// A JSON body (and its content type).
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Self, SyncError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| SyncError::Internal(format!("cannot encode request body: {e}")))?;
        self.body = Some(bytes);
        Ok(self.header("content-type", "application/json"))
    }

    /// A body that is JSON text already (and its content type), e.g. a request built
    /// around [`crate::EncodedBatch::events`] without parsing it.
    pub fn json_text(mut self, text: String) -> Self {
        self.body = Some(text.into_bytes());
        self.header("content-type", "application/json")
    }

    /// Add a query parameter (percent-encoded) to the URL.
    pub fn query(mut self, name: &str, value: impl AsRef<str>) -> Self {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        self.url = format!(
            "{}{sep}{}={}",
            self.url,
            encode_query(name),
            encode_query(value.as_ref())
        );
        self
    }

    /// A raw body.
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }

    /// HTTP basic auth; pass references such as `Config::secret_ref("password")`.
    pub fn basic_auth(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic_auth = Some((username.into(), password.into()));
        self
    }

    /// What the config says about every request: extra fields named `header.<Name>` as
    /// headers (a secret one as its reference), and with `"auth": "basic"` basic auth from
    /// the sync's credentials, else from the `username` field and the secret `password`.
    pub fn with_config(mut self, config: &crate::Config) -> Self {
        for (name, value) in &config.extra_fields {
            if let Some(header) = name.strip_prefix("header.") {
                self = self.header(header, value.clone());
            }
        }
        if config.auth.as_deref() != Some("basic") {
            return self;
        }
        if config.has_secret("credentials.password") {
            self.basic_auth(
                crate::Config::secret_ref("credentials.username"),
                crate::Config::secret_ref("credentials.password"),
            )
        } else {
            let user = config.extra("username").unwrap_or_default().to_string();
            self.basic_auth(user, crate::Config::secret_ref("password"))
        }
    }

    /// Ask for a shorter timeout than the host's (the host's limit still applies).
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    /// Send it. A 3xx, 4xx or 5xx is a [`Response`], not an error: see
    /// [`Response::error_for_status`].
    pub fn send(self) -> Result<Response, SyncError> {
        let url = self.url.clone();
        let req = wit::Request {
            method: self.method,
            url: self.url,
            headers: self.headers,
            body: self.body,
            basic_auth: self
                .basic_auth
                .map(|(username, password)| wit::BasicAuth { username, password }),
            timeout_ms: self.timeout_ms,
        };
        match wit::send(&req) {
            Ok(r) => Ok(Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
                url,
            }),
            Err(e) => Err(e.into()),
        }
    }
}

impl From<wit::HttpError> for SyncError {
    fn from(e: wit::HttpError) -> Self {
        match e {
            wit::HttpError::Denied(m) => SyncError::Config(format!("request denied: {m}")),
            wit::HttpError::InvalidRequest(m) => SyncError::Config(format!("invalid request: {m}")),
            wit::HttpError::Timeout(m) => SyncError::transient(format!("timeout: {m}")),
            wit::HttpError::Connection(m) => SyncError::transient(format!("connection: {m}")),
            wit::HttpError::TooLarge(m) => SyncError::Internal(format!("too large: {m}")),
            wit::HttpError::BudgetExhausted(m) => SyncError::Internal(format!("budget: {m}")),
        }
    }
}

/// An HTTP response (the host refuses one that holds a secret value).
#[derive(Clone, Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, as sent.
    pub headers: Vec<(String, String)>,
    /// The body, decoded.
    pub body: Vec<u8>,
    /// The URL the request went to (for error messages).
    pub url: String,
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON. An answer in another shape is a `Transient` error marked
    /// `protocol:` — the host retries it a few times (a proxy's error page, a half-written
    /// answer) and, if it stays malformed, records the run as a protocol failure.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, SyncError> {
        serde_json::from_slice(&self.body).map_err(|e| SyncError::Transient {
            retry_after_ms: None,
            message: format!(
                "protocol: HTTP {} from {}: the answer is not the expected JSON: {e}",
                self.status, self.url
            ),
        })
    }

    /// The body parsed as JSON, or `T::default()` when the body is empty (a 204, or a
    /// 200 with nothing to say).
    pub fn json_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, SyncError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        self.json()
    }

    /// `Retry-After` in milliseconds, when given in seconds.
    pub fn retry_after_ms(&self) -> Option<u64> {
        self.header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| s.saturating_mul(1000))
    }

    /// The usual classification of a status, each message naming the URL: 2xx is fine;
    /// 401 and 403 are `Unauthorized`; 404 and 410 are `Config` (the URL is wrong);
    /// 408, 425, 429 and 5xx are `Transient` (honouring `Retry-After`); anything else is
    /// `Internal` with the start of the body.
    pub fn error_for_status(self) -> Result<Response, SyncError> {
        let (status, url) = (self.status, self.url.clone());
        let excerpt: String = self.text().chars().take(200).collect();
        match status {
            200..=299 => Ok(self),
            401 | 403 => Err(SyncError::Unauthorized(format!(
                "HTTP {status} from {url}: the server refused the credentials"
            ))),
            404 | 410 => Err(SyncError::Config(format!(
                "HTTP {status} from {url}: nothing there; check the config's url"
            ))),
            408 | 425 | 429 | 500..=599 => Err(SyncError::Transient {
                retry_after_ms: self.retry_after_ms(),
                message: format!("HTTP {status} from {url}: {excerpt}"),
            }),
            _ => Err(SyncError::Internal(format!(
                "HTTP {status} from {url}: {excerpt}"
            ))),
        }
    }
}

/// Percent-encode a query parameter value.
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
