//! What one `vestis generate --no-wait` costs with 100 and with 10 000
//! records in the journal: the per-create cost must not grow with the
//! journal (it is an append-only log; see the README's journal format).
//!
//! ```bash
//! cargo bench -p vestis-cli --bench journal      # BENCH_CREATES=N to change the count
//! ```
//!
//! The mock server runs in this process; each create is the real binary in
//! its own process (create, one GET to pin the job, two journal saves). The
//! figure is the median wall time of the creates, and the ratio of the
//! large journal's median to the small one's.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use vestis_mock_server::{Config, MockServer};

/// Writes a journal of `n` finished records in the documented format.
fn seed(home: &Path, n: usize) {
    let mut body = Vec::new();
    for i in 0..n {
        let record = serde_json::json!({
            "key": format!("seed-{i}"), "api_url": "http://elsewhere/api/v1",
            "identity": "0000000000000000", "job_id": i + 1, "kind": "chat",
            "summary": "a seeded record of realistic size, with a prompt like a user's",
            "created_at": "2026-11-28T10:00:00.000Z", "updated_at": "2099-01-01T00:00:00.000Z",
            "status": "completed", "attempts": 1,
            "image_url": format!("http://elsewhere/images/{}.png", i + 1),
            "output": format!("/home/user/pictures/look-{i}.png"),
            "downloaded_to": format!("/home/user/pictures/look-{i}.png"),
        });
        serde_json::to_writer(&mut body, &record).unwrap();
        body.push(b'\n');
    }
    let mut file = std::fs::File::create(home.join("journal.jsonl")).unwrap();
    let header = serde_json::json!({"vestis_journal": 2, "compacted_bytes": body.len()});
    writeln!(file, "{header}").unwrap();
    file.write_all(&body).unwrap();
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The median time of `creates` creates against a journal of `records`.
fn measure(api: &str, records: usize, creates: usize) -> Duration {
    let home = tempfile::tempdir().unwrap();
    seed(home.path(), records);
    let samples = (0..creates)
        .map(|_| {
            let start = Instant::now();
            let status = std::process::Command::new(env!("CARGO_BIN_EXE_vestis"))
                .env("VESTIS_HOME", home.path())
                .env("VESTIS_API_URL", api)
                .env("VESTIS_TOKEN", "bench")
                .env("VESTIS_JOURNAL_MAX", "100000")
                .args(["-q", "generate", "legacy", "--no-wait"])
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
            start.elapsed()
        })
        .collect();
    median(samples)
}

fn main() {
    let creates: usize = std::env::var("BENCH_CREATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime
        .block_on(MockServer::start(Config::default()))
        .unwrap();
    let api = server.api_url();
    // Warm up the binary and the page cache.
    measure(&api, 10, 3);
    let small = measure(&api, 100, creates);
    let large = measure(&api, 10_000, creates);
    println!("journal of    100 records: median create {small:?}");
    println!("journal of 10 000 records: median create {large:?}");
    println!(
        "ratio 10 000 / 100: {:.2}",
        large.as_secs_f64() / small.as_secs_f64()
    );
}
