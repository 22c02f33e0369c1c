//! The benchmark baseline: the mock-sync-server adapter's logic in native Rust, driven by
//! the same manager loop as the component. Not a way to ship adapters.

use datacollect_sync::engine::bindings::types as wit;
use datacollect_sync::engine::{AdapterCalls, CallFuture, CallOutcome};
use datacollect_sync::host::CallContext;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub struct NativeMockAdapter {
    info: wit::AdapterInfo,
    client: reqwest::Client,
}

impl NativeMockAdapter {
    pub fn new() -> Self {
        NativeMockAdapter {
            info: wit::AdapterInfo {
                type_: "mock-sync-server".into(),
                name: "native baseline".into(),
                version: "native".into(),
                capabilities: vec!["push".into(), "pull".into()],
                config_fields: Vec::new(),
            },
            client: reqwest::Client::new(),
        }
    }
}

impl Default for NativeMockAdapter {
    fn default() -> Self {
        Self::new()
    }
}

fn level(l: wit::SyncLevel) -> u8 {
    match l {
        wit::SyncLevel::Local => 0,
        wit::SyncLevel::Remote => 1,
        wit::SyncLevel::External => 2,
    }
}

/// An event in its wire shape, with its data passed through as the JSON text it is (as
/// the SDK does).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct WireEvent<'a> {
    guid: &'a str,
    entity_guid: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    data: &'a serde_json::value::RawValue,
    timestamp: &'a str,
    user_id: &'a str,
    sync_level: u8,
}

fn wire(e: &wit::FormSubmission) -> Result<WireEvent<'_>, serde_json::Error> {
    Ok(WireEvent {
        guid: &e.guid,
        entity_guid: &e.entity_guid,
        event_type: &e.type_,
        data: serde_json::from_str(&e.data)?,
        timestamp: &e.timestamp,
        user_id: &e.user_id,
        sync_level: level(e.sync_level),
    })
}

fn from_json(v: &Value) -> wit::FormSubmission {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    wit::FormSubmission {
        guid: s("guid"),
        entity_guid: s("entityGuid"),
        type_: s("type"),
        data: v["data"].to_string(),
        timestamp: s("timestamp"),
        user_id: s("userId"),
        sync_level: wit::SyncLevel::External,
    }
}

fn internal(m: impl ToString) -> wit::SyncError {
    wit::SyncError::Internal(m.to_string())
}

impl AdapterCalls for NativeMockAdapter {
    fn info(&self) -> &wit::AdapterInfo {
        &self.info
    }

    fn push_batch<'a>(
        &'a self,
        ctx: CallContext,
        config: &'a wit::AdapterConfig,
        events: &'a [wit::FormSubmission],
    ) -> CallFuture<'a, wit::PushResult> {
        Box::pin(async move {
            let result = async {
                let mut h = Sha256::new();
                for e in events {
                    h.update(e.guid.as_bytes());
                    h.update(b"\n");
                }
                #[derive(serde::Serialize)]
                struct Body<'a> {
                    data: Vec<WireEvent<'a>>,
                }
                let body = Body {
                    data: events
                        .iter()
                        .map(wire)
                        .collect::<Result<_, _>>()
                        .map_err(internal)?,
                };
                let resp = self
                    .client
                    .post(&config.url)
                    .header("x-batch-id", hex::encode(&h.finalize()[..16]))
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(&body).map_err(internal)?)
                    .send()
                    .await
                    .map_err(internal)?;
                let answer: Value = serde_json::from_slice(&resp.bytes().await.map_err(internal)?)
                    .map_err(internal)?;
                let rejected: Vec<wit::Rejection> = answer["rejected"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| wit::Rejection {
                        guid: r["guid"].as_str().unwrap_or_default().into(),
                        reason: r["reason"].as_str().unwrap_or_default().into(),
                    })
                    .collect();
                Ok(wit::PushResult {
                    accepted: (events.len() - rejected.len()) as u32,
                    rejected,
                    remote_ref: None,
                })
            }
            .await;
            CallOutcome {
                result: Ok(result),
                context: Some(ctx),
            }
        })
    }

    fn pull_since<'a>(
        &'a self,
        ctx: CallContext,
        config: &'a wit::AdapterConfig,
        cursor: Option<String>,
        limit: u32,
    ) -> CallFuture<'a, wit::PullPage> {
        Box::pin(async move {
            let result = async {
                let mut url = format!("{}?limit={limit}", config.url);
                if let Some(c) = &cursor {
                    url.push_str(&format!("&since={c}"));
                }
                let resp = self.client.get(url).send().await.map_err(internal)?;
                let answer: Value = serde_json::from_slice(&resp.bytes().await.map_err(internal)?)
                    .map_err(internal)?;
                Ok(wit::PullPage {
                    events: answer["data"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(from_json)
                        .collect(),
                    next_cursor: answer["nextCursor"].as_str().map(str::to_string).or(cursor),
                    has_more: answer["hasMore"].as_bool().unwrap_or(false),
                })
            }
            .await;
            CallOutcome {
                result: Ok(result),
                context: Some(ctx),
            }
        })
    }

    fn sync<'a>(
        &'a self,
        ctx: CallContext,
        _config: &'a wit::AdapterConfig,
    ) -> CallFuture<'a, wit::SyncReport> {
        Box::pin(async move {
            CallOutcome {
                result: Ok(Err(internal("the baseline has no custom sync"))),
                context: Some(ctx),
            }
        })
    }
}
