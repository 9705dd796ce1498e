//! The `/__admin` control routes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use vestis_mock_server::Config;

use crate::util::{Harness, expect_error, json};

fn slow() -> vestis_mock_server::Config {
    let mut config = Config::fast();
    config.faults.processing_time = "1h".parse().unwrap();
    config
}

#[tokio::test]
async fn lists_every_job_of_every_token_with_owner_and_payload() {
    let h = Harness::start(slow()).await;
    h.chat("alice").await;
    h.create("bob", "", json!({"note": 1})).await;
    let (status, all) = json(h.raw(Method::GET, "/__admin/jobs").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all["total"], 2);
    assert_eq!(all["jobs"][0]["owner"], "bob");
    assert_eq!(all["jobs"][0]["payload"], json!({"note": 1}));
    assert_eq!(all["jobs"][1]["owner"], "alice");
    assert_eq!(all["jobs"][1]["job_type"], "chat");
}

#[tokio::test]
async fn forces_jobs_to_complete_or_fail_now() {
    let h = Harness::start(slow()).await;
    let processing = h.chat("t").await;
    let res = h
        .raw(
            Method::POST,
            &format!("/__admin/jobs/{processing}/complete"),
        )
        .send()
        .await
        .unwrap();
    let (status, job) = json(res).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["status"], "completed");
    assert!(job["result"]["image_url"].is_string());
    let (_, seen) = h.get("t", processing).await;
    assert_eq!(seen["status"], "completed");

    let other = h.chat("t").await;
    let res = h
        .raw(Method::POST, &format!("/__admin/jobs/{other}/fail"))
        .json(&json!({"error": "Model crashed"}))
        .send()
        .await
        .unwrap();
    let (_, job) = json(res).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["error"], "Model crashed");
    // Terminal jobs never change, even through the admin API.
    let res = h
        .raw(Method::POST, &format!("/__admin/jobs/{other}/complete"))
        .send()
        .await
        .unwrap();
    expect_error(res, 409, "conflict").await;
    let res = h
        .raw(Method::POST, "/__admin/jobs/999/fail")
        .send()
        .await
        .unwrap();
    expect_error(res, 404, "not_found").await;
    let res = h
        .raw(Method::POST, "/__admin/jobs/x/fail")
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "invalid_request").await;
}

#[tokio::test]
async fn reads_and_changes_fault_settings_at_run_time() {
    let h = Harness::start(Config::fast()).await;
    let (_, config) = json(h.raw(Method::GET, "/__admin/config").send().await.unwrap()).await;
    assert_eq!(config["max_attempts"], 3);
    assert_eq!(config["processing_time"], "20ms");
    let res = h
        .raw(Method::PATCH, "/__admin/config")
        .json(&json!({"failure_rate": 1.0, "max_attempts": 1, "latency": "5ms"}))
        .send()
        .await
        .unwrap();
    let (status, changed) = json(res).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(changed["failure_rate"], 1.0);
    assert_eq!(changed["latency"], "5ms");
    let id = h.chat("t").await;
    let job = h.until_terminal("t", id).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["attempts"], 1);
    for (bad, named) in [
        (json!({"failure_rate": 2}), "failure_rate"),
        (json!({"max_attempts": 0}), "max_attempts"),
        (json!({"max_attempts": -1}), "max_attempts"),
        (json!({"nonsense": 1}), "nonsense"),
        (json!({"latency": "soon"}), "latency"),
        (json!({"latency": "99999999999999d"}), "latency"),
        (json!({"processing_time": "2d..3d"}), "processing_time"),
        (json!([1]), "JSON object"),
    ] {
        let res = h
            .raw(Method::PATCH, "/__admin/config")
            .json(&bad)
            .send()
            .await
            .unwrap();
        let body = expect_error(res, 400, "invalid_request").await;
        assert!(
            body["error"].as_str().unwrap().contains(named),
            "{named}: {body}"
        );
    }
    let (_, unchanged) = json(h.raw(Method::GET, "/__admin/config").send().await.unwrap()).await;
    assert_eq!(unchanged, changed, "a refused patch changes nothing");
}

#[tokio::test]
async fn reset_forgets_jobs_and_restores_settings() {
    let h = Harness::start(Config::fast()).await;
    h.chat("t").await;
    h.raw(Method::PATCH, "/__admin/config")
        .json(&json!({"max_attempts": 9}))
        .send()
        .await
        .unwrap();
    let (status, _) = json(h.raw(Method::POST, "/__admin/reset").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (_, all) = json(h.raw(Method::GET, "/__admin/jobs").send().await.unwrap()).await;
    assert_eq!(all["total"], 0);
    let (_, config) = json(h.raw(Method::GET, "/__admin/config").send().await.unwrap()).await;
    assert_eq!(config["max_attempts"], 3);
    assert_eq!(h.chat("t").await, 1, "ids restart after a reset");
}

fn no_faults() -> Value {
    json!({"reset": 0, "close": 0, "truncate": 0, "garbage": 0, "stall": 0, "slow-body": 0})
}

#[tokio::test]
async fn stats_count_api_requests_and_stored_jobs() {
    let h = Harness::start(Config::fast()).await;
    h.chat("t").await;
    h.get("t", 1).await;
    h.api("t", Method::GET, "/jobs/999").send().await.unwrap();
    let (status, stats) = json(h.raw(Method::GET, "/__admin/stats").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        stats,
        json!({"api_requests": 3, "jobs_stored": 1, "journal_entries": 3,
               "faults_injected": no_faults(), "faults_injected_total": 0})
    );
    h.raw(Method::POST, "/__admin/reset").send().await.unwrap();
    let (_, stats) = json(h.raw(Method::GET, "/__admin/stats").send().await.unwrap()).await;
    assert_eq!(
        stats,
        json!({"api_requests": 0, "jobs_stored": 0, "journal_entries": 0,
               "faults_injected": no_faults(), "faults_injected_total": 0})
    );
}

#[tokio::test]
async fn admin_can_be_disabled() {
    let mut config = Config::fast();
    config.admin = false;
    let h = Harness::start(config).await;
    expect_error(
        h.raw(Method::GET, "/__admin/jobs").send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    expect_error(
        h.raw(Method::POST, "/__admin/reset").send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
}

/// A pending job forced to an outcome counts its one attempt: the contract
/// ties `started_at` to `attempts > 0`, and `vestis verify` checks it.
#[tokio::test]
async fn a_pending_job_forced_to_an_outcome_has_started_one_attempt() {
    let mut config = slow();
    config.paused = true;
    let h = Harness::start(config).await;
    for action in ["complete", "fail"] {
        let id = h.chat("t").await;
        let (_, before) = h.get("t", id).await;
        assert_eq!(before["attempts"], 0, "{before}");
        let res = h
            .raw(Method::POST, &format!("/__admin/jobs/{id}/{action}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let (_, job) = h.get("t", id).await;
        assert_eq!(job["attempts"], 1, "{action}: {job}");
        assert!(job["started_at"].is_string(), "{action}: {job}");
        assert_eq!(job["started_at"], job["completed_at"], "{action}: {job}");
    }
}

/// `GET /__admin/jobs` output, fingerprints and all, loads back into a
/// fresh server as fixtures, with the same jobs.
#[tokio::test]
async fn admin_jobs_output_loads_back_as_fixtures() {
    let mut config = slow();
    config.paused = true;
    let h = Harness::start(config.clone()).await;
    let done = h.chat("alice").await;
    h.create("bob", "", json!({"note": 1})).await;
    h.raw(Method::POST, &format!("/__admin/jobs/{done}/complete"))
        .send()
        .await
        .unwrap();
    let (_, all) = json(h.raw(Method::GET, "/__admin/jobs").send().await.unwrap()).await;
    assert!(all["jobs"][0]["token_fingerprint"].is_string(), "{all}");

    let fresh = Harness::start(config).await;
    let res = fresh
        .raw(Method::POST, "/__admin/jobs")
        .json(&all["jobs"])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let (_, again) = json(
        fresh
            .raw(Method::GET, "/__admin/jobs")
            .send()
            .await
            .unwrap(),
    )
    .await;
    // The same jobs; only the image URL's host (the other server) differs.
    let without_hosts = |jobs: &serde_json::Value| {
        let mut jobs = jobs.clone();
        for job in jobs.as_array_mut().unwrap() {
            if let Some(result) = job["result"].as_object_mut() {
                result.remove("image_url");
            }
        }
        jobs
    };
    assert_eq!(without_hosts(&again["jobs"]), without_hosts(&all["jobs"]));
    assert!(
        again["jobs"][1]["result"]["image_url"].is_string(),
        "{again}"
    );
}
