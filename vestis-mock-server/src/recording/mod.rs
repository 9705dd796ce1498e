//! Record and replay: the mock server in front of a real backend
//! (`--proxy-to`, `--record`) and a recording replayed as a living queue
//! (`--replay`). Below the config, above the queue; nothing of HTTP.
//!
//! - `format`: the recording file, its version and its atomic writes.
//! - `replay`: a recording turned into loaded jobs, the queue's per-type
//!   draws and the kept images (`--replay`).

// The recorder, which writes it, lands beside (issue 22).
#[allow(dead_code)]
pub(crate) mod format;
pub(crate) mod replay;

pub use replay::Replay;
