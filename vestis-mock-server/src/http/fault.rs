//! Which `/api/v1` request gets which transport fault (`docs/faults.md`),
//! decided in the front: the `X-Mock-Fault` header, the job's schedule
//! (`X-Mock-Fault-Schedule` on its create), then `--fault-rate`'s seeded
//! draw. [`apply`] marks the answer once the request was handled; the
//! connection does the fault (`super::fault_wire`).
//!
//! Every faulted request is handled first, exactly as without the fault:
//! only its answer is lost, cut, garbled, held back or slowed. So a
//! create whose answer was reset still made its job (what a real server
//! that crashed after committing does, and what `Idempotency-Key` is
//! for), and a faulted poll still counts as a poll.
//!
//! With no fault configured, the cost per request is one pass over the
//! header names and two loads ([`may_fault`]).

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, Method, Response, header};
use vestis_client::JobId;

use super::fault_wire;
use crate::config::HttpFaults;
use crate::config::transport::{Fault, FaultOn, Schedule};
use crate::errors::ApiError;
use crate::state::AppState;

/// `X-Mock-Fault: NAME`: faults the request that carries it.
pub(crate) const X_MOCK_FAULT: HeaderName = HeaderName::from_static("x-mock-fault");
/// `X-Mock-Fault-Schedule: 3:reset, 5:truncate` on a create: faults
/// that job's later polls.
pub(crate) const X_MOCK_FAULT_SCHEDULE: HeaderName =
    HeaderName::from_static("x-mock-fault-schedule");

/// What [`choose`] decided for one request.
pub(crate) enum Choice {
    /// Answer as usual.
    None,
    /// Handle it, then [`apply`] this to the answer.
    Fault(Box<Pending>),
    /// A fault header that cannot be read: answer this 400, unhandled.
    Invalid(ApiError),
}

/// Whether `req` might be faulted at all: the cheap test [`choose`] sits
/// behind on every request.
#[inline]
pub(crate) fn may_fault(state: &AppState, req: &Request, http: &HttpFaults) -> bool {
    http.fault_rate > 0.0
        || state.transport.scheduled.load(Ordering::Relaxed) > 0
        // One pass over the few names a request has, for both headers:
        // cheaper than hashing each name for a lookup.
        || req.headers().keys().any(|name| {
            name.as_str()
                .as_bytes()
                .starts_with(X_MOCK_FAULT.as_str().as_bytes())
        })
}

/// The fault for `req`, in this order: its `X-Mock-Fault` header, its
/// job's schedule (a poll), then `--fault-rate`'s draw.
pub(crate) fn choose(state: &AppState, req: &Request, http: &HttpFaults) -> Choice {
    let headers = req.headers();
    let text = |name: &HeaderName| -> Result<Option<&str>, ApiError> {
        headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .map_err(|_| ApiError::invalid(format!("{name} must be printable ASCII")))
            })
            .transpose()
    };
    let is_create = req.method() == Method::POST && req.uri().path() == "/api/v1/generate";
    let poll = (req.method() == Method::GET)
        .then(|| req.uri().path().strip_prefix("/api/v1/jobs/"))
        .flatten()
        .and_then(|id| id.parse::<JobId>().ok());
    let schedule = match text(&X_MOCK_FAULT_SCHEDULE) {
        Err(e) => return Choice::Invalid(e),
        Ok(None) => None,
        Ok(Some(_)) if !is_create => {
            return Choice::Invalid(ApiError::invalid(
                "X-Mock-Fault-Schedule is read on a create (POST /api/v1/generate) only",
            ));
        }
        Ok(Some(raw)) => match Schedule::parse(raw) {
            Ok(schedule) => Some(schedule),
            Err(e) => {
                return Choice::Invalid(ApiError::invalid(format!("X-Mock-Fault-Schedule: {e}")));
            }
        },
    };
    let asked = match text(&X_MOCK_FAULT) {
        Err(e) => return Choice::Invalid(e),
        Ok(None) => None,
        Ok(Some(raw)) if raw.trim().is_empty() => {
            return Choice::Invalid(ApiError::invalid(format!(
                "X-Mock-Fault is empty: name a fault ({}; slow-body=DURATION), or leave the header out",
                Fault::NAMES.join(", ")
            )));
        }
        Ok(Some(raw)) => match raw.parse::<Fault>() {
            Ok(fault) => Some(fault),
            Err(e) => return Choice::Invalid(ApiError::invalid(format!("X-Mock-Fault: {e}"))),
        },
    };
    // A poll counts toward its job's schedule even when its header wins.
    let scheduled = match poll {
        Some(job) if state.transport.scheduled.load(Ordering::Relaxed) > 0 => {
            state.transport.poll(job)
        }
        _ => None,
    };
    let fault = asked.or(scheduled).or_else(|| {
        let eligible = match http.fault_on {
            FaultOn::All => true,
            FaultOn::Polls => poll.is_some(),
            FaultOn::Creates => is_create,
        };
        (eligible && http.fault_rate > 0.0 && state.chance(http.fault_rate))
            .then(|| http.fault_kinds.nth(state.below(http.fault_kinds.len())))
    });
    match (fault, schedule) {
        (None, None) => Choice::None,
        (fault, schedule) => Choice::Fault(Box::new(Pending { fault, schedule })),
    }
}

/// What [`choose`] decided, kept until the answer is ready.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The fault to do to this answer.
    fault: Option<Fault>,
    /// The schedule to keep for the job this create makes.
    schedule: Option<Schedule>,
}

/// Applies `pending` to `response`, once the request was handled: keeps
/// a create's schedule for the job its `Location` names, counts the
/// fault, writes it into the journal's `entry`, and marks the answer for
/// the connection ([`fault_wire::Armed`]).
pub(crate) fn apply(
    state: &AppState,
    pending: Pending,
    response: &mut Response<Body>,
    entry: Option<&mut crate::journal::Entry>,
) {
    if let Some(schedule) = pending.schedule
        && response.status().is_success()
        && let Some(job) = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|location| location.rsplit('/').next())
            .and_then(|id| id.parse::<JobId>().ok())
    {
        state
            .transport
            .schedule(job, schedule, state.config.max_jobs);
    }
    if let Some(fault) = pending.fault {
        state.transport.count(fault);
        if let Some(entry) = entry {
            entry.set_fault(fault.to_string().into());
        }
        response.extensions_mut().insert(fault_wire::Armed {
            fault,
            closing: state.closing.subscribe(),
        });
    }
}
