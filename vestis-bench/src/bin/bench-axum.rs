//! The floor: a bare axum 0.8 server answering the benchmarked routes with
//! static JSON, so the suite can say what the mock server's contract logic
//! costs on top of the HTTP stack itself.
//!
//! Listens on `127.0.0.1:0` and prints `listening on http://ADDR`.

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use vestis_bench::canned;

const JSON: [(header::HeaderName, &str); 1] =
    [(header::CONTENT_TYPE, "application/json; charset=utf-8")];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    // Rendered once: the handlers only hand out the bytes.
    let job = Bytes::from(canned::job(&base).to_string());
    let created = Bytes::from(canned::created().to_string());
    let page = Bytes::from(canned::page(&base).to_string());
    let app = Router::new()
        .route("/health", get(|| async { (JSON, r#"{"status":"ok"}"#) }))
        .route("/api/v1/jobs/{id}", get(move || async move { (JSON, job) }))
        .route("/api/v1/jobs", get(move || async move { (JSON, page) }))
        .route(
            "/api/v1/generate",
            // The body is received (as any server must) but not parsed.
            post(move |_body: Bytes| async move {
                let location = [(header::LOCATION, "/api/v1/jobs/1")];
                (StatusCode::ACCEPTED, JSON, location, created).into_response()
            }),
        );
    println!("listening on {base}");
    axum::serve(listener, app).await?;
    Ok(())
}
