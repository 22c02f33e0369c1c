//! Where a PostgreSQL store is: `postgres://user@host[:port]/db?tenant=<app config id>`.
//!
//! The URL names the database as libpq would (rust-postgres parses it: `host`, `port`,
//! `sslmode`, a socket directory as `?host=/run/postgresql`…) plus dcsync's own parameters,
//! which are taken out before it is handed over:
//! - `tenant`: the app config id whose rows the store works on (`events.tenant_id`…);
//!   required by every command that works on one tenant; `daemon` and `serve` without it
//!   serve each config in the tenant named by the config's id.
//! - `lease_ttl`: seconds a worker's lease on a config outlives its last heartbeat
//!   (default [`DEFAULT_LEASE_TTL`]); see `lease.rs`.
//! - `pool`: connections the store keeps (default 8).
//!
//! The password never appears in the URL (command lines and process lists are visible to
//! other users): it is read from `DCSYNC_STORE_PASSWORD`, else `PGPASSWORD`, and no
//! `Display` or `Debug` of this type shows it.

use crate::StoreError;
use std::fmt;
use std::time::Duration;

/// How long a lease outlives its holder's last heartbeat unless the URL says otherwise.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

/// The environment variables the password is read from, in order.
pub const PASSWORD_VARS: [&str; 2] = ["DCSYNC_STORE_PASSWORD", "PGPASSWORD"];

/// A parsed `postgres://` store location.
#[derive(Clone)]
pub struct PgLocation {
    /// The URL without dcsync's parameters and without any password.
    conn_url: url::Url,
    /// The tenant (app config id), if the URL names one.
    pub tenant: Option<String>,
    /// Lease time to live.
    pub lease_ttl: Duration,
    /// Connections in the pool.
    pub pool_size: u32,
    password: Option<String>,
}

impl PgLocation {
    /// Whether `s` is meant as a PostgreSQL location rather than a SQLite path.
    pub fn is_postgres(s: &str) -> bool {
        s.starts_with("postgres://") || s.starts_with("postgresql://")
    }

    /// Parse `s`, reading the password from the environment.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        let env_password = PASSWORD_VARS
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|p| !p.is_empty()));
        Self::parse_with_password(s, env_password)
    }

    /// Parse `s` with this password (tests; [`PgLocation::parse`] reads the environment).
    pub fn parse_with_password(s: &str, password: Option<String>) -> Result<Self, StoreError> {
        let bad = |message: String| StoreError::Open {
            path: mask_raw(s),
            message,
        };
        let mut u = url::Url::parse(s).map_err(|e| bad(format!("not a valid URL ({e})")))?;
        if !matches!(u.scheme(), "postgres" | "postgresql") {
            return Err(bad("the scheme must be postgres:// or postgresql://".into()));
        }
        if u.password().is_some() {
            return Err(bad(format!(
                "do not put the password in the URL (command lines are visible to other users): set {} or {}",
                PASSWORD_VARS[0], PASSWORD_VARS[1]
            )));
        }
        let (mut tenant, mut lease_ttl, mut pool_size) = (None, DEFAULT_LEASE_TTL, 8);
        let mut kept = Vec::new();
        for (k, v) in u.query_pairs() {
            match k.as_ref() {
                "tenant" => tenant = Some(check_tenant(&v).map_err(bad)?),
                "lease_ttl" => {
                    let secs: u64 = v
                        .parse()
                        .ok()
                        .filter(|s| (1..=3600).contains(s))
                        .ok_or_else(|| {
                            bad(format!(
                                "lease_ttl={v}: seconds from 1 to 3600, e.g. lease_ttl=30"
                            ))
                        })?;
                    lease_ttl = Duration::from_secs(secs);
                }
                "pool" => {
                    pool_size = v
                        .parse()
                        .ok()
                        .filter(|n| (2..=64).contains(n))
                        .ok_or_else(|| bad(format!("pool={v}: connections from 2 to 64")))?;
                }
                "password" => {
                    return Err(bad(format!(
                        "do not put the password in the URL: set {} or {}",
                        PASSWORD_VARS[0], PASSWORD_VARS[1]
                    )))
                }
                _ => kept.push((k.into_owned(), v.into_owned())),
            }
        }
        if kept.is_empty() {
            u.set_query(None);
        } else {
            u.query_pairs_mut().clear().extend_pairs(kept);
        }
        Ok(PgLocation {
            conn_url: u,
            tenant,
            lease_ttl,
            pool_size,
            password,
        })
    }

    /// The same database, for another tenant.
    pub fn with_tenant(&self, tenant: &str) -> Result<Self, StoreError> {
        let mut other = self.clone();
        other.tenant = Some(check_tenant(tenant).map_err(|message| StoreError::Open {
            path: self.to_string(),
            message,
        })?);
        Ok(other)
    }

    /// The rust-postgres configuration (with the password from the environment).
    pub(crate) fn config(&self) -> Result<postgres::Config, StoreError> {
        let mut c: postgres::Config =
            self.conn_url
                .as_str()
                .parse()
                .map_err(|e: postgres::Error| StoreError::Open {
                    path: self.to_string(),
                    message: e.to_string(),
                })?;
        if let Some(p) = &self.password {
            c.password(p);
        }
        if c.get_application_name().is_none() {
            c.application_name("dcsync");
        }
        Ok(c)
    }
}

/// Tenant ids as the original server accepts app config ids
/// (`packages/backend/src/routes/appConfigRoutes.ts:31-37`: `^[A-Za-z0-9][A-Za-z0-9_-]*$`).
fn check_tenant(t: &str) -> Result<String, String> {
    let ok = t.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && t.len() <= 200
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(t.to_string())
    } else {
        Err(format!(
            "tenant {t:?}: an app config id (letters, digits, '_' and '-', starting with a letter or digit)"
        ))
    }
}

/// A URL given on the command line, with any password replaced, for error messages.
fn mask_raw(s: &str) -> String {
    match url::Url::parse(s) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "password" {
                        "***".into()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            if !pairs.is_empty() {
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        Err(_) => "(a postgres:// URL that does not parse)".into(),
    }
}

impl fmt::Display for PgLocation {
    /// The URL as given, without password (it is never in `conn_url`), with the tenant.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut u = self.conn_url.clone();
        if let Some(t) = &self.tenant {
            u.query_pairs_mut().append_pair("tenant", t);
        }
        if self.password.is_some() {
            let _ = u.set_password(Some("***"));
        }
        write!(f, "{u}")
    }
}

impl fmt::Debug for PgLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgLocation({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_and_dcsync_parameters_are_taken_out_of_the_url() {
        let l = PgLocation::parse_with_password(
            "postgres://dc@db.example:5433/datacollect?tenant=app_1&lease_ttl=5&sslmode=disable",
            None,
        )
        .unwrap();
        assert_eq!(l.tenant.as_deref(), Some("app_1"));
        assert_eq!(l.lease_ttl, Duration::from_secs(5));
        assert_eq!(
            l.conn_url.as_str(),
            "postgres://dc@db.example:5433/datacollect?sslmode=disable"
        );
        let c = l.config().unwrap();
        assert_eq!(c.get_dbname(), Some("datacollect"));
        assert_eq!(c.get_user(), Some("dc"));
    }

    #[test]
    fn the_password_comes_from_the_environment_and_is_never_shown() {
        let l = PgLocation::parse_with_password(
            "postgres://dc@localhost/db?tenant=t",
            Some("s3cret-pw".into()),
        )
        .unwrap();
        assert_eq!(l.config().unwrap().get_password(), Some(&b"s3cret-pw"[..]));
        for shown in [l.to_string(), format!("{l:?}")] {
            assert!(!shown.contains("s3cret-pw"), "{shown}");
            assert!(shown.contains("***"), "{shown}");
        }
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_echoing_it() {
        for url in [
            "postgres://dc:hunter2@localhost/db?tenant=t",
            "postgres://dc@localhost/db?tenant=t&password=hunter2",
        ] {
            let e = PgLocation::parse_with_password(url, None).unwrap_err();
            let text = e.to_string();
            assert!(text.contains("PGPASSWORD"), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
        }
    }

    #[test]
    fn a_tenant_id_must_look_like_an_app_config_id() {
        let e = PgLocation::parse_with_password("postgres://dc@h/db?tenant=a'b", None);
        assert!(e.is_err());
        assert!(PgLocation::parse_with_password("postgres://dc@h/db?tenant=default", None).is_ok());
    }
}
