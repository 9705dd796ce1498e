//! The `/api/v1` contract: its router (here) and job handlers (`jobs`), the
//! caller's checks (`auth`), query strings (`query`, which the admin API
//! reads its page numbers with too) and the wire shape of a job they
//! write (`render`). Above the queue, below the HTTP front.

pub(crate) mod auth;
pub(crate) mod jobs;
pub(crate) mod query;
pub(crate) mod render;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// The mock's `X-Mock-Max-Attempts`, on every `/api/v1` answer: the
/// contract has no field for it, and a client that shows `attempt 2/3`
/// needs the 3. A `HeaderName` constant: inserting by `&str` parsed the
/// name again on every answer.
pub(crate) const MAX_ATTEMPTS_HEADER: axum::http::HeaderName =
    axum::http::HeaderName::from_static("x-mock-max-attempts");

/// The `/api/v1` routes, full paths, with the contract's JSON 404 for
/// any other `/api/v1` path. Every handler's first step is
/// [`Caller::authorize`](auth::Caller::authorize) (the token, the rate
/// limit and the injected errors), on the router and the fast routes
/// alike; a wrong method is 405 before it, no token needed. Latency,
/// counting and the journal are [`Front`](crate::http::front::Front),
/// around this router. `Front` answers a create, a list and a poll by a
/// plain-digit id itself, with the same functions as the handlers
/// ([`jobs::create`], [`jobs::list`], [`jobs::poll_job`]); the router has
/// the rest, and everything under `--latency`.
///
/// The body is read whole before the router (`http::conn::read_body`, bounded
/// by `--max-body`); create takes it from the request's extensions.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/generate", post(jobs::create_job))
        .route("/api/v1/jobs", get(jobs::list_jobs))
        .route(
            "/api/v1/jobs/{id}",
            get(jobs::get_job).delete(jobs::cancel_job),
        )
        .fallback(crate::errors::not_found)
        .with_state(state)
}
