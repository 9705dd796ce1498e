//! Transport faults on the wire, read with a raw socket: each fault does
//! exactly what its name says (`docs/faults.md`), however it is chosen
//! (header, a job's schedule, `fault_rate`), is counted and journalled,
//! and never touches a CORS preflight.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vestis_mock_server::{Config, FaultOn};

use crate::util::{Harness, expect_error, json};

/// How a raw exchange ended.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// A clean end of stream (FIN).
    Eof,
    /// `ECONNRESET` (RST).
    Reset,
}

/// Everything the server sent for `request`, and how the connection ended.
async fn exchange(h: &Harness, request: &str) -> (Vec<u8>, Ending) {
    let (bytes, ending, _) = exchange_timed(h, request).await;
    (bytes, ending)
}

/// As [`exchange`], plus when (after the request) each read arrived.
async fn exchange_timed(h: &Harness, request: &str) -> (Vec<u8>, Ending, Vec<Duration>) {
    let mut socket = TcpStream::connect(h.server.addr()).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let start = Instant::now();
    let mut bytes = Vec::new();
    let mut arrivals = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(20), socket.read(&mut buf)).await {
            Err(_) => panic!(
                "no end within 20 s; got {:?}",
                String::from_utf8_lossy(&bytes)
            ),
            Ok(Ok(0)) => return (bytes, Ending::Eof, arrivals),
            Ok(Ok(n)) => {
                bytes.extend_from_slice(&buf[..n]);
                arrivals.push(start.elapsed());
            }
            Ok(Err(e)) if e.kind() == ErrorKind::ConnectionReset => {
                return (bytes, Ending::Reset, arrivals);
            }
            Ok(Err(e)) => panic!("read failed: {e}"),
        }
    }
}

/// A poll of job `id` with `extra` header lines, asking to close after.
fn poll(id: u64, extra: &str) -> String {
    format!(
        "GET /api/v1/jobs/{id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n{extra}Connection: close\r\n\r\n"
    )
}

/// A create with `extra` header lines.
fn create(extra: &str) -> String {
    let body = r#"{"prompt":"a red dress"}"#;
    format!(
        "POST /api/v1/generate?chat=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The head (as text) and the body of an answer.
fn split(bytes: &[u8]) -> (String, &[u8]) {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    (
        String::from_utf8(bytes[..end].to_vec()).unwrap(),
        &bytes[end + 4..],
    )
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("a Content-Length")
}

async fn stats(h: &Harness) -> Value {
    json(h.raw(Method::GET, "/__admin/stats").send().await.unwrap())
        .await
        .1
}

/// A completed job, so that its polls answer the same bytes every time.
async fn completed_job(h: &Harness) -> u64 {
    let id = h.chat("t").await;
    h.until_terminal("t", id).await;
    id
}

#[tokio::test]
async fn reset_sends_an_rst_and_no_byte() {
    let h = Harness::start(Config::fast()).await;
    let id = completed_job(&h).await;
    let (bytes, ending) = exchange(&h, &poll(id, "X-Mock-Fault: reset\r\n")).await;
    assert_eq!((bytes.len(), ending), (0, Ending::Reset));
    assert_eq!(stats(&h).await["faults_injected"]["reset"], 1);
}

#[tokio::test]
async fn close_ends_cleanly_with_no_byte() {
    let h = Harness::start(Config::fast()).await;
    let id = completed_job(&h).await;
    let (bytes, ending) = exchange(&h, &poll(id, "X-Mock-Fault: close\r\n")).await;
    assert_eq!((bytes.len(), ending), (0, Ending::Eof));
}

#[tokio::test]
async fn truncate_sends_the_real_head_and_half_the_body() {
    let h = Harness::start(Config::fast()).await;
    let id = completed_job(&h).await;
    let (whole, ending) = exchange(&h, &poll(id, "")).await;
    assert_eq!(ending, Ending::Eof);
    let (_, full_body) = split(&whole);
    let (bytes, ending) = exchange(&h, &poll(id, "X-Mock-Fault: truncate\r\n")).await;
    assert_eq!(ending, Ending::Eof);
    let (head, body) = split(&bytes);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    assert_eq!(content_length(&head), full_body.len(), "the real length");
    assert_eq!(
        body,
        &full_body[..full_body.len() / 2],
        "its first half, no more"
    );
    assert!(serde_json::from_slice::<Value>(body).is_err());
}

#[tokio::test]
async fn garbage_is_not_http_then_a_clean_close() {
    let h = Harness::start(Config::fast()).await;
    let id = completed_job(&h).await;
    let (bytes, ending) = exchange(&h, &poll(id, "X-Mock-Fault: garbage\r\n")).await;
    assert_eq!(ending, Ending::Eof);
    assert!(!bytes.is_empty());
    assert!(
        !bytes.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&bytes)
    );
    // A real HTTP client agrees that it is not HTTP.
    let err = h
        .api("t", Method::GET, &format!("/jobs/{id}"))
        .header("x-mock-fault", "garbage")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.is_request() || err.is_connect() || err.to_string().contains("error"),
        "{err}"
    );
}

#[tokio::test]
async fn slow_body_dribbles_the_real_answer_over_its_duration() {
    let h = Harness::start(Config::fast()).await;
    let id = completed_job(&h).await;
    let (whole, _) = exchange(&h, &poll(id, "")).await;
    let (bytes, ending, arrivals) =
        exchange_timed(&h, &poll(id, "X-Mock-Fault: slow-body=1s\r\n")).await;
    assert_eq!(ending, Ending::Eof);
    let (head, body) = split(&bytes);
    let (_, full_body) = split(&whole);
    assert_eq!(body, full_body, "the whole, correct body");
    assert_eq!(content_length(&head), full_body.len());
    assert!(
        !head.to_ascii_lowercase().contains("transfer-encoding"),
        "{head}"
    );
    // Ten pieces, one every 100 ms: many reads, the last no earlier than 1 s.
    assert!(arrivals.len() >= 5, "{arrivals:?}");
    assert!(
        *arrivals.last().unwrap() >= Duration::from_millis(950),
        "{arrivals:?}"
    );
}

#[tokio::test]
async fn stall_sends_nothing_and_ends_at_shutdown() {
    let h = Harness::start(Config::fast()).await;
    let id = completed_job(&h).await;
    let mut socket = TcpStream::connect(h.server.addr()).await.unwrap();
    socket
        .write_all(poll(id, "X-Mock-Fault: stall\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(500), socket.read(&mut buf)).await;
    assert!(early.is_err(), "nothing yet: {early:?}");
    // The stop ends the stall: the shutdown finishes, the socket closes.
    tokio::time::timeout(Duration::from_secs(20), h.server.shutdown())
        .await
        .expect("the shutdown is not held by the stall");
    let end = tokio::time::timeout(Duration::from_secs(20), socket.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(end, Ok(0) | Err(_)), "no answer byte: {end:?}");
}

#[tokio::test]
async fn a_reset_create_still_made_its_job_and_the_journal_says_so() {
    let h = Harness::start(Config::fast()).await;
    let (bytes, ending) = exchange(&h, &create("X-Mock-Fault: reset\r\n")).await;
    assert_eq!((bytes.len(), ending), (0, Ending::Reset));
    let stats = stats(&h).await;
    assert_eq!(stats["jobs_stored"], 1, "the queue acted: {stats}");
    assert_eq!(stats["faults_injected"]["reset"], 1);
    assert_eq!(stats["faults_injected_total"], 1);
    let (_, journal) = json(
        h.raw(Method::GET, "/__admin/requests")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let entry = &journal["requests"][0];
    assert_eq!(entry["fault"], "reset", "{entry}");
    assert_eq!(entry["status"], 202);
    assert_eq!(entry["job_id"], 1);
    // A clean request has no fault.
    h.get("t", 1).await;
    let (_, journal) = json(
        h.raw(Method::GET, "/__admin/requests")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(journal["requests"][0]["fault"], Value::Null);
}

#[tokio::test]
async fn a_preflight_is_never_faulted() {
    let mut config = Config::fast();
    config.faults.fault_rate = 1.0;
    let h = Harness::start(config).await;
    for (request, mirrors) in [
        (
            "OPTIONS /api/v1/generate HTTP/1.1\r\nHost: x\r\nOrigin: http://app.test\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: x-mock-fault,authorization\r\nX-Mock-Fault: reset\r\nConnection: close\r\n\r\n",
            true,
        ),
        (
            "OPTIONS /api/v1/jobs/1 HTTP/1.1\r\nHost: x\r\nOrigin: http://app.test\r\nAccess-Control-Request-Method: GET\r\nConnection: close\r\n\r\n",
            false,
        ),
    ] {
        let (bytes, ending) = exchange(&h, request).await;
        assert_eq!(ending, Ending::Eof);
        let (head, _) = split(&bytes);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        if mirrors {
            assert!(
                head.to_ascii_lowercase().contains("x-mock-fault"),
                "allowed: {head}"
            );
        }
    }
    assert_eq!(stats(&h).await["faults_injected_total"], 0);
}

#[tokio::test]
async fn a_jobs_schedule_faults_exactly_its_polls() {
    let h = Harness::start(Config::fast()).await;
    let res = h
        .api("t", Method::POST, "/generate?chat=true")
        .header("x-mock-fault-schedule", "2:reset, 3:truncate, 5-6:close")
        .json(&json!({"prompt": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::ACCEPTED,
        "the create itself is not faulted"
    );
    let id = res.json::<Value>().await.unwrap()["job_id"]
        .as_u64()
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..8 {
        let (bytes, ending) = exchange(&h, &poll(id, "")).await;
        seen.push(match (bytes.len(), ending) {
            (0, Ending::Reset) => "reset",
            (0, Ending::Eof) => "close",
            _ if split(&bytes).1.len() < content_length(&split(&bytes).0) => "truncate",
            _ => "ok",
        });
    }
    assert_eq!(
        seen,
        [
            "ok", "reset", "truncate", "ok", "close", "close", "ok", "ok"
        ]
    );
    let (_, journal) = json(
        h.raw(
            Method::GET,
            &format!("/__admin/requests?job_id={id}&method=GET"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    let faults: Vec<Value> = journal["requests"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| e["fault"].clone())
        .collect();
    assert_eq!(
        faults,
        [
            Value::Null,
            "reset".into(),
            "truncate".into(),
            Value::Null,
            "close".into(),
            "close".into(),
            Value::Null,
            Value::Null
        ]
    );
}

#[tokio::test]
async fn bad_fault_headers_are_400s_naming_the_header_and_do_nothing() {
    let h = Harness::start(Config::fast()).await;
    for (name, value, path, method) in [
        ("x-mock-fault", "explode", "/jobs", Method::GET),
        ("x-mock-fault", "slow-body=forever", "/jobs", Method::GET),
        ("x-mock-fault", "reset=2s", "/jobs", Method::GET),
        // Empty or blank: not a fault, so not ignored either.
        ("x-mock-fault", "", "/jobs", Method::GET),
        ("x-mock-fault", "   ", "/jobs", Method::GET),
        ("x-mock-fault", "", "/generate?chat=true", Method::POST),
        // A slow body over no time, or over more than MAX_SLOW_BODY.
        ("x-mock-fault", "slow-body=0s", "/jobs", Method::GET),
        ("x-mock-fault", "slow-body=0", "/jobs", Method::GET),
        ("x-mock-fault", "slow-body=5m1s", "/jobs", Method::GET),
        (
            "x-mock-fault-schedule",
            "2:slow-body=0ms",
            "/generate?chat=true",
            Method::POST,
        ),
        (
            "x-mock-fault-schedule",
            "3-reset",
            "/generate?chat=true",
            Method::POST,
        ),
        (
            "x-mock-fault-schedule",
            "0:reset",
            "/generate?chat=true",
            Method::POST,
        ),
        (
            "x-mock-fault-schedule",
            "4-2:close",
            "/generate?chat=true",
            Method::POST,
        ),
        ("x-mock-fault-schedule", "2:reset", "/jobs", Method::GET),
    ] {
        let res = h
            .api("t", method, path)
            .header(name, value)
            .json(&json!({"prompt": "x"}))
            .send()
            .await
            .unwrap();
        let (status, body) = json(res).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {value:?}: {body}");
        assert_eq!(body["success"], false, "{body}");
        assert_eq!(body["code"], "invalid_request");
        let message = body["error"].as_str().unwrap().to_ascii_lowercase();
        assert!(message.contains(name), "{message}");
    }
    assert_eq!(stats(&h).await["jobs_stored"], 0);
}

/// Which of `n` polls `fault_rate` faulted, on a fresh seeded server.
async fn faulted_polls(seed: u64, n: usize) -> Vec<bool> {
    let mut config = Config::fast();
    config.seed = Some(seed);
    config.faults.fault_rate = 0.5;
    config.faults.fault_kinds = "close".parse().unwrap();
    config.faults.fault_on = FaultOn::Polls;
    let h = Harness::start(config).await;
    let id = h.chat("t").await; // a create: never faulted with fault_on polls
    let mut faulted = Vec::new();
    for _ in 0..n {
        let (bytes, _) = exchange(&h, &poll(id, "")).await;
        faulted.push(bytes.is_empty());
    }
    faulted
}

#[tokio::test]
async fn fault_rate_is_reproducible_with_the_seed() {
    let first = faulted_polls(11, 40).await;
    assert_eq!(first, faulted_polls(11, 40).await);
    let count = first.iter().filter(|f| **f).count();
    assert!((5..=35).contains(&count), "about half: {count}");
}

#[tokio::test]
async fn fault_settings_change_at_run_time() {
    let h = Harness::start(Config {
        seed: Some(1),
        ..Config::fast()
    })
    .await;
    let (status, config) = json(h.raw(Method::GET, "/__admin/config").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["fault_rate"], 0.0);
    assert_eq!(config["faults"], "reset,close,truncate,garbage");
    assert_eq!(config["fault_on"], "all");
    let res = h
        .raw(Method::PATCH, "/__admin/config")
        .json(&json!({"fault_rate": 1.0, "faults": "garbage", "fault_on": "polls"}))
        .send()
        .await
        .unwrap();
    let (status, changed) = json(res).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["faults"], "garbage");
    let id = h.chat("t").await;
    let (bytes, _) = exchange(&h, &poll(id, "")).await;
    assert!(!bytes.is_empty() && !bytes.starts_with(b"HTTP/"));
    for (patch, field) in [
        (json!({"fault_rate": 2}), "fault_rate"),
        (json!({"faults": "reset,explode"}), "faults"),
        (json!({"faults": "reset,reset"}), "faults"),
        (json!({"faults": ""}), "faults"),
        (json!({"faults": "reset,slow-body=0s"}), "faults"),
        (json!({"faults": "slow-body=6m"}), "faults"),
        (json!({"fault_on": "images"}), "fault_on"),
    ] {
        let res = h
            .raw(Method::PATCH, "/__admin/config")
            .json(&patch)
            .send()
            .await
            .unwrap();
        let (status, body) = json(res).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}");
        assert!(body["error"].as_str().unwrap().contains(field), "{body}");
    }
    // A reset restores the start's settings and forgets the counts.
    h.raw(Method::POST, "/__admin/reset").send().await.unwrap();
    assert_eq!(stats(&h).await["faults_injected_total"], 0);
    let id = h.chat("t").await;
    let (bytes, _) = exchange(&h, &poll(id, "")).await;
    assert!(bytes.starts_with(b"HTTP/1.1 200"));
}

#[tokio::test]
async fn the_flags_set_the_faults() {
    use clap::Parser;
    let args = vestis_mock_server::Args::try_parse_from([
        "x",
        "--fault-rate",
        "0.3",
        "--faults",
        "reset,slow-body=3s",
        "--fault-on",
        "polls",
    ])
    .unwrap();
    let config = args.config().unwrap();
    assert_eq!(config.faults.fault_rate, 0.3);
    assert_eq!(config.faults.fault_kinds.to_string(), "reset,slow-body=3s");
    assert_eq!(config.faults.fault_on, FaultOn::Polls);
    for bad in [
        "boom",
        "slow-body=0s",
        "reset,slow-body=0ms",
        "slow-body=301s",
    ] {
        let parsed = vestis_mock_server::Args::try_parse_from(["x", "--faults", bad])
            .map_err(|e| e.to_string())
            .and_then(|args| args.config().map_err(|e| e.to_string()));
        assert!(parsed.is_err(), "--faults {bad}");
    }
    assert!(vestis_mock_server::Args::try_parse_from(["x", "--fault-rate", "1.5"]).is_err());
}

#[tokio::test]
async fn faults_hold_behind_latency_and_on_errors_too() {
    let mut config = Config::fast();
    config.faults.latency = Duration::from_millis(10); // every request takes the router
    let h = Harness::start(config).await;
    let id = completed_job(&h).await;
    let (bytes, ending) = exchange(&h, &poll(id, "X-Mock-Fault: close\r\n")).await;
    assert_eq!((bytes.len(), ending), (0, Ending::Eof));
    // A 404 is faulted as well: the header faults any /api/v1 answer.
    let (bytes, ending) = exchange(&h, &poll(999, "X-Mock-Fault: reset\r\n")).await;
    assert_eq!((bytes.len(), ending), (0, Ending::Reset));
    let (_, journal) = json(
        h.raw(Method::GET, "/__admin/requests")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(journal["requests"][0]["status"], 404);
    assert_eq!(journal["requests"][0]["fault"], "reset");
}

/// The `fault` of each journal entry `GET /__admin/requests{query}` lists.
async fn journal_faults(h: &Harness, query: &str) -> Vec<Value> {
    let (status, body) = json(
        h.raw(Method::GET, &format!("/__admin/requests{query}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    let faults: Vec<Value> = body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fault"].clone())
        .collect();
    assert_eq!(body["total"], faults.len(), "{query}");
    faults
}

/// `GET /__admin/requests?fault=`: the faulted requests by name (a
/// slow-body of any duration), any fault, or none; a bad value is a 400
/// naming the filter.
#[tokio::test]
async fn the_request_journal_filters_by_fault() {
    let h = Harness::start(Config::fast()).await;
    let id = completed_job(&h).await;
    for header in [
        "X-Mock-Fault: reset\r\n",
        "X-Mock-Fault: close\r\n",
        "X-Mock-Fault: reset\r\n",
        "X-Mock-Fault: slow-body=50ms\r\n",
        "",
    ] {
        exchange(&h, &poll(id, header)).await;
    }
    let all = journal_faults(&h, "").await;
    let unfaulted = all.iter().filter(|f| f.is_null()).count();
    assert!(
        unfaulted >= 2,
        "the create, its polls, the plain poll: {all:?}"
    );
    assert_eq!(
        journal_faults(&h, "?fault=reset").await,
        [json!("reset"), json!("reset")]
    );
    assert_eq!(journal_faults(&h, "?fault=CLOSE").await, [json!("close")]);
    assert_eq!(
        journal_faults(&h, "?fault=slow-body").await,
        [json!("slow-body=50ms")],
        "any duration"
    );
    assert_eq!(journal_faults(&h, "?fault=slow-body=2s").await.len(), 1);
    assert!(journal_faults(&h, "?fault=garbage").await.is_empty());
    assert_eq!(
        journal_faults(&h, "?fault=any").await,
        [
            json!("slow-body=50ms"),
            json!("reset"),
            json!("close"),
            json!("reset")
        ],
        "newest first"
    );
    let none = journal_faults(&h, "?fault=none").await;
    assert_eq!(none.len(), unfaulted);
    assert!(none.iter().all(Value::is_null));
    assert_eq!(
        journal_faults(&h, &format!("?fault=reset&job_id={id}"))
            .await
            .len(),
        2,
        "combined with the other filters"
    );
    for bad in ["explode", "", "slow-body=0s"] {
        let res = h
            .raw(Method::GET, &format!("/__admin/requests?fault={bad}"))
            .send()
            .await
            .unwrap();
        let body = expect_error(res, 400, "invalid_request").await;
        assert!(body["error"].as_str().unwrap().contains("fault"), "{body}");
    }
}
