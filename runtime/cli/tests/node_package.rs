//! The Node package's own tests (`bindings/node/test`, Node's built-in runner), run as part
//! of `cargo test` with what they need: the addon `make node` built, this `dcsync` for its
//! emulators, the adapters, the shared code cache, and a throwaway PostgreSQL database for
//! the `postgres://` form. Node and the package's npm tools are required: the test fails
//! and says how to get them, it never skips.

use datacollect_sync_e2e::postgres::cluster;
use datacollect_sync_e2e::{adapter_dir, target_dir, test_adapter_dir, test_cache_home};
use std::path::PathBuf;
use std::process::Command;

fn package_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bindings/node")
}

#[test]
fn the_node_package_passes_its_tests() {
    let pkg = package_dir();
    // The addon as cargo last built it, under the name Node loads addons by.
    let built = target_dir().join("debug/libdcsync_node.so");
    assert!(
        built.exists(),
        "{} is missing: run `make node` (or `cargo build -p dcsync-node`) first",
        built.display()
    );
    assert!(
        pkg.join("node_modules/typescript").exists(),
        "bindings/node/node_modules is missing: run `make node` (npm ci in bindings/node)"
    );
    let addon_dir = tempfile::tempdir().unwrap();
    let addon = addon_dir.path().join("dcsync.node");
    std::fs::copy(&built, &addon).unwrap();
    let db = cluster().database();

    let tests: Vec<PathBuf> = std::fs::read_dir(pkg.join("test"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.js"))
        .collect();
    assert!(tests.len() >= 5, "the package's tests: {tests:?}");
    let out = Command::new("node")
        .arg("--test")
        .arg("--test-concurrency=2")
        .args(&tests)
        .current_dir(&pkg)
        .env("DCSYNC_NODE_ADDON", &addon)
        .env("DCSYNC_BIN", env!("CARGO_BIN_EXE_dcsync"))
        .env("DCSYNC_ADAPTERS", adapter_dir())
        .env("DCSYNC_TEST_ADAPTERS", test_adapter_dir())
        .env("XDG_CACHE_HOME", test_cache_home())
        .env("DCSYNC_TEST_DATABASE_URL", &db.url)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node (Node 18 or later is required): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "node --test failed:\n{stdout}\n{stderr}"
    );
    // Every test ran and passed: none skipped, none left as todo.
    for line in ["# fail 0", "# skipped 0", "# todo 0", "# cancelled 0"] {
        assert!(stdout.contains(line), "{line} missing:\n{stdout}");
    }
}
