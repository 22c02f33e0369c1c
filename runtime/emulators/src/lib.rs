//! Local servers that emulate external systems, for demos and tests, with fault injection.

mod faults;
pub mod leaky;
pub mod openfn;
pub mod openspp;
mod sync_server;
pub mod webhook;

pub use faults::{Fault, FaultPlan};
pub use sync_server::{MockState, MockSyncServer};

use axum::response::Response;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Mutex;

/// The state of an emulator that takes injected faults.
pub trait HasFaults {
    fn faults(&mut self) -> &mut FaultPlan;
}

impl HasFaults for MockState {
    fn faults(&mut self) -> &mut FaultPlan {
        &mut self.faults
    }
}

impl HasFaults for openfn::OpenFnState {
    fn faults(&mut self) -> &mut FaultPlan {
        &mut self.faults
    }
}

impl HasFaults for openspp::OpenSppState {
    fn faults(&mut self) -> &mut FaultPlan {
        &mut self.faults
    }
}

impl HasFaults for webhook::WebhookState {
    fn faults(&mut self) -> &mut FaultPlan {
        &mut self.faults
    }
}

/// Take the next fault for a request, wait its delay; the response it dictates, if any.
async fn fault_for<S: HasFaults>(state: &Mutex<S>) -> (Option<Fault>, Option<Response>) {
    let taken = state
        .lock()
        .map(|mut s| s.faults().take())
        .unwrap_or_default();
    faults::apply(taken).await
}

/// Serve `app` on `addr` (port 0: any free port) in the background; the bound address.
async fn spawn(addr: SocketAddr, app: Router) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}
