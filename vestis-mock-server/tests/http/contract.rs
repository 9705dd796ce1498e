//! docs/contract.md's create, job, error and auth sentences, one test per promise
//! (lists and cancel are in `listing.rs`, CORS and garbage in `edges.rs`).

use reqwest::{Method, StatusCode};
use serde_json::json;

use vestis_mock_server::Config;

use crate::util::{Harness, expect_error, json};

#[tokio::test]
async fn create_answers_202_with_location_and_the_job_is_stored_at_once() {
    let h = Harness::start(Config::fast()).await;
    let res = h
        .api("t", Method::POST, "/generate?chat=true")
        .json(&json!({"prompt": "a red dress", "images": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let (_, body) = json(res).await;
    assert_eq!(
        body,
        json!({"success": true, "job_id": 1, "status": "pending", "message": "Job queued for processing"})
    );
    assert_eq!(location, "/api/v1/jobs/1");
    let (status, job) = h.get("t", 1).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["job_id"], 1);
    assert_eq!(job["job_type"], "chat");
}

#[tokio::test]
async fn job_ids_are_unique_and_increasing_across_tokens() {
    let h = Harness::start(Config::fast()).await;
    let ids = [h.chat("a").await, h.chat("b").await, h.chat("a").await];
    assert_eq!(ids, [1, 2, 3]);
}

#[tokio::test]
async fn a_completed_job_has_the_full_contract_shape() {
    let h = Harness::start(Config::fast()).await;
    let id = h.chat("t").await;
    let job = h.until_terminal("t", id).await;
    assert_eq!(job["status"], "completed");
    assert_eq!(job["attempts"], 1);
    assert!(job["error"].is_null());
    for field in ["created_at", "started_at", "completed_at"] {
        let t = job[field].as_str().unwrap();
        assert!(t.ends_with('Z') && t.len() == 24, "{field}: {t}");
    }
    let url = job["result"]["image_url"].as_str().unwrap();
    assert_eq!(url, format!("{}/images/{id}.png", h.server.url()));
    assert_eq!(job["result"]["generated_at"], job["completed_at"]);
    assert!(!job["result"]["message"].as_str().unwrap().is_empty());
    // The image is a real PNG, fetchable without credentials.
    let res = h.http.get(url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/png");
    let bytes = res.bytes().await.unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let again = h.http.get(url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(bytes, again, "deterministic per job");
}

#[tokio::test]
async fn a_pending_job_has_no_start_no_result_and_no_error() {
    let mut config = Config::fast();
    config.workers = 1;
    config.faults.processing_time = "1h".parse().unwrap();
    let h = Harness::start(config).await;
    h.chat("t").await;
    let id = h.chat("t").await;
    let (_, job) = h.get("t", id).await;
    assert_eq!(job["status"], "pending");
    assert_eq!(job["attempts"], 0);
    for field in ["started_at", "completed_at", "result", "error"] {
        assert!(job[field].is_null(), "{field}: {job}");
    }
}

#[tokio::test]
async fn images_are_404_unless_the_job_completed() {
    let mut config = Config::fast();
    config.faults.processing_time = "1h".parse().unwrap();
    config.workers = 2;
    let h = Harness::start(config).await;
    let id = h.chat("t").await;
    // A cancelled and a failed job have no image either (cancelled while
    // both workers are busy, so it is still pending).
    let failed = h.chat("t").await;
    let cancelled = h.chat("t").await;
    let res = h
        .api("t", Method::DELETE, &format!("/jobs/{cancelled}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = h
        .raw(Method::POST, &format!("/__admin/jobs/{failed}/fail"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for path in [
        format!("/images/{id}.png"),
        format!("/images/{failed}.png"),
        format!("/images/{cancelled}.png"),
        "/images/999.png".to_owned(),
        "/images/abc.png".to_owned(),
        format!("/images/{id}.jpg"),
        "/images/0.png".to_owned(),
    ] {
        expect_error(
            h.raw(Method::GET, &path).send().await.unwrap(),
            404,
            "not_found",
        )
        .await;
    }
    // Once the job completes, the same path serves its PNG.
    let res = h
        .raw(Method::POST, &format!("/__admin/jobs/{id}/complete"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = h
        .raw(Method::GET, &format!("/images/{id}.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/png");
}

#[tokio::test]
async fn every_kind_is_created_with_its_flag() {
    let h = Harness::start(Config::fast()).await;
    let cases = [
        ("?chat=true", json!({"prompt": "x"}), "chat"),
        (
            "?flatlay=true",
            json!({"modelId": "1", "backgroundId": 2, "products": [{"id": 1}]}),
            "flatlay",
        ),
        ("?mdoli=true", json!({}), "mdoli"),
        (
            "?onmodel=1",
            json!({"prompt": "p", "images": ["data:image/png;base64,AA=="]}),
            "onmodel",
        ),
        (
            "?background=true",
            json!({"anything": [1, 2]}),
            "background",
        ),
        ("", json!({}), "legacy"),
        ("?chat=false", json!({}), "legacy"),
        (
            "?chat=false&background=true&unrelated=yes",
            json!({}),
            "background",
        ),
    ];
    for (query, body, kind) in cases {
        let id = h.create("t", query, body).await;
        let (_, job) = h.get("t", id).await;
        assert_eq!(job["job_type"], kind, "{query}");
    }
}

#[tokio::test]
async fn invalid_payloads_and_queries_are_400_naming_the_problem() {
    let h = Harness::start(Config::fast()).await;
    let cases = [
        ("?chat=true", json!({}), "prompt is required"),
        ("?chat=true", json!({"prompt": "   "}), "prompt is required"),
        ("?chat=true", json!({"prompt": 5}), "prompt"),
        (
            "?chat=true",
            json!({"prompt": "x", "images": "a"}),
            "images",
        ),
        (
            "?flatlay=true",
            json!({"backgroundId": "1", "products": [1]}),
            "modelId",
        ),
        (
            "?flatlay=true",
            json!({"modelId": "1", "products": [1]}),
            "backgroundId",
        ),
        (
            "?flatlay=true",
            json!({"modelId": "1", "backgroundId": "1", "products": []}),
            "products",
        ),
        (
            "?flatlay=true",
            json!({"modelId": "1", "backgroundId": "1"}),
            "products",
        ),
        ("?onmodel=true", json!({"prompt": []}), "prompt"),
        ("", json!({"images": [1]}), "images"),
        ("", json!([1, 2]), "JSON object"),
        ("", json!("text"), "JSON object"),
        (
            "?chat=true&flatlay=true",
            json!({"prompt": "x"}),
            "at most one",
        ),
        ("?chat=maybe", json!({"prompt": "x"}), "chat"),
    ];
    for (query, body, needle) in cases {
        let res = h
            .api("t", Method::POST, &format!("/generate{query}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let err = expect_error(res, 400, "invalid_request").await;
        assert!(
            err["error"].as_str().unwrap().contains(needle),
            "{query} {body}: {err}"
        );
    }
    // Nothing was stored.
    let (_, page) = json(h.api("t", Method::GET, "/jobs").send().await.unwrap()).await;
    assert_eq!(page["metadata"]["total"], 0);
}

#[tokio::test]
async fn bodies_must_be_json_objects_of_json_content_type() {
    let h = Harness::start(Config::fast()).await;
    let post = |ct: Option<&'static str>, body: &'static str| {
        let mut req = h.api("t", Method::POST, "/generate").body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        req
    };
    expect_error(
        post(Some("application/json"), "{bad json")
            .send()
            .await
            .unwrap(),
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        post(Some("application/json"), "").send().await.unwrap(),
        400,
        "invalid_request",
    )
    .await;
    expect_error(post(None, "").send().await.unwrap(), 400, "invalid_request").await;
    expect_error(
        post(Some("text/plain"), "{}").send().await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    expect_error(
        post(None, "{}").send().await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    expect_error(
        post(Some("application/x-www-form-urlencoded"), "prompt=x")
            .send()
            .await
            .unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    let ok = post(Some("application/json; charset=utf-8"), "{}")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let mut config = Config::fast();
    config.max_body = 1024;
    let h = Harness::start(config).await;
    let big = json!({"prompt": "x".repeat(2000)});
    let res = h
        .api("t", Method::POST, "/generate?chat=true")
        .json(&big)
        .send()
        .await
        .unwrap();
    expect_error(res, 413, "payload_too_large").await;
    // Without a Content-Length (a streamed body) the limit holds too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(b"{\"prompt\":\"".to_vec()),
        Ok(vec![b'x'; 2000]),
        Ok(b"\"}".to_vec()),
    ];
    let res = h
        .api("t", Method::POST, "/generate?chat=true")
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    expect_error(res, 413, "payload_too_large").await;
}

#[tokio::test]
async fn unknown_fields_are_accepted_and_kept() {
    let h = Harness::start(Config::fast()).await;
    let id = h
        .create(
            "t",
            "?chat=true",
            json!({"prompt": "x", "seed": 12, "style": {"a": 1}}),
        )
        .await;
    let (_, all) = json(h.raw(Method::GET, "/__admin/jobs").send().await.unwrap()).await;
    let stored = &all["jobs"][0];
    assert_eq!(stored["job_id"], id);
    assert_eq!(stored["payload"]["style"]["a"], 1);
}

#[tokio::test]
async fn authorization_is_required_and_checked() {
    let h = Harness::start(Config::fast()).await;
    for header in [
        None,
        Some(""),
        Some("Bearer"),
        Some("Bearer "),
        Some("Basic dXNlcjpwYXNz"),
        Some("Bearer a b"),
        Some("token"),
    ] {
        let mut req = h.raw(Method::GET, "/api/v1/jobs");
        if let Some(value) = header {
            req = req.header("authorization", value);
        }
        let res = req.send().await.unwrap();
        assert!(res.headers().contains_key("www-authenticate"));
        expect_error(res, 401, "unauthorized").await;
    }
    for (method, path) in [
        (Method::POST, "/api/v1/generate"),
        (Method::GET, "/api/v1/jobs/1"),
        (Method::DELETE, "/api/v1/jobs/1"),
    ] {
        expect_error(
            h.raw(method, path).send().await.unwrap(),
            401,
            "unauthorized",
        )
        .await;
    }
    // The scheme is case-insensitive.
    let res = h
        .raw(Method::GET, "/api/v1/jobs")
        .header("authorization", "bearer t")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn configured_tokens_restrict_who_may_call() {
    let mut config = Config::fast();
    config.tokens = vec!["alice".into()];
    let h = Harness::start(config).await;
    h.api_error("mallory", Method::GET, "/jobs", 401, "unauthorized")
        .await;
    let res = h.api("alice", Method::GET, "/jobs").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn jobs_of_another_token_are_indistinguishable_from_missing_ones() {
    let h = Harness::start(Config::fast()).await;
    let id = h.chat("alice").await;
    let missing = h
        .api_error("bob", Method::GET, "/jobs/999", 404, "not_found")
        .await;
    let foreign = h
        .api_error("bob", Method::GET, &format!("/jobs/{id}"), 404, "not_found")
        .await;
    assert_eq!(missing, foreign);
    let foreign_cancel = h
        .api_error(
            "bob",
            Method::DELETE,
            &format!("/jobs/{id}"),
            404,
            "not_found",
        )
        .await;
    assert_eq!(foreign_cancel, missing);
    let (_, page) = json(h.api("bob", Method::GET, "/jobs").send().await.unwrap()).await;
    assert_eq!(page["metadata"]["total"], 0);
    assert_eq!(page["jobs"], json!([]));
    // Idempotency keys are per token too.
    let key_a = h
        .api("alice", Method::POST, "/generate")
        .header("idempotency-key", "k")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let key_b = h
        .api("bob", Method::POST, "/generate")
        .header("idempotency-key", "k")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (a, b) = (json(key_a).await.1, json(key_b).await.1);
    assert_ne!(a["job_id"], b["job_id"]);
}

#[tokio::test]
async fn bad_job_ids_are_400_and_unknown_ones_404() {
    let h = Harness::start(Config::fast()).await;
    for bad in ["abc", "0", "-1", "1.5", "+3", "99999999999999999999999"] {
        for method in [Method::GET, Method::DELETE] {
            h.api_error("t", method, &format!("/jobs/{bad}"), 400, "invalid_request")
                .await;
        }
    }
    h.api_error("t", Method::GET, "/jobs/12345", 404, "not_found")
        .await;
    h.api_error("t", Method::DELETE, "/jobs/12345", 404, "not_found")
        .await;
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_as_json() {
    let h = Harness::start(Config::fast()).await;
    for path in ["/nope", "/api/v2/jobs", "/", "/images"] {
        expect_error(
            h.raw(Method::GET, path).send().await.unwrap(),
            404,
            "not_found",
        )
        .await;
    }
    for path in ["/api/v1/nope", "/api/v1/jobs/1/extra"] {
        h.api_error(
            "t",
            Method::GET,
            path.trim_start_matches("/api/v1"),
            404,
            "not_found",
        )
        .await;
    }
    for (method, path) in [
        (Method::GET, "/generate"),
        (Method::PUT, "/jobs"),
        (Method::POST, "/jobs"),
        (Method::PATCH, "/jobs/1"),
        (Method::POST, "/jobs/1"),
    ] {
        h.api_error("t", method, path, 405, "method_not_allowed")
            .await;
    }
}

#[tokio::test]
async fn wrong_methods_are_405_before_auth() {
    let mut config = Config::fast();
    config.tokens = vec!["right".into()];
    let h = Harness::start(config).await;
    for (method, path) in [
        (Method::PUT, "/api/v1/jobs/1"),
        (Method::GET, "/api/v1/generate"),
        (Method::DELETE, "/api/v1/jobs"),
    ] {
        let res = h.raw(method.clone(), path).send().await.unwrap();
        assert!(res.headers().contains_key("allow"), "{method} {path}");
        expect_error(res, 405, "method_not_allowed").await;
        let res = h
            .raw(method, path)
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        expect_error(res, 405, "method_not_allowed").await;
    }
    // A right method still needs a token.
    expect_error(
        h.raw(Method::GET, "/api/v1/jobs/1").send().await.unwrap(),
        401,
        "unauthorized",
    )
    .await;
}
