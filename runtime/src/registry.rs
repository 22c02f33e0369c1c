//! The adapter registry: config `type` → verified component, loaded from a directory.
//!
//! Each `.wasm` file is compiled, linked against the host (an import the host does not
//! provide is refused, named), type-checked against the world and smoke-tested
//! (`describe()`) before it serves. A bad file is reported and skipped; the others load.
//! The map is swapped atomically, so a reload never disturbs calls already running.

use crate::engine::{AdapterRuntime, LoadError, LoadedAdapter};
use arc_swap::ArcSwap;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where `make adapters` puts the built components, unless `DCSYNC_ADAPTERS` says otherwise.
pub fn default_adapter_dir() -> PathBuf {
    match std::env::var_os("DCSYNC_ADAPTERS") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/adapters"),
    }
}

/// A file that was not loaded, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadProblem {
    pub path: PathBuf,
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
    adapters: ArcSwap<BTreeMap<String, Arc<LoadedAdapter>>>,
    problems: Mutex<Vec<LoadProblem>>,
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
        Arc::new(AdapterRegistry {
            runtime,
            dir: None,
            adapters: ArcSwap::from_pointee(BTreeMap::new()),
            problems: Mutex::new(Vec::new()),
        })
    }

    /// Load every component in `dir`. A missing directory is an empty registry (with a
    /// problem saying so), not an error: configs for other types still work.
    pub async fn load_dir(runtime: Arc<AdapterRuntime>, dir: &Path) -> Arc<Self> {
        let registry = Arc::new(AdapterRegistry {
            runtime,
            dir: Some(dir.to_path_buf()),
            adapters: ArcSwap::from_pointee(BTreeMap::new()),
            problems: Mutex::new(Vec::new()),
        });
        registry.reload().await;
        registry
    }

    /// Load the directory again and swap the new set in.
    pub async fn reload(&self) {
        let Some(dir) = &self.dir else { return };
        let mut problems = Vec::new();
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
                .collect(),
            Err(e) => {
                problems.push(LoadProblem {
                    path: dir.clone(),
                    reason: format!("cannot read adapter directory: {e} (run `make adapters`, or set --adapters / DCSYNC_ADAPTERS)"),
                });
                Vec::new()
            }
        };
        files.sort();
        let mut by_type: BTreeMap<String, Vec<LoadedAdapter>> = BTreeMap::new();
        for path in files {
            match self.runtime.load(&path).await {
                Ok(a) => by_type
                    .entry(a.adapter_type().to_string())
                    .or_default()
                    .push(a),
                Err(e) => problems.push(LoadProblem {
                    path: path.clone(),
                    reason: load_reason(&e),
                }),
            }
        }
        let mut loaded = BTreeMap::new();
        for (ty, mut claimants) in by_type {
            if claimants.len() == 1 {
                loaded.insert(ty, Arc::new(claimants.remove(0)));
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
        for p in &problems {
            tracing::warn!(path = %p.path.display(), reason = %p.reason, "adapter not loaded");
        }
        self.adapters.store(Arc::new(loaded));
        if let Ok(mut slot) = self.problems.lock() {
            *slot = problems;
        }
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

    pub fn runtime(&self) -> &Arc<AdapterRuntime> {
        &self.runtime
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }
}

fn load_reason(e: &LoadError) -> String {
    let text = e.to_string();
    // The path is already in the problem; keep the reason.
    match text.split_once(": ") {
        Some((_, reason)) => reason.to_string(),
        None => text,
    }
}
