//! Servers that honour the contract but cannot show everything: checks
//! that cannot be observed are skipped, saying why, and nothing fails.
//! Each is the real mock server's router with one change in front: the
//! request headers it would act on removed, as a server that does not know
//! them would, or an oversized body's answer lost in transit.

use std::time::Duration;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use vestis_mock_server::{App, Config};
use vestis_verify::{JOBS_AT_MOST, Outcome, Report};

use crate::util::{config, explain, serve};

/// Serves `app` with the request headers starting with one of `prefixes` removed.
async fn without_headers(app: &App, prefixes: &'static [&'static str]) -> String {
    let strip = middleware::from_fn(move |mut req: Request, next: Next| async move {
        let names: Vec<_> = req
            .headers()
            .keys()
            .filter(|name| prefixes.iter().any(|p| name.as_str().starts_with(p)))
            .cloned()
            .collect();
        for name in names {
            req.headers_mut().remove(name);
        }
        let response: Response = next.run(req).await;
        response
    });
    serve(app.router().layer(strip)).await
}

/// The skip reason of `check`, failing the test if it was not skipped.
fn skip_reason<'a>(report: &'a Report, check: &str) -> &'a str {
    match report.outcome(check) {
        Some(Outcome::Skip { reason }) => reason,
        other => panic!("{check}: expected a skip, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_that_do_not_finish_in_time_are_skips_not_failures() {
    // A real backend's hour-long jobs, and no X-Mock-* to speed them up.
    let mut server = Config::default();
    server.faults.processing_time = "1h".parse().unwrap();
    let app = App::new(server);
    let api_url = without_headers(&app, &["x-mock-"]).await;
    let mut config = config(&api_url);
    config.job_timeout = Duration::from_secs(1);
    let report = vestis_verify::run(&config, |_| {}).await.unwrap();
    assert!(report.passed(), "{}", explain(&report));
    assert_eq!(
        report.skipped(),
        [
            "cancel.never_started",
            "lifecycle.terminal_unchanged",
            "lifecycle.image_url"
        ],
        "{}",
        explain(&report)
    );
    for check in ["lifecycle.terminal_unchanged", "lifecycle.image_url"] {
        assert_eq!(
            skip_reason(&report, check),
            "skipped: no job finished in time"
        );
    }
    assert!(skip_reason(&report, "cancel.never_started").contains("finished in time"));
    // Jobs seen running are judged all the same.
    assert!(matches!(
        report.outcome("cancel.processing"),
        Some(Outcome::Ok { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_idempotency_keys_is_reported_not_failed() {
    let app = App::new(Config::default());
    let api_url = without_headers(&app, &["idempotency-key"]).await;
    let report = vestis_verify::run(&config(&api_url), |_| {}).await.unwrap();
    assert!(report.passed(), "{}", explain(&report));
    assert_eq!(
        report.skipped(),
        ["idempotency.same_key", "idempotency.different_payload"],
        "{}",
        explain(&report)
    );
    assert!(
        skip_reason(&report, "idempotency.same_key").contains("ignores Idempotency-Key"),
        "{}",
        explain(&report)
    );
    assert!(
        report.jobs_created.len() <= JOBS_AT_MOST,
        "{:?}",
        report.jobs_created
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_whose_answer_is_lost_is_a_skip_not_an_unreachable_server() {
    // A server that answers an oversized body at once and closes while the
    // body still arrives: the reset loses its answer. Here, deterministically,
    // the answer's body breaks off.
    let lose = middleware::from_fn(|req: Request, next: Next| async move {
        let oversized = req
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .is_some_and(|n| n > 10 * 1024 * 1024);
        let response: Response = next.run(req).await;
        if !oversized {
            return response;
        }
        let (parts, _) = response.into_parts();
        let broken = futures::stream::once(async {
            Err::<axum::body::Bytes, _>(std::io::Error::other("connection reset"))
        });
        Response::from_parts(parts, axum::body::Body::from_stream(broken))
    });
    let app = App::new(Config::default());
    let api_url = serve(app.router().layer(lose)).await;
    let report = vestis_verify::run(&config(&api_url), |_| {})
        .await
        .unwrap_or_else(|e| panic!("the run stopped: {e}"));
    assert!(report.passed(), "{}", explain(&report));
    assert_eq!(report.skipped(), ["errors.payload_too_large"]);
    assert!(
        skip_reason(&report, "errors.payload_too_large").contains("could be read"),
        "{}",
        explain(&report)
    );
}
