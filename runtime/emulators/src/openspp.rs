//! An OpenSPP (Odoo) JSON-RPC emulator: the subset a sync uses, answering as
//! `reference/external-systems.md` says Odoo does.
//!
//! `POST /jsonrpc` with `{"jsonrpc": "2.0", "method": "call", "params": {service, method,
//! args}, "id"}`: `common.authenticate` (uid, or `false`), and `object.execute_kw` with
//! `create`, `write` and `search_read` (domain with `&`, `|`, `!` and the usual operators;
//! `fields`, `limit`, `offset`, `order`) on `res.partner` and `g2p.group.membership`.
//! Errors come back as HTTP 200 with an `error` object naming the exception:
//! `odoo.exceptions.AccessDenied` for bad credentials, `odoo.exceptions.ValidationError`
//! for a registrant without a name. `write_date` has Odoo's one-second resolution, so many
//! records share it and paging must order by `(write_date, id)`.

use super::faults::{Fault, FaultPlan};
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The models the emulator knows.
pub const MODELS: &[&str] = &["res.partner", "g2p.group.membership"];

#[derive(Debug, Default)]
pub struct OpenSppState {
    pub database: String,
    /// login → (uid, password)
    users: BTreeMap<String, (i64, String)>,
    /// model → id → record
    pub records: BTreeMap<String, BTreeMap<i64, Map<String, Value>>>,
    next_id: i64,
    pub faults: FaultPlan,
    pub rpc_calls: u64,
}

/// An Odoo-style error: (exception name, message).
type OdooError = (&'static str, String);

impl OpenSppState {
    fn now() -> String {
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string()
    }

    fn uid(&self, db: &str, uid: i64, password: &str) -> Result<(), OdooError> {
        let ok =
            db == self.database && self.users.values().any(|(u, p)| *u == uid && p == password);
        if ok {
            Ok(())
        } else {
            Err(("odoo.exceptions.AccessDenied", "Access Denied".into()))
        }
    }

    fn validate(model: &str, vals: &Map<String, Value>, creating: bool) -> Result<(), OdooError> {
        if model == "res.partner" {
            let name = vals.get("name");
            let empty = name.is_some_and(|n| n.as_str().is_none_or(|s| s.trim().is_empty()));
            if empty || (creating && name.is_none()) {
                return Err((
                    "odoo.exceptions.ValidationError",
                    "Registrant name is required.".into(),
                ));
            }
        }
        Ok(())
    }

    fn create(&mut self, model: &str, vals: Map<String, Value>) -> Result<i64, OdooError> {
        Self::validate(model, &vals, true)?;
        self.next_id += 1;
        let id = self.next_id;
        let mut record = vals;
        record.insert("id".into(), json!(id));
        record.insert("write_date".into(), json!(Self::now()));
        record.entry("active").or_insert(json!(true));
        self.records
            .entry(model.to_string())
            .or_default()
            .insert(id, record);
        Ok(id)
    }

    fn write(
        &mut self,
        model: &str,
        ids: &[i64],
        vals: Map<String, Value>,
    ) -> Result<bool, OdooError> {
        Self::validate(model, &vals, false)?;
        let table = self.records.entry(model.to_string()).or_default();
        if let Some(missing) = ids.iter().find(|id| !table.contains_key(id)) {
            return Err((
                "odoo.exceptions.MissingError",
                format!("Record {model}({missing}) does not exist"),
            ));
        }
        let now = Self::now();
        for id in ids {
            let r = table.get_mut(id).expect("checked above");
            for (k, v) in &vals {
                r.insert(k.clone(), v.clone());
            }
            r.insert("write_date".into(), json!(now));
        }
        Ok(true)
    }

    fn search_read(
        &self,
        model: &str,
        domain: &[Value],
        kwargs: &Map<String, Value>,
    ) -> Result<Vec<Value>, OdooError> {
        let mut rows: Vec<&Map<String, Value>> = Vec::new();
        for r in self
            .records
            .get(model)
            .map(|t| t.values())
            .into_iter()
            .flatten()
        {
            if eval_domain(domain, r)? {
                rows.push(r);
            }
        }
        let order = kwargs.get("order").and_then(Value::as_str).unwrap_or("id");
        let keys: Vec<(String, bool)> = order
            .split(',')
            .map(|k| {
                let mut parts = k.split_whitespace();
                let field = parts.next().unwrap_or("id").to_string();
                (
                    field,
                    parts.next().is_some_and(|d| d.eq_ignore_ascii_case("desc")),
                )
            })
            .collect();
        rows.sort_by(|a, b| {
            keys.iter()
                .map(|(f, desc)| {
                    let o = compare(
                        a.get(f).unwrap_or(&Value::Null),
                        b.get(f).unwrap_or(&Value::Null),
                    );
                    if *desc {
                        o.reverse()
                    } else {
                        o
                    }
                })
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
        let offset = kwargs.get("offset").and_then(Value::as_u64).unwrap_or(0) as usize;
        let limit = kwargs
            .get("limit")
            .and_then(Value::as_u64)
            .map_or(usize::MAX, |l| l as usize);
        let fields: Option<Vec<String>> = kwargs.get("fields").and_then(Value::as_array).map(|f| {
            f.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        });
        Ok(rows
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|r| match &fields {
                None => Value::Object(r.clone()),
                Some(fields) => {
                    let mut out = Map::new();
                    out.insert("id".into(), r["id"].clone());
                    for f in fields {
                        out.insert(f.clone(), r.get(f).cloned().unwrap_or(json!(false)));
                    }
                    Value::Object(out)
                }
            })
            .collect())
    }
}

fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

fn term(t: &[Value], r: &Map<String, Value>) -> Result<bool, OdooError> {
    let bad = || {
        (
            "ValueError",
            format!("Invalid domain term {}", Value::Array(t.to_vec())),
        )
    };
    let [field, op, value] = t else {
        return Err(bad());
    };
    let (Some(field), Some(op)) = (field.as_str(), op.as_str()) else {
        return Err(bad());
    };
    let left = r.get(field).cloned().unwrap_or(json!(false));
    let o = compare(&left, value);
    Ok(match op {
        "=" => left == *value,
        "!=" => left != *value,
        ">" => o == Ordering::Greater,
        ">=" => o != Ordering::Less,
        "<" => o == Ordering::Less,
        "<=" => o != Ordering::Greater,
        "in" => value.as_array().is_some_and(|v| v.contains(&left)),
        "not in" => value.as_array().is_some_and(|v| !v.contains(&left)),
        _ => return Err(bad()),
    })
}

/// Evaluate an Odoo domain (prefix `&`, `|`, `!`; implicit `&` between terms).
fn eval_domain(domain: &[Value], r: &Map<String, Value>) -> Result<bool, OdooError> {
    fn one(items: &[Value], pos: &mut usize, r: &Map<String, Value>) -> Result<bool, OdooError> {
        let item = items
            .get(*pos)
            .ok_or(("ValueError", "Domain ended early".to_string()))?;
        *pos += 1;
        match item {
            Value::String(op) if op == "&" || op == "|" => {
                let a = one(items, pos, r)?;
                let b = one(items, pos, r)?;
                Ok(if op == "&" { a && b } else { a || b })
            }
            Value::String(op) if op == "!" => Ok(!one(items, pos, r)?),
            Value::Array(t) => term(t, r),
            other => Err(("ValueError", format!("Invalid domain element {other}"))),
        }
    }
    let mut pos = 0;
    let mut all = true;
    while pos < domain.len() {
        all &= one(domain, &mut pos, r)?;
    }
    Ok(all)
}

/// A running OpenSPP emulator.
#[derive(Clone, Debug)]
pub struct OpenSppEmulator {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<OpenSppState>>,
}

type Shared = Arc<Mutex<OpenSppState>>;

impl OpenSppEmulator {
    /// An instance with database `db` and one user.
    pub async fn start(
        addr: SocketAddr,
        db: &str,
        login: &str,
        password: &str,
    ) -> std::io::Result<Self> {
        let mut state = OpenSppState {
            database: db.into(),
            next_id: 100,
            ..Default::default()
        };
        state.users.insert(login.into(), (2, password.into()));
        let state = Arc::new(Mutex::new(state));
        let app = Router::new()
            .route("/jsonrpc", post(rpc))
            .layer(DefaultBodyLimit::max(64 << 20))
            .with_state(state.clone());
        let addr = super::spawn(addr, app).await?;
        Ok(OpenSppEmulator { addr, state })
    }

    /// The base URL for a config (`/jsonrpc` is appended by the adapter).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Create a record directly, as another OpenSPP user would.
    pub fn create(&self, model: &str, vals: Value) -> i64 {
        let vals = vals.as_object().cloned().unwrap_or_default();
        self.state
            .lock()
            .expect("openspp state")
            .create(model, vals)
            .expect("valid record")
    }

    /// Update a record directly.
    pub fn write(&self, model: &str, id: i64, vals: Value) {
        let vals = vals.as_object().cloned().unwrap_or_default();
        self.state
            .lock()
            .expect("openspp state")
            .write(model, &[id], vals)
            .expect("valid write");
    }

    /// All records of a model.
    pub fn all(&self, model: &str) -> Vec<Map<String, Value>> {
        let s = self.state.lock().expect("openspp state");
        s.records
            .get(model)
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn inject(&self, faults: Vec<Fault>) {
        self.state
            .lock()
            .expect("openspp state")
            .faults
            .inject(faults);
    }
}

fn fault(id: &Value, (name, message): OdooError) -> Response {
    Json(json!({
        "jsonrpc": "2.0", "id": id,
        "error": { "code": 200, "message": "Odoo Server Error",
                   "data": { "name": name, "message": message, "arguments": [message] } }
    }))
    .into_response()
}

async fn rpc(State(state): State<Shared>, Json(req): Json<Value>) -> Response {
    if let (_, Some(resp)) = super::fault_for(&state).await {
        return resp;
    }
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let params = &req["params"];
    let args = params["args"].as_array().cloned().unwrap_or_default();
    let mut s = state.lock().expect("openspp state");
    s.rpc_calls += 1;
    let result = match (params["service"].as_str(), params["method"].as_str()) {
        (Some("common"), Some("authenticate")) => {
            let (db, login, password) = (args.first(), args.get(1), args.get(2));
            let uid = match (
                db.and_then(Value::as_str),
                login.and_then(Value::as_str),
                password.and_then(Value::as_str),
            ) {
                (Some(db), Some(login), Some(pw)) if db == s.database => s
                    .users
                    .get(login)
                    .filter(|(_, p)| p == pw)
                    .map(|(u, _)| json!(u)),
                _ => None,
            };
            Ok(uid.unwrap_or(json!(false)))
        }
        (Some("object"), Some("execute_kw")) => execute_kw(&mut s, &args),
        (service, method) => Err((
            "odoo.exceptions.UserError",
            format!("unknown service/method {service:?}.{method:?}"),
        )),
    };
    match result {
        Ok(r) => Json(json!({ "jsonrpc": "2.0", "id": id, "result": r })).into_response(),
        Err(e) => fault(&id, e),
    }
}

fn execute_kw(s: &mut OpenSppState, args: &[Value]) -> Result<Value, OdooError> {
    let db = args.first().and_then(Value::as_str).unwrap_or_default();
    let uid = args.get(1).and_then(Value::as_i64).unwrap_or(-1);
    let password = args.get(2).and_then(Value::as_str).unwrap_or_default();
    s.uid(db, uid, password)?;
    let model = args.get(3).and_then(Value::as_str).unwrap_or_default();
    if !MODELS.contains(&model) {
        return Err(("KeyError", format!("Object {model} doesn't exist")));
    }
    let method = args.get(4).and_then(Value::as_str).unwrap_or_default();
    let positional = args
        .get(5)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let kwargs = args
        .get(6)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    match method {
        "create" => {
            let vals = positional
                .first()
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            Ok(json!(s.create(model, vals)?))
        }
        "write" => {
            let ids: Vec<i64> = positional
                .first()
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default();
            let vals = positional
                .get(1)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            Ok(json!(s.write(model, &ids, vals)?))
        }
        "search_read" => {
            let domain = positional
                .first()
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            Ok(json!(s.search_read(model, &domain, &kwargs)?))
        }
        other => Err((
            "AttributeError",
            format!("type object '{model}' has no attribute '{other}'"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_with_or_and_paging_by_write_date_then_id() {
        let r = |id: i64, wd: &str| {
            json!({"id": id, "write_date": wd})
                .as_object()
                .cloned()
                .unwrap()
        };
        let domain: Vec<Value> = serde_json::from_value(json!([
            "|",
            ["write_date", ">", "2025-01-01 10:00:00"],
            "&",
            ["write_date", "=", "2025-01-01 10:00:00"],
            ["id", ">", 5]
        ]))
        .unwrap();
        assert!(!eval_domain(&domain, &r(5, "2025-01-01 10:00:00")).unwrap());
        assert!(eval_domain(&domain, &r(6, "2025-01-01 10:00:00")).unwrap());
        assert!(eval_domain(&domain, &r(1, "2025-01-01 10:00:01")).unwrap());
        assert!(!eval_domain(&domain, &r(9, "2025-01-01 09:59:59")).unwrap());
    }
}
