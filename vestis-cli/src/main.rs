//! `vestis`: parse -> run -> exit code. The only place errors are printed.
//!
//! Every error becomes one readable line on stderr and a documented exit
//! code (see `cli::EXIT_CODES`); a closed stdout pipe exits 0 quietly.

// Tests may unwrap: a failed unwrap is a failed test.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod cli;
mod commands;
mod journal;
mod output;
mod progress;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::commands::Context;

/// A failure with its exit code, for errors that are not the SDK's.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// Exit 2: the user's input is wrong.
    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure::new(2, message)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Writes a line to stderr, ignoring a closed stderr (unlike `eprintln!`, which panics).
pub(crate) fn say(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
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
            return ExitCode::from(6);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = match cli.command {
        Command::Completions(args) => return commands::completions::run(args),
        // Verify speaks raw HTTP through its own crate: no SDK client, no journal.
        Command::Verify(args) => return commands::verify::run(&cli.global, args).await,
        command => command,
    };
    let ctx = Context::new(&cli.global).await?;
    // One Ctrl-C handler for the whole command, installed before any work:
    // the command's future is dropped and the context says how to resume.
    tokio::select! {
        result = dispatch(&ctx, command) => result,
        _ = tokio::signal::ctrl_c() => Err(Failure::new(130, ctx.interrupt_message()).into()),
    }
}

async fn dispatch(ctx: &Context, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Generate(args) => commands::generate::run(ctx, args).await,
        Command::Wait(args) => commands::wait::run(ctx, args).await,
        Command::Status(args) => commands::status::run(ctx, args).await,
        Command::List(args) => commands::list::run(ctx, args).await,
        Command::Cancel(args) => commands::cancel::run(ctx, args).await,
        Command::Resume(args) => commands::resume::run(ctx, args).await,
        Command::History(args) => commands::history::run(ctx, args),
        Command::Completions(_) | Command::Verify(_) => Ok(()),
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
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let text = e.to_string();
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ");
    say(&format!("vestis: {first} (see `vestis --help`)"));
    ExitCode::from(2)
}

/// Prints an error as one line and picks its exit code.
fn report(error: &anyhow::Error) -> ExitCode {
    if error
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    {
        return ExitCode::SUCCESS;
    }
    let code = if let Some(f) = error.downcast_ref::<Failure>() {
        f.code
    } else if let Some(e) = error.downcast_ref::<vestis_client::Error>() {
        commands::exit_code(e)
    } else if error.downcast_ref::<journal::JournalError>().is_some() {
        2
    } else {
        6
    };
    // `{:#}` joins anyhow's context chain on one line: "outer: inner".
    let message = format!("{error:#}").replace('\n', " ");
    say(&format!("vestis: {message}"));
    ExitCode::from(code)
}
