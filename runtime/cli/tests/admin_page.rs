//! The admin page in a real browser (headless Chromium), as an operator uses it: log in
//! with the token, fill the form an adapter's `describe()` declares, see the API's
//! validation beside the field, sync, open a run's details and a config's quarantine, read
//! the chart; and a hostile `describe()` shown as text. Screenshots of each view land in
//! `target/screenshots/` for a person to look at. Every test ends its browser, failing too.

use datacollect_sync::configs::ConfigDir;
use datacollect_sync::{AdapterRegistry, EventApplier, EventStore, ExternalSyncConfig};
use datacollect_sync_e2e::webdriver::{live_processes, Browser};
use datacollect_sync_e2e::*;
use dcsync_cli::server::{router, serve_on, ServerState};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "browser-test-token-42";

/// A server over a fresh store, with a registry of `files` (paths of built components).
struct Page {
    base: String,
    store: Arc<dyn EventStore>,
    configs: Arc<ConfigDir>,
    _dir: tempfile::TempDir,
}

async fn serve(files: &[PathBuf]) -> Page {
    let runtime = runtime_with(Default::default());
    let registry = AdapterRegistry::new(runtime.clone());
    for file in files {
        let adapter = runtime.load(file).await;
        registry.insert(adapter.unwrap_or_else(|e| panic!("{file:?}: {e} (run `make adapters`)")));
    }
    let (store, dir) = temp_store();
    let service = Arc::new(
        datacollect_sync::SyncService::new(store.clone(), registry, &Default::default()).unwrap(),
    );
    let configs = Arc::new(ConfigDir::open(&dir.path().join("configs")).unwrap());
    let state = ServerState::new(service, configs.clone(), TOKEN.into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(serve_on(listener, router(state)));
    Page {
        base,
        store,
        configs,
        _dir: dir,
    }
}

async fn open(page: &Page) -> Browser {
    let b = Browser::start().await;
    b.goto(&page.base).await;
    b.type_into("#token", TOKEN).await;
    b.click("#login-btn").await;
    b.wait_for_text("#adapters", "mock-sync-server").await;
    b
}

async fn screenshot(b: &Browser, name: &str) {
    let shot = target_dir().join(format!("screenshots/{name}.png"));
    b.screenshot(&shot).await;
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "a real screenshot: {shot:?}"
    );
}

/// Whether the page is wider than the window (text that does not wrap breaks a layout).
async fn overflows(b: &Browser) -> bool {
    b.execute(
        "return document.documentElement.scrollWidth > window.innerWidth + 1;",
        json!([]),
    )
    .await
        == json!(true)
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < Duration::from_secs(20), "never: {what}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_syncs_opens_a_failed_runs_details_the_quarantine_and_the_chart() {
    let page = serve(&[adapter_dir().join("mock_sync_server.wasm")]).await;
    page.store
        .append_local(&local_events("page", 4), &EventApplier::new())
        .unwrap();
    let mock = mock_server().await;
    let b = open(&page).await;

    b.click("#f-type option[value='mock-sync-server']").await;
    b.type_into("#f-url", "ftp://not-http.example.org").await;
    b.type_into("#fields .f-name", "batchSize").await;
    b.type_into("#fields .f-value", "2").await;
    b.click("#save").await;
    let error = b
        .wait_for_text(".error[data-field='url']", "http or https")
        .await;
    assert!(error.contains("must be an http or https URL"), "{error}");

    b.type_into("#f-url", &mock.url()).await;
    b.click("#save").await;
    b.wait_for_text("#configs", "mock-sync-server@").await;
    assert_eq!(
        b.text(".error[data-field='url']").await,
        "",
        "the message cleared"
    );

    // Run 1: the receiver refuses one event (quarantined); live progress shows the run.
    mock.inject(vec![dcsync_emulators::Fault {
        reject_guids: vec!["page-event-2".into()],
        times: Some(2), // both batches of two: the second holds it
        ..Default::default()
    }]);
    b.click(".sync-now").await;
    let progress = b.wait_for_text("#progress", "succeeded").await;
    assert!(progress.contains("pushed 3"), "{progress}");
    b.wait_for_text("#runs", "succeeded").await;
    assert_eq!(mock.received().0.len(), 3);
    screenshot(&b, "admin").await;

    // Run 2, started from the keyboard (Enter on the focused button): nothing new,
    // succeeds. Run 3 fails: the receiver refuses the credentials.
    b.keys(".sync-now", "\u{E007}").await;
    b.wait_for_text("#progress", "run #2 succeeded").await;
    page.store
        .append_local(&local_events("late", 1), &EventApplier::new())
        .unwrap();
    mock.inject(vec![dcsync_emulators::Fault {
        status: Some(401),
        ..Default::default()
    }]);
    b.click(".sync-now").await;
    b.wait_for_text("#progress", "run #3 failed").await;

    b.click(".run-details[data-run='3']").await;
    b.wait_for_text("#run-title", "Run #3").await;
    assert_eq!(b.text("#run-status").await, "failed");
    assert_eq!(b.text("#run-error-class").await, "unauthorized");
    let message = b.text("#run-message").await;
    assert!(message.contains("401"), "the run's message: {message}");
    let focused = b
        .execute("return document.activeElement.id;", json!([]))
        .await;
    assert_eq!(focused, "run-title", "a keyboard user lands on the details");
    screenshot(&b, "run-details").await;

    // Run 1's details list the event it quarantined, with its type, and retry it.
    b.click(".run-details[data-run='1']").await;
    b.wait_for_text("#run-title", "Run #1").await;
    let quarantined = b.wait_for_text("#run-quarantine", "page-event-2").await;
    assert!(quarantined.contains("create-individual"), "{quarantined}");
    assert_eq!(b.count("#run-quarantine .retry-one").await, 1);

    // The config's quarantine view: reason, when, event type; retry one.
    b.click(".show-quarantine").await;
    b.wait_for_text("#quarantine-list", "page-event-2").await;
    assert_eq!(
        b.text("#quarantine-list .event-type").await,
        "create-individual"
    );
    assert!(!b.text("#quarantine-list .reason").await.is_empty());
    screenshot(&b, "quarantine").await;
    b.click("#quarantine-list .retry-one").await;
    b.wait_for_text("#quarantine-note", "1 re-queued").await;
    b.wait_for_text("#quarantine-list", "Nothing quarantined")
        .await;

    // The chart: one point per run in each series, one duration bar per run.
    let runs = page.store.runs(None, 100).unwrap().len();
    assert_eq!(runs, 3);
    for series in ["pushed", "pulled", "quarantined"] {
        let css = format!(".config-card svg circle.point.{series}");
        assert_eq!(b.count(&css).await, runs, "{series} points");
    }
    assert_eq!(b.count(".config-card svg rect.duration").await, runs);
    let pushed: Vec<String> = b
        .execute(
            "return [...document.querySelectorAll('.config-card circle.pushed title')].map((t) => t.textContent);",
            json!([]),
        )
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        pushed,
        [
            "run #1 succeeded: pushed 3",
            "run #2 succeeded: pushed 0",
            "run #3 failed: pushed 0"
        ],
        "oldest first, each point its run's count"
    );
    assert!(!overflows(&b).await, "readable at 1280×800");

    b.set_window_size(420, 800).await;
    assert!(
        !overflows(&b).await,
        "no horizontal scrolling on a narrow window"
    );
    screenshot(&b, "narrow").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openfn_form_is_built_from_its_declared_fields_and_keeps_secrets_out_of_the_page() {
    let page = serve(&[
        adapter_dir().join("mock_sync_server.wasm"),
        adapter_dir().join("openfn_adapter.wasm"),
    ])
    .await;
    let b = open(&page).await;
    b.click("#f-type option[value='openfn-adapter']").await;
    let api_key = "#declared input[data-name='apiKey']";
    assert_eq!(b.property(api_key, "type").await, "password");
    let collection = "#declared input[data-name='collectionName']";
    let help_id = b.property(collection, "id").await;
    let help = b
        .text(&format!("#{}-help", help_id.as_str().unwrap()))
        .await;
    assert_eq!(help, "Collection to pull records from (no pull without it)");
    assert_eq!(b.property(collection, "type").await, "text");
    screenshot(&b, "form-openfn").await;

    // The adapter's own rule, beside its field.
    b.click("#f-auth option[value='api-key']").await;
    b.type_into("#f-url", "http://127.0.0.1:9/i/trigger-1")
        .await;
    b.type_into(collection, "households").await;
    b.click("#save").await;
    let error = b
        .wait_for_text(
            ".error[data-field='extraFields.apiKey']",
            "required when auth is api-key",
        )
        .await;
    assert!(!error.is_empty());
    b.wait_for_text(
        ".error[data-field='extraFields.collectionsToken']",
        "required when collectionName is set",
    )
    .await;
    assert_eq!(
        b.execute(
            "return document.querySelector(arguments[0]).classList.contains('invalid');",
            json!([api_key])
        )
        .await,
        json!(true)
    );

    const SECRET: &str = "sk-PAGE-SECRET-7";
    const TOKEN_SECRET: &str = "pat-PAGE-SECRET-8";
    b.type_into(api_key, SECRET).await;
    let token = "#declared input[data-name='collectionsToken']";
    assert_eq!(b.property(token, "type").await, "password");
    b.type_into(token, TOKEN_SECRET).await;
    b.click("#save").await;
    b.wait_for_text("#configs", "openfn-adapter@").await;

    // Editing: the secret is not put back in the page; leaving it empty keeps it.
    b.click(".edit-config").await;
    b.wait_for_text("#form-title", "Edit openfn-adapter@").await;
    assert_eq!(b.property(api_key, "value").await, "");
    assert_eq!(b.property(api_key, "type").await, "password");
    assert_eq!(b.property(collection, "value").await, "households");
    let html = b
        .execute("return document.documentElement.outerHTML;", json!([]))
        .await;
    let html = html.as_str().unwrap();
    assert!(
        !html.contains(SECRET) && !html.contains(TOKEN_SECRET),
        "no secret in the page"
    );
    b.type_into(collection, "people").await;
    b.click("#save").await;
    b.wait_for_text("#form-title", "New external sync config")
        .await;
    let stored = page.configs.list();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].extra("apiKey"), Some(SECRET), "kept on edit");
    assert_eq!(stored[0].extra("collectionsToken"), Some(TOKEN_SECRET));
    assert_eq!(stored[0].extra("collectionName"), Some("people"));

    // A secret kept at the top level of the config, as the original product's configs may
    // (`{"apiPassword": …}` beside `extraFields`), survives an edit in the page too: the
    // page sends it back as `***` and the API keeps the stored value.
    let mut with_top_level = stored[0].to_json(false);
    with_top_level["apiPassword"] = json!(TOKEN_SECRET);
    page.configs
        .put(&ExternalSyncConfig::from_value(&with_top_level).unwrap())
        .unwrap();
    b.goto(&page.base).await; // the token stays in the tab's session storage
    b.click(".edit-config").await;
    b.wait_for_text("#form-title", "Edit openfn-adapter@").await;
    let html = b
        .execute("return document.documentElement.outerHTML;", json!([]))
        .await;
    assert!(!html.as_str().unwrap().contains(TOKEN_SECRET));
    b.type_into(api_key, "replaced-key-0123456789").await;
    b.click("#save").await;
    b.wait_for_text("#form-title", "New external sync config")
        .await;
    let saved = page.configs.list()[0].to_json(false);
    assert_eq!(saved["apiPassword"], TOKEN_SECRET, "{saved}");
    assert_eq!(
        page.configs.list()[0].extra("apiKey"),
        Some("replaced-key-0123456789")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_describe_is_shown_as_text_and_runs_nothing() {
    let page = serve(&[
        adapter_dir().join("mock_sync_server.wasm"),
        test_adapter_dir().join("hostile_describe.wasm"),
    ])
    .await;
    let b = open(&page).await;
    b.click("#f-type option[value='hostile-describe']").await;
    b.wait_for_text("#declared", "window.__pwned='field name'")
        .await;
    let labels: Value = b
        .execute(
            "return [...document.querySelectorAll('#declared label')].map((l) => l.textContent);",
            json!([]),
        )
        .await;
    assert!(
        labels[0]
            .as_str()
            .unwrap()
            .starts_with("<script>window.__pwned='field name'</script>*"),
        "{labels}"
    );
    let note = "#declared input[data-name='note']";
    assert_eq!(
        b.property(note, "placeholder").await,
        "\"><script>window.__pwned='default'</script>"
    );
    let help = b.text("#declared").await;
    assert!(
        help.contains("</label></div><b onmouseover=\"window.__pwned='help'\">bold?</b>"),
        "the description as text"
    );

    // Its validate() answers markup too: shown beside the field, as text.
    b.type_into("#f-url", "http://127.0.0.1:9/hostile").await;
    b.type_into("#declared input", "the required one").await;
    b.type_into(note, "not plain").await;
    b.click("#save").await;
    let message = b
        .wait_for_text(".error[data-field='extraFields.note']", "must be plain")
        .await;
    assert!(message.starts_with("<img src=x onerror="), "{message}");
    assert!(page.configs.list().is_empty(), "nothing stored");

    // Give an injected <img onerror> time to fire, then look for any trace of one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let injected = b
        .execute(
            "return { pwned: window.__pwned ?? null, \
               elements: document.querySelectorAll('main img, main script, #declared b, .error b').length };",
            json!([]),
        )
        .await;
    assert_eq!(injected, json!({ "pwned": null, "elements": 0 }));
    assert!(!overflows(&b).await, "10 000-character words wrap");
    screenshot(&b, "hostile-describe").await;
}

/// The leak the issue saw: a Chromium still running after `make test`. A test that
/// panics with its browser open must take Chromium and chromedriver down with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_browser_test_leaves_no_browser_behind() {
    let (tx, rx) = std::sync::mpsc::channel();
    let failing = tokio::spawn(async move {
        let b = Browser::start().await;
        b.goto("about:blank").await;
        let (group, profile) = (b.process_group(), b.profile_dir());
        tx.send((group, profile.clone(), live_processes(group, &profile)))
            .unwrap();
        panic!("a browser test fails with its browser open");
    });
    assert!(failing.await.is_err(), "the test failed");
    let (group, profile, while_open) = rx.recv().unwrap();
    assert!(
        while_open.iter().any(|p| p.contains("chromium")),
        "Chromium ran in the test, seen by pid: {while_open:?}"
    );
    wait_until("Chromium and chromedriver gone", async || {
        live_processes(group, &profile).is_empty()
    })
    .await;
}
