//! Shared by the tests of the `dcsync` binary.

use std::process::Command;

/// The built `dcsync`, pointed at the built adapters unless `DCSYNC_ADAPTERS` says otherwise.
pub fn dcsync() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dcsync"));
    c.env("DCSYNC_ADAPTERS", datacollect_sync_e2e::adapter_dir());
    c.env("XDG_CACHE_HOME", datacollect_sync_e2e::test_cache_home());
    c
}

/// `dcsync` pointed at a directory holding the mock-sync-server adapter alone: a process
/// that must start quickly (a test racing two of them) does not load every adapter.
#[allow(dead_code)] // not every test binary races processes
pub fn dcsync_mock_only() -> Command {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = datacollect_sync_e2e::target_dir().join("mock-only-adapters");
        std::fs::create_dir_all(&dir).unwrap();
        // Copied under a name of this process, then renamed: test binaries run at once.
        let tmp = dir.join(format!("mock_sync_server.wasm.{}", std::process::id()));
        std::fs::copy(
            datacollect_sync_e2e::adapter_dir().join("mock_sync_server.wasm"),
            &tmp,
        )
        .unwrap();
        std::fs::rename(&tmp, dir.join("mock_sync_server.wasm")).unwrap();
        dir
    });
    let mut c = dcsync();
    c.env("DCSYNC_ADAPTERS", dir);
    c
}
