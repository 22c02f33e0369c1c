//! Over 400 lines: one test per rule of `http.send`, each against a local server, in one file for mutation testing.
//!
//! Every test drives `<HostState as http::Host>::send` directly, as a guest's call would,
//! against a small HTTP/1.1 server of its own on 127.0.0.1 (a config URL on loopback is
//! allowed to reach loopback: see `egress.rs`). The server records each request it gets,
//! so a refusal is also checked to have sent nothing.

use base64::Engine as _;
use dcsync_contract::adapter::{Manifest, Placement};
use dcsync_contract::limits::{Limit, LimitBreach, Limits};
use dcsync_contract::wit::http::{self as wit, BasicAuth, Host as _, Method, Request};
use dcsync_host::secrets::{SecretPolicy, Secrets};
use dcsync_host::tape::{Exchange, Tape, TapeAnswer, TapeRequest};
use dcsync_host::{CallContext, HostState, HttpClients, HttpPolicy, Lookup, SecretEchoed};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const APIKEY: &str = "AK-7f3e9c21d4b8-0c5a2e6f91d3b7a4-58e0c1f2a9b6d3e7-1c4f8a2b6e9d0c37";
const PASSWORD: &str = r#"Pw-q8Z"m2\Lx7"#;
const TOKEN: &str = "tk-91b7e3aa0f55c2";
const USER: &str = "operator-jdoe";
const TENANT: &str = "tenant-4471";
const PIN: &str = "73914";

fn secrets() -> Secrets {
    Secrets::new(
        [
            ("apiKey", APIKEY),
            ("password", PASSWORD),
            ("token", TOKEN),
            ("username", USER),
            ("header.X-Tenant", TENANT),
            ("pin", PIN),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    )
}

// ---- the local server -------------------------------------------------------------

/// A request as the server read it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    /// Every value of the header `name`.
    fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// What the server does once it has read a request.
enum Reply {
    /// Write these bytes and close.
    Send(Vec<u8>),
    /// Wait, then write these bytes and close.
    After(Duration, Vec<u8>),
    /// Write these bytes, then keep the connection open without a byte more.
    Hold(Vec<u8>),
    /// Close with nothing written.
    Close,
    /// Close with a reset (RST).
    Reset,
}

struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (log, handler) = (log.clone(), handler.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut stream).await else {
                        return;
                    };
                    let reply = handler(&request);
                    log.lock().unwrap().push(request);
                    match reply {
                        Reply::Send(bytes) => {
                            let _ = stream.write_all(&bytes).await;
                        }
                        Reply::After(wait, bytes) => {
                            tokio::time::sleep(wait).await;
                            let _ = stream.write_all(&bytes).await;
                        }
                        Reply::Hold(bytes) => {
                            let _ = stream.write_all(&bytes).await;
                            std::future::pending::<()>().await;
                        }
                        Reply::Close => {}
                        Reply::Reset => {
                            let _ = stream.set_zero_linger();
                        }
                    }
                });
            }
        });
        Server { addr, seen }
    }

    /// Answers every request with 200 and `body`.
    async fn ok(body: &'static str) -> Server {
        Server::start(move |_| Reply::Send(answer(200, &[], body.as_bytes()))).await
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        method,
        path,
        headers,
        body,
    })
}

/// An HTTP/1.1 answer with its length, closing the connection.
fn answer(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

// ---- the host side ----------------------------------------------------------------

/// One call's setup: the config URL, what the operator added, the placement rules.
struct Cfg {
    url: String,
    extra: Vec<String>,
    timeout: Duration,
    limits: Limits,
    policy: SecretPolicy,
    clients: Option<HttpClients>,
    tape: Option<Arc<Tape>>,
}

impl Cfg {
    fn new(url: impl Into<String>) -> Cfg {
        Cfg {
            url: url.into(),
            extra: Vec::new(),
            timeout: Duration::from_secs(30),
            limits: Limits::default(),
            policy: declared(true),
            clients: None,
            tape: None,
        }
    }

    fn build(self) -> HostState {
        let clients = self.clients.unwrap_or_else(|| HttpClients::new().unwrap());
        let http =
            HttpPolicy::for_config(&clients, &self.url, &self.extra, self.timeout, &self.limits);
        let call = CallContext::new("cfg-1", "test", secrets(), http, None, &self.limits)
            .with_secret_policy(self.policy)
            .with_tape(self.tape);
        HostState::new(call, &self.limits)
    }
}

/// The placements most tests use (an adapter's 1.1 manifest), `approved` or not.
fn declared(approved: bool) -> SecretPolicy {
    let body = |pointer: &str| Placement::JsonBody {
        path: "/jsonrpc".into(),
        pointer: pointer.into(),
    };
    let header = |name: &str| Placement::Header { name: name.into() };
    let placements = [
        ("apiKey", vec![header("x-api-key"), body("/key")]),
        ("token", vec![Placement::Bearer, header("x-custom-auth")]),
        ("username", vec![Placement::BasicAuth]),
        (
            "password",
            vec![Placement::BasicAuth, body("/params/args/2")],
        ),
        ("pin", vec![body("/pin")]),
    ];
    SecretPolicy {
        manifest: Some(Manifest {
            placements: placements
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }),
        approved,
        other_origins: BTreeMap::new(),
    }
}

fn reference(state: &HostState, name: &str) -> String {
    state.call.secrets.reference(name)
}

fn get(url: &str) -> Request {
    Request {
        method: Method::Get,
        url: url.to_string(),
        headers: Vec::new(),
        body: None,
        basic_auth: None,
        timeout_ms: None,
    }
}

fn with_header(url: &str, name: &str, value: &str) -> Request {
    Request {
        headers: vec![(name.to_string(), value.to_string())],
        ..get(url)
    }
}

fn post(url: &str, body: impl Into<Vec<u8>>) -> Request {
    Request {
        method: Method::Post,
        body: Some(body.into()),
        ..get(url)
    }
}

/// `http::HttpError`, comparable.
#[derive(Clone, Debug, PartialEq)]
enum HttpError {
    Denied(String),
    Timeout(String),
    TooLarge(String),
    Connection(String),
    InvalidRequest(String),
    BudgetExhausted(String),
}

impl From<wit::HttpError> for HttpError {
    fn from(e: wit::HttpError) -> Self {
        match e {
            wit::HttpError::Denied(m) => HttpError::Denied(m),
            wit::HttpError::Timeout(m) => HttpError::Timeout(m),
            wit::HttpError::TooLarge(m) => HttpError::TooLarge(m),
            wit::HttpError::Connection(m) => HttpError::Connection(m),
            wit::HttpError::InvalidRequest(m) => HttpError::InvalidRequest(m),
            wit::HttpError::BudgetExhausted(m) => HttpError::BudgetExhausted(m),
        }
    }
}

impl From<HttpError> for wit::HttpError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Denied(m) => wit::HttpError::Denied(m),
            HttpError::Timeout(m) => wit::HttpError::Timeout(m),
            HttpError::TooLarge(m) => wit::HttpError::TooLarge(m),
            HttpError::Connection(m) => wit::HttpError::Connection(m),
            HttpError::InvalidRequest(m) => wit::HttpError::InvalidRequest(m),
            HttpError::BudgetExhausted(m) => wit::HttpError::BudgetExhausted(m),
        }
    }
}

/// Headers as the server writes them.
type Headers = Vec<(String, String)>;

/// `http::Response`, comparable.
#[derive(Clone, Debug, PartialEq)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// `http.send` as a guest calls it; a trap fails the test.
async fn send(state: &mut HostState, req: Request) -> Result<Response, HttpError> {
    match state.send(req).await.expect("no trap") {
        Ok(r) => Ok(Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }),
        Err(e) => Err(e.into()),
    }
}

fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn invalid(text: &str) -> HttpError {
    HttpError::InvalidRequest(text.to_string())
}

/// The denials the host records for these errors (their `Debug`, as `http.rs` writes it).
fn denials_of(errors: &[HttpError]) -> Vec<String> {
    errors
        .iter()
        .map(|e| format!("{:?}", wit::HttpError::from(e.clone())))
        .collect()
}

// ---- egress: origins and addresses ------------------------------------------------

#[tokio::test]
async fn only_the_configs_origin_and_operator_added_ones_are_reached() {
    let (own, added, other) = (
        Server::ok("own").await,
        Server::ok("added").await,
        Server::ok("other").await,
    );
    let mut cfg = Cfg::new(own.url("/"));
    cfg.extra = vec![added.origin()];
    let mut state = cfg.build();

    assert_eq!(
        send(&mut state, get(&own.url("/a"))).await.unwrap().body,
        b"own"
    );
    assert_eq!(
        send(&mut state, get(&added.url("/b"))).await.unwrap().body,
        b"added"
    );
    let denied = HttpError::Denied("the URL's origin is not allowed for this config".into());
    assert_eq!(
        send(&mut state, get(&other.url("/c"))).await,
        Err(denied.clone())
    );
    let scheme = HttpError::Denied("only http and https URLs are allowed".into());
    let ftp = format!("ftp://{}/", own.addr);
    assert_eq!(send(&mut state, get(&ftp)).await, Err(scheme.clone()));
    let unparsed = invalid("the URL does not parse");
    assert_eq!(send(&mut state, get("no url")).await, Err(unparsed.clone()));

    assert!(other.seen().is_empty(), "the other origin was reached");
    assert_eq!((own.seen().len(), added.seen().len()), (1, 1));
    assert_eq!(state.call.denials, denials_of(&[denied, scheme, unparsed]));
    assert_eq!(
        state.call.origins,
        BTreeSet::from([own.origin(), added.origin()]),
        "only the origins requests went to"
    );
}

#[tokio::test]
async fn a_call_without_network_reaches_nothing() {
    let limits = Limits::default();
    let mut state = HostState::new(CallContext::offline(&limits), &limits);
    let server = Server::ok("x").await;
    assert_eq!(
        send(&mut state, get(&server.url("/"))).await,
        Err(HttpError::Denied(
            "the URL's origin is not allowed for this config".into()
        ))
    );
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn a_public_name_resolving_to_loopback_is_denied_and_never_reached() {
    let server = Server::ok("reached").await;
    let lookup: Lookup = Arc::new(|host: String| {
        Box::pin(async move {
            match host.as_str() {
                "api.example.test" => Ok(vec!["127.0.0.1".parse().unwrap()]),
                _ => Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such name",
                )),
            }
        })
    });
    let clients = HttpClients::with_lookup(lookup).unwrap();
    let port = server.addr.port();
    let url = format!("http://api.example.test:{port}/");
    let mut cfg = Cfg::new(url.clone());
    cfg.clients = Some(clients);
    let mut state = cfg.build();
    assert_eq!(
        send(&mut state, get(&url)).await,
        Err(HttpError::Denied(
            "the name resolves to no public address".into()
        ))
    );
    assert!(
        server.seen().is_empty(),
        "the host's own address was reached"
    );
}

/// The kind of an I/O failure is reported wherever in the exchange it arose; here it comes
/// from name resolution (the one place a test can raise any kind on demand: Linux never
/// gives a client `ECONNABORTED` itself).
#[tokio::test]
async fn a_failure_is_named_by_its_io_kind_in_a_fixed_text() {
    let lookup: Lookup = Arc::new(|host: String| {
        Box::pin(async move {
            use std::io::ErrorKind::*;
            let kind = match host.split('.').next().unwrap() {
                "refused" => ConnectionRefused,
                "reset" => ConnectionReset,
                "aborted" => ConnectionAborted,
                "eof" => UnexpectedEof,
                _ => NotFound,
            };
            Err(std::io::Error::new(kind, format!("{host} failed")))
        })
    });
    let names = ["refused", "reset", "aborted", "eof", "nowhere"];
    let mut cfg = Cfg::new("http://api.example.test/");
    cfg.extra = names
        .iter()
        .map(|n| format!("http://{n}.example.test"))
        .collect();
    cfg.clients = Some(HttpClients::with_lookup(lookup).unwrap());
    let mut state = cfg.build();
    let texts = [
        "connection refused",
        "connection reset",
        "connection aborted",
        "connection closed early",
        "could not connect",
    ];
    for (name, text) in names.into_iter().zip(texts) {
        let url = format!("http://{name}.example.test/?q=guess");
        let got = send(&mut state, get(&url)).await;
        assert_eq!(got, Err(HttpError::Connection(text.into())), "{name}");
    }
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let target = Server::ok("target").await;
    let to = target.url("/elsewhere");
    let server = Server::start(move |seen| match seen.path.as_str() {
        "/start" => Reply::Send(answer(302, &[("location", "/target")], b"")),
        "/away" => Reply::Send(answer(307, &[("location", &to)], b"")),
        _ => Reply::Send(answer(200, &[], b"followed")),
    })
    .await;
    let mut cfg = Cfg::new(server.url("/"));
    cfg.extra = vec![target.origin()];
    let mut state = cfg.build();

    let r = send(&mut state, get(&server.url("/start"))).await.unwrap();
    assert_eq!((r.status, header(&r, "location")), (302, Some("/target")));
    let r = send(&mut state, get(&server.url("/away"))).await.unwrap();
    assert_eq!(r.status, 307);
    let paths: Vec<String> = server.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(
        paths,
        ["/start", "/away"],
        "a redirect target was requested"
    );
    assert!(
        target.seen().is_empty(),
        "the other origin's target was requested"
    );
}

// ---- the request: headers, methods, size --------------------------------------------

#[tokio::test]
async fn headers_the_host_owns_are_refused_in_any_case() {
    let server = Server::ok("ok").await;
    let mut state = Cfg::new(server.url("/")).build();
    let owned = [
        "Host",
        "content-length",
        "Transfer-Encoding",
        "CONNECTION",
        "keep-alive",
        "Accept-Encoding",
        "TE",
        "trailer",
        "Upgrade",
        "expect",
        "Proxy-Authorization",
        "proxy-x",
    ];
    let mut expected = Vec::new();
    for name in owned {
        let lower = name.to_ascii_lowercase();
        let refused = invalid(&format!("the `{lower}` header is set by the host"));
        let got = send(&mut state, with_header(&server.url("/"), name, "v")).await;
        assert_eq!(got, Err(refused.clone()), "{name}");
        expected.push(refused);
    }
    assert!(
        server.seen().is_empty(),
        "a request with a host-owned header went out"
    );
    assert_eq!(state.call.denials, denials_of(&expected));
    // Names that merely contain one are the adapter's own.
    for name in ["x-host", "x-proxy-id", "proxy", "hostname", "te-x"] {
        let r = send(&mut state, with_header(&server.url("/"), name, "v")).await;
        assert_eq!(r.unwrap().status, 200, "{name}");
    }
    let seen = server.seen();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[1].header("x-proxy-id"), ["v"]);
    assert_eq!(seen[2].header("proxy"), ["v"]);
}

#[tokio::test]
async fn each_method_goes_as_is_asking_for_identity_encoding() {
    let server = Server::ok("ok").await;
    let mut state = Cfg::new(server.url("/")).build();
    let methods = [
        (Method::Get, "GET"),
        (Method::Head, "HEAD"),
        (Method::Post, "POST"),
        (Method::Put, "PUT"),
        (Method::Patch, "PATCH"),
        (Method::Delete, "DELETE"),
    ];
    for (method, _) in methods {
        let req = Request {
            method,
            headers: vec![
                ("X-Plain".into(), "hello there".into()),
                ("x-many".into(), "1".into()),
                ("x-many".into(), "2".into()),
            ],
            body: Some(b"plain body {{secret:apiKey}}".to_vec()),
            ..get(&server.url("/m?x=1"))
        };
        assert_eq!(send(&mut state, req).await.unwrap().status, 200);
    }
    let seen = server.seen();
    assert_eq!(seen.len(), methods.len());
    for (s, (_, name)) in seen.iter().zip(methods) {
        assert_eq!((s.method.as_str(), s.path.as_str()), (name, "/m?x=1"));
        assert_eq!(s.header("accept-encoding"), ["identity"], "{name}");
        assert_eq!(s.header("x-plain"), ["hello there"]);
        assert_eq!(s.header("x-many"), ["1", "2"]);
        assert_eq!(s.body, b"plain body {{secret:apiKey}}");
        assert!(
            s.header("content-type").is_empty(),
            "no content type invented"
        );
    }
}

#[tokio::test]
async fn malformed_headers_are_refused_without_echoing_them() {
    let server = Server::ok("ok").await;
    let mut state = Cfg::new(server.url("/")).build();
    let url = server.url("/");
    let name = invalid("a header name is not valid");
    let value = invalid("a header value is not valid");
    assert_eq!(
        send(&mut state, with_header(&url, "bad name", "guess-1")).await,
        Err(name)
    );
    assert_eq!(
        send(&mut state, with_header(&url, "x-a", "guess\r\nx-b: 2")).await,
        Err(value.clone())
    );
    assert_eq!(
        send(&mut state, with_header(&url, "content-type", "a\nb")).await,
        Err(value)
    );
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn the_request_cap_is_on_what_the_adapter_built_before_any_secret_is_filled() {
    let server = Server::ok("ok").await;
    let url = server.url("/odoo/jsonrpc");
    let base = server.url("/odoo");
    let state = Cfg::new(&base).build();
    let body = format!(r#"{{"key":"{}","pad":"xx"}}"#, reference(&state, "apiKey"));
    let built = body.len();

    // At the cap as built; larger once the (longer) secret is in: sent.
    let mut cfg = Cfg::new(&base);
    cfg.limits.max_request_bytes = built;
    let mut state = cfg.build();
    let body = format!(r#"{{"key":"{}","pad":"xx"}}"#, reference(&state, "apiKey"));
    assert_eq!(
        send(&mut state, post(&url, body)).await.unwrap().status,
        200
    );
    assert!(!state.call.request_too_large);
    let sent = &server.seen()[0].body;
    assert_eq!(
        sent,
        format!(r#"{{"key":"{APIKEY}","pad":"xx"}}"#).as_bytes()
    );
    assert!(sent.len() > built);

    // One byte over: refused, naming the size as built, nothing sent.
    let mut cfg = Cfg::new(&base);
    cfg.limits.max_request_bytes = built - 1;
    let mut state = cfg.build();
    let body = format!(r#"{{"key":"{}","pad":"xx"}}"#, reference(&state, "apiKey"));
    assert_eq!(
        send(&mut state, post(&url, body)).await,
        Err(HttpError::TooLarge(format!(
            "request body of {built} bytes is over the {}-byte cap",
            built - 1
        )))
    );
    assert!(state.call.request_too_large);
    assert!(!state.call.secret_sent);
    assert_eq!(server.seen().len(), 1);
    assert!(state.call.denials.is_empty(), "a size is not a denial");
}

// ---- secrets: where a reference is filled -----------------------------------------

#[tokio::test]
async fn a_reference_in_the_url_is_refused_text_that_looks_like_one_goes_as_is() {
    let server = Server::ok("ok").await;
    let mut state = Cfg::new(server.url("/")).build();
    let refused =
        invalid("secret references are filled in headers, basic auth or a declared JSON body, never in the URL");
    let url = server.url(&format!("/x?k={}", reference(&state, "apiKey")));
    assert_eq!(send(&mut state, get(&url)).await, Err(refused.clone()));
    assert!(server.seen().is_empty());
    assert_eq!(state.call.denials, denials_of(&[refused]));

    let text = server.url("/x?k={{secret:apiKey}}");
    assert_eq!(send(&mut state, get(&text)).await.unwrap().status, 200);
    assert_eq!(server.seen()[0].path, "/x?k={{secret:apiKey}}");
    assert!(!state.call.secret_sent);
}

#[tokio::test]
async fn declared_placements_are_filled_and_the_call_says_a_secret_went() {
    let server = Server::ok("ok").await;
    let mut state = Cfg::new(server.url("/")).build();
    let url = server.url("/");
    assert_eq!(send(&mut state, get(&url)).await.unwrap().status, 200);
    assert!(!state.call.secret_sent, "no secret in a plain request");

    let req = Request {
        headers: vec![
            ("X-API-Key".into(), reference(&state, "apiKey")),
            ("x-tenant".into(), reference(&state, "header.X-Tenant")),
            ("x-custom-auth".into(), reference(&state, "token")),
            ("x-plain".into(), "v".into()),
        ],
        ..get(&url)
    };
    assert_eq!(send(&mut state, req).await.unwrap().status, 200);
    assert!(state.call.secret_sent);
    let bearer = format!("Bearer {}", reference(&state, "token"));
    assert_eq!(
        send(&mut state, with_header(&url, "Authorization", &bearer))
            .await
            .unwrap()
            .status,
        200
    );
    let basic = Request {
        basic_auth: Some(BasicAuth {
            username: reference(&state, "username"),
            password: reference(&state, "password"),
        }),
        ..get(&url)
    };
    assert_eq!(send(&mut state, basic).await.unwrap().status, 200);
    let mixed = format!("{}-and-text", reference(&state, "header.X-Tenant"));
    assert_eq!(
        send(&mut state, with_header(&url, "X-Tenant", &mixed))
            .await
            .unwrap()
            .status,
        200
    );

    let seen = server.seen();
    assert_eq!(seen[1].header("x-api-key"), [APIKEY]);
    assert_eq!(seen[1].header("x-tenant"), [TENANT]);
    assert_eq!(seen[1].header("x-custom-auth"), [TOKEN]);
    assert_eq!(seen[1].header("x-plain"), ["v"]);
    assert_eq!(seen[2].header("authorization"), [format!("Bearer {TOKEN}")]);
    let pair = b64(format!("{USER}:{PASSWORD}").as_bytes());
    assert_eq!(seen[3].header("authorization"), [format!("Basic {pair}")]);
    assert_eq!(seen[4].header("x-tenant"), [format!("{TENANT}-and-text")]);
    assert!(state.call.denials.is_empty());
}

#[tokio::test]
async fn bearer_is_exactly_bearer_and_one_reference() {
    let server = Server::ok("ok").await;
    let mut state = Cfg::new(server.url("/")).build();
    let url = server.url("/");
    let t = reference(&state, "token");
    let not_header = invalid(
        "secret `token` may not be placed in this header (not among its declared placements)",
    );
    for value in [
        format!("Token {t}"),
        format!("Bearer {t} "),
        format!("Bearer {t}x"),
        format!("Bearer x{t}"),
        format!("Bearer {t}{t}"),
        format!("bearer {t}"),
        t.clone(),
    ] {
        let got = send(&mut state, with_header(&url, "authorization", &value)).await;
        assert_eq!(got, Err(not_header.clone()), "{value}");
    }
    // `Bearer <reference>` in another header is no bearer placement.
    let got = send(
        &mut state,
        with_header(&url, "x-token", &format!("Bearer {t}")),
    )
    .await;
    assert_eq!(got, Err(not_header));
    // Not both basic auth and an authorization header.
    let both = Request {
        basic_auth: Some(BasicAuth {
            username: "u".into(),
            password: "p".into(),
        }),
        headers: vec![("Authorization".into(), "x".into())],
        ..get(&url)
    };
    assert_eq!(
        send(&mut state, both).await,
        Err(invalid(
            "a request may carry basic auth or an authorization header, not both"
        ))
    );
    assert!(server.seen().is_empty());
    assert_eq!(state.call.denials.len(), 9);
}

#[tokio::test]
async fn a_secret_goes_nowhere_it_was_not_declared() {
    let server = Server::ok("ok").await;
    let url = server.url("/");
    let mut state = Cfg::new(&url).build();
    let key = reference(&state, "apiKey");
    let mut cases = vec![
        (
            with_header(&url, "x-other", &key),
            "secret `apiKey` may not be placed in this header (not among its declared placements)",
        ),
        (
            Request {
                basic_auth: Some(BasicAuth {
                    username: "u".into(),
                    password: key.clone(),
                }),
                ..get(&url)
            },
            "secret `apiKey` may not be placed in basic auth (not among its declared placements)",
        ),
        (
            Request {
                basic_auth: Some(BasicAuth {
                    username: reference(&state, "password"),
                    password: "p".into(),
                }),
                ..get(&url)
            },
            "secret `password` may go into the password of basic auth, not its username",
        ),
    ];
    for logged in [
        "user-agent",
        "Referer",
        "x-forwarded-for",
        "accept",
        "origin",
    ] {
        cases.push((
            with_header(&url, logged, &key),
            "secret `apiKey` may never go into a header that servers log or forward",
        ));
    }
    let mut expected = Vec::new();
    for (req, text) in cases {
        assert_eq!(send(&mut state, req).await, Err(invalid(text)), "{text}");
        expected.push(invalid(text));
    }
    // A declared header that is not a usual credential header needs the operator.
    let mut cfg = Cfg::new(&url);
    cfg.policy = declared(false);
    let mut unapproved = cfg.build();
    let t = reference(&unapproved, "token");
    assert_eq!(
        send(&mut unapproved, with_header(&url, "x-custom-auth", &t)).await,
        Err(invalid("secret `token` may go into a header other than the usual credential headers only when the operator approves this adapter type's placements (settings: [approve_placements])"))
    );
    assert!(server.seen().is_empty(), "a refused request went out");
    assert_eq!(state.call.denials, denials_of(&expected));
    assert!(!state.call.secret_sent);
}

#[tokio::test]
async fn a_secret_goes_to_another_allowed_origin_only_when_granted() {
    let (own, added) = (Server::ok("own").await, Server::ok("added").await);
    let mut cfg = Cfg::new(own.url("/"));
    cfg.extra = vec![added.origin()];
    let mut state = cfg.build();
    let req = with_header(&added.url("/"), "x-api-key", &reference(&state, "apiKey"));
    assert_eq!(
        send(&mut state, req).await,
        Err(invalid("secret `apiKey` may go only to the config's own origin (the operator has not allowed it elsewhere)"))
    );
    assert!(added.seen().is_empty());

    let mut cfg = Cfg::new(own.url("/"));
    cfg.extra = vec![added.origin()];
    cfg.policy.other_origins = BTreeMap::from([("apiKey".to_string(), vec![added.origin()])]);
    let mut state = cfg.build();
    let req = with_header(&added.url("/"), "x-api-key", &reference(&state, "apiKey"));
    assert_eq!(send(&mut state, req).await.unwrap().body, b"added");
    assert_eq!(added.seen()[0].header("x-api-key"), [APIKEY]);
}

#[tokio::test]
async fn only_this_runs_references_are_filled_except_under_the_1_0_rule() {
    let server = Server::ok("ok").await;
    let url = server.url("/");
    let mut state = Cfg::new(&url).build();
    let unknown = format!("{{{{secret:nosuch:{}}}}}", state.call.secrets.token());
    for text in [
        "{{secret:apiKey}}",
        "{{secret:nosuch}}",
        "{{secret:apiKey:0123456789abcdef01234567}}",
    ] {
        let got = send(&mut state, with_header(&url, "x-api-key", text)).await;
        assert_eq!(got.unwrap().status, 200, "{text}");
    }
    assert_eq!(
        send(&mut state, with_header(&url, "x-api-key", &unknown)).await,
        Err(invalid("a secret reference names no secret of this run"))
    );
    // A reference is never filled into the content type: it goes as text.
    let ct = format!("text/x-{}", reference(&state, "apiKey"));
    assert_eq!(
        send(&mut state, with_header(&url, "content-type", &ct))
            .await
            .unwrap()
            .status,
        200
    );
    let seen = server.seen();
    assert_eq!(seen[0].header("x-api-key"), ["{{secret:apiKey}}"]);
    assert_eq!(seen[1].header("x-api-key"), ["{{secret:nosuch}}"]);
    assert_eq!(
        seen[2].header("x-api-key"),
        ["{{secret:apiKey:0123456789abcdef01234567}}"]
    );
    assert_eq!(seen[3].header("content-type"), [ct.as_str()]);
    assert!(!state.call.secret_sent);

    // A 1.0 adapter (no manifest): `{{secret:NAME}}` goes into headers and basic auth.
    let mut cfg = Cfg::new(&url);
    cfg.policy = SecretPolicy::default();
    let mut legacy = cfg.build();
    let req = Request {
        basic_auth: Some(BasicAuth {
            username: "{{secret:username}}".into(),
            password: "{{secret:password}}".into(),
        }),
        ..with_header(&url, "x-api-key", "{{secret:apiKey}}")
    };
    assert_eq!(send(&mut legacy, req).await.unwrap().status, 200);
    let seen = &server.seen()[4];
    assert_eq!(seen.header("x-api-key"), [APIKEY]);
    let pair = b64(format!("{USER}:{PASSWORD}").as_bytes());
    assert_eq!(seen.header("authorization"), [format!("Basic {pair}")]);
    assert!(legacy.call.secret_sent);
    let body = post(
        &url,
        format!(r#"{{"key":"{}"}}"#, reference(&legacy, "apiKey")),
    );
    assert_eq!(
        send(&mut legacy, body).await,
        Err(invalid("secret `apiKey` may not go into a request body: the adapter declares no placements (a 1.0 adapter)"))
    );
    assert_eq!(server.seen().len(), 5);
}

#[tokio::test]
async fn a_body_secret_is_filled_only_at_its_declared_pointer_and_path() {
    let server = Server::ok("ok").await;
    let base = server.url("/odoo");
    let url = server.url("/odoo/jsonrpc");
    let mut state = Cfg::new(&base).build();
    let (p, k) = (reference(&state, "password"), reference(&state, "apiKey"));
    let body = format!(r#"{{"key":"{k}","params":{{"args":["db",2,"{p}",{{}}]}},"n":1}}"#);
    assert_eq!(
        send(&mut state, post(&url, body)).await.unwrap().status,
        200
    );
    assert!(state.call.secret_sent);
    let json = |v: &str| serde_json::to_string(v).unwrap();
    let seen = &server.seen()[0];
    assert_eq!(
        String::from_utf8_lossy(&seen.body),
        format!(
            r#"{{"key":{},"params":{{"args":["db",2,{},{{}}]}},"n":1}}"#,
            json(APIKEY),
            json(PASSWORD)
        )
    );
    assert_eq!(seen.header("content-type"), ["application/json"]);
    // The adapter may say JSON its own way (sent as `application/json`); nothing else.
    for ct in ["Application/JSON", "application/json; charset=utf-8"] {
        let body = format!(r#"{{"key":"{k}"}}"#);
        let req = Request {
            headers: vec![("Content-Type".into(), ct.into())],
            ..post(&url, body)
        };
        assert_eq!(send(&mut state, req).await.unwrap().status, 200);
        let seen = server.seen();
        assert_eq!(
            seen.last().unwrap().header("content-type"),
            ["application/json"]
        );
    }
    let form = Request {
        headers: vec![("content-type".into(), "text/plain".into())],
        ..post(&url, format!(r#"{{"key":"{k}"}}"#))
    };
    assert_eq!(
        send(&mut state, form).await,
        Err(invalid(
            "a request body holding a secret must be sent as application/json"
        ))
    );

    let not_declared = "secret `apiKey` may not be placed in this request body (not among its declared placements)";
    let not_plain = "secret `apiKey` may go into a body only as a whole JSON string, written plainly, in an object with no repeated keys";
    let cases = [
        (&url, format!(r#"{{"other":"{k}"}}"#), not_declared),
        (&server.url("/odoo/rpc"), format!(r#"{{"key":"{k}"}}"#), not_declared),
        (&url, format!(r#"{{"key":"pre {k}"}}"#), not_plain),
        (&url, format!(r#"{{"{k}":"key"}}"#), not_plain),
        (&url, format!(r#"{{"key":1,"key":"{k}"}}"#), not_plain),
        (&url, format!(r#"{{"key":"{k}""#), not_plain),
        (
            &url,
            format!(r#"{{"pin":"{}"}}"#, reference(&state, "pin")),
            "secret `pin` may not go into a request body (too short to be found in what comes back: at least 8 characters)",
        ),
        (
            &url,
            format!(r#"{{"key":"{}"}}"#, reference(&state, "nosuch")),
            "a secret reference names no secret of this run",
        ),
    ];
    for (to, body, text) in cases {
        assert_eq!(
            send(&mut state, post(to, body.clone())).await,
            Err(invalid(text)),
            "{body}"
        );
    }
    assert_eq!(server.seen().len(), 3, "a refused body went out");

    let mut cfg = Cfg::new(&base);
    cfg.policy = declared(false);
    let mut unapproved = cfg.build();
    let body = format!(r#"{{"key":"{}"}}"#, reference(&unapproved, "apiKey"));
    assert_eq!(
        send(&mut unapproved, post(&url, body)).await,
        Err(invalid("secret `apiKey` may go into a request body only when the operator approves this adapter type's placements (settings: [approve_placements])"))
    );
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn a_body_without_this_runs_reference_goes_as_built() {
    let server = Server::ok("ok").await;
    let url = server.url("/odoo/jsonrpc");
    let mut state = Cfg::new(server.url("/odoo")).build();
    let plain = br#"{"key":"{{secret:apiKey}}"}"#.to_vec();
    let mut bytes = vec![0xff, b' '];
    bytes.extend_from_slice(format!(r#"{{"key":"{}"}}"#, reference(&state, "apiKey")).as_bytes());
    for body in [plain.clone(), bytes.clone()] {
        assert_eq!(
            send(&mut state, post(&url, body)).await.unwrap().status,
            200
        );
    }
    let seen = server.seen();
    assert_eq!((seen[0].body.clone(), seen[1].body.clone()), (plain, bytes));
    assert!(seen[0].header("content-type").is_empty());
    assert!(!state.call.secret_sent);
}

#[tokio::test]
async fn a_body_holding_a_secret_is_at_most_one_mebibyte() {
    let server = Server::ok("ok").await;
    let url = server.url("/odoo/jsonrpc");
    let mut state = Cfg::new(server.url("/odoo")).build();
    let k = reference(&state, "apiKey");
    let sized = |len: usize| {
        let shell = format!(r#"{{"key":"{k}","pad":""}}"#);
        format!(
            r#"{{"key":"{k}","pad":"{}"}}"#,
            "x".repeat(len - shell.len())
        )
    };
    let at_cap = sized(1 << 20);
    assert_eq!(at_cap.len(), 1 << 20);
    assert_eq!(
        send(&mut state, post(&url, at_cap)).await.unwrap().status,
        200
    );
    assert_eq!(
        send(&mut state, post(&url, sized((1 << 20) + 1))).await,
        Err(invalid(
            "a request body holding a secret may be at most 1048576 bytes"
        ))
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0]
        .body
        .starts_with(format!(r#"{{"key":"{APIKEY}","pad":"xx"#).as_bytes()));
}

// ---- the answer -------------------------------------------------------------------

#[tokio::test]
async fn gzip_and_deflate_answers_are_decoded_other_encodings_refused() {
    const TEXT: &[u8] = b"the decoded answer";
    let server = Server::start(|seen| {
        let (encoding, body) = match seen.path.as_str() {
            "/gzip" => ("gzip", gzip(TEXT)),
            "/x-gzip" => ("x-gzip", gzip(TEXT)),
            "/GZIP" => (" GZIP ", gzip(TEXT)),
            "/deflate" => ("deflate", zlib(TEXT)),
            "/identity" => ("identity", TEXT.to_vec()),
            "/listed" => (" , identity, gzip", gzip(TEXT)),
            "/br" => ("br", TEXT.to_vec()),
            "/twice" => ("gzip, gzip", gzip(&gzip(TEXT))),
            "/damaged" => ("gzip", b"\x1f\x8b\x08\x00garbage".to_vec()),
            _ => ("", TEXT.to_vec()),
        };
        let mut headers = vec![("x-kind", "k")];
        if !encoding.is_empty() {
            headers.push(("content-encoding", encoding));
        }
        Reply::Send(answer(200, &headers, &body))
    })
    .await;
    let mut state = Cfg::new(server.url("/")).build();
    for path in [
        "/none",
        "/gzip",
        "/x-gzip",
        "/GZIP",
        "/deflate",
        "/identity",
        "/listed",
    ] {
        let r = send(&mut state, get(&server.url(path))).await.unwrap();
        assert_eq!(r.body, TEXT, "{path}");
        let mut names: Vec<&str> = r.headers.iter().map(|(n, _)| n.as_str()).collect();
        names.sort();
        assert_eq!(names, ["connection", "x-kind"], "{path}");
        assert_eq!(header(&r, "x-kind"), Some("k"));
    }
    let refused =
        HttpError::Denied("the answer uses a content encoding the host does not decode".into());
    for path in ["/br", "/twice"] {
        let got = send(&mut state, get(&server.url(path))).await;
        assert_eq!(got, Err(refused.clone()), "{path}");
    }
    assert_eq!(
        send(&mut state, get(&server.url("/damaged"))).await,
        Err(HttpError::Connection(
            "the answer's compressed body is damaged".into()
        ))
    );
    assert_eq!(state.call.denials, denials_of(&[refused.clone(), refused]));
}

#[tokio::test]
async fn the_answer_is_capped_as_sent_and_once_decoded() {
    const CAP: usize = 1000;
    let server = Server::start(|seen| {
        let n = |s: &str| s.parse::<usize>().unwrap();
        match seen.path.split_once('/').unwrap().1.split_once('/') {
            Some(("raw", len)) => Reply::Send(answer(200, &[], &vec![b'a'; n(len)])),
            Some(("gzip", len)) => Reply::Send(answer(
                200,
                &[("content-encoding", "gzip")],
                &gzip(&vec![b'a'; n(len)]),
            )),
            Some(("deflate", len)) => Reply::Send(answer(
                200,
                &[("content-encoding", "deflate")],
                &zlib(&vec![b'a'; n(len)]),
            )),
            _ => Reply::Close,
        }
    })
    .await;
    let mut cfg = Cfg::new(server.url("/"));
    cfg.limits.max_response_bytes = CAP;
    let mut state = cfg.build();
    for kind in ["raw", "gzip", "deflate"] {
        let r = send(&mut state, get(&server.url(&format!("/{kind}/{CAP}")))).await;
        assert_eq!(r.unwrap().body, vec![b'a'; CAP], "{kind} at the cap");
    }
    let over =
        |what: &str| HttpError::TooLarge(format!("response body is over the {CAP}-byte cap{what}"));
    assert_eq!(
        send(&mut state, get(&server.url(&format!("/raw/{}", CAP + 1)))).await,
        Err(over(""))
    );
    for kind in ["gzip", "deflate"] {
        let r = send(
            &mut state,
            get(&server.url(&format!("/{kind}/{}", CAP + 1))),
        )
        .await;
        assert_eq!(r, Err(over(" once decoded")), "{kind}");
    }
    // Small compressed, huge decoded: refused, not inflated without bound.
    assert_eq!(
        send(&mut state, get(&server.url("/gzip/500000"))).await,
        Err(over(" once decoded"))
    );
}

#[tokio::test]
async fn an_answer_over_the_cap_is_refused_without_waiting_for_the_rest() {
    const CAP: usize = 1000;
    let server = Server::start(|_| {
        let mut bytes = b"HTTP/1.1 200 X\r\ncontent-length: 1000000\r\n\r\n".to_vec();
        bytes.extend_from_slice(&[b'a'; CAP + 1]);
        Reply::Hold(bytes)
    })
    .await;
    let mut cfg = Cfg::new(server.url("/"));
    cfg.limits.max_response_bytes = CAP;
    let mut state = cfg.build();
    let req = Request {
        timeout_ms: Some(5_000), // only reached if the cap waits for the rest
        ..get(&server.url("/"))
    };
    assert_eq!(
        send(&mut state, req).await,
        Err(HttpError::TooLarge(format!(
            "response body is over the {CAP}-byte cap"
        )))
    );
}

#[tokio::test]
async fn an_answer_holding_a_secret_stops_the_call_in_any_encoding() {
    let pct: String = PASSWORD.bytes().map(|b| format!("%{b:02X}")).collect();
    let big = format!("{}{APIKEY}", "a".repeat(300 << 10));
    let cases: Vec<(&str, Headers, Vec<u8>)> = vec![
        ("raw", vec![], format!("x{APIKEY}y").into_bytes()),
        ("upper case", vec![], APIKEY.to_uppercase().into_bytes()),
        ("base64", vec![], b64(TOKEN.as_bytes()).into_bytes()),
        ("percent-encoded", vec![], pct.into_bytes()),
        (
            "reversed",
            vec![],
            USER.chars().rev().collect::<String>().into_bytes(),
        ),
        ("json", vec![], serde_json::to_vec(PASSWORD).unwrap()),
        ("a short secret", vec![], format!("pin={PIN}").into_bytes()),
        (
            "header value",
            vec![("x-echo".into(), TENANT.into())],
            b"ok".to_vec(),
        ),
        (
            "header name",
            vec![(format!("x-{TOKEN}"), "1".into())],
            b"ok".to_vec(),
        ),
        (
            "declared gzip",
            vec![("content-encoding".into(), "gzip".into())],
            gzip(APIKEY.as_bytes()),
        ),
        ("undeclared gzip", vec![], gzip(APIKEY.as_bytes())),
        ("large answer", vec![], big.into_bytes()),
    ];
    for (what, headers, body) in cases {
        let server = Server::start(move |_| {
            let h: Vec<(&str, &str)> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            Reply::Send(answer(200, &h, &body))
        })
        .await;
        let mut state = Cfg::new(server.url("/")).build();
        let err = state.send(get(&server.url("/"))).await.expect_err(what);
        assert!(
            err.downcast_ref::<SecretEchoed>().is_some(),
            "{what}: {err}"
        );
        assert!(state.call.secret_echoed, "{what}");
        assert_eq!(
            state.call.denials,
            ["an answer held a secret value of this config; the call was stopped"],
            "{what}"
        );
    }
    // A clean answer leaves nothing behind.
    let server = Server::ok("clean").await;
    let mut state = Cfg::new(server.url("/")).build();
    assert_eq!(
        send(&mut state, get(&server.url("/"))).await.unwrap().body,
        b"clean"
    );
    assert!(!state.call.secret_echoed && state.call.denials.is_empty());
}

// ---- time, failures, counters -------------------------------------------------------

#[tokio::test]
async fn the_requests_own_timeout_and_the_configs_both_hold() {
    let silent = Server::start(|seen| match seen.path.as_str() {
        "/headers-only" => Reply::Hold(b"HTTP/1.1 200 X\r\ncontent-length: 10\r\n\r\nabc".to_vec()),
        _ => Reply::Hold(Vec::new()),
    })
    .await;
    let timeout = HttpError::Timeout("no answer within the timeout".into());

    let mut state = Cfg::new(silent.url("/")).build(); // the config's: 30 s
    let started = Instant::now();
    let req = Request {
        timeout_ms: Some(300),
        ..get(&silent.url("/"))
    };
    assert_eq!(send(&mut state, req).await, Err(timeout.clone()));
    let req = Request {
        timeout_ms: Some(300),
        ..get(&silent.url("/headers-only"))
    };
    assert_eq!(send(&mut state, req).await, Err(timeout.clone()));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the request's own timeout"
    );

    let mut cfg = Cfg::new(silent.url("/"));
    cfg.timeout = Duration::from_millis(300);
    let mut state = cfg.build();
    let started = Instant::now();
    let req = Request {
        timeout_ms: Some(600_000),
        ..get(&silent.url("/"))
    };
    assert_eq!(send(&mut state, req).await, Err(timeout));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the config's timeout wins"
    );
    assert!(state.call.denials.is_empty());
}

#[tokio::test]
async fn failures_are_fixed_texts_that_never_echo_the_request() {
    let server = Server::start(|seen| match seen.path.split('?').next().unwrap() {
        "/reset" => Reply::Reset,
        "/close" => Reply::Close,
        "/short" => {
            Reply::Send(b"HTTP/1.1 200 X\r\ncontent-length: 100\r\n\r\nonly ten..".to_vec())
        }
        "/chunks" => Reply::Send(
            b"HTTP/1.1 200 X\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nguess\r\n0\r\n\r\n"
                .to_vec(),
        ),
        _ => Reply::Send(answer(200, &[], b"ok")),
    })
    .await;
    let port = closed_port();
    let guess = "guess-4c1e";
    let request = |url: String| Request {
        method: Method::Post,
        headers: vec![("x-guess".into(), guess.into())],
        body: Some(guess.as_bytes().to_vec()),
        ..get(&format!("{url}?q={guess}"))
    };
    let mut cfg = Cfg::new(server.url("/"));
    cfg.extra = vec![format!("http://127.0.0.1:{port}")];
    let mut state = cfg.build();
    let cases = [
        (format!("http://127.0.0.1:{port}/"), "connection refused"),
        (server.url("/reset"), "connection reset"),
        (server.url("/short"), "connection closed early"),
        (server.url("/close"), "the request could not be sent"),
        (
            server.url("/chunks"),
            "the connection broke while reading the answer",
        ),
        // Longer than the HTTP client takes (its error names the URL).
        (
            server.url(&format!("/{}", "g".repeat(70_000))),
            "the exchange failed",
        ),
    ];
    for (url, text) in cases {
        let got = send(&mut state, request(url)).await;
        assert_eq!(got, Err(HttpError::Connection(text.into())), "{text}");
    }
    assert!(state.call.denials.is_empty(), "a failure is not a denial");
}

#[tokio::test]
async fn http_time_and_host_calls_are_counted() {
    let server =
        Server::start(|_| Reply::After(Duration::from_millis(150), answer(200, &[], b"slow")))
            .await;
    let mut cfg = Cfg::new(server.url("/"));
    cfg.limits.hostcalls = 3;
    let mut state = cfg.build();
    assert_eq!(state.call.http_time, Duration::ZERO);
    assert_eq!(
        send(&mut state, get(&server.url("/"))).await.unwrap().body,
        b"slow"
    );
    let first = state.call.http_time;
    assert!(first >= Duration::from_millis(150), "{first:?}");
    assert_eq!(
        send(&mut state, get(&server.url("/"))).await.unwrap().body,
        b"slow"
    );
    assert!(state.call.http_time >= first + Duration::from_millis(150));
    let refused = send(&mut state, with_header(&server.url("/"), "host", "x")).await;
    assert!(matches!(refused, Err(HttpError::InvalidRequest(_))));
    // The budget is spent: the next call traps with the typed limit, nothing sent.
    let err = state.send(get(&server.url("/"))).await.unwrap_err();
    let breach = err.downcast_ref::<LimitBreach>().expect("a limit breach");
    assert!(matches!(breach.0, Limit::Hostcalls));
    assert_eq!(server.seen().len(), 2);
}

// ---- recording and replaying --------------------------------------------------------

#[tokio::test]
async fn a_recording_keeps_requests_as_built_and_clean_answers_only() {
    let server = Server::start(|seen| match seen.path.as_str() {
        "/echo" => Reply::Send(answer(200, &[], APIKEY.as_bytes())),
        _ => Reply::Send(answer(201, &[("content-encoding", "gzip")], &gzip(b"kept"))),
    })
    .await;
    let tape = Arc::new(Tape::record());
    let mut cfg = Cfg::new(server.url("/"));
    cfg.tape = Some(tape.clone());
    let mut state = cfg.build();
    let url = server.url("/r");
    let req = Request {
        headers: vec![("X-API-Key".into(), reference(&state, "apiKey"))],
        ..post(&url, b"body".to_vec())
    };
    let r = send(&mut state, req).await.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (201, &b"kept"[..]));
    assert_eq!(server.seen()[0].header("x-api-key"), [APIKEY]);
    assert!(state.send(get(&server.url("/echo"))).await.is_err());

    let kept = tape.exchanges();
    assert_eq!(kept.len(), 1, "an answer holding a secret is never kept");
    assert_eq!(
        kept[0].request,
        TapeRequest {
            method: "POST".into(),
            url,
            headers: vec![("x-api-key".into(), "{{secret:apiKey}}".into())],
            basic_auth: None,
            body: Some(b64(b"body")),
        }
    );
    let answer = &kept[0].answer;
    assert_eq!(
        (answer.status, answer.body.clone()),
        (201, b64(&gzip(b"kept")))
    );
    assert!(answer
        .headers
        .contains(&("content-encoding".into(), "gzip".into())));
}

#[tokio::test]
async fn a_replay_answers_from_the_recording_under_every_rule() {
    let server = Server::ok("from the network").await;
    let url = server.url("/r");
    let exchange = |path: &str, body: &[u8], headers: Vec<(String, String)>| Exchange {
        request: TapeRequest {
            method: "GET".into(),
            url: server.url(path),
            headers: vec![("x-api-key".into(), "{{secret:apiKey}}".into())],
            basic_auth: None,
            body: None,
        },
        answer: TapeAnswer {
            status: 202,
            headers,
            body: b64(body),
        },
    };
    let tape = Arc::new(Tape::replay(vec![
        exchange(
            "/r",
            &gzip(b"from the tape"),
            vec![("content-encoding".into(), "gzip".into())],
        ),
        exchange("/echo", APIKEY.as_bytes(), vec![]),
        exchange("/big", &[b'a'; 1001], vec![]),
    ]));
    let mut cfg = Cfg::new(server.url("/"));
    cfg.tape = Some(tape.clone());
    cfg.limits.max_response_bytes = 1000;
    let mut state = cfg.build();
    let key = reference(&state, "apiKey");
    let r = send(&mut state, with_header(&url, "x-api-key", &key))
        .await
        .unwrap();
    assert_eq!((r.status, r.body.as_slice()), (202, &b"from the tape"[..]));
    assert_eq!(
        send(&mut state, with_header(&url, "x-api-key", &key)).await,
        Err(HttpError::Connection(
            "the recording has no such request".into()
        )),
        "each exchange answers once"
    );
    assert_eq!(
        send(
            &mut state,
            with_header(&server.url("/big"), "x-api-key", &key)
        )
        .await,
        Err(HttpError::TooLarge(
            "response body is over the 1000-byte cap".into()
        ))
    );
    assert_eq!(
        send(&mut state, with_header(&url, "user-agent", &key)).await,
        Err(invalid(
            "secret `apiKey` may never go into a header that servers log or forward"
        ))
    );
    let err = state
        .send(with_header(&server.url("/echo"), "x-api-key", &key))
        .await
        .unwrap_err();
    assert!(err.downcast_ref::<SecretEchoed>().is_some());
    assert!(server.seen().is_empty(), "a replay went to the network");
    assert_eq!(tape.unused(), 0);

    // A scripted tape answers in order, whatever the request; then refuses.
    let mut cfg = Cfg::new(server.url("/"));
    cfg.tape = Some(Arc::new(Tape::answers(vec![TapeAnswer {
        status: 200,
        headers: vec![],
        body: b64(b"scripted"),
    }])));
    let mut state = cfg.build();
    let other = HttpError::Denied("the URL's origin is not allowed for this config".into());
    let away = format!("http://127.0.0.1:{}/", closed_port());
    assert_eq!(send(&mut state, get(&away)).await, Err(other));
    assert_eq!(send(&mut state, get(&url)).await.unwrap().body, b"scripted");
    assert_eq!(
        send(&mut state, get(&url)).await,
        Err(HttpError::Connection(
            "the recording has no such request".into()
        ))
    );
    assert!(server.seen().is_empty());
}

/// Decoding and scanning a large answer must not hold up an async worker: above 256 KiB
/// it runs on the blocking pool (whose threads the runtime below counts), below inline.
#[test]
fn large_answers_are_decoded_and_scanned_off_the_async_threads() {
    const INLINE_WORK: usize = 256 << 10;
    let threads_for = |len: usize| {
        let started = Arc::new(AtomicUsize::new(0));
        let count = started.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .on_thread_start(move || {
                count.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap();
        let got = rt.block_on(async {
            let mut cfg = Cfg::new("http://127.0.0.1:9/");
            cfg.tape = Some(Arc::new(Tape::answers(vec![TapeAnswer {
                status: 200,
                headers: vec![],
                body: b64(&vec![b'a'; len]),
            }])));
            let mut state = cfg.build();
            send(&mut state, get("http://127.0.0.1:9/")).await
        });
        assert_eq!(got.unwrap().body.len(), len);
        drop(rt);
        started.load(Ordering::SeqCst)
    };
    assert_eq!(threads_for(INLINE_WORK), 0, "at the threshold: inline");
    assert_eq!(
        threads_for(INLINE_WORK + 1),
        1,
        "above it: the blocking pool"
    );
}
