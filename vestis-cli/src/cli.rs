//! The command line: clap definitions only, no behaviour.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use vestis_client::{JobId, JobKind, JobStatus};

use crate::preview::Choice;

/// Generate images with the Vestis API from the terminal.
#[derive(Debug, Parser)]
#[command(
    name = "vestis",
    version,
    about = "Generate images with the Vestis API: create jobs, watch them, and get the PNG.",
    after_help = crate::exit::HELP,
    propagate_version = true
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub(crate) struct Global {
    /// The API's base URL.
    #[arg(
        long,
        env = "VESTIS_API_URL",
        default_value = vestis_client::DEFAULT_BASE_URL,
        global = true,
        hide_env_values = true
    )]
    pub(crate) api_url: String,
    /// Bearer token (your identity; jobs belong to it).
    #[arg(long, env = "VESTIS_TOKEN", global = true, hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Print nothing on stderr but errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    /// Log every request and poll to stderr.
    #[arg(short, long, global = true)]
    pub(crate) verbose: bool,
    /// No progress bars: one plain line per status change.
    #[arg(long, global = true)]
    pub(crate) no_progress: bool,
    /// Start the bundled mock server in-process and use it (no backend needed).
    #[cfg(feature = "mock")]
    #[arg(long, global = true)]
    pub(crate) mock: bool,
}

impl Global {
    /// Whether `--mock` was given (never, in a build without the `mock` feature).
    pub(crate) fn mock(&self) -> bool {
        #[cfg(feature = "mock")]
        return self.mock;
        #[cfg(not(feature = "mock"))]
        return false;
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a generation job and (by default) wait for its image.
    Generate(GenerateArgs),
    /// Wait for existing jobs (any number, concurrently).
    Wait(WaitArgs),
    /// Create a job for every row of a CSV or JSON Lines file, each exactly once, resumably.
    #[command(after_help = BATCH_HELP)]
    Batch(BatchArgs),
    /// Show a job once, without waiting.
    Status(StatusArgs),
    /// List your jobs, newest first.
    List(ListArgs),
    /// Cancel pending jobs.
    Cancel(CancelArgs),
    /// Wait for every unfinished job this machine started (after a crash or closed terminal).
    Resume(ResumeArgs),
    /// Show the jobs this machine started, from the local journal.
    History(HistoryArgs),
    /// Draw images in the terminal: jobs' (saved or downloaded) or PNG files.
    #[command(after_help = SHOW_HELP)]
    Show(ShowArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Check that a server honours the API contract (for backend CI; creates a few jobs).
    #[command(after_help = VERIFY_EXIT_CODES)]
    Verify(VerifyArgs),
    /// Write the man pages, vestis.1 and one per subcommand, into a folder.
    #[command(hide = true)]
    Man(ManArgs),
}

/// The job kinds, parsed by the SDK's own `JobKind` (its wire names), with
/// those names listed in `--help`.
fn kind_parser() -> impl clap::builder::TypedValueParser<Value = JobKind> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(JobKind::ALL.map(JobKind::as_str))
        .try_map(|s| s.parse::<JobKind>())
}

/// The polling strategies of the guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StrategyArg {
    /// Every 2 s (or --interval), at most 150 polls.
    Fixed,
    /// 1 s (or --interval), ×1.2 each time, at most 5 s apart, at most 150 polls.
    Backoff,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{e} (write durations like 500ms, 90s or 5m)"))
        .and_then(|d| {
            if d.is_zero() {
                Err("must be longer than zero".to_owned())
            } else {
                Ok(d)
            }
        })
}

fn parse_job_id(s: &str) -> Result<JobId, String> {
    s.parse::<JobId>().map_err(|e| e.to_string())
}

fn parse_status(s: &str) -> Result<JobStatus, String> {
    s.parse::<JobStatus>().map_err(|e| e.to_string())
}

/// How to wait: shared by `generate`, `wait` and `resume`.
#[derive(Debug, Clone, Args)]
pub(crate) struct WaitFlags {
    /// Polling strategy.
    #[arg(long, value_enum, default_value_t = StrategyArg::Fixed)]
    pub(crate) strategy: StrategyArg,
    /// Poll interval (fixed) or first delay (backoff), e.g. 500ms.
    #[arg(long, value_parser = parse_duration)]
    pub(crate) interval: Option<Duration>,
    /// Give up waiting after this long, e.g. 90s or 10m.
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    pub(crate) timeout: Duration,
    /// Cancel the job on the server when the wait times out.
    #[arg(long)]
    pub(crate) cancel_on_timeout: bool,
    #[command(flatten)]
    pub(crate) preview: PreviewFlag,
}

/// `--preview[=PROTOCOL]`: shared by the commands that end with images.
#[derive(Debug, Clone, Copy, Args)]
pub(crate) struct PreviewFlag {
    /// Draw each image in the terminal (not on a pipe, nor with --json or -q); a protocol
    /// overrides VESTIS_PREVIEW and detection.
    #[arg(
        long,
        value_enum,
        value_name = "PROTOCOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "auto"
    )]
    pub(crate) preview: Option<Choice>,
}

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// What to generate.
    #[arg(value_parser = kind_parser())]
    pub(crate) kind: JobKind,
    /// The prompt (chat needs one).
    #[arg(long)]
    pub(crate) prompt: Option<String>,
    /// A reference image: a URL, or a local file sent as a data URI (repeatable).
    #[arg(long = "image", value_name = "URL|FILE")]
    pub(crate) images: Vec<std::ffi::OsString>,
    /// Flatlay: the model id.
    #[arg(long)]
    pub(crate) model_id: Option<String>,
    /// Flatlay: the background id.
    #[arg(long)]
    pub(crate) background_id: Option<String>,
    /// Flatlay: a product, as JSON or a plain id (repeatable).
    #[arg(long = "product", value_name = "JSON|ID")]
    pub(crate) products: Vec<String>,
    /// The raw JSON payload from a file, or `-` for stdin (instead of the flags above).
    #[arg(long, value_name = "FILE|-", conflicts_with_all = ["prompt", "images", "model_id", "background_id", "products"])]
    pub(crate) payload: Option<PathBuf>,
    /// Print the job id and exit without waiting (`-o` is remembered for `vestis wait ID`).
    #[arg(long, conflicts_with = "cancel_on_timeout")]
    pub(crate) no_wait: bool,
    /// Save the PNG here (a file, or a directory for `job-ID.png`).
    #[arg(short, long, value_name = "PATH")]
    pub(crate) output: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) wait: WaitFlags,
}

/// `vestis batch --help`'s closing words: the placeholders, the manifest, resuming and exit codes.
const BATCH_HELP: &str = "\
Name placeholders: {id} (the row's id, or line-N), {line}, {kind}, {job} (the job id),
{slug} (the prompt, filesystem-safe, at most 40 characters).
A row's relative image path is read from FILE's folder (stdin: the current folder).

The manifest (DIR/manifest.jsonl, JSON Lines) gets one line per finished row.
Run the same command again, or `vestis resume`, after a crash or Ctrl-C: finished
rows are skipped, rows in flight re-attached, and no row is created twice.
`vestis show JOB_ID` finds a row's image again.

--dry-run also lists each row whose image file exists (not replaced without
--overwrite) and says if DIR cannot be created or written into (exit 2).
Off a terminal the overall line is written every 10s (VESTIS_PROGRESS_EVERY=1m
changes it).

Exit codes:
  0    every row completed
  1    some rows failed or were cancelled
  2    invalid input (nothing was sent), an output could not be written (or
       would not be, with --dry-run), or another vestis is running this batch
  3    some rows timed out (their jobs keep running: run the command again)
  4    the server rejected the token
  6    the server could not be reached
  130  interrupted by Ctrl-C (the jobs keep running: run the command again)
  128+N  ended by signal N the same way (SIGHUP 129, SIGTERM 143)";

/// How a batch file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FormatArg {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

#[derive(Debug, Args)]
pub(crate) struct BatchArgs {
    /// The rows: a CSV file with a header row, a JSON Lines file, or `-` for stdin.
    #[arg(value_name = "FILE|-")]
    pub(crate) file: PathBuf,
    /// The folder for the images and the manifest (created if missing).
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    pub(crate) output: PathBuf,
    /// The file's format (default: by extension, else by its first character).
    #[arg(long, value_enum)]
    pub(crate) format: Option<FormatArg>,
    /// The kind of rows that have no `kind` column or value.
    #[arg(long, value_parser = kind_parser())]
    pub(crate) kind: Option<JobKind>,
    /// How each image is named in DIR (placeholders below).
    #[arg(long, value_name = "TEMPLATE", default_value = "{id}.png")]
    pub(crate) name: String,
    /// Replace existing files in DIR (otherwise a row whose file exists is not saved).
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// At most this many jobs in flight, creates and polls sent at once,
    /// and images downloading.
    #[arg(long, short = 'j', default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub(crate) concurrency: u16,
    /// At most this many jobs in flight (created, not yet seen finished),
    /// while --concurrency still caps the creates, polls and downloads [default:
    /// --concurrency]. Set it higher when jobs finish faster than the poll
    /// interval: the server then has the next rows' jobs when one ends
    /// between two polls.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub(crate) jobs_in_flight: Option<u32>,
    /// List invalid rows, then send the valid ones (instead of sending nothing).
    #[arg(long)]
    pub(crate) skip_invalid: bool,
    /// Validate and print what would be created, sending nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Drop this batch (FILE into DIR) from the journal, sending nothing:
    /// `vestis resume` no longer picks it up. Its images and manifest stay.
    #[arg(long, conflicts_with = "dry_run")]
    pub(crate) forget: bool,
    #[command(flatten)]
    pub(crate) wait: WaitFlags,
}

#[derive(Debug, Args)]
pub(crate) struct WaitArgs {
    /// The jobs to wait for.
    #[arg(required = true, value_parser = parse_job_id, value_name = "ID")]
    pub(crate) ids: Vec<JobId>,
    /// Save each PNG into this directory as `job-ID.png`.
    #[arg(short, long, value_name = "DIR")]
    pub(crate) output: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) wait: WaitFlags,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The job to show.
    #[arg(value_parser = parse_job_id, value_name = "ID")]
    pub(crate) id: JobId,
    /// Exit 1 if the job failed or was cancelled (like `gh run view --exit-status`).
    #[arg(long)]
    pub(crate) exit_status: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Page number, from 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) page: u64,
    /// Jobs per page, 1 to 100.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) page_size: u32,
    /// Only jobs with this status.
    #[arg(long, value_parser = parse_status)]
    pub(crate) status: Option<JobStatus>,
}

#[derive(Debug, Args)]
pub(crate) struct CancelArgs {
    /// The jobs to cancel.
    #[arg(required = true, value_parser = parse_job_id, value_name = "ID")]
    pub(crate) ids: Vec<JobId>,
}

#[derive(Debug, Args)]
pub(crate) struct ResumeArgs {
    #[command(flatten)]
    pub(crate) wait: WaitFlags,
}

/// How `show` picks its images and protocol, shown by `show --help`.
const SHOW_HELP: &str = "\
An argument that names an existing file is that file; otherwise a job id:
its image from the file this machine saved it to, else downloaded once.

The protocol: --preview=PROTOCOL, else VESTIS_PREVIEW, else the best the
terminal supports (kitty, iTerm2, sixel, or Unicode half blocks), found
from its environment variables or by asking it (at most 250 ms, or
VESTIS_PREVIEW_TIMEOUT). Nothing is drawn on a pipe, with --json or -q:
one line per image is printed instead.

Exit codes: 2 a file is missing or not a PNG, or a job has no image;
5 a job is not found; 6 an image cannot be downloaded.";

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// Job ids or PNG files.
    #[arg(required = true, value_name = "ID|FILE", value_parser = clap::value_parser!(std::ffi::OsString))]
    pub(crate) items: Vec<std::ffi::OsString>,
    /// The protocol (default: auto).
    #[arg(
        long,
        value_enum,
        value_name = "PROTOCOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "auto"
    )]
    pub(crate) preview: Option<Choice>,
}

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// Show at most this many records, newest first.
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: usize,
    /// Forget these jobs' records (for the current API URL); `resume` will not pick them up.
    #[arg(long, value_parser = parse_job_id, value_name = "ID", num_args = 1.., conflicts_with = "clear")]
    pub(crate) forget: Vec<JobId>,
    /// Forget every record in the journal, finished or not.
    #[arg(long)]
    pub(crate) clear: bool,
}

/// How to install each shell's completion script, shown by `completions --help`.
const COMPLETIONS_SETUP: &str = "\
The script goes to stdout; vestis writes no files. Install it once:

  bash        mkdir -p ~/.local/share/bash-completion/completions
              vestis completions bash > ~/.local/share/bash-completion/completions/vestis
              (needs the bash-completion package; open a new shell)
  zsh         mkdir -p ~/.zfunc && vestis completions zsh > ~/.zfunc/_vestis
              then in ~/.zshrc, before any compinit:
                fpath=(~/.zfunc $fpath); autoload -Uz compinit && compinit
  fish        mkdir -p ~/.config/fish/completions
              vestis completions fish > ~/.config/fish/completions/vestis.fish
  powershell  vestis completions powershell >> $PROFILE
  elvish      vestis completions elvish >> ~/.config/elvish/rc.elv";

/// `vestis verify`'s own exit codes.
const VERIFY_EXIT_CODES: &str = "\
Exit codes:
  0    every check passed or was skipped
  1    a check failed
  2    usage error (or the JUnit file cannot be written)
  4    the server rejected a token
  6    the server could not be reached";

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// A second token, for the isolation checks (skipped without one).
    #[arg(long, env = "VESTIS_SECOND_TOKEN", hide_env_values = true)]
    pub(crate) second_token: Option<String>,
    /// How long checks that need a started or finished job wait for one, e.g. 90s or 10m.
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    pub(crate) job_timeout: Duration,
    /// Only the checks that need no finished job.
    #[arg(long)]
    pub(crate) quick: bool,
    /// List the checks and what they need without sending anything.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Also write a JUnit XML report to FILE (one test case per check).
    #[arg(long, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = COMPLETIONS_SETUP)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

/// `vestis man --dir DIR`: for packagers and `make install`-style set-ups.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The folder to write the pages into (created if missing), e.g. ~/.local/share/man/man1.
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: std::path::PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn payload_conflicts_with_field_flags() {
        let r = Cli::try_parse_from([
            "vestis",
            "generate",
            "chat",
            "--prompt",
            "x",
            "--payload",
            "-",
        ]);
        assert!(r.is_err());
    }

    #[test]
    fn durations_need_units_and_must_be_positive() {
        assert!(Cli::try_parse_from(["vestis", "wait", "1", "--timeout", "90s"]).is_ok());
        assert!(Cli::try_parse_from(["vestis", "wait", "1", "--timeout", "90"]).is_err());
        assert!(Cli::try_parse_from(["vestis", "wait", "1", "--interval", "0s"]).is_err());
        assert!(Cli::try_parse_from(["vestis", "wait", "0"]).is_err());
    }
}
