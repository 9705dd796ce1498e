//! Data on stdout: human text by default, JSON with `--json`.
//!
//! Everything goes through [`Output`], which writes with `writeln!` (never
//! `println!`, which panics on a closed pipe): a broken pipe surfaces as an
//! `io::Error` that `main` turns into a quiet exit 0, as ripgrep does.

use std::io::{self, Write};

use serde::Serialize;
use vestis_client::{Job, JobPage, Timestamp};

use crate::progress::{human_duration, status_message};
use crate::safe::{one_line, terminal_safe};

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

    /// The columns a human view on stdout may use: the terminal's width
    /// when stdout is a terminal, else `None` (a pipe or a file gets every
    /// line whole; `--json` is never cut).
    pub(crate) fn width(&self) -> Option<usize> {
        use std::io::IsTerminal;
        if self.json || !io::stdout().is_terminal() {
            return None;
        }
        console::Term::stdout()
            .size_checked()
            .map(|(_, columns)| usize::from(columns))
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

/// A job as a few labelled lines, each on one line whatever the server's
/// text holds, cut to `width` columns when given (a terminal).
pub(crate) fn describe(job: &Job, width: Option<usize>) -> String {
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
    lines
        .iter()
        .map(|line| fit_line(&one_line(line), width))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `line` cut to `width` columns with `…` (as a terminal counts them:
/// a CJK character takes two), or whole without a width.
pub(crate) fn fit_line(line: &str, width: Option<usize>) -> String {
    match width {
        Some(width) => console::truncate_str(line, width, "…").into_owned(),
        None => line.to_owned(),
    }
}

/// The narrowest a column is cut to when a table is made to fit.
const MIN_COLUMN: usize = 6;

/// Rows as left-aligned columns two spaces apart, trailing spaces trimmed.
/// Each cell stays on its row (control characters, newlines included, are
/// escaped) and columns align as a terminal shows them (by display width).
/// With a `width` (a terminal), the widest columns are cut with `…` until
/// each row fits; without, every cell is whole.
pub(crate) fn columns(rows: &[Vec<String>], width: Option<usize>) -> Vec<String> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| one_line(c).into_owned()).collect())
        .collect();
    let count = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths: Vec<usize> = (0..count)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| console::measure_text_width(cell))
                .max()
                .unwrap_or(0)
        })
        .collect();
    if let Some(limit) = width {
        let gaps = 2 * count.saturating_sub(1);
        while widths.iter().sum::<usize>() + gaps > limit {
            let Some((widest, &w)) = widths.iter().enumerate().max_by_key(|(_, w)| **w) else {
                break;
            };
            if w <= MIN_COLUMN {
                break;
            }
            widths[widest] -= 1;
        }
    }
    rows.iter()
        .map(|r| {
            let line = r
                .iter()
                .zip(&widths)
                .map(|(cell, &w)| {
                    let cut = console::truncate_str(cell, w, "…");
                    console::pad_str(&cut, w, console::Alignment::Left, None).into_owned()
                })
                .collect::<Vec<_>>()
                .join("  ");
            fit_line(line.trim_end(), width)
        })
        .collect()
}

/// `2026-11-28T10:00:00.123Z` as `2026-11-28 10:00:00`.
pub(crate) fn short_time(t: &Timestamp) -> String {
    let s = t.to_string();
    s.get(..19).map(|p| p.replace('T', " ")).unwrap_or(s)
}

/// A page of jobs as an aligned table with its page line, cut to `width`
/// columns when given (see [`columns`]).
pub(crate) fn table(page: &JobPage, width: Option<usize>) -> String {
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
        columns(&rows, width)
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
        assert_eq!(columns(&rows, None), ["ID  NAME", "12  x"]);
    }

    #[test]
    fn cells_stay_on_their_row_aligned_as_a_terminal_shows_them() {
        let rows = vec![
            vec!["ID".to_owned(), "SUMMARY".to_owned(), "RESULT".to_owned()],
            vec!["1".to_owned(), "日本語".to_owned(), "a".to_owned()],
            vec![
                "2".to_owned(),
                "evil\x1b[31mRED\x07\nsecond".to_owned(),
                "b".to_owned(),
            ],
        ];
        let lines = columns(&rows, None);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2], "2   evil\\u{1b}[31mRED\\u{7}\\nsecond  b");
        // "日本語" is six columns wide: the next column starts where it does on row 2.
        let last_column =
            |line: &str| console::measure_text_width(&line[..line.rfind(' ').unwrap()]);
        assert_eq!(last_column(&lines[1]), last_column(&lines[2]));
        // Cut to 20 columns: every row fits, the widest column gives way.
        for line in columns(&rows, Some(20)) {
            assert!(console::measure_text_width(&line) <= 20, "{line}");
        }
        assert!(columns(&rows, Some(20))[2].contains('…'));
    }
}
