//! Shared by the tests of the `dcsync` binary.

use std::process::Command;

/// The built `dcsync`, pointed at the built adapters unless `DCSYNC_ADAPTERS` says otherwise.
pub fn dcsync() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dcsync"));
    c.env("DCSYNC_ADAPTERS", datacollect_sync_e2e::adapter_dir());
    c
}
