//! Wire types of the Vestis job API, as its contract defines them.
//!
//! The mock server serialises these very types, so the SDK and the server
//! cannot drift apart. Decoding is lenient where the contract asks for it:
//! unknown fields are ignored and an unknown status string becomes
//! [`JobStatus::Unknown`] instead of a decode error.
//!
//! Every type here is also at the crate's root. What only a server
//! writes (the error body, the status-to-code table) is in [`crate::wire`].
//!
//! # Examples
//!
//! ```
//! use vestis_client::model::{Job, JobStatus};
//! let job: Job = serde_json::from_str(
//!     r#"{"job_id": 1, "status": "pending", "job_type": "legacy", "created_at": "2026-11-28T10:00:00Z"}"#,
//! ).unwrap();
//! assert_eq!(job.status, JobStatus::Pending);
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A job's identifier: a positive integer, unique and increasing per server.
///
/// # Examples
///
/// ```
/// use vestis_client::JobId;
/// let id: JobId = "123".parse().unwrap();
/// assert_eq!(id, JobId(123));
/// assert_eq!(id.to_string(), "123");
/// assert!("0".parse::<JobId>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a string is not a valid [`JobId`].
///
/// # Examples
///
/// ```
/// let err = "-3".parse::<vestis_client::JobId>().unwrap_err();
/// assert_eq!(err.to_string(), "job id must be a positive integer, got \"-3\"");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job id must be a positive integer, got {0:?}")]
pub struct ParseJobIdError(pub String);

impl FromStr for JobId {
    type Err = ParseJobIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Digits only: `u64::from_str` would also take a leading `+`.
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseJobIdError(s.to_owned()));
        }
        match s.parse::<u64>() {
            Ok(n) if n > 0 => Ok(JobId(n)),
            _ => Err(ParseJobIdError(s.to_owned())),
        }
    }
}

/// The kind of generation a job runs; it selects the `POST /generate` flag.
///
/// # Examples
///
/// ```
/// use vestis_client::JobKind;
/// assert_eq!("flatlay".parse::<JobKind>().unwrap(), JobKind::Flatlay);
/// assert_eq!(JobKind::Onmodel.to_string(), "onmodel");
/// assert_eq!(JobKind::ALL.len(), 6);
/// ```
///
/// New kinds may come with new versions of the API, so the enum is
/// `#[non_exhaustive]`: a `match` needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum JobKind {
    /// Text (and optional reference images) to image: `?chat=true`.
    Chat,
    /// Flat-lay product composition: `?flatlay=true`.
    Flatlay,
    /// `?mdoli=true`.
    Mdoli,
    /// Products shown on a model: `?onmodel=true`.
    Onmodel,
    /// Background replacement: `?background=true`.
    Background,
    /// The plain `POST /generate` with no type flag.
    Legacy,
}

impl JobKind {
    /// Every kind, in the contract's order.
    pub const ALL: [JobKind; 6] = [
        JobKind::Chat,
        JobKind::Flatlay,
        JobKind::Mdoli,
        JobKind::Onmodel,
        JobKind::Background,
        JobKind::Legacy,
    ];

    /// The wire name (`"chat"`, …, `"legacy"`), as in a job's `job_type`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(vestis_client::JobKind::Background.as_str(), "background");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Chat => "chat",
            JobKind::Flatlay => "flatlay",
            JobKind::Mdoli => "mdoli",
            JobKind::Onmodel => "onmodel",
            JobKind::Background => "background",
            JobKind::Legacy => "legacy",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a [`JobKind`].
///
/// # Examples
///
/// ```
/// let err = "video".parse::<vestis_client::JobKind>().unwrap_err();
/// assert!(err.to_string().starts_with("unknown job kind \"video\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job kind {0:?} (expected chat, flatlay, mdoli, onmodel, background or legacy)")]
pub struct ParseJobKindError(pub String);

impl FromStr for JobKind {
    type Err = ParseJobKindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ParseJobKindError(s.to_owned()))
    }
}

/// Where a job is in its lifecycle.
///
/// `pending -> processing -> completed | failed`, and `pending -> cancelled`.
/// A status this SDK does not know decodes as [`JobStatus::Unknown`], so a
/// newer server never breaks an older client.
///
/// # Examples
///
/// ```
/// use vestis_client::JobStatus;
/// let s: JobStatus = serde_json::from_str("\"aborted\"").unwrap();
/// assert_eq!(s, JobStatus::Unknown("aborted".into()));
/// assert!(!s.is_terminal());
/// assert!(JobStatus::Cancelled.is_terminal());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobStatus {
    /// Queued, waiting for a worker.
    Pending,
    /// A worker is running it.
    Processing,
    /// Finished with a result (terminal).
    Completed,
    /// Finished without a result after its last attempt (terminal).
    Failed,
    /// Cancelled while pending (terminal).
    Cancelled,
    /// A status string this SDK does not know; never terminal.
    Unknown(String),
}

impl JobStatus {
    /// The five statuses of the contract.
    pub const KNOWN: [JobStatus; 5] = [
        JobStatus::Pending,
        JobStatus::Processing,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    /// `completed`, `failed` and `cancelled`: the job never changes again.
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_client::JobStatus;
    /// assert!(JobStatus::Failed.is_terminal());
    /// assert!(!JobStatus::Processing.is_terminal());
    /// ```
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }

    /// The wire name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(vestis_client::JobStatus::Pending.as_str(), "pending");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Processing => "processing",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Unknown(s) => s,
        }
    }

    /// Parses a status as a server sends it, leniently: anything unknown
    /// becomes [`JobStatus::Unknown`] (as decoding a [`Job`] does), where
    /// [`str::parse`] refuses it. For statuses read back from storage or
    /// another program; use `parse` for what a person typed.
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_client::JobStatus;
    /// assert_eq!(JobStatus::from_wire("failed"), JobStatus::Failed);
    /// assert_eq!(JobStatus::from_wire("archived"), JobStatus::Unknown("archived".into()));
    /// assert!("archived".parse::<JobStatus>().is_err());
    /// ```
    pub fn from_wire(s: &str) -> JobStatus {
        match s {
            "pending" => JobStatus::Pending,
            "processing" => JobStatus::Processing,
            "completed" => JobStatus::Completed,
            "failed" => JobStatus::Failed,
            "cancelled" => JobStatus::Cancelled,
            other => JobStatus::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not one of the contract's five statuses.
///
/// # Examples
///
/// ```
/// let err = "done".parse::<vestis_client::JobStatus>().unwrap_err();
/// assert!(err.to_string().starts_with("unknown job status \"done\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job status {0:?} (expected pending, processing, completed, failed or cancelled)")]
pub struct ParseJobStatusError(pub String);

impl FromStr for JobStatus {
    type Err = ParseJobStatusError;

    /// Strict parsing for user input (filters, flags): only the five known statuses.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match JobStatus::from_wire(s) {
            JobStatus::Unknown(s) => Err(ParseJobStatusError(s)),
            known => Ok(known),
        }
    }
}

impl Serialize for JobStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(JobStatus::from_wire(&s))
    }
}

mod payload;
mod time;

pub use payload::{ChatRequest, FlatlayRequest, InvalidPayload, validate_payload};
pub use time::{ParseTimestampError, Timestamp};

/// A generation job as `GET /jobs/{id}` returns it.
///
/// `#[non_exhaustive]`: the API may add fields, so other crates read and
/// assign the fields but build a `Job` with [`Job::new`] (or decode one).
///
/// # Examples
///
/// ```
/// use vestis_client::{Job, JobId, JobKind, JobStatus, Timestamp};
///
/// let job: Job = serde_json::from_str(r#"{
///     "job_id": 7, "status": "processing", "job_type": "chat",
///     "created_at": "2026-11-28T10:00:00.000Z", "attempts": 1
/// }"#).unwrap();
/// assert_eq!(job.job_id, JobId(7));
/// assert_eq!(job.status, JobStatus::Processing);
/// assert_eq!(job.image_url(), None);
///
/// // A job for a test double of your own:
/// let mut failed = Job::new(JobId(8), JobKind::Chat, JobStatus::Failed, Timestamp::now());
/// failed.error = Some("the model crashed".into());
/// assert!(failed.status.is_terminal());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Job {
    /// The job's id.
    pub job_id: JobId,
    /// Where it is in its lifecycle.
    pub status: JobStatus,
    /// Which generation it runs.
    pub job_type: JobKind,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its first processing attempt started; `None` before.
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    /// When it reached a terminal status; `None` before.
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
    /// How many processing attempts have started (0 while first queued).
    #[serde(default)]
    pub attempts: u32,
    /// The generated image, present only when `completed`.
    #[serde(default)]
    pub result: Option<JobResult>,
    /// Why it failed, present only when `failed` (optionally when `cancelled`).
    #[serde(default)]
    pub error: Option<String>,
}

impl Job {
    /// A job with the four fields every job has; the others start empty
    /// (`None`, 0 attempts) and are set by assignment.
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_client::{Job, JobId, JobKind, JobStatus, Timestamp};
    /// let job = Job::new(JobId(1), JobKind::Legacy, JobStatus::Pending, Timestamp::now());
    /// assert_eq!(job.attempts, 0);
    /// ```
    pub fn new(job_id: JobId, job_type: JobKind, status: JobStatus, created_at: Timestamp) -> Job {
        Job {
            job_id,
            status,
            job_type,
            created_at,
            started_at: None,
            completed_at: None,
            attempts: 0,
            result: None,
            error: None,
        }
    }

    /// The generated image's URL, once completed.
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_client::{Job, JobId, JobKind, JobResult, JobStatus, Timestamp};
    /// let mut job = Job::new(JobId(1), JobKind::Chat, JobStatus::Completed, Timestamp::now());
    /// job.result = Some(JobResult::new("http://localhost:4000/images/1.png", Timestamp::now()));
    /// assert_eq!(job.image_url(), Some("http://localhost:4000/images/1.png"));
    /// ```
    pub fn image_url(&self) -> Option<&str> {
        self.result.as_ref().map(|r| r.image_url.as_str())
    }

    /// Time from the first attempt's start (or creation) to completion, once terminal.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use vestis_client::{Job, JobId, JobKind, JobStatus};
    /// let created = "2026-11-28T10:00:00Z".parse().unwrap();
    /// let mut job = Job::new(JobId(1), JobKind::Chat, JobStatus::Completed, created);
    /// assert_eq!(job.run_time(), None, "no completed_at yet");
    /// job.completed_at = Some("2026-11-28T10:02:30Z".parse().unwrap());
    /// assert_eq!(job.run_time(), Some(Duration::from_secs(150)));
    /// ```
    pub fn run_time(&self) -> Option<std::time::Duration> {
        let end = self.completed_at?;
        Some(end.duration_since(self.started_at.unwrap_or(self.created_at)))
    }
}

/// The result of a completed job.
///
/// `#[non_exhaustive]` (the API may add fields): build one with
/// [`JobResult::new`].
///
/// # Examples
///
/// ```
/// use vestis_client::{JobResult, Timestamp};
/// let result = JobResult::new("http://localhost:4000/images/9.png", Timestamp::now());
/// assert_eq!(result.message, "Image generated successfully");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobResult {
    /// Absolute URL of the PNG; fetchable without credentials.
    pub image_url: String,
    /// When the image was generated.
    pub generated_at: Timestamp,
    /// A human-readable note from the server.
    pub message: String,
}

impl JobResult {
    /// A result at `image_url`, with the contract's message
    /// (`"Image generated successfully"`).
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_client::{JobResult, Timestamp};
    /// let mut result = JobResult::new("https://cdn.example/1.png", Timestamp::now());
    /// result.message = "done".into();
    /// # let _ = result;
    /// ```
    pub fn new(image_url: impl Into<String>, generated_at: Timestamp) -> JobResult {
        JobResult {
            image_url: image_url.into(),
            generated_at,
            message: "Image generated successfully".to_owned(),
        }
    }
}

/// One page of `GET /jobs`.
///
/// `#[non_exhaustive]`: build one with [`JobPage::new`].
///
/// # Examples
///
/// ```
/// use vestis_client::{JobPage, PageMetadata};
/// let page = JobPage::new(Vec::new(), PageMetadata::new(1, 20, 0));
/// assert!(page.jobs.is_empty());
/// assert_eq!(page.metadata.total_pages, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobPage {
    /// The caller's jobs on this page, newest first.
    pub jobs: Vec<Job>,
    /// Where this page sits among all pages.
    pub metadata: PageMetadata,
}

impl JobPage {
    /// A page holding `jobs`.
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_client::{Job, JobId, JobKind, JobPage, JobStatus, PageMetadata, Timestamp};
    /// let job = Job::new(JobId(1), JobKind::Chat, JobStatus::Pending, Timestamp::now());
    /// let page = JobPage::new(vec![job], PageMetadata::new(1, 20, 1));
    /// assert_eq!(page.metadata.total_pages, 1);
    /// ```
    pub fn new(jobs: Vec<Job>, metadata: PageMetadata) -> JobPage {
        JobPage { jobs, metadata }
    }
}

/// Pagination facts of a [`JobPage`].
///
/// `#[non_exhaustive]`: build one with [`PageMetadata::new`].
///
/// # Examples
///
/// ```
/// use vestis_client::PageMetadata;
/// let meta = PageMetadata::new(2, 10, 25);
/// assert_eq!((meta.page, meta.total_pages), (2, 3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PageMetadata {
    /// This page's number, from 1.
    pub page: u64,
    /// The requested page size.
    pub page_size: u32,
    /// How many jobs match in all.
    pub total: u64,
    /// How many pages of `page_size` hold `total` jobs.
    pub total_pages: u64,
}

impl PageMetadata {
    /// Page `page` of `page_size` jobs out of `total`; `total_pages` is
    /// computed (`total / page_size`, rounded up; 0 when `page_size` is 0).
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_client::PageMetadata;
    /// assert_eq!(PageMetadata::new(1, 20, 40).total_pages, 2);
    /// assert_eq!(PageMetadata::new(1, 20, 41).total_pages, 3);
    /// ```
    pub fn new(page: u64, page_size: u32, total: u64) -> PageMetadata {
        let total_pages = match page_size {
            0 => 0,
            size => total.div_ceil(u64::from(size)),
        };
        PageMetadata {
            page,
            page_size,
            total,
            total_pages,
        }
    }
}

/// The body of `202 Accepted` from `POST /generate`.
///
/// `#[non_exhaustive]`: build one with [`CreateJobResponse::new`].
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
/// use vestis_client::{ChatRequest, JobKind};
/// let created = client.create(JobKind::Chat, &ChatRequest::new("a red dress")).await?;
/// println!("job {} is {}: {}", created.job_id, created.status, created.message);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateJobResponse {
    /// Always `true` on success.
    pub success: bool,
    /// The new (or, on an idempotent replay, the original) job.
    pub job_id: JobId,
    /// `pending` for a new job.
    pub status: JobStatus,
    /// A human-readable note from the server.
    pub message: String,
}

impl CreateJobResponse {
    /// A successful create's answer (`success: true`).
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_client::{CreateJobResponse, JobId, JobStatus};
    /// let answer = CreateJobResponse::new(JobId(1), JobStatus::Pending, "Job created");
    /// assert!(answer.success);
    /// ```
    pub fn new(job_id: JobId, status: JobStatus, message: impl Into<String>) -> CreateJobResponse {
        CreateJobResponse {
            success: true,
            job_id,
            status,
            message: message.into(),
        }
    }
}

/// The body of `200 OK` from `DELETE /jobs/{id}`.
///
/// `#[non_exhaustive]`: build one with [`CancelJobResponse::new`].
///
/// # Examples
///
/// ```
/// use vestis_client::{CancelJobResponse, JobId, JobStatus};
/// let answer = CancelJobResponse::new(JobId(4), "Job cancelled");
/// assert_eq!((answer.success, answer.status), (true, JobStatus::Cancelled));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CancelJobResponse {
    /// Always `true` on success.
    pub success: bool,
    /// The cancelled job.
    pub job_id: JobId,
    /// `cancelled`.
    pub status: JobStatus,
    /// A human-readable note from the server.
    pub message: String,
}

impl CancelJobResponse {
    /// A successful cancel's answer (`success: true`, status `cancelled`).
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_client::{CancelJobResponse, JobId};
    /// assert!(CancelJobResponse::new(JobId(4), "Job cancelled").success);
    /// ```
    pub fn new(job_id: JobId, message: impl Into<String>) -> CancelJobResponse {
        CancelJobResponse {
            success: true,
            job_id,
            status: JobStatus::Cancelled,
            message: message.into(),
        }
    }
}

/// The contract's machine-readable error codes, as [`ApiError::code`]
/// carries them.
///
/// [`ApiError::code`]: crate::ApiError::code
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
/// use vestis_client::{ErrorCode, JobId};
/// if let Err(e) = client.get(JobId(42)).await {
///     match e.api_error().and_then(|api| api.code) {
///         Some(ErrorCode::NotFound) => println!("no job 42 for this token"),
///         Some(ErrorCode::RateLimited) => println!("slow down"),
///         _ => return Err(e),
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400: malformed JSON, bad query/path value, payload fails validation.
    InvalidRequest,
    /// 401: missing or rejected bearer token.
    Unauthorized,
    /// 404: unknown (or foreign) job, unknown route.
    NotFound,
    /// 405: known route, wrong method.
    MethodNotAllowed,
    /// 409: cancel of a non-pending job; idempotency key reused differently.
    Conflict,
    /// 413: request body over the limit.
    PayloadTooLarge,
    /// 415: a body that is not `application/json`.
    UnsupportedMediaType,
    /// 429: over the rate limit.
    RateLimited,
    /// 500: a server bug.
    Internal,
    /// 503: queue full or server draining.
    Unavailable,
    /// A code this SDK does not know.
    #[serde(other)]
    Other,
}

impl ErrorCode {
    /// The HTTP status the contract pairs with this code (500 for [`ErrorCode::Other`]).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(vestis_client::ErrorCode::Conflict.http_status(), 409);
    /// ```
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal | ErrorCode::Other => 500,
            ErrorCode::Unavailable => 503,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn job_decodes_the_contract_example_and_ignores_unknown_fields() {
        let job: Job = serde_json::from_value(json!({
            "job_id": 123, "status": "completed", "job_type": "chat",
            "created_at": "2026-11-28T10:00:00.000Z",
            "started_at": "2026-11-28T10:00:01.000Z",
            "completed_at": "2026-11-28T10:02:31.000Z",
            "attempts": 1,
            "result": {"image_url": "http://localhost:4000/images/123.png",
                       "generated_at": "2026-11-28T10:02:31.000Z",
                       "message": "Image generated successfully"},
            "error": null, "shiny_new_field": [1, 2]
        }))
        .unwrap();
        assert_eq!(job.job_id, JobId(123));
        assert_eq!(job.status, JobStatus::Completed);
        assert_eq!(job.run_time(), Some(std::time::Duration::from_secs(150)));
        let back = serde_json::to_value(&job).unwrap();
        assert_eq!(back["created_at"], "2026-11-28T10:00:00.000Z");
        assert_eq!(back["error"], Value::Null);
    }

    use serde_json::Value;

    #[test]
    fn job_decodes_with_absent_optional_fields_and_unknown_status() {
        let job: Job = serde_json::from_value(json!({
            "job_id": 7, "status": "aborted", "job_type": "legacy",
            "created_at": "2026-11-28T10:00:00Z"
        }))
        .unwrap();
        assert_eq!(job.status, JobStatus::Unknown("aborted".into()));
        assert_eq!(job.started_at, None);
        assert_eq!(job.attempts, 0);
    }

    #[test]
    fn status_round_trips_and_strict_parse_rejects_unknown() {
        for s in JobStatus::KNOWN {
            let text = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<JobStatus>(&text).unwrap(), s);
            assert_eq!(s.as_str().parse::<JobStatus>().unwrap(), s);
        }
        assert!("aborted".parse::<JobStatus>().is_err());
    }

    #[test]
    fn job_id_rejects_non_positive_and_signs() {
        for bad in ["", "0", "-1", "+1", "1.5", "abc", "99999999999999999999999"] {
            assert!(bad.parse::<JobId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn error_codes_match_their_statuses() {
        for code in [
            ErrorCode::InvalidRequest,
            ErrorCode::Unauthorized,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::Conflict,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::RateLimited,
            ErrorCode::Internal,
            ErrorCode::Unavailable,
        ] {
            assert_eq!(crate::wire::error_code_for_status(code.http_status()), code);
        }
        let body: crate::wire::ErrorBody =
            serde_json::from_str(r#"{"success":false,"error":"x","code":"brand_new"}"#).unwrap();
        assert_eq!(body.code, ErrorCode::Other);
    }
}
