//! Secret values for one call: filled into outgoing requests by reference
//! (`{{secret:NAME}}`), scrubbed out of everything that flows back or gets recorded.

use base64::Engine as _;
use std::collections::BTreeMap;
use std::fmt;

/// The secrets of one config (and the credentials of one sync), by name.
#[derive(Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
    /// Values derived from secrets during a call (e.g. a basic-auth header with a public
    /// username): scrubbed like secrets, never filled in.
    derived: Vec<String>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

/// The reference an adapter writes for the secret `name`.
pub fn reference(name: &str) -> String {
    format!("{{{{secret:{name}}}}}")
}

/// Secret values shorter than this are not scrubbed out of text (they would match
/// everywhere); `dcsync check` warns about them.
pub const MIN_SCRUB_LEN: usize = 4;

impl Secrets {
    /// Hold `value` as the secret `name` (an empty value is no secret).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let value = value.into();
        if !value.is_empty() {
            self.values.insert(name.into(), value);
        }
    }

    /// Scrub `value` too: it was built from a secret (e.g. an `Authorization` value).
    pub fn insert_derived(&mut self, value: impl Into<String>) {
        let value = value.into();
        if value.len() >= MIN_SCRUB_LEN && !self.derived.contains(&value) {
            self.derived.push(value);
        }
    }

    /// The names of the secrets held.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// Whether no secret is held.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Replace every `{{secret:NAME}}` in `text` by its value; an unknown name is an
    /// error naming it.
    pub fn fill(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("{{secret:") {
            out.push_str(&rest[..start]);
            let after = &rest[start + "{{secret:".len()..];
            let Some(end) = after.find("}}") else {
                return Err("unterminated {{secret:…}} reference".into());
            };
            let name = &after[..end];
            let value = self
                .values
                .get(name)
                .ok_or_else(|| format!("unknown secret reference {{{{secret:{name}}}}}"))?;
            out.push_str(value);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Every form in which a value could come back: as is, JSON-escaped, and inside a
    /// basic-auth header built from any pair of secrets.
    fn forms(&self) -> Vec<String> {
        let mut forms = Vec::new();
        let vals: Vec<&String> = self
            .values
            .values()
            .filter(|v| v.len() >= MIN_SCRUB_LEN)
            .collect();
        for v in &vals {
            forms.push(v.to_string());
            let json = serde_json::to_string(v).unwrap_or_default();
            let json = json.trim_matches('"');
            if json != v.as_str() {
                forms.push(json.to_string());
            }
            forms.push(url::form_urlencoded::byte_serialize(v.as_bytes()).collect());
        }
        let all: Vec<&String> = self.values.values().collect();
        for u in &all {
            for p in &vals {
                let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                forms.push(b64);
            }
        }
        forms.extend(self.derived.iter().cloned());
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        forms.dedup();
        forms
    }

    /// `text` with every secret value replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        if self.values.is_empty() {
            return text.to_string();
        }
        let mut out = text.to_string();
        for f in self.forms() {
            if !f.is_empty() && out.contains(&f) {
                out = out.replace(&f, "***");
            }
        }
        out
    }

    /// `bytes` with every secret value replaced by `***` (text or not).
    pub fn scrub_bytes(&self, bytes: Vec<u8>) -> Vec<u8> {
        if self.values.is_empty() {
            return bytes;
        }
        let forms = self.forms();
        let mut out = bytes;
        for f in forms {
            let f = f.as_bytes();
            if f.is_empty() || out.len() < f.len() {
                continue;
            }
            let mut replaced = Vec::with_capacity(out.len());
            let mut i = 0;
            while i < out.len() {
                if out[i..].starts_with(f) {
                    replaced.extend_from_slice(b"***");
                    i += f.len();
                } else {
                    replaced.push(out[i]);
                    i += 1;
                }
            }
            out = replaced;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_and_scrub_round_trip() {
        let mut s = Secrets::default();
        s.insert("apiKey", "sk_live_SECRET");
        let filled = s.fill("x-api-key: {{secret:apiKey}}").unwrap();
        assert_eq!(filled, "x-api-key: sk_live_SECRET");
        assert_eq!(s.scrub(&filled), "x-api-key: ***");
        assert!(s.fill("{{secret:nope}}").unwrap_err().contains("nope"));
    }

    #[test]
    fn basic_auth_header_is_scrubbed() {
        let mut s = Secrets::default();
        s.insert("credentials.username", "alice");
        s.insert("credentials.password", "hunter22");
        let b64 = base64::engine::general_purpose::STANDARD.encode("alice:hunter22");
        let echoed = format!("{{\"authorization\":\"Basic {b64}\"}}");
        assert!(!String::from_utf8(s.scrub_bytes(echoed.into_bytes()))
            .unwrap()
            .contains(&b64));
    }
}
