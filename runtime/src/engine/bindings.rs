//! Host bindings generated from `wit/`: one module serves every 1.x adapter, since
//! wasmtime links semver-compatible interface versions.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "adapter-world",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use datacollect::external_sync::types;
pub use exports::datacollect::external_sync::adapter::Guest as AdapterExports;
