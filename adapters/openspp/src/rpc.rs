//! Odoo's JSON-RPC: one call, Odoo's exceptions and what each means for a sync, and the
//! session a run logs in once for.

use crate::options::Settings;
use datacollect_adapter_sdk::host;
use datacollect_adapter_sdk::http::Request;
use datacollect_adapter_sdk::{Config, SyncError};
use serde_json::{json, Value};

/// An exception the server answered with: `error.data.name` (`odoo.exceptions.AccessError`,
/// `builtins.ValueError`, `psycopg2.errors.SerializationFailure`…) and its message.
#[derive(Clone, Debug)]
pub struct OdooError {
    pub name: String,
    pub message: String,
}

impl OdooError {
    /// The class name without its module.
    fn class(&self) -> &str {
        self.name.rsplit('.').next().unwrap_or(&self.name)
    }

    fn is_concurrency(&self) -> bool {
        // Odoo retries these itself, up to five times, before it answers with them
        // (O17:odoo/service/model.py:22-23, 117-174): another try later is the fix.
        self.name.starts_with("psycopg2")
            && matches!(
                self.class(),
                "SerializationFailure"
                    | "DeadlockDetected"
                    | "LockNotAvailable"
                    | "TransactionRollbackError"
                    | "OperationalError"
            )
    }

    /// Odoo refusing a record's own values: constraints, a wrong selection value, a type
    /// PostgreSQL cannot take (`InvalidTextRepresentation`), a deleted record.
    fn is_about_the_record(&self) -> bool {
        match self.class() {
            "ValidationError" | "MissingError" => true,
            "UserError" => !self.message.contains("doesn't exist"),
            "ValueError" => !self.message.starts_with("Invalid field"),
            "InvalidTextRepresentation" | "DataError" | "InvalidDatetimeFormat" => true,
            _ => false,
        }
    }
}

/// The right an ORM method needs, in the words of Odoo's access messages.
fn right(method: &str) -> &'static str {
    match method {
        "create" => "create",
        "write" => "modify",
        "unlink" => "delete",
        _ => "read",
    }
}

/// What an Odoo error means for the run when no single record is to blame: bad credentials
/// stop it, a missing right or field is the operator's to fix, a concurrent update is
/// retried, anything else fails it.
pub fn run_error(e: OdooError, model: &str, method: &str) -> SyncError {
    match e.class() {
        "AccessDenied" => SyncError::Unauthorized(format!(
            "OpenSPP refused the sync user's credentials on {model}.{method}: {}",
            e.message
        )),
        "AccessError" => SyncError::Config(format!(
            "the OpenSPP sync user may not {} {model} records ({method}): give the user the right (OpenG2P's Registrar group has it), or sync as another user. OpenSPP said: {}",
            right(method),
            e.message
        )),
        _ if e.is_concurrency() => SyncError::transient(format!(
            "OpenSPP {model}.{method}: {}: {} (a concurrent update; tried again later)",
            e.name, e.message
        )),
        "ValueError" if e.message.starts_with("Invalid field") => SyncError::Config(format!(
            "OpenSPP has no such field ({}): stock OpenSPP refuses fields it does not define; fix the field names in opensppAdapterOptions",
            e.message
        )),
        "UserError" | "AttributeError"
            if e.message.contains("doesn't exist") || e.message.contains("does not exist") =>
        {
            SyncError::Config(format!(
                "OpenSPP cannot {method} {model}: {}; is the OpenG2P registry installed?",
                e.message
            ))
        }
        _ => SyncError::Internal(format!(
            "OpenSPP {model}.{method} failed: {}: {}",
            e.name, e.message
        )),
    }
}

/// For a record's own create or write: `Ok(reason)` when OpenSPP refused the record (it is
/// quarantined, the rest of the batch goes on), the run's error otherwise.
pub fn record_error(e: OdooError, model: &str, method: &str) -> Result<String, SyncError> {
    if e.is_about_the_record() {
        Ok(format!("OpenSPP refused it: {}: {}", e.name, e.message))
    } else {
        Err(run_error(e, model, method))
    }
}

/// One JSON-RPC call; an Odoo exception is `Ok(Err)`, for the caller to judge.
fn call(
    config: &Config,
    service: &str,
    method: &str,
    args: Value,
) -> Result<Result<Value, OdooError>, SyncError> {
    let body = json!({"jsonrpc": "2.0", "method": "call", "id": 1,
                      "params": {"service": service, "method": method, "args": args}});
    let answer: Value = Request::post(format!("{}/jsonrpc", config.url.trim_end_matches('/')))
        .json(&body)?
        .send()?
        .error_for_status()?
        .json()?;
    // Errors come back as HTTP 200 with `error.data.{name, message}`
    // (O17:odoo/http.py:398-408, 2029-2044); a `None` result has no `result` key.
    if let Some(err) = answer.get("error") {
        return Ok(Err(OdooError {
            name: err["data"]["name"]
                .as_str()
                .unwrap_or("unknown")
                .to_string(),
            message: err["data"]["message"]
                .as_str()
                .or(err["message"].as_str())
                .unwrap_or("Odoo error")
                .to_string(),
        }));
    }
    Ok(Ok(answer.get("result").cloned().unwrap_or(Value::Null)))
}

/// Where the run keeps the uid it logged in with.
const UID_KEY: &str = "openspp.uid";

/// A logged-in user for the calls of one sync run.
pub struct Session<'c> {
    pub config: &'c Config,
    pub settings: Settings,
    pub uid: i64,
    password: String,
}

impl<'c> Session<'c> {
    /// The run's session: its uid from the run state, or a login now. Odoo puts an address
    /// on a 60 s cooldown after 5 failed logins (O17:odoo/addons/base/models/res_users.py:1209-1302),
    /// so a run logs in once, and a refused login stops it without a retry.
    pub fn open(config: &'c Config) -> Result<Self, SyncError> {
        let settings = Settings::from_config(config)?;
        let (login, password) = credentials(config)?;
        if let Some(uid) = host::run_get(UID_KEY).and_then(|u| u.parse().ok()) {
            return Ok(Session {
                config,
                settings,
                uid,
                password,
            });
        }
        let db = settings.database.clone();
        // `authenticate` answers `false` for a bad password, an unknown user and the
        // cooldown alike (O17:odoo/service/common.py:22-29).
        let uid = match call(config, "common", "authenticate", json!([db, login, password, {}]))? {
            Ok(Value::Number(uid)) => uid.as_i64().unwrap_or_default(),
            Ok(_) => {
                return Err(SyncError::Unauthorized(format!(
                    "OpenSPP refused the login on database {db:?}: check the username and password (or API key). Odoo gives the same answer for 60 s after 5 failed logins from this address; this sync does not retry, so it never prolongs that"
                )))
            }
            Err(e) => return Err(run_error(e, "common", "authenticate")),
        };
        let session = Session {
            config,
            settings,
            uid,
            password,
        };
        session.check_group()?;
        host::run_set(UID_KEY, &uid.to_string());
        Ok(session)
    }

    /// `registrarGroup`: the user must be in that group. `res.users.has_group` is an
    /// `@api.model` method every user may call about themselves
    /// (O17:odoo/addons/base/models/res_users.py:1074-1096); the original adapter read
    /// `ir.model.data` instead, which registrars may not.
    fn check_group(&self) -> Result<(), SyncError> {
        let Some(group) = self.settings.registrar_group.as_deref() else {
            return Ok(());
        };
        match self.execute("res.users", "has_group", json!([group]), json!({}))? {
            Ok(Value::Bool(true)) => Ok(()),
            Ok(_) => Err(SyncError::Config(format!(
                "the OpenSPP sync user (uid {}) is not in group {group:?} (registrarGroup): add the user to it, or change registrarGroup",
                self.uid
            ))),
            Err(e) => Err(SyncError::Config(format!(
                "could not check whether the OpenSPP sync user is in group {group:?} (registrarGroup): {}: {}",
                e.name, e.message
            ))),
        }
    }

    /// `execute_kw`; an Odoo exception is `Ok(Err)` for the caller to judge.
    pub fn execute(
        &self,
        model: &str,
        method: &str,
        args: Value,
        kwargs: Value,
    ) -> Result<Result<Value, OdooError>, SyncError> {
        let db = &self.settings.database;
        call(
            self.config,
            "object",
            "execute_kw",
            json!([db, self.uid, self.password, model, method, args, kwargs]),
        )
    }

    /// `execute_kw` where any Odoo exception is the run's ([`run_error`]).
    pub fn run(
        &self,
        model: &str,
        method: &str,
        args: Value,
        kwargs: Value,
    ) -> Result<Value, SyncError> {
        self.execute(model, method, args, kwargs)?
            .map_err(|e| run_error(e, model, method))
    }

    /// `search_read` with archived records included (`active_test: False`: identity must
    /// see them, O17:odoo/models.py:5117-5123).
    pub fn search_read(
        &self,
        model: &str,
        domain: Value,
        fields: &[&str],
        order: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<Value>, SyncError> {
        let mut kwargs = json!({"fields": fields, "context": {"active_test": false}});
        if let Some(o) = order {
            kwargs["order"] = json!(o);
        }
        if let Some(l) = limit {
            kwargs["limit"] = json!(l);
        }
        let rows = self.run(model, "search_read", json!([domain]), kwargs)?;
        Ok(rows.as_array().cloned().unwrap_or_default())
    }

    /// How many records match (archived ones too).
    pub fn count(&self, model: &str, domain: Value) -> Result<u64, SyncError> {
        let n = self.run(
            model,
            "search_count",
            json!([domain]),
            json!({"context": {"active_test": false}}),
        )?;
        Ok(n.as_u64().unwrap_or(0))
    }
}

/// The login and the password reference: the credentials given to the sync, else the
/// `username` and secret `password` fields.
fn credentials(config: &Config) -> Result<(String, String), SyncError> {
    if config.has_secret("credentials.password") {
        return Ok((
            Config::secret_ref("credentials.username"),
            Config::secret_ref("credentials.password"),
        ));
    }
    let user = config.extra("username").ok_or_else(|| {
        SyncError::Config(
            "extra field `username` is required (or pass credentials to the sync)".into(),
        )
    })?;
    if !config.has_secret("password") {
        return Err(SyncError::Config(
            "extra field `password` is required".into(),
        ));
    }
    Ok((user.to_string(), Config::secret_ref("password")))
}
