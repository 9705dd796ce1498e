//! Headless Chromium tests: the mock server's dashboard, and the frontend
//! guide's UI flow on a page served from another origin. The browser is
//! Debian's `chromium`, driven by Playwright (`playwright-core` from npm,
//! `tests/browser/package.json`, no browser download) from the Node scripts
//! in `tests/browser/`; each prints one JSON report checked here.
//!
//! Set-up: `browser_setup.rs` finds Chromium and installs the pinned driver
//! itself; where no Chromium can be had the tests pass and say so in one
//! line (a failure under `VESTIS_REQUIRE_BROWSER=1`, as in CI).
//! `VESTIS_SCREENSHOTS=docs` also saves the dashboard's screenshots there
//! (for docs/mock-server.md).

use std::path::PathBuf;
use std::process::{Command, Output};

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use vestis_mock_server::{Config, MockServer};

use crate::browser_setup::{Browser, browser};
use crate::util::server;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `tests/browser/<script>` with Node and these variables; its report.
async fn run(browser: &Browser, script: &str, env: Vec<(&'static str, String)>) -> Value {
    let dir = root().join("tests/browser");
    let chromium = browser.chromium.clone();
    let script = dir.join(script);
    let output: Output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .current_dir(dir)
            .env("VESTIS_CHROMIUM", chromium)
            .envs(env)
            .output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("node is needed for this test (or set VESTIS_SKIP_BROWSER=1): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser test failed:\n{stdout}\n{stderr}"
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_follows_and_drives_jobs_in_chromium() {
    let Some(browser) = browser() else {
        return;
    };
    let mut config = Config::fast();
    config.workers = 2;
    let server = server(config).await;
    let mut env = vec![("MOCK_URL", server.url())];
    if let Ok(dir) = std::env::var("VESTIS_SCREENSHOTS") {
        env.push(("SCREENSHOTS", root().join(dir).display().to_string()));
    }
    let report = run(browser, "dashboard.mjs", env).await;
    assert_eq!(report["problems"], 0, "{report}");
    assert_eq!(
        report["live_states"],
        json!(["pending", "processing", "completed"])
    );
    assert_eq!(report["thumbnail_width"], 256);
    assert_eq!(
        report["controls"],
        json!({"config_failure_rate": 0.25, "config_max_attempts": 3,
               "completed": "completed", "failed": "failed",
               "failed_error": "GPU out of memory", "cancelled": "cancelled"})
    );
    let hostile = &report["hostile"];
    assert_eq!(hostile["prompt_cell"], "<img src=x onerror=alert(1)>");
    assert!(
        hostile["payload_text"]
            .as_str()
            .unwrap()
            .contains("<img src=x onerror=alert(1)>")
    );
    assert_eq!(
        hostile["error_text"],
        "<script>alert(2)</script><b>bold</b>"
    );
    assert_eq!(
        (
            &hostile["injected_img"],
            &hostile["injected_b"],
            &hostile["injected_script"]
        ),
        (&json!(0), &json!(0), &json!(0))
    );
    assert!(report["failed_rows"].as_u64().unwrap() >= 2, "{report}");
    assert_eq!(
        report["fallback"], "polling",
        "a blocked stream falls back to polling"
    );
    eprintln!("a created job appeared in {} ms", report["appeared_ms"]);
    server.shutdown().await;
}

/// Serves the guide page, its script and the guide's `api.mjs` (verbatim)
/// on a port of its own: another origin than the mock's.
async fn static_site() -> (String, tokio::task::JoinHandle<()>) {
    async fn file(
        axum::extract::Path(name): axum::extract::Path<String>,
    ) -> axum::response::Response {
        let (path, kind) = match name.as_str() {
            "index.html" => ("tests/browser/guide/index.html", "text/html; charset=utf-8"),
            "app.mjs" => ("tests/browser/guide/app.mjs", "text/javascript"),
            "api.mjs" => ("tests/js/api.mjs", "text/javascript"),
            _ => return StatusCode::NOT_FOUND.into_response(),
        };
        match std::fs::read(root().join(path)) {
            Ok(bytes) => ([(header::CONTENT_TYPE, kind)], bytes).into_response(),
            Err(_) => StatusCode::NOT_FOUND.into_response(),
        }
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/{name}", axum::routing::get(file));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_ui_flow_works_in_chromium() {
    let Some(browser) = browser() else {
        return;
    };
    let mut config = Config::fast();
    config.polls = Some(3); // each job: pending, processing, then completed on its 3rd poll
    let mock: MockServer = server(config).await;
    let (site, site_task) = static_site().await;
    let report = run(
        browser,
        "guide-ui.mjs",
        vec![("MOCK_URL", mock.url()), ("PAGE_URL", site)],
    )
    .await;
    assert_eq!(
        report["messages"],
        json!([
            "Creating job...",
            "Job created, waiting for processing...",
            "Waiting in queue...",
            "Generating your image... (this may take 2-3 minutes)",
            "Generation complete!",
        ])
    );
    assert_eq!(report["image"]["naturalWidth"], 256);
    assert!(
        report["image"]["src"]
            .as_str()
            .unwrap()
            .starts_with(&mock.url())
    );
    assert_eq!(
        report["cancelled"],
        json!({"badge": "cancelled", "api": "cancelled", "cancel_button": 0})
    );
    assert_eq!(
        report["pages"],
        json!([
            {"label": "Page 1 of 3", "cards": 10},
            {"label": "Page 2 of 3", "cards": 10},
            {"label": "Page 3 of 3", "cards": 3},
        ])
    );
    site_task.abort();
    mock.shutdown().await;
}

/// The transport faults (`docs/faults.md`) against the guide's code in
/// Chromium: its error path for each fault that loses the answer, a
/// stall that keeps it waiting, a slow body that completes, and the
/// mobile example's polling loop recovering from faulted polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_code_meets_every_transport_fault_in_chromium() {
    let Some(browser) = browser() else {
        return;
    };
    let mut config = Config::fast();
    config.polls = Some(3);
    let mock: MockServer = server(config).await;
    let (site, site_task) = static_site().await;
    let report = run(
        browser,
        "faults.mjs",
        vec![("MOCK_URL", mock.url()), ("PAGE_URL", site)],
    )
    .await;
    assert_eq!(
        report["dashboard"],
        json!({"notice": "Settings applied: fault_rate, faults, fault_on",
               "fault_rate": 0.5, "faults": "reset,slow-body=1s", "fault_on": "polls"})
    );
    for fault in ["reset", "close", "garbage", "truncate"] {
        let seen = &report["errors"][fault];
        // fetch() rejects (no answer, or none readable as HTTP); a cut
        // body makes response.json() reject: both a TypeError, shown.
        let expected = if fault == "truncate" {
            seen["shown"].as_str().unwrap().to_owned()
        } else {
            "Failed to fetch".to_owned()
        };
        assert_eq!(seen["shown"], json!(expected), "{fault}: {seen}");
        assert!(!expected.is_empty(), "{fault}: {seen}");
        assert_eq!(seen["visible"], true, "{fault}: {seen}");
        // Chromium itself retries a GET once when a reused connection
        // ends without an answer: one or two faulted polls, then the error.
        let faulted = seen["faulted"].as_u64().unwrap();
        assert!((1..=2).contains(&faulted), "{fault}: {seen}");
        assert_eq!(seen["uncaught"], json!([]), "{fault}");
    }
    assert_eq!(
        report["stall"],
        json!({"status": "pending", "error_hidden": true, "uncaught": []})
    );
    assert_eq!(
        report["slow_body"]["messages"].as_array().unwrap().last(),
        Some(&json!("Generation complete!"))
    );
    // Three faulted polls; Chromium's own retry of a reset GET may fold
    // two of them into one error.
    let logged = report["mobile"]["logged"].as_array().unwrap();
    assert!((2..=3).contains(&logged.len()), "{logged:?}");
    assert!(
        logged.iter().all(|l| l == "Polling error: TypeError"),
        "{logged:?}"
    );
    assert!(
        report["mobile"]["image_url"]
            .as_str()
            .unwrap()
            .starts_with(&mock.url()),
        "{report}"
    );
    // The dashboard's job detail lists each request's fault (newest first:
    // the create's row, unfaulted, is last).
    let shown: Vec<&str> = report["dashboard_faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(shown.last(), Some(&""), "{shown:?}");
    for fault in ["reset", "truncate", "garbage"] {
        assert!(shown.contains(&fault), "{fault}: {shown:?}");
    }
    site_task.abort();
    mock.shutdown().await;
}
