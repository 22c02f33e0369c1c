//! Shared by the tests of the `dcsync` binary.

use std::path::PathBuf;
use std::process::Command;

/// The built `dcsync`, pointed at the built adapters unless `DCSYNC_ADAPTERS` says otherwise.
pub fn dcsync() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dcsync"));
    if std::env::var_os("DCSYNC_ADAPTERS").is_none() {
        c.env(
            "DCSYNC_ADAPTERS",
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/adapters"),
        );
    }
    c
}
