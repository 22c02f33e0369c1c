//! OpenSPP adapter, type `openspp-adapter`, over Odoo JSON-RPC at `{url}/jsonrpc`.
//!
//! Login with `database`, `username` and the secret `password` (or the credentials given to
//! the sync). Push: each individual or group event creates or updates a `res.partner`
//! registrant, found by the DataCollect guid it carries (`x_datacollect_guid`), so a retried
//! batch never creates a duplicate; group members become `g2p.group.membership` records.
//! An item OpenSPP refuses (validation error) is reported rejected, never skipped. Pull:
//! registrants changed since the cursor, ordered by `(write_date, id)` so pages are stable
//! even when many records share a `write_date` second.

use datacollect_adapter_sdk::http::Request;
use datacollect_adapter_sdk::{
    export_adapter, stable_id, Adapter, AdapterInfo, Config, Data, Event, FieldSpec, Placement,
    PullPage, PushOutcome, Rejection, SecretPlacement, SyncError, SyncLevel,
};
use serde_json::{json, Value};

struct OpenSpp;

const PARTNER: &str = "res.partner";
const MEMBERSHIP: &str = "g2p.group.membership";

/// An Odoo error answer: its exception name and message.
struct OdooError {
    name: String,
    message: String,
}

/// One authenticated JSON-RPC session for the length of a call.
struct Session<'c> {
    config: &'c Config,
    db: String,
    uid: i64,
    password: String,
}

fn call(
    config: &Config,
    service: &str,
    method: &str,
    args: Value,
) -> Result<Result<Value, OdooError>, SyncError> {
    let body = json!({"jsonrpc": "2.0", "method": "call", "params": {"service": service, "method": method, "args": args}, "id": 1});
    let resp = Request::post(format!("{}/jsonrpc", config.url.trim_end_matches('/')))
        .json(&body)?
        .send()?
        .error_for_status()?;
    let answer: Value = resp.json()?;
    if let Some(err) = answer.get("error") {
        return Ok(Err(OdooError {
            name: err["data"]["name"]
                .as_str()
                .unwrap_or("unknown")
                .to_string(),
            message: err["data"]["message"]
                .as_str()
                .or(err["message"].as_str())
                .unwrap_or("Odoo error")
                .to_string(),
        }));
    }
    Ok(Ok(answer.get("result").cloned().unwrap_or(Value::Null)))
}

impl<'c> Session<'c> {
    fn login(config: &'c Config) -> Result<Self, SyncError> {
        let db = config
            .extra("database")
            .ok_or_else(|| SyncError::Config("extra field `database` is required".into()))?
            .to_string();
        let (user, password) = if config.has_secret("credentials.password") {
            (
                Config::secret_ref("credentials.username"),
                Config::secret_ref("credentials.password"),
            )
        } else {
            let user = config
                .extra("username")
                .ok_or_else(|| SyncError::Config("extra field `username` is required".into()))?;
            if !config.has_secret("password") {
                return Err(SyncError::Config(
                    "extra field `password` is required".into(),
                ));
            }
            (user.to_string(), Config::secret_ref("password"))
        };
        match call(
            config,
            "common",
            "authenticate",
            json!([db, user, password, {}]),
        )? {
            Ok(Value::Number(uid)) => Ok(Session {
                config,
                db,
                uid: uid.as_i64().unwrap_or_default(),
                password,
            }),
            Ok(_) => Err(SyncError::Unauthorized(format!(
                "OpenSPP refused the login on database {db:?}: check username and password"
            ))),
            Err(e) => Err(classify(e)),
        }
    }

    /// `execute_kw`; an Odoo error comes back as `Ok(Err)` for the caller to judge.
    fn execute(
        &self,
        model: &str,
        method: &str,
        args: Value,
        kwargs: Value,
    ) -> Result<Result<Value, OdooError>, SyncError> {
        call(
            self.config,
            "object",
            "execute_kw",
            json!([
                self.db,
                self.uid,
                self.password,
                model,
                method,
                args,
                kwargs
            ]),
        )
    }

    /// The id of the registrant carrying this DataCollect guid.
    fn find(&self, guid: &str) -> Result<Option<i64>, SyncError> {
        let found = self
            .execute(
                PARTNER,
                "search_read",
                json!([[["x_datacollect_guid", "=", guid]]]),
                json!({"fields": ["id"], "limit": 1}),
            )?
            .map_err(classify)?;
        Ok(found.get(0).and_then(|r| r["id"].as_i64()))
    }

    /// Create or update the registrant for `guid`; an Odoo refusal is `Ok(Err(reason))`.
    fn upsert(&self, guid: &str, vals: Value) -> Result<Result<i64, String>, SyncError> {
        let existing = self.find(guid)?;
        let answer = match existing {
            Some(id) => self
                .execute(PARTNER, "write", json!([[id], vals]), json!({}))?
                .map(|_| id),
            None => {
                let mut vals = vals;
                vals["x_datacollect_guid"] = json!(guid);
                self.execute(PARTNER, "create", json!([vals]), json!({}))?
                    .map(|id| id.as_i64().unwrap_or_default())
            }
        };
        refusal(answer)
    }

    fn ensure_membership(
        &self,
        group: i64,
        individual: i64,
    ) -> Result<Result<(), String>, SyncError> {
        let domain = json!([[["group", "=", group], ["individual", "=", individual]]]);
        let found = self
            .execute(
                MEMBERSHIP,
                "search_read",
                domain,
                json!({"fields": ["id"], "limit": 1}),
            )?
            .map_err(classify)?;
        if found.as_array().is_some_and(|a| !a.is_empty()) {
            return Ok(Ok(()));
        }
        refusal(
            self.execute(
                MEMBERSHIP,
                "create",
                json!([{"group": group, "individual": individual}]),
                json!({}),
            )?
            .map(|_| ()),
        )
    }

    /// Apply one event to OpenSPP; `Ok(Err(reason))` when OpenSPP refuses it.
    fn push_event(&self, e: &Event) -> Result<Result<(), String>, SyncError> {
        let name =
            |d: &Value, default: &str| d.get("name").cloned().unwrap_or_else(|| json!(default));
        let payload = e.data.value();
        match e.event_type.as_str() {
            "create-individual"
            | "update-individual"
            | "create-group"
            | "update-group"
            | "upsert-external-entity" => {
                let group = e.event_type.ends_with("group") || payload["entityType"] == "group";
                let mut data = payload.clone();
                let members = data.as_object_mut().and_then(|d| d.remove("members"));
                let vals = json!({
                    "name": name(&data, if group { "Unnamed Group" } else { "Unnamed Individual" }),
                    "is_registrant": true,
                    "is_group": group,
                    "x_datacollect_data": data.to_string(),
                });
                let id = match self.upsert(&e.entity_guid, vals)? {
                    Ok(id) => id,
                    Err(reason) => return Ok(Err(reason)),
                };
                for m in members
                    .as_ref()
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Err(reason) = self.add_member(id, m)? {
                        return Ok(Err(reason));
                    }
                }
                Ok(Ok(()))
            }
            "add-member" => {
                let Some(group) = self.find(&e.entity_guid)? else {
                    return Ok(Err(format!(
                        "group {} is not in OpenSPP yet",
                        e.entity_guid
                    )));
                };
                match payload["members"].get(0) {
                    Some(m) => self.add_member(group, m),
                    None => Ok(Err("add-member needs data.members[0]".into())),
                }
            }
            "delete-entity" => match self.find(&e.entity_guid)? {
                Some(id) => refusal(
                    self.execute(
                        PARTNER,
                        "write",
                        json!([[id], {"active": false}]),
                        json!({}),
                    )?
                    .map(|_| ()),
                ),
                None => Ok(Ok(())),
            },
            other => Ok(Err(format!(
                "the OpenSPP adapter does not handle {other:?} events"
            ))),
        }
    }

    fn add_member(&self, group: i64, member: &Value) -> Result<Result<(), String>, SyncError> {
        let Some(guid) = member["guid"].as_str() else {
            return Ok(Err("a member has no guid".into()));
        };
        let is_group = member["type"] == "group";
        let vals = json!({
            "name": member.get("name").cloned().unwrap_or_else(|| json!("Unnamed Individual")),
            "is_registrant": true,
            "is_group": is_group,
        });
        let individual = match self.find(guid)? {
            Some(id) => id,
            None => match self.upsert(guid, vals)? {
                Ok(id) => id,
                Err(reason) => return Ok(Err(reason)),
            },
        };
        self.ensure_membership(group, individual)
    }
}

/// Odoo refusing an item (validation, missing record) is the item's problem; access
/// denied is the run's.
fn refusal<T>(answer: Result<T, OdooError>) -> Result<Result<T, String>, SyncError> {
    match answer {
        Ok(v) => Ok(Ok(v)),
        Err(e) if e.name.ends_with("AccessDenied") => Err(classify(e)),
        Err(e) => Ok(Err(format!("{}: {}", e.name, e.message))),
    }
}

fn classify(e: OdooError) -> SyncError {
    if e.name.ends_with("AccessDenied") {
        SyncError::Unauthorized(format!(
            "OpenSPP denied access ({}): check username, password and database",
            e.message
        ))
    } else {
        SyncError::Internal(format!("OpenSPP error {}: {}", e.name, e.message))
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) as RFC 3339.
fn rfc3339(write_date: &str) -> String {
    format!("{}Z", write_date.replacen(' ', "T", 1))
}

impl Adapter for OpenSpp {
    fn describe() -> AdapterInfo {
        AdapterInfo::new(
            "openspp-adapter",
            "OpenSPP (Odoo JSON-RPC)",
            env!("CARGO_PKG_VERSION"),
        )
        .field(FieldSpec::new("database", "Odoo database name").required())
        .field(FieldSpec::new(
            "username",
            "Login of the sync user (or pass credentials to the sync)",
        ))
        .field(FieldSpec::new("password", "Password of the sync user").secret())
    }

    fn secret_placements() -> Option<Vec<SecretPlacement>> {
        // Odoo's JSON-RPC takes the password as the third argument of `authenticate`
        // and of every `execute_kw`, and the login as the second of `authenticate`.
        let at = |pointer: &str| Placement::JsonBody {
            path: "/jsonrpc".into(),
            pointer: pointer.into(),
        };
        Some(vec![
            SecretPlacement::new("password", [at("/params/args/2")]),
            SecretPlacement::new("credentials.password", [at("/params/args/2")]),
            SecretPlacement::new("credentials.username", [at("/params/args/1")]),
        ])
    }

    fn push(config: &Config, events: Vec<Event>) -> Result<PushOutcome, SyncError> {
        let session = Session::login(config)?;
        let mut rejected = Vec::new();
        for e in &events {
            if let Err(reason) = session.push_event(e)? {
                rejected.push(Rejection {
                    guid: e.guid.clone(),
                    reason,
                });
            }
        }
        Ok(PushOutcome {
            accepted: (events.len() - rejected.len()) as u32,
            rejected,
            remote_ref: None,
        })
    }

    fn pull(config: &Config, cursor: Option<String>, limit: u32) -> Result<PullPage, SyncError> {
        let session = Session::login(config)?;
        let mut domain = vec![json!(["is_registrant", "=", true])];
        // The cursor is `write_date|id` of the last record seen.
        if let Some((wd, id)) = cursor.as_deref().and_then(|c| c.split_once('|')) {
            let id: i64 = id
                .parse()
                .map_err(|_| SyncError::Internal(format!("bad cursor {cursor:?}")))?;
            domain.extend([
                json!("|"),
                json!(["write_date", ">", wd]),
                json!("&"),
                json!(["write_date", "=", wd]),
                json!(["id", ">", id]),
            ]);
        }
        let kwargs = json!({
            "fields": ["id", "name", "is_group", "write_date", "x_datacollect_guid", "active"],
            "limit": limit, "order": "write_date asc, id asc",
        });
        let rows = session
            .execute(PARTNER, "search_read", json!([domain]), kwargs)?
            .map_err(classify)?;
        let rows = rows.as_array().cloned().unwrap_or_default();
        let has_more = rows.len() as u32 == limit;
        // Mid-sync, resume exactly after the last record. At the end, resume at the start of
        // its second: write_date has one-second resolution, so a record written later in
        // that same second could carry a lower id. The overlap is re-pulled as duplicates.
        let next_cursor = rows
            .last()
            .map(|r| {
                let wd = r["write_date"].as_str().unwrap_or_default();
                if has_more {
                    format!("{wd}|{}", r["id"])
                } else {
                    format!("{wd}|0")
                }
            })
            .or(cursor);
        let events = rows
            .iter()
            .map(|r| {
                let id = r["id"].as_i64().unwrap_or_default();
                let write_date = r["write_date"].as_str().unwrap_or_default();
                let entity = r["x_datacollect_guid"]
                    .as_str()
                    .map_or_else(|| format!("openspp:{id}"), str::to_string);
                let group = r["is_group"] == json!(true);
                let data = json!({
                    "name": r["name"], "externalId": format!("openspp:{id}"),
                    "entityType": if group { "group" } else { "individual" },
                    "active": r["active"] != json!(false),
                });
                Event {
                    // Stable for this version of the record (write_date alone is too coarse:
                    // two writes in one second share it): a re-pull is a no-op.
                    guid: format!(
                        "openspp:{id}:{}",
                        stable_id(&[write_date, &data.to_string()])
                    ),
                    entity_guid: entity,
                    event_type: "upsert-external-entity".into(),
                    data: Data::from_value(&data),
                    timestamp: rfc3339(write_date),
                    user_id: "openspp".into(),
                    sync_level: SyncLevel::External,
                }
            })
            .collect();
        Ok(PullPage {
            events,
            next_cursor,
            has_more,
        })
    }
}

export_adapter!(OpenSpp);
