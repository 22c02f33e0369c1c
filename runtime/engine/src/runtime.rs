//! The engine and linker every adapter is compiled and instantiated with, and loading:
//! compile (or take from the cache), link, type-check, smoke-test.

use crate::adapter::{AdapterPre, LoadedAdapter};
use crate::cache::CodeCache;
use crate::{CallError, LoadError};
use dcsync_contract::limits::{Limit, Limits};
use dcsync_host::HostState;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; deadlines are measured in these ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The size of one memory slot of the instance pool. Larger than any sensible per-call
/// memory limit, so that a limit set too low is reported by the call's own limiter (a
/// typed memory breach naming the setting) rather than by the pool at compile time.
const POOL_MEMORY_SLOT: usize = 1 << 30;

/// The engine and linker every adapter is compiled and instantiated with.
pub struct AdapterRuntime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    pub(crate) limits: Limits,
    cache: Option<CodeCache>,
    stop_ticker: Arc<AtomicBool>,
}

impl std::fmt::Debug for AdapterRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdapterRuntime")
            .field("limits", &self.limits)
            .finish()
    }
}

impl Drop for AdapterRuntime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

impl AdapterRuntime {
    /// An engine with the component model, async support, fuel, epoch deadlines and the
    /// pooling allocator, and a linker with WASI p2 (nothing granted) plus our imports.
    pub fn new(limits: Limits) -> anyhow::Result<Arc<Self>> {
        Self::with_cache(limits, None)
    }

    /// [`AdapterRuntime::new`], keeping compiled code in `cache` across restarts.
    pub fn with_cache(limits: Limits, cache: Option<CodeCache>) -> anyhow::Result<Arc<Self>> {
        Self::build(limits, cache, true)
    }

    /// Without the pooling allocator: instances are allocated on demand. Only the
    /// benchmarks use this, to measure what pooling saves.
    #[doc(hidden)]
    pub fn without_pooling(limits: Limits) -> anyhow::Result<Arc<Self>> {
        Self::build(limits, None, false)
    }

    fn build(limits: Limits, cache: Option<CodeCache>, pooling: bool) -> anyhow::Result<Arc<Self>> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(200)
            .total_core_instances(1000)
            .total_memories(400)
            .total_tables(400)
            .max_memory_size(limits.memory_bytes.max(POOL_MEMORY_SLOT))
            .table_elements(limits.table_elements)
            .linear_memory_keep_resident(limits.keep_resident_bytes)
            .table_keep_resident(limits.keep_resident_bytes / 16)
            // Kept-resident pages are reset (image copied back, the rest zeroed) when a slot
            // is freed. PAGEMAP_SCAN would reset only the pages it finds dirty, and a dirty
            // page swapped out is not found (wasmtime 48, `pagemap.rs`): keep it off.
            .pagemap_scan(wasmtime::Enabled::No)
            // Every slot that served a call keeps up to `keep_resident_bytes` resident; reuse
            // warm slots early rather than spreading calls over up to 100 (the default), so
            // the resident set stays near (concurrent calls + 8) slots.
            .max_unused_warm_slots(8);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            // Host imports (`http.send` fills secrets) run on the call's fiber stack: zero
            // it before the stack serves another call. Wasm cannot read it; defence in depth.
            .async_stack_zeroing(true);
        if pooling {
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        dcsync_host::add_to_linker(&mut linker)?;
        let stop_ticker = Arc::new(AtomicBool::new(false));
        let (ticker_engine, stop) = (engine.clone(), stop_ticker.clone());
        std::thread::Builder::new()
            .name("dcsync-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker_engine.increment_epoch();
                }
            })?;
        Ok(Arc::new(AdapterRuntime {
            engine,
            linker,
            limits,
            cache,
            stop_ticker,
        }))
    }

    /// A fresh store for one call: its limiter (memory and tables summed over the call),
    /// fuel with async yields, and the wall-clock deadline in epoch ticks.
    pub(crate) fn new_store(&self, call: dcsync_host::CallContext) -> wasmtime::Store<HostState> {
        let limits = &self.limits;
        let mut store = wasmtime::Store::new(&self.engine, HostState::new(call, limits));
        store.limiter(|s| &mut s.limiter);
        // Fuel is checked as the adapter runs; it yields to the async runtime every so
        // often, so a busy adapter cannot starve other tasks.
        let _ = store.set_fuel(limits.fuel);
        let _ = store.fuel_async_yield_interval(Some(1_000_000));
        let ticks = (limits.deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        store
    }

    /// The limits every call gets.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compile, link, type-check and smoke-test (instantiate + `describe()`) a component.
    pub async fn load(self: &Arc<Self>, path: &Path) -> Result<LoadedAdapter, LoadError> {
        let bytes = tokio::fs::read(path).await.map_err(|e| LoadError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        self.load_bytes(&bytes, path).await
    }

    /// [`AdapterRuntime::load`] from bytes already read.
    pub async fn load_bytes(
        self: &Arc<Self>,
        bytes: &[u8],
        path: &Path,
    ) -> Result<LoadedAdapter, LoadError> {
        let shown = path.display().to_string();
        let started = std::time::Instant::now();
        let sha256 = hex::encode(Sha256::digest(bytes));
        let (component, from_cache) = self.compile(bytes, &sha256, &shown).await?;
        let wit_version = component
            .component_type()
            .exports(&self.engine)
            .find_map(|(name, _)| name.strip_prefix("datacollect:external-sync/adapter@").map(str::to_string))
            .ok_or_else(|| LoadError::Incompatible {
                path: shown.clone(),
                message: "does not export datacollect:external-sync/adapter (not an adapter for this host)".into(),
            })?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Incompatible {
                path: shown.clone(),
                message: format!("{e:#}"),
            })?;
        let pre = AdapterPre::new(pre).map_err(|e| LoadError::Incompatible {
            path: shown.clone(),
            message: format!(
                "does not export the datacollect:external-sync adapter interface: {e:#}"
            ),
        })?;
        let mut adapter = LoadedAdapter::new(
            self.clone(),
            component,
            pre,
            sha256,
            path,
            wit_version,
            from_cache,
        );
        let smoke_test = |e: CallError| {
            match e {
            CallError::Limit(Limit::Memory) => LoadError::TooLarge {
                path: shown.clone(),
                message: format!(
                    "its memory at start is over the memory limit of {} MiB; raise limits.memory_mib in the settings",
                    self.limits.memory_bytes >> 20
                ),
            },
            CallError::Limit(Limit::Tables) => LoadError::TooLarge {
                path: shown.clone(),
                message: format!(
                    "its tables at start are over the limit of {} elements; raise limits.table_elements in the settings",
                    self.limits.table_elements
                ),
            },
            other => LoadError::SmokeTest {
                path: shown.clone(),
                message: other.to_string(),
            },
        }
        };
        let info = adapter.describe().await.map_err(smoke_test)?;
        adapter.manifest = adapter.secret_placements().await.map_err(smoke_test)?;
        if info.adapter_type.trim().is_empty() {
            return Err(LoadError::SmokeTest {
                path: shown,
                message: "describe() returned an empty type".into(),
            });
        }
        adapter.info = info;
        adapter.load_ms = started.elapsed().as_millis() as u64;
        Ok(adapter)
    }

    /// The compiled component: from the cache when a sound entry exists, else compiled
    /// (off the async threads) and cached. Returns whether it came from the cache.
    async fn compile(
        &self,
        bytes: &[u8],
        sha256: &str,
        shown: &str,
    ) -> Result<(Component, bool), LoadError> {
        if let Some(c) = self
            .cache
            .as_ref()
            .and_then(|c| c.load(&self.engine, sha256))
        {
            return Ok((c, true));
        }
        let engine = self.engine.clone();
        let owned = bytes.to_vec();
        let not_a_component = |message: String| LoadError::NotAComponent {
            path: shown.to_string(),
            message,
        };
        let component =
            tokio::task::spawn_blocking(move || Component::from_binary(&engine, &owned))
                .await
                .map_err(|e| not_a_component(e.to_string()))?
                .map_err(|e| not_a_component(format!("{e:#}")))?;
        if let Some(cache) = &self.cache {
            cache.store(&self.engine, sha256, &component);
        }
        Ok((component, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::classify;
    use dcsync_host::CallContext;

    fn runtime(memory: usize) -> Arc<AdapterRuntime> {
        AdapterRuntime::new(Limits {
            memory_bytes: memory,
            ..Limits::default()
        })
        .unwrap()
    }

    /// A core module with one memory of one page and `grow(pages)`; instantiated many
    /// times in one store, it is an adapter spreading its allocation over many memories
    /// (a component holds a core instance per module, each with its own memory).
    fn one_memory() -> Vec<u8> {
        wat::parse_str(
            r#"(module (memory 1)
                 (func (export "grow") (param $pages i32)
                   (drop (memory.grow (local.get $pages)))))"#,
        )
        .unwrap()
    }

    /// A core module with one table of one element and `grow(elements)`: the same attack
    /// on table elements.
    fn one_table() -> Vec<u8> {
        wat::parse_str(
            r#"(module (table 1 funcref)
                 (func (export "grow") (param $n i32)
                   (drop (table.grow (ref.null func) (local.get $n)))))"#,
        )
        .unwrap()
    }

    /// Instantiate that module `instances` times in one call's store and grow each memory.
    async fn grow(
        rt: &Arc<AdapterRuntime>,
        instances: usize,
        pages: i32,
    ) -> Result<(), crate::CallError> {
        grow_in(rt, one_memory(), instances, pages).await
    }

    /// Instantiate `wasm` `instances` times in one call's store and call `grow(by)` in each.
    async fn grow_in(
        rt: &Arc<AdapterRuntime>,
        wasm: Vec<u8>,
        instances: usize,
        pages: i32,
    ) -> Result<(), crate::CallError> {
        let module = wasmtime::Module::new(rt.engine(), wasm).unwrap();
        let mut store = rt.new_store(CallContext::offline(rt.limits()));
        let linker = wasmtime::Linker::new(rt.engine());
        let mut result = Ok(());
        for _ in 0..instances {
            let run = async {
                let instance = linker
                    .instantiate_async(&mut store, &module)
                    .await
                    .map_err(|e| (e, true))?;
                let f = instance
                    .get_typed_func::<i32, ()>(&mut store, "grow")
                    .map_err(|e| (e, true))?;
                f.call_async(&mut store, pages)
                    .await
                    .map_err(|e| (e, false))
            };
            if let Err(e) = run.await {
                result = Err(e);
                break;
            }
        }
        let breach = store.data().limiter.breach();
        result.map_err(|(e, setup)| classify(e, breach, setup))
    }

    #[tokio::test]
    async fn memory_is_limited_over_all_the_memories_of_a_call() {
        // 8 memories × (1 + 15) pages × 64 KiB = 8 MiB asked for, 4 MiB allowed: each
        // memory alone would fit; together they do not.
        let rt = runtime(4 << 20);
        assert_eq!(
            grow(&rt, 8, 15).await,
            Err(crate::CallError::Limit(Limit::Memory))
        );
        // Within the limit in total, it runs.
        assert_eq!(grow(&rt, 8, 6).await, Ok(()));
    }

    #[tokio::test]
    async fn table_elements_are_limited_over_all_the_tables_of_a_call() {
        let rt = AdapterRuntime::new(Limits {
            table_elements: 1000,
            ..Limits::default()
        })
        .unwrap();
        // 4 tables × (1 + 400) elements: each alone fits, together they do not.
        assert_eq!(
            grow_in(&rt, one_table(), 4, 400).await,
            Err(crate::CallError::Limit(Limit::Tables))
        );
        assert_eq!(grow_in(&rt, one_table(), 4, 200).await, Ok(()));
    }

    #[tokio::test]
    async fn the_count_of_memories_and_instances_per_call_is_capped() {
        let rt = runtime(64 << 20);
        let max = dcsync_host::limiter::MAX_MEMORIES;
        assert_eq!(grow(&rt, max, 0).await, Ok(()));
        let e = grow(&rt, max + 1, 0).await.unwrap_err();
        assert!(
            matches!(e, crate::CallError::Setup(ref m) if m.contains("memory count too high")),
            "{e:?}"
        );
    }
}
