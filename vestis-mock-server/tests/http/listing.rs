//! docs/contract.md's list, cancel and idempotency sentences: pagination
//! and its bounds, the status filter, cancel and its one winner, replays.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use vestis_mock_server::Config;

use crate::util::{Harness, expect_error, json};

#[tokio::test]
async fn pagination_defaults_bounds_and_edges() {
    let h = Harness::start(Config::fast()).await;
    for _ in 0..45 {
        h.create("t", "", json!({})).await;
    }
    let page = |q: &'static str| {
        let req = h.api("t", Method::GET, &format!("/jobs{q}"));
        async move { json(req.send().await.unwrap()).await }
    };
    let (status, first) = page("").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        first["metadata"],
        json!({"page": 1, "page_size": 20, "total": 45, "total_pages": 3})
    );
    let ids: Vec<u64> = first["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (26..=45).rev().collect::<Vec<_>>(), "newest first");
    let (_, last) = page("?page=3&page_size=20").await;
    assert_eq!(last["jobs"].as_array().unwrap().len(), 5);
    assert_eq!(last["jobs"][4]["job_id"], 1);
    let (status, far) = page("?page=9223372036854775807").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(far["jobs"], json!([]));
    let (status, past) = page("?page=9").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(past["jobs"], json!([]));
    assert_eq!(past["metadata"]["total"], 45);
    let (_, big) = page("?page_size=100").await;
    assert_eq!(big["jobs"].as_array().unwrap().len(), 45);
    assert_eq!(big["metadata"]["total_pages"], 1);
    for bad in [
        "?page=0",
        "?page=-1",
        "?page=x",
        "?page_size=0",
        "?page_size=101",
        "?page_size=",
        "?status=done",
        "?status=PENDING",
        "?page=9223372036854775808",
    ] {
        h.api_error(
            "t",
            Method::GET,
            &format!("/jobs{bad}"),
            400,
            "invalid_request",
        )
        .await;
    }
}

/// One rule for page numbers on both list routes, the contract's: ASCII
/// digits, from 1 (`+1`, `-1`, ` 1`, `1.0` and an empty value are "not a
/// number"), up to the OpenAPI document's int64 bound for `page`. The same
/// cases go to `/api/v1/jobs` and `/__admin/jobs`, so the two parsers
/// cannot drift apart again.
#[tokio::test]
async fn page_numbers_follow_one_rule_on_the_api_and_the_admin_api() {
    let h = Harness::start(Config::fast()).await;
    for _ in 0..3 {
        h.create("t", "", json!({})).await;
    }
    let good = [
        "page=1",
        "page=2&page_size=1",
        "page=007",
        "page=9223372036854775807",
        "page_size=1",
        "page_size=100",
        "page=x&page=1",
    ];
    let bad = [
        "page=0",
        "page=-1",
        "page=%2B1",
        "page=+1",
        "page=%201",
        "page=1.0",
        "page=x",
        "page=",
        "page=9223372036854775808",
        "page=99999999999999999999",
        "page_size=0",
        "page_size=%2B1",
        "page_size=",
        "page_size=1e2",
        "page=1&page=0",
    ];
    for (query, want) in good
        .iter()
        .map(|q| (q, StatusCode::OK))
        .chain(bad.iter().map(|q| (q, StatusCode::BAD_REQUEST)))
    {
        let api = h
            .api("t", Method::GET, &format!("/jobs?{query}"))
            .send()
            .await
            .unwrap();
        let admin = h
            .raw(Method::GET, &format!("/__admin/jobs?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(api.status(), want, "/api/v1/jobs?{query}");
        assert_eq!(admin.status(), want, "/__admin/jobs?{query}");
        if want == StatusCode::BAD_REQUEST {
            let field = query.rsplit('&').next().unwrap().split('=').next().unwrap();
            for res in [api, admin] {
                let err = expect_error(res, 400, "invalid_request").await;
                assert!(
                    err["error"].as_str().unwrap().contains(field),
                    "{query}: {err}"
                );
            }
        }
    }
}

#[tokio::test]
async fn listing_filters_by_status() {
    let mut config = Config::fast();
    config.workers = 1;
    config.faults.processing_time = "1h".parse().unwrap();
    let h = Harness::start(config).await;
    for _ in 0..4 {
        h.chat("t").await;
    }
    let res = h.api("t", Method::DELETE, "/jobs/4").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let count = |q: &'static str| {
        let req = h.api("t", Method::GET, &format!("/jobs?status={q}"));
        async move {
            json(req.send().await.unwrap()).await.1["metadata"]["total"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!(count("processing").await, 1);
    assert_eq!(count("pending").await, 2);
    assert_eq!(count("cancelled").await, 1);
    assert_eq!(count("completed").await, 0);
    assert_eq!(count("failed").await, 0);
    let (_, cancelled) = json(
        h.api("t", Method::GET, "/jobs?status=cancelled")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(cancelled["jobs"][0]["job_id"], 4);
}

#[tokio::test]
async fn cancel_a_pending_job_then_it_never_runs_and_cannot_be_cancelled_again() {
    let mut config = Config::fast();
    config.workers = 1;
    // A manual clock: the running job stays processing until the test moves time.
    config.clock = vestis_mock_server::ClockMode::Manual;
    config.faults.processing_time = "300ms".parse().unwrap();
    let h = Harness::start(config).await;
    let running = h.chat("t").await;
    let queued = h.chat("t").await;
    let res = h
        .api("t", Method::DELETE, &format!("/jobs/{queued}"))
        .send()
        .await
        .unwrap();
    let (status, body) = json(res).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"success": true, "job_id": queued, "status": "cancelled", "message": "Job cancelled"})
    );
    let (_, job) = h.get("t", queued).await;
    assert_eq!(job["status"], "cancelled");
    assert!(job["completed_at"].is_string());
    assert!(job["result"].is_null());
    let again = h
        .api("t", Method::DELETE, &format!("/jobs/{queued}"))
        .send()
        .await
        .unwrap();
    expect_error(again, 409, "conflict").await;
    // The processing job cannot be cancelled and is unchanged.
    let (_, before) = h.get("t", running).await;
    assert_eq!(before["status"], "processing");
    h.api_error(
        "t",
        Method::DELETE,
        &format!("/jobs/{running}"),
        409,
        "conflict",
    )
    .await;
    assert_eq!(
        h.get("t", running).await.1,
        before,
        "a refused cancel changes nothing"
    );
    h.raw(Method::POST, "/__admin/clock/advance")
        .json(&json!({"by": "1s"}))
        .send()
        .await
        .unwrap();
    let (_, done) = h.get("t", running).await;
    assert_eq!(done["status"], "completed");
    let (_, still) = h.get("t", queued).await;
    assert_eq!(still, job, "a cancelled job never starts");
    h.api_error(
        "t",
        Method::DELETE,
        &format!("/jobs/{running}"),
        409,
        "conflict",
    )
    .await;
}

#[tokio::test]
async fn idempotency_key_replays_the_same_job_and_rejects_a_different_request() {
    let h = Harness::start(Config::fast()).await;
    let send = |key: &'static str, query: &'static str, body: Value| {
        h.api("t", Method::POST, &format!("/generate{query}"))
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let first = send("key-1", "?chat=true", json!({"prompt": "x"}))
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first = json(first).await.1;
    let again = send("key-1", "?chat=true", json!({"prompt": "x"}))
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(
        again.headers()["location"],
        format!("/api/v1/jobs/{}", first["job_id"])
    );
    assert_eq!(json(again).await.1["job_id"], first["job_id"]);
    expect_error(
        send("key-1", "?chat=true", json!({"prompt": "y"}))
            .await
            .unwrap(),
        409,
        "conflict",
    )
    .await;
    expect_error(
        send("key-1", "", json!({"prompt": "x"})).await.unwrap(),
        409,
        "conflict",
    )
    .await;
    let (_, page) = json(h.api("t", Method::GET, "/jobs").send().await.unwrap()).await;
    assert_eq!(page["metadata"]["total"], 1, "no new job");
    let long = "k".repeat(256);
    let res = h
        .api("t", Method::POST, "/generate")
        .header("idempotency-key", long)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "invalid_request").await;
    let res = h
        .api("t", Method::POST, "/generate")
        .header("idempotency-key", "")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "invalid_request").await;
    let res = h
        .api("t", Method::POST, "/generate")
        .header("idempotency-key", "k".repeat(255))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
}
