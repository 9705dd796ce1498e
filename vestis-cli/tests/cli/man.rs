//! The man pages: `vestis man --dir` (the real binary) renders them from the
//! clap definitions; they must equal the committed `docs/man/`, and each
//! page must carry every flag its `--help` shows, so help and man never drift.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn vestis() -> Command {
    let mut cmd = Command::cargo_bin("vestis").unwrap();
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd
}

fn committed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/man")
}

/// The page names in a folder, sorted.
fn pages(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".1"))
        .collect();
    names.sort();
    names
}

#[test]
fn the_committed_man_pages_are_what_the_binary_generates() {
    let dir = tempfile::tempdir().unwrap();
    let out = vestis()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8(out.stdout).unwrap();
    let generated = pages(dir.path());
    assert_eq!(listed.lines().count(), generated.len(), "{listed}");
    for sub in [
        "generate",
        "wait",
        "status",
        "list",
        "cancel",
        "resume",
        "history",
        "completions",
        "verify",
    ] {
        assert!(
            generated.contains(&format!("vestis-{sub}.1")),
            "{generated:?}"
        );
    }
    assert!(
        !generated.contains(&"vestis-man.1".to_owned()),
        "the hidden command has no page"
    );

    let regenerate = "regenerate them: cargo run -p vestis-cli -- man --dir docs/man";
    assert_eq!(
        pages(&committed()),
        generated,
        "docs/man/ is stale; {regenerate}"
    );
    for name in &generated {
        let fresh = std::fs::read_to_string(dir.path().join(name)).unwrap();
        let kept = std::fs::read_to_string(committed().join(name)).unwrap();
        assert!(fresh == kept, "docs/man/{name} is stale; {regenerate}");
    }
}

/// The long flags a help text lists, e.g. `--api-url`.
fn flags(help: &str) -> Vec<String> {
    help.lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with('-'))
        .filter_map(|line| {
            line.split([' ', ',', '=', '<', '['])
                .find(|w| w.starts_with("--"))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_flag_of_help_is_on_its_man_page() {
    for sub in [
        "",
        "generate",
        "wait",
        "status",
        "list",
        "cancel",
        "resume",
        "history",
        "completions",
        "verify",
    ] {
        let args: Vec<&str> = [sub, "--help"]
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        let out = vestis().args(&args).output().unwrap();
        let help = String::from_utf8(out.stdout).unwrap();
        let name = if sub.is_empty() {
            "vestis.1".to_owned()
        } else {
            format!("vestis-{sub}.1")
        };
        // roff escapes every `-` as `\-`.
        let page = std::fs::read_to_string(committed().join(&name))
            .unwrap()
            .replace("\\-", "-");
        let listed = flags(&help);
        assert!(listed.contains(&"--help".to_owned()), "{sub}: {help}");
        for flag in listed {
            assert!(
                page.contains(&flag),
                "{flag} is in `vestis {sub} --help` but not in {name}"
            );
        }
    }
}
