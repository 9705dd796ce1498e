//! Record and replay: the mock server in front of a real backend
//! (`--proxy-to`, `--record`) and a recording replayed as a living queue
//! (`--replay`); nothing of the server's HTTP layer (the proxy's hook
//! into it is `http::proxy`), only the client that talks to the real
//! backend.
//!
//! Two levels: `format` and `replay` sit below the config (which holds a
//! read [`Replay`]) and import only the queue and what is below it;
//! `recorder`, `upstream` and `summary` sit above the config (they read
//! the proxy's settings) and below the shared state.
//!
//! - `format`: the recording file, its version and its atomic writes.
//! - `replay`: a recording turned into loaded jobs, the queue's per-type
//!   draws and the kept images (`--replay`).
//! - `upstream`: the real backend as the proxy talks to it (timeouts,
//!   rustls, no redirects, bounded answers, one-sentence failures).
//! - `recorder`: what the proxy saw, the follower that polls unfinished
//!   jobs, the images kept, and the saves.
//! - `summary`: what a recording holds, for `GET /__admin/recording`.

pub(crate) mod format;
pub(crate) mod recorder;
pub(crate) mod replay;
pub(crate) mod summary;
pub(crate) mod upstream;

pub(crate) use recorder::Recorder;
pub use replay::Replay;
