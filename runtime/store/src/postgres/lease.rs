//! Leases: at most one worker syncs a (tenant, config) at a time, across processes and
//! machines, and a worker that lost its lease cannot change anything.
//!
//! A `dcsync_leases` row per (tenant, config) holds an **epoch** (the fencing token), the
//! holder and an expiry in the database's clock (so the workers' clocks do not matter):
//! - Taking it: one statement that inserts the row at epoch 1, or bumps the epoch of a row
//!   whose expiry has passed; a live row refuses ([`StoreError::AlreadyRunning`]).
//! - Keeping it: a heartbeat thread renews the expiry every third of the TTL while the run
//!   lasts, only while the epoch is still its own.
//! - Giving it back: dropping the guard expires it at once; a worker killed with SIGKILL
//!   (or paused, or cut off) stops renewing, and another worker takes over at most one TTL
//!   after its last heartbeat: the TTL (`lease_ttl` in the store URL, default 30 s).
//! - Fencing: every write of a run (`begin_run`, `confirm_push`, `apply_pulled`,
//!   `finish_run`) first reads the row `FOR SHARE` in its own transaction and goes on only
//!   if the epoch is the one this worker took ([`StoreError::LeaseLost`] otherwise). The
//!   share lock makes a takeover (an `UPDATE` of the row) wait until that transaction
//!   ends, so a write either commits before the takeover or sees the new epoch and
//!   changes nothing. A paused worker that wakes up after losing its lease can therefore
//!   not move a cursor, store an event or record a run.

use super::{off_runtime, Pool};
use crate::{StoreError, SyncLease};
use postgres::GenericClient;
use std::collections::HashMap;
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The leases this store (process) holds, by config: their epochs.
pub(super) struct Leases {
    tenant: String,
    ttl: Duration,
    held: Mutex<HashMap<String, i64>>,
}

impl Leases {
    pub(super) fn new(tenant: String, ttl: Duration) -> Self {
        Leases {
            tenant,
            ttl,
            held: Mutex::default(),
        }
    }

    fn held(&self, config: &str) -> Option<i64> {
        self.held.lock().ok().and_then(|h| h.get(config).copied())
    }

    /// Check, inside the transaction `tx` about to write for `config`, that this worker
    /// may: it holds the lease at the current epoch (returned), or nobody holds a live one.
    pub(super) fn fence(
        &self,
        tx: &mut impl GenericClient,
        config: &str,
    ) -> Result<Option<i64>, StoreError> {
        let row = tx.query_opt(
            "SELECT epoch, expires_at > clock_timestamp() FROM dcsync_leases
             WHERE tenant_id = $1 AND config_id = $2 FOR SHARE",
            &[&self.tenant, &config],
        )?;
        let current: Option<(i64, bool)> = row.map(|r| (r.get(0), r.get(1)));
        match (self.held(config), current) {
            (Some(mine), Some((epoch, _))) if epoch == mine => Ok(Some(mine)),
            (Some(mine), now) => Err(StoreError::LeaseLost {
                config: config.to_string(),
                held: mine,
                current: now.map_or(0, |(e, _)| e),
            }),
            (None, Some((_, true))) => Err(StoreError::AlreadyRunning(config.to_string())),
            (None, _) => Ok(None),
        }
    }

    /// Take the lease of `config` (waiting for it when `wait`), with its heartbeat.
    pub(super) fn acquire(
        self: &Arc<Self>,
        pool: &Pool,
        config: &str,
        wait: bool,
    ) -> Result<SyncLease, StoreError> {
        let holder = format!(
            "pid {} on {}",
            std::process::id(),
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "?".into())
        );
        loop {
            let epoch = off_runtime(|| -> Result<Option<i64>, StoreError> {
                let mut c = get(pool)?;
                let row = c.query_opt(
                    "INSERT INTO dcsync_leases (tenant_id, config_id, epoch, holder, expires_at)
                     VALUES ($1, $2, 1, $3, clock_timestamp() + make_interval(secs => $4))
                     ON CONFLICT (tenant_id, config_id) DO UPDATE
                        SET epoch = dcsync_leases.epoch + 1, holder = EXCLUDED.holder,
                            acquired_at = clock_timestamp(), expires_at = EXCLUDED.expires_at
                      WHERE dcsync_leases.expires_at <= clock_timestamp()
                     RETURNING epoch",
                    &[&self.tenant, &config, &holder, &self.ttl.as_secs_f64()],
                )?;
                Ok(row.map(|r| r.get(0)))
            })?;
            match epoch {
                Some(epoch) => {
                    if let Ok(mut h) = self.held.lock() {
                        h.insert(config.to_string(), epoch);
                    }
                    let guard = LeaseGuard::start(self.clone(), pool.clone(), config, epoch);
                    return Ok(SyncLease::fenced(Box::new(guard), epoch));
                }
                None if wait => std::thread::sleep(Duration::from_millis(250)),
                None => return Err(StoreError::AlreadyRunning(config.to_string())),
            }
        }
    }
}

fn get(
    pool: &Pool,
) -> Result<
    r2d2::PooledConnection<r2d2_postgres::PostgresConnectionManager<postgres::NoTls>>,
    StoreError,
> {
    pool.get()
}

/// A held lease: renews it while alive, expires it when dropped.
struct LeaseGuard {
    leases: Arc<Leases>,
    pool: Pool,
    config: String,
    epoch: i64,
    stop: Option<Sender<()>>,
    heartbeat: Option<JoinHandle<()>>,
}

impl LeaseGuard {
    fn start(leases: Arc<Leases>, pool: Pool, config: &str, epoch: i64) -> Self {
        let (stop, stopped) = channel::<()>();
        let (l, p, c) = (leases.clone(), pool.clone(), config.to_string());
        let heartbeat = std::thread::Builder::new()
            .name(format!("dcsync-lease-{config}"))
            .spawn(move || loop {
                match stopped.recv_timeout(l.ttl / 3) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let renewed = get(&p).and_then(|mut c2| {
                    Ok(c2.execute(
                        "UPDATE dcsync_leases SET expires_at = clock_timestamp() + make_interval(secs => $4)
                         WHERE tenant_id = $1 AND config_id = $2 AND epoch = $3",
                        &[&l.tenant, &c, &epoch, &l.ttl.as_secs_f64()],
                    )?)
                });
                match renewed {
                    // Taken over: the run's next write fails on the fence; stop here.
                    Ok(0) => return,
                    Ok(_) => {}
                    // The database is unreachable: try again at the next beat; if that
                    // lasts a TTL, another worker takes over and the fence stops this one.
                    Err(_) => {}
                }
            })
            .ok();
        LeaseGuard {
            leases,
            pool,
            config: config.to_string(),
            epoch,
            stop: Some(stop),
            heartbeat,
        }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.heartbeat.take() {
            let _ = h.join();
        }
        let (t, c, e) = (&self.leases.tenant, &self.config, self.epoch);
        let _ = off_runtime(|| -> Result<u64, StoreError> {
            Ok(get(&self.pool)?.execute(
                "UPDATE dcsync_leases SET expires_at = clock_timestamp()
                 WHERE tenant_id = $1 AND config_id = $2 AND epoch = $3",
                &[t, c, &e],
            )?)
        });
        if let Ok(mut h) = self.leases.held.lock() {
            if h.get(c) == Some(&e) {
                h.remove(c);
            }
        }
    }
}
