//! The DataCollect adapter SDK: write a sync adapter as a plain Rust trait.
//!
//! An adapter implements [`Adapter`] and calls [`export_adapter!`]; the SDK turns it into a
//! WebAssembly component of the `datacollect:external-sync@1.2.0` world. wit-bindgen stays
//! in here: adapter code sees only the plain types of this crate.
//!
//! ```text
//! use datacollect_adapter_sdk::{export_adapter, Adapter, AdapterInfo, Config, Event,
//!     PullPage, PushOutcome, SyncError};
//!
//! struct MyAdapter;
//! impl Adapter for MyAdapter {
//!     fn describe() -> AdapterInfo { AdapterInfo::new("my-adapter", "My system", "1.0.0") }
//!     fn push(config: &Config, events: Vec<Event>) -> Result<PushOutcome, SyncError> { todo!() }
//!     fn pull(config: &Config, cursor: Option<String>, limit: u32) -> Result<PullPage, SyncError> { todo!() }
//! }
//! export_adapter!(MyAdapter);
//! ```

mod convert;
pub mod host;
pub mod http;
mod model;

pub use model::{
    batch_id, stable_id, AdapterInfo, Config, ConnectionCheck, Data, EncodedBatch, Event,
    FieldProblem, FieldSpec, Placement, PullPage, PushOutcome, Rejection, SecretPlacement,
    SyncError, SyncLevel, SyncReport,
};

/// What almost every adapter uses, in one `use`.
pub mod prelude {
    pub use crate::http::{encode_query, Request, Response};
    pub use crate::{
        batch_id, export_adapter, stable_id, Adapter, AdapterInfo, Config, ConnectionCheck, Data,
        EncodedBatch, Event, FieldProblem, FieldSpec, Placement, PullPage, PushOutcome, Rejection,
        SecretPlacement, SyncError, SyncLevel, SyncReport,
    };
    pub use serde::{Deserialize, Serialize};
    pub use serde_json::json;
}

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "adapter-world",
        path: "../../wit",
        default_bindings_module: "datacollect_adapter_sdk::bindings",
        pub_export_macro: true,
        export_macro_name: "export_raw",
        generate_all,
    });
}

/// What an adapter does. One fresh instance serves each call: keep no state between calls.
pub trait Adapter {
    /// Who the adapter is, the `type` it serves and the config fields it understands.
    fn describe() -> AdapterInfo;

    /// Deliver one batch of events to the external system.
    fn push(config: &Config, events: Vec<Event>) -> Result<PushOutcome, SyncError>;

    /// Deliver one batch handed over as JSON text (contract 1.2). The host delivers every
    /// batch of an SDK adapter this way (the SDK declares the `encoded-push` capability).
    /// The default parses the events, their payloads kept as they came, and calls
    /// [`Adapter::push`]; an adapter that sends events on unchanged overrides it and puts
    /// `batch.events` into its request as it is, with no per-event work.
    fn push_encoded(config: &Config, batch: EncodedBatch) -> Result<PushOutcome, SyncError> {
        Self::push(config, batch.events()?)
    }

    /// Fetch one page of external records after `cursor`, as events.
    fn pull(config: &Config, cursor: Option<String>, limit: u32) -> Result<PullPage, SyncError>;

    /// A whole sync, for adapters with the `custom-sync` capability. The default drives
    /// [`Adapter::push`] and [`Adapter::pull`] through the host's store, like the host does.
    fn sync(config: &Config) -> Result<SyncReport, SyncError> {
        host::default_sync::<Self>(config)
    }

    /// Where each secret may be filled in. `None` (the default) declares nothing: the host
    /// then fills secrets only into headers and basic auth toward the config's own origin.
    /// Declare a JSON-body placement when the protocol needs one (the operator must
    /// approve it); a field named `header.<Name>` may always go into that header.
    fn secret_placements() -> Option<Vec<SecretPlacement>> {
        None
    }

    /// Every problem with a config, field by field, including rules that depend on other
    /// fields. No I/O. `dcsync check` and the API show these before any sync.
    fn validate(_config: &Config) -> Vec<FieldProblem> {
        Vec::new()
    }

    /// Try the credentials against the system without changing anything there
    /// (`dcsync check --connect`). The default says the adapter has no such test.
    fn check_connection(_config: &Config) -> Result<ConnectionCheck, SyncError> {
        Ok(ConnectionCheck::Untestable(
            "this adapter has no connection test".into(),
        ))
    }
}

/// Make `$adapter` (a type implementing [`Adapter`]) the component's export.
#[macro_export]
macro_rules! export_adapter {
    ($adapter:ty) => {
        struct __DataCollectAdapterExport;

        impl $crate::bindings::exports::datacollect::external_sync::adapter::Guest
            for __DataCollectAdapterExport
        {
            fn describe() -> $crate::bindings::datacollect::external_sync::types::AdapterInfo {
                $crate::__glue::describe::<$adapter>()
            }
            fn push_batch(
                config: $crate::bindings::datacollect::external_sync::types::AdapterConfig,
                events: ::std::vec::Vec<
                    $crate::bindings::datacollect::external_sync::types::FormSubmission,
                >,
            ) -> ::std::result::Result<
                $crate::bindings::datacollect::external_sync::types::PushResult,
                $crate::bindings::datacollect::external_sync::types::SyncError,
            > {
                $crate::__glue::push_batch::<$adapter>(config, events)
            }
            fn pull_since(
                config: $crate::bindings::datacollect::external_sync::types::AdapterConfig,
                cursor: ::std::option::Option<::std::string::String>,
                limit: u32,
            ) -> ::std::result::Result<
                $crate::bindings::datacollect::external_sync::types::PullPage,
                $crate::bindings::datacollect::external_sync::types::SyncError,
            > {
                $crate::__glue::pull_since::<$adapter>(config, cursor, limit)
            }
            fn sync(
                config: $crate::bindings::datacollect::external_sync::types::AdapterConfig,
            ) -> ::std::result::Result<
                $crate::bindings::datacollect::external_sync::types::SyncReport,
                $crate::bindings::datacollect::external_sync::types::SyncError,
            > {
                $crate::__glue::sync::<$adapter>(config)
            }
        }

        impl $crate::bindings::exports::datacollect::external_sync::encoded_push::Guest
            for __DataCollectAdapterExport
        {
            fn push_encoded(
                config: $crate::bindings::datacollect::external_sync::types::AdapterConfig,
                batch: $crate::bindings::exports::datacollect::external_sync::encoded_push::EncodedBatch,
            ) -> ::std::result::Result<
                $crate::bindings::datacollect::external_sync::types::PushResult,
                $crate::bindings::datacollect::external_sync::types::SyncError,
            > {
                $crate::__glue::push_encoded::<$adapter>(config, batch)
            }
        }

        impl $crate::bindings::exports::datacollect::external_sync::manifest::Guest
            for __DataCollectAdapterExport
        {
            fn secret_placements() -> ::std::option::Option<
                ::std::vec::Vec<
                    $crate::bindings::exports::datacollect::external_sync::manifest::SecretPlacement,
                >,
            > {
                $crate::__glue::secret_placements::<$adapter>()
            }
        }

        impl $crate::bindings::exports::datacollect::external_sync::checks::Guest
            for __DataCollectAdapterExport
        {
            fn validate(
                config: $crate::bindings::datacollect::external_sync::types::AdapterConfig,
            ) -> ::std::vec::Vec<
                $crate::bindings::exports::datacollect::external_sync::checks::FieldProblem,
            > {
                $crate::__glue::validate::<$adapter>(config)
            }
            fn check_connection(
                config: $crate::bindings::datacollect::external_sync::types::AdapterConfig,
            ) -> ::std::result::Result<
                $crate::bindings::exports::datacollect::external_sync::checks::ConnectionCheck,
                $crate::bindings::datacollect::external_sync::types::SyncError,
            > {
                $crate::__glue::check_connection::<$adapter>(config)
            }
        }

        $crate::bindings::export_raw!(__DataCollectAdapterExport with_types_in $crate::bindings);
    };
}

#[doc(hidden)]
pub mod __glue {
    //! What the export macro expands to: conversions between WIT and SDK types.
    use crate::bindings::datacollect::external_sync::types as wit;
    use crate::bindings::exports::datacollect::external_sync::{checks, encoded_push, manifest};
    use crate::{convert, Adapter, Config, EncodedBatch};

    /// The config of this call, its references remembered for [`Config::secret_ref`].
    fn config(c: wit::AdapterConfig) -> Config {
        let config = Config::from(c);
        crate::model::remember_references(&config);
        config
    }

    /// What the adapter declares, with `encoded-push` added where it pushes: every SDK
    /// adapter serves the 1.2 export ([`Adapter::push_encoded`]'s default is as faithful as
    /// `push-batch`), so the host hands it batches as one JSON text.
    pub fn describe<A: Adapter>() -> wit::AdapterInfo {
        let mut info: wit::AdapterInfo = A::describe().into();
        let has = |c: &str| info.capabilities.iter().any(|x| x == c);
        if has("push") && !has("encoded-push") {
            info.capabilities.push("encoded-push".into());
        }
        info
    }

    pub fn push_encoded<A: Adapter>(
        config: wit::AdapterConfig,
        batch: encoded_push::EncodedBatch,
    ) -> Result<wit::PushResult, wit::SyncError> {
        let batch = EncodedBatch {
            events: batch.events,
            count: batch.count,
            batch_id: batch.batch_id,
        };
        A::push_encoded(&self::config(config), batch)
            .map(Into::into)
            .map_err(Into::into)
    }

    pub fn push_batch<A: Adapter>(
        config: wit::AdapterConfig,
        events: Vec<wit::FormSubmission>,
    ) -> Result<wit::PushResult, wit::SyncError> {
        let config = self::config(config);
        let events = convert::events_from_wit(events).map_err(wit::SyncError::from)?;
        A::push(&config, events).map(Into::into).map_err(Into::into)
    }

    pub fn pull_since<A: Adapter>(
        config: wit::AdapterConfig,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<wit::PullPage, wit::SyncError> {
        A::pull(&self::config(config), cursor, limit)
            .map(Into::into)
            .map_err(Into::into)
    }

    pub fn sync<A: Adapter>(config: wit::AdapterConfig) -> Result<wit::SyncReport, wit::SyncError> {
        A::sync(&self::config(config))
            .map(Into::into)
            .map_err(Into::into)
    }

    pub fn secret_placements<A: Adapter>() -> Option<Vec<manifest::SecretPlacement>> {
        A::secret_placements().map(|list| list.into_iter().map(Into::into).collect())
    }

    pub fn validate<A: Adapter>(config: wit::AdapterConfig) -> Vec<checks::FieldProblem> {
        A::validate(&self::config(config))
            .into_iter()
            .map(Into::into)
            .collect()
    }

    pub fn check_connection<A: Adapter>(
        config: wit::AdapterConfig,
    ) -> Result<checks::ConnectionCheck, wit::SyncError> {
        A::check_connection(&self::config(config))
            .map(Into::into)
            .map_err(Into::into)
    }
}
