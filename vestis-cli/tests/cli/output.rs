//! Output stability: non-TTY progress lines and tables are snapshot-tested
//! (the live display on a terminal is tested in `terminal.rs`).

use serde_json::json;

use crate::util::{Env, config, texts};

#[test]
fn progress_lines_without_a_terminal_are_stable() {
    let mut cfg = config(1000);
    cfg.workers = 1;
    let env = Env::start(cfg);
    // Occupy the only worker so the job is seen pending, then processing
    // (3 s: long enough for a slow start of the binary on a loaded machine).
    env.api_post("/generate", &[("X-Mock-Duration", "3s")], json!({}));
    let out = env
        .vestis()
        .args([
            "generate",
            "chat",
            "--prompt",
            "a red dress",
            "--interval",
            "100ms",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    insta::with_settings!({filters => vec![(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT")]}, {
        insta::assert_snapshot!("generate_stdout", stdout);
        insta::assert_snapshot!("generate_stderr", stderr);
    });
}

#[test]
fn quiet_mode_prints_only_data() {
    let env = Env::start(config(20));
    let out = env
        .vestis()
        .args([
            "-q",
            "generate",
            "chat",
            "--prompt",
            "x",
            "--interval",
            "50ms",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert_eq!(stderr, "");
    assert!(stdout.starts_with("job 1 completed"));
}

#[test]
fn tables_and_job_views_are_stable() {
    let env = Env::start(config(20));
    env.vestis()
        .args(["generate", "chat", "--prompt", "one", "--interval", "50ms"])
        .assert()
        .success();
    env.queue_jobs(1);
    env.vestis()
        .args(["wait", "2", "--interval", "20ms"])
        .assert()
        .success();
    let list = texts(&env.vestis().args(["list"]).output().unwrap()).0;
    let status = texts(&env.vestis().args(["status", "1"]).output().unwrap()).0;
    insta::with_settings!({filters => vec![
        (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", "TIMESTAMP"),
        (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "DATETIME"),
        (r"took:      \d+ms", "took:      DURATION"),
        (r"\d+ms\n", "DURATION\n"),
    ]}, {
        insta::assert_snapshot!("list_table", list);
        insta::assert_snapshot!("status_view", status);
    });
}

/// A job error written by the server with terminal escapes in it: every
/// human view shows the escapes as text, and no raw control byte reaches
/// stdout or stderr (it could retitle the window, move the cursor or erase
/// the screen).
#[test]
fn server_text_never_reaches_the_terminal_raw() {
    let env = Env::start(config(5000));
    let created = env.api_post("/generate", &[], json!({}));
    let id = created["job_id"].to_string();
    let hostile = "boom\u{1b}]0;owned\u{7}\u{1b}[2J\rgone";
    env.admin_post_json(&format!("/jobs/{id}/fail"), json!({ "error": hostile }));
    for args in [
        vec!["status", id.as_str(), "--exit-status"],
        vec!["wait", id.as_str()],
    ] {
        let out = env.vestis().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let (stdout, stderr) = texts(&out);
        let all = format!("{stdout}{stderr}");
        assert!(
            all.contains(r"boom\u{1b}]0;owned\u{7}\u{1b}[2J\rgone"),
            "{args:?}: {all:?}"
        );
        assert!(
            !all.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?}: a raw control character in {all:?}"
        );
    }
}
