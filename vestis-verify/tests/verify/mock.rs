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
