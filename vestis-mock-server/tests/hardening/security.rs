//! Security checks, one test each: a foreign token learns nothing a
//! missing job would not tell; no token reaches the logs (at trace level)
//! or the request journal; oversize, long, many-headed and trickled
//! requests get a bounded answer and lose their connection; `/images/`
//! serves only completed jobs' ids; the server binds 127.0.0.1 unless
//! told; `--no-admin` leaves no admin route.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vestis_mock_server::{Args, ClockMode, Config, MockServer};

use crate::spawned::Spawned;

async fn start(config: Config) -> (MockServer, reqwest::Client) {
    (
        MockServer::start(config).await.unwrap(),
        reqwest::Client::new(),
    )
}

/// Status, headers (less `date`) and body: everything a caller can compare.
async fn seen(res: reqwest::Response) -> (StatusCode, Vec<(String, String)>, String) {
    let status = res.status();
    let mut headers: Vec<(String, String)> = res
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str() != "date")
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_owned()))
        .collect();
    headers.sort();
    (status, headers, res.text().await.unwrap())
}

#[tokio::test]
async fn a_foreign_job_looks_exactly_like_a_missing_one_on_every_route() {
    let config = Config {
        clock: ClockMode::Manual,
        workers: 1,
        ..Config::default()
    };
    let (server, http) = start(config).await;
    let api = server.api_url();
    let create = |outcome: &'static str, polls: Option<&'static str>| {
        let mut req = http
            .post(format!("{api}/generate?chat=true"))
            .bearer_auth("owner")
            .header("x-mock-outcome", outcome)
            .json(&json!({"prompt": "mine"}));
        if let Some(p) = polls {
            req = req.header("x-mock-polls", p);
        }
        req
    };
    let mut ids = Vec::new();
    for (outcome, polls) in [
        ("complete", None),
        ("complete", None),
        ("fail", None),
        ("complete", Some("3")),
    ] {
        let res = create(outcome, polls).send().await.unwrap();
        ids.push(
            res.json::<Value>().await.unwrap()["job_id"]
                .as_u64()
                .unwrap(),
        );
    }
    // Job 1 runs, job 2 waits, job 3 waits; then job 1 completes.
    let advance = format!("{}/__admin/clock/advance", server.url());
    http.post(&advance)
        .json(&json!({"by": "2s"}))
        .send()
        .await
        .unwrap();
    http.delete(format!("{api}/jobs/{}", ids[1]))
        .bearer_auth("owner")
        .send()
        .await
        .unwrap();
    let missing = 999_999u64;
    for &id in &ids {
        for (method, suffix) in [
            (Method::GET, ""),
            (Method::DELETE, ""),
            (Method::GET, "?x=1"),
        ] {
            let foreign = http
                .request(method.clone(), format!("{api}/jobs/{id}{suffix}"))
                .bearer_auth("stranger");
            let absent = http
                .request(method.clone(), format!("{api}/jobs/{missing}{suffix}"))
                .bearer_auth("stranger");
            let (f, a) = (
                seen(foreign.send().await.unwrap()).await,
                seen(absent.send().await.unwrap()).await,
            );
            assert_eq!(f, a, "{method} job {id} as a stranger");
            assert_eq!(f.0, StatusCode::NOT_FOUND);
        }
    }
    // Listing shows none of them, and a stranger's reads never count as the owner's polls.
    let list = http
        .get(format!("{api}/jobs"))
        .bearer_auth("stranger")
        .send()
        .await
        .unwrap();
    assert_eq!(list.json::<Value>().await.unwrap()["metadata"]["total"], 0);
    let polled = http
        .get(format!("{api}/jobs/{}", ids[3]))
        .bearer_auth("owner")
        .send()
        .await
        .unwrap();
    let polled: Value = polled.json().await.unwrap();
    assert_eq!(polled["status"], "pending", "first poll of three: {polled}");
    assert_eq!(
        http.get(format!("{api}/jobs/{}", ids[1]))
            .bearer_auth("owner")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn no_token_reaches_the_logs_or_the_request_journal() {
    let secret = "sekrit-4f1c9b2e7d";
    let wrong = "wrongtoken-8a7b6c";
    let server = Spawned::start(
        &["--token", secret, "--processing-time", "10ms"],
        &[("RUST_LOG", "trace")],
    );
    let http = reqwest::Client::new();
    let api = format!("{}/api/v1", server.url);
    for token in [secret, wrong] {
        let created = http
            .post(format!("{api}/generate"))
            .bearer_auth(token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let _ = created.text().await;
        for path in ["/jobs", "/jobs/1", "/jobs/abc", "/jobs/99"] {
            let _ = http
                .get(format!("{api}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .text()
                .await;
        }
        let _ = http
            .delete(format!("{api}/jobs/1"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await;
        let _ = http
            .post(format!("{api}/generate?chat=true"))
            .bearer_auth(token)
            .body("{bad")
            .send()
            .await
            .unwrap()
            .text()
            .await;
        let _ = http
            .get(format!("{api}/jobs"))
            .header("authorization", format!("Basic {token}"))
            .send()
            .await
            .unwrap()
            .text()
            .await;
    }
    let journal = http
        .get(format!("{}/__admin/requests", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let logs = server.stop();
    assert!(logs.contains("vestis-mock-server listening"), "{logs}");
    assert!(
        logs.lines().count() > 20,
        "trace logs were written:\n{logs}"
    );
    // (`GET /__admin/jobs` shows owners on purpose: its output loads back as fixtures.)
    for (name, text) in [("logs", &logs), ("request journal", &journal)] {
        for token in [secret, wrong] {
            assert!(!text.contains(token), "{token} in the {name}:\n{text}");
        }
    }
}

#[tokio::test]
async fn oversize_bodies_are_refused_with_contract_json() {
    let config = Config {
        max_body: 1024,
        ..Config::default()
    };
    let (server, http) = start(config).await;
    let url = format!("{}/generate", server.api_url());
    let big = format!("{{\"prompt\":\"{}\"}}", "x".repeat(4096));
    let sized = http
        .post(&url)
        .bearer_auth("t")
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(sized.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        sized.json::<Value>().await.unwrap()["code"],
        "payload_too_large"
    );
    // Chunked, no Content-Length: cut off at the limit while it streams.
    let chunks = futures::stream::iter((0..64).map(|_| Ok::<_, std::io::Error>("x".repeat(1024))));
    let streamed = http
        .post(&url)
        .bearer_auth("t")
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        streamed.json::<Value>().await.unwrap()["code"],
        "payload_too_large"
    );
}

/// A client that writes its whole oversize body before it reads (as most
/// do) must get the 413, not a reset connection: the server reads the
/// rest of the body and drops it before it answers, and then the
/// connection still serves the next request.
#[tokio::test]
async fn an_oversize_body_written_whole_before_reading_still_gets_its_413() {
    let (server, _) = start(Config::default()).await;
    let addr = server.addr();
    let body = vec![b'x'; 11 * 1024 * 1024];
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/generate HTTP/1.1\r\nhost: x\r\nauthorization: Bearer t\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
        .write_all(&body)
        .await
        .expect("the server reads the whole body before it answers");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers both requests and closes")
        .expect("no reset");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(
        answer.contains("\"code\":\"payload_too_large\""),
        "{answer}"
    );
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 2, "{answer}");
    assert!(answer.contains("HTTP/1.1 200 "), "{answer}");
}

/// A body declared far over the limit, or one whose client waits for
/// `100 Continue`, is refused at once without being read.
#[tokio::test]
async fn a_body_declared_far_too_large_is_refused_unread() {
    let (server, _) = start(Config::default()).await;
    for extra in ["", "expect: 100-continue\r\n"] {
        let length = if extra.is_empty() {
            1u64 << 30
        } else {
            11 << 20
        };
        let request = format!(
            "POST /api/v1/generate HTTP/1.1\r\nhost: x\r\nauthorization: Bearer t\r\n\
             content-type: application/json\r\n{extra}content-length: {length}\r\n\r\n"
        );
        let answer = exchange(server.addr(), request.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 413 "), "{extra}: {answer}");
        assert!(answer.contains("connection: close"), "{extra}: {answer}");
        assert!(answer.contains("payload_too_large"), "{extra}: {answer}");
    }
}

/// Sends raw bytes and reads until the server closes (or 64 KiB), under a guard.
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 || answer.len() > 65536 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
    });
    read.await.expect("the server answers and closes");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn long_urls_long_headers_and_many_headers_get_a_bounded_answer() {
    let (server, _) = start(Config::default()).await;
    let long_url = format!(
        "GET /api/v1/jobs/{} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        "9".repeat(1 << 20)
    );
    let long_header = format!(
        "GET /health HTTP/1.1\r\nhost: x\r\nx-big: {}\r\nconnection: close\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let many: String = (0..500).map(|i| format!("x-h{i}: v\r\n")).collect();
    let many = format!("GET /health HTTP/1.1\r\nhost: x\r\n{many}connection: close\r\n\r\n");
    let moderate = format!(
        "GET /api/v1/jobs/{} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        "9".repeat(8000)
    );
    for (name, request) in [
        ("long URL", long_url),
        ("long header", long_header),
        ("many headers", many),
    ] {
        let answer = exchange(server.addr(), request.as_bytes()).await;
        let status_line = answer.lines().next().unwrap_or("");
        assert!(
            ["431", "414", "400"]
                .iter()
                .any(|s| status_line.contains(s))
                || answer.is_empty(),
            "{name}: {status_line}"
        );
    }
    // Under hyper's limits, a long id is the contract's 400 or 404 as JSON.
    let answer = exchange(server.addr(), moderate.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("\"code\":\"unauthorized\""), "{answer}");
}

/// Trickles `head` then one `drip` a second; returns the (paused-clock)
/// time until the server answered or closed, and what it sent.
async fn trickle(addr: std::net::SocketAddr, head: &[u8], drip: &[u8]) -> (Duration, String) {
    let started = tokio::time::Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "still connected after 10 minutes"
        );
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                if stream.write_all(drip).await.is_err() {
                    break;
                }
            }
        }
    }
    (
        started.elapsed(),
        String::from_utf8_lossy(&answer).into_owned(),
    )
}

#[tokio::test(start_paused = true)]
async fn a_client_trickling_its_headers_is_cut_off() {
    let (server, _) = start(Config::default()).await;
    let (held, answer) = trickle(
        server.addr(),
        b"GET /health HTTP/1.1\r\nhost: x\r\n",
        b"x-a: 1\r\n",
    )
    .await;
    assert!(held <= Duration::from_secs(35), "held {held:?}");
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test(start_paused = true)]
async fn a_client_trickling_its_body_is_answered_400_and_closed() {
    let (server, _) = start(Config::default()).await;
    let head = b"POST /api/v1/generate HTTP/1.1\r\nhost: x\r\nauthorization: Bearer t\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{";
    let (held, answer) = trickle(server.addr(), head, b" ").await;
    assert!(held <= Duration::from_secs(35), "held {held:?}");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"code\":\"invalid_request\""), "{answer}");
}

/// Over the limit, and still arriving when the deadline passes: the
/// answer is the 413 the body earned, not a slow body's 400, sized
/// (declared over) or chunked (seen over while it streams).
#[tokio::test(start_paused = true)]
async fn a_slow_oversize_body_is_still_answered_413() {
    let config = Config {
        max_body: 1024,
        ..Config::default()
    };
    let (server, _) = start(config).await;
    let sized = b"POST /api/v1/generate HTTP/1.1\r\nhost: x\r\nauthorization: Bearer t\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{";
    let chunk = format!("800\r\n{}\r\n", "x".repeat(0x800));
    let chunked = format!(
        "POST /api/v1/generate HTTP/1.1\r\nhost: x\r\nauthorization: Bearer t\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n{chunk}"
    );
    for (name, head, drip) in [
        ("sized", sized.to_vec(), b" ".to_vec()),
        ("chunked", chunked.into_bytes(), b"1\r\nx\r\n".to_vec()),
    ] {
        let (held, answer) = trickle(server.addr(), &head, &drip).await;
        assert!(held <= Duration::from_secs(35), "{name}: held {held:?}");
        assert!(answer.starts_with("HTTP/1.1 413"), "{name}: {answer}");
        assert!(
            answer.contains("\"code\":\"payload_too_large\""),
            "{name}: {answer}"
        );
        assert!(answer.contains("connection: close"), "{name}: {answer}");
    }
}

#[tokio::test]
async fn images_serve_only_completed_jobs_by_id() {
    let mut config = Config::fast();
    config.clock = ClockMode::Manual;
    let (server, http) = start(config).await;
    let api = server.api_url();
    for _ in 0..2 {
        http.post(format!("{api}/generate"))
            .bearer_auth("t")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
    }
    http.post(format!("{}/__admin/jobs/1/complete", server.url()))
        .send()
        .await
        .unwrap();
    let get = |path: String| http.get(format!("{}{path}", server.url())).send();
    let ok = get("/images/1.png".into()).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["content-type"], "image/png");
    for bad in [
        "2.png",
        "3.png",
        "0.png",
        "-1.png",
        "+1.png",
        "1",
        "1.jpg",
        "1.png.png",
        "1.PNG",
        "abc.png",
        "18446744073709551616.png",
        "..%2F..%2FCargo.toml",
        "%2e%2e/Cargo.toml",
        "1.png%00",
        "1.png/x",
        "../Cargo.toml",
        "%2Fetc%2Fpasswd",
    ] {
        let res = get(format!("/images/{bad}")).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "/images/{bad}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["code"],
            "not_found",
            "/images/{bad}"
        );
    }
}

#[test]
fn the_server_binds_loopback_unless_told() {
    use clap::Parser;
    // The default, unless this environment overrides it.
    if std::env::var_os("VESTIS_MOCK_HOST").is_none() {
        let args = Args::try_parse_from(["vestis-mock-server"]).unwrap();
        assert_eq!(args.host.to_string(), "127.0.0.1");
    }
    let server = Spawned::start(&[], &[]);
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );
    server.stop();
    let told = Args::try_parse_from(["vestis-mock-server", "--host", "0.0.0.0"]).unwrap();
    assert_eq!(told.host.to_string(), "0.0.0.0");
}

#[tokio::test]
async fn no_admin_removes_every_admin_route() {
    let config = Config {
        admin: false,
        ..Config::default()
    };
    let (server, http) = start(config).await;
    let unknown = seen(
        http.get(format!("{}/no-such-route", server.url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let routes = [
        (Method::POST, "/reset"),
        (Method::GET, "/stats"),
        (Method::GET, "/config"),
        (Method::PATCH, "/config"),
        (Method::PUT, "/config"),
        (Method::GET, "/jobs"),
        (Method::POST, "/jobs"),
        (Method::GET, "/jobs/1"),
        (Method::POST, "/jobs/1/complete"),
        (Method::POST, "/jobs/1/fail"),
        (Method::GET, "/queue"),
        (Method::POST, "/queue/pause"),
        (Method::POST, "/queue/resume"),
        (Method::GET, "/clock"),
        (Method::POST, "/clock/advance"),
        (Method::GET, "/requests"),
        (Method::DELETE, "/requests"),
        (Method::GET, "/openapi.json"),
        (Method::GET, ""),
        (Method::GET, "/"),
        (Method::GET, "/dashboard"),
        (Method::GET, "/events"),
        (Method::GET, "/ui"),
        (Method::GET, "/index.html"),
    ];
    for (method, path) in routes {
        let res = http
            .request(method.clone(), format!("{}/__admin{path}", server.url()))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let got = seen(res).await;
        assert_eq!(
            (got.0, &got.2),
            (unknown.0, &unknown.2),
            "{method} /__admin{path}"
        );
    }
    let spec: Value = http
        .get(format!("{}/openapi.json", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = spec["paths"]
        .as_object()
        .map(|p| p.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    assert!(paths.iter().all(|p| !p.contains("__admin")), "{paths:?}");
}
