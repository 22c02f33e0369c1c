//! Process-wide metrics, rendered in the Prometheus text format by `dcsync serve` at
//! `/metrics`: syncs by config and outcome, events pushed / pulled / applied /
//! quarantined, retries, adapter call latency, fuel used, limit breaches, swaps.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Upper bounds (seconds) of the adapter call latency histogram.
const BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Registry {
    /// (metric name, rendered labels) → value
    counters: BTreeMap<(&'static str, String), u64>,
    /// labels → histogram of adapter call seconds
    calls: BTreeMap<String, Histogram>,
}

fn registry() -> &'static Mutex<Registry> {
    static R: OnceLock<Mutex<Registry>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(Registry::default()))
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}=\"{}\"",
                v.replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n")
            )
        })
        .collect();
    body.join(",")
}

/// Add `by` to a counter.
pub fn count(name: &'static str, pairs: &[(&str, &str)], by: u64) {
    if by == 0 {
        return;
    }
    if let Ok(mut r) = registry().lock() {
        *r.counters.entry((name, labels(pairs))).or_default() += by;
    }
}

/// Record one adapter call: its latency and the fuel it used.
pub fn adapter_call(adapter_type: &str, function: &str, took: Duration, fuel_used: u64) {
    let l = labels(&[("adapter", adapter_type), ("function", function)]);
    if let Ok(mut r) = registry().lock() {
        let h = r.calls.entry(l.clone()).or_default();
        if h.counts.is_empty() {
            h.counts = vec![0; BUCKETS.len()];
        }
        let secs = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
        *r.counters
            .entry(("dcsync_adapter_fuel_used_total", l))
            .or_default() += fuel_used;
    }
}

const HELP: &[(&str, &str)] = &[
    ("dcsync_syncs_total", "Syncs by config and outcome."),
    (
        "dcsync_events_pushed_total",
        "Events delivered to external systems.",
    ),
    (
        "dcsync_events_pulled_total",
        "Events pulled from external systems.",
    ),
    (
        "dcsync_events_applied_total",
        "Pulled events applied to the local store.",
    ),
    (
        "dcsync_events_quarantined_total",
        "Events quarantined (refused or not applicable).",
    ),
    (
        "dcsync_retries_total",
        "Adapter calls retried after a transient error.",
    ),
    (
        "dcsync_adapter_fuel_used_total",
        "WebAssembly fuel used by adapter calls.",
    ),
    (
        "dcsync_limit_breaches_total",
        "Adapter calls stopped by a sandbox limit, by limit.",
    ),
    (
        "dcsync_adapter_log_lines_dropped_total",
        "Adapter log lines dropped past the per-call cap.",
    ),
    (
        "dcsync_adapter_swaps_total",
        "Adapter directory reloads that changed what serves.",
    ),
];

/// All metrics in the Prometheus text exposition format.
pub fn render() -> String {
    let mut out = String::new();
    let Ok(r) = registry().lock() else { return out };
    for (name, help) in HELP {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for ((n, l), v) in r.counters.iter().filter(|((n, _), _)| n == name) {
            let _ = writeln!(out, "{n}{{{l}}} {v}");
        }
    }
    let name = "dcsync_adapter_call_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Latency of adapter calls.\n# TYPE {name} histogram"
    );
    for (l, h) in &r.calls {
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{{l},le=\"{b}\"}} {}", h.counts[i]);
        }
        let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "{name}_sum{{{l}}} {}", h.sum);
        let _ = writeln!(out, "{name}_count{{{l}}} {}", h.count);
    }
    out
}
