//! Wire types of the Vestis job API (`CONTRACT.md`).
//!
//! The mock server serialises these very types, so the SDK and the server
//! cannot drift apart. Decoding is lenient where the contract asks for it:
//! unknown fields are ignored and an unknown status string becomes
//! [`JobStatus::Unknown`] instead of a decode error.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

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
/// assert_eq!(JobKind::Chat.query_flag(), Some("chat"));
/// assert_eq!(JobKind::Legacy.query_flag(), None);
/// assert_eq!("flatlay".parse::<JobKind>().unwrap(), JobKind::Flatlay);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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

    /// The wire name (`"chat"`, …, `"legacy"`).
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

    /// The query flag that selects this kind on `POST /generate`, `None` for legacy.
    pub fn query_flag(self) -> Option<&'static str> {
        match self {
            JobKind::Legacy => None,
            other => Some(other.as_str()),
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a [`JobKind`].
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
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }

    /// The wire name.
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

    /// Parses a wire name; anything unknown becomes [`JobStatus::Unknown`].
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

/// An instant on the wire: RFC 3339 in UTC with a `Z` suffix and milliseconds.
///
/// # Examples
///
/// ```
/// use vestis_client::Timestamp;
/// let t: Timestamp = "2026-11-28T10:00:00.123Z".parse().unwrap();
/// assert_eq!(t.to_string(), "2026-11-28T10:00:00.123Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub SystemTime);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Timestamp {
        Timestamp(SystemTime::now())
    }

    /// How long after `earlier` this instant is (zero if it is not later).
    pub fn duration_since(&self, earlier: Timestamp) -> std::time::Duration {
        self.0.duration_since(earlier.0).unwrap_or_default()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // jiff covers the years -9999..=9999; a `SystemTime` outside them
        // (never seen on the wire) prints as the nearest end of that range.
        let instant = jiff::Timestamp::try_from(self.0).unwrap_or_else(|_| {
            if self.0 > SystemTime::UNIX_EPOCH {
                jiff::Timestamp::MAX
            } else {
                jiff::Timestamp::MIN
            }
        });
        // `{:.3}`: always three fractional digits, truncated, and `Z`.
        write!(f, "{instant:.3}")
    }
}

/// Why a string is not an RFC 3339 timestamp with a `Z` or a numeric offset.
///
/// # Examples
///
/// ```
/// use vestis_client::Timestamp;
/// let err = "yesterday".parse::<Timestamp>().unwrap_err();
/// assert!(err.to_string().starts_with("invalid RFC 3339 timestamp \"yesterday\""));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("invalid RFC 3339 timestamp {input:?}: {source}")]
pub struct ParseTimestampError {
    input: String,
    #[source]
    source: jiff::Error,
}

impl FromStr for Timestamp {
    type Err = ParseTimestampError;

    /// Reads the contract's form (`Z`, with or without fractional seconds)
    /// and, leniently, a numeric offset such as `+02:00`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = |source| ParseTimestampError {
            input: s.to_owned(),
            source,
        };
        let instant: jiff::Timestamp = s.trim().parse().map_err(error)?;
        Ok(Timestamp(SystemTime::from(instant)))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A generation job as `GET /jobs/{id}` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The generated image's URL, once completed.
    pub fn image_url(&self) -> Option<&str> {
        self.result.as_ref().map(|r| r.image_url.as_str())
    }

    /// Time from the first attempt's start (or creation) to completion, once terminal.
    pub fn run_time(&self) -> Option<std::time::Duration> {
        let end = self.completed_at?;
        Some(end.duration_since(self.started_at.unwrap_or(self.created_at)))
    }
}

/// The result of a completed job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobResult {
    /// Absolute URL of the PNG; fetchable without credentials.
    pub image_url: String,
    /// When the image was generated.
    pub generated_at: Timestamp,
    /// A human-readable note from the server.
    pub message: String,
}

/// One page of `GET /jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobPage {
    /// The caller's jobs on this page, newest first.
    pub jobs: Vec<Job>,
    /// Where this page sits among all pages.
    pub metadata: PageMetadata,
}

/// Pagination facts of a [`JobPage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// The body of `202 Accepted` from `POST /generate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// The body of `200 OK` from `DELETE /jobs/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// The contract's machine-readable error codes.
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

    /// The code the contract pairs with an HTTP error status, if any.
    pub fn for_http_status(status: u16) -> ErrorCode {
        match status {
            400 => ErrorCode::InvalidRequest,
            401 => ErrorCode::Unauthorized,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            409 => ErrorCode::Conflict,
            413 => ErrorCode::PayloadTooLarge,
            415 => ErrorCode::UnsupportedMediaType,
            429 => ErrorCode::RateLimited,
            503 => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        }
    }
}

/// Every error response's body: `{ "success": false, "error": "...", "code": "..." }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    /// What the guide's frontend code shows the user.
    pub error: String,
    /// The machine-readable code.
    pub code: ErrorCode,
}

/// The payload of a `chat` job: a prompt and optional reference images.
///
/// # Examples
///
/// ```
/// use vestis_client::ChatRequest;
/// let req = ChatRequest::new("a linen summer dress").image("https://example.com/ref.png");
/// let json = serde_json::to_value(&req).unwrap();
/// assert_eq!(json["prompt"], "a linen summer dress");
/// assert_eq!(json["images"][0], "https://example.com/ref.png");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// What to generate; must be non-empty after trimming.
    pub prompt: String,
    /// Reference images: URLs or `data:` URIs.
    #[serde(default)]
    pub images: Vec<String>,
}

impl ChatRequest {
    /// A prompt with no reference images.
    pub fn new(prompt: impl Into<String>) -> ChatRequest {
        ChatRequest {
            prompt: prompt.into(),
            images: Vec::new(),
        }
    }

    /// Adds a reference image (a URL or a `data:` URI).
    pub fn image(mut self, image: impl Into<String>) -> ChatRequest {
        self.images.push(image.into());
        self
    }
}

/// The payload of a `flatlay` job, serialised camelCase as the guide sends it.
///
/// # Examples
///
/// ```
/// use vestis_client::FlatlayRequest;
/// let req = FlatlayRequest::new("1", "2", vec![serde_json::json!({"sku": "A1"})]);
/// let json = serde_json::to_value(&req).unwrap();
/// assert_eq!(json["modelId"], "1");
/// assert_eq!(json["backgroundId"], "2");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlatlayRequest {
    /// The model to dress (a non-empty string or a number on the wire).
    pub model_id: serde_json::Value,
    /// The background to use (a non-empty string or a number on the wire).
    pub background_id: serde_json::Value,
    /// The products to lay out; must be non-empty.
    pub products: Vec<serde_json::Value>,
}

impl FlatlayRequest {
    /// A flat-lay of `products` on `model_id` against `background_id`.
    pub fn new(
        model_id: impl Into<serde_json::Value>,
        background_id: impl Into<serde_json::Value>,
        products: Vec<serde_json::Value>,
    ) -> FlatlayRequest {
        FlatlayRequest {
            model_id: model_id.into(),
            background_id: background_id.into(),
            products,
        }
    }
}

/// Why a payload breaks the contract's rules for its job kind. Its text is
/// what the mock server sends as `error` with `400 invalid_request`, e.g.
/// `prompt is required`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidPayload {
    /// The payload is not a JSON object.
    #[error("request body must be a JSON object")]
    NotAnObject,
    /// A required field is absent, null or blank.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A field that must be a string is something else.
    #[error("{0} must be a string")]
    NotAString(&'static str),
    /// A field that must be an array of strings is something else.
    #[error("{0} must be an array of strings")]
    NotStrings(&'static str),
    /// A flat-lay id that is not a non-empty string or a number.
    #[error("{0} is required and must be a non-empty string or a number")]
    BadId(&'static str),
    /// A flat-lay without products.
    #[error("{0} is required and must be a non-empty array")]
    EmptyArray(&'static str),
}

impl InvalidPayload {
    /// The field at fault, `None` when the payload as a whole is wrong.
    pub fn field(&self) -> Option<&'static str> {
        match *self {
            InvalidPayload::NotAnObject => None,
            InvalidPayload::Missing(field)
            | InvalidPayload::NotAString(field)
            | InvalidPayload::NotStrings(field)
            | InvalidPayload::BadId(field)
            | InvalidPayload::EmptyArray(field) => Some(field),
        }
    }
}

/// Checks a payload against the contract's rules for `kind`.
///
/// The mock server answers `400 invalid_request` with this message; the SDK
/// and CLI use it to reject bad input before sending anything.
///
/// # Errors
///
/// [`InvalidPayload`] naming the first rule the payload breaks: not an
/// object; a chat without a non-blank `prompt`; a `prompt` that is not a
/// string; `images` that are not strings; a flat-lay without `modelId`,
/// `backgroundId` or `products`.
///
/// # Examples
///
/// ```
/// use vestis_client::{validate_payload, InvalidPayload, JobKind};
/// use serde_json::json;
/// assert!(validate_payload(JobKind::Chat, &json!({"prompt": "hi"})).is_ok());
/// let err = validate_payload(JobKind::Chat, &json!({"prompt": "  "})).unwrap_err();
/// assert_eq!(err, InvalidPayload::Missing("prompt"));
/// assert_eq!(err.to_string(), "prompt is required");
/// ```
pub fn validate_payload(kind: JobKind, payload: &serde_json::Value) -> Result<(), InvalidPayload> {
    use serde_json::Value;
    let Some(obj) = payload.as_object() else {
        return Err(InvalidPayload::NotAnObject);
    };
    let prompt = |required: bool| match obj.get("prompt") {
        Some(Value::String(s)) if !required || !s.trim().is_empty() => Ok(()),
        Some(Value::String(_)) => Err(InvalidPayload::Missing("prompt")),
        None | Some(Value::Null) if required => Err(InvalidPayload::Missing("prompt")),
        None | Some(Value::Null) => Ok(()),
        Some(_) => Err(InvalidPayload::NotAString("prompt")),
    };
    let images = || match obj.get("images") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(()),
        Some(_) => Err(InvalidPayload::NotStrings("images")),
    };
    match kind {
        JobKind::Chat => {
            prompt(true)?;
            images()
        }
        JobKind::Flatlay => {
            for field in ["modelId", "backgroundId"] {
                match obj.get(field) {
                    Some(Value::String(s)) if !s.trim().is_empty() => {}
                    Some(Value::Number(_)) => {}
                    _ => return Err(InvalidPayload::BadId(field)),
                }
            }
            match obj.get("products") {
                Some(Value::Array(items)) if !items.is_empty() => Ok(()),
                _ => Err(InvalidPayload::EmptyArray("products")),
            }
        }
        JobKind::Mdoli | JobKind::Onmodel | JobKind::Background | JobKind::Legacy => {
            prompt(false)?;
            images()
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
    fn timestamps_accept_z_and_numeric_offsets() {
        let z: Timestamp = "2026-11-28T10:00:00.123Z".parse().unwrap();
        let plus: Timestamp = "2026-11-28T12:00:00.123+02:00".parse().unwrap();
        let minus: Timestamp = "2026-11-28T05:30:00.123-04:30".parse().unwrap();
        let no_fraction: Timestamp = "2026-11-28T10:00:00Z".parse().unwrap();
        assert_eq!(z, plus);
        assert_eq!(z, minus);
        assert_eq!(no_fraction.to_string(), "2026-11-28T10:00:00.000Z");
        // Output is always UTC with `Z` and exactly three digits, truncated.
        assert_eq!(plus.to_string(), "2026-11-28T10:00:00.123Z");
        let micros: Timestamp = "2026-11-28T10:00:00.123999Z".parse().unwrap();
        assert_eq!(micros.to_string(), "2026-11-28T10:00:00.123Z");
        assert_eq!(
            serde_json::to_value(minus).unwrap(),
            json!("2026-11-28T10:00:00.123Z")
        );
        assert!("yesterday".parse::<Timestamp>().is_err());
        assert!(
            "2026-11-28T10:00:00".parse::<Timestamp>().is_err(),
            "no offset"
        );
        assert!("2026-11-28".parse::<Timestamp>().is_err());
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
            assert_eq!(ErrorCode::for_http_status(code.http_status()), code);
        }
        let body: ErrorBody =
            serde_json::from_str(r#"{"success":false,"error":"x","code":"brand_new"}"#).unwrap();
        assert_eq!(body.code, ErrorCode::Other);
    }

    #[test]
    fn validation_follows_the_contract_table() {
        let ok = |k, v: Value| validate_payload(k, &v).is_ok();
        assert!(ok(JobKind::Chat, json!({"prompt": "x", "images": ["a"]})));
        assert!(!ok(JobKind::Chat, json!({"prompt": 3})));
        assert!(!ok(JobKind::Chat, json!({"prompt": "x", "images": [1]})));
        assert!(!ok(JobKind::Chat, json!([])));
        assert!(ok(
            JobKind::Flatlay,
            json!({"modelId": 1, "backgroundId": "2", "products": [{}]})
        ));
        assert!(!ok(
            JobKind::Flatlay,
            json!({"modelId": "", "backgroundId": "2", "products": [{}]})
        ));
        assert!(!ok(
            JobKind::Flatlay,
            json!({"modelId": "1", "backgroundId": "2", "products": []})
        ));
        assert!(ok(JobKind::Legacy, json!({})));
        assert!(ok(JobKind::Onmodel, json!({"anything": true})));
        assert!(!ok(JobKind::Background, json!({"prompt": false})));
        assert!(!ok(JobKind::Mdoli, json!("text")));

        // The texts are the mock server's 400 messages: each names its field.
        let why = |k, v: Value| validate_payload(k, &v).unwrap_err().to_string();
        assert_eq!(why(JobKind::Chat, json!({})), "prompt is required");
        assert_eq!(
            why(JobKind::Chat, json!({"prompt": 3})),
            "prompt must be a string"
        );
        assert_eq!(
            why(JobKind::Legacy, json!({"images": "a"})),
            "images must be an array of strings"
        );
        assert_eq!(
            why(JobKind::Flatlay, json!({"modelId": 1, "products": [1]})),
            "backgroundId is required and must be a non-empty string or a number"
        );
        assert_eq!(
            why(JobKind::Flatlay, json!({"modelId": 1, "backgroundId": 2})),
            "products is required and must be a non-empty array"
        );
        assert_eq!(
            why(JobKind::Chat, json!(null)),
            "request body must be a JSON object"
        );
        assert_eq!(
            validate_payload(JobKind::Chat, &json!({"prompt": ""}))
                .unwrap_err()
                .field(),
            Some("prompt")
        );
    }
}
