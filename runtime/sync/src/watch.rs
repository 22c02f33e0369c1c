//! Watching the adapter directory: a change (a file added, replaced or removed) triggers a
//! registry reload once the directory has been quiet and every file's size is stable, so a
//! copy in progress is not loaded half-written (and if it were, verification would refuse
//! it and the old version would keep serving until the copy completes).

use crate::registry::AdapterRegistry;
use notify::{RecursiveMode, Watcher};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long the directory must be quiet before a reload.
const QUIET: Duration = Duration::from_millis(200);

/// Keeps the watch alive; dropping it stops watching.
pub struct AdapterWatcher {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AdapterWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watch the registry's directory and reload it on every settled change.
pub fn watch(registry: Arc<AdapterRegistry>) -> notify::Result<AdapterWatcher> {
    let Some(dir) = registry.dir().map(Path::to_path_buf) else {
        return Err(notify::Error::generic("registry has no directory to watch"));
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Let a burst of events (a copy, a rename) settle.
            loop {
                tokio::time::sleep(QUIET).await;
                let mut more = false;
                while rx.try_recv().is_ok() {
                    more = true;
                }
                if !more && sizes_stable(&dir).await {
                    break;
                }
            }
            registry.reload().await;
        }
    });
    Ok(AdapterWatcher {
        _watcher: watcher,
        task,
    })
}

async fn sizes_stable(dir: &Path) -> bool {
    let sizes = || -> Vec<(std::path::PathBuf, u64)> {
        std::fs::read_dir(dir)
            .map(|it| {
                it.filter_map(|e| e.ok())
                    .filter_map(|e| Some((e.path(), e.metadata().ok()?.len())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = sizes();
    tokio::time::sleep(Duration::from_millis(50)).await;
    before == sizes()
}
