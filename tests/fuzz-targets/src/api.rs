//! The `dcsync serve` API with the fuzzer's requests: every route, any method, query and
//! body, with the admin token. It answers every one, never panics, and never answers a 5xx
//! (bad input is the client's fault: 4xx).

use crate::rt;
use axum::body::Body;
use axum::http::{Method, Request};
use datacollect_sync::configs::ConfigDir;
use datacollect_sync::{EventStore, SqliteStore, SyncService};
use dcsync_cli::server::{router, ServerState};
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

const TOKEN: &str = "fuzz-admin-token-0123456789";

const ROUTES: [&str; 12] = [
    "/api/configs",
    "/api/configs/fuzz",
    "/api/configs/fuzz/release",
    "/api/sync/external",
    "/api/runs",
    "/api/runs/1",
    "/api/quarantine",
    "/api/quarantine/retry",
    "/api/adapters",
    "/metrics",
    "/",
    "/api/runs/1/quarantine",
];

const METHODS: [Method; 4] = [Method::GET, Method::POST, Method::PUT, Method::DELETE];

fn app() -> &'static (axum::Router, tempfile::TempDir) {
    static APP: OnceLock<(axum::Router, tempfile::TempDir)> = OnceLock::new();
    APP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn EventStore> =
            Arc::new(SqliteStore::open(dir.path().join("api.db")).unwrap());
        let registry = crate::component::registry().clone();
        let service = Arc::new(SyncService::new(store, registry, &Default::default()).unwrap());
        let configs = Arc::new(ConfigDir::open(&dir.path().join("configs")).unwrap());
        (
            router(ServerState::new(service, configs, TOKEN.into())),
            dir,
        )
    })
}

/// `route method | query \n body`: the first byte picks the route, the second the method;
/// up to the first newline is the query string, the rest the body.
pub fn api(data: &[u8]) {
    let [r, m, rest @ ..] = data else {
        return;
    };
    let route = ROUTES[usize::from(*r) % ROUTES.len()];
    let method = METHODS[usize::from(*m) % METHODS.len()].clone();
    let (query, body) = match rest.iter().position(|b| *b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let query: String = String::from_utf8_lossy(query)
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '#')
        .collect();
    let uri = if query.is_empty() {
        route.to_string()
    } else {
        format!("{route}?{query}")
    };
    let Ok(request) = Request::builder()
        .method(method.clone())
        .uri(&uri)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_vec()))
    else {
        return; // not a request a client could send
    };
    let app = app().0.clone();
    let status = rt().block_on(async {
        let response = app.oneshot(request).await.expect("infallible");
        let status = response.status();
        let _ = axum::body::to_bytes(response.into_body(), 1 << 24).await;
        status
    });
    assert!(
        !status.is_server_error(),
        "{method} {uri} with a {}-byte body answered {status}",
        body.len()
    );
}
