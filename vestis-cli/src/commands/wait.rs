//! `vestis wait ID...`: attach to existing jobs and wait for all of them at
//! once. A job this machine created keeps its journal record current and is
//! saved where `generate -o` first asked, unless `-o` says otherwise.

use crate::cli::WaitArgs;
use crate::commands::Context;
use crate::journal::Journal;
use crate::waiting::{Report, Target, wait_for, wait_options};

pub(crate) async fn run(ctx: &Context, args: WaitArgs) -> anyhow::Result<()> {
    ctx.use_preview(&args.wait.preview)?;
    let client = ctx.client()?;
    // The journal is optional here: jobs from elsewhere are waited on all the same.
    let journal = ctx.journal().ok();
    let records = journal
        .as_ref()
        .and_then(|j| j.records().ok())
        .unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    let mut ids = args.ids;
    ids.retain(|id| seen.insert(*id));
    let targets = ids
        .into_iter()
        .map(|id| {
            Target::new(
                id,
                args.output.as_ref().map(|dir| dir.join("")),
                Journal::find(&records, &ctx.api_url, id),
            )
        })
        .collect();
    wait_for(
        ctx,
        &client,
        journal.as_ref(),
        targets,
        &wait_options(&args.wait),
        Report::Lines,
    )
    .await
}
