//! `vestis`: parse -> run -> exit code. The only place errors are printed.
//!
//! Every error becomes one readable line on stderr (after the per-job lines
//! that explain it) and the exit code `exit::Exit::of` picks for it; a
//! closed stdout pipe ends the command quietly.

// Tests may unwrap: a failed unwrap is a failed test.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod batch;
mod cli;
mod commands;
mod exit;
mod failpoint;
mod journal;
mod output;
mod preview;
mod progress;
mod safe;
mod signals;
mod waiting;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::commands::Context;
use crate::exit::{Exit, Failure};

/// Writes a line to stderr, ignoring a closed stderr (unlike `eprintln!`,
/// which panics), with control characters escaped ([`safe::terminal_safe`]).
pub(crate) fn say(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{}", safe::terminal_safe(text));
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    init_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            say(&format!("vestis: cannot start the async runtime: {e}"));
            return Exit::Unavailable.into();
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => Exit::Success.into(),
        Err(e) => report(&e),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = match cli.command {
        Command::Completions(args) => return commands::completions::run(args),
        Command::Man(args) => return commands::man::run(&args),
        // Verify speaks raw HTTP through its own crate: no SDK client, no journal.
        Command::Verify(args) => return commands::verify::run(&cli.global, args).await,
        command => command,
    };
    let ctx = Context::new(&cli.global).await?;
    // One handler for every terminating signal the CLI can catch, for the
    // whole command, installed before any work: the command's future is
    // dropped (its spinners become plain lines, the journal is already
    // saved) and the context says how to resume.
    let signals = signals::Terminating::install()?;
    let mut signal = std::pin::pin!(signals.recv());
    let interrupted = |signal: signals::Caught| {
        let message = ctx.interrupt_message();
        let message = match signal.name {
            "SIGINT" => message,
            name => format!("received {name}: {message}"),
        };
        Err(Failure::new(Exit::Signal(signal.number), message).into())
    };
    tokio::select! {
        result = dispatch(&ctx, command) => match result {
            // Synchronous code saw the signal first; its handler has it.
            Err(e) if e.downcast_ref::<Failure>().is_some_and(Failure::is_signalled) => {
                match tokio::time::timeout(std::time::Duration::from_secs(1), signal).await {
                    Ok(caught) => interrupted(caught),
                    Err(_) => Err(e),
                }
            }
            result => result,
        },
        caught = &mut signal => interrupted(caught),
    }
}

async fn dispatch(ctx: &Context, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Generate(args) => commands::generate::run(ctx, args).await,
        Command::Wait(args) => commands::wait::run(ctx, args).await,
        Command::Batch(args) => commands::batch::run(ctx, args).await,
        Command::Status(args) => commands::status::run(ctx, args).await,
        Command::List(args) => commands::list::run(ctx, args).await,
        Command::Cancel(args) => commands::cancel::run(ctx, args).await,
        Command::Resume(args) => commands::resume::run(ctx, args).await,
        Command::History(args) => commands::history::run(ctx, args),
        Command::Show(args) => commands::show::run(ctx, args).await,
        Command::Completions(_) | Command::Verify(_) | Command::Man(_) => Ok(()),
    }
}

/// `-v`: debug logs of every request and poll; `RUST_LOG` overrides.
fn init_logging(verbose: bool) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(filter) if !filter.is_empty() => filter,
        _ if verbose => "vestis_client=debug,vestis=debug".to_owned(),
        _ => return,
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

/// clap's errors, as one line (help and version print as usual).
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            Exit::Usage.into()
        } else {
            Exit::Success.into()
        };
    }
    let text = e.to_string();
    // The message's first paragraph on one line: a missing argument's name
    // is on the line after "the following required arguments ...".
    let first = text
        .split("\n\n")
        .map(|paragraph| {
            paragraph
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .find(|paragraph| !paragraph.is_empty())
        .unwrap_or_else(|| "invalid arguments".to_owned());
    let first = first.trim_start_matches("error: ");
    // The help of the command that was typed: `Usage: vestis batch [OPTIONS] <FILE>`.
    let command = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .map(|usage| {
            usage
                .split_whitespace()
                .take_while(|w| !w.starts_with(['[', '<', '-']))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "vestis".to_owned());
    say(&format!("vestis: {first} (see `{command} --help`)"));
    Exit::Usage.into()
}

/// Prints an error as one line (after its per-job details) and picks its exit code.
fn report(error: &anyhow::Error) -> ExitCode {
    let exit = Exit::of(error);
    if exit == Exit::Success {
        // stdout was closed: nothing to say, and stderr may be gone too.
        return exit.into();
    }
    if let Some(failure) = error.downcast_ref::<Failure>() {
        for line in failure.details() {
            say(&format!("vestis: {}", line.replace('\n', " ")));
        }
    }
    say(&format!("vestis: {}", one_line(error)));
    exit.into()
}

/// The error and its causes on one line, "outer: inner", each cause once:
/// a cause whose text is already shown is skipped, and the chain stops at
/// the SDK's error, whose message already says every cause (its sources are
/// there for `-v` debugging, in reqwest's words).
fn one_line(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !text.is_empty() && !message.contains(&text) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
        if let Some(sdk) = cause.downcast_ref::<vestis_client::Error>() {
            if let Some(hint) = exit::hint(sdk) {
                message.push_str("; ");
                message.push_str(hint);
            }
            break;
        }
    }
    message.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error whose text already includes its source's, like the SDK's
    /// `transport error: {0}` over a `reqwest::Error`.
    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "transport error: {}", self.0)
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_sdk_error_is_the_last_cause_said() {
        let sdk = vestis_client::Error::Config("bad URL".into());
        let error = anyhow::Error::from(sdk).context("could not create the job");
        assert_eq!(
            one_line(&error),
            "could not create the job: invalid configuration: bad URL"
        );
    }

    #[test]
    fn each_cause_is_said_once() {
        let inner =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let error = anyhow::Error::from(Outer(inner)).context("could not create the job");
        assert_eq!(
            one_line(&error),
            "could not create the job: transport error: connection refused"
        );
    }
}
