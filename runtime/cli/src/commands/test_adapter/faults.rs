//! A local server standing in for the external system, answering every request with one
//! failure: the kit's way to see how an adapter classifies error answers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::net::SocketAddr;

/// Start a server answering every request with `status` (a 429 and a 503 with
/// `Retry-After: 0`); its address.
pub(super) async fn start(status: u16) -> std::io::Result<SocketAddr> {
    let app = Router::new().fallback(move || async move { answer(status) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

fn answer(status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = format!(
        "{{\"error\": \"{}\"}}",
        code.canonical_reason().unwrap_or("error")
    );
    let mut resp = (code, [("content-type", "application/json")], body).into_response();
    if status == 429 || status == 503 {
        resp.headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static("0"));
    }
    resp
}
