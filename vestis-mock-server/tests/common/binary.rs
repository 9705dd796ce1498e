//! The `vestis-mock-server` binary as a child process, written once for
//! every test binary that runs it (`http` for its flags and exit codes,
//! `hardening` for logs, memory and soak runs). Each includes this file
//! with `#[path = "../common/binary.rs"] mod spawned;`.

// Not every test binary uses every helper.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};

/// The binary, ready for `args` and `.output()`: for runs that end by
/// themselves (a bad flag, a busy port, `--help`).
pub(crate) fn command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vestis-mock-server"))
}

/// `vestis-mock-server` running as a child process on a free port, its
/// stderr kept in a file. Killed when dropped.
pub(crate) struct Spawned {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    /// The first line it printed on stdout, as printed.
    pub(crate) first_line: String,
    /// The rest of stdout, kept open: a closed pipe would fail its writes.
    stdout: BufReader<ChildStdout>,
    stderr: tempfile::NamedTempFile,
}

impl Spawned {
    /// Starts the binary with `--port 0` and `args`, plus `env` (with no
    /// `VESTIS_MOCK_HOST` or `RUST_LOG` from the test's own environment
    /// unless `env` sets them); waits for its "listening" line.
    pub(crate) fn start(args: &[&str], env: &[(&str, &str)]) -> Spawned {
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let mut command = command();
        command
            .args(["--port", "0"])
            .args(args)
            .env_remove("VESTIS_MOCK_HOST")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().unwrap());
        let mut child = command.spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(url.starts_with("http://"), "no listening line: {line:?}");
        Spawned {
            child,
            url,
            first_line: line,
            stdout,
            stderr,
        }
    }

    /// The process id, e.g. to read `/proc/PID/status`.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`"-TERM"`, `"-INT"`) with `kill`.
    #[cfg(unix)]
    pub(crate) fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for the server to exit by itself (after [`Spawned::signal`]);
    /// answers its exit code and what it printed on stdout after the first line.
    pub(crate) fn wait(&mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        (status.code(), rest)
    }

    /// What it printed on stderr so far.
    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    /// Kills it with SIGKILL (nothing of it runs after) and waits.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the server; returns its stdout's first line and all its stderr.
    pub(crate) fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let logs = std::fs::read_to_string(self.stderr.path()).unwrap_or_default();
        format!("{}{logs}", self.first_line)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
