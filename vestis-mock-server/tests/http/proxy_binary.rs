//! The recording proxy as the binary runs it: the saves at SIGTERM and
//! SIGINT, a `kill -9` that leaves the last save readable, the start's
//! warning for an unreachable backend, and the flags refused before start.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use vestis_mock_server::config::DurationRange;
use vestis_mock_server::{Config, MockServer};

use crate::spawned::{Spawned, command};

const TOKEN: &str = "binary-secret-9d2e";

/// The binary proxying to `upstream`, recording to `record`.
fn recorder(upstream: &MockServer, record: &Path) -> Spawned {
    Spawned::start(
        &[
            "--proxy-to",
            &upstream.api_url(),
            "--record",
            record.to_str().unwrap(),
            "--follow-every",
            "50ms",
        ],
        &[],
    )
}

/// Creates a chat job through `url` and polls it there until terminal.
async fn finished_job(url: &str) -> u64 {
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{url}/api/v1/generate?chat=true"))
        .bearer_auth(TOKEN)
        .json(&json!({"prompt": "a coat"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["job_id"].as_u64().unwrap();
    for _ in 0..500 {
        let job: Value = http
            .get(format!("{url}/api/v1/jobs/{id}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if job["status"] == "completed" {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("job {id} never completed");
}

/// The recording's text, checked to be one and to hold no token (waiting
/// a little for the first write, which follows the "listening" line).
fn read(record: &Path) -> Value {
    for _ in 0..100 {
        if record.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(record).unwrap();
    assert!(!text.contains(TOKEN), "the token is in the file");
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["format"], "vestis-mock-recording");
    value
}

fn statuses(recording: &Value) -> Vec<(u64, String)> {
    recording["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["job_id"].as_u64().unwrap(),
                j["last"]["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sigint_save_the_recording() {
    let upstream = MockServer::start(Config::fast()).await.unwrap();
    for signal in ["-TERM", "-INT"] {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("r.json");
        let mut server = recorder(&upstream, &record);
        // Written once at start, empty: the periodic save (every 5 s) has
        // nothing to add before the signal.
        assert_eq!(read(&record)["jobs"], json!([]));
        let id = finished_job(&server.url).await;
        server.signal(signal);
        assert_eq!(server.wait().0, Some(0), "{signal}");
        assert_eq!(
            statuses(&read(&record)),
            [(id, "completed".to_owned())],
            "{signal}"
        );
        let image = dir.path().join(format!("r.json.images/{id}.png"));
        assert!(image.is_file(), "{signal}: no {}", image.display());
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_leaves_the_last_save_readable() {
    let upstream = MockServer::start(Config::fast()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("r.json");
    let mut server = recorder(&upstream, &record);
    let first = finished_job(&server.url).await;
    let http = reqwest::Client::new();
    let saved: Value = http
        .request(Method::POST, format!("{}/__admin/recording", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(saved["jobs"], 1, "{saved}");
    // Keep it busy with more, then kill it mid-way.
    let url = server.url.clone();
    let more = tokio::spawn(async move {
        for _ in 0..20 {
            finished_job(&url).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.kill();
    more.abort();
    let recording = read(&record);
    assert!(statuses(&recording).contains(&(first, "completed".to_owned())));
    // No temporary file left that a reader could take for it.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("r.json") || n.ends_with(".tmp"))
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.ends_with(".tmp") || n.starts_with(".recording-")),
        "{names:?}"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_reaches_the_logs_even_at_trace() {
    // Jobs long enough for the follower to poll them with the token too.
    let mut config = Config::fast();
    config.faults.processing_time = DurationRange::fixed(Duration::from_millis(300));
    let upstream = MockServer::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("r.json");
    let server = Spawned::start(
        &[
            "--proxy-to",
            &upstream.api_url(),
            "--record",
            record.to_str().unwrap(),
            "--follow-every",
            "50ms",
        ],
        &[("RUST_LOG", "trace")],
    );
    finished_job(&server.url).await;
    let logs = server.stop();
    assert!(logs.len() > 1000, "trace logs expected: {logs}");
    assert!(!logs.contains(TOKEN), "the token is in the logs");
}

#[test]
fn an_unreachable_backend_is_one_warning_at_start_not_fatal() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let to = format!("http://127.0.0.1:{port}/api/v1");
    let server = Spawned::start(&["--proxy-to", &to], &[]);
    let mut logs = String::new();
    for _ in 0..200 {
        logs = server.logs();
        if logs.contains("connection refused") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Still serving: a request is the 502.
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .write_all(b"GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    let out = server.stop();
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{out}");
    assert!(
        warnings[0].contains(&to) && warnings[0].contains("502"),
        "{out}"
    );
}

#[test]
fn record_without_proxy_to_and_an_unwritable_record_exit_2() {
    let out = command().args(["--record", "r.json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--proxy-to"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.json");
    std::fs::write(&notes, "[1, 2]").unwrap();
    for (record, says) in [
        (
            "/nonexistent-dir/r.json".to_owned(),
            "cannot write in /nonexistent-dir",
        ),
        (notes.to_str().unwrap().to_owned(), "not a recording"),
        (dir.path().to_str().unwrap().to_owned(), "is a directory"),
    ] {
        let out = command()
            .args([
                "--port",
                "0",
                "--proxy-to",
                "http://127.0.0.1:9/api/v1",
                "--record",
                &record,
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{record}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("--record: ") && stderr.contains(says),
            "{stderr}"
        );
        assert!(
            out.stdout.is_empty(),
            "it must not have started: {:?}",
            out.stdout
        );
    }
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "[1, 2]");
}

#[test]
fn a_record_file_it_cannot_continue_is_refused_before_the_ready_line() {
    let dir = tempfile::tempdir().unwrap();
    let to = "http://127.0.0.1:9/api/v1";
    let job = json!({
        "job_id": 1, "owner": "fp:0123456789abcdef", "job_type": "chat",
        "last": {"status": "pending", "attempts": 0, "created_at": "2026-12-06T00:00:00.000Z",
                 "started_at": null, "completed_at": null},
        "observations": []
    });
    let recording = |version: Value, source: &str, jobs: Value| {
        json!({
            "format": "vestis-mock-recording", "version": version, "source": source,
            "started_at": "2026-12-06T00:00:00.000Z", "saved_at": "2026-12-06T00:00:00.000Z",
            "jobs": jobs
        })
    };
    let mut missing_field = job.clone();
    missing_field.as_object_mut().unwrap().remove("owner");
    let mut bad_type = job.clone();
    bad_type["job_id"] = json!("one");
    for (name, content, says) in [
        ("newer.json", recording(json!(99), to, json!([])), "newer"),
        (
            "missing.json",
            recording(json!(1), to, json!([missing_field])),
            "owner",
        ),
        (
            "types.json",
            recording(json!(1), to, json!([bad_type])),
            "not a recording",
        ),
        (
            "other.json",
            recording(json!(1), "http://other.example/api/v1", json!([job])),
            "http://other.example/api/v1",
        ),
    ] {
        let path = dir.path().join(name);
        let text = serde_json::to_string(&content).unwrap();
        std::fs::write(&path, &text).unwrap();
        let out = command()
            .args([
                "--port",
                "0",
                "--proxy-to",
                to,
                "--record",
                path.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(
            stderr.contains("--record: ") && stderr.contains(says),
            "{name}: {stderr}"
        );
        if name == "other.json" {
            assert!(stderr.contains(to), "{stderr}");
        }
        assert!(
            out.stdout.is_empty(),
            "{name}: it must not have started: {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "{name}");
    }
}

#[test]
fn the_recording_flags_are_refused_with_replay_or_without_proxy_to() {
    let dir = tempfile::tempdir().unwrap();
    let replay = dir.path().join("replay.json");
    let recording = json!({
        "format": "vestis-mock-recording", "version": 1, "source": "http://h/api/v1",
        "started_at": "2026-12-06T00:00:00.000Z", "saved_at": "2026-12-06T00:00:00.000Z",
        "jobs": []
    });
    std::fs::write(&replay, recording.to_string()).unwrap();
    let record = dir.path().join("r.json");
    let record = record.to_str().unwrap();
    for (flag, value) in [
        ("--record", record),
        ("--follow-every", "1s"),
        ("--proxy-timeout", "5s"),
        ("--proxy-ca-cert", "ca.pem"),
    ] {
        let with_replay = ["--replay", replay.to_str().unwrap()];
        for (others, says) in [(&with_replay[..], "--replay"), (&[][..], "--proxy-to")] {
            let out = command()
                .args(["--port", "0", flag, value])
                .args(others)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{flag} {others:?}: {stderr}");
            assert!(stderr.contains(says) && stderr.contains(flag), "{stderr}");
            assert!(out.stdout.is_empty(), "{flag} {others:?}: it started");
        }
    }
    assert!(!Path::new(record).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_to_without_the_api_path_is_one_warning_suggesting_it() {
    let upstream = MockServer::start(Config::fast()).await.unwrap();
    // The server's root, not its /api/v1: /jobs there is "Route not found".
    let root = upstream.url().to_string();
    let root = root.trim_end_matches('/');
    let server = Spawned::start(&["--proxy-to", root], &[]);
    let mut logs = String::new();
    for _ in 0..250 {
        logs = server.logs();
        if logs.contains("Route not found") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = server.stop();
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{out}");
    assert!(
        warnings[0].contains("Route not found") && warnings[0].contains(&format!("{root}/api/v1")),
        "{out}"
    );
}

#[test]
fn a_follow_every_under_10ms_is_refused_naming_the_flag() {
    let out = command()
        .args([
            "--port",
            "0",
            "--proxy-to",
            "http://127.0.0.1:9/api/v1",
            "--follow-every",
            "5ms",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--follow-every") && stderr.contains("at least 10ms"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "it must not have started");
}
