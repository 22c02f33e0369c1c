//! OpenFn Lightning adapter, type `openfn-adapter`.
//!
//! Push: `POST {url}` (a webhook trigger, `…/i/{id}`) with `{"entities": [events…],
//! "batchId": …}`, authenticated by the `apiKey` extra field as `x-api-key`, or by HTTP
//! basic auth when `auth` is `basic`. Batches are bounded in bytes (`maxBatchBytes`) as
//! well as in count; a 413 or a 422 splits the batch to isolate what the server refuses.
//! Pull (when `collectionName` is set): `GET {collectionsUrl}/collections/{name}?cursor=&limit=`
//! with `Authorization: Bearer` the `collectionsToken`, each item becoming an event.

use datacollect_adapter_sdk::http::{encode_query, Request, Response};
use datacollect_adapter_sdk::{
    batch_id, export_adapter, Adapter, AdapterInfo, Config, Data, Event, FieldSpec, Placement,
    PullPage, PushOutcome, Rejection, SecretPlacement, SyncError, SyncLevel,
};
use serde::Deserialize;
use serde_json::json;

/// OpenFn's default request size limit is 10 MB; stay under it.
const DEFAULT_MAX_BATCH_BYTES: u32 = 9_000_000;

struct OpenFn;

/// What a list of events came to: accepted ones, refused ones, and the work orders.
#[derive(Default)]
struct Delivery {
    accepted: u32,
    rejected: Vec<Rejection>,
    refs: Vec<String>,
}

fn auth(config: &Config, req: Request) -> Request {
    if config.auth.as_deref() == Some("basic") {
        let (user, pass) = if config.has_secret("credentials.password") {
            (
                Config::secret_ref("credentials.username"),
                Config::secret_ref("credentials.password"),
            )
        } else {
            (
                config.extra("username").unwrap_or_default().to_string(),
                Config::secret_ref("password"),
            )
        };
        return req.basic_auth(user, pass);
    }
    if config.has_secret("apiKey") {
        return req.header("x-api-key", Config::secret_ref("apiKey"));
    }
    req
}

fn unauthorized(status: u16) -> SyncError {
    SyncError::Unauthorized(format!(
        "OpenFn answered {status}: {} (check the webhook URL, the apiKey extra field or the basic-auth credentials, and that the trigger's auth method matches)",
        if status == 401 { "credentials missing" } else { "wrong credentials, or no such webhook" }
    ))
}

fn size(events: &[Event]) -> usize {
    events
        .iter()
        .map(|e| serde_json::to_vec(e).map_or(0, |v| v.len()) + 1)
        .sum()
}

/// Send `events`, splitting where the server refuses a batch as too large (413) or
/// unacceptable (422), down to single events, which are then rejected.
fn deliver(config: &Config, events: &[Event], out: &mut Delivery) -> Result<(), SyncError> {
    let split = |out: &mut Delivery, why: &str| -> Result<(), SyncError> {
        if events.len() == 1 {
            out.rejected.push(Rejection {
                guid: events[0].guid.clone(),
                reason: why.to_string(),
            });
            return Ok(());
        }
        let (a, b) = events.split_at(events.len() / 2);
        deliver(config, a, out)?;
        deliver(config, b, out)
    };
    let body = json!({ "entities": events, "batchId": batch_id(events) });
    let req = Request::post(&config.url)
        .header("x-batch-id", batch_id(events))
        .json(&body)?;
    let resp = auth(config, req).send()?;
    match resp.status {
        200..=299 => {
            out.accepted += events.len() as u32;
            out.refs.push(work_order(&resp));
            Ok(())
        }
        401 | 404 => Err(unauthorized(resp.status)),
        413 => split(out, "OpenFn refused the event as too large (413)"),
        422 => split(out, &format!("OpenFn refused it (422): {}", excerpt(&resp))),
        415 => Err(SyncError::Config(format!(
            "OpenFn refused the body as not JSON (415): {}",
            excerpt(&resp)
        ))),
        _ => resp.error_for_status().map(|_| ()),
    }
}

fn excerpt(r: &Response) -> String {
    r.text().chars().take(200).collect()
}

fn work_order(r: &Response) -> String {
    #[derive(Deserialize)]
    struct Answer {
        work_order_id: Option<String>,
    }
    let id = r
        .header("x-meta-work-order-id")
        .map(str::to_string)
        .or_else(|| r.json::<Answer>().ok().and_then(|a| a.work_order_id))
        .unwrap_or_else(|| "unknown".into());
    match r.header("x-meta-run-id") {
        Some(run) => format!("work_order_id={id} run_id={run}"),
        None => format!("work_order_id={id}"),
    }
}

#[derive(Deserialize)]
struct Item {
    key: String,
    value: String,
    created: String,
    updated: String,
}

#[derive(Deserialize)]
struct Page {
    items: Vec<Item>,
    cursor: Option<String>,
}

fn collections_base(config: &Config) -> Result<String, SyncError> {
    if let Some(u) = config.extra("collectionsUrl") {
        return Ok(u.trim_end_matches('/').to_string());
    }
    // The webhook URL's origin: scheme://host[:port].
    let after_scheme = config
        .url
        .find("://")
        .map(|i| i + 3)
        .ok_or_else(|| SyncError::Config("url has no scheme".into()))?;
    let end = config.url[after_scheme..]
        .find('/')
        .map_or(config.url.len(), |i| after_scheme + i);
    Ok(config.url[..end].to_string())
}

/// An item as an event: an upsert of the external entity keyed by the item's key, with a
/// guid stable for that key and version (its `updated` time).
fn item_event(collection: &str, item: Item) -> Event {
    let value = serde_json::from_str::<serde_json::Value>(&item.value)
        .ok()
        .filter(|v| v.is_object())
        .unwrap_or_else(|| json!({ "value": item.value }));
    let mut data = value;
    data["openfnKey"] = json!(item.key);
    data["openfnCollection"] = json!(collection);
    Event {
        guid: format!("openfn:{collection}:{}:{}", item.key, item.updated),
        entity_guid: data.get("entityGuid").and_then(|g| g.as_str()).map_or_else(
            || format!("openfn:{collection}:{}", item.key),
            str::to_string,
        ),
        event_type: "upsert-external-entity".into(),
        data: Data::from_value(&data),
        timestamp: if item.updated.is_empty() {
            item.created
        } else {
            item.updated
        },
        user_id: "openfn".into(),
        sync_level: SyncLevel::External,
    }
}

impl Adapter for OpenFn {
    fn describe() -> AdapterInfo {
        AdapterInfo::new(
            "openfn-adapter",
            "OpenFn Lightning",
            env!("CARGO_PKG_VERSION"),
        )
        .field(
            FieldSpec::new(
                "apiKey",
                "API key of the webhook trigger, sent as x-api-key",
            )
            .secret(),
        )
        .field(FieldSpec::new(
            "username",
            "Basic-auth user, when auth is basic",
        ))
        .field(FieldSpec::new("password", "Basic-auth password, when auth is basic").secret())
        .field(FieldSpec::new(
            "workflowId",
            "The workflow the trigger starts (informational)",
        ))
        .field(
            FieldSpec::new(
                "maxBatchBytes",
                "Largest request body in bytes (OpenFn refuses over 10 MB)",
            )
            .default_value("9000000"),
        )
        .field(FieldSpec::new(
            "collectionName",
            "Collection to pull records from (no pull without it)",
        ))
        .field(FieldSpec::new("collectionsToken", "Personal access token for Collections").secret())
        .field(FieldSpec::new(
            "collectionsUrl",
            "Base URL of the Lightning instance for Collections (default: the url's origin)",
        ))
    }

    fn secret_placements() -> Option<Vec<SecretPlacement>> {
        let basic = |s| SecretPlacement::new(s, [Placement::BasicAuth]);
        Some(vec![
            SecretPlacement::new("apiKey", [Placement::Header("x-api-key".into())]),
            basic("password"),
            basic("credentials.username"),
            basic("credentials.password"),
            SecretPlacement::new("collectionsToken", [Placement::Bearer]),
        ])
    }

    fn push(config: &Config, events: Vec<Event>) -> Result<PushOutcome, SyncError> {
        let max = config.extra_u32("maxBatchBytes", DEFAULT_MAX_BATCH_BYTES)? as usize;
        let mut out = Delivery::default();
        let mut start = 0;
        while start < events.len() {
            // The largest run of events under the byte bound (at least one).
            let mut end = start + 1;
            let mut bytes = size(&events[start..end]);
            while end < events.len() && bytes + size(&events[end..end + 1]) <= max {
                bytes += size(&events[end..end + 1]);
                end += 1;
            }
            deliver(config, &events[start..end], &mut out)?;
            start = end;
        }
        Ok(PushOutcome {
            accepted: out.accepted,
            rejected: out.rejected,
            remote_ref: (!out.refs.is_empty()).then(|| out.refs.join("; ")),
        })
    }

    fn pull(config: &Config, cursor: Option<String>, limit: u32) -> Result<PullPage, SyncError> {
        let Some(name) = config.extra("collectionName") else {
            return Ok(PullPage {
                next_cursor: cursor,
                ..Default::default()
            });
        };
        if !config.has_secret("collectionsToken") {
            return Err(SyncError::Config(
                "collectionName is set but collectionsToken is missing".into(),
            ));
        }
        // Our cursor: `c:<server cursor>` mid-collection, or `t:<created>` of the last item
        // seen once the server said there was no more (its cursor is then null).
        let mut url = format!(
            "{}/collections/{}?limit={limit}",
            collections_base(config)?,
            encode_query(name)
        );
        match cursor.as_deref().and_then(|c| c.split_once(':')) {
            Some(("c", c)) => url.push_str(&format!("&cursor={}", encode_query(c))),
            Some(("t", t)) => url.push_str(&format!("&created_after={}", encode_query(t))),
            _ => {}
        }
        let resp = Request::get(url)
            .header(
                "authorization",
                format!("Bearer {}", Config::secret_ref("collectionsToken")),
            )
            .send()?;
        if resp.status == 401 || resp.status == 403 {
            return Err(SyncError::Unauthorized(format!(
                "OpenFn Collections answered {}: check collectionsToken and its access to {name:?}",
                resp.status
            )));
        }
        let page: Page = resp.error_for_status()?.json()?;
        let has_more = page.cursor.is_some();
        let next_cursor = match (&page.cursor, page.items.last()) {
            (Some(c), _) => Some(format!("c:{c}")),
            (None, Some(last)) => Some(format!("t:{}", last.created)),
            (None, None) => cursor,
        };
        Ok(PullPage {
            events: page
                .items
                .into_iter()
                .map(|i| item_event(name, i))
                .collect(),
            next_cursor,
            has_more,
        })
    }
}

export_adapter!(OpenFn);
