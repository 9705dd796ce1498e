//! The catalog of checks: every check's id, group, what it checks, the
//! contract sentence it holds the server to, and what it needs to run.
//!
//! One table, so `--dry-run`, the report's order and docs/verify.md agree.

use serde::Serialize;

/// The contract's sections, in the order a run reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Group {
    /// JSON error bodies and codes.
    Errors,
    /// `POST /generate`: 202, `Location`, body, stored before the answer.
    Create,
    /// The job object: fields, timestamps, statuses, types, presence rules.
    JobModel,
    /// `GET /jobs`: order, metadata, bounds, filters.
    List,
    /// `DELETE /jobs/{id}`.
    Cancel,
    /// How jobs move over time.
    Lifecycle,
    /// Jobs of one token are invisible to another.
    Isolation,
    /// `Idempotency-Key` on create.
    Idempotency,
    /// `Retry-After` on 429 and 503.
    Overload,
}

impl Group {
    /// The group's name as reports show it, e.g. `job_model`.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Errors => "errors",
            Group::Create => "create",
            Group::JobModel => "job_model",
            Group::List => "list",
            Group::Cancel => "cancel",
            Group::Lifecycle => "lifecycle",
            Group::Isolation => "isolation",
            Group::Idempotency => "idempotency",
            Group::Overload => "overload",
        }
    }
}

/// What a check needs beyond the server answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Needs {
    /// Nothing: runs with `--quick` too.
    Nothing,
    /// Jobs that start or finish within `--job-timeout`: skipped by `--quick`.
    FinishedJob,
    /// `--second-token`.
    SecondToken,
}

/// One check: its stable id, what it checks and the contract sentence behind it.
///
/// `#[non_exhaustive]`: the catalog ([`CATALOG`]) holds them; read the fields.
///
/// # Examples
///
/// ```
/// let check = vestis_verify::catalog::find("create.accepted").unwrap();
/// println!("{}: {}", check.id, check.contract);
/// ```
#[derive(Debug, Clone, Copy, Serialize)]
#[non_exhaustive]
pub struct CheckInfo {
    /// Stable id, `group.name`, e.g. `create.location`.
    pub id: &'static str,
    /// The contract section.
    pub group: Group,
    /// What it checks, in one line.
    pub title: &'static str,
    /// The contract sentence a failure breaks.
    pub contract: &'static str,
    /// What it needs to run.
    pub needs: Needs,
}

const fn check(
    id: &'static str,
    group: Group,
    title: &'static str,
    contract: &'static str,
    needs: Needs,
) -> CheckInfo {
    CheckInfo {
        id,
        group,
        title,
        contract,
        needs,
    }
}

use Group::*;
use Needs::*;

const ERROR_BODY: &str = "Every error response, from every route, has a JSON body { \"success\": false, \"error\": \"...\", \"code\": \"...\" }";

/// Every check, in report order.
pub const CATALOG: &[CheckInfo] = &[
    check(
        "errors.malformed_json",
        Errors,
        "malformed JSON is 400 invalid_request with a JSON error body",
        ERROR_BODY,
        Nothing,
    ),
    check(
        "errors.not_an_object",
        Errors,
        "a JSON body that is not an object is 400 invalid_request",
        "400 invalid_request: malformed JSON, body not an object, bad query/path value, payload fails validation",
        Nothing,
    ),
    check(
        "errors.validation",
        Errors,
        "a chat job without a prompt is 400 invalid_request naming the field",
        "A payload that breaks these rules: 400 invalid_request, with error naming the field",
        Nothing,
    ),
    check(
        "errors.two_types",
        Errors,
        "two type flags at once are 400 invalid_request",
        "Two or more selected types: 400.",
        Nothing,
    ),
    check(
        "errors.bad_job_id",
        Errors,
        "job ids `abc`, `0`, `-1` are 400 invalid_request",
        "A non-numeric or non-positive id: 400.",
        Nothing,
    ),
    check(
        "errors.unauthorized",
        Errors,
        "no, empty or non-Bearer Authorization is 401 unauthorized",
        "401 unauthorized: missing, empty or malformed Authorization header",
        Nothing,
    ),
    check(
        "errors.unknown_job",
        Errors,
        "an unknown job id is 404 not_found on GET and DELETE",
        "Unknown or foreign id: 404.",
        Nothing,
    ),
    check(
        "errors.unknown_route",
        Errors,
        "an unknown route is 404 not_found with a JSON body",
        "Never an HTML or plain-text error body, including for ... unknown routes",
        Nothing,
    ),
    check(
        "errors.wrong_method",
        Errors,
        "a known route with a wrong method is 405 method_not_allowed",
        "405 method_not_allowed: known route, wrong method",
        Nothing,
    ),
    check(
        "errors.payload_too_large",
        Errors,
        "an 11 MiB body is 413 payload_too_large",
        "413 payload_too_large: request body over the limit (mock server default 10 MiB)",
        Nothing,
    ),
    check(
        "errors.unsupported_media_type",
        Errors,
        "a text/plain body is 415 unsupported_media_type",
        "415 unsupported_media_type: a body that is not application/json",
        Nothing,
    ),
    check(
        "create.accepted",
        Create,
        "create answers 202 {success, job_id, status: pending, message}",
        "Response: 202 Accepted ... { \"success\": true, \"job_id\": 123, \"status\": \"pending\", \"message\": ... }",
        Nothing,
    ),
    check(
        "create.location",
        Create,
        "create answers `Location: /api/v1/jobs/{id}`",
        "Response: 202 Accepted, header Location: /api/v1/jobs/123",
        Nothing,
    ),
    check(
        "create.stored",
        Create,
        "a job is found by an immediate GET",
        "The job is stored before the response is sent: an immediate GET /api/v1/jobs/123 finds it.",
        Nothing,
    ),
    check(
        "create.ids",
        Create,
        "job ids are positive integers, unique and increasing",
        "Job ids are positive integers (JSON numbers), unique and increasing per server.",
        Nothing,
    ),
    check(
        "job_model.fields",
        JobModel,
        "every job has job_id, status, job_type, created_at, attempts of the right types",
        "Job model: job_id, status, job_type, created_at, started_at, completed_at, attempts, result, error",
        Nothing,
    ),
    check(
        "job_model.timestamps",
        JobModel,
        "timestamps are RFC 3339 UTC with Z, in order",
        "Timestamps are RFC 3339 in UTC with a Z suffix, e.g. 2026-11-28T10:00:00.123Z.",
        Nothing,
    ),
    check(
        "job_model.statuses",
        JobModel,
        "status is pending, processing, completed, failed or cancelled",
        "status: pending, processing, completed, failed, cancelled",
        Nothing,
    ),
    check(
        "job_model.type_per_flag",
        JobModel,
        "job_type matches the type flag (legacy without one)",
        "TYPE is one of chat, flatlay, mdoli, onmodel, background; with none, the job type is legacy.",
        Nothing,
    ),
    check(
        "job_model.presence_rules",
        JobModel,
        "result only when completed, error only when failed/cancelled, started_at/completed_at when due",
        "result: present only when completed ... error: present only when failed (and optionally when cancelled)",
        Nothing,
    ),
    check(
        "list.newest_first",
        List,
        "the list is ordered by job_id descending",
        "The caller's jobs, newest first (job_id descending)",
        Nothing,
    ),
    check(
        "list.metadata",
        List,
        "metadata echoes page/page_size; total_pages = ceil(total/page_size); page length fits",
        "metadata: { page, page_size, total, total_pages }",
        Nothing,
    ),
    check(
        "list.bounds",
        List,
        "page 0, page_size 0/101/1000 and non-numbers are 400",
        "page >= 1 (default 1); page_size 1..=100 (default 20). Out of range or not a number: 400.",
        Nothing,
    ),
    check(
        "list.past_end",
        List,
        "a page past the end is 200 with no jobs and the true total",
        "A page past the end: 200 with \"jobs\": [] and the true total.",
        Nothing,
    ),
    check(
        "list.status_filter",
        List,
        "status=cancelled and status=pending list only such jobs",
        "Optional filter status=pending|processing|completed|failed|cancelled.",
        Nothing,
    ),
    check(
        "list.consistent_while_adding",
        List,
        "a new job appears first and total grows by one; the rest shifts by one",
        "The caller's jobs, newest first (job_id descending)",
        Nothing,
    ),
    check(
        "cancel.pending",
        Cancel,
        "cancelling a pending job is 200 and leaves it cancelled with completed_at",
        "Cancels a pending job: 200 ... The job is then cancelled with completed_at set",
        Nothing,
    ),
    check(
        "cancel.terminal",
        Cancel,
        "cancelling a terminal job is 409 conflict and leaves it unchanged",
        "A job that is processing or terminal: 409 conflict, and the job is unchanged.",
        Nothing,
    ),
    check(
        "cancel.processing",
        Cancel,
        "cancelling a processing job is 409 conflict and leaves it running",
        "A job that is processing or terminal: 409 conflict, and the job is unchanged.",
        FinishedJob,
    ),
    check(
        "cancel.never_started",
        Cancel,
        "a cancelled job is never started, even after later jobs finish",
        "no worker will ever start it",
        FinishedJob,
    ),
    check(
        "lifecycle.forward",
        Lifecycle,
        "observed statuses only move forward (a retry may return to pending)",
        "Lifecycle: pending -> processing -> completed | failed, and pending -> cancelled.",
        Nothing,
    ),
    check(
        "lifecycle.attempts",
        Lifecycle,
        "attempts never decreases",
        "attempts: how many processing attempts have started",
        Nothing,
    ),
    check(
        "lifecycle.terminal_unchanged",
        Lifecycle,
        "a finished job reads the same every time",
        "a terminal job never changes again.",
        FinishedJob,
    ),
    check(
        "lifecycle.image_url",
        Lifecycle,
        "a completed job's image_url is fetchable without credentials",
        "image_url is an absolute URL that an <img> tag or curl can fetch without credentials.",
        FinishedJob,
    ),
    check(
        "isolation.foreign_job",
        Isolation,
        "another token's job is 404 not_found on GET and DELETE, and stays as it was",
        "A job that belongs to another token is answered exactly like a job that does not exist (404)",
        SecondToken,
    ),
    check(
        "isolation.foreign_list",
        Isolation,
        "another token's jobs are absent from its list",
        "The caller's jobs ... jobs belong to the token that created them.",
        SecondToken,
    ),
    check(
        "idempotency.same_key",
        Idempotency,
        "a repeated create with the same key answers the same job",
        "a repeat of the same key from the same token ... the same job (202, same job_id, no new job)",
        Nothing,
    ),
    check(
        "idempotency.different_payload",
        Idempotency,
        "the same key with another payload is 409 conflict",
        "The same key with a different type or payload: 409 conflict.",
        Nothing,
    ),
    check(
        "overload.retry_after",
        Overload,
        "every 429 and 503 seen carries Retry-After in seconds",
        "429 rate_limited: Retry-After: <seconds> header is set; 503 unavailable: Retry-After header is set",
        Nothing,
    ),
];

/// The catalog entry for `id`.
///
/// # Examples
///
/// ```
/// let info = vestis_verify::catalog::find("create.location").unwrap();
/// assert_eq!(info.group, vestis_verify::catalog::Group::Create);
/// ```
pub fn find(id: &str) -> Option<&'static CheckInfo> {
    CATALOG.iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_prefixed_by_their_group() {
        let mut ids: Vec<_> = CATALOG.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CATALOG.len());
        for c in CATALOG {
            assert!(
                c.id.starts_with(&format!("{}.", c.group.as_str())),
                "{}",
                c.id
            );
        }
    }
}
