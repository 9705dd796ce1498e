//! Data on stdout: human text by default, JSON with `--json`.
//!
//! Everything goes through [`Output`], which writes with `writeln!` (never
//! `println!`, which panics on a closed pipe): a broken pipe surfaces as an
//! `io::Error` that `main` turns into a quiet exit 0, as ripgrep does.

use std::io::{self, Write};

use serde::Serialize;
use vestis_client::{Job, JobPage, Timestamp};

use crate::progress::{human_duration, status_message};

/// Where command results go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    pub(crate) json: bool,
}

impl Output {
    /// One line of human text (ignored with `--json`).
    pub(crate) fn human(&self, text: &str) -> io::Result<()> {
        if self.json {
            return Ok(());
        }
        let mut out = io::stdout().lock();
        writeln!(out, "{text}")?;
        out.flush()
    }

    /// One pretty JSON document (a command's whole answer), fields in the
    /// order the API sends them.
    pub(crate) fn document(&self, value: &impl Serialize) -> io::Result<()> {
        let mut text = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
        text.push(b'\n');
        write_stdout(&text)
    }

    /// One compact JSON object on its own line (streams of results, one
    /// per job as it finishes).
    pub(crate) fn json_line(&self, value: &impl Serialize) -> io::Result<()> {
        let mut text = serde_json::to_vec(value).map_err(io::Error::other)?;
        text.push(b'\n');
        write_stdout(&text)
    }
}

/// Writes and flushes, keeping the error's kind (a closed pipe stays
/// `BrokenPipe`, which `main` turns into a quiet exit).
fn write_stdout(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// A job as a few labelled lines.
pub(crate) fn describe(job: &Job) -> String {
    let mut lines = vec![
        format!("Job {} ({})", job.job_id, job.job_type),
        format!(
            "  status:    {} ({})",
            job.status,
            status_message(&job.status)
        ),
        format!("  attempts:  {}", job.attempts),
        format!("  created:   {}", job.created_at),
    ];
    if let Some(t) = job.started_at {
        lines.push(format!("  started:   {t}"));
    }
    if let Some(t) = job.completed_at {
        lines.push(format!("  finished:  {t}"));
    }
    if let Some(d) = job.run_time() {
        lines.push(format!("  took:      {}", human_duration(d)));
    }
    if let Some(result) = &job.result {
        lines.push(format!("  image:     {}", result.image_url));
    }
    if let Some(error) = &job.error {
        lines.push(format!("  error:     {error}"));
    }
    lines.join("\n")
}

fn short_time(t: &Timestamp) -> String {
    // `2026-11-28T10:00:00.123Z` -> `2026-11-28 10:00:00`
    let s = t.to_string();
    s.get(..19).map(|p| p.replace('T', " ")).unwrap_or(s)
}

/// A page of jobs as an aligned table with its page line.
pub(crate) fn table(page: &JobPage) -> String {
    let mut rows = vec![[
        "ID".to_owned(),
        "KIND".to_owned(),
        "STATUS".to_owned(),
        "CREATED (UTC)".to_owned(),
        "DURATION".to_owned(),
    ]];
    for job in &page.jobs {
        rows.push([
            job.job_id.to_string(),
            job.job_type.to_string(),
            job.status.to_string(),
            short_time(&job.created_at),
            job.run_time()
                .map(human_duration)
                .unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| {
            r.iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        })
        .collect();
    if page.jobs.is_empty() {
        out = vec!["No jobs.".to_owned()];
    }
    let m = page.metadata;
    out.push(format!(
        "Page {} of {} ({} job{})",
        m.page,
        m.total_pages.max(1),
        m.total,
        if m.total == 1 { "" } else { "s" }
    ));
    out.join("\n")
}
