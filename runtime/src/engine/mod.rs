//! The wasmtime engine: compiling and verifying adapter components, and calling them in
//! a fresh, limited store per call.

pub mod bindings;
pub mod cache;
pub mod convert;
pub mod limits;

pub use limits::{Limit, Limits};

use crate::host::{self, CallContext, HostState};
use bindings::{types as wit, AdapterWorld, AdapterWorldPre};
use limits::LimitBreach;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

/// How often the epoch advances; deadlines are measured in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Why a component could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("{path}: cannot read: {message}")]
    Read { path: String, message: String },
    #[error("{path}: not a WebAssembly component for this host: {message}")]
    NotAComponent { path: String, message: String },
    #[error("{path}: {message}")]
    Incompatible { path: String, message: String },
    #[error("{path}: smoke test failed: {message}")]
    SmokeTest { path: String, message: String },
}

/// Why an adapter call failed, before any classification of the adapter's own answer.
#[derive(Debug, Error)]
pub enum CallError {
    /// The adapter ran into a resource limit.
    #[error("adapter exceeded its {0} limit")]
    Limit(Limit),
    /// The adapter trapped (panic, unreachable, bad memory access…).
    #[error("adapter trapped: {0}")]
    Trap(String),
    /// The host could not set up the call (instance pool exhausted…).
    #[error("cannot run adapter: {0}")]
    Setup(String),
}

/// The engine and linker every adapter is compiled and instantiated with.
pub struct AdapterRuntime {
    engine: Engine,
    linker: Linker<HostState>,
    limits: Limits,
    cache: Option<cache::CodeCache>,
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
    pub fn with_cache(
        limits: Limits,
        cache: Option<cache::CodeCache>,
    ) -> anyhow::Result<Arc<Self>> {
        Self::build(limits, cache, true)
    }

    /// Without the pooling allocator: instances are allocated on demand. Only the
    /// benchmarks use this, to measure what pooling saves.
    #[doc(hidden)]
    pub fn without_pooling(limits: Limits) -> anyhow::Result<Arc<Self>> {
        Self::build(limits, None, false)
    }

    fn build(
        limits: Limits,
        cache: Option<cache::CodeCache>,
        pooling: bool,
    ) -> anyhow::Result<Arc<Self>> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(200)
            .total_core_instances(1000)
            .total_memories(400)
            .total_tables(400)
            .max_memory_size(limits.memory_bytes)
            .table_elements(limits.table_elements);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true);
        if pooling {
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        host::add_to_linker(&mut linker)?;
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

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compile, link, type-check and smoke-test (instantiate + `describe()`) a component.
    pub async fn load(self: &Arc<Self>, path: &Path) -> Result<LoadedAdapter, LoadError> {
        let shown = path.display().to_string();
        let bytes = tokio::fs::read(path).await.map_err(|e| LoadError::Read {
            path: shown.clone(),
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
        let pre = AdapterWorldPre::new(pre).map_err(|e| LoadError::Incompatible {
            path: shown.clone(),
            message: format!(
                "does not export the datacollect:external-sync adapter interface: {e:#}"
            ),
        })?;
        let mut adapter = LoadedAdapter {
            runtime: self.clone(),
            component,
            pre,
            info: placeholder_info(),
            sha256,
            path: path.to_path_buf(),
            wit_version,
            loaded_at: crate::model::now_rfc3339(),
            load_ms: 0,
            from_cache,
        };
        let info = adapter.describe().await.map_err(|e| LoadError::SmokeTest {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        if info.type_.trim().is_empty() {
            return Err(LoadError::SmokeTest {
                path: shown,
                message: "describe() returned an empty type".into(),
            });
        }
        adapter.info = info;
        adapter.load_ms = started.elapsed().as_millis() as u64;
        Ok(adapter)
    }
}

impl AdapterRuntime {
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

fn placeholder_info() -> wit::AdapterInfo {
    wit::AdapterInfo {
        type_: String::new(),
        name: String::new(),
        version: String::new(),
        capabilities: Vec::new(),
        config_fields: Vec::new(),
    }
}

/// A verified component, ready to serve calls; each call gets a fresh instance.
pub struct LoadedAdapter {
    runtime: Arc<AdapterRuntime>,
    component: Component,
    pre: AdapterWorldPre<HostState>,
    /// What `describe()` returned at load.
    pub info: wit::AdapterInfo,
    /// SHA-256 of the component file, hex.
    pub sha256: String,
    pub path: PathBuf,
    /// The version of the WIT package it was built against (e.g. `1.0.0`).
    pub wit_version: String,
    /// When it was loaded (RFC 3339) and how long loading took.
    pub loaded_at: String,
    pub load_ms: u64,
    /// Whether its compiled code came from the cache.
    pub from_cache: bool,
}

impl std::fmt::Debug for LoadedAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedAdapter")
            .field("type", &self.info.type_)
            .field("version", &self.info.version)
            .field("sha256", &self.sha256)
            .field("path", &self.path)
            .finish()
    }
}

/// A pending adapter call.
pub type CallFuture<'a, T> = std::pin::Pin<
    Box<dyn std::future::Future<Output = CallOutcome<Result<T, wit::SyncError>>> + Send + 'a>,
>;

/// What the sync loop calls on an adapter. [`LoadedAdapter`] (a sandboxed component) is
/// the implementation; the benchmarks implement it natively, as a baseline to measure the
/// sandbox against. Adapters ship as components only.
pub trait AdapterCalls: Send + Sync {
    fn info(&self) -> &wit::AdapterInfo;

    fn push_batch<'a>(
        &'a self,
        ctx: CallContext,
        config: &'a wit::AdapterConfig,
        events: &'a [wit::FormSubmission],
    ) -> CallFuture<'a, wit::PushResult>;

    fn pull_since<'a>(
        &'a self,
        ctx: CallContext,
        config: &'a wit::AdapterConfig,
        cursor: Option<String>,
        limit: u32,
    ) -> CallFuture<'a, wit::PullPage>;

    fn sync<'a>(
        &'a self,
        ctx: CallContext,
        config: &'a wit::AdapterConfig,
    ) -> CallFuture<'a, wit::SyncReport>;

    fn has_capability(&self, cap: &str) -> bool {
        self.info().capabilities.iter().any(|c| c == cap)
    }
}

impl AdapterCalls for LoadedAdapter {
    fn info(&self) -> &wit::AdapterInfo {
        &self.info
    }

    fn push_batch<'a>(
        &'a self,
        ctx: CallContext,
        config: &'a wit::AdapterConfig,
        events: &'a [wit::FormSubmission],
    ) -> CallFuture<'a, wit::PushResult> {
        Box::pin(LoadedAdapter::push_batch(self, ctx, config, events))
    }

    fn pull_since<'a>(
        &'a self,
        ctx: CallContext,
        config: &'a wit::AdapterConfig,
        cursor: Option<String>,
        limit: u32,
    ) -> CallFuture<'a, wit::PullPage> {
        Box::pin(LoadedAdapter::pull_since(self, ctx, config, cursor, limit))
    }

    fn sync<'a>(
        &'a self,
        ctx: CallContext,
        config: &'a wit::AdapterConfig,
    ) -> CallFuture<'a, wit::SyncReport> {
        Box::pin(LoadedAdapter::sync(self, ctx, config))
    }
}

/// The outcome of one adapter call: its answer, and the context (what it did).
pub struct CallOutcome<T> {
    pub result: Result<T, CallError>,
    pub context: Option<CallContext>,
}

impl LoadedAdapter {
    /// The config type this adapter serves.
    pub fn adapter_type(&self) -> &str {
        &self.info.type_
    }

    pub fn has_capability(&self, cap: &str) -> bool {
        self.info.capabilities.iter().any(|c| c == cap)
    }

    fn new_store(&self, call: CallContext) -> Store<HostState> {
        let limits = &self.runtime.limits;
        let mut store = Store::new(&self.runtime.engine, HostState::new(call, limits));
        store.limiter(|s| &mut s.limits);
        // Fuel is checked as the adapter runs; it yields to the async runtime every so
        // often, so a busy adapter cannot starve other tasks.
        let _ = store.set_fuel(limits.fuel);
        let _ = store.fuel_async_yield_interval(Some(1_000_000));
        let ticks = (limits.deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        store
    }

    /// Run `f` on a fresh instance, under the wall-clock deadline, and classify failures.
    async fn call<T, F>(&self, function: &'static str, call: CallContext, f: F) -> CallOutcome<T>
    where
        F: for<'a> FnOnce(
            &'a mut Store<HostState>,
            &'a AdapterWorld,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = wasmtime::Result<T>> + Send + 'a>,
        >,
    {
        let mut store = self.new_store(call);
        let deadline = self.runtime.limits.deadline;
        let started = std::time::Instant::now();
        let run = async {
            let instance = self
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(|e| (e, true))?;
            f(&mut store, &instance).await.map_err(|e| (e, false))
        };
        let result = match tokio::time::timeout(deadline, run).await {
            Err(_) => Err(CallError::Limit(Limit::Deadline)),
            Ok(Ok(v)) => Ok(v),
            Ok(Err((e, setup))) => Err(classify(e, setup)),
        };
        let fuel_used = self
            .runtime
            .limits
            .fuel
            .saturating_sub(store.get_fuel().unwrap_or(0));
        let adapter = if self.info.type_.is_empty() {
            "(loading)"
        } else {
            self.info.type_.as_str()
        };
        crate::metrics::adapter_call(adapter, function, started.elapsed(), fuel_used);
        if let Err(CallError::Limit(limit)) = &result {
            let limit = limit.to_string();
            crate::metrics::count(
                "dcsync_limit_breaches_total",
                &[("adapter", adapter), ("limit", &limit)],
                1,
            );
        }
        let context = Some(store.into_data().call);
        CallOutcome { result, context }
    }

    /// Time `n` instantiations of a fresh store each: through the `InstancePre` (as calls
    /// do), or linking from scratch every time. Benchmarks only.
    #[doc(hidden)]
    pub async fn time_instantiation(
        &self,
        n: usize,
        use_pre: bool,
    ) -> anyhow::Result<Vec<Duration>> {
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let policy = host::HttpPolicy::offline(&self.runtime.limits);
            let ctx = CallContext::new(
                "",
                "",
                Default::default(),
                policy,
                None,
                &self.runtime.limits,
            );
            let mut store = self.new_store(ctx);
            let started = std::time::Instant::now();
            if use_pre {
                self.pre.instantiate_async(&mut store).await?;
            } else {
                self.runtime
                    .linker
                    .instantiate_async(&mut store, &self.component)
                    .await?;
            }
            times.push(started.elapsed());
        }
        Ok(times)
    }

    /// `describe()`, with no network, store or secrets.
    pub async fn describe(&self) -> Result<wit::AdapterInfo, CallError> {
        let policy = host::HttpPolicy::offline(&self.runtime.limits);
        let ctx = CallContext::new(
            "",
            "",
            Default::default(),
            policy,
            None,
            &self.runtime.limits,
        );
        self.call("describe", ctx, |store, inst| {
            Box::pin(
                inst.datacollect_external_sync_adapter()
                    .call_describe(store),
            )
        })
        .await
        .result
    }

    /// `push-batch(config, events)`.
    pub async fn push_batch(
        &self,
        ctx: CallContext,
        config: &wit::AdapterConfig,
        events: &[wit::FormSubmission],
    ) -> CallOutcome<Result<wit::PushResult, wit::SyncError>> {
        let (config, events) = (config.clone(), events.to_vec());
        self.call("push-batch", ctx, move |store, inst| {
            Box::pin(async move {
                inst.datacollect_external_sync_adapter()
                    .call_push_batch(store, &config, &events)
                    .await
            })
        })
        .await
    }

    /// `pull-since(config, cursor, limit)`; a page over the return-size limit is refused.
    pub async fn pull_since(
        &self,
        ctx: CallContext,
        config: &wit::AdapterConfig,
        cursor: Option<String>,
        limit: u32,
    ) -> CallOutcome<Result<wit::PullPage, wit::SyncError>> {
        let config = config.clone();
        let max = self.runtime.limits.max_return_bytes;
        let mut out = self
            .call("pull-since", ctx, move |store, inst| {
                Box::pin(async move {
                    inst.datacollect_external_sync_adapter()
                        .call_pull_since(store, &config, cursor.as_deref(), limit)
                        .await
                })
            })
            .await;
        if let Ok(Ok(page)) = &out.result {
            if convert::page_size(page) > max {
                out.result = Err(CallError::Limit(Limit::ReturnSize));
            }
        }
        out
    }

    /// `sync(config)` for `custom-sync` adapters.
    pub async fn sync(
        &self,
        ctx: CallContext,
        config: &wit::AdapterConfig,
    ) -> CallOutcome<Result<wit::SyncReport, wit::SyncError>> {
        let config = config.clone();
        self.call("sync", ctx, move |store, inst| {
            Box::pin(async move {
                inst.datacollect_external_sync_adapter()
                    .call_sync(store, &config)
                    .await
            })
        })
        .await
    }
}

/// Turn a wasmtime error into a typed call error naming the limit, if one was hit.
fn classify(e: wasmtime::Error, setup: bool) -> CallError {
    if let Some(b) = e.downcast_ref::<LimitBreach>() {
        return CallError::Limit(b.0);
    }
    let trap = e.chain().find_map(|c| c.downcast_ref::<Trap>()).copied();
    match trap.as_ref() {
        Some(Trap::OutOfFuel) => return CallError::Limit(Limit::Fuel),
        Some(Trap::Interrupt) => return CallError::Limit(Limit::Deadline),
        Some(Trap::StackOverflow) => {
            return CallError::Trap("stack overflow (unbounded recursion?)".into())
        }
        _ => {}
    }
    let text = format!("{e:#}");
    if text.contains("forcing trap when growing memory") || text.contains("memory minimum size") {
        return CallError::Limit(Limit::Memory);
    }
    if setup {
        return CallError::Setup(text);
    }
    // The root cause says what happened ("wasm `unreachable` instruction executed");
    // the wasm backtrace above it is noise for a user.
    CallError::Trap(e.root_cause().to_string())
}
