#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test
//! Proxies as users meet them: whichever proxy variable is set, requests to
//! loopback never reach the proxy; other URLs do, and an error the proxy
//! wrote says it came from the proxy.
//!
//! The proxy variables are read when a client is built, and a test must not
//! change its own process's environment (other tests run in parallel), so
//! each case re-runs this test binary as a child with the variables set.
//! The parent runs a fake proxy (a listener on 127.0.0.1:0 that records
//! every connection and answers `502` in plain text); the child runs the
//! client and reports through its exit status.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use vestis_client::{Client, Error, JobId};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Set in a child: which scenario to run.
const SCENARIO: &str = "VESTIS_PROXY_TEST_SCENARIO";

/// A fake HTTP proxy: counts connections, answers each with a plain 502.
struct FakeProxy {
    url: String,
    hits: Arc<AtomicUsize>,
}

fn fake_proxy() -> FakeProxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: 11\r\nconnection: close\r\n\r\nbad gateway",
            );
        }
    });
    FakeProxy { url, hits }
}

/// Runs `scenario` in a child of this test binary with `vars` set (and
/// every other proxy variable removed); panics unless the child passes.
fn run_child(scenario: &str, vars: &[(&str, &str)]) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child", "--nocapture", "--test-threads=1"]);
    for name in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "REQUEST_METHOD",
    ] {
        cmd.env_remove(name);
    }
    cmd.env(SCENARIO, scenario).envs(vars.iter().copied());
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "child {scenario} with {vars:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("child ran"),
        "the child test did not run"
    );
}

#[test]
fn loopback_never_goes_through_a_proxy_whichever_variable_is_set() {
    let proxy = fake_proxy();
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
    ] {
        for scenario in ["loopback-ip", "localhost"] {
            run_child(scenario, &[(var, &proxy.url)]);
        }
    }
    assert_eq!(proxy.hits.load(Ordering::SeqCst), 0, "the proxy was used");
}

#[test]
fn other_urls_use_the_proxy_and_its_errors_say_so() {
    let proxy = fake_proxy();
    run_child(
        "remote",
        &[("HTTP_PROXY", &proxy.url), ("PROXY_URL", &proxy.url)],
    );
    assert_eq!(proxy.hits.load(Ordering::SeqCst), 1);
    run_child(
        "remote",
        &[("all_proxy", &proxy.url), ("PROXY_URL", &proxy.url)],
    );
    assert_eq!(proxy.hits.load(Ordering::SeqCst), 2);
}

/// The child side: does nothing unless run by [`run_child`].
#[tokio::test]
async fn child() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    match scenario.as_str() {
        "loopback-ip" | "localhost" => {
            let server = MockServer::start().await;
            Mock::given(method("GET"))
                .and(path("/api/v1/jobs/1"))
                .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                    "job_id": 1, "status": "pending", "job_type": "chat",
                    "created_at": "2026-11-28T10:00:00.000Z"
                })))
                .mount(&server)
                .await;
            let base = match scenario.as_str() {
                "localhost" => server.uri().replace("127.0.0.1", "localhost"),
                _ => server.uri(),
            };
            let client = Client::builder()
                .base_url(format!("{base}/api/v1"))
                .token("secret")
                .build()
                .unwrap();
            let job = client.get(JobId(1)).await.unwrap();
            assert_eq!(job.job_id, JobId(1));
            let image = client
                .download(&format!("{base}/api/v1/jobs/1"))
                .await
                .unwrap();
            assert!(!image.is_empty());
        }
        "remote" => {
            // `.invalid` never resolves: only the proxy can answer.
            let client = Client::builder()
                .base_url("http://api.vestis.invalid/api/v1")
                .token("secret")
                .build()
                .unwrap();
            let err = client.get(JobId(1)).await.unwrap_err();
            let proxy = std::env::var("PROXY_URL").unwrap();
            match &err {
                Error::Server(e) => {
                    assert_eq!(e.status, 502);
                    assert_eq!(e.proxy.as_deref(), Some(proxy.as_str()));
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(
                err.to_string(),
                format!(
                    "server error: Bad Gateway (HTTP 502 from the proxy {proxy}, not from the API)"
                )
            );
        }
        other => panic!("unknown scenario {other}"),
    }
    println!("child ran");
}
