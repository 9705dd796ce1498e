//! The SDK against the mock server's transport faults (`docs/faults.md`):
//! `wait` and `wait_many` ride through every fault as transient errors
//! and finish, and a create whose answer is reset, retried with its
//! idempotency key, makes exactly one job. These replace hand-written
//! sockets and wiremock for the network's failures.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use vestis_client::{ChatRequest, Client, CreateOptions, JobKind, JobStatus};
use vestis_mock_server::{Config, FaultOn, MockServer};

use crate::util::{create_chats, quick, server};

/// A client that gives up on a request after 500 ms, so a `stall` ends
/// quickly as the timeout it is.
fn impatient(server: &MockServer) -> Client {
    Client::builder()
        .base_url(server.api_url())
        .token("t")
        .request_timeout(Duration::from_millis(500))
        .build()
        .expect("client builds")
}

async fn admin(server: &MockServer, path: &str) -> Value {
    reqwest::get(format!("{}/__admin/{path}", server.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A create with `X-Mock-Fault-Schedule: schedule`: the job's id.
async fn create_scheduled(server: &MockServer, schedule: &str) -> u64 {
    let res = reqwest::Client::new()
        .post(format!("{}/generate?chat=true", server.api_url()))
        .bearer_auth("t")
        .header("x-mock-fault-schedule", schedule)
        .json(&serde_json::json!({"prompt": "a red dress"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    res.json::<Value>().await.unwrap()["job_id"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn wait_rides_through_every_fault_and_finishes() {
    let server = server(Config::fast()).await;
    let c = impatient(&server);
    for fault in [
        "reset",
        "close",
        "truncate",
        "garbage",
        "stall",
        "slow-body=300ms",
    ] {
        let id = create_scheduled(&server, &format!("1-3:{fault}")).await;
        let job = c
            .wait(vestis_client::JobId(id), &quick())
            .await
            .unwrap_or_else(|e| panic!("{fault}: {e}"));
        assert_eq!(job.status, JobStatus::Completed, "{fault}");
        let journal = admin(&server, &format!("requests?job_id={id}&method=GET")).await;
        let faulted = journal["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["fault"].is_string())
            .count();
        // A slow body is an answer: the job may finish before poll 3.
        let expected = if fault.starts_with("slow-body") {
            1..=3
        } else {
            3..=3
        };
        assert!(
            expected.contains(&faulted),
            "{fault}: {faulted} polls faulted"
        );
    }
}

#[tokio::test]
async fn wait_many_rides_through_random_faults_on_polls() {
    let mut config = Config::fast();
    config.faults.fault_rate = 0.3;
    config.faults.fault_kinds = "reset,close,truncate,garbage,stall,slow-body=100ms"
        .parse()
        .unwrap();
    config.faults.fault_on = FaultOn::Polls;
    config.workers = 8;
    let server = server(config).await;
    let c = impatient(&server);
    let ids = create_chats(&c, 24).await;
    let results: Vec<_> = c
        .wait_many(ids.clone(), &quick().max_in_flight(8))
        .collect()
        .await;
    assert_eq!(results.len(), 24);
    for (id, result) in &results {
        assert_eq!(
            result
                .as_ref()
                .map(|j| j.status.clone())
                .map_err(|e| e.to_string()),
            Ok(JobStatus::Completed),
            "job {id}"
        );
    }
    let stats = admin(&server, "stats").await;
    assert!(
        stats["faults_injected_total"].as_u64().unwrap() >= 5,
        "the faults happened: {stats}"
    );
    assert_eq!(stats["jobs_stored"], 24);
}

#[tokio::test]
async fn a_reset_create_retried_with_its_key_makes_one_job() {
    let mut config = Config::fast();
    // With this seed the first two answers are reset and the third is not.
    config.seed = Some(3);
    config.faults.fault_rate = 0.5;
    config.faults.fault_kinds = "reset".parse().unwrap();
    config.faults.fault_on = FaultOn::Creates;
    let server = server(config).await;
    let c = impatient(&server);
    let created = c
        .create_with(
            JobKind::Chat,
            &ChatRequest::new("x"),
            &CreateOptions::default().idempotency_key("order-42"),
        )
        .await
        .unwrap();
    let journal = admin(&server, "requests?method=POST").await;
    let faults: Vec<Value> = journal["requests"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| e["fault"].clone())
        .collect();
    assert_eq!(
        faults,
        [Value::from("reset"), Value::from("reset"), Value::Null],
        "reset twice, then the retry that got its answer"
    );
    let stats = admin(&server, "stats").await;
    assert_eq!(stats["jobs_stored"], 1, "exactly one job: {stats}");
    assert_eq!(created.job_id, vestis_client::JobId(1));
    let job = c.wait(created.job_id, &quick()).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
}
