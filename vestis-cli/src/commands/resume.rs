//! `vestis resume`: finish every job this machine started and did not see
//! finish, for the current API URL and token: creates whose answer was lost
//! are replayed with their idempotency key, then all are waited on at once.

use vestis_client::{CreateOptions, JobId};

use crate::cli::ResumeArgs;
use crate::commands::Context;
use crate::journal::RecordStatus;
use crate::waiting::{Report, Target, wait_for, wait_options};

pub(crate) async fn run(ctx: &Context, args: ResumeArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let journal = ctx.journal()?;
    let identity = ctx.identity();
    let open: Vec<_> = journal
        .records()?
        .into_iter()
        .filter(|r| r.api_url == ctx.api_url && r.identity == identity && !r.is_finished())
        .collect();
    if open.is_empty() {
        if ctx.mode != crate::progress::Mode::Quiet {
            crate::say(&format!(
                "Nothing to resume: every job started here for {} has finished.",
                ctx.api_url
            ));
        }
        return Ok(());
    }

    let mut targets = Vec::new();
    for record in open {
        let id: JobId = match (record.job_id, &record.payload) {
            (Some(id), _) => id,
            (None, Some(payload)) if record.status == RecordStatus::Submitting => {
                // The create may or may not have reached the server: the same
                // key makes the replay answer the original job if it did.
                let options = CreateOptions::default().idempotency_key(&record.key);
                let created = client.create_with(record.kind, payload, &options).await?;
                journal.modify(&record.key, |r| {
                    r.job_id = Some(created.job_id);
                    r.status = RecordStatus::Job(created.status.clone());
                    r.payload = None;
                })?;
                created.job_id
            }
            _ => continue,
        };
        targets.push(Target {
            id,
            output: record.output,
        });
    }
    if ctx.mode != crate::progress::Mode::Quiet {
        crate::say(&format!(
            "Resuming {} job{}...",
            targets.len(),
            if targets.len() == 1 { "" } else { "s" }
        ));
    }
    wait_for(
        ctx,
        &client,
        Some(&journal),
        targets,
        &wait_options(&args.wait),
        Report::Lines,
    )
    .await
}
