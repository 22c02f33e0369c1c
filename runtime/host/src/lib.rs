//! The host side of each WIT import, one module per interface (`http`, `event-store`,
//! `event-applier`, `log`), over per-call state ([`HostState`]). A call's state holds
//! everything the adapter may reach: nothing else.
//!
//! Egress policy (which origins, which addresses) is its own module, apart from the HTTP
//! import that applies it; secrets (references, placement, scrubbing) likewise.

#![deny(missing_docs)]

mod applier;
mod context;
pub mod egress;
pub mod http;
mod json_body;
pub mod limiter;
mod log;
pub mod run_state;
pub mod secrets;
mod store;
pub mod tape;

pub use context::{CallContext, StoreAccess};
pub use egress::{HttpClients, HttpPolicy, Lookup};
pub use http::SecretEchoed;
pub use limiter::CallLimiter;
pub use secrets::Secrets;

use dcsync_contract::limits::Limits;
use dcsync_contract::wit::AdapterWorld;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Per-store state: WASI (with nothing granted), the resource limiter, and the call
/// context.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Memory and table growth of this call.
    pub limiter: CallLimiter,
    /// What the call may reach and what it did.
    pub call: CallContext,
}

impl HostState {
    /// State for one call.
    pub fn new(call: CallContext, limits: &Limits) -> Self {
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
            limiter: CallLimiter::new(limits),
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

/// Add WASI p2 (sandboxed by [`HostState`]) and our imports to `linker`: the whole
/// linking surface of the host.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    AdapterWorld::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}
