//! Push against the receiver's own limit (issue 19): a minimal Node `http` receiver that
//! parses each JSON body and answers, its ceiling measured with a client sending
//! pre-serialised batches of 100 over one connection, then dcsync's push from a durable
//! store through the WASM `mock-sync-server` adapter to the same receiver, and the ratio.

use super::{measure, Measure};
use crate::{local_events, temp_store};
use datacollect_sync::{AdapterRegistry, EventApplier, ExternalSyncConfig, ExternalSyncManager};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

/// The receiver: a push answers the adapter's shape, a pull finds nothing.
const RECEIVER: &str = r#"
const http = require('node:http');
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let answer;
    if (req.method === 'POST') {
      const body = JSON.parse(Buffer.concat(chunks));
      answer = { received: body.data.length, duplicates: 0, rejected: [] };
    } else {
      answer = { data: [], nextCursor: null, hasMore: false };
    }
    const text = JSON.stringify(answer);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
"#;

struct Receiver(Child, u16);

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start() -> Receiver {
    let mut child = Command::new("node")
        .arg("-e")
        .arg(RECEIVER)
        .stdout(Stdio::piped())
        .spawn()
        .expect("node (Node 18 or later)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("the receiver's port");
    Receiver(child, port)
}

pub(super) async fn receiver(quick: bool, registry: &Arc<AdapterRegistry>, out: &mut Vec<Measure>) {
    let n = if quick { 2_000 } else { 50_000 };
    let r = start();
    let url = format!("http://127.0.0.1:{}/sync", r.1);
    // The ceiling: pre-serialised batches of 100, one request at a time, one connection.
    let body = serde_json::to_vec(&json!({ "data": local_events("ceiling", 100) })).unwrap();
    let client = reqwest::Client::new();
    let started = Instant::now();
    for _ in 0..n / 100 {
        let resp = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
        resp.bytes().await.unwrap();
    }
    let ceiling = n as f64 / started.elapsed().as_secs_f64();
    out.push(measure(
        "receiver ceiling (pre-serialised, 1 in flight)",
        ceiling,
        "events/s",
        None,
        format!(
            "Node http, batches of 100 ({} KB a request)",
            body.len() / 1024
        ),
    ));
    // dcsync: from a durable SQLite store through the WASM adapter, one batch on the wire
    // at a time (the default, in order), then `maxInFlight` 4 (the receiver takes them).
    for in_flight in [1, 4] {
        let (store, _dir) = temp_store();
        for chunk in local_events("push", n).chunks(10_000) {
            store.append_local(chunk, &EventApplier::new()).unwrap();
        }
        let config =
            ExternalSyncConfig::from_value(&json!({ "type": "mock-sync-server", "url": url,
            "extraFields": [{ "name": "batchSize", "value": "100" },
                            { "name": "maxInFlight", "value": in_flight.to_string() }] }))
            .unwrap();
        let mut m = ExternalSyncManager::new(store, Arc::new(EventApplier::new()), config)
            .with_registry(registry.clone());
        m.initialize().await.unwrap();
        let started = Instant::now();
        let report = m.synchronize(None).await.expect("push to the receiver");
        let rate = n as f64 / started.elapsed().as_secs_f64();
        assert_eq!(report.pushed as usize, n);
        let ratio = rate / ceiling;
        out.push(measure(
            &format!("push to the receiver ÷ its serial ceiling, maxInFlight {in_flight}"),
            ratio,
            "",
            Some(("≥ 0.85", ratio >= 0.85)),
            format!("dcsync {rate:.0} events/s, SQLite store, WASM adapter, batches of 100"),
        ));
    }
}
