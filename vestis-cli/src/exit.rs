//! Every exit code and every rule that picks one, in one place.
//!
//! Commands return errors; `main` asks [`Exit::of`] which code an error
//! means and prints it. A [`Failure`] is an error the CLI itself decided on
//! (bad input, a job that did not complete, several jobs' worst outcome).

use vestis_client::Error;

/// The documented exit codes, ordered from best to worst: with several
/// jobs the command exits with the largest code among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Exit {
    /// 0: everything asked for happened (or stdout was closed early).
    Success,
    /// 1: a job failed or was cancelled.
    JobFailed,
    /// 2: the user's input is wrong, or a local file could not be used.
    Usage,
    /// 3: the wait's `--timeout` passed first.
    TimedOut,
    /// 4: the server rejected the token.
    Unauthorized,
    /// 5: the server does not know the job.
    NotFound,
    /// 6: the server or the network is unavailable (or answered nonsense).
    Unavailable,
    /// 128 + the signal's number: a terminating signal the CLI caught
    /// (`SIGHUP` 129, `SIGINT`/Ctrl-C 130, `SIGQUIT` 131, `SIGTERM` 143;
    /// also `SIGALRM`, `SIGUSR1`, `SIGUSR2`).
    Signal(u8),
}

/// The process's exit code: `main` returns an [`Exit`], never a bare number.
impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> std::process::ExitCode {
        std::process::ExitCode::from(exit.code())
    }
}

/// The exit codes, as `--help` shows them.
pub(crate) const HELP: &str = "\
Exit codes:
  0    success
  1    a job failed or was cancelled
  2    usage error or invalid input
  3    timed out waiting
  4    authentication rejected
  5    job not found
  6    server or network unavailable
  129  SIGHUP (the terminal closed)
  130  SIGINT (Ctrl-C)
  131  SIGQUIT (Ctrl-\\)
  143  SIGTERM (`kill`, `timeout`)
  128+N  any other terminating signal N it can catch (SIGALRM, SIGUSR1, SIGUSR2)
On any of these signals a wait stops, the jobs keep running: re-attach with `vestis wait ID`";

impl Exit {
    /// The process exit code.
    pub(crate) fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::JobFailed => 1,
            Exit::Usage => 2,
            Exit::TimedOut => 3,
            Exit::Unauthorized => 4,
            Exit::NotFound => 5,
            Exit::Unavailable => 6,
            Exit::Signal(n) => 128u8.saturating_add(n),
        }
    }

    /// What an SDK error means for the exit code. 409 is a usage error: the
    /// request does not fit the job's state.
    pub(crate) fn of_client(error: &Error) -> Exit {
        match error {
            Error::JobFailed(_) | Error::JobCancelled(_) => Exit::JobFailed,
            Error::InvalidRequest(_)
            | Error::Conflict(_)
            | Error::Config(_)
            | Error::Redirected { .. } => Exit::Usage,
            Error::TimedOut { .. } => Exit::TimedOut,
            Error::Unauthorized(_) => Exit::Unauthorized,
            Error::NotFound(_) => Exit::NotFound,
            _ => Exit::Unavailable,
        }
    }

    /// What any error a command returned means. A closed stdout is success:
    /// nobody is reading any more, as with `vestis list | head -1`.
    pub(crate) fn of(error: &anyhow::Error) -> Exit {
        if let Some(f) = error.downcast_ref::<Failure>() {
            f.exit
        } else if is_broken_pipe(error) {
            Exit::Success
        } else if let Some(e) = error.downcast_ref::<Error>() {
            Exit::of_client(e)
        } else if error
            .downcast_ref::<crate::journal::JournalError>()
            .is_some()
        {
            Exit::Usage
        } else {
            Exit::Unavailable
        }
    }
}

/// Whether `error` is (or was caused by) a write to a closed pipe.
pub(crate) fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// The machine-readable `code` of an error in `--json` output.
pub(crate) fn json_code(error: &Error) -> &'static str {
    match error {
        Error::JobFailed(_) => "job_failed",
        Error::JobCancelled(_) => "job_cancelled",
        Error::TimedOut { .. } => "timed_out",
        Error::Unauthorized(_) => "unauthorized",
        Error::NotFound(_) => "not_found",
        Error::InvalidRequest(_) | Error::Config(_) => "invalid_request",
        Error::Conflict(_) => "conflict",
        Error::RateLimited { .. } => "rate_limited",
        Error::Decode { .. } | Error::TooLarge { .. } => "bad_response",
        Error::Redirected { .. } => "redirected",
        _ => "unavailable",
    }
}

/// What the CLI adds to an SDK error's own words: what to do about it
/// where that is the CLI's flag to change (a redirect: never followed).
pub(crate) fn hint(error: &Error) -> Option<&'static str> {
    match error {
        Error::Redirected { .. } => Some(
            "API requests never follow a redirect: set --api-url (or VESTIS_API_URL) to the API's own URL",
        ),
        _ => None,
    }
}

/// An SDK error in words, with the CLI's [`hint`] when it has one.
pub(crate) fn explain(error: &Error) -> String {
    match hint(error) {
        Some(hint) => format!("{error}; {hint}"),
        None => error.to_string(),
    }
}

/// A 404 that is not about a job: the route itself is unknown, so the base
/// URL is wrong, and "job not found" (exit 5) would mislead. Exit 2.
pub(crate) fn wrong_api_url(api_url: &str, error: &Error) -> Failure {
    Failure::usage(format!(
        "{error}: the server at {api_url} does not have the API's routes; set --api-url (or VESTIS_API_URL) to the API's base URL, such as {}",
        vestis_client::DEFAULT_BASE_URL
    ))
}

/// An outcome the CLI decided on: an exit code, the line to print, and
/// the per-job lines that explain it (printed first, one per line).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) exit: Exit,
    message: String,
    details: Vec<String>,
}

impl Failure {
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// Exit 2: the user's input is wrong.
    /// A command cut short by a terminating signal that synchronous code
    /// (the preview's terminal query) saw first: `main` ends it on that
    /// signal, exit 128 + its number, as if its handler had seen it.
    pub(crate) fn signalled() -> Failure {
        Failure::new(Exit::Signal(0), "interrupted by a signal")
    }

    /// Whether this is [`Failure::signalled`].
    pub(crate) fn is_signalled(&self) -> bool {
        self.exit == Exit::Signal(0)
    }

    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Usage, message)
    }

    /// The lines printed before the message.
    pub(crate) fn details(&self) -> &[String] {
        &self.details
    }

    /// The combined outcome of several jobs, `None` if every one succeeded:
    /// one job's failure is itself; more exit with the worst code, each
    /// job's line kept (a failure that already combines several, such as a
    /// whole wait's, contributes its per-job lines).
    pub(crate) fn of_many(failures: Vec<Failure>, total: usize, what: &str) -> Option<Failure> {
        Failure::of_many_named(failures, total, "jobs", what)
    }

    /// [`Failure::of_many`] for things other than jobs: `items` names them
    /// (`"images"`: "2 of 3 images could not be shown").
    pub(crate) fn of_many_named(
        failures: Vec<Failure>,
        total: usize,
        items: &str,
        what: &str,
    ) -> Option<Failure> {
        let exit = failures.iter().map(|f| f.exit).max()?;
        let mut lines = Vec::new();
        for failure in failures {
            if failure.details.is_empty() {
                lines.push(failure.message);
            } else {
                lines.extend(failure.details);
            }
        }
        if total == 1 && lines.len() == 1 {
            return Some(Failure::new(exit, lines.remove(0)));
        }
        Some(Failure {
            exit,
            message: format!("{} of {total} {items} {what}", lines.len()),
            details: lines,
        })
    }
}

/// Several things of one kind for [`Failure::of_kinds`]: how many there
/// were, the failures among them, and the kind's name (`("batch",
/// "batches")`).
pub(crate) struct Kind {
    pub(crate) total: usize,
    pub(crate) failures: Vec<Failure>,
    pub(crate) names: (&'static str, &'static str),
    /// Counted even when it is the lone failure: its own error was
    /// printed already (a batch's, under its header), so the last line
    /// is the count, not that error again.
    pub(crate) always_counted: bool,
}

impl Failure {
    /// The combined outcome of things of several kinds (`vestis resume`:
    /// batches, then single jobs), `None` if none failed. Each kind is
    /// counted as its own: "1 of 2 batches and 2 of 5 jobs could not be
    /// resumed", every failure's lines kept; a lone failure among one
    /// thing in all is itself (unless its kind is `always_counted`).
    pub(crate) fn of_kinds(kinds: Vec<Kind>, what: &str) -> Option<Failure> {
        let exit = kinds
            .iter()
            .flat_map(|k| k.failures.iter().map(|f| f.exit))
            .max()?;
        let everything: usize = kinds.iter().map(|k| k.total).sum();
        let counted = kinds
            .iter()
            .any(|k| k.always_counted && !k.failures.is_empty());
        let mut counts = Vec::new();
        let mut lines = Vec::new();
        for kind in kinds {
            // A failure that combines several (a whole wait's) counts each.
            let failed: usize = kind.failures.iter().map(|f| f.details.len().max(1)).sum();
            for failure in kind.failures {
                if failure.details.is_empty() {
                    lines.push(failure.message);
                } else {
                    lines.extend(failure.details);
                }
            }
            if failed > 0 {
                let (one, many) = kind.names;
                let name = if kind.total == 1 { one } else { many };
                counts.push(format!("{failed} of {} {name}", kind.total));
            }
        }
        if everything == 1 && lines.len() == 1 && !counted {
            return Some(Failure::new(exit, lines.remove(0)));
        }
        Some(Failure {
            exit,
            message: format!("{} {what}", counts.join(" and ")),
            details: lines,
        })
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_of_several_failures_decides() {
        let many = Failure::of_many(
            vec![
                Failure::new(Exit::JobFailed, "job 1 failed"),
                Failure::new(Exit::NotFound, "job 2: not found"),
            ],
            3,
            "did not complete",
        )
        .unwrap();
        assert_eq!(many.exit, Exit::NotFound);
        assert_eq!(many.to_string(), "2 of 3 jobs did not complete");
        assert_eq!(many.details(), ["job 1 failed", "job 2: not found"]);
        let one = Failure::of_many(vec![Failure::usage("bad")], 1, "x").unwrap();
        assert_eq!((one.exit, one.to_string()), (Exit::Usage, "bad".to_owned()));
        let nested = Failure::of_many(
            vec![many, Failure::new(Exit::JobFailed, "job 4 failed")],
            4,
            "could not be resumed",
        )
        .unwrap();
        assert_eq!(nested.to_string(), "3 of 4 jobs could not be resumed");
        assert_eq!(nested.exit, Exit::NotFound);
        assert_eq!(nested.details().len(), 3);
        assert!(Failure::of_many(Vec::new(), 2, "x").is_none());
    }

    #[test]
    fn batches_and_jobs_are_counted_apart() {
        let batch = |exit| Failure::new(exit, "3 rows: 2 completed, 1 timed out; manifest: m");
        let jobs = Failure::of_many(
            vec![
                Failure::new(Exit::JobFailed, "job 1 failed"),
                Failure::new(Exit::JobFailed, "job 2 failed"),
            ],
            5,
            "did not complete",
        )
        .unwrap();
        let both = Failure::of_kinds(
            vec![
                Kind {
                    total: 2,
                    failures: vec![batch(Exit::TimedOut)],
                    names: ("batch", "batches"),
                    always_counted: true,
                },
                Kind {
                    total: 5,
                    failures: vec![jobs],
                    names: ("job", "jobs"),
                    always_counted: false,
                },
            ],
            "could not be resumed",
        )
        .unwrap();
        assert_eq!(
            both.to_string(),
            "1 of 2 batches and 2 of 5 jobs could not be resumed"
        );
        assert_eq!(both.exit, Exit::TimedOut);
        assert_eq!(both.details().len(), 3, "{:?}", both.details());
        // One batch, no jobs: counted as a batch (its own line was
        // printed under its header), not "1 of 2 jobs" nor its line again.
        let alone = Failure::of_kinds(
            vec![
                Kind {
                    total: 1,
                    failures: vec![batch(Exit::TimedOut)],
                    names: ("batch", "batches"),
                    always_counted: true,
                },
                Kind {
                    total: 0,
                    failures: Vec::new(),
                    names: ("job", "jobs"),
                    always_counted: false,
                },
            ],
            "could not be resumed",
        )
        .unwrap();
        assert_eq!(alone.to_string(), "1 of 1 batch could not be resumed");
        assert_eq!(alone.details().len(), 1, "{:?}", alone.details());
        let one_job = Kind {
            total: 1,
            failures: vec![Failure::new(Exit::NotFound, "job 7 is gone")],
            names: ("job", "jobs"),
            always_counted: false,
        };
        let batch_ok = Kind {
            total: 1,
            failures: Vec::new(),
            names: ("batch", "batches"),
            always_counted: true,
        };
        let mixed = Failure::of_kinds(vec![batch_ok, one_job], "could not be resumed").unwrap();
        assert_eq!(mixed.to_string(), "1 of 1 job could not be resumed");
        // A lone job among nothing else is its own line.
        let lone = Kind {
            total: 1,
            failures: vec![Failure::new(Exit::NotFound, "job 7 is gone")],
            names: ("job", "jobs"),
            always_counted: false,
        };
        let lone = Failure::of_kinds(vec![lone], "could not be resumed").unwrap();
        assert_eq!(lone.to_string(), "job 7 is gone");
        assert!(Failure::of_kinds(Vec::new(), "x").is_none());
    }

    #[test]
    fn a_broken_pipe_is_success_unless_a_failure_was_decided() {
        let pipe = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert_eq!(Exit::of(&pipe), Exit::Success);
        let failed = anyhow::Error::from(Failure::new(Exit::JobFailed, "job 2 failed"));
        assert_eq!(Exit::of(&failed), Exit::JobFailed);
        assert_eq!(Exit::of(&anyhow::anyhow!("other")), Exit::Unavailable);
    }
}
