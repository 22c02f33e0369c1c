//! The configs `dcsync serve` manages: one JSON file each in a directory (mode 0600, since
//! they hold secrets), never in the event store, which stays free of secrets.

use dcsync_contract::config::ExternalSyncConfig;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A directory of DataCollect configs, by id.
#[derive(Debug)]
pub struct ConfigDir {
    dir: PathBuf,
    /// Files already reported unreadable, with the modification time they had: each is
    /// reported once (the scheduler lists the directory every second), again if it changes.
    reported: std::sync::Mutex<std::collections::HashMap<PathBuf, Option<std::time::SystemTime>>>,
}

impl ConfigDir {
    /// The directory at `dir`, created (mode 0700) if missing.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        Ok(ConfigDir {
            dir: dir.to_path_buf(),
            reported: Default::default(),
        })
    }

    fn path(&self, id: &str) -> PathBuf {
        let readable: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        let hash = hex::encode(&Sha256::digest(id.as_bytes())[..6]);
        self.dir.join(format!("{readable}-{hash}.json"))
    }

    /// Every config, sorted by id; unreadable files are skipped with a warning.
    pub fn list(&self) -> Vec<ExternalSyncConfig> {
        let mut out: Vec<ExternalSyncConfig> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter_map(|p| match read(&p) {
                Ok(c) => Some(c),
                Err(problem) => {
                    self.report_once(&p, &problem);
                    None
                }
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// The config with this id.
    fn report_once(&self, path: &Path, problem: &str) {
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let Ok(mut reported) = self.reported.lock() else {
            return;
        };
        if reported.get(path) != Some(&modified) {
            reported.insert(path.to_path_buf(), modified);
            tracing::warn!(path = %path.display(), %problem, "skipping unreadable config file (reported once until it changes)");
        }
    }

    /// The config with this id.
    pub fn get(&self, id: &str) -> Option<ExternalSyncConfig> {
        read(&self.path(id)).ok().filter(|c| c.id == id)
    }

    /// Write a config (atomically, readable by the owner only).
    pub fn put(&self, config: &ExternalSyncConfig) -> std::io::Result<()> {
        let path = self.path(&config.id);
        let tmp = path.with_extension("tmp");
        // The secret field names are kept with it: a field an adapter once declared secret
        // stays secret (masked by the API) even when that adapter is not loaded.
        let stored = serde_json::json!({
            "externalSync": config.to_json(false),
            "secretFields": config.secret_field_names().collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&stored).map_err(std::io::Error::other)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        std::io::Write::write_all(&mut options.open(&tmp)?, text.as_bytes())?;
        std::fs::rename(tmp, path)
    }

    /// Remove a config; whether it existed.
    pub fn delete(&self, id: &str) -> std::io::Result<bool> {
        match std::fs::remove_file(self.path(id)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Read one stored config, with the secret field names kept beside it.
fn read(path: &Path) -> Result<ExternalSyncConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let mut config = ExternalSyncConfig::from_value(&value).map_err(|e| e.to_string())?;
    let names: Vec<&str> = value["secretFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    config.mark_secret(names);
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Counts warnings.
    struct Count(Arc<AtomicUsize>);

    impl tracing::Subscriber for Count {
        fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
            *m.level() == tracing::Level::WARN
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, _: &tracing::Event<'_>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn an_unreadable_config_file_is_reported_once_until_it_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ConfigDir::open(tmp.path()).unwrap();
        let bad = tmp.path().join("broken.json");
        std::fs::write(&bad, "{ not json").unwrap();
        let warnings = Arc::new(AtomicUsize::new(0));
        tracing::subscriber::with_default(Count(warnings.clone()), || {
            for _ in 0..5 {
                assert!(dir.list().is_empty());
            }
            assert_eq!(
                warnings.load(Ordering::SeqCst),
                1,
                "once, not every listing"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
            std::fs::write(&bad, "{ still not json }").unwrap();
            let f = std::fs::File::options().write(true).open(&bad).unwrap();
            f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
                .unwrap();
            dir.list();
            assert_eq!(warnings.load(Ordering::SeqCst), 2, "again once it changed");
        });
    }

    #[cfg(unix)]
    #[test]
    fn config_files_are_the_owners_only_in_a_directory_that_is_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("nested/configs");
        let dir = ConfigDir::open(&path).unwrap();
        let config = ExternalSyncConfig::from_value(&serde_json::json!({
            "type": "mock-sync-server", "url": "http://127.0.0.1:1/x",
            "extraFields": [{"name": "apiKey", "value": "sk_live_0600"}]
        }))
        .unwrap();
        dir.put(&config).unwrap();
        // Written twice: the second write replaces the file, and keeps the mode.
        dir.put(&config).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o700, "the directory");
        let files: Vec<_> = std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(mode(&files[0]), 0o600, "the file holding the secret");
        assert!(std::fs::read_to_string(&files[0])
            .unwrap()
            .contains("sk_live_0600"));
    }
}
