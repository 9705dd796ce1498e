//! `vestis history`: the jobs this machine started, from the local journal.

use crate::cli::HistoryArgs;
use crate::commands::Context;
use crate::journal::Record;

pub(crate) fn run(ctx: &Context, args: HistoryArgs) -> anyhow::Result<()> {
    let journal = ctx.journal()?;
    let mut records: Vec<Record> = journal.records()?;
    records.reverse();
    records.truncate(args.limit);
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
            journal.path().display()
        ))?;
        return Ok(());
    }
    for r in &records {
        let id = r.job_id.map_or_else(|| "-".to_owned(), |id| id.to_string());
        let created = r.created_at.to_string();
        let created = created
            .get(..19)
            .map_or(created.clone(), |s| s.replace('T', " "));
        let outcome = match (&r.downloaded_to, &r.image_url, &r.error) {
            (Some(path), _, _) => path.display().to_string(),
            (None, Some(url), _) => url.clone(),
            (None, None, Some(e)) => e.clone(),
            _ => String::new(),
        };
        let line = format!(
            "{id:>6}  {:<10}  {:<10}  {created}  {}  {outcome}",
            r.kind.to_string(),
            r.status,
            r.summary
        );
        ctx.out.human(line.trim_end())?;
    }
    Ok(())
}
