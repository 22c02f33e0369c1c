//! `dcsync test-adapter FILE.wasm --config CFG`: the conformance kit an adapter author runs,
//! like the connector acceptance tests of the data-integration tools. It loads one
//! component as the registry would and runs the contract's checks against the system the
//! config names (an emulator, or a real one):
//!
//! - `describe` is well formed (type, semver version, fields, capabilities) and serves the
//!   config's type;
//! - the config passes the host's rules and the adapter's own (`validate`);
//! - `check-connection` succeeds, or says why it cannot test;
//! - a push of synthetic events accounts for every event;
//! - a pull moves its cursor and ends; pulling again from the start applies nothing;
//! - error answers (401, 429, 503 from a local server standing in for the system) map to
//!   the right error classes;
//! - no secret value of the config is in anything the adapter returned or the host stored.
//!
//! It prints PASS/FAIL/SKIP per check and, per adapter call, its time, fuel, memory and the
//! origins it reached; `--json` for CI. `--record DIR` keeps the HTTP exchanges (requests
//! as the adapter built them, secret references unfilled) and `--replay DIR` runs the
//! checks offline against them.

mod checks;
mod faults;

use crate::context::read_config;
use crate::output::print_json;
use crate::Ctx;
use anyhow::{Context as _, Result};
use datacollect_sync::host::tape::{Exchange, Tape};
use datacollect_sync::manager::CallRecord;
use datacollect_sync::text::neutralise;
use datacollect_sync::{AdapterRegistry, Credentials};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// What `dcsync test-adapter` was asked.
pub struct Args {
    /// The component.
    pub file: PathBuf,
    /// The config naming the system to test against.
    pub config: PathBuf,
    /// One JSON object on stdout.
    pub json: bool,
    /// Keep the HTTP exchanges in this directory.
    pub record: Option<PathBuf>,
    /// Answer the HTTP exchanges from this directory.
    pub replay: Option<PathBuf>,
    /// Do not push synthetic events (a system whose data must not be touched).
    pub no_push: bool,
    /// Credentials for the sync (the password from `DCSYNC_PASSWORD`).
    pub username: Option<String>,
}

/// How a check ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Pass,
    Fail,
    Skip,
}

/// One check's result.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

impl Check {
    pub fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Check {
            name,
            status: Status::Pass,
            detail: detail.into(),
        }
    }
    pub fn fail(name: &'static str, detail: impl Into<String>) -> Self {
        Check {
            name,
            status: Status::Fail,
            detail: detail.into(),
        }
    }
    pub fn skip(name: &'static str, detail: impl Into<String>) -> Self {
        Check {
            name,
            status: Status::Skip,
            detail: detail.into(),
        }
    }
}

/// One adapter call, and the check it was made for.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct KitCall {
    pub check: &'static str,
    #[serde(flatten)]
    pub call: CallRecord,
}

/// Every call, tagged with the check running.
#[derive(Clone, Default)]
pub(crate) struct Calls {
    current: Arc<Mutex<&'static str>>,
    pub list: Arc<Mutex<Vec<KitCall>>>,
}

impl Calls {
    pub fn set(&self, check: &'static str) {
        *self.current.lock().expect("calls") = check;
    }

    pub fn observer(&self) -> datacollect_sync::manager::CallFn {
        let me = self.clone();
        Arc::new(move |call: &CallRecord| {
            let check = *me.current.lock().expect("calls");
            me.list.lock().expect("calls").push(KitCall {
                check,
                call: call.clone(),
            });
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AdapterSummary {
    #[serde(rename = "type")]
    adapter_type: String,
    version: String,
    wit_version: String,
    sha256: String,
    file: String,
}

#[derive(Serialize)]
struct Report {
    adapter: Option<AdapterSummary>,
    checks: Vec<Check>,
    calls: Vec<KitCall>,
    passed: bool,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let config = read_config(&args.config)?;
    let tape = match (&args.record, &args.replay) {
        (Some(_), Some(_)) => anyhow::bail!("--record and --replay exclude each other"),
        (Some(_), None) => Some(Arc::new(Tape::record())),
        (None, Some(dir)) => {
            let path = dir.join("exchanges.json");
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the recording {}", path.display()))?;
            let exchanges: Vec<Exchange> = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a recording", path.display()))?;
            Some(Arc::new(Tape::replay(exchanges)))
        }
        (None, None) => None,
    };
    let credentials = match &args.username {
        None => None,
        Some(u) => Some(Credentials::new(
            u.clone(),
            std::env::var("DCSYNC_PASSWORD")
                .context("--username needs the password in DCSYNC_PASSWORD")?,
        )),
    };
    let runtime = ctx.runtime()?;
    let mut checks = Vec::new();
    let loaded = match runtime.load(&args.file).await {
        Ok(a) => a,
        Err(e) => {
            checks.push(Check::fail(
                "load",
                format!("{} cannot serve: {e}", args.file.display()),
            ));
            return finish(&args, None, checks, Vec::new(), tape.as_deref());
        }
    };
    let summary = AdapterSummary {
        adapter_type: loaded.info.adapter_type.clone(),
        version: loaded.info.version.clone(),
        wit_version: loaded.wit_version.clone(),
        sha256: loaded.sha256.clone(),
        file: args.file.display().to_string(),
    };
    checks.push(Check::pass(
        "load",
        format!(
            "linked, type-checked and smoke-tested in {} ms{}",
            loaded.load_ms,
            if loaded.from_cache {
                " (compiled code from the cache)"
            } else {
                ""
            }
        ),
    ));
    let registry = AdapterRegistry::new(runtime);
    registry.insert(loaded);
    let calls = Calls::default();
    let kit = checks::Kit {
        ctx,
        registry,
        config,
        credentials,
        tape: tape.clone(),
        calls: calls.clone(),
        push: !args.no_push,
    };
    checks.extend(kit.run().await?);
    let calls = calls.list.lock().expect("calls").clone();
    if let Some(t) = &tape {
        let unused = t.unused();
        if unused > 0 {
            checks.push(Check::fail(
                "replay",
                format!("{unused} recorded exchange(s) were not asked for: the adapter's requests changed since the recording"),
            ));
        }
    }
    finish(&args, Some(summary), checks, calls, tape.as_deref())
}

fn finish(
    args: &Args,
    adapter: Option<AdapterSummary>,
    checks: Vec<Check>,
    calls: Vec<KitCall>,
    tape: Option<&Tape>,
) -> Result<i32> {
    if let (Some(dir), Some(tape)) = (&args.record, tape) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("exchanges.json");
        std::fs::write(&path, serde_json::to_string_pretty(&tape.exchanges())?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let passed = checks.iter().all(|c| c.status != Status::Fail);
    let report = Report {
        adapter,
        checks,
        calls,
        passed,
    };
    if args.json {
        print_json(&report)?;
    } else {
        print_human(&report, args);
    }
    Ok(if passed { 0 } else { 1 })
}

fn print_human(r: &Report, args: &Args) {
    if let Some(a) = &r.adapter {
        println!(
            "{} {} (contract {}) from {}, sha256 {}",
            a.adapter_type,
            a.version,
            a.wit_version,
            a.file,
            &a.sha256[..12.min(a.sha256.len())]
        );
    }
    for c in &r.checks {
        let tag = match c.status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        };
        println!("{tag} {:<11} {}", c.name, neutralise(&c.detail));
    }
    if !r.calls.is_empty() {
        println!(
            "\n{:<11} {:<17} {:>9} {:>14} {:>9}  origins; outcome",
            "check", "call", "ms", "fuel", "memory"
        );
        for k in &r.calls {
            println!(
                "{:<11} {:<17} {:>9.1} {:>14} {:>7}Ki  {}; {}",
                k.check,
                k.call.function,
                k.call.duration_us as f64 / 1000.0,
                k.call.fuel,
                k.call.memory_bytes / 1024,
                if k.call.origins.is_empty() {
                    "-".to_string()
                } else {
                    k.call.origins.join(" ")
                },
                neutralise(&k.call.outcome)
            );
        }
    }
    if let Some(dir) = &args.record {
        println!(
            "\nrecorded the exchanges in {}",
            dir.join("exchanges.json").display()
        );
    }
    println!(
        "\n{}",
        if r.passed {
            "all checks passed"
        } else {
            "some checks FAILED"
        }
    );
}
