//! The quick benchmark runs end to end, so `make bench` cannot rot. It asserts that every
//! measure is produced, never how fast anything is.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_benchmark_produces_every_measure() {
    let out = datacollect_sync_e2e::bench::run(true).await;
    let names: Vec<&str> = out.iter().map(|m| m.name.as_str()).collect();
    for expected in [
        "push ratio WASM ÷ native",
        "pull+apply ratio WASM ÷ native",
        "instantiate p50, pooling + InstancePre",
        "load speed-up cache vs compile",
        "hot swap latency p50 (reload + publish)",
        "failed syncs during swaps",
        "syncs completed during swaps",
        "host overhead per pushed event (WASM − native)",
        "JavaScript webhook: push",
        "Python webhook: push",
        "Python webhook: instantiate p50",
        "Node package: push ÷ Rust API",
        "push to the receiver ÷ its serial ceiling, maxInFlight 1",
        "push to the receiver ÷ its serial ceiling, maxInFlight 4",
        "Node package: pull+apply ÷ Rust API",
        "store apply_pulled, SQLite",
        "store apply_pulled, PostgreSQL",
        "sync pull+apply, PostgreSQL",
        "sync push, PostgreSQL",
    ] {
        assert!(names.contains(&expected), "missing {expected}: {names:?}");
    }
    assert!(names.iter().any(|n| n.starts_with("RSS with")));
    assert!(names.iter().any(|n| n.starts_with("pull+apply with")));
    assert!(out.iter().all(|m| m.value.is_finite()), "{out:?}");
    let failed = out
        .iter()
        .find(|m| m.name == "failed syncs during swaps")
        .unwrap();
    assert_eq!(
        failed.value, 0.0,
        "a swap broke a sync (a correctness failure, not a timing)"
    );
    let ran = out
        .iter()
        .find(|m| m.name == "syncs completed during swaps")
        .unwrap();
    assert!(
        ran.value > 0.0,
        "no sync ran during the swaps, so none could fail: {ran:?}"
    );
}
