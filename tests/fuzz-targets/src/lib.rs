//! The bodies of the fuzz targets, one function per target taking the fuzzer's bytes. A
//! target panics only when the property it guards is broken; everything the code under
//! test may legitimately answer (an error, a refusal) is accepted. `fuzz/` runs them under
//! libFuzzer (`make fuzz`); `tests/corpus.rs` replays the checked-in corpus and every crash
//! found (`fuzz/regressions/`) as ordinary tests in `make test`.
//!
//! | target      | input                           | property                                     |
//! |-------------|---------------------------------|----------------------------------------------|
//! | `config`    | config file bytes               | a config or a field-named error; resolve against every shipped adapter names fields; a parsed config survives its own round trip |
//! | `import`    | an import file                  | lines bounded by the limit; each a FormSubmission that validates, or a reason |
//! | `responses` | adapter choice + HTTP answers   | any status/headers/body through the real component ends the sync with a typed result, never a host panic |
//! | `loader`    | bytes as a `.wasm` file         | loaded or refused with a reason, never a panic |
//! | `cache`     | patches to a cache entry        | a damaged entry is rebuilt, never loaded |
//! | `api`       | route, method, query, body      | the `dcsync serve` API answers, never a panic, never a 5xx for bad input |

mod api;
mod component;
mod text;

pub use api::api;
pub use component::{cache, loader, responses};
pub use text::{config, import};

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by name, for the corpus replay.
pub const TARGETS: &[(&str, Target)] = &[
    ("config", config),
    ("import", import),
    ("responses", responses),
    ("loader", loader),
    ("cache", cache),
    ("api", api),
];

/// The checkout's root (fuzz corpus, adapters).
pub fn repo_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One runtime for the async targets, kept across inputs.
fn rt() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}
