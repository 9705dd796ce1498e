//! The reader pages' Rust blocks, compiled as doctests so they cannot rot.
//!
//! Cargo finds Rust code in Markdown only through a crate's documentation,
//! so this file (the library of the unpublished root package) includes each
//! page under `docs/` that holds Rust, and `cargo test --workspace` compiles
//! every block (and runs those not marked `no_run`). The README's block is
//! compiled by `vestis-client`, whose `lib.rs` includes the README; each
//! crate's README by its own crate.

/// `docs/sdk.md`.
#[cfg(doctest)]
#[doc = include_str!("sdk.md")]
struct SdkPage;

/// `docs/record-replay.md`.
#[cfg(doctest)]
#[doc = include_str!("record-replay.md")]
struct RecordReplayPage;

/// `docs/mock-server.md`.
#[cfg(doctest)]
#[doc = include_str!("mock-server.md")]
struct MockServerPage;

/// `docs/verify.md`.
#[cfg(doctest)]
#[doc = include_str!("verify.md")]
struct VerifyPage;
