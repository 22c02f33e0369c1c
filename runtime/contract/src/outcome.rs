//! How runs and failures are named everywhere (run history, API, metrics, CLI): enums
//! carried end to end, turned into text only at the edges.

/// An enum with a fixed text form (serde, `Display`, `parse`).
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text form stored and shown.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// From the text form; `None` for anything else.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use text_enum;

text_enum! {
    /// What a failed run's error was, deciding what an operator does next.
    ErrorClass {
        /// The config is wrong (or no adapter serves it): fix the config.
        Config => "config",
        /// The external system refused the credentials.
        Unauthorized => "unauthorized",
        /// Retries ran out on a transient failure: try later.
        Transient => "transient",
        /// The adapter hit a sandbox limit (fuel, deadline, memory…).
        Limit => "limit",
        /// The adapter failed or answered something the host cannot use.
        Internal => "internal",
        /// The external system answered in a shape nobody expected, repeatedly.
        Protocol => "protocol",
        /// The local store failed (disk full, I/O).
        Store => "store",
        /// Another sync of the config holds its lock.
        Busy => "busy",
        /// The run was stopped by a signal at a safe point.
        Interrupted => "interrupted",
        /// The host stopped the run to protect a secret (an answer held one); the config
        /// is held until the operator releases it.
        Security => "security",
    }
}

text_enum! {
    /// Where a run stands, as run history records it.
    RunStatus {
        /// In progress (or its process died and nobody has looked yet).
        Running => "running",
        /// Finished; everything pending was delivered and every page pulled.
        Succeeded => "succeeded",
        /// Ended by an error (see its class and message).
        Failed => "failed",
        /// Ended by its time budget while still making progress; the next run resumes.
        Incomplete => "incomplete",
        /// Stopped by SIGINT/SIGTERM at a safe point.
        Interrupted => "interrupted",
        /// Its process died; marked by the next process that took the config's lock.
        Abandoned => "abandoned",
    }
}

text_enum! {
    /// Where a quarantined record was stopped.
    QuarantinePhase {
        /// Refused by the external system (or too large to send alone).
        Push => "push",
        /// Pulled, but the host could not accept it (malformed, not this config's to change).
        Pull => "pull",
        /// Stored, but could not be applied here.
        Apply => "apply",
    }
}
