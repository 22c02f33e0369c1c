//! Every fuzz target over its checked-in corpus (`fuzz/corpus/<target>/`) and every crash
//! fuzzing found (`fuzz/regressions/<target>/`), as ordinary tests: no fuzzing build, so
//! `make test` stays fast, and a crash once found stays fixed.

use dcsync_fuzz_targets::{repo_root, TARGETS};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn replay(target: &str) {
    let (_, body) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a target");
    let mut inputs = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = repo_root().join("fuzz").join(kind).join(target);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            inputs.extend(
                entries
                    .map(|e| e.unwrap().path())
                    .filter(|p| p.file_name().is_some_and(|n| n != ".gitkeep")),
            );
        }
    }
    inputs.sort();
    assert!(
        inputs.len() >= 3,
        "fuzz/corpus/{target} holds {} inputs: the seed corpus is missing",
        inputs.len()
    );
    let failed: Vec<String> = inputs
        .iter()
        .filter_map(|path| {
            let data = std::fs::read(path).unwrap();
            catch_unwind(AssertUnwindSafe(|| body(&data)))
                .err()
                .map(|_| path.display().to_string())
        })
        .collect();
    assert!(failed.is_empty(), "{target} fails on: {failed:#?}");
}

#[test]
fn config_corpus() {
    replay("config");
}

#[test]
fn import_corpus() {
    replay("import");
}

#[test]
fn responses_corpus() {
    replay("responses");
}

#[test]
fn loader_corpus() {
    replay("loader");
}

#[test]
fn cache_corpus() {
    replay("cache");
}

#[test]
fn api_corpus() {
    replay("api");
}
