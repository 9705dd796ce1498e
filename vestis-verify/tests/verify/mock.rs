//! The mock server honours the whole contract: every check passes, none is skipped.

use vestis_mock_server::{Config, MockServer};
use vestis_verify::Outcome;

use crate::util::{explain, verify};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_server_passes_every_check() {
    let server = MockServer::start(Config::default()).await.unwrap();
    let report = verify(&server.api_url()).await;
    assert!(
        report.failed().is_empty() && report.skipped().is_empty(),
        "{}",
        explain(&report)
    );
    assert!(matches!(
        report.outcome("cancel.processing"),
        Some(Outcome::Ok { .. })
    ));
    println!("{}", report.to_text());
}

/// `vestis verify` through a recording proxy (`--proxy-to`, issue 22) in
/// front of a mock server: the proxy passes the contract through whole, so
/// every check passes there too, none skipped; and what verify did is in
/// the recording.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_proxy_in_front_of_the_mock_server_passes() {
    use vestis_mock_server::config::Proxy;

    let upstream = MockServer::start(Config::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("verify.json");
    let mut proxy = Proxy::new(upstream.api_url());
    proxy.record = Some(record.clone());
    let server = MockServer::start(Config {
        proxy: Some(proxy),
        ..Config::default()
    })
    .await
    .unwrap();
    let report = verify(&server.api_url()).await;
    assert!(
        report.failed().is_empty() && report.skipped().is_empty(),
        "{}",
        explain(&report)
    );
    println!("{}", report.to_text());
    server.shutdown().await;
    let recording: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert!(
        !recording["jobs"].as_array().unwrap().is_empty(),
        "verify's jobs are recorded"
    );
}

/// A recording of a backend whose chats and flatlays take a few hundred
/// milliseconds, one in five failing, each waiting a little first.
fn recording() -> serde_json::Value {
    let at = |ms: u64| {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_796_000_000_000 + ms);
        serde_json::Value::String(humantime::format_rfc3339_millis(t).to_string())
    };
    let jobs: Vec<serde_json::Value> = (1..=40u64)
        .map(|id| {
            let (kind, failed) = (if id % 2 == 0 { "chat" } else { "flatlay" }, id % 5 == 0);
            let (created, wait, processing) = (id * 1000, 50 + id * 5, 300 + id * 7);
            let last = serde_json::json!({
                "status": if failed { "failed" } else { "completed" },
                "attempts": if failed { 3 } else { 1 },
                "created_at": at(created),
                "started_at": at(created + wait),
                "completed_at": at(created + wait + processing),
                "error": failed.then_some("Upstream model timed out"),
            });
            let mut seen = last.clone();
            seen["seen_at"] = at(created + wait + processing + 3);
            serde_json::json!({
                "job_id": id, "owner": "fp:00000000000000aa", "job_type": kind,
                "last": last, "observations": [seen],
            })
        })
        .collect();
    serde_json::json!({
        "format": "vestis-mock-recording", "version": 1,
        "source": "https://staging.example/api/v1",
        "started_at": at(0), "saved_at": at(60_000), "jobs": jobs,
    })
}

/// Provider verification passes against a replaying mock: the recorded
/// jobs (nobody's token's) do not disturb it, and the drawn waits,
/// attempts and failures leave the contract whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaying_mock_server_passes_every_check() {
    let dir = std::env::temp_dir().join(format!("vestis-verify-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("recording.json");
    std::fs::write(&path, recording().to_string()).unwrap();
    let config = Config {
        replay: Some(vestis_mock_server::Replay::from_file(&path).unwrap()),
        seed: Some(22),
        workers: 16,
        ..Config::default()
    };
    let server = MockServer::start(config).await.unwrap();
    let report = verify(&server.api_url()).await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        report.failed().is_empty() && report.skipped().is_empty(),
        "{}",
        explain(&report)
    );
}
