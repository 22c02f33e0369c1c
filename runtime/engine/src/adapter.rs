//! One verified component and its calls: each call gets a fresh store (fresh memory,
//! fuel, deadline, limiter) instantiated from the component's `InstancePre`, and comes
//! back as a typed outcome with what the call used.
//!
//! Over 400 lines: one component's call surface, each export's wrapper beside the others so
//! every call gets the same fresh store, limits and classification.

use crate::classify::classify;
use crate::runtime::AdapterRuntime;
use crate::CallError;
use dcsync_contract::adapter::{
    AdapterConfigView, AdapterInfo, Capability, ConnectionCheck, CustomSyncReport, FieldProblem,
    Manifest, PullPage, PushResult,
};
use dcsync_contract::limits::Limit;
use dcsync_contract::model::FormSubmission;
use dcsync_contract::wit::{self, types};
use dcsync_host::{CallContext, HostState};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Instance, InstancePre};
use wasmtime::Store;

/// What one call used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Wall-clock time, instantiation included.
    pub duration: Duration,
    /// Fuel consumed.
    pub fuel_used: u64,
    /// Linear memory held at the end (all memories), bytes.
    pub memory_bytes: usize,
}

/// The outcome of one adapter call: its answer, what it did, what it used.
pub struct CallOutcome<T> {
    /// The answer, or why there is none.
    pub result: Result<T, CallError>,
    /// The call's context afterwards (denials, remote refs, HTTP time); `None` when the
    /// call never started.
    pub context: Option<CallContext>,
    /// Time, fuel and memory.
    pub stats: CallStats,
}

/// A pending adapter call.
pub type CallFuture<'a, T> = Pin<Box<dyn Future<Output = CallOutcome<T>> + Send + 'a>>;

/// What the sync loop calls on an adapter, in the internal model's types.
/// [`LoadedAdapter`] (a sandboxed component) is the implementation adapters ship as; the
/// benchmarks implement it natively, as a baseline to measure the sandbox against.
pub trait AdapterCalls: Send + Sync {
    /// What `describe()` said at load.
    fn info(&self) -> &AdapterInfo;

    /// `push-batch(config, events)`.
    fn push_batch<'a>(
        &'a self,
        ctx: CallContext,
        config: &'a AdapterConfigView,
        events: &'a [FormSubmission],
    ) -> CallFuture<'a, PushResult>;

    /// `pull-since(config, cursor, limit)`.
    fn pull_since<'a>(
        &'a self,
        ctx: CallContext,
        config: &'a AdapterConfigView,
        cursor: Option<String>,
        limit: u32,
    ) -> CallFuture<'a, PullPage>;

    /// `sync(config)`, for `custom-sync` adapters.
    fn sync<'a>(
        &'a self,
        ctx: CallContext,
        config: &'a AdapterConfigView,
    ) -> CallFuture<'a, CustomSyncReport>;

    /// Whether `push_batch` hands the batch over through the 1.2 `encoded-push` export
    /// (one JSON text) rather than `push-batch`.
    fn encoded_push(&self) -> bool {
        false
    }

    /// Whether the adapter declared `cap`.
    fn has_capability(&self, cap: &Capability) -> bool {
        self.info().has(cap)
    }

    /// Where it declared each secret may go; `None`: nothing declared (the 1.0 rule).
    fn manifest(&self) -> Option<&Manifest> {
        None
    }

    /// `validate(config)` (1.1): the adapter's own rules, with no I/O; none by default.
    fn validate_config<'a>(
        &'a self,
        _config: &'a AdapterConfigView,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<FieldProblem>, CallError>> + Send + 'a>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// `check-connection(config)` (1.1); `None` when the adapter has no such export.
    fn check_connection_with<'a>(
        &'a self,
        _ctx: CallContext,
        _config: &'a AdapterConfigView,
    ) -> CallFuture<'a, Option<ConnectionCheck>> {
        Box::pin(async {
            CallOutcome {
                result: Ok(None),
                context: None,
                stats: CallStats::default(),
            }
        })
    }
}

/// A linked component and where its exports are: `adapter` always, the 1.1 optional
/// exports when the component has them.
pub(crate) struct AdapterPre {
    pub(crate) pre: InstancePre<HostState>,
    adapter: wit::adapter::GuestIndices,
    manifest: Option<wit::manifest::GuestIndices>,
    checks: Option<wit::checks::GuestIndices>,
    encoded: Option<wit::encoded_push::GuestIndices>,
}

impl AdapterPre {
    /// Find the exports; a component without the `adapter` interface is no adapter.
    pub(crate) fn new(pre: InstancePre<HostState>) -> wasmtime::Result<Self> {
        Ok(AdapterPre {
            adapter: wit::adapter::GuestIndices::new(&pre)?,
            manifest: wit::manifest::GuestIndices::new(&pre).ok(),
            checks: wit::checks::GuestIndices::new(&pre).ok(),
            encoded: wit::encoded_push::GuestIndices::new(&pre).ok(),
            pre,
        })
    }
}

/// One instance's exports.
struct Exports<'a> {
    pre: &'a AdapterPre,
    instance: Instance,
}

impl Exports<'_> {
    fn adapter(&self, store: &mut Store<HostState>) -> wasmtime::Result<wit::adapter::Guest> {
        self.pre.adapter.load(store, &self.instance)
    }

    fn manifest(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Option<wit::manifest::Guest>> {
        self.pre
            .manifest
            .as_ref()
            .map(|m| m.load(store, &self.instance))
            .transpose()
    }

    fn encoded(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Option<wit::encoded_push::Guest>> {
        self.pre
            .encoded
            .as_ref()
            .map(|e| e.load(store, &self.instance))
            .transpose()
    }

    fn checks(&self, store: &mut Store<HostState>) -> wasmtime::Result<Option<wit::checks::Guest>> {
        self.pre
            .checks
            .as_ref()
            .map(|c| c.load(store, &self.instance))
            .transpose()
    }
}

/// A verified component, ready to serve calls; each call gets a fresh instance.
pub struct LoadedAdapter {
    runtime: Arc<AdapterRuntime>,
    component: Component,
    pre: AdapterPre,
    /// What `describe()` returned at load.
    pub info: AdapterInfo,
    /// Where it declared each secret may go (1.1 `manifest`); `None` when it declares
    /// nothing (a 1.0 adapter): the 1.0 placement rule applies.
    pub manifest: Option<Manifest>,
    /// Whether it exports the 1.1 `checks` (validate, check-connection).
    pub has_checks: bool,
    /// SHA-256 of the component file, hex.
    pub sha256: String,
    /// Where it was loaded from.
    pub path: PathBuf,
    /// The version of the WIT package it was built against (e.g. `1.0.0`).
    pub wit_version: String,
    /// When it was loaded (RFC 3339).
    pub loaded_at: String,
    /// How long loading took.
    pub load_ms: u64,
    /// Whether its compiled code came from the cache.
    pub from_cache: bool,
}

impl std::fmt::Debug for LoadedAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedAdapter")
            .field("type", &self.info.adapter_type)
            .field("version", &self.info.version)
            .field("sha256", &self.sha256)
            .field("path", &self.path)
            .finish()
    }
}

type Guest<'a, T> = Pin<Box<dyn Future<Output = wasmtime::Result<T>> + Send + 'a>>;

impl LoadedAdapter {
    pub(crate) fn new(
        runtime: Arc<AdapterRuntime>,
        component: Component,
        pre: AdapterPre,
        sha256: String,
        path: &Path,
        wit_version: String,
        from_cache: bool,
    ) -> Self {
        let has_checks = pre.checks.is_some();
        LoadedAdapter {
            runtime,
            component,
            pre,
            manifest: None,
            has_checks,
            info: AdapterInfo {
                adapter_type: String::new(),
                name: String::new(),
                version: String::new(),
                capabilities: Vec::new(),
                config_fields: Vec::new(),
            },
            sha256,
            path: path.to_path_buf(),
            wit_version,
            loaded_at: dcsync_contract::model::now_rfc3339(),
            load_ms: 0,
            from_cache,
        }
    }

    /// The config type this adapter serves.
    pub fn adapter_type(&self) -> &str {
        &self.info.adapter_type
    }

    fn new_store(&self, call: CallContext) -> Store<HostState> {
        self.runtime.new_store(call)
    }

    /// Run `f` on a fresh instance, under the wall-clock deadline, and classify failures.
    async fn call<T, F>(&self, call: CallContext, f: F) -> CallOutcome<T>
    where
        F: for<'a> FnOnce(&'a mut Store<HostState>, &'a Exports<'a>) -> Guest<'a, T>,
    {
        let mut store = self.new_store(call);
        let deadline = self.runtime.limits.deadline;
        let started = Instant::now();
        let run = async {
            let instance = self
                .pre
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(|e| (e, true))?;
            let exports = Exports {
                pre: &self.pre,
                instance,
            };
            f(&mut store, &exports).await.map_err(|e| (e, false))
        };
        let result = match tokio::time::timeout(deadline, run).await {
            Err(_) => Err(CallError::Limit(Limit::Deadline)),
            Ok(Ok(v)) => Ok(v),
            Ok(Err((e, setup))) => Err(classify(e, store.data().limiter.breach(), setup)),
        };
        let stats = CallStats {
            duration: started.elapsed(),
            fuel_used: self
                .runtime
                .limits
                .fuel
                .saturating_sub(store.get_fuel().unwrap_or(0)),
            memory_bytes: store.data().limiter.memory_used(),
        };
        CallOutcome {
            result,
            context: Some(store.into_data().call),
            stats,
        }
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
            let mut store = self.new_store(CallContext::offline(&self.runtime.limits));
            let started = Instant::now();
            if use_pre {
                self.pre.pre.instantiate_async(&mut store).await?;
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
    pub async fn describe(&self) -> Result<AdapterInfo, CallError> {
        let ctx = CallContext::offline(&self.runtime.limits);
        self.call(ctx, |store, inst| {
            Box::pin(async move {
                let info = inst.adapter(store)?.call_describe(&mut *store).await?;
                Ok(AdapterInfo::from(info))
            })
        })
        .await
        .result
    }

    /// `secret-placements()` (1.1), with no network, store or secrets; `None` for a
    /// component that does not export `manifest`.
    pub async fn secret_placements(&self) -> Result<Option<Manifest>, CallError> {
        if self.pre.manifest.is_none() {
            return Ok(None);
        }
        let ctx = CallContext::offline(&self.runtime.limits);
        self.call(ctx, |store, inst| {
            Box::pin(async move {
                let Some(m) = inst.manifest(store)? else {
                    return Ok(None);
                };
                Ok(m.call_secret_placements(&mut *store)
                    .await?
                    .map(Manifest::from))
            })
        })
        .await
        .result
    }

    /// `validate(config)` (1.1): the adapter's own rules, no I/O. Empty for a component
    /// without `checks`.
    pub async fn validate(
        &self,
        config: &AdapterConfigView,
    ) -> Result<Vec<FieldProblem>, CallError> {
        if self.pre.checks.is_none() {
            return Ok(Vec::new());
        }
        let config = types::AdapterConfig::from(config);
        let ctx = CallContext::offline(&self.runtime.limits);
        self.call(ctx, move |store, inst| {
            Box::pin(async move {
                let Some(c) = inst.checks(store)? else {
                    return Ok(Vec::new());
                };
                let problems = c.call_validate(&mut *store, &config).await?;
                Ok(problems.into_iter().map(FieldProblem::from).collect())
            })
        })
        .await
        .result
    }

    /// `check-connection(config)` (1.1) with the call's network and secrets; `None` for
    /// a component without `checks`.
    pub async fn check_connection(
        &self,
        ctx: CallContext,
        config: &AdapterConfigView,
    ) -> CallOutcome<Option<ConnectionCheck>> {
        let config = types::AdapterConfig::from(config);
        let out = self
            .call(ctx, move |store, inst| {
                Box::pin(async move {
                    let Some(c) = inst.checks(store)? else {
                        return Ok(Ok(None));
                    };
                    Ok(c.call_check_connection(&mut *store, &config)
                        .await?
                        .map(|c| Some(ConnectionCheck::from(c))))
                })
            })
            .await;
        flatten(out)
    }

    async fn call_push(
        &self,
        ctx: CallContext,
        config: &AdapterConfigView,
        events: &[FormSubmission],
    ) -> CallOutcome<PushResult> {
        let config = types::AdapterConfig::from(config);
        if self.encoded_push() {
            // Fail closed: a batch that cannot be encoded is not sent (an empty text with
            // the batch's count would be confirmed as delivered).
            let batch = match encoded_batch(events) {
                Ok(b) => b,
                Err(e) => {
                    return CallOutcome {
                        result: Err(CallError::Setup(format!("cannot encode the batch: {e}"))),
                        context: None,
                        stats: CallStats::default(),
                    }
                }
            };
            let out = self
                .call(ctx, move |store, inst| {
                    Box::pin(async move {
                        let Some(e) = inst.encoded(store)? else {
                            wasmtime::bail!("the encoded-push export went missing");
                        };
                        e.call_push_encoded(&mut *store, &config, &batch).await
                    })
                })
                .await;
            return flatten(out);
        }
        let events: Vec<types::FormSubmission> = events.iter().map(Into::into).collect();
        let out = self
            .call(ctx, move |store, inst| {
                Box::pin(async move {
                    inst.adapter(store)?
                        .call_push_batch(&mut *store, &config, &events)
                        .await
                })
            })
            .await;
        flatten(out)
    }

    async fn call_pull(
        &self,
        ctx: CallContext,
        config: &AdapterConfigView,
        cursor: Option<String>,
        limit: u32,
    ) -> CallOutcome<PullPage> {
        let config = types::AdapterConfig::from(config);
        let max = self.runtime.limits.max_return_bytes;
        let out = self
            .call(ctx, move |store, inst| {
                Box::pin(async move {
                    inst.adapter(store)?
                        .call_pull_since(&mut *store, &config, cursor.as_deref(), limit)
                        .await
                })
            })
            .await;
        let mut out: CallOutcome<PullPage> = flatten(out);
        if let Ok(page) = &out.result {
            if page.size() > max {
                out.result = Err(CallError::Limit(Limit::ReturnSize));
            }
        }
        out
    }

    async fn call_sync(
        &self,
        ctx: CallContext,
        config: &AdapterConfigView,
    ) -> CallOutcome<CustomSyncReport> {
        let config = types::AdapterConfig::from(config);
        let out = self
            .call(ctx, move |store, inst| {
                Box::pin(async move { inst.adapter(store)?.call_sync(&mut *store, &config).await })
            })
            .await;
        flatten(out)
    }
}

/// A batch as the 1.2 `encoded-push` export takes it: the events as one JSON array in the
/// wire shape (`data` as stored, an object), how many, and the batch id the SDKs' `batch-id`
/// computes (the first 16 bytes of SHA-256 over each guid and a newline, in hex), so a
/// forwarding adapter does no per-event work at all.
fn encoded_batch(
    events: &[FormSubmission],
) -> Result<wit::encoded_push::EncodedBatch, serde_json::Error> {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for e in events {
        hash.update(e.guid.as_bytes());
        hash.update(b"\n");
    }
    Ok(wit::encoded_push::EncodedBatch {
        events: serde_json::to_string(events)?,
        count: events.len() as u32,
        batch_id: hex::encode(&hash.finalize()[..16]),
    })
}

/// The adapter's own answer, its error converted at the WIT edge.
fn flatten<W, I: From<W>>(out: CallOutcome<Result<W, types::SyncError>>) -> CallOutcome<I> {
    CallOutcome {
        result: match out.result {
            Ok(Ok(v)) => Ok(v.into()),
            Ok(Err(e)) => Err(CallError::Adapter(e.into())),
            Err(e) => Err(e),
        },
        context: out.context,
        stats: out.stats,
    }
}

impl AdapterCalls for LoadedAdapter {
    fn info(&self) -> &AdapterInfo {
        &self.info
    }

    fn manifest(&self) -> Option<&Manifest> {
        self.manifest.as_ref()
    }

    fn validate_config<'a>(
        &'a self,
        config: &'a AdapterConfigView,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<FieldProblem>, CallError>> + Send + 'a>> {
        Box::pin(self.validate(config))
    }

    fn check_connection_with<'a>(
        &'a self,
        ctx: CallContext,
        config: &'a AdapterConfigView,
    ) -> CallFuture<'a, Option<ConnectionCheck>> {
        Box::pin(self.check_connection(ctx, config))
    }

    fn push_batch<'a>(
        &'a self,
        ctx: CallContext,
        config: &'a AdapterConfigView,
        events: &'a [FormSubmission],
    ) -> CallFuture<'a, PushResult> {
        Box::pin(self.call_push(ctx, config, events))
    }

    /// The component has the export and its `describe` asks for it (the SDKs export it
    /// always; their adapters opt in).
    fn encoded_push(&self) -> bool {
        self.pre.encoded.is_some() && self.info.has(&Capability::EncodedPush)
    }

    fn pull_since<'a>(
        &'a self,
        ctx: CallContext,
        config: &'a AdapterConfigView,
        cursor: Option<String>,
        limit: u32,
    ) -> CallFuture<'a, PullPage> {
        Box::pin(self.call_pull(ctx, config, cursor, limit))
    }

    fn sync<'a>(
        &'a self,
        ctx: CallContext,
        config: &'a AdapterConfigView,
    ) -> CallFuture<'a, CustomSyncReport> {
        Box::pin(self.call_sync(ctx, config))
    }
}
