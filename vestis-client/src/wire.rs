//! The server's side of the wire: what a program answering the Vestis API
//! writes, rather than what a client reads.
//!
//! A client never needs these: the SDK decodes error answers into
//! [`ApiError`](crate::ApiError) and builds its own URLs. They are here for
//! code that plays the server, so that it writes exactly the contract's
//! bytes: the mock server (`vestis-mock-server`, which uses this module),
//! a `wiremock` double in your tests, a proxy or a gateway in front of the
//! API.
//!
//! # Examples
//!
//! The body and status a server sends for an unknown job:
//!
//! ```
//! use vestis_client::ErrorCode;
//! use vestis_client::wire::{self, ErrorBody};
//!
//! let body = ErrorBody::new(ErrorCode::NotFound, "Job not found");
//! assert_eq!(
//!     serde_json::to_string(&body).unwrap(),
//!     r#"{"success":false,"error":"Job not found","code":"not_found"}"#
//! );
//! assert_eq!(wire::error_code_for_status(404), ErrorCode::NotFound);
//! ```

use serde::{Deserialize, Serialize};

use crate::model::{ErrorCode, JobKind};

/// Every error answer's body: `{ "success": false, "error": "...", "code": "..." }`.
///
/// `#[non_exhaustive]`: build one with [`ErrorBody::new`].
///
/// # Examples
///
/// ```
/// use vestis_client::ErrorCode;
/// use vestis_client::wire::ErrorBody;
///
/// let body: ErrorBody =
///     serde_json::from_str(r#"{"success":false,"error":"Slow down","code":"rate_limited"}"#).unwrap();
/// assert_eq!(body.code, ErrorCode::RateLimited);
/// assert_eq!(body, ErrorBody::new(ErrorCode::RateLimited, "Slow down"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorBody {
    /// `false`: the contract sends it on every error answer so that a
    /// frontend can test one field on any answer.
    pub success: bool,
    /// What the guide's frontend code shows the user.
    pub error: String,
    /// The machine-readable code.
    pub code: ErrorCode,
}

impl ErrorBody {
    /// An error body (`success: false`) with this code and message.
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_client::{ErrorCode, wire::ErrorBody};
    /// let body = ErrorBody::new(ErrorCode::Conflict, "Only pending jobs can be cancelled");
    /// assert!(!body.success);
    /// ```
    pub fn new(code: ErrorCode, error: impl Into<String>) -> ErrorBody {
        ErrorBody {
            success: false,
            error: error.into(),
            code,
        }
    }
}

/// The code a server puts in the body of an error answer with this HTTP
/// status: the contract's pairing ([`ErrorCode::http_status`] turned
/// around), and [`ErrorCode::Internal`] for any status the contract does
/// not pair with a code (500, 502, …).
///
/// A client should not read a status this way (a 502 from a proxy is not
/// an internal error of the API); it has [`ApiError::code`] for what the
/// server said.
///
/// [`ApiError::code`]: crate::ApiError::code
///
/// # Examples
///
/// ```
/// use vestis_client::{ErrorCode, wire::error_code_for_status};
/// assert_eq!(error_code_for_status(429), ErrorCode::RateLimited);
/// assert_eq!(error_code_for_status(502), ErrorCode::Internal);
/// ```
pub fn error_code_for_status(status: u16) -> ErrorCode {
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

/// The query flag that selects `kind` on `POST /generate` (`chat` for
/// `POST /generate?chat=true`), `None` for [`JobKind::Legacy`], the plain
/// `POST /generate`.
///
/// # Examples
///
/// ```
/// use vestis_client::{JobKind, wire::generate_flag};
/// assert_eq!(generate_flag(JobKind::Flatlay), Some("flatlay"));
/// assert_eq!(generate_flag(JobKind::Legacy), None);
/// ```
pub fn generate_flag(kind: JobKind) -> Option<&'static str> {
    match kind {
        JobKind::Legacy => None,
        other => Some(other.as_str()),
    }
}
