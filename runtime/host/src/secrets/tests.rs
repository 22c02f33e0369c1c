//! The scanner against the echo transforms the security review used.

use super::*;
use base64::Engine as _;

const SECRET: &str = "sk_live_S3cr3t/Va+lue=42";

fn secrets() -> Secrets {
    Secrets::new(BTreeMap::from([
        ("apiKey".to_string(), SECRET.to_string()),
        ("credentials.username".to_string(), "alice".to_string()),
    ]))
}

fn transforms(v: &str) -> Vec<(&'static str, String)> {
    let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
    vec![
        ("raw", v.to_string()),
        ("upper", v.to_uppercase()),
        ("lower", v.to_lowercase()),
        ("base64", b64(v.as_bytes())),
        ("base64 at offset 1", b64(format!("x{v}").as_bytes())),
        ("base64 at offset 2", b64(format!("xy{v}").as_bytes())),
        (
            "base64url",
            base64::engine::general_purpose::URL_SAFE.encode(format!("zz{v}")),
        ),
        ("basic auth", b64(format!("alice:{v}").as_bytes())),
        ("hex", hex::encode(v)),
        ("HEX", hex::encode_upper(v)),
        ("reversed", v.chars().rev().collect()),
        (
            "json \\/",
            serde_json::to_string(v).unwrap().replace('/', "\\/"),
        ),
        (
            "json \\u",
            v.chars().map(|c| format!("\\u{:04X}", c as u32)).collect(),
        ),
        (
            "%20-encoded",
            v.bytes().map(|b| format!("%{b:02x}")).collect(),
        ),
        (
            "form-encoded",
            url::form_urlencoded::byte_serialize(v.as_bytes()).collect(),
        ),
        (
            "html entities",
            v.chars().map(|c| format!("&#{};", c as u32)).collect(),
        ),
        (
            "html hex entities",
            v.chars().map(|c| format!("&#X{:X};", c as u32)).collect(),
        ),
        (
            "encodeURIComponent",
            v.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect(),
        ),
    ]
}

#[test]
fn every_echo_transform_of_a_secret_is_found() {
    let s = secrets();
    for (name, t) in transforms(SECRET) {
        let wrapped = format!("{{\"echo\": \"...{t}...\"}}");
        assert!(s.found_in(wrapped.as_bytes()), "{name}: {t}");
        assert!(!s.scrub(&wrapped).contains(&t), "{name} scrubbed");
    }
}

#[test]
fn ordinary_text_is_not_taken_for_a_secret() {
    let s = secrets();
    for text in [
        "{\"status\": \"ok\", \"id\": 42}",
        "sk_live_",
        "Va+lue",
        "alic",
    ] {
        assert!(!s.found_in(text.as_bytes()), "{text}");
    }
}

#[test]
fn references_carry_the_run_token() {
    let s = secrets();
    let r = s.reference("apiKey");
    let found = find_references(&r, s.token());
    assert_eq!(found.len(), 1);
    assert!(found[0].handed_out);
    assert_eq!(Secrets::default().token().len(), 24);
    assert_ne!(
        Secrets::default().token(),
        s.token(),
        "a fresh token per run"
    );
}

#[test]
fn a_fragment_of_a_secret_is_not_a_probe_window() {
    // Each pattern is a window an adapter can probe by making a server echo a guess; a
    // half of a long secret let it recover the rest one character at a time.
    let s = Secrets::new(BTreeMap::from([(
        "collectionsToken".to_string(),
        "tok_COLLECTIONS_987654321".to_string(),
    )]));
    assert!(!s.found_in(b"tok_COLLECTIONS_9"));
    assert!(!s.found_in(b"COLLECTIONS_987654321"));
    assert!(!s.found_in(br#"{"openfnCollection": "registrations"}"#));
    assert!(s.found_in(b"tok_COLLECTIONS_987654321"));
}

#[test]
fn non_ascii_secrets_are_found_as_python_and_html_write_them() {
    let s = Secrets::new(BTreeMap::from([(
        "password".to_string(),
        "pä<ss>wörd\u{1F511}".to_string(),
    )]));
    // Python json.dumps: ASCII kept, the rest escaped, astral characters as a UTF-16 pair.
    assert!(s.found_in(br#""p\u00e4<ss>w\u00f6rd\ud83d\udd11""#));
    // HTML between tags: only markup characters escaped.
    assert!(s.found_in("pä&lt;ss&gt;wörd\u{1F511}".as_bytes()));
}
