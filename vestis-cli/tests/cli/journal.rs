//! Crash safety: a job started from the CLI is never lost.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{Env, config, read_records, texts};

/// Waits until the journal has a record with a job id (bounded).
fn wait_for_job_id(env: &Env) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if env.records().iter().any(|r| r["job_id"].is_u64()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the CLI never journaled a job id");
}

/// Waits until the CLI has seen its job on the server (the record is
/// pinned to it): it is then in its wait loop.
fn wait_until_watching(env: &Env) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if env
            .records()
            .iter()
            .any(|r| r["job_created_at"].is_string())
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the CLI never saw its job");
}

fn spawn_generate(env: &Env, output: &std::path::Path) -> std::process::Child {
    let output = output.to_str().unwrap();
    env.spawn_vestis(&[
        "generate",
        "chat",
        "--prompt",
        "survive me",
        "--interval",
        "50ms",
        "-o",
        output,
    ])
}

#[test]
fn sigkill_mid_wait_then_resume_finishes_the_job_and_records_the_image() {
    let env = Env::start(config(1500));
    let png = env.home.path().join("survivor.png");
    let mut child = spawn_generate(&env, &png);
    wait_for_job_id(&env);
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let record = &env.records()[0];
    assert!(
        matches!(record["status"].as_str(), Some("pending" | "processing")),
        "{record}"
    );
    assert!(!png.exists());

    let out = env
        .vestis()
        .args(["resume", "--interval", "50ms"])
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("job 1 completed"), "{stdout}");
    let record = &env.records()[0];
    assert_eq!(record["status"], "completed");
    assert!(
        record["image_url"]
            .as_str()
            .unwrap()
            .ends_with("/images/1.png")
    );
    assert_eq!(
        record["downloaded_to"].as_str().unwrap(),
        png.to_str().unwrap()
    );
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");

    // Nothing left: a second resume has nothing to do.
    let out = env.vestis().args(["resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(texts(&out).1.contains("Nothing to resume"));
}

#[test]
fn a_create_whose_answer_was_lost_is_replayed_with_its_key() {
    let env = Env::start(config(50));
    // Simulate a kill between the journal write and the server's answer:
    // the record has a key and a payload but no job id.
    let now = "2026-11-28T10:00:00.000Z";
    let journal = serde_json::json!({"version": 1, "records": [{
        "key": "lost-answer-key", "api_url": env.api, "identity": fingerprint_of("me"),
        "job_id": null, "kind": "chat", "summary": "lost", "created_at": now, "updated_at": now,
        "status": "submitting", "payload": {"prompt": "lost"}
    }]});
    // A version-1 journal (one JSON document), as CLIs before the log wrote it.
    std::fs::write(env.home.path().join("journal.json"), journal.to_string()).unwrap();
    // The POST had in fact reached the server:
    let created = env.api_post(
        "/generate?chat=true",
        &[("Idempotency-Key", "lost-answer-key")],
        serde_json::json!({"prompt": "lost"}),
    );
    assert_eq!(created["job_id"], 1);

    let out = env
        .vestis()
        .args(["resume", "--interval", "50ms"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("got no answer: asking again with its idempotency key"),
        "resume says what it replays: {stderr}"
    );
    let records = env.records();
    assert_eq!(records[0]["job_id"], 1, "the replay found the original job");
    assert_eq!(records[0]["status"], "completed");
    let out = env.vestis().args(["--json", "list"]).output().unwrap();
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page["metadata"]["total"], 1, "no second job");
}

/// The journal's token fingerprint (FNV-1a, as the CLI computes it).
fn fingerprint_of(token: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in token.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[test]
fn jobs_the_server_forgot_are_marked_gone_and_not_resumed_again() {
    let env = Env::start(config(60_000));
    env.queue_jobs(1);
    env.admin_post("/reset"); // the server forgets job 1
    let out = env
        .vestis()
        .args(["resume", "--interval", "50ms"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", texts(&out).1);
    assert_eq!(env.records()[0]["status"], "gone");
    let out = env.vestis().args(["resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(texts(&out).1.contains("Nothing to resume"));
}

#[test]
fn two_processes_generating_at_once_both_end_up_in_the_journal() {
    let env = Env::start(config(200));
    let children: Vec<_> = (0..2)
        .map(|i| {
            let prompt = format!("process {i}");
            env.spawn_vestis(&[
                "generate",
                "chat",
                "--prompt",
                &prompt,
                "--interval",
                "50ms",
            ])
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let records = read_records(&env.journal_path());
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r["status"] == "completed"));
    let mut summaries: Vec<&str> = records
        .iter()
        .map(|r| r["summary"].as_str().unwrap())
        .collect();
    summaries.sort();
    assert_eq!(summaries, ["process 0", "process 1"]);
}

#[test]
fn a_corrupt_journal_is_reported_and_left_alone() {
    let env = Env::start(config(20));
    std::fs::write(env.journal_path(), "{ this is not json").unwrap();
    let out = env
        .vestis()
        .args(["generate", "chat", "--prompt", "x"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("journal.json")
            && stderr.contains("corrupt")
            && stderr.contains("move it aside"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
    assert_eq!(
        std::fs::read_to_string(env.journal_path()).unwrap(),
        "{ this is not json"
    );
    let out = env.vestis().args(["--json", "list"]).output().unwrap();
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        page["metadata"]["total"], 0,
        "no job was created without a journal record"
    );
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_waiting_keeps_the_job_and_exits_130() {
    let env = Env::start(config(60_000));
    let png = env.home.path().join("later.png");
    let child = spawn_generate(&env, &png);
    wait_until_watching(&env);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr
            .trim_end()
            .ends_with("re-attach with `vestis wait 1`"),
        "{stderr}"
    );
    let record = &env.records()[0];
    assert!(matches!(
        record["status"].as_str(),
        Some("pending" | "processing")
    ));
    // The job is still there, and `resume` can pick it up once it finishes.
    env.admin_post("/jobs/1/complete");
    let out = env
        .vestis()
        .args(["resume", "--interval", "50ms"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", texts(&out).1);
    assert!(png.exists());
}

#[cfg(unix)]
fn interrupt(child: std::process::Child) -> (Option<i32>, String) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[cfg(unix)]
#[test]
fn wait_after_ctrl_c_saves_where_generate_was_asked() {
    let env = Env::start(config(60_000));
    let png = env.home.path().join("ctrlc.png");
    let child = spawn_generate(&env, &png);
    wait_until_watching(&env);
    let (code, stderr) = interrupt(child);
    assert_eq!(code, Some(130), "{stderr}");
    env.admin_post("/jobs/1/complete");
    // The hint's command, with no -o: the journal remembers the path.
    let out = env
        .vestis()
        .args(["wait", "1", "--interval", "50ms"])
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains(&format!("saved to {}", png.display())),
        "{stdout}"
    );
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");
    assert_eq!(
        env.records()[0]["downloaded_to"].as_str(),
        png.to_str(),
        "the record knows"
    );
}

#[cfg(unix)]
#[test]
fn a_reset_server_reusing_an_id_never_updates_the_old_record() {
    let env = Env::start(config(60_000));
    let first = env.home.path().join("first.png");
    let second = env.home.path().join("second.png");
    // Job 1 of the first server lifetime, never finished.
    env.vestis()
        .args(["generate", "chat", "--prompt", "first", "--no-wait", "-o"])
        .arg(&first)
        .assert()
        .success();
    env.admin_post("/reset");
    // Job 1 again, on the reset server, interrupted.
    let child = env.spawn_vestis(&[
        "generate",
        "chat",
        "--prompt",
        "second",
        "--interval",
        "50ms",
        "-o",
        second.to_str().unwrap(),
    ]);
    let start = Instant::now();
    while env.records().iter().filter(|r| r["job_id"] == 1).count() < 2 {
        assert!(start.elapsed() < Duration::from_secs(20), "no second job 1");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, stderr) = interrupt(child);
    assert_eq!(code, Some(130), "{stderr}");
    env.admin_post("/jobs/1/complete");

    let out = env
        .vestis()
        .args(["resume", "--interval", "50ms"])
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Resuming 1 job..."), "{stderr}");
    assert!(
        stderr.contains("Not resuming job 1"),
        "the old record is reported: {stderr}"
    );
    assert_eq!(stdout.matches("completed").count(), 1, "{stdout}");
    assert!(second.exists());
    assert!(
        !first.exists(),
        "the old record's path is never used for the new job"
    );
    let records = env.records();
    assert_eq!(records[0]["summary"], "first");
    assert_eq!(records[0]["status"], "gone");
    assert!(records[0]["downloaded_to"].is_null(), "{}", records[0]);
    assert_eq!(records[1]["status"], "completed");
    assert_eq!(records[1]["downloaded_to"].as_str(), second.to_str());
    assert_ne!(records[0]["job_created_at"], records[1]["job_created_at"]);
}

/// A port with nothing listening on it.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_create_that_never_left_is_not_sent_and_never_replayed() {
    let env = Env::start(config(20));
    let api = format!("http://127.0.0.1:{}/api/v1", closed_port());
    let out = env
        .vestis()
        .args(["--api-url", &api, "generate", "chat", "--prompt", "x"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("never reached a server"), "{stderr}");
    let record = &env.records()[0];
    assert_eq!(record["status"], "not_sent", "{record}");
    assert!(record.get("payload").is_none(), "nothing kept to replay");
    let out = env
        .vestis()
        .args(["--api-url", &api, "resume"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", texts(&out).1);
    assert!(texts(&out).1.contains("Nothing to resume"));
}

#[test]
fn a_create_whose_outcome_is_unknown_is_kept_for_resume_which_says_so() {
    let env = Env::start(config(20));
    // A server that reads each request and hangs up without answering.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let api = format!("http://{}/api/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let _ = std::io::Read::read(&mut stream, &mut [0u8; 4096]);
        }
    });
    let out = env
        .vestis()
        .args(["--api-url", &api, "generate", "chat", "--prompt", "x"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("`vestis resume` asks again"), "{stderr}");
    let record = &env.records()[0];
    assert_eq!(record["status"], "submitting", "{record}");
    assert_eq!(record["payload"]["prompt"], "x", "kept to replay");
}

#[test]
fn mock_jobs_are_never_resumable() {
    let env = Env::start(config(20));
    let out = env
        .vestis()
        .env_remove("VESTIS_API_URL")
        .args(["--mock", "--json", "generate", "legacy", "--no-wait"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", texts(&out).1);
    let record = &env.records()[0];
    assert_eq!(record["mock"], true, "{record}");
    assert!(
        matches!(record["status"].as_str(), Some("pending" | "processing")),
        "unfinished when its server stopped: {record}"
    );
    let api = record["api_url"].as_str().unwrap().to_owned();
    let out = env
        .vestis()
        .args(["--api-url", &api, "resume"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", texts(&out).1);
    assert!(texts(&out).1.contains("Nothing to resume"));
}
