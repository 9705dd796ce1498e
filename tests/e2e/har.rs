//! The request journal's HAR export (`GET /__admin/requests.har`) checked
//! against the published HAR 1.2 schema (`har-schema`, compiled by
//! `har-validator`; `tests/har/`), so browser developer tools and HAR
//! viewers open it. Needs Node (`VESTIS_SKIP_NODE=1` skips it); the pinned
//! packages are installed by `npm ci` in `tests/har` when missing.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use vestis_mock_server::Config;

use crate::browser_setup::npm_ci;
use crate::util::server;

/// Runs `tests/har/validate.mjs` on `har`; its report.
fn validate(har: &Value) -> Value {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/har");
    npm_ci(&dir, "har-validator").unwrap_or_else(|why| panic!("{why}"));
    let mut child = Command::new("node")
        .arg("validate.mjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("node is needed (or set VESTIS_SKIP_NODE=1): {e}"));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(har.to_string().as_bytes()).unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_exports_as_valid_har_1_2() {
    if std::env::var("VESTIS_SKIP_NODE").as_deref() == Ok("1") {
        return;
    }
    let mock = server(Config::fast()).await;
    let url = mock.url();
    let http = reqwest::Client::new();
    // A create (body, idempotency key), a poll, a filtered list with a
    // query string, a 401 and a 404: every shape the journal keeps.
    let created: Value = http
        .post(format!("{url}/api/v1/generate?chat=true"))
        .bearer_auth("secret-token")
        .header("Idempotency-Key", "k-1")
        .json(&json!({"prompt": "a linen dress", "images": []}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["job_id"].as_u64().unwrap();
    for path in [
        format!("/api/v1/jobs/{id}"),
        "/api/v1/jobs?page=1&page_size=5&status=pending".to_owned(),
        "/api/v1/jobs/999".to_owned(),
    ] {
        http.get(format!("{url}{path}"))
            .bearer_auth("secret-token")
            .send()
            .await
            .unwrap();
    }
    http.get(format!("{url}/api/v1/jobs")).send().await.unwrap();

    let res = http
        .get(format!("{url}/__admin/requests.har"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let har: Value = res.json().await.unwrap();
    let text = har.to_string();
    assert!(!text.contains("secret-token"), "a token in the HAR: {text}");
    let entries = har["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 5, "{har}");
    // Oldest first, as HAR viewers expect.
    assert_eq!(entries[0]["request"]["method"], "POST");
    let sent: Value =
        serde_json::from_str(entries[0]["request"]["postData"]["text"].as_str().unwrap()).unwrap();
    assert_eq!(sent, json!({"prompt": "a linen dress", "images": []}));
    assert_eq!(entries[0]["response"]["status"], 202);
    assert_eq!(entries[2]["request"]["queryString"][0]["name"], "page");
    assert_eq!(entries[3]["response"]["status"], 404);
    assert_eq!(entries[4]["response"]["status"], 401);

    let report = validate(&har);
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["entries"], 5);

    // The validator is a real check: a HAR missing what 1.2 requires fails.
    let mut broken = har.clone();
    broken["log"]["entries"][0]["response"]
        .as_object_mut()
        .unwrap()
        .remove("content");
    assert_eq!(validate(&broken)["valid"], false);
    mock.shutdown().await;
}

/// Sends a create, a poll and a list as `token` to `url` (a mock's base
/// URL); the created job's id.
async fn traffic(http: &reqwest::Client, url: &str, token: &str) -> u64 {
    let created: Value = http
        .post(format!("{url}/api/v1/generate?chat=true"))
        .bearer_auth(token)
        .json(&json!({"prompt": "a linen dress"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["job_id"].as_u64().unwrap();
    for path in [
        format!("/api/v1/jobs/{id}"),
        "/api/v1/jobs?page=1".to_owned(),
    ] {
        let res = http
            .get(format!("{url}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    id
}

/// The HAR export in the other modes ("in every mode", issue 22): a mock
/// recording another through `--proxy-to`, and one replaying what it
/// recorded. Both exports pass the HAR 1.2 schema and hold no token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_har_export_is_valid_when_proxying_and_replaying() {
    if std::env::var("VESTIS_SKIP_NODE").as_deref() == Ok("1") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("recording.json");
    let backend = server(Config::fast()).await;
    let mut proxy = vestis_mock_server::config::Proxy::new(backend.api_url());
    proxy.record = Some(file.clone());
    let proxying = server(Config {
        proxy: Some(proxy),
        ..Config::fast()
    })
    .await;
    let http = reqwest::Client::new();
    let exported = |mock: &vestis_mock_server::MockServer| {
        let url = mock.url();
        let http = http.clone();
        async move {
            let res = http
                .get(format!("{url}/__admin/requests.har"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };

    traffic(&http, &proxying.url(), "secret-token").await;
    let har = exported(&proxying).await;
    assert!(!har.to_string().contains("secret-token"), "{har}");
    assert_eq!(har["log"]["entries"].as_array().unwrap().len(), 3, "{har}");
    let report = validate(&har);
    assert_eq!(report["valid"], true, "proxying: {report}");
    let saved = http
        .post(format!("{}/__admin/recording", proxying.url()))
        .send()
        .await
        .unwrap();
    assert!(saved.status().is_success(), "{}", saved.status());
    proxying.shutdown().await;
    backend.shutdown().await;

    let replaying = server(Config {
        replay: Some(vestis_mock_server::Replay::from_file(&file).unwrap()),
        tokens: vec!["secret-token".to_owned()],
        ..Config::fast()
    })
    .await;
    traffic(&http, &replaying.url(), "secret-token").await;
    let har = exported(&replaying).await;
    assert!(!har.to_string().contains("secret-token"), "{har}");
    assert_eq!(har["log"]["entries"].as_array().unwrap().len(), 3, "{har}");
    let report = validate(&har);
    assert_eq!(report["valid"], true, "replaying: {report}");
    replaying.shutdown().await;
}
