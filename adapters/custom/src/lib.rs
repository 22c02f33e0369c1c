//! A generic webhook adapter, type `custom-adapter`: the one to copy for your own system.
//!
//! Push: `POST {url}` with `{"events": [...], "batchId": "..."}`. The server answers 2xx,
//! optionally with `{"rejected": [{"guid", "reason"}]}` for events it refuses.
//! Pull: `GET {url}?limit=<n>&since=<cursor>`, answered with
//! `{"events": [...], "next": "<cursor>" | null, "hasMore": bool}`.
//! Auth (`Request::with_config`): with `"auth": "basic"`, the credentials given to the
//! sync, else the `username` and secret `password` extra fields; extra fields named
//! `header.<Name>` become headers.
//!
//! The adapter never sees a secret: it holds references the host fills in when it sends
//! the request, and only to the config's own origin.

use datacollect_adapter_sdk::prelude::*;

struct CustomAdapter;

#[derive(Deserialize, Default)]
struct PushAnswer {
    #[serde(default)]
    rejected: Vec<Rejection>,
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
        .field(FieldSpec::new(
            "username",
            "Basic-auth user, when no credentials are given",
        ))
        .field(FieldSpec::new("password", "Basic-auth password").secret())
        .field(FieldSpec::new(
            "header.<Name>",
            "Any number of extra request headers",
        ))
    }

    fn secret_placements() -> Option<Vec<SecretPlacement>> {
        let basic = |s| SecretPlacement::new(s, [Placement::BasicAuth]);
        Some(vec![
            basic("password"),
            basic("credentials.username"),
            basic("credentials.password"),
        ])
    }

    fn push(config: &Config, events: Vec<Event>) -> Result<PushOutcome, SyncError> {
        let body = json!({ "events": events, "batchId": batch_id(&events) });
        let resp = Request::post(&config.url)
            .with_config(config)
            .json(&body)?
            .send()?;
        let answer: PushAnswer = resp.error_for_status()?.json_or_default()?;
        Ok(PushOutcome::with_rejections(&events, answer.rejected))
    }

    /// The same body, built around the host's encoded batch: the events go on as they
    /// came, with no per-event work.
    fn push_encoded(config: &Config, batch: EncodedBatch) -> Result<PushOutcome, SyncError> {
        let body = format!(
            "{{\"events\":{},\"batchId\":{}}}",
            batch.events,
            serde_json::to_string(&batch.batch_id).unwrap_or_default()
        );
        let resp = Request::post(&config.url)
            .with_config(config)
            .json_text(body)
            .send()?;
        let answer: PushAnswer = resp.error_for_status()?.json_or_default()?;
        PushOutcome::with_rejections_of(&batch, answer.rejected)
    }

    fn pull(config: &Config, cursor: Option<String>, limit: u32) -> Result<PullPage, SyncError> {
        let mut req = Request::get(&config.url).query("limit", limit.to_string());
        if let Some(c) = &cursor {
            req = req.query("since", c);
        }
        let answer: PullAnswer = req.with_config(config).send()?.error_for_status()?.json()?;
        Ok(PullPage {
            events: answer.events,
            next_cursor: answer.next.or(cursor),
            has_more: answer.has_more,
        })
    }
}

export_adapter!(CustomAdapter);
