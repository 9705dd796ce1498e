//! State and verification: one job of any token, fixtures (from a file or
//! the admin API), and the request journal.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vestis_mock_server::{Config, Fixtures};

use crate::util::{Harness, expect_error, json};

async fn admin_get(h: &Harness, path: &str) -> (StatusCode, Value) {
    json(h.raw(Method::GET, path).send().await.unwrap()).await
}

#[tokio::test]
async fn one_job_of_any_token_with_owner_and_payload() {
    let mut config = Config::fast();
    config.faults.processing_time = "1h".parse().unwrap();
    let h = Harness::start(config).await;
    let id = h
        .create("bob", "?chat=true", json!({"prompt": "hat", "x": 1}))
        .await;
    let (status, job) = admin_get(&h, &format!("/__admin/jobs/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["job_id"], id);
    assert_eq!(job["owner"], "bob");
    assert_eq!(job["payload"], json!({"prompt": "hat", "x": 1}));
    assert_eq!(job["status"], "processing");
    let res = h.raw(Method::GET, "/__admin/jobs/99").send().await.unwrap();
    expect_error(res, 404, "not_found").await;
    let res = h.raw(Method::GET, "/__admin/jobs/0").send().await.unwrap();
    expect_error(res, 400, "invalid_request").await;
}

/// One job of every status for `alice`, and one for `bob`.
const EVERY_STATUS: &str = r#"[
  {"job_id": 10, "token": "alice", "status": "completed", "job_type": "chat",
   "payload": {"prompt": "red dress"}, "created_at": "2026-01-01T10:00:00.000Z",
   "started_at": "2026-01-01T10:00:01.000Z", "completed_at": "2026-01-01T10:02:31.000Z"},
  {"job_id": 11, "token": "alice", "status": "failed", "attempts": 3, "error": "GPU melted"},
  {"job_id": 12, "token": "alice", "status": "cancelled"},
  {"job_id": 13, "token": "alice", "status": "processing", "job_type": "flatlay",
   "payload": {"modelId": 1, "backgroundId": "b", "products": [1]}},
  {"job_id": 14, "token": "alice", "status": "pending"},
  {"token": "bob", "status": "completed"}
]"#;

fn with_fixtures(text: &str) -> vestis_mock_server::Config {
    let mut config = Config::fast();
    config.faults.processing_time = "1h".parse().unwrap();
    config.paused = true;
    config.fixtures = Fixtures::parse(text).unwrap();
    config
}

#[tokio::test]
async fn fixtures_with_every_status_load_and_list_page_by_page() {
    let h = Harness::start(with_fixtures(EVERY_STATUS)).await;
    let mut seen = Vec::new();
    for page in 1..=3 {
        let (status, body) = json(
            h.api(
                "alice",
                Method::GET,
                &format!("/jobs?page={page}&page_size=2"),
            )
            .send()
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["metadata"]["total"], 5);
        assert_eq!(body["metadata"]["total_pages"], 3);
        for job in body["jobs"].as_array().unwrap() {
            seen.push((
                job["job_id"].as_u64().unwrap(),
                job["status"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let expected = [
        (14, "pending"),
        (13, "processing"),
        (12, "cancelled"),
        (11, "failed"),
        (10, "completed"),
    ];
    assert_eq!(seen, expected.map(|(id, s)| (id, s.to_owned())));
}

#[tokio::test]
async fn loaded_jobs_keep_their_fields_behave_like_others_and_reload_on_reset() {
    let h = Harness::start(with_fixtures(EVERY_STATUS)).await;
    let (_, done) = h.get("alice", 10).await;
    assert_eq!(done["created_at"], "2026-01-01T10:00:00.000Z");
    assert_eq!(done["result"]["generated_at"], "2026-01-01T10:02:31.000Z");
    let image = h.raw(Method::GET, "/images/10.png").send().await.unwrap();
    assert_eq!(
        image.status(),
        StatusCode::OK,
        "a completed job gets its image"
    );
    let (_, failed) = h.get("alice", 11).await;
    assert_eq!(
        (failed["attempts"].as_u64(), failed["error"].as_str()),
        (Some(3), Some("GPU melted"))
    );
    // The entry without an id took the next one; new jobs continue after it.
    assert_eq!(h.get("bob", 15).await.1["status"], "completed");
    assert_eq!(h.chat("alice").await, 16);
    // Loaded jobs behave like any other: the pending one can be cancelled,
    // the terminal ones never change.
    let res = h
        .api("alice", Method::DELETE, "/jobs/14")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = h
        .api("alice", Method::DELETE, "/jobs/10")
        .send()
        .await
        .unwrap();
    expect_error(res, 409, "conflict").await;

    // Reset reloads them.
    h.raw(Method::POST, "/__admin/reset").send().await.unwrap();
    let (_, all) = admin_get(&h, "/__admin/jobs").await;
    assert_eq!(all["total"], 6);
    assert_eq!(h.get("alice", 14).await.1["status"], "pending");
}

#[tokio::test]
async fn a_loaded_pending_job_is_worked_on() {
    let mut config = Config::fast();
    config.fixtures = Fixtures::parse(r#"[{"token": "t", "status": "pending"}]"#).unwrap();
    let h = Harness::start(config).await;
    assert_eq!(h.until_terminal("t", 1).await["status"], "completed");
}

#[tokio::test]
async fn the_admin_api_loads_fixtures_all_or_none_naming_bad_entries() {
    let h = Harness::start(Config::fast()).await;
    let res = h
        .raw(Method::POST, "/__admin/jobs")
        .json(&json!([{"token": "t", "status": "failed", "job_id": 7}]))
        .send()
        .await
        .unwrap();
    let (status, body) = json(res).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["jobs"][0]["job_id"], 7);
    assert_eq!(body["jobs"][0]["status"], "failed");
    for (bad, named) in [
        (json!([{"token": "t", "status": "done"}]), "entry 0: status"),
        (json!([{"status": "pending"}]), "entry 0: token"),
        (
            json!([{"token": "t", "status": "pending"}, {"token": "t", "status": "pending", "stauts": 1}]),
            "entry 1: stauts",
        ),
        (
            json!([{"token": "t", "status": "completed", "job_type": "chat"}]),
            "entry 0: payload",
        ),
        (
            json!([{"token": "t", "status": "completed", "created_at": "yesterday"}]),
            "entry 0: created_at",
        ),
        (
            json!([{"token": "t", "status": "pending", "job_id": 0}]),
            "entry 0: job_id",
        ),
        (json!({"token": "t"}), "array"),
    ] {
        let res = h
            .raw(Method::POST, "/__admin/jobs")
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
    // An id already taken: 409, and nothing of the batch is stored.
    let res = h
        .raw(Method::POST, "/__admin/jobs")
        .json(&json!([{"token": "t", "status": "pending", "job_id": 8}, {"token": "t", "status": "pending", "job_id": 7}]))
        .send()
        .await
        .unwrap();
    expect_error(res, 409, "conflict").await;
    let (_, all) = admin_get(&h, "/__admin/jobs").await;
    assert_eq!(all["total"], 1);
}

#[tokio::test]
async fn the_journal_records_what_was_sent_newest_first_without_tokens() {
    let h = Harness::start(Config::fast()).await;
    let id = h
        .create(
            "secret-token",
            "?chat=true",
            json!({"prompt": "a red dress"}),
        )
        .await;
    h.get("secret-token", id).await;
    h.api("secret-token", Method::GET, "/jobs?page=1&page_size=5")
        .send()
        .await
        .unwrap();
    h.raw(Method::GET, "/api/v1/jobs").send().await.unwrap(); // 401 is recorded too
    h.raw(Method::GET, "/api/v1/nope").send().await.unwrap(); // and an unknown API route
    h.raw(Method::GET, "/health").send().await.unwrap(); // not an API request
    h.raw(Method::GET, "/api/v1x").send().await.unwrap(); // nor this

    let (status, journal) = admin_get(&h, "/__admin/requests").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!journal.to_string().contains("secret-token"), "{journal}");
    let entries = journal["requests"].as_array().unwrap();
    let summary: Vec<(&str, &str, u64)> = entries
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap(),
                e["path"].as_str().unwrap(),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("GET", "/api/v1/nope", 404),
            ("GET", "/api/v1/jobs", 401),
            ("GET", "/api/v1/jobs", 200),
            ("GET", &*format!("/api/v1/jobs/{id}"), 200),
            ("POST", "/api/v1/generate", 202),
        ]
    );
    let create = &entries[4];
    assert_eq!(create["query"], "chat=true");
    assert_eq!(create["body"], json!({"prompt": "a red dress"}));
    assert_eq!(create["job_id"], id);
    let auth = create["headers"]["authorization"].as_str().unwrap();
    assert!(auth.starts_with("Bearer fp:"), "{auth}");
    assert_eq!(
        entries[3]["headers"]["authorization"], auth,
        "same token, same fingerprint"
    );
    assert_eq!(entries[2]["query"], "page=1&page_size=5");
    assert!(entries[1]["headers"].get("authorization").is_none());
}

#[tokio::test]
async fn the_journal_filters_by_method_path_and_job_and_clears() {
    let h = Harness::start(Config::fast()).await;
    let id = h.chat("t").await;
    h.get("t", id).await;
    // The router decodes the id, and so does the journal.
    let digits = id.to_string();
    let encoded = format!("/jobs/%3{}{}", &digits[..1], &digits[1..]);
    let res = h.api("t", Method::GET, &encoded).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    h.api("t", Method::GET, "/jobs").send().await.unwrap();
    h.raw(Method::GET, "/api/v1/jobs").send().await.unwrap();

    let (_, by_job) = admin_get(&h, &format!("/__admin/requests?job_id={id}")).await;
    assert_eq!(by_job["total"], 3, "{by_job}");
    let (_, posts) = admin_get(&h, "/__admin/requests?method=post").await;
    assert_eq!(posts["total"], 1);
    let (_, by_path) = admin_get(&h, "/__admin/requests?path=/api/v1/jobs&method=GET").await;
    assert_eq!(by_path["total"], 2);
    let res = h
        .raw(Method::GET, "/__admin/requests?colour=red")
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "invalid_request").await;

    let res = h
        .raw(Method::DELETE, "/__admin/requests")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(admin_get(&h, "/__admin/requests").await.1["total"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_stays_at_its_bound_after_10_000_requests() {
    let mut config = Config::fast();
    config.journal_size = 100;
    let h = Arc::new(Harness::start(config).await);
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let h = Arc::clone(&h);
        tasks.push(tokio::spawn(async move {
            for i in 0..1250 {
                let res = h
                    .api(
                        "t",
                        Method::GET,
                        &format!("/jobs?page={}", worker * 10_000 + i + 1),
                    )
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::OK);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let (_, stats) = admin_get(&h, "/__admin/stats").await;
    assert_eq!(stats["api_requests"], 10_000);
    assert_eq!(stats["journal_entries"], 100);
    let (_, journal) = admin_get(&h, "/__admin/requests").await;
    assert_eq!(journal["total"], 100);
}

#[tokio::test]
async fn a_journal_size_of_0_turns_it_off() {
    let mut config = Config::fast();
    config.journal_size = 0;
    let h = Harness::start(config).await;
    h.chat("t").await;
    assert_eq!(admin_get(&h, "/__admin/requests").await.1["total"], 0);
}

/// Images are cached by content: ids start again after a reset, so the
/// same URL can become another picture. The `ETag` follows the image, a
/// matching `If-None-Match` is a bodiless `304`, and after a reset a job
/// with another payload at the same id answers its own image.
#[tokio::test]
async fn images_are_revalidated_by_their_etag_across_resets() {
    let h = Harness::start(Config::fast()).await;
    let first = h.create("t", "?chat=true", json!({"prompt": "red"})).await;
    h.until_terminal("t", first).await;
    let path = format!("/images/{first}.png");
    let get = |if_none_match: &str| {
        h.raw(Method::GET, &path)
            .header("if-none-match", if_none_match)
            .send()
    };
    let res = h.raw(Method::GET, &path).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-cache");
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let red = res.bytes().await.unwrap();
    for tag in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"x\", {etag}"),
        "*".into(),
    ] {
        let res = get(&tag).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{tag}");
        assert_eq!(res.headers()["etag"], etag.as_str());
        assert!(res.bytes().await.unwrap().is_empty());
    }
    let res = get("\"0000000000000000\"").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap(), red);

    let res = h.raw(Method::POST, "/__admin/reset").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let again = h.create("t", "?chat=true", json!({"prompt": "blue"})).await;
    assert_eq!(again, first, "ids start again after a reset");
    h.until_terminal("t", again).await;
    let res = get(&etag).await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "another payload, another image"
    );
    assert_ne!(res.headers()["etag"], etag.as_str());
    assert_ne!(res.bytes().await.unwrap(), red);
}
