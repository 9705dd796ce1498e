//! `vestis status ID`: one look at a job, no waiting.

use vestis_client::JobStatus;

use crate::cli::StatusArgs;
use crate::commands::Context;
use crate::exit::{Exit, Failure};
use crate::output::describe;

pub(crate) async fn run(ctx: &Context, args: StatusArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let job = match client.get(args.id).await {
        Ok(job) => job,
        Err(e) => {
            return Err(match crate::commands::wrong_api_url(&client, &e).await {
                Some(failure) => failure.into(),
                None => e.into(),
            });
        }
    };
    // Best effort: keep the journal's view fresh for jobs this machine started.
    if let Ok(journal) = ctx.journal()
        && let Ok(update) = journal.update_job(&ctx.api_url, &job, |_| {})
    {
        for record in update.replaced {
            ctx.note(&format!(
                "note: this is not the job {} created here on {} (the server was reset or restored); that record is now marked gone",
                job.job_id, record.created_at
            ));
        }
    }
    if ctx.out.json {
        ctx.out.document(&job)?;
    } else {
        ctx.out.human(&describe(&job, ctx.out.width()))?;
    }
    if args.exit_status && matches!(job.status, JobStatus::Failed | JobStatus::Cancelled) {
        return Err(Failure::new(
            Exit::JobFailed,
            format!("job {} {}", job.job_id, ended(&job.status)),
        )
        .into());
    }
    Ok(())
}

/// "failed" / "was cancelled", for `--exit-status`'s message.
fn ended(status: &JobStatus) -> &'static str {
    match status {
        JobStatus::Cancelled => "was cancelled",
        _ => "failed",
    }
}
