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
