//! Writing answers: JSON for machines, lines for people; and diagnostics on stderr, which
//! with `--log-format json` are JSON lines like the logs, so stderr holds nothing else.

use anyhow::Result;
use std::sync::atomic::{AtomicBool, Ordering};

static JSON_DIAGNOSTICS: AtomicBool = AtomicBool::new(false);

/// Diagnostics as JSON lines from now on (`--log-format json`).
pub fn json_diagnostics() {
    JSON_DIAGNOSTICS.store(true, Ordering::Relaxed);
}

/// Whether diagnostics are JSON lines.
pub fn diagnostics_are_json() -> bool {
    JSON_DIAGNOSTICS.load(Ordering::Relaxed)
}

/// A diagnostic line on stderr: `level: message`, or a JSON object.
pub fn say(level: &str, message: &str) {
    if diagnostics_are_json() {
        let line = serde_json::json!({
            "timestamp": chrono_now(),
            "level": level.to_ascii_uppercase(),
            "fields": { "message": message },
        });
        eprintln!("{line}");
    } else {
        eprintln!("{level}: {message}");
    }
}

fn chrono_now() -> String {
    datacollect_sync::model::now_rfc3339()
}

/// Print `v` as pretty JSON on stdout.
pub fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}
