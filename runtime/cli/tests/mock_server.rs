//! `dcsync mock-server --kind K`: each emulated system starts, prints a config, and that
//! config, as printed, syncs: the local event is pushed and the sample records are pulled.

mod common;

use common::dcsync;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `kind`; its printed config.
fn start(kind: &str) -> (Server, Value) {
    let mut child = dcsync()
        .args(["mock-server", "--kind", kind, "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let server = Server(child);
    let mut text = String::new();
    let mut lines = out.lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("config: ") {
            text.push_str(rest);
            break;
        }
    }
    for line in lines.by_ref() {
        let line = line.unwrap();
        text.push_str(&line);
        if line == "}" {
            break;
        }
    }
    // Keep reading what it prints: a closed pipe would end it.
    std::thread::spawn(move || lines.for_each(drop));
    let config = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{kind}: {e}: {text}"));
    (server, config)
}

#[test]
fn every_kind_prints_a_config_that_syncs() {
    for (kind, adapter_type) in [
        ("mock-sync", "mock-sync-server"),
        ("original-sync", "mock-sync-server"),
        ("webhook", "custom-adapter"),
        ("openfn", "openfn-adapter"),
        ("openspp", "openspp-adapter"),
    ] {
        let (_server, config) = start(kind);
        assert_eq!(config["type"], adapter_type, "{kind}");
        let dir = tempfile::tempdir().unwrap();
        let (cfg, store) = (dir.path().join("c.json"), dir.path().join("s.db"));
        std::fs::write(&cfg, config.to_string()).unwrap();
        // The OpenSPP adapter puts the password in a JSON-RPC body: the operator approves.
        let settings = dir.path().join("s.toml");
        std::fs::write(&settings, "[approve_placements]\nopenspp-adapter = true\n").unwrap();
        let events = dir.path().join("e.jsonl");
        std::fs::write(
            &events,
            r#"{"guid":"mk-1","entityGuid":"mk-p1","type":"create-individual","data":{"name":"Ana Lopez","gender":"female"},"timestamp":"2025-01-01T00:00:00Z","userId":"u","syncLevel":0}"#,
        )
        .unwrap();
        let import = dcsync()
            .args(["events", "import"])
            .arg(&events)
            .arg("--store")
            .arg(&store)
            .output()
            .unwrap();
        assert!(import.status.success(), "{kind}: {import:?}");
        let out = dcsync()
            .arg("--settings")
            .arg(&settings)
            .args(["sync", "--json", "--config"])
            .arg(&cfg)
            .arg("--store")
            .arg(&store)
            .output()
            .unwrap();
        let report: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{kind}: {e}: {out:?}"));
        assert!(out.status.success(), "{kind}: {report}");
        assert_eq!(report["pushed"], 1, "{kind}: {report}");
        assert!(report["pulled"].as_u64() >= Some(3), "{kind}: {report}");
    }
}
