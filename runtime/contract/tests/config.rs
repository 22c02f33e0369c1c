//! The reference page's configs parse, bare and wrapped; each bad config fails with a
//! message naming the field; secrets never show in Debug or Display.

use dcsync_contract::config::{ConfigError, ExternalSyncConfig};
use serde_json::{json, Value};

fn reference_examples() -> Vec<Value> {
    vec![
        json!({ "type": "openfn-adapter", "url": "https://api.openfn.org/workflow/trigger/abc123", "extraFields": [
            { "name": "apiKey", "value": "sk_prod_1234567890abcdef" }, { "name": "workflowId", "value": "wf_1234567890" },
            { "name": "batchSize", "value": "50" }, { "name": "timeout", "value": "30000" } ] }),
        json!({ "type": "mock-sync-server", "url": "http://localhost:3000/mock-sync", "extraFields": [
            { "name": "batchSize", "value": "25" }, { "name": "retryAttempts", "value": "3" } ] }),
        json!({ "type": "openfn-adapter", "auth": "api-key", "url": "https://api.openfn.org/workflow/trigger/def456", "extraFields": [
            { "name": "apiKey", "value": "sk_prod_abcdef123456" }, { "name": "workflowId", "value": "wf_abcdef123456" },
            { "name": "batchSize", "value": "50" }, { "name": "timeout", "value": "60000" } ] }),
        json!({ "type": "custom-adapter", "auth": "basic", "url": "https://your-system.com/api/sync", "extraFields": [
            { "name": "username", "value": "sync_user" }, { "name": "password", "value": "secure_password" },
            { "name": "database", "value": "production_db" }, { "name": "syncInterval", "value": "300000" } ] }),
        json!({ "type": "mock-sync-server", "url": "http://localhost:3000/mock-sync", "extraFields": [] }),
        json!({ "type": "openfn-adapter", "url": "https://api.openfn.org/workflow/trigger", "extraFields": [
            { "name": "apiKey", "value": "your-api-key" } ] }),
        json!({ "type": "mock-sync-server", "url": "http://localhost:3000/sync", "extraFields": [] }),
    ]
}

#[test]
fn every_reference_example_parses_bare_and_wrapped() {
    for example in reference_examples() {
        let bare = ExternalSyncConfig::from_json(&example.to_string()).unwrap();
        let wrapped =
            ExternalSyncConfig::from_json(&json!({ "externalSync": example }).to_string()).unwrap();
        assert_eq!(bare, wrapped);
        assert_eq!(bare.adapter_type, example["type"]);
        assert_eq!(bare.url, example["url"]);
        assert_eq!(
            bare.extra_fields.len(),
            example["extraFields"].as_array().unwrap().len()
        );
    }
}

#[test]
fn host_settings_are_read_with_defaults() {
    let c = ExternalSyncConfig::from_value(&reference_examples()[0]).unwrap();
    let s = c.settings().unwrap();
    assert_eq!(
        (s.batch_size, s.retry_attempts, s.timeout_ms),
        (50, 3, 30000)
    );
    let c = ExternalSyncConfig::from_value(&reference_examples()[4]).unwrap();
    assert_eq!(c.settings().unwrap().batch_size, 100);
}

fn error_of(v: Value) -> String {
    ExternalSyncConfig::from_value(&v).unwrap_err().to_string()
}

#[test]
fn missing_type_or_url_is_named() {
    assert_eq!(
        error_of(json!({ "url": "http://x.org" })),
        "missing required field `type`"
    );
    assert_eq!(
        error_of(json!({ "externalSync": { "type": "t" } })),
        "missing required field `url`"
    );
}

#[test]
fn non_http_url_is_refused() {
    let e = error_of(json!({ "type": "t", "url": "ftp://files.example.org/x" }));
    assert!(
        e.starts_with("field `url`: must be an http or https URL"),
        "{e}"
    );
    let e = error_of(json!({ "type": "t", "url": "not a url" }));
    assert!(
        e.starts_with("field `url`:") && e.contains("not a valid URL"),
        "{e}"
    );
    let e = error_of(json!({ "type": "t", "url": "https://user:pw@example.org/" }));
    assert!(e.contains("must not carry credentials"), "{e}");
}

#[test]
fn extra_fields_must_be_name_value_strings() {
    let e = error_of(
        json!({ "type": "t", "url": "http://x.org", "extraFields": { "batchSize": "1" } }),
    );
    assert_eq!(
        e,
        "field `extraFields`: must be an array of {\"name\": …, \"value\": …} objects"
    );
    let e = error_of(
        json!({ "type": "t", "url": "http://x.org", "extraFields": [{ "name": "batchSize", "value": 50 }] }),
    );
    assert_eq!(
        e,
        "field `extraFields[0].value`: must be a string; write \"50\" in quotes"
    );
    let e = error_of(json!({ "type": "t", "url": "http://x.org", "extraFields": ["batchSize"] }));
    assert!(
        e.starts_with("field `extraFields[0]`: must be an object"),
        "{e}"
    );
    let e = error_of(
        json!({ "externalSync": { "type": "t", "url": "http://x.org", "extraFields": [{ "value": "1" }] } }),
    );
    assert_eq!(e, "field `externalSync.extraFields[0].name`: is missing");
}

#[test]
fn duplicate_extra_field_names_are_refused() {
    let e = error_of(json!({ "type": "t", "url": "http://x.org", "extraFields": [
        { "name": "batchSize", "value": "1" }, { "name": "batchSize", "value": "2" } ] }));
    assert_eq!(e, "field `extraFields[1].name`: duplicate name \"batchSize\": each extra field may appear once");
}

#[test]
fn non_numeric_batch_size_is_refused() {
    let e = error_of(
        json!({ "type": "t", "url": "http://x.org", "extraFields": [{ "name": "batchSize", "value": "fifty" }] }),
    );
    assert_eq!(
        e,
        "field `extraFields.batchSize`: must be a whole number, got \"fifty\" (e.g. \"100\")"
    );
    let e = error_of(
        json!({ "type": "t", "url": "http://x.org", "extraFields": [{ "name": "batchSize", "value": "0" }] }),
    );
    assert_eq!(
        e,
        "field `extraFields.batchSize`: must be at least 1, got 0"
    );
}

#[test]
fn max_in_flight_defaults_to_one_and_is_bounded() {
    let with = |v: &str| json!({ "type": "t", "url": "http://x.org", "extraFields": [{ "name": "maxInFlight", "value": v }] });
    let c = ExternalSyncConfig::from_value(&reference_examples()[0]).unwrap();
    assert_eq!(
        c.settings().unwrap().max_in_flight,
        1,
        "in order unless asked"
    );
    let c = ExternalSyncConfig::from_value(&with("4")).unwrap();
    assert_eq!(c.settings().unwrap().max_in_flight, 4);
    assert_eq!(
        error_of(with("0")),
        "field `extraFields.maxInFlight`: must be at least 1, got 0"
    );
    assert_eq!(
        error_of(with("17")),
        "field `extraFields.maxInFlight`: must be at most 16, got 17"
    );
    assert_eq!(
        error_of(with("many")),
        "field `extraFields.maxInFlight`: must be a whole number, got \"many\" (e.g. \"1\")"
    );
}

#[test]
fn invalid_json_says_where() {
    let e = ExternalSyncConfig::from_json("{\"type\": \"t\",\n \"url\": }").unwrap_err();
    assert!(matches!(e, ConfigError::Json { line: 2, .. }), "{e}");
}

#[test]
fn secrets_are_redacted_in_debug_and_display() {
    for example in reference_examples() {
        let c = ExternalSyncConfig::from_value(&example).unwrap();
        let shown = format!("{c:?} {c} {c:#?}");
        for (name, value) in c.secrets() {
            assert!(!shown.contains(value), "secret {name} leaked in {shown}");
        }
        assert!(
            !shown.contains("sk_prod")
                && !shown.contains("secure_password")
                && !shown.contains("your-api-key"),
            "{shown}"
        );
    }
    let c = ExternalSyncConfig::from_value(&reference_examples()[3]).unwrap();
    assert!(format!("{c}").contains("password=***"));
    assert!(
        format!("{c}").contains("database=production_db"),
        "non-secret fields stay visible"
    );
}

#[test]
fn names_that_carry_credentials_are_secret_without_a_declaration() {
    use dcsync_contract::config::looks_secret;
    for name in [
        "password",
        "pass",
        "db_pwd",
        "passphrase",
        "apiAuth",
        "auth",
        "user.otp",
        "requestSignature",
        "hmac_sig",
        "privateKey",
        "pin",
        "userPin",
        "github-pat",
        "header.X-Request-Id",
        "header.Api-Auth",
        "clientSecret",
        "collectionsToken",
        "sessionId",
    ] {
        assert!(looks_secret(name), "{name} is secret");
    }
    for name in [
        "batchSize",
        "retryAttempts",
        "workflowId",
        "database",
        "syncInterval",
        "timeout",
        "footprint",
        "spinner",
        "passenger",
        "url",
    ] {
        assert!(!looks_secret(name), "{name} is not secret");
    }
}

#[test]
fn top_level_keys_of_the_original_product_are_kept_and_handed_to_the_adapter() {
    // The original's configs may carry keys of their own (an adapter's options): accepted
    // unchanged, given to the adapter as extra fields, and written back where they were.
    let options = json!({"individual": {"fieldMap": {"firstName": "given_name"}}});
    let c = ExternalSyncConfig::from_value(&json!({"externalSync": {
        "type": "openspp-adapter", "url": "https://spp.example.org",
        "opensppAdapterOptions": options, "apiPassword": "hunter2-hunter2",
        "extraFields": [{"name": "database", "value": "prod"}]}}))
    .unwrap();
    assert_eq!(
        c.extra("opensppAdapterOptions"),
        Some(options.to_string().as_str())
    );
    assert!(c.is_secret("apiPassword"), "secret by name wherever it is");
    let back = c.to_json(true);
    assert_eq!(back["opensppAdapterOptions"], options);
    assert_eq!(back["apiPassword"], "***");
    let names: Vec<&str> = back["extraFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["database"], "not duplicated into extraFields");
    assert_eq!(
        c.top_level_keys().collect::<Vec<_>>(),
        ["apiPassword", "opensppAdapterOptions"]
    );
    // An extra field of the same name wins; the top-level value is still written back.
    let both = ExternalSyncConfig::from_value(&json!({"type": "t", "url": "https://x.org",
        "batchSize": "7", "extraFields": [{"name": "batchSize", "value": "9"}]}))
    .unwrap();
    assert_eq!(both.extra("batchSize"), Some("9"));
    assert_eq!(both.to_json(false)["batchSize"], "7");
}

#[test]
fn an_edit_that_sends_a_top_level_secret_back_masked_keeps_it() {
    // The API shows a top-level secret as `***`; an edit that sends that back must keep
    // the stored value where it was, not save a literal `***` over the secret.
    let stored = ExternalSyncConfig::from_value(&json!({"id": "spp", "type": "openspp-adapter",
        "url": "https://spp.example.org", "apiPassword": "hunter2-hunter2", "pin": 4242,
        "extraFields": [{"name": "database", "value": "prod"}]}))
    .unwrap();
    let shown = stored.to_json(true);
    assert_eq!(shown["apiPassword"], "***");
    let mut edit = shown.clone();
    edit["extraFields"][0]["value"] = json!("staging");
    edit["pin"] = json!("***"); // not secret by name: kept only because it was sent masked
    let mut edited = ExternalSyncConfig::from_value(&edit).unwrap();
    edited.keep_secrets_from(&stored).unwrap();
    let saved = edited.to_json(false);
    assert_eq!(saved["apiPassword"], "hunter2-hunter2");
    assert_eq!(saved["pin"], 4242, "the stored value as it was, a number");
    assert_eq!(edited.extra("apiPassword"), Some("hunter2-hunter2"));
    assert_eq!(edited.extra("database"), Some("staging"));

    // Nothing stored to keep: the error names the top-level key itself.
    let mut fresh = ExternalSyncConfig::from_value(&json!({"id": "spp", "type": "openspp-adapter",
        "url": "https://spp.example.org", "apiToken": "***"}))
    .unwrap();
    match fresh.keep_secrets_from(&stored) {
        Err(ConfigError::Invalid { field, message }) => {
            assert_eq!(field, "apiToken");
            assert!(message.contains("no stored value"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
