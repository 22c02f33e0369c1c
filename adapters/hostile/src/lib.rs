//! TEST ONLY. An adapter written to attack the host, type `hostile`. The extra field
//! `attack` picks the attack; `push` performs it and reports what it could observe as an
//! `Internal` error (`LEAK: …` when the sandbox failed, `blocked: …` when it held).

use datacollect_adapter_sdk::host::{log, Level};
use datacollect_adapter_sdk::http::Request;
use datacollect_adapter_sdk::{
    export_adapter, Adapter, AdapterInfo, Config, Event, FieldSpec, PullPage, PushOutcome,
    SyncError,
};

struct Hostile;

fn report<T, E: std::fmt::Debug>(what: &str, r: Result<T, E>) -> SyncError {
    match r {
        Ok(_) => SyncError::Internal(format!("LEAK: {what} succeeded")),
        Err(e) => SyncError::Internal(format!("blocked: {what}: {e:?}")),
    }
}

/// Recursion the optimizer cannot turn into a loop: each frame calls through an opaque
/// function pointer and keeps a live local array.
fn recurse(n: u64) -> u64 {
    let local = std::hint::black_box([n; 64]);
    let next: fn(u64) -> u64 = std::hint::black_box(recurse);
    next(local[(n % 64) as usize] + 1) ^ std::hint::black_box(local)[7]
}

impl Adapter for Hostile {
    fn describe() -> AdapterInfo {
        AdapterInfo::new("hostile", "Hostile test adapter", env!("CARGO_PKG_VERSION"))
            .field(FieldSpec::new("apiKey", "a secret to try to steal").secret())
    }

    fn push(config: &Config, _events: Vec<Event>) -> Result<PushOutcome, SyncError> {
        let target = config
            .extra("target")
            .unwrap_or("http://127.0.0.1:1/")
            .to_string();
        Err(match config.extra("attack").unwrap_or_default() {
            // Pull attacks let the push through.
            "huge-page" => return Ok(PushOutcome::all(_events.len())),
            "dump-config" => SyncError::Internal(format!("config: {config:?}")),
            "redirect" => match Request::get(format!("{}/redirect?to={target}", config.url)).send()
            {
                Ok(r) => SyncError::Internal(format!(
                    "redirect answered {} location {:?}",
                    r.status,
                    r.header("location")
                )),
                Err(e) => SyncError::Internal(format!("redirect failed: {e:?}")),
            },
            "read-file" => report("read /etc/passwd", std::fs::read_to_string("/etc/passwd")),
            "list-root" => report("list /", std::fs::read_dir("/")),
            "env" => {
                let vars: Vec<(String, String)> = std::env::vars().collect();
                if vars.is_empty() {
                    SyncError::Internal("blocked: environment is empty".into())
                } else {
                    SyncError::Internal(format!("LEAK: {} environment variables", vars.len()))
                }
            }
            "big-request" => report(
                "a 2 MiB request body",
                Request::post(format!("{}/echo", config.url))
                    .body(vec![b'x'; 2 << 20])
                    .send(),
            ),
            "big-response" => {
                // The echo server answers with what it was sent: 600 KiB up, more than the
                // test's 512 KiB response cap back.
                report(
                    "a response over the cap",
                    Request::post(format!("{}/echo", config.url))
                        .body(vec![b'y'; 600 << 10])
                        .send(),
                )
            }
            "socket" => report(
                "tcp connect",
                std::net::TcpStream::connect(
                    target.trim_start_matches("http://").trim_end_matches('/'),
                ),
            ),
            "other-url" => report("http to another origin", Request::get(target).send()),
            "url-secret" => report(
                "secret in URL",
                Request::get(format!("{}?k={}", config.url, Config::secret_ref("apiKey"))).send(),
            ),
            "echo-secret" => match Request::post(format!("{}/echo", config.url))
                .header("x-api-key", Config::secret_ref("apiKey"))
                .basic_auth("user", Config::secret_ref("apiKey"))
                .body(format!("key={}", Config::secret_ref("apiKey")).into_bytes())
                .send()
            {
                Ok(r) => SyncError::Internal(format!("echoed: {}", r.text())),
                Err(e) => SyncError::Internal(format!("echo failed: {e:?}")),
            },
            "loop" => loop {
                std::hint::black_box(0u64);
            },
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recurse" => SyncError::Internal(format!("{}", recurse(1))),
            "trap" => {
                #[cfg(target_arch = "wasm32")]
                core::arch::wasm32::unreachable();
                #[cfg(not(target_arch = "wasm32"))]
                unreachable!()
            }
            "panic" => panic!("hostile adapter panics"),
            "log-flood" => {
                for i in 0..100_000 {
                    log(
                        Level::Error,
                        &format!("flood line {i} {}", "x".repeat(10_000)),
                        &[],
                    );
                }
                SyncError::Internal("blocked: log flood finished".into())
            }
            "hostcalls" => loop {
                log(Level::Trace, "", &[]);
            },
            other => SyncError::Config(format!("unknown attack {other:?}")),
        })
    }

    fn pull(config: &Config, _cursor: Option<String>, _limit: u32) -> Result<PullPage, SyncError> {
        if config.extra("attack") == Some("huge-page") {
            let event = Event {
                guid: String::new(),
                entity_guid: "e".into(),
                event_type: "create-individual".into(),
                data: datacollect_adapter_sdk::Data::from_value(&serde_json_value()),
                timestamp: "2025-01-01T00:00:00Z".into(),
                user_id: String::new(),
                sync_level: datacollect_adapter_sdk::SyncLevel::External,
            };
            return Ok(PullPage {
                // About 20 MB: over the 16 MB return limit the tests set, under their memory limit.
                events: vec![event; 10],
                next_cursor: None,
                has_more: false,
            });
        }
        Ok(PullPage::default())
    }
}

fn serde_json_value() -> serde_json::Value {
    serde_json::json!({ "padding": "y".repeat(2_000_000) })
}

export_adapter!(Hostile);
