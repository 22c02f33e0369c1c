//! Pull: registrants changed since the cursor, oldest first, as events; an archived one
//! as `delete-entity`.
//!
//! Why the cursor is not simply the last `write_date`: Odoo stores `write_date` with
//! microseconds, one value per transaction for every row it touches
//! (O17:odoo/sql_db.py:470-505, O17:odoo/models.py:4346-4348, 4489-4493, 4722-4726), but
//! `read` returns it cut to the second (O17:odoo/tools/date_utils.py:206-212), while a
//! domain compares the column at full precision with the literal as given
//! (O17:odoo/osv/expression.py:1377-1383, 1574) and `order` sorts at full precision. So
//! `write_date = '10:00:00'` matches nothing written at 10:00:00.4, `> '10:00:00'` re-reads
//! that second, and a page boundary inside one second cannot be written down from what a
//! row shows. Two facts make it exact anyway:
//!
//! 1. Within one second, the rows are a fixed set once the server's clock has left it (a
//!    row written later gets a later `write_date` and leaves the second). Paging such a
//!    *closed* second by `id` (`second <= write_date < second+1, id > n`) reads each row
//!    once, whatever the size of the second. The second is closed when a row of a later
//!    second exists.
//! 2. While a second is still *open* (no later row yet), a later edit in it gets a larger
//!    `write_date` than every row already there, whatever its id. Before reading such a
//!    second, the adapter finds that largest value to the microsecond (`search_count`
//!    with fractional literals, a bisection of ~20 calls) and afterwards resumes strictly
//!    after it: nothing of that second is read twice, an edit later in it is not lost.
//!
//! Cursor states: `v2|from|T` (every row with `write_date >= T` is still to come) and
//! `v2|win|T|n|cut` (inside the second of `T` by id, ids up to `n` delivered; `cut` is the
//! open second's largest `write_date` when the pass began, `-` for a closed second). Pages
//! across many seconds use `from`: they end on a whole second, or at the newest rows,
//! whose second is read again next time (at most one page; pulled guids make it a no-op).
//! A transaction that commits long after it began can still carry a `write_date` the
//! cursor has passed; any `write_date` cursor has that limit.

use crate::identity;
use crate::mapping::{self, Kind};
use crate::rpc::Session;
use crate::time;
use datacollect_adapter_sdk::{stable_id, Data, Event, PullPage, SyncError, SyncLevel};
use serde_json::{json, Map, Value};

const MODEL: &str = "res.partner";

#[derive(Clone, Debug, PartialEq)]
enum Cursor {
    From(i64),
    Window {
        from: i64,
        after: i64,
        cut: Option<i64>,
    },
}

impl Cursor {
    fn parse(text: Option<&str>) -> Result<Cursor, SyncError> {
        let Some(text) = text else {
            return Ok(Cursor::From(i64::MIN));
        };
        let bad = || {
            SyncError::Internal(format!(
                "the OpenSPP pull cursor {text:?} is not one this adapter wrote"
            ))
        };
        let parts: Vec<&str> = text.split('|').collect();
        let at = |s: &str| time::parse(s).ok_or_else(bad);
        match parts.as_slice() {
            ["v2", "from", t] => Ok(Cursor::From(at(t)?)),
            ["v2", "win", t, n, cut] => Ok(Cursor::Window {
                from: at(t)?,
                after: n.parse().map_err(|_| bad())?,
                cut: if *cut == "-" { None } else { Some(at(cut)?) },
            }),
            // The previous version's `write_date|id`: read that whole second again.
            [wd, _] => Ok(Cursor::From(time::second_of(at(wd)?))),
            _ => Err(bad()),
        }
    }

    fn text(&self) -> String {
        match self {
            Cursor::From(t) => format!("v2|from|{}", time::format(*t)),
            Cursor::Window { from, after, cut } => format!(
                "v2|win|{}|{after}|{}",
                time::format(*from),
                cut.map_or("-".into(), time::format)
            ),
        }
    }
}

/// The rows of a page and where the next one starts.
struct Page {
    rows: Vec<Value>,
    next: Cursor,
    has_more: bool,
}

struct Reader<'s, 'c> {
    session: &'s Session<'c>,
    fields: Vec<String>,
    limit: u32,
}

fn written(row: &Value) -> Option<i64> {
    row["write_date"].as_str().and_then(time::parse)
}

impl Reader<'_, '_> {
    fn base() -> Value {
        json!(["is_registrant", "=", true])
    }

    fn read(&self, domain: Vec<Value>, order: &str, limit: u32) -> Result<Vec<Value>, SyncError> {
        let fields: Vec<&str> = self.fields.iter().map(String::as_str).collect();
        self.session.search_read(
            MODEL,
            Value::Array(domain),
            &fields,
            Some(order),
            Some(limit),
        )
    }

    fn page(&self, cursor: Cursor) -> Result<Page, SyncError> {
        let from = match cursor {
            Cursor::Window { from, after, cut } => return self.window(from, after, cut),
            Cursor::From(from) => from,
        };
        let mut domain = vec![Self::base()];
        if from > i64::MIN {
            domain.push(json!(["write_date", ">=", time::format(from)]));
        }
        // One row more than the page, to see where the page's last second ends.
        let mut rows = self.read(domain, "write_date asc, id asc", self.limit + 1)?;
        if rows.len() <= self.limit as usize {
            // The newest rows: their second may still get rows; read it again next time.
            let next = rows
                .last()
                .and_then(written)
                .map_or(from, |w| time::second_of(w).max(from));
            return Ok(Page {
                rows,
                next: Cursor::From(next),
                has_more: false,
            });
        }
        let lookahead = time::second_of(written(&rows[self.limit as usize]).unwrap_or(from));
        rows.truncate(self.limit as usize);
        rows.retain(|r| written(r).is_some_and(|w| w < lookahead));
        if !rows.is_empty() {
            // Whole seconds, closed since a later row exists.
            return Ok(Page {
                rows,
                next: Cursor::From(lookahead),
                has_more: true,
            });
        }
        // One second holds more rows than a page: read it by id.
        let from = from.max(lookahead);
        let closed = !self
            .read(
                vec![
                    Self::base(),
                    json!(["write_date", ">=", time::format(lookahead + time::SECOND)]),
                ],
                "id asc",
                1,
            )?
            .is_empty();
        let cut = if closed {
            None
        } else {
            Some(self.newest_in(from, lookahead)?)
        };
        self.window(from, 0, cut)
    }

    /// One page of the second of `from`, by id.
    fn window(&self, from: i64, after: i64, cut: Option<i64>) -> Result<Page, SyncError> {
        let end = time::second_of(from) + time::SECOND;
        let domain = vec![
            Self::base(),
            json!(["write_date", ">=", time::format(from)]),
            json!(["write_date", "<", time::format(end)]),
            json!(["id", ">", after]),
        ];
        let mut rows = self.read(domain, "id asc", self.limit + 1)?;
        if rows.len() > self.limit as usize {
            rows.truncate(self.limit as usize);
            let after = rows.last().and_then(|r| r["id"].as_i64()).unwrap_or(after);
            return Ok(Page {
                rows,
                next: Cursor::Window { from, after, cut },
                has_more: true,
            });
        }
        let next = match cut {
            None => end,
            Some(cut) => cut + 1,
        };
        Ok(Page {
            rows,
            next: Cursor::From(next),
            has_more: true,
        })
    }

    /// The largest `write_date` in `[from, second + 1 s)`, to the microsecond: the
    /// smallest `t` with no row after it, found by halving (rows exist at or after `from`).
    fn newest_in(&self, from: i64, second: i64) -> Result<i64, SyncError> {
        let end = second + time::SECOND;
        let (mut lo, mut hi) = (from - 1, end - 1);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let domain = json!([
                Self::base(),
                ["write_date", ">", time::format(mid)],
                ["write_date", "<", time::format(end)]
            ]);
            if self.session.count(MODEL, domain)? > 0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(hi)
    }
}

pub fn pull(
    session: &Session<'_>,
    cursor: Option<String>,
    limit: u32,
) -> Result<PullPage, SyncError> {
    let settings = &session.settings;
    let mut fields: Vec<String> = ["name", "is_group", "active", "write_date"]
        .map(String::from)
        .to_vec();
    for kind in [Kind::Individual, Kind::Group] {
        for f in mapping::read_fields(kind, settings) {
            if !fields.contains(&f) {
                fields.push(f);
            }
        }
    }
    let reader = Reader {
        session,
        fields,
        limit: limit.max(1),
    };
    let page = reader.page(Cursor::parse(cursor.as_deref())?)?;
    let ids: Vec<i64> = page.rows.iter().filter_map(|r| r["id"].as_i64()).collect();
    let guids = match session.id_type(false)? {
        Some(t) => session.guids_of(t, &ids)?,
        None => Default::default(),
    };
    let db = &settings.database;
    let events = page
        .rows
        .iter()
        .filter_map(|row| {
            let id = row["id"].as_i64()?;
            let entity = guids
                .get(&id)
                .cloned()
                .unwrap_or_else(|| identity::partner_guid(db, id));
            Some(event(session, row, id, entity))
        })
        .collect();
    // Nothing read yet from an empty registry: no cursor to keep.
    let next_cursor = (page.next != Cursor::From(i64::MIN)).then(|| page.next.text());
    Ok(PullPage {
        events,
        next_cursor,
        has_more: page.has_more,
    })
}

fn event(session: &Session<'_>, row: &Value, id: i64, entity: String) -> Event {
    let kind = if row["is_group"] == json!(true) {
        Kind::Group
    } else {
        Kind::Individual
    };
    let write_date = row["write_date"].as_str().unwrap_or_default();
    let active = row["active"] != json!(false);
    let mut data = if active {
        mapping::pulled_data(kind, row, &session.settings)
    } else {
        Map::new()
    };
    // `externalId` as DataCollect's original adapter set it: the partner's id.
    data.insert("externalId".into(), json!(id.to_string()));
    data.insert("entityType".into(), json!(kind.as_str()));
    let data = Value::Object(data);
    // Stable for this version of the record: write_date alone is too coarse (two writes in
    // one second share it), so with the data; a re-pull is a no-op.
    let version = stable_id(&[&session.config.id, write_date, &data.to_string()]);
    Event {
        guid: format!("openspp:{id}:{version}"),
        entity_guid: entity,
        event_type: if active {
            "upsert-external-entity"
        } else {
            "delete-entity"
        }
        .into(),
        data: Data::from_value(&data),
        timestamp: time::rfc3339(write_date),
        user_id: "openspp".into(),
        sync_level: SyncLevel::External,
    }
}
