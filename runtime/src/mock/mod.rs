//! Local servers that emulate external systems, for demos and tests, with fault injection.

mod sync_server;

pub use sync_server::{Fault, MockState, MockSyncServer};
