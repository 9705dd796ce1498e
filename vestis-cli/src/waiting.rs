//! Waiting for jobs and reporting how each ended: shared by `generate`,
//! `wait` and `resume`.
//!
//! [`wait_for`] drives the SDK's many-job wait, renders its events, keeps
//! the journal current, and hands every finished job to a [`Sink`], which
//! saves the image and prints the result. Each job ends in an [`Outcome`];
//! the command's exit code is the worst of them (`Failure::of_many`).

use std::cell::Cell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use serde::Serialize;
use vestis_client::{Client, Error, Job, JobId, PollStrategy, WaitEvent, WaitOptions};

use crate::cli::{StrategyArg, WaitFlags};
use crate::commands::Context;
use crate::exit::{Exit, Failure, json_code};
use crate::journal::{Journal, Record, RecordStatus};
use crate::preview::DrawError;
use crate::progress::{Mode, Progress, human_duration};

/// A job that did not finish (a timeout, a lost server) as `--json` prints
/// it: `{"job_id", "error", "code"}`, in that order.
#[derive(Serialize)]
struct Unfinished {
    job_id: JobId,
    error: String,
    code: &'static str,
}

/// The SDK's wait options for these flags: the guide's schedules (with
/// `--interval` as the interval or the back-off's first delay), no poll
/// limit, and `--timeout` as the deadline.
pub(crate) fn wait_options(flags: &WaitFlags) -> WaitOptions {
    let strategy = match (flags.strategy, flags.interval) {
        (StrategyArg::Fixed, None) => PollStrategy::fixed(),
        (StrategyArg::Fixed, Some(interval)) => PollStrategy::fixed().interval(interval),
        (StrategyArg::Backoff, None) => PollStrategy::backoff(),
        (StrategyArg::Backoff, Some(first)) => PollStrategy::backoff().first_delay(first),
    };
    WaitOptions::new(strategy.until_deadline())
        .deadline(flags.timeout)
        .cancel_on_timeout(flags.cancel_on_timeout)
}

/// One job to wait for: where its image goes, and its journal record
/// (held here, so each change is one appended line, not a search).
pub(crate) struct Target {
    pub(crate) id: JobId,
    /// Where to save the image: `-o`, else where its record first asked.
    pub(crate) output: Option<PathBuf>,
    pub(crate) record: Option<Record>,
    /// Cancelled on the server when the wait timed out (`--cancel-on-timeout`).
    cancelled: bool,
}

impl Target {
    /// A target for job `id`, with its journal record if it has one. An
    /// explicit `output` wins over the record's.
    pub(crate) fn new(id: JobId, output: Option<PathBuf>, record: Option<Record>) -> Target {
        let output = output.or_else(|| record.as_ref().and_then(|r| r.output.clone()));
        Target {
            id,
            output,
            record,
            cancelled: false,
        }
    }
}

/// How finished jobs are reported on stdout with `--json`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    /// One JSON document (a single `generate`).
    Document,
    /// One JSON object per line as each job finishes (`wait`, `resume`).
    Lines,
}

/// How one waited job ended.
pub(crate) enum Outcome {
    /// Completed, its result printed and its image saved if asked.
    Completed,
    /// Did not complete (failed, cancelled, timed out, gone, or its image
    /// could not be saved): why, and which exit code that means.
    NotCompleted(Failure),
}

/// Waits for `targets` concurrently: renders progress, keeps their journal
/// records current, downloads images, prints each outcome as it arrives.
/// Ctrl-C stops waiting (the jobs keep running) and exits 130.
///
/// A closed stdout stops the wait: the command then exits with the worst
/// outcome seen so far, or quietly with 0 if every job so far completed.
pub(crate) async fn wait_for(
    ctx: &Context,
    client: &Client,
    journal: Option<&Journal>,
    targets: Vec<Target>,
    options: &WaitOptions,
    report: Report,
) -> anyhow::Result<()> {
    let mut progress = Progress::new(ctx.mode);
    let ids: Vec<JobId> = targets.iter().map(|t| t.id).collect();
    let mut targets: HashMap<JobId, Target> = targets.into_iter().map(|t| (t.id, t)).collect();
    // A spinner needs a line from the start; plain lines wait for the
    // first real status instead of saying nothing new.
    if ctx.mode == Mode::Bars {
        for id in &ids {
            progress.start(*id, "Looking up the job...");
        }
    }
    let mut running = ids.clone();
    ctx.on_interrupt(interrupt_hint(ctx, &running));
    let sink = Sink {
        ctx,
        client,
        journal,
        report,
        journal_warned: Cell::new(false),
    };
    let mut events = client.wait_many_stream(ids.clone(), options);
    let mut failures = Vec::new();
    let mut open = ids.len();
    // Ctrl-C is handled in `main`, which drops this future; dropping
    // `progress` stops the spinners where they are.
    let mut closed = std::pin::pin!(crate::output::stdout_closed());
    while open > 0 {
        let next = tokio::select! {
            next = events.next() => next,
            // Nobody reads the results any more: end now, as a write would.
            () = &mut closed => {
                let gone = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
                return Err(stopped_early(gone.into(), failures, ids.len()));
            }
        };
        let Some((id, event)) = next else {
            break;
        };
        // Learnt from the server's answers (`X-Mock-Max-Attempts`), if it says.
        progress.set_max_attempts(client.max_attempts());
        progress.event(id, &event);
        let Some(target) = targets.get_mut(&id) else {
            continue;
        };
        match event {
            WaitEvent::StatusChanged { job, .. } => sink.observed(&progress, target, &job),
            WaitEvent::CancelledOnTimeout(Ok(())) => target.cancelled = true,
            WaitEvent::Finished(result) => {
                open -= 1;
                // Ctrl-C from now on names only the jobs still running.
                running.retain(|r| *r != id);
                ctx.on_interrupt(interrupt_hint(ctx, &running));
                let (outcome, printed) = sink.finished(&progress, target, result).await;
                if let Outcome::NotCompleted(failure) = outcome {
                    failures.push(failure);
                }
                if let Err(e) = printed {
                    return Err(stopped_early(e.into(), failures, ids.len()));
                }
            }
            _ => {}
        }
    }
    match Failure::of_many(failures, ids.len(), "did not complete") {
        None => Ok(()),
        Some(failure) => Err(failure.into()),
    }
}

/// What Ctrl-C says during a wait: the jobs keep running, and how to
/// re-attach (unless they ran on `--mock`'s server, which stops too).
fn interrupt_hint(ctx: &Context, ids: &[JobId]) -> String {
    if ctx.is_mock() {
        return "stopped waiting; the bundled mock server stopped with this command, and its jobs with it"
            .to_owned();
    }
    let list: Vec<String> = ids.iter().map(ToString::to_string).collect();
    format!(
        "stopped waiting; the job{} keep{} running: re-attach with `vestis wait {}`",
        if ids.len() == 1 { "" } else { "s" },
        if ids.len() == 1 { "s" } else { "" },
        list.join(" ")
    )
}

/// Why a job did not complete, as the one line `main` prints. A timeout
/// says how long in words, and that the job keeps running (unless it was
/// cancelled, or ran on `--mock`'s server) and how to re-attach.
fn not_completed(target: &Target, error: &Error, mock: bool) -> String {
    let id = target.id;
    let Error::TimedOut { elapsed, last, .. } = error else {
        return error.to_string();
    };
    let waited = human_duration(*elapsed);
    let status = last
        .as_ref()
        .map(|job| format!(" (still {})", job.status))
        .unwrap_or_default();
    if target.cancelled {
        format!("job {id} did not finish within {waited}{status} and was cancelled on the server")
    } else if mock {
        format!("job {id} did not finish within {waited}{status}")
    } else {
        format!(
            "job {id} did not finish within {waited}{status}; it keeps running on the server: re-attach with `vestis wait {id}`"
        )
    }
}

/// The error that ends a wait early (stdout closed, or failed to write):
/// the failures seen so far still decide the exit code.
fn stopped_early(error: anyhow::Error, failures: Vec<Failure>, total: usize) -> anyhow::Error {
    if !crate::exit::is_broken_pipe(&error) {
        return error;
    }
    match Failure::of_many(failures, total, "did not complete") {
        Some(failure) => failure.into(),
        None => error,
    }
}

/// Where a wait's news goes: the journal, the image file, stdout.
struct Sink<'a> {
    ctx: &'a Context,
    client: &'a Client,
    journal: Option<&'a Journal>,
    report: Report,
    /// A journal that cannot be written is said once, not on every change.
    journal_warned: Cell<bool>,
}

/// A completed job as `--json` prints it: the API's fields in the API's
/// order, then where its image was saved.
#[derive(Serialize)]
struct Saved<'a> {
    #[serde(flatten)]
    job: &'a Job,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_path: Option<&'a Path>,
}

impl Sink<'_> {
    /// A new state of the target's job: recorded, if it is its record's job.
    /// A job that is not (the server was reset and reused the id) leaves
    /// the record's data alone, is reported, and gets no image from it.
    fn observed(&self, progress: &Progress, target: &mut Target, job: &Job) {
        let Some(record) = &mut target.record else {
            return;
        };
        let same = record.apply(job);
        self.save(progress, record);
        if !job.status.is_terminal() {
            crate::failpoint::hit("mid-wait");
        }
        if !same {
            progress.note(&format!(
                "job {}: not the job {} this machine created on {} (the server was reset or restored); its journal record is left alone",
                job.job_id, job.job_id, record.created_at
            ));
            if target.output == record.output {
                target.output = None;
            }
            target.record = None;
        }
    }

    fn save(&self, progress: &Progress, record: &Record) {
        if let Some(journal) = self.journal
            && let Err(e) = journal.save(record)
            && !self.journal_warned.replace(true)
        {
            progress.note(&format!("warning: {e}"));
        }
    }

    /// Handles one finished wait: its outcome, and whether printing it
    /// worked (a closed stdout ends the whole wait, but the outcome counts).
    async fn finished(
        &self,
        progress: &Progress,
        target: &mut Target,
        result: Result<Job, Error>,
    ) -> (Outcome, std::io::Result<()>) {
        // The record already has the final state: every wait ends with a
        // `StatusChanged` to it, which `observed` recorded.
        let job = match result {
            Ok(job) => job,
            Err(error) => {
                if let (Some(record), Error::NotFound(_)) = (&mut target.record, &error) {
                    record.status = RecordStatus::Gone;
                    record.error = Some("the server no longer knows this job".to_owned());
                    self.save(progress, record);
                }
                let failure = Failure::new(
                    Exit::of_client(&error),
                    not_completed(target, &error, self.ctx.is_mock()),
                );
                let printed = progress.suspend(|| self.print_error(target.id, &error));
                return (Outcome::NotCompleted(failure), printed);
            }
        };
        let mut saved = None;
        let mut image = None;
        if let Some(path) = &target.output {
            match self.save_image(&job, path).await {
                Ok(Some((file, bytes))) => {
                    saved = Some(file);
                    image = Some(bytes);
                }
                Ok(None) => {}
                Err(failure) => return (Outcome::NotCompleted(failure), Ok(())),
            }
        }
        let preview = self.ctx.preview();
        // The preview's bytes: the download just saved, else one download
        // into memory (never a second one).
        if let (Some(_), None, Some(url)) = (preview, &image, job.image_url()) {
            match self.client.download(url).await {
                Ok(bytes) => image = Some(bytes),
                Err(e) => progress.note(&format!(
                    "job {}: no preview: its image could not be downloaded from {url}: {e}",
                    job.job_id
                )),
            }
        }
        if let (Some(record), Some(file)) = (&mut target.record, &saved) {
            record.downloaded_to = Some(file.clone());
            self.save(progress, record);
        }
        let printed = progress.suspend(|| {
            self.print_completed(&job, saved.as_deref())?;
            if let (Some(preview), Some(bytes)) = (preview, &image) {
                match preview.draw(bytes) {
                    Ok(()) => {}
                    Err(DrawError::Write(e)) => return Err(e),
                    Err(DrawError::Image(e)) => {
                        crate::say(&format!("job {}: no preview: {e}", job.job_id));
                    }
                }
            }
            Ok(())
        });
        (Outcome::Completed, printed)
    }

    /// Downloads a completed job's image to `path` (or `path/job-ID.png`):
    /// where it went, and its bytes (for a preview).
    /// A failed download (exit 6) or save (exit 2: the path) fails this
    /// job's outcome, not the other jobs of a many-job wait; the journal
    /// keeps the image URL either way.
    async fn save_image(
        &self,
        job: &Job,
        path: &Path,
    ) -> Result<Option<(PathBuf, Vec<u8>)>, Failure> {
        let id = job.job_id;
        let Some(url) = job.image_url() else {
            return Ok(None);
        };
        let file = output_file(path, id);
        crate::failpoint::hit("before-download");
        let bytes = self.client.download(url).await.map_err(|e| {
            Failure::new(
                Exit::Unavailable,
                format!("job {id} completed but its image could not be downloaded from {url}: {e}"),
            )
        })?;
        save_png(&file, &bytes).map_err(|e| {
            Failure::usage(format!(
                "job {id} completed but its image could not be saved to {}: {e}",
                file.display()
            ))
        })?;
        Ok(Some((file, bytes)))
    }

    fn print_completed(&self, job: &Job, saved: Option<&Path>) -> std::io::Result<()> {
        let out = &self.ctx.out;
        if out.json {
            return self.print_json(&Saved {
                job,
                output_path: saved,
            });
        }
        let url = job.image_url().unwrap_or_default();
        out.human(&format!("job {} completed: {url}", job.job_id))?;
        if let Some(path) = saved {
            out.human(&format!("saved to {}", path.display()))?;
        }
        Ok(())
    }

    /// With `--json`, a job that did not complete is printed too: the job
    /// itself when it failed or was cancelled, else the error.
    fn print_error(&self, id: JobId, error: &Error) -> std::io::Result<()> {
        if !self.ctx.out.json {
            return Ok(());
        }
        match error {
            Error::JobFailed(job) | Error::JobCancelled(job) => self.print_json(job.as_ref()),
            other => self.print_json(&Unfinished {
                job_id: id,
                error: other.to_string(),
                code: json_code(other),
            }),
        }
    }

    fn print_json(&self, value: &impl Serialize) -> std::io::Result<()> {
        match self.report {
            Report::Document => self.ctx.out.document(value),
            Report::Lines => self.ctx.out.json_line(value),
        }
    }
}

/// Writes `bytes` to `path` atomically (temp file in the same directory, then rename).
fn save_png(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("image"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)?;
    crate::failpoint::hit("mid-save");
    std::fs::rename(&tmp, path)
}

/// Where job `id`'s image goes for `-o PATH`: the path itself, or
/// `PATH/job-ID.png` when it is a directory (or ends with `/`).
pub(crate) fn output_file(path: &Path, id: JobId) -> PathBuf {
    let as_dir = path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/');
    if as_dir {
        path.join(format!("job-{id}.png"))
    } else {
        path.to_owned()
    }
}
