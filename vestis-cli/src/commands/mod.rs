//! The subcommands, one file each, and what they share: the [`Context`]
//! (client, journal, output, progress mode) and the wait loop that renders
//! progress, keeps the journal current, downloads images and reports outcomes.

pub(crate) mod cancel;
pub(crate) mod completions;
pub(crate) mod generate;
pub(crate) mod history;
pub(crate) mod list;
pub(crate) mod resume;
pub(crate) mod status;
pub(crate) mod verify;
pub(crate) mod wait;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use anyhow::Context as _;
use futures::StreamExt;
use serde_json::json;
use vestis_client::{Client, Error, Job, JobId, PollStrategy, WaitEvent, WaitOptions};
use vestis_mock_server::MockServer;

use crate::Failure;
use crate::cli::{Global, StrategyArg, WaitFlags};
use crate::journal::{Journal, fingerprint};
use crate::output::Output;
use crate::progress::{Mode, Progress};

/// What every command works with.
pub(crate) struct Context {
    pub(crate) api_url: String,
    token: Option<String>,
    pub(crate) out: Output,
    pub(crate) mode: Mode,
    /// What Ctrl-C should say: how to pick up where the command stopped.
    interrupt: Mutex<Option<String>>,
    /// Keeps the `--mock` server alive for the command's duration.
    _mock: Option<MockServer>,
}

impl Context {
    /// Starts the in-process mock server when `--mock` is given.
    pub(crate) async fn new(global: &Global) -> anyhow::Result<Context> {
        let (api_url, token, mock) = if global.mock {
            let server = MockServer::start(vestis_mock_server::Config::default())
                .await
                .context("could not start the bundled mock server")?;
            let token = global
                .token
                .clone()
                .unwrap_or_else(|| "mock-user".to_owned());
            if !global.quiet {
                crate::say(&format!(
                    "Using the bundled mock server at {} (it stops when this command ends)",
                    server.api_url()
                ));
            }
            (server.api_url(), Some(token), Some(server))
        } else {
            (
                global.api_url.trim_end_matches('/').to_owned(),
                global.token.clone().filter(|t| !t.is_empty()),
                None,
            )
        };
        Ok(Context {
            api_url,
            token,
            out: Output { json: global.json },
            mode: Mode::choose(global.quiet, global.no_progress),
            interrupt: Mutex::new(None),
            _mock: mock,
        })
    }

    /// Sets the message shown if the user presses Ctrl-C from now on.
    pub(crate) fn on_interrupt(&self, message: String) {
        *self
            .interrupt
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(message);
    }

    /// The message for Ctrl-C: how to resume, or just "interrupted".
    pub(crate) fn interrupt_message(&self) -> String {
        self.interrupt
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| "interrupted".to_owned())
    }

    /// A client for the API; a token is required.
    pub(crate) fn client(&self) -> anyhow::Result<Client> {
        let Some(token) = &self.token else {
            return Err(Failure::usage(
                "no API token: pass --token or set VESTIS_TOKEN (or try --mock)",
            )
            .into());
        };
        Ok(Client::builder()
            .base_url(&self.api_url)
            .token(token)
            .user_agent(concat!("vestis-cli/", env!("CARGO_PKG_VERSION")))
            .build()?)
    }

    /// The fingerprint of the current token, as stored in the journal.
    pub(crate) fn identity(&self) -> String {
        fingerprint(self.token.as_deref().unwrap_or_default())
    }

    pub(crate) fn journal(&self) -> anyhow::Result<Journal> {
        Ok(Journal::locate()?)
    }
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

/// One job to wait for, with where its journal record is and where its image goes.
pub(crate) struct Target {
    pub(crate) id: JobId,
    pub(crate) output: Option<PathBuf>,
}

/// How a finished wait is reported on stdout.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    /// One pretty JSON document (a single `generate`).
    Document,
    /// One JSON object per line as each job finishes (`wait`, `resume`).
    Lines,
}

/// The exit code a client error maps to (see `EXIT_CODES`).
pub(crate) fn exit_code(error: &Error) -> u8 {
    match error {
        Error::JobFailed(_) | Error::JobCancelled(_) => 1,
        Error::InvalidRequest(_) | Error::Conflict(_) | Error::Config(_) => 2,
        Error::TimedOut { .. } => 3,
        Error::Unauthorized(_) => 4,
        Error::NotFound(_) => 5,
        _ => 6,
    }
}

fn error_code_name(error: &Error) -> &'static str {
    match error {
        Error::JobFailed(_) => "job_failed",
        Error::JobCancelled(_) => "job_cancelled",
        Error::TimedOut { .. } => "timed_out",
        Error::Unauthorized(_) => "unauthorized",
        Error::NotFound(_) => "not_found",
        Error::InvalidRequest(_) | Error::Config(_) => "invalid_request",
        Error::Conflict(_) => "conflict",
        Error::RateLimited { .. } => "rate_limited",
        Error::Decode { .. } => "bad_response",
        _ => "unavailable",
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

/// Waits for `targets` concurrently: renders progress, keeps the journal
/// current, downloads images, prints each outcome as it arrives. Ctrl-C
/// stops waiting (the jobs keep running) and exits 130.
pub(crate) async fn wait_for(
    ctx: &Context,
    client: &Client,
    journal: Option<&Journal>,
    targets: Vec<Target>,
    options: &WaitOptions,
    report: Report,
) -> anyhow::Result<()> {
    let mut progress = Progress::new(ctx.mode);
    let outputs: HashMap<JobId, Option<PathBuf>> =
        targets.iter().map(|t| (t.id, t.output.clone())).collect();
    let ids: Vec<JobId> = targets.iter().map(|t| t.id).collect();
    for id in &ids {
        progress.start(*id, "Checking status...");
    }
    let mut events = client.wait_many_stream(ids.clone(), options);
    let mut worst: u8 = 0;
    let mut failures: Vec<String> = Vec::new();
    let mut journal_warned = false;
    let mut note_journal_error = |progress: &Progress, e: &dyn std::fmt::Display| {
        if !journal_warned {
            journal_warned = true;
            progress.note(&format!("warning: {e}"));
        }
    };
    let mut open = ids.len();
    let sink = Sink {
        ctx,
        client,
        journal,
        report,
    };

    let list: Vec<String> = ids.iter().map(ToString::to_string).collect();
    ctx.on_interrupt(format!(
        "stopped waiting; the job{} keep{} running: re-attach with `vestis wait {}`",
        if ids.len() == 1 { "" } else { "s" },
        if ids.len() == 1 { "s" } else { "" },
        list.join(" ")
    ));
    // Ctrl-C is handled in `main`, which drops this future; dropping
    // `progress` stops the spinners where they are.
    loop {
        let Some((id, event)) = events.next().await else {
            break;
        };
        progress.event(id, &event);
        match event {
            WaitEvent::StatusChanged { job, .. } => {
                if let Some(journal) = journal
                    && let Err(e) = journal.observe(&ctx.api_url, &job)
                {
                    note_journal_error(&progress, &e);
                }
            }
            WaitEvent::Finished(result) => {
                open -= 1;
                let output = outputs.get(&id).cloned().flatten();
                let code = sink.finished(id, result, output.as_deref()).await?;
                if let Err(message) = code {
                    worst = worst.max(message.0);
                    failures.push(message.1);
                }
            }
            _ => {}
        }
        if open == 0 {
            break;
        }
    }
    match failures.len() {
        0 => Ok(()),
        1 => Err(Failure::new(worst, failures.remove(0)).into()),
        n => Err(Failure::new(worst, format!("{n} of {} jobs did not complete", ids.len())).into()),
    }
}

/// Where a finished wait's outcome goes: the journal, the image file, stdout.
#[derive(Clone, Copy)]
struct Sink<'a> {
    ctx: &'a Context,
    client: &'a Client,
    journal: Option<&'a Journal>,
    report: Report,
}

impl Sink<'_> {
    /// Handles one finished wait. `Ok(Err((code, message)))` is a job that
    /// did not complete; `Err` is a local failure (stdout closed).
    async fn finished(
        &self,
        id: JobId,
        result: Result<Job, Error>,
        output: Option<&Path>,
    ) -> anyhow::Result<Result<(), (u8, String)>> {
        let Sink {
            ctx,
            client,
            journal,
            report,
        } = *self;
        // The journal already has the final state: every wait ends with a
        // `StatusChanged` to it (the terminal status always differs from
        // the one before, or is the first seen), which `wait_for` recorded.
        let mut saved: Option<PathBuf> = None;
        if let (Ok(job), Some(path)) = (&result, output)
            && let Some(url) = job.result.as_ref().map(|r| r.image_url.clone())
        {
            let file = output_file(path, id);
            // A failed download (exit 6) or save (exit 2: the path) fails this job's outcome, not
            // the other jobs of a many-job wait; the journal keeps the image URL.
            let bytes = match client.download(&url).await {
                Ok(bytes) => bytes,
                Err(e) => {
                    return Ok(Err((
                        6,
                        format!(
                            "job {id} completed but its image could not be downloaded from {url}: {e}"
                        ),
                    )));
                }
            };
            if let Err(e) = save_png(&file, &bytes) {
                return Ok(Err((
                    2,
                    format!(
                        "job {id} completed but its image could not be saved to {}: {e}",
                        file.display()
                    ),
                )));
            }
            if let Some(journal) = journal {
                let _ = journal.update(|records| {
                    for r in records
                        .iter_mut()
                        .filter(|r| r.job_id == Some(id) && r.api_url == ctx.api_url)
                    {
                        r.downloaded_to = Some(file.clone());
                    }
                });
            }
            saved = Some(file);
        }

        let print = |value: &serde_json::Value| match report {
            Report::Document => ctx.out.document(value),
            Report::Lines => ctx.out.json_line(value),
        };
        match result {
            Ok(job) => {
                if ctx.out.json {
                    let mut value = serde_json::to_value(&job)?;
                    if let Some(path) = &saved {
                        value["output_path"] = json!(path);
                    }
                    print(&value)?;
                } else {
                    let url = job
                        .result
                        .as_ref()
                        .map(|r| r.image_url.as_str())
                        .unwrap_or("");
                    ctx.out.human(&format!("job {id} completed: {url}"))?;
                    if let Some(path) = &saved {
                        ctx.out.human(&format!("saved to {}", path.display()))?;
                    }
                }
                Ok(Ok(()))
            }
            Err(error) => {
                let code = exit_code(&error);
                if let (Some(journal), Error::NotFound(_)) = (journal, &error) {
                    let _ = journal.update(|records| {
                        for r in records
                            .iter_mut()
                            .filter(|r| r.job_id == Some(id) && r.api_url == ctx.api_url)
                        {
                            r.status = crate::journal::GONE.to_owned();
                            r.error = Some("the server no longer knows this job".to_owned());
                        }
                    });
                }
                if ctx.out.json {
                    match &error {
                        Error::JobFailed(job) | Error::JobCancelled(job) => {
                            print(&serde_json::to_value(job)?)?
                        }
                        other => print(&json!({
                            "job_id": id,
                            "error": other.to_string(),
                            "code": error_code_name(other),
                        }))?,
                    }
                }
                Ok(Err((code, error.to_string())))
            }
        }
    }
}
