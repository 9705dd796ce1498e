//! Each command in human and `--json` form, and each exit code.

use serde_json::{Value, json};

use crate::util::{Env, config, json_of, texts};

#[test]
fn generate_waits_saves_the_png_and_prints_the_url() {
    let env = Env::start(config(50));
    let png = env.home.path().join("out/dress.png");
    let out = env
        .vestis()
        .args([
            "generate",
            "chat",
            "--prompt",
            "a red dress",
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
        stdout.starts_with("job 1 completed: http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(stdout.contains("saved to"));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let records = env.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["status"], "completed");
    assert_eq!(records[0]["job_id"], 1);
    assert!(
        records[0]["image_url"]
            .as_str()
            .unwrap()
            .ends_with("/images/1.png")
    );
    assert!(
        records[0]["downloaded_to"]
            .as_str()
            .unwrap()
            .ends_with("dress.png")
    );
    assert!(
        records[0].get("payload").is_none(),
        "the payload is dropped once the job exists"
    );
    assert!(
        !std::fs::read_to_string(env.journal_path())
            .unwrap()
            .contains("\"me\""),
        "never the token"
    );
}

#[test]
fn an_unwritable_output_path_exits_2_and_keeps_the_job() {
    let env = Env::start(config(20));
    let blocker = env.home.path().join("a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let out = env
        .vestis()
        .args([
            "generate",
            "chat",
            "--prompt",
            "x",
            "--interval",
            "50ms",
            "-o",
        ])
        .arg(blocker.join("dress.png"))
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("could not be saved"), "{stderr}");
    let records = env.records();
    assert_eq!(records[0]["status"], "completed");
    assert!(records[0]["image_url"].is_string(), "the image URL is kept");
}

#[test]
fn generate_json_prints_the_final_job() {
    let env = Env::start(config(20));
    let out = env
        .vestis()
        .args([
            "--json",
            "generate",
            "flatlay",
            "--model-id",
            "1",
            "--background-id",
            "2",
            "--product",
            "{\"sku\":\"A\"}",
            "--product",
            "B",
            "--interval",
            "50ms",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", texts(&out).1);
    let job = json_of(&out.stdout);
    assert_eq!(job["status"], "completed");
    assert_eq!(job["job_type"], "flatlay");
    assert!(job["result"]["image_url"].is_string());
}

#[test]
fn generate_no_wait_prints_the_id_or_the_create_response() {
    let env = Env::start(config(20));
    let out = env
        .vestis()
        .args(["generate", "legacy", "--no-wait"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
    let out = env
        .vestis()
        .args(["--json", "generate", "mdoli", "--no-wait", "--prompt", "p"])
        .output()
        .unwrap();
    assert_eq!(
        json_of(&out.stdout),
        json!({"success": true, "job_id": 2, "status": "pending", "message": "Job queued for processing"})
    );
}

#[test]
fn generate_sends_payload_files_and_local_images() {
    let env = Env::start(config(20));
    let payload = env.home.path().join("p.json");
    std::fs::write(&payload, r#"{"prompt": "from a file", "extra": 1}"#).unwrap();
    let out = env
        .vestis()
        .args(["generate", "chat", "--no-wait", "--payload"])
        .arg(&payload)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", texts(&out).1);
    let image = env.home.path().join("ref.png");
    std::fs::write(&image, [0x89, b'P', b'N', b'G']).unwrap();
    let out = env
        .vestis()
        .args(["generate", "chat", "--no-wait", "--prompt", "x", "--image"])
        .arg(&image)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = env
        .vestis()
        .args(["generate", "onmodel", "--no-wait", "--payload", "-"])
        .write_stdin(r#"{"images": ["https://example.com/a.png"]}"#)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", texts(&out).1);
    // What the server stored, newest first.
    let jobs = env.admin_get("/jobs")["jobs"].clone();
    assert_eq!(
        jobs[2]["payload"],
        json!({"prompt": "from a file", "extra": 1})
    );
    assert_eq!(
        jobs[1]["payload"],
        json!({"prompt": "x", "images": ["data:image/png;base64,iVBORw=="]})
    );
    assert_eq!(jobs[0]["job_type"], "onmodel");
    assert_eq!(
        jobs[0]["payload"],
        json!({"images": ["https://example.com/a.png"]})
    );
}

#[test]
fn invalid_input_exits_2_with_one_line() {
    let env = Env::start(config(20));
    for args in [
        vec!["generate", "chat"],
        vec!["generate", "chat", "--prompt", "  "],
        vec!["generate", "flatlay", "--model-id", "1"],
        vec![
            "generate",
            "chat",
            "--prompt",
            "x",
            "--image",
            "/no/such.png",
        ],
        vec!["generate", "chat", "--payload", "/no/such.json"],
        vec!["generate", "sketch", "--prompt", "x"],
        vec!["generate", "chat", "--prompt", "x", "--timeout", "soon"],
        vec!["list", "--page-size", "0"],
        vec!["status", "abc"],
        vec!["wait"],
        vec!["--bogus"],
    ] {
        let out = env.vestis().args(&args).output().unwrap();
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("vestis: "), "{stderr}");
        assert!(stdout.is_empty());
    }
    assert!(
        env.records().is_empty(),
        "nothing was journaled for rejected input"
    );
}

#[test]
fn a_missing_token_is_a_usage_error() {
    let env = Env::start(config(20));
    let out = env
        .vestis()
        .env_remove("VESTIS_TOKEN")
        .args(["list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(texts(&out).1.contains("VESTIS_TOKEN"));
}

#[test]
fn status_shows_one_job_and_can_exit_on_its_status() {
    let mut cfg = config(20);
    cfg.faults.failure_rate = 1.0;
    cfg.faults.max_attempts = 1;
    let env = Env::start(cfg);
    env.queue_jobs(1);
    // Until it has failed (no sleeping on a guess).
    env.vestis()
        .args(["wait", "1", "--interval", "20ms"])
        .assert()
        .code(1);
    let out = env.vestis().args(["status", "1"]).output().unwrap();
    let (stdout, _) = texts(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout.contains("Job 1 (legacy)") && stdout.contains("failed"),
        "{stdout}"
    );
    let out = env
        .vestis()
        .args(["--json", "status", "1"])
        .output()
        .unwrap();
    assert_eq!(json_of(&out.stdout)["status"], "failed");
    let out = env
        .vestis()
        .args(["status", "1", "--exit-status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(texts(&out).1, "vestis: job 1 failed\n");
    let out = env.vestis().args(["status", "99"]).output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        texts(&out).1,
        "vestis: not found: Job not found (HTTP 404)\n"
    );
}

#[test]
fn a_failed_job_exits_1() {
    let mut cfg = config(20);
    cfg.faults.failure_rate = 1.0;
    cfg.faults.max_attempts = 2;
    let env = Env::start(cfg);
    let out = env
        .vestis()
        .args(["generate", "chat", "--prompt", "x", "--interval", "30ms"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .trim_end()
            .ends_with("failed: Image generation failed after 2 attempts"),
        "{stderr}"
    );
    assert_eq!(env.records()[0]["status"], "failed");
}

#[test]
fn list_shows_a_table_or_the_page() {
    let env = Env::start(config(20));
    env.queue_jobs(3);
    let out = env
        .vestis()
        .args(["list", "--page-size", "2"])
        .output()
        .unwrap();
    let (stdout, _) = texts(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("ID  KIND"), "{stdout}");
    assert!(
        lines[1].starts_with("3 ") && lines[2].starts_with("2 "),
        "{stdout}"
    );
    assert_eq!(lines[3], "Page 1 of 2 (3 jobs)");
    let out = env
        .vestis()
        .args(["--json", "list", "--page", "2", "--page-size", "2"])
        .output()
        .unwrap();
    let page = json_of(&out.stdout);
    assert_eq!(
        page["metadata"],
        json!({"page": 2, "page_size": 2, "total": 3, "total_pages": 2})
    );
    assert_eq!(page["jobs"][0]["job_id"], 1);
    let out = env
        .vestis()
        .args(["list", "--status", "cancelled"])
        .output()
        .unwrap();
    assert_eq!(texts(&out).0, "No jobs.\nPage 1 of 1 (0 jobs)\n");
    let out = env.vestis().args(["list", "--page", "3"]).output().unwrap();
    assert_eq!(
        texts(&out).0,
        "No jobs on page 3.\nPage 3 is past the last page (1); 3 jobs in all\n"
    );
}

#[test]
fn cancel_pending_jobs_and_report_conflicts() {
    let mut cfg = config(60_000);
    cfg.workers = 1;
    let env = Env::start(cfg);
    env.queue_jobs(3);
    let out = env.vestis().args(["cancel", "2"]).output().unwrap();
    assert_eq!(texts(&out).0, "Cancelled job 2\n");
    let out = env
        .vestis()
        .args(["--json", "cancel", "3"])
        .output()
        .unwrap();
    assert_eq!(json_of(&out.stdout)["status"], "cancelled");
    let out = env.vestis().args(["cancel", "1"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a processing job cannot be cancelled"
    );
    assert!(texts(&out).1.contains("processing"));
    let out = env.vestis().args(["cancel", "42"]).output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    let out = env.vestis().args(["cancel", "1", "42"]).output().unwrap();
    assert_eq!(out.status.code(), Some(5), "the largest per-job code");
    let stderr = texts(&out).1;
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "one line per job, then the summary: {stderr}"
    );
    assert!(lines[0].starts_with("vestis: job 1: conflict"), "{stderr}");
    assert!(
        lines[1].starts_with("vestis: job 42: not found"),
        "{stderr}"
    );
    assert_eq!(lines[2], "vestis: 2 of 2 jobs could not be cancelled");
    let records = env.records();
    assert_eq!(records[1]["status"], "cancelled");
}

#[test]
fn wait_attaches_to_several_jobs_and_prints_json_lines() {
    let env = Env::start(config(100));
    env.queue_jobs(3);
    let out = env
        .vestis()
        .args(["--json", "wait", "1", "2", "3", "--interval", "50ms"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", texts(&out).1);
    let lines: Vec<Value> = texts(&out)
        .0
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let mut ids: Vec<u64> = lines
        .iter()
        .map(|j| j["job_id"].as_u64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, [1, 2, 3]);
    assert!(lines.iter().all(|j| j["status"] == "completed"));
    assert!(env.records().iter().all(|r| r["status"] == "completed"));
}

#[test]
fn wait_times_out_with_exit_3_and_can_cancel() {
    let mut cfg = config(60_000);
    cfg.workers = 1;
    let env = Env::start(cfg);
    env.queue_jobs(2);
    let out = env
        .vestis()
        .args(["wait", "1", "--timeout", "300ms", "--interval", "100ms"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with("vestis: job 1 did not finish within 3")
            && last.ends_with(
                "ms (still processing); it keeps running on the server: re-attach with `vestis wait 1`"
            ),
        "a human duration, and how to re-attach: {stderr}"
    );
    // With --json, the unfinished job in the API's order: id, error, code.
    let out = env
        .vestis()
        .args([
            "--json",
            "wait",
            "1",
            "--timeout",
            "300ms",
            "--interval",
            "100ms",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(
        line.starts_with(r#"{"job_id":1,"error":"timed out after "#)
            && line.trim_end().ends_with(r#","code":"timed_out"}"#),
        "{line}"
    );
    let out = env
        .vestis()
        .args([
            "wait",
            "2",
            "--timeout",
            "300ms",
            "--interval",
            "100ms",
            "--cancel-on-timeout",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = texts(&out).1;
    assert!(
        stderr
            .trim_end()
            .ends_with("ms (still pending) and was cancelled on the server"),
        "{stderr}"
    );
    let out = env
        .vestis()
        .args(["--json", "status", "2"])
        .output()
        .unwrap();
    assert_eq!(json_of(&out.stdout)["status"], "cancelled");
}

#[test]
fn a_rejected_token_exits_4() {
    let mut cfg = config(20);
    cfg.tokens = vec!["good".into()];
    let env = Env::start(cfg);
    let out = env.vestis().args(["list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    let out = env
        .vestis()
        .env("VESTIS_TOKEN", "good")
        .args(["list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn an_unreachable_server_exits_6() {
    let env = Env::start(config(20));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = env
        .vestis()
        .args([
            "--api-url",
            &format!("http://127.0.0.1:{port}/api/v1"),
            "status",
            "1",
        ])
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert_eq!(stderr.lines().count(), 1);
    assert_eq!(
        stderr,
        format!("vestis: cannot connect to 127.0.0.1:{port}: connection refused\n"),
        "each cause once"
    );
}

#[test]
fn completions_are_printed_and_their_set_up_is_documented() {
    let env = Env::start(config(20));
    for (shell, marker) in [
        ("bash", "complete -F _vestis"),
        ("zsh", "#compdef vestis"),
        ("fish", "complete -c vestis"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer"),
    ] {
        let out = env.vestis().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert!(texts(&out).0.contains(marker), "{shell}");
    }
    let out = env
        .vestis()
        .args(["completions", "--help"])
        .output()
        .unwrap();
    let (help, _) = texts(&out);
    for line in [
        "mkdir -p ~/.zfunc && vestis completions zsh > ~/.zfunc/_vestis",
        "fpath=(~/.zfunc $fpath)",
        "mkdir -p ~/.local/share/bash-completion/completions",
        "~/.config/fish/completions/vestis.fish",
        "vestis completions powershell >> $PROFILE",
        "vestis completions elvish >> ~/.config/elvish/rc.elv",
        "writes no files",
    ] {
        assert!(help.contains(line), "{line}: {help}");
    }
    let before: Vec<_> = std::fs::read_dir(env.home.path()).unwrap().collect();
    assert!(before.is_empty(), "completions created nothing");
}

#[test]
fn help_documents_the_exit_codes() {
    let env = Env::start(config(20));
    let out = env.vestis().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let (stdout, _) = texts(&out);
    assert!(
        stdout.contains("Exit codes:") && stdout.contains("130"),
        "{stdout}"
    );
}

#[test]
fn mock_runs_the_whole_job_with_nothing_else_running() {
    let env = Env::start(config(20));
    let png = env.home.path().join("dress.png");
    let out = env
        .vestis()
        .env_remove("VESTIS_API_URL")
        .env_remove("VESTIS_TOKEN")
        .args([
            "--mock",
            "generate",
            "chat",
            "--prompt",
            "a linen summer dress",
            "--interval",
            "200ms",
            "-o",
        ])
        .arg(&png)
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("completed"), "{stdout}");
    assert!(stderr.contains("Generation complete!"), "{stderr}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}
