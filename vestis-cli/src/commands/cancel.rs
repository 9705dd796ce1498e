//! `vestis cancel ID...`: cancel pending jobs.

use vestis_client::JobId;

use crate::cli::CancelArgs;
use crate::commands::Context;
use crate::exit::{Exit, Failure};

pub(crate) async fn run(ctx: &Context, args: CancelArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let journal = ctx.journal().ok();
    let total = args.ids.len();
    let mut failures = Vec::new();
    for id in args.ids {
        let response = match client.cancel(id).await {
            Ok(response) => response,
            Err(e) => {
                failures.push(match crate::commands::wrong_api_url(&client, &e).await {
                    Some(failure) => failure,
                    None => Failure::new(Exit::of_client(&e), describe(id, total, &e)),
                });
                continue;
            }
        };
        // The cancelled job itself (with `completed_at`) for its journal
        // record, found by its creation time like every other update.
        if let Some(journal) = &journal
            && let Ok(job) = client.get(id).await
        {
            let _ = journal.update_job(&ctx.api_url, &job, |_| {});
        }
        if ctx.out.json {
            ctx.out.json_line(&response)?;
        } else {
            ctx.out.human(&format!("Cancelled job {id}"))?;
        }
    }
    match Failure::of_many(failures, total, "could not be cancelled") {
        None => Ok(()),
        Some(failure) => Err(failure.into()),
    }
}

/// Why job `id` could not be cancelled: the error alone for one job, with
/// the id when there are several.
fn describe(id: JobId, total: usize, error: &vestis_client::Error) -> String {
    if total == 1 {
        crate::exit::explain(error)
    } else {
        format!("job {id}: {}", crate::exit::explain(error))
    }
}
