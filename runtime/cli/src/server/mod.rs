//! `dcsync serve`: the operator surface. An HTTP API (axum) to manage configs, trigger
//! syncs and read run history and quarantine; an admin page; Prometheus metrics. Every
//! request but the page itself needs the admin token; it binds to loopback by default.
//! The daemon's periodic syncs and adapter-directory watch run inside it too. On a
//! database URL that names no tenant it serves each config in the tenant its id names
//! ([`ServerState::per_tenant`]): the run and quarantine routes then need `configId`.

mod api;
mod extract;

use crate::context::Tenants;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use datacollect_sync::configs::ConfigDir;
use datacollect_sync::SyncService;
use std::sync::Arc;

/// Shared by every request.
pub struct ServerState {
    /// Store, adapters, clients, settings (with one tenant per config: the service the
    /// tenants' are made from; its store answers no request).
    pub service: Arc<SyncService>,
    /// The configs the API manages.
    pub configs: Arc<ConfigDir>,
    /// The admin token every API request must carry.
    pub token: String,
    /// On a `postgres://` store that names no tenant: the service of each config's tenant
    /// (the config's id names it). `None`: every request is answered from `service`.
    pub tenants: Option<Arc<Tenants>>,
}

impl ServerState {
    /// The state of a server over `service`, managing the configs in `configs`.
    pub fn new(service: Arc<SyncService>, configs: Arc<ConfigDir>, token: String) -> Arc<Self> {
        Arc::new(ServerState {
            service,
            configs,
            token,
            tenants: None,
        })
    }

    /// The state of a server over every tenant of a database, each config in the tenant
    /// its id names: run ids are per tenant, so the routes about runs and quarantine then
    /// need the config (`configId`).
    pub fn per_tenant(tenants: Arc<Tenants>, configs: Arc<ConfigDir>, token: String) -> Arc<Self> {
        Arc::new(ServerState {
            service: tenants.first().clone(),
            configs,
            token,
            tenants: Some(tenants),
        })
    }
}

/// The whole app: API, metrics and the admin page.
pub fn router(state: Arc<ServerState>) -> Router {
    let protected = Router::new()
        .route(
            "/api/configs",
            get(api::list_configs).post(api::create_config),
        )
        .route(
            "/api/configs/{id}",
            get(api::get_config)
                .put(api::update_config)
                .delete(api::delete_config),
        )
        .route("/api/configs/{id}/release", post(api::release_config))
        .route("/api/sync/external", post(api::sync))
        .route("/api/runs", get(api::runs))
        .route("/api/runs/{id}", get(api::run))
        .route("/api/runs/{id}/quarantine", get(api::run_quarantined))
        .route("/api/quarantine", get(api::quarantine))
        .route("/api/quarantine/retry", post(api::retry_quarantine))
        .route("/api/adapters", get(api::adapters))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ));
    Router::new()
        .route("/", get(|| async { Html(include_str!("admin.html")) }))
        .merge(protected)
        .with_state(state)
}

/// Serve `app` on `listener` until the process ends (tests, embedding programs).
pub async fn serve_on(listener: tokio::net::TcpListener, app: Router) {
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "server stopped");
    }
}

async fn require_token(
    State(state): State<Arc<ServerState>>,
    req: Request,
    next: Next,
) -> Response {
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !given.is_some_and(|g| token_matches(g, &state.token)) {
        return (StatusCode::UNAUTHORIZED, Json(serde_json::json!({ "error": "missing or wrong admin token (Authorization: Bearer …)" })))
            .into_response();
    }
    next.run(req).await
}

/// Whether `given` is the admin token, compared in constant time (`subtle`): no early exit
/// on the first differing byte, so response timing does not reveal how much of a guess was
/// right. Only the length may show, and the token's length is no secret.
fn token_matches(given: &str, token: &str) -> bool {
    use subtle::ConstantTimeEq;
    given.as_bytes().ct_eq(token.as_bytes()).into()
}

async fn metrics() -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        datacollect_sync::metrics::render(),
    )
}

/// The admin token: configured, or read from `path`, or generated there on first start
/// (printed once by the caller). Returns whether it was generated now.
pub fn admin_token(
    configured: Option<String>,
    path: &std::path::Path,
) -> std::io::Result<(String, bool)> {
    if let Some(t) = configured.filter(|t| !t.is_empty()) {
        return Ok((t, false));
    }
    if let Ok(t) = std::fs::read_to_string(path) {
        if !t.trim().is_empty() {
            return Ok((t.trim().to_string(), false));
        }
    }
    let token: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, token.as_bytes())?;
    Ok((token, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_matches_itself_only() {
        let token = "0123456789abcdef0123456789abcdef";
        assert!(token_matches(token, token));
        for wrong in [
            "",
            "0123456789abcdef0123456789abcdeX",
            "X123456789abcdef0123456789abcdef",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
        ] {
            assert!(!token_matches(wrong, token), "{wrong:?}");
        }
    }

    /// Timing cannot be asserted honestly in a test; what can is that the check every
    /// request goes through is this constant-time comparison, and that it is built on
    /// `subtle`'s `ct_eq` rather than `==` on the strings. Replacing either fails this.
    #[test]
    fn every_request_is_checked_with_the_constant_time_comparison() {
        let source = include_str!("mod.rs");
        let body = |name: &str| {
            let start = source.find(&format!("fn {name}(")).unwrap();
            let end = source[start..].find("\n}\n").unwrap();
            &source[start..start + end]
        };
        let check = body("require_token");
        assert!(check.contains("token_matches(g, &state.token)"), "{check}");
        assert!(!check.contains("=="), "{check}");
        let compare = body("token_matches");
        assert!(compare.contains(".ct_eq("), "{compare}");
        assert!(!compare.contains("=="), "{compare}");
    }
}
