//! `vestis generate` against the mock server's transport faults
//! (`docs/faults.md`): resets, empty replies, cut bodies, garbage and slow
//! bodies on polls, and on creates, and every job still finishes, once.

use serde_json::json;
use vestis_mock_server::FaultOn;

use crate::util::{Env, config};

/// Runs `vestis generate chat` `runs` times against `env`; each must finish.
fn generate_all(env: &Env, runs: usize) {
    for run in 0..runs {
        let out = env
            .vestis()
            .args([
                "generate",
                "chat",
                "--prompt",
                "a red dress",
                "--interval",
                "20ms",
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "run {run}: {stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("completed"), "run {run}: {stdout}");
    }
}

#[test]
fn generate_finishes_every_job_with_faults_on_its_polls() {
    let mut config = config(60);
    config.faults.fault_rate = 0.3;
    config.faults.fault_kinds = "reset,close,truncate,garbage,slow-body=100ms"
        .parse()
        .unwrap();
    config.faults.fault_on = FaultOn::Polls;
    let env = Env::start(config);
    generate_all(&env, 6);
    let stats = env.admin_get("/stats");
    assert_eq!(stats["jobs_stored"], 6, "no duplicate job: {stats}");
    assert!(
        stats["faults_injected_total"].as_u64().unwrap() >= 3,
        "the polls were faulted: {stats}"
    );
    let records = env.records();
    assert_eq!(records.len(), 6);
    assert!(
        records.iter().all(|r| r["status"] == "completed"),
        "{records:?}"
    );
}

#[test]
fn generate_makes_one_job_each_when_creates_are_reset_too() {
    let env = Env::start(config(40));
    env.admin_patch(
        "/config",
        json!({"fault_rate": 0.3, "faults": "reset,close,garbage", "fault_on": "all"}),
    );
    generate_all(&env, 6);
    let stats = env.admin_get("/stats");
    assert_eq!(
        stats["jobs_stored"], 6,
        "the retried creates made no second job: {stats}"
    );
    let journal = env.admin_get("/requests?method=POST");
    let faulted_creates = journal["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["fault"].is_string())
        .count();
    assert!(faulted_creates >= 1, "a create was faulted: {journal}");
}
