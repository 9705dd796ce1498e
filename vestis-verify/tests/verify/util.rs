//! Shared helpers: the config a test run uses, and serving a router on port 0.

use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use vestis_verify::{Config, Outcome, Report};

/// A config for `api_url`: two tokens, quick polls, short mock jobs.
pub(crate) fn config(api_url: &str) -> Config {
    let mut config = Config::new(api_url, "verify-a").second_token("verify-b");
    config.job_timeout = Duration::from_secs(60);
    config.poll_interval = Duration::from_millis(100);
    config.mock_duration = Duration::from_millis(1500);
    config
}

/// Serves `router` on `127.0.0.1:0` until the test ends; returns the API URL.
pub(crate) async fn serve(router: Router) -> String {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/api/v1")
}

/// Runs every check against `api_url`.
pub(crate) async fn verify(api_url: &str) -> Report {
    vestis_verify::run(&config(api_url), |_| {})
        .await
        .unwrap_or_else(|e| panic!("{api_url}: {e}"))
}

/// The report's failures, with their evidence, for assertion messages.
pub(crate) fn explain(report: &Report) -> String {
    report
        .checks
        .iter()
        .filter(|c| !matches!(c.outcome, Outcome::Ok { .. }))
        .map(|c| format!("{}: {:?}", c.info.id, c.outcome))
        .collect::<Vec<_>>()
        .join("\n")
}
