//! The stable fuzzer of the server's request handling: random requests
//! (methods, paths built from the real routes' pieces and junk, query
//! strings, auth and mock headers, JSON bodies of every kind, admin
//! bodies, fixtures, raw bytes) through `App::router()` with tower's
//! `oneshot`, no socket. Every answer must be bounded and well formed:
//! never a 500 (a panic would be one, through the catch-panic layer),
//! every error the contract's JSON with a code that matches its status.
//!
//! The runtime's time is paused, so an admin patch that sets a day of
//! latency costs nothing. `PROPTEST_CASES` sets the number of requests
//! (default 3,000); `docs/RELIABILITY.md` has the long-run command.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use serde_json::{Value, json};
use tower::ServiceExt;
use vestis_client::wire::{self, ErrorBody};
use vestis_mock_server::config::Fixtures;
use vestis_mock_server::{App, ClockMode, Config, Faults};

/// One generated request.
#[derive(Debug, Clone)]
pub(crate) struct Fuzzed {
    app: usize,
    method: Method,
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn pick(items: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    prop::sample::select(items)
}

const SEGMENTS: &[&str] = &[
    "api",
    "v1",
    "generate",
    "jobs",
    "images",
    "__admin",
    "1",
    "2",
    "0",
    "-1",
    "007",
    "18446744073709551616",
    "4294967296",
    "abc",
    "%00",
    "%zz",
    "%2F",
    "..",
    ".",
    "complete",
    "fail",
    "reset",
    "stats",
    "config",
    "queue",
    "pause",
    "resume",
    "clock",
    "advance",
    "requests",
    "openapi.json",
    "health",
    "1.png",
    "2.png",
    "x.png",
    "1.PNG",
    "%E6%97%A5",
    "",
];

fn path() -> impl Strategy<Value = String> {
    let prefix = pick(&[
        "",
        "/api/v1",
        "/api/v1/jobs",
        "/__admin",
        "/__admin/jobs",
        "/images",
    ]);
    let long = (1usize..6000).prop_map(|n| "a".repeat(n));
    let segment = prop_oneof![8 => pick(SEGMENTS).prop_map(str::to_owned), 1 => long, 1 => "[a-zA-Z0-9._~-]{0,12}"];
    (prefix, prop::collection::vec(segment, 0..4), any::<bool>()).prop_map(|(p, segs, slash)| {
        let mut path = p.to_owned();
        for s in segs {
            path.push('/');
            path.push_str(&s);
        }
        if slash || path.is_empty() {
            path.push('/');
        }
        path
    })
}

fn query() -> impl Strategy<Value = String> {
    let key = pick(&[
        "chat",
        "flatlay",
        "mdoli",
        "onmodel",
        "background",
        "page",
        "page_size",
        "status",
        "x",
        "chat[]",
        "",
    ]);
    let value = pick(&[
        "true",
        "false",
        "1",
        "0",
        "-1",
        "abc",
        "",
        "99999999999999999999",
        "pending",
        "processing",
        "completed",
        "failed",
        "cancelled",
        "%ff",
        "%00",
        "1e3",
        "100",
    ]);
    prop::option::of(prop::collection::vec((key, value), 0..5)).prop_map(|pairs| match pairs {
        None => String::new(),
        Some(pairs) => {
            let joined: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("?{}", joined.join("&"))
        }
    })
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let auth = pick(&[
        "Bearer t1",
        "Bearer t2",
        "Bearer ",
        "Bearer",
        "Basic dDE6",
        "bearer t1",
        "Bearer t1 t2",
        "Bearer \u{7f}",
    ]);
    let content_type = pick(&[
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "",
        "application/jsonx",
        "multipart/form-data; boundary=x",
    ]);
    let mock = prop_oneof![
        (
            Just("x-mock-outcome"),
            pick(&["complete", "fail", "junk", ""])
        ),
        (
            Just("x-mock-duration"),
            pick(&["0s", "1ms", "10s", "junk", "99999999999d", "1s..2s"])
        ),
        (
            Just("x-mock-polls"),
            pick(&["1", "3", "0", "junk", "100000", "-1"])
        ),
        (
            Just("idempotency-key"),
            pick(&[
                "k1",
                "k2",
                "",
                "k\u{1}",
                "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
            ])
        ),
        (Just("origin"), pick(&["http://a.example", "null"])),
        (
            Just("access-control-request-method"),
            pick(&["POST", "GET", "FOO"])
        ),
        (Just("x-junk"), pick(&["1", ""])),
    ]
    .prop_map(|(k, v)| (k.to_owned(), v.to_owned()));
    (
        prop::option::of(auth),
        prop::option::of(content_type),
        prop::collection::vec(mock, 0..4),
    )
        .prop_map(|(auth, ct, mut rest)| {
            if let Some(a) = auth {
                rest.push(("authorization".into(), a.into()));
            }
            if let Some(c) = ct {
                rest.push(("content-type".into(), c.into()));
            }
            rest
        })
}

/// Any JSON value, a few levels deep, with the contract's keys among the random ones.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::from),
        pick(&[
            "pending",
            "completed",
            "failed",
            "cancelled",
            "legacy",
            "chat",
            "t1",
            "2m30s",
            "1ms",
            "2026-01-01T00:00:00Z"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let key = prop_oneof![
            pick(&[
                "prompt",
                "images",
                "modelId",
                "backgroundId",
                "products",
                "by",
                "error",
                "token",
                "owner",
                "status",
                "job_type",
                "job_id",
                "payload",
                "created_at",
                "started_at",
                "completed_at",
                "attempts",
                "result",
                "failure_rate",
                "latency",
                "rate_limit",
                "http_error_rate",
                "max_attempts",
                "processing_time",
            ])
            .prop_map(str::to_owned),
            ".{0,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let valid = pick(&[
        r#"{"prompt":"a red dress"}"#,
        r#"{"prompt":"x","images":["a","b"]}"#,
        r#"{"modelId":1,"backgroundId":"2","products":[{"id":1}]}"#,
        r#"{"by":"2m30s"}"#,
        r#"{"by":"400d"}"#,
        r#"{"error":"boom"}"#,
        r#"{"failure_rate":0.5}"#,
        r#"{"latency":"1d"}"#,
        r#"{"http_error_rate":1}"#,
        r#"[{"token":"t1","status":"completed","job_type":"legacy"}]"#,
        r#"[{"token":"t1","status":"processing","job_id":5,"attempts":9}]"#,
        r#"[{"token":"t2","status":"failed","error":"x","created_at":"2026-01-01T00:00:00Z"}]"#,
    ]);
    prop_oneof![
        2 => Just(Vec::new()),
        3 => valid.prop_map(|s| s.as_bytes().to_vec()),
        4 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => (1usize..4, json_value()).prop_map(|(n, v)| v.to_string().repeat(n).into_bytes()),
    ]
}

fn fuzzed() -> impl Strategy<Value = Fuzzed> {
    let method = prop_oneof![
        6 => pick(&["GET", "POST", "DELETE"]),
        1 => pick(&["PUT", "PATCH", "HEAD", "OPTIONS", "TRACE", "FOO"]),
    ]
    .prop_map(|m| Method::from_bytes(m.as_bytes()).expect("valid method"));
    (0..APPS, method, path(), query(), headers(), body()).prop_map(
        |(app, method, path, query, headers, body)| Fuzzed {
            app,
            method,
            uri: format!("{path}{query}"),
            headers,
            body,
        },
    )
}

const APPS: usize = 3;

/// Three servers: open with a manual clock and a tiny store; token-locked
/// with polls and rate limit; no admin, with injected 503s.
fn apps() -> Vec<App> {
    let open = Config {
        clock: ClockMode::Manual,
        max_jobs: 8,
        seed: Some(1),
        ..Config::default()
    };
    let locked = Config {
        tokens: vec!["t1".into()],
        polls: Some(3),
        max_body: 256,
        faults: Faults {
            rate_limit: Some(1000),
            ..Faults::default()
        },
        seed: Some(2),
        ..Config::default()
    };
    let closed = Config {
        admin: false,
        faults: Faults {
            http_error_rate: 0.2,
            ..Faults::default()
        },
        seed: Some(3),
        ..Config::default()
    };
    vec![App::new(open), App::new(locked), App::new(closed)]
}

/// Sends one request and checks the answer; `Ok` also for a request the
/// `http` crate itself refuses to build (the server never sees it).
pub(crate) async fn check(apps: &[App], f: &Fuzzed) -> Result<(), TestCaseError> {
    let mut request = Request::builder().method(f.method.clone()).uri(&f.uri);
    for (k, v) in &f.headers {
        request = request.header(k, v);
    }
    let Ok(request) = request.body(Body::from(f.body.clone())) else {
        return Ok(());
    };
    let response = apps[f.app]
        .router()
        .oneshot(request)
        .await
        .map_err(|e| TestCaseError::fail(format!("router error: {e}")))?;
    let status = response.status();
    prop_assert!(
        status != StatusCode::INTERNAL_SERVER_ERROR,
        "500 for {:?}",
        f
    );
    prop_assert!(
        !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE,
        "{} for {:?}",
        status,
        f
    );
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = to_bytes(response.into_body(), 16 << 20)
        .await
        .map_err(|e| TestCaseError::fail(format!("body: {e}")))?;
    if (status.is_client_error() || status.is_server_error()) && f.method != Method::HEAD {
        prop_assert!(
            content_type.starts_with("application/json"),
            "{} {:?} for {:?}",
            status,
            content_type,
            f
        );
        let error: ErrorBody = serde_json::from_slice(&bytes).map_err(|e| {
            TestCaseError::fail(format!("{status} not contract JSON ({e}) for {f:?}"))
        })?;
        prop_assert!(!error.success);
        prop_assert_eq!(
            error.code,
            wire::error_code_for_status(status.as_u16()),
            "code for {:?}",
            f
        );
        prop_assert!(!error.error.is_empty());
    }
    Ok(())
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// A paused-time runtime, so injected latency never costs real time.
pub(crate) fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime")
}

#[test]
fn random_requests_get_bounded_contract_answers() {
    let runtime = paused_runtime();
    let apps = {
        let _inside = runtime.enter();
        Arc::new(apps())
    };
    let mut runner = TestRunner::new(RunnerConfig {
        cases: cases(3000),
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let result = runner.run(&fuzzed(), |f| runtime.block_on(check(&apps, &f)));
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn random_fixtures_parse_or_name_their_error_and_load_when_valid() {
    let runtime = paused_runtime();
    let mut runner = TestRunner::new(RunnerConfig {
        cases: cases(1500),
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let entries =
        prop::collection::vec(json_value(), 0..4).prop_map(|v| Value::Array(v).to_string());
    let text =
        prop_oneof![3 => entries, 1 => json_value().prop_map(|v| v.to_string()), 1 => ".{0,40}"];
    let result = runner.run(&text, |text| {
        match Fixtures::parse(&text) {
            Ok(fixtures) => {
                let n = fixtures.len();
                let config = Config {
                    fixtures,
                    ..Config::default()
                };
                let _inside = runtime.enter();
                let app = App::new(config);
                let request = Request::get("/__admin/jobs")
                    .body(Body::empty())
                    .expect("request");
                let stored = runtime.block_on(async {
                    let response = app.router().oneshot(request).await.expect("infallible");
                    to_bytes(response.into_body(), 1 << 20).await.expect("body")
                });
                let stored: Value = serde_json::from_slice(&stored).expect("JSON");
                let jobs = stored["jobs"].as_array().map_or(0, Vec::len);
                // Duplicate ids or a full store refuse the whole file, never part of it.
                prop_assert!(jobs == n || jobs == 0, "{} of {} loaded", jobs, n);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
