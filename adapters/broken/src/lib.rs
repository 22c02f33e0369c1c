//! TEST ONLY. Type-checks against the world, then traps in `describe()`: the registry's
//! smoke test must refuse it.

use datacollect_adapter_sdk::{
    export_adapter, Adapter, AdapterInfo, Config, Event, PullPage, PushOutcome, SyncError,
};

struct Broken;

impl Adapter for Broken {
    fn describe() -> AdapterInfo {
        panic!("broken adapter: describe() fails")
    }

    fn push(_: &Config, _: Vec<Event>) -> Result<PushOutcome, SyncError> {
        Err(SyncError::Internal("unreachable".into()))
    }

    fn pull(_: &Config, _: Option<String>, _: u32) -> Result<PullPage, SyncError> {
        Err(SyncError::Internal("unreachable".into()))
    }
}

export_adapter!(Broken);
