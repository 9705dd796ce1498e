#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
//! Per-request options ([`RequestOptions`] through
//! [`Client::with_request_options`]) against a recording server (wiremock):
//! which requests carry the extra headers, which of the SDK's own they
//! replace and which they leave, the per-request timeout, and how a wait
//! that timed out reports its limit and its cancel.

use std::time::Duration;

use serde_json::{Value, json};
use vestis_client::{
    CancelOnTimeoutError, ChatRequest, Client, Error, JobId, JobKind, ListOptions, PollStrategy,
    RequestOptions, TransportKind, WaitLimit, WaitOptions,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn job(status: &str) -> Value {
    json!({
        "job_id": 1, "status": status, "job_type": "chat",
        "created_at": "2026-11-28T10:00:00.000Z", "attempts": 1
    })
}

/// A server that answers every route of the API with a plausible body.
async fn api() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_json(
            json!({"success": true, "job_id": 1, "status": "pending", "message": "queued"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/jobs/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(job("completed")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/jobs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "jobs": [], "metadata": {"page": 1, "page_size": 20, "total": 0, "total_pages": 0}
        })))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"success": true, "job_id": 1, "status": "cancelled", "message": "Job cancelled"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/images/1.png"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"png".to_vec()))
        .mount(&server)
        .await;
    server
}

fn client(server: &MockServer) -> Client {
    Client::builder()
        .base_url(format!("{}/api/v1", server.uri()))
        .token("t")
        .build()
        .unwrap()
}

/// Each recorded request as `METHOD path: value of the header` (`-` when absent).
async fn header_log(server: &MockServer, name: &str) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let value = r
                .headers
                .get(name)
                .map_or("-", |v| v.to_str().unwrap())
                .to_owned();
            format!("{} {}: {value}", r.method, r.url.path())
        })
        .collect()
}

#[tokio::test]
async fn extra_headers_go_with_every_api_request_of_the_handle_and_no_other() {
    let server = api().await;
    let plain = client(&server);
    let traced =
        plain.with_request_options(RequestOptions::new().header("X-Trace-Id", "t-1").unwrap());
    let id = traced
        .create(JobKind::Chat, &ChatRequest::new("a red dress"))
        .await
        .unwrap()
        .job_id;
    traced.get(id).await.unwrap();
    traced.list(&ListOptions::default()).await.unwrap();
    traced.cancel(id).await.unwrap();
    let job = traced.wait(id, &WaitOptions::default()).await.unwrap();
    assert_eq!(job.job_id, id);
    // The image URL is public and may be on another host: no extra headers.
    traced
        .download(&format!("{}/images/1.png", server.uri()))
        .await
        .unwrap();
    // The handle it came from is unchanged.
    plain.get(id).await.unwrap();
    assert_eq!(
        header_log(&server, "x-trace-id").await,
        [
            "POST /api/v1/generate: t-1",
            "GET /api/v1/jobs/1: t-1",
            "GET /api/v1/jobs: t-1",
            "DELETE /api/v1/jobs/1: t-1",
            "GET /api/v1/jobs/1: t-1",
            "GET /images/1.png: -",
            "GET /api/v1/jobs/1: -",
        ]
    );
}

#[tokio::test]
async fn the_sdks_own_headers_stay_unless_the_caller_replaces_them() {
    let server = api().await;
    let base = client(&server);
    let layered = base
        .with_request_options(RequestOptions::new().header("X-A", "1").unwrap())
        .with_request_options(
            RequestOptions::new()
                .header("x-b", "2")
                .unwrap()
                .header("Idempotency-Key", "mine")
                .unwrap(),
        );
    layered
        .create(JobKind::Chat, &ChatRequest::new("x"))
        .await
        .unwrap();
    base.create(JobKind::Chat, &ChatRequest::new("x"))
        .await
        .unwrap();
    base.with_request_options(
        RequestOptions::new()
            .header("User-Agent", "my-app/2")
            .unwrap()
            .header("Authorization", "Bearer other")
            .unwrap(),
    )
    .get(JobId(1))
    .await
    .unwrap();
    let requests = server.received_requests().await.unwrap();
    let (mine, sdk, replaced) = (
        &requests[0].headers,
        &requests[1].headers,
        &requests[2].headers,
    );
    assert_eq!(replaced["user-agent"], "my-app/2");
    assert_eq!(replaced.get_all("user-agent").iter().count(), 1);
    assert_eq!(replaced["authorization"], "Bearer other");
    assert_eq!(replaced.get_all("authorization").iter().count(), 1);
    assert_eq!(mine["x-a"], "1", "earlier options stay under later ones");
    assert_eq!(mine["x-b"], "2");
    assert_eq!(
        mine["idempotency-key"], "mine",
        "the caller's key replaces the SDK's"
    );
    assert_eq!(mine.get_all("idempotency-key").iter().count(), 1);
    assert_eq!(mine["authorization"], "Bearer t", "the token stays");
    assert!(
        mine["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("vestis-client/"),
        "the SDK's user agent stays"
    );
    assert_ne!(sdk["idempotency-key"], "mine");
    assert!(sdk.get("x-a").is_none());
}

#[tokio::test]
async fn a_per_request_timeout_ends_a_slow_answer_as_a_transport_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(job("pending"))
                .set_delay(Duration::from_secs(120)),
        )
        .mount(&server)
        .await;
    // The client's own timeouts are far longer than the answer's delay, so
    // only the per-request timeout can end the request; the outer bound
    // (generous, not a speed target) turns "not applied" into a failure
    // instead of a hang.
    let patient = Client::builder()
        .base_url(format!("{}/api/v1", server.uri()))
        .read_timeout(Duration::from_secs(600))
        .request_timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let impatient =
        patient.with_request_options(RequestOptions::new().timeout(Duration::from_millis(200)));
    let answer = tokio::time::timeout(Duration::from_secs(20), impatient.get(JobId(1)))
        .await
        .expect("the per-request timeout ends the request");
    match answer {
        Err(Error::Transport(e)) => assert_eq!(e.kind(), TransportKind::Timeout, "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_bad_header_is_refused_at_once_naming_the_header_but_not_its_value() {
    let err = RequestOptions::new()
        .header("X-Secret", "s3cret\nline")
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)));
    let text = err.to_string();
    assert!(text.contains("x-secret"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    assert!(RequestOptions::new().header("bad name", "x").is_err());
    let debug = format!(
        "{:?}",
        RequestOptions::new().header("X-Secret", "s3cret").unwrap()
    );
    assert!(!debug.contains("s3cret"), "values are sensitive: {debug}");
}

#[tokio::test]
async fn a_timed_out_wait_says_its_limit_and_why_its_cancel_failed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(job("processing")))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({
            "success": false, "error": "Only pending jobs can be cancelled", "code": "conflict"
        })))
        .mount(&server)
        .await;
    let options = WaitOptions::new(
        PollStrategy::fixed()
            .interval(Duration::from_millis(10))
            .max_polls(3),
    )
    .cancel_on_timeout(true);
    let result = client(&server).wait(JobId(1), &options).await;
    match &result {
        Err(Error::TimedOut {
            limit: WaitLimit::PollLimit,
            polls: 3,
            cancel: Some(Err(CancelOnTimeoutError::Request(why))),
            ..
        }) => assert!(matches!(**why, Error::Conflict(_)), "{why:?}"),
        other => panic!("{other:?}"),
    }
    let text = result.unwrap_err().to_string();
    assert!(
        text.contains("the poll limit was reached")
            && text.contains("cancelling the job failed: conflict: Only pending jobs"),
        "{text}"
    );
}
