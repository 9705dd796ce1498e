//! Fixtures: jobs in any state, for any token, loaded from `--fixtures
//! FILE` at start (and on every reset) or by `POST /__admin/jobs`.
//!
//! The shape is a JSON array of jobs as the API returns them, plus `token`
//! (their owner) and `payload`. Each field is checked by hand rather than
//! by serde's derive so that an error names the entry and the field, e.g.
//! `entry 2: status: expected one of pending, ... got "done"`.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Map, Value};
use vestis_client::{JobId, JobKind, JobStatus, validate_payload};

use crate::queue::{Loaded, State};
use crate::wire_time::parse_time;

/// Fields an entry may have (`owner` is accepted for `token`, and
/// `token_fingerprint` is ignored, so the output of `GET /__admin/jobs`
/// loads back).
const FIELDS: [&str; 13] = [
    "job_id",
    "token",
    "owner",
    "token_fingerprint",
    "status",
    "job_type",
    "payload",
    "created_at",
    "started_at",
    "completed_at",
    "attempts",
    "result",
    "error",
];

/// Why fixtures were refused: which entry, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FixtureError {
    /// The file could not be read.
    #[error("cannot read fixtures {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// Not a JSON array at all.
    #[error("fixtures must be a JSON array of jobs: {0}")]
    NotAnArray(String),
    /// One entry's field is wrong.
    #[error("entry {entry}: {field}: {reason}")]
    Field {
        /// The entry's index in the array, from 0.
        entry: usize,
        /// The field, as written in the file.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A validated list of jobs to load.
///
/// # Examples
///
/// ```
/// use vestis_mock_server::config::Fixtures;
///
/// let ok = Fixtures::parse(r#"[{"token": "t", "status": "completed", "job_type": "legacy"}]"#);
/// assert_eq!(ok.unwrap().len(), 1);
/// let bad = Fixtures::parse(r#"[{"token": "t", "status": "done"}]"#).unwrap_err();
/// assert!(bad.to_string().starts_with("entry 0: status:"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fixtures(pub(crate) Vec<Loaded>);

impl Fixtures {
    /// Reads and validates a fixtures file.
    ///
    /// # Errors
    ///
    /// [`FixtureError::Read`] when the file cannot be read, else as [`Fixtures::parse`].
    pub fn from_file(path: &Path) -> Result<Fixtures, FixtureError> {
        let text = std::fs::read_to_string(path).map_err(|e| FixtureError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Fixtures::parse(&text)
    }

    /// Validates fixtures text: a JSON array of job objects.
    ///
    /// # Errors
    ///
    /// [`FixtureError::NotAnArray`] for malformed JSON or another shape;
    /// [`FixtureError::Field`] for the first bad field of the first bad entry.
    pub fn parse(text: &str) -> Result<Fixtures, FixtureError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| FixtureError::NotAnArray(e.to_string()))?;
        Fixtures::from_value(&value)
    }

    /// Validates an already decoded JSON array (the admin route's body).
    ///
    /// # Errors
    ///
    /// As [`Fixtures::parse`].
    pub fn from_value(value: &Value) -> Result<Fixtures, FixtureError> {
        let Value::Array(entries) = value else {
            return Err(FixtureError::NotAnArray(
                "the top level is not an array".into(),
            ));
        };
        let mut seen = std::collections::HashSet::new();
        let mut jobs = Vec::with_capacity(entries.len());
        for (entry, job) in entries.iter().enumerate() {
            let loaded = entry_of(entry, job)?;
            if let Some(id) = loaded.id
                && !seen.insert(id)
            {
                return Err(field_error(entry, "job_id", format!("{id} appears twice")));
            }
            jobs.push(loaded);
        }
        Ok(Fixtures(jobs))
    }

    /// How many jobs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn field_error(entry: usize, field: &str, reason: impl Into<String>) -> FixtureError {
    FixtureError::Field {
        entry,
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// One entry of the array, read field by field.
struct Entry<'a> {
    index: usize,
    map: &'a Map<String, Value>,
}

impl Entry<'_> {
    fn err(&self, field: &str, reason: impl Into<String>) -> FixtureError {
        field_error(self.index, field, reason)
    }

    /// The field's value, `None` when absent or null.
    fn get(&self, field: &str) -> Option<&Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    fn owner(&self) -> Result<Arc<str>, FixtureError> {
        let (field, value) = match (self.get("token"), self.get("owner")) {
            (Some(t), _) => ("token", t),
            (None, Some(o)) => ("owner", o),
            (None, None) => return Err(self.err("token", "is required (the job's owner)")),
        };
        match value.as_str() {
            Some(t) if !t.is_empty() && !t.contains(char::is_whitespace) => Ok(Arc::from(t)),
            _ => Err(self.err(field, "must be a non-empty token without spaces")),
        }
    }

    fn state(&self) -> Result<State, FixtureError> {
        self.get("status")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<JobStatus>().ok())
            .and_then(|s| State::from_public(&s))
            .ok_or_else(|| {
                self.err(
                    "status",
                    format!(
                        "expected one of pending, processing, completed, failed, cancelled, got {}",
                        self.map.get("status").unwrap_or(&Value::Null)
                    ),
                )
            })
    }

    fn kind(&self) -> Result<JobKind, FixtureError> {
        match self.get("job_type") {
            None => Ok(JobKind::Legacy),
            Some(v) => v
                .as_str()
                .and_then(|s| s.parse::<JobKind>().ok())
                .ok_or_else(|| self.err("job_type", format!("not a job type: {v}"))),
        }
    }

    fn attempts(&self, state: State) -> Result<Option<u32>, FixtureError> {
        let Some(v) = self.get("attempts") else {
            return Ok(None);
        };
        let n = v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                self.err(
                    "attempts",
                    format!("must be a non-negative integer, got {v}"),
                )
            })?;
        if state == State::Processing && n == 0 {
            return Err(self.err("attempts", "a processing job has at least 1"));
        }
        Ok(Some(n))
    }

    fn error(&self) -> Result<Option<String>, FixtureError> {
        match self.get("error") {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(v) => Err(self.err("error", format!("must be a non-empty string, got {v}"))),
        }
    }

    fn id(&self) -> Result<Option<JobId>, FixtureError> {
        let Some(v) = self.get("job_id") else {
            return Ok(None);
        };
        v.as_u64()
            .filter(|n| *n > 0 && *n < u64::MAX / 2)
            .map(|n| Some(JobId(n)))
            .ok_or_else(|| self.err("job_id", format!("must be a positive integer, got {v}")))
    }
}

/// One entry, checked field by field.
fn entry_of(index: usize, job: &Value) -> Result<Loaded, FixtureError> {
    let Value::Object(map) = job else {
        return Err(field_error(index, "(entry)", "must be a JSON object"));
    };
    let e = Entry { index, map };
    if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(e.err(
            unknown,
            format!("unknown field (known: {})", FIELDS.join(", ")),
        ));
    }
    let state = e.state()?;
    let kind = e.kind()?;
    let payload = e
        .get("payload")
        .cloned()
        .unwrap_or(Value::Object(Map::new()));
    validate_payload(kind, &payload).map_err(|reason| e.err("payload", reason.to_string()))?;
    if e.get("result").is_some_and(|r| !r.is_object()) {
        return Err(e.err("result", "must be an object or null"));
    }
    let [created_at, started_at, completed_at] = times(index, map)?;
    Ok(Loaded {
        id: e.id()?,
        owner: e.owner()?,
        kind,
        state,
        payload,
        created_at,
        started_at,
        completed_at,
        attempts: e.attempts(state)?,
        error: e.error()?,
    })
}

/// `created_at`, `started_at`, `completed_at`: RFC 3339, in that order.
fn times(entry: usize, map: &Map<String, Value>) -> Result<[Option<SystemTime>; 3], FixtureError> {
    let names = ["created_at", "started_at", "completed_at"];
    let mut out = [None; 3];
    for (slot, name) in out.iter_mut().zip(names) {
        *slot = match map.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_str().and_then(parse_time).ok_or_else(|| {
                field_error(
                    entry,
                    name,
                    format!("must be an RFC 3339 timestamp, got {v}"),
                )
            })?),
        };
    }
    for i in 1..3 {
        if let (Some(later), Some(earlier)) = (out[i], out[..i].iter().rev().flatten().next())
            && later < *earlier
        {
            return Err(field_error(
                entry,
                names[i],
                "is earlier than the job's previous timestamp",
            ));
        }
    }
    Ok(out)
}
