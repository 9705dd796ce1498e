//! `vestis batch FILE`: a job for every row of a CSV or JSON Lines file,
//! each exactly once, resumable after anything stops it.
//!
//! Two passes over the file, one row in memory at a time: the first checks
//! every row and lists every bad one (nothing is sent if any is bad, unless
//! `--skip-invalid`); the second creates jobs, at most `--concurrency` (or
//! `--jobs-in-flight`) in flight, and waits for them through the SDK's [`WaitSet`] (one in-flight
//! cap and one 429 pause for creates and polls alike).
//!
//! Exactly once: each row's create carries an idempotency key derived from
//! the batch and the row (its identity and content), so sending a row again
//! answers the job it already has. The manifest records finished rows and
//! the batch's log in the journal directory records job ids, so running the
//! same command again (or `vestis resume`) skips finished rows, re-attaches
//! to rows in flight, and sends the rest. A server that lost a row's job
//! (restarted: the id is gone, or names a job created at another time) is
//! asked again with the row's key, which makes the job anew.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use vestis_client::{
    Client, CreateJobResponse, CreateOptions, Error, Job, JobId, StopWait, Timestamp, WaitEvent,
    WaitSet,
};

use crate::batch::input::{Format, Row, Rows, fingerprint_bytes, images_folder, materialise};
use crate::batch::manifest::{self, Ended, Entry, Finished, Manifest};
use crate::batch::names::Template;
use crate::cli::{BatchArgs, FormatArg, WaitFlags};
use crate::commands::Context;
use crate::exit::{Exit, Failure};
use crate::journal::batch::{BatchLog, RowState, RunSettings, StoredPath, key_text};
use crate::progress::{Mode, Overall, Progress, RowLabel, status_message};
use crate::waiting::{StaleTemps, save_png_bytes_into, wait_options};

/// How often the plain overall line is written when stderr is not a
/// terminal, unless `VESTIS_PROGRESS_EVERY` says otherwise.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// The variable that sets [`PLAIN_EVERY`] (`30s`, `1m`, `500ms`).
const PLAIN_EVERY_VAR: &str = "VESTIS_PROGRESS_EVERY";

/// How often the plain overall line is written: `VESTIS_PROGRESS_EVERY`
/// (a log may want it rarer, a test sooner), else [`PLAIN_EVERY`].
///
/// # Errors
///
/// The variable is set but is not a duration of at least 10ms.
fn plain_every() -> Result<Duration, Failure> {
    let Some(text) = std::env::var_os(PLAIN_EVERY_VAR).filter(|v| !v.is_empty()) else {
        return Ok(PLAIN_EVERY);
    };
    text.to_str()
        .and_then(|t| humantime::parse_duration(t.trim()).ok())
        .filter(|d| *d >= Duration::from_millis(10))
        .ok_or_else(|| {
            Failure::usage(format!(
                "{PLAIN_EVERY_VAR}={}: expected a duration of at least 10ms, such as 30s or 1m",
                crate::safe::one_line(&text.to_string_lossy())
            ))
        })
}

/// `vestis batch`.
pub(crate) async fn run(ctx: &Context, args: BatchArgs) -> anyhow::Result<()> {
    let journal = ctx.journal()?;
    // Decided before any live display starts (it may ask the terminal).
    ctx.use_preview(&args.wait.preview)?;
    // Checked before anything is read (stdin included).
    Template::parse(&args.name).map_err(Failure::usage)?;
    let input = args.file.clone();
    // As written (made absolute and cleaned), for messages; its real
    // place, symlinks resolved, only in the batch's identity.
    let output = cleaned(&args.output);
    let batch = batch_id(ctx, &input, &output);
    if args.forget {
        return forget(ctx, journal.dir(), &batch, &input, &output);
    }
    let read_from = materialise(
        &input,
        &crate::journal::batch::batches_dir(journal.dir()).join(format!("{batch}.input")),
    )
    .map_err(|e| Failure::usage(format!("cannot read {}: {e}", shown(&input))))?;
    let asked = args.format.map(|f| match f {
        FormatArg::Csv => Format::Csv,
        FormatArg::Jsonl => Format::Jsonl,
    });
    let format = Format::decide(asked, &read_from, &input)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", shown(&input))))?;
    let settings = RunSettings {
        api_url: ctx.api_url.clone(),
        identity: ctx.identity(),
        input: StoredPath::of(&input),
        read_from: StoredPath::of(&read_from),
        format,
        kind: args.kind,
        output: StoredPath::of(&output),
        name: args.name.clone(),
        overwrite: args.overwrite,
        concurrency: usize::from(args.concurrency),
        jobs_in_flight: args.jobs_in_flight.map(|n| n as usize),
        skip_invalid: args.skip_invalid,
        started_in: std::env::current_dir().ok().map(|dir| StoredPath::of(&dir)),
    };
    execute(ctx, &batch, settings, &args.wait, args.dry_run, &mut false).await
}

/// `vestis batch FILE -o DIR --forget`: drops the batch's log (and its
/// copy of stdin) from the journal, so `vestis resume` no longer runs it;
/// what it saved in DIR stays. The batch's lock is taken first: a batch
/// that is running is not forgotten under it.
fn forget(
    ctx: &Context,
    journal: &Path,
    batch: &str,
    input: &Path,
    output: &Path,
) -> anyhow::Result<()> {
    let dir = crate::journal::batch::batches_dir(journal);
    let log_path = dir.join(format!("{batch}.jsonl"));
    let what = format!(
        "the batch of {} into {}",
        shown(input),
        crate::safe::path(output)
    );
    if !log_path.exists() {
        return Err(Failure::usage(format!(
            "{what} is not in the journal (for {} and this token): nothing to forget",
            ctx.api_url
        ))
        .into());
    }
    let log = BatchLog::open(journal, batch)?;
    for path in [log_path, dir.join(format!("{batch}.input"))] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Failure::usage(format!(
                    "cannot remove {}: {e}",
                    crate::safe::path(&path)
                ))
                .into());
            }
        }
    }
    drop(log);
    let _ = std::fs::remove_file(dir.join(format!("{batch}.lock")));
    ctx.note(&format!(
        "Forgot {what}: `vestis resume` will not run it; its images and manifest are left as they are."
    ));
    Ok(())
}

/// Runs every unfinished batch this machine started on the current API
/// with the current token (for `vestis resume`): how many there were, and
/// the outcome of each that did not complete.
pub(crate) async fn resume_all(ctx: &Context, wait: &WaitFlags) -> (usize, Vec<Failure>) {
    let mut failures = Vec::new();
    let mut resumed = 0;
    let Ok(journal) = ctx.journal() else {
        return (resumed, failures);
    };
    for path in crate::journal::batch::logs(journal.dir()) {
        let Ok(state) = BatchLog::read(&path, |_| false) else {
            continue;
        };
        let Some(settings) = state.settings else {
            continue;
        };
        if state.finished || settings.api_url != ctx.api_url || settings.identity != ctx.identity()
        {
            continue;
        }
        let Some(batch) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
            continue;
        };
        resumed += 1;
        // The file as this process reads it: relative to the folder the
        // batch began in, joined to it when `resume` runs elsewhere.
        let what = format!(
            "the batch of {} into {}",
            shown(&settings.as_started(&settings.input.path())),
            crate::safe::path(&settings.output.path())
        );
        ctx.note(&format!("Resuming {what}..."));
        // With the batch's API URL: a batch is known by it, and a hint
        // run without the `--api-url` this `resume` was given finds none.
        let forget = format!(
            "vestis --api-url {} batch {} -o {} --forget",
            crate::safe::one_line(&settings.api_url),
            crate::safe::path(&settings.as_started(&settings.input.path())),
            crate::safe::path(&settings.output.path())
        );
        let mut summarised = false;
        if let Err(e) = execute(ctx, &batch, settings, wait, false, &mut summarised).await {
            let busy = match e.downcast_ref::<crate::journal::JournalError>() {
                Some(crate::journal::JournalError::Busy { pid }) => Some(*pid),
                _ => None,
            };
            let failure = match e.downcast::<Failure>() {
                Ok(failure) => failure,
                Err(e) => Failure::new(Exit::of(&e), e.to_string()),
            };
            // Under its own header, before the next batch's: at the end,
            // after every header, it read as the last batch's.
            crate::say(&format!("vestis: {failure}"));
            let outcome = match busy {
                // Running elsewhere: it needs no forgetting, only its turn.
                Some(Some(pid)) => format!(
                    "{what}: not resumed: another vestis (process {pid}) is running it; wait for it to finish, or stop it (`kill {pid}`), then run `vestis resume` again"
                ),
                Some(None) => format!(
                    "{what}: not resumed: another vestis is running it; wait for it to finish, or stop it (`pgrep -a vestis`), then run `vestis resume` again"
                ),
                None if summarised => format!(
                    "{what}: not finished (its summary is above); to stop resuming it: {forget}"
                ),
                None => format!(
                    "{what}: not finished (the error is above); to stop resuming it: {forget}"
                ),
            };
            failures.push(Failure::new(failure.exit, outcome));
        }
    }
    (resumed, failures)
}

/// The batch's identity: the API, the token, the input as given and DIR.
/// The same command run again is the same batch; the file's content is not
/// part of it (rows are told apart by their own content).
fn batch_id(ctx: &Context, input: &Path, output: &Path) -> String {
    let input = if input == Path::new("-") {
        input.to_owned()
    } else {
        normalised(input)
    };
    let mut bytes = Vec::new();
    for part in [
        ctx.api_url.as_bytes(),
        ctx.identity().as_bytes(),
        input.as_os_str().as_encoded_bytes(),
        normalised(output).as_os_str().as_encoded_bytes(),
    ] {
        bytes.extend_from_slice(part);
        bytes.push(0);
    }
    key_text(fingerprint_bytes(&bytes))
}

/// `path` as one spelling of its place, so `out`, `out/`, `./out` and
/// `/abs/out` are one batch: [`cleaned`], its longest existing part with
/// symlinks resolved.
fn normalised(path: &Path) -> PathBuf {
    let lexical = cleaned(path);
    let mut missing = Vec::new();
    let mut existing = lexical.as_path();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return missing.iter().rev().fold(real, |p, name| p.join(name));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_owned());
                existing = parent;
            }
            _ => return lexical,
        }
    }
}

/// `path` made absolute, without `.`, `..` or a trailing slash (`..`
/// taken lexically, as the shell's `cd` does).
fn cleaned(path: &Path) -> PathBuf {
    use std::path::Component;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut lexical = PathBuf::new();
    for part in absolute.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                lexical.pop();
            }
            other => lexical.push(other),
        }
    }
    lexical
}

/// How many images are saved at once: saves into one folder take its
/// lock (create, rename), and dozens at once spent more time spinning on
/// it than writing; two still overlap one's sync with the other's write.
const SAVERS: usize = 2;

/// How long creates go unanswered before the server is probed (and how
/// often, while it cannot be reached).
const UNANSWERED: Duration = Duration::from_secs(1);

/// How long after a probe found the server before the next one.
const REACHABLE_AGAIN: Duration = Duration::from_secs(30);

/// A row's key: its batch, identity (id, else line) and content. Also its
/// idempotency key's second half.
fn row_key(batch: &str, row: &Row) -> u64 {
    let text = format!("{batch}\0{}\0{:016x}", row.identity(), row.content);
    fingerprint_bytes(text.as_bytes())
}

fn idempotency_key(batch: &str, key: u64) -> String {
    format!("vestis-batch-{batch}-{}", key_text(key))
}

/// A path as the user wrote it, for messages (`<stdin>` for `-`), as
/// every path is shown: a byte that is not UTF-8 as `\xE9`
/// ([`crate::safe::path`]).
fn shown(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".to_owned()
    } else {
        crate::safe::path(path)
    }
}

/// How a row is named in messages: `line 4` or `row "sku-1" (line 4)`.
fn label(row: &Row) -> String {
    match &row.id {
        Some(id) => format!("row {id:?} (line {})", row.line),
        None => format!("line {}", row.line),
    }
}

/// What the first pass found.
struct Checked {
    valid: u64,
    invalid: u64,
    /// Valid rows an earlier run finished, by outcome: of this file's rows
    /// only (the manifest also has the rows edited since).
    earlier: Earlier,
}

/// The first pass: every row checked, every bad one listed, and the
/// valid ones an earlier run `finished` counted.
fn check(
    settings: &RunSettings,
    template: &Template,
    file: &str,
    batch: &str,
    finished: &Finished,
) -> anyhow::Result<Checked> {
    let rows = match open_rows(settings, file)? {
        Ok(rows) => rows,
        Err(e) => {
            return Err(Failure::usage(format!("{}; nothing was sent", e.render(file))).into());
        }
    };
    let mut repeats = Repeats::default();
    let mut checked = Checked {
        valid: 0,
        invalid: 0,
        earlier: Earlier::default(),
    };
    for row in rows {
        let problem = match row {
            Err(e) => Some(e.render(file)),
            Ok(row) => match repeats.of(&row, template) {
                Some(Repeat::Id) => Some(format!(
                    "{file}:{}: id: {:?} is the id of an earlier row",
                    row.line,
                    row.id.as_deref().unwrap_or_default()
                )),
                Some(Repeat::Name { name, earlier }) => Some(format!(
                    "{file}:{}: name: {name:?} is also the image of line {earlier} (use {{id}} or {{line}} in --name)",
                    row.line
                )),
                None => {
                    checked.earlier.count(finished.get(row_key(batch, &row)));
                    None
                }
            },
        };
        match problem {
            Some(line) => {
                checked.invalid += 1;
                crate::say(&format!("vestis: {line}"));
            }
            None => checked.valid += 1,
        }
    }
    Ok(checked)
}

/// How a row repeats an earlier one, which makes it invalid.
enum Repeat {
    /// Its `id` is an earlier row's.
    Id,
    /// Its image's file name is that of the row on line `earlier`.
    Name { name: String, earlier: u64 },
}

/// The ids and image names of the rows seen so far: the first pass lists
/// the rows that repeat one, the second leaves the same rows out (read in
/// the same order, they repeat the same ones), so a row the check called
/// invalid is never sent, `--skip-invalid` or not.
#[derive(Default)]
struct Repeats {
    ids: HashSet<u64>,
    /// By name, the line of the last row with it.
    names: HashMap<u64, u64>,
}

impl Repeats {
    /// Whether `row` repeats an earlier row (and notes it as seen).
    fn of(&mut self, row: &Row, template: &Template) -> Option<Repeat> {
        let id_taken = row
            .id
            .as_ref()
            .is_some_and(|id| !self.ids.insert(fingerprint_bytes(id.as_bytes())));
        let name = template.render(row, None);
        let name_taken = if template.uses_job() {
            None
        } else {
            self.names
                .insert(fingerprint_bytes(name.as_bytes()), row.line)
        };
        if id_taken {
            Some(Repeat::Id)
        } else {
            name_taken.map(|earlier| Repeat::Name { name, earlier })
        }
    }
}

/// The rows the first pass found valid, in order.
fn valid_rows(rows: Rows, template: &Template) -> impl Iterator<Item = Row> + use<'_> {
    let mut repeats = Repeats::default();
    rows.filter_map(Result::ok)
        .filter(move |row| repeats.of(row, template).is_none())
}

/// The batch's rows, read from where it was started (its relative image
/// paths too); `Err` inside for a CSV header that cannot be used.
///
/// # Errors
///
/// The file cannot be read: exit 2 naming it as `file`.
fn open_rows(
    settings: &RunSettings,
    file: &str,
) -> Result<Result<Rows, crate::batch::input::RowError>, Failure> {
    let read_from = settings.as_started(&settings.read_from.path());
    Rows::open(
        &read_from,
        settings.format,
        settings.kind,
        &settings.as_started(&images_folder(&settings.input.path())),
    )
    .map_err(|e| {
        // Resumed from another folder: the path it was read from.
        let file = if read_from == settings.read_from.path() {
            file.to_owned()
        } else {
            crate::safe::path(&read_from)
        };
        Failure::usage(format!("cannot read {file}: {e}"))
    })
}

/// Validates, then (unless `dry_run`) runs the batch to its end;
/// `summarised` is set once the error returned is, or comes after, the
/// batch's summary line (`vestis resume` says where to look).
async fn execute(
    ctx: &Context,
    batch: &str,
    settings: RunSettings,
    flags: &WaitFlags,
    dry_run: bool,
    summarised: &mut bool,
) -> anyhow::Result<()> {
    let template = Template::parse(&settings.name).map_err(Failure::usage)?;
    let plain_every = plain_every()?;
    let input = settings.input.path();
    let file = shown(&input);
    let output = settings.output.path();
    let manifest_path = output.join("manifest.jsonl");
    let finished = manifest::finished(&manifest_path, batch).map_err(|e| {
        Failure::usage(format!(
            "cannot read the manifest {}: {e}",
            crate::safe::path(&manifest_path)
        ))
    })?;
    let checked = check(&settings, &template, &file, batch, &finished)?;
    if checked.invalid > 0 && !settings.skip_invalid {
        return Err(Failure::usage(format!(
            "{} of {} rows in {file} are invalid; nothing was sent (fix them, or pass --skip-invalid to send the others)",
            group(checked.invalid),
            group(checked.valid + checked.invalid)
        ))
        .into());
    }
    if checked.valid == 0 {
        return Err(Failure::usage(format!("{file}: no rows to send; nothing was sent")).into());
    }
    if dry_run {
        return dry(ctx, batch, &settings, &template, &finished, checked.valid);
    }
    std::fs::create_dir_all(&output).map_err(|e| {
        // In the words of `--dry-run` (which names the folder that
        // cannot be written into), when it finds the cause.
        Failure::usage(folder_problem(&output).unwrap_or_else(|| {
            format!(
                "cannot create the output folder {}: {e}",
                crate::safe::path(&output)
            )
        }))
    })?;
    let journal = ctx.journal()?;
    let mut log = BatchLog::open(journal.dir(), batch)?;
    let known = BatchLog::read(log.path(), |key| !finished.contains(key))?;
    log.run(&settings)?;
    let manifest_new = std::fs::symlink_metadata(&manifest_path).is_err();
    let manifest = Manifest::open(&manifest_path).map_err(|e| {
        Failure::usage(format!(
            "cannot open the manifest {}: {e}",
            crate::safe::path(&manifest_path)
        ))
    })?;
    let client = ctx.client()?;
    let stale = StaleTemps::scan(&output);
    ctx.on_interrupt(if ctx.is_mock() {
        "stopped; the bundled mock server stopped with this command, and its jobs with it".to_owned()
    } else {
        "stopped; the jobs in flight keep running on the server: run the same command again (or `vestis resume`) to skip the finished rows and pick up the rest".to_owned()
    });
    let mut runner = Runner {
        ctx,
        batch,
        template: template.clone(),
        overwrite: settings.overwrite,
        output,
        client: client.clone(),
        set: client.wait_set(
            &wait_options(flags)
                .max_in_flight(settings.concurrency)
                // A batch runs unattended: an outage is ridden out until
                // each job's --timeout, not for a count of polls.
                .max_transient_errors(u32::MAX),
        ),
        create_timeout: flags.timeout,
        log,
        manifest,
        manifest_sync: None,
        manifest_new,
        known: known.rows,
        saving: HashMap::new(),
        slots: HashMap::new(),
        finishing: 0,
        next_tag: 0,
        creates: FuturesUnordered::new(),
        downloads: FuturesUnordered::new(),
        saves: FuturesUnordered::new(),
        savers: Arc::new(tokio::sync::Semaphore::new(SAVERS)),
        downloaders: Arc::new(tokio::sync::Semaphore::new(settings.concurrency.max(1))),
        in_flight: HashSet::new(),
        answered: Instant::now(),
        probe: None,
        unreachable: None,
        next_probe: Instant::now(),
        stale,
        progress: Progress::with_overall(ctx.mode),
        tally: Tally {
            total: checked.valid,
            earlier: checked.earlier,
            invalid: checked.invalid,
            ..Tally::default()
        },
        started: Instant::now(),
        file_name: match input.file_name() {
            Some(name) if input != Path::new("-") => crate::safe::path(Path::new(name)),
            _ => file.clone(),
        },
        reattached: HashSet::new(),
    };
    let skipped = runner.tally.skipped();
    if skipped > 0 {
        // Of the valid rows, as the summary counts them (invalid ones
        // are never sent, so never finished).
        let valid = if checked.invalid > 0 { " valid" } else { "" };
        ctx.note(&format!(
            "{} of {}{valid} {} already finished in an earlier run: skipping them",
            group(skipped),
            group(checked.valid),
            rows_word(checked.valid)
        ));
    }
    let rows = open_rows(&settings, &file)?.map_err(|e| Failure::usage(e.render(&file)))?;
    let rows = valid_rows(rows, &template).filter(|row| !finished.contains(row_key(batch, row)));
    // At least 1 each, whatever a hand-edited log says: 0 would start nothing.
    let jobs = settings
        .jobs_in_flight
        .unwrap_or(settings.concurrency)
        .max(1);
    let ran = runner
        .run(rows, jobs, settings.concurrency.max(1), plain_every)
        .await;
    drop(finished);
    *summarised = true;
    match ran {
        Ok(()) => runner.finish(),
        Err(e) => Err(runner.stop(e)),
    }
}

/// `--dry-run`: what would be created, sending nothing; and what a real
/// run would stop at: an output folder it cannot create or write into
/// (one line), and rows whose image file exists (a line each), which a
/// real run would not replace without `--overwrite`. Either is exit 2, as
/// the real run's.
fn dry(
    ctx: &Context,
    batch: &str,
    settings: &RunSettings,
    template: &Template,
    finished: &Finished,
    valid: u64,
) -> anyhow::Result<()> {
    let input = settings.input.path();
    let file = shown(&input);
    let rows = open_rows(settings, &file)?.map_err(|e| Failure::usage(e.render(&file)))?;
    let output = settings.output.path();
    // What an earlier, unfinished run knows: the rows' jobs (for a
    // `{job}` name) and the files it was saving (its own to replace).
    let known = match ctx.journal() {
        Ok(journal) => BatchLog::read(
            &crate::journal::batch::batches_dir(journal.dir()).join(format!("{batch}.jsonl")),
            |key| !finished.contains(key),
        )
        .map(|state| state.rows)
        .unwrap_or_default(),
        Err(_) => HashMap::new(),
    };
    let folder = folder_problem(&output);
    let mut would = 0u64;
    let mut exists = 0u64;
    for row in valid_rows(rows, template) {
        let key = row_key(batch, &row);
        if finished.contains(key) {
            continue;
        }
        would += 1;
        let state = known.get(&key);
        let job = state.and_then(|s| s.job_id);
        let path = output.join(template.render(&row, job));
        let ours = state
            .and_then(|s| s.saving.as_ref())
            .is_some_and(|saving| saving.path() == path);
        let name_known = job.is_some() || !template.uses_job();
        let taken = folder.is_none()
            && !settings.overwrite
            && name_known
            && !ours
            // As the real run checks it.
            && path.exists();
        // Local images as resolved (from the input's folder), so a dry
        // run shows which file each row would send.
        let images: Vec<String> = row
            .images()
            .iter()
            .map(|i| crate::safe::path(Path::new(i)))
            .collect();
        if ctx.out.json {
            ctx.out.json_line(&serde_json::json!({
                "line": row.line,
                "id": row.id,
                "kind": row.kind,
                "prompt": row.prompt(),
                "images": images,
                "output": crate::safe::path(&path),
                "exists": taken,
            }))?;
        } else {
            let with = if images.is_empty() {
                String::new()
            } else {
                format!(" with {}", images.join(", "))
            };
            ctx.out.human(&format!(
                "{}: {} {:?}{with} -> {}",
                label(&row),
                row.kind,
                row.prompt().unwrap_or_default(),
                crate::safe::path(&path)
            ))?;
        }
        if taken {
            exists += 1;
            crate::say(&format!(
                "vestis: {file}:{}: output: {} exists: a real run would not replace it (pass --overwrite to replace it)",
                row.line,
                crate::safe::path(&path)
            ));
        }
    }
    let counted = format!(
        "dry run: {} of {} {} would be created ({} already finished); nothing was sent",
        group(would),
        group(valid),
        rows_word(valid),
        group(valid.saturating_sub(would))
    );
    if let Some(problem) = folder {
        crate::say(&format!("vestis: {problem}"));
        return Err(Failure::usage(format!(
            "{counted}; a real run would stop at once: the output folder cannot be used"
        ))
        .into());
    }
    if exists > 0 {
        return Err(Failure::usage(format!(
            "{counted}; {} of them would not be saved: their files exist (pass --overwrite to replace them)",
            group(exists)
        ))
        .into());
    }
    ctx.note(&counted);
    Ok(())
}

/// Why a real run could not use `output` as its folder, if it could not:
/// it is not a folder, it cannot be created (the nearest folder that
/// exists above it is not one, or cannot be written into), or it cannot
/// be written into. Tried, not guessed from permission bits (which say
/// nothing for root, a read-only mount or `/proc`): a file is created
/// there and removed at once.
fn folder_problem(output: &Path) -> Option<String> {
    let shown = crate::safe::path(output);
    let mut existing = output;
    while std::fs::symlink_metadata(existing).is_err() {
        // A relative path's last parent is "": the current folder.
        existing = match existing.parent()? {
            p if p.as_os_str().is_empty() => Path::new("."),
            p => p,
        };
    }
    let creating = existing != output;
    if !creating && !existing.is_dir() {
        return Some(format!("the output folder {shown} is a file, not a folder"));
    }
    let problem = if !existing.is_dir() {
        format!("{} is not a folder", crate::safe::path(existing))
    } else {
        let probe = existing.join(format!(".vestis-dry-run-{}.tmp", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
        {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
                return None;
            }
            Err(e) if creating => format!(
                "{} cannot be written into: {e}",
                crate::safe::path(existing)
            ),
            Err(e) => e.to_string(),
        }
    };
    Some(if creating {
        format!("cannot create the output folder {shown}: {problem}")
    } else {
        format!("cannot write into the output folder {shown}: {problem}")
    })
}

/// What a job's line says when a run re-attaches to it (its row was in
/// flight when an earlier run stopped), until its first poll answers.
const REATTACHED: &str = "Re-attached, checking its status...";

/// `row` for one, `rows` for any other count (`1 row`, `0 rows`).
fn rows_word(n: u64) -> &'static str {
    if n == 1 { "row" } else { "rows" }
}

/// Counts for the overall line and the summary: both are written from
/// the same counts, in the same words ([`Tally::problems`]), so the live
/// line's "failed" is the summary's "failed".
#[derive(Debug, Default)]
struct Tally {
    /// Valid rows in the file.
    total: u64,
    /// Invalid rows skipped (`--skip-invalid`).
    invalid: u64,
    /// Rows finished in earlier runs, by outcome (from the manifest).
    earlier: Earlier,
    completed: u64,
    /// Failed jobs, and creates the server refused (`rejected`).
    failed: u64,
    cancelled: u64,
    timed_out: u64,
    /// Rows that ended this run without a manifest line for another
    /// reason (not created, not downloaded, an existing file): the exit
    /// code of each, the worst of which the command exits with.
    other: Vec<Exit>,
    /// Rows of this run whose jobs had ended before it began (re-attached
    /// after a crash, never seen running): counted as done, not in the
    /// rate, which they would make look as if they took no time at all.
    ended_before: u64,
    /// Rows left when the batch stopped at an error (a full disk): in
    /// flight or never started; not finished, for the next run.
    stopped: u64,
}

/// Rows an earlier run finished, by outcome.
#[derive(Debug, Default, Clone, Copy)]
struct Earlier {
    completed: u64,
    failed: u64,
    cancelled: u64,
}

impl Earlier {
    /// Counts a row of the file, if an earlier run finished it.
    fn count(&mut self, ended: Option<Ended>) {
        match ended {
            Some(Ended::Completed) => self.completed += 1,
            Some(Ended::Failed) => self.failed += 1,
            Some(Ended::Cancelled) => self.cancelled += 1,
            None => {}
        }
    }
}

/// How a row ended in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Completed,
    /// The job failed, or the server refused its create.
    Failed,
    Cancelled,
    TimedOut,
    /// Not finished for this reason (no manifest line: the next run takes it up).
    NotFinished(Exit),
}

impl Tally {
    fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Completed => self.completed += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Cancelled => self.cancelled += 1,
            Outcome::TimedOut => self.timed_out += 1,
            Outcome::NotFinished(exit) => self.other.push(exit),
        }
    }

    /// Rows that ended, in this run or an earlier one.
    fn done(&self) -> u64 {
        self.skipped() + self.done_now()
    }

    /// Rows an earlier run finished (their manifest lines): skipped now.
    fn skipped(&self) -> u64 {
        self.earlier.completed + self.earlier.failed + self.earlier.cancelled
    }

    /// A row of this run whose job had ended before it began.
    fn ended_before(&mut self) {
        self.ended_before += 1;
    }

    /// Rows that ended in this run.
    fn done_now(&self) -> u64 {
        self.completed + self.failed + self.cancelled + self.timed_out + self.other.len() as u64
    }

    /// Rows with a manifest line.
    fn in_manifest(&self) -> u64 {
        self.skipped() + self.completed + self.failed + self.cancelled
    }

    /// The rows that did not complete, by why, in the words both the
    /// overall line and the summary use: `2 failed`, `1 cancelled`, `1
    /// timed out`, `1 not finished` (only those that are not 0).
    fn problems(&self) -> Vec<String> {
        [
            (self.earlier.failed + self.failed, "failed"),
            (self.earlier.cancelled + self.cancelled, "cancelled"),
            (self.timed_out, "timed out"),
            (self.other.len() as u64 + self.stopped, "not finished"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{} {what}", group(n)))
        .collect()
    }

    /// The overall line's facts after `elapsed` of this run: done (in
    /// any run), what went wrong, in flight, total; the rate of this run
    /// only (rows it finished over its own time: rows skipped, and jobs
    /// that had ended before it, took none of it); the time left at that
    /// rate for the rows left.
    fn overall(&self, in_flight: usize, elapsed: Duration) -> Overall {
        let elapsed = elapsed.as_secs_f64().max(0.001);
        let rate = self.done_now().saturating_sub(self.ended_before) as f64 / elapsed;
        let left = self.total.saturating_sub(self.done());
        let eta = (rate > 0.0 && left > 0)
            .then(|| Duration::try_from_secs_f64(left as f64 / rate).ok())
            .flatten();
        let not_completed = self
            .done()
            .saturating_sub(self.earlier.completed + self.completed);
        Overall {
            done: group(self.done()),
            total: group(self.total),
            problems: self.problems(),
            not_completed: group(not_completed),
            in_flight,
            rate,
            eta,
        }
    }

    /// The summary line, without the manifest's path.
    fn summary(&self) -> String {
        let mut parts = vec![format!(
            "{} completed",
            group(self.earlier.completed + self.completed)
        )];
        parts.extend(self.problems());
        if self.invalid > 0 {
            parts.push(format!("{} invalid, skipped", group(self.invalid)));
        }
        let earlier = match self.skipped() {
            0 => String::new(),
            // Of the valid rows (`total`): the count above has the invalid too.
            n if self.invalid > 0 => format!(
                "; {} of the {} valid {} finished in an earlier run (skipped)",
                group(n),
                group(self.total),
                rows_word(self.total)
            ),
            n => format!("; {} finished in an earlier run (skipped)", group(n)),
        };
        format!(
            "{} {}: {}{earlier}",
            group(self.total + self.invalid),
            rows_word(self.total + self.invalid),
            parts.join(", ")
        )
    }

    /// The exit code of the worst row.
    fn worst(&self) -> Exit {
        let mut worst = self.other.iter().copied().max().unwrap_or(Exit::Success);
        let failed = self.earlier.failed + self.failed + self.earlier.cancelled + self.cancelled;
        if failed > 0 {
            worst = worst.max(Exit::JobFailed);
        }
        if self.timed_out > 0 {
            worst = worst.max(Exit::TimedOut);
        }
        worst
    }
}

/// One row in flight.
struct Slot {
    row: Row,
    key: u64,
    job: Option<JobId>,
    created_at: Option<Timestamp>,
    submitted_at: Option<Timestamp>,
    stop: Option<StopWait>,
    /// Its job is finished on the server; its image is being downloaded
    /// or saved, or its manifest line written. No longer in flight.
    finishing: bool,
}

/// A create's outcome: the server's answer, or (`Err`) none within the
/// create timeout, which waited this long.
type Created = (u64, Result<Result<CreateJobResponse, Error>, Duration>);
/// A download's outcome, with the turn it holds until its image is saved.
type Downloaded = (u64, Job, Result<Vec<u8>, Error>, Turn);
/// A turn of [`Runner::downloaders`] (`None` only if it were closed, which it never is).
type Turn = Option<tokio::sync::OwnedSemaphorePermit>;
/// A save's outcome: the row, its job, the file, and the image's bytes
/// (for the preview) or why it was not saved.
type Saved = (u64, Job, PathBuf, std::io::Result<Vec<u8>>);

struct Runner<'a> {
    ctx: &'a Context,
    batch: &'a str,
    template: Template,
    overwrite: bool,
    output: PathBuf,
    client: Client,
    set: WaitSet<u64>,
    create_timeout: Duration,
    log: BatchLog,
    manifest: Manifest,
    /// The manifest's sync running on a blocking thread, if one is.
    manifest_sync: Option<futures::future::BoxFuture<'static, std::io::Result<()>>>,
    /// This run created the manifest: removed at the end if no row got a line.
    manifest_new: bool,
    /// What the batch log knows of unfinished rows (job ids to re-attach to).
    known: HashMap<u64, RowState>,
    /// Where earlier runs were saving unfinished rows' images: theirs to replace.
    saving: HashMap<u64, PathBuf>,
    /// Rows started and not yet ended, by tag (a row that is created
    /// again gets a new tag): in flight, or finishing.
    slots: HashMap<u64, Slot>,
    /// How many of `slots` are finishing (their job is no longer in flight).
    finishing: usize,
    next_tag: u64,
    creates: FuturesUnordered<futures::future::BoxFuture<'static, Created>>,
    downloads: FuturesUnordered<futures::future::BoxFuture<'static, Downloaded>>,
    saves: FuturesUnordered<futures::future::BoxFuture<'static, Saved>>,
    /// Turns for the saves (see [`Runner::downloaded`]).
    savers: Arc<tokio::sync::Semaphore>,
    /// Turns for the downloads, each held until its image is saved:
    /// --concurrency of them, so that many images at most are in memory.
    downloaders: Arc<tokio::sync::Semaphore>,
    /// The files being saved now (on blocking threads): they exist for
    /// any other row that renders the same name, as they will in a moment.
    in_flight: HashSet<PathBuf>,
    /// When the server last answered a create (or a probe), any answer.
    answered: Instant,
    /// A request that tells whether the server can be reached at all,
    /// sent while creates go unanswered (their retries hide why).
    probe: Option<futures::future::BoxFuture<'static, Option<String>>>,
    /// Why the server cannot be reached, as the last probe found.
    unreachable: Option<String>,
    /// No probe before this: soon while the server cannot be reached,
    /// long after it answered one (creates held back by a 429 pause).
    next_probe: Instant,
    /// Temporary files of killed saves in DIR, found by one scan.
    stale: StaleTemps,
    progress: Progress,
    tally: Tally,
    started: Instant,
    /// The input's file name, naming rows without an `id` on their live lines.
    file_name: String,
    /// Rows re-attached to a job an earlier run created, until it is seen
    /// running: one that ends unseen had ended before this run.
    reattached: HashSet<u64>,
}

impl Runner<'_> {
    async fn run(
        &mut self,
        mut rows: impl Iterator<Item = Row>,
        jobs: usize,
        concurrency: usize,
        plain_every: Duration,
    ) -> anyhow::Result<()> {
        let mut more = true;
        let mut plain =
            tokio::time::interval_at(tokio::time::Instant::now() + plain_every, plain_every);
        plain.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut redraw = tokio::time::interval(crate::progress::REFIT_EVERY);
        let mut check = tokio::time::interval(UNANSWERED);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // At most `jobs` in flight (--jobs-in-flight, else
            // --concurrency). A row whose job has finished no longer
            // counts: the next row's job is created at once, not after the
            // image is downloaded and saved. Of the finishing rows, at most
            // --concurrency hold an image (`downloaders`); the others wait
            // for a turn holding only their job, and no new row starts
            // while `jobs` of them wait (downloads that cannot keep up).
            while more && self.in_flight() < jobs && self.finishing < concurrency + jobs {
                match rows.next() {
                    Some(row) => self.start(row)?,
                    None => more = false,
                }
            }
            if self.slots.is_empty() && !more {
                if let Some(sync) = self.manifest_sync.take() {
                    self.manifest_synced(sync.await)?;
                }
                let synced = self.manifest.sync();
                return self.manifest_synced(synced);
            }
            if self.manifest_sync.is_none()
                && let Some(sync) = self.manifest.start_sync()
            {
                self.manifest_sync = Some(Box::pin(async move {
                    tokio::task::spawn_blocking(sync)
                        .await
                        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
                }));
            }
            tokio::select! {
                Some(synced) = async { self.manifest_sync.as_mut()?.await.into() }, if self.manifest_sync.is_some() => {
                    self.manifest_sync = None;
                    self.manifest_synced(synced)?;
                }
                Some((tag, created)) = self.creates.next(), if !self.creates.is_empty() => {
                    self.created(tag, created)?;
                }
                Some((tag, event)) = self.set.next(), if !self.set.is_empty() => {
                    self.event(tag, event)?;
                }
                Some((tag, job, bytes, turn)) = self.downloads.next(), if !self.downloads.is_empty() => {
                    self.downloaded(tag, job, bytes, turn)?;
                }
                Some((tag, job, path, saved)) = self.saves.next(), if !self.saves.is_empty() => {
                    self.saved(tag, job, path, saved)?;
                }
                Some(unreachable) = async { self.probe.as_mut()?.await.into() }, if self.probe.is_some() => {
                    self.probe = None;
                    self.probed(unreachable);
                }
                _ = check.tick(), if self.probe.is_none() && !self.creates.is_empty() => {
                    if self.answered.elapsed() >= UNANSWERED && Instant::now() >= self.next_probe {
                        self.start_probe();
                    }
                }
                _ = redraw.tick(), if self.ctx.mode == Mode::Bars => {}
                _ = plain.tick(), if self.ctx.mode == Mode::Lines => {
                    crate::say(&self.overall());
                }
            }
            // After every event, not only on the tick: the overall line's
            // counts then change with the jobs' lines, not up to a tick
            // later (the draw target limits how often either is drawn).
            if self.ctx.mode == Mode::Bars {
                self.draw_overall();
            }
        }
    }

    /// A sync of the manifest ended: an error ends the batch, as a
    /// failed write does.
    fn manifest_synced(&self, synced: std::io::Result<()>) -> anyhow::Result<()> {
        synced.map_err(|e| self.manifest_error(&e).into())
    }

    fn manifest_error(&self, e: &std::io::Error) -> Failure {
        Failure::usage(format!(
            "cannot write the manifest {}: {e}; run the command again once that is fixed",
            crate::safe::path(self.manifest.path())
        ))
    }

    /// Rows whose job is in flight: created (or being created) and not
    /// yet seen finished.
    fn in_flight(&self) -> usize {
        self.slots.len() - self.finishing
    }

    /// Removes row `tag`'s slot (the row ended, or is started again).
    fn take(&mut self, tag: u64) -> Option<Slot> {
        let slot = self.slots.remove(&tag)?;
        if slot.finishing {
            self.finishing -= 1;
        }
        Some(slot)
    }

    /// The overall line: done, failed, in flight, total, rate, ETA; and
    /// why the server cannot be reached, while it cannot.
    fn overall(&self) -> String {
        let line = self.tally.overall(self.in_flight(), self.started.elapsed());
        format!("{}{}", line.full(), self.unreachable_note())
    }

    /// The overall line on the terminal, as wide as it allows, and the
    /// jobs' lines cut anew to the terminal's width.
    fn draw_overall(&mut self) {
        let line = self.tally.overall(self.in_flight(), self.started.elapsed());
        self.progress.overall(&line, &self.unreachable_note());
    }

    /// `; WHY: retrying` while the server cannot be reached.
    fn unreachable_note(&self) -> String {
        self.unreachable
            .as_ref()
            .map(|why| format!("; {why}: retrying"))
            .unwrap_or_default()
    }

    /// Asks the server for a job that cannot exist: any HTTP answer means
    /// it can be reached; a transport error says why not.
    fn start_probe(&mut self) {
        let client = self.client.clone();
        let limit = self.create_timeout.min(UNANSWERED * 4);
        self.probe = Some(Box::pin(async move {
            match tokio::time::timeout(limit, client.get(JobId(0))).await {
                Err(_) => Some(format!(
                    "{} does not answer (nothing within {})",
                    crate::safe::one_line(client.base_url()),
                    crate::progress::human_duration(limit)
                )),
                Ok(Err(Error::Transport(e))) => Some(e.to_string()),
                Ok(_) => None,
            }
        }));
    }

    /// A probe's finding: said once when the server becomes unreachable
    /// (or the reason changes), and once when it answers again.
    fn probed(&mut self, unreachable: Option<String>) {
        self.next_probe = Instant::now()
            + if unreachable.is_some() {
                UNANSWERED
            } else {
                REACHABLE_AGAIN
            };
        match &unreachable {
            None => {
                self.answered = Instant::now();
                if self.unreachable.is_some() {
                    self.progress.note("the server answers again");
                }
            }
            Some(why) if self.unreachable.as_ref() != Some(why) => {
                self.progress.note(&format!(
                    "{why}: creates are retried until --timeout ({})",
                    crate::progress::human_duration(self.create_timeout)
                ));
            }
            Some(_) => {}
        }
        self.unreachable = unreachable;
    }

    /// Starts a row: re-attaches to its job if the log has one, else creates it.
    fn start(&mut self, row: Row) -> anyhow::Result<()> {
        let key = row_key(self.batch, &row);
        let tag = self.next_tag;
        self.next_tag += 1;
        let known = self.known.remove(&key).unwrap_or_default();
        if let Some(saving) = &known.saving {
            self.saving.insert(key, saving.path());
        }
        self.slots.insert(
            tag,
            Slot {
                row,
                key,
                job: None,
                created_at: known.job_created_at,
                // When an earlier run's create was answered: `seconds`
                // spans the runs, not only this one's re-attach.
                submitted_at: known.submitted_at,
                stop: None,
                finishing: false,
            },
        );
        match known.job_id {
            Some(id) => {
                self.reattached.insert(tag);
                // Its status is not known until its first poll answers.
                self.attach(tag, id, REATTACHED);
            }
            None => self.create(tag)?,
        }
        Ok(())
    }

    /// Sends row `tag`'s create (with its key: sending it again is safe).
    fn create(&mut self, tag: u64) -> anyhow::Result<()> {
        let Some(slot) = self.slots.get(&tag) else {
            return Ok(());
        };
        let payload = match slot.row.payload() {
            Ok(payload) => payload,
            Err(e) => {
                let message = format!("{}: {e}", label(&slot.row));
                self.take(tag);
                self.progress.note(&format!("✘ {message}"));
                self.tally.record(Outcome::NotFinished(Exit::Usage));
                return Ok(());
            }
        };
        crate::failpoint::hit("before-create");
        let options =
            CreateOptions::default().idempotency_key(idempotency_key(self.batch, slot.key));
        let create = self.set.create(slot.row.kind, &payload, &options);
        let timeout = self.create_timeout;
        self.creates.push(Box::pin(async move {
            let created = tokio::time::timeout(timeout, create)
                .await
                .map_err(|_| timeout);
            (tag, created)
        }));
        Ok(())
    }

    /// Watches row `tag`'s job `id`; its line says `status` until its
    /// first poll answers.
    fn attach(&mut self, tag: u64, id: JobId, status: &str) {
        let Some(slot) = self.slots.get_mut(&tag) else {
            return;
        };
        slot.job = Some(id);
        slot.submitted_at.get_or_insert_with(Timestamp::now);
        slot.stop = Some(self.set.push(tag, id));
        if self.ctx.mode == Mode::Bars {
            let row = RowLabel {
                id: slot.row.id.clone(),
                file: self.file_name.clone(),
                line: slot.row.line,
            };
            self.progress.start_row(id, row, status);
        }
    }

    fn created(
        &mut self,
        tag: u64,
        created: Result<Result<CreateJobResponse, Error>, Duration>,
    ) -> anyhow::Result<()> {
        let Some(slot) = self.slots.get(&tag) else {
            return Ok(());
        };
        let created = match created {
            Ok(created) => created,
            Err(waited) => {
                let waited = crate::progress::human_duration(waited);
                let why = match &self.unreachable {
                    Some(why) => format!("{why}, for {waited}"),
                    None => format!("no answer within {waited}"),
                };
                return self.not_created(tag, &why);
            }
        };
        if !matches!(&created, Err(Error::Transport(_))) {
            self.answered = Instant::now();
            self.unreachable = None;
        }
        match created {
            Ok(created) => {
                crate::failpoint::hit("after-create");
                let answered = Timestamp::now();
                self.log.row(
                    slot.key,
                    RowState {
                        job_id: Some(created.job_id),
                        submitted_at: Some(answered),
                        ..RowState::default()
                    },
                )?;
                crate::failpoint::hit("after-record");
                if let Some(slot) = self.slots.get_mut(&tag) {
                    slot.created_at = None;
                    // This job's create (a row created again after the
                    // server lost its job starts over, as its log does).
                    slot.submitted_at = Some(answered);
                }
                self.attach(tag, created.job_id, status_message(&created.status));
                Ok(())
            }
            // The server refused this row: it would refuse it again.
            Err(e @ (Error::InvalidRequest(_) | Error::Conflict(_))) => {
                let entry = self.entry(
                    tag,
                    None,
                    "rejected",
                    Some(format!("the server refused the create: {e}")),
                );
                self.finish_row(tag, entry, Exit::JobFailed)
            }
            Err(e) if e.is_transient() || matches!(e, Error::TimedOut { .. }) => {
                self.not_created(tag, &e.to_string())
            }
            // A wrong token or URL: every other row would fail the same way.
            Err(e) => Err(anyhow::Error::from(e).context("could not create a job")),
        }
    }

    /// A row whose create got no usable answer: left for the next run.
    fn not_created(&mut self, tag: u64, why: &str) -> anyhow::Result<()> {
        if let Some(slot) = self.take(tag) {
            self.progress.note(&format!(
                "✘ {}: could not be created ({why}); run the command again to retry it",
                label(&slot.row)
            ));
        }
        self.tally.record(Outcome::NotFinished(Exit::Unavailable));
        Ok(())
    }

    fn event(&mut self, tag: u64, event: WaitEvent) -> anyhow::Result<()> {
        let Some(slot) = self.slots.get_mut(&tag) else {
            return Ok(());
        };
        let Some(id) = slot.job else {
            return Ok(());
        };
        let seen = match &event {
            WaitEvent::Polled { job, .. } | WaitEvent::StatusChanged { job, .. } => Some(job),
            WaitEvent::Finished(Ok(job)) => Some(job),
            WaitEvent::Finished(Err(Error::JobFailed(job) | Error::JobCancelled(job))) => {
                Some(job.as_ref())
            }
            _ => None,
        };
        if seen.is_some_and(|job| !job.status.is_terminal()) {
            self.reattached.remove(&tag);
        }
        if let Some(job) = seen {
            match slot.created_at {
                None => {
                    slot.created_at = Some(job.created_at);
                    let key = slot.key;
                    self.log.row(
                        key,
                        RowState {
                            job_created_at: Some(job.created_at),
                            ..RowState::default()
                        },
                    )?;
                }
                Some(pinned) if pinned.to_string() != job.created_at.to_string() => {
                    return self.lost(tag, id, "is another job now (the server restarted)");
                }
                Some(_) => {}
            }
        }
        if self.ctx.mode == Mode::Bars && !matches!(event, WaitEvent::Finished(_)) {
            self.progress
                .set_max_attempts(self.client.mock_max_attempts());
            self.progress.event(id, &event);
        }
        match event {
            WaitEvent::StatusChanged { job, .. } if !job.status.is_terminal() => {
                crate::failpoint::hit("mid-wait");
                Ok(())
            }
            WaitEvent::Finished(result) => self.finished(tag, id, result),
            _ => Ok(()),
        }
    }

    /// The server no longer has row `tag`'s job: it is created again with
    /// its key (a server that lost the job lost the key with it).
    fn lost(&mut self, tag: u64, id: JobId, why: &str) -> anyhow::Result<()> {
        self.progress.forget(id);
        let Some(mut slot) = self.take(tag) else {
            return Ok(());
        };
        if let Some(stop) = slot.stop.take() {
            stop.stop();
        }
        self.progress.note(&format!(
            "{}: job {id} {why}: creating it again",
            label(&slot.row)
        ));
        let new_tag = self.next_tag;
        self.next_tag += 1;
        slot.job = None;
        slot.created_at = None;
        slot.finishing = false;
        self.slots.insert(new_tag, slot);
        self.create(new_tag)
    }

    fn finished(&mut self, tag: u64, id: JobId, result: Result<Job, Error>) -> anyhow::Result<()> {
        if self.ctx.mode == Mode::Bars {
            self.progress.forget(id);
        }
        let ended_before = self.reattached.remove(&tag);
        if ended_before && !matches!(result, Err(Error::NotFound(_))) {
            self.tally.ended_before();
        }
        match result {
            Ok(job) => {
                if job.image_url().is_none() {
                    let entry = self.entry(tag, Some(&job), "completed", None);
                    return self.finish_row(tag, entry, Exit::Success);
                }
                let url = job.image_url().unwrap_or_default().to_owned();
                let client = self.client.clone();
                if let Some(slot) = self.slots.get_mut(&tag)
                    && !slot.finishing
                {
                    slot.finishing = true;
                    self.finishing += 1;
                }
                crate::failpoint::hit("before-download");
                let downloaders = Arc::clone(&self.downloaders);
                self.downloads.push(Box::pin(async move {
                    // Waiting for a turn holds only the job, never an image.
                    let turn = downloaders.acquire_owned().await.ok();
                    let bytes = client.download(&url).await;
                    (tag, job, bytes, turn)
                }));
                Ok(())
            }
            Err(Error::NotFound(_)) => self.lost(tag, id, "is gone from the server"),
            Err(Error::JobFailed(job)) => {
                let error = job
                    .error
                    .clone()
                    .unwrap_or_else(|| "no reason given".to_owned());
                let entry = self.entry(tag, Some(&job), "failed", Some(error));
                self.finish_row(tag, entry, Exit::JobFailed)
            }
            Err(Error::JobCancelled(job)) => {
                let entry = self.entry(tag, Some(&job), "cancelled", Some("cancelled".to_owned()));
                self.finish_row(tag, entry, Exit::JobFailed)
            }
            Err(e) => {
                // Not finished (timed out, unreachable): no manifest line, so
                // the next run re-attaches to the job.
                let exit = Exit::of_client(&e);
                if let Some(slot) = self.take(tag) {
                    let hint = if matches!(e, Error::TimedOut { .. }) && !self.ctx.is_mock() {
                        "; it keeps running: run the command again to wait for it"
                    } else {
                        ""
                    };
                    self.progress
                        .note(&format!("✘ {}: job {id}: {e}{hint}", label(&slot.row)));
                }
                self.tally.record(match exit {
                    Exit::TimedOut => Outcome::TimedOut,
                    other => Outcome::NotFinished(other),
                });
                Ok(())
            }
        }
    }

    fn downloaded(
        &mut self,
        tag: u64,
        job: Job,
        bytes: Result<Vec<u8>, Error>,
        turn: Turn,
    ) -> anyhow::Result<()> {
        let Some(slot) = self.slots.get(&tag) else {
            return Ok(());
        };
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(e) => {
                let slot = self.take(tag);
                if let Some(slot) = slot {
                    self.progress.note(&format!(
                        "✘ {}: job {} completed but its image could not be downloaded ({e}); run the command again to retry",
                        label(&slot.row),
                        job.job_id
                    ));
                }
                self.tally.record(Outcome::NotFinished(Exit::Unavailable));
                return Ok(());
            }
        };
        let name = self.template.render(&slot.row, Some(job.job_id));
        let path = self.output.join(&name);
        let ours = self
            .known_saving(slot.key)
            .is_some_and(|saving| *saving == path);
        let taken = self.in_flight.contains(&path) || (path.exists() && !ours);
        if taken && !self.overwrite {
            let slot = self.take(tag);
            if let Some(slot) = slot {
                self.progress.note(&format!(
                    "✘ {}: job {} completed, but {} exists: not replaced (pass --overwrite to replace it, then run the command again)",
                    label(&slot.row),
                    job.job_id,
                    crate::safe::path(&path)
                ));
            }
            self.tally.record(Outcome::NotFinished(Exit::Usage));
            return Ok(());
        }
        self.log.row(
            slot.key,
            RowState {
                saving: Some(StoredPath::of(&path)),
                ..RowState::default()
            },
        )?;
        self.in_flight.insert(path.clone());
        // Written, synced and renamed on a blocking thread: on this one,
        // the sync held up every other row's polls and downloads.
        // SAVERS at a time.
        let savers = Arc::clone(&self.savers);
        self.saves.push(Box::pin(async move {
            let target = path.clone();
            let _saver = savers.acquire_owned().await;
            let saved = tokio::task::spawn_blocking(move || {
                save_png_bytes_into(&target, &bytes).map(|()| bytes)
            })
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
            // The download's turn ends with its save: at most --concurrency
            // images are held, downloading, waiting to be saved or saving.
            drop(turn);
            (tag, job, path, saved)
        }));
        Ok(())
    }

    /// Row `tag`'s image is saved at `path` (or could not be): its
    /// preview, its manifest line.
    fn saved(
        &mut self,
        tag: u64,
        job: Job,
        path: PathBuf,
        saved: std::io::Result<Vec<u8>>,
    ) -> anyhow::Result<()> {
        self.in_flight.remove(&path);
        let bytes = match saved {
            Ok(bytes) => bytes,
            Err(e) => {
                // Named as every row is; its job stays in the log, so the
                // next run saves its image without creating it again.
                let row = self.take(tag).map(|slot| label(&slot.row));
                self.tally.record(Outcome::NotFinished(Exit::Usage));
                return Err(Failure::usage(format!(
                    "{}: job {} completed but its image could not be saved to {}: {e}; run the command again once that is fixed",
                    row.unwrap_or_else(|| "a row".to_owned()),
                    job.job_id,
                    crate::safe::path(&path)
                ))
                .into());
            }
        };
        crate::failpoint::hit("after-save");
        self.stale.saved(&path);
        if let Some(preview) = self.ctx.preview() {
            // Drawn above the live display, from the bytes just saved.
            self.progress.suspend(|| match preview.draw(&bytes) {
                Ok(()) => Ok(()),
                Err(crate::preview::DrawError::Write(e)) => Err(e),
                Err(crate::preview::DrawError::Image(e)) => {
                    crate::say(&format!("job {}: no preview: {e}", job.job_id));
                    Ok(())
                }
            })?;
        }
        let mut entry = self.entry(tag, Some(&job), "completed", None);
        entry.output = Some(crate::safe::path(&path));
        self.finish_row(tag, entry, Exit::Success)
    }

    /// The path a previous run was renaming row `key`'s image to.
    fn known_saving(&self, key: u64) -> Option<&PathBuf> {
        self.saving.get(&key)
    }

    fn entry(&self, tag: u64, job: Option<&Job>, status: &str, error: Option<String>) -> Entry {
        let now = Timestamp::now();
        let slot = self.slots.get(&tag);
        let submitted_at = slot.and_then(|s| s.submitted_at);
        Entry {
            batch: self.batch.to_owned(),
            row: key_text(slot.map_or(0, |s| s.key)),
            id: slot.and_then(|s| s.row.id.clone()),
            line: slot.map_or(0, |s| s.row.line),
            kind: slot.map_or(vestis_client::JobKind::Legacy, |s| s.row.kind),
            job_id: job.map(|j| j.job_id).or_else(|| slot.and_then(|s| s.job)),
            status: status.to_owned(),
            output: None,
            error,
            submitted_at,
            finished_at: now,
            seconds: submitted_at.map(|t| now.duration_since(t).as_secs_f64()),
            run_seconds: job.and_then(Job::run_time).map(|d| d.as_secs_f64()),
        }
    }

    /// Writes a finished row's manifest line (and `--json` line) and frees its slot.
    fn finish_row(&mut self, tag: u64, entry: Entry, exit: Exit) -> anyhow::Result<()> {
        self.manifest
            .append(&entry)
            .map_err(|e| self.manifest_error(&e))?;
        crate::failpoint::hit("after-manifest");
        if self.ctx.out.json {
            self.progress.suspend(|| self.ctx.out.json_line(&entry))?;
        }
        let slot = self.take(tag);
        if let Some(slot) = &slot {
            self.saving.remove(&slot.key);
        }
        self.tally.record(match exit {
            Exit::Success => Outcome::Completed,
            _ if entry.status == "cancelled" => Outcome::Cancelled,
            _ => Outcome::Failed,
        });
        if exit != Exit::Success
            && let Some(slot) = slot
        {
            let job = entry
                .job_id
                .map(|j| format!("job {j} "))
                .unwrap_or_default();
            self.progress.note(&format!(
                "✘ {}: {job}{}: {}",
                label(&slot.row),
                entry.status,
                entry.error.as_deref().unwrap_or_default()
            ));
        }
        Ok(())
    }

    /// The batch stopped at `error` (a full disk, a folder gone, a
    /// refused token): each row whose job completed but which is not
    /// finished is named, the summary line (the rows left counted as not
    /// finished) is printed, and `error` is returned for the last line.
    fn stop(mut self, error: anyhow::Error) -> anyhow::Error {
        let mut left: Vec<&Slot> = self.slots.values().filter(|s| s.finishing).collect();
        left.sort_by_key(|slot| slot.row.line);
        for slot in left {
            let job = slot.job.map(|j| format!("job {j} ")).unwrap_or_default();
            self.progress.note(&format!(
                "✘ {}: {job}completed, but the batch stopped before the row was finished: the same command finishes it (its job is not created again)",
                label(&slot.row)
            ));
        }
        self.tally.stopped = self.tally.total.saturating_sub(self.tally.done());
        let summary = self.summary();
        drop(self.progress);
        crate::say(&format!("vestis: {summary}"));
        error
    }

    /// The summary line with where the manifest is (or that none was
    /// written).
    fn summary(&self) -> String {
        let path = self.manifest.path();
        let empty = std::fs::metadata(path).is_ok_and(|m| m.len() == 0);
        if self.manifest_new && empty && std::fs::remove_file(path).is_ok() {
            format!(
                "{}; no manifest written (no row finished)",
                self.tally.summary()
            )
        } else {
            format!(
                "{}; manifest: {}",
                self.tally.summary(),
                crate::safe::path(path)
            )
        }
    }

    /// The summary line, and the exit code of the worst row.
    fn finish(mut self) -> anyhow::Result<()> {
        // Finished only when every row has its manifest line: a row that
        // timed out or could not be reached is left for the next run.
        if self.tally.in_manifest() >= self.tally.total {
            self.log.finished()?;
        }
        let summary = self.summary();
        let worst = self.tally.worst();
        drop(self.progress);
        if worst == Exit::Success {
            self.ctx.note(&summary);
            Ok(())
        } else {
            Err(Failure::new(worst, summary).into())
        }
    }
}

/// `1 000 000`: thousands apart by a space, as the summary line writes counts.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the overall line says went wrong: the part in parentheses.
    fn overall_problems(line: &str) -> Vec<String> {
        let inside = &line[line.find('(').unwrap() + 1..line.find(')').unwrap()];
        inside.split(", ").map(str::to_owned).collect()
    }

    /// What the summary says went wrong: its parts but the completed and
    /// invalid ones.
    fn summary_problems(line: &str) -> Vec<String> {
        let parts = summary_parts(line);
        parts
            .split(", ")
            .filter(|p| !p.ends_with("completed") && !p.contains("invalid") && *p != "skipped")
            .map(str::to_owned)
            .collect()
    }

    /// The summary's counts, without what it says of earlier runs.
    fn summary_parts(line: &str) -> &str {
        let parts = line.split_once("rows: ").unwrap().1;
        parts.split(';').next().unwrap()
    }

    /// Every way a row can end (and rows an earlier run finished): the
    /// live line's counts are the summary's, in the same words.
    #[test]
    fn the_overall_line_and_the_summary_count_alike() {
        let cases: Vec<(&str, Tally, Vec<&str>)> = vec![
            ("completed", Tally::default(), vec![]),
            ("failed", with(Outcome::Failed), vec!["1 failed"]),
            ("cancelled", with(Outcome::Cancelled), vec!["1 cancelled"]),
            ("timed out", with(Outcome::TimedOut), vec!["1 timed out"]),
            (
                "not created (refused connection), not downloaded",
                with(Outcome::NotFinished(Exit::Unavailable)),
                vec!["1 not finished"],
            ),
            (
                "an existing file, a payload that failed at create",
                with(Outcome::NotFinished(Exit::Usage)),
                vec!["1 not finished"],
            ),
            (
                "earlier runs",
                Tally {
                    earlier: Earlier {
                        completed: 1,
                        failed: 2,
                        cancelled: 3,
                    },
                    ..Tally::default()
                },
                vec!["2 failed", "3 cancelled"],
            ),
        ];
        for (what, mut tally, expected) in cases {
            tally.total = 10;
            tally.invalid = 1;
            tally.record(Outcome::Completed);
            let overall = tally.overall(2, Duration::from_secs(1)).full();
            let summary = tally.summary();
            let want: Vec<String> = if expected.is_empty() {
                vec!["0 failed".to_owned()]
            } else {
                expected.iter().map(|s| (*s).to_owned()).collect()
            };
            assert_eq!(overall_problems(&overall), want, "{what}: {overall}");
            assert_eq!(summary_problems(&summary), expected, "{what}: {summary}");
            // Done counts every row that ended, as the summary's parts add up.
            let done: u64 = summary_parts(&summary)
                .split(", ")
                .filter(|p| !p.contains("invalid") && *p != "skipped")
                .map(|p| p.split(' ').next().unwrap().parse::<u64>().unwrap())
                .sum();
            assert!(
                overall.starts_with(&format!("{done} of 10 rows done")),
                "{what}: {overall} / {summary}"
            );
        }
    }

    /// A run that resumes a batch: 90 of 100 rows finished earlier
    /// (skipped), 5 finished in this run's 10 seconds. The rate is this
    /// run's (0.5/s, not 9.5/s), the ETA the 5 rows left at that rate, and
    /// the summary says how many were skipped.
    #[test]
    fn a_resumed_run_counts_its_own_rate_and_says_what_it_skipped() {
        let mut tally = Tally {
            total: 100,
            earlier: Earlier {
                completed: 88,
                failed: 2,
                cancelled: 0,
            },
            ..Tally::default()
        };
        for _ in 0..5 {
            tally.record(Outcome::Completed);
        }
        let overall = tally.overall(5, Duration::from_secs(10));
        assert_eq!(
            overall.full(),
            "95 of 100 rows done (2 failed), 5 in flight, 0.5/s, ETA 10s"
        );
        assert_eq!(
            tally.summary(),
            "100 rows: 93 completed, 2 failed; 90 finished in an earlier run (skipped)"
        );
        // Re-attached jobs that had ended before this run began count as
        // done, but took none of its time: 2 more rows done, the rate
        // still 5 rows in 10 s, the 3 left take 6 s.
        for _ in 0..2 {
            tally.record(Outcome::Completed);
            tally.ended_before();
        }
        let overall = tally.overall(3, Duration::from_secs(10));
        assert_eq!(
            overall.full(),
            "97 of 100 rows done (2 failed), 3 in flight, 0.5/s, ETA 6s"
        );
        // A first run says nothing of earlier ones.
        let mut first = Tally {
            total: 2,
            ..Tally::default()
        };
        first.record(Outcome::Completed);
        assert_eq!(first.summary(), "2 rows: 1 completed");
    }

    /// The overall line's narrower forms keep done of total, what went
    /// wrong, in flight and the ETA; none is wider than its room.
    #[test]
    fn the_overall_line_narrows_with_the_terminal() {
        let mut tally = Tally {
            total: 1000,
            ..Tally::default()
        };
        for _ in 0..9 {
            tally.record(Outcome::Completed);
        }
        for _ in 0..2 {
            tally.record(Outcome::Failed);
        }
        tally.record(Outcome::TimedOut);
        let overall = tally.overall(64, Duration::from_secs(6));
        let at = |room: usize| overall.fit("", room);
        assert_eq!(
            at(80),
            "12 of 1 000 rows done (2 failed, 1 timed out), 64 in flight, 2.0/s, ETA 8m 14s"
        );
        assert_eq!(
            at(64),
            "12/1 000 done (2 failed, 1 timed out), 64 in flight, ETA 8m 14s"
        );
        assert_eq!(at(37), "12/1 000 ✔ 3 ✘ 64 ⟳ ETA 8m 14s");
        assert_eq!(at(22), "12/1 000 3✘ 64⟳ 8m 14s");
        assert_eq!(at(21), "12/1 000 3✘ 64⟳");
        assert_eq!(at(10), "12/1 000 …");
        for room in 0..100 {
            assert!(
                console::measure_text_width(&at(room)) <= room,
                "{room}: {}",
                at(room)
            );
        }
        // Why the server cannot be reached: whole after a narrower form
        // rather than cut after a wider one; cut when nothing else fits.
        let note = "; cannot connect to 127.0.0.1:9: connection refused: retrying";
        assert_eq!(
            overall.fit(note, 100),
            format!("12/1 000 ✔ 3 ✘ 64 ⟳ ETA 8m 14s{note}")
        );
        assert_eq!(
            overall.fit(note, 50),
            "12/1 000 ✔ 3 ✘ 64 ⟳ ETA 8m 14s; cannot connect to…"
        );
        // A control character or a wide one in the cause stays safe and
        // is measured by the columns it takes.
        let odd = overall.fit("; 日本\u{1b}[2J", 40);
        assert!(!odd.contains('\u{1b}'), "{odd}");
        assert!(console::measure_text_width(&odd) <= 40, "{odd}");
    }

    fn with(outcome: Outcome) -> Tally {
        let mut tally = Tally::default();
        tally.record(outcome);
        tally
    }

    #[test]
    fn counts_group_by_thousands() {
        assert_eq!(group(7), "7");
        assert_eq!(group(1000), "1 000");
        assert_eq!(group(1_234_567), "1 234 567");
    }
}
