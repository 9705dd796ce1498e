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
/// Ctrl-C, or any terminating signal (`crate::signals`), stops waiting
/// (the jobs keep running) and exits 128 + its number.
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
    // The spinners' lines are cut anew now and then: the window may have
    // been resized since (see `Progress::refit`).
    let mut refit = tokio::time::interval(crate::progress::REFIT_EVERY);
    while open > 0 {
        let next = tokio::select! {
            next = events.next() => next,
            _ = refit.tick(), if ctx.mode == Mode::Bars => {
                progress.refit();
                continue;
            }
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
        progress.set_max_attempts(client.mock_max_attempts());
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
        return crate::exit::explain(error);
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
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "json_path")]
    output_path: Option<&'a Path>,
}

/// A path in `--json` output: exactly when it is UTF-8, else with each
/// byte that is not shown as `\xE9` (JSON strings hold only Unicode).
fn json_path<S: serde::Serializer>(path: &Option<&Path>, serializer: S) -> Result<S::Ok, S::Error> {
    match path {
        Some(path) => match path.to_str() {
            Some(text) => serializer.serialize_str(text),
            None => serializer.serialize_str(&crate::safe::path(path)),
        },
        None => serializer.serialize_none(),
    }
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
                if let Some(failure) = crate::commands::wrong_api_url(self.client, &error).await {
                    return (Outcome::NotCompleted(failure), Ok(()));
                }
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
                Ok(Some(file)) => {
                    // The preview reads the file just saved (a local read,
                    // never a second download).
                    if self.ctx.preview().is_some() {
                        match crate::preview::image::read_file(&file) {
                            Ok(bytes) => image = Some(bytes),
                            Err(e) => progress.note(&format!(
                                "job {}: no preview: {}: {e}",
                                job.job_id,
                                crate::safe::path(&file)
                            )),
                        }
                    }
                    saved = Some(file);
                }
                Ok(None) => {}
                Err(failure) => return (Outcome::NotCompleted(failure), Ok(())),
            }
        }
        let preview = self.ctx.preview();
        // The preview's bytes: the file just saved, else one download
        // into memory (never a second one).
        if let (Some(_), None, None, Some(url)) = (preview, &image, &saved, job.image_url()) {
            match self.client.download(url).await {
                Ok(bytes) => image = Some(bytes),
                Err(e) => progress.note(&format!(
                    "job {}: no preview: its image could not be downloaded from {url}: {e}",
                    job.job_id
                )),
            }
        }
        if let (Some(record), Some(file)) = (&mut target.record, &saved) {
            // Absolute, as `generate -o` is stored: `history` and `resume`
            // may run from another directory.
            record.downloaded_to = Some(std::path::absolute(file).unwrap_or_else(|_| file.clone()));
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

    /// Downloads a completed job's image to `path` (or `path/job-ID.png`),
    /// streamed to disk: where it went.
    /// A failed download (exit 6) or save (exit 2: the path) fails this
    /// job's outcome, not the other jobs of a many-job wait; the journal
    /// keeps the image URL either way.
    async fn save_image(&self, job: &Job, path: &Path) -> Result<Option<PathBuf>, Failure> {
        let id = job.job_id;
        let Some(url) = job.image_url() else {
            return Ok(None);
        };
        let file = output_file(path, id);
        crate::failpoint::hit("before-download");
        let failed_download = |e: Error| {
            Failure::new(
                Exit::Unavailable,
                format!("job {id} completed but its image could not be downloaded from {url}: {e}"),
            )
        };
        let download = self
            .client
            .open_download(url)
            .await
            .map_err(failed_download)?;
        save_png(&file, download).await.map_err(|e| match e {
            SaveError::Download(e) => failed_download(e),
            SaveError::File(e) => Failure::usage(format!(
                "job {id} completed but its image could not be saved to {}: {e}",
                crate::safe::path(&file)
            )),
        })?;
        Ok(Some(file))
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
        // Whole (a URL is copied), but on one line.
        out.human(&format!(
            "job {} completed: {}",
            job.job_id,
            crate::safe::one_line(url)
        ))?;
        if let Some(path) = saved {
            out.human(&format!("saved to {}", crate::safe::path(path)))?;
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

/// Why an image was not saved.
enum SaveError {
    /// The download broke off (exit 6).
    Download(Error),
    /// The file could not be written (exit 2): a full disk, no permission.
    File(std::io::Error),
}

/// The temporary file an image is written to before it is renamed into
/// place, `.NAME.PID-N.tmp` beside it (N counts this process's saves): removed when dropped unless kept, so
/// no failure (a full disk, a broken download, a rename refused) leaves
/// one behind. Only a process killed mid-save does; the next save of the
/// same name removes those of processes that are gone.
struct TempImage {
    path: PathBuf,
    kept: bool,
}

impl Drop for TempImage {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// `.NAME.` and `.tmp`: the parts of a temporary file's name around the
/// process id.
fn temp_name_parts(path: &Path) -> (std::ffi::OsString, &'static str) {
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(path.file_name().unwrap_or("image".as_ref()));
    prefix.push(".");
    (prefix, ".tmp")
}

/// Streams a download to `path` atomically: into a temporary file in the
/// same directory (written, synced, so a full disk shows now and not at
/// some later close), then renamed over `path`. An existing regular file
/// at `path` keeps its permission bits; a symlink at `path` is replaced by
/// the file (its target is left alone); a new file gets `0666` less the
/// umask, as any file the shell creates.
async fn save_png(path: &Path, mut download: vestis_client::Download) -> Result<(), SaveError> {
    use std::io::Write;
    let (temp, mut file) = begin_save(path).map_err(SaveError::File)?;
    while let Some(chunk) = download.chunk().await.map_err(SaveError::Download)? {
        file.write_all(&chunk).map_err(SaveError::File)?;
    }
    finish_save(path, temp, file).map_err(SaveError::File)
}

/// [`save_png`] for an image already in memory (`vestis batch`), with the
/// same guarantees: atomic, no temporary file left on failure, an existing
/// file's mode kept; but without the sweep of stale temporary files
/// [`save_png`] does after it: for `vestis batch`, which saves thousands of images into one folder and
/// sweeps it once ([`StaleTemps`]); a scan of the folder per image was
/// quadratic in the rows (a 10 000-row batch read 50 million names).
pub(crate) fn save_png_bytes_into(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let (mut temp, mut file) = begin_save(path)?;
    file.write_all(bytes)?;
    rename_into_place(path, &mut temp, file)
}

/// The temporary files that saves of processes now gone left in one
/// folder (killed mid-save), found by one scan of it, by the name they
/// were saving: each is removed once its name is saved again
/// ([`StaleTemps::saved`]), as a single save removes its own name's.
#[derive(Debug, Default)]
pub(crate) struct StaleTemps {
    /// By the `.NAME.` part of their names.
    by_name: std::collections::HashMap<Vec<u8>, Vec<PathBuf>>,
}

impl StaleTemps {
    /// Scans `dir` once (nothing where `/proc` cannot tell which
    /// processes are gone).
    pub(crate) fn scan(dir: &Path) -> StaleTemps {
        let mut stale = StaleTemps::default();
        if !Path::new("/proc/self").exists() {
            return stale;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return stale;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some((prefix, pid)) = stale_parts(name.as_encoded_bytes()) else {
                continue;
            };
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                stale
                    .by_name
                    .entry(prefix.to_vec())
                    .or_default()
                    .push(entry.path());
            }
        }
        stale
    }

    /// `path` was saved: the stale temporary files of its name go.
    pub(crate) fn saved(&mut self, path: &Path) {
        if self.by_name.is_empty() {
            return;
        }
        let (prefix, _) = temp_name_parts(path);
        if let Some(temps) = self.by_name.remove(prefix.as_encoded_bytes()) {
            for temp in temps {
                let _ = std::fs::remove_file(temp);
            }
        }
    }
}

/// A temporary file's name, `.NAME.PID-N.tmp` (or an older version's
/// `.NAME.PID.tmp`), as its `.NAME.` and PID.
fn stale_parts(name: &[u8]) -> Option<(&[u8], u32)> {
    let rest = name.strip_suffix(b".tmp")?;
    let dot = rest.iter().rposition(|b| *b == b'.')?;
    let (prefix, pid) = rest.split_at(dot + 1);
    if !prefix.starts_with(b".") || prefix.len() < 3 {
        return None;
    }
    Some((prefix, temp_pid(pid)?))
}

/// The process id in the `PID` or `PID-N` part of a temporary file's name.
fn temp_pid(part: &[u8]) -> Option<u32> {
    let pid = match part.iter().position(|b| *b == b'-') {
        Some(dash) => {
            let (pid, count) = part.split_at(dash);
            if count.len() < 2 || !count[1..].iter().all(u8::is_ascii_digit) {
                return None;
            }
            pid
        }
        None => part,
    };
    if pid.is_empty() || !pid.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(pid).ok()?.parse().ok()
}

/// Saves begun by this process, numbering their temporary files: two
/// saves of one name at once (two rows of a batch) must not share one.
static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The temporary file a save writes into, in `path`'s directory (created
/// if missing).
fn begin_save(path: &Path) -> std::io::Result<(TempImage, std::fs::File)> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let (mut name, suffix) = temp_name_parts(path);
    let count = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    name.push(format!("{}-{count}", std::process::id()));
    name.push(suffix);
    let temp = TempImage {
        path: dir.join(name),
        kept: false,
    };
    let file = std::fs::File::create(&temp.path)?;
    Ok((temp, file))
}

/// Syncs the written temporary file (so a full disk shows now), gives it
/// an existing file's mode, and renames it over `path`; then removes the
/// temporary files earlier saves of `path` left (one scan of its folder).
fn finish_save(path: &Path, mut temp: TempImage, file: std::fs::File) -> std::io::Result<()> {
    rename_into_place(path, &mut temp, file)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    remove_stale_temps(dir, path);
    Ok(())
}

/// [`finish_save`]'s sync, mode and rename, without the scan.
fn rename_into_place(
    path: &Path,
    temp: &mut TempImage,
    file: std::fs::File,
) -> std::io::Result<()> {
    file.sync_all()?;
    if let Ok(existing) = std::fs::symlink_metadata(path)
        && existing.is_file()
    {
        file.set_permissions(existing.permissions())?;
    }
    drop(file);
    crate::failpoint::hit("mid-save");
    std::fs::rename(&temp.path, path)?;
    temp.kept = true;
    Ok(())
}

/// Removes the temporary files of earlier saves of `path` whose process is
/// gone (killed mid-save). Linux only: it needs `/proc` to tell.
fn remove_stale_temps(dir: &Path, path: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let (prefix, suffix) = temp_name_parts(path);
    let prefix = prefix.as_encoded_bytes();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .as_encoded_bytes()
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix.as_bytes()))
            .and_then(temp_pid);
        if let Some(pid) = pid
            && pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_split_into_their_name_and_process() {
        assert_eq!(
            stale_parts(b".r1.png.4242.tmp"),
            Some((&b".r1.png."[..], 4242))
        );
        assert_eq!(stale_parts(b".a.b.c.7.tmp"), Some((&b".a.b.c."[..], 7)));
        assert_eq!(
            stale_parts(b".r1.png.4242-17.tmp"),
            Some((&b".r1.png."[..], 4242))
        );
        for not in [
            &b"r1.png"[..],
            b"r1.png.42.tmp",
            b".r1.png.tmp",
            b".r1.png.x42.tmp",
            b".r1.png.42-.tmp",
            b".r1.png.-4.tmp",
            b".r1.png.42-x.tmp",
            b"..42.tmp",
            b".42.tmp",
        ] {
            assert_eq!(stale_parts(not), None, "{}", String::from_utf8_lossy(not));
        }
        // The prefix is what a save of the same name computes.
        let (prefix, _) = temp_name_parts(Path::new("/out/r1.png"));
        assert_eq!(prefix.as_encoded_bytes(), b".r1.png.");
    }

    /// Two saves of one name at once (two rows of a batch on blocking
    /// threads) each write their own temporary file: both succeed, and the
    /// file is one of the two images, whole.
    #[test]
    fn saves_of_one_name_at_once_do_not_share_a_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("same.png");
        let a = vec![b'a'; 256 * 1024];
        let b = vec![b'b'; 256 * 1024];
        for _ in 0..50 {
            let barrier = std::sync::Barrier::new(2);
            std::thread::scope(|s| {
                let saves = [&a, &b].map(|bytes| {
                    let (path, barrier) = (&path, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        save_png_bytes_into(path, bytes)
                    })
                });
                for save in saves {
                    save.join().unwrap().unwrap();
                }
            });
            let saved = std::fs::read(&path).unwrap();
            assert!(saved == a || saved == b, "bytes of both saves mixed");
        }
        let left = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(left, 1, "no temporary file left");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn stale_temporary_files_go_when_their_name_is_saved() {
        let dir = tempfile::tempdir().unwrap();
        // A process id no process has (above the kernel's maximum).
        let dead = dir.path().join(".r1.png.4194305.tmp");
        let other = dir.path().join(".r2.png.4194305.tmp");
        // Process 1 is always there.
        let live = dir.path().join(".r1.png.1.tmp");
        for file in [&dead, &other, &live] {
            std::fs::write(file, "x").unwrap();
        }
        let mut stale = StaleTemps::scan(dir.path());
        save_png_bytes_into(&dir.path().join("r1.png"), b"png").unwrap();
        assert!(dead.exists(), "not before the save says so");
        stale.saved(&dir.path().join("r1.png"));
        assert!(!dead.exists(), "a dead process's temporary file of r1.png");
        assert!(other.exists(), "another name's stays until it is saved");
        assert!(live.exists(), "a live process's is not stale");
        stale.saved(&dir.path().join("r2.png"));
        assert!(!other.exists());
    }
}
