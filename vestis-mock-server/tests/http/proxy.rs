//! The recording proxy (`--proxy-to`, `--record`), in-process: an
//! "upstream" mock server on 127.0.0.1:0 with the proxying one in front of
//! it; small axum servers where the upstream must misbehave (a redirect,
//! an oversized answer).

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vestis_mock_server::config::{DurationRange, Proxy};
use vestis_mock_server::{Config, MockServer};

use crate::util::{Harness, expect_error, json};

const TOKEN: &str = "secret-token-7f3a9c";

/// A proxying mock in front of `upstream`, polling followed jobs every
/// 50 ms, recording to `record` when given.
pub(crate) async fn proxy_to(upstream: &MockServer, record: Option<&Path>) -> Harness {
    let mut proxy = Proxy::new(upstream.api_url());
    proxy.record = record.map(Path::to_owned);
    proxy.follow_every = Duration::from_millis(50);
    proxy.save_every = Duration::from_millis(200);
    Harness::start(Config {
        proxy: Some(proxy),
        ..Config::fast()
    })
    .await
}

async fn upstream(config: Config) -> Harness {
    Harness::start(config).await
}

/// `GET /__admin/requests` of `h`, newest first.
async fn journal(h: &Harness) -> Vec<Value> {
    let (_, body) = json(
        h.raw(Method::GET, "/__admin/requests")
            .send()
            .await
            .unwrap(),
    )
    .await;
    body["requests"].as_array().unwrap().clone()
}

/// Reads the recording at `path` until `done` says it holds what a test
/// waits for (10 s at most).
async fn recording_until(path: &Path, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(value) = serde_json::from_str::<Value>(&text)
            && done(&value)
        {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the recording at {} never got there", path.display());
}

/// Saves now through the admin route; returns its answer.
async fn save(h: &Harness) -> Value {
    let (status, body) = json(
        h.raw(Method::POST, "/__admin/recording")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn job_in(recording: &Value, id: u64) -> Option<&Value> {
    recording["jobs"]
        .as_array()?
        .iter()
        .find(|j| j["job_id"] == id)
}

#[tokio::test]
async fn every_route_and_header_is_forwarded_and_answered_unchanged() {
    let up = upstream(Config {
        paused: true,
        faults: vestis_mock_server::Faults {
            rate_limit: Some(1000),
            ..Config::fast().faults
        },
        ..Config::fast()
    })
    .await;
    let h = proxy_to(&up.server, None).await;

    // Create: 202, the Location, the body, the headers that matter.
    let res = h
        .api(TOKEN, Method::POST, "/generate?chat=true")
        .header("Idempotency-Key", "key-1")
        .header("X-Mock-Outcome", "fail")
        .json(&json!({"prompt": "a red dress"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        res.headers()["x-mock-max-attempts"],
        "3",
        "the upstream's own header"
    );
    let (_, created) = json(res).await;
    let id = created["job_id"].as_u64().unwrap();
    assert_eq!(location, format!("/api/v1/jobs/{id}"));
    assert_eq!(created["message"], "Job queued for processing");

    // The upstream got the method, path, query, body and the three headers;
    // no X-Mock-* header.
    let seen = journal(&up).await;
    let create = seen.iter().find(|e| e["method"] == "POST").unwrap();
    assert_eq!(create["path"], "/api/v1/generate");
    assert_eq!(create["query"], "chat=true");
    assert_eq!(create["body"], json!({"prompt": "a red dress"}));
    let headers = create["headers"].as_object().unwrap();
    assert_eq!(headers["idempotency-key"], "key-1");
    assert!(
        headers["content-type"]
            .as_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(
        headers["authorization"]
            .as_str()
            .unwrap()
            .starts_with("Bearer fp:")
    );
    assert!(
        !headers.keys().any(|k| k.starts_with("x-mock")),
        "{headers:?}"
    );

    // The same key again: the upstream's idempotent answer, same job.
    let (_, again) = json(
        h.api(TOKEN, Method::POST, "/generate?chat=true")
            .header("Idempotency-Key", "key-1")
            .json(&json!({"prompt": "a red dress"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(again["job_id"], id);

    // Poll, list with its query, cancel: the upstream's answers.
    let (status, job) = h.get(TOKEN, id).await;
    assert_eq!(
        (status, job["status"].as_str()),
        (StatusCode::OK, Some("pending"))
    );
    let (direct_status, direct) = up.get(TOKEN, id).await;
    assert_eq!((status, &job), (direct_status, &direct));
    let (status, page) = json(
        h.api(TOKEN, Method::GET, "/jobs?page_size=1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["metadata"]["page_size"], 1);
    let (status, cancelled) = json(
        h.api(TOKEN, Method::DELETE, &format!("/jobs/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );

    // The upstream's errors, as they are: 404, 401 with its challenge, 409.
    h.api_error(TOKEN, Method::GET, "/jobs/999999", 404, "not_found")
        .await;
    let res = h.raw(Method::GET, "/api/v1/jobs").send().await.unwrap();
    assert!(res.headers().contains_key("www-authenticate"));
    expect_error(res, 401, "unauthorized").await;
    h.api_error(
        TOKEN,
        Method::DELETE,
        &format!("/jobs/{id}"),
        409,
        "conflict",
    )
    .await;

    // A 429 keeps its Retry-After.
    let limited = upstream(Config {
        faults: vestis_mock_server::Faults {
            rate_limit: Some(1),
            ..Config::fast().faults
        },
        ..Config::fast()
    })
    .await;
    let hl = proxy_to(&limited.server, None).await;
    let mut saw_429 = false;
    for _ in 0..5 {
        let res = hl.api(TOKEN, Method::GET, "/jobs").send().await.unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(res.headers().contains_key("retry-after"));
            expect_error(res, 429, "rate_limited").await;
            saw_429 = true;
            break;
        }
    }
    assert!(saw_429, "the upstream's rate limit reached the client");
}

#[tokio::test]
async fn the_journal_and_the_har_show_the_proxied_answers() {
    let up = upstream(Config::fast()).await;
    let h = proxy_to(&up.server, None).await;
    let id = h.chat(TOKEN).await;
    h.api_error(TOKEN, Method::GET, "/jobs/424242", 404, "not_found")
        .await;
    let seen = journal(&h).await;
    assert_eq!(seen[0]["status"], 404);
    assert_eq!(seen[1]["status"], 202);
    assert_eq!(seen[1]["job_id"], id);
    let (status, har) = json(
        h.raw(Method::GET, "/__admin/requests.har")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let entries = har["log"]["entries"].as_array().unwrap();
    let statuses: Vec<&Value> = entries.iter().map(|e| &e["response"]["status"]).collect();
    assert_eq!(statuses, [&json!(202), &json!(404)]);
}

#[tokio::test]
async fn image_urls_point_at_the_mock_and_the_kept_copy_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("staging.json");
    let up = upstream(Config::fast()).await;
    let h = proxy_to(&up.server, Some(&record)).await;
    let id = h.chat(TOKEN).await;
    let job = h.until_terminal(TOKEN, id).await;
    assert_eq!(job["status"], "completed", "{job}");
    let url = job["result"]["image_url"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("{}/images/{id}.png", h.server.url()));
    let original = up
        .http
        .get(up.url(&format!("/images/{id}.png")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let served = h.http.get(&url).send().await.unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.bytes().await.unwrap(), original);

    // Kept beside the recording, named in it; served with the upstream gone.
    let saved = recording_until(&record, |_| true).await;
    drop(saved);
    save(&h).await;
    let recording: Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    let entry = job_in(&recording, id).unwrap();
    assert_eq!(entry["image"], format!("staging.json.images/{id}.png"));
    assert_eq!(
        std::fs::read(dir.path().join(entry["image"].as_str().unwrap())).unwrap(),
        original
    );
    up.server.shutdown().await;
    let again = h.http.get(&url).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.bytes().await.unwrap(), original);
    // An image the recording never saw is the contract's 404.
    let missing = h.http.get(h.url("/images/999.png")).send().await.unwrap();
    expect_error(missing, 404, "not_found").await;
}

#[tokio::test]
async fn a_job_the_client_stopped_polling_is_followed_to_its_end_each_state_once() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("r.json");
    // A manual clock: the job stands still until the test moves it, so the
    // follower sees it unfinished however slow the box is.
    let mut config = Config::fast();
    config.clock = vestis_mock_server::config::ClockMode::Manual;
    config.faults.processing_time = DurationRange::fixed(Duration::from_secs(1));
    let up = upstream(config).await;
    let h = proxy_to(&up.server, Some(&record)).await;
    let id = h.chat(TOKEN).await;
    // The client never polls; the proxy does, and saves on its own.
    recording_until(&record, |r| {
        job_in(r, id).is_some_and(|j| {
            j["observations"].as_array().is_some_and(|o| {
                o.iter()
                    .any(|o| matches!(o["status"].as_str(), Some("pending" | "processing")))
            })
        })
    })
    .await;
    let (status, body) = json(
        up.raw(Method::POST, "/__admin/clock/advance")
            .json(&json!({"by": "10s"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let recording = recording_until(&record, |r| {
        job_in(r, id)
            .is_some_and(|j| matches!(j["last"]["status"].as_str(), Some("completed" | "failed")))
    })
    .await;
    let job = job_in(&recording, id).unwrap();
    let observations = job["observations"].as_array().unwrap();
    assert!(observations.len() >= 2, "{job:#}");
    // Each state once: no two observations in a row alike (seen_at aside).
    let state = |o: &Value| {
        let mut o = o.clone();
        o.as_object_mut().unwrap().remove("seen_at");
        o
    };
    for pair in observations.windows(2) {
        assert_ne!(state(&pair[0]), state(&pair[1]), "{job:#}");
    }
    assert_eq!(state(observations.last().unwrap()), job["last"]);
    // The real server's times, as it wrote them.
    let direct = up.until_terminal(TOKEN, id).await;
    assert_eq!(job["last"]["created_at"], direct["created_at"]);
    assert_eq!(job["last"]["completed_at"], direct["completed_at"]);
    assert_eq!(job["payload"], json!({"prompt": "a red dress"}));
    assert_eq!(job["job_type"], "chat");
}

#[tokio::test]
async fn jobs_seen_only_in_a_list_are_followed_too() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("r.json");
    let mut config = Config::fast();
    config.faults.processing_time = DurationRange::fixed(Duration::from_millis(200));
    let up = upstream(config).await;
    // Made on the upstream directly: the proxy learns of it from a list.
    let id = up.chat(TOKEN).await;
    let h = proxy_to(&up.server, Some(&record)).await;
    let (status, _) = json(h.api(TOKEN, Method::GET, "/jobs").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let recording = recording_until(&record, |r| {
        job_in(r, id).is_some_and(|j| j["last"]["status"] == "completed")
    })
    .await;
    assert_eq!(job_in(&recording, id).unwrap()["payload"], Value::Null);
}

#[tokio::test]
async fn a_save_says_where_and_how_many_and_never_writes_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("r.json");
    let up = upstream(Config::fast()).await;
    let h = proxy_to(&up.server, Some(&record)).await;
    let id = h.chat(TOKEN).await;
    h.until_terminal(TOKEN, id).await;
    let answer = save(&h).await;
    assert_eq!(answer["file"], record.display().to_string());
    assert_eq!(answer["jobs"], 1);
    let text = std::fs::read_to_string(&record).unwrap();
    assert!(!text.contains(TOKEN), "the token is in the file");
    let recording: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(recording["format"], "vestis-mock-recording");
    assert_eq!(recording["source"], up.server.api_url());
    let owner = job_in(&recording, id).unwrap()["owner"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(owner.starts_with("fp:") && owner.len() == 19, "{owner}");

    // The summary of what it holds.
    let (status, summary) = json(
        h.raw(Method::GET, "/__admin/recording")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(summary["jobs"], 1);
    assert_eq!(summary["types"]["chat"]["statuses"]["completed"], 1);
    assert!(
        summary["types"]["chat"]["processing_time"]["median_ms"].is_u64(),
        "{summary}"
    );
    assert_eq!(summary["types"]["chat"]["job_failure_rate"], 0.0);

    // The dashboard's overview names it too.
    let (_, overview) = json(
        h.raw(Method::GET, "/__admin/overview")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(overview["recording"]["jobs"], 1, "{overview}");
    assert_eq!(overview["recording"]["source"], up.server.api_url());
}

#[tokio::test]
async fn the_recording_is_saved_periodically_when_it_changed() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("r.json");
    let up = upstream(Config::fast()).await;
    let mut proxy = Proxy::new(up.server.api_url());
    proxy.record = Some(record.clone());
    proxy.follow_every = Duration::from_millis(50);
    proxy.save_every = Duration::from_millis(200);
    let h = Harness::start(Config {
        proxy: Some(proxy),
        ..Config::fast()
    })
    .await;
    // Written once at start, empty.
    let start: Value = serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert_eq!(start["jobs"], json!([]));
    let id = h.chat(TOKEN).await;
    // No POST, no stop: the periodic save brings it to the file.
    recording_until(&record, |r| {
        job_in(r, id).is_some_and(|j| j["last"]["status"] == "completed")
    })
    .await;
}

#[tokio::test]
async fn a_save_without_a_recording_file_is_a_conflict() {
    let up = upstream(Config::fast()).await;
    let h = proxy_to(&up.server, None).await;
    let res = h
        .raw(Method::POST, "/__admin/recording")
        .send()
        .await
        .unwrap();
    expect_error(res, 409, "conflict").await;
    // Without --record the summary still works (the recording is in memory).
    let (status, _) = json(
        h.raw(Method::GET, "/__admin/recording")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // A mock that is not proxying has no recording at all.
    let res = up
        .raw(Method::GET, "/__admin/recording")
        .send()
        .await
        .unwrap();
    expect_error(res, 409, "conflict").await;
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_naming_it_and_the_cause() {
    let port = closed_port().await;
    let mut proxy = Proxy::new(format!("http://127.0.0.1:{port}/api/v1"));
    proxy.follow_every = Duration::from_millis(50);
    let h = Harness::start(Config {
        proxy: Some(proxy),
        ..Config::fast()
    })
    .await;
    let res = h.api(TOKEN, Method::GET, "/jobs").send().await.unwrap();
    let body = expect_error(res, 502, "internal").await;
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains(&format!("http://127.0.0.1:{port}/api/v1")),
        "{message}"
    );
    assert!(message.contains("connection refused"), "{message}");
}

/// A one-route axum server answering every request with `answer`.
async fn serve_once(answer: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, answer).await });
    format!("http://{addr}/api/v1")
}

#[tokio::test]
async fn a_redirecting_upstream_is_not_followed() {
    let target = upstream(Config::fast()).await;
    let to = format!("{}/api/v1/jobs", target.server.url());
    let base = serve_once(axum::Router::new().fallback(move || {
        let to = to.clone();
        async move { axum::response::Redirect::temporary(&to) }
    }))
    .await;
    let h = Harness::start(Config {
        proxy: Some(Proxy::new(&base)),
        ..Config::fast()
    })
    .await;
    let res = h.api(TOKEN, Method::GET, "/jobs").send().await.unwrap();
    let body = expect_error(res, 502, "internal").await;
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("redirect (HTTP 307)") && message.contains(&base),
        "{message}"
    );
    assert!(
        journal(&target).await.is_empty(),
        "the redirect was followed"
    );
}

#[tokio::test]
async fn an_oversized_upstream_answer_is_bounded() {
    let base = serve_once(axum::Router::new().fallback(|| async {
        // 5 MiB of JSON, over the 4 MiB cap; sent without a length.
        let chunk = axum::body::Bytes::from(vec![b' '; 64 * 1024]);
        let chunks =
            futures::stream::iter((0..80).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
        axum::body::Body::from_stream(chunks)
    }))
    .await;
    let h = Harness::start(Config {
        proxy: Some(Proxy::new(&base)),
        ..Config::fast()
    })
    .await;
    let res = h.api(TOKEN, Method::GET, "/jobs").send().await.unwrap();
    let body = expect_error(res, 502, "internal").await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("over 4194304 bytes"),
        "{body}"
    );
}

#[tokio::test]
async fn a_recording_that_cannot_be_written_is_refused_at_start() {
    let up = upstream(Config::fast()).await;
    let dir = tempfile::tempdir().unwrap();
    let not_one = dir.path().join("notes.json");
    std::fs::write(&not_one, "{\"mine\": true}").unwrap();
    for path in [PathBuf::from("/nonexistent-dir/r.json"), not_one.clone()] {
        let mut proxy = Proxy::new(up.server.api_url());
        proxy.record = Some(path.clone());
        let e = MockServer::start(Config {
            proxy: Some(proxy),
            ..Config::fast()
        })
        .await
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("--record: ") && e.contains(&*path.to_string_lossy()),
            "{e}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&not_one).unwrap(),
        "{\"mine\": true}"
    );
}

#[tokio::test]
async fn the_headers_that_matter_come_back_and_no_others() {
    let base = serve_once(axum::Router::new().fallback(|| async {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [
                ("content-type", "application/json"),
                ("retry-after", "7"),
                ("x-ratelimit-remaining", "0"),
                ("ratelimit-policy", "10;w=1"),
                ("set-cookie", "session=staging"),
                ("x-internal-trace", "abc"),
            ],
            r#"{"success":false,"error":"Slow down","code":"rate_limited"}"#,
        )
    }))
    .await;
    let h = Harness::start(Config {
        proxy: Some(Proxy::new(&base)),
        ..Config::fast()
    })
    .await;
    let res = h.api(TOKEN, Method::GET, "/jobs").send().await.unwrap();
    let headers = res.headers().clone();
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    assert_eq!(headers["ratelimit-policy"], "10;w=1");
    assert!(!headers.contains_key("set-cookie"), "{headers:?}");
    assert!(!headers.contains_key("x-internal-trace"), "{headers:?}");
    // The mock's own X-Mock-Max-Attempts says nothing of the real API's jobs.
    assert!(!headers.contains_key("x-mock-max-attempts"), "{headers:?}");
    let body = expect_error(res, 429, "rate_limited").await;
    assert_eq!(body["error"], "Slow down");
}

#[tokio::test]
async fn the_follower_stops_at_shutdown() {
    let mut config = Config::fast();
    // Long enough that the job is still followed when the proxy stops.
    config.faults.processing_time = DurationRange::fixed(Duration::from_secs(30));
    let up = upstream(config).await;
    let h = proxy_to(&up.server, None).await;
    h.chat(TOKEN).await;
    let requests = || async {
        let (_, stats) = json(up.raw(Method::GET, "/__admin/stats").send().await.unwrap()).await;
        stats["api_requests"].as_u64().unwrap()
    };
    // It is being followed: the upstream sees polls it did not get from the client.
    let before = requests().await;
    let mut followed = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if requests().await > before {
            followed = true;
            break;
        }
    }
    assert!(followed, "no follower polls");
    h.server.shutdown().await;
    // A poll already on the wire may still land (the upstream counts it when
    // it answers): let it settle, then watch for any growth over many follow
    // periods (50 ms each); a follower still running would add one per period.
    let mut stopped = requests().await;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = requests().await;
        if now == stopped {
            break;
        }
        stopped = now;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(requests().await, stopped, "polls after shutdown");
}

#[tokio::test]
async fn an_existing_recording_is_continued() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("morning.json");
    let up = upstream(Config::fast()).await;
    let first = proxy_to(&up.server, Some(&record)).await;
    let a = first.chat(TOKEN).await;
    first.until_terminal(TOKEN, a).await;
    first.server.shutdown().await;
    let second = proxy_to(&up.server, Some(&record)).await;
    let b = second.chat(TOKEN).await;
    second.until_terminal(TOKEN, b).await;
    assert_eq!(save(&second).await["jobs"], 2);
    let recording: Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert!(job_in(&recording, a).is_some() && job_in(&recording, b).is_some());
    // The first sitting's image is still served.
    let res = second
        .http
        .get(second.url(&format!("/images/{a}.png")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[cfg(unix)]
#[tokio::test]
async fn a_continued_recording_never_serves_a_file_outside_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("id_rsa");
    std::fs::write(&secret, b"TOP-SECRET-KEY").unwrap();
    let rec_dir = dir.path().join("rec");
    std::fs::create_dir(&rec_dir).unwrap();
    let record = rec_dir.join("r.json");
    let up = upstream(Config::fast()).await;
    let first = proxy_to(&up.server, Some(&record)).await;
    let (a, b) = (first.chat(TOKEN).await, first.chat(TOKEN).await);
    for id in [a, b] {
        first.until_terminal(TOKEN, id).await;
        let res = first
            .http
            .get(first.url(&format!("/images/{id}.png")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    save(&first).await;
    first.server.shutdown().await;
    // A hand-edited (or hostile) recording: job a's image leads out.
    let mut recording: Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    for job in recording["jobs"].as_array_mut().unwrap() {
        if job["job_id"] == a {
            job["image"] = json!("../id_rsa");
        }
    }
    std::fs::write(&record, serde_json::to_vec(&recording).unwrap()).unwrap();
    let second = proxy_to(&up.server, Some(&record)).await;
    // Job b's kept image swapped for a link to the secret after the start.
    let kept_b = rec_dir.join(format!("r.json.images/{b}.png"));
    std::fs::remove_file(&kept_b).unwrap();
    std::os::unix::fs::symlink(&secret, &kept_b).unwrap();
    for id in [a, b] {
        let res = second
            .http
            .get(second.url(&format!("/images/{id}.png")))
            .send()
            .await
            .unwrap();
        let body = res.bytes().await.unwrap();
        assert!(
            !body.windows(14).any(|w| w == b"TOP-SECRET-KEY"),
            "job {id}: the secret was served"
        );
    }
    // The entry leading out is not written back either.
    save(&second).await;
    let text = std::fs::read_to_string(&record).unwrap();
    assert!(!text.contains("../id_rsa"), "{text}");
}

#[tokio::test]
async fn a_path_leading_out_of_the_base_is_refused_not_forwarded() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let up = upstream(Config::fast()).await;
    let h = proxy_to(&up.server, None).await;
    let addr = h.server.addr();
    // Raw requests: an HTTP client would resolve the dots before sending.
    for path in [
        // Each resolves to the upstream's /api/v1/jobs (a 200 there, with
        // the token): out of the base and back in, so it shows in its journal.
        "/api/v1/../v1/jobs",
        "/api/v1/%2e%2e/%2E%2E/api/v1/jobs",
        "/api/v1/jobs/../../../api/v1/jobs",
        "/api/v1/./jobs",
    ] {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let error: Value =
            serde_json::from_str(body).unwrap_or_else(|_| panic!("{path}: {answer}"));
        assert_eq!(error["success"], false, "{path}: {body}");
        assert_eq!(error["code"], "invalid_request", "{path}: {body}");
    }
    // Only the proxy's start probe (no token: 401) reached the upstream.
    let seen = journal(&up).await;
    assert!(
        seen.iter().all(|e| e["status"] == 401),
        "forwarded: {seen:#?}"
    );
}

#[tokio::test]
async fn no_image_url_query_reaches_the_recording() {
    // A presigned CDN URL (on a closed port: the fetch fails too, so the
    // error text is written as well).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cdn = format!("http://{}/cdn/7.png", closed.local_addr().unwrap());
    drop(closed);
    let image_url = format!("{cdn}?X-Amz-Signature=SIGSECRET#frag");
    let job = json!({
        "job_id": 7, "job_type": "chat", "status": "completed", "attempts": 1,
        "created_at": "2026-12-06T00:00:00.000Z", "started_at": "2026-12-06T00:00:01.000Z",
        "completed_at": "2026-12-06T00:00:02.000Z",
        "result": {"image_url": image_url, "message": "ok"}
    });
    let base = serve_once(axum::Router::new().fallback(move || {
        let job = job.clone();
        async move { axum::Json(job) }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("r.json");
    let mut proxy = Proxy::new(&base);
    proxy.record = Some(record.clone());
    proxy.save_every = Duration::from_millis(200);
    let h = Harness::start(Config {
        proxy: Some(proxy),
        ..Config::fast()
    })
    .await;
    let (status, _) = json(h.api(TOKEN, Method::GET, "/jobs/7").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    // Asking for the image makes the proxy fetch it (and fail).
    let res = h.http.get(h.url("/images/7.png")).send().await.unwrap();
    assert!(!res.status().is_success());
    let recording = recording_until(&record, |r| {
        job_in(r, 7).is_some_and(|j| j["image_error"].is_string())
    })
    .await;
    let text = std::fs::read_to_string(&record).unwrap();
    assert!(
        !text.contains("SIGSECRET") && !text.contains("frag"),
        "{text}"
    );
    assert_eq!(job_in(&recording, 7).unwrap()["last"]["image_url"], cdn);
}

#[tokio::test]
async fn a_backend_whose_name_does_not_resolve_is_a_short_502() {
    // `.invalid` never resolves (RFC 2606).
    let h = Harness::start(Config {
        proxy: Some(Proxy::new("http://backend.invalid/api/v1")),
        ..Config::fast()
    })
    .await;
    let res = h.api(TOKEN, Method::GET, "/jobs").send().await.unwrap();
    let body = expect_error(res, 502, "internal").await;
    let message = body["error"].as_str().unwrap();
    assert!(
        message.ends_with("did not answer: DNS lookup failed for backend.invalid"),
        "{message}"
    );
}

/// A fake backend that counts its `GET /jobs/1` (clients' and the
/// follower's alike) and answers them with `poll`; `POST /generate`
/// creates job 1. Returns its base URL and the count.
async fn counting_backend(
    poll: impl Fn() -> axum::response::Response + Clone + Send + Sync + 'static,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = polls.clone();
    let app = axum::Router::new()
        .route(
            "/api/v1/generate",
            axum::routing::post(|| async {
                (
                    axum::http::StatusCode::ACCEPTED,
                    axum::Json(json!({"success": true, "job_id": 1, "status": "pending"})),
                )
            }),
        )
        .route(
            "/api/v1/jobs/1",
            axum::routing::get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                let answer = poll();
                async move { answer }
            }),
        );
    (serve_once(app).await, polls)
}

/// A proxying mock following job 1 of a [`counting_backend`] answering
/// its polls with `poll`, every `follow_every`; the job created through
/// it, and the backend's poll count.
async fn following_one(
    poll: impl Fn() -> axum::response::Response + Clone + Send + Sync + 'static,
    follow_every: Duration,
) -> (Harness, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let (api, polls) = counting_backend(poll).await;
    let mut proxy = Proxy::new(api);
    proxy.follow_every = follow_every;
    let h = Harness::start(Config {
        proxy: Some(proxy),
        ..Config::fast()
    })
    .await;
    let res = h
        .api(TOKEN, Method::POST, "/generate")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    (h, polls)
}

fn processing() -> axum::response::Response {
    use axum::response::IntoResponse;
    axum::Json(json!({
        "job_id": 1, "job_type": "chat", "status": "processing", "attempts": 1,
        "created_at": "2026-12-06T10:00:00.000Z", "started_at": "2026-12-06T10:00:00.100Z",
        "completed_at": null, "error": null
    }))
    .into_response()
}

fn rate_limited() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        [("retry-after", "5")],
        axum::Json(json!({"success": false, "error": "Rate limit exceeded"})),
    )
        .into_response()
}

/// Waits (10 s at most) until `count` is at least `n`; returns it.
async fn count_reaches(count: &std::sync::atomic::AtomicUsize, n: usize) -> usize {
    for _ in 0..200 {
        let now = count.load(std::sync::atomic::Ordering::SeqCst);
        if now >= n {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the count stayed below {n}");
}

#[tokio::test]
async fn a_job_its_client_polls_is_not_polled_again_by_the_follower() {
    use std::sync::atomic::Ordering;
    // Far longer than the client's pauses, however slow a loaded machine
    // runs them: the count below is exact.
    let (h, polls) = following_one(processing, Duration::from_secs(5)).await;
    // The client polls every 50 ms for 2.5 s: each of its polls is an
    // observation, so the follower (every 5 s) has nothing to add.
    let mut client_polls = 0;
    for _ in 0..50 {
        let res = h.api(TOKEN, Method::GET, "/jobs/1").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        client_polls += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        polls.load(Ordering::SeqCst),
        client_polls,
        "the follower polled a job its client was polling"
    );
    // The client stops: the follower takes over.
    count_reaches(&polls, client_polls + 1).await;
}

fn failing() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({"success": false, "error": "boom"})),
    )
        .into_response()
}

#[tokio::test]
async fn a_failing_backend_is_polled_no_more_than_every_follow_every() {
    use std::sync::atomic::Ordering;
    let (_h, polls) = following_one(failing, Duration::from_millis(200)).await;
    count_reaches(&polls, 1).await;
    // One poll per 200 ms at most, answered 500 or not: 1 s holds 6.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let n = polls.load(Ordering::SeqCst);
    assert!(n <= 6, "{n} polls of a failing job in 1 s");
}

#[tokio::test]
async fn a_rate_limited_backend_pauses_the_follower_for_its_retry_after() {
    use std::sync::atomic::Ordering;
    let (h, polls) = following_one(rate_limited, Duration::from_millis(50)).await;
    // The follower's first poll is told "Retry-After: 5"; 1 s later (well
    // inside it, however slow the machine) it has not polled again.
    count_reaches(&polls, 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        polls.load(Ordering::SeqCst),
        1,
        "the follower polled again within the backend's Retry-After"
    );
    // The client's own requests still go through as they come, and get
    // the backend's 429 and its Retry-After.
    for n in 2..=3 {
        let res = h.api(TOKEN, Method::GET, "/jobs/1").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()["retry-after"], "5");
        assert_eq!(polls.load(Ordering::SeqCst), n);
    }
    // Once the pause is over, the follower polls again.
    count_reaches(&polls, 4).await;
}

#[tokio::test]
async fn a_proxied_image_carries_an_etag_and_answers_304_when_the_client_has_it() {
    let up = upstream(Config::fast()).await;
    let h = proxy_to(&up.server, None).await;
    let id = h.chat(TOKEN).await;
    let job = h.until_terminal(TOKEN, id).await;
    let url = job["result"]["image_url"].as_str().unwrap().to_owned();
    let first = h.http.get(&url).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["cache-control"], "no-cache");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let bytes = first.bytes().await.unwrap();
    assert!(!bytes.is_empty());
    for tag in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
    ] {
        let again = h
            .http
            .get(&url)
            .header("If-None-Match", &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{tag}");
        assert_eq!(again.headers()["etag"], etag.as_str());
        assert!(again.bytes().await.unwrap().is_empty());
    }
    let stale = h
        .http
        .get(&url)
        .header("If-None-Match", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
    assert_eq!(stale.bytes().await.unwrap(), bytes);
}

#[tokio::test]
async fn a_reset_of_a_proxying_mock_says_the_recording_is_kept() {
    let up = upstream(Config::fast()).await;
    let h = proxy_to(&up.server, None).await;
    let id = h.chat(TOKEN).await;
    h.until_terminal(TOKEN, id).await;
    let (status, body) = json(h.raw(Method::POST, "/__admin/reset").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["recording"]["jobs_kept"], 1, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("the recording (1 job) is kept")
            && message.contains("nothing was sent to the real backend"),
        "{message}"
    );
    let (_, summary) = json(
        h.raw(Method::GET, "/__admin/recording")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(summary["jobs"], 1, "{summary}");
}

#[tokio::test]
async fn a_new_job_on_a_recorded_id_keeps_the_backends_image_url_and_the_kept_image() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    // Job 5, completed with an image; after `restarted`, the backend's
    // ids started again and job 5 is another job with another image.
    let restarted = Arc::new(AtomicBool::new(false));
    let flag = restarted.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let here = origin.clone();
    let app = axum::Router::new()
        .route(
            "/api/v1/jobs/5",
            axum::routing::get(move || {
                let new = flag.load(Ordering::SeqCst);
                let (created, image) = if new {
                    ("2026-12-07T08:00:00.000Z", "new.png")
                } else {
                    ("2026-12-06T10:00:00.000Z", "old.png")
                };
                let body = json!({
                    "job_id": 5, "job_type": "chat", "status": "completed", "attempts": 1,
                    "created_at": created, "started_at": created, "completed_at": created,
                    "error": null,
                    "result": {"image_url": format!("{here}/i/{image}?sig=s"), "message": "ok"}
                });
                async move { axum::Json(body) }
            }),
        )
        .route(
            "/i/old.png",
            axum::routing::get(|| async { &b"\x89PNG old"[..] }),
        )
        .route(
            "/i/new.png",
            axum::routing::get(|| async { &b"\x89PNG new"[..] }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("r.json");
    let mut proxy = Proxy::new(format!("{origin}/api/v1"));
    proxy.record = Some(record.clone());
    proxy.follow_every = Duration::from_millis(50);
    proxy.save_every = Duration::from_millis(100);
    let h = Harness::start(Config {
        proxy: Some(proxy),
        ..Config::fast()
    })
    .await;
    let (status, old) = json(h.api(TOKEN, Method::GET, "/jobs/5").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(old["result"]["image_url"], h.url("/images/5.png"));
    let recording = recording_until(&record, |r| {
        job_in(r, 5).is_some_and(|j| j["image"].is_string())
    })
    .await;
    let kept = dir
        .path()
        .join(job_in(&recording, 5).unwrap()["image"].as_str().unwrap());
    assert_eq!(std::fs::read(&kept).unwrap(), b"\x89PNG old");

    restarted.store(true, Ordering::SeqCst);
    let (status, new) = json(h.api(TOKEN, Method::GET, "/jobs/5").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        new["result"]["image_url"],
        format!("{origin}/i/new.png?sig=s"),
        "the new job's image is the backend's, not the recorded job's"
    );
    let served = h.http.get(h.url("/images/5.png")).send().await.unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(&served.bytes().await.unwrap()[..], b"\x89PNG old");
    save(&h).await;
    assert_eq!(std::fs::read(&kept).unwrap(), b"\x89PNG old");
    let recording: Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert_eq!(
        job_in(&recording, 5).unwrap()["last"]["created_at"],
        "2026-12-06T10:00:00.000Z"
    );
}

#[tokio::test]
async fn a_job_whose_polls_fail_is_polled_less_and_less_then_as_usual_again() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let down = Arc::new(AtomicBool::new(true));
    let is_down = down.clone();
    let answer = move || {
        if is_down.load(Ordering::SeqCst) {
            use axum::response::IntoResponse;
            (
                axum::http::StatusCode::BAD_GATEWAY,
                axum::Json(json!({"success": false, "error": "down"})),
            )
                .into_response()
        } else {
            processing()
        }
    };
    let (_h, polls) = following_one(answer, Duration::from_millis(100)).await;
    // Polls at 0.1, 0.3, 0.7, 1.5, 3.1 s after the create (each wait twice
    // the last): in 3 s, at most 5 (a late round only delays them). At a
    // fixed 100 ms it would be 20 or more.
    count_reaches(&polls, 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let n = polls.load(Ordering::SeqCst);
    assert!(n <= 5, "{n} polls of a failing job in 3 s");
    // The backend answers again: once a poll gets through, the job is
    // polled every --follow-every again (30 in 3 s; still backing off, at
    // most 2).
    down.store(false, Ordering::SeqCst);
    let back = count_reaches(&polls, n + 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = polls.load(Ordering::SeqCst);
    assert!(
        after >= back + 5,
        "{} polls in 3 s after the backend came back",
        after - back
    );
}

#[tokio::test]
async fn a_kept_images_etag_is_computed_once_not_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("r.json");
    let up = upstream(Config::fast()).await;
    let h = proxy_to(&up.server, Some(&record)).await;
    let id = h.chat(TOKEN).await;
    let job = h.until_terminal(TOKEN, id).await;
    let url = job["result"]["image_url"].as_str().unwrap().to_owned();
    let first = h.http.get(&url).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let bytes = first.bytes().await.unwrap();
    // The kept file's bytes change behind the proxy's back: a tag hashed
    // per request would change too; the one computed when it was kept
    // does not (the bytes are read, not hashed, per request).
    let kept = dir.path().join(format!("r.json.images/{id}.png"));
    assert_eq!(std::fs::read(&kept).unwrap(), bytes);
    std::fs::write(&kept, vec![b'x'; bytes.len()]).unwrap();
    let again = h
        .http
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"], etag.as_str());
}
