//! Data on stdout: human text by default, JSON with `--json`.
//!
//! Everything goes through [`Output`], which writes with `writeln!` (never
//! `println!`, which panics on a closed pipe): a broken pipe surfaces as an
//! `io::Error` that `main` turns into a quiet exit 0, as ripgrep does.

use std::io::{self, Write};

use serde::Serialize;
use vestis_client::{Job, JobPage, Timestamp};

use crate::progress::{human_duration, status_message};
use crate::safe::terminal_safe;

/// Where command results go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    pub(crate) json: bool,
}

impl Output {
    /// One line of human text (ignored with `--json`), control characters
    /// escaped ([`terminal_safe`]).
    pub(crate) fn human(&self, text: &str) -> io::Result<()> {
        if self.json {
            return Ok(());
        }
        let mut out = io::stdout().lock();
        writeln!(out, "{}", terminal_safe(text))?;
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

/// Resolves once nobody reads stdout any more: it is a pipe whose reader
/// exited (`vestis --json wait A B | head -1` after `head` took its line).
/// A wait selects on it, so it ends then instead of at its next result,
/// which may be minutes away. Never resolves for a terminal or a file, or
/// off Unix.
///
/// A plain thread, not `spawn_blocking`: it may block for the whole run,
/// and the runtime waits for blocking tasks when it shuts down.
pub(crate) async fn stdout_closed() {
    #[cfg(unix)]
    {
        use std::io::IsTerminal;
        if !io::stdout().is_terminal() {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let watcher = std::thread::Builder::new()
                .name("stdout-watch".to_owned())
                .spawn(move || {
                    if reader_gone() {
                        let _ = tx.send(());
                    }
                });
            if watcher.is_ok() && rx.await.is_ok() {
                return;
            }
        }
    }
    std::future::pending::<()>().await;
}

/// Blocks until stdout reports an error or hang-up. poll(2) always reports
/// those, even with no events asked for, and the write end of a pipe
/// reports `POLLERR` once its last reader closed.
#[cfg(unix)]
fn reader_gone() -> bool {
    use rustix::event::{PollFd, PollFlags, poll};
    let stdout = io::stdout();
    let mut fds = [PollFd::new(&stdout, PollFlags::empty())];
    loop {
        match poll(&mut fds, None) {
            Ok(_) if fds[0].revents().intersects(PollFlags::ERR | PollFlags::HUP) => return true,
            Ok(_) | Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return false,
        }
    }
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

/// Rows as left-aligned columns two spaces apart, trailing spaces trimmed.
pub(crate) fn columns(rows: &[Vec<String>]) -> Vec<String> {
    let count = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..count)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        })
        .collect()
}

/// `2026-11-28T10:00:00.123Z` as `2026-11-28 10:00:00`.
pub(crate) fn short_time(t: &Timestamp) -> String {
    let s = t.to_string();
    s.get(..19).map(|p| p.replace('T', " ")).unwrap_or(s)
}

/// A page of jobs as an aligned table with its page line.
pub(crate) fn table(page: &JobPage) -> String {
    let m = page.metadata;
    let mut out = if page.jobs.is_empty() {
        vec![if m.page > 1 && m.total > 0 {
            format!("No jobs on page {}.", m.page)
        } else {
            "No jobs.".to_owned()
        }]
    } else {
        let mut rows = vec![
            ["ID", "KIND", "STATUS", "CREATED (UTC)", "DURATION"]
                .map(str::to_owned)
                .to_vec(),
        ];
        for job in &page.jobs {
            rows.push(vec![
                job.job_id.to_string(),
                job.job_type.to_string(),
                job.status.to_string(),
                short_time(&job.created_at),
                job.run_time()
                    .map(human_duration)
                    .unwrap_or_else(|| "-".to_owned()),
            ]);
        }
        columns(&rows)
    };
    out.push(page_line(m.page, m.total_pages, m.total));
    out.join("\n")
}

/// `Page 2 of 3 (57 jobs)`; past the end, `Page 4 (past the last page, 3; 57 jobs)`.
fn page_line(page: u64, pages: u64, total: u64) -> String {
    let jobs = format!("{total} job{}", if total == 1 { "" } else { "s" });
    if page > pages.max(1) {
        format!(
            "Page {page} is past the last page ({}); {jobs} in all",
            pages.max(1)
        )
    } else {
        format!("Page {page} of {} ({jobs})", pages.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_lines_never_count_past_the_end() {
        assert_eq!(page_line(1, 2, 3), "Page 1 of 2 (3 jobs)");
        assert_eq!(page_line(1, 0, 0), "Page 1 of 1 (0 jobs)");
        assert_eq!(page_line(1, 1, 1), "Page 1 of 1 (1 job)");
        assert_eq!(
            page_line(2, 1, 1),
            "Page 2 is past the last page (1); 1 job in all"
        );
    }

    #[test]
    fn columns_align_and_trim() {
        let rows = vec![
            vec!["ID".to_owned(), "NAME".to_owned()],
            vec!["12".to_owned(), "x".to_owned()],
        ];
        assert_eq!(columns(&rows), ["ID  NAME", "12  x"]);
    }
}
