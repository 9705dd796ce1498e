//! Fault injection: failure rate, retries, per-request overrides, rate
//! limits, random 503s, latency, retention, and seeded determinism.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use vestis_mock_server::Config;

use crate::util::{Harness, expect_error, json};

#[tokio::test]
async fn failure_rate_one_fails_every_job_after_max_attempts() {
    let mut config = Config::fast();
    config.faults.failure_rate = 1.0;
    config.faults.max_attempts = 2;
    let h = Harness::start(config).await;
    let id = h.chat("t").await;
    let job = h.until_terminal("t", id).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["attempts"], 2);
    assert!(!job["error"].as_str().unwrap().is_empty());
    assert!(job["result"].is_null());
    assert!(job["completed_at"].is_string());
}

#[tokio::test]
async fn every_api_answer_says_the_max_attempts() {
    let mut config = Config::fast();
    config.faults.max_attempts = 4;
    let h = Harness::start(config).await;
    let id = h.chat("t").await;
    for (token, path) in [("t", format!("/jobs/{id}")), ("", "/jobs".into())] {
        let res = h.api(token, Method::GET, &path).send().await.unwrap();
        let max = res
            .headers()
            .get("x-mock-max-attempts")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(max.as_deref(), Some("4"), "{path} as {token:?}");
    }
}

#[tokio::test]
async fn mock_outcome_and_duration_headers_steer_one_job() {
    let mut config = Config::fast();
    config.faults.failure_rate = 1.0;
    let h = Harness::start(config).await;
    let res = h
        .api("t", Method::POST, "/generate?chat=true")
        .header("x-mock-outcome", "complete")
        .header("x-mock-duration", "30ms")
        .json(&json!({"prompt": "x"}))
        .send()
        .await
        .unwrap();
    let id = json(res).await.1["job_id"].as_u64().unwrap();
    let job = h.until_terminal("t", id).await;
    assert_eq!(job["status"], "completed");
    let started: vestis_client::Timestamp =
        serde_json::from_value(job["started_at"].clone()).unwrap();
    let ended: vestis_client::Timestamp =
        serde_json::from_value(job["completed_at"].clone()).unwrap();
    // Exact: the mock's timestamps are the attempt's start and its drawn end.
    assert_eq!(ended.duration_since(started), Duration::from_millis(30));

    let res = h
        .api("t", Method::POST, "/generate")
        .header("x-mock-outcome", "fail")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let id = json(res).await.1["job_id"].as_u64().unwrap();
    let job = h.until_terminal("t", id).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["attempts"], 3);

    for (name, value) in [("x-mock-outcome", "explode"), ("x-mock-duration", "soon")] {
        let res = h
            .api("t", Method::POST, "/generate")
            .header(name, value)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        expect_error(res, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_per_token() {
    let mut config = Config::fast();
    config.faults.rate_limit = Some(3);
    let h = Harness::start(config).await;
    let mut limited = None;
    for _ in 0..10 {
        let res = h.api("t", Method::GET, "/jobs").send().await.unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(res);
            break;
        }
    }
    let res = limited.expect("the 4th request within a second is limited");
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1).contains(&retry));
    expect_error(res, 429, "rate_limited").await;
    // Another token has its own budget.
    let res = h.api("other", Method::GET, "/jobs").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn http_error_rate_answers_503_with_retry_after() {
    let mut config = Config::fast();
    config.faults.http_error_rate = 1.0;
    let h = Harness::start(config).await;
    let res = h.api("t", Method::GET, "/jobs").send().await.unwrap();
    assert_eq!(res.headers()["retry-after"], "1");
    expect_error(res, 503, "unavailable").await;
    // Only /api/v1 is affected.
    assert_eq!(
        h.raw(Method::GET, "/health").send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn http_error_rate_is_reproducible_with_a_seed() {
    let run = || async {
        let mut config = Config::fast();
        config.faults.http_error_rate = 0.5;
        config.seed = Some(99);
        let h = Harness::start(config).await;
        let mut statuses = Vec::new();
        for _ in 0..30 {
            statuses.push(
                h.api("t", Method::GET, "/jobs")
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            );
        }
        statuses
    };
    let a = run().await;
    assert_eq!(a, run().await);
    assert!(a.contains(&503) && a.contains(&200), "{a:?}");
}

/// Each job's final status and how long its attempt took (exact: the
/// mock's timestamps are the attempt's start and its drawn end).
async fn seeded_run(seed: u64, jobs: usize) -> (Harness, Vec<(String, u128)>) {
    let mut config = Config::fast();
    config.seed = Some(seed);
    config.faults.processing_time = "10ms..60ms".parse().unwrap();
    config.faults.failure_rate = 0.5;
    config.faults.max_attempts = 1;
    let h = Harness::start(config).await;
    let mut outcomes = Vec::new();
    for _ in 0..jobs {
        let id = h.chat("t").await;
        let job = h.until_terminal("t", id).await;
        let started: vestis_client::Timestamp =
            serde_json::from_value(job["started_at"].clone()).unwrap();
        let ended: vestis_client::Timestamp =
            serde_json::from_value(job["completed_at"].clone()).unwrap();
        outcomes.push((
            job["status"].as_str().unwrap().to_owned(),
            ended.duration_since(started).as_millis(),
        ));
    }
    (h, outcomes)
}

#[tokio::test]
async fn seeded_servers_reproduce_durations_and_outcomes() {
    let (_, a) = seeded_run(1234, 12).await;
    let statuses: Vec<&str> = a.iter().map(|(s, _)| s.as_str()).collect();
    assert!(statuses.contains(&"failed") && statuses.contains(&"completed"));
    let durations: Vec<u128> = a.iter().map(|(_, d)| *d).collect();
    assert!(
        durations.iter().all(|d| (10..=60).contains(d)),
        "{durations:?}"
    );
    assert!(
        durations.windows(2).any(|w| w[0] != w[1]),
        "drawn, not fixed"
    );
    let (_, b) = seeded_run(1234, 12).await;
    assert_eq!(a, b, "same seed: same statuses and same durations");
    let (_, c) = seeded_run(4321, 12).await;
    assert_ne!(a, c, "another seed, another run");
}

/// FNV-1a: a fixed, dependency-free digest for pinning bytes.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The seeded draws and the image use a hash with a fixed algorithm and
/// keys, so these values hold on every build and every Rust release. If
/// this fails, seeded runs changed: that must be a deliberate decision.
#[tokio::test]
async fn a_seeded_job_is_pinned_across_builds() {
    let (h, outcomes) = seeded_run(2026, 6).await;
    assert_eq!(outcomes, PINNED_OUTCOMES.map(|(s, d)| (s.to_owned(), d)));
    let first_completed = outcomes.iter().position(|(s, _)| s == "completed").unwrap() + 1;
    let png = h
        .raw(Method::GET, &format!("/images/{first_completed}.png"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!((png.len(), fnv1a(&png)), PINNED_PNG);
}

const PINNED_OUTCOMES: [(&str, u128); 6] = [
    ("completed", 26),
    ("completed", 14),
    ("completed", 14),
    ("completed", 12),
    ("failed", 49),
    ("failed", 59),
];
const PINNED_PNG: (usize, u64) = (41_637, 5_196_563_521_641_503_475);

/// On paused tokio time, through the router without a socket: the added
/// latency is exactly what the clock shows, with no timing flakiness.
#[tokio::test(start_paused = true)]
async fn latency_is_added_to_api_responses() {
    use tower::ServiceExt;

    let mut config = Config::fast();
    config.faults.latency = Duration::from_millis(150);
    let app = vestis_mock_server::App::new(config);
    let request = || {
        axum::http::Request::get("/api/v1/jobs")
            .header("authorization", "Bearer t")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let start = tokio::time::Instant::now();
    let res = app.router().oneshot(request()).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(start.elapsed(), Duration::from_millis(150));
    // Patched at run time, the next response follows.
    let res = app
        .router()
        .oneshot(
            axum::http::Request::patch("/__admin/config")
                .body(axum::body::Body::from(r#"{"latency": "0s"}"#))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let start = tokio::time::Instant::now();
    app.router().oneshot(request()).await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test]
async fn a_full_store_evicts_old_finished_jobs_or_answers_503() {
    let mut config = Config::fast();
    config.max_jobs = 2;
    config.faults.processing_time = "1h".parse().unwrap();
    config.workers = 1;
    let h = Harness::start(config).await;
    let first = h.chat("t").await;
    h.chat("t").await;
    let res = h
        .api("t", Method::POST, "/generate?chat=true")
        .json(&json!({"prompt": "x"}))
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("retry-after"));
    expect_error(res, 503, "unavailable").await;
    h.raw(Method::POST, &format!("/__admin/jobs/{first}/complete"))
        .send()
        .await
        .unwrap();
    let third = h.chat("t").await;
    assert_eq!(third, 3);
    h.api_error(
        "t",
        Method::GET,
        &format!("/jobs/{first}"),
        404,
        "not_found",
    )
    .await;
}

/// A stop does not wait out `--latency` (which may be a day): a request
/// held back by it is answered at once, and the server stops.
#[tokio::test]
async fn a_stop_cuts_latency_short() {
    let mut config = Config::fast();
    config.faults.latency = Duration::from_secs(24 * 60 * 60);
    let h = Harness::start(config).await;
    let request = h.api("t", Method::GET, "/jobs").send();
    let held = tokio::spawn(request);
    // Long enough for the request to be waiting out its latency.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!held.is_finished(), "the latency holds the answer back");
    let stopped = tokio::time::timeout(Duration::from_secs(30), h.server.shutdown()).await;
    assert!(stopped.is_ok(), "the server stopped without waiting a day");
    let res = tokio::time::timeout(Duration::from_secs(30), held)
        .await
        .expect("the held request was answered")
        .unwrap()
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
