//! The seeded simulation of the sync loop (see `datacollect_sync_e2e::sim`), at CI size on
//! SQLite and on PostgreSQL. `make sim SEEDS=N` runs more; `make sim SEED=S` replays one.
//! Environment: `SIM_SEEDS` (how many, from `SIM_FIRST`, default 0) or `SIM_SEED` (one).

use datacollect_sync_e2e::postgres::{cluster, off_runtime};
use datacollect_sync_e2e::sim::{run_many, SimStore};
use std::sync::Arc;

fn seeds(ci: u64) -> Vec<u64> {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    if let Some(one) = var("SIM_SEED") {
        return vec![one];
    }
    let first = var("SIM_FIRST").unwrap_or(0);
    (first..first + var("SIM_SEEDS").unwrap_or(ci)).collect()
}

async fn simulate(kind: SimStore, ci: u64) {
    let seeds = seeds(ci);
    let started = std::time::Instant::now();
    let (ok, failed) = run_many(seeds.clone(), Arc::new(kind), 4).await;
    assert!(
        failed.is_empty(),
        "{} of {} seeds broke a guarantee:\n{}",
        failed.len(),
        seeds.len(),
        failed.join("\n")
    );
    let sum = |f: fn(&datacollect_sync_e2e::sim::SimOutcome) -> u64| -> u64 {
        ok.iter().map(|(_, o)| f(o)).sum()
    };
    let (crashes, faults) = (sum(|o| o.crashes.into()), sum(|o| o.faults.into()));
    let mid_push = sum(|o| o.crashes_mid_push.into());
    let (events, records) = (sum(|o| o.local_events as u64), sum(|o| o.records as u64));
    println!(
        "{} seeds in {:.1} s: {} rounds, {crashes} crashes ({mid_push} mid-push), {faults} faults, {events} local events, {records} records, {} quarantined; no guarantee broken",
        ok.len(),
        started.elapsed().as_secs_f64(),
        sum(|o| o.rounds.into()),
        sum(|o| o.quarantined as u64),
    );
    // The plan exercised what it claims to (a sample of one replayed seed may not).
    if seeds.len() >= 20 {
        assert!(
            crashes >= seeds.len() as u64 / 5,
            "too few crashes: {crashes}"
        );
        assert!(
            mid_push >= seeds.len() as u64 / 20,
            "too few crashes mid-push: {mid_push}"
        );
        assert!(faults >= seeds.len() as u64, "too few faults: {faults}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_fault_runs_keep_every_guarantee_on_sqlite() {
    simulate(SimStore::Sqlite, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_fault_runs_keep_every_guarantee_on_postgres() {
    let db = off_runtime(|| cluster().database());
    simulate(SimStore::Postgres(db.url.clone()), 30).await;
}
