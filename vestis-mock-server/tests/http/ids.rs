//! Job ids stay safe JavaScript integers (at most 2^53 - 1) wherever the
//! mock hands one out or accepts one: the admin API's loads, fixtures
//! files, every path and filter that names a job, and the ids that follow
//! a job loaded at the top of the range. Past it: 400 naming the field.

use reqwest::Method;
use serde_json::{Value, json};
use vestis_mock_server::{Config, Fixtures};

use crate::util::{Harness, expect_error};

/// `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE: u64 = (1 << 53) - 1;
/// The issue's example: JavaScript reads it as 1234567890123456800.
const HUGE: u64 = 1_234_567_890_123_456_789;

fn paused() -> Config {
    Config {
        paused: true,
        ..Config::fast()
    }
}

async fn load(h: &Harness, jobs: Value) -> reqwest::Response {
    h.raw(Method::POST, "/__admin/jobs")
        .json(&jobs)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_admin_api_refuses_a_job_id_javascript_cannot_hold() {
    let h = Harness::start(paused()).await;
    for id in [HUGE, MAX_SAFE + 1, u64::MAX] {
        let res = load(
            &h,
            json!([{"job_id": id, "token": "t", "status": "pending"}]),
        )
        .await;
        let body = expect_error(res, 400, "invalid_request").await;
        let message = body["error"].as_str().unwrap();
        assert!(message.contains("job_id"), "{id}: {message}");
        assert!(message.contains(&MAX_SAFE.to_string()), "{id}: {message}");
    }
    // Nothing was stored, and new ids start at 1.
    assert_eq!(h.create("t", "", json!({})).await, 1);
}

#[tokio::test]
async fn ids_never_continue_past_the_largest_safe_one() {
    let h = Harness::start(paused()).await;
    let res = load(
        &h,
        json!([{"job_id": MAX_SAFE, "token": "t", "status": "pending"}]),
    )
    .await;
    assert_eq!(res.status(), 201);
    // The next create would be 2^53: refused, saying why and what to do.
    let res = h
        .api("t", Method::POST, "/generate")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let body = expect_error(res, 503, "unavailable").await;
    assert!(
        body["error"].as_str().unwrap().contains("/__admin/reset"),
        "{body}"
    );
    // A load entry without an id is refused as well, naming job_id.
    let res = load(&h, json!([{"token": "t", "status": "pending"}])).await;
    let body = expect_error(res, 409, "conflict").await;
    assert!(body["error"].as_str().unwrap().contains("job_id"), "{body}");
    // Every id the mock shows stays safe.
    let all: Value = h
        .raw(Method::GET, "/__admin/jobs")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for job in all["jobs"].as_array().unwrap() {
        assert!(job["job_id"].as_u64().unwrap() <= MAX_SAFE, "{job}");
    }
    // A reset starts again at 1.
    h.raw(Method::POST, "/__admin/reset").send().await.unwrap();
    assert_eq!(h.create("t", "", json!({})).await, 1);
}

#[tokio::test]
async fn a_path_or_filter_with_an_unsafe_id_is_400_naming_the_id() {
    // --latency takes the router rather than the fast poll route: both.
    for latency in [None, Some(std::time::Duration::from_millis(1))] {
        let mut config = paused();
        if let Some(latency) = latency {
            config.faults.latency = latency;
        }
        let h = Harness::start(config).await;
        for id in [HUGE, MAX_SAFE + 1] {
            for (method, path) in [
                (Method::GET, format!("/api/v1/jobs/{id}")),
                (Method::DELETE, format!("/api/v1/jobs/{id}")),
                (Method::GET, format!("/__admin/jobs/{id}")),
                (Method::POST, format!("/__admin/jobs/{id}/complete")),
                (Method::POST, format!("/__admin/jobs/{id}/fail")),
                (Method::POST, format!("/__admin/jobs/{id}/cancel")),
                (Method::GET, format!("/__admin/requests?job_id={id}")),
            ] {
                let res = h
                    .raw(method.clone(), &path)
                    .bearer_auth("t")
                    .send()
                    .await
                    .unwrap();
                let body = expect_error(res, 400, "invalid_request").await;
                let message = body["error"].as_str().unwrap();
                assert!(
                    message.contains("Job id") && message.contains(&MAX_SAFE.to_string()),
                    "{method} {path}: {message}"
                );
            }
        }
        // The journal shows no unsafe id either: those requests were about no job.
        let journal: Value = h
            .raw(Method::GET, "/__admin/requests")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let entries = journal["requests"].as_array().unwrap();
        assert!(!entries.is_empty(), "{journal}");
        for entry in entries {
            assert!(entry["job_id"].is_null(), "{entry}");
        }
        // The largest safe id itself is an ordinary missing job.
        let res = h
            .api("t", Method::GET, &format!("/jobs/{MAX_SAFE}"))
            .send()
            .await
            .unwrap();
        expect_error(res, 404, "not_found").await;
    }
}

#[test]
fn a_fixtures_file_with_an_unsafe_job_id_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.json");
    std::fs::write(
        &path,
        format!(r#"[{{"job_id": {HUGE}, "token": "t", "status": "completed"}}]"#),
    )
    .unwrap();
    let message = Fixtures::from_file(&path).unwrap_err().to_string();
    assert!(message.contains("job_id"), "{message}");
    assert!(message.contains(&MAX_SAFE.to_string()), "{message}");

    std::fs::write(
        &path,
        format!(r#"[{{"job_id": {MAX_SAFE}, "token": "t", "status": "completed"}}]"#),
    )
    .unwrap();
    assert_eq!(Fixtures::from_file(&path).unwrap().len(), 1);
}

/// A fixtures file at the top of the range: the server starts, and its
/// next create is refused rather than handing out 2^53.
#[tokio::test]
async fn fixtures_at_the_top_leave_no_unsafe_id_to_hand_out() {
    let fixtures = Fixtures::from_value(&json!([
        {"job_id": MAX_SAFE, "token": "t", "status": "completed"}
    ]))
    .unwrap();
    let h = Harness::start(Config {
        fixtures,
        ..paused()
    })
    .await;
    let res = h
        .api("t", Method::POST, "/generate")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(res, 503, "unavailable").await;
}
