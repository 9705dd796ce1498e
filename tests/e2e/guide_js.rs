//! The frontend guide's JavaScript, copied verbatim into `tests/js/api.mjs`,
//! run with Node.js against the mock server: it must work unchanged.
//!
//! Node is part of this project's machine image. Where it is missing the
//! test fails, saying so, unless `VESTIS_SKIP_NODE=1` opts out explicitly.

use std::process::Command;

use crate::util::{fast, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_client_code_works_unchanged() {
    if std::env::var("VESTIS_SKIP_NODE").as_deref() == Ok("1") {
        eprintln!("skipped: VESTIS_SKIP_NODE=1");
        return;
    }
    let mut config = fast();
    config.workers = 2;
    config.faults.processing_time = "50ms".parse().unwrap();
    let server = server(config).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js/guide-check.mjs");
    let api_url = server.api_url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("REACT_APP_API_URL", api_url)
            .output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("node is needed for this test (or set VESTIS_SKIP_NODE=1): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "node failed:\n{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let progress = report["chat"]["progress"].as_array().unwrap();
    assert_eq!(progress.last().unwrap(), "completed");
    assert!(report["history"]["total"].as_u64().unwrap() >= 3);
}
