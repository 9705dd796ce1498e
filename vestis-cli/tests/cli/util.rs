//! A mock server on a background runtime, and the `vestis` command wired to it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use vestis_mock_server::{Config, DurationRange, MockServer};

/// A running mock server and a private `VESTIS_HOME`.
pub(crate) struct Env {
    pub(crate) server: Option<MockServer>,
    pub(crate) api: String,
    pub(crate) home: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
}

/// A seeded config whose attempts take `ms` milliseconds.
pub(crate) fn config(ms: u64) -> Config {
    let mut config = Config {
        seed: Some(5),
        ..Config::default()
    };
    config.faults.processing_time = DurationRange::fixed(Duration::from_millis(ms));
    config
}

impl Env {
    pub(crate) fn start(config: Config) -> Env {
        // This crate builds vestis-client with ring, which leaves reqwest
        // without a provider of its own: the tests' reqwest clients need one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(MockServer::start(config)).unwrap();
        Env {
            api: server.api_url(),
            server: Some(server),
            home: tempfile::tempdir().unwrap(),
            runtime,
        }
    }

    /// `vestis` for this server and home, with token `me`, no terminal.
    pub(crate) fn vestis(&self) -> Command {
        let mut cmd = Command::cargo_bin("vestis").unwrap();
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("VESTIS_HOME", self.home.path())
            .env("VESTIS_API_URL", &self.api)
            .env("VESTIS_TOKEN", "me")
            .timeout(Duration::from_secs(60));
        cmd
    }

    /// Queues `n` legacy jobs with `vestis generate legacy --no-wait`.
    pub(crate) fn queue_jobs(&self, n: usize) {
        for _ in 0..n {
            self.vestis()
                .args(["generate", "legacy", "--no-wait"])
                .assert()
                .success();
        }
    }

    /// The same, as a plain `std::process::Command` (to spawn and signal it).
    pub(crate) fn spawn_vestis(&self, args: &[&str]) -> std::process::Child {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("vestis"))
            .env("VESTIS_HOME", self.home.path())
            .env("VESTIS_API_URL", &self.api)
            .env("VESTIS_TOKEN", "me")
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Runs `vestis ARGS` with its stdout already closed (a pipe whose
    /// reader is gone, as after `| head -1`): its exit code and stderr.
    pub(crate) fn run_with_closed_stdout(&self, args: &[&str]) -> (Option<i32>, String) {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("vestis"))
            .env("VESTIS_HOME", self.home.path())
            .env("VESTIS_API_URL", &self.api)
            .env("VESTIS_TOKEN", "me")
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub(crate) fn journal_path(&self) -> PathBuf {
        self.home.path().join("journal.jsonl")
    }

    /// The journal's records (empty if there is no journal yet).
    pub(crate) fn records(&self) -> Vec<Value> {
        read_records(&self.journal_path())
    }

    /// Sends a raw API request as `me` (for setting up states the CLI cannot).
    pub(crate) fn api_post(&self, path: &str, headers: &[(&str, &str)], body: Value) -> Value {
        let url = format!("{}{path}", self.api);
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.runtime.block_on(async move {
            let mut req = reqwest::Client::new()
                .post(url)
                .bearer_auth("me")
                .json(&body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            req.send().await.unwrap().json().await.unwrap()
        })
    }

    /// `GET /__admin{path}` as JSON.
    pub(crate) fn admin_get(&self, path: &str) -> Value {
        let url = format!("{}/__admin{path}", self.server.as_ref().unwrap().url());
        self.runtime
            .block_on(async move { reqwest::get(url).await.unwrap().json().await.unwrap() })
    }

    /// `PATCH /__admin{path}` with a JSON body.
    pub(crate) fn admin_patch(&self, path: &str, body: Value) {
        let url = format!("{}/__admin{path}", self.server.as_ref().unwrap().url());
        self.runtime.block_on(async move {
            let res = reqwest::Client::new()
                .patch(url)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success(), "{}", res.text().await.unwrap());
        });
    }

    pub(crate) fn admin_post(&self, path: &str) {
        let url = format!("{}/__admin{path}", self.server.as_ref().unwrap().url());
        self.runtime.block_on(async move {
            reqwest::Client::new().post(url).send().await.unwrap();
        });
    }

    /// `POST /__admin{path}` with a JSON body; panics unless it succeeded.
    pub(crate) fn admin_post_json(&self, path: &str, body: Value) {
        let url = format!("{}/__admin{path}", self.server.as_ref().unwrap().url());
        self.runtime.block_on(async move {
            let answer = reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(answer.status().is_success(), "{}", answer.status());
        });
    }
}

/// The journal's records, replayed from its log as docs/cli.md describes
/// it: a header line, then record snapshots, the last per `key` winning.
pub(crate) fn read_records(path: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    // Only whole lines: a test that polls may read while the CLI is still
    // writing the file (created, header not yet written; a record half
    // written).
    let whole = text.rfind('\n').map_or("", |end| &text[..=end]);
    let mut lines = whole.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let header: Value = serde_json::from_str(header).unwrap();
    assert_eq!(header["vestis_journal"], 2, "{header}");
    let mut records: Vec<Value> = Vec::new();
    for line in lines {
        let record: Value = serde_json::from_str(line).unwrap();
        match records.iter_mut().find(|r| r["key"] == record["key"]) {
            Some(old) => *old = record,
            None => records.push(record),
        }
    }
    records
}

/// `stdout` as one JSON document, or a panic showing what it was.
pub(crate) fn json_of(stdout: &[u8]) -> Value {
    serde_json::from_slice(stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(stdout)))
}

/// stdout and stderr of a finished command, as text.
pub(crate) fn texts(output: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
