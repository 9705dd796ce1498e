//! The `cancel` group: a pending job cancels (200, then `cancelled` with
//! `completed_at`); a processing or terminal one does not (409, unchanged);
//! a cancelled job is never started afterwards.

use serde_json::Value;

use crate::Error;
use crate::http::{Exchange, Req};
use crate::session::{CHAT, Findings, Hint, Session, error_problem, payload};

/// Cancels `first` (a job just created), or one more fresh job if `first`
/// had already started: a fast server may start a job before its DELETE.
pub(crate) async fn pending(s: &mut Session, first: Option<u64>) -> Result<(), Error> {
    let mut candidate = first;
    for attempt in 0..2 {
        if candidate.is_none() || attempt > 0 {
            candidate = s.create(CHAT, payload(CHAT), Hint::Complete, None).await?.1;
        }
        let Some(id) = candidate else { break };
        let ex = s.send(Req::delete(format!("/jobs/{id}"))).await?;
        if ex.status == 409 && started(s, id).await? {
            continue;
        }
        let mut findings = Findings::default();
        if let Some(problem) = cancel_body_problem(&ex, id) {
            findings.add(&ex, problem);
        } else {
            if let Some(job) = s.jobs.iter_mut().find(|j| j.id == id) {
                job.cancelled = true;
            }
            let got = s.get_job(id).await?;
            let body = got.json().unwrap_or_default();
            if body["status"] != "cancelled" || body["completed_at"].as_str().is_none() {
                findings.add(
                    &got,
                    "after a 200 cancel the job is not cancelled with completed_at",
                );
            }
        }
        s.record("cancel.pending", findings.outcome(None));
        return Ok(());
    }
    s.skip(
        "cancel.pending",
        "skipped: the jobs created to cancel had started before their DELETE",
    );
    Ok(())
}

/// `true` if the job is no longer pending (so a 409 was its right).
async fn started(s: &mut Session, id: u64) -> Result<bool, Error> {
    let got = s.get_job(id).await?;
    Ok(got.json().is_some_and(|j| j["status"] != "pending"))
}

/// Why a cancel answer is not `200 {success: true, job_id, status: cancelled}`.
fn cancel_body_problem(ex: &Exchange, id: u64) -> Option<String> {
    if ex.status != 200 {
        return Some(format!(
            "cancelling pending job {id}: expected 200, got {}",
            ex.status
        ));
    }
    let body = ex.json().unwrap_or_default();
    (body["success"] != true
        || body["job_id"].as_u64() != Some(id)
        || body["status"] != "cancelled")
        .then(|| "200 without {success: true, job_id, status: \"cancelled\"}".to_owned())
}

/// DELETE of a job that is `expected_status` (processing or terminal): 409
/// `conflict`, and a GET right after shows the cancel changed nothing a
/// cancel could change (status and `completed_at`). Adds to `findings`.
async fn refused(
    s: &mut Session,
    id: u64,
    before: &Value,
    findings: &mut Findings,
) -> Result<(), Error> {
    let ex = s.send(Req::delete(format!("/jobs/{id}"))).await?;
    if let Some(problem) = error_problem(&ex, 409, "conflict") {
        findings.add(
            &ex,
            format!("cancelling a {} job: {problem}", before["status"]),
        );
        return Ok(());
    }
    let got = s.get_job(id).await?;
    let after = got.json().unwrap_or_default();
    let was = before["status"].as_str().unwrap_or_default();
    let now = after["status"].as_str().unwrap_or_default();
    let changed = if was == "processing" {
        now == "cancelled" || now == "pending"
    } else {
        now != was || after["completed_at"] != before["completed_at"]
    };
    if changed {
        findings.add(
            &got,
            format!("after a 409 cancel the {was} job became {now}"),
        );
    }
    Ok(())
}

/// Cancelling an already cancelled job (first phase of `cancel.terminal`).
pub(crate) async fn terminal(s: &mut Session, id: u64) -> Result<(), Error> {
    let Some(before) = s.tracked(id).and_then(|j| j.history.last().cloned()) else {
        return Ok(());
    };
    let mut findings = std::mem::take(&mut s.terminal_cancel.0);
    refused(s, id, &before, &mut findings).await?;
    s.terminal_cancel = (findings, s.terminal_cancel.1 + 1);
    Ok(())
}

/// `cancel.processing` on a job just seen processing.
pub(crate) async fn processing(s: &mut Session, id: u64, before: &Value) -> Result<(), Error> {
    let mut findings = Findings::default();
    refused(s, id, before, &mut findings).await?;
    s.record(
        "cancel.processing",
        findings.outcome(Some(format!("job {id}"))),
    );
    Ok(())
}

/// The verdict of `cancel.terminal`, from every terminal job tried.
pub(crate) fn finish_terminal(s: &mut Session) {
    let (findings, tried) = std::mem::take(&mut s.terminal_cancel);
    if tried == 0 {
        s.skip("cancel.terminal", "skipped: no terminal job to try");
    } else {
        s.record(
            "cancel.terminal",
            findings.outcome(Some(format!("{tried} terminal jobs"))),
        );
    }
}

/// A cancelled job, read again once a job created after it has finished:
/// still `cancelled`, never started.
pub(crate) async fn never_started(s: &mut Session) -> Result<(), Error> {
    let Some(cancelled) = s.jobs.iter().position(|j| j.cancelled) else {
        s.skip("cancel.never_started", "skipped: no job was cancelled");
        return Ok(());
    };
    let later_finished = s.jobs[cancelled + 1..]
        .iter()
        .any(|j| !j.cancelled && j.is_terminal());
    if !later_finished {
        s.skip(
            "cancel.never_started",
            "skipped: no job created after the cancelled one finished in time",
        );
        return Ok(());
    }
    let id = s.jobs[cancelled].id;
    let at_cancel = s.jobs[cancelled]
        .history
        .iter()
        .find(|j| j["status"] == "cancelled")
        .cloned()
        .unwrap_or_default();
    let got = s.get_job(id).await?;
    let job = got.json().unwrap_or_default();
    let mut findings = Findings::default();
    if job["status"] != "cancelled"
        || job["started_at"] != at_cancel["started_at"]
        || job["attempts"] != at_cancel["attempts"]
    {
        findings.add(
            &got,
            "the cancelled job was started (status, started_at or attempts changed)",
        );
    }
    s.record("cancel.never_started", findings.outcome(None));
    Ok(())
}
