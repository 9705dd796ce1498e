//! Rendering the SDK's wait events on stderr: indicatif spinners on a
//! terminal that can draw them (one per job, in a `MultiProgress`), one
//! plain line per status change otherwise, nothing with `-q`.
//!
//! The live area holds only the spinners of jobs still running. Everything
//! else is written *above* it, once, through [`Progress::suspend`] (the
//! bars are cleared, the text written, the bars redrawn below it): a job's
//! final line when it ends, notes, and the result lines the command prints
//! on stdout, which on a terminal is the same screen. Text written under
//! live bars any other way is overdrawn by their next redraw, and a
//! finished bar left in the live area is redrawn with the rest, so neither
//! is done. On exit (or Ctrl-C) no spinner is left behind: a job still
//! running gets a plain line saying where it was.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{
    MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle, TermLike,
};
use vestis_client::{Error, Job, JobId, JobStatus, WaitEvent};

/// Narrower than this, a spinner line cannot fit its fixed parts (mark, job
/// id, elapsed time), so it would wrap and be redrawn wrong: plain lines.
const MIN_LIVE_WIDTH: u16 = 20;

/// How often a command with live lines cuts them anew ([`Progress::refit`]):
/// a resized window's lines are redrawn to its width within this.
pub(crate) const REFIT_EVERY: Duration = Duration::from_millis(250);

/// Columns the live area leaves free at the right edge. indicatif pads
/// every live line to the width it is given and relies on the terminal's
/// wrap to reach the next line, which leaves the cursor at the edge: the
/// next character the terminal echoes (the `^C` of Ctrl-C, a key typed
/// while waiting) wraps onto a new line, the live area is a line taller
/// than indicatif knows, and its redraws then leave spinner lines behind.
/// Three free columns absorb an echoed `^C`.
const ECHO_MARGIN: u16 = 3;

/// stderr as indicatif's terminal, [`ECHO_MARGIN`] columns narrower than it
/// is. Since a line padded to that width no longer wraps, the next line is
/// started explicitly: a write of only spaces is indicatif's padding, which
/// ends a line, and anything but a cursor move after it begins a new one.
#[derive(Debug)]
struct Narrowed {
    term: console::Term,
    /// A line was padded and the cursor has not moved since.
    padded: AtomicBool,
}

impl Narrowed {
    fn moved(&self) -> &console::Term {
        self.padded.store(false, Ordering::Relaxed);
        &self.term
    }
}

impl TermLike for Narrowed {
    fn width(&self) -> u16 {
        live_width()
    }
    fn height(&self) -> u16 {
        self.term.size().0
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.moved().move_cursor_up(n)
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.moved().move_cursor_down(n)
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.moved().move_cursor_right(n)
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.moved().move_cursor_left(n)
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.moved().write_line(s)
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        if s.bytes().all(|b| b == b' ') {
            self.padded.store(true, Ordering::Relaxed);
            return self.term.write_str(s);
        }
        if self.padded.swap(false, Ordering::Relaxed) {
            self.term.write_str("\r\n")?;
        }
        self.term.write_str(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.moved().clear_line()
    }
    fn flush(&self) -> std::io::Result<()> {
        self.term.flush()
    }
}

/// The columns a live line may use: the terminal's, less [`ECHO_MARGIN`].
fn live_width() -> u16 {
    console::Term::stderr()
        .size()
        .1
        .saturating_sub(ECHO_MARGIN)
        .max(1)
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Live spinners (stderr is a terminal that can draw them).
    Bars,
    /// One line per status change.
    Lines,
    /// Nothing.
    Quiet,
}

impl Mode {
    /// Bars on a terminal that can redraw lines, unless `--no-progress`;
    /// plain lines elsewhere; nothing with `-q`.
    pub(crate) fn choose(quiet: bool, no_progress: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if no_progress || !can_draw_live() {
            Mode::Lines
        } else {
            Mode::Bars
        }
    }
}

/// Whether stderr is a terminal that can show a live display: not a pipe
/// or file, not `TERM=dumb` (or no `TERM`: nothing says it can move the
/// cursor), and with a known width of at least [`MIN_LIVE_WIDTH`] columns
/// (a live line must never wrap: it is redrawn in place). stdout must be
/// the terminal too, as in the GitHub CLI: the reader of a piped stdout
/// (`| jq`) writes to the same screen, under the spinners, where no redraw
/// can account for it.
fn can_draw_live() -> bool {
    let term = console::Term::stderr();
    std::io::stderr().is_terminal()
        && std::io::stdout().is_terminal()
        && !console::is_dumb()
        && term
            .size_checked()
            .is_some_and(|(_, columns)| columns >= MIN_LIVE_WIDTH)
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

/// ` (attempt 2/3)` once a job is past its first attempt; ` (attempt 2)`
/// when the server's maximum is not known (the API does not say it; the
/// mock server advertises it in `X-Mock-Max-Attempts`).
pub(crate) fn attempt_label(attempts: u32, max: Option<u32>) -> String {
    match max {
        _ if attempts < 2 => String::new(),
        Some(max) if max >= attempts => format!(" (attempt {attempts}/{max})"),
        _ => format!(" (attempt {attempts})"),
    }
}

/// One job's live spinner and what it says now, whole (cut anew to each
/// width the terminal takes, and kept for the line that replaces it if the
/// wait stops before the job ends).
struct Live {
    bar: ProgressBar,
    said: Said,
}

/// What a job's line says, whole: its status (or retry), then its attempt.
#[derive(Clone, Default)]
struct Said {
    text: String,
    suffix: String,
}

impl fmt::Display for Said {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.text, self.suffix)
    }
}

/// Columns a row's name may take on its job's line at most, however wide
/// the terminal: a long `id` is cut there, and the status keeps the rest.
const MAX_ROW_NAME: usize = 32;

/// The separator between a row's name and its job (`sku-1 · job 12`).
const ROW_JOB: &str = " · ";

/// The overall line's facts, written as wide as the screen allows (see
/// [`Overall::fit`]): from `1 of 3 rows done (0 failed), 2 in flight,
/// 0.4/s, ETA 5s` down to `1/3 0✘ 2⟳`. Counts are already grouped
/// (`1 000`); `problems` are the summary's words (`2 failed`, `1 timed out`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Overall {
    pub(crate) done: String,
    pub(crate) total: String,
    /// What went wrong, in words; empty when nothing did.
    pub(crate) problems: Vec<String>,
    /// Every row that ended without completing, as one count.
    pub(crate) not_completed: String,
    pub(crate) in_flight: usize,
    /// Rows finished per second in this run.
    pub(crate) rate: f64,
    pub(crate) eta: Option<Duration>,
}

impl Overall {
    /// The widest form: every fact in words, as plain lines write it.
    pub(crate) fn full(&self) -> String {
        self.forms()[0].clone()
    }

    /// Each form, widest first. Each drops the least useful thing the one
    /// before it kept: the rate and the word "rows", then the words for
    /// marks (✔ done, ✘ not completed, ⟳ in flight), then the spaces and
    /// "ETA". Done of total, what went wrong, in flight and the time left
    /// stay to the last but one; the last drops the time left, which cut
    /// short would mislead (`8m 1…`).
    fn forms(&self) -> [String; 5] {
        let problems = if self.problems.is_empty() {
            "0 failed".to_owned()
        } else {
            self.problems.join(", ")
        };
        // Whole seconds, rounded up: a time left that switched between
        // `9s` and `12.2s` from one redraw to the next would flicker.
        let eta = self.eta.map(|eta| human_duration(whole_seconds(eta)));
        let rows = if self.total == "1" { "row" } else { "rows" };
        let (done, total, bad, flying) =
            (&self.done, &self.total, &self.not_completed, self.in_flight);
        let with = |prefix: &str| {
            eta.as_ref()
                .map(|eta| format!("{prefix}{eta}"))
                .unwrap_or_default()
        };
        [
            format!(
                "{done} of {total} {rows} done ({problems}), {flying} in flight, {:.1}/s{}",
                self.rate,
                with(", ETA ")
            ),
            format!(
                "{done}/{total} done ({problems}), {flying} in flight{}",
                with(", ETA ")
            ),
            format!("{done}/{total} ✔ {bad} ✘ {flying} ⟳{}", with(" ETA ")),
            format!("{done}/{total} {bad}✘ {flying}⟳{}", with(" ")),
            format!("{done}/{total} {bad}✘ {flying}⟳"),
        ]
    }

    /// The widest form that fits `room` columns, then `note` (why the
    /// server cannot be reached) after it: whole after the widest form it
    /// fits whole after, else cut with `…` after the widest form that
    /// leaves it [`MIN_NOTE`] columns, else left out. It is the one thing
    /// on the line that is not a number, so it wins over a wider form.
    /// Never wider than `room` (the narrowest form is cut with `…` last).
    pub(crate) fn fit(&self, note: &str, room: usize) -> String {
        let width = console::measure_text_width;
        let note = crate::safe::one_line(note);
        let forms = self.forms();
        if !note.is_empty() {
            if let Some(form) = forms.iter().find(|f| width(f) + width(&note) <= room) {
                return format!("{form}{note}");
            }
            if let Some(form) = forms.iter().find(|f| width(f) + MIN_NOTE <= room) {
                let left = room - width(form);
                return format!("{form}{}", console::truncate_str(&note, left, "…"));
            }
        }
        match forms.iter().find(|f| width(f) <= room) {
            Some(form) => form.clone(),
            None if room == 0 => String::new(),
            None => console::truncate_str(&forms[4], room, "…").into_owned(),
        }
    }
}

/// Columns the overall line's note must have at least to be shown cut:
/// fewer say nothing (`; cannot c…`).
const MIN_NOTE: usize = 12;

/// A row's name on its job's line: its `id` (escaped, cut to `room`
/// columns with `…`), else `FILE:LINE` with the file's name cut and the
/// line kept. `None` when not even a few columns are left for it.
fn row_name(id: Option<&str>, file: &str, line: u64, room: usize) -> Option<String> {
    let room = room.min(MAX_ROW_NAME);
    if room < 4 {
        return None;
    }
    Some(match id {
        Some(id) => console::truncate_str(&crate::safe::one_line(id), room, "…").into_owned(),
        None => {
            let line = format!(":{line}");
            let keep = room.saturating_sub(line.len());
            if keep < 2 {
                return None;
            }
            let file = crate::safe::one_line(file);
            format!("{}{line}", console::truncate_str(&file, keep, "…"))
        }
    })
}

/// How a batch names a job's row on its line (see [`row_name`]).
#[derive(Debug, Clone)]
pub(crate) struct RowLabel {
    pub(crate) id: Option<String>,
    /// The input's file name (`<stdin>` for `-`).
    pub(crate) file: String,
    pub(crate) line: u64,
}

/// Progress for one or many jobs.
pub(crate) struct Progress {
    mode: Mode,
    multi: MultiProgress,
    live: HashMap<JobId, Live>,
    /// A line above the spinners summing up many jobs (`vestis batch`).
    overall: Option<ProgressBar>,
    /// Jobs beyond the screen's height get no spinner, and are counted
    /// on a line under the spinners instead (see [`Progress::arrange`]).
    bounded: bool,
    /// Jobs with no spinner for want of rows, and what each says now:
    /// given one, in job order, as rows free up.
    hidden: BTreeMap<JobId, Said>,
    /// `… and 3 more in flight`, under the spinners while any are hidden.
    more: Option<ProgressBar>,
    /// Jobs in flight by the overall line's last count: those without a
    /// spinner (hidden, or still being created) are counted under them.
    in_flight: usize,
    /// Spinners of jobs that ended, taken off with the next overall line
    /// (see [`Progress::overall`]).
    ended: Vec<ProgressBar>,
    /// The server's maximum attempts per job, when it says (see [`attempt_label`]).
    max_attempts: Option<u32>,
    /// The rows of a batch's jobs, named on their lines (see [`row_name`]).
    rows: HashMap<JobId, RowLabel>,
}

impl Progress {
    pub(crate) fn new(mode: Mode) -> Progress {
        let multi = MultiProgress::with_draw_target(match mode {
            // 20 redraws a second, as indicatif's own stderr target.
            Mode::Bars => ProgressDrawTarget::term_like_with_hz(
                Box::new(Narrowed {
                    term: console::Term::buffered_stderr(),
                    padded: AtomicBool::new(false),
                }),
                20,
            ),
            _ => ProgressDrawTarget::hidden(),
        });
        Progress {
            mode,
            multi,
            live: HashMap::new(),
            overall: None,
            bounded: false,
            hidden: BTreeMap::new(),
            more: None,
            in_flight: 0,
            ended: Vec::new(),
            max_attempts: None,
            rows: HashMap::new(),
        }
    }

    /// Progress for a batch: one overall line ([`Progress::overall`]) on
    /// top, then spinners for only as many jobs as the screen has rows for
    /// (a live area taller than the screen cannot be redrawn in place).
    pub(crate) fn with_overall(mode: Mode) -> Progress {
        let mut progress = Progress::new(mode);
        if mode == Mode::Bars {
            let bar = progress.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            progress.overall = Some(bar);
            progress.bounded = true;
        }
        progress
    }

    /// Sets the overall line, in the widest form the terminal's width
    /// allows, then `note` (on a terminal; elsewhere the caller prints
    /// [`Overall::full`] now and then). Every job's line is cut anew too
    /// ([`Progress::refit`]): the caller calls this on a steady tick and
    /// whenever its counts change, so both are drawn from one moment.
    pub(crate) fn overall(&mut self, overall: &Overall, note: &str) {
        if let Some(bar) = &self.overall {
            bar.set_message(overall.fit(note, usize::from(live_width())));
            self.in_flight = overall.in_flight;
            // Spinners of jobs that ended go only now, after the counts:
            // the redraw their going asks for shows the new counts too.
            for bar in std::mem::take(&mut self.ended) {
                self.retire(&bar);
            }
            self.refit();
        }
    }

    /// Cuts every job's line anew to the terminal's width now (it may
    /// have changed since: a window made narrower would wrap lines cut for
    /// the old width, and the redraws would then leave broken rows behind;
    /// one made wider would keep them short) and to the room its elapsed
    /// time now takes, and gives hidden jobs a spinner as rows free up.
    pub(crate) fn refit(&mut self) {
        if self.mode != Mode::Bars {
            return;
        }
        let ids: Vec<JobId> = self.live.keys().copied().collect();
        for id in ids {
            self.draw_line(id);
        }
        self.arrange();
    }

    /// Starts job `id` of a batch's row: its line names the row too
    /// (`sku-1 · job 12 Waiting in queue... 3s`).
    pub(crate) fn start_row(&mut self, id: JobId, row: RowLabel, message: &str) {
        self.rows.insert(id, row);
        self.start(id, message);
    }

    /// Takes job `id`'s spinner away without a line: for a batch, whose
    /// overall line counts the jobs that ended.
    pub(crate) fn forget(&mut self, id: JobId) {
        self.rows.remove(&id);
        self.hidden.remove(&id);
        if let Some(live) = self.live.remove(&id) {
            if self.overall.is_some() {
                // Stopped now, taken off with the next counts.
                live.bar.disable_steady_tick();
                self.ended.push(live.bar);
            } else {
                self.retire(&live.bar);
            }
        }
        self.arrange();
    }

    /// How many spinners the screen has rows for, with `jobs` in flight:
    /// the overall line and a row for the cursor stay within the screen,
    /// and, if not every job gets a spinner, the line counting the rest.
    fn spinner_rows(&self, jobs: usize) -> usize {
        if !self.bounded {
            return jobs;
        }
        let rows = usize::from(console::Term::stderr().size().0);
        let free = rows.saturating_sub(2);
        if jobs <= free {
            jobs
        } else {
            free.saturating_sub(1)
        }
    }

    /// Gives spinners to as many jobs as the screen has rows for (the
    /// lowest job ids first), takes them from the newest jobs past that,
    /// and counts the jobs in flight left without one (those, and rows
    /// whose create is under way) on a line under the spinners, so that
    /// the spinners and that line add up to the overall line's count.
    fn arrange(&mut self) {
        if self.mode != Mode::Bars {
            return;
        }
        // Jobs in flight: those with a line, and any more the overall line
        // counts (rows whose create is still under way have no job yet).
        let jobs = self.live.len() + self.hidden.len();
        let in_flight = jobs.max(self.in_flight);
        let room = self.spinner_rows(in_flight).min(jobs);
        while self.live.len() > room {
            let Some(&newest) = self.live.keys().max() else {
                break;
            };
            if let Some(live) = self.live.remove(&newest) {
                self.retire(&live.bar);
                self.hidden.insert(newest, live.said);
            }
        }
        while self.live.len() < room {
            let Some((id, said)) = self.hidden.pop_first() else {
                break;
            };
            self.add_spinner(id, said);
        }
        match (in_flight - self.live.len(), &self.more) {
            (0, None) => {}
            (0, Some(more)) => {
                self.retire(more);
                self.more = None;
            }
            (n, _) => {
                let text = format!("… and {n} more in flight");
                let line = console::truncate_str(&text, usize::from(live_width()), "…");
                let more = self.more.get_or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{msg:.dim}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar
                });
                more.set_message(line.into_owned());
            }
        }
    }

    /// Adds job `id`'s spinner (above the line counting hidden jobs), then
    /// draws its line.
    fn add_spinner(&mut self, id: JobId, said: Said) {
        let bar = match &self.more {
            Some(more) => self.multi.insert_before(more, ProgressBar::new_spinner()),
            None => self.multi.add(ProgressBar::new_spinner()),
        };
        bar.set_style(Progress::spinner_style());
        bar.enable_steady_tick(Duration::from_millis(100));
        self.live.insert(id, Live { bar, said });
        self.draw_line(id);
    }

    /// Sets the server's maximum attempts per job, shown as `attempt 2/3`.
    pub(crate) fn set_max_attempts(&mut self, max: Option<u32>) {
        self.max_attempts = max;
    }

    fn spinner_style() -> ProgressStyle {
        // `show` cuts the message to the live width, with an ellipsis.
        // The elapsed time in whole seconds, by the CLI's one duration
        // printer (indicatif's own `{elapsed}` writes `1m`, not `1m 5s`).
        ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} {msg} {waited:.dim}")
            .map(|style| {
                style.with_key("waited", |state: &ProgressState, w: &mut dyn fmt::Write| {
                    let whole = Duration::from_secs(state.elapsed().as_secs());
                    let _ = w.write_str(&human_duration(whole));
                })
            })
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ")
    }

    /// Runs `write` with the live area cleared, then redraws it below what
    /// was written: the only way text reaches the screen while spinners are
    /// live (stdout included, which on a terminal shares their screen).
    pub(crate) fn suspend<R>(&self, write: impl FnOnce() -> R) -> R {
        if self.mode == Mode::Bars {
            self.multi.suspend(write)
        } else {
            write()
        }
    }

    /// A line of text on stderr, above the live spinners.
    pub(crate) fn note(&self, text: &str) {
        if self.mode != Mode::Quiet {
            self.suspend(|| crate::say(text));
        }
    }

    /// A job's line (a status, a retry, its outcome): always one line,
    /// whatever the server's text holds, and on a terminal cut to its
    /// width with `…` (above live spinners, a line that wrapped would be
    /// miscounted by the redraws below it). Whole on a pipe or in a file.
    fn job_note(&self, text: &str) {
        let line = crate::safe::one_line(text);
        let width = match self.mode {
            Mode::Bars => Some(usize::from(live_width())),
            _ if std::io::stderr().is_terminal() => console::Term::stderr()
                .size_checked()
                .map(|(_, columns)| usize::from(columns)),
            _ => None,
        };
        match width {
            Some(width) => self.note(&console::truncate_str(&line, width, "…")),
            None => self.note(&line),
        }
    }

    /// Sets job `id`'s live message, adding its spinner if it has none
    /// and the screen has a row for it (else it is counted as hidden).
    fn show(&mut self, id: JobId, text: &str, suffix: &str) {
        // Server text (a retry's cause) stays on its one line, escaped.
        let said = Said {
            text: crate::safe::one_line(text).into_owned(),
            suffix: suffix.to_owned(),
        };
        if let Some(live) = self.live.get_mut(&id) {
            live.said = said;
            self.draw_line(id);
        } else {
            self.hidden.insert(id, said);
            self.arrange();
        }
    }

    /// Cuts job `id`'s line to the live width: `text` then `suffix` (the
    /// attempt), with an ellipsis in `text`, so the attempt always shows;
    /// a batch row's name before the job, in at most half the room.
    fn draw_line(&self, id: JobId) {
        let Some(live) = self.live.get(&id) else {
            return;
        };
        let columns = usize::from(live_width());
        // The elapsed time's room: what it will take by the next refit,
        // when a caller refits on a tick (a batch); else the widest it
        // takes within an hour (`59m 59s`).
        let waited = if self.bounded {
            let next = Duration::from_secs(live.bar.elapsed().as_secs() + 1);
            console::measure_text_width(&human_duration(next))
        } else {
            7
        };
        // The spinner, "job", the id, the spaces, the elapsed time.
        let fixed = 2 + 4 + id.to_string().len() + 1 + 1 + waited;
        let room = columns.saturating_sub(fixed);
        // A batch row's name takes at most half what the status has left.
        let name = self.rows.get(&id).and_then(|row| {
            let room = room.saturating_sub(console::measure_text_width(ROW_JOB)) / 2;
            row_name(row.id.as_deref(), &row.file, row.line, room)
        });
        let room = match &name {
            Some(name) => room.saturating_sub(
                console::measure_text_width(name) + console::measure_text_width(ROW_JOB),
            ),
            None => room,
        };
        let prefix = match &name {
            Some(name) => format!("{name}{ROW_JOB}job {id}"),
            None => format!("job {id}"),
        };
        let message = fit(&live.said.text, &live.said.suffix, room);
        // Set only when changed: each set asks for a redraw.
        if live.bar.prefix() != prefix {
            live.bar.set_prefix(prefix);
        }
        if live.bar.message() != message {
            live.bar.set_message(message);
        }
    }

    /// Shows that job `id` exists and is being watched.
    pub(crate) fn start(&mut self, id: JobId, message: &str) {
        match self.mode {
            Mode::Bars => self.show(id, message, ""),
            Mode::Lines => self.job_note(&format!("job {id}: {message}")),
            Mode::Quiet => {}
        }
    }

    /// Renders one wait event of job `id`.
    pub(crate) fn event(&mut self, id: JobId, event: &WaitEvent) {
        match event {
            WaitEvent::StatusChanged { job, .. } => {
                let text = status_message(&job.status);
                let attempt = attempt_label(job.attempts, self.max_attempts);
                match self.mode {
                    Mode::Bars => self.show(id, text, &attempt),
                    Mode::Lines => {
                        self.job_note(&format!("job {id}: {}: {text}{attempt}", job.status));
                    }
                    Mode::Quiet => {}
                }
            }
            WaitEvent::RetryScheduled { delay, cause, .. } => {
                let text = format!("retrying in {}: {cause}", human_duration(*delay));
                match self.mode {
                    Mode::Bars => self.show(id, &text, ""),
                    Mode::Lines => self.job_note(&format!("job {id}: {text}")),
                    Mode::Quiet => {}
                }
            }
            WaitEvent::CancelledOnTimeout(outcome) => {
                let text = match outcome {
                    Ok(()) => "cancelled on the server after the timeout".to_owned(),
                    Err(e) => format!("could not cancel after the timeout: {e}"),
                };
                self.job_note(&format!("job {id}: {text}"));
            }
            WaitEvent::Finished(result) => self.finish(id, result),
            _ => {}
        }
    }

    /// Ends job `id`: its spinner leaves the live area and its outcome is
    /// written above it, once.
    pub(crate) fn finish(&mut self, id: JobId, result: &Result<Job, Error>) {
        let (mark, text) = outcome_text(result);
        match self.mode {
            Mode::Bars => {
                self.forget(id);
                self.job_note(&format!("{mark} job {id} {text}"));
            }
            // In line mode the status line already said it, except for errors.
            Mode::Lines
                if result.is_err()
                    && !matches!(result, Err(Error::JobFailed(_) | Error::JobCancelled(_))) =>
            {
                self.job_note(&format!("job {id}: {text}"));
            }
            _ => {}
        }
    }

    /// Takes a spinner off the screen for good.
    fn retire(&self, bar: &ProgressBar) {
        bar.finish_and_clear();
        self.multi.remove(bar);
    }

    /// Replaces every spinner still live with a plain line saying where its
    /// job was when the wait stopped (Ctrl-C, a closed stdout, an error).
    fn stop_all(&mut self) {
        if let Some(more) = self.more.take() {
            self.retire(&more);
        }
        for bar in std::mem::take(&mut self.ended) {
            self.retire(&bar);
        }
        let mut live: BTreeMap<JobId, Said> = std::mem::take(&mut self.hidden);
        for (id, job) in self.live.drain() {
            job.bar.finish_and_clear();
            self.multi.remove(&job.bar);
            live.insert(id, job.said);
        }
        for (id, said) in live {
            // Named as on its live line: the row, then the job.
            let row = self
                .rows
                .get(&id)
                .and_then(|row| row_name(row.id.as_deref(), &row.file, row.line, MAX_ROW_NAME))
                .map(|name| format!("{name}{ROW_JOB}"))
                .unwrap_or_default();
            crate::say(&format!("- {row}job {id} not finished: {said}"));
        }
    }
}

impl Drop for Progress {
    /// No spinner outlives the command: unfinished jobs get a plain line.
    fn drop(&mut self) {
        // The overall line first: the plain lines below are written
        // straight to stderr, and would land on a line still drawn.
        if let Some(bar) = self.overall.take() {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        self.stop_all();
    }
}

/// `text` then `suffix` in at most `room` columns: `text` is cut with an
/// ellipsis first, then the whole if even `suffix` does not fit.
fn fit(text: &str, suffix: &str, room: usize) -> String {
    let width = |s: &str| console::measure_text_width(s);
    if room == 0 {
        return String::new();
    }
    if width(text) + width(suffix) <= room {
        return format!("{text}{suffix}");
    }
    let keep = room.saturating_sub(width(suffix));
    if keep < 2 {
        return console::truncate_str(&format!("{text}{suffix}"), room, "…").into_owned();
    }
    format!("{}{suffix}", console::truncate_str(text, keep, "…"))
}

/// A finished job's mark and words: `✔ Generation complete! in 2.1s`.
fn outcome_text(result: &Result<Job, Error>) -> (&'static str, String) {
    match result {
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
    }
}

/// `d` rounded up to whole seconds (`0.2s` is `1s`: some time is left).
fn whole_seconds(d: Duration) -> Duration {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    Duration::from_secs(secs)
}

/// `1.5s`, `2m 3s`: short and readable, at most two units. The CLI's one
/// duration printer: every duration a person reads (a job's `took`, a
/// retry's delay, a timeout, the spinner's elapsed time) goes through it.
pub(crate) fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
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
        assert_eq!(human_duration(Duration::ZERO), "0s");
        assert_eq!(human_duration(Duration::from_millis(350)), "350ms");
        assert_eq!(human_duration(Duration::from_millis(2000)), "2s");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2m 5s");
        assert_eq!(human_duration(Duration::from_secs(300)), "5m");
        assert_eq!(human_duration(Duration::from_secs(3720)), "1h 2m");
    }

    #[test]
    fn lines_fit_with_the_attempt_kept() {
        let text = "Generating your image...";
        assert_eq!(
            fit(text, " (attempt 2/3)", 80),
            "Generating your image... (attempt 2/3)"
        );
        assert_eq!(fit(text, " (attempt 2/3)", 25), "Generating… (attempt 2/3)");
        assert_eq!(fit(text, " (attempt 2/3)", 10), "Generatin…");
        assert_eq!(fit(text, "", 0), "");
    }

    fn four_in_flight(eta: Option<Duration>) -> Overall {
        Overall {
            done: "0".to_owned(),
            total: "4".to_owned(),
            problems: Vec::new(),
            not_completed: "0".to_owned(),
            in_flight: 4,
            rate: 0.0,
            eta,
        }
    }

    /// Why the server cannot be reached stays on the overall line at every
    /// width with room for the narrowest form and a few words of it: whole
    /// if it fits whole after some form, else cut with `…`.
    #[test]
    fn the_unreachable_note_survives_every_width_it_fits() {
        let overall = four_in_flight(None);
        let note = "; cannot connect to 127.0.0.1:9: connection refused: retrying";
        let width = console::measure_text_width;
        let narrowest = width(&overall.forms()[4]);
        for room in 20..=120 {
            let line = overall.fit(note, room);
            assert!(width(&line) <= room, "{room}: {line}");
            if narrowest + MIN_NOTE > room {
                continue;
            }
            let whole = overall
                .forms()
                .iter()
                .any(|f| width(f) + width(note) <= room);
            if whole {
                assert!(line.ends_with(note), "{room}: {line}");
            } else {
                assert!(line.contains("; cannot c"), "{room}: {line}");
                assert!(line.ends_with('…'), "{room}: {line}");
            }
        }
        // The widths the trial saw it vanish at.
        assert!(overall.fit(note, 57).contains("; cannot"));
        assert!(overall.fit(note, 37).contains("; cannot"));
    }

    /// The time left is whole seconds (rounded up), never `12.2s`.
    #[test]
    fn the_eta_is_whole_seconds() {
        for (ms, want) in [
            (12_200, "ETA 13s"),
            (9_000, "ETA 9s"),
            (300, "ETA 1s"),
            (65_500, "ETA 1m 6s"),
            (7_200_000, "ETA 2h 0m"),
        ] {
            let line = four_in_flight(Some(Duration::from_millis(ms))).full();
            assert!(line.ends_with(want), "{ms}ms: {line}");
        }
    }

    #[test]
    fn one_row_is_a_row() {
        let mut overall = four_in_flight(None);
        overall.total = "1".to_owned();
        assert!(
            overall.full().starts_with("0 of 1 row done"),
            "{}",
            overall.full()
        );
    }

    #[test]
    fn attempts_show_once_retried() {
        assert_eq!(attempt_label(1, Some(3)), "");
        assert_eq!(attempt_label(2, Some(3)), " (attempt 2/3)");
        assert_eq!(attempt_label(2, None), " (attempt 2)");
        // A maximum the server's own count has passed is not the maximum.
        assert_eq!(attempt_label(4, Some(3)), " (attempt 4)");
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
