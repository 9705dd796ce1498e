//! The `vestis-mock-server` binary: one line on stdout when ready, flags and
//! env vars (the time and state ones included), one-line errors, and a
//! graceful exit 0 on SIGTERM/SIGINT.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

fn start(args: &[&str], envs: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vestis-mock-server"))
        .args(args)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[cfg(unix)]
#[tokio::test]
async fn prints_its_address_serves_and_stops_gracefully() {
    let (child, line) = start(
        &["--port", "0", "--processing-time", "10ms"],
        &[("VESTIS_MOCK_SEED", "3")],
    );
    let url = line
        .trim_end()
        .strip_prefix("vestis-mock-server listening on http://127.0.0.1:")
        .map(|port| format!("http://127.0.0.1:{port}"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let res = reqwest::get(format!("{url}/health")).await.unwrap();
    assert_eq!(res.status(), 200);
    let config: serde_json::Value = reqwest::get(format!("{url}/__admin/config"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["processing_time"], "10ms");
    signal(&child, "-TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty(), "exactly one line on stdout");

    let (child, _) = start(&["--port", "0"], &[]);
    signal(&child, "-INT");
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
}

#[test]
fn bad_flags_and_busy_ports_fail_with_one_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_vestis-mock-server"))
        .args(["--failure-rate", "7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_vestis-mock-server"))
        .args(["--port", &port])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot listen"), "{stderr}");
}

#[test]
fn help_never_shows_the_secret_tokens() {
    let out = Command::new(env!("CARGO_BIN_EXE_vestis-mock-server"))
        .arg("--help")
        .env("VESTIS_MOCK_TOKENS", "s3cret-token")
        .env("VESTIS_MOCK_PORT", "4123")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(help.contains("VESTIS_MOCK_TOKENS"), "{help}");
    assert!(!help.contains("s3cret-token"), "{help}");
    let short = Command::new(env!("CARGO_BIN_EXE_vestis-mock-server"))
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
    let out = Command::new(env!("CARGO_BIN_EXE_vestis-mock-server"))
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

/// The base URL the ready line names.
fn listening_url(line: &str) -> String {
    line.trim_end()
        .strip_prefix("vestis-mock-server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned()
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
    let (child, line) = start(
        &[
            "--port",
            "0",
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
    let url = listening_url(&line);
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
    signal(&child, "-TERM");
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
}

/// The threads a process runs, from `/proc`.
#[cfg(target_os = "linux")]
fn threads_of(child: &Child) -> usize {
    std::fs::read_dir(format!("/proc/{}/task", child.id()))
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
        let mut all = vec!["--port", "0", "--processing-time", "0s"];
        all.extend(args.iter().copied());
        let (child, line) = start(&all, &envs);
        let url = listening_url(&line);
        let threads = threads_of(&child);
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
        signal(&child, "-TERM");
        assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_vestis-mock-server"))
        .args(["--threads", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The transport fault variables reach the binary's settings and its wire.
#[cfg(unix)]
#[tokio::test]
async fn the_fault_variables_reach_the_server() {
    use reqwest::Method;
    let (child, line) = start(
        &["--port", "0"],
        &[
            ("VESTIS_MOCK_FAULT_RATE", "1"),
            ("VESTIS_MOCK_FAULTS", "close,slow-body=1s"),
            ("VESTIS_MOCK_FAULT_ON", "creates"),
        ],
    );
    let url = listening_url(&line);
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
    signal(&child, "-TERM");
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
}
