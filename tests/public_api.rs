#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test
//! The public API of each library people depend on (`vestis-client`,
//! `vestis-mock-server`, `vestis-verify`), compared with the listing
//! committed next to its `Cargo.toml` (`public-api.txt`), so that every
//! change to a public API shows in review as a diff of that file.
//!
//! How: rustdoc describes a crate as JSON (`--output-format json`), which
//! the `public-api` crate renders as one line per public item (every
//! function signature, field, variant, trait impl, auto-trait impl;
//! blanket impls left out as noise). Rustdoc JSON is unstable, so on the
//! workspace's stable toolchain it is asked for with `RUSTC_BOOTSTRAP=1`,
//! for this one child `cargo rustdoc` only; `public-api` is pinned to the
//! release that reads the format this toolchain writes (a mismatch fails
//! with a message saying so). The child builds into
//! `target/public-api`, its own directory, so it never invalidates the
//! main build (the bootstrap flag is part of what cargo fingerprints) and
//! only its first run builds the libraries' dependencies (check only, no
//! code generation); later runs document just the three crates.
//!
//! After an intended change: `UPDATE_PUBLIC_API=1 cargo test -p
//! vestis-workspace --test public_api`, then commit the listings.

use std::path::{Path, PathBuf};
use std::process::Command;

const UPDATE_WITH: &str = "UPDATE_PUBLIC_API=1 cargo test -p vestis-workspace --test public_api";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The crate's public API, one item a line, from its rustdoc JSON.
fn render(package: &str) -> String {
    let target = workspace().join("target").join("public-api");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(workspace())
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_DIR", &target)
        // The listing is of the crate as published, not as a doc build with
        // the developer's flags sees it.
        .env_remove("RUSTDOCFLAGS")
        .args(["rustdoc", "--quiet", "--lib", "-p", package, "--"])
        .args(["-Z", "unstable-options", "--output-format", "json"])
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo rustdoc -p {package} (JSON) failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json = target
        .join("doc")
        .join(format!("{}.json", package.replace('-', "_")));
    public_api::Builder::from_rustdoc_json(&json)
        .omit_blanket_impls(true)
        .build()
        .unwrap_or_else(|e| {
            panic!(
                "cannot read {}: {e}\n(the public-api crate must read the rustdoc JSON format \
                 this toolchain writes; see [workspace.dependencies] public-api)",
                json.display()
            )
        })
        .to_string()
}

/// Compares `package`'s API with its committed listing, or rewrites the
/// listing when `UPDATE_PUBLIC_API` is set.
fn check(package: &str) {
    let listing = workspace().join(package).join("public-api.txt");
    let built = render(package);
    if std::env::var_os("UPDATE_PUBLIC_API").is_some() {
        std::fs::write(&listing, &built).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&listing).unwrap_or_default();
    if committed != built {
        panic!(
            "the public API of {package} differs from {}:\n{}\n\
             If the change is intended, update with: {UPDATE_WITH}\n\
             and commit the listing (a removed or changed line breaks users).",
            relative(&listing),
            diff(&committed, &built)
        );
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(workspace())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A line diff (longest common subsequence): `- ` for a line only in the
/// listing, `+ ` for one only in the built crate, so a moved or repeated
/// line (a second `impl` block) shows too.
fn diff(committed: &str, built: &str) -> String {
    let old: Vec<&str> = committed.lines().collect();
    let new: Vec<&str> = built.lines().collect();
    // lcs[i][j]: the common subsequence's length of old[i..] and new[j..].
    let mut lcs = vec![vec![0u32; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            i += 1;
            j += 1;
        } else if j < new.len() && (i == old.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(format!("+ {}", new[j]));
            j += 1;
        } else {
            out.push(format!("- {}", old[i]));
            i += 1;
        }
    }
    out.join("\n")
}

#[test]
fn vestis_client_public_api_matches_its_listing() {
    check("vestis-client");
}

#[test]
fn vestis_mock_server_public_api_matches_its_listing() {
    check("vestis-mock-server");
}

#[test]
fn vestis_verify_public_api_matches_its_listing() {
    check("vestis-verify");
}

#[test]
fn a_change_shows_as_removed_and_added_lines() {
    assert_eq!(
        diff("pub fn a()\npub fn b()\n", "pub fn a()\npub fn c()\n"),
        "+ pub fn c()\n- pub fn b()"
    );
    // A line that moved, next to an equal one that stayed, still shows.
    assert_eq!(
        diff("impl A\nfn x\nimpl A\n", "impl A\nimpl A\nfn x\n"),
        "+ impl A\n- impl A"
    );
}
