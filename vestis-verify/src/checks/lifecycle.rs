//! The `lifecycle` group, and the wait that the checks needing a started or
//! finished job share: poll every job this run created until each is
//! terminal or `--job-timeout` passes, trying `cancel.processing` on the
//! first job seen processing.

use tokio::time::Instant;

use crate::Error;
use crate::checks::{cancel, model};
use crate::http::{Auth, Req};
use crate::session::{Findings, Hint, Session};

/// Polls the live jobs until all are terminal or the deadline passes.
pub(crate) async fn wait(s: &mut Session, progress: &mut impl FnMut(&str)) -> Result<(), Error> {
    let timeout = s.config.job_timeout;
    let deadline = Instant::now() + timeout;
    let live = |s: &Session| -> Vec<u64> {
        s.jobs
            .iter()
            .filter(|j| !j.cancelled && !j.is_terminal())
            .map(|j| j.id)
            .collect()
    };
    progress(&format!(
        "waiting for {} jobs to finish (up to {})",
        live(s).len(),
        humantime::format_duration(timeout)
    ));
    let mut processing_tried = false;
    loop {
        let ids = live(s);
        if ids.is_empty() || Instant::now() >= deadline {
            break;
        }
        for id in ids {
            let got = s.get_job(id).await?;
            let job = got.json().unwrap_or_default();
            let fails_on_mock = s.tracked(id).is_some_and(|j| j.hint == Hint::Fail);
            // A job told to fail goes back to pending for its retries: a
            // 200 to its cancel could be right, so it is not the one to try.
            if !processing_tried && job["status"] == "processing" && !fails_on_mock {
                processing_tried = true;
                cancel::processing(s, id, &job).await?;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(s.poll_interval().min(left)).await;
    }
    if !processing_tried {
        s.skip("cancel.processing", "skipped: no job was seen processing");
    }
    Ok(())
}

/// After the wait: terminal jobs read again, a completed job's image
/// fetched, a finished job's cancel refused.
pub(crate) async fn after_wait(s: &mut Session) -> Result<(), Error> {
    let finished: Vec<u64> = s
        .jobs
        .iter()
        .filter(|j| !j.cancelled && j.is_terminal())
        .map(|j| j.id)
        .collect();
    if finished.is_empty() {
        for id in ["lifecycle.terminal_unchanged", "lifecycle.image_url"] {
            s.skip(id, "skipped: no job finished in time");
        }
        return Ok(());
    }
    for &id in &finished {
        s.get_job(id).await?;
    }
    if let Some(&id) = finished.first() {
        cancel::terminal(s, id).await?;
    }
    let mut findings = Findings::default();
    for job in s.jobs.iter().filter(|j| finished.contains(&j.id)) {
        if let Some((first, later)) = model::terminal_change(&job.history) {
            findings.add_raw(
                &format!("GET /jobs/{} (read again)", job.id),
                &crate::abbrev(&later.to_string(), 300),
                format!(
                    "terminal job {} changed; first read: {}",
                    job.id,
                    crate::abbrev(&first.to_string(), 300)
                ),
            );
        }
    }
    let note = format!("{} finished jobs read again", finished.len());
    s.record("lifecycle.terminal_unchanged", findings.outcome(Some(note)));
    image(s).await
}

/// A completed job's `image_url`, fetched without credentials.
async fn image(s: &mut Session) -> Result<(), Error> {
    let url = s
        .jobs
        .iter()
        .filter_map(|j| j.history.last())
        .find(|j| j["status"] == "completed")
        .and_then(|j| j["result"]["image_url"].as_str().map(str::to_owned));
    let Some(url) = url else {
        s.skip("lifecycle.image_url", "skipped: no job completed in time");
        return Ok(());
    };
    let ex = s.send(Req::get(url).auth(Auth::Without)).await?;
    let mut findings = Findings::default();
    let image_type = ex
        .header("content-type")
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("image/"));
    if ex.status != 200 || !image_type || ex.body.is_empty() {
        findings.add(&ex, "image_url did not give an image without credentials");
    }
    s.record("lifecycle.image_url", findings.outcome(None));
    Ok(())
}

/// `lifecycle.forward` and `lifecycle.attempts` over every job's snapshots.
pub(crate) fn judge_history(s: &mut Session) {
    let mut forward = Findings::default();
    let mut attempts = Findings::default();
    let mut snapshots = 0;
    for job in &s.jobs {
        snapshots += job.history.len();
        let sent = format!("GET /jobs/{} (and list pages), repeatedly", job.id);
        let statuses: Vec<String> = job
            .history
            .iter()
            .map(|j| crate::abbrev(&j["status"].to_string(), 30))
            .collect();
        let seen = format!("statuses seen in order: {}", statuses.join(", "));
        if let Some(problem) = model::backward_step(&job.history) {
            forward.add_raw(&sent, &seen, format!("job {}: {problem}", job.id));
        }
        if let Some(problem) = model::attempts_drop(&job.history) {
            attempts.add_raw(&sent, &seen, format!("job {}: {problem}", job.id));
        }
    }
    let note = Some(format!("{snapshots} snapshots of {} jobs", s.jobs.len()));
    s.record("lifecycle.forward", forward.outcome(note.clone()));
    s.record("lifecycle.attempts", attempts.outcome(note));
}
