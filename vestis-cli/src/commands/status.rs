//! `vestis status ID`: one look at a job, no waiting.

use vestis_client::JobStatus;

use crate::cli::StatusArgs;
use crate::commands::Context;
use crate::exit::{Exit, Failure};
use crate::output::describe;

pub(crate) async fn run(ctx: &Context, args: StatusArgs) -> anyhow::Result<()> {
    let job = ctx.client()?.get(args.id).await?;
    if let Ok(journal) = ctx.journal() {
        // Best effort: keep the journal's view fresh for jobs this machine started.
        let _ = journal.observe(&ctx.api_url, &job);
    }
    if ctx.out.json {
        ctx.out.document(&job)?;
    } else {
        ctx.out.human(&describe(&job))?;
    }
    if args.exit_status && matches!(job.status, JobStatus::Failed | JobStatus::Cancelled) {
        return Err(Failure::new(
            Exit::JobFailed,
            format!("job {} is {}", job.job_id, job.status),
        )
        .into());
    }
    Ok(())
}
