//! Output into pipes: a closed stdout ends every command quietly, and
//! `--json` is one pretty document per command or one compact object per
//! line for streams, fields in the API's order.

use serde_json::{Value, json};

use crate::util::{Env, config, texts};

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let env = Env::start(config(20));
    env.queue_jobs(1);
    for args in [
        vec!["--json", "status", "1"],
        vec!["status", "1"],
        vec!["--json", "list"],
        vec!["list"],
        vec!["--json", "generate", "legacy", "--no-wait"],
        vec!["generate", "legacy", "--no-wait"],
        vec!["--json", "wait", "1", "--interval", "50ms"],
        vec!["--json", "history"],
        vec!["completions", "bash"],
        vec!["--json", "verify", "--dry-run"],
        vec!["verify", "--dry-run"],
    ] {
        let (code, stderr) = env.run_with_closed_stdout(&args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("vestis:"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_closed_stdout_still_reports_a_failed_job_it_saw() {
    let mut cfg = config(20);
    cfg.faults.failure_rate = 1.0;
    cfg.faults.max_attempts = 1;
    cfg.workers = 1;
    let env = Env::start(cfg);
    env.queue_jobs(1);
    // Job 2 then holds the only worker for an hour: it never finishes here.
    env.api_post("/generate", &[("X-Mock-Duration", "1h")], json!({}));
    // `| head -1`: read job 1's line, then close the pipe.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vestis"))
        .env("VESTIS_HOME", env.home.path())
        .env("VESTIS_API_URL", &env.api)
        .env("VESTIS_TOKEN", "me")
        .args([
            "--json",
            "wait",
            "1",
            "2",
            "--interval",
            "50ms",
            "--timeout",
            "60s",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    assert!(first.contains(r#""status":"failed""#), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("vestis: job 1 failed"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}

/// The positions of `keys` in `text`, which must be increasing.
fn assert_in_order(text: &str, keys: &[&str]) {
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| {
            text.find(&format!("\"{k}\""))
                .unwrap_or_else(|| panic!("{k} missing: {text}"))
        })
        .collect();
    assert!(positions.is_sorted(), "{keys:?} out of order: {text}");
}

const JOB_ORDER: [&str; 6] = [
    "job_id",
    "status",
    "job_type",
    "created_at",
    "attempts",
    "result",
];

#[test]
fn documents_are_pretty_and_in_the_api_order() {
    let env = Env::start(config(20));
    let png = env.home.path().join("out.png");
    let out = env
        .vestis()
        .args([
            "--json",
            "generate",
            "chat",
            "--prompt",
            "x",
            "--interval",
            "50ms",
            "-o",
        ])
        .arg(&png)
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.starts_with("{\n  \"job_id\": 1,\n  \"status\""),
        "{stdout}"
    );
    assert_in_order(&stdout, &JOB_ORDER);
    assert_in_order(&stdout, &["result", "output_path"]);
    let status = texts(
        &env.vestis()
            .args(["--json", "status", "1"])
            .output()
            .unwrap(),
    )
    .0;
    assert!(status.starts_with("{\n  \"job_id\": 1,\n"), "{status}");
    assert_in_order(&status, &JOB_ORDER);
}

#[test]
fn streams_are_one_compact_object_per_line_in_the_api_order() {
    let env = Env::start(config(20));
    env.queue_jobs(2);
    let out = env
        .vestis()
        .args(["--json", "wait", "1", "2", "--interval", "50ms"])
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for line in lines {
        assert!(line.starts_with("{\"job_id\":"), "{line}");
        assert_in_order(line, &JOB_ORDER);
        let job: Value = serde_json::from_str(line).unwrap();
        assert_eq!(job["status"], "completed");
    }
}

/// `vestis --json wait A B | head -1` with B far from done: the wait ends
/// when `head` does, not at B's result (here never: the queue is paused,
/// and without the fix the command would run to its 60 s timeout, exit 3).
#[test]
fn a_wait_ends_when_its_stdout_closes_without_waiting_for_the_next_result() {
    let mut cfg = config(20);
    cfg.paused = true;
    let env = Env::start(cfg);
    env.queue_jobs(1);
    let (code, stderr) = env.run_with_closed_stdout(&[
        "--json",
        "wait",
        "1",
        "--interval",
        "50ms",
        "--timeout",
        "60s",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("vestis:"), "{stderr}");
}
