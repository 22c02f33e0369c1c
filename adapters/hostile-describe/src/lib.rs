//! TEST ONLY. Every text this adapter declares is an attack on whoever renders it: field
//! names, descriptions, defaults and validation messages carrying `<script>`, `<img
//! onerror>` and 10 000-character strings. The admin page must show them as text, and
//! keep its layout. Each payload sets `window.__pwned` to say which text got executed.

use datacollect_adapter_sdk::{
    export_adapter, Adapter, AdapterInfo, Config, Event, FieldProblem, FieldSpec, PullPage,
    PushOutcome, SyncError,
};

/// Long enough to break a layout that does not wrap, and in one unbroken word.
const LONG: usize = 10_000;

/// The field whose name is a script element (required: the host's own message about it
/// quotes its description too).
pub const SCRIPT_NAME: &str = "<script>window.__pwned='field name'</script>";

struct HostileDescribe;

impl Adapter for HostileDescribe {
    fn describe() -> AdapterInfo {
        let long = "W".repeat(LONG);
        AdapterInfo::new(
            "hostile-describe",
            &format!("<img src=x onerror=\"window.__pwned='name'\">Hostile describe {long}"),
            env!("CARGO_PKG_VERSION"),
        )
        .field(
            FieldSpec::new(
                SCRIPT_NAME,
                "<img src=x onerror=\"window.__pwned='description'\"> its name is a script element",
            )
            .required(),
        )
        .field(
            FieldSpec::new(
                "token<img src=x onerror=\"window.__pwned='secret name'\">",
                "a secret whose name is markup",
            )
            .secret(),
        )
        .field(
            FieldSpec::new(
                "note",
                "</label></div><b onmouseover=\"window.__pwned='help'\">bold?</b>",
            )
            .default_value("\"><script>window.__pwned='default'</script>"),
        )
        .field(
            FieldSpec::new(&format!("long{}", "N".repeat(LONG)), &"D".repeat(LONG))
                .default_value(&"V".repeat(LONG)),
        )
    }

    /// A rule of its own, with a message that is markup too.
    fn validate(config: &Config) -> Vec<FieldProblem> {
        match config.extra("note") {
            Some(note) if note != "plain" => vec![FieldProblem::new(
                "extraFields.note",
                "<img src=x onerror=\"window.__pwned='validate'\"> must be plain",
            )],
            _ => Vec::new(),
        }
    }

    fn push(_: &Config, _: Vec<Event>) -> Result<PushOutcome, SyncError> {
        Err(SyncError::Internal(
            "<script>window.__pwned='push'</script>".into(),
        ))
    }

    fn pull(_: &Config, _: Option<String>, _: u32) -> Result<PullPage, SyncError> {
        Err(SyncError::Internal(
            "<script>window.__pwned='pull'</script>".into(),
        ))
    }
}

export_adapter!(HostileDescribe);
