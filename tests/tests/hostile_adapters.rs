//! Adapters written to attack the host. Each attack has a specific, contained outcome, and
//! a well-behaved adapter in the same process syncs correctly right afterwards.

use datacollect_sync::engine::{AdapterRuntime, Limits};

use datacollect_sync::store::RunRecord;
use datacollect_sync::{
    AdapterRegistry, EventApplier, ExternalSyncConfig, ExternalSyncManager, SyncError,
};
use datacollect_sync_e2e::*;
use serde_json::json;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const SECRET: &str = "sk_live_SUPER_SECRET_4242";

/// Both adapters in one registry with tight limits, as an operator might set them.
fn hostile_registry() -> Arc<AdapterRegistry> {
    static R: OnceLock<Arc<AdapterRegistry>> = OnceLock::new();
    R.get_or_init(|| {
        build_shared(|| async {
            let limits = Limits {
                fuel: 3_000_000_000,
                deadline: Duration::from_secs(5),
                memory_bytes: 128 << 20,
                hostcalls: 20_000,
                max_return_bytes: 16 << 20,
                max_request_bytes: 1 << 20,
                max_response_bytes: 512 << 10,
                ..Limits::default()
            };
            let runtime = AdapterRuntime::new(limits).unwrap();
            let registry = AdapterRegistry::new(runtime.clone());
            for path in [
                adapter_dir().join("mock_sync_server.wasm"),
                adapter_dir().join("../test-adapters/hostile.wasm"),
            ] {
                registry.insert(runtime.load(&path).await.expect("built by make adapters"));
            }
            registry
        })
    })
    .clone()
}

/// Run one attack; return the sync error. Then prove a good adapter still works.
async fn attack(name: &str, target: Option<&str>) -> SyncError {
    attack_with_history(name, target).await.0
}

/// [`attack`], also returning the run history of the attack's store.
async fn attack_with_history(name: &str, target: Option<&str>) -> (SyncError, Vec<RunRecord>) {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events(name, 1), &EventApplier::new())
        .unwrap();
    let mut fields = vec![
        json!({"name": "attack", "value": name}),
        json!({"name": "apiKey", "value": SECRET}),
    ];
    if let Some(t) = target {
        fields.push(json!({"name": "target", "value": t}));
    }
    let config = ExternalSyncConfig::from_value(
        &json!({"type": "hostile", "url": server.url(), "extraFields": fields}),
    )
    .unwrap();
    let mut m = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
        .with_registry(hostile_registry());
    m.initialize().await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(60), m.synchronize(None))
        .await
        .expect("the host never hangs")
        .expect_err("the attack fails");
    assert!(!err.to_string().contains(SECRET), "secret in error: {err}");
    for run in store.runs(None, 10).unwrap() {
        assert!(
            !format!("{run:?}").contains(SECRET),
            "secret in run history"
        );
    }
    assert_eq!(
        store.pending_count(&m.config().id).unwrap(),
        1,
        "nothing was confirmed by the attack"
    );

    let good =
        ExternalSyncConfig::from_value(&json!({"type": "mock-sync-server", "url": server.url()}))
            .unwrap();
    let ok_store = store.clone();
    let mut ok = ExternalSyncManager::new(store, Arc::new(EventApplier::new()), good)
        .with_registry(hostile_registry());
    ok.initialize().await.unwrap();
    assert_eq!(
        ok.synchronize(None)
            .await
            .expect("a good adapter still syncs")
            .pushed,
        1
    );
    let runs = ok_store.runs(None, 10).unwrap();
    (err, runs)
}

fn message(e: &SyncError) -> String {
    e.to_string()
}

#[tokio::test]
async fn adapter_cannot_read_host_files() {
    let e = attack("read-file", None).await;
    assert!(message(&e).contains("blocked: read /etc/passwd"), "{e}");
    let e = attack("list-root", None).await;
    assert!(message(&e).contains("blocked: list /"), "{e}");
}

#[tokio::test]
async fn adapter_sees_no_environment() {
    std::env::set_var("DCSYNC_TEST_HOST_ONLY", "x");
    let e = attack("env", None).await;
    assert!(message(&e).contains("blocked: environment is empty"), "{e}");
}

#[tokio::test]
async fn adapter_cannot_open_sockets() {
    let server = mock_server().await;
    let e = attack("socket", Some(&server.addr.to_string())).await;
    assert!(message(&e).contains("blocked: tcp connect"), "{e}");
}

#[tokio::test]
async fn adapter_cannot_reach_other_origins() {
    let other = mock_server().await;
    let (e, runs) = attack_with_history("other-url", Some(&other.url())).await;
    assert!(message(&e).contains("origin is not allowed"), "{e}");
    let attack_run = runs.iter().find(|r| r.adapter_type == "hostile").unwrap();
    assert_eq!(
        attack_run.denials.len(),
        1,
        "the denial is in the run history"
    );
    assert!(
        attack_run.denials[0].contains("Denied"),
        "{:?}",
        attack_run.denials
    );
    assert_eq!(other.received().1, 0, "the other server was never reached");
}

#[tokio::test]
async fn secret_references_are_not_filled_into_urls() {
    let e = attack("url-secret", None).await;
    assert!(message(&e).contains("never in the URL"), "{e}");
}

#[tokio::test]
async fn echoed_secrets_are_scrubbed_before_the_adapter_sees_them() {
    let e = attack("echo-secret", None).await;
    let m = message(&e);
    assert!(m.contains("echoed:") && m.contains("key=***"), "{m}");
    assert!(m.contains("\"x-api-key\":\"***\""), "{m}");
    assert!(
        !m.contains("U1VQRVJf") && !m.contains(SECRET),
        "no secret, raw or in basic auth: {m}"
    );
}

#[tokio::test]
async fn infinite_loop_hits_a_limit() {
    let e = attack("loop", None).await;
    let m = message(&e);
    assert!(
        m.contains("exceeded its fuel limit") || m.contains("exceeded its deadline limit"),
        "{m}"
    );
    assert_eq!(e.class().as_str(), "limit");
}

#[tokio::test]
async fn unbounded_allocation_hits_the_memory_limit() {
    let e = attack("alloc", None).await;
    let m = message(&e);
    assert_eq!(
        e.limit(),
        Some(datacollect_sync::limits::Limit::Memory),
        "{m}"
    );
    assert_eq!(e.class().as_str(), "limit");
}

#[tokio::test]
async fn unbounded_recursion_traps() {
    // Rust guests overflow their shadow stack (in linear memory) first: an out-of-bounds
    // trap; a native-stack overflow is caught by wasmtime as `stack overflow`.
    let e = attack("recurse", None).await;
    let m = message(&e);
    assert!(
        m.contains("stack overflow") || m.contains("out of bounds memory access"),
        "{m}"
    );
}

#[tokio::test]
async fn trap_and_panic_fail_the_run_cleanly() {
    assert!(message(&attack("trap", None).await).contains("adapter trapped"));
    assert!(message(&attack("panic", None).await).contains("adapter trapped"));
}

#[tokio::test]
async fn log_flood_is_capped() {
    let e = attack("log-flood", None).await;
    // 100 000 lines against a budget of 20 000 host calls: the budget stops it, and the
    // lines past the per-call cap (1 000) were dropped, not written.
    assert!(message(&e).contains("exceeded its hostcalls limit"), "{e}");
    let metrics = datacollect_sync::metrics::render();
    let dropped = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("dcsync_adapter_log_lines_dropped_total{adapter=\"hostile\"} ")
        })
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(dropped >= 18_000, "dropped {dropped} lines:\n{metrics}");
}

#[tokio::test]
async fn hostcalls_in_a_tight_loop_hit_the_budget() {
    let e = attack("hostcalls", None).await;
    assert!(message(&e).contains("exceeded its hostcalls limit"), "{e}");
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let elsewhere = mock_server().await; // 127.0.0.1 on another port
    let e = attack("redirect", Some(&format!("{}/received", elsewhere.url()))).await;
    assert!(message(&e).contains("redirect answered 302"), "{e}");
    assert_eq!(elsewhere.received().1, 0);
    assert_eq!(
        elsewhere.state.lock().unwrap().pull_requests,
        0,
        "the redirect target was never requested"
    );
}

#[tokio::test]
async fn adapter_receives_the_config_with_secret_references_only() {
    let e = attack("dump-config", None).await;
    let m = message(&e);
    assert!(m.contains("{{secret:apiKey}}"), "{m}");
    assert!(m.contains("secret_names: [\"apiKey\"]"), "{m}");
}

#[tokio::test]
async fn gigantic_page_hits_the_return_size_limit() {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    let config = ExternalSyncConfig::from_value(&json!({"type": "hostile", "url": server.url(),
        "extraFields": [{"name": "attack", "value": "huge-page"}]}))
    .unwrap();
    let mut m = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
        .with_registry(hostile_registry());
    m.initialize().await.unwrap();
    let e = m.synchronize(None).await.unwrap_err();
    assert!(
        message(&e).contains("exceeded its return-size limit"),
        "{e}"
    );
    assert_eq!(
        store.event_count().unwrap(),
        0,
        "nothing of the page was stored"
    );
}

#[tokio::test]
async fn a_public_name_pointing_at_loopback_is_refused() {
    use datacollect_sync::host::HttpClients;
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("dns", 1), &EventApplier::new())
        .unwrap();
    // DNS rebinding: the config names a public host, the name resolves to 127.0.0.1.
    let rebinding = HttpClients::with_lookup(Arc::new(|_host: String| {
        Box::pin(async { Ok(vec![std::net::IpAddr::from([127, 0, 0, 1])]) })
            as std::pin::Pin<
                Box<
                    dyn std::future::Future<Output = std::io::Result<Vec<std::net::IpAddr>>> + Send,
                >,
            >
    }))
    .unwrap();
    let url = format!("http://sync.example.org:{}/mock-sync", server.addr.port());
    let config =
        ExternalSyncConfig::from_value(&json!({"type": "mock-sync-server", "url": url})).unwrap();
    let mut m = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
        .with_registry(hostile_registry())
        .with_http_clients(rebinding);
    m.initialize().await.unwrap();
    let e = m.synchronize(None).await.unwrap_err();
    assert_eq!(e.class().as_str(), "config", "a denial is not retried: {e}");
    assert!(message(&e).contains("resolves to no public address"), "{e}");
    assert_eq!(
        server.received().1,
        0,
        "the loopback server was never reached"
    );
    assert_eq!(store.runs(None, 1).unwrap()[0].denials.len(), 1);
}

#[tokio::test]
async fn request_and_response_sizes_are_capped() {
    let e = attack("big-request", None).await;
    assert!(
        message(&e).contains("blocked: a 2 MiB request body")
            && message(&e).contains("over the 1048576-byte cap"),
        "{e}"
    );
    let e = attack("big-response", None).await;
    assert!(
        message(&e).contains("blocked: a response over the cap")
            && message(&e).contains("524288-byte cap"),
        "{e}"
    );
}

#[tokio::test]
async fn an_origin_the_operator_allows_is_reachable() {
    let other = mock_server().await;
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("allow", 1), &EventApplier::new())
        .unwrap();
    let config = ExternalSyncConfig::from_value(&json!({"type": "hostile", "url": server.url(), "extraFields": [
        {"name": "attack", "value": "other-url"}, {"name": "target", "value": format!("{}/received", other.url())}]})).unwrap();
    let mut m = ExternalSyncManager::new(store, Arc::new(EventApplier::new()), config)
        .with_registry(hostile_registry())
        .allow_origins(vec![format!("http://{}", other.addr)]);
    m.initialize().await.unwrap();
    let e = m.synchronize(None).await.unwrap_err();
    assert!(
        message(&e).contains("LEAK: http to another origin succeeded"),
        "allowed, so the request went through: {e}"
    );
}
