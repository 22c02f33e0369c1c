//! Pull from a Lightning collection, following updates as well as new items.
//!
//! Lightning orders a collection by its items' integer ids and pages it with a cursor of
//! the last id (`lib/lightning/collections.ex@00b40a44:451-460`): an update keeps an
//! item's id, so paging alone never sees it again. The only way to follow updates is the
//! `updated_after` filter, which is inclusive (`updated_at >= x`, collections.ex:474-491).
//!
//! Our cursor: `{"after": T, "page": C, "start": S, "max": M}`. A pass reads every item
//! with `updated >= T`, page by page (`C` is Lightning's cursor within the pass). `S` is
//! when the pass started, by the server's own clock (its `Date` header, whole seconds,
//! less a second of margin), and `M` the newest `updated` seen. When the pass ends, the
//! next one starts at `min(M, S)`:
//! - everything updated before the pass and at or after `T` was read in it, unless it
//!   changed during the pass — and then its new `updated` is after `S`;
//! - an item updated during the pass, behind the page cursor, has `updated >= S`, so the
//!   next pass reads it even when another item read later in this pass has a newer
//!   `updated` (`M` alone would skip it).
//!
//! Items read twice (those with `updated` in `[min(M, S), M]`) get the same guid — key and
//! `updated` — so the host applies them once. Without a `Date` header the next pass starts
//! at `M`, and an update behind the page cursor during a pass can be missed until the item
//! changes again.

use chrono::{DateTime, Utc};
use datacollect_adapter_sdk::http::{encode_query, Request, Response};
use datacollect_adapter_sdk::{Config, Data, Event, PullPage, SyncError, SyncLevel};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Default, Serialize, Deserialize)]
struct Cursor {
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    page: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<String>,
}

impl Cursor {
    /// Ours, or one written by adapter 1.0 (`c:<page>` / `t:<created>`); anything else
    /// starts over (guids make re-reading harmless).
    fn parse(text: Option<&str>) -> Cursor {
        match text {
            Some(t) if t.starts_with('{') => serde_json::from_str(t).unwrap_or_default(),
            Some(t) => match t.split_once(':') {
                Some(("c", c)) => Cursor {
                    page: Some(c.into()),
                    ..Default::default()
                },
                Some(("t", t)) => Cursor {
                    after: Some(t.into()),
                    ..Default::default()
                },
                _ => Cursor::default(),
            },
            None => Cursor::default(),
        }
    }

    fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Lightning's encoding of a timestamp: UTC, microseconds, `Z`.
fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_time(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// When the server answered, less a second: its `Date` header is whole seconds.
fn server_time(r: &Response) -> Option<DateTime<Utc>> {
    let date = DateTime::parse_from_rfc2822(r.header("date")?).ok()?;
    Some(date.with_timezone(&Utc) - chrono::Duration::seconds(1))
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

/// The instance's base URL: `collectionsUrl`, else the webhook URL's origin.
pub(crate) fn base_url(config: &Config) -> Result<String, SyncError> {
    if let Some(u) = config.extra("collectionsUrl") {
        return Ok(u.trim_end_matches('/').to_string());
    }
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

/// A request for `name`'s items: `?project_id=` (the current router), or the project in
/// the path with `x-api-version: 2` when `collectionsApiVersion` is 2.
pub(crate) fn list_request(config: &Config, name: &str, query: &str) -> Result<Request, SyncError> {
    let base = base_url(config)?;
    let project = config.extra("projectId");
    let req = match (config.extra("collectionsApiVersion"), project) {
        (Some("2"), Some(p)) => Request::get(format!(
            "{base}/collections/{}/{}?{query}",
            encode_query(p),
            encode_query(name)
        ))
        .header("x-api-version", "2"),
        (Some("2"), None) => {
            return Err(SyncError::Config(
                "collectionsApiVersion 2 needs the projectId extra field".into(),
            ))
        }
        (_, Some(p)) => Request::get(format!(
            "{base}/collections/{}?{query}&project_id={}",
            encode_query(name),
            encode_query(p)
        )),
        (_, None) => Request::get(format!("{base}/collections/{}?{query}", encode_query(name))),
    };
    Ok(req.header(
        "authorization",
        format!("Bearer {}", Config::secret_ref("collectionsToken")),
    ))
}

/// What a Collections answer other than 200 means.
pub(crate) fn collections_error(r: Response, name: &str) -> SyncError {
    match r.status {
        401 | 403 => SyncError::Unauthorized(format!(
            "OpenFn Collections answered {}: check collectionsToken and its access to the project of {name:?}",
            r.status
        )),
        404 => SyncError::Config(format!(
            "OpenFn has no collection {name:?} (in the projectId given, if any): create it in the project, or fix collectionName / projectId"
        )),
        409 => SyncError::Config(format!(
            "collection {name:?} exists in several OpenFn projects: set the projectId extra field to the project's UUID"
        )),
        400 => SyncError::Config(format!(
            "OpenFn refused the Collections query (400): {}; check projectId is a UUID",
            r.text().chars().take(200).collect::<String>()
        )),
        _ => match r.error_for_status() {
            Err(e) => e,
            Ok(r) => SyncError::Internal(format!("unexpected HTTP {} from Collections", r.status)),
        },
    }
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

/// One page of the pass the cursor is in.
pub(crate) fn pull(
    config: &Config,
    cursor: Option<String>,
    limit: u32,
) -> Result<PullPage, SyncError> {
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
    let mut c = Cursor::parse(cursor.as_deref());
    let mut query = format!("limit={limit}");
    if let Some(t) = &c.after {
        query.push_str(&format!("&updated_after={}", encode_query(t)));
    }
    if let Some(p) = &c.page {
        query.push_str(&format!("&cursor={}", encode_query(p)));
    }
    let resp = list_request(config, name, &query)?.send()?;
    if resp.status != 200 {
        return Err(collections_error(resp, name));
    }
    if c.page.is_none() {
        c.start = server_time(&resp).map(iso);
    }
    let page: Page = resp.json()?;
    let newest = page
        .items
        .iter()
        .filter_map(|i| parse_time(&i.updated))
        .max();
    let max = [c.max.as_deref().and_then(parse_time), newest]
        .into_iter()
        .flatten()
        .max();
    c.max = max.map(iso);
    let has_more = page.cursor.is_some();
    let next = if has_more {
        Cursor {
            page: page.cursor.clone(),
            ..c
        }
    } else {
        let start = c.start.as_deref().and_then(parse_time);
        let after = match (max, start) {
            (Some(m), Some(s)) => Some(m.min(s)),
            (m, s) => m.or(s).or_else(|| c.after.as_deref().and_then(parse_time)),
        };
        Cursor {
            after: after.map(iso),
            ..Default::default()
        }
    };
    Ok(PullPage {
        events: page
            .items
            .into_iter()
            .map(|i| item_event(name, i))
            .collect(),
        next_cursor: Some(next.text()),
        has_more,
    })
}
