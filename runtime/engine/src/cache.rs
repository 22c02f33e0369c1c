//! The compiled-code cache: native code of each component, keyed by the component's
//! SHA-256 and the engine's compatibility hash, so a restart loads in milliseconds instead
//! of compiling again.
//!
//! Each file holds a CRC-32 of the artifact followed by the artifact. A file whose
//! checksum does not match (truncated, corrupted) is deleted and rebuilt, never loaded.
//! (A checksum, not a cryptographic hash: it guards against damage, not against someone
//! who can write the directory — such a person could write native code anyway.)
//! Loading native code is trusted: the directory must be writable by the runtime only (it
//! is created with mode 0700).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::Engine;

const DIGEST_LEN: usize = 4;

fn checksum(artifact: &[u8]) -> [u8; DIGEST_LEN] {
    crc32fast::hash(artifact).to_le_bytes()
}

/// A directory of compiled components.
#[derive(Clone, Debug)]
pub struct CodeCache {
    dir: PathBuf,
}

/// The default cache directory: `$XDG_CACHE_HOME/dcsync`, else `~/.cache/dcsync`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("dcsync"))
}

impl CodeCache {
    /// A cache in `dir`, created (mode 0700) if missing.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        Ok(CodeCache {
            dir: dir.to_path_buf(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the artifact of a component (by its SHA-256) for this engine lives.
    pub fn path_for(&self, engine: &Engine, component_sha256: &str) -> PathBuf {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        self.dir
            .join(format!("{component_sha256}-{:016x}.cwasm", h.finish()))
    }

    /// The cached component, if a sound artifact is there; a damaged one is removed.
    pub fn load(&self, engine: &Engine, component_sha256: &str) -> Option<Component> {
        let path = self.path_for(engine, component_sha256);
        let bytes = std::fs::read(&path).ok()?;
        let sound =
            bytes.len() > DIGEST_LEN && checksum(&bytes[DIGEST_LEN..])[..] == bytes[..DIGEST_LEN];
        if !sound {
            tracing::warn!(path = %path.display(), "compiled-code cache entry is damaged; rebuilding it");
            let _ = std::fs::remove_file(&path);
            return None;
        }
        // SAFETY: the artifact was written by `store` below for this engine (the file name
        // carries its compatibility hash), into a directory only the runtime writes, and its
        // checksum matches: it is the code wasmtime produced, unchanged.
        match unsafe { Component::deserialize(engine, &bytes[DIGEST_LEN..]) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "compiled-code cache entry refused; rebuilding it");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Save a compiled component (atomically: a temporary file, then a rename).
    pub fn store(&self, engine: &Engine, component_sha256: &str, component: &Component) {
        let path = self.path_for(engine, component_sha256);
        let result = component
            .serialize()
            .map_err(std::io::Error::other)
            .and_then(|artifact| {
                let tmp = path.with_extension(format!("tmp{}", std::process::id()));
                let mut bytes = checksum(&artifact).to_vec();
                bytes.extend_from_slice(&artifact);
                std::fs::write(&tmp, bytes)?;
                std::fs::rename(&tmp, &path)
            });
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "cannot write compiled-code cache entry");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_cache_directory_is_created_for_the_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/dcsync");
        CodeCache::open(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode, 0o700,
            "whoever can write here can write native code we load"
        );
    }
}
