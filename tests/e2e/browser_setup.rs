//! What the browser tests need, found or set up once per run, so that
//! `cargo test --workspace` passes on a fresh clone whatever is installed:
//! a Chromium, Node.js, and the pinned `playwright-core` from npm (installed
//! with `npm ci --prefix tests/browser` when `tests/browser/node_modules`
//! does not hold the locked version, under a file lock so that test
//! processes running at once install it once).
//!
//! Where the tests cannot run (no Chromium, no Node, npm unreachable) they
//! pass, and one line on the terminal says why; CI sets
//! `VESTIS_REQUIRE_BROWSER=1` (`.ci/run`), which turns that line into a
//! failure. `VESTIS_SKIP_BROWSER=1` and `VESTIS_SKIP_NODE=1` opt out
//! explicitly, even then.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// What a browser test runs with.
pub(crate) struct Browser {
    /// The Chromium (or Chrome) executable Playwright launches.
    pub(crate) chromium: PathBuf,
}

/// Why the browser tests do not run.
enum Skip {
    /// The run asked for it (`VESTIS_SKIP_BROWSER=1`, `VESTIS_SKIP_NODE=1`).
    OptedOut(String),
    /// Something they need cannot be had on this machine.
    Unavailable(String),
}

/// The browser to test with, or `None` when the browser tests must not run
/// (then one line, once per process, has said why).
///
/// # Panics
///
/// When the browser cannot be had and `VESTIS_REQUIRE_BROWSER=1` is set.
pub(crate) fn browser() -> Option<&'static Browser> {
    static SETUP: OnceLock<Result<Browser, Skip>> = OnceLock::new();
    let setup = SETUP.get_or_init(|| {
        let setup = set_up();
        match &setup {
            // Under VESTIS_REQUIRE_BROWSER the failure below says it instead.
            Err(Skip::Unavailable(_)) if required() => {}
            Err(Skip::OptedOut(why) | Skip::Unavailable(why)) => {
                announce(&format!("note: the browser tests did not run: {why}"));
            }
            Ok(_) => {}
        }
        setup
    });
    match setup {
        Ok(browser) => Some(browser),
        Err(Skip::Unavailable(why)) if required() => {
            panic!("VESTIS_REQUIRE_BROWSER=1, but {why}")
        }
        Err(_) => None,
    }
}

fn required() -> bool {
    flag("VESTIS_REQUIRE_BROWSER")
}

fn flag(name: &str) -> bool {
    std::env::var(name).as_deref() == Ok("1")
}

/// Writes one line to the terminal. libtest captures what `eprintln!`
/// prints in a passing test, but not a write to the stderr handle itself,
/// so this line shows in a plain `cargo test`.
fn announce(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn set_up() -> Result<Browser, Skip> {
    for opt_out in ["VESTIS_SKIP_BROWSER", "VESTIS_SKIP_NODE"] {
        if flag(opt_out) {
            return Err(Skip::OptedOut(format!("{opt_out}=1")));
        }
    }
    let chromium = chromium()?;
    driver(&root().join("tests/browser"))?;
    Ok(Browser { chromium })
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `VESTIS_CHROMIUM` if set, else the first of the usual names on `PATH`.
fn chromium() -> Result<PathBuf, Skip> {
    if let Some(path) = std::env::var_os("VESTIS_CHROMIUM") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(Skip::Unavailable(format!(
                "VESTIS_CHROMIUM={} does not exist",
                path.display()
            )))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| {
            [
                "chromium",
                "chromium-browser",
                "google-chrome",
                "google-chrome-stable",
            ]
            .map(|name| dir.join(name))
        })
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            Skip::Unavailable(
                "no Chromium on PATH (`apt-get install chromium`, or set \
                 VESTIS_CHROMIUM=/path/to/chrome)"
                    .into(),
            )
        })
}

/// Makes sure `dir/node_modules` holds the `playwright-core` version that
/// `dir/package-lock.json` pins, running `npm ci` (once, under a lock) if not.
fn driver(dir: &Path) -> Result<(), Skip> {
    npm_ci(dir, "playwright-core").map_err(Skip::Unavailable)
}

/// Makes sure `dir/node_modules` holds the version of `package` that
/// `dir/package-lock.json` pins, running `npm ci` there (once, under a
/// lock) if not; the reason when that cannot be done.
pub(crate) fn npm_ci(dir: &Path, package: &str) -> Result<(), String> {
    if installed(dir, package) {
        return Ok(());
    }
    let shown = dir
        .strip_prefix(root())
        .unwrap_or(dir)
        .display()
        .to_string();
    // `npm ci` deletes node_modules first, so two at once would break each
    // other: the lock makes the second wait, then find the work done.
    let lock = File::create(dir.join(".npm-ci.lock"))
        .map_err(|e| format!("cannot create {shown}/.npm-ci.lock: {e}"))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {shown}/.npm-ci.lock: {e}"))?;
    if installed(dir, package) {
        return Ok(());
    }
    let output = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run npm (Node.js and npm are needed): {e}"))?;
    if !output.status.success() || !installed(dir, package) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(format!(
            "`npm ci --prefix {shown}` failed ({}): {first}",
            output.status
        ));
    }
    Ok(())
}

/// Whether the installed `package` is the locked version.
fn installed(dir: &Path, package: &str) -> bool {
    let read = |path: PathBuf| -> Option<serde_json::Value> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    };
    let locked = read(dir.join("package-lock.json")).and_then(|lock| {
        lock["packages"][format!("node_modules/{package}")]["version"]
            .as_str()
            .map(str::to_owned)
    });
    let present = read(dir.join(format!("node_modules/{package}/package.json")))
        .and_then(|package| package["version"].as_str().map(str::to_owned));
    // npm writes its hidden lockfile last: an install cut short has none.
    locked.is_some() && locked == present && dir.join("node_modules/.package-lock.json").is_file()
}
