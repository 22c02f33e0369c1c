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

// What follows pins down behaviour the end-to-end tests relied on and the unit tests did
// not (each one kills a mutant cargo-mutants left alive; see SECURITY.md).

#[test]
fn values_and_names_are_held_and_empty_values_are_no_secrets() {
    let s = Secrets::new(BTreeMap::from([
        ("apiKey".to_string(), SECRET.to_string()),
        ("credentials.username".to_string(), "alice".to_string()),
        ("unset".to_string(), String::new()),
    ]));
    assert_eq!(s.value("apiKey"), Some(SECRET));
    assert_eq!(s.value("credentials.username"), Some("alice"));
    assert_eq!(s.value("unset"), None, "an empty value is no secret");
    assert_eq!(s.value("absent"), None);
    assert_eq!(
        s.names().collect::<Vec<_>>(),
        ["apiKey", "credentials.username"]
    );
    assert!(!s.is_empty());
    assert!(Secrets::default().is_empty());
    assert!(Secrets::new(BTreeMap::from([("unset".to_string(), String::new())])).is_empty());
}

#[test]
fn debug_shows_the_names_never_the_values() {
    assert_eq!(
        format!("{:?}", secrets()),
        r#"{"apiKey", "credentials.username"}"#
    );
    assert_eq!(format!("{:?}", Secrets::default()), "{}");
}

#[test]
fn too_short_lists_the_values_under_the_scan_minimum() {
    // MIN_SCAN_LEN is 4 characters (not bytes): "äbc" is 3 characters in 4 bytes.
    let s = Secrets::new(BTreeMap::from([
        ("three".to_string(), "abc".to_string()),
        ("threeWide".to_string(), "äbc".to_string()),
        ("four".to_string(), "abcd".to_string()),
        ("long".to_string(), SECRET.to_string()),
    ]));
    assert_eq!(s.too_short().collect::<Vec<_>>(), ["three", "threeWide"]);
    assert_eq!(secrets().too_short().count(), 0);
}

#[test]
fn a_record_holding_a_secret_in_any_checked_field_is_refused() {
    use dcsync_contract::adapter::AdapterEvent;
    let s = secrets();
    let clean = AdapterEvent {
        guid: "g-1".into(),
        entity_guid: "e-1".into(),
        event_type: "registration".into(),
        data: r#"{"name": "Ada"}"#.into(),
        timestamp: "2024-01-01T00:00:00Z".into(),
        user_id: "u-1".into(),
    };
    assert_eq!(s.refusal_for(&clean), None);
    let refusal = Some("the record holds a secret value of this config; refused".to_string());
    let leak = format!("x{SECRET}x");
    let fields: [fn(&mut AdapterEvent) -> &mut String; 5] = [
        |e| &mut e.guid,
        |e| &mut e.entity_guid,
        |e| &mut e.event_type,
        |e| &mut e.data,
        |e| &mut e.user_id,
    ];
    for (i, field) in fields.iter().enumerate() {
        let mut e = clean.clone();
        *field(&mut e) = leak.clone();
        assert_eq!(s.refusal_for(&e), refusal, "field {i}");
    }
}

#[test]
fn scrub_replaces_the_secrets_and_keeps_the_rest() {
    let s = secrets();
    assert_eq!(
        s.scrub(&format!(
            "user alice, key {SECRET}; HEX {}.",
            hex::encode_upper(SECRET)
        )),
        "user ***, key ***; HEX ***."
    );
    assert_eq!(s.scrub("nothing secret here"), "nothing secret here");
    assert_eq!(Secrets::default().scrub("as it was"), "as it was");
}

#[test]
fn base64_of_only_the_beginning_of_a_secret_is_not_found() {
    // The base64 forms hold every character that depends on the secret alone; one cut short
    // would match the encoding of any text that merely begins like the secret.
    let s = secrets();
    let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
    let almost = &SECRET[..SECRET.len() - 2];
    for t in [b64(almost), b64(&format!("x{almost}"))] {
        assert!(!s.found_in(t.as_bytes()), "{t}");
    }
    assert!(s.found_in(b64(SECRET).as_bytes()));
}

#[test]
fn url_encodings_that_keep_unreserved_characters_are_found() {
    // `~` is kept by RFC 3986 encoders (and encodeURIComponent), `!` by encodeURIComponent
    // only, and form encoding escapes both: each encoder's text is a form of its own.
    let s = Secrets::new(BTreeMap::from([(
        "password".to_string(),
        "pa~ss!wo/rd".to_string(),
    )]));
    for form in ["pa~ss%21wo%2Frd", "pa~ss!wo%2Frd", "pa%7Ess%21wo%2Frd"] {
        assert!(s.found_in(form.as_bytes()), "{form}");
    }
}

#[test]
fn html_escaped_quotes_are_found_in_attributes_and_between_tags() {
    let s = Secrets::new(BTreeMap::from([(
        "password".to_string(),
        r#"a<b"c'd"#.to_string(),
    )]));
    // Inside an attribute: quotes escaped too; between tags: markup characters only.
    for form in ["a&lt;b&quot;c&#39;d", r#"a&lt;b"c'd"#] {
        assert!(s.found_in(form.as_bytes()), "{form}");
    }
}
