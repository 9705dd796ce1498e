//! Record and replay: the mock server in front of a real backend
//! (`--proxy-to`, `--record`) and a recording replayed as a living queue
//! (`--replay`). Below the shared state, above the queue and the config;
//! nothing of the server's HTTP layer (the proxy's hook into it is
//! `http::proxy`), only the client that talks to the real backend.
//!
//! - `format`: the recording file, its version and its atomic writes.
//! - `upstream`: the real backend as the proxy talks to it (timeouts,
//!   rustls, no redirects, bounded answers, one-sentence failures).
//! - `recorder`: what the proxy saw, the follower that polls unfinished
//!   jobs, the images kept, and the saves.
//! - `summary`: what a recording holds, for `GET /__admin/recording`.

pub(crate) mod format;
pub(crate) mod recorder;
pub(crate) mod summary;
pub(crate) mod upstream;

pub(crate) use recorder::Recorder;
