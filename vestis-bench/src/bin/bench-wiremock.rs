//! The peer: wiremock-rs 0.6 with its request journal off, serving the same
//! canned answers as `bench-axum`; the mock server must beat it.
//!
//! Listens on `127.0.0.1:0` and prints `listening on http://ADDR`.

use vestis_bench::canned;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    let base = server.uri();
    let json = |status: u16, body: serde_json::Value| {
        ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/json")
    };
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(json(200, serde_json::json!({"status": "ok"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/v1/jobs/\d+$"))
        .respond_with(json(200, canned::job(&base)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/jobs"))
        .respond_with(json(200, canned::page(&base)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/generate"))
        .respond_with(json(202, canned::created()).insert_header("Location", "/api/v1/jobs/1"))
        .mount(&server)
        .await;
    println!("listening on {base}");
    // Serves until the suite kills the process.
    std::future::pending::<()>().await;
    Ok(())
}
