//! The order of a run: a token check, the groups that need no finished job,
//! the wait, the groups that do, the verdicts over everything seen, and
//! clean-up (pending jobs cancelled) whatever happened.

mod cancel;
mod create;
mod errors;
mod idempotency;
mod isolation;
mod lifecycle;
mod list;
mod model;

use crate::catalog::{CATALOG, Needs};
use crate::http::{Auth, Http, Req};
use crate::report::{Outcome, Report, abbrev};
use crate::session::{Findings, Session};
use crate::{Config, Error, JOBS_AT_MOST, JOBS_PLANNED};

/// See [`crate::run`].
pub(crate) async fn run(config: &Config, mut progress: impl FnMut(&str)) -> Result<Report, Error> {
    if config.second_token.as_deref() == Some(config.token.as_str()) {
        return Err(Error::Config(
            "--second-token must differ from --token (the isolation checks need two identities)"
                .to_owned(),
        ));
    }
    let http = Http::new(
        &config.api_url,
        &config.token,
        config.second_token.as_deref(),
    )?;
    let mut s = Session::new(http, config.clone());
    preflight(&mut s, Auth::Primary, "--token").await?;
    if config.second_token.is_some() {
        preflight(&mut s, Auth::Second, "--second-token").await?;
    }
    progress(&format!(
        "verifying {}: creates {JOBS_PLANNED} jobs (at most {JOBS_AT_MOST}) and cancels what is still pending at the end",
        s.http.api_url()
    ));
    let outcome = groups(&mut s, &mut progress).await;
    let cancelled = clean_up(&mut s).await;
    if !cancelled.is_empty() {
        progress(&format!("cancelled {} pending jobs", cancelled.len()));
    }
    outcome?;
    judge(&mut s);
    let mut report = Report::from_outcomes(s.http.api_url(), |id| {
        s.results.remove(id).unwrap_or(Outcome::Skip {
            reason: "skipped: not reached".to_owned(),
        })
    });
    report.jobs_created = s.jobs.iter().map(|j| j.id).collect();
    report.jobs_cancelled = cancelled;
    Ok(report)
}

/// One authenticated list: a 401 stops the run (exit 4 in the CLI) before
/// anything is created.
async fn preflight(s: &mut Session, auth: Auth, which: &'static str) -> Result<(), Error> {
    let ex = s
        .send(Req::get("/jobs?page=1&page_size=1").auth(auth))
        .await?;
    if ex.status == 401 {
        let message = ex
            .json()
            .and_then(|b| b["error"].as_str().map(|e| abbrev(e, 200)))
            .unwrap_or_else(|| abbrev(&String::from_utf8_lossy(&ex.body), 200));
        return Err(Error::Unauthorized {
            token: which,
            sent: "GET /jobs".to_owned(),
            message,
        });
    }
    Ok(())
}

async fn groups(s: &mut Session, progress: &mut impl FnMut(&str)) -> Result<(), Error> {
    progress("errors: bad requests of every kind");
    errors::run(s).await?;
    progress("create: one job of each type");
    create::run(s).await?;
    progress("list and cancel");
    let added = list::consistent_while_adding(s).await?;
    cancel::pending(s, added).await?;
    if let Some(id) = s.jobs.iter().find(|j| j.cancelled).map(|j| j.id) {
        cancel::terminal(s, id).await?;
    }
    list::run(s).await?;
    progress("idempotency and isolation");
    idempotency::run(s).await?;
    isolation::run(s).await?;
    if s.config.quick {
        for check in CATALOG.iter().filter(|c| c.needs == Needs::FinishedJob) {
            s.skip(check.id, "skipped: --quick");
        }
    } else {
        lifecycle::wait(s, progress).await?;
        lifecycle::after_wait(s).await?;
        cancel::never_started(s).await?;
    }
    cancel::finish_terminal(s);
    Ok(())
}

/// A rule over one job object: its problems.
type Rule = fn(&serde_json::Value) -> Vec<String>;

/// The verdicts over everything seen: job objects, histories, ids, overload answers.
fn judge(s: &mut Session) {
    let rules: [(&'static str, Rule); 4] = [
        ("job_model.fields", model::field_problems),
        ("job_model.timestamps", model::timestamp_problems),
        ("job_model.statuses", |j| {
            model::status_problem(j).into_iter().collect()
        }),
        ("job_model.presence_rules", model::presence_problems),
    ];
    for (id, rule) in rules {
        let mut findings = Findings::default();
        for seen in &s.seen {
            for problem in rule(&seen.job) {
                findings.add_raw(&seen.sent, &abbrev(&seen.job.to_string(), 300), problem);
            }
        }
        let note = Some(format!("{} job objects", s.seen.len()));
        s.record(id, findings.outcome(note));
    }
    lifecycle::judge_history(s);

    let mut ids = Findings::default();
    let created: Vec<u64> = s.jobs.iter().map(|j| j.id).collect();
    if let Some(pair) = created.windows(2).find(|w| w[1] <= w[0]) {
        ids.add_raw(
            "POST /generate, several times",
            &format!("job ids in creation order: {created:?}"),
            format!("job {} was created after job {}", pair[1], pair[0]),
        );
    }
    s.record(
        "create.ids",
        ids.outcome(Some(format!("{} jobs", created.len()))),
    );

    let mut overload = Findings::default();
    let seen = s.http.overloads();
    for o in &seen {
        match o.retry_after.as_deref().map(str::trim) {
            Some(v) if v.parse::<u64>().is_ok() => {}
            Some(v) => overload.add_raw(
                &o.sent,
                &o.received,
                format!("Retry-After {:?} is not whole seconds", abbrev(v, 40)),
            ),
            None => overload.add_raw(&o.sent, &o.received, "no Retry-After header"),
        }
    }
    let note = match seen.len() {
        0 => format!("no 429 or 503 seen in {} responses", s.http.responses()),
        n => format!("{n} answers 429 or 503, each with Retry-After"),
    };
    s.record("overload.retry_after", overload.outcome(Some(note)));
}

/// Cancels every created job not known to be finished; returns those cancelled.
async fn clean_up(s: &mut Session) -> Vec<u64> {
    let open: Vec<u64> = s
        .jobs
        .iter()
        .filter(|j| !j.cancelled && !j.is_terminal())
        .map(|j| j.id)
        .collect();
    let mut cancelled = Vec::new();
    for id in open {
        // Best effort: a 409 means it started or finished meanwhile.
        if let Ok(ex) = s.http.send(&Req::delete(format!("/jobs/{id}"))).await
            && ex.status == 200
        {
            cancelled.push(id);
        }
    }
    cancelled
}
