//! `dcsync serve`: the operator surface. An HTTP API (axum) to manage configs, trigger
//! syncs and read run history and quarantine; an admin page; Prometheus metrics. Every
//! request but the page itself needs the admin token; it binds to loopback by default.
//! The daemon's periodic syncs and adapter-directory watch run inside it too.

mod api;
pub mod configs;

pub use configs::ConfigDir;

use crate::applier::EventApplier;
use crate::config::ExternalSyncConfig;
use crate::host::HttpClients;
use crate::registry::AdapterRegistry;
use crate::store::EventStore;
use crate::ExternalSyncManager;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Shared by every request.
pub struct ServerState {
    pub store: Arc<dyn EventStore>,
    pub registry: Arc<AdapterRegistry>,
    pub configs: ConfigDir,
    pub token: String,
    /// Origins each adapter type may reach besides its config URL's.
    pub allow: HashMap<String, Vec<String>>,
    clients: HttpClients,
}

impl ServerState {
    pub fn new(
        store: Arc<dyn EventStore>,
        registry: Arc<AdapterRegistry>,
        configs: ConfigDir,
        token: String,
        allow: HashMap<String, Vec<String>>,
    ) -> Result<Arc<Self>, reqwest::Error> {
        Ok(Arc::new(ServerState {
            store,
            registry,
            configs,
            token,
            allow,
            clients: HttpClients::new()?,
        }))
    }

    /// An initialized manager for `config`.
    async fn manager(
        &self,
        config: ExternalSyncConfig,
    ) -> Result<Arc<ExternalSyncManager>, crate::SyncError> {
        let origins = self
            .allow
            .get(&config.adapter_type)
            .cloned()
            .unwrap_or_default();
        let mut m =
            ExternalSyncManager::new(self.store.clone(), Arc::new(EventApplier::new()), config)
                .with_registry(self.registry.clone())
                .with_http_clients(self.clients.clone())
                .allow_origins(origins);
        m.initialize().await?;
        Ok(Arc::new(m))
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
        .route("/api/sync/external", post(api::sync))
        .route("/api/runs", get(api::runs))
        .route("/api/runs/{id}", get(api::run))
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
    // Compare without an early exit on the first differing byte.
    let ok = given.is_some_and(|g| {
        g.len() == state.token.len()
            && g.bytes()
                .zip(state.token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if !ok {
        return (StatusCode::UNAUTHORIZED, Json(serde_json::json!({ "error": "missing or wrong admin token (Authorization: Bearer …)" })))
            .into_response();
    }
    next.run(req).await
}

async fn metrics() -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        crate::metrics::render(),
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

/// Sync each config whose `syncInterval` has come round; a config already syncing is
/// skipped, not queued.
pub async fn run_schedule(state: Arc<ServerState>) {
    let last: Mutex<HashMap<String, Instant>> = Mutex::new(HashMap::new());
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for config in state.configs.list() {
            let Some(every) = config
                .settings()
                .ok()
                .and_then(|s| s.sync_interval_ms)
                .map(Duration::from_millis)
            else {
                continue;
            };
            let due = last
                .lock()
                .map(|l| l.get(&config.id).is_none_or(|t| t.elapsed() >= every))
                .unwrap_or(false);
            if !due {
                continue;
            }
            if let Ok(mut l) = last.lock() {
                l.insert(config.id.clone(), Instant::now());
            }
            let id = config.id.clone();
            match state.manager(config).await {
                Ok(m) if m.is_initialized() => {
                    if let Err(e) = m.spawn_synchronize(None).await {
                        tracing::info!(config = %id, error = %e, "scheduled sync not started");
                    }
                }
                Ok(_) => {
                    tracing::warn!(config = %id, "scheduled sync skipped: no adapter for its type")
                }
                Err(e) => tracing::warn!(config = %id, error = %e, "scheduled sync skipped"),
            }
        }
    }
}
