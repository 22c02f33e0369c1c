//! Local servers that emulate external systems, for demos and tests, with fault injection.

mod faults;
pub mod openfn;
pub mod openspp;
mod sync_server;
pub mod webhook;

pub use faults::{Fault, FaultPlan};
pub use sync_server::{MockState, MockSyncServer};
