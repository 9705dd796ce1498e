//! The `idempotency` group: the same `Idempotency-Key` answers the same job;
//! the same key with another payload is 409. A server that ignores the
//! header is conformant, and is reported as such (skipped), not failed.

use serde_json::json;

use crate::Error;
use crate::checks::create::accepted_problem;
use crate::session::{CHAT, Findings, Hint, Session, error_problem, payload};

/// Runs the group: two or three creates with one fresh key.
pub(crate) async fn run(s: &mut Session) -> Result<(), Error> {
    let key = format!("vestis-verify-{}", uuid::Uuid::new_v4());
    let (first, first_id) = s
        .create(CHAT, payload(CHAT), Hint::Complete, Some(&key))
        .await?;
    let (again, again_id) = s
        .create(CHAT, payload(CHAT), Hint::Complete, Some(&key))
        .await?;
    let mut findings = Findings::default();
    for ex in [&first, &again] {
        if let Some(problem) = accepted_problem(ex).filter(|_| ex.status != 202) {
            findings.add(ex, problem);
        }
    }
    let first_job = first.json().and_then(|b| b["job_id"].as_u64());
    let again_job = again.json().and_then(|b| b["job_id"].as_u64());
    if let (Some(a), Some(b)) = (first_id, again_id) {
        // Two new jobs: the key was ignored, which the contract allows.
        let reason = format!(
            "skipped: the server ignores Idempotency-Key (a repeat made job {b} after job {a}); \
             allowed, but clients cannot rely on it"
        );
        s.skip("idempotency.same_key", reason);
        s.skip(
            "idempotency.different_payload",
            "skipped: the server ignores Idempotency-Key",
        );
        return Ok(());
    }
    if findings.is_empty() && first_job != again_job {
        findings.add(
            &again,
            format!("the repeat answered job {again_job:?}, the first create job {first_job:?}"),
        );
    }
    let honoured = findings.is_empty();
    s.record("idempotency.same_key", findings.outcome(None));
    if !honoured {
        s.skip(
            "idempotency.different_payload",
            "skipped: the same key did not answer the same job",
        );
        return Ok(());
    }
    let other = json!({"prompt": "vestis verify: a different prompt"});
    let (conflict, _) = s.create(CHAT, other, Hint::Complete, Some(&key)).await?;
    let mut findings = Findings::default();
    if let Some(problem) = error_problem(&conflict, 409, "conflict") {
        findings.add(&conflict, problem);
    }
    s.record("idempotency.different_payload", findings.outcome(None));
    Ok(())
}
