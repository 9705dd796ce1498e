//! Rendering the SDK's wait events on stderr: indicatif spinners on a
//! terminal (one per job, in a `MultiProgress`), one plain line per status
//! change otherwise, nothing with `-q`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use vestis_client::{Error, Job, JobId, JobStatus, WaitEvent};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Live spinners (stderr is a terminal).
    Bars,
    /// One line per status change.
    Lines,
    /// Nothing.
    Quiet,
}

impl Mode {
    /// Bars on a terminal unless `--no-progress`; nothing with `-q`.
    pub(crate) fn choose(quiet: bool, no_progress: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if no_progress || !std::io::stderr().is_terminal() {
            Mode::Lines
        } else {
            Mode::Bars
        }
    }
}

/// The guide's user-facing status messages (`getStatusMessage`), plus cancelled.
pub(crate) fn status_message(status: &JobStatus) -> &'static str {
    match status {
        JobStatus::Pending => "Waiting in queue...",
        // The guide adds "(this may take 2-3 minutes)"; the CLI cannot know
        // how long a server takes (the mock's jobs take seconds), so it does
        // not promise, and shows the elapsed time instead.
        JobStatus::Processing => "Generating your image...",
        JobStatus::Completed => "Generation complete!",
        JobStatus::Failed => "Generation failed",
        JobStatus::Cancelled => "Job cancelled",
        _ => "Processing...",
    }
}

/// Progress for one or many jobs.
pub(crate) struct Progress {
    mode: Mode,
    multi: MultiProgress,
    bars: HashMap<JobId, ProgressBar>,
}

impl Progress {
    pub(crate) fn new(mode: Mode) -> Progress {
        let multi = MultiProgress::with_draw_target(match mode {
            Mode::Bars => ProgressDrawTarget::stderr(),
            _ => ProgressDrawTarget::hidden(),
        });
        Progress {
            mode,
            multi,
            bars: HashMap::new(),
        }
    }

    fn spinner_style() -> ProgressStyle {
        ProgressStyle::with_template("{spinner:.cyan} job {prefix:.bold} {wide_msg} {elapsed:.dim}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ")
    }

    fn final_style() -> ProgressStyle {
        ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_spinner())
    }

    /// A line of text that does not disturb the bars.
    pub(crate) fn note(&self, text: &str) {
        match self.mode {
            Mode::Bars => {
                let _ = self.multi.println(text);
            }
            Mode::Lines => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
            Mode::Quiet => {}
        }
    }

    fn bar(&mut self, id: JobId) -> &ProgressBar {
        let multi = &self.multi;
        self.bars.entry(id).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(Progress::spinner_style());
            bar.set_prefix(id.to_string());
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        })
    }

    /// Shows that job `id` exists and is being watched.
    pub(crate) fn start(&mut self, id: JobId, message: &str) {
        match self.mode {
            Mode::Bars => self.bar(id).set_message(message.to_owned()),
            Mode::Lines => self.note(&format!("job {id}: {message}")),
            Mode::Quiet => {}
        }
    }

    /// Renders one wait event of job `id`.
    pub(crate) fn event(&mut self, id: JobId, event: &WaitEvent) {
        match event {
            WaitEvent::StatusChanged { job, .. } => {
                let attempts = if job.attempts > 1 {
                    format!(" (attempt {})", job.attempts)
                } else {
                    String::new()
                };
                let message = format!("{}{attempts}", status_message(&job.status));
                match self.mode {
                    Mode::Bars => self.bar(id).set_message(message),
                    Mode::Lines => self.note(&format!("job {id}: {}: {message}", job.status)),
                    Mode::Quiet => {}
                }
            }
            WaitEvent::RetryScheduled { delay, cause, .. } => {
                let text = format!("retrying in {}: {cause}", human_duration(*delay));
                match self.mode {
                    Mode::Bars => self.bar(id).set_message(text),
                    Mode::Lines => self.note(&format!("job {id}: {text}")),
                    Mode::Quiet => {}
                }
            }
            WaitEvent::CancelledOnTimeout(outcome) => {
                let text = match outcome {
                    Ok(()) => "cancelled on the server after the timeout".to_owned(),
                    Err(e) => format!("could not cancel after the timeout: {e}"),
                };
                self.note(&format!("job {id}: {text}"));
            }
            WaitEvent::Finished(result) => self.finish(id, result),
            _ => {}
        }
    }

    /// Ends job `id`'s line with its outcome.
    pub(crate) fn finish(&mut self, id: JobId, result: &Result<Job, Error>) {
        let (mark, text) = match result {
            Ok(job) => (
                "✔",
                format!(
                    "{}{}",
                    status_message(&job.status),
                    job.run_time()
                        .map(|d| format!(" in {}", human_duration(d)))
                        .unwrap_or_default()
                ),
            ),
            Err(Error::JobFailed(job)) => (
                "✘",
                format!(
                    "Generation failed: {}",
                    job.error.as_deref().unwrap_or("no reason given")
                ),
            ),
            Err(Error::JobCancelled(_)) => ("✘", "Job cancelled".to_owned()),
            Err(Error::TimedOut { elapsed, .. }) => {
                ("✘", format!("Timed out after {}", human_duration(*elapsed)))
            }
            Err(e) => ("✘", e.to_string()),
        };
        match self.mode {
            Mode::Bars => {
                let bar = self.bar(id).clone();
                bar.set_style(Progress::final_style());
                bar.finish_with_message(format!("{mark} job {id} {text}"));
            }
            // In line mode the status line already said it, except for errors.
            Mode::Lines
                if result.is_err()
                    && !matches!(result, Err(Error::JobFailed(_) | Error::JobCancelled(_))) =>
            {
                self.note(&format!("job {id}: {text}"));
            }
            _ => {}
        }
    }

    /// Stops every live spinner where it is.
    fn abandon(&mut self) {
        for bar in self.bars.values() {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}

impl Drop for Progress {
    /// Leaves unfinished spinners where they are (e.g. on Ctrl-C) instead of
    /// letting them vanish mid-line.
    fn drop(&mut self) {
        self.abandon();
    }
}

/// `1.5s`, `2m 3s`: short and readable, at most two units.
pub(crate) fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    if secs < 60 {
        let tenths = (ms % 1000) / 100;
        return if tenths == 0 {
            format!("{secs}s")
        } else {
            format!("{secs}.{tenths}s")
        };
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, s) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(human_duration(Duration::from_millis(2000)), "2s");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2m 5s");
        assert_eq!(human_duration(Duration::from_secs(300)), "5m");
        assert_eq!(human_duration(Duration::from_secs(3720)), "1h 2m");
    }

    #[test]
    fn messages_follow_the_guide() {
        assert_eq!(status_message(&JobStatus::Pending), "Waiting in queue...");
        assert_eq!(
            status_message(&JobStatus::Processing),
            "Generating your image..."
        );
        assert_eq!(
            status_message(&JobStatus::from_wire("new")),
            "Processing..."
        );
    }
}
