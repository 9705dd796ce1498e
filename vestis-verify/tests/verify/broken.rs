//! Broken servers: the real mock server's router with one small change
//! in front of it per class of violation. Each must be caught by the check
//! that names it, and every other check must still pass.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::middleware::{self, Next};
use serde_json::{Value, json};
use vestis_mock_server::{App, Config};
use vestis_verify::Outcome;

use crate::util::{explain, serve, verify};

/// Runs verify against the mock server behind `layer`; asserts that exactly
/// `check` fails (nothing skipped) and that its problem mentions `mention`.
async fn caught_by(router: impl FnOnce(Router) -> Router, check: &str, mention: &str) {
    let app = App::new(Config::default());
    let api_url = serve(router(app.router())).await;
    let report = verify(&api_url).await;
    assert_eq!(report.failed(), [check], "{}", explain(&report));
    assert!(report.skipped().is_empty(), "{}", explain(&report));
    let Some(Outcome::Fail(violation)) = report.outcome(check) else {
        unreachable!("checked above");
    };
    assert!(
        violation.problem.contains(mention),
        "{check}: {violation:?} does not mention {mention:?}"
    );
    // The text report shows the request, the answer and the contract sentence.
    let text = report.to_text();
    assert!(text.contains(&format!("FAIL  {check}")), "{text}");
    assert!(
        text.contains("      sent:     ") && text.contains("      contract: "),
        "{text}"
    );
    drop(app);
}

/// The JSON body of `response`, changed by `edit`, as a new response
/// with the same status and headers.
async fn edit_json(response: Response<Body>, edit: impl FnOnce(&mut Value)) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let mut value: Value = serde_json::from_slice(&bytes).unwrap();
    edit(&mut value);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(value.to_string()))
}

fn is_job_path(path: &str) -> bool {
    path.strip_prefix("/api/v1/jobs/")
        .is_some_and(|id| id.parse::<u64>().is_ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_error_bodies_for_unknown_routes() {
    // A framework's default 404 page instead of the contract's JSON.
    async fn html(req: Request, next: Next) -> Response<Body> {
        let job_route = req.uri().path().starts_with("/api/v1/jobs");
        let response = next.run(req).await;
        if response.status() != StatusCode::NOT_FOUND || job_route {
            return response;
        }
        let mut html = Response::new(Body::from(
            "<html><body><h1>404 Not Found</h1></body></html>",
        ));
        *html.status_mut() = StatusCode::NOT_FOUND;
        html.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        html
    }
    caught_by(
        |r| r.layer(middleware::from_fn(html)),
        "errors.unknown_route",
        "JSON",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_job_answered_403() {
    // "It exists, but it is not yours": 403 for any real job id the caller cannot see.
    async fn forbidden(req: Request, next: Next) -> Response<Body> {
        let small_id = req
            .uri()
            .path()
            .strip_prefix("/api/v1/jobs/")
            .and_then(|id| id.parse::<u64>().ok())
            .is_some_and(|id| id < 1_000_000);
        let response = next.run(req).await;
        if !small_id || response.status() != StatusCode::NOT_FOUND {
            return response;
        }
        let mut forbidden = edit_json(response, |v| {
            *v = json!({"success": false, "error": "Forbidden", "code": "forbidden"});
        })
        .await;
        *forbidden.status_mut() = StatusCode::FORBIDDEN;
        forbidden
    }
    caught_by(
        |r| r.layer(middleware::from_fn(forbidden)),
        "isolation.foreign_job",
        "403",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_without_location() {
    async fn no_location(req: Request, next: Next) -> Response<Body> {
        let mut response = next.run(req).await;
        response.headers_mut().remove(header::LOCATION);
        response
    }
    caught_by(
        |r| r.layer(middleware::from_fn(no_location)),
        "create.location",
        "Location",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_size_1000_accepted() {
    // A server that clamps an oversized page instead of refusing it.
    async fn clamp(mut req: Request, next: Next) -> Response<Body> {
        let uri = req.uri().to_string();
        if uri.contains("page_size=1000") {
            *req.uri_mut() = uri
                .replace("page_size=1000", "page_size=100")
                .parse()
                .unwrap();
        }
        next.run(req).await
    }
    caught_by(
        |r| r.layer(middleware::from_fn(clamp)),
        "list.bounds",
        "expected 400",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_job_that_changes() {
    // Every read of a completed job counts one more attempt.
    let reads = Arc::new(AtomicU64::new(0));
    let layer = middleware::from_fn(move |req: Request, next: Next| {
        let reads = Arc::clone(&reads);
        async move {
            let job_route = is_job_path(req.uri().path()) && req.method() == "GET";
            let response = next.run(req).await;
            if !job_route || response.status() != StatusCode::OK {
                return response;
            }
            edit_json(response, |job| {
                if job["status"] == "completed" {
                    let n = reads.fetch_add(1, Ordering::Relaxed);
                    job["attempts"] = json!(job["attempts"].as_u64().unwrap_or(0) + n);
                }
            })
            .await
        }
    });
    caught_by(
        |r| r.layer(layer),
        "lifecycle.terminal_unchanged",
        "changed",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_processing_job_answered_200() {
    // Says "cancelled" for a job that goes on running.
    async fn fake_cancel(req: Request, next: Next) -> Response<Body> {
        let response = next.run(req).await;
        if response.status() != StatusCode::CONFLICT {
            return response;
        }
        let mut processing = false;
        let mut ok = edit_json(response, |v| {
            processing = v["error"].as_str().unwrap_or_default().ends_with("processing");
            if processing {
                *v = json!({"success": true, "job_id": 0, "status": "cancelled", "message": "Job cancelled"});
            }
        })
        .await;
        if processing {
            *ok.status_mut() = StatusCode::OK;
        }
        ok
    }
    caught_by(
        |r| r.layer(middleware::from_fn(fake_cancel)),
        "cancel.processing",
        "409",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_without_retry_after() {
    // The first list request is rate limited, without saying for how long.
    let lists = Arc::new(AtomicU64::new(0));
    let layer = middleware::from_fn(move |req: Request, next: Next| {
        let lists = Arc::clone(&lists);
        async move {
            if req.uri().path() == "/api/v1/jobs" && lists.fetch_add(1, Ordering::Relaxed) == 0 {
                let body =
                    json!({"success": false, "error": "Too many requests", "code": "rate_limited"});
                let mut limited = Response::new(Body::from(body.to_string()));
                *limited.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                limited.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                return limited;
            }
            next.run(req).await
        }
    });
    caught_by(|r| r.layer(layer), "overload.retry_after", "Retry-After").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_without_a_zone() {
    // Local times with no offset: "2026-11-28T10:00:00.123".
    fn strip(v: &mut Value) {
        match v {
            Value::String(s) if s.len() >= 20 && s.as_bytes()[10] == b'T' => {
                *s = s.trim_end_matches('Z').to_owned();
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            Value::Object(map) => map.values_mut().for_each(strip),
            _ => {}
        }
    }
    async fn local_times(req: Request, next: Next) -> Response<Body> {
        let jobs = req.uri().path().starts_with("/api/v1/jobs");
        let response = next.run(req).await;
        if !jobs || response.status() != StatusCode::OK {
            return response;
        }
        edit_json(response, strip).await
    }
    caught_by(
        |r| r.layer(middleware::from_fn(local_times)),
        "job_model.timestamps",
        "Z",
    )
    .await;
}
