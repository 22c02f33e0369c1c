//! Seeded simulation of the sync loop: the real manager, store and WASM adapter against the
//! mock sync server, with faults, imports and host crashes chosen by a seed, and the
//! guarantees checked after every round.
//!
//! One seed fixes the whole plan: how many local events arrive when, which external records
//! the server holds (in no particular order, some delivered twice), the batch size, the
//! faults queued before each sync (5xx, 429 with and without Retry-After, dropped
//! connections, malformed answers, answers slower than the timeout, partial rejections), and
//! where the host crashes. Waits (backoff, Retry-After) run on a manual clock: they pass at
//! once and still count against the run's budget. A crash is the sync future dropped at its k-th poll (k from the
//! seed): whatever await point the run was parked at, nothing after it happens, and the
//! store is opened again as a restarted process would. The faults replay exactly; the
//! crash lands at the same await point whenever the I/O is as ready as it was, which on
//! loopback it nearly always is. Real SIGKILLs are exercised by the kill-loop tests
//! (`runtime/cli/tests/crash.rs`, `runtime/cli/tests/postgres_workers.rs`).
//!
//! Checked after every round (crashed or not):
//! - every event the store counts as delivered was received by the server (the push cursor
//!   is never past confirmed delivery), and the push and pull cursors never move back;
//! - every external record before the pull cursor was applied exactly once (one audit
//!   entry per record guid, none twice);
//! - run history claims no more than happened: the runs' pushed counts add up to at most
//!   the deliveries the server accepted, their applied counts to at most what the store
//!   applied, and only the crashed run may be left `running`.
//!
//! and at the end, once a clean sync ran: nothing pending, every local event received by
//! the server or quarantined with the server's reason, every distinct record applied once,
//! no run left running.
//!
//! Over 400 lines: the plan, the run and the checks are one piece: the checks read what the
//! plan knows independently of the store.

use crate::{code_cache, temp_store};
use datacollect_sync::engine::{AdapterRuntime, Limits};
use datacollect_sync::outcome::{QuarantinePhase, RunStatus};
use datacollect_sync::{
    AdapterRegistry, EventApplier, EventStore, ExternalSyncConfig, ExternalSyncManager,
    FormSubmission, SqliteStore,
};
use dcsync_emulators::{Fault, MockSyncServer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

const CONFIG: &str = "sim";

/// Where a simulated run keeps its data.
pub enum SimStore {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A tenant of this PostgreSQL database (`postgres://…/db`, no tenant).
    Postgres(String),
}

/// What one seed did, for the summary line.
#[derive(Debug, Default)]
pub struct SimOutcome {
    pub rounds: u32,
    pub crashes: u32,
    /// Crashes after the run delivered part of what was pending, and not all of it.
    pub crashes_mid_push: u32,
    pub faults: u32,
    pub local_events: usize,
    pub records: usize,
    pub quarantined: usize,
}

/// The adapter registry every seed shares (the mock-sync-server component, compiled once).
pub async fn registry() -> Arc<AdapterRegistry> {
    let runtime = AdapterRuntime::with_cache(Limits::default(), Some(code_cache())).unwrap();
    let registry = AdapterRegistry::new(runtime.clone());
    registry.insert(
        runtime
            .load(&crate::adapter_dir().join("mock_sync_server.wasm"))
            .await
            .expect("run `make adapters`"),
    );
    registry
}

/// The sync future, dropped at its `left`-th poll: a host crash at whatever await point
/// the run is parked at.
struct CrashAt<F> {
    inner: Pin<Box<F>>,
    left: u64,
}

impl<F: Future> Future for CrashAt<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        self.inner.as_mut().poll(cx).map(Some)
    }
}

/// Run `f` off the async runtime: the PostgreSQL store blocks (and is dropped) on a
/// runtime of its own.
fn off<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    crate::postgres::off_runtime(f)
}

/// One store, opened again after each crash.
struct Opened {
    open: Box<dyn Fn() -> Arc<dyn EventStore> + Send + Sync>,
    _keep: Option<tempfile::TempDir>,
}

fn opened(kind: &SimStore, seed: u64) -> Opened {
    match kind {
        SimStore::Sqlite => {
            let (_, dir) = temp_store();
            let path = dir.path().join("sim.db");
            Opened {
                open: Box::new(move || Arc::new(SqliteStore::open(&path).unwrap())),
                _keep: Some(dir),
            }
        }
        SimStore::Postgres(url) => {
            let location = datacollect_sync::store::PgLocation::parse_with_password(
                &format!("{url}?tenant=sim{seed}"),
                None,
            )
            .unwrap();
            Opened {
                open: Box::new(move || {
                    Arc::new(datacollect_sync::store::PostgresStore::open(&location).unwrap())
                }),
                _keep: None,
            }
        }
    }
}

/// What the simulation knows independently of the store.
#[derive(Default)]
struct Truth {
    /// Local events imported, in order.
    local: Vec<String>,
    /// Every record the server holds, in its order (a guid may repeat: a duplicate delivery).
    records: Vec<(String, String)>,
    /// Each record as seeded, by guid.
    values: std::collections::HashMap<String, Value>,
    push_cursor: i64,
    pull_cursor: usize,
}

fn record(guid: &str, entity: &str, rng: &mut StdRng) -> Value {
    // Timestamps in no order: the server's order is its own.
    let ts = format!(
        "2024-{:02}-{:02}T{:02}:00:00Z",
        rng.random_range(1..=12),
        rng.random_range(1..=28),
        rng.random_range(0..24)
    );
    json!({ "guid": guid, "entityGuid": entity, "type": "upsert-external-entity",
            "timestamp": ts,
            "data": { "entityType": "individual", "name": format!("Record {guid}") } })
}

fn local(seed: u64, from: usize, n: usize) -> Vec<FormSubmission> {
    (from..from + n)
        .map(|i| FormSubmission {
            guid: format!("s{seed}-ev-{i}"),
            entity_guid: format!("s{seed}-person-{i}"),
            event_type: "create-individual".into(),
            data: json!({ "name": format!("Person {i}") }),
            timestamp: "2025-01-01T00:00:00Z".into(),
            user_id: "sim".into(),
            sync_level: datacollect_sync::model::SyncLevel::Local,
        })
        .collect()
}

/// The faults queued before one sync.
fn faults(rng: &mut StdRng, pending: &[String]) -> Vec<Fault> {
    let mut out = Vec::new();
    for _ in 0..rng.random_range(0..4) {
        let mut f = Fault {
            times: Some(rng.random_range(1..=2)),
            ..Fault::default()
        };
        match rng.random_range(0..100) {
            0..=19 => f.status = Some(500),
            20..=34 => {
                f.status = Some(503);
                f.retry_after = Some(0);
            }
            35..=49 => {
                f.status = Some(429);
                f.retry_after = Some(0);
            }
            // Without Retry-After the manager backs off for half a second or more.
            50..=54 => f.status = Some(429),
            55..=69 => f.drop = true,
            70..=79 => f.malformed = true,
            // Slower than the config's timeout (250 ms).
            80..=84 => f.delay_ms = Some(400),
            _ => {
                f.times = Some(1);
                f.reject_guids = pending
                    .iter()
                    .filter(|_| rng.random_range(0..4) == 0)
                    .take(5)
                    .cloned()
                    .collect();
            }
        }
        out.push(f);
    }
    out
}

/// Run seed `seed`; `Err` names the first violated guarantee.
pub async fn run(
    seed: u64,
    kind: &SimStore,
    registry: &Arc<AdapterRegistry>,
) -> Result<SimOutcome, String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let store = opened(kind, seed);
    let server = MockSyncServer::start("127.0.0.1:0".parse().unwrap())
        .await
        .map_err(|e| e.to_string())?;
    let batch = rng.random_range(1..=40);
    let config = ExternalSyncConfig::from_value(&json!({
        "id": CONFIG, "type": "mock-sync-server", "url": server.url(),
        "extraFields": [
            {"name": "batchSize", "value": batch.to_string()},
            {"name": "retryAttempts", "value": "2"},
            {"name": "timeout", "value": "250"},
        ]
    }))
    .unwrap();
    let mut truth = Truth::default();
    let mut out = SimOutcome::default();
    // Backoff and Retry-After waits pass at once (and still count against the run's budget).
    let clock = Arc::new(datacollect_sync::clock::ManualClock::new());
    let mut next_record = 0usize;
    let add_records = |truth: &mut Truth, rng: &mut StdRng, next: &mut usize, n: usize| {
        let mut batch = Vec::new();
        for _ in 0..n {
            // One in ten is a record the server already holds, delivered again.
            if !truth.records.is_empty() && rng.random_range(0..10) == 0 {
                let (guid, entity) =
                    truth.records[rng.random_range(0..truth.records.len())].clone();
                batch.push(truth.values[&guid].clone());
                truth.records.push((guid, entity));
                continue;
            }
            let guid = format!("s{seed}-rec-{next}");
            // Some records update an entity an earlier record created.
            let entity = if *next > 0 && rng.random_range(0..4) == 0 {
                format!("s{seed}-ext-{}", rng.random_range(0..*next))
            } else {
                format!("s{seed}-ext-{next}")
            };
            *next += 1;
            let r = record(&guid, &entity, rng);
            truth.values.insert(guid.clone(), r.clone());
            batch.push(r);
            truth.records.push((guid, entity));
        }
        server.seed(batch);
    };
    let n = rng.random_range(0..80);
    add_records(&mut truth, &mut rng, &mut next_record, n);

    let rounds = rng.random_range(1..=6);
    for round in 0..rounds {
        out.rounds += 1;
        let s = off(|| (store.open)());
        let n = rng.random_range(0..60);
        let from = truth.local.len();
        let events = local(seed, from, n);
        off(|| s.append_local(&events, &EventApplier::new()))
            .map_err(|e| format!("round {round}: import: {e}"))?;
        truth.local.extend(events.into_iter().map(|e| e.guid));
        let n = rng.random_range(0..30);
        add_records(&mut truth, &mut rng, &mut next_record, n);
        let pending: Vec<String> = off(|| s.pending_events(CONFIG, 100_000))
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|p| p.event.guid)
            .collect();
        let planned = faults(&mut rng, &pending);
        out.faults += planned.len() as u32;
        server.inject(planned);
        // A sync takes a few dozen polls (more with retries): most crash points land
        // inside it, the rest after it ended.
        let crash = (rng.random_range(0..10) < 3).then(|| rng.random_range(1..60u64));
        let received_before = server.received().0.len();
        let mut m =
            ExternalSyncManager::new(s.clone(), Arc::new(EventApplier::new()), config.clone())
                .with_registry(registry.clone())
                .with_clock(clock.clone());
        m.initialize().await.map_err(|e| e.to_string())?;
        let sync = m.synchronize(None);
        let crashed = match crash {
            Some(k) => CrashAt {
                inner: Box::pin(sync),
                left: k,
            }
            .await
            .is_none(),
            None => {
                let _ = sync.await;
                false
            }
        };
        out.crashes += crashed as u32;
        drop(m);
        if crashed {
            let delivered = server.received().0.len() - received_before;
            let left = off(|| s.pending_count(CONFIG)).map_err(|e| e.to_string())?;
            out.crashes_mid_push += (delivered > 0 && left > 0) as u32;
        }
        off(move || drop(s));
        // Faults the run did not reach would fall on the next one: clear them, as the next
        // round plans its own.
        server.state.lock().unwrap().faults = Default::default();
        off(|| check(&(store.open)(), &server, &mut truth, crashed))
            .map_err(|e| format!("round {round} (crashed: {crashed}): {e}"))?;
    }

    // The end: no faults, syncs until one succeeds.
    let s = off(|| (store.open)());
    let mut last = None;
    for _ in 0..3 {
        let mut m =
            ExternalSyncManager::new(s.clone(), Arc::new(EventApplier::new()), config.clone())
                .with_registry(registry.clone())
                .with_clock(clock.clone());
        m.initialize().await.map_err(|e| e.to_string())?;
        last = Some(m.synchronize(None).await);
        if matches!(last, Some(Ok(_))) {
            break;
        }
    }
    match last {
        Some(Ok(r)) if r.status == RunStatus::Succeeded => {}
        other => {
            return Err(format!(
                "the clean sync at the end did not succeed: {other:?}"
            ))
        }
    }
    off(|| {
        check(&s, &server, &mut truth, false)?;
        finished(&s, &server, &truth, &mut out)
    })?;
    off(move || drop(s));
    out.local_events = truth.local.len();
    out.records = truth.records.len();
    Ok(out)
}

/// The guarantees that hold after every round.
fn check(
    s: &Arc<dyn EventStore>,
    server: &MockSyncServer,
    truth: &mut Truth,
    crashed: bool,
) -> Result<(), String> {
    let e = |e: datacollect_sync::store::StoreError| e.to_string();
    let (received, _, server_dups) = server.received();
    let received: HashSet<String> = received
        .iter()
        .filter_map(|v| v["guid"].as_str().map(String::from))
        .collect();
    let pending: HashSet<String> = s
        .pending_events(CONFIG, 100_000)
        .map_err(e)?
        .into_iter()
        .map(|p| p.event.guid)
        .collect();
    let quarantined: HashSet<String> = s
        .quarantine(Some(CONFIG))
        .map_err(e)?
        .into_iter()
        .filter(|q| q.phase == QuarantinePhase::Push)
        .map(|q| q.event_guid)
        .collect();
    for guid in &truth.local {
        if !pending.contains(guid) && !quarantined.contains(guid) && !received.contains(guid) {
            return Err(format!(
                "{guid} counts as delivered but the server never received it"
            ));
        }
    }
    let cursors = s.cursors(CONFIG).map_err(e)?;
    if cursors.push < truth.push_cursor {
        return Err(format!(
            "the push cursor moved back: {} → {}",
            truth.push_cursor, cursors.push
        ));
    }
    truth.push_cursor = cursors.push;
    let pull: usize = match cursors.pull.as_deref() {
        None => 0,
        Some(c) => c.parse().map_err(|_| format!("pull cursor {c:?}"))?,
    };
    if pull < truth.pull_cursor {
        return Err(format!(
            "the pull cursor moved back: {} → {pull}",
            truth.pull_cursor
        ));
    }
    truth.pull_cursor = pull;
    // Every record before the cursor applied exactly once.
    // Each external entity's audit log, read once.
    let mut logs = BTreeMap::new();
    for (_, entity) in &truth.records {
        if !logs.contains_key(entity.as_str()) {
            logs.insert(entity.as_str(), s.audit_log(entity).map_err(e)?);
        }
    }
    let mut by_entity: BTreeMap<&str, HashSet<&str>> = BTreeMap::new();
    for (guid, entity) in truth.records.iter().take(pull) {
        by_entity.entry(entity).or_default().insert(guid);
    }
    for (entity, guids) in &by_entity {
        let mut seen = HashSet::new();
        for entry in &logs[entity] {
            if !seen.insert(entry.event_guid.as_str()) {
                return Err(format!("{} applied twice to {entity}", entry.event_guid));
            }
        }
        for g in guids {
            if !seen.contains(g) {
                return Err(format!(
                    "record {g} is before the pull cursor ({pull}) but was never applied to {entity}"
                ));
            }
        }
    }
    // History claims no more than happened.
    let runs = s.runs(Some(CONFIG), 10_000).map_err(e)?;
    let claimed_pushed: u64 = runs.iter().map(|r| r.pushed).sum();
    let deliveries = received.len() as u64 + server_dups;
    if claimed_pushed > deliveries {
        return Err(format!(
            "runs claim {claimed_pushed} events pushed; the server accepted {deliveries} deliveries"
        ));
    }
    let claimed_applied: u64 = runs.iter().map(|r| r.applied).sum();
    let all_applied: u64 = logs.values().map(|l| l.len() as u64).sum();
    if claimed_applied > all_applied {
        return Err(format!(
            "runs claim {claimed_applied} records applied; the store holds {all_applied}"
        ));
    }
    let running = runs
        .iter()
        .filter(|r| r.status == RunStatus::Running)
        .count();
    if running > usize::from(crashed) {
        return Err(format!("{running} runs still marked running"));
    }
    Ok(())
}

/// The guarantees once a clean sync ran.
fn finished(
    s: &Arc<dyn EventStore>,
    server: &MockSyncServer,
    truth: &Truth,
    out: &mut SimOutcome,
) -> Result<(), String> {
    let e = |e: datacollect_sync::store::StoreError| e.to_string();
    let pending = s.pending_count(CONFIG).map_err(e)?;
    if pending != 0 {
        return Err(format!("{pending} events still pending after a clean sync"));
    }
    let (received, _, _) = server.received();
    let received: HashSet<String> = received
        .iter()
        .filter_map(|v| v["guid"].as_str().map(String::from))
        .collect();
    let quarantine = s.quarantine(Some(CONFIG)).map_err(e)?;
    for guid in &truth.local {
        let q = quarantine.iter().find(|q| &q.event_guid == guid);
        match (received.contains(guid), q) {
            (true, _) => {}
            (false, Some(q)) if q.reason.contains("rejected by mock server") => {}
            (false, q) => {
                return Err(format!(
                    "local event {guid} lost: not received, quarantine {q:?}"
                ))
            }
        }
    }
    out.quarantined = quarantine.len();
    if truth.pull_cursor != truth.records.len() {
        return Err(format!(
            "after a clean sync the pull cursor is {} of {} records",
            truth.pull_cursor,
            truth.records.len()
        ));
    }
    let runs = s.runs(Some(CONFIG), 10_000).map_err(e)?;
    if let Some(r) = runs.iter().find(|r| r.status == RunStatus::Running) {
        return Err(format!("run {} still marked running at the end", r.id));
    }
    Ok(())
}

/// Run `seeds` with `parallel` at a time; the failures, each with the command replaying it.
pub async fn run_many(
    seeds: impl IntoIterator<Item = u64>,
    kind: Arc<SimStore>,
    parallel: usize,
) -> (Vec<(u64, SimOutcome)>, Vec<String>) {
    let registry = registry().await;
    let semaphore = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = tokio::task::JoinSet::new();
    for seed in seeds {
        let (registry, kind, permit) = (registry.clone(), kind.clone(), semaphore.clone());
        tasks.spawn(async move {
            let _p = permit.acquire_owned().await.unwrap();
            (seed, run(seed, &kind, &registry).await)
        });
    }
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((seed, Ok(o))) => ok.push((seed, o)),
            Ok((seed, Err(why))) => failed.push(format!(
                "seed {seed}: {why}\n  replay: make sim SEED={seed}{}",
                match &*kind {
                    SimStore::Sqlite => "",
                    SimStore::Postgres(_) => " SIM_STORE=postgres",
                }
            )),
            Err(e) => failed.push(format!("a seed panicked: {e}")),
        }
    }
    (ok, failed)
}
