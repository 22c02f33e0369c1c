//! Where a reference sits in a JSON body, found on the bytes as they will be sent: the
//! body is walked as raw JSON (every value a slice of the original text), objects with a
//! repeated key are refused (parsers disagree on which one wins), and the reference must be
//! a whole string value written plainly — not a key, not part of a longer string, not
//! escaped. Its JSON pointer is then matched against the adapter's declared placement.

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;
use serde_json::value::RawValue;
use std::fmt;
use std::ops::Range;

/// The JSON pointer of the string value whose contents are exactly `span` of `text`, if
/// the body is JSON whose objects repeat no key and that value is exactly `"<span>"`.
pub(crate) fn pointer_of(text: &str, span: Range<usize>) -> Option<String> {
    let start = span.start.checked_sub(1)?;
    let end = span.end + 1;
    if text.get(start..start + 1) != Some("\"") || text.get(end - 1..end) != Some("\"") {
        return None;
    }
    let root: &RawValue = serde_json::from_str(text).ok()?;
    let mut pointer = String::new();
    find(text, root, start..end, &mut pointer)
        .ok()?
        .then_some(pointer)
}

/// Byte offset of a raw value within `text` (it is a slice of it).
fn offset(text: &str, raw: &RawValue) -> usize {
    raw.get().as_ptr() as usize - text.as_ptr() as usize
}

/// Whether the value at `target` lies in `raw`, building its pointer on the way down.
/// `Err` when the JSON is refused (a repeated key).
fn find(
    text: &str,
    raw: &RawValue,
    target: Range<usize>,
    pointer: &mut String,
) -> Result<bool, ()> {
    let at = offset(text, raw);
    let here = at..at + raw.get().len();
    if here == target {
        return Ok(true);
    }
    if !(here.start <= target.start && target.end <= here.end) {
        return Ok(false);
    }
    match raw.get().as_bytes().first() {
        Some(b'{') => {
            let entries: Entries<'_> = serde_json::from_str(raw.get()).map_err(|_| ())?;
            let mut keys = std::collections::HashSet::new();
            for (k, _) in &entries.0 {
                if !keys.insert(k.as_str()) {
                    return Err(());
                }
            }
            for (k, v) in entries.0 {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                if find(text, v, target.clone(), pointer)? {
                    return Ok(true);
                }
                pointer.truncate(len);
            }
            Ok(false)
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(raw.get()).map_err(|_| ())?;
            for (i, v) in items.into_iter().enumerate() {
                let len = pointer.len();
                pointer.push_str(&format!("/{i}"));
                if find(text, v, target.clone(), pointer)? {
                    return Ok(true);
                }
                pointer.truncate(len);
            }
            Ok(false)
        }
        _ => Ok(false),
    }
}

/// An object's entries in order, repeats kept (a map would silently drop them).
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
                Err(de::Error::custom("not an object"))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REF: &str = "{{secret:password:T}}";

    fn locate(body: &str) -> Option<String> {
        let start = body.find(REF)?;
        pointer_of(body, start..start + REF.len())
    }

    #[test]
    fn a_plain_string_value_has_its_pointer() {
        let body = format!(r#"{{"jsonrpc":"2.0","params":{{"args":["db", 2, "{REF}", {{}}]}}}}"#);
        assert_eq!(locate(&body).as_deref(), Some("/params/args/2"));
        let body = format!(r#"{{"a/b": {{"c~d": "{REF}"}}}}"#);
        assert_eq!(locate(&body).as_deref(), Some("/a~1b/c~0d"));
    }

    #[test]
    fn a_key_a_longer_string_an_escape_or_a_repeated_key_is_no_placement() {
        assert_eq!(locate(&format!(r#"{{"{REF}": "x"}}"#)), None, "a key");
        assert_eq!(
            locate(&format!(r#"{{"a": "pre {REF}"}}"#)),
            None,
            "part of a string"
        );
        assert_eq!(
            locate(&format!(r#"{{"a": 1, "a": "{REF}"}}"#)),
            None,
            "a repeated key"
        );
        assert_eq!(
            locate(&format!(r#"{{"p": {{"x": 1, "x": 2}}, "a": "{REF}"}}"#)),
            Some("/a".into()),
            "repeats elsewhere are not on the path"
        );
        assert_eq!(locate("not json"), None);
        // The review's decoy: the raw reference as a key, an escaped copy at the pointer.
        let decoy = format!(
            r#"{{"{REF}": "x", "params": {{"args": ["db", 2, "\u007b{{secret:password:T}}"]}}}}"#
        );
        assert_eq!(locate(&decoy), None, "the first occurrence is the key");
    }
}
