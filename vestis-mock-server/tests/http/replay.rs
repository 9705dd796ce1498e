//! `--replay`: a recording (written here by hand, in the documented
//! format) replayed as a living queue: recorded jobs as last seen and
//! owned by the mapped tokens, kept images offline, new jobs drawn per
//! type from the recorded trajectories, seeds, and the controls on top.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vestis_client::Timestamp;
use vestis_mock_server::{ClockMode, Config, DurationRange, Replay};

use crate::spawned::{Spawned, command};
use crate::util::{Harness, json};

/// The recordings' epoch: every recorded time is this plus an offset.
fn at(ms: u64) -> Value {
    let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_000_000_000 + ms);
    serde_json::to_value(Timestamp(t)).unwrap()
}

fn time(v: &Value) -> Timestamp {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"))
}

/// The fingerprint a token's jobs are recorded under, as the mock shows it.
pub(crate) async fn fingerprint(token: &str) -> String {
    let h = Harness::start(Config::fast()).await;
    let id = h.chat(token).await;
    let (_, job) = json(
        h.raw(Method::GET, &format!("/__admin/jobs/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    job["token_fingerprint"].as_str().unwrap().to_owned()
}

/// A recorded job: created at `created`, its first attempt `wait` ms
/// later, ended `processing` ms after that (when terminal).
#[derive(Clone)]
pub(crate) struct Rec {
    pub(crate) id: u64,
    pub(crate) owner: String,
    pub(crate) kind: &'static str,
    pub(crate) status: &'static str,
    pub(crate) attempts: u32,
    pub(crate) created: u64,
    pub(crate) wait: u64,
    pub(crate) processing: u64,
    pub(crate) error: Option<&'static str>,
    pub(crate) image: Option<&'static str>,
}

impl Rec {
    pub(crate) fn new(id: u64, owner: &str, kind: &'static str, status: &'static str) -> Rec {
        Rec {
            id,
            owner: owner.to_owned(),
            kind,
            status,
            attempts: 1,
            created: id * 100,
            wait: 1000,
            processing: 2000,
            error: None,
            image: None,
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let started = (self.attempts > 0).then(|| at(self.created + self.wait));
        let terminal = matches!(self.status, "completed" | "failed" | "cancelled");
        let last = json!({
            "status": self.status,
            "attempts": self.attempts,
            "created_at": at(self.created),
            "started_at": started,
            "completed_at": terminal.then(|| at(self.created + self.wait + self.processing)),
            "error": self.error,
        });
        let mut seen = last.clone();
        seen["seen_at"] = at(self.created + self.wait + self.processing + 5);
        json!({
            "job_id": self.id,
            "owner": self.owner,
            "job_type": self.kind,
            "payload": {"prompt": format!("recorded {}", self.id)},
            "last": last,
            "observations": [seen],
            "image": self.image,
        })
    }
}

/// Writes a recording of `jobs` to `dir/recording.json`.
pub(crate) fn write_recording(dir: &Path, jobs: &[Rec]) -> PathBuf {
    let path = dir.join("recording.json");
    let doc = json!({
        "format": "vestis-mock-recording",
        "version": 1,
        "source": "https://staging.example/api/v1",
        "started_at": at(0),
        "saved_at": at(3_600_000),
        "jobs": jobs.iter().map(Rec::to_json).collect::<Vec<_>>(),
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    path
}

/// A replaying server on a manual clock with many workers (so only the
/// recorded waits hold jobs back).
fn replay_config(path: &Path, tokens: &[&str], seed: u64) -> Config {
    let mut config = Config::fast();
    config.replay = Some(Replay::from_file(path).unwrap());
    config.tokens = tokens.iter().map(|t| (*t).to_owned()).collect();
    config.clock = ClockMode::Manual;
    config.workers = 64;
    config.seed = Some(seed);
    config
}

async fn post(h: &Harness, path: &str, body: Value) -> (StatusCode, Value) {
    json(h.raw(Method::POST, path).json(&body).send().await.unwrap()).await
}

async fn advance(h: &Harness, by: &str) {
    let (status, body) = post(h, "/__admin/clock/advance", json!({ "by": by })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// (queue wait, processing time, attempts, status, error) of a job, from
/// its own timestamps.
fn trajectory(job: &Value) -> (u128, u128, u64, String, Option<String>) {
    let created = time(&job["created_at"]);
    let started = time(&job["started_at"]);
    let completed = time(&job["completed_at"]);
    (
        started.duration_since(created).as_millis(),
        completed.duration_since(started).as_millis(),
        job["attempts"].as_u64().unwrap(),
        job["status"].as_str().unwrap().to_owned(),
        job["error"].as_str().map(str::to_owned),
    )
}

const PNG_BYTES: &[u8] = b"\x89PNG\r\n\x1a\nkept by the recorder";

#[tokio::test]
async fn recorded_jobs_load_as_last_seen_owned_by_their_tokens_with_their_images() {
    let (alice, bob) = (fingerprint("alice").await, fingerprint("bob").await);
    let top = tempfile::tempdir().unwrap();
    // The recording in its own directory; a file beside that directory.
    let dir = top.path().join("recordings");
    std::fs::create_dir_all(dir.join("recording.json.images")).unwrap();
    std::fs::write(dir.join("recording.json.images/1.png"), PNG_BYTES).unwrap();
    std::fs::write(top.path().join("secret.txt"), "not for the web").unwrap();
    let mut done = Rec::new(1, &alice, "chat", "completed");
    done.image = Some("recording.json.images/1.png");
    let mut failed = Rec::new(2, &alice, "flatlay", "failed");
    (failed.attempts, failed.error) = (3, Some("GPU out of memory"));
    let pending = Rec::new(3, &alice, "chat", "pending");
    let mut processing = Rec::new(4, &alice, "chat", "processing");
    processing.processing = 0;
    let mut bobs = Rec::new(5, &bob, "chat", "completed");
    bobs.image = Some("../secret.txt");
    let mut missing = Rec::new(6, &alice, "chat", "completed");
    missing.image = Some("recording.json.images/6.png");
    let jobs = [done, failed, pending, processing, bobs, missing];
    let path = write_recording(&dir, &jobs);
    // A token spelled like bob's fingerprint is not bob.
    let h = Harness::start(replay_config(&path, &["alice", &bob], 1)).await;

    let (status, one) = h.get("alice", 1).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["status"], "completed");
    assert_eq!(
        trajectory(&one),
        (1000, 2000, 1, "completed".into(), None),
        "terminal jobs keep their recorded times' shape"
    );
    let (_, two) = h.get("alice", 2).await;
    assert_eq!(
        trajectory(&two),
        (
            1000,
            2000,
            3,
            "failed".into(),
            Some("GPU out of memory".into())
        )
    );

    // Kept image, served offline; a path out of the directory and a
    // missing one fall back to the mock's own PNG.
    let image = |id: u64| h.raw(Method::GET, &format!("/images/{id}.png")).send();
    let kept = image(1).await.unwrap();
    assert_eq!(kept.headers()["content-type"], "image/png");
    assert_eq!(kept.bytes().await.unwrap(), PNG_BYTES);
    assert!(
        one["result"]["image_url"]
            .as_str()
            .unwrap()
            .ends_with("/images/1.png"),
        "{one}"
    );
    for id in [5, 6] {
        let body = image(id).await.unwrap().bytes().await.unwrap();
        assert!(
            body.starts_with(b"\x89PNG") && !body.ends_with(b"recorder"),
            "job {id}"
        );
        assert!(!String::from_utf8_lossy(&body).contains("not for the web"));
    }

    // Bob's job is nobody's here: not under his fingerprint as a token,
    // only in the admin API, under his fingerprint.
    let (status, _) = h.get(&bob, 5).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = json(h.api(&bob, Method::GET, "/jobs").send().await.unwrap()).await;
    assert_eq!(page["metadata"]["total"], 0, "{page}");
    let (_, admin) = json(h.raw(Method::GET, "/__admin/jobs/5").send().await.unwrap()).await;
    assert_eq!(admin["token_fingerprint"], bob.as_str(), "{admin}");
    let (_, mine) = json(
        h.raw(Method::GET, &format!("/__admin/jobs?token={bob}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(mine["total"], 1, "{mine}");
    let (_, page) = json(h.api("alice", Method::GET, "/jobs").send().await.unwrap()).await;
    assert_eq!(page["metadata"]["total"], 5, "{page}");

    // GET /__admin/recording summarises the replayed file.
    let (status, summary) = json(
        h.raw(Method::GET, "/__admin/recording")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(
        (summary["replay"].as_bool(), summary["jobs"].as_u64()),
        (Some(true), Some(6))
    );
    assert_eq!(summary["types"]["chat"]["jobs"], 5, "{summary}");
    assert_eq!(
        summary["types"]["flatlay"]["processing_time"]["median_ms"],
        2000
    );

    // Unfinished ones continue, drawn from the recorded chats (1, 5, 6:
    // each waits 1 s and runs 2 s): pending 3 waits, then runs.
    let (_, three) = h.get("alice", 3).await;
    assert_eq!(three["status"], "pending");
    advance(&h, "1h").await;
    for id in [3, 4] {
        let (_, job) = h.get("alice", id).await;
        assert_eq!(job["status"], "completed", "{job}");
    }
    // New jobs get ids past the recorded ones.
    assert_eq!(h.chat("alice").await, 7);

    // A reset loads the recording again.
    post(&h, "/__admin/reset", json!(null)).await;
    let (_, three) = h.get("alice", 3).await;
    assert_eq!(three["status"], "pending", "{three}");
}

/// Three recorded chat trajectories, one failing with its own message;
/// no flatlay at all.
fn chat_trajectories(owner: &str) -> Vec<Rec> {
    let mut a = Rec::new(1, owner, "chat", "completed");
    (a.wait, a.processing, a.attempts) = (1000, 2000, 1);
    let mut b = Rec::new(2, owner, "chat", "completed");
    (b.wait, b.processing, b.attempts) = (0, 4000, 2);
    let mut c = Rec::new(3, owner, "chat", "failed");
    (c.wait, c.processing, c.attempts, c.error) = (2000, 3000, 3, Some("Model overloaded"));
    vec![a, b, c]
}

/// Creates `n` chats and one flatlay on a replay with `seed`, plays the
/// clock out, and returns each new job's trajectory.
async fn replayed(
    path: &Path,
    seed: u64,
    n: usize,
) -> Vec<(u128, u128, u64, String, Option<String>)> {
    let mut config = replay_config(path, &["alice"], seed);
    config.faults.processing_time = DurationRange::fixed(Duration::from_secs(5));
    let h = Harness::start(config).await;
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(h.chat("alice").await);
    }
    let flatlay = h
        .create(
            "alice",
            "?flatlay=true",
            json!({"modelId": "1", "backgroundId": 2, "products": [{"id": 1}]}),
        )
        .await;
    ids.push(flatlay);
    // Step by step, so requeued attempts find the clock where they left it.
    for _ in 0..20 {
        advance(&h, "1s").await;
    }
    let mut out = Vec::new();
    for id in ids {
        let (_, job) = h.get("alice", id).await;
        out.push(trajectory(&job));
    }
    out
}

#[tokio::test]
async fn new_jobs_replay_whole_recorded_jobs_of_their_type_and_the_seed_fixes_which() {
    let alice = fingerprint("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_recording(dir.path(), &chat_trajectories(&alice));
    let first = replayed(&path, 11, 30).await;
    let recorded = [
        (1000, 2000, 1, "completed".to_owned(), None),
        (0, 4000, 2, "completed".to_owned(), None),
        (
            2000,
            3000,
            3,
            "failed".to_owned(),
            Some("Model overloaded".to_owned()),
        ),
    ];
    let (chats, flatlay) = first.split_at(30);
    for t in chats {
        assert!(recorded.contains(t), "not a recorded trajectory: {t:?}");
    }
    for r in &recorded {
        assert!(chats.contains(r), "never drawn in 30: {r:?}");
    }
    // No flatlay was recorded: the mock's own settings (5 s, no failures).
    assert_eq!(flatlay[0], (0, 5000, 1, "completed".to_owned(), None));
    // The same seed draws the same jobs; another seed, others.
    assert_eq!(replayed(&path, 11, 30).await, first);
    assert_ne!(replayed(&path, 12, 30).await, first);
}

#[tokio::test]
async fn the_manual_clock_pause_and_x_mock_headers_work_on_top_of_a_replay() {
    let alice = fingerprint("alice").await;
    let dir = tempfile::tempdir().unwrap();
    // Every recorded chat fails, every recorded flatlay completes.
    let mut fail = Rec::new(1, &alice, "chat", "failed");
    (fail.wait, fail.processing, fail.attempts, fail.error) = (500, 1000, 1, Some("No capacity"));
    let mut ok = Rec::new(2, &alice, "flatlay", "completed");
    (ok.wait, ok.processing) = (500, 1000);
    let path = write_recording(dir.path(), &[fail, ok]);
    let mut config = replay_config(&path, &["alice"], 3);
    config.paused = true;
    let h = Harness::start(config).await;

    let plain = h.chat("alice").await;
    let outcome = |value: &'static str| {
        h.api("alice", Method::POST, "/generate?chat=true")
            .header("X-Mock-Outcome", value)
            .json(&json!({"prompt": "p"}))
            .send()
    };
    let forced: Value = outcome("complete").await.unwrap().json().await.unwrap();
    let forced = forced["job_id"].as_u64().unwrap();
    let timed: Value = h
        .api("alice", Method::POST, "/generate?flatlay=true")
        .header("X-Mock-Duration", "7s")
        .header("X-Mock-Outcome", "fail")
        .json(&json!({"modelId": "1", "backgroundId": 2, "products": [{"id": 1}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let timed = timed["job_id"].as_u64().unwrap();

    // Paused: past every recorded wait, nothing starts.
    advance(&h, "1m").await;
    for id in [plain, forced, timed] {
        assert_eq!(h.get("alice", id).await.1["status"], "pending");
    }
    post(&h, "/__admin/queue/resume", json!(null)).await;
    assert_eq!(h.get("alice", plain).await.1["status"], "processing");
    // The manual clock alone moves them: 1 s into a 1 s attempt, ended.
    advance(&h, "999ms").await;
    assert_eq!(h.get("alice", plain).await.1["status"], "processing");
    advance(&h, "1ms").await;
    let (_, job) = h.get("alice", plain).await;
    assert_eq!(
        (job["status"].as_str(), job["error"].as_str()),
        (Some("failed"), Some("No capacity"))
    );
    // X-Mock-Outcome: complete beats the recorded failure.
    assert_eq!(h.get("alice", forced).await.1["status"], "completed");
    // X-Mock-Outcome: fail and X-Mock-Duration beat the recorded success:
    // three 7 s attempts (--max-attempts), the mock's own message.
    advance(&h, "21s").await;
    let (_, job) = h.get("alice", timed).await;
    assert_eq!(trajectory(&job).1, 21_000, "{job}");
    assert_eq!(job["attempts"], 3);
    assert_eq!(job["error"], "Image generation failed after 3 attempts");
}

#[tokio::test]
async fn per_type_processing_times_apply_to_their_types_and_patch_at_run_time() {
    let mut config = Config::fast();
    config.clock = ClockMode::Manual;
    config.workers = 16;
    config.faults.processing_time = DurationRange::fixed(Duration::from_secs(9));
    config.faults.processing_time_by_type = "chat=300ms..600ms,flatlay=1s..2s".parse().unwrap();
    let h = Harness::start(config).await;
    let flatlay = || {
        h.create(
            "t",
            "?flatlay=true",
            json!({"modelId": "1", "backgroundId": 2, "products": [{"id": 1}]}),
        )
    };
    let background = h
        .create("t", "?background=true", json!({"prompt": "a beach"}))
        .await;
    let mut chats = Vec::new();
    let mut flatlays = Vec::new();
    for _ in 0..10 {
        chats.push(h.chat("t").await);
        flatlays.push(flatlay().await);
    }
    advance(&h, "10s").await;
    let took = |job: &Value| trajectory(job).1;
    for id in chats {
        let t = took(&h.get("t", id).await.1);
        assert!((300..=600).contains(&t), "chat took {t} ms");
    }
    for id in flatlays {
        let t = took(&h.get("t", id).await.1);
        assert!((1000..=2000).contains(&t), "flatlay took {t} ms");
    }
    assert_eq!(took(&h.get("t", background).await.1), 9000);

    // PATCH changes them; a bad value names the field and changes nothing.
    let patch = |body: Value| h.raw(Method::PATCH, "/__admin/config").json(&body).send();
    let (status, config) = json(
        patch(json!({"processing_time_by_type": "chat=5s"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert_eq!(config["processing_time_by_type"], "chat=5s");
    let (status, err) = json(
        patch(json!({"processing_time_by_type": "dog=5s"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("processing_time_by_type"),
        "{err}"
    );
    let chat = h.chat("t").await;
    advance(&h, "5s").await;
    assert_eq!(took(&h.get("t", chat).await.1), 5000);
}

/// The binary refuses a `--replay` file it cannot replay before binding:
/// one line naming the file and the problem, exit 2; and `--replay` with
/// `--fixtures` is a usage error naming both flags.
#[test]
fn a_file_that_is_not_a_recording_this_build_reads_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let newer = json!({"format": "vestis-mock-recording", "version": 2, "jobs": "changed"});
    let cases = [
        (
            file("notes.txt", "hello, not JSON"),
            "is not a recording: not JSON",
        ),
        (
            file("har.json", r#"{"log": {"version": "1.2"}}"#),
            "expected \"format\": \"vestis-mock-recording\"",
        ),
        (
            file(
                "jobs.json",
                r#"{"format": "vestis-mock-recording", "version": 1, "jobs": 7}"#,
            ),
            "is not a recording",
        ),
        (
            file("newer.json", &newer.to_string()),
            "format version 2, newer than this vestis-mock-server reads",
        ),
        (
            dir.path().join("absent.json").to_str().unwrap().to_owned(),
            "recording ",
        ),
    ];
    for (path, says) in &cases {
        // With stdin closed, a server that wrongly started stops at once
        // (exit 0) instead of hanging the test.
        let out = command()
            .args(["--port", "0", "--stop-on-stdin-close", "--replay", path])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path}: {stderr}");
        assert!(out.stdout.is_empty(), "{path}: it never listened");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("vestis-mock-server: recording "),
            "{stderr}"
        );
        assert!(stderr.contains(path.as_str()), "names the file: {stderr}");
        assert!(stderr.contains(says), "{path}: {stderr}");
    }
    // The variable reads the same file the same way.
    let out = command()
        .args(["--port", "0"])
        .env("VESTIS_MOCK_REPLAY", &cases[3].0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("newer"));

    let good = write_recording(dir.path(), &[]);
    let out = command()
        .args(["--port", "0", "--replay"])
        .arg(&good)
        .args(["--fixtures", &cases[0].0])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--replay") && stderr.contains("--fixtures"),
        "{stderr}"
    );
    // A programmatic config is refused the same way.
    let mut config = Config::fast();
    config.replay = Some(Replay::from_file(&good).unwrap());
    config.fixtures =
        vestis_mock_server::Fixtures::parse(r#"[{"token": "t", "status": "completed"}]"#).unwrap();
    let e = config.validate().unwrap_err().to_string();
    assert!(e.contains("--replay and --fixtures"), "{e}");
}

/// A real start: `--replay` and `--token` from the command line, the
/// recording's jobs served, the skipped entries said on stderr, and the
/// per-type processing time flag shown in `/__admin/config`.
#[cfg(unix)]
#[tokio::test]
async fn the_binary_replays_a_recording_and_says_what_it_left_out() {
    let alice = fingerprint("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let mut odd = Rec::new(2, &alice, "hologram", "completed");
    odd.image = None;
    let mut escaping = Rec::new(3, &alice, "chat", "completed");
    escaping.image = Some("../../etc/passwd");
    let path = write_recording(
        dir.path(),
        &[
            Rec::new(1, &alice, "chat", "completed"),
            odd,
            Rec::new(4, &alice, "chat", "archived"),
            escaping,
        ],
    );
    let server = Spawned::start(
        &[
            "--replay",
            path.to_str().unwrap(),
            "--token",
            "alice",
            "--seed",
            "5",
            "--processing-time",
            "2s,chat=300ms..600ms",
        ],
        &[],
    );
    let http = reqwest::Client::new();
    let job: Value = http
        .get(format!("{}/api/v1/jobs/1", server.url))
        .bearer_auth("alice")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(job["status"], "completed", "{job}");
    let png = http
        .get(format!("{}/images/3.png", server.url))
        .send()
        .await
        .unwrap();
    let png = png.bytes().await.unwrap();
    assert!(
        png.starts_with(b"\x89PNG"),
        "the mock's own image, never the file"
    );
    let config: Value = http
        .get(format!("{}/__admin/config", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            config["processing_time"].as_str(),
            config["processing_time_by_type"].as_str()
        ),
        (Some("2s"), Some("chat=300ms..600ms"))
    );
    let stderr = server.stop();
    for said in ["\"hologram\"", "\"archived\"", "\"../../etc/passwd\""] {
        assert!(stderr.contains(said), "{said}: {stderr}");
    }
}

#[test]
fn help_lists_the_replay_and_per_type_processing_times() {
    let out = command().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for said in [
        "--replay <REPLAY>",
        "VESTIS_MOCK_REPLAY",
        "chat=300ms..600ms,flatlay=1s..2s",
    ] {
        assert!(help.contains(said), "{said}: {help}");
    }
}

#[tokio::test]
async fn the_summary_counts_only_the_loaded_jobs_and_lists_the_skipped() {
    let alice = fingerprint("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let chat = Rec::new(1, &alice, "chat", "completed");
    let twice = Rec::new(1, &alice, "chat", "failed");
    let unknown = Rec::new(2, &alice, "kangaroo", "completed");
    let path = write_recording(dir.path(), &[chat, twice, unknown]);
    let h = Harness::start(replay_config(&path, &["alice"], 1)).await;
    let (status, summary) = json(
        h.raw(Method::GET, "/__admin/recording")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["jobs"], 1, "{summary}");
    assert_eq!(summary["types"]["chat"]["jobs"], 1, "{summary}");
    assert!(summary["types"].get("kangaroo").is_none(), "{summary}");
    assert_eq!(summary["skipped"].as_array().unwrap().len(), 2, "{summary}");
}

#[tokio::test]
async fn a_missing_images_folder_is_one_line_not_one_per_job() {
    let alice = fingerprint("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    for id in 1..=3 {
        let mut done = Rec::new(id, &alice, "chat", "completed");
        done.image = Some(
            [
                "gone.images/1.png",
                "gone.images/2.png",
                "gone.images/3.png",
            ][id as usize - 1],
        );
        jobs.push(done);
    }
    let path = write_recording(dir.path(), &jobs);
    let h = Harness::start(replay_config(&path, &["alice"], 1)).await;
    let (_, summary) = json(
        h.raw(Method::GET, "/__admin/recording")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let skipped = summary["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{summary}");
    let line = skipped[0].as_str().unwrap();
    assert!(
        line.contains("gone.images") && line.contains("3 job"),
        "{line}"
    );
    assert_eq!(summary["jobs"], 3, "{summary}");
}

#[tokio::test]
async fn x_mock_max_attempts_is_the_most_attempts_recorded_for_the_jobs_type() {
    let alice = fingerprint("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    for (id, status, attempts) in [(1, "completed", 1), (2, "failed", 4), (3, "completed", 2)] {
        let mut job = Rec::new(id, &alice, "chat", status);
        job.attempts = attempts;
        job.error = (status == "failed").then_some("GPU out of memory");
        jobs.push(job);
    }
    let path = write_recording(dir.path(), &jobs);
    let mut config = replay_config(&path, &["alice"], 7);
    config.faults.max_attempts = 5;
    let h = Harness::start(config).await;
    let header = |res: &reqwest::Response| {
        res.headers()["x-mock-max-attempts"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    // A recorded chat job, and a new one: chat's recorded most, 4.
    let res = h.api("alice", Method::GET, "/jobs/1").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res), "4", "a poll of a recorded chat job");
    let res = h
        .api("alice", Method::POST, "/generate?chat=true")
        .json(&json!({"prompt": "a wool coat"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&res), "4", "a new chat job");
    let (_, created) = json(res).await;
    let id = created["job_id"].as_u64().unwrap();
    let res = h
        .api("alice", Method::GET, &format!("/jobs/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&res), "4", "a poll of the new chat job");
    // A type the recording has none of, and answers about no one job:
    // the mock's own setting.
    let res = h
        .api("alice", Method::POST, "/generate")
        .json(&json!({"prompt": "a wool coat"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&res), "5", "an unrecorded type");
    let res = h.api("alice", Method::GET, "/jobs").send().await.unwrap();
    assert_eq!(header(&res), "5", "a list");
}

#[tokio::test]
async fn a_replayed_kept_image_carries_an_etag_and_answers_304() {
    let alice = fingerprint("alice").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("recording.json.images")).unwrap();
    std::fs::write(dir.path().join("recording.json.images/1.png"), PNG_BYTES).unwrap();
    let mut done = Rec::new(1, &alice, "chat", "completed");
    done.image = Some("recording.json.images/1.png");
    let path = write_recording(dir.path(), &[done]);
    let h = Harness::start(replay_config(&path, &["alice"], 1)).await;
    let first = h.http.get(h.url("/images/1.png")).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["cache-control"], "no-cache");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(&first.bytes().await.unwrap()[..], PNG_BYTES);
    let again = h
        .http
        .get(h.url("/images/1.png"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"], etag.as_str());
    assert!(again.bytes().await.unwrap().is_empty());
    // Another picture under the same path is another tag.
    std::fs::write(dir.path().join("recording.json.images/1.png"), b"other").unwrap();
    let changed = h
        .http
        .get(h.url("/images/1.png"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(changed.headers()["etag"], etag.as_str());
}

#[tokio::test]
async fn a_replayed_kept_images_etag_is_computed_once_while_the_file_stays() {
    let alice = fingerprint("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("recording.json.images/1.png");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, PNG_BYTES).unwrap();
    let mut done = Rec::new(1, &alice, "chat", "completed");
    done.image = Some("recording.json.images/1.png");
    let path = write_recording(dir.path(), &[done]);
    let h = Harness::start(replay_config(&path, &["alice"], 1)).await;
    let first = h.http.get(h.url("/images/1.png")).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    // Other bytes, same length and modification time: the tag kept from
    // the first read stands (a per-request hash would see the change).
    let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
    std::fs::write(&file, vec![b'x'; PNG_BYTES.len()]).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    let again = h
        .http
        .get(h.url("/images/1.png"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"], etag.as_str());
}

#[tokio::test]
async fn a_reset_says_the_recording_loaded_at_start_was_restored_and_with_how_many_jobs() {
    let alice = fingerprint("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let jobs: Vec<Rec> = (1..=3)
        .map(|id| Rec::new(id, &alice, "chat", "completed"))
        .collect();
    let path = write_recording(dir.path(), &jobs);
    let h = Harness::start(replay_config(&path, &["alice"], 1)).await;
    h.chat("alice").await;
    let (status, body) = post(&h, "/__admin/reset", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["fixtures_loaded"], 0, "{body}");
    assert_eq!(body["recording"]["jobs_loaded"], 3, "{body}");
    assert_eq!(
        body["recording"]["file"],
        path.display().to_string(),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("3 jobs restored from the recording")
            && message.ends_with("loaded at start")
            && !message.contains("reloaded"),
        "{message}"
    );
    let (_, list) = json(h.api("alice", Method::GET, "/jobs").send().await.unwrap()).await;
    assert_eq!(list["metadata"]["total"], 3, "{list}");
}
