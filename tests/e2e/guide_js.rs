//! The frontend guide's JavaScript, copied verbatim into `tests/js/api.mjs`,
//! run with Node.js against the mock server: it must work unchanged.
//!
//! Node is part of this project's machine image. Where it is missing the
//! test fails, saying so, unless `VESTIS_SKIP_NODE=1` opts out explicitly.

use std::process::{Command, Output};

use vestis_mock_server::Config;

use crate::util::server;

/// Runs a script of `tests/js` with Node and these variables; its stdout's JSON.
async fn node(script: &str, env: Vec<(&'static str, String)>) -> serde_json::Value {
    let script = format!("{}/tests/js/{script}", env!("CARGO_MANIFEST_DIR"));
    let output: Output =
        tokio::task::spawn_blocking(move || Command::new("node").arg(script).envs(env).output())
            .await
            .unwrap()
            .unwrap_or_else(|e| {
                panic!("node is needed for this test (or set VESTIS_SKIP_NODE=1): {e}")
            });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "node failed:\n{stdout}\n{stderr}");
    serde_json::from_str(stdout.trim()).unwrap()
}

fn skipped() -> bool {
    let skip = std::env::var("VESTIS_SKIP_NODE").as_deref() == Ok("1");
    if skip {
        eprintln!("skipped: VESTIS_SKIP_NODE=1");
    }
    skip
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_client_code_works_unchanged() {
    if skipped() {
        return;
    }
    let mut config = Config::fast();
    config.workers = 2;
    config.faults.processing_time = "50ms".parse().unwrap();
    let server = server(config).await;
    let report = node(
        "guide-check.mjs",
        vec![
            ("REACT_APP_API_URL", server.api_url()),
            ("MOCK_ADMIN_URL", format!("{}/__admin", server.url())),
        ],
    )
    .await;
    let progress = report["chat"]["progress"].as_array().unwrap();
    assert_eq!(progress.last().unwrap(), "completed");
    assert!(report["history"]["total"].as_u64().unwrap() >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_code_drives_a_realistic_job_through_the_manual_clock() {
    if skipped() {
        return;
    }
    let mut config = Config::fast();
    config.clock = vestis_mock_server::ClockMode::Manual;
    config.faults.processing_time = vestis_mock_server::config::REALISTIC_PROCESSING_TIME;
    let server = server(config).await;
    let report = node(
        "guide-clock.mjs",
        vec![
            ("REACT_APP_API_URL", server.api_url()),
            ("MOCK_ADMIN_URL", format!("{}/__admin", server.url())),
        ],
    )
    .await;
    let progress: Vec<&str> = report["progress"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert_eq!(progress.first(), Some(&"processing"), "{report}");
    assert_eq!(progress.last(), Some(&"completed"), "{report}");

    // The journal shows exactly what the guide's code sent.
    let journal: serde_json::Value = reqwest::get(format!(
        "{}/__admin/requests?method=POST&path=/api/v1/generate",
        server.url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let create = &journal["requests"][0];
    assert_eq!(journal["total"], 1, "{journal}");
    assert_eq!(create["query"], "chat=true");
    assert_eq!(
        create["body"],
        serde_json::json!({"prompt": "a linen suit", "images": []})
    );
    assert_eq!(create["headers"]["content-type"], "application/json");
    assert_eq!(create["job_id"], report["job_id"]);
    let auth = create["headers"]["authorization"].as_str().unwrap();
    assert!(auth.starts_with("Bearer fp:") && !auth.contains("guide-clock-user"));
}
