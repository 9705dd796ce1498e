//! The npm package `vestis-mock-server`: `npm/build.sh` packs it around this
//! build's binary, `npm install --offline` puts the tarballs into a scratch
//! project, and `tests/js/npm/frontend-check.mjs` runs docs/frontend.md's Jest,
//! Vitest, Cypress, Playwright and npm-scripts blocks and the guide's
//! JavaScript through `startMockServer`, exactly as a frontend team would.
//!
//! Needs Node.js and npm (part of this project's machine image); where they
//! are missing the test fails, saying so, unless `VESTIS_SKIP_NODE=1` opts
//! out explicitly.

use std::path::Path;
use std::process::{Command, Output};

use crate::repo;

fn skipped() -> bool {
    let skip = std::env::var("VESTIS_SKIP_NODE").as_deref() == Ok("1");
    if skip {
        eprintln!("skipped: VESTIS_SKIP_NODE=1");
    }
    skip
}

/// Runs a command to completion; panics with its output unless it succeeds.
fn run(command: &mut Command) -> Output {
    let shown = format!("{command:?}");
    let output = command.output().unwrap_or_else(|e| {
        panic!("{shown}: {e} (node and npm are needed, or set VESTIS_SKIP_NODE=1)")
    });
    assert!(
        output.status.success(),
        "{shown} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A scratch npm project with the packed tarballs installed from disk only.
fn scratch_project(dir: &Path) -> std::path::PathBuf {
    let packed = dir.join("packed");
    let built = run(Command::new(repo().join("npm/build.sh"))
        .args([
            "--binary",
            env!("CARGO_BIN_EXE_vestis-mock-server"),
            "--out",
        ])
        .arg(&packed));
    let tarballs: Vec<String> = String::from_utf8(built.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(tarballs.len(), 2, "{tarballs:?}");

    let project = dir.join("project");
    std::fs::create_dir(&project).unwrap();
    let snippets = repo().join("tests/js/npm/snippets");
    let scripts: serde_json::Value =
        serde_json::from_slice(&std::fs::read(snippets.join("package.scripts.json")).unwrap())
            .unwrap();
    let mut scripts = scripts["scripts"].clone();
    scripts["dev"] = "node dev-server.mjs".into();
    let manifest = serde_json::json!({"name": "scratch", "private": true, "type": "module", "scripts": scripts});
    std::fs::write(project.join("package.json"), manifest.to_string()).unwrap();
    for dir in [
        &snippets,
        &repo().join("tests/js/npm"),
        &repo().join("tests/js"),
    ] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, project.join(path.file_name().unwrap())).unwrap();
            }
        }
    }
    // No registry: the tarballs are all there is, and the cache is a new one.
    run(Command::new("npm")
        .args([
            "install",
            "--offline",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ])
        .args(&tarballs)
        .env("npm_config_cache", dir.join("npm-cache"))
        .env("npm_config_update_notifier", "false")
        .current_dir(&project));
    project
}

#[test]
fn the_packed_npm_package_runs_the_frontend_blocks_and_the_guide_offline() {
    if skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let project = scratch_project(dir.path());

    let output = run(Command::new("node")
        .arg("frontend-check.mjs")
        .env("npm_config_cache", dir.path().join("npm-cache"))
        .env("npm_config_update_notifier", "false")
        .env_remove("VESTIS_MOCK_SERVER_BINARY")
        .current_dir(&project));
    let report: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&output.stdout).trim()).unwrap();
    assert_eq!(
        report["jest"]["guide"].as_array().unwrap().last().unwrap(),
        "completed"
    );
    assert_eq!(report["vitest"], "completed");
    assert_eq!(report["cypress"], "cancelled");
    assert_eq!(report["playwright"]["webServers"], 2);
    assert!(
        report["npmScripts"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );

    // `npx vestis-mock-server` is the binary: its flags, its exit codes.
    let bad = Command::new(project.join("node_modules/.bin/vestis-mock-server"))
        .args(["--workers", "0"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--workers"));
}

#[test]
fn the_frontend_page_shows_each_block_verbatim() {
    let page = std::fs::read_to_string(repo().join("docs/frontend.md")).unwrap();
    let snippets = repo().join("tests/js/npm/snippets");
    for entry in std::fs::read_dir(&snippets).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            page.contains(&text),
            "docs/frontend.md must show {} verbatim (the npm test runs that file)",
            path.display()
        );
    }
}
