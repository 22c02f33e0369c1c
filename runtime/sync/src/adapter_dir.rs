//! Where adapter components are looked for, so that an installed or copied `dcsync` finds
//! its adapters without being told: `--adapters`, then `DCSYNC_ADAPTERS`, then the
//! settings file's `adapters`, then `<executable>/../share/dcsync/adapters` (what
//! `make install` lays out), then the user's data directory
//! (`$XDG_DATA_HOME/dcsync/adapters`, else `~/.local/share/dcsync/adapters`).

use std::path::{Path, PathBuf};

/// Where a directory was found, for messages (`adapters directory … (from DCSYNC_ADAPTERS)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The `--adapters` flag (or an embedding program's explicit choice).
    Flag,
    /// The `DCSYNC_ADAPTERS` environment variable.
    Environment,
    /// The settings file.
    Settings,
    /// Beside the executable (`../share/dcsync/adapters`).
    Installed,
    /// The user's data directory.
    UserData,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Flag => "--adapters",
            Source::Environment => "DCSYNC_ADAPTERS",
            Source::Settings => "the settings file",
            Source::Installed => "the installation",
            Source::UserData => "the user data directory",
        })
    }
}

/// The installed layout's adapter directory for an executable at `exe`.
pub fn installed(exe: &Path) -> Option<PathBuf> {
    Some(exe.parent()?.parent()?.join("share/dcsync/adapters"))
}

/// The user's data directory for adapters.
pub fn user_data() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("dcsync/adapters"))
}

/// The adapter directory, in the order above. An explicit choice (flag, environment,
/// settings) is returned even when it does not exist, so the error names it; the
/// implicit places are used only when they exist. `None`: nothing found anywhere.
pub fn find(flag: Option<&Path>, settings: Option<&Path>) -> Option<(PathBuf, Source)> {
    if let Some(p) = flag {
        return Some((p.to_path_buf(), Source::Flag));
    }
    if let Some(p) = std::env::var_os("DCSYNC_ADAPTERS").filter(|v| !v.is_empty()) {
        return Some((PathBuf::from(p), Source::Environment));
    }
    if let Some(p) = settings {
        return Some((p.to_path_buf(), Source::Settings));
    }
    let exe = std::env::current_exe().ok();
    if let Some(p) = exe.as_deref().and_then(installed).filter(|p| p.is_dir()) {
        return Some((p, Source::Installed));
    }
    user_data()
        .filter(|p| p.is_dir())
        .map(|p| (p, Source::UserData))
}

/// Every place looked at, for the error when nothing is found.
pub fn searched() -> Vec<String> {
    let mut places = vec![
        "--adapters".to_string(),
        "DCSYNC_ADAPTERS".to_string(),
        "the settings file's `adapters`".to_string(),
    ];
    if let Some(p) = std::env::current_exe().ok().as_deref().and_then(installed) {
        places.push(p.display().to_string());
    }
    if let Some(p) = user_data() {
        places.push(p.display().to_string());
    }
    places
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_installed_layout_is_beside_the_binary() {
        assert_eq!(
            installed(Path::new("/opt/dcsync/bin/dcsync")),
            Some(PathBuf::from("/opt/dcsync/share/dcsync/adapters"))
        );
    }

    #[test]
    fn an_explicit_flag_wins_even_when_missing() {
        let (p, s) = find(Some(Path::new("/nope")), Some(Path::new("/also-nope"))).unwrap();
        assert_eq!((p, s), (PathBuf::from("/nope"), Source::Flag));
    }
}
