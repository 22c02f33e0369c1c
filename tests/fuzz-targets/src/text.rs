//! Targets over text the user writes: config files and import files.

use crate::component::shipped;
use datacollect_sync::config::ConfigError;
use datacollect_sync::resolve::resolve;
use datacollect_sync::ExternalSyncConfig;
use dcsync_cli::commands::events::{next_line, parse_line, Line};

/// A config file: a config or a field-named error; resolving it against every shipped
/// adapter either succeeds or names each field at fault; a parsed config reads back the
/// same from what it writes.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // read_config refuses non-UTF-8 before parsing
    };
    let config = match ExternalSyncConfig::from_json(text) {
        Ok(c) => c,
        Err(ConfigError::Invalid { field, message }) => {
            assert!(
                !field.is_empty() && !message.is_empty(),
                "an error names no field"
            );
            return;
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let written = config.to_json(false);
    let again = ExternalSyncConfig::from_value(&written)
        .unwrap_or_else(|e| panic!("a config does not read back what it writes: {e}\n{written}"));
    assert_eq!(
        again.to_json(false),
        written,
        "the round trip changed the config"
    );
    for adapter in shipped() {
        if let Err(e) = resolve(&config, &adapter.info) {
            assert!(!e.problems.is_empty(), "refused without a problem");
            for p in &e.problems {
                assert!(!p.field.is_empty(), "a problem names no field: {p}");
            }
        }
    }
}

/// An import file, read with a small line limit: every line within the limit or reported
/// too long with its true length; each line an event that validates, or a reason.
pub fn import(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let max = 16 + usize::from(first) * 16;
    let mut reader = std::io::BufReader::with_capacity(64, rest);
    let mut buf = Vec::new();
    let mut consumed = 0usize;
    while let Some(line) = next_line(&mut reader, max, &mut buf).expect("reading memory") {
        match line {
            Line::TooLong(len) => {
                assert!(len > max, "a line of {len} bytes called too long for {max}");
                consumed += len;
            }
            Line::Text(text) => {
                assert!(text.len() <= max, "a line over the limit was held");
                assert!(!text.contains(&b'\n'));
                consumed += text.len();
                match parse_line(&text) {
                    Ok(Some(e)) => e.validate().expect("a parsed event validates"),
                    Ok(None) => assert!(text.iter().all(u8::is_ascii_whitespace)),
                    Err(why) => assert!(!why.is_empty()),
                }
            }
        }
    }
    let newlines = rest.iter().filter(|b| **b == b'\n').count();
    assert_eq!(consumed + newlines, rest.len(), "bytes lost between lines");
}
