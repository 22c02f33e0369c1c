//! `POST /jsonrpc`: the envelope, the `common` and `object` services, and `execute_kw`'s
//! dispatch to the ORM methods.

use super::error::OdooError;
use super::orm::{self, Env, Record};
use super::{OpenSppState, Role};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

type Shared = Arc<Mutex<OpenSppState>>;

fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// The route: `@route('/jsonrpc', type='json', auth="none")`, only `params.service`,
/// `params.method` and `params.args` are used; the top-level `method` is ignored
/// (O17:odoo/addons/base/controllers/rpc.py:152-155; O17:odoo/http.py:1975-1982, 2011).
pub async fn handle(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let (_, Some(resp)) = crate::fault_for(&state).await {
        return resp;
    }
    // A route of type json refuses another content type with an HTML 400
    // (O17:odoo/http.py:248, 1710-1720).
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let ctype = ctype.split(';').next().unwrap_or_default().trim();
    if ctype != "application/json" && ctype != "application/json-rpc" {
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html>\n<title>400 Bad Request</title>\n<h1>Bad Request</h1>\n<p>Request inferred type is compatible with ['http'] but '/jsonrpc' is type='json'.</p>\n",
        )
            .into_response();
    }
    // Bodies that are not JSON, or not JSON-RPC, get plain-text 400s that bypass the
    // error envelope (O17:odoo/http.py:2001-2009).
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return plain(StatusCode::BAD_REQUEST, "Invalid JSON data");
    };
    let Some(params) = req.get("params").filter(|p| p.is_object()) else {
        return plain(StatusCode::BAD_REQUEST, "Invalid JSON-RPC data");
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let result = {
        let mut s = state.lock().expect("openspp state");
        s.rpc_calls += 1;
        dispatch(&mut s, Some(peer.ip()), params)
    };
    // Always HTTP 200; `result` is left out when it is None; an exception is the error
    // envelope with code 200 (O17:odoo/http.py:2029-2053, 1635-1652).
    Json(match result {
        Ok(Value::Null) => json!({"jsonrpc": "2.0", "id": id}),
        Ok(r) => json!({"jsonrpc": "2.0", "id": id, "result": r}),
        Err(e) => json!({"jsonrpc": "2.0", "id": id, "error": {
            "code": 200, "message": "Odoo Server Error", "data": e.data()}}),
    })
    .into_response()
}

/// `dispatch_rpc`: `common`, `db` and `object`; another service is a `KeyError`
/// (O17:odoo/http.py:380-391).
fn dispatch(
    s: &mut OpenSppState,
    peer: Option<IpAddr>,
    params: &Value,
) -> Result<Value, OdooError> {
    let service = params["service"].as_str().unwrap_or_default();
    let method = params["method"].as_str().unwrap_or_default();
    let args = params["args"].as_array().cloned().unwrap_or_default();
    let arg = |i: usize| {
        args.get(i)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match service {
        "common" => {
            *s.calls.entry(format!("common.{method}")).or_default() += 1;
            match method {
                // O17:odoo/service/common.py:19-29. An unknown database is answered as
                // a refused login here (a real server fails opening it).
                "authenticate" | "login" => {
                    let uid = (arg(0) == s.database)
                        .then(|| s.auth.authenticate(peer, &arg(1), &arg(2)))
                        .flatten();
                    Ok(uid.map_or(json!(false), |u| json!(u)))
                }
                "version" => Ok(
                    json!({"server_version": "17.0", "server_version_info": [17, 0, 0, "final", 0, ""],
                                       "server_serie": "17.0", "protocol_version": 1}),
                ),
                // O17:odoo/service/common.py:52-58.
                other => Err(OdooError::new(
                    "builtins.Exception",
                    format!("Method not found: {other}"),
                )),
            }
        }
        "object" => {
            // The password is checked before anything else (O17:odoo/service/model.py:26-28).
            let uid = args.get(1).and_then(Value::as_i64).unwrap_or(-1);
            if arg(0) != s.database {
                return Err(OdooError::access_denied("Access Denied"));
            }
            s.auth.check(peer, uid, &arg(2))?;
            match method {
                "execute_kw" => execute_kw(s, uid, &args[3.min(args.len())..]),
                other => Err(OdooError::new(
                    "builtins.NameError",
                    format!("Method not available {other}"),
                )),
            }
        }
        other => Err(OdooError::new("builtins.KeyError", format!("'{other}'"))),
    }
}

/// `execute_kw(db, uid, password, model, method, args, kwargs)`: private methods refused
/// (O17:odoo/models.py:144-147), then the model (O17:odoo/service/model.py:47-49), then the
/// method (O17:odoo/api.py:459-461); `kwargs.context` applies (O17:odoo/api.py:431-454).
fn execute_kw(s: &mut OpenSppState, uid: i64, rest: &[Value]) -> Result<Value, OdooError> {
    let model_name = rest.first().and_then(Value::as_str).unwrap_or_default();
    let method = rest.get(1).and_then(Value::as_str).unwrap_or_default();
    let args = rest
        .get(2)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let kwargs = rest
        .get(3)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let call = format!("{model_name}.{method}");
    *s.calls.entry(call.clone()).or_default() += 1;
    if let Some(pos) = s
        .odoo_faults
        .iter()
        .position(|f| f.call.as_ref().is_none_or(|c| *c == call))
    {
        let fault = &mut s.odoo_faults[pos];
        let error = fault.error.clone();
        fault.times = fault.times.saturating_sub(1);
        if fault.times == 0 {
            s.odoo_faults.remove(pos);
        }
        return Err(error);
    }
    if method.starts_with('_') {
        return Err(OdooError::access_error(format!(
            "Private methods (such as {method}) cannot be called remotely."
        )));
    }
    let m = orm::model(model_name)?;
    let role = s.auth.by_uid(uid).map_or(Role::ReadOnly, |u| u.role);
    let active_test = kwargs
        .get("context")
        .and_then(|c| c.get("active_test"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let env = Env {
        uid,
        groups: role.groups(),
        superuser: false,
        active_test,
    };
    let kw = |name: &str, pos: usize| {
        kwargs
            .get(name)
            .or_else(|| args.get(pos))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let ids = |v: Value| -> Vec<i64> {
        match v {
            Value::Number(n) => n.as_i64().into_iter().collect(),
            Value::Array(a) => a.iter().filter_map(Value::as_i64).collect(),
            _ => Vec::new(),
        }
    };
    let fields = |v: Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let page = |found: Vec<i64>, offset: Value, limit: Value| -> Vec<i64> {
        let offset = offset.as_u64().unwrap_or(0) as usize;
        let limit = limit.as_u64().map_or(usize::MAX, |l| l as usize);
        found.into_iter().skip(offset).take(limit).collect()
    };
    if model_name == "res.users" && method == "has_group" {
        let xmlid = kw("group_ext_id", 0);
        return s
            .auth
            .has_group(uid, xmlid.as_str().unwrap_or_default())
            .map(|b| json!(b));
    }
    s.transaction_as(&env, |db, env| match method {
        // A dict gives an id, a list gives ids (O17:odoo/api.py:439-445).
        "create" => match kw("vals_list", 0) {
            Value::Array(list) => {
                let created: Result<Vec<i64>, _> = list
                    .iter()
                    .map(|v| db.create(env, m, v.as_object().unwrap_or(&Record::new())))
                    .collect();
                Ok(json!(created?))
            }
            Value::Object(vals) => Ok(json!(db.create(env, m, &vals)?)),
            other => Err(OdooError::new(
                "builtins.AttributeError",
                format!("'{}' object has no attribute 'items'", type_name(&other)),
            )),
        },
        "write" => {
            let vals = kw("vals", 1).as_object().cloned().unwrap_or_default();
            db.write(
                env,
                m,
                &ids(args.first().cloned().unwrap_or_default()),
                &vals,
            )?;
            Ok(json!(true))
        }
        "unlink" => {
            db.unlink(env, m, &ids(args.first().cloned().unwrap_or_default()))?;
            Ok(json!(true))
        }
        "read" => db
            .read(
                env,
                m,
                &ids(args.first().cloned().unwrap_or_default()),
                &fields(kw("fields", 1)),
            )
            .map(Value::from),
        "search" => {
            let found = db.search(env, m, &domain(kw("domain", 0)), kw("order", 3).as_str())?;
            Ok(json!(page(found, kw("offset", 1), kw("limit", 2))))
        }
        "search_count" => Ok(json!(db
            .search(env, m, &domain(kw("domain", 0)), None)?
            .len())),
        "search_read" => {
            let found = db.search(env, m, &domain(kw("domain", 0)), kw("order", 4).as_str())?;
            let found = page(found, kw("offset", 2), kw("limit", 3));
            db.read(env, m, &found, &fields(kw("fields", 1)))
                .map(Value::from)
        }
        other => Err(OdooError::new(
            "builtins.AttributeError",
            format!(
                "The method '{other}' does not exist on the model '{}'",
                m.name
            ),
        )),
    })
}

fn domain(v: Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "str",
        Value::Number(_) => "int",
        Value::Bool(_) => "bool",
        Value::Null => "NoneType",
        _ => "list",
    }
}
