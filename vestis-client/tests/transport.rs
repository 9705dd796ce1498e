#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
//! Requests that get no answer: one message with each cause once, and
//! whether the request provably never left (what the CLI's journal needs to
//! decide between forgetting a create and replaying it).

use std::net::TcpListener;
use std::time::Duration;

use vestis_client::{ChatRequest, Client, Error, JobId, JobKind, TransportKind};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A loopback port with nothing listening.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn client(base: &str) -> Client {
    Client::builder()
        .base_url(format!("{base}/api/v1"))
        .token("t")
        .request_timeout(Duration::from_secs(1))
        .build()
        .unwrap()
}

#[tokio::test]
async fn connection_refused_says_so_once_and_is_unsent() {
    let port = closed_port();
    let err = client(&format!("http://127.0.0.1:{port}"))
        .get(JobId(1))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot connect to 127.0.0.1:{port}: connection refused")
    );
    assert!(err.is_request_unsent());
    match &err {
        Error::Transport(e) => {
            assert_eq!(e.kind(), TransportKind::Connect);
            assert_eq!(e.target(), format!("127.0.0.1:{port}"));
            assert_eq!(e.proxy(), None);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_refused_create_is_unsent_even_after_its_retries() {
    let port = closed_port();
    let err = client(&format!("http://127.0.0.1:{port}"))
        .create(JobKind::Chat, &ChatRequest::new("x"))
        .await
        .unwrap_err();
    assert!(err.is_request_unsent(), "{err}");
}

#[tokio::test]
async fn a_timeout_after_sending_is_not_unsent_and_reads_as_a_human_duration() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_delay(Duration::from_secs(10)))
        .mount(&server)
        .await;
    let err = client(&server.uri())
        .create_with(
            JobKind::Chat,
            &ChatRequest::new("x"),
            &vestis_client::CreateOptions::default().retries(0),
        )
        .await
        .unwrap_err();
    // The server got the request: only the Idempotency-Key can tell its outcome.
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert!(!err.is_request_unsent());
    let Error::Transport(e) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(e.kind(), TransportKind::Timeout);
    let text = err.to_string();
    let prefix = format!("no answer from {} after ", e.target());
    assert!(text.starts_with(&prefix), "{text}");
    let duration = &text[prefix.len()..];
    assert!(
        humantime::parse_duration(duration).is_ok() && !duration.contains('.'),
        "not a human duration: {duration:?}"
    );
}

#[tokio::test]
async fn http_errors_are_never_unsent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let err = client(&server.uri()).get(JobId(1)).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert!(!err.is_request_unsent());
}
