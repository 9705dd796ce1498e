//! Time and progress under the test's control: the paused queue, the
//! manual clock, and poll-driven jobs.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vestis_client::Timestamp;
use vestis_mock_server::{ClockMode, Config, config::REALISTIC_PROCESSING_TIME};

use crate::util::{Harness, expect_error, json};

fn time(v: &Value) -> Timestamp {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"))
}

async fn post(h: &Harness, path: &str, body: Value) -> (StatusCode, Value) {
    json(h.raw(Method::POST, path).json(&body).send().await.unwrap()).await
}

#[tokio::test]
async fn a_paused_queue_keeps_a_job_pending_until_cancelled() {
    let mut config = Config::fast();
    config.paused = true;
    let h = Harness::start(config).await;
    let (_, queue) = json(h.raw(Method::GET, "/__admin/queue").send().await.unwrap()).await;
    assert_eq!(queue, json!({"paused": true}));
    let id = h.chat("t").await;
    // Far longer than a 20 ms job: nothing starts while paused.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, job) = h.get("t", id).await;
    assert_eq!(job["status"], "pending");
    assert_eq!(job["attempts"], 0);
    let res = h
        .api("t", Method::DELETE, &format!("/jobs/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Resuming starts the others, never the cancelled one.
    let other = h.chat("t").await;
    let (_, queue) = post(&h, "/__admin/queue/resume", json!(null)).await;
    assert_eq!(queue, json!({"paused": false}));
    assert_eq!(h.until_terminal("t", other).await["status"], "completed");
    let (_, job) = h.get("t", id).await;
    assert_eq!(
        (job["status"].as_str(), job["attempts"].as_u64()),
        (Some("cancelled"), Some(0))
    );
}

#[tokio::test]
async fn pausing_at_run_time_stops_new_starts_but_not_running_attempts() {
    let mut config = Config::fast();
    config.workers = 1;
    config.faults.processing_time = "150ms".parse().unwrap();
    let h = Harness::start(config).await;
    let running = h.chat("t").await;
    let (status, queue) = post(&h, "/__admin/queue/pause", json!(null)).await;
    assert_eq!((status, queue), (StatusCode::OK, json!({"paused": true})));
    let waiting = h.chat("t").await;
    assert_eq!(h.until_terminal("t", running).await["status"], "completed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.get("t", waiting).await.1["status"], "pending");
    post(&h, "/__admin/queue/resume", json!(null)).await;
    assert_eq!(h.until_terminal("t", waiting).await["status"], "completed");
}

fn manual(config: &mut Config) {
    config.clock = ClockMode::Manual;
}

#[tokio::test]
async fn a_realistic_job_on_a_manual_clock_completes_on_one_advance() {
    let mut config = Config::fast();
    manual(&mut config);
    config.faults.processing_time = REALISTIC_PROCESSING_TIME;
    let h = Harness::start(config).await;
    let (_, clock) = json(h.raw(Method::GET, "/__admin/clock").send().await.unwrap()).await;
    assert_eq!(clock["mode"], "manual");
    let start = time(&clock["now"]);
    let id = h.chat("t").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, job) = h.get("t", id).await;
    assert_eq!(
        job["status"], "processing",
        "a free worker starts it at once"
    );
    assert_eq!(time(&job["created_at"]), start, "the clock stood still");
    let (_, clock) = json(h.raw(Method::GET, "/__admin/clock").send().await.unwrap()).await;
    assert_eq!(time(&clock["now"]), start, "real time does not move it");

    // One advance over the guide's 2-3 minutes finishes it.
    let (status, advanced) = post(&h, "/__admin/clock/advance", json!({"by": "3m"})).await;
    assert_eq!(status, StatusCode::OK, "{advanced}");
    let (_, job) = h.get("t", id).await;
    assert_eq!(job["status"], "completed", "{job}");
    let (created, started, completed) = (
        time(&job["created_at"]),
        time(&job["started_at"]),
        time(&job["completed_at"]),
    );
    assert_eq!(started, created);
    let took = completed.duration_since(started);
    assert!(
        (Duration::from_secs(120)..=Duration::from_secs(180)).contains(&took),
        "{took:?}"
    );
    assert_eq!(time(&job["result"]["generated_at"]), completed);
    let (_, clock) = json(h.raw(Method::GET, "/__admin/clock").send().await.unwrap()).await;
    let now = time(&clock["now"]);
    assert_eq!(now.duration_since(start), Duration::from_secs(180));

    // A shorter advance does not: a job started now is still running 1m59s later.
    let next = h.chat("t").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    post(&h, "/__admin/clock/advance", json!({"by": "1m59s"})).await;
    let (_, job) = h.get("t", next).await;
    assert_eq!(job["status"], "processing", "{job}");
    assert_eq!(time(&job["started_at"]), now);
}

/// Each job's (status, attempts, start and end relative to the first start).
async fn history(h: &Harness, ids: &[u64]) -> Vec<(String, u64, u128, u128)> {
    let mut jobs = Vec::new();
    for id in ids {
        jobs.push(h.get("t", *id).await.1);
    }
    let t0 = jobs.iter().map(|j| time(&j["started_at"])).min().unwrap();
    jobs.iter()
        .map(|j| {
            (
                j["status"].as_str().unwrap().to_owned(),
                j["attempts"].as_u64().unwrap(),
                time(&j["started_at"]).duration_since(t0).as_millis(),
                time(&j["completed_at"]).duration_since(t0).as_millis(),
            )
        })
        .collect()
}

/// Eight jobs queued while paused on two workers, then resumed: retries go
/// back to the tail and wait for a free worker.
async fn retried_batch(clock: ClockMode) -> Vec<(String, u64, u128, u128)> {
    let mut config = Config::fast();
    config.clock = clock;
    config.seed = Some(77);
    config.workers = 2;
    config.paused = true;
    config.faults.processing_time = "20ms..80ms".parse().unwrap();
    config.faults.failure_rate = 0.5;
    config.faults.max_attempts = 3;
    let h = Harness::start(config).await;
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(h.chat("t").await);
    }
    post(&h, "/__admin/queue/resume", json!(null)).await;
    match clock {
        ClockMode::Manual => {
            post(&h, "/__admin/clock/advance", json!({"by": "10s"})).await;
        }
        ClockMode::Real => {
            for id in &ids {
                h.until_terminal("t", *id).await;
            }
        }
    }
    history(&h, &ids).await
}

#[tokio::test]
async fn advancing_through_failures_and_retries_matches_real_time() {
    let manual = retried_batch(ClockMode::Manual).await;
    assert!(
        manual.iter().any(|(_, attempts, ..)| *attempts > 1),
        "{manual:?}"
    );
    assert!(manual.iter().any(|(s, ..)| s == "failed"), "{manual:?}");
    assert!(manual.iter().any(|(s, ..)| s == "completed"), "{manual:?}");
    let real = retried_batch(ClockMode::Real).await;
    assert_eq!(manual, real, "same seed: same history on either clock");
}

#[tokio::test]
async fn clock_advances_are_validated_and_bounded() {
    let mut config = Config::fast();
    manual(&mut config);
    let h = Harness::start(config).await;
    for bad in [
        json!({"by": "500 years"}),
        json!({"by": "soon"}),
        json!({"by": 5}),
        json!({}),
        json!({"by": "1s", "extra": 1}),
        json!([1]),
    ] {
        let res = h
            .raw(Method::POST, "/__admin/clock/advance")
            .json(&bad)
            .send()
            .await
            .unwrap();
        let body = expect_error(res, 400, "invalid_request").await;
        assert!(
            body["error"].as_str().unwrap().contains("by"),
            "{bad}: {body}"
        );
    }
    let res = h
        .raw(Method::PATCH, "/__admin/config")
        .json(&json!({"latency": "99999999999999d"}))
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "invalid_request").await;
}

async fn polled(h: &Harness, headers: &[(&str, &str)]) -> u64 {
    let mut req = h
        .api("t", Method::POST, "/generate?chat=true")
        .json(&json!({"prompt": "x"}));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let (status, body) = json(req.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body["job_id"].as_u64().unwrap()
}

async fn statuses(h: &Harness, id: u64, polls: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..polls {
        seen.push(
            h.get("t", id).await.1["status"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    seen
}

#[tokio::test]
async fn x_mock_polls_3_gives_pending_processing_completed() {
    let mut config = Config::fast();
    config.faults.processing_time = "1h".parse().unwrap();
    let h = Harness::start(config).await;
    let id = polled(&h, &[("x-mock-polls", "3")]).await;
    // Time does not move it; listing does not count as a poll.
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.api("t", Method::GET, "/jobs").send().await.unwrap();
    assert_eq!(
        statuses(&h, id, 4).await,
        ["pending", "processing", "completed", "completed"]
    );
    let (_, job) = h.get("t", id).await;
    assert_eq!(job["attempts"], 1);
    assert!(job["result"]["image_url"].is_string());

    let failing = polled(&h, &[("x-mock-polls", "3"), ("x-mock-outcome", "fail")]).await;
    assert_eq!(
        statuses(&h, failing, 3).await,
        ["pending", "processing", "failed"]
    );
    let one = polled(&h, &[("x-mock-polls", "1")]).await;
    assert_eq!(statuses(&h, one, 1).await, ["completed"]);
    for bad in ["0", "x", "-1", "10001"] {
        let res = h
            .api("t", Method::POST, "/generate")
            .header("x-mock-polls", bad)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        expect_error(res, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn the_polls_setting_drives_every_job() {
    let mut config = Config::fast();
    config.polls = Some(5);
    let h = Harness::start(config).await;
    let id = h.chat("t").await;
    assert_eq!(
        statuses(&h, id, 5).await,
        [
            "pending",
            "pending",
            "processing",
            "processing",
            "completed"
        ]
    );
}

#[tokio::test]
async fn reset_restores_the_clock_the_pause_and_the_journal() {
    let mut config = Config::fast();
    manual(&mut config);
    let h = Harness::start(config).await;
    let (_, before) = json(h.raw(Method::GET, "/__admin/clock").send().await.unwrap()).await;
    post(&h, "/__admin/clock/advance", json!({"by": "3h"})).await;
    post(&h, "/__admin/queue/pause", json!(null)).await;
    h.chat("t").await;
    post(&h, "/__admin/reset", json!(null)).await;
    let (_, after) = json(h.raw(Method::GET, "/__admin/clock").send().await.unwrap()).await;
    let jump = time(&after["now"]).duration_since(time(&before["now"]));
    assert!(jump < Duration::from_secs(3600), "{jump:?}");
    let (_, queue) = json(h.raw(Method::GET, "/__admin/queue").send().await.unwrap()).await;
    assert_eq!(queue["paused"], false);
    let (_, journal) = json(
        h.raw(Method::GET, "/__admin/requests")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(journal["total"], 0);
}

#[tokio::test]
async fn advancing_a_real_clock_finishes_what_the_span_covers() {
    let mut config = Config::fast();
    config.faults.processing_time = "1h".parse().unwrap();
    let h = Harness::start(config).await;
    let id = h.chat("t").await;
    let (_, before) = json(h.raw(Method::GET, "/__admin/clock").send().await.unwrap()).await;
    assert_eq!(before["mode"], "real");
    post(&h, "/__admin/clock/advance", json!({"by": "59m"})).await;
    assert_eq!(h.get("t", id).await.1["status"], "processing");
    post(&h, "/__admin/clock/advance", json!({"by": "1m"})).await;
    let (_, job) = h.get("t", id).await;
    assert_eq!(job["status"], "completed");
    let took = time(&job["completed_at"]).duration_since(time(&job["started_at"]));
    assert_eq!(took, Duration::from_secs(3600));
    let (_, after) = json(h.raw(Method::GET, "/__admin/clock").send().await.unwrap()).await;
    assert!(time(&after["now"]).duration_since(time(&before["now"])) >= Duration::from_secs(3600));
}
