//! The admin page in a real browser (headless Chromium): log in with the token, see a
//! validation error beside the field, create a config, sync it, see the run appear.
//! The screenshot lands in `target/screenshots/admin.png` for a person to look at.

use datacollect_sync::configs::ConfigDir;
use datacollect_sync::EventApplier;
use datacollect_sync_e2e::webdriver::Browser;
use datacollect_sync_e2e::*;
use dcsync_cli::server::{router, serve_on, ServerState};

const TOKEN: &str = "browser-test-token-42";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_creates_a_config_sees_validation_syncs_and_sees_the_run() {
    let (store, dir) = temp_store();
    store
        .append_local(&local_events("page", 4), &EventApplier::new())
        .unwrap();
    let state = ServerState::new(
        service(store),
        std::sync::Arc::new(ConfigDir::open(&dir.path().join("configs")).unwrap()),
        TOKEN.into(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(serve_on(listener, router(state)));
    let mock = mock_server().await;

    let b = Browser::start().await;
    b.goto(&base).await;
    b.type_into("#token", TOKEN).await;
    b.click("#login-btn").await;
    b.wait_for_text("#adapters", "mock-sync-server").await;

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

    b.click(".sync-now").await;
    let progress = b.wait_for_text("#progress", "succeeded").await;
    assert!(progress.contains("pushed 4"), "{progress}");
    b.wait_for_text("#runs", "succeeded").await;
    assert_eq!(mock.received().0.len(), 4);

    let shot = target_dir().join("screenshots/admin.png");
    b.screenshot(&shot).await;
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "a real screenshot"
    );
}
