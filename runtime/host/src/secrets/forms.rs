//! The forms in which a secret value could come back: the encodings a server applies
//! when it echoes what it received (JSON and its `\/` and `\uXXXX` escapes, URL and HTML
//! escapes, hex, base64 at any alignment, reversed, upper- or lower-cased), found with one
//! pass of two automatons (one ignoring ASCII case, one not).
//!
//! This is defence in depth: the boundary is that secrets are filled only where their
//! placement allows (see SECURITY.md for what this cannot see). Fragments of a secret are
//! deliberately not looked for: every extra pattern is a window an adapter can probe (an
//! answer that holds a form holds the configuration, see `SecretEchoed`), and a sliding
//! half made long secrets recoverable one character at a time.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use base64::Engine as _;
use std::collections::BTreeMap;

/// Values shorter than this (in characters) are not looked for: they would match
/// everywhere. `dcsync check` warns about them.
pub const MIN_SCAN_LEN: usize = 4;

/// Finds and replaces every form of a set of secrets.
pub(super) struct Scanner {
    /// Forms where ASCII case carries no meaning (raw text echoed upper-cased, hex, the
    /// hex digits of escapes).
    any_case: Option<AhoCorasick>,
    /// Forms where case matters (base64).
    exact_case: Option<AhoCorasick>,
}

impl Scanner {
    pub(super) fn new(values: &BTreeMap<String, String>) -> Self {
        let scanned: Vec<&str> = values
            .values()
            .map(String::as_str)
            .filter(|v| v.chars().count() >= MIN_SCAN_LEN)
            .collect();
        let mut any_case = Vec::new();
        let mut exact_case = Vec::new();
        for v in &scanned {
            text_forms(v, &mut any_case);
            base64_forms(v.as_bytes(), &mut exact_case);
        }
        // Basic auth: `user:password` of any two values (a username need not be secret
        // to be a secret's neighbour in the header).
        for u in values.values() {
            for p in &scanned {
                base64_forms(format!("{u}:{p}").as_bytes(), &mut exact_case);
            }
        }
        Scanner {
            any_case: build(any_case, true),
            exact_case: build(exact_case, false),
        }
    }

    pub(super) fn found_in(&self, bytes: &[u8]) -> bool {
        self.any_case.as_ref().is_some_and(|a| a.is_match(bytes))
            || self.exact_case.as_ref().is_some_and(|a| a.is_match(bytes))
    }

    pub(super) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for a in [&self.any_case, &self.exact_case].into_iter().flatten() {
            if a.is_match(&out) {
                out = a.replace_all(&out, &vec!["***"; a.patterns_len()]);
            }
        }
        out
    }
}

fn build(mut forms: Vec<String>, any_case: bool) -> Option<AhoCorasick> {
    forms.retain(|f| f.len() >= MIN_SCAN_LEN);
    forms.sort();
    forms.dedup();
    if forms.is_empty() {
        return None;
    }
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(any_case)
        .match_kind(MatchKind::LeftmostLongest)
        .build(&forms)
        .ok()
}

/// The forms of `v` in which ASCII case does not matter.
fn text_forms(v: &str, out: &mut Vec<String>) {
    out.push(v.to_string());
    out.push(v.chars().rev().collect());
    let json = serde_json::to_string(v).unwrap_or_default();
    let json = json[1..json.len().saturating_sub(1).max(1)].to_string();
    out.push(json.replace('/', "\\/"));
    out.push(json);
    out.push(v.chars().map(|c| format!("\\u{:04x}", c as u32)).collect());
    // Python's `json.dumps` (ensure_ascii): ASCII as it is, the rest as `\uXXXX` pairs.
    out.push(ensure_ascii(v));
    out.push(url::form_urlencoded::byte_serialize(v.as_bytes()).collect());
    out.push(percent_all(v, b"-_.~"));
    out.push(percent_all(v, b""));
    // JavaScript's encodeURIComponent leaves `!'()*` as they are.
    out.push(percent_all(v, b"-_.~!'()*"));
    out.push(html_escape(v, true));
    out.push(html_escape(v, false));
    out.push(v.chars().map(|c| format!("&#{};", c as u32)).collect());
    out.push(v.chars().map(|c| format!("&#x{:x};", c as u32)).collect());
    out.push(hex::encode(v.as_bytes()));
}

/// Base64 (standard and URL-safe) of `bytes` as it appears inside a larger encoded text
/// at each of the three alignments: the characters that depend only on `bytes`.
fn base64_forms(bytes: &[u8], out: &mut Vec<String>) {
    for engine in [
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        for shift in 0..3usize {
            let mut padded = vec![0u8; shift];
            padded.extend_from_slice(bytes);
            let encoded = engine.encode(&padded);
            // Leading characters mix in the padding bytes; trailing ones the next bytes.
            let skip = if shift == 0 {
                0
            } else {
                (shift * 8).div_ceil(6)
            };
            let whole = (padded.len() * 8) / 6;
            if whole > skip {
                out.push(encoded[skip..whole].to_string());
            }
        }
    }
}

/// Every byte as `%XX`, except ASCII letters, digits and `raw` (as a URL encoder would).
fn percent_all(v: &str, raw: &[u8]) -> String {
    v.bytes()
        .map(|b| {
            if !raw.is_empty() && (b.is_ascii_alphanumeric() || raw.contains(&b)) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// HTML escaping of markup characters, and of quotes too when `quotes` (text inside an
/// attribute is escaped with them, text between tags often without).
fn html_escape(v: &str, quotes: bool) -> String {
    v.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' if quotes => "&quot;".to_string(),
            '\'' if quotes => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// JSON text with every non-ASCII character as `\uXXXX` (UTF-16 pairs above U+FFFF).
fn ensure_ascii(v: &str) -> String {
    let json = serde_json::to_string(v).unwrap_or_default();
    let inner = &json[1..json.len().saturating_sub(1).max(1)];
    let mut out = String::with_capacity(inner.len());
    for c in inner.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}
