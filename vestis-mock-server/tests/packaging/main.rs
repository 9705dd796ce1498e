//! How users outside Cargo get the mock server: the npm package (packed,
//! installed offline into a scratch project, driven from JavaScript) and the
//! statically linked binary of the container image.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod container;
mod npm;
mod npm_lifetime;

use std::path::{Path, PathBuf};

/// The repository's root (this crate's parent folder).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}
