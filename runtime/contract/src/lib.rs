//! The contract between the DataCollect sync host and its adapters, and the host's
//! internal model of it.
//!
//! - [`model`]: DataCollect events and entities in their wire shape;
//! - [`config`]: the DataCollect external sync config (parse, validate, redact);
//! - [`adapter`]: what an adapter is and answers, in the host's own types;
//! - [`outcome`]: run status, error class, quarantine phase as enums;
//! - [`limits`]: the sandbox limits of one call and the limit a breach names;
//! - [`pulled`]: how a pulled record becomes a stored event (deterministic guids);
//! - [`wit`]: the generated bindings and the conversions at the WIT edge.
//!
//! Everything above this crate speaks the internal model; only [`wit`] knows the
//! contract's generated types.

#![deny(missing_docs)]

pub mod adapter;
pub mod config;
pub mod limits;
pub mod model;
pub mod outcome;
pub mod pulled;
pub mod text;
pub mod wit;
