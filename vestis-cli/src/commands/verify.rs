//! `vestis verify`: run the contract checks of `vestis-verify` against a
//! server and report them (text, `--json`, `--junit FILE`).
//!
//! A thin wrapper: flags to a `vestis_verify::Config`, the report to stdout,
//! progress to stderr, and the run's outcome to an exit code (0 all passed
//! or skipped, 1 a check failed, 2 usage, 4 token rejected, 6 unreachable).

use std::io::Write;

use vestis_verify::{CATALOG, Config, Error, JOBS_AT_MOST, JOBS_PLANNED, Needs, Report};

use super::mock::MockServer;
use crate::cli::{Global, VerifyArgs};
use crate::exit::{Exit, Failure};
use crate::output::Output;

pub(crate) async fn run(global: &Global, args: VerifyArgs) -> anyhow::Result<()> {
    if args.dry_run {
        return dry_run(global, &args);
    }
    // `--mock`: verify the bundled mock server, with two tokens of its own.
    let mock = if global.mock() {
        Some(super::mock::start().await?)
    } else {
        None
    };
    let config = config(global, &args, mock.as_ref())?;
    // An unwritable --junit file is a usage error before anything is sent,
    // not after a run that created jobs.
    let junit = args
        .junit
        .as_ref()
        .map(|path| {
            std::fs::File::create(path)
                .map(|file| (path, file))
                .map_err(|e| {
                    Failure::usage(format!("cannot write {}: {e}", crate::safe::path(path)))
                })
        })
        .transpose()?;
    let quiet = global.quiet;
    let report = vestis_verify::run(&config, |line| {
        if !quiet {
            crate::say(&format!("verify: {line}"));
        }
    })
    .await
    .map_err(|e| {
        let exit = match e {
            Error::Unauthorized { .. } => Exit::Unauthorized,
            Error::Connection { .. } => Exit::Unavailable,
            _ => Exit::Usage,
        };
        Failure::new(exit, e.to_string())
    })?;
    if let Some((path, mut file)) = junit {
        file.write_all(report.to_junit().as_bytes()).map_err(|e| {
            Failure::usage(format!("cannot write {}: {e}", crate::safe::path(path)))
        })?;
    }
    print(global.json, &report)?;
    if report.passed() {
        return Ok(());
    }
    let failed = report.failed();
    Err(Failure::new(
        Exit::JobFailed,
        format!(
            "{} of {} checks failed: {}",
            failed.len(),
            report.checks.len(),
            failed.join(", ")
        ),
    )
    .into())
}

/// The run's settings: the flags, or the bundled `mock` server and its tokens.
fn config(
    global: &Global,
    args: &VerifyArgs,
    mock: Option<&MockServer>,
) -> Result<Config, Failure> {
    let (api_url, token, second) = match mock {
        Some(server) => (
            server.api_url(),
            global
                .token
                .clone()
                .unwrap_or_else(|| "mock-user".to_owned()),
            args.second_token.clone().or(Some("mock-user-2".to_owned())),
        ),
        None => (
            global.api_url.clone(),
            global
                .token
                .clone()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| Failure::usage("no API token: pass --token or set VESTIS_TOKEN"))?,
            args.second_token.clone().filter(|t| !t.is_empty()),
        ),
    };
    let mut config = Config::new(api_url, token);
    config.second_token = second;
    config.job_timeout = args.job_timeout;
    config.quick = args.quick;
    Ok(config)
}

fn print(json: bool, report: &Report) -> std::io::Result<()> {
    if json {
        // Through `Output`, so a closed stdout stays a quiet `BrokenPipe`.
        return Output { json }.document(&report.to_json());
    }
    let mut out = std::io::stdout().lock();
    out.write_all(report.to_text().as_bytes())?;
    out.flush()
}

/// The checks, what each needs, and what a run would create; nothing is sent.
fn dry_run(global: &Global, args: &VerifyArgs) -> anyhow::Result<()> {
    let skipped = |needs: Needs| match needs {
        Needs::FinishedJob if args.quick => Some("skipped: --quick"),
        Needs::SecondToken if args.second_token.is_none() && !global.mock() => {
            Some("skipped: needs --second-token")
        }
        _ => None,
    };
    if global.json {
        let checks: Vec<_> = CATALOG
            .iter()
            .map(|c| {
                let mut value = serde_json::to_value(c).unwrap_or_default();
                value["would_skip"] = skipped(c.needs).into();
                value
            })
            .collect();
        let doc = serde_json::json!({
            "jobs_planned": JOBS_PLANNED,
            "jobs_at_most": JOBS_AT_MOST,
            "checks": checks,
        });
        Output { json: true }.document(&doc)?;
    } else {
        let mut out = std::io::stdout().lock();
        let width = CATALOG.iter().map(|c| c.id.len()).max().unwrap_or(0);
        for c in CATALOG {
            let note = skipped(c.needs)
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            writeln!(out, "{:width$}  {}{note}", c.id, c.title)?;
            let needs = match c.needs {
                Needs::FinishedJob => "jobs that start or finish within --job-timeout",
                Needs::SecondToken => "--second-token",
                _ => "nothing",
            };
            writeln!(out, "{:width$}    contract: {}", "", c.contract)?;
            writeln!(out, "{:width$}    needs:    {needs}", "")?;
        }
        writeln!(
            out,
            "{} checks; a run creates {JOBS_PLANNED} jobs (at most {JOBS_AT_MOST}) and cancels what is still pending at the end",
            CATALOG.len()
        )?;
        out.flush()?;
    }
    Ok(())
}
