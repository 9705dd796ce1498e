//! `WaitSet` against wiremock: a paced create rides out a 429 and keeps
//! its idempotency key, waits are tagged by the caller, a stopped wait
//! yields nothing more, and the set's creates and polls share one pace
//! (a 429 pauses them all) and one in-flight cap.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use vestis_client::{Client, CreateOptions, JobId, JobKind, PollStrategy, WaitEvent, WaitOptions};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn job(id: u64, status: &str) -> serde_json::Value {
    json!({"job_id": id, "status": status, "job_type": "legacy",
           "created_at": "2026-01-01T00:00:00.000Z", "attempts": 1})
}

fn options() -> WaitOptions {
    WaitOptions::new(PollStrategy::fixed().interval(Duration::from_millis(20)))
        .deadline(Duration::from_secs(20))
}

#[tokio::test]
async fn a_create_rides_out_a_429_with_its_key_and_waits_are_tagged() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/generate"))
        .and(header("Idempotency-Key", "row-1"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(
                    json!({"success": false, "error": "slow down", "code": "rate_limited"}),
                ),
        )
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/generate"))
        .and(header("Idempotency-Key", "row-1"))
        .respond_with(ResponseTemplate::new(202).set_body_json(
            json!({"success": true, "job_id": 5, "status": "pending", "message": "Job created"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/jobs/5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(job(5, "completed")))
        .mount(&server)
        .await;
    let client = Client::builder()
        .base_url(server.uri())
        .token("t")
        .build()
        .unwrap();
    let mut set = client.wait_set::<&str>(&options());
    // More 429s than `max_transient_errors(1)` allows: pacing is not failure.
    let created = client
        .wait_set::<()>(&options().max_transient_errors(1))
        .create(
            JobKind::Legacy,
            &json!({}),
            &CreateOptions::default().idempotency_key("row-1"),
        )
        .await
        .unwrap();
    assert_eq!(created.job_id, JobId(5));
    set.push("row one", created.job_id);
    let mut finished = Vec::new();
    while let Some((tag, event)) = set.next().await {
        if let WaitEvent::Finished(result) = event {
            finished.push((tag, result.unwrap().job_id));
        }
    }
    assert_eq!(finished, [("row one", JobId(5))]);
    assert!(set.is_empty());
}

#[tokio::test]
async fn a_stopped_wait_ends_without_finishing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jobs/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(job(1, "pending")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/jobs/2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(job(2, "completed")))
        .mount(&server)
        .await;
    let client = Client::builder()
        .base_url(server.uri())
        .token("t")
        .build()
        .unwrap();
    let mut set = client.wait_set::<u32>(&options());
    let stop = set.push(1, JobId(1));
    set.push(2, JobId(2));
    let mut tags = Vec::new();
    while let Some((tag, event)) = set.next().await {
        if tag == 1 && matches!(event, WaitEvent::StatusChanged { .. }) {
            stop.stop();
        }
        if let WaitEvent::Finished(_) = event {
            tags.push(tag);
        }
    }
    assert_eq!(tags, [2], "the stopped wait never finished");
}

/// A 429 to a create pauses the set's polls as well (one pace for the
/// whole set): between the refused create and its retry, after the
/// server's `Retry-After: 1`, the set's other wait sends at most the poll
/// already in flight and the first after the pause, not one per 20 ms
/// interval (about 50 in that second).
#[tokio::test]
async fn a_429_to_a_create_pauses_the_sets_polls_too() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/generate"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(
                    json!({"success": false, "error": "slow down", "code": "rate_limited"}),
                ),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/generate"))
        .respond_with(ResponseTemplate::new(202).set_body_json(
            json!({"success": true, "job_id": 5, "status": "pending", "message": "Job created"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/jobs/9"))
        .respond_with(ResponseTemplate::new(200).set_body_json(job(9, "pending")))
        .up_to_n_times(20)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/jobs/9"))
        .respond_with(ResponseTemplate::new(200).set_body_json(job(9, "completed")))
        .mount(&server)
        .await;
    let client = Client::builder()
        .base_url(server.uri())
        .token("t")
        .build()
        .unwrap();
    let mut set = client.wait_set::<u32>(&options());
    set.push(9, JobId(9));
    // The wait is polling before the create is sent.
    let mut polls = 0;
    while polls < 3 {
        if let Some((_, WaitEvent::Polled { .. })) = set.next().await {
            polls += 1;
        }
    }
    let create = tokio::spawn(set.create(
        JobKind::Legacy,
        &json!({}),
        &CreateOptions::default().idempotency_key("k"),
    ));
    while let Some((_, event)) = set.next().await {
        if let WaitEvent::Finished(result) = event {
            assert!(result.is_ok(), "{result:?}");
        }
    }
    assert_eq!(create.await.unwrap().unwrap().job_id, JobId(5));
    let requests = server.received_requests().await.unwrap();
    let posts: Vec<usize> = requests
        .iter()
        .enumerate()
        .filter(|(_, r)| r.method == wiremock::http::Method::POST)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(posts.len(), 2, "the 429, then the retry");
    let during = requests[posts[0]..posts[1]]
        .iter()
        .filter(|r| r.url.path() == "/jobs/9")
        .count();
    assert!(
        during <= 2,
        "{during} polls were sent during the create's rate-limit pause"
    );
}

/// Records when each request arrived, then answers `template`.
struct Stamped {
    arrivals: std::sync::Arc<std::sync::Mutex<Vec<(String, std::time::Instant)>>>,
    template: ResponseTemplate,
}

impl wiremock::Respond for Stamped {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let what = format!("{} {}", request.method, request.url.path());
        self.arrivals
            .lock()
            .unwrap()
            .push((what, std::time::Instant::now()));
        self.template.clone()
    }
}

/// The set's in-flight cap holds for its creates and its polls together:
/// with a cap of 1 and every answer held 100 ms by the server, no request
/// arrives before the one before it was answered, so arrivals are at
/// least 100 ms apart. (Causal, not a speed: the server's hold is a
/// lower bound on every gap whatever the machine's load.)
#[tokio::test]
async fn creates_and_polls_share_the_sets_in_flight_cap() {
    let hold = Duration::from_millis(100);
    let arrivals = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let stamped = |template: ResponseTemplate| Stamped {
        arrivals: std::sync::Arc::clone(&arrivals),
        template: template.set_delay(hold),
    };
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/generate"))
        .respond_with(stamped(ResponseTemplate::new(202).set_body_json(
            json!({"success": true, "job_id": 5, "status": "pending", "message": "Job created"}),
        )))
        .mount(&server)
        .await;
    for id in [1, 2] {
        Mock::given(method("GET"))
            .and(path(format!("/jobs/{id}")))
            .respond_with(stamped(
                ResponseTemplate::new(200).set_body_json(job(id, "pending")),
            ))
            .up_to_n_times(4)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/jobs/{id}")))
            .respond_with(stamped(
                ResponseTemplate::new(200).set_body_json(job(id, "completed")),
            ))
            .mount(&server)
            .await;
    }
    let client = Client::builder()
        .base_url(server.uri())
        .token("t")
        .build()
        .unwrap();
    let mut set = client.wait_set::<u64>(&options().max_in_flight(1));
    set.push(1, JobId(1));
    set.push(2, JobId(2));
    let creates: Vec<_> = (0..3)
        .map(|i| {
            tokio::spawn(set.create(
                JobKind::Legacy,
                &json!({}),
                &CreateOptions::default().idempotency_key(format!("k{i}")),
            ))
        })
        .collect();
    let mut finished = 0;
    while let Some((_, event)) = set.next().await {
        if let WaitEvent::Finished(result) = event {
            assert!(result.is_ok(), "{result:?}");
            finished += 1;
        }
    }
    for create in creates {
        assert_eq!(create.await.unwrap().unwrap().job_id, JobId(5));
    }
    assert_eq!(finished, 2);
    let mut arrivals = arrivals.lock().unwrap().clone();
    arrivals.sort_by_key(|(_, at)| *at);
    assert_eq!(
        arrivals
            .iter()
            .filter(|(what, _)| what.starts_with("POST"))
            .count(),
        3
    );
    for pair in arrivals.windows(2) {
        let gap = pair[1].1 - pair[0].1;
        assert!(
            gap >= hold,
            "{} arrived {gap:?} after {}, before it was answered: {arrivals:?}",
            pair[1].0,
            pair[0].0
        );
    }
}
