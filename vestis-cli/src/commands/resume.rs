//! `vestis resume`: finish every job this machine started and did not see
//! finish, for the current API URL and token: creates whose answer was lost
//! are replayed with their idempotency key, records whose job the server no
//! longer has are marked gone, then the rest are waited on at once.

use futures::StreamExt;
use vestis_client::{Client, CreateOptions, Error, Timestamp};

use crate::cli::ResumeArgs;
use crate::commands::Context;
use crate::exit::{Exit, Failure, Kind};
use crate::journal::{Journal, Record, RecordStatus};
use crate::waiting::{Report, Target, wait_for, wait_options};

/// How many records are checked against the server at once.
const CONCURRENT_CHECKS: usize = 8;

pub(crate) async fn run(ctx: &Context, args: ResumeArgs) -> anyhow::Result<()> {
    ctx.use_preview(&args.wait.preview)?;
    // Unfinished batches first: each runs its rows to their end.
    let (batches, batch_failures) = crate::commands::batch::resume_all(ctx, &args.wait).await;
    let (jobs, job_failures) = match resume_jobs(ctx, &args, batches > 0).await {
        Ok(outcome) => outcome,
        Err(e) if batch_failures.is_empty() => return Err(e),
        // Set up failed (no client, no journal): one line among the batches'.
        Err(e) => (
            1,
            vec![match e.downcast::<Failure>() {
                Ok(failure) => failure,
                Err(e) => Failure::new(Exit::of(&e), e.to_string()),
            }],
        ),
    };
    // Batches and jobs counted apart: a batch is not one job.
    let kinds = vec![
        Kind {
            total: batches,
            failures: batch_failures,
            names: ("batch", "batches"),
            always_counted: true,
        },
        Kind {
            total: jobs,
            failures: job_failures,
            names: ("job", "jobs"),
            always_counted: false,
        },
    ];
    match Failure::of_kinds(kinds, "could not be resumed") {
        None => Ok(()),
        Some(failure) => Err(failure.into()),
    }
}

/// Resumes the journal's single jobs (`generate`'s and `wait`'s);
/// `quiet_if_none` after a batch was resumed (nothing else to say then).
/// How many there were, and the failures among them.
async fn resume_jobs(
    ctx: &Context,
    args: &ResumeArgs,
    quiet_if_none: bool,
) -> anyhow::Result<(usize, Vec<Failure>)> {
    let client = ctx.client()?;
    let journal = ctx.journal()?;
    let identity = ctx.identity();
    let open: Vec<Record> = journal
        .records()?
        .into_iter()
        .filter(|r| r.api_url == ctx.api_url && r.identity == identity && r.is_resumable())
        .collect();
    if open.is_empty() {
        if !quiet_if_none {
            ctx.note(&format!(
                "Nothing to resume: every job started here for {} has finished.",
                ctx.api_url
            ));
        }
        return Ok((0, Vec::new()));
    }
    let total = open.len();
    let checked: Vec<Result<Option<Target>, Failure>> = futures::stream::iter(open)
        .map(|record| check(ctx, &client, &journal, record))
        .buffered(CONCURRENT_CHECKS)
        .collect()
        .await;
    let mut targets: Vec<Target> = Vec::new();
    let mut failures = Vec::new();
    for result in checked {
        match result {
            // Two records can name one job (a create replayed twice): the newest wins.
            Ok(Some(target)) => {
                targets.retain(|t| t.id != target.id);
                targets.push(target);
            }
            Ok(None) => {}
            Err(failure) => failures.push(failure),
        }
    }
    if !targets.is_empty() {
        ctx.note(&format!(
            "Resuming {} job{}...",
            targets.len(),
            if targets.len() == 1 { "" } else { "s" }
        ));
        let options = wait_options(&args.wait);
        let waited = wait_for(
            ctx,
            &client,
            Some(&journal),
            targets,
            &options,
            Report::Lines,
        );
        if let Err(e) = waited.await {
            failures.push(e.downcast::<Failure>()?);
        }
    }
    Ok((total, failures))
}

/// Turns one open record into a job to wait for: replays a create whose
/// answer was lost, and checks that the server's job under the record's id
/// is still the record's job. `Ok(None)`: nothing to wait for (reported).
async fn check(
    ctx: &Context,
    client: &Client,
    journal: &Journal,
    mut record: Record,
) -> Result<Option<Target>, Failure> {
    let failed = |e: Error| Failure::new(Exit::of_client(&e), crate::exit::explain(&e));
    let id = match (record.job_id, &record.payload) {
        (Some(id), _) => id,
        (None, Some(payload)) if record.status == RecordStatus::Submitting => {
            ctx.note(&format!(
                "The create of \"{}\" got no answer: asking again with its idempotency key (the server answers the same job if it had made one)",
                record.summary
            ));
            let options = CreateOptions::default().idempotency_key(&record.key);
            let created = client
                .create_with(record.kind, payload, &options)
                .await
                .map_err(failed)?;
            record.job_id = Some(created.job_id);
            record.status = RecordStatus::Job(created.status.clone());
            record.payload = None;
            record.updated_at = Timestamp::now();
            save(journal, &record)?;
            created.job_id
        }
        _ => return Ok(None),
    };
    match client.get(id).await {
        Ok(job) if record.apply(&job) => {
            save(journal, &record)?;
            Ok(Some(Target::new(id, None, Some(record))))
        }
        Ok(_) => {
            save(journal, &record)?;
            ctx.note(&format!(
                "Not resuming job {id}: the server's job {id} is not the one created here on {} (the server was reset or restored); its record is marked gone",
                record.created_at
            ));
            Ok(None)
        }
        Err(e @ Error::NotFound(_)) => {
            if let Some(failure) = crate::commands::wrong_api_url(client, &e).await {
                return Err(failure);
            }
            record.status = RecordStatus::Gone;
            record.error = Some("the server no longer knows this job".to_owned());
            record.updated_at = Timestamp::now();
            save(journal, &record)?;
            Err(Failure::new(
                Exit::NotFound,
                format!("job {id} is gone from the server ({e}); its record is marked gone"),
            ))
        }
        // Anything else: the wait itself retries or reports it.
        Err(_) => Ok(Some(Target::new(id, None, Some(record)))),
    }
}

fn save(journal: &Journal, record: &Record) -> Result<(), Failure> {
    journal
        .save(record)
        .map_err(|e| Failure::new(Exit::Usage, e.to_string()))
}
