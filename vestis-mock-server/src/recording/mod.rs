//! Record and replay: the mock server in front of a real backend
//! (`--proxy-to`, `--record`) and a recording replayed as a living queue
//! (`--replay`). Below the shared state, above the queue; nothing of HTTP.
//!
//! - `format`: the recording file, its version and its atomic writes.

// The recorder and the replay, which use it, land next (issue 22).
#[allow(dead_code)]
pub(crate) mod format;
