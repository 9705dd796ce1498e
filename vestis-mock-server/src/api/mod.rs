//! The `/api/v1` contract: its router and job handlers, and the wire
//! shape of a job they write. Above the queue, below the HTTP front.

pub(crate) mod auth;
pub(crate) mod jobs;
pub(crate) mod render;
