//! TEST ONLY. A `mock-sync-server`-protocol adapter (type `legacy-mock`) built with plain
//! wit-bindgen against the 1.0.0 contract, as an adapter compiled before 1.1 existed: no
//! `manifest`, no `checks`, and `{{secret:NAME}}` references it builds itself. A 1.1 host
//! must load it and run its push and pull; under the 1.0 rule its API key reaches the
//! config's origin in a header.

wit_bindgen::generate!({
    world: "adapter-world",
    path: "wit",
    generate_all,
});

use datacollect::external_sync::http::{self, Method, Request};
use datacollect::external_sync::types::{
    AdapterConfig, AdapterInfo, FormSubmission, PullPage, PushResult, SyncError, SyncLevel,
    SyncReport,
};
use serde_json::{json, Value};

struct Legacy;

fn internal(m: impl ToString) -> SyncError {
    SyncError::Internal(m.to_string())
}

fn send(method: Method, url: String, body: Option<Vec<u8>>) -> Result<Value, SyncError> {
    let req = Request {
        method,
        url,
        // A 1.0 adapter builds its reference itself, without the run's token.
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-api-key".into(), "{{secret:apiKey}}".into()),
        ],
        body,
        basic_auth: None,
        timeout_ms: None,
    };
    let resp = http::send(&req).map_err(|e| internal(format!("{e:?}")))?;
    if resp.status >= 300 {
        return Err(internal(format!("HTTP {}", resp.status)));
    }
    serde_json::from_slice(&resp.body).map_err(internal)
}

fn level(l: SyncLevel) -> u8 {
    match l {
        SyncLevel::Local => 0,
        SyncLevel::Remote => 1,
        SyncLevel::External => 2,
    }
}

impl exports::datacollect::external_sync::adapter::Guest for Legacy {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            type_: "legacy-mock".into(),
            name: "Adapter built against contract 1.0".into(),
            version: "1.0.0".into(),
            capabilities: vec!["push".into(), "pull".into()],
            config_fields: vec![],
        }
    }

    fn push_batch(
        config: AdapterConfig,
        events: Vec<FormSubmission>,
    ) -> Result<PushResult, SyncError> {
        let data: Vec<Value> = events
            .iter()
            .map(|e| {
                json!({"guid": e.guid, "entityGuid": e.entity_guid, "type": e.type_,
                    "data": serde_json::from_str::<Value>(&e.data).unwrap_or(Value::Null),
                    "timestamp": e.timestamp, "userId": e.user_id, "syncLevel": level(e.sync_level)})
            })
            .collect();
        let body = serde_json::to_vec(&json!({ "data": data })).map_err(internal)?;
        send(Method::Post, config.url, Some(body))?;
        Ok(PushResult {
            accepted: events.len() as u32,
            rejected: vec![],
            remote_ref: None,
        })
    }

    fn pull_since(
        config: AdapterConfig,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<PullPage, SyncError> {
        let mut url = format!("{}?limit={limit}", config.url);
        if let Some(c) = &cursor {
            url.push_str(&format!("&since={c}"));
        }
        let answer = send(Method::Get, url, None)?;
        let events = answer["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| FormSubmission {
                guid: r["guid"].as_str().unwrap_or_default().into(),
                entity_guid: r["entityGuid"].as_str().unwrap_or_default().into(),
                type_: r["type"].as_str().unwrap_or_default().into(),
                data: r["data"].to_string(),
                timestamp: r["timestamp"].as_str().unwrap_or_default().into(),
                user_id: r["userId"].as_str().unwrap_or_default().into(),
                sync_level: SyncLevel::External,
            })
            .collect();
        Ok(PullPage {
            events,
            next_cursor: answer["nextCursor"].as_str().map(str::to_string).or(cursor),
            has_more: answer["hasMore"].as_bool().unwrap_or(false),
        })
    }

    fn sync(_config: AdapterConfig) -> Result<SyncReport, SyncError> {
        Err(internal("no custom sync"))
    }
}

export!(Legacy);
