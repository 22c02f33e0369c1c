//! Adapters written to attack the host. Each attack has a specific, contained outcome that
//! names its cause, no secret reaches the error, the run history or the adapter, and a
//! well-behaved adapter in the same process syncs correctly right afterwards.
//! SECURITY.md maps each attack to its test here.
//!
//! Over 400 lines: one attack per test, kept in one file because SECURITY.md's table points
//! into it and every attack shares the no-leak and good-adapter-after path at its top.

use datacollect_sync::engine::Limits;
use datacollect_sync::limits::Limit;
use datacollect_sync::store::RunRecord;
use datacollect_sync::{
    AdapterRegistry, EventApplier, EventStore, ExternalSyncConfig, ExternalSyncManager, SyncError,
};
use datacollect_sync_e2e::*;
use serde_json::json;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

const SECRET: &str = "sk_live_SUPER_SECRET_4242";
/// A short secret an oracle would find quickly: one of the 8 000 guesses below.
const PIN: &str = "004242";
const PASSWORD: &str = "pw-Body-Placement-77";

fn limits() -> Limits {
    Limits {
        fuel: 3_000_000_000,
        deadline: Duration::from_secs(5),
        memory_bytes: 128 << 20,
        hostcalls: 20_000,
        max_return_bytes: 16 << 20,
        max_request_bytes: 1 << 20,
        max_response_bytes: 512 << 10,
        stall_time: Duration::from_secs(1),
        stall_pages: 40,
        ..Limits::default()
    }
}

/// The mock adapter and the hostile one in one registry with tight limits, as an operator
/// might set them.
fn hostile_registry() -> Arc<AdapterRegistry> {
    static R: OnceLock<Arc<AdapterRegistry>> = OnceLock::new();
    R.get_or_init(|| build_shared(|| registry_with(limits(), &["hostile.wasm"])))
        .clone()
}

async fn registry_with(limits: Limits, test_adapters: &[&str]) -> Arc<AdapterRegistry> {
    let runtime = runtime_with(limits);
    let registry = AdapterRegistry::new(runtime.clone());
    registry.insert(
        runtime
            .load(&adapter_dir().join("mock_sync_server.wasm"))
            .await
            .expect("built by make adapters"),
    );
    for name in test_adapters {
        registry.insert(
            runtime
                .load(&test_adapter_dir().join(name))
                .await
                .expect("built by make adapters"),
        );
    }
    registry
}

/// The hostile config for `attack` against `url`, with the secrets it tries to steal.
fn hostile_config(url: &str, attack: &str, extra: &[(&str, &str)]) -> ExternalSyncConfig {
    let mut fields = vec![
        json!({"name": "attack", "value": attack}),
        json!({"name": "apiKey", "value": SECRET}),
        json!({"name": "pin", "value": PIN}),
        json!({"name": "password", "value": PASSWORD}),
    ];
    fields.extend(extra.iter().map(|(n, v)| json!({"name": n, "value": v})));
    ExternalSyncConfig::from_value(&json!({"type": "hostile", "url": url, "extraFields": fields}))
        .unwrap()
}

/// No secret value anywhere in `text`.
fn assert_no_secret(what: &str, text: &str) {
    for s in [SECRET, PASSWORD] {
        assert!(!text.contains(s), "secret in {what}: {text}");
    }
}

/// Run one attack; return the sync error and the run history. Then prove a good adapter
/// still works.
async fn attack_with(
    name: &str,
    extra: &[(&str, &str)],
    manager: impl FnOnce(ExternalSyncManager) -> ExternalSyncManager,
) -> (SyncError, Vec<RunRecord>) {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events(name, 1), &EventApplier::new())
        .unwrap();
    let config = hostile_config(&server.url(), name, extra);
    let mut m = manager(
        ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
            .with_registry(hostile_registry()),
    );
    m.initialize().await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(60), m.synchronize(None))
        .await
        .expect("the host never hangs")
        .expect_err("the attack fails");
    assert_eq!(
        store.pending_count(&m.config().id).unwrap(),
        1,
        "nothing was confirmed by the attack"
    );
    assert_contained(&store, &server, &err).await;
    (err, store.runs(None, 10).unwrap())
}

/// What every attack test checks once its attack failed: no secret value in the error or
/// the run history, and a well-behaved adapter in the same process syncs right afterwards.
async fn assert_contained(
    store: &Arc<dyn EventStore>,
    server: &dcsync_emulators::MockSyncServer,
    err: &SyncError,
) {
    assert_no_secret("the error", &err.to_string());
    for run in store.runs(None, 10).unwrap() {
        assert_no_secret("run history", &format!("{run:?}"));
    }
    good_adapter_still_syncs(store, server).await;
}

async fn good_adapter_still_syncs(
    store: &Arc<dyn EventStore>,
    server: &dcsync_emulators::MockSyncServer,
) {
    let fresh = local_events(&format!("good-{}", server.addr.port()), 1);
    store.append_local(&fresh, &EventApplier::new()).unwrap();
    let good =
        ExternalSyncConfig::from_value(&json!({"type": "mock-sync-server", "url": server.url()}))
            .unwrap();
    let mut ok = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), good)
        .with_registry(hostile_registry());
    ok.initialize().await.unwrap();
    let report = ok
        .synchronize(None)
        .await
        .expect("a good adapter still syncs");
    assert!(report.pushed >= 1, "{report:?}");
}

async fn attack(name: &str, extra: &[(&str, &str)]) -> SyncError {
    attack_with(name, extra, |m| m).await.0
}

/// The bytes an attack reported as `saw=aa:bb:…`, decoded.
fn saw(report: &str) -> Vec<u8> {
    report
        .split("saw=")
        .nth(1)
        .map(|rest| rest.split([' ', '|', '"']).next().unwrap_or(""))
        .unwrap_or("")
        .split(':')
        .filter(|b| !b.is_empty())
        .map(|b| u8::from_str_radix(b, 16).expect("colon hex"))
        .collect()
}

// --- 1. Secrets: placement is the boundary; scrubbing is defence in depth ---------------

#[tokio::test]
async fn an_echoed_secret_never_reaches_the_adapter_in_any_encoding_and_holds_the_config() {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("echo", 1), &EventApplier::new())
        .unwrap();
    for transform in [
        "raw",
        "gzip",
        "base64",
        "hex",
        "reversed",
        "upper",
        "json-slash",
        "json-unicode",
        "percent",
        "html",
        "prefix-half",
        "suffix-half",
    ] {
        let config = hostile_config(
            &server.url(),
            "echo-transforms",
            &[("transforms", transform)],
        );
        let mut m = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
            .with_registry(hostile_registry());
        m.initialize().await.unwrap();
        // The echo carries the key (header and basic auth): the call is stopped, so the
        // adapter never sees the answer, not even partly masked; one probe per hold.
        let e = m.synchronize(None).await.unwrap_err();
        assert!(matches!(e, SyncError::SecretEchoed), "{transform}: {e}");
        assert_eq!(e.class().as_str(), "security");
        assert_no_secret("the error", &e.to_string());
        let held = store.hold(&m.config().id).unwrap();
        assert!(
            held.as_ref()
                .is_some_and(|(_, why)| why.contains("saw an answer holding a secret value")),
            "{transform}: {held:?}"
        );
        let again = m.synchronize(None).await.unwrap_err();
        assert!(matches!(again, SyncError::Held { .. }), "{again}");
        assert!(again.to_string().contains("dcsync release"), "{again}");
        assert!(store.release_config(&m.config().id).unwrap());
    }
    let runs = store.runs(None, 100).unwrap();
    assert_eq!(runs.len(), 12, "a held config starts no run: {runs:?}");
    for r in &runs {
        assert_no_secret("run history", &format!("{r:?}"));
        assert_eq!(r.error_class.map(|c| c.as_str()), Some("security"));
    }
    assert_eq!(store.pending_count(&runs[0].config_id).unwrap(), 1);
}

#[tokio::test]
async fn the_adapter_cannot_ask_for_a_compressed_answer_or_set_host_headers() {
    let e = attack("accept-gzip", &[]).await;
    assert!(
        e.to_string()
            .contains("`accept-encoding` header is set by the host"),
        "{e}"
    );
    let e = attack("host-header", &[]).await;
    assert!(
        e.to_string()
            .contains("blocked: a Host header of our choosing"),
        "{e}"
    );
    assert!(
        e.to_string().contains("`host` header is set by the host"),
        "{e}"
    );
}

#[tokio::test]
async fn a_secret_goes_only_where_the_adapter_declared_it() {
    let e = attack("undeclared-header", &[]).await;
    assert!(
        e.to_string()
            .contains("secret `apiKey` may not be placed in this header"),
        "{e}"
    );
    let e = attack("body-elsewhere", &[]).await;
    assert!(
        e.to_string().contains("secret `password` may go into a body only once, as a whole JSON string at its declared pointer")
            || e.to_string().contains("secret `password` may not be placed in this request body"),
        "{e}"
    );
    let e = attack("url-secret", &[]).await;
    assert!(e.to_string().contains("never in the URL"), "{e}");
}

#[tokio::test]
async fn a_body_placement_needs_the_operator_and_its_echo_is_refused() {
    let e = attack("body-declared", &[]).await;
    assert!(
        e.to_string().contains("[approve_placements]"),
        "not approved: {e}"
    );
    let (e, _) = attack_with("body-declared", &[], |m| {
        m.secret_rules(true, Default::default())
    })
    .await;
    // Approved: the password went into the body at its pointer; the server echoed it
    // (reversed), and the call was stopped.
    assert!(matches!(e, SyncError::SecretEchoed), "{e}");
}

#[tokio::test]
async fn a_secret_stored_on_the_server_cannot_be_read_back_in_pieces() {
    let e = attack("stash-body", &[]).await;
    let m = e.to_string();
    assert!(
        m.contains("stash err=Config(\"invalid request: secret `apiKey`"),
        "nothing stored: {m}"
    );
    let read = String::from_utf8_lossy(&saw(&m)).into_owned();
    assert!(!read.contains(SECRET), "{read}");
}

#[tokio::test]
async fn event_data_is_never_a_template() {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    let mut events = local_events("tmpl", 1);
    events[0].data = json!({ "name": "{{secret:apiKey}}", "note": "{{secret:no-such-secret}}" });
    store.append_local(&events, &EventApplier::new()).unwrap();
    let config =
        ExternalSyncConfig::from_value(&json!({"type": "mock-sync-server", "url": server.url(),
        "extraFields": [{"name": "apiKey", "value": SECRET}]}))
        .unwrap();
    let mut m = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
        .with_registry(hostile_registry());
    m.initialize().await.unwrap();
    let report = m
        .synchronize(None)
        .await
        .expect("an unknown name in event data fails nothing");
    assert_eq!(report.pushed, 1);
    let received = server.received().0;
    assert_eq!(
        received[0]["data"]["name"], "{{secret:apiKey}}",
        "sent verbatim"
    );
    assert_eq!(received[0]["data"]["note"], "{{secret:no-such-secret}}");
}

// --- 2. No oracle in error texts ---------------------------------------------------------

#[tokio::test]
async fn errors_never_echo_the_request_so_guesses_learn_nothing() {
    // 8 000 PIN guesses in one URL to a closed port: the error must not say which matched.
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("oracle", 1), &EventApplier::new())
        .unwrap();
    let config = hostile_config("http://127.0.0.1:1/closed", "url-oracle", &[]);
    let mut m = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
        .with_registry(hostile_registry());
    m.initialize().await.unwrap();
    let e = m.synchronize(None).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("oracle err=Transient"), "{text}");
    assert!(text.contains("connection refused"), "{text}");
    for leak in ["***", PIN, "g=", "000001", "127.0.0.1:1/closed?"] {
        assert!(!text.contains(leak), "{leak:?} in {text}");
    }
}

#[tokio::test]
async fn a_size_cap_reports_the_size_the_adapter_built() {
    // The cap is checked on what the adapter built, before any secret is filled in, so
    // its error can never tell the adapter a secret's length.
    let e = attack("big-request", &[]).await;
    assert!(
        e.to_string()
            .contains("request body of 2097152 bytes is over the 1048576-byte cap"),
        "{e}"
    );
}

// --- 3. Declared secrets are secret everywhere, and at once after a hot swap -----------

/// Every call starts from a fresh instance: what one call (of this config or another) left
/// in memory is gone in the next, although pool slots keep their pages resident between
/// calls (`limits.keep_resident_mib`, on by default).
#[tokio::test]
async fn nothing_a_call_leaves_in_memory_reaches_the_next_call() {
    assert!(hostile_registry().runtime().limits().keep_resident_bytes > 0);
    for round in 0..3 {
        let err = attack("remember", &[("round", &round.to_string())]).await;
        let text = err.to_string();
        assert!(text.contains("kept=1 "), "this call stored its own: {text}");
        assert!(
            saw(&text).is_empty(),
            "round {round}: a previous call's memory: {:?}",
            String::from_utf8_lossy(&saw(&text))
        );
    }
}

/// The same past the part a pool slot keeps resident: each call grows its memory by 24 MiB
/// and counts the bytes a previous call left there (canaries inside the kept 16 MiB and
/// beyond it). A runtime of its own, calls one after another on one thread: the pool hands
/// the same slot back (module-affine, most recently freed first).
#[tokio::test]
async fn memory_a_call_grew_and_wrote_is_zero_in_the_next_call() {
    let registry = registry_with(limits(), &["hostile.wasm"]).await;
    assert!(registry.runtime().limits().keep_resident_bytes < 20 << 20);
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("grown", 1), &EventApplier::new())
        .unwrap();
    let (mut starts, mut last) = (Vec::new(), None);
    for round in 0..4 {
        let config = hostile_config(
            &server.url(),
            "remember-grown",
            &[("round", &round.to_string())],
        );
        let mut m = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
            .with_registry(registry.clone());
        m.initialize().await.unwrap();
        let err = m.synchronize(None).await.unwrap_err();
        let text = err.to_string();
        let field = |name: &str| -> usize {
            text.split(&format!("{name}="))
                .nth(1)
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("round {round}: no {name} in {text}"))
        };
        assert_eq!(
            field("dirty"),
            0,
            "round {round}: left by a previous call: {text}"
        );
        starts.push(field("grown_from"));
        last = Some(err);
    }
    // As every attack test: no secret in the errors or history; a good adapter syncs.
    assert_contained(&store, &server, &last.expect("four rounds")).await;
    // The canaries went where the test means: one inside the kept part, one past it.
    assert!(starts.iter().all(|s| *s < 2 << 20), "{starts:?}");
}

#[tokio::test]
async fn a_hot_swap_that_declares_a_new_secret_masks_it_from_the_next_call() {
    let registry = registry_with(limits(), &["hostile_v0.wasm"]).await;
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("swap", 1), &EventApplier::new())
        .unwrap();
    let config = hostile_config(
        &server.url(),
        "dump-config",
        &[("passcode", "PASSCODE-31337")],
    );
    let mut m = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
        .with_registry(registry.clone());
    m.initialize().await.unwrap();
    let before = m.synchronize(None).await.unwrap_err().to_string();
    assert!(
        before.contains("PASSCODE-31337"),
        "v0 does not declare it: {before}"
    );
    let runtime = registry.runtime().clone();
    registry.insert(
        runtime
            .load(&test_adapter_dir().join("hostile.wasm"))
            .await
            .unwrap(),
    );
    let after = m.synchronize(None).await.unwrap_err().to_string();
    assert!(!after.contains("PASSCODE-31337"), "{after}");
    assert!(
        after.contains("(\"passcode\", \"{{secret:passcode:"),
        "{after}"
    );
}

#[tokio::test]
async fn a_swap_that_stops_declaring_a_secret_does_not_reveal_it() {
    // Version 1 declares `passcode` secret; a swap to a version that does not (v0) must not
    // hand its value over: the store remembers it was secret for this config.
    let registry = registry_with(limits(), &["hostile.wasm"]).await;
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("unswap", 1), &EventApplier::new())
        .unwrap();
    let config = hostile_config(
        &server.url(),
        "dump-config",
        &[("passcode", "PASSCODE-31337")],
    );
    let mut m = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
        .with_registry(registry.clone());
    m.initialize().await.unwrap();
    let before = m.synchronize(None).await.unwrap_err().to_string();
    assert!(!before.contains("PASSCODE-31337"), "{before}");
    let runtime = registry.runtime().clone();
    registry.insert(
        runtime
            .load(&test_adapter_dir().join("hostile_v0.wasm"))
            .await
            .unwrap(),
    );
    let after = m.synchronize(None).await.unwrap_err().to_string();
    assert!(
        after.contains("(\"passcode\", \"{{secret:passcode:"),
        "still a reference after the swap: {after}"
    );
    assert!(!after.contains("PASSCODE-31337"), "{after}");
}

#[tokio::test]
async fn the_adapter_sees_references_carrying_the_runs_token_only() {
    let e = attack("dump-config", &[]).await;
    let m = e.to_string();
    assert!(m.contains("(\"apiKey\", \"{{secret:apiKey:"), "{m}");
    assert!(
        m.contains("secret_names: [\"apiKey\", \"pin\", \"password\"]"),
        "{m}"
    );
    assert!(!m.contains(PIN), "{m}");
}

// --- 5. Egress: every origin gets the public-address rule ------------------------------

#[tokio::test]
async fn an_operator_added_origin_cannot_be_pointed_at_the_host() {
    use datacollect_sync::host::HttpClients;
    let server = mock_server().await;
    let target = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("rebind", 1), &EventApplier::new())
        .unwrap();
    // The config targets loopback (the operator's choice); the extra origin is a public
    // name that resolves to loopback (DNS rebinding).
    let rebinding = HttpClients::with_lookup(Arc::new(|_host: String| {
        Box::pin(async { Ok(vec![std::net::IpAddr::from([127, 0, 0, 1])]) })
            as std::pin::Pin<
                Box<
                    dyn std::future::Future<Output = std::io::Result<Vec<std::net::IpAddr>>> + Send,
                >,
            >
    }))
    .unwrap();
    let extra = format!("http://public.example.org:{}", target.addr.port());
    let config = hostile_config(
        &server.url(),
        "other-url",
        &[("target", &format!("{extra}/mock-sync"))],
    );
    let mut m = ExternalSyncManager::new(store, Arc::new(EventApplier::new()), config)
        .with_registry(hostile_registry())
        .with_http_clients(rebinding)
        .allow_origins(vec![extra]);
    m.initialize().await.unwrap();
    let e = m.synchronize(None).await.unwrap_err();
    assert!(
        e.to_string().contains("resolves to no public address"),
        "{e}"
    );
    assert_eq!(
        target.requests(),
        0,
        "the loopback server behind the name was never reached"
    );
}

#[tokio::test]
async fn a_secret_goes_to_an_operator_added_origin_only_when_the_operator_says_so() {
    let other = mock_server().await;
    let target = format!("{}/echo", other.url());
    let (e, _) = attack_with("other-url-with-secret", &[("target", &target)], |m| {
        m.allow_origins(vec![format!("http://{}", other.addr)])
    })
    .await;
    assert!(
        e.to_string()
            .contains("may go only to the config's own origin"),
        "{e}"
    );
    assert_eq!(other.requests(), 0);
}

// --- 6. Local data: an adapter touches only what is its own ----------------------------

async fn pull_attack(
    attack: &str,
    store: &Arc<dyn EventStore>,
    target: &str,
) -> datacollect_sync::SyncReport {
    let server = mock_server().await;
    let config = hostile_config(&server.url(), attack, &[("target", target)]);
    let mut m = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
        .with_registry(hostile_registry());
    m.initialize().await.unwrap();
    m.synchronize(None)
        .await
        .expect("the pull runs; the event is quarantined")
}

#[tokio::test]
async fn a_pulled_event_cannot_delete_or_take_over_an_entity_it_does_not_own() {
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("own", 2), &EventApplier::new())
        .unwrap();
    // own-person-0 stays local; own-person-1 is pushed to another config (the mock).
    let server = mock_server().await;
    let mock = manager(&store, mock_config(&server, &[])).await;
    for victim in ["own-person-0", "own-person-1"] {
        for attack in ["delete-foreign", "update-foreign"] {
            let report = pull_attack(attack, &store, victim).await;
            assert_eq!(report.applied, 0, "{attack} {victim}");
            let q = store.quarantine(None).unwrap();
            let last = q
                .iter()
                .rev()
                .find(|e| e.phase.as_str() == "apply")
                .unwrap();
            assert!(
                last.reason
                    .contains(&format!("entity {victim} is not linked to config")),
                "{q:?}"
            );
        }
        if victim == "own-person-0" {
            // Both local events (and the refused pulled ones, passed on like any stored event).
            assert!(mock.synchronize(None).await.unwrap().pushed >= 2);
        }
        let entity = store.entity(victim).unwrap().expect("still there");
        let expected = format!("Person {}", &victim["own-person-".len()..]);
        assert_eq!(
            entity.modified.name.as_deref(),
            Some(expected.as_str()),
            "unchanged"
        );
    }
}

#[tokio::test]
async fn accepting_every_push_does_not_make_other_configs_entities_or_deletions_its_own() {
    // A new config is offered the whole store from sequence 0; this one accepts it all,
    // then pulls deletions and far-future updates of what it was given.
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("dev", 1), &EventApplier::new())
        .unwrap();
    // An entity created by another config's pull (the mock's).
    let server = mock_server().await;
    server.seed(vec![
        json!({"entityGuid": "from-mock", "type": "create-individual",
        "data": {"name": "Pulled by the mock"}}),
    ]);
    let mock = manager(&store, mock_config(&server, &[])).await;
    assert_eq!(mock.synchronize(None).await.unwrap().applied, 1);
    let expect_refused = |victim: &str, attack: &str, why: &str| {
        let q = store.quarantine(None).unwrap();
        let last = q
            .iter()
            .rev()
            .find(|e| e.phase.as_str() == "apply")
            .unwrap();
        assert!(last.reason.contains(why), "{attack} {victim}: {q:?}");
    };
    for (victim, attack, why) in [
        (
            "dev-person-0",
            "take-over-delete",
            "may update it but not delete it",
        ),
        ("from-mock", "take-over-delete", "is not linked to config"),
        ("from-mock", "take-over-update", "is not linked to config"),
    ] {
        let report = pull_attack(attack, &store, victim).await;
        assert!(report.pushed >= 1, "it accepted the store: {report:?}");
        assert_eq!(report.applied, 0, "{attack} {victim}");
        expect_refused(victim, attack, why);
        assert!(
            store.entity(victim).unwrap().is_some(),
            "{victim} still there"
        );
    }
    assert_eq!(
        store
            .entity("from-mock")
            .unwrap()
            .unwrap()
            .modified
            .name
            .as_deref(),
        Some("Pulled by the mock")
    );
}

#[tokio::test]
async fn an_entity_pushed_to_a_config_can_be_updated_by_its_pulls() {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("linked", 1), &EventApplier::new())
        .unwrap();
    let m = manager(&store, mock_config(&server, &[])).await;
    assert_eq!(m.synchronize(None).await.unwrap().pushed, 1);
    server.seed(vec![
        json!({"entityGuid": "linked-person-0", "type": "update-individual",
        "data": {"name": "Renamed in the external system"}}),
    ]);
    let report = m.synchronize(None).await.unwrap();
    assert_eq!((report.applied, report.quarantined), (1, 0));
    let e = store.entity("linked-person-0").unwrap().unwrap();
    assert_eq!(
        e.modified.name.as_deref(),
        Some("Renamed in the external system")
    );
}

#[tokio::test]
async fn a_pulled_timestamp_far_in_the_future_is_quarantined() {
    let (store, _dir) = temp_store();
    let report = pull_attack("future-timestamp", &store, "").await;
    assert_eq!((report.applied, report.quarantined), (0, 1));
    assert!(store.entity("brand-new").unwrap().is_none());
    let q = store.quarantine(None).unwrap();
    assert_eq!(q[0].phase.as_str(), "pull");
    assert!(q[0].reason.contains("in the future"), "{q:?}");
}

// --- 7. Rejections -----------------------------------------------------------------------

#[tokio::test]
async fn rejections_quarantine_each_event_of_the_batch_at_most_once() {
    for attack in ["over-reject", "over-reject-outcome"] {
        let server = mock_server().await;
        let (store, _dir) = temp_store();
        store
            .append_local(&local_events(attack, 2), &EventApplier::new())
            .unwrap();
        let config = hostile_config(&server.url(), attack, &[]);
        let mut m = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
            .with_registry(hostile_registry());
        m.initialize().await.unwrap();
        let report = m.synchronize(None).await.expect(attack);
        let q = store.quarantine(None).unwrap();
        assert!(
            q.len() <= 2,
            "{attack}: {} quarantine rows from a 2-event batch",
            q.len()
        );
        let mut guids: Vec<&str> = q.iter().map(|e| e.event_guid.as_str()).collect();
        guids.dedup();
        assert_eq!(guids.len(), q.len(), "{attack}: distinct");
        assert_eq!(
            report.quarantined as usize,
            q.len(),
            "{attack}: counted as stored"
        );
    }
}

// --- 8. Resources --------------------------------------------------------------------------

#[tokio::test]
async fn unbounded_allocation_hits_the_typed_memory_limit() {
    let before = breaches("memory");
    let e = attack("alloc", &[]).await;
    assert_eq!(e.limit(), Some(Limit::Memory), "{e}");
    assert_eq!(e.class().as_str(), "limit");
    assert_eq!(
        breaches("memory") - before,
        1,
        "the breach is counted by its limit"
    );
}

fn breaches(limit: &str) -> u64 {
    datacollect_sync::metrics::render()
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!(
                "dcsync_limit_breaches_total{{adapter=\"hostile\",limit=\"{limit}\"}} "
            ))
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn an_endless_loop_is_stopped_by_fuel_when_time_is_plenty() {
    let registry = registry_with(
        Limits {
            fuel: 200_000_000,
            deadline: Duration::from_secs(30),
            ..limits()
        },
        &["hostile.wasm"],
    )
    .await;
    let e = endless_loop(registry).await;
    assert_eq!(e.limit(), Some(Limit::Fuel), "{e}");
}

#[tokio::test]
async fn an_endless_loop_is_stopped_by_the_deadline_when_fuel_is_plenty() {
    let registry = registry_with(
        Limits {
            fuel: u64::MAX / 4,
            deadline: Duration::from_millis(1500),
            ..limits()
        },
        &["hostile.wasm"],
    )
    .await;
    // Another config syncs to completion while the loop runs: the loop cannot starve it.
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("busy", 3), &EventApplier::new())
        .unwrap();
    let other = manager(&store, mock_config(&server, &[])).await;
    // One thread runs both (`#[tokio::test]` is single-threaded): the other sync can only
    // progress if the looping adapter yields. Which finished first is recorded as an
    // order of events, not measured as a time.
    let loop_stopped = std::sync::atomic::AtomicBool::new(false);
    let (e, (report, loop_stopped_first)) = tokio::join!(
        async {
            let e = endless_loop(registry).await;
            loop_stopped.store(true, std::sync::atomic::Ordering::SeqCst);
            e
        },
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let r = other.synchronize(None).await.unwrap();
            (r, loop_stopped.load(std::sync::atomic::Ordering::SeqCst))
        }
    );
    assert_eq!(e.limit(), Some(Limit::Deadline), "{e}");
    assert_eq!(report.pushed, 3);
    assert!(
        !loop_stopped_first,
        "the other sync finished while the loop still ran"
    );
}

async fn endless_loop(registry: Arc<AdapterRegistry>) -> SyncError {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("loop", 1), &EventApplier::new())
        .unwrap();
    let mut m = ExternalSyncManager::new(
        store,
        Arc::new(EventApplier::new()),
        hostile_config(&server.url(), "loop", &[]),
    )
    .with_registry(registry);
    m.initialize().await.unwrap();
    tokio::time::timeout(Duration::from_secs(90), m.synchronize(None))
        .await
        .expect("an endless loop is stopped by a limit, never left running")
        .unwrap_err()
}

#[tokio::test]
async fn unbounded_recursion_traps() {
    // Rust guests overflow their shadow stack (in linear memory) first: an out-of-bounds
    // trap; a native-stack overflow is caught by wasmtime as `stack overflow`.
    let e = attack("recurse", &[]).await;
    let m = e.to_string();
    assert!(
        m.contains("stack overflow") || m.contains("out of bounds memory access"),
        "{m}"
    );
}

#[tokio::test]
async fn trap_and_panic_fail_the_run_cleanly() {
    assert!(attack("trap", &[])
        .await
        .to_string()
        .contains("adapter trapped"));
    assert!(attack("panic", &[])
        .await
        .to_string()
        .contains("adapter trapped"));
}

#[tokio::test]
async fn a_log_flood_is_capped_at_the_per_call_line_limit() {
    let before = dropped_lines();
    let e = attack("log-flood", &[]).await;
    // 100 000 lines against 20 000 host calls: the budget stops it after 20 000 calls, of
    // which the first 1 000 were written and the rest dropped, not written.
    assert!(
        e.to_string().contains("exceeded its hostcalls limit"),
        "{e}"
    );
    assert_eq!(dropped_lines() - before, 20_000 - 1_000);
}

fn dropped_lines() -> u64 {
    datacollect_sync::metrics::render()
        .lines()
        .find_map(|l| {
            l.strip_prefix("dcsync_adapter_log_lines_dropped_total{adapter=\"hostile\"} ")
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn hostcalls_in_a_tight_loop_hit_the_budget() {
    let e = attack("hostcalls", &[]).await;
    assert_eq!(e.limit(), Some(Limit::Hostcalls), "{e}");
}

#[tokio::test]
async fn a_gigantic_page_hits_the_return_size_limit_and_stores_nothing() {
    let server = mock_server().await;
    let (store, _dir) = temp_store();
    let mut m = ExternalSyncManager::new(
        store.clone(),
        Arc::new(EventApplier::new()),
        hostile_config(&server.url(), "huge-page", &[]),
    )
    .with_registry(hostile_registry());
    m.initialize().await.unwrap();
    let e = m.synchronize(None).await.unwrap_err();
    assert_eq!(e.limit(), Some(Limit::ReturnSize), "{e}");
    assert_eq!(
        store.event_count().unwrap(),
        0,
        "nothing of the page was stored"
    );
    assert_contained(&store, &server, &e).await;
}

// --- 9. A run has its own budget -----------------------------------------------------------

#[tokio::test]
async fn a_pull_that_never_ends_is_stopped_and_frees_its_config() {
    for attack in ["endless-pages", "stalled-pages"] {
        let server = mock_server().await;
        let (store, _dir) = temp_store();
        let config = hostile_config(&server.url(), attack, &[]);
        let mut m = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
            .with_registry(hostile_registry());
        m.initialize().await.unwrap();
        let started = Instant::now();
        let e = tokio::time::timeout(Duration::from_secs(50), m.synchronize(None))
            .await
            .expect("stopped well within a minute")
            .unwrap_err();
        assert_eq!(e.limit(), Some(Limit::RunBudget), "{attack}: {e}");
        assert!(started.elapsed() < Duration::from_secs(30), "{attack}");
        // The config is free again: the next run starts (and is stopped again).
        let again = m.synchronize(None).await.unwrap_err();
        assert_eq!(again.limit(), Some(Limit::RunBudget), "{attack}: {again}");
        let runs = store.runs(None, 5).unwrap();
        assert!(
            runs.iter().all(|r| r.status.as_str() == "failed"),
            "{runs:?}"
        );
        assert_eq!(runs[0].error_class.map(|c| c.as_str()), Some("limit"));
    }
}

#[tokio::test]
async fn a_long_pull_past_the_run_budget_ends_incomplete_and_the_next_run_resumes() {
    let server = mock_server().await;
    server.seed(
        (0..30)
            .map(|i| json!({"entityGuid": format!("long-{i}"), "data": {"name": format!("R{i}")}}))
            .collect(),
    );
    server.set_latency(40);
    let (store, _dir) = temp_store();
    let registry = registry_with(
        Limits {
            run_time: Duration::from_millis(400),
            ..limits()
        },
        &[],
    )
    .await;
    let config = mock_config(&server, &[("batchSize", "2")]);
    let mut m =
        ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config.clone())
            .with_registry(registry);
    m.initialize().await.unwrap();
    let first = m
        .synchronize(None)
        .await
        .expect("out of time is not an error");
    assert_eq!(first.status.as_str(), "incomplete");
    assert!(first.applied > 0 && first.applied < 30, "{first:?}");
    assert_eq!(
        store.runs(None, 1).unwrap()[0].status.as_str(),
        "incomplete"
    );
    server.set_latency(0);
    let mut rest = 0;
    for _ in 0..10 {
        let r = manager(&store, config.clone())
            .await
            .synchronize(None)
            .await
            .unwrap();
        rest += r.applied;
        assert_eq!(r.duplicates, 0, "resumed where it stopped");
        if r.status.as_str() == "succeeded" {
            break;
        }
    }
    assert_eq!(first.applied + rest, 30);
}

// --- 10. Adapter text is neutralised -------------------------------------------------------

#[tokio::test]
async fn adapter_text_reaches_history_and_reports_neutralised() {
    let (e, runs) = attack_with("ansi-error", &[], |m| m).await;
    for text in [e.to_string(), format!("{:?}", runs[1].message)] {
        assert!(
            !text.contains('\u{1b}') && !text.contains('\r') && !text.contains('\n'),
            "{text:?}"
        );
        assert!(text.contains("\\u{1b}[31m"), "shown escaped: {text:?}");
    }
    let info = &hostile_registry().get("hostile").unwrap().info;
    assert!(
        !info.name.contains('\u{1b}') && !info.name.contains('\n'),
        "{:?}",
        info.name
    );

    let server = mock_server().await;
    let (store, _dir) = temp_store();
    store
        .append_local(&local_events("ansi", 2), &EventApplier::new())
        .unwrap();
    let mut m = ExternalSyncManager::new(
        store.clone(),
        Arc::new(EventApplier::new()),
        hostile_config(&server.url(), "ansi-reject", &[]),
    )
    .with_registry(hostile_registry());
    m.initialize().await.unwrap();
    let report = m.synchronize(None).await.unwrap();
    assert!(
        !report.remote_refs[0].contains('\u{1b}'),
        "{:?}",
        report.remote_refs
    );
    let q = store.quarantine(None).unwrap();
    assert!(
        !q[0].reason.contains('\u{1b}') && !q[0].reason.contains('\n'),
        "{:?}",
        q[0].reason
    );
}

// --- The sandbox's walls ---------------------------------------------------------------------

#[tokio::test]
async fn adapter_cannot_read_host_files() {
    let e = attack("read-file", &[]).await;
    assert!(e.to_string().contains("blocked: read /etc/passwd"), "{e}");
    let e = attack("list-root", &[]).await;
    assert!(e.to_string().contains("blocked: list /"), "{e}");
}

#[tokio::test]
async fn adapter_sees_no_environment() {
    std::env::set_var("DCSYNC_TEST_HOST_ONLY", "x");
    let e = attack("env", &[]).await;
    assert!(
        e.to_string().contains("blocked: environment is empty"),
        "{e}"
    );
}

#[tokio::test]
async fn adapter_cannot_open_sockets() {
    let server = mock_server().await;
    let e = attack("socket", &[("target", &server.addr.to_string())]).await;
    assert!(e.to_string().contains("blocked: tcp connect"), "{e}");
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn adapter_cannot_reach_other_origins() {
    let other = mock_server().await;
    let (e, runs) = attack_with("other-url", &[("target", &other.url())], |m| m).await;
    assert!(e.to_string().contains("origin is not allowed"), "{e}");
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
    assert_eq!(other.requests(), 0, "the other server was never reached");
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let elsewhere = mock_server().await; // 127.0.0.1 on another port
    let e = attack(
        "redirect",
        &[("target", &format!("{}/received", elsewhere.url()))],
    )
    .await;
    assert!(e.to_string().contains("redirect answered 302"), "{e}");
    assert_eq!(
        elsewhere.requests(),
        0,
        "the redirect target was never requested"
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
    // With a secret, so the common check that none leaked has something to find.
    let config = ExternalSyncConfig::from_value(&json!({"type": "mock-sync-server", "url": url,
        "extraFields": [{"name": "apiKey", "value": SECRET}]}))
    .unwrap();
    let mut m = ExternalSyncManager::new(store.clone(), Arc::new(EventApplier::new()), config)
        .with_registry(hostile_registry())
        .with_http_clients(rebinding);
    m.initialize().await.unwrap();
    let e = m.synchronize(None).await.unwrap_err();
    assert_eq!(e.class().as_str(), "config", "a denial is not retried: {e}");
    assert!(
        e.to_string().contains("resolves to no public address"),
        "{e}"
    );
    assert_eq!(
        server.requests(),
        0,
        "the loopback server was never reached"
    );
    assert_eq!(store.runs(None, 1).unwrap()[0].denials.len(), 1);
    assert_eq!(
        store.pending_count(&m.config().id).unwrap(),
        1,
        "nothing was confirmed"
    );
    assert_contained(&store, &server, &e).await;
}

#[tokio::test]
async fn request_and_response_sizes_are_capped() {
    let e = attack("big-response", &[]).await;
    assert!(
        e.to_string().contains("blocked: a response over the cap")
            && e.to_string().contains("524288-byte cap"),
        "{e}"
    );
}

#[tokio::test]
async fn an_origin_the_operator_allows_is_reachable() {
    let other = mock_server().await;
    let (e, _) = attack_with(
        "other-url",
        &[("target", &format!("{}/received", other.url()))],
        |m| m.allow_origins(vec![format!("http://{}", other.addr)]),
    )
    .await;
    assert!(
        e.to_string()
            .contains("LEAK: http to another origin succeeded"),
        "allowed, so the request went through: {e}"
    );
    assert_eq!(other.requests(), 1);
}
