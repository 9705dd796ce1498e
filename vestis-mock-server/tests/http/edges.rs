//! docs/contract.md's additions at the edges: CORS, `/health`, and a
//! contract JSON answer to any garbage a client sends.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vestis_mock_server::Config;

use crate::util::{Harness, expect_error, json};

#[tokio::test]
async fn cors_preflight_is_answered_and_errors_carry_cors_headers() {
    let h = Harness::start(Config::fast()).await;
    let res = h
        .raw(Method::OPTIONS, "/api/v1/generate?chat=true")
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let headers = res.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    // An error answer (401) still lets the browser read it.
    let res = h
        .raw(Method::GET, "/api/v1/jobs")
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    expect_error(res, 401, "unauthorized").await;
    // Location is exposed to scripts.
    let res = h
        .api("t", Method::POST, "/generate")
        .header("origin", "http://x")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("location")
    );
}

/// Every header a page's script may need from an `/api/v1` answer is in
/// `Access-Control-Expose-Headers` (else `response.headers.get()` returns
/// `null` in a browser): `Location`, `Retry-After` and each `X-Mock-*`
/// header, on a create, a poll, a list, a 404, a 401, a 429 and a 503.
#[tokio::test]
async fn every_header_a_script_reads_is_exposed() {
    let mut config = Config::fast();
    config.faults.rate_limit = Some(1);
    let h = Harness::start(config).await;
    let mut answers = Vec::new();
    let created = h
        .api("t", Method::POST, "/generate?chat=true")
        .header("origin", "http://app.test")
        .json(&json!({"prompt": "x"}))
        .send()
        .await
        .unwrap();
    let id: Value = created.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .into();
    answers.push(("create", created));
    for (what, token, path) in [
        ("poll", "u", format!("/jobs/{}", id.as_str().unwrap())),
        ("list", "v", "/jobs".to_owned()),
        ("404", "w", "/jobs/999".to_owned()),
        ("401", "", "/jobs".to_owned()),
    ] {
        let res = h
            .api(token, Method::GET, &path)
            .header("origin", "http://app.test")
            .send()
            .await
            .unwrap();
        answers.push((what, res));
    }
    // One request a second per token: token t's next ones are refused
    // (a loaded machine may let a second pass first).
    for _ in 0..50 {
        let res = h
            .api("t", Method::GET, "/jobs")
            .header("origin", "http://app.test")
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            answers.push(("429", res));
            break;
        }
    }
    h.raw(Method::PATCH, "/__admin/config")
        .json(&json!({"http_error_rate": 1.0, "rate_limit": null}))
        .send()
        .await
        .unwrap();
    let unavailable = h
        .api("x", Method::GET, "/jobs")
        .header("origin", "http://app.test")
        .send()
        .await
        .unwrap();
    answers.push(("503", unavailable));
    let mut seen = std::collections::BTreeSet::new();
    for (what, res) in answers {
        let exposed: Vec<String> = res.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|name| name.trim().to_ascii_lowercase())
            .collect();
        for name in res.headers().keys().map(|n| n.as_str()) {
            if name.starts_with("x-mock-") || name == "location" || name == "retry-after" {
                assert!(
                    exposed.iter().any(|e| e == name),
                    "{what}: {name} is not in Access-Control-Expose-Headers: {exposed:?}"
                );
                seen.insert(name.to_owned());
            }
        }
    }
    // The answers above carried each kind of header at least once.
    for name in ["location", "retry-after", "x-mock-max-attempts"] {
        assert!(seen.contains(name), "no answer carried {name}: {seen:?}");
    }
}

#[tokio::test]
async fn cors_origin_restricts_origins() {
    let mut config = Config::fast();
    config.cors_origins = vec!["http://app.example".into()];
    let h = Harness::start(config).await;
    let allowed = h
        .raw(Method::GET, "/health")
        .header("origin", "http://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://app.example"
    );
    let denied = h
        .raw(Method::GET, "/health")
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!denied.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn health_answers_ok() {
    let h = Harness::start(Config::default()).await;
    let (status, body) = json(h.raw(Method::GET, "/health").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "ok"}));
}

#[tokio::test]
async fn garbage_in_always_gets_a_contract_json_answer() {
    let h = Harness::start(Config::fast()).await;
    let mut rng = fastrand::Rng::with_seed(2026);
    let paths = [
        "/api/v1/generate",
        "/api/v1/generate?chat=true",
        "/api/v1/generate?flatlay=1&chat=0",
        "/api/v1/jobs",
        "/api/v1/jobs?page=%FF&page_size=%00",
        "/api/v1/jobs/1",
        "/api/v1/jobs/%E2%82%AC",
        "/images/%2e%2e.png",
        "/__admin/config",
        "/__admin/jobs/1/fail",
    ];
    let content_types = [
        "application/json",
        "text/plain",
        "application/json; charset=latin1",
        "",
        "multipart/form-data",
    ];
    for _ in 0..300 {
        let method = [
            Method::GET,
            Method::POST,
            Method::DELETE,
            Method::PATCH,
            Method::PUT,
        ][rng.usize(..5)]
        .clone();
        let path = paths[rng.usize(..paths.len())];
        let len = rng.usize(..200);
        let body: Vec<u8> = match rng.u8(..4) {
            0 => (0..len).map(|_| rng.u8(..)).collect(),
            1 => b"{\"prompt\": \"\\ud800\"}".to_vec(),
            2 => format!("{{\"prompt\": {}}}", "[".repeat(len)).into_bytes(),
            _ => serde_json::to_vec(
                &json!({"prompt": "x", "images": [rng.u32(..)], "modelId": null}),
            )
            .unwrap(),
        };
        let mut req = h.raw(method, path).bearer_auth("t").body(body);
        let ct = content_types[rng.usize(..content_types.len())];
        if !ct.is_empty() {
            req = req.header("content-type", ct);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let is_json = res
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("application/json"));
        let text = res.text().await.unwrap();
        if status.is_client_error() || status.is_server_error() {
            assert!(is_json, "{status} {path}: {text}");
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(body["success"], false);
            assert_ne!(status.as_u16(), 500, "no internal errors: {text}");
        }
    }
    let (status, _) = json(h.raw(Method::GET, "/health").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "still serving");
}

/// `GET /api/v1/jobs/{id}` with a plain-digit id is answered by the front
/// without the router (the polling fast path); with the same id
/// percent-encoded it goes through the router. Both ways must give the
/// same status, headers and body, for every kind of answer.
#[tokio::test]
async fn a_poll_answers_the_same_with_or_without_the_router() {
    let mut config = Config::fast();
    config.tokens = vec!["good".into(), "other".into()];
    let h = Harness::start(config).await;
    let id = h.chat("good").await;
    h.until_terminal("good", id).await;
    let pending = {
        let res = h
            .api("good", Method::POST, "/generate?chat=true")
            .header("x-mock-polls", "5")
            .json(&json!({"prompt": "p"}))
            .send()
            .await
            .unwrap();
        json(res).await.1["job_id"].as_u64().unwrap()
    };
    let ids = [
        id.to_string(),
        pending.to_string(),
        "999".into(),
        "0".into(),
        "007".into(),
        "123456789012345678901234567890".into(),
    ];
    let auths = [
        Some("Bearer good"),
        Some("Bearer other"),
        Some("Bearer wrong"),
        Some("Basic Z29vZA=="),
        None,
    ];
    let hosts = [None, Some("example.test:8080"), Some("bad host")];
    for raw in &ids {
        // The first digit percent-encoded: the router decodes it back.
        let encoded = format!("%3{}{}", &raw[..1], &raw[1..]);
        for auth in auths {
            for host in hosts {
                let mut answers = Vec::new();
                for path in [raw, &encoded] {
                    let mut p = probe(Method::GET, format!("/api/v1/jobs/{path}"))
                        .without("authorization")
                        .without("host");
                    if let Some(auth) = auth {
                        p = p.header("authorization", auth);
                    }
                    if let Some(host) = host {
                        p = p.header("host", host);
                    }
                    answers.push(answer_of(&h, &p).await);
                }
                assert_eq!(
                    answers[0], answers[1],
                    "id {raw}, auth {auth:?}, host {host:?}"
                );
            }
        }
    }
    // Polls count either way: the X-Mock-Polls job moved on (5 polls per
    // auth and host combination that got through).
    let (_, job) = h.get("good", pending).await;
    assert_eq!(job["status"], "completed", "{job}");
}

/// One request of [`fast_routes_answer_as_the_router_does`].
struct Probe {
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
}

fn probe(method: Method, path: impl Into<String>) -> Probe {
    Probe {
        method,
        path: path.into(),
        // The same Host on both servers, so image URLs compare.
        headers: vec![
            ("authorization", "Bearer good".into()),
            ("host", "mock.test".into()),
        ],
        body: None,
    }
}

impl Probe {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Probe {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.into()));
        self
    }

    fn json(self, body: &str) -> Probe {
        self.header("content-type", "application/json")
            .body(body.as_bytes())
    }

    fn body(mut self, body: &[u8]) -> Probe {
        self.body = Some(body.to_vec());
        self
    }

    fn without(mut self, name: &str) -> Probe {
        self.headers.retain(|(n, _)| *n != name);
        self
    }
}

/// Timestamps aside (two servers have their own clocks), what an answer
/// says: its status, headers but `Date`, and body.
async fn answer_of(h: &Harness, p: &Probe) -> (StatusCode, Vec<(String, String)>, Value) {
    let mut req = h.raw(p.method.clone(), &p.path);
    for (name, value) in &p.headers {
        req = req.header(*name, value);
    }
    if let Some(body) = &p.body {
        req = req.body(body.clone());
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let mut headers: Vec<(String, String)> = res
        .headers()
        .iter()
        .filter(|(name, _)| *name != "date")
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    let text = res.text().await.unwrap();
    let mut body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    fn scrub(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    if key.ends_with("_at") && value.is_string() {
                        *value = Value::String("<time>".into());
                    } else {
                        scrub(value);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(scrub),
            _ => {}
        }
    }
    scrub(&mut body);
    (status, headers, body)
}

/// The front answers `POST /api/v1/generate` and plain-digit polls
/// without the router; `--latency` sends every request through it. The
/// same requests, in the same order, on a server of each kind, must get
/// the same answers: every status, header and body (timestamps aside).
#[tokio::test]
async fn fast_routes_answer_as_the_router_does() {
    let config = |latency_ms| {
        let mut config = Config::fast();
        config.tokens = vec!["good".into(), "other".into()];
        config.faults.latency = std::time::Duration::from_millis(latency_ms);
        config
    };
    let fast_server = Harness::start(config(0)).await;
    let routed = Harness::start(config(1)).await;
    let long_key = "k".repeat(300);
    // A create as token `good` with a JSON body.
    let create = |body: &str| probe(Method::POST, "/api/v1/generate?chat=true").json(body);
    let a = r#"{"prompt":"a"}"#;
    let probes = [
        create(a),
        create(a).header("idempotency-key", "k1"),
        create(r#"{ "prompt" : "a" }"#).header("idempotency-key", "k1"),
        create(r#"{"prompt":"b"}"#).header("idempotency-key", "k1"),
        create(a).header("idempotency-key", long_key),
        create(a).without("authorization"),
        create(a).header("authorization", "Bearer wrong"),
        create(a).header("authorization", "Bearer other"),
        probe(Method::POST, "/api/v1/generate?chat=true")
            .header("content-type", "text/plain")
            .body(br#"{"prompt":"a"}"#),
        probe(Method::POST, "/api/v1/generate?chat=true"),
        create("   "),
        create("{\"prompt\":"),
        create("[1]"),
        probe(Method::POST, "/api/v1/generate?chat=true")
            .header("content-type", "application/json")
            .body(b"{\"prompt\":\"\xff\"}"),
        create("{}"),
        probe(Method::POST, "/api/v1/generate?chat=true&flatlay=true").json(r#"{"prompt":"a"}"#),
        probe(Method::POST, "/api/v1/generate?chat=maybe").json(r#"{"prompt":"a"}"#),
        probe(Method::POST, "/api/v1/generate").json(r#"{"prompt":"a"}"#),
        probe(Method::POST, "/api/v1/generate?chat=TRUE&x=%zz")
            .json(r#"{"prompt":"naïve 👗","extra":{"b":1,"a":[true,null]}}"#),
        create(a).header("x-mock-outcome", "explode"),
        create(a).header("x-mock-duration", "soon"),
        create(a).header("x-mock-polls", "0"),
        create(a)
            .header("x-mock-polls", "3")
            .header("x-mock-outcome", "fail"),
        probe(Method::GET, "/api/v1/jobs/1"),
        probe(Method::GET, "/api/v1/jobs/1").header("host", "example.test:9"),
        probe(Method::GET, "/api/v1/jobs/1").header("authorization", "Bearer other"),
        probe(Method::GET, "/api/v1/jobs/999"),
        probe(Method::GET, "/api/v1/jobs/0"),
        probe(Method::GET, "/api/v1/jobs/1").without("authorization"),
        // The poll-driven job: each GET moves it on, to failed at the third.
        probe(Method::GET, "/api/v1/jobs/4"),
        probe(Method::GET, "/api/v1/jobs/4"),
        probe(Method::GET, "/api/v1/jobs/4"),
        probe(Method::GET, "/api/v1/jobs/4"),
        probe(Method::GET, "/api/v1/jobs?page_size=3"),
        probe(Method::GET, "/api/v1/jobs"),
        probe(
            Method::GET,
            "/api/v1/jobs?page=2&page_size=2&status=completed",
        ),
        probe(Method::GET, "/api/v1/jobs?status=failed").header("host", "example.test:9"),
        probe(Method::GET, "/api/v1/jobs?status=sleeping"),
        probe(Method::GET, "/api/v1/jobs?page=0"),
        probe(Method::GET, "/api/v1/jobs?page_size=101"),
        probe(Method::GET, "/api/v1/jobs?page=%2B1&page_size=1"),
        probe(Method::GET, "/api/v1/jobs?page=99"),
        probe(Method::GET, "/api/v1/jobs").header("authorization", "Bearer other"),
        probe(Method::GET, "/api/v1/jobs").without("authorization"),
    ];
    for p in &probes {
        let a = answer_of(&fast_server, p).await;
        let b = answer_of(&routed, p).await;
        assert_eq!(a, b, "{} {} {:?}", p.method, p.path, p.headers);
    }
}

/// Every `/api/v1` handler, on the front's fast routes and on the router
/// (a percent-encoded id, and `DELETE`, which only the router has), runs
/// the same caller's checks: the token (401) before the injected errors
/// (503), with the same headers and bodies on every route. A handler that
/// checked the caller its own way would answer one of these differently.
#[tokio::test]
async fn every_api_handler_checks_the_caller_the_same_way() {
    let routes = [
        (Method::POST, "/api/v1/generate?chat=true"),
        (Method::GET, "/api/v1/jobs"),
        (Method::GET, "/api/v1/jobs/1"),
        (Method::GET, "/api/v1/jobs/%31"),
        (Method::DELETE, "/api/v1/jobs/1"),
        (Method::DELETE, "/api/v1/jobs/%31"),
    ];
    let config = |tokens: &[&str], http_error_rate| {
        let mut config = Config::fast();
        config.tokens = tokens.iter().map(|t| (*t).to_owned()).collect();
        config.faults.http_error_rate = http_error_rate;
        config
    };
    // Each server, the token sent (none: no header), what every route answers.
    let cases = [
        (config(&["good"], 0.0), None, 401),
        (config(&["good"], 0.0), Some("wrong"), 401),
        (config(&["good"], 1.0), None, 401),
        (config(&[], 1.0), Some("t"), 503),
    ];
    for (config, token, status) in cases {
        let h = Harness::start(config).await;
        let mut seen = Vec::new();
        for (method, path) in &routes {
            let p = probe(method.clone(), *path).json(r#"{"prompt":"a"}"#);
            let p = match token {
                Some(token) => p.header("authorization", format!("Bearer {token}")),
                None => p.without("authorization"),
            };
            let (got, headers, body) = answer_of(&h, &p).await;
            assert_eq!(got.as_u16(), status, "{method} {path}: {body}");
            seen.push((headers, body));
        }
        assert!(
            seen.windows(2).all(|w| w[0] == w[1]),
            "{token:?}: {seen:#?}"
        );
    }
}

/// `serve`, `MockServer::start` and `MockServer::start_on` say why they
/// could not run as a `ServeError` a caller can match on, not as text.
#[tokio::test]
async fn a_refused_config_is_a_typed_error_everywhere() {
    use vestis_mock_server::{MockServer, ServeError};
    let refused = || Config {
        polls: Some(0),
        ..Config::fast()
    };
    let started = MockServer::start(refused()).await;
    assert!(matches!(started, Err(ServeError::Config(_))), "{started:?}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let started = MockServer::start_on(listener, refused());
    assert!(matches!(started, Err(ServeError::Config(_))), "{started:?}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let served = vestis_mock_server::serve(listener, refused(), async {}).await;
    let Err(ServeError::Config(e)) = served else {
        panic!("{served:?}");
    };
    assert!(e.to_string().contains("polls"), "{e}");
}
