//! The configs `dcsync serve` manages: one JSON file each in a directory (mode 0600, since
//! they hold secrets), never in the event store, which stays free of secrets.

use dcsync_contract::config::ExternalSyncConfig;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A directory of DataCollect configs, by id.
#[derive(Clone, Debug)]
pub struct ConfigDir {
    dir: PathBuf,
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
                    tracing::warn!(path = %p.display(), %problem, "skipping unreadable config file");
                    None
                }
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
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
