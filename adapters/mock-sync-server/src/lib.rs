//! Adapter for the DataCollect mock sync server (`dcsync mock-server`), type
//! `mock-sync-server`, and for endpoints built for the original DataCollect adapter of
//! that type.
//!
//! Push: `POST {url}` with `{"data": [events…]}` and an `x-batch-id` header. The mock
//! server answers `{"received": n, "duplicates": d, "rejected": [{guid, reason}…]}`; an
//! endpoint built for the original answers anything else (a bare `ok`, `{}`): any 2xx
//! without rejections delivers the batch. A body that starts like JSON but does not parse
//! is a protocol error (retried, then recorded).
//!
//! Pull: `GET {url}?since=<cursor>&limit=<n>` (`since=` empty on the first pull, as the
//! original sent it). The mock server answers `{"data": [events…], "nextCursor": "…",
//! "hasMore": bool}`; an endpoint built for the original answers one bare JSON array of
//! records `{id, timestamp, …}` (idpass-data-collect@5478720, `MockSyncServerAdapter`):
//! each becomes an upsert of the entity `id` with the record as its data, and the cursor
//! becomes the newest `timestamp` (compared as strings, as the original did).

use datacollect_adapter_sdk::http::{encode_query, Request};
use datacollect_adapter_sdk::{
    batch_id, export_adapter, Adapter, AdapterInfo, Config, Data, EncodedBatch, Event, PullPage,
    PushOutcome, Rejection, SyncError, SyncLevel,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

struct MockSyncServer;

#[derive(Serialize)]
struct PushBody<'a> {
    data: &'a [Event],
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PullAnswer {
    data: Vec<Event>,
    next_cursor: Option<String>,
    #[serde(default)]
    has_more: bool,
}

/// A record of the original shape as an event; its guid is left to the host (derived
/// from the config, entity, type and data, so a re-pull applies nothing).
fn original_record(record: Value) -> Event {
    let entity = match &record["id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    Event {
        guid: String::new(),
        entity_guid: entity,
        event_type: "upsert-external-entity".into(),
        timestamp: record["timestamp"].as_str().unwrap_or_default().to_string(),
        data: Data::from_value(&record),
        user_id: "mock-sync-server".into(),
        sync_level: SyncLevel::External,
    }
}

impl Adapter for MockSyncServer {
    fn describe() -> AdapterInfo {
        AdapterInfo::new(
            "mock-sync-server",
            "DataCollect mock sync server",
            env!("CARGO_PKG_VERSION"),
        )
    }

    fn push(config: &Config, events: Vec<Event>) -> Result<PushOutcome, SyncError> {
        let request = Request::post(&config.url).json(&PushBody { data: &events })?;
        let rejected = deliver(request, &batch_id(&events))?;
        Ok(PushOutcome::with_rejections(&events, rejected))
    }

    /// The same request, built around the host's encoded batch: no per-event work.
    fn push_encoded(config: &Config, batch: EncodedBatch) -> Result<PushOutcome, SyncError> {
        let body = format!("{{\"data\":{}}}", batch.events);
        let rejected = deliver(Request::post(&config.url).json_text(body), &batch.batch_id)?;
        PushOutcome::with_rejections_of(&batch, rejected)
    }

    fn pull(config: &Config, cursor: Option<String>, limit: u32) -> Result<PullPage, SyncError> {
        let since = cursor.as_deref().unwrap_or_default();
        let url = format!("{}?since={}&limit={limit}", config.url, encode_query(since));
        let resp = Request::get(url).send()?.error_for_status()?;
        let answer: Value = resp.json()?;
        if let Value::Array(records) = answer {
            let newest = records
                .iter()
                .filter_map(|r| r["timestamp"].as_str())
                .max()
                .map(str::to_string);
            let next_cursor = match (newest, cursor) {
                (Some(n), Some(c)) => Some(n.max(c)),
                (n, c) => n.or(c),
            };
            return Ok(PullPage {
                events: records.into_iter().map(original_record).collect(),
                next_cursor,
                has_more: false,
            });
        }
        let answer: PullAnswer = serde_json::from_value(answer).map_err(|e| {
            SyncError::transient(format!(
                "protocol: the pull answer is neither a page {{data, nextCursor, hasMore}} nor an array of records: {e}"
            ))
        })?;
        Ok(PullPage {
            events: answer.data,
            next_cursor: answer.next_cursor.or(cursor),
            has_more: answer.has_more,
        })
    }
}

/// Send one push request with its batch id; the receiver's rejections, if it listed any.
fn deliver(request: Request, batch_id: &str) -> Result<Vec<Rejection>, SyncError> {
    let resp = request
        .header("x-batch-id", batch_id)
        .send()?
        .error_for_status()?;
    let looks_json = resp
        .body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{' || *b == b'[');
    let rejected: Vec<Rejection> = if looks_json {
        let answer: Value = resp.json()?;
        match answer.get("rejected") {
            Some(r) => serde_json::from_value(r.clone()).map_err(|e| {
                SyncError::transient(format!(
                    "protocol: the answer's `rejected` is not a list of {{guid, reason}}: {e}"
                ))
            })?,
            None => Vec::new(),
        }
    } else {
        Vec::new()
    };
    Ok(rejected)
}

export_adapter!(MockSyncServer);
