//! Search domains and `order` clauses, evaluated the way PostgreSQL evaluates the SQL Odoo
//! makes of them: datetimes compared at full precision, NULL never ordered against.

use super::error::{py_leaf, OdooError};
use super::schema::{Kind, Model};
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// A stored datetime: `YYYY-MM-DD HH:MM:SS.ffffff`, UTC, always six fractional digits, so
/// stored values compare as text in time order.
pub fn stored_datetime(t: chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// What `read` returns for a datetime: whole seconds, truncated, a space and no zone
/// (O17:odoo/tools/date_utils.py:206-212, O17:odoo/fields.py:2287-2297).
pub fn read_datetime(stored: &str) -> String {
    stored.chars().take(19).collect()
}

/// A domain's datetime literal as PostgreSQL reads it against a `timestamp` column. Odoo
/// passes it through untouched except a bare date, which gets ` 23:59:59` for `>` and `<=`
/// and ` 00:00:00` otherwise (O17:odoo/osv/expression.py:1377-1383, 1574). PostgreSQL keeps
/// any fraction and ignores a zone suffix on `timestamp without time zone`.
pub fn literal_datetime(s: &str, op: &str) -> Option<String> {
    let s = s.trim();
    let s = if s.len() == 10 {
        let time = if op == ">" || op == "<=" {
            "23:59:59"
        } else {
            "00:00:00"
        };
        format!("{s} {time}")
    } else {
        s.replacen('T', " ", 1)
            .trim_end_matches('Z')
            .trim_end_matches("+00:00")
            .to_string()
    };
    chrono::NaiveDateTime::parse_from_str(&s, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(stored_datetime)
}

/// Evaluate `domain` (Polish notation: `&`, `|`, `!`; leaves are implicitly and-ed) on
/// `record` of `model`. An unknown field is Odoo's leaf error, with the leaf printed as
/// Python prints the tuple (O17:odoo/osv/expression.py:371-379).
pub fn matches(
    model: &Model,
    domain: &[Value],
    record: &Map<String, Value>,
) -> Result<bool, OdooError> {
    let mut pos = 0;
    let mut all = true;
    while pos < domain.len() {
        all &= node(model, domain, &mut pos, record)?;
    }
    Ok(all)
}

/// Check every leaf names a field, without a record (the domain is parsed before any row
/// is read, so its errors come before those of `fields`).
pub fn check(model: &Model, domain: &[Value]) -> Result<(), OdooError> {
    for item in domain {
        if let Value::Array(leaf) = item {
            let name = leaf.first().and_then(Value::as_str).unwrap_or_default();
            if leaf.len() != 3 || model.field(name).is_none() {
                return Err(OdooError::value_error(format!(
                    "Invalid field {}.{name} in leaf {}",
                    model.name,
                    py_leaf(leaf)
                )));
            }
        } else if !matches!(item.as_str(), Some("&" | "|" | "!")) {
            return Err(OdooError::value_error(format!(
                "Invalid leaf {}",
                super::error::py_repr(item)
            )));
        }
    }
    Ok(())
}

/// Whether the domain names `field` in any leaf.
pub fn mentions(domain: &[Value], field: &str) -> bool {
    domain
        .iter()
        .any(|d| d.get(0).and_then(Value::as_str) == Some(field))
}

fn node(
    model: &Model,
    items: &[Value],
    pos: &mut usize,
    r: &Map<String, Value>,
) -> Result<bool, OdooError> {
    let item = items
        .get(*pos)
        .ok_or_else(|| OdooError::value_error("Domain ended early"))?;
    *pos += 1;
    match item.as_str() {
        Some(op @ ("&" | "|")) => {
            let a = node(model, items, pos, r)?;
            let b = node(model, items, pos, r)?;
            Ok(if op == "&" { a && b } else { a || b })
        }
        Some("!") => Ok(!node(model, items, pos, r)?),
        _ => leaf(
            model,
            item.as_array().map(Vec::as_slice).unwrap_or_default(),
            r,
        ),
    }
}

fn leaf(model: &Model, t: &[Value], r: &Map<String, Value>) -> Result<bool, OdooError> {
    check(model, &[Value::Array(t.to_vec())])?;
    let (name, op, right) = (t[0].as_str().unwrap_or_default(), t[1].as_str(), &t[2]);
    let kind = model.field(name).map(|f| f.kind).unwrap_or(Kind::Integer);
    let left = r.get(name).cloned().unwrap_or(Value::Null);
    let Some(op) = op else {
        return Err(OdooError::value_error(format!(
            "Invalid leaf {}",
            py_leaf(t)
        )));
    };
    let empty = |v: &Value| v.is_null() || *v == Value::Bool(false);
    // `= False` is `IS NULL`; on a boolean it is also `= false` (O17:odoo/osv/expression.py:1560-1564).
    if matches!(op, "=" | "!=") && empty(right) {
        let is_empty = empty(&left);
        return Ok(if op == "=" { is_empty } else { !is_empty });
    }
    let right = match (kind, right) {
        (Kind::Datetime, Value::String(s)) => match literal_datetime(s, op) {
            Some(v) => Value::String(v),
            None => {
                return Err(OdooError::new(
                    "psycopg2.errors.InvalidDatetimeFormat",
                    format!("invalid input syntax for type timestamp: \"{s}\""),
                ))
            }
        },
        _ => right.clone(),
    };
    if left.is_null() {
        // NULL compares to nothing (`!=` included, in SQL).
        return Ok(op == "not in" || (op == "!=" && kind == Kind::Boolean));
    }
    let ord = || compare(&left, &right);
    Ok(match op {
        "=" => ord() == Ordering::Equal,
        "!=" => ord() != Ordering::Equal,
        "<" => ord() == Ordering::Less,
        ">" => ord() == Ordering::Greater,
        "<=" => ord() != Ordering::Greater,
        ">=" => ord() != Ordering::Less,
        "in" | "not in" => {
            let found = right
                .as_array()
                .is_some_and(|v| v.iter().any(|x| compare(&left, x) == Ordering::Equal));
            found == (op == "in")
        }
        "=like" | "=ilike" | "like" | "ilike" | "not like" | "not ilike" => {
            let text = left.as_str().unwrap_or_default();
            let pattern = right.as_str().unwrap_or_default();
            let ci = op.contains("ilike");
            let hit = if op.starts_with('=') {
                like(text, pattern, ci)
            } else {
                like(text, &format!("%{pattern}%"), ci)
            };
            hit != op.starts_with("not")
        }
        _ => {
            return Err(OdooError::value_error(format!(
                "Invalid leaf {}",
                py_leaf(t)
            )))
        }
    })
}

/// SQL `LIKE` (`%` any run, `_` one character), `ILIKE` when `ci`.
fn like(text: &str, pattern: &str, ci: bool) -> bool {
    let norm = |s: &str| if ci { s.to_lowercase() } else { s.to_string() };
    let (t, p): (Vec<char>, Vec<char>) = (
        norm(text).chars().collect(),
        norm(pattern).chars().collect(),
    );
    fn go(t: &[char], p: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('%') => (0..=t.len()).any(|i| go(&t[i..], &p[1..])),
            Some('_') => !t.is_empty() && go(&t[1..], &p[1..]),
            Some(c) => t.first() == Some(c) && go(&t[1..], &p[1..]),
        }
    }
    go(&t, &p)
}

/// Order two stored values of one field (numbers as numbers, text as text).
pub fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// An `order` clause: `(field, descending)` pairs. An unknown field is the same error as
/// an unknown field in `fields` (O17:odoo/models.py:5206-5208).
pub fn order(model: &Model, spec: &str) -> Result<Vec<(String, bool)>, OdooError> {
    spec.split(',')
        .filter(|k| !k.trim().is_empty())
        .map(|k| {
            let mut parts = k.split_whitespace();
            let field = parts.next().unwrap_or("id").to_string();
            if model.field(&field).is_none() {
                return Err(super::orm::invalid_field(model.name, &field));
            }
            let desc = parts.next().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
            Ok((field, desc))
        })
        .collect()
}

/// Sort rows by `keys`; NULLs last ascending and first descending, as PostgreSQL does. A
/// Many2one sorts by id here (Odoo sorts by the comodel's own order).
pub fn sort(rows: &mut [&Map<String, Value>], keys: &[(String, bool)]) {
    rows.sort_by(|a, b| {
        for (field, desc) in keys {
            let (x, y) = (a.get(field), b.get(field));
            let null = |v: Option<&Value>| v.is_none_or(Value::is_null);
            let o = match (null(x), null(y)) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ => compare(x.unwrap_or(&Value::Null), y.unwrap_or(&Value::Null)),
            };
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_datetime_literal_matches_rows_later_in_that_second() {
        assert_eq!(
            literal_datetime("2025-01-01 10:00:00", ">").as_deref(),
            Some("2025-01-01 10:00:00.000000")
        );
        assert!("2025-01-01 10:00:00.400000" > "2025-01-01 10:00:00.000000");
        assert_eq!(
            literal_datetime("2025-01-01", ">").as_deref(),
            Some("2025-01-01 23:59:59.000000")
        );
        assert_eq!(
            literal_datetime("2025-01-01T10:00:00.5Z", "=").as_deref(),
            Some("2025-01-01 10:00:00.500000")
        );
    }

    #[test]
    fn like_patterns() {
        assert!(like("DataCollect ID", "datacollect id", true));
        assert!(!like("DataCollect ID", "datacollect id", false));
        assert!(like("abc", "%b%", false));
    }
}
