//! The `isolation` group (with `--second-token`): another token's job is
//! 404 on every route, its DELETE changes nothing, and it is absent from
//! that token's list.

use crate::Error;
use crate::http::{Auth, Req};
use crate::session::{Findings, Session, error_problem};

/// Runs the group, or skips it without a second token.
pub(crate) async fn run(s: &mut Session) -> Result<(), Error> {
    if s.config.second_token.is_none() {
        for id in ["isolation.foreign_job", "isolation.foreign_list"] {
            s.skip(id, "skipped: needs --second-token");
        }
        return Ok(());
    }
    // A job that may still be pending (a foreign DELETE would cancel it) and
    // the cancelled one.
    let targets: Vec<u64> = s
        .jobs
        .iter()
        .filter(|j| !j.cancelled)
        .take(1)
        .chain(s.jobs.iter().filter(|j| j.cancelled).take(1))
        .map(|j| j.id)
        .collect();
    let mut findings = Findings::default();
    for &id in &targets {
        let before = s.tracked(id).and_then(|j| j.status()).map(str::to_owned);
        for req in [
            Req::get(format!("/jobs/{id}")),
            Req::delete(format!("/jobs/{id}")),
        ] {
            let ex = s.send(req.auth(Auth::Second)).await?;
            if let Some(problem) = error_problem(&ex, 404, "not_found") {
                findings.add(&ex, format!("another token's job {id}: {problem}"));
            }
        }
        let got = s.get_job(id).await?;
        let after = got
            .json()
            .and_then(|j| j["status"].as_str().map(str::to_owned));
        if before.as_deref() != Some("cancelled") && after.as_deref() == Some("cancelled") {
            findings.add(
                &got,
                format!("job {id} was cancelled by another token's DELETE"),
            );
        }
    }
    s.record(
        "isolation.foreign_job",
        findings.outcome(Some(format!("{} jobs", targets.len()))),
    );

    let ex = s
        .send(Req::get("/jobs?page=1&page_size=100").auth(Auth::Second))
        .await?;
    let mut findings = Findings::default();
    let listed: Vec<u64> = ex
        .json()
        .and_then(|b| b["jobs"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|j| j["job_id"].as_u64())
        .collect();
    if ex.status != 200 {
        findings.add(&ex, format!("expected 200, got {}", ex.status));
    } else if let Some(id) = s.jobs.iter().map(|j| j.id).find(|id| listed.contains(id)) {
        findings.add(
            &ex,
            format!("job {id} of --token is in --second-token's list"),
        );
    }
    s.record("isolation.foreign_list", findings.outcome(None));
    Ok(())
}
