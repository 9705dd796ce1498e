//! The request journal: the most recent `/api/v1` requests and their
//! answers, so a UI test can check what its code actually sent
//! (`GET /__admin/requests`).
//!
//! A bounded ring buffer (`--journal-size`, default 1000; 0 turns it off):
//! memory stays flat under any load. Recording builds the entry outside the
//! lock and holds it only for a push and maybe a pop; the JSON view is made
//! only when someone reads the journal. Bearer tokens are never stored:
//! the `Authorization` header keeps a fingerprint, enough to tell callers apart.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, Response, Uri, header};
use serde_json::{Map, Value, json};
use vestis_client::JobId;

use crate::hash::stable_hash;
use crate::request::{RequestBytes, bearer};
use crate::wire_time::wire_time;

/// Bodies are kept up to this many bytes (then cut, and marked so).
pub(crate) const MAX_BODY_KEPT: usize = 16 * 1024;

/// One recorded request and its answer.
#[derive(Debug)]
pub(crate) struct Entry {
    time: SystemTime,
    method: Method,
    /// The request's target as it came (path and query): a clone of
    /// hyper's parsed `Uri`, which shares its bytes rather than copying.
    uri: Uri,
    /// The request's headers in their order, `Authorization` left out: a
    /// list of (shared) clones rather than a copied `HeaderMap`, whose
    /// index table the journal never uses.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The `Authorization` header's fingerprint, formatted only when read.
    auth: Option<Fingerprint>,
    body: Bytes,
    truncated: bool,
    status: u16,
    job_id: Option<JobId>,
    /// The transport fault done to the answer (`reset`, `slow-body=2s`), if any.
    fault: Option<Box<str>>,
}

impl Entry {
    /// Records that the answer was faulted (`"fault": "reset"` when read).
    pub(crate) fn set_fault(&mut self, fault: Box<str>) {
        self.fault = Some(fault);
    }
}

/// Which entries a reader wants.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    pub(crate) method: Option<Method>,
    pub(crate) path: Option<String>,
    pub(crate) job_id: Option<JobId>,
    pub(crate) fault: Option<FaultFilter>,
}

/// `?fault=`: which transport faults a reader wants (`docs/faults.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultFilter {
    /// Any faulted request (`?fault=any`).
    Any,
    /// Requests answered without a fault (`?fault=none`).
    Unfaulted,
    /// Requests given this fault, whatever its duration (`?fault=slow-body`
    /// also finds `slow-body=2s`).
    Named(&'static str),
}

impl FaultFilter {
    fn matches(self, fault: Option<&str>) -> bool {
        match (self, fault) {
            (FaultFilter::Any, found) => found.is_some(),
            (FaultFilter::Unfaulted, found) => found.is_none(),
            (FaultFilter::Named(_), None) => false,
            (FaultFilter::Named(name), Some(found)) => {
                found.split_once('=').map_or(found, |(n, _)| n) == name
            }
        }
    }
}

impl Filter {
    fn matches(&self, e: &Entry) -> bool {
        self.method.as_ref().is_none_or(|m| *m == e.method)
            && self.path.as_ref().is_none_or(|p| *p == e.uri.path())
            && self.job_id.is_none_or(|id| Some(id) == e.job_id)
            && self.fault.is_none_or(|f| f.matches(e.fault.as_deref()))
    }
}

/// The ring buffer.
#[derive(Debug)]
pub(crate) struct Journal {
    capacity: usize,
    entries: Mutex<VecDeque<Arc<Entry>>>,
}

impl Journal {
    pub(crate) fn new(capacity: usize) -> Journal {
        Journal {
            capacity,
            entries: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
        }
    }

    pub(crate) fn is_on(&self) -> bool {
        self.capacity > 0
    }

    fn push(&self, entry: Entry) {
        let entry = Arc::new(entry);
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let evicted = match entries.len() >= self.capacity {
            true => entries.pop_front(),
            false => None,
        };
        entries.push_back(entry);
        drop(entries);
        // Freed after the lock: other requests need not wait for it.
        drop(evicted);
    }

    /// The matching entries, newest first, as JSON.
    pub(crate) fn list(&self, filter: &Filter) -> Vec<Value> {
        // Copy the pointers out, then render without holding the lock.
        let entries: Vec<Arc<Entry>> = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .rev()
            .filter(|e| filter.matches(e))
            .cloned()
            .collect();
        entries.iter().map(|e| render(e)).collect()
    }

    /// Every entry, oldest first, as a HAR 1.2 document
    /// (`GET /__admin/requests.har`): the shape browser developer tools and
    /// HAR viewers open. The journal keeps no answer bodies or timings, so
    /// each response carries its status and content type with an unknown
    /// size (`-1`), and timings are zero.
    pub(crate) fn har(&self) -> Value {
        let entries: Vec<Arc<Entry>> = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        json!({
            "log": {
                "version": "1.2",
                "creator": {"name": "vestis-mock-server", "version": env!("CARGO_PKG_VERSION")},
                "pages": [],
                "entries": entries.iter().map(|e| har_entry(e)).collect::<Vec<_>>(),
            }
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub(crate) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// An `Authorization` header as the journal keeps it: the token's stable
/// hash, never the token; shown as `Bearer fp:0123456789abcdef`.
#[derive(Debug, Clone, Copy)]
struct Fingerprint {
    /// Whether the value was a bearer token (else the whole value is hashed).
    bearer: bool,
    hash: u64,
}

thread_local! {
    /// The last `Authorization` value this thread fingerprinted, and its
    /// fingerprint: a test suite sends one token over and over, and its
    /// parse and SipHash were a quarter of the journal's cost per request.
    /// The value (of any scheme, accepted or not: one per thread) stays in
    /// this process's memory only, never in the journal or an answer.
    static LAST_AUTH: RefCell<Option<(HeaderValue, Fingerprint)>> = const { RefCell::new(None) };
}

impl Fingerprint {
    /// The fingerprint of `value`, from this thread's last one when the
    /// value is the same.
    fn of(value: &HeaderValue) -> Fingerprint {
        LAST_AUTH.with(|last| {
            let mut last = last.borrow_mut();
            if let Some((seen, fingerprint)) = &*last
                && seen.as_bytes() == value.as_bytes()
            {
                return *fingerprint;
            }
            let fingerprint = Fingerprint::compute(value);
            *last = Some((value.clone(), fingerprint));
            fingerprint
        })
    }

    fn compute(value: &HeaderValue) -> Fingerprint {
        let raw = value.as_bytes();
        match std::str::from_utf8(raw).ok().and_then(bearer) {
            Some(token) => Fingerprint {
                bearer: true,
                hash: stable_hash(&[token.as_bytes()]),
            },
            None => Fingerprint {
                bearer: false,
                hash: stable_hash(&[raw]),
            },
        }
    }

    fn text(self) -> String {
        let prefix = if self.bearer { "Bearer " } else { "" };
        format!("{prefix}fp:{:016x}", self.hash)
    }
}

fn render(e: &Entry) -> Value {
    let mut headers = Map::new();
    for (name, value) in &e.headers {
        let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers.insert(name.as_str().to_owned(), Value::String(text));
    }
    if let Some(auth) = e.auth {
        let name = header::AUTHORIZATION.as_str().to_owned();
        headers.insert(name, Value::String(auth.text()));
    }
    let body = if e.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&e.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&e.body).into_owned()))
    };
    json!({
        "time": wire_time(e.time),
        "method": e.method.as_str(),
        "path": e.uri.path(),
        "query": e.uri.query(),
        "headers": headers,
        "body": body,
        "body_truncated": e.truncated,
        "status": e.status,
        "job_id": e.job_id,
        "fault": e.fault.as_deref(),
    })
}

/// One journal entry as a HAR 1.2 `entry`.
fn har_entry(e: &Entry) -> Value {
    let text = |v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
    let mut headers: Vec<Value> = e
        .headers
        .iter()
        .map(|(name, value)| json!({"name": name.as_str(), "value": text(value)}))
        .collect();
    if let Some(auth) = e.auth {
        headers.push(json!({"name": header::AUTHORIZATION.as_str(), "value": auth.text()}));
    }
    let host = e
        .headers
        .iter()
        .find(|(name, _)| *name == header::HOST)
        .map_or_else(|| "localhost".to_owned(), |(_, v)| text(v));
    let target = e.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let query: Vec<Value> = form_urlencoded::parse(e.uri.query().unwrap_or("").as_bytes())
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    let mut request = json!({
        "method": e.method.as_str(),
        "url": format!("http://{host}{target}"),
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": headers,
        "queryString": query,
        "headersSize": -1,
        "bodySize": if e.truncated { -1 } else { e.body.len() as i64 },
    });
    if !e.body.is_empty() {
        let mime = e
            .headers
            .iter()
            .find(|(name, _)| *name == header::CONTENT_TYPE)
            .map_or_else(|| "application/octet-stream".to_owned(), |(_, v)| text(v));
        request["postData"] = json!({
            "mimeType": mime,
            "text": String::from_utf8_lossy(&e.body),
            "params": [],
        });
    }
    let status = axum::http::StatusCode::from_u16(e.status).ok();
    // Every /api/v1 answer is the contract's JSON (errors included, by the
    // JSON safety net): derived here, not copied per request on the hot path.
    let mime = "application/json";
    let response_headers = [json!({"name": header::CONTENT_TYPE.as_str(), "value": mime})];
    json!({
        "startedDateTime": wire_time(e.time),
        "time": 0,
        "request": request,
        "response": {
            "status": e.status,
            "statusText": status.and_then(|s| s.canonical_reason()).unwrap_or(""),
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": response_headers,
            "content": {"size": -1, "mimeType": mime},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        },
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
        "comment": match (e.job_id, e.fault.as_deref()) {
            (Some(id), Some(fault)) => format!("job {id}; transport fault: {fault} (the client did not get this answer whole)"),
            (None, Some(fault)) => format!("transport fault: {fault} (the client did not get this answer whole)"),
            (Some(id), None) => format!("job {id}"),
            (None, None) => String::new(),
        },
        // HAR allows custom fields that start with an underscore.
        "_fault": e.fault.as_deref(),
    })
}

/// The job a path names: `/api/v1/jobs/{id}`.
///
/// Percent-decoded as the router decodes it, so `/api/v1/jobs/%33`, which
/// the router answers for job 3, is recorded as about job 3.
fn job_in_path(path: &str) -> Option<JobId> {
    let raw = path.strip_prefix("/api/v1/jobs/")?;
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?
        .parse()
        .ok()
        // Past it no job exists, and JavaScript would round the number.
        .filter(|id: &JobId| id.0 <= crate::queue::MAX_JOB_ID)
}

/// A request's journal entry, taken before the handlers run; [`finish`]
/// adds its answer and records it.
pub(crate) fn begin(req: &Request) -> Entry {
    let body = req
        .extensions()
        .get::<RequestBytes>()
        .map(|b| b.0.clone())
        .unwrap_or_default();
    // Every `Authorization` value goes; the first is kept as a fingerprint.
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(Fingerprint::of);
    let headers = req
        .headers()
        .iter()
        .filter(|(name, _)| **name != header::AUTHORIZATION)
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let truncated = body.len() > MAX_BODY_KEPT;
    // A copy when cut: a slice would keep the whole (up to --max-body) buffer alive.
    let body = match truncated {
        true => Bytes::copy_from_slice(&body[..MAX_BODY_KEPT]),
        false => body,
    };
    Entry {
        time: SystemTime::UNIX_EPOCH,
        method: req.method().clone(),
        uri: req.uri().clone(),
        headers,
        auth,
        body,
        truncated,
        status: 0,
        job_id: None,
        fault: None,
    }
}

/// Records `entry` with its answer: the status, and the job it was about
/// (the path's, or for a create the one its `Location` names: read from
/// the header the answer carries anyway, where an extension cost an
/// allocation per create).
pub(crate) fn finish(
    journal: &Journal,
    now: SystemTime,
    mut entry: Entry,
    response: &Response<Body>,
) {
    entry.time = now;
    entry.status = response.status().as_u16();
    entry.job_id = job_in_path(entry.uri.path()).or_else(|| {
        response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(job_in_path)
    });
    journal.push(entry);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-thread cache gives what a fresh computation gives, whatever
    /// order values come in: same values, same fingerprint; a new value,
    /// its own.
    #[test]
    fn cached_fingerprints_are_the_computed_ones() {
        let values = [
            "Bearer alpha",
            "Bearer beta",
            "bearer  alpha ",
            "Basic YWxwaGE=",
            "Bearer alpha",
            "Bearer alpha",
            "Bearer beta",
        ];
        for value in values.iter().chain(values.iter().rev()) {
            let value = HeaderValue::from_static(value);
            let (cached, fresh) = (Fingerprint::of(&value), Fingerprint::compute(&value));
            assert_eq!(
                (cached.bearer, cached.hash),
                (fresh.bearer, fresh.hash),
                "{value:?}"
            );
        }
        let alpha = Fingerprint::of(&HeaderValue::from_static("Bearer alpha"));
        let beta = Fingerprint::of(&HeaderValue::from_static("Bearer beta"));
        assert_ne!(alpha.hash, beta.hash);
        assert_eq!(
            alpha.text(),
            Fingerprint::of(&HeaderValue::from_static("bearer  alpha ")).text()
        );
    }
}
