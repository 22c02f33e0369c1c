//! `make bench`: what the sandbox costs, measured side by side in one run and reported as
//! ratios (absolute times on shared machines mean little). `quick` runs every measure at a
//! small size; a test runs it so the benchmark cannot rot. No timing is asserted anywhere.

mod languages;
mod measures;
mod native;
mod node;
mod receiver;
mod stores;

pub use native::{NativeMockAdapter, NativeSource};

use datacollect_sync::AdapterRegistry;
use measures::*;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// One line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Measure {
    pub name: String,
    pub value: f64,
    pub unit: String,
    /// The target, as text (`≥ 0.90`), when the issue sets one.
    pub target: Option<String>,
    pub met: Option<bool>,
    pub detail: String,
}

fn measure(
    name: &str,
    value: f64,
    unit: &str,
    target: Option<(&str, bool)>,
    detail: String,
) -> Measure {
    Measure {
        name: name.into(),
        value,
        unit: unit.into(),
        target: target.map(|(t, _)| t.to_string()),
        met: target.map(|(_, m)| m),
        detail,
    }
}

/// Run every measure; print the table; write `target/bench/results.json`.
pub async fn run(quick: bool) -> Vec<Measure> {
    let s = Sizes::new(quick);
    let mut out = Vec::new();
    // `BENCH_ONLY=push,languages` runs those sections only (while working on one figure).
    let only = std::env::var("BENCH_ONLY").ok().filter(|o| !o.is_empty());
    let on = |section: &str| {
        only.as_ref()
            .is_none_or(|o| o.split(',').any(|s| s.trim() == section))
    };
    if on("memory") {
        memory(&s, &mut out).await; // first: the least noise from what else the process holds
    }
    let cache = tempfile::tempdir().unwrap();
    let registry = registry(cache.path()).await;
    if on("push") {
        push_and_overhead(&s, &registry, &mut out).await;
    }
    if on("pull") {
        pull(&s, &registry, &mut out).await;
    }
    if on("receiver") {
        receiver::receiver(quick, &registry, &mut out).await;
    }
    if on("stores") {
        stores::compare(s.pull_records, &registry, &mut out).await;
    }
    if on("instantiation") {
        instantiation(&s, &registry, &mut out).await;
    }
    if on("load") {
        load(&mut out).await;
    }
    if on("swap") {
        hot_swap(&s, &mut out).await;
    }
    if on("scaling") {
        scaling(&s, &registry, &mut out).await;
    }
    if on("languages") {
        languages::languages(quick, &mut out).await;
    }
    if on("node") {
        node::node(quick, &mut out).await;
    }
    print(&out, quick);
    let dir = crate::target_dir().join("bench");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join(if quick { "quick.json" } else { "results.json" }),
        serde_json::to_string_pretty(&out).unwrap_or_default(),
    );
    out
}

/// Push, WASM and native, and what the WASM push costs per event beyond the native one.
async fn push_and_overhead(s: &Sizes, registry: &Arc<AdapterRegistry>, out: &mut Vec<Measure>) {
    let (wasm_push, wasm_took, native_took) = push(s, registry, out).await;
    let per_event = |d: Duration| d.as_secs_f64() * 1e6 / s.push_events as f64;
    let overhead = per_event(wasm_took) - per_event(native_took);
    out.push(measure(
        "host overhead per pushed event (WASM − native)",
        overhead,
        "µs",
        None,
        format!(
            "{:.0}% of {:.1} µs/event; inside adapter calls {:.1} µs/event, of which host HTTP {:.1} µs/event",
            100.0 * overhead / per_event(wasm_took),
            per_event(wasm_took),
            wasm_push.adapter_us as f64 / s.push_events as f64,
            wasm_push.host_http_us as f64 / s.push_events as f64
        ),
    ));
}

fn print(out: &[Measure], quick: bool) {
    println!(
        "\ndcsync benchmarks{} — {} cores",
        if quick {
            " (QUICK: small sizes, figures not representative)"
        } else {
            ""
        },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<48} {:>14} {:<9} {:<8} detail",
        "measure", "value", "unit", "target"
    );
    for m in out {
        let target = match (&m.target, m.met) {
            (Some(t), Some(true)) => format!("{t} ✓"),
            (Some(t), _) => format!("{t} ✗"),
            _ => String::new(),
        };
        println!(
            "{:<48} {:>14.2} {:<9} {:<8} {}",
            m.name, m.value, m.unit, target, m.detail
        );
    }
}
