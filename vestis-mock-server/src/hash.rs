//! The one hash behind seeded determinism: SipHash-1-3 with fixed keys.
//!
//! `std`'s `DefaultHasher` is not promised to give the same values across
//! Rust releases, so a seed could replay differently after a toolchain
//! update. SipHash-1-3 is a fixed, documented algorithm; with the keys
//! below, a seed gives the same durations, outcomes and image bytes on
//! every build, which a test pins.

use std::hash::Hasher;

use siphasher::sip::SipHasher13;

/// The keys: fixed forever (changing them changes every seeded run).
const KEYS: (u64, u64) = (0x7665_7374_6973_2d6d, 0x6f63_6b2d_7365_6564);

/// A stable 64-bit hash of `parts`, each fed as length-prefixed bytes so
/// that `["ab", "c"]` and `["a", "bc"]` differ.
pub(crate) fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h = SipHasher13::new_with_keys(KEYS.0, KEYS.1);
    for part in parts {
        h.write(&(part.len() as u64).to_le_bytes());
        h.write(part);
    }
    h.finish()
}

/// `fp:0123456789abcdef`: a token's stable hash, shown instead of the
/// token (the journal's and the dashboard's fingerprint; equal tokens,
/// equal fingerprints).
pub(crate) fn token_fingerprint(token: &str) -> String {
    format!("fp:{:016x}", stable_hash(&[token.as_bytes()]))
}

/// How a replayed job's owner begins when no `--token` maps its recorded
/// fingerprint: `unmapped fp:0123456789abcdef`. The space keeps every
/// bearer token out (a token never holds one), the fingerprint after it
/// is what the admin API shows and filters by.
pub(crate) const UNMAPPED_OWNER: &str = "unmapped ";

/// The fingerprint the admin API shows for a job's owner: the token's,
/// or, for an unmapped replayed job, the recorded one.
pub(crate) fn owner_fingerprint(owner: &str) -> String {
    match owner.strip_prefix(UNMAPPED_OWNER) {
        Some(recorded) => recorded.to_owned(),
        None => token_fingerprint(owner),
    }
}

/// The seed of one processing attempt's draws: depends only on the server's
/// seed, the job and the attempt number, never on timing or worker order.
pub(crate) fn attempt_seed(seed: u64, job: u64, attempt: u32) -> u64 {
    stable_hash(&[
        &seed.to_le_bytes(),
        &job.to_le_bytes(),
        &attempt.to_le_bytes(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_pinned() {
        // If these change, every seeded run changes: that must be deliberate.
        assert_eq!(attempt_seed(1, 1, 1), attempt_seed(1, 1, 1));
        assert_ne!(attempt_seed(1, 1, 1), attempt_seed(1, 1, 2));
        assert_ne!(stable_hash(&[b"ab", b"c"]), stable_hash(&[b"a", b"bc"]));
        assert_eq!(stable_hash(&[b"vestis"]), PINNED);
    }

    const PINNED: u64 = 16_249_828_794_186_134_143;
}
