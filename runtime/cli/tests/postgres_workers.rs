//! Several `dcsync daemon` workers on one DataCollect database, killed with SIGKILL in a
//! loop while the Node server keeps inserting events: every lease a killed worker held is
//! taken over within its TTL; afterwards no event is lost, none is applied twice, no cursor
//! ever moved backwards, and no two runs of a config overlapped.
//! And every command that takes `--store` takes a `postgres://` URL, never printing the
//! password. And `dcsync serve` on a URL that names no tenant serves each config in the
//! tenant its id names. A real PostgreSQL server (see `datacollect_sync_e2e::postgres`).
//! Over 400 lines: the tests drive real `dcsync` processes against one server; splitting
//! them would start a second one.

mod common;

use common::{dcsync, dcsync_mock_only};
use datacollect_sync::model::SyncLevel;
use datacollect_sync::{EventStore, FormSubmission};
use datacollect_sync_e2e::node_server as node;
use datacollect_sync_e2e::postgres::cluster;
use datacollect_sync_e2e::webdriver::Browser;
use dcsync_emulators::MockSyncServer;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TENANTS: [&str; 2] = ["alpha", "beta"];
const WORKERS: usize = 3;
const PULLED: usize = 150;
const LEASE_TTL_S: u64 = 2;
const KILLS: usize = 8;

fn node_event(tenant: &str, i: usize) -> FormSubmission {
    FormSubmission {
        guid: format!("{tenant}-node-{i}"),
        entity_guid: format!("{tenant}-person-{i}"),
        event_type: "create-individual".into(),
        data: json!({ "name": format!("Person {i}") }),
        timestamp: "2025-01-01T00:00:00.000Z".into(),
        user_id: "admin".into(),
        sync_level: SyncLevel::Remote,
    }
}

fn worker(configs: &[std::path::PathBuf], store: &str, log: &Path) -> Child {
    let mut c = dcsync();
    c.arg("daemon");
    for cfg in configs {
        c.arg("--config").arg(cfg);
    }
    c.arg("--store")
        .arg(store)
        .arg("--interval")
        .arg("1s")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// The worker processes; whatever happens to the test, none outlives it.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for w in &mut self.0 {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

impl std::ops::Index<usize> for Workers {
    type Output = Child;
    fn index(&self, i: usize) -> &Child {
        &self.0[i]
    }
}

impl std::ops::IndexMut<usize> for Workers {
    fn index_mut(&mut self, i: usize) -> &mut Child {
        &mut self.0[i]
    }
}

/// A small deterministic generator: which worker dies, and when.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn three_workers_killed_in_a_loop_lose_nothing_and_apply_nothing_twice() {
    let db = cluster().database();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Warm the compiled-code cache, so workers start fast.
    assert!(dcsync().arg("adapters").output().unwrap().status.success());
    let mut servers = HashMap::new();
    let mut configs = Vec::new();
    for t in TENANTS {
        let server = rt
            .block_on(MockSyncServer::start("127.0.0.1:0".parse().unwrap()))
            .unwrap();
        server.seed(
            (0..PULLED)
                .map(|i| json!({ "entityGuid": format!("{t}-ext-{i}"), "data": { "name": format!("E{i}") } }))
                .collect(),
        );
        server.set_latency(40);
        // The config's id names its tenant: one daemon serves both.
        let cfg = json!({ "id": t, "type": "mock-sync-server", "url": server.url(),
            "extraFields": [{ "name": "batchSize", "value": "15" }] });
        let path = dir.path().join(format!("{t}.json"));
        std::fs::write(&path, cfg.to_string()).unwrap();
        configs.push(path);
        servers.insert(t, server);
    }
    // The server's tables exist (the Node server created them) and hold events already.
    let store_url = format!("{}?lease_ttl={LEASE_TTL_S}", db.url);
    drop(db.store(TENANTS[0]));
    let mut c = db.client();
    let mut inserted: HashMap<&str, usize> = HashMap::new();
    for t in TENANTS {
        for i in 0..40 {
            node::save_event(&mut c, t, &node_event(t, i));
        }
        inserted.insert(t, 40);
    }

    // Watch the cursors the whole time: they must never move backwards.
    let stop = Arc::new(AtomicBool::new(false));
    let backwards: Arc<Mutex<Vec<String>>> = Arc::default();
    let watcher = {
        let (stop, backwards, url) = (stop.clone(), backwards.clone(), db.url.clone());
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let mut seen: HashMap<String, (i64, i64)> = HashMap::new();
            while !stop.load(Ordering::Relaxed) {
                for r in c
                    .query("SELECT tenant_id || '/' || config_id, push_pos, pull_cursor FROM dcsync_cursors", &[])
                    .unwrap_or_default()
                {
                    let key: String = r.get(0);
                    let push: i64 = r.get(1);
                    let pull: i64 = r
                        .get::<_, Option<String>>(2)
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(0);
                    let before = seen.get(&key).copied().unwrap_or((0, 0));
                    if push < before.0 || pull < before.1 {
                        backwards.lock().unwrap().push(format!("{key}: {before:?} -> {:?}", (push, pull)));
                    }
                    seen.insert(key, (push.max(before.0), pull.max(before.1)));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };

    let logs: Vec<_> = (0..WORKERS)
        .map(|i| dir.path().join(format!("worker-{i}.log")))
        .collect();
    let mut workers = Workers(
        (0..WORKERS)
            .map(|i| worker(&configs, &store_url, &logs[i]))
            .collect(),
    );
    let mut rng = Lcg(0x5eed);
    let (mut kills, start) = (0, Instant::now());
    let mut takeovers = Vec::new();
    while kills < KILLS {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "the kill loop took too long"
        );
        std::thread::sleep(Duration::from_millis(700 + rng.next(900)));
        // The Node server keeps storing events meanwhile.
        for t in TENANTS {
            let n = inserted[t];
            for i in n..n + 5 {
                node::save_event(&mut c, t, &node_event(t, i));
            }
            inserted.insert(t, n + 5);
        }
        // Kill a worker in the middle of a run when one is running (wait a little for one
        // to take a lease), else any worker.
        let mut victim = rng.next(WORKERS as u64) as usize;
        let look = Instant::now();
        while look.elapsed() < Duration::from_secs(2) {
            let holders: Vec<String> = c
                .query(
                    "SELECT holder FROM dcsync_leases WHERE expires_at > clock_timestamp()",
                    &[],
                )
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            let running = (0..WORKERS).find(|i| {
                let pid = format!("pid {} ", workers[*i].id());
                holders.iter().any(|h| h.starts_with(&pid))
            });
            if let Some(i) = running {
                victim = i;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The leases the victim holds right now (its epochs), to time their takeover.
        let held: Vec<(String, i64)> = c
            .query(
                "SELECT tenant_id || '/' || config_id, epoch FROM dcsync_leases
                 WHERE holder LIKE $1 AND expires_at > clock_timestamp()",
                &[&format!("pid {} %", workers[victim].id())],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        workers[victim].kill().unwrap(); // SIGKILL
        workers[victim].wait().unwrap();
        let killed_at = Instant::now();
        kills += 1;
        workers[victim] = worker(&configs, &store_url, &logs[victim]);
        for (key, epoch) in held {
            // Another worker (or the restarted one) takes the config over within the TTL,
            // plus the daemons' 1 s interval.
            while c
                .query_one(
                    "SELECT epoch FROM dcsync_leases WHERE tenant_id || '/' || config_id = $1",
                    &[&key],
                )
                .unwrap()
                .get::<_, i64>(0)
                == epoch
            {
                assert!(
                    killed_at.elapsed() < Duration::from_secs(LEASE_TTL_S + 4),
                    "{key}: nobody took over the lease of a killed worker"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            takeovers.push(killed_at.elapsed());
        }
    }
    assert!(
        !takeovers.is_empty(),
        "no kill hit a worker holding a lease"
    );

    // The survivors (and the restarted) finish the work within the lease TTL and a few runs.
    let done = |c: &mut postgres::Client| {
        TENANTS.iter().all(|t| {
            let received: HashSet<String> = servers[t]
                .received()
                .0
                .iter()
                .filter_map(|e| e["guid"].as_str().map(str::to_string))
                .collect();
            let pushed_all = (0..inserted[t]).all(|i| received.contains(&format!("{t}-node-{i}")));
            let applied: i64 = c
                .query_one(
                    "SELECT COUNT(*) FROM entities WHERE tenant_id = $1 AND guid LIKE '%-ext-%'",
                    &[t],
                )
                .unwrap()
                .get(0);
            pushed_all && applied == PULLED as i64
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done(&mut c) {
        assert!(
            Instant::now() < deadline,
            "the workers did not finish the sync after the kill loop; worker logs:\n{}",
            logs.iter()
                .map(|l| std::fs::read_to_string(l).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n---\n")
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    for w in &mut workers.0 {
        unsafe { libc::kill(w.id() as i32, libc::SIGTERM) };
    }
    for w in &mut workers.0 {
        w.wait().unwrap();
    }
    println!(
        "{kills} kills; {} leases taken over, slowest after {:?} (TTL {LEASE_TTL_S} s)",
        takeovers.len(),
        takeovers.iter().max()
    );

    assert_eq!(
        *backwards.lock().unwrap(),
        Vec::<String>::new(),
        "a cursor moved backwards"
    );
    for t in TENANTS {
        // Every pulled record applied exactly once: one event row, one audit row, version 1.
        let twice: i64 = c
            .query_one(
                "SELECT COUNT(*) FROM entities WHERE tenant_id = $1 AND guid LIKE '%-ext-%' AND modified->>'version' <> '1'",
                &[&t],
            )
            .unwrap()
            .get(0);
        assert_eq!(twice, 0, "{t}: an entity was applied more than once");
        let audits: i64 = c
            .query_one(
                "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND entity_guid LIKE '%-ext-%'",
                &[&t],
            )
            .unwrap()
            .get(0);
        assert_eq!(
            audits, PULLED as i64,
            "{t}: one audit row per pulled record"
        );
        let events: i64 = c
            .query_one("SELECT COUNT(*) FROM events WHERE tenant_id = $1", &[&t])
            .unwrap()
            .get(0);
        assert_eq!(
            events,
            (inserted[t] + PULLED) as i64,
            "{t}: no event lost or stored twice"
        );
        // Pulled events are never pushed back; every Node event reached the external system.
        let received = servers[t].received().0;
        assert!(received
            .iter()
            .all(|e| e["guid"].as_str().is_some_and(|g| g.contains("-node-"))));
        // No two runs of the config overlapped, and each held its own lease epoch.
        let runs = c
            .query(
                "SELECT lease_epoch, started_at, COALESCE(finished_at, started_at) FROM dcsync_runs
                 WHERE tenant_id = $1 AND status = 'succeeded' ORDER BY started_at",
                &[&t],
            )
            .unwrap();
        assert!(!runs.is_empty());
        let epochs: HashSet<i64> = runs.iter().map(|r| r.get(0)).collect();
        assert_eq!(
            epochs.len(),
            runs.len(),
            "{t}: each run under a lease of its own"
        );
        for w in runs.windows(2) {
            let end: chrono::DateTime<chrono::Utc> = w[0].get(2);
            let next: chrono::DateTime<chrono::Utc> = w[1].get(1);
            assert!(end <= next, "{t}: two runs of the config overlapped");
        }
    }
}

#[test]
fn every_store_command_takes_a_postgres_url_and_never_prints_the_password() {
    let db = cluster().database();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(MockSyncServer::start("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    server.seed(vec![
        json!({ "entityGuid": "ext-1", "data": { "name": "E1" } }),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        json!({ "id": "cfg", "type": "mock-sync-server", "url": server.url() }).to_string(),
    )
    .unwrap();
    let events = dir.path().join("events.jsonl");
    let lines: Vec<String> = (0..3)
        .map(|i| serde_json::to_string(&node_event("imp", i)).unwrap())
        .collect();
    std::fs::write(&events, lines.join("\n")).unwrap();
    let url = db.store_url("t1", "");
    let secret = "pw-never-shown-4711";
    let run = |args: &[&str]| {
        let out = dcsync()
            .args(args)
            .env("DCSYNC_STORE", &url)
            .env("DCSYNC_STORE_PASSWORD", secret)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let text = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(
            !text.contains(secret),
            "{args:?} printed the password: {text}"
        );
        (out.status.success(), text, stdout)
    };
    let status = |args: &[&str]| {
        let (ok, text, stdout) = run(args);
        assert!(ok, "{args:?} failed: {text}");
        stdout
    };
    let (ok, text, _) = run(&["runs"]);
    assert!(
        !ok && text.contains("has not run on this database"),
        "{text}"
    );
    status(&["events", "import", events.to_str().unwrap()]);
    let sync = status(&["sync", "--config", config.to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_str(&sync).unwrap();
    assert_eq!(
        (report["pushed"].as_u64(), report["applied"].as_u64()),
        (Some(3), Some(1)),
        "{sync}"
    );
    let st: serde_json::Value = serde_json::from_str(&status(&[
        "status",
        "--config",
        config.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(st["pending"], 0, "{st}");
    assert!(status(&["runs"]).contains("succeeded"));
    status(&["quarantine", "list"]);
    status(&["quarantine", "retry"]);
    status(&["release", "--config", config.to_str().unwrap()]);
    // `serve` serves the tenant, its configs and admin token in the directory it is given.
    let (ok, text, _) = run(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(!ok && text.contains("--configs"), "{text}");
    let configs = dir.path().join("configs");
    let mut serve = dcsync()
        .args(["serve", "--listen", "127.0.0.1:0", "--configs"])
        .arg(&configs)
        .env("DCSYNC_STORE", &url)
        .env("DCSYNC_STORE_PASSWORD", secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(serve.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    serve.kill().unwrap();
    serve.wait().unwrap();
    assert!(first.contains("dcsync serving on"), "{first}");
    assert!(configs.join("dcsync.admin-token").exists());
    // An explicit --store works the same; a bad one names the URL without the password.
    let bad = "postgres://postgres@127.0.0.1:1/x?tenant=t1";
    let out = dcsync()
        .args(["runs", "--store", bad])
        .env("PGPASSWORD", secret)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!text.contains(secret) && text.contains("***"), "{text}");
}

/// `dcsync serve` on a database URL that names no tenant serves every tenant of it: each
/// config in the tenant its id names, through the API and the scheduler alike. Run ids are
/// per tenant, so the run and quarantine routes then need the config.
#[test]
fn serve_without_a_tenant_serves_each_config_in_the_tenant_its_id_names() {
    const TOKEN: &str = "multi-tenant-admin-token";
    // Synced through the API; the third by the scheduler, on its `syncInterval`.
    const VIA_API: [&str; 2] = ["north", "south"];
    const SCHEDULED: &str = "east";
    let started = Instant::now();
    let db = cluster().database();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    drop(db.store("default"));
    let mut c = db.client();
    let mut servers = HashMap::new();
    for t in VIA_API.iter().chain([&SCHEDULED]) {
        let server = rt
            .block_on(MockSyncServer::start("127.0.0.1:0".parse().unwrap()))
            .unwrap();
        server.seed(
            (0..3)
                .map(|i| json!({ "entityGuid": format!("{t}-ext-{i}"), "data": { "name": format!("E{i}") } }))
                .collect(),
        );
        servers.insert(*t, server);
        // The Node server stored events in each tenant.
        for i in 0..2 {
            node::save_event(&mut c, t, &node_event(t, i));
        }
    }

    let mut serve = dcsync_mock_only()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--token",
            TOKEN,
            "--configs",
        ])
        .arg(dir.path().join("configs"))
        .env("DCSYNC_STORE", &db.url)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("serve.log")).unwrap())
        .spawn()
        .unwrap();
    let stdout = serve.stdout.take().unwrap();
    let serve = Workers(vec![serve]);
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut first).unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| {
            panic!(
                "serve did not start: {first}{}",
                std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default()
            )
        })
        .to_string();
    let http = reqwest::Client::new();
    let call = |method: &str, path: &str, body: Option<serde_json::Value>, token: Option<&str>| {
        rt.block_on(async {
            let mut req = http.request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{base}{path}"),
            );
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            (
                status,
                serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
            )
        })
    };
    let api = |method: &str, path: &str, body: Option<serde_json::Value>| {
        call(method, path, body, Some(TOKEN))
    };

    // The configs, through the API; a config id that cannot name a tenant is refused.
    for t in VIA_API {
        let cfg = json!({ "id": t, "type": "mock-sync-server", "url": servers[t].url() });
        let (status, body) = api("POST", "/api/configs", Some(cfg));
        assert_eq!(status, 201, "{body}");
    }
    let cfg = json!({ "id": SCHEDULED, "type": "mock-sync-server", "url": servers[SCHEDULED].url(),
        "extraFields": [{ "name": "syncInterval", "value": "1000" }] });
    assert_eq!(api("POST", "/api/configs", Some(cfg)).0, 201);
    let (status, body) = api(
        "POST",
        "/api/configs",
        Some(
            json!({ "id": "no.tenant", "type": "mock-sync-server", "url": servers["north"].url() }),
        ),
    );
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("id")),
        "{body}"
    );
    // The answer names the rule, not the database it would have gone to.
    let text = body.to_string();
    assert!(
        text.contains("letters, digits")
            && !text.contains("postgres://")
            && !text.contains("127.0.0.1"),
        "{text}"
    );

    // Each config synced through the API, followed with its run id in its own tenant.
    let mut run_ids = HashMap::new();
    for t in VIA_API {
        let (status, body) = api("POST", "/api/sync/external", Some(json!({ "configId": t })));
        assert_eq!(status, 202, "{body}");
        let run_id = body["runId"].as_i64().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (status, run) = api("GET", &format!("/api/runs/{run_id}?configId={t}"), None);
            assert_eq!(status, 200, "{run}");
            assert_eq!(run["configId"], t, "{run}");
            if run["status"] != "running" {
                assert_eq!(run["status"], "succeeded", "{run}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{t}: the sync did not finish: {run}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        run_ids.insert(t, run_id);
    }
    // The scheduler syncs the third in its tenant too.
    let deadline = Instant::now() + Duration::from_secs(15);
    while c
        .query_one(
            "SELECT COUNT(*) FROM dcsync_runs WHERE tenant_id = $1 AND status = 'succeeded'",
            &[&SCHEDULED],
        )
        .unwrap()
        .get::<_, i64>(0)
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "the scheduler did not sync {SCHEDULED}: {}",
            std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Each tenant holds its own events, entities and runs, and nothing of the others.
    for t in VIA_API.iter().chain([&SCHEDULED]) {
        let prefix = format!("{t}-%");
        let mut count = |sql: &str| -> i64 { c.query_one(sql, &[t, &prefix]).unwrap().get(0) };
        let pulled = count(
            "SELECT COUNT(*) FROM entities
             WHERE tenant_id = $1 AND guid LIKE $2 AND guid LIKE '%-ext-%'",
        );
        assert_eq!(pulled, 3, "{t}: its pulled records applied in its tenant");
        let foreign =
            count("SELECT COUNT(*) FROM entities WHERE tenant_id = $1 AND guid NOT LIKE $2");
        assert_eq!(foreign, 0, "{t}: no entity of another tenant");
        let foreign =
            count("SELECT COUNT(*) FROM events WHERE tenant_id = $1 AND entity_guid NOT LIKE $2");
        assert_eq!(foreign, 0, "{t}: no event of another tenant");
        let events =
            count("SELECT COUNT(*) FROM events WHERE tenant_id = $1 AND entity_guid LIKE $2");
        assert_eq!(events, 2 + 3, "{t}: its Node events and its pulled ones");
        let others: i64 = c
            .query_one(
                "SELECT COUNT(*) FROM dcsync_runs WHERE tenant_id = $1 AND config_id <> $1",
                &[t],
            )
            .unwrap()
            .get(0);
        assert_eq!(others, 0, "{t}: no run of another config");
        // Each external system got its own tenant's events, all of them.
        let received: HashSet<String> = servers[t]
            .received()
            .0
            .iter()
            .filter_map(|e| e["guid"].as_str().map(str::to_string))
            .collect();
        let expected: HashSet<String> = (0..2).map(|i| format!("{t}-node-{i}")).collect();
        assert_eq!(received, expected, "{t}: pushed its tenant's events only");
    }
    for t in VIA_API {
        // The store of the tenant, read as a one-tenant command would: one run, the config's.
        let runs = db.store(t).runs(None, 10).unwrap();
        assert_eq!(runs.len(), 1, "{t}: {runs:?}");
        assert_eq!((runs[0].id, runs[0].config_id.as_str()), (run_ids[t], t));
        // The API's history of a config is its runs only.
        let (status, body) = api("GET", &format!("/api/runs?configId={t}"), None);
        assert_eq!(status, 200, "{body}");
        let listed: Vec<(i64, &str)> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["id"].as_i64().unwrap(), r["configId"].as_str().unwrap()))
            .collect();
        assert_eq!(listed, vec![(run_ids[t], t)], "{body}");
        // So is its state in the config list and its quarantine.
        let (status, body) = api("GET", &format!("/api/configs/{t}"), None);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["lastRun"]["id"].as_i64(), Some(run_ids[t]), "{body}");
        assert_eq!(body["lastRun"]["configId"], t, "{body}");
        let (status, body) = api(
            "GET",
            &format!("/api/runs/{}/quarantine?configId={t}", run_ids[t]),
            None,
        );
        assert_eq!(
            (status, body.as_array().map(Vec::len)),
            (200, Some(0)),
            "{body}"
        );
        let (status, body) = api(
            "POST",
            "/api/quarantine/retry",
            Some(json!({ "configId": t })),
        );
        assert_eq!((status, &body["requeued"]), (200, &json!(0)), "{body}");
    }

    // Without the config, a run or quarantine route cannot know the tenant: a 422 naming
    // `configId`, not a guess; an unknown config is a 404.
    let id = run_ids["north"];
    for (method, path, body) in [
        ("GET", "/api/runs".to_string(), None),
        ("GET", format!("/api/runs/{id}"), None),
        ("GET", format!("/api/runs/{id}/quarantine"), None),
        ("GET", "/api/quarantine".to_string(), None),
        ("POST", "/api/quarantine/retry".to_string(), Some(json!({}))),
    ] {
        let (status, answer) = api(method, &path, body);
        assert_eq!(status, 422, "{method} {path}: {answer}");
        assert_eq!(answer["field"], "configId", "{method} {path}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("configId"),
            "{method} {path}: {answer}"
        );
    }
    for path in [
        "/api/runs?configId=nobody".to_string(),
        format!("/api/runs/{id}?configId=nobody"),
    ] {
        let (status, answer) = api("GET", &path, None);
        assert_eq!(status, 404, "{path}: {answer}");
    }
    let (status, answer) = api(
        "POST",
        "/api/sync/external",
        Some(json!({ "configId": "nobody" })),
    );
    assert_eq!(status, 404, "{answer}");

    // The admin token is still required, on every route of this mode.
    for (method, path) in [
        ("GET", "/api/runs?configId=north".to_string()),
        ("GET", format!("/api/runs/{id}?configId=north")),
        ("GET", "/api/runs".to_string()),
        ("GET", "/api/configs".to_string()),
        ("POST", "/api/sync/external".to_string()),
    ] {
        for token in [None, Some("wrong")] {
            let (status, _) = call(method, &path, Some(json!({ "configId": "north" })), token);
            assert_eq!(status, 401, "{method} {path} with {token:?}");
        }
    }
    let north_runs: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM dcsync_runs WHERE tenant_id = 'north'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(north_runs, 1, "a refused request started no sync");

    // The admin page works on it too: it names the config of every run, sync and
    // quarantine it asks about (a request without one would be refused).
    rt.block_on(async {
        let b = Browser::start().await;
        b.goto(&format!("{base}/")).await;
        b.type_into("#token", TOKEN).await;
        b.click("#login-btn").await;
        b.wait_for_text("#adapters", "mock-sync-server").await;
        // The run history: every config's runs, from each config's tenant.
        let history = b.wait_for_text("#runs", "south").await;
        assert!(history.contains("north"), "{history}");
        b.click(".config-card[data-config='south'] .sync-now").await;
        let progress = b.wait_for_text("#progress", "succeeded").await;
        assert!(progress.contains("run #"), "{progress}");
        // The details of south's newest run (ids are per tenant: found by its row).
        b.execute(
            "[...document.querySelectorAll('#runs tbody tr')]
               .find((tr) => tr.children[1].textContent === 'south')
               .querySelector('.run-details').click();",
            json!([]),
        )
        .await;
        let facts = b.wait_for_text("#run-facts", "south").await;
        assert_eq!(b.text("#run-status").await, "succeeded", "{facts}");
        b.click(".config-card[data-config='north'] .show-quarantine")
            .await;
        b.wait_for_text("#quarantine-list", "Nothing quarantined")
            .await;
    });
    let south: Vec<String> = c
        .query(
            "SELECT config_id FROM dcsync_runs WHERE tenant_id = 'south'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        south,
        ["south", "south"],
        "the page's sync ran in south's tenant"
    );

    // SIGTERM: a clean stop.
    let mut serve = serve;
    unsafe { libc::kill(serve[0].id() as i32, libc::SIGTERM) };
    assert!(serve[0].wait().unwrap().success());
    println!("served three tenants in {:?}", started.elapsed());
}
