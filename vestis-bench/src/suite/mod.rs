//! The measures and what they share: where the binaries are, how each
//! server is started, the checks that make a run fail, and small HTTP
//! helpers for setting servers up (never for measuring them: wrk does that).

pub(crate) mod batch;
pub(crate) mod http;
pub(crate) mod journal;
pub(crate) mod list;
pub(crate) mod queue;
pub(crate) mod sdk;
pub(crate) mod startup;

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use vestis_bench::server::Server;

/// The three servers the HTTP measures compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arm {
    Axum,
    Wiremock,
    Vestis,
}

impl Arm {
    pub(crate) const ALL: [Arm; 3] = [Arm::Axum, Arm::Wiremock, Arm::Vestis];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Arm::Axum => "bare axum",
            Arm::Wiremock => "wiremock-rs",
            Arm::Vestis => "vestis-mock-server",
        }
    }
}

/// The run's settings and the checks that failed so far.
#[derive(Debug)]
pub(crate) struct Suite {
    bin_dir: PathBuf,
    /// Runs per arm; medians are reported.
    pub(crate) runs: usize,
    /// Length of one wrk run.
    pub(crate) duration: Duration,
    /// CI's seconds-long mode: small sizes, no warm-up.
    pub(crate) smoke: bool,
    failures: Vec<String>,
    pub(crate) http: reqwest::Client,
}

impl Suite {
    pub(crate) fn new(bin_dir: PathBuf, runs: usize, duration: Duration, smoke: bool) -> Suite {
        Suite {
            bin_dir,
            runs,
            duration,
            smoke,
            failures: Vec::new(),
            http: reqwest::Client::new(),
        }
    }

    /// A size: `full` normally, `smoke` in smoke mode.
    pub(crate) fn size(&self, full: usize, smoke: usize) -> usize {
        if self.smoke { smoke } else { full }
    }

    pub(crate) fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    /// Starts a fresh server of `arm`; `vestis_args` go to the mock server only.
    pub(crate) fn start(&self, arm: Arm, vestis_args: &[&str]) -> anyhow::Result<Server> {
        match arm {
            Arm::Axum => Server::spawn(&self.bin("bench-axum"), &[]),
            Arm::Wiremock => Server::spawn(&self.bin("bench-wiremock"), &[]),
            Arm::Vestis => {
                let mut args = vec!["--port".to_owned(), "0".to_owned()];
                args.extend(vestis_args.iter().map(|a| (*a).to_owned()));
                Server::spawn(&self.bin("vestis-mock-server"), &args)
            }
        }
    }

    /// Records a failed check; the run goes on and exits non-zero at the end.
    pub(crate) fn fail(&mut self, what: String) {
        eprintln!("FAILED: {what}");
        self.failures.push(what);
    }

    /// Checks `ok`, recording `what` when it is false.
    pub(crate) fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.fail(what());
        }
    }

    /// Runs a warm-up wrk load (skipped in smoke mode), so every measured
    /// run starts with connections, caches and allocator warm.
    pub(crate) fn warm_up(&self, load: &vestis_bench::wrk::Load) -> anyhow::Result<()> {
        if !self.smoke {
            let mut warm = load.clone();
            warm.duration = Duration::from_secs(1);
            warm.run()?;
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> ExitCode {
        if self.failures.is_empty() {
            println!("suite: every measure ran and every check passed");
            ExitCode::SUCCESS
        } else {
            println!("suite: {} check(s) failed:", self.failures.len());
            for f in &self.failures {
                println!("  - {f}");
            }
            ExitCode::FAILURE
        }
    }

    /// `POST {base}/api/v1/generate?chat=true` as `token`; the new job's id.
    pub(crate) async fn create(&self, base: &str, token: &str) -> anyhow::Result<u64> {
        let res = self
            .http
            .post(format!("{base}/api/v1/generate?chat=true"))
            .bearer_auth(token)
            .json(&serde_json::json!({"prompt": "a red dress on a hanger"}))
            .send()
            .await?;
        let status = res.status();
        let body: Value = res.json().await?;
        if status != 202 {
            bail!("create answered {status}: {body}");
        }
        body["job_id"].as_u64().context("no job_id in the 202")
    }

    /// Polls the job until it is `completed` (at most ~10 s).
    pub(crate) async fn completed(&self, base: &str, token: &str, id: u64) -> anyhow::Result<()> {
        for _ in 0..1000 {
            let job: Value = self
                .http
                .get(format!("{base}/api/v1/jobs/{id}"))
                .bearer_auth(token)
                .send()
                .await?
                .json()
                .await?;
            if job["status"] == "completed" {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bail!("job {id} did not complete")
    }

    /// Stored jobs, from `/__admin/stats`.
    pub(crate) async fn stored(&self, base: &str) -> anyhow::Result<u64> {
        let stats: Value = self
            .http
            .get(format!("{base}/__admin/stats"))
            .send()
            .await?
            .json()
            .await?;
        stats["jobs_stored"]
            .as_u64()
            .context("no jobs_stored in /__admin/stats")
    }
}

/// One line about the machine: cores, CPU model, kernel, load, wrk version.
pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let wrk = Command::new("wrk")
        .arg("--version")
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default();
    format!(
        "machine: {cores} cores, {cpu}, Linux {}, load average {}; {}",
        kernel.trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        wrk.split(" Copyright").next().unwrap_or("")
    )
}
