//! The adapter registry: config `type` → verified component, loaded from a directory.
//!
//! Each `.wasm` file is compiled, linked against the host (an import the host does not
//! provide is refused, named), type-checked against the world and smoke-tested
//! (`describe()`) before it serves. A bad file is reported and skipped; the others load.
//! The map is swapped atomically, so a reload never disturbs calls already running.

use arc_swap::ArcSwap;
use dcsync_engine::{AdapterRuntime, LoadError, LoadedAdapter};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A file that was not loaded, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadProblem {
    /// The file (or the directory, when it cannot be read).
    pub path: PathBuf,
    /// Why it was not loaded.
    pub reason: String,
}

impl std::fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// The loaded adapters, by type.
pub struct AdapterRegistry {
    runtime: Arc<AdapterRuntime>,
    dir: Option<PathBuf>,
    /// Required SHA-256 per type (runtime settings).
    pins: BTreeMap<String, String>,
    adapters: ArcSwap<BTreeMap<String, Arc<LoadedAdapter>>>,
    problems: Mutex<Vec<LoadProblem>>,
    /// One reload at a time; calls never wait for it (they read the swapped map).
    reloading: tokio::sync::Mutex<()>,
    swaps: AtomicU64,
}

impl std::fmt::Debug for AdapterRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdapterRegistry")
            .field("dir", &self.dir)
            .field("types", &self.types())
            .finish()
    }
}

impl AdapterRegistry {
    /// An empty registry.
    pub fn new(runtime: Arc<AdapterRuntime>) -> Arc<Self> {
        Self::build(runtime, None, BTreeMap::new())
    }

    fn build(
        runtime: Arc<AdapterRuntime>,
        dir: Option<PathBuf>,
        pins: BTreeMap<String, String>,
    ) -> Arc<Self> {
        Arc::new(AdapterRegistry {
            runtime,
            dir,
            pins: pins
                .into_iter()
                .map(|(t, p)| (t, p.to_ascii_lowercase()))
                .collect(),
            adapters: ArcSwap::from_pointee(BTreeMap::new()),
            problems: Mutex::new(Vec::new()),
            reloading: tokio::sync::Mutex::new(()),
            swaps: AtomicU64::new(0),
        })
    }

    /// The registry an embedding program gets without choosing a directory: the first
    /// adapter directory [`crate::adapter_dir::find`] finds, with default limits.
    pub async fn load_default() -> anyhow::Result<Arc<Self>> {
        let runtime = AdapterRuntime::new(Default::default())?;
        Ok(match crate::adapter_dir::find(None, None) {
            Some((dir, _)) => Self::load_dir(runtime, &dir).await,
            None => {
                let registry = Self::new(runtime);
                if let Ok(mut p) = registry.problems.lock() {
                    p.push(LoadProblem {
                        path: PathBuf::new(),
                        reason: format!(
                            "no adapter directory found (looked at {})",
                            crate::adapter_dir::searched().join(", ")
                        ),
                    });
                }
                registry
            }
        })
    }

    /// Load every component in `dir`. A missing directory is an empty registry (with a
    /// problem saying so), not an error: configs for other types still work.
    pub async fn load_dir(runtime: Arc<AdapterRuntime>, dir: &Path) -> Arc<Self> {
        Self::load_dir_pinned(runtime, dir, BTreeMap::new()).await
    }

    /// [`AdapterRegistry::load_dir`], accepting for a pinned type only the component with
    /// that SHA-256.
    pub async fn load_dir_pinned(
        runtime: Arc<AdapterRuntime>,
        dir: &Path,
        pins: BTreeMap<String, String>,
    ) -> Arc<Self> {
        let registry = Self::build(runtime, Some(dir.to_path_buf()), pins);
        registry.reload().await;
        registry
    }

    /// Load the directory again, off to the side, and swap the result in atomically.
    /// Unchanged files are not reloaded; a file that fails verification leaves the
    /// version it replaces serving; a removed file takes its type away.
    pub async fn reload(&self) {
        let Some(dir) = &self.dir else { return };
        let _one_at_a_time = self.reloading.lock().await;
        let previous = self.adapters.load_full();
        let mut problems = Vec::new();
        let files = match adapter_files(dir) {
            Ok(f) => f,
            Err(e) => {
                let reason = if e.kind() == std::io::ErrorKind::NotFound {
                    format!("adapters directory {} does not exist (run `make adapters`, or set --adapters / DCSYNC_ADAPTERS)", dir.display())
                } else {
                    format!("cannot read adapters directory {}: {e}", dir.display())
                };
                problems.push(LoadProblem {
                    path: dir.clone(),
                    reason,
                });
                Vec::new()
            }
        };
        let mut by_type: BTreeMap<String, Vec<Arc<LoadedAdapter>>> = BTreeMap::new();
        let mut failed_paths = Vec::new();
        for path in files {
            match self.load_file(&path, &previous).await {
                Ok(a) => by_type
                    .entry(a.adapter_type().to_string())
                    .or_default()
                    .push(a),
                Err(reason) => {
                    problems.push(LoadProblem {
                        path: path.clone(),
                        reason,
                    });
                    failed_paths.push(path);
                }
            }
        }
        let mut loaded = BTreeMap::new();
        for (ty, claimants) in by_type {
            if claimants.len() == 1 {
                loaded.insert(ty, claimants[0].clone());
                continue;
            }
            let files: Vec<String> = claimants
                .iter()
                .map(|a| a.path.display().to_string())
                .collect();
            for a in &claimants {
                problems.push(LoadProblem {
                    path: a.path.clone(),
                    reason: format!(
                        "type {ty:?} is claimed by several files ({}); remove all but one",
                        files.join(", ")
                    ),
                });
            }
        }
        // A replacement that failed verification leaves the old version serving.
        for (ty, old) in previous.iter() {
            if !loaded.contains_key(ty) && failed_paths.contains(&old.path) {
                tracing::warn!(adapter_type = %ty, version = %old.info.version, path = %old.path.display(), "new file refused; previous version keeps serving");
                loaded.insert(ty.clone(), old.clone());
            }
        }
        for p in &problems {
            tracing::warn!(path = %p.path.display(), reason = %p.reason, "adapter not loaded");
        }
        if self.swap_in(&previous, loaded) {
            self.swaps.fetch_add(1, Ordering::Relaxed);
            crate::metrics::count("dcsync_adapter_swaps_total", &[], 1);
        }
        if let Ok(mut slot) = self.problems.lock() {
            *slot = problems;
        }
    }

    /// Load one file, reusing the loaded adapter when the file has not changed.
    async fn load_file(
        &self,
        path: &Path,
        previous: &BTreeMap<String, Arc<LoadedAdapter>>,
    ) -> Result<Arc<LoadedAdapter>, String> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| format!("cannot read: {e}"))?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if let Some(same) = previous
            .values()
            .find(|a| a.path == path && a.sha256 == sha256)
        {
            return Ok(same.clone());
        }
        let adapter = self
            .runtime
            .load_bytes(&bytes, path)
            .await
            .map_err(|e| load_reason(&e))?;
        if let Some(pin) = self.pins.get(adapter.adapter_type()) {
            if *pin != adapter.sha256 {
                return Err(format!(
                    "sha256 {} does not match the pin {pin} for type {:?}; refused",
                    adapter.sha256,
                    adapter.adapter_type()
                ));
            }
        }
        Ok(Arc::new(adapter))
    }

    /// Publish `next`, logging what changed; whether anything did.
    fn swap_in(
        &self,
        previous: &BTreeMap<String, Arc<LoadedAdapter>>,
        next: BTreeMap<String, Arc<LoadedAdapter>>,
    ) -> bool {
        let mut changed = false;
        for (ty, a) in &next {
            match previous.get(ty) {
                Some(old) if Arc::ptr_eq(old, a) => {}
                Some(old) => {
                    changed = true;
                    tracing::info!(adapter_type = %ty, from = %old.info.version, to = %a.info.version, sha256 = %a.sha256, "adapter swapped");
                }
                None => {
                    changed = true;
                    tracing::info!(adapter_type = %ty, version = %a.info.version, sha256 = %a.sha256, "adapter loaded");
                }
            }
        }
        for ty in previous.keys().filter(|t| !next.contains_key(*t)) {
            changed = true;
            tracing::info!(adapter_type = %ty, "adapter removed");
        }
        self.adapters.store(Arc::new(next));
        changed
    }

    /// Register one already-loaded adapter (embedding programs, tests).
    pub fn insert(&self, adapter: LoadedAdapter) {
        let adapter = Arc::new(adapter);
        self.adapters.rcu(|map| {
            let mut map = BTreeMap::clone(map);
            map.insert(adapter.adapter_type().to_string(), adapter.clone());
            map
        });
    }

    /// The adapter serving `adapter_type` now.
    pub fn get(&self, adapter_type: &str) -> Option<Arc<LoadedAdapter>> {
        self.adapters.load().get(adapter_type).cloned()
    }

    /// The loaded types.
    pub fn types(&self) -> Vec<String> {
        self.adapters.load().keys().cloned().collect()
    }

    /// Every loaded adapter.
    pub fn adapters(&self) -> Vec<Arc<LoadedAdapter>> {
        self.adapters.load().values().cloned().collect()
    }

    /// Files refused at the last load, with the reason.
    pub fn problems(&self) -> Vec<LoadProblem> {
        self.problems.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// How many reloads changed what serves.
    pub fn swaps(&self) -> u64 {
        self.swaps.load(Ordering::Relaxed)
    }

    /// The engine the adapters run on.
    pub fn runtime(&self) -> &Arc<AdapterRuntime> {
        &self.runtime
    }

    /// The directory it loads from, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }
}

/// The `.wasm` files of a directory, sorted; hidden files (copies in progress by
/// convention) are skipped.
fn adapter_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn load_reason(e: &LoadError) -> String {
    let text = e.to_string();
    // The path is already in the problem; keep the reason.
    match text.split_once(": ") {
        Some((_, reason)) => reason.to_string(),
        None => text,
    }
}
