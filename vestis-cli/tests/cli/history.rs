//! `vestis history`: what this machine started, as a table or `--json`,
//! and `--forget ID` / `--clear`.

use serde_json::json;

use crate::util::{Env, config, json_of, texts};

#[test]
fn history_lists_what_this_machine_started() {
    let env = Env::start(config(20));
    env.vestis()
        .args(["generate", "chat", "--prompt", "first look", "--no-wait"])
        .assert()
        .success();
    env.vestis()
        .args(["generate", "chat", "--prompt", "second look", "--no-wait"])
        .assert()
        .success();
    let out = env.vestis().args(["history"]).output().unwrap();
    let (stdout, _) = texts(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].starts_with("ID  KIND  STATUS") && lines[0].contains("API URL"),
        "a header: {stdout}"
    );
    assert!(
        lines[1].starts_with("2 ") && lines[1].contains("second look"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("1 ") && lines[2].contains("first look"),
        "{stdout}"
    );
    assert!(lines[1].contains(&env.api), "the API URL: {stdout}");
    let out = env
        .vestis()
        .args(["--json", "history", "--limit", "1"])
        .output()
        .unwrap();
    let records = json_of(&out.stdout);
    assert_eq!(records.as_array().unwrap().len(), 1);
    assert_eq!(records[0]["summary"], "second look");
    // A cut list says so (on stderr, so --json stays a document).
    let (_, stderr) = texts(&out);
    assert!(
        stderr.contains("showing the newest 1 of 2 records (--limit N for more)"),
        "{stderr}"
    );
}

#[test]
fn history_forgets_one_job_or_everything() {
    let env = Env::start(config(20));
    env.queue_jobs(3);
    let out = env
        .vestis()
        .args(["history", "--forget", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", texts(&out).1);
    assert!(
        texts(&out).0.starts_with("Forgot 1 record "),
        "{}",
        texts(&out).0
    );
    let ids: Vec<u64> = env
        .records()
        .iter()
        .map(|r| r["job_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 3]);
    let out = env
        .vestis()
        .args(["--json", "history", "--clear"])
        .output()
        .unwrap();
    assert_eq!(json_of(&out.stdout), json!({"forgotten": 2}));
    assert!(env.records().is_empty());
    let out = env.vestis().args(["history"]).output().unwrap();
    assert!(texts(&out).0.starts_with("No jobs in the journal"));
}
