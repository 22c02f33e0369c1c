//! The benchmark baseline: the mock-sync-server adapter's logic in native Rust, driven by
//! the same manager loop as the component. Not a way to ship adapters.

use datacollect_sync::adapter::{
    AdapterConfigView, AdapterError, AdapterEvent, AdapterInfo, Capability, CustomSyncReport,
    PullPage, PushResult, Rejection,
};
use datacollect_sync::engine::{AdapterCalls, CallError, CallFuture, CallOutcome, CallStats};
use datacollect_sync::host::CallContext;
use datacollect_sync::limits::Limits;
use datacollect_sync::manager::AdapterSource;
use datacollect_sync::model::FormSubmission;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Instant;

pub struct NativeMockAdapter {
    info: AdapterInfo,
    client: reqwest::Client,
}

impl NativeMockAdapter {
    pub fn new() -> Self {
        NativeMockAdapter {
            info: AdapterInfo {
                adapter_type: "mock-sync-server".into(),
                name: "native baseline".into(),
                version: "native".into(),
                capabilities: vec![Capability::Push, Capability::Pull],
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

/// The native adapter as the manager's only adapter.
pub struct NativeSource(pub Arc<NativeMockAdapter>);

impl AdapterSource for NativeSource {
    fn adapter(&self, adapter_type: &str) -> Option<Arc<dyn AdapterCalls>> {
        (adapter_type == self.0.info.adapter_type).then(|| self.0.clone() as Arc<dyn AdapterCalls>)
    }

    fn limits(&self) -> Limits {
        Limits::default()
    }
}

fn from_json(v: &Value) -> AdapterEvent {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    AdapterEvent {
        guid: s("guid"),
        entity_guid: s("entityGuid"),
        event_type: s("type"),
        data: v["data"].to_string(),
        timestamp: s("timestamp"),
        user_id: s("userId"),
    }
}

fn internal(m: impl ToString) -> CallError {
    CallError::Adapter(AdapterError::Internal(m.to_string()))
}

fn outcome<T>(result: Result<T, CallError>, ctx: CallContext, started: Instant) -> CallOutcome<T> {
    CallOutcome {
        result,
        context: Some(ctx),
        stats: CallStats {
            duration: started.elapsed(),
            ..CallStats::default()
        },
    }
}

impl AdapterCalls for NativeMockAdapter {
    fn info(&self) -> &AdapterInfo {
        &self.info
    }

    fn push_batch<'a>(
        &'a self,
        ctx: CallContext,
        config: &'a AdapterConfigView,
        events: &'a [FormSubmission],
    ) -> CallFuture<'a, PushResult> {
        Box::pin(async move {
            let started = Instant::now();
            let result = async {
                let mut h = Sha256::new();
                for e in events {
                    h.update(e.guid.as_bytes());
                    h.update(b"\n");
                }
                #[derive(serde::Serialize)]
                struct Body<'a> {
                    data: &'a [FormSubmission],
                }
                let resp = self
                    .client
                    .post(&config.url)
                    .header("x-batch-id", hex::encode(&h.finalize()[..16]))
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(&Body { data: events }).map_err(internal)?)
                    .send()
                    .await
                    .map_err(internal)?;
                let answer: Value = serde_json::from_slice(&resp.bytes().await.map_err(internal)?)
                    .map_err(internal)?;
                let rejected: Vec<Rejection> = answer["rejected"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| Rejection {
                        guid: r["guid"].as_str().unwrap_or_default().into(),
                        reason: r["reason"].as_str().unwrap_or_default().into(),
                    })
                    .collect();
                Ok(PushResult {
                    accepted: events.len().saturating_sub(rejected.len()) as u32,
                    rejected,
                    remote_ref: None,
                })
            }
            .await;
            outcome(result, ctx, started)
        })
    }

    fn pull_since<'a>(
        &'a self,
        ctx: CallContext,
        config: &'a AdapterConfigView,
        cursor: Option<String>,
        limit: u32,
    ) -> CallFuture<'a, PullPage> {
        Box::pin(async move {
            let started = Instant::now();
            let result = async {
                let mut url = format!("{}?limit={limit}", config.url);
                if let Some(c) = &cursor {
                    url.push_str(&format!("&since={c}"));
                }
                let resp = self.client.get(url).send().await.map_err(internal)?;
                let answer: Value = serde_json::from_slice(&resp.bytes().await.map_err(internal)?)
                    .map_err(internal)?;
                Ok(PullPage {
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
            outcome(result, ctx, started)
        })
    }

    fn sync<'a>(
        &'a self,
        ctx: CallContext,
        _config: &'a AdapterConfigView,
    ) -> CallFuture<'a, CustomSyncReport> {
        Box::pin(async move {
            outcome(
                Err(internal("the baseline has no custom sync")),
                ctx,
                Instant::now(),
            )
        })
    }
}
