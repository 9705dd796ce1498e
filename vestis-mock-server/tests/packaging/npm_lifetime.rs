//! The npm package's server never outlives the Node process that started
//! it: a script that called `startMockServer()` (or `npx
//! vestis-mock-server`) is killed with SIGTERM, SIGINT or SIGKILL, sent
//! to it alone as a CI runner does, and the server must be gone and its
//! port free soon after. `process.on('exit')` runs on none of these.
//!
//! Runs the package from the source tree (no packing needed) against this
//! build's binary, through `VESTIS_MOCK_SERVER_BINARY`. Needs Node.js, or
//! `VESTIS_SKIP_NODE=1` to opt out explicitly.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::repo;

/// A parent that starts the server (a short head deadline, to see the
/// option reach the binary), prints `PID URL`, and idles.
const PARENT: &str = r#"
const { startMockServer } = require(process.argv[1]);
startMockServer({ headTimeout: '300ms' }).then((mock) => {
  console.log(`${mock.process.pid} ${mock.url}`);
  setInterval(() => {}, 1000);
});
"#;

fn skipped() -> bool {
    let skip = std::env::var("VESTIS_SKIP_NODE").as_deref() == Ok("1");
    if skip {
        eprintln!("skipped: VESTIS_SKIP_NODE=1");
    }
    skip
}

/// `node ARGS`, stdout piped, the binary named by the variable.
fn node(args: &[&str]) -> Child {
    Command::new("node")
        .args(args)
        .env(
            "VESTIS_MOCK_SERVER_BINARY",
            env!("CARGO_BIN_EXE_vestis-mock-server"),
        )
        .env_remove("VESTIS_MOCK_HOST")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("node: {e} (Node.js is needed, or set VESTIS_SKIP_NODE=1)"))
}

fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim().to_owned()
}

fn kill(pid: u32, signal: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill -{signal} {pid}");
}

/// Whether `pid` is still a live process (a zombie is not: it holds
/// nothing, and only waits for whoever adopted it to reap it).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat.rsplit(") ").next().unwrap_or_default();
            !state.starts_with('Z') && !state.starts_with('X')
        }
    }
}

fn answers(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

fn address(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

/// Waits (generously) for `gone`; false if it never happens.
fn eventually(mut gone: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if gone() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn start_mock_server_never_outlives_its_process_however_it_ends() {
    if skipped() {
        return;
    }
    let index = repo().join("npm/vestis-mock-server/index.js");
    for signal in ["TERM", "INT", "KILL"] {
        let mut parent = node(&["-e", PARENT, index.to_str().unwrap()]);
        let line = first_line(&mut parent);
        let (pid, url) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("SIG{signal}: no `PID URL` line: {line:?}"));
        let pid: u32 = pid.parse().unwrap();
        let addr = address(url);
        assert!(answers(addr), "SIG{signal}: the server is not up");
        // headTimeout: a silent connection is closed.
        let mut silent = TcpStream::connect(addr).unwrap();
        silent
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let closed = std::io::Read::read(&mut silent, &mut [0u8; 16]);
        assert!(
            matches!(closed, Ok(0)),
            "SIG{signal}: headTimeout: {closed:?}"
        );

        kill(parent.id(), signal);
        let _ = parent.wait();
        let ended = eventually(|| !alive(pid) && !answers(addr));
        if !ended {
            kill(pid, "KILL"); // do not leave it behind for the next test
        }
        assert!(
            ended,
            "SIG{signal} to its parent: the server (pid {pid}) lives on at {url}"
        );
    }
}

#[test]
fn npx_vestis_mock_server_never_outlives_its_process_however_it_ends() {
    if skipped() {
        return;
    }
    let bin = repo().join("npm/vestis-mock-server/bin/vestis-mock-server.js");
    for signal in ["TERM", "INT", "KILL"] {
        let mut wrapper = node(&[bin.to_str().unwrap(), "--port", "0"]);
        let line = first_line(&mut wrapper);
        let url = line
            .strip_prefix("vestis-mock-server listening on ")
            .unwrap_or_else(|| panic!("SIG{signal}: no ready line: {line:?}"))
            .to_owned();
        let addr = address(&url);
        assert!(answers(addr), "SIG{signal}: the server is not up");

        kill(wrapper.id(), signal);
        let _ = wrapper.wait();
        assert!(
            eventually(|| !answers(addr)),
            "SIG{signal} to `npx vestis-mock-server`: the server lives on at {url}"
        );
    }
}

/// The platform package missing (a lockfile written on a Mac, installed
/// on Linux; optional dependencies omitted): the error names the likely
/// causes, the fix for each, and `VESTIS_MOCK_SERVER_BINARY`, both from
/// `binaryPath()` and from `startMockServer()`.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn a_missing_platform_package_names_the_causes_the_fixes_and_the_variable() {
    if skipped() {
        return;
    }
    // From the source tree, where no platform package is installed.
    let script = r#"
const pkg = require(process.argv[1]);
let sync;
try { pkg.binaryPath(); } catch (e) { sync = e.message; }
pkg.startMockServer().then(
  () => { console.log(JSON.stringify({ sync, started: true })); process.exit(1); },
  (e) => console.log(JSON.stringify({ sync, async: e.message })),
);
"#;
    let index = repo().join("npm/vestis-mock-server/index.js");
    let output = Command::new("node")
        .args(["-e", script, index.to_str().unwrap()])
        .env_remove("VESTIS_MOCK_SERVER_BINARY")
        .env_remove("NODE_PATH")
        .output()
        .unwrap_or_else(|e| panic!("node: {e} (Node.js is needed, or set VESTIS_SKIP_NODE=1)"));
    let text = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value =
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
    for key in ["sync", "async"] {
        let message = report[key].as_str().unwrap_or_else(|| panic!("{report}"));
        for needle in [
            "@vestis/mock-server-linux-x64",
            // Cause 1 and its fix.
            "lockfile",
            "package-lock.json",
            // Cause 2 and its fix.
            "--omit=optional",
            "--no-optional",
            // The way around both.
            "VESTIS_MOCK_SERVER_BINARY",
            "cargo install vestis-mock-server",
        ] {
            assert!(
                message.contains(needle),
                "{key}: no {needle:?} in:\n{message}"
            );
        }
        // The old advice, which does not help with a foreign lockfile, is gone.
        assert!(
            !message.contains("reinstall without that flag"),
            "{message}"
        );
    }
}
