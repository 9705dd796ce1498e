#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
//! The SDK against a misbehaving server (wiremock): every fault a real
//! backend produces ends in recovery or a typed error, never a hang.
//!
//! These run in real time with millisecond schedules; exact schedule
//! timings are proven under paused time in `src/wait/tests.rs`.

use std::net::TcpListener as StdListener;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vestis_client::{
    ChatRequest, Client, CreateOptions, Error, JobId, JobKind, JobStatus, PollStrategy, WaitLimit,
    WaitOptions,
};
use wiremock::matchers::{header, header_exists, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn job(status: &str) -> Value {
    let mut job = json!({
        "job_id": 1, "status": status, "job_type": "chat",
        "created_at": "2026-11-28T10:00:00.000Z", "attempts": 1
    });
    if status == "completed" {
        job["completed_at"] = json!("2026-11-28T10:00:05.000Z");
        job["result"] = json!({"image_url": "http://x/images/1.png",
            "generated_at": "2026-11-28T10:00:05.000Z", "message": "ok"});
    }
    job
}

fn error(status: u16, code: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"success": false, "error": format!("scripted {code}"), "code": code}))
}

fn client(server_uri: &str) -> Client {
    Client::builder()
        .base_url(format!("{server_uri}/api/v1"))
        .token("t")
        .build()
        .unwrap()
}

fn quick() -> WaitOptions {
    WaitOptions::new(
        PollStrategy::fixed()
            .interval(Duration::from_millis(20))
            .max_polls(50),
    )
    .deadline(Duration::from_secs(10))
}

/// Answers every POST with `response`.
async fn always_post(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .respond_with(response)
        .mount(server)
        .await;
}

async fn mount_sequence(server: &MockServer, responses: Vec<ResponseTemplate>) {
    let last = responses.len() - 1;
    for (i, response) in responses.into_iter().enumerate() {
        let mock = Mock::given(method("GET"))
            .and(path("/api/v1/jobs/1"))
            .respond_with(response);
        let mock = if i == last {
            mock
        } else {
            mock.up_to_n_times(1)
        };
        mock.with_priority(u8::try_from(i + 1).unwrap())
            .mount(server)
            .await;
    }
}

#[tokio::test]
async fn a_503_then_success_completes() {
    let server = MockServer::start().await;
    mount_sequence(
        &server,
        vec![
            error(503, "unavailable").insert_header("retry-after-ms", "10"),
            ResponseTemplate::new(200).set_body_json(job("completed")),
        ],
    )
    .await;
    let done = client(&server.uri())
        .wait(JobId(1), &quick())
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_429_retry_after_is_honoured() {
    let server = MockServer::start().await;
    mount_sequence(
        &server,
        vec![
            error(429, "rate_limited").insert_header("retry-after", "1"),
            ResponseTemplate::new(200).set_body_json(job("completed")),
        ],
    )
    .await;
    let start = Instant::now();
    let done = client(&server.uri())
        .wait(JobId(1), &quick())
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "waited the server's Retry-After, not 20 ms"
    );
}

#[tokio::test]
async fn connection_refused_mid_wait_then_recovery() {
    // Reserve a port, then free it: polls are refused until a server appears there.
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let uri = format!("http://127.0.0.1:{port}");
    let late_server = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let listener = StdListener::bind(("127.0.0.1", port)).unwrap();
        let server = MockServer::builder().listener(listener).start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(job("completed")))
            .mount(&server)
            .await;
        server
    });
    let mut retries = 0;
    let done = client(&uri)
        .wait_with(JobId(1), &quick(), |event| {
            if let vestis_client::WaitEvent::RetryScheduled { .. } = event {
                retries += 1;
            }
        })
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert!(retries >= 1, "the refused polls were retried");
    drop(late_server.await.unwrap());
}

#[tokio::test]
async fn too_many_connection_failures_end_with_a_transport_error() {
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let result = client(&format!("http://127.0.0.1:{port}"))
        .wait(JobId(1), &quick().max_transient_errors(2))
        .await;
    assert!(matches!(result, Err(Error::Transport(_))), "{result:?}");
}

#[tokio::test]
async fn malformed_json_is_a_decode_error_holding_the_body() {
    let server = MockServer::start().await;
    mount_sequence(
        &server,
        vec![ResponseTemplate::new(200).set_body_string("{\"job_id\": oops")],
    )
    .await;
    match client(&server.uri()).get(JobId(1)).await {
        Err(Error::Decode { status, body, .. }) => {
            assert_eq!(status, 200);
            assert_eq!(body, "{\"job_id\": oops");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_non_json_error_body_is_kept_raw() {
    let server = MockServer::start().await;
    mount_sequence(
        &server,
        vec![ResponseTemplate::new(404).set_body_string("<h1>nope</h1>")],
    )
    .await;
    match client(&server.uri()).get(JobId(1)).await {
        Err(Error::NotFound(e)) => {
            assert_eq!(e.code, None);
            assert_eq!(e.body.as_deref(), Some("<h1>nope</h1>"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_401_ends_the_wait_at_once() {
    let server = MockServer::start().await;
    mount_sequence(&server, vec![error(401, "unauthorized")]).await;
    let result = client(&server.uri()).wait(JobId(1), &quick()).await;
    match result {
        Err(Error::Unauthorized(e)) => {
            assert_eq!(e.message, "scripted unauthorized");
            assert_eq!(e.code, Some(vestis_client::ErrorCode::Unauthorized));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_unknown_status_ends_at_the_deadline_not_never() {
    let server = MockServer::start().await;
    mount_sequence(
        &server,
        vec![ResponseTemplate::new(200).set_body_json(job("aborted"))],
    )
    .await;
    // 50 polls 20 ms apart would take a second: the 300 ms deadline must end it.
    let options = quick().deadline(Duration::from_millis(300));
    match client(&server.uri()).wait(JobId(1), &options).await {
        Err(Error::TimedOut {
            last: Some(job),
            elapsed,
            polls,
            limit,
            ..
        }) => {
            assert_eq!(limit, WaitLimit::Deadline);
            assert_eq!(job.status, JobStatus::Unknown("aborted".into()));
            assert!(elapsed >= Duration::from_millis(300));
            assert!(
                polls <= 16,
                "the deadline, not the poll limit, ended it: {polls} polls"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn create_retries_a_5xx_with_the_same_idempotency_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/generate"))
        .respond_with(error(503, "unavailable"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/generate"))
        .and(query_param("chat", "true"))
        .and(header_exists("idempotency-key"))
        .and(header("authorization", "Bearer t"))
        .respond_with(ResponseTemplate::new(202).set_body_json(
            json!({"success": true, "job_id": 7, "status": "pending", "message": "queued"}),
        ))
        .with_priority(2)
        .mount(&server)
        .await;
    let created = client(&server.uri())
        .create(JobKind::Chat, &ChatRequest::new("x"))
        .await
        .unwrap();
    assert_eq!(created.job_id, JobId(7));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let keys: Vec<_> = requests
        .iter()
        .map(|r| r.headers["idempotency-key"].clone())
        .collect();
    assert_eq!(keys[0], keys[1], "the retry replays the same key");
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body, json!({"prompt": "x", "images": []}));
}

#[tokio::test]
async fn create_without_a_key_is_never_retried() {
    let server = MockServer::start().await;
    always_post(&server, error(503, "unavailable")).await;
    let result = client(&server.uri())
        .create_with(
            JobKind::Legacy,
            &json!({}),
            &CreateOptions::default().without_idempotency_key(),
        )
        .await;
    assert!(
        matches!(result, Err(Error::Server(ref e)) if e.status == 503),
        "{result:?}"
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert!(!requests[0].headers.contains_key("idempotency-key"));
}

#[tokio::test]
async fn create_gives_up_after_its_retries() {
    let server = MockServer::start().await;
    always_post(&server, error(502, "internal")).await;
    let result = client(&server.uri())
        .create_with(
            JobKind::Legacy,
            &json!({}),
            &CreateOptions::default().retries(2).idempotency_key("abc"),
        )
        .await;
    assert!(matches!(result, Err(Error::Server(_))), "{result:?}");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    assert!(
        requests
            .iter()
            .all(|r| r.headers["idempotency-key"] == "abc")
    );
}

#[tokio::test]
async fn a_400_on_create_is_not_retried() {
    let server = MockServer::start().await;
    always_post(&server, error(400, "invalid_request")).await;
    let result = client(&server.uri())
        .create(JobKind::Chat, &ChatRequest::new(""))
        .await;
    assert!(matches!(result, Err(Error::InvalidRequest(_))));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn sends_the_user_agent_and_bearer_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer t"))
        .and(header(
            "user-agent",
            concat!("vestis-client/", env!("CARGO_PKG_VERSION")),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(job("pending")))
        .mount(&server)
        .await;
    let job = client(&server.uri()).get(JobId(1)).await.unwrap();
    assert_eq!(job.status, JobStatus::Pending);
}

#[tokio::test]
async fn the_servers_max_attempts_is_learnt_from_its_header() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/jobs/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(job("processing")))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/jobs/1"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-Mock-Max-Attempts", "3")
                .set_body_json(job("processing")),
        )
        .mount(&server)
        .await;
    let client = client(&server.uri());
    client.get(JobId(1)).await.unwrap();
    assert_eq!(client.mock_max_attempts(), None, "not said yet");
    client.get(JobId(1)).await.unwrap();
    assert_eq!(client.mock_max_attempts(), Some(3));
    assert_eq!(
        client.clone().mock_max_attempts(),
        Some(3),
        "clones share it"
    );
}
