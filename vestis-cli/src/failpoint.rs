//! Crash points for the journal's crash-safety tests: with
//! `VESTIS_FAILPOINT=NAME` (or `NAME:N`, the Nth time) the process aborts
//! at that point, as a SIGKILL would stop it: no destructor, no flush.
//! Unset (always, outside tests) a point costs one cached look-up.
//!
//! The points: `before-create` (journal written, POST not sent),
//! `after-create` (202 read, id not yet journaled), `after-record` (id
//! journaled), `mid-wait` (a status change journaled), `journal-write`
//! (half a journal line written and synced), `before-download` (job
//! completed and journaled), `mid-save` (image in its temporary file, not
//! yet renamed).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The armed point and after how many hits it fires.
fn armed() -> Option<&'static (String, u32)> {
    static ARMED: OnceLock<Option<(String, u32)>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var("VESTIS_FAILPOINT").ok()?;
            match spec.split_once(':') {
                Some((name, n)) => Some((name.to_owned(), n.parse().ok()?)),
                None => Some((spec, 1)),
            }
        })
        .as_ref()
}

/// Whether point `name` fires now (counting this hit).
pub(crate) fn fires(name: &str) -> bool {
    static HITS: AtomicU32 = AtomicU32::new(0);
    match armed() {
        Some((armed, n)) if armed == name => HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n,
        _ => false,
    }
}

/// Aborts the process if point `name` fires now.
pub(crate) fn hit(name: &str) {
    if fires(name) {
        std::process::abort();
    }
}
