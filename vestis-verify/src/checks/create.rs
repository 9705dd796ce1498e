//! The `create` group and `job_model.type_per_flag`: one job of each type,
//! each answered 202 with `Location` and the contract's body, each found by
//! an immediate GET with the type its flag selected.

use crate::Error;
use crate::http::Exchange;
use crate::session::{Findings, Hint, KINDS, Session, payload};

/// Creates one job per type (the background one told to fail on the mock
/// server, so a failed job is seen too) and checks the answers.
pub(crate) async fn run(s: &mut Session) -> Result<(), Error> {
    let mut accepted = Findings::default();
    let mut location = Findings::default();
    let mut stored = Findings::default();
    let mut types = Findings::default();
    for kind in KINDS {
        let hint = if kind.name == "background" {
            Hint::Fail
        } else {
            Hint::Complete
        };
        let (ex, id) = s.create(kind, payload(kind), hint, None).await?;
        if let Some(problem) = accepted_problem(&ex) {
            accepted.add(&ex, problem);
        }
        let Some(id) = id else { continue };
        if let Some(problem) = location_problem(&ex, s.http.api_url(), id) {
            location.add(&ex, problem);
        }
        let got = s.get_job(id).await?;
        let body = got.json().unwrap_or_default();
        if got.status != 200 || body["job_id"].as_u64() != Some(id) {
            stored.add(&got, format!("job {id} was not found right after its 202"));
        } else if body["job_type"] != kind.name {
            types.add(
                &got,
                format!(
                    "created with {:?}, job_type is {}",
                    kind.query, body["job_type"]
                ),
            );
        }
    }
    s.record("create.accepted", accepted.outcome(None));
    s.record("create.location", location.outcome(None));
    s.record("create.stored", stored.outcome(None));
    s.record(
        "job_model.type_per_flag",
        types.outcome(Some(format!("{} types", KINDS.len()))),
    );
    Ok(())
}

/// Why a create answer is not `202 {success: true, job_id, status: pending, message}`.
pub(crate) fn accepted_problem(ex: &Exchange) -> Option<String> {
    if ex.status != 202 {
        return Some(format!("expected 202 Accepted, got {}", ex.status));
    }
    let Some(body) = ex.json() else {
        return Some("202 without a JSON body".to_owned());
    };
    if body["success"] != true {
        return Some("body without \"success\": true".to_owned());
    }
    if body["job_id"].as_u64().is_none_or(|id| id == 0) {
        return Some("job_id is not a positive integer".to_owned());
    }
    if body["status"] != "pending" {
        return Some(format!(
            "status is {}, expected \"pending\"",
            body["status"]
        ));
    }
    if !body["message"].is_string() {
        return Some("message is not a string".to_owned());
    }
    None
}

/// Why `Location` does not name the job: `/api/v1/jobs/{id}`, relative to
/// the server or absolute.
fn location_problem(ex: &Exchange, api_url: &str, id: u64) -> Option<String> {
    let Some(location) = ex.header("location") else {
        return Some("202 without a Location header".to_owned());
    };
    let expected = format!("{api_url}/jobs/{id}");
    let resolved = reqwest::Url::parse(api_url)
        .and_then(|base| base.join(&location))
        .map(String::from)
        .unwrap_or_default();
    (resolved != expected)
        .then(|| format!("Location is {location:?}, expected the path of {expected}"))
}
