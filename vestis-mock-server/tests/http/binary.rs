//! The `vestis-mock-server` binary: one line on stdout when ready, flags and
//! env vars (the time and state ones included), one-line errors, and a
//! graceful exit 0 on SIGTERM/SIGINT.

use crate::spawned::{Spawned, command};

#[cfg(unix)]
#[tokio::test]
async fn prints_its_address_serves_and_stops_gracefully() {
    let mut server = Spawned::start(&["--processing-time", "10ms"], &[("VESTIS_MOCK_SEED", "3")]);
    let url = server
        .first_line
        .trim_end()
        .strip_prefix("vestis-mock-server listening on http://127.0.0.1:")
        .map(|port| format!("http://127.0.0.1:{port}"))
        .unwrap_or_else(|| panic!("unexpected first line {:?}", server.first_line));
    let res = reqwest::get(format!("{url}/health")).await.unwrap();
    assert_eq!(res.status(), 200);
    let config: serde_json::Value = reqwest::get(format!("{url}/__admin/config"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["processing_time"], "10ms");
    server.signal("-TERM");
    let (code, rest) = server.wait();
    assert_eq!(code, Some(0));
    assert!(rest.is_empty(), "exactly one line on stdout: {rest:?}");

    let mut server = Spawned::start(&[], &[]);
    server.signal("-INT");
    assert_eq!(server.wait().0, Some(0));
}

/// Every way the binary can fail before serving prints one line on stderr
/// (`main` prints errors in one place) and exits with its documented code
/// (`main` maps them in one place): 2 for what the user wrote (a bad
/// flag, a value out of range, a bad fixtures file, `--threads 0`), 1 for
/// what the machine refused (a busy port, an unhealthy `--healthcheck`).
#[test]
fn every_failure_is_one_line_and_its_exit_code() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port().to_string();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port().to_string();
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let fixtures = dir.path().join("bad.json");
    std::fs::write(&fixtures, r#"[{"token": "t", "status": "done"}]"#).unwrap();
    let fixtures = fixtures.to_str().unwrap();
    // (flags, exit code, what stderr says, whether it is ours: clap's own
    // usage errors add a usage block, ours are one line).
    for (args, code, says, ours) in [
        (vec!["--no-such-flag"], 2, "--no-such-flag", false),
        (vec!["--threads", "0"], 2, "--threads", false),
        (vec!["--failure-rate", "7"], 2, "probability", false),
        (
            vec!["--port", "0", "--fixtures", fixtures],
            2,
            "entry 0",
            true,
        ),
        (
            vec!["--port", &busy_port],
            1,
            "cannot listen on 127.0.0.1:",
            true,
        ),
        (
            vec!["--healthcheck", "--port", &closed_port],
            1,
            "unhealthy: http://127.0.0.1:",
            true,
        ),
    ] {
        let out = command()
            .args(&args)
            .env_remove("VESTIS_MOCK_HOST")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} never listened");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        if ours {
            assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
            assert!(stderr.starts_with("vestis-mock-server: "), "{stderr}");
        }
    }
}

#[test]
fn help_never_shows_the_secret_tokens() {
    let out = command()
        .arg("--help")
        .env("VESTIS_MOCK_TOKENS", "s3cret-token")
        .env("VESTIS_MOCK_PORT", "4123")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(help.contains("VESTIS_MOCK_TOKENS"), "{help}");
    assert!(!help.contains("s3cret-token"), "{help}");
    let short = command()
        .arg("-h")
        .env("VESTIS_MOCK_TOKENS", "s3cret-token")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&short.stdout).contains("s3cret-token"));
}

#[test]
fn a_bad_fixtures_file_names_its_entry_and_the_server_does_not_start() {
    let dir = std::env::temp_dir().join(format!("vestis-fixtures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.json");
    std::fs::write(
        &file,
        r#"[{"token": "t", "status": "completed"}, {"token": "t", "status": "done"}]"#,
    )
    .unwrap();
    let out = command()
        .args(["--port", "0", "--fixtures"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty(), "it never listened");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("entry 1: status:"), "{stderr}");
    assert!(stderr.contains("\"done\""), "{stderr}");
}

/// A GET or POST on the binary's admin API, as JSON.
async fn admin(url: &str, method: reqwest::Method, path: &str) -> serde_json::Value {
    json_of(reqwest::Client::new().request(method, format!("{url}/__admin{path}"))).await
}

/// A request's answer, as JSON.
async fn json_of(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Creates a chat job as token `t`: its JSON answer.
async fn create_chat(http: &reqwest::Client, url: &str, prompt: &str) -> serde_json::Value {
    json_of(
        http.post(format!("{url}/api/v1/generate?chat=true"))
            .bearer_auth("t")
            .json(&serde_json::json!({ "prompt": prompt })),
    )
    .await
}

/// A job as token `t` sees it.
async fn job_of(http: &reqwest::Client, url: &str, id: u64) -> serde_json::Value {
    json_of(http.get(format!("{url}/api/v1/jobs/{id}")).bearer_auth("t")).await
}

#[cfg(unix)]
#[tokio::test]
async fn the_time_and_state_flags_reach_the_server() {
    use reqwest::Method;
    let dir = std::env::temp_dir().join(format!("vestis-flags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fixtures = dir.join("history.json");
    std::fs::write(
        &fixtures,
        r#"[{"job_id": 41, "token": "t", "status": "failed"}, {"token": "t", "status": "pending"}]"#,
    )
    .unwrap();
    let fixtures = fixtures.to_str().unwrap();
    let mut server = Spawned::start(
        &[
            "--realistic",
            "--clock",
            "manual",
            "--paused",
            "--fixtures",
            fixtures,
            "--journal-size",
            "2",
        ],
        &[("VESTIS_MOCK_POLLS", "2")],
    );
    let _ = std::fs::remove_dir_all(&dir);
    let url = server.url.clone();
    assert_eq!(admin(&url, Method::GET, "/clock").await["mode"], "manual");
    assert_eq!(admin(&url, Method::GET, "/queue").await["paused"], true);
    let jobs = admin(&url, Method::GET, "/jobs").await;
    assert_eq!(jobs["total"], 2, "{jobs}");
    assert_eq!(jobs["jobs"][0]["job_id"], 42, "{jobs}");
    // --polls 2 (from the environment): a new job is processing on its
    // first poll and completed on its second, paused queue or not.
    let http = reqwest::Client::new();
    let created = create_chat(&http, &url, "x").await;
    assert_eq!(created["job_id"], 43, "ids continue after the fixtures");
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let job = job_of(&http, &url, 43).await;
        statuses.push(job["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(statuses, ["processing", "completed"]);
    // --journal-size 2: three API requests, two kept.
    assert_eq!(admin(&url, Method::GET, "/requests").await["total"], 2);
    // --realistic: the fault settings say so.
    assert_eq!(
        admin(&url, Method::GET, "/config").await["processing_time"],
        "2m..3m"
    );
    server.signal("-TERM");
    assert_eq!(server.wait().0, Some(0));
}

/// The threads a process runs, from `/proc`.
#[cfg(target_os = "linux")]
fn threads_of(server: &Spawned) -> usize {
    std::fs::read_dir(format!("/proc/{}/task", server.pid()))
        .unwrap()
        .count()
}

/// `--threads` (and `VESTIS_MOCK_THREADS`) sets how many threads answer
/// HTTP: one event loop by default, a worker pool when more are asked; the
/// API, the images (drawn on the blocking pool) and the graceful stop work
/// either way, and 0 is a usage error.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn threads_set_the_http_runtime_and_both_serve() {
    for (args, envs, least, most) in [
        (vec![], vec![], 1, 1),
        (vec!["--threads", "3"], vec![], 4, usize::MAX),
        (vec![], vec![("VESTIS_MOCK_THREADS", "2")], 3, usize::MAX),
    ] {
        let mut all = vec!["--processing-time", "0s"];
        all.extend(args.iter().copied());
        let mut server = Spawned::start(&all, &envs);
        let url = server.url.clone();
        let threads = threads_of(&server);
        assert!(
            (least..=most).contains(&threads),
            "{args:?} {envs:?}: {threads} threads"
        );
        let http = reqwest::Client::new();
        let id = create_chat(&http, &url, "p").await["job_id"]
            .as_u64()
            .unwrap();
        let mut job = serde_json::Value::Null;
        for _ in 0..200 {
            job = job_of(&http, &url, id).await;
            if job["status"] == "completed" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(job["status"], "completed", "{job}");
        let image_url = job["result"]["image_url"].as_str().unwrap();
        let png = http.get(image_url).send().await.unwrap();
        assert_eq!(png.status(), 200);
        assert_eq!(png.headers()["content-type"], "image/png");
        assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG"));
        server.signal("-TERM");
        assert_eq!(server.wait().0, Some(0));
    }
    let out = command().args(["--threads", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The transport fault variables reach the binary's settings and its wire.
#[cfg(unix)]
#[tokio::test]
async fn the_fault_variables_reach_the_server() {
    use reqwest::Method;
    let mut server = Spawned::start(
        &[],
        &[
            ("VESTIS_MOCK_FAULT_RATE", "1"),
            ("VESTIS_MOCK_FAULTS", "close,slow-body=1s"),
            ("VESTIS_MOCK_FAULT_ON", "creates"),
        ],
    );
    let url = server.url.clone();
    let config = admin(&url, Method::GET, "/config").await;
    assert_eq!(config["fault_rate"], 1.0, "{config}");
    assert_eq!(config["faults"], "close,slow-body=1s", "{config}");
    assert_eq!(config["fault_on"], "creates", "{config}");
    // Only creates are faulted, every one: a poll is answered.
    let http = reqwest::Client::new();
    let res = http
        .get(format!("{url}/api/v1/jobs"))
        .bearer_auth("t")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let stats = admin(&url, Method::GET, "/stats").await;
    assert_eq!(stats["faults_injected_total"], 0, "{stats}");
    server.signal("-TERM");
    assert_eq!(server.wait().0, Some(0));
}
