//! A generic webhook adapter, type `custom-adapter`: the one to copy for your own system.
//!
//! Push: `POST {url}` with `{"events": [...], "batchId": "..."}`. The server answers 2xx,
//! optionally with `{"rejected": [{"guid", "reason"}]}` for events it refuses.
//! Pull: `GET {url}?since=<cursor>&limit=<n>`, answered with
//! `{"events": [...], "next": "<cursor>" | null, "hasMore": bool}`.
//! Auth: with `"auth": "basic"`, the credentials given to the sync, else the `username`
//! and secret `password` extra fields. Extra fields named `header.<Name>` become headers.
//!
//! The adapter never sees a secret: `Config::secret_ref` gives a reference the host fills
//! in when it sends the request, and only to the config's own origin.

use datacollect_adapter_sdk::http::{encode_query, Request};
use datacollect_adapter_sdk::{
    batch_id, export_adapter, Adapter, AdapterInfo, Config, Event, PullPage, PushOutcome,
    Rejection, SyncError,
};
use serde::Deserialize;
use serde_json::json;

struct CustomAdapter;

/// Auth and custom headers, the same for every request.
fn prepare(config: &Config, mut req: Request) -> Request {
    for (name, value) in &config.extra_fields {
        if let Some(header) = name.strip_prefix("header.") {
            req = req.header(header, value.clone()); // a secret header is a reference here
        }
    }
    if config.auth.as_deref() == Some("basic") {
        req = if config.has_secret("credentials.password") {
            req.basic_auth(
                Config::secret_ref("credentials.username"),
                Config::secret_ref("credentials.password"),
            )
        } else {
            req.basic_auth(
                config.extra("username").unwrap_or_default(),
                Config::secret_ref("password"),
            )
        };
    }
    req
}

#[derive(Deserialize, Default)]
struct PushAnswer {
    #[serde(default)]
    rejected: Vec<Refused>,
}

#[derive(Deserialize)]
struct Refused {
    guid: String,
    reason: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PullAnswer {
    events: Vec<Event>,
    next: Option<String>,
    #[serde(default)]
    has_more: bool,
}

impl Adapter for CustomAdapter {
    fn describe() -> AdapterInfo {
        AdapterInfo::new(
            "custom-adapter",
            "Generic webhook",
            env!("CARGO_PKG_VERSION"),
        )
        .field(
            "username",
            false,
            false,
            "Basic-auth user (when auth is basic and no credentials are given)",
        )
        .field("password", false, true, "Basic-auth password")
        .field(
            "header.<Name>",
            false,
            false,
            "Any number of extra request headers",
        )
    }

    fn push(config: &Config, events: Vec<Event>) -> Result<PushOutcome, SyncError> {
        let body = json!({ "events": events, "batchId": batch_id(&events) });
        let resp = prepare(config, Request::post(&config.url))
            .json(&body)?
            .send()?
            .error_for_status()?;
        // An empty 2xx body means every event was accepted.
        let answer: PushAnswer = if resp.body.is_empty() {
            PushAnswer::default()
        } else {
            resp.json()?
        };
        let rejected: Vec<Rejection> = answer
            .rejected
            .into_iter()
            .map(|r| Rejection {
                guid: r.guid,
                reason: r.reason,
            })
            .collect();
        Ok(PushOutcome {
            accepted: (events.len() - rejected.len()) as u32,
            rejected,
            remote_ref: None,
        })
    }

    fn pull(config: &Config, cursor: Option<String>, limit: u32) -> Result<PullPage, SyncError> {
        let mut url = format!("{}?limit={limit}", config.url);
        if let Some(c) = &cursor {
            url.push_str(&format!("&since={}", encode_query(c)));
        }
        let answer: PullAnswer = prepare(config, Request::get(url))
            .send()?
            .error_for_status()?
            .json()?;
        Ok(PullPage {
            events: answer.events,
            next_cursor: answer.next.or(cursor),
            has_more: answer.has_more,
        })
    }
}

export_adapter!(CustomAdapter);
