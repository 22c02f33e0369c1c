//! Adapter for the DataCollect mock sync server (`dcsync mock-server`), type
//! `mock-sync-server`.
//!
//! Push: `POST {url}` with `{"data": [events…]}` and an `x-batch-id` header; the server
//! answers `{"received": n, "duplicates": d, "rejected": [{guid, reason}…]}`.
//! Pull: `GET {url}?since=<cursor>&limit=<n>`; the server answers
//! `{"data": [events…], "nextCursor": "…", "hasMore": bool}`.

use datacollect_adapter_sdk::http::{encode_query, Request};
use datacollect_adapter_sdk::{
    batch_id, export_adapter, Adapter, AdapterInfo, Config, Event, PullPage, PushOutcome,
    Rejection, SyncError,
};
use serde::{Deserialize, Serialize};

struct MockSyncServer;

#[derive(Serialize)]
struct PushBody<'a> {
    data: &'a [Event],
}

#[derive(Deserialize)]
struct PushAnswer {
    #[serde(default)]
    rejected: Vec<Rejection>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PullAnswer {
    data: Vec<Event>,
    next_cursor: Option<String>,
    #[serde(default)]
    has_more: bool,
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
        let answer: PushAnswer = Request::post(&config.url)
            .header("x-batch-id", batch_id(&events))
            .json(&PushBody { data: &events })?
            .send()?
            .error_for_status()?
            .json()?;
        Ok(PushOutcome::with_rejections(&events, answer.rejected))
    }

    fn pull(config: &Config, cursor: Option<String>, limit: u32) -> Result<PullPage, SyncError> {
        let mut url = format!("{}?limit={limit}", config.url);
        if let Some(c) = &cursor {
            url.push_str(&format!("&since={}", encode_query(c)));
        }
        let answer: PullAnswer = Request::get(url).send()?.error_for_status()?.json()?;
        Ok(PullPage {
            events: answer.data,
            next_cursor: answer.next_cursor.or(cursor),
            has_more: answer.has_more,
        })
    }
}

export_adapter!(MockSyncServer);
