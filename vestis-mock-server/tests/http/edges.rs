//! docs/contract.md's additions at the edges: CORS, `/health`, and a
//! contract JSON answer to any garbage a client sends.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vestis_mock_server::Config;

use crate::util::{Harness, expect_error, fast, json};

#[tokio::test]
async fn cors_preflight_is_answered_and_errors_carry_cors_headers() {
    let h = Harness::start(fast()).await;
    let res = h
        .raw(Method::OPTIONS, "/api/v1/generate?chat=true")
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let headers = res.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    // An error answer (401) still lets the browser read it.
    let res = h
        .raw(Method::GET, "/api/v1/jobs")
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    expect_error(res, 401, "unauthorized").await;
    // Location is exposed to scripts.
    let res = h
        .api("t", Method::POST, "/generate")
        .header("origin", "http://x")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("location")
    );
}

#[tokio::test]
async fn cors_origin_restricts_origins() {
    let mut config = fast();
    config.cors_origins = vec!["http://app.example".into()];
    let h = Harness::start(config).await;
    let allowed = h
        .raw(Method::GET, "/health")
        .header("origin", "http://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://app.example"
    );
    let denied = h
        .raw(Method::GET, "/health")
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!denied.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn health_answers_ok() {
    let h = Harness::start(Config::default()).await;
    let (status, body) = json(h.raw(Method::GET, "/health").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "ok"}));
}

#[tokio::test]
async fn garbage_in_always_gets_a_contract_json_answer() {
    let h = Harness::start(fast()).await;
    let mut rng = fastrand::Rng::with_seed(2026);
    let paths = [
        "/api/v1/generate",
        "/api/v1/generate?chat=true",
        "/api/v1/generate?flatlay=1&chat=0",
        "/api/v1/jobs",
        "/api/v1/jobs?page=%FF&page_size=%00",
        "/api/v1/jobs/1",
        "/api/v1/jobs/%E2%82%AC",
        "/images/%2e%2e.png",
        "/__admin/config",
        "/__admin/jobs/1/fail",
    ];
    let content_types = [
        "application/json",
        "text/plain",
        "application/json; charset=latin1",
        "",
        "multipart/form-data",
    ];
    for _ in 0..300 {
        let method = [
            Method::GET,
            Method::POST,
            Method::DELETE,
            Method::PATCH,
            Method::PUT,
        ][rng.usize(..5)]
        .clone();
        let path = paths[rng.usize(..paths.len())];
        let len = rng.usize(..200);
        let body: Vec<u8> = match rng.u8(..4) {
            0 => (0..len).map(|_| rng.u8(..)).collect(),
            1 => b"{\"prompt\": \"\\ud800\"}".to_vec(),
            2 => format!("{{\"prompt\": {}}}", "[".repeat(len)).into_bytes(),
            _ => serde_json::to_vec(
                &json!({"prompt": "x", "images": [rng.u32(..)], "modelId": null}),
            )
            .unwrap(),
        };
        let mut req = h.raw(method, path).bearer_auth("t").body(body);
        let ct = content_types[rng.usize(..content_types.len())];
        if !ct.is_empty() {
            req = req.header("content-type", ct);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let is_json = res
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("application/json"));
        let text = res.text().await.unwrap();
        if status.is_client_error() || status.is_server_error() {
            assert!(is_json, "{status} {path}: {text}");
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(body["success"], false);
            assert_ne!(status.as_u16(), 500, "no internal errors: {text}");
        }
    }
    let (status, _) = json(h.raw(Method::GET, "/health").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "still serving");
}
