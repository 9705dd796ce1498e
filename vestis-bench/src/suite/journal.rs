//! The CLI journal's cost per create at a small and a large size: the real
//! `vestis generate --no-wait` binary against a mock server process, its
//! journal seeded with copies of a record the CLI itself wrote.
//!
//! The seeding understands the two shapes a journal file can take here: one
//! JSON document with a `records` array, or one JSON record per line.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::Value;
use vestis_bench::stats::{Table, median, ratio};

use super::{Arm, Suite};

/// Runs one `vestis generate chat --no-wait` with `home` as `VESTIS_HOME`;
/// returns its wall time in milliseconds.
fn create(suite: &Suite, home: &Path, api: &str) -> anyhow::Result<f64> {
    let start = Instant::now();
    let out = Command::new(suite.bin("vestis"))
        .args(["generate", "chat", "--prompt", "a red dress", "--no-wait"])
        .env("VESTIS_HOME", home)
        .env("VESTIS_API_URL", api)
        .env("VESTIS_TOKEN", "journal")
        // Keep every record: the point is a journal of the given size.
        .env("VESTIS_JOURNAL_MAX", "100000000")
        .stdin(Stdio::null())
        .output()?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if !out.status.success() {
        bail!("vestis failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(ms)
}

/// The journal file the CLI wrote in `home` (the largest non-lock file).
fn journal_file(home: &Path) -> anyhow::Result<PathBuf> {
    std::fs::read_dir(home)?
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().ends_with(".lock"))
        .filter_map(|e| Some((e.metadata().ok()?.len(), e.path())))
        .max()
        .map(|(_, path)| path)
        .context("the CLI wrote no journal")
}

/// A copy of `record` made distinct by its key and job id.
fn copy(record: &Value, i: usize) -> Value {
    let mut copy = record.clone();
    if let Some(obj) = copy.as_object_mut() {
        obj.insert("key".into(), Value::String(format!("bench-seed-{i}")));
        if obj.contains_key("job_id") {
            obj.insert("job_id".into(), Value::from(1_000_000_000 + i as u64));
        }
    }
    copy
}

/// Grows the journal in `home` to `size` records.
fn seed(home: &Path, size: usize) -> anyhow::Result<()> {
    let path = journal_file(home)?;
    let text = std::fs::read_to_string(&path)?;
    if let Ok(mut doc) = serde_json::from_str::<Value>(&text)
        && let Some(records) = doc.get_mut("records").and_then(Value::as_array_mut)
    {
        let first = records.first().context("empty journal")?.clone();
        records.extend((records.len()..size).map(|i| copy(&first, i)));
        std::fs::write(&path, serde_json::to_vec_pretty(&doc)?)?;
        return Ok(());
    }
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("the journal is neither one JSON document nor JSON lines")?;
    let first = lines.first().context("empty journal")?;
    let mut out = text.clone();
    for i in lines.len()..size {
        out += &copy(first, i).to_string();
        out.push('\n');
    }
    std::fs::write(&path, out)?;
    Ok(())
}

pub(crate) async fn run(suite: &mut Suite) -> anyhow::Result<Table> {
    let server = suite.start(
        Arm::Vestis,
        &[
            "--processing-time",
            "1h",
            "--workers",
            "1",
            "--max-jobs",
            "1000000",
        ],
    )?;
    let api = format!("{}/api/v1", server.base);
    let sizes = [suite.size(100, 10), suite.size(10_000, 1_000)];
    let homes = [tempfile::tempdir()?, tempfile::tempdir()?];
    for (home, &size) in homes.iter().zip(&sizes) {
        create(suite, home.path(), &api)?;
        seed(home.path(), size)?;
    }
    let creates = suite.size(30, 3);
    let mut times = [vec![], vec![]];
    for _ in 0..creates {
        for (i, home) in homes.iter().enumerate() {
            times[i].push(create(suite, home.path(), &api)?);
        }
    }
    let [small, large] = times.map(|t| median(&t));
    let ms = |v: f64| format!("{v:.2} ms");
    let mut table = Table::new(
        &format!(
            "CLI journal: `vestis generate --no-wait` (whole process), median of {creates} alternating creates"
        ),
        &[
            "measure",
            &format!("{} records", sizes[0]),
            &format!("{} records", sizes[1]),
            "ratio",
            "target",
        ],
    );
    table.row(vec![
        "wall time per create".into(),
        ms(small),
        ms(large),
        ratio(large, small, ms),
        "≈ 1.00".into(),
    ]);
    Ok(table)
}
