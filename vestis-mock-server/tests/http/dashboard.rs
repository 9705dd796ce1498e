//! What the dashboard stands on: filtered and paged admin job lists, admin
//! cancel, the overview, the event stream (and that it ends on shutdown),
//! the page itself, and all of it gone with `--no-admin`.
//! The page's behaviour in a browser is tested by the workspace's
//! `tests/e2e/browser.rs`.

use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use vestis_mock_server::Config;

use crate::util::{Harness, expect_error, json};

fn slow() -> vestis_mock_server::Config {
    let mut config = Config::fast();
    config.faults.processing_time = "1h".parse().unwrap();
    config.workers = 1;
    config
}

async fn admin(h: &Harness, method: Method, path: &str) -> (StatusCode, Value) {
    json(h.raw(method, path).send().await.unwrap()).await
}

fn ids(page: &Value) -> Vec<u64> {
    page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn jobs_filter_by_status_kind_and_token_fingerprint_and_page() {
    let h = Harness::start(slow()).await;
    let first = h.chat("alice").await; // processing: the one worker
    for _ in 0..4 {
        h.chat("alice").await;
    }
    let flat = h
        .create(
            "bob",
            "?flatlay=true",
            json!({"modelId": "1", "backgroundId": "1", "products": [{"id": "p"}]}),
        )
        .await;
    let (_, all) = admin(&h, Method::GET, "/__admin/jobs").await;
    assert_eq!(all["total"], 6);
    let bob_fp = all["jobs"][0]["token_fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(bob_fp.starts_with("fp:") && bob_fp.len() == 19, "{bob_fp}");
    assert!(!bob_fp.contains("bob"));

    let (_, bob) = admin(&h, Method::GET, &format!("/__admin/jobs?token={bob_fp}")).await;
    assert_eq!(ids(&bob), [flat]);
    let (_, chats) = admin(&h, Method::GET, "/__admin/jobs?kind=chat&status=pending").await;
    assert_eq!(chats["total"], 4);
    assert_eq!(ids(&chats), [5, 4, 3, 2]);
    let (_, running) = admin(&h, Method::GET, "/__admin/jobs?status=processing").await;
    assert_eq!(ids(&running), [first]);

    let (_, page2) = admin(&h, Method::GET, "/__admin/jobs?page=2&page_size=4").await;
    assert_eq!(
        (page2["total"].as_u64(), page2["page"].as_u64()),
        (Some(6), Some(2))
    );
    assert_eq!(ids(&page2), [2, 1]);
    // Empty form fields are no filter; bad values are named.
    let (_, blank) = admin(&h, Method::GET, "/__admin/jobs?status=&kind=&token=").await;
    assert_eq!(blank["total"], 6);
    for bad in [
        "status=done",
        "kind=video",
        "page=0",
        "page_size=100000",
        "owner=bob",
    ] {
        let res = h
            .raw(Method::GET, &format!("/__admin/jobs?{bad}"))
            .send()
            .await
            .unwrap();
        let err = expect_error(res, 400, "invalid_request").await;
        let field = bad.split('=').next().unwrap();
        assert!(
            err["error"].as_str().unwrap().contains(field),
            "{bad}: {err}"
        );
    }
}

#[tokio::test]
async fn admin_cancel_ends_pending_and_processing_jobs_of_any_token() {
    let h = Harness::start(slow()).await;
    let running = h.chat("t").await;
    let waiting = h.chat("t").await;
    for id in [running, waiting] {
        let (status, job) = admin(&h, Method::POST, &format!("/__admin/jobs/{id}/cancel")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(job["status"], "cancelled");
        let (_, seen) = h.get("t", id).await;
        assert_eq!(seen["status"], "cancelled");
    }
    // The cancelled running job freed its worker for the next one.
    let next = h.chat("t").await;
    let (_, seen) = h.get("t", next).await;
    assert_eq!(seen["status"], "processing");
    let res = h
        .raw(Method::POST, &format!("/__admin/jobs/{running}/cancel"))
        .send()
        .await
        .unwrap();
    expect_error(res, 409, "conflict").await;
    let res = h
        .raw(Method::POST, "/__admin/jobs/99/cancel")
        .send()
        .await
        .unwrap();
    expect_error(res, 404, "not_found").await;
}

#[tokio::test]
async fn the_overview_counts_statuses_workers_and_tokens() {
    let mut config = slow();
    config.workers = 2;
    let h = Harness::start(config).await;
    for _ in 0..3 {
        h.chat("a").await;
    }
    h.chat("b").await;
    let (_, done) = admin(&h, Method::POST, "/__admin/jobs/1/fail").await;
    assert_eq!(done["status"], "failed");
    let (status, o) = admin(&h, Method::GET, "/__admin/overview").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        o["counts"],
        json!({"pending": 1, "processing": 2, "completed": 0, "failed": 1, "cancelled": 0})
    );
    assert_eq!(
        (o["total"].as_u64(), o["queue_depth"].as_u64()),
        (Some(4), Some(1))
    );
    assert_eq!(o["workers"], json!({"total": 2, "busy": 2, "idle": 0}));
    assert_eq!(o["paused"], false);
    assert_eq!(o["api_requests"], 4);
    assert_eq!(o["tokens"][0]["jobs"], 3);
    assert_eq!(o["tokens"][1]["jobs"], 1);
    let version = o["version"].as_u64().unwrap();
    admin(&h, Method::POST, "/__admin/jobs/2/complete").await;
    let (_, after) = admin(&h, Method::GET, "/__admin/overview").await;
    assert_ne!(
        after["version"].as_u64().unwrap(),
        version,
        "a change moves the version"
    );
    // A reset never goes back to an old version, which a watcher could miss.
    admin(&h, Method::POST, "/__admin/reset").await;
    let (_, reset) = admin(&h, Method::GET, "/__admin/overview").await;
    assert!(reset["version"].as_u64().unwrap() > after["version"].as_u64().unwrap());
}

/// Reads the stream until a whole `overview` event arrives; its data, or
/// `None` once the stream ends.
async fn next_overview<S, B, E>(stream: &mut S, buffer: &mut String) -> Option<Value>
where
    S: futures::Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
{
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if event.contains("event: overview") {
                let data = event
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap();
                return Some(serde_json::from_str(data).unwrap());
            }
            continue;
        }
        let chunk = stream.next().await?.ok()?;
        buffer.push_str(std::str::from_utf8(chunk.as_ref()).unwrap());
    }
}

#[tokio::test]
async fn events_stream_the_overview_when_jobs_change() {
    let h = Harness::start(slow()).await;
    let res = h.raw(Method::GET, "/__admin/events").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut stream = res.bytes_stream();
    let mut buffer = String::new();
    let first = next_overview(&mut stream, &mut buffer).await.unwrap();
    assert_eq!(first["total"], 0);
    let id = h.chat("t").await;
    // Heartbeats may come first; the change comes within a few events.
    let mut seen = None;
    for _ in 0..20 {
        let o = next_overview(&mut stream, &mut buffer).await.unwrap();
        if o["total"] == 1 {
            seen = Some(o);
            break;
        }
    }
    let seen = seen.expect("the new job is streamed");
    assert_ne!(seen["version"], first["version"]);
    assert_eq!(seen["counts"]["processing"], 1);
    let (_, job) = admin(&h, Method::GET, &format!("/__admin/jobs/{id}")).await;
    assert_eq!(job["status"], "processing");
}

#[tokio::test]
async fn shutdown_ends_open_event_streams_instead_of_waiting_on_them() {
    let h = Harness::start(slow()).await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        let res = h.raw(Method::GET, "/__admin/events").send().await.unwrap();
        let mut stream = res.bytes_stream();
        let mut buffer = String::new();
        next_overview(&mut stream, &mut buffer).await.unwrap();
        streams.push((stream, buffer));
    }
    // Bounded only so that a regression fails instead of hanging CI.
    tokio::time::timeout(Duration::from_secs(30), h.server.shutdown())
        .await
        .expect("graceful shutdown does not wait on open event streams");
    for (mut stream, mut buffer) in streams {
        assert!(next_overview(&mut stream, &mut buffer).await.is_none());
    }
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_locked_down() {
    let h = Harness::start(Config::fast()).await;
    let res = h.raw(Method::GET, "/__admin/ui").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let html = res.text().await.unwrap();
    assert!(html.contains("ui/dashboard.js") && html.contains("ui/dashboard.css"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no outside resource"
    );
    for (path, kind) in [
        ("/__admin/ui/dashboard.js", "text/javascript"),
        ("/__admin/ui/dashboard.css", "text/css"),
    ] {
        let res = h.raw(Method::GET, path).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        let text = res.text().await.unwrap();
        assert!(
            !text.contains("innerHTML") && !text.contains("@import"),
            "{path}"
        );
    }
    // `GET /` links to it for a browser, and stays a JSON 404 otherwise.
    let res = h
        .raw(Method::GET, "/")
        .header("accept", "text/html,*/*")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("href=\"__admin/ui\""));
    let res = h.raw(Method::GET, "/").send().await.unwrap();
    expect_error(res, 404, "not_found").await;
}

#[tokio::test]
async fn no_admin_turns_the_dashboard_and_its_events_off() {
    let mut config = Config::fast();
    config.admin = false;
    let h = Harness::start(config).await;
    for path in [
        "/__admin/ui",
        "/__admin/ui/dashboard.js",
        "/__admin/events",
        "/__admin/overview",
    ] {
        let res = h.raw(Method::GET, path).send().await.unwrap();
        expect_error(res, 404, "not_found").await;
    }
    let res = h
        .raw(Method::GET, "/")
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    expect_error(res, 404, "not_found").await;
}
