//! The host side of each WIT import, one module per interface, over per-call state
//! ([`HostState`]). A call's state holds everything the adapter may reach: nothing else.

mod applier;
mod http;
mod log;
mod store;

pub use http::{HttpClients, HttpPolicy, Lookup};

use crate::applier::EventApplier;
use crate::engine::bindings::AdapterWorld;
use crate::engine::limits::{Limit, LimitBreach};
use crate::secrets::Secrets;
use crate::store::EventStore;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The store and applier an adapter may use through `event-store` / `event-applier`
/// (only during a `custom-sync` run).
#[derive(Clone)]
pub struct StoreAccess {
    pub store: Arc<dyn EventStore>,
    pub applier: Arc<EventApplier>,
}

/// Everything one adapter call may reach, and what it did.
pub struct CallContext {
    pub config_id: String,
    pub adapter_type: String,
    pub secrets: Secrets,
    pub http: HttpPolicy,
    pub store: Option<StoreAccess>,
    hostcalls_left: u32,
    log_lines_left: u32,
    /// Log lines dropped past the limit.
    pub logs_dropped: u64,
    /// Sequence numbers handed out by `pending-events`, not yet confirmed.
    handed_out: Vec<(String, i64)>,
    /// What a `custom-sync` run reported through the imports.
    pub remote_refs: Vec<String>,
    /// Each host denial or failure the adapter saw, for run history.
    pub denials: Vec<String>,
    /// Time spent in host HTTP on the adapter's behalf.
    pub http_time: std::time::Duration,
}

impl CallContext {
    pub fn new(
        config_id: &str,
        adapter_type: &str,
        secrets: Secrets,
        http: HttpPolicy,
        store: Option<StoreAccess>,
        limits: &crate::engine::Limits,
    ) -> Self {
        CallContext {
            config_id: config_id.to_string(),
            adapter_type: adapter_type.to_string(),
            secrets,
            http,
            store,
            hostcalls_left: limits.hostcalls,
            log_lines_left: limits.log_lines,
            logs_dropped: 0,
            handed_out: Vec::new(),
            remote_refs: Vec::new(),
            denials: Vec::new(),
            http_time: std::time::Duration::ZERO,
        }
    }

    /// Count one host call; past the budget the guest traps.
    fn hostcall(&mut self) -> wasmtime::Result<()> {
        if self.hostcalls_left == 0 {
            return Err(LimitBreach(Limit::Hostcalls).into());
        }
        self.hostcalls_left -= 1;
        Ok(())
    }
}

/// Per-store state: WASI (with nothing granted), resource limits, and the call context.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
    pub call: CallContext,
}

impl HostState {
    pub fn new(call: CallContext, limits: &crate::engine::Limits) -> Self {
        // No preopens, no environment, no args, no inherited stdio, no network: the
        // adapter's only way out is `http.send`.
        let wasi = WasiCtx::builder()
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .table_elements(limits.table_elements)
                .instances(64)
                .tables(64)
                .memories(64)
                .trap_on_grow_failure(true)
                .build(),
            call,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Add WASI p2 (sandboxed by [`HostState`]) and our four imports to `linker`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    AdapterWorld::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}
