//! Users, logins and the login cooldown, as `res.users` does them in Odoo 17.

use super::error::OdooError;
use super::schema;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// What a user may do: the OpenG2P groups, or a plain internal user (read-only on
/// contacts, nothing on the registry models).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `group_g2p_admin` and Access Rights (linked to the admin user by OpenG2P).
    Admin,
    /// `group_g2p_registrar`, which implies Contact Creation.
    Registrar,
    /// Only `base.group_user`: a read-only sync user.
    ReadOnly,
}

impl Role {
    /// The groups a user of this role is in, implied ones included (Odoo 17 stores implied
    /// groups in `res_groups_users_rel`, which `has_group` reads).
    pub fn groups(self) -> Vec<String> {
        let list: &[&str] = match self {
            Role::Admin => &[
                schema::USER,
                schema::PARTNER_MANAGER,
                schema::ERP_MANAGER,
                schema::ADMIN,
            ],
            Role::Registrar => &[schema::USER, schema::PARTNER_MANAGER, schema::REGISTRAR],
            Role::ReadOnly => &[schema::USER],
        };
        list.iter().map(|g| g.to_string()).collect()
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub uid: i64,
    pub login: String,
    pub password: String,
    /// API keys (scope `rpc`) work wherever the password does when the login is not
    /// interactive (O17:odoo/addons/base/models/res_users.py:2097-2118).
    pub api_keys: Vec<String>,
    pub role: Role,
    pub active: bool,
}

/// The users and the per-address failure counts of one server process.
#[derive(Debug)]
pub struct Auth {
    pub users: BTreeMap<String, User>,
    /// `registry._login_failures`: source address → (failures, last failure).
    failures: BTreeMap<IpAddr, (u32, Instant)>,
    /// `base.login_cooldown_after` (0 disables) and `base.login_cooldown_duration`.
    pub cooldown_after: u32,
    pub cooldown: Duration,
    /// `check` is `ormcache('uid', 'passwd')`: a pair that passed once is not checked (nor
    /// rate-limited) again by this worker (O17:odoo/addons/base/models/res_users.py:918-919).
    checked: BTreeSet<(i64, String)>,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            users: BTreeMap::new(),
            failures: BTreeMap::new(),
            cooldown_after: 5,
            cooldown: Duration::from_secs(60),
            checked: BTreeSet::new(),
        }
    }
}

const COOLDOWN: &str = "Too many login failures, please wait a bit before trying again.";

impl Auth {
    pub fn by_uid(&self, uid: i64) -> Option<&User> {
        self.users.values().find(|u| u.uid == uid)
    }

    /// Forget cached checks (a password changed).
    pub fn clear_cache(&mut self) {
        self.checked.clear();
    }

    /// `_assert_can_auth` around `attempt`: refuse without counting while on cooldown,
    /// count a failure, clear the count on success. Only with an HTTP request, keyed by
    /// the source address (O17:odoo/addons/base/models/res_users.py:1209-1302).
    fn guarded<T>(
        &mut self,
        peer: Option<IpAddr>,
        attempt: impl FnOnce(&Self) -> Result<T, OdooError>,
    ) -> Result<T, OdooError> {
        let Some(ip) = peer else {
            return attempt(self);
        };
        if let Some((failures, last)) = self.failures.get(&ip) {
            if self.cooldown_after > 0
                && *failures >= self.cooldown_after
                && last.elapsed() < self.cooldown
            {
                return Err(OdooError::access_denied(COOLDOWN));
            }
        }
        let out = attempt(self);
        match &out {
            Err(e) if e.name == "odoo.exceptions.AccessDenied" => {
                let entry = self.failures.entry(ip).or_insert((0, Instant::now()));
                *entry = (entry.0 + 1, Instant::now());
            }
            Err(_) => {}
            Ok(_) => {
                self.failures.remove(&ip);
            }
        }
        out
    }

    fn credentials_ok(user: &User, password: &str) -> bool {
        user.active && (user.password == password || user.api_keys.iter().any(|k| k == password))
    }

    /// `common.authenticate`: the uid, or `false` for any refusal, cooldown included
    /// (O17:odoo/service/common.py:22-29; `_login`, res_users.py:864-889). An empty
    /// password is refused before the cooldown guard, so it is not counted.
    pub fn authenticate(
        &mut self,
        peer: Option<IpAddr>,
        login: &str,
        password: &str,
    ) -> Option<i64> {
        if password.is_empty() {
            return None;
        }
        let login = login.to_string();
        self.guarded(peer, |auth| match auth.users.get(&login) {
            Some(u) if Self::credentials_ok(u, password) => Ok(u.uid),
            _ => Err(OdooError::access_denied("Access Denied")),
        })
        .ok()
    }

    /// `security.check` before every `execute_kw`: `AccessDenied` for an empty or wrong
    /// password or an inactive user, the cooldown text while on cooldown
    /// (O17:odoo/service/model.py:26-28; res_users.py:918-932).
    pub fn check(
        &mut self,
        peer: Option<IpAddr>,
        uid: i64,
        password: &str,
    ) -> Result<(), OdooError> {
        if password.is_empty() {
            return Err(OdooError::access_denied("Access Denied"));
        }
        let key = (uid, password.to_string());
        if self.checked.contains(&key) {
            return Ok(());
        }
        self.guarded(peer, |auth| match auth.by_uid(uid) {
            Some(u) if Self::credentials_ok(u, password) => Ok(()),
            _ => Err(OdooError::access_denied("Access Denied")),
        })?;
        self.checked.insert(key);
        Ok(())
    }

    /// `res.users.has_group`, an `@api.model` method any user may call about themselves:
    /// the external id must be `module.name` (O17:odoo/addons/base/models/res_users.py:1074-1096).
    pub fn has_group(&self, uid: i64, xmlid: &str) -> Result<bool, OdooError> {
        if xmlid.is_empty() || !xmlid.contains('.') {
            return Err(OdooError::new(
                "builtins.AssertionError",
                format!("External ID '{xmlid}' must be fully qualified"),
            ));
        }
        if xmlid.matches('.').count() > 1 {
            return Err(OdooError::value_error(
                "too many values to unpack (expected 2)",
            ));
        }
        Ok(self
            .by_uid(uid)
            .is_some_and(|u| u.role.groups().iter().any(|g| g == xmlid)))
    }
}
