//! Fault injection shared by the emulators: a queue of faults for the next requests, and a
//! latency added to every request.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::collections::VecDeque;
use std::time::Duration;

/// One injected fault, applied to the next `times` requests (default 1).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    pub status: Option<u16>,
    pub retry_after: Option<u64>,
    pub delay_ms: Option<u64>,
    #[serde(default)]
    pub malformed: bool,
    /// Close the connection in the middle of the answer.
    #[serde(default)]
    pub drop: bool,
    #[serde(default)]
    pub reject_guids: Vec<String>,
    pub times: Option<u32>,
}

/// The faults waiting for the next requests, and the latency of every request.
#[derive(Debug, Default)]
pub struct FaultPlan {
    queue: VecDeque<Fault>,
    /// Added to every request: a slow external system.
    pub latency_ms: u64,
}

impl FaultPlan {
    pub fn inject(&mut self, faults: impl IntoIterator<Item = Fault>) {
        self.queue.extend(faults);
    }

    /// Requests that will still get a fault.
    pub fn pending(&self) -> usize {
        self.queue
            .iter()
            .map(|f| f.times.unwrap_or(1).max(1) as usize)
            .sum()
    }

    /// The fault for this request (if any) and the latency.
    pub fn take(&mut self) -> (Option<Fault>, u64) {
        let latency = self.latency_ms;
        let Some(front) = self.queue.front_mut() else {
            return (None, latency);
        };
        let fault = front.clone();
        match front.times.unwrap_or(1) {
            0 | 1 => {
                self.queue.pop_front();
            }
            n => front.times = Some(n - 1),
        }
        (Some(fault), latency)
    }
}

/// Wait the latency and the fault's delay; the response the fault dictates, if it does.
pub async fn apply((fault, latency): (Option<Fault>, u64)) -> (Option<Fault>, Option<Response>) {
    let delay = latency + fault.as_ref().and_then(|f| f.delay_ms).unwrap_or(0);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let resp = response(&fault);
    (fault, resp)
}

fn response(fault: &Option<Fault>) -> Option<Response> {
    let f = fault.as_ref()?;
    if f.drop {
        let chunks: Vec<Result<&'static str, std::io::Error>> = vec![
            Ok("{\"data\": ["),
            Err(std::io::Error::other("connection dropped (injected)")),
        ];
        let body = axum::body::Body::from_stream(futures_util::stream::iter(chunks));
        return Some((StatusCode::OK, body).into_response());
    }
    if f.malformed {
        return Some((StatusCode::OK, "{\"data\": [unterminated").into_response());
    }
    let status = StatusCode::from_u16(f.status?).ok()?;
    let mut resp = (
        status,
        Json(json!({ "error": format!("injected {status}") })),
    )
        .into_response();
    if let Some(s) = f.retry_after {
        resp.headers_mut().insert("retry-after", s.into());
    }
    Some(resp)
}
