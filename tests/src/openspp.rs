//! Scaffolding for the OpenSPP tests: an emulated stock OpenSPP, configs for it, and ways
//! to look at what the adapter wrote there.

use datacollect_sync::model::SyncLevel;
use datacollect_sync::settings::RuntimeSettings;
use datacollect_sync::{ExternalSyncConfig, FormSubmission};
use dcsync_emulators::openspp::{OpenSppEmulator, Record, Role};
use serde_json::{json, Value};

/// The database, the sync user (a registrar) and its password.
pub const DB: &str = "openspp";
pub const USER: &str = "sync_user";
pub const PASSWORD: &str = "odoo-PASS-5150";
/// An OpenG2P administrator (`openspp()` adds it).
pub const ADMIN: (&str, &str) = ("odoo_admin", "admin-PASS-8080");
/// The ID type keeping DataCollect guids (the adapter's default `idTypeName`).
pub const ID_TYPE: &str = "DataCollect ID";

/// A stock OpenSPP whose administrator created the ID type, as the operator is told to.
pub async fn openspp() -> OpenSppEmulator {
    let e = openspp_without_id_type().await;
    e.create("g2p.id.type", json!({"name": ID_TYPE}));
    e
}

/// A stock OpenSPP as installed: no ID type for DataCollect.
pub async fn openspp_without_id_type() -> OpenSppEmulator {
    let e = OpenSppEmulator::start("127.0.0.1:0".parse().unwrap(), DB, USER, PASSWORD)
        .await
        .unwrap();
    e.add_user(ADMIN.0, ADMIN.1, Role::Admin);
    e
}

/// A config logging in as `login` / `password`, with `extra` fields.
pub fn openspp_config(
    e: &OpenSppEmulator,
    login: &str,
    password: &str,
    extra: &[(&str, &str)],
) -> ExternalSyncConfig {
    let mut fields = vec![
        json!({"name": "database", "value": DB}),
        json!({"name": "username", "value": login}),
        json!({"name": "password", "value": password}),
    ];
    fields.extend(extra.iter().map(|(n, v)| json!({"name": n, "value": v})));
    ExternalSyncConfig::from_value(
        &json!({"type": "openspp-adapter", "url": e.url(), "extraFields": fields}),
    )
    .unwrap()
}

/// The operator's approval of the adapter's JSON-RPC password placement.
pub fn approved() -> RuntimeSettings {
    crate::placements_approved("openspp-adapter")
}

/// A local event as DataCollect records it.
pub fn event(guid: &str, entity: &str, ty: &str, data: Value) -> FormSubmission {
    FormSubmission {
        guid: guid.into(),
        entity_guid: entity.into(),
        event_type: ty.into(),
        data,
        timestamp: "2025-02-01T08:00:00Z".into(),
        user_id: "field".into(),
        sync_level: SyncLevel::Local,
    }
}

/// The id of the `DataCollect ID` type.
pub fn id_type(e: &OpenSppEmulator) -> Option<i64> {
    e.all("g2p.id.type")
        .into_iter()
        .find(|t| t["name"] == ID_TYPE)
        .and_then(|t| t["id"].as_i64())
}

/// The partner that carries `guid` as its DataCollect ID.
pub fn partner_of(e: &OpenSppEmulator, guid: &str) -> Option<Record> {
    let t = id_type(e)?;
    let reg = e
        .all("g2p.reg.id")
        .into_iter()
        .find(|r| r["id_type"] == t && r["value"] == guid)?;
    e.get("res.partner", reg["partner_id"].as_i64()?)
}

/// The DataCollect IDs a partner carries.
pub fn datacollect_ids(e: &OpenSppEmulator, partner: i64) -> Vec<String> {
    let t = id_type(e);
    e.all("g2p.reg.id")
        .into_iter()
        .filter(|r| r["partner_id"] == partner && r["id_type"].as_i64() == t)
        .filter_map(|r| r["value"].as_str().map(str::to_string))
        .collect()
}

/// One raw JSON-RPC call; the HTTP status and the answer (JSON, or the text).
pub async fn rpc(e: &OpenSppEmulator, service: &str, method: &str, args: Value) -> (u16, Value) {
    let body = json!({"jsonrpc": "2.0", "method": "call", "id": 7,
                      "params": {"service": service, "method": method, "args": args}});
    let resp = reqwest::Client::new()
        .post(format!("{}/jsonrpc", e.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `execute_kw` as the administrator; the answer.
pub async fn as_admin(
    e: &OpenSppEmulator,
    model: &str,
    method: &str,
    args: Value,
    kwargs: Value,
) -> Value {
    let (_, uid) = rpc(
        e,
        "common",
        "authenticate",
        json!([DB, ADMIN.0, ADMIN.1, {}]),
    )
    .await;
    rpc(
        e,
        "object",
        "execute_kw",
        json!([DB, uid["result"], ADMIN.1, model, method, args, kwargs]),
    )
    .await
    .1
}

/// A read-only user (an internal user with no OpenG2P group); its login.
pub fn read_only_user(e: &OpenSppEmulator) -> &'static str {
    e.add_user("viewer", PASSWORD, Role::ReadOnly);
    "viewer"
}

/// `check-connection` of the built adapter for a config logging in as `login`, with the
/// operator's approval of its placements, as `dcsync check --connect` would run it.
pub async fn check_connection(
    e: &OpenSppEmulator,
    login: &str,
    password: &str,
) -> Result<Option<datacollect_sync::adapter::ConnectionCheck>, datacollect_sync::engine::CallError>
{
    use datacollect_sync::host::secrets::SecretPolicy;
    use datacollect_sync::host::{CallContext, HttpClients, HttpPolicy, Secrets};
    let adapter = crate::registry()
        .get("openspp-adapter")
        .expect("built by make adapters");
    let limits = datacollect_sync::limits::Limits::default();
    let secrets = Secrets::new([("password".to_string(), password.to_string())].into());
    let view = datacollect_sync::adapter::AdapterConfigView {
        id: "spp".into(),
        adapter_type: "openspp-adapter".into(),
        url: e.url(),
        auth: None,
        extra_fields: vec![
            ("database".into(), DB.into()),
            ("username".into(), login.into()),
            ("password".into(), secrets.reference("password")),
        ],
        secret_names: vec!["password".into()],
    };
    let clients = HttpClients::new().unwrap();
    let http = HttpPolicy::for_config(
        &clients,
        &e.url(),
        &[],
        std::time::Duration::from_secs(10),
        &limits,
    );
    let ctx = CallContext::new("spp", "openspp-adapter", secrets, http, None, &limits)
        .with_secret_policy(SecretPolicy {
            manifest: adapter.manifest.clone(),
            approved: true,
            other_origins: Default::default(),
        });
    adapter.check_connection(ctx, &view).await.result
}

/// One sync of `store` as `login` (password [`PASSWORD`]) with `extra` fields.
pub async fn sync_as(
    e: &OpenSppEmulator,
    store: &std::sync::Arc<dyn datacollect_sync::EventStore>,
    login: &str,
    extra: &[(&str, &str)],
) -> Result<datacollect_sync::SyncReport, datacollect_sync::SyncError> {
    let config = openspp_config(e, login, PASSWORD, extra);
    let m = crate::manager_with_settings(store, config, &approved()).await;
    m.synchronize(None).await
}

/// Record local events.
pub fn append(store: &std::sync::Arc<dyn datacollect_sync::EventStore>, events: &[FormSubmission]) {
    store
        .append_local(events, &datacollect_sync::EventApplier::new())
        .unwrap();
}
