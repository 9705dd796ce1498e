//! `vestis history`: the jobs this machine started, from the local journal,
//! and `--forget ID` / `--clear` to drop records from it.

use serde_json::json;

use crate::cli::HistoryArgs;
use crate::commands::Context;
use crate::journal::{Journal, Record};
use crate::output::{columns, short_time};
use crate::progress::Mode;

pub(crate) fn run(ctx: &Context, args: HistoryArgs) -> anyhow::Result<()> {
    let journal = ctx.journal()?;
    if args.clear || !args.forget.is_empty() {
        return forget(ctx, &journal, &args);
    }
    let mut records: Vec<Record> = journal.records()?;
    let total = records.len();
    records.reverse();
    records.truncate(args.limit);
    if records.len() < total && ctx.mode != Mode::Quiet {
        crate::say(&format!(
            "showing the newest {} of {total} records (--limit N for more)",
            records.len()
        ));
    }
    for r in &mut records {
        r.payload = None;
    }
    if ctx.out.json {
        ctx.out.document(&records)?;
        return Ok(());
    }
    if records.is_empty() {
        ctx.out.human(&format!(
            "No jobs in the journal ({}).",
            crate::safe::path(&journal.path())
        ))?;
        return Ok(());
    }
    ctx.out
        .human(&table(&records, ctx.out.width()).join("\n"))
        .map_err(Into::into)
}

/// The records as a table, newest first, with a header, cut to `width`
/// columns when given (a terminal).
fn table(records: &[Record], width: Option<usize>) -> Vec<String> {
    let mut rows = vec![
        [
            "ID",
            "KIND",
            "STATUS",
            "CREATED (UTC)",
            "API URL",
            "SUMMARY",
            "RESULT",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for r in records {
        let result = match (&r.downloaded_to, &r.image_url, &r.error) {
            (Some(path), _, _) => crate::safe::path(path),
            (None, Some(url), _) => url.clone(),
            (None, None, Some(e)) => e.clone(),
            _ => String::new(),
        };
        rows.push(vec![
            r.job_id.map_or_else(|| "-".to_owned(), |id| id.to_string()),
            r.kind.to_string(),
            r.status.to_string(),
            short_time(&r.created_at),
            if r.mock {
                format!("{} (--mock)", r.api_url)
            } else {
                r.api_url.clone()
            },
            r.summary.clone(),
            result,
        ]);
    }
    columns(&rows, width)
}

/// `--clear` or `--forget ID...`: drops records and says how many.
fn forget(ctx: &Context, journal: &Journal, args: &HistoryArgs) -> anyhow::Result<()> {
    let forgotten = journal
        .forget(|r| args.clear || args.forget.iter().any(|id| r.has_id(&ctx.api_url, *id)))?;
    if ctx.out.json {
        ctx.out.document(&json!({ "forgotten": forgotten }))?;
    } else {
        ctx.out.human(&format!(
            "Forgot {forgotten} record{} ({}).",
            if forgotten == 1 { "" } else { "s" },
            crate::safe::path(&journal.path())
        ))?;
    }
    Ok(())
}
