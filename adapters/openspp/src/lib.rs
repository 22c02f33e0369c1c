//! OpenSPP adapter, type `openspp-adapter`: DataCollect individuals and households as
//! registrants of a stock OpenSPP 17 (Odoo 17 + the OpenG2P registry), over Odoo's JSON-RPC
//! at `{url}/jsonrpc`. No custom module is needed on the server.
//!
//! - Login: `database`, `username` and the secret `password` (an API key works too), or
//!   the credentials given to the sync; once per run, the uid kept in the run state.
//!   `registrarGroup` (`module.name`) makes the run check the user's group.
//! - Push (`push.rs`): individuals and groups become `res.partner` registrants with the
//!   fields DataCollect's original adapter wrote (given/family/additional name, birthdate,
//!   gender, phone, email; groups with their kind), plus `opensppAdapterOptions`'
//!   `odooFields`; members become `g2p.group.membership` records; the DataCollect guid is a
//!   registrant ID of type `idTypeName` (`identity.rs`). A record OpenSPP refuses is
//!   rejected with its reason.
//! - Pull (`pull.rs`): registrants changed since the cursor; an archived one is a
//!   `delete-entity` event.

mod identity;
mod mapping;
mod options;
mod pull;
mod push;
mod rpc;
mod time;

use datacollect_adapter_sdk::{
    export_adapter, Adapter, AdapterInfo, Config, ConnectionCheck, Event, FieldProblem, FieldSpec,
    Placement, PullPage, PushOutcome, SecretPlacement, SyncError,
};
use options::{Settings, DEFAULT_ID_TYPE};
use rpc::Session;

struct OpenSpp;

impl Adapter for OpenSpp {
    fn describe() -> AdapterInfo {
        AdapterInfo::new(
            "openspp-adapter",
            "OpenSPP (Odoo JSON-RPC)",
            env!("CARGO_PKG_VERSION"),
        )
        .field(FieldSpec::new("database", "Odoo database name").required())
        .field(FieldSpec::new(
            "username",
            "Login of the sync user (or pass credentials to the sync)",
        ))
        .field(FieldSpec::new("password", "Password or API key of the sync user").secret())
        .field(
            FieldSpec::new(
                "idTypeName",
                "OpenSPP ID type (g2p.id.type) that keeps DataCollect guids; created on first push if the user may",
            )
            .default_value(DEFAULT_ID_TYPE),
        )
        .field(FieldSpec::new(
            "registrarGroup",
            "Group the sync user must be in, as module.name (e.g. g2p_registry_base.group_g2p_registrar)",
        ))
        .field(FieldSpec::new(
            "opensppAdapterOptions",
            "JSON text: field mapping, as DataCollect's OpenSPP adapter took it, plus odooFields",
        ))
    }

    fn secret_placements() -> Option<Vec<SecretPlacement>> {
        // Odoo's JSON-RPC takes the password as the third argument of `authenticate`
        // and of every `execute_kw`, and the login as the second of `authenticate`.
        let at = |pointer: &str| Placement::JsonBody {
            path: "/jsonrpc".into(),
            pointer: pointer.into(),
        };
        Some(vec![
            SecretPlacement::new("password", [at("/params/args/2")]),
            SecretPlacement::new("credentials.password", [at("/params/args/2")]),
            SecretPlacement::new("credentials.username", [at("/params/args/1")]),
        ])
    }

    fn validate(config: &Config) -> Vec<FieldProblem> {
        Settings::problems(config)
    }

    /// Logs in (which Odoo records as the user's last login), checks `registrarGroup`,
    /// and looks for the ID type; changes nothing else.
    fn check_connection(config: &Config) -> Result<ConnectionCheck, SyncError> {
        let session = Session::open(config)?;
        let name = &session.settings.id_type_name;
        let id_type = match session.id_type(false)? {
            Some(id) => format!("ID type {name:?} is id {id}"),
            None => format!(
                "ID type {name:?} does not exist yet: the first push creates it if the user may (OpenG2P administrators), else create it in OpenSPP"
            ),
        };
        Ok(ConnectionCheck::Ok(format!(
            "logged in to database {:?} as uid {}; {id_type}",
            session.settings.database, session.uid
        )))
    }

    fn push(config: &Config, events: Vec<Event>) -> Result<PushOutcome, SyncError> {
        let session = Session::open(config)?;
        push::push(&session, &events)
    }

    fn pull(config: &Config, cursor: Option<String>, limit: u32) -> Result<PullPage, SyncError> {
        let session = Session::open(config)?;
        pull::pull(&session, cursor, limit)
    }
}

export_adapter!(OpenSpp);
