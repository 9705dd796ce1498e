//! The journal's crash-safety matrix: `vestis generate -o FILE` dies at
//! each failpoint (`VESTIS_FAILPOINT`, an abort as abrupt as SIGKILL) and
//! once by a real SIGKILL while its POST is held by the server's latency;
//! each time the journal must still parse and `vestis resume` must finish
//! the job exactly once, with its image saved and no second job made on
//! the server. Prints a table of what each point left behind.
//!
//! Also here: no token reaches the journal or the CLI's output, even at
//! trace level and on errors.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vestis_mock_server::Config;

use crate::util::{Env, config, texts};

/// What one crash left and what `resume` made of it.
struct Row {
    point: String,
    status_after_crash: String,
    jobs_on_server: u64,
}

fn generate(env: &Env, out: &Path) -> assert_cmd::Command {
    let mut cmd = env.vestis();
    cmd.args(["generate", "legacy", "--interval", "50ms", "-o"])
        .arg(out);
    cmd
}

/// After a crash: the journal parses, `resume` finishes the job, and it
/// all happened once. `created` is whether the dead process could have
/// reached the server (a torn first journal line means it never sent).
fn resume_and_check(env: &Env, out: &Path, point: &str, created: bool) -> Row {
    // The journal parses (the CLI reads it), whatever the crash left.
    let history = env.vestis().args(["history", "--json"]).output().unwrap();
    let (_, err) = texts(&history);
    assert!(history.status.success(), "{point}: history: {err}");
    let status_after_crash = last_status(&env.journal_path());

    let resumed = env
        .vestis()
        .args(["resume", "--interval", "50ms"])
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&resumed);
    assert!(
        resumed.status.success(),
        "{point}: resume failed: {stdout}{stderr}"
    );
    let jobs = env.admin_get("/jobs");
    let total = jobs["total"].as_u64().unwrap();
    if !created {
        assert_eq!(total, 0, "{point}: a job was made behind the user's back");
        assert!(!out.exists(), "{point}");
        return Row {
            point: point.to_owned(),
            status_after_crash,
            jobs_on_server: total,
        };
    }
    assert_eq!(total, 1, "{point}: exactly one job on the server: {jobs}");
    let records = env.records();
    assert_eq!(records.len(), 1, "{point}: one record: {records:?}");
    let record = &records[0];
    assert_eq!(record["status"], "completed", "{point}: {record}");
    assert_eq!(record["job_id"], 1, "{point}: {record}");
    assert_eq!(record["downloaded_to"], json!(out), "{point}: {record}");
    let png = std::fs::read(out).unwrap_or_else(|e| panic!("{point}: no image: {e}"));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{point}: not a PNG");
    // The image is whole (it is only ever renamed into place), and the
    // temporary file a process killed mid-save left is gone: the save
    // that succeeded removed it.
    let dir = out.parent().unwrap();
    let temps: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .map(|e| e.file_name())
        .collect();
    assert!(temps.is_empty(), "{point}: left behind: {temps:?}");
    // And once only: a second resume has nothing to do and makes nothing.
    let again = env.vestis().args(["resume"]).output().unwrap();
    let (_, again_err) = texts(&again);
    assert!(again.status.success(), "{point}: {again_err}");
    assert!(
        again_err.contains("Nothing to resume"),
        "{point}: {again_err}"
    );
    assert_eq!(env.admin_get("/jobs")["total"], 1, "{point}");
    Row {
        point: point.to_owned(),
        status_after_crash,
        jobs_on_server: total,
    }
}

/// The last whole record's status, and whether a torn line follows it.
fn last_status(journal: &Path) -> String {
    let text = std::fs::read_to_string(journal).unwrap_or_default();
    let mut status = "(no record)".to_owned();
    for line in text.lines().skip(1) {
        match serde_json::from_str::<Value>(line) {
            Ok(record) => status = record["status"].as_str().unwrap_or("?").to_owned(),
            Err(_) => status.push_str(" + torn line"),
        }
    }
    status
}

/// Runs `generate` with `point` armed: it must die by the abort.
fn crash_at(point: &str) -> Row {
    let env = Env::start(config(300));
    let out = env.home.path().join("images").join("out.png");
    let crashed = generate(&env, &out)
        .env("VESTIS_FAILPOINT", point)
        .output()
        .unwrap();
    let (_, err) = texts(&crashed);
    assert_eq!(
        crashed.status.code(),
        None,
        "{point}: expected death by signal, got {:?}: {err}",
        crashed.status
    );
    let created = point != "journal-write:1";
    resume_and_check(&env, &out, point, created)
}

const POINTS: [&str; 10] = [
    "before-create",
    "after-create",
    "after-record",
    "mid-wait",
    "journal-write:1",
    "journal-write:2",
    "journal-write:3",
    "journal-write:4",
    "before-download",
    "mid-save",
];

#[test]
fn every_crash_point_resumes_to_exactly_one_saved_job() {
    let mut rows: Vec<Row> = POINTS.iter().map(|p| crash_at(p)).collect();
    rows.push(sigkill_during_post());
    eprintln!(
        "{:<24} {:<26} jobs on server after resume",
        "crash point", "journal after crash"
    );
    for row in &rows {
        eprintln!(
            "{:<24} {:<26} {}",
            row.point, row.status_after_crash, row.jobs_on_server
        );
    }
}

/// A real SIGKILL while the server holds the POST (its latency): the
/// create's outcome is unknown to the CLI.
fn sigkill_during_post() -> Row {
    let mut slow: Config = config(300);
    slow.faults.latency = Duration::from_millis(800);
    let env = Env::start(slow);
    let out = env.home.path().join("out.png");
    let mut child = env.spawn_vestis(&[
        "generate",
        "legacy",
        "--interval",
        "50ms",
        "-o",
        out.to_str().unwrap(),
    ]);
    let started = Instant::now();
    while env.admin_get("/stats")["api_requests"]
        .as_u64()
        .unwrap_or(0)
        == 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the POST never arrived"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    env.admin_patch("/config", json!({"latency": "0s"}));
    resume_and_check(&env, &out, "sigkill-during-post", true)
}

#[test]
fn no_token_reaches_the_journal_or_the_output_even_at_trace_level() {
    let secret = "sekrit-cli-93b1f0";
    let mut locked = config(50);
    locked.tokens = vec![secret.to_owned()];
    let env = Env::start(locked);
    let out = env.home.path().join("t.png");
    let runs = [
        generate(&env, &out)
            .env("VESTIS_TOKEN", secret)
            .env("RUST_LOG", "trace")
            .arg("-v")
            .output()
            .unwrap(),
        env.vestis()
            .args(["list", "-v"])
            .env("VESTIS_TOKEN", secret)
            .env("RUST_LOG", "trace")
            .output()
            .unwrap(),
        env.vestis()
            .args(["status", "99"])
            .env("VESTIS_TOKEN", secret)
            .env("RUST_LOG", "trace")
            .output()
            .unwrap(),
        env.vestis()
            .args(["list"])
            .env("VESTIS_TOKEN", "wrong-sekrit-77")
            .env("RUST_LOG", "trace")
            .output()
            .unwrap(),
        env.vestis()
            .args(["generate", "legacy", "--no-wait"])
            .env("VESTIS_TOKEN", "wrong-sekrit-77")
            .output()
            .unwrap(),
    ];
    assert!(runs[0].status.success(), "{:?}", texts(&runs[0]));
    assert!(!runs[3].status.success());
    let journal = std::fs::read_to_string(env.journal_path()).unwrap();
    let mut seen = journal.clone();
    for run in &runs {
        let (o, e) = texts(run);
        seen.push_str(&o);
        seen.push_str(&e);
    }
    assert!(
        seen.lines().count() > 10,
        "trace output was written: {seen}"
    );
    for token in [secret, "wrong-sekrit-77"] {
        assert!(!seen.contains(token), "{token} leaked:\n{seen}");
    }
    let records: Vec<Value> = env.records();
    assert!(records.iter().all(|r| !r.to_string().contains(secret)));
}
