//! An OpenSPP 17 emulator: Odoo 17's JSON-RPC endpoint over a stock OpenG2P registry, as
//! the sources say the real server behaves (see `/work/research/openspp.md` for the
//! citations; `O17:`, `G2P:` and `OSPP:` below are paths in Odoo 17.0, OpenG2P's
//! `openg2p-registry` 17.0 and OpenSPP's `openspp-modules` 17.0).
//!
//! Stock models and fields only (`schema.rs`): a custom field is `ValueError: Invalid
//! field`. Errors are HTTP 200 with Odoo's JSON-RPC error envelope. Write dates keep their
//! microseconds, one per call, and are read truncated to the second. Searches hide archived
//! records. Users have OpenG2P's rights (admin, registrar, read-only), logins have Odoo's
//! cooldown. Tests can pin the clock, inject HTTP faults (`inject`) and Odoo errors
//! (`fail_next`), and count calls.

mod auth;
mod domain;
mod error;
mod orm;
mod rpc;
mod rules;
mod schema;
mod values;

pub use auth::Role;
pub use error::OdooError;
pub use orm::Record;

use super::faults::{Fault, FaultPlan};
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// An Odoo error to answer instead of running the next `times` matching calls
/// (`model.method`, e.g. `res.partner.create`; `None`: any `execute_kw`). The call has no
/// effect, as a rolled-back transaction.
#[derive(Clone, Debug)]
pub struct OdooFault {
    pub call: Option<String>,
    pub error: OdooError,
    pub times: u32,
}

/// The server's state: its database, users, clock, injected faults and call counts.
#[derive(Debug)]
pub struct OpenSppState {
    pub database: String,
    pub auth: auth::Auth,
    pub db: orm::Db,
    pub faults: FaultPlan,
    odoo_faults: VecDeque<OdooFault>,
    /// Every JSON-RPC request answered (HTTP faults aside).
    pub rpc_calls: u64,
    /// Calls by `common.<method>` or `<model>.<method>`.
    pub calls: BTreeMap<String, u64>,
    clock: Clock,
}

/// `cr.now()`: the transaction's start, UTC, microseconds; strictly increasing here.
#[derive(Debug)]
struct Clock {
    /// A pinned clock advances by `tick` per transaction instead of following real time.
    pinned: Option<chrono::NaiveDateTime>,
    tick: chrono::Duration,
    last: chrono::NaiveDateTime,
}

impl Clock {
    fn next(&mut self) -> chrono::NaiveDateTime {
        use chrono::Timelike;
        let t = match &mut self.pinned {
            Some(p) => {
                *p += self.tick;
                *p
            }
            None => chrono::Utc::now().naive_utc(),
        };
        let t = t
            .with_nanosecond(t.nanosecond() / 1000 * 1000)
            .unwrap_or(t)
            .max(self.last + chrono::Duration::microseconds(1));
        self.last = t;
        t
    }
}

impl OpenSppState {
    fn new(database: &str) -> Self {
        let mut s = OpenSppState {
            database: database.into(),
            auth: auth::Auth::default(),
            db: orm::Db::new(String::new()),
            faults: FaultPlan::default(),
            odoo_faults: VecDeque::new(),
            rpc_calls: 0,
            calls: BTreeMap::new(),
            clock: Clock {
                pinned: None,
                tick: chrono::Duration::milliseconds(1),
                last: chrono::NaiveDateTime::default(),
            },
        };
        s.seed();
        s
    }

    /// Stock data: the company, OpenG2P's group kinds (G2P:g2p_registry_group/data/group_kinds.xml:3-8),
    /// the Head membership kind (G2P:g2p_registry_membership/data/group_membership_kinds.xml:3-6),
    /// OpenSPP's genders (OSPP:spp_base_demo/data/gender_data.xml:2-9) and the groups'
    /// external ids.
    fn seed(&mut self) {
        let rows: Vec<(&str, Value)> = vec![
            ("res.company", json!({"name": "YourCompany"})),
            ("gender.type", json!({"code": "Male", "value": "Male"})),
            ("gender.type", json!({"code": "Female", "value": "Female"})),
            ("g2p.group.kind", json!({"name": "Household"})),
            ("g2p.group.kind", json!({"name": "Family"})),
            (
                "g2p.group.membership.kind",
                json!({"name": "Head", "is_unique": true}),
            ),
        ];
        for (model, vals) in rows {
            self.transaction(|db, env| {
                db.create(
                    env,
                    orm::model(model)?,
                    vals.as_object().unwrap_or(&Record::new()),
                )
            })
            .expect("seed data is valid");
        }
        for (i, (xmlid, name)) in schema::GROUPS.iter().enumerate() {
            let (module, short) = xmlid.split_once('.').unwrap_or(("base", xmlid));
            let group = json!({"name": name.rsplit('/').next().unwrap_or(name)});
            let data =
                json!({"name": short, "module": module, "model": "res.groups", "res_id": i + 1});
            self.transaction(|db, env| {
                db.create(
                    env,
                    orm::model("res.groups")?,
                    group.as_object().unwrap_or(&Record::new()),
                )?;
                db.create(
                    env,
                    orm::model("ir.model.data")?,
                    data.as_object().unwrap_or(&Record::new()),
                )
            })
            .expect("seed data is valid");
        }
    }

    /// Run `f` as one transaction of the database itself (no access checks): one
    /// `write_date`, and nothing kept if it fails.
    pub fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut orm::Db, &orm::Env) -> Result<T, OdooError>,
    ) -> Result<T, OdooError> {
        self.transaction_as(&orm::Env::superuser(), f)
    }

    fn transaction_as<T>(
        &mut self,
        env: &orm::Env,
        f: impl FnOnce(&mut orm::Db, &orm::Env) -> Result<T, OdooError>,
    ) -> Result<T, OdooError> {
        let snapshot = self.db.clone();
        self.db.now = domain::stored_datetime(self.clock.next());
        let out = f(&mut self.db, env);
        if out.is_err() {
            self.db = snapshot;
        }
        out
    }

    /// Add a user; its uid.
    pub fn add_user(&mut self, login: &str, password: &str, role: Role) -> i64 {
        let uid = if role == Role::Admin && !self.auth.users.values().any(|u| u.uid == 2) {
            2
        } else {
            self.auth
                .users
                .values()
                .map(|u| u.uid)
                .max()
                .unwrap_or(5)
                .max(5)
                + 1
        };
        self.auth.users.insert(
            login.into(),
            auth::User {
                uid,
                login: login.into(),
                password: password.into(),
                api_keys: Vec::new(),
                role,
                active: true,
            },
        );
        uid
    }
}

/// A running OpenSPP emulator.
#[derive(Clone, Debug)]
pub struct OpenSppEmulator {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<OpenSppState>>,
}

impl OpenSppEmulator {
    /// An instance with database `db`, the sync user `login` as a registrar, and
    /// `admin`/`admin` as the OpenG2P administrator.
    pub async fn start(
        addr: SocketAddr,
        db: &str,
        login: &str,
        password: &str,
    ) -> std::io::Result<Self> {
        let mut state = OpenSppState::new(db);
        state.add_user("admin", "admin", Role::Admin);
        state.add_user(login, password, Role::Registrar);
        let state = Arc::new(Mutex::new(state));
        let app = Router::new()
            .route("/jsonrpc", post(rpc::handle))
            .layer(DefaultBodyLimit::max(64 << 20))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            // The cooldown is keyed by the client's address: serve with it.
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            let _ = axum::serve(listener, app).await;
        });
        Ok(OpenSppEmulator { addr, state })
    }

    /// The base URL for a config (`/jsonrpc` is appended by the adapter).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&mut OpenSppState) -> T) -> T {
        f(&mut self.state.lock().expect("openspp state"))
    }

    /// Add a user; its uid.
    pub fn add_user(&self, login: &str, password: &str, role: Role) -> i64 {
        self.with(|s| s.add_user(login, password, role))
    }

    /// Let `key` stand for `login`'s password (an API key).
    pub fn add_api_key(&self, login: &str, key: &str) {
        self.with(|s| {
            if let Some(u) = s.auth.users.get_mut(login) {
                u.api_keys.push(key.into());
            }
        })
    }

    /// `base.login_cooldown_after` (0 disables) and `base.login_cooldown_duration`.
    pub fn set_login_cooldown(&self, after: u32, duration: std::time::Duration) {
        self.with(|s| {
            s.auth.cooldown_after = after;
            s.auth.cooldown = duration;
        })
    }

    /// Pin the database clock at `at` (`YYYY-MM-DD HH:MM:SS`): each later transaction is
    /// one millisecond after the previous, so many calls share a second.
    pub fn pin_clock(&self, at: &str) {
        let t = chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S")
            .expect("YYYY-MM-DD HH:MM:SS");
        self.with(|s| {
            // The test sets the time: it may be earlier than the last transaction.
            s.clock.pinned = Some(t);
            s.clock.last = t;
        })
    }

    /// Create a record as the database would (no access checks); its id.
    pub fn create(&self, model: &str, vals: Value) -> i64 {
        self.try_create(model, vals).expect("valid record")
    }

    /// Create a record, or Odoo's error.
    pub fn try_create(&self, model: &str, vals: Value) -> Result<i64, OdooError> {
        let vals = vals.as_object().cloned().unwrap_or_default();
        self.with(|s| s.transaction(|db, env| db.create(env, orm::model(model)?, &vals)))
    }

    /// Create many records in one transaction: they share one `write_date`.
    pub fn create_many(&self, model: &str, list: Vec<Value>) -> Vec<i64> {
        self.with(|s| {
            s.transaction(|db, env| {
                let m = orm::model(model)?;
                list.iter()
                    .map(|v| db.create(env, m, v.as_object().unwrap_or(&Record::new())))
                    .collect()
            })
        })
        .expect("valid records")
    }

    /// Update a record, as another OpenSPP user would.
    pub fn write(&self, model: &str, id: i64, vals: Value) {
        let vals = vals.as_object().cloned().unwrap_or_default();
        self.with(|s| s.transaction(|db, env| db.write(env, orm::model(model)?, &[id], &vals)))
            .expect("valid write");
    }

    /// Archive a record (`active = False`), as the UI's Archive action does.
    pub fn archive(&self, model: &str, id: i64) {
        self.write(model, id, json!({"active": false}));
    }

    /// Every record of a model as stored (archived ones too; Many2one as ids, datetimes
    /// with microseconds), by id.
    pub fn all(&self, model: &str) -> Vec<Record> {
        self.with(|s| s.db.table(model).cloned().collect())
    }

    /// One stored record.
    pub fn get(&self, model: &str, id: i64) -> Option<Record> {
        self.with(|s| s.db.get(model, id).cloned())
    }

    /// Make the next HTTP requests fail (status, malformed body, dropped connection…).
    pub fn inject(&self, faults: Vec<Fault>) {
        self.with(|s| s.faults.inject(faults))
    }

    /// Answer the next `times` calls of `call` (`model.method`; `None`: any) with `error`.
    pub fn fail_next(&self, call: Option<&str>, error: OdooError, times: u32) {
        self.with(|s| {
            s.odoo_faults.push_back(OdooFault {
                call: call.map(str::to_string),
                error,
                times,
            })
        })
    }

    /// How many calls of `key` (`common.authenticate`, `res.partner.create`…) were made.
    pub fn calls(&self, key: &str) -> u64 {
        self.with(|s| s.calls.get(key).copied().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests;
