//! `vestis cancel ID...`: cancel pending jobs.

use crate::Failure;
use crate::cli::CancelArgs;
use crate::commands::{Context, exit_code};

pub(crate) async fn run(ctx: &Context, args: CancelArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let journal = ctx.journal().ok();
    let total = args.ids.len();
    let mut failures = Vec::new();
    for id in args.ids {
        match client.cancel(id).await {
            Ok(response) => {
                if let Some(journal) = &journal {
                    let _ = journal.update(|records| {
                        for r in records
                            .iter_mut()
                            .filter(|r| r.job_id == Some(id) && r.api_url == ctx.api_url)
                        {
                            r.status = response.status.to_string();
                        }
                    });
                }
                if ctx.out.json {
                    ctx.out.json_line(&response)?;
                } else {
                    ctx.out.human(&format!("Cancelled job {id}"))?;
                }
            }
            Err(e) if total == 1 => return Err(e.into()),
            Err(e) => {
                if ctx.mode != crate::progress::Mode::Quiet {
                    crate::say(&format!("vestis: job {id}: {e}"));
                }
                failures.push(exit_code(&e));
            }
        }
    }
    match failures.iter().max() {
        None => Ok(()),
        Some(code) => Err(Failure::new(
            *code,
            format!("{} of {total} jobs could not be cancelled", failures.len()),
        )
        .into()),
    }
}
