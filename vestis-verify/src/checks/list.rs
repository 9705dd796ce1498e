//! The `list` group: newest first, metadata arithmetic, bounds, a page past
//! the end, the status filter, and a page that stays consistent while a job
//! is added.
//!
//! The token should be used by nothing else while verify runs: another
//! client creating jobs at the same time would make the pages move.

use serde_json::Value;

use crate::Error;
use crate::http::{Exchange, Req};
use crate::session::{CHAT, Findings, Hint, Session, expect_errors, payload};

/// A page answer's parts, if it has the contract's shape.
struct Page {
    ids: Vec<u64>,
    jobs: Vec<Value>,
    meta: Value,
}

fn page(ex: &Exchange) -> Option<Page> {
    let body = ex.json()?;
    let jobs = body["jobs"].as_array()?.clone();
    let meta = body["metadata"].clone();
    meta.is_object().then_some(())?;
    let ids = jobs.iter().filter_map(|j| j["job_id"].as_u64()).collect();
    Some(Page { ids, jobs, meta })
}

async fn list(s: &mut Session, query: &str) -> Result<Exchange, Error> {
    let ex = s.send(Req::get(format!("/jobs{query}"))).await?;
    s.observe_page(&ex);
    Ok(ex)
}

/// Lists page 1, creates a job, lists again: the new job comes first, the
/// total grows by one and the rest shifts down by one. Returns the new job.
pub(crate) async fn consistent_while_adding(s: &mut Session) -> Result<Option<u64>, Error> {
    let before = list(s, "?page=1&page_size=5").await?;
    let (_, added) = s.create(CHAT, payload(CHAT), Hint::Complete, None).await?;
    let after = list(s, "?page=1&page_size=5").await?;
    let mut findings = Findings::default();
    match (page(&before), page(&after), added) {
        (Some(a), Some(b), Some(id)) => {
            let (ta, tb) = (a.meta["total"].as_u64(), b.meta["total"].as_u64());
            if tb != ta.map(|t| t + 1) {
                findings.add(
                    &after,
                    format!("total went from {ta:?} to {tb:?} after one create"),
                );
            } else if b.ids.first() != Some(&id) {
                findings.add(&after, format!("the new job {id} is not first"));
            } else if b.ids[1..] != a.ids[..a.ids.len().min(4)] {
                findings.add(
                    &after,
                    format!(
                        "page 1 was {:?}, then {:?}: not shifted by one",
                        a.ids, b.ids
                    ),
                );
            }
        }
        (None, _, _) => findings.add(&before, "not a page: {jobs: [...], metadata: {...}}"),
        (_, None, _) => findings.add(&after, "not a page: {jobs: [...], metadata: {...}}"),
        (_, _, None) => findings.add(&after, "the job to add was not created"),
    }
    s.record("list.consistent_while_adding", findings.outcome(None));
    Ok(added)
}

/// The rest of the group.
pub(crate) async fn run(s: &mut Session) -> Result<(), Error> {
    let full = list(s, "?page=1&page_size=100").await?;
    newest_first(s, &full);

    let mut meta = Findings::default();
    let mut pages = Vec::new();
    for (query, page_no, size) in [
        ("?page=1&page_size=100", 1, 100),
        ("?page=1&page_size=2", 1, 2),
        ("?page=2&page_size=2", 2, 2),
        ("", 1, 20),
    ] {
        let ex = if query == "?page=1&page_size=100" {
            full.clone()
        } else {
            list(s, query).await?
        };
        if let Some(problem) = metadata_problem(&ex, page_no, size) {
            meta.add(&ex, problem);
        }
        pages.push(ex);
    }
    s.record("list.metadata", meta.outcome(None));

    let mut bounds = Vec::new();
    for query in [
        "?page=0",
        "?page=-1",
        "?page=abc",
        "?page_size=0",
        "?page_size=101",
        "?page_size=1000",
        "?page_size=ten",
    ] {
        bounds.push(list(s, query).await?);
    }
    s.record(
        "list.bounds",
        expect_errors(&bounds, 400, "invalid_request"),
    );

    past_end(s, &pages[1]).await?;
    status_filter(s).await
}

fn newest_first(s: &mut Session, ex: &Exchange) {
    let mut findings = Findings::default();
    match page(ex) {
        None => findings.add(ex, "not a 200 page: {jobs: [...], metadata: {...}}"),
        Some(p) => {
            if let Some(w) = p.ids.windows(2).find(|w| w[0] <= w[1]) {
                findings.add(ex, format!("job {} is listed before job {}", w[0], w[1]));
            }
            let ours: Vec<u64> = s.jobs.iter().map(|j| j.id).collect();
            if let Some(missing) = ours.iter().find(|id| !p.ids.contains(id)) {
                findings.add(
                    ex,
                    format!("job {missing}, created by this token, is not listed"),
                );
            }
        }
    }
    s.record("list.newest_first", findings.outcome(None));
}

/// Why a page's metadata or length is wrong for `page`/`page_size`.
fn metadata_problem(ex: &Exchange, page_no: u64, size: u64) -> Option<String> {
    if ex.status != 200 {
        return Some(format!("expected 200, got {}", ex.status));
    }
    let Some(p) = page(ex) else {
        return Some("not a page: {jobs: [...], metadata: {...}}".to_owned());
    };
    let m = &p.meta;
    let (Some(total), Some(total_pages)) = (m["total"].as_u64(), m["total_pages"].as_u64()) else {
        return Some("metadata.total or total_pages is not a non-negative integer".to_owned());
    };
    if m["page"].as_u64() != Some(page_no) || m["page_size"].as_u64() != Some(size) {
        return Some(format!(
            "asked for page {page_no} of size {size}, metadata says page {} of size {}",
            m["page"], m["page_size"]
        ));
    }
    if total_pages != total.div_ceil(size) {
        return Some(format!(
            "total_pages is {total_pages}, but ceil({total} / {size}) is {}",
            total.div_ceil(size)
        ));
    }
    let expected = total.saturating_sub((page_no - 1) * size).min(size);
    (p.jobs.len() as u64 != expected).then(|| {
        format!(
            "{} jobs on page {page_no}, expected {expected} (total {total})",
            p.jobs.len()
        )
    })
}

async fn past_end(s: &mut Session, small: &Exchange) -> Result<(), Error> {
    let Some(meta) = page(small).map(|p| p.meta) else {
        s.skip("list.past_end", "skipped: page 1 of size 2 was not a page");
        return Ok(());
    };
    let total = meta["total"].as_u64();
    let beyond = meta["total_pages"].as_u64().unwrap_or(0) + 1;
    let ex = list(s, &format!("?page={beyond}&page_size=2")).await?;
    let mut findings = Findings::default();
    match page(&ex) {
        _ if ex.status != 200 => findings.add(&ex, format!("expected 200, got {}", ex.status)),
        Some(p) if !p.jobs.is_empty() => findings.add(&ex, "a page past the end lists jobs"),
        Some(p) if p.meta["total"].as_u64() != total => findings.add(
            &ex,
            format!("total is {}, page 1 said {total:?}", p.meta["total"]),
        ),
        Some(_) => {}
        None => findings.add(&ex, "not a page: {jobs: [], metadata: {...}}"),
    }
    s.record("list.past_end", findings.outcome(None));
    Ok(())
}

async fn status_filter(s: &mut Session) -> Result<(), Error> {
    let cancelled: Vec<u64> = s
        .jobs
        .iter()
        .filter(|j| j.cancelled)
        .map(|j| j.id)
        .collect();
    let mut findings = Findings::default();
    for status in ["cancelled", "pending", "completed"] {
        let ex = list(s, &format!("?page=1&page_size=100&status={status}")).await?;
        let Some(p) = page(&ex).filter(|_| ex.status == 200) else {
            findings.add(&ex, "not a 200 page");
            continue;
        };
        if let Some(other) = p.jobs.iter().find(|j| j["status"] != status) {
            findings.add(
                &ex,
                format!(
                    "job {} is {} in a list filtered by {status}",
                    other["job_id"], other["status"]
                ),
            );
        }
        if status == "cancelled"
            && let Some(missing) = cancelled.iter().find(|id| !p.ids.contains(id))
        {
            findings.add(&ex, format!("the cancelled job {missing} is missing"));
        }
    }
    s.record("list.status_filter", findings.outcome(None));
    Ok(())
}
