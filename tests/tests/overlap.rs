//! The stages of a run overlap (issue 19) — the next batch is read while one is on the
//! wire, a delivered batch is confirmed while the next goes out, a page is applied while
//! the next is pulled — and the guarantees hold anyway: confirmations in order, counters
//! and history never ahead of the store, nothing lost when a stage fails behind another.
//!
//! No timing: the store and the adapter each wait (up to a generous bound) for the other
//! stage to have begun, so a loop that does not overlap fails with a named stage.

use datacollect_sync::adapter::{
    AdapterConfigView, AdapterError, AdapterEvent, AdapterInfo, Capability, CustomSyncReport,
    PullPage, PushResult,
};
use datacollect_sync::engine::{AdapterCalls, CallError, CallFuture, CallOutcome, CallStats};
use datacollect_sync::host::CallContext;
use datacollect_sync::limits::Limits;
use datacollect_sync::manager::AdapterSource;
use datacollect_sync::model::FormSubmission;
use datacollect_sync::store::{EventStore, StoreError};
use datacollect_sync::{
    EventApplier, ExternalSyncConfig, ExternalSyncManager, Interrupt, SyncError,
};
use datacollect_sync_e2e::watched::{span, Happenings, Watched};
use datacollect_sync_e2e::{local_events, temp_store};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Long enough that only a loop that never overlaps runs into it.
const BOUND: Duration = Duration::from_secs(20);

/// A native adapter that notes each call in `seen`; a push waits until the store began
/// reading the batch after it (and, with `together` above 1, until the push of the batch
/// `together - 1` after it began), and fails with `unauthorized` at push number `fail_at`
/// and once, transiently, for the batch starting with `flaky`.
struct Stepper {
    info: AdapterInfo,
    seen: Arc<Happenings>,
    pushes: Mutex<u32>,
    fail_at: Option<u32>,
    together: usize,
    /// `maxInFlight` of the config (`together` by default).
    in_flight: usize,
    flaky: Mutex<Option<String>>,
    /// Asked to stop when the push of the batch starting with this guid begins.
    stop_at: Option<(String, Interrupt)>,
    /// The push of the batch starting with this guid has a secret echoed back.
    echo_at: Option<String>,
    /// The push of the batch starting with this guid is refused (`unauthorized`) once the
    /// echoing one has answered.
    refused_at: Option<String>,
    /// `pull_since("p<n>")` fails (`unauthorized`).
    pull_fails_at: Option<usize>,
    limits: Limits,
    /// Pages to hand out: `pull_since(None)` gives page 0, `pull_since("p1")` page 1, …
    pages: Vec<Vec<AdapterEvent>>,
}

impl Stepper {
    fn new(seen: &Arc<Happenings>) -> Self {
        Stepper {
            info: AdapterInfo {
                adapter_type: "stepper".into(),
                name: "stepper".into(),
                version: "1".into(),
                capabilities: vec![Capability::Push, Capability::Pull],
                config_fields: Vec::new(),
            },
            seen: seen.clone(),
            pushes: Mutex::new(0),
            fail_at: None,
            together: 1,
            in_flight: 1,
            flaky: Mutex::new(None),
            stop_at: None,
            echo_at: None,
            refused_at: None,
            pull_fails_at: None,
            limits: Limits::default(),
            pages: Vec::new(),
        }
    }
}

fn outcome<T>(result: Result<T, CallError>, ctx: CallContext) -> CallOutcome<T> {
    CallOutcome {
        result,
        context: Some(ctx),
        stats: CallStats::default(),
    }
}

impl AdapterCalls for Stepper {
    fn info(&self) -> &AdapterInfo {
        &self.info
    }

    fn push_batch<'a>(
        &'a self,
        ctx: CallContext,
        _config: &'a AdapterConfigView,
        events: &'a [FormSubmission],
    ) -> CallFuture<'a, PushResult> {
        Box::pin(async move {
            let n = {
                let mut p = self.pushes.lock().unwrap();
                *p += 1;
                *p
            };
            let first = &events[0].guid;
            self.seen.note(format!("push {first}"));
            if let Some((_, stop)) = self.stop_at.as_ref().filter(|(at, _)| at == first) {
                stop.interrupt();
            }
            if self.echo_at.as_ref() == Some(first) {
                self.seen.note(format!("echoed {first}"));
                return outcome(Err(CallError::SecretEchoed), ctx);
            }
            if self.refused_at.as_ref() == Some(first) {
                let echo = format!("echoed {}", self.echo_at.as_deref().unwrap_or_default());
                self.seen.reached(&echo, BOUND).await;
                let e = AdapterError::Unauthorized("token revoked".into());
                return outcome(Err(CallError::Adapter(e)), ctx);
            }
            if self.fail_at == Some(n) {
                let e = AdapterError::Unauthorized("token revoked".into());
                return outcome(Err(CallError::Adapter(e)), ctx);
            }
            if self.flaky.lock().unwrap().take_if(|f| f == first).is_some() {
                let e = AdapterError::Transient {
                    message: "busy".into(),
                    retry_after_ms: Some(10),
                };
                return outcome(Err(CallError::Adapter(e)), ctx);
            }
            // With 10 events a batch, the batch `together - 1` later starts that many
            // events on (if there is one: 50 events).
            let number: usize = first.rsplit('-').next().unwrap().parse().unwrap();
            let later = number + 10 * (self.together - 1);
            let other = format!("push o-event-{later}");
            if later < 50 && !self.seen.reached(&other, BOUND).await {
                let e = AdapterError::Internal(format!(
                    "{} batches were never on the wire at once (no `{other}`)",
                    self.together
                ));
                return outcome(Err(CallError::Adapter(e)), ctx);
            }
            // The guids end in the event's number; its sequence number is one more.
            let last_seq = events.last().unwrap().guid.rsplit('-').next().unwrap();
            let last_seq: i64 = last_seq.parse::<i64>().unwrap() + 1;
            let read = format!("read after {last_seq}");
            if !self.seen.reached(&read, BOUND).await {
                let e = AdapterError::Internal(format!(
                    "the batch after this one was not read while it was on the wire (no `{read}`)"
                ));
                return outcome(Err(CallError::Adapter(e)), ctx);
            }
            self.seen.note(format!("pushed {first}"));
            let accepted = events.len() as u32;
            outcome(
                Ok(PushResult {
                    accepted,
                    rejected: Vec::new(),
                    remote_ref: None,
                }),
                ctx,
            )
        })
    }

    fn pull_since<'a>(
        &'a self,
        ctx: CallContext,
        _config: &'a AdapterConfigView,
        cursor: Option<String>,
        _limit: u32,
    ) -> CallFuture<'a, PullPage> {
        Box::pin(async move {
            let at: usize = cursor.as_deref().map_or(0, |c| c[1..].parse().unwrap());
            self.seen.note(format!("pull p{at}"));
            if self.pull_fails_at == Some(at) {
                let e = AdapterError::Unauthorized("token revoked".into());
                return outcome(Err(CallError::Adapter(e)), ctx);
            }
            let page = PullPage {
                events: self.pages.get(at).cloned().unwrap_or_default(),
                next_cursor: Some(format!("p{}", at + 1)),
                has_more: at + 1 < self.pages.len(),
            };
            outcome(Ok(page), ctx)
        })
    }

    fn sync<'a>(
        &'a self,
        ctx: CallContext,
        _config: &'a AdapterConfigView,
    ) -> CallFuture<'a, CustomSyncReport> {
        Box::pin(async move {
            let e = AdapterError::Internal("no custom sync".into());
            outcome(Err(CallError::Adapter(e)), ctx)
        })
    }
}

struct Only(Arc<Stepper>);

impl AdapterSource for Only {
    fn adapter(&self, adapter_type: &str) -> Option<Arc<dyn AdapterCalls>> {
        (adapter_type == "stepper").then(|| self.0.clone() as Arc<dyn AdapterCalls>)
    }

    fn limits(&self) -> Limits {
        self.0.limits.clone()
    }
}

async fn manager(store: Arc<dyn EventStore>, adapter: Stepper) -> ExternalSyncManager {
    let in_flight = adapter.in_flight.max(adapter.together).to_string();
    let stop = adapter.stop_at.as_ref().map(|(_, s)| s.clone());
    let config = ExternalSyncConfig::from_value(&json!({
        "id": "overlap", "type": "stepper", "url": "http://127.0.0.1:9/",
        "extraFields": [{ "name": "batchSize", "value": "10" },
                        { "name": "maxInFlight", "value": in_flight }] }))
    .unwrap();
    let mut m = ExternalSyncManager::new(store, Arc::new(EventApplier::new()), config)
        .with_adapters(Arc::new(Only(Arc::new(adapter))));
    if let Some(stop) = stop {
        m = m.with_interrupt(stop);
    }
    m.initialize().await.unwrap();
    m
}

/// 50 local events (`o-event-0` … `o-event-49`, sequence numbers 1–50) behind a watched
/// store.
fn fifty_events(seen: &Arc<Happenings>) -> (Watched, tempfile::TempDir) {
    let (inner, dir) = temp_store();
    inner
        .append_local(&local_events("o", 50), &EventApplier::new())
        .unwrap();
    (Watched::new(inner, seen.clone()), dir)
}

/// [`fifty_events`], the confirmation of each batch but the last waiting for the next
/// batch's push to begin.
fn watched_store(seen: &Arc<Happenings>) -> (Arc<Watched>, tempfile::TempDir) {
    let (mut store, dir) = fifty_events(seen);
    let waits = seen.clone();
    store.before_confirm = Box::new(move |batch: &[i64]| {
        let last = *batch.last().unwrap();
        if last == 50 {
            return Ok(());
        }
        // Event number `last` (0-based) opens the next batch.
        let next = format!("push o-event-{last}");
        if waits.wait_for(&next, BOUND) {
            Ok(())
        } else {
            Err(StoreError::Backend(format!(
                "the confirmation of {} held up the next batch (no `{next}`)",
                span(batch)
            )))
        }
    });
    (Arc::new(store), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_batch_is_read_and_sent_while_the_last_is_confirmed_in_order() {
    let seen = Arc::new(Happenings::default());
    let (store, _dir) = watched_store(&seen);
    let m = manager(store.clone(), Stepper::new(&seen)).await;

    let report = m.synchronize(None).await.expect("every batch delivered");
    assert_eq!((report.pushed, report.push_batches), (50, 5));
    assert_eq!(store.pending_count("overlap").unwrap(), 0);
    // Confirmations are one at a time, in order: each ends before the next begins.
    assert_eq!(confirmations(&seen), in_order(5));
    // And the history says what the store holds.
    let run = store.runs(Some("overlap"), 1).unwrap().remove(0);
    assert_eq!(run.pushed, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_on_the_wire_waits_for_the_confirmation_behind_it() {
    let seen = Arc::new(Happenings::default());
    let (store, _dir) = watched_store(&seen);
    let mut adapter = Stepper::new(&seen);
    adapter.fail_at = Some(3);
    let m = manager(store.clone(), adapter).await;

    let err = m.synchronize(None).await.expect_err("the third push fails");
    assert!(matches!(err, SyncError::Unauthorized(_)), "{err}");
    // Batch 2's confirmation was under way when batch 3 failed: it landed, and counts.
    assert!(seen.has("confirmed 11-20"), "{:?}", seen.all());
    let run = store.runs(Some("overlap"), 1).unwrap().remove(0);
    assert_eq!(run.pushed, 20, "history counts both confirmed batches");
    assert_eq!(store.cursors("overlap").unwrap().push, 20);
    assert_eq!(store.pending_count("overlap").unwrap(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmation_that_fails_behind_the_next_batch_counts_nothing_and_loses_nothing() {
    let seen = Arc::new(Happenings::default());
    let (mut store, _dir) = fifty_events(&seen);
    let waits = seen.clone();
    // The second batch's confirmation fails (a full disk, say) once the third is out.
    store.before_confirm = Box::new(move |batch: &[i64]| match batch.last() {
        Some(20) => {
            waits.wait_for("push o-event-20", BOUND);
            Err(StoreError::Backend("disk full".into()))
        }
        _ => Ok(()),
    });
    let store = Arc::new(store);
    let m = manager(store.clone(), Stepper::new(&seen)).await;

    let err = m.synchronize(None).await.expect_err("the store failed");
    assert!(err.to_string().contains("disk full"), "{err}");
    let run = store.runs(Some("overlap"), 1).unwrap().remove(0);
    assert_eq!(run.pushed, 10, "only the first batch was confirmed");
    assert_eq!(store.cursors("overlap").unwrap().push, 10);
    assert!(
        !seen.has("confirm 21-30"),
        "nothing is confirmed past a failed confirmation: {:?}",
        seen.all()
    );
    assert!(seen.has("pushed o-event-20"), "batch 3 was delivered");
    // The next run sends batches 2 and 3 again, then the rest: nothing lost.
    let fresh = Arc::new(Happenings::default());
    let again = Arc::new(Watched::new(store.inner.clone(), fresh.clone()));
    let m = manager(again.clone(), Stepper::new(&fresh)).await;
    let report = m.synchronize(None).await.expect("the rerun completes");
    assert_eq!(report.pushed, 40);
    assert!(fresh.has("pushed o-event-10") && fresh.has("pushed o-event-20"));
    assert_eq!(again.pending_count("overlap").unwrap(), 0);
}

/// The confirmation notes, which must be one batch at a time, in order.
fn confirmations(seen: &Happenings) -> Vec<String> {
    seen.all()
        .into_iter()
        .filter(|s| s.starts_with("confirm"))
        .collect()
}

fn in_order(batches: usize) -> Vec<String> {
    (0..batches)
        .flat_map(|b| {
            let span = format!("{}-{}", b * 10 + 1, b * 10 + 10);
            [format!("confirm {span}"), format!("confirmed {span}")]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_max_in_flight_3_three_batches_are_on_the_wire_at_once_and_confirmed_in_order() {
    let seen = Arc::new(Happenings::default());
    let (store, _dir) = fifty_events(&seen);
    let store = Arc::new(store);
    let mut adapter = Stepper::new(&seen);
    adapter.together = 3;
    let m = manager(store.clone(), adapter).await;

    let report = m.synchronize(None).await.expect("every batch delivered");
    assert_eq!((report.pushed, report.push_batches), (50, 5));
    assert_eq!(confirmations(&seen), in_order(5));
    let pushes = seen.count(|s| s.starts_with("push "));
    assert_eq!(pushes, 5, "each batch sent once: {:?}", seen.all());
    assert_eq!(store.runs(Some("overlap"), 1).unwrap()[0].pushed, 50);
    assert_eq!(store.pending_count("overlap").unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_fails_among_others_in_flight_is_retried_and_still_confirmed_in_order() {
    let seen = Arc::new(Happenings::default());
    let (store, _dir) = fifty_events(&seen);
    let store = Arc::new(store);
    let mut adapter = Stepper::new(&seen);
    adapter.together = 3;
    *adapter.flaky.lock().unwrap() = Some("o-event-10".into());
    let m = manager(store.clone(), adapter).await;

    let report = m.synchronize(None).await.expect("the retry succeeds");
    assert_eq!((report.pushed, report.retries), (50, 1));
    assert_eq!(confirmations(&seen), in_order(5));
    let second = seen.count(|s| s == "push o-event-10");
    assert_eq!(
        second, 2,
        "the failed batch went out twice, the others once"
    );
    assert_eq!(store.pending_count("overlap").unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_lets_the_batches_on_the_wire_finish_and_be_confirmed() {
    let seen = Arc::new(Happenings::default());
    let (store, _dir) = fifty_events(&seen);
    let store = Arc::new(store);
    let mut adapter = Stepper::new(&seen);
    adapter.in_flight = 3;
    adapter.stop_at = Some(("o-event-10".into(), Interrupt::new()));
    let m = manager(store.clone(), adapter).await;

    let err = m.synchronize(None).await.expect_err("stopped");
    assert!(matches!(err, SyncError::Interrupted), "{err}");
    // Whatever went out before the stop was seen was delivered and confirmed: nothing
    // sent is left for the next run to send again.
    let sent = seen.count(|s| s.starts_with("push ")) as u64;
    assert!(sent >= 2, "{:?}", seen.all());
    let run = store.runs(Some("overlap"), 1).unwrap().remove(0);
    assert_eq!(run.pushed, sent * 10, "{:?}", seen.all());
    assert_eq!(store.pending_count("overlap").unwrap(), 50 - sent * 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_echoed_to_a_batch_in_flight_holds_the_config_when_another_fails_first() {
    let seen = Arc::new(Happenings::default());
    let (store, _dir) = fifty_events(&seen);
    let store = Arc::new(store);
    let mut adapter = Stepper::new(&seen);
    adapter.in_flight = 3;
    // Batch 1 is refused once batch 2, on the wire beside it, had a secret echoed back.
    adapter.refused_at = Some("o-event-0".into());
    adapter.echo_at = Some("o-event-10".into());
    let m = manager(store.clone(), adapter).await;

    let err = m.synchronize(None).await.expect_err("refused");
    assert!(matches!(err, SyncError::SecretEchoed), "{err}");
    assert!(
        store.hold("overlap").unwrap().is_some(),
        "a secret echoed back holds the config, whichever batch failed first"
    );
    assert_eq!(store.runs(Some("overlap"), 1).unwrap()[0].pushed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_that_fails_while_a_page_is_applied_keeps_that_page_and_counts_it() {
    let seen = Arc::new(Happenings::default());
    let (inner, _dir) = temp_store();
    let mut store = Watched::new(inner, seen.clone());
    let waits = seen.clone();
    // Page 1 is applied only once the pull of page 2, which fails, began.
    store.before_apply = Box::new(move |page| {
        if page.next_cursor.as_deref() == Some("p2") {
            waits.wait_for("pull p2", BOUND);
        }
        Ok(())
    });
    let store = Arc::new(store);
    let mut adapter = Stepper::new(&seen);
    adapter.capabilities_pull_only();
    adapter.pull_fails_at = Some(2);
    adapter.pages = (0..4)
        .map(|p| (p * 10..p * 10 + 10).map(record).collect())
        .collect();
    let m = manager(store.clone(), adapter).await;

    let err = m.synchronize(None).await.expect_err("the third pull fails");
    assert!(matches!(err, SyncError::Unauthorized(_)), "{err}");
    assert!(seen.has("applied p2"), "{:?}", seen.all());
    let run = store.runs(Some("overlap"), 1).unwrap().remove(0);
    assert_eq!((run.pulled, run.applied), (20, 20));
    assert_eq!(
        store.cursors("overlap").unwrap().pull.as_deref(),
        Some("p2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_pull_does_not_count_the_page_it_dropped() {
    let seen = Arc::new(Happenings::default());
    let (inner, _dir) = temp_store();
    let store = Arc::new(Watched::new(inner, seen.clone()));
    let mut adapter = Stepper::new(&seen);
    adapter.capabilities_pull_only();
    adapter.limits.stall_pages = 2;
    // The same record on every page: only the first applies anything.
    adapter.pages = (0..6).map(|_| vec![record(0)]).collect();
    let m = manager(store.clone(), adapter).await;

    let err = m.synchronize(None).await.expect_err("stalled");
    assert!(matches!(err, SyncError::Stalled { pages: 2, .. }), "{err}");
    // Pages p0–p2 were taken (the third stalled the pull); p3 was pulled meanwhile and
    // dropped unapplied, its cursor unsaved.
    assert!(seen.has("pull p3"), "{:?}", seen.all());
    let run = store.runs(Some("overlap"), 1).unwrap().remove(0);
    assert_eq!((run.pulled, run.applied), (3, 1));
    assert_eq!(
        store.cursors("overlap").unwrap().pull.as_deref(),
        Some("p3")
    );
}

fn record(i: usize) -> AdapterEvent {
    AdapterEvent {
        guid: format!("ext-{i}"),
        entity_guid: format!("ext-person-{i}"),
        event_type: "create-individual".into(),
        data: json!({ "name": format!("Outside {i}") }).to_string(),
        timestamp: "2025-01-01T00:00:00Z".into(),
        user_id: "outside".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_is_applied_while_the_next_is_pulled_and_pages_land_in_order() {
    let seen = Arc::new(Happenings::default());
    let (inner, _dir) = temp_store();
    let mut store = Watched::new(inner, seen.clone());
    let waits = seen.clone();
    store.before_apply = Box::new(move |page| {
        let at: usize = page.next_cursor.as_deref().unwrap()[1..].parse().unwrap();
        if at == 4 {
            return Ok(()); // the last page: nothing comes after it
        }
        let next = format!("pull p{at}");
        if waits.wait_for(&next, BOUND) {
            Ok(())
        } else {
            Err(StoreError::Backend(format!(
                "applying page {} held up the next pull (no `{next}`)",
                at - 1
            )))
        }
    });
    let store = Arc::new(store);
    let mut adapter = Stepper::new(&seen);
    adapter.capabilities_pull_only();
    adapter.pages = (0..4)
        .map(|p| (p * 10..p * 10 + 10).map(record).collect())
        .collect();
    let m = manager(store.clone(), adapter).await;

    let report = m.synchronize(None).await.expect("every page applied");
    assert_eq!(
        (report.pulled, report.applied, report.pull_pages),
        (40, 40, 4)
    );
    let applies: Vec<String> = seen
        .all()
        .into_iter()
        .filter(|s| s.starts_with("appl"))
        .collect();
    let expected: Vec<String> = (1..=4)
        .flat_map(|p| [format!("apply p{p}"), format!("applied p{p}")])
        .collect();
    assert_eq!(applies, expected, "one page at a time, in order");
    assert_eq!(
        store.cursors("overlap").unwrap().pull.as_deref(),
        Some("p4")
    );
}

impl Stepper {
    fn capabilities_pull_only(&mut self) {
        self.info.capabilities = vec![Capability::Pull];
    }
}
