//! Shared helpers: a fast config, and the server binary as its own process.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use vestis_mock_server::{Config, DurationRange};

/// A config whose jobs finish in 20 ms, seeded.
pub(crate) fn fast() -> Config {
    let mut config = Config::default();
    config.faults.processing_time = DurationRange::fixed(Duration::from_millis(20));
    config.seed = Some(7);
    config
}

/// `vestis-mock-server` running as a child process on a free port, its
/// stderr kept in a file. Killed when dropped.
pub(crate) struct Spawned {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    stderr: tempfile::NamedTempFile,
    first_line: String,
}

impl Spawned {
    /// Starts the binary with `--port 0` and `args`, plus `env`; waits for
    /// its "listening" line.
    pub(crate) fn start(args: &[&str], env: &[(&str, &str)]) -> Spawned {
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_vestis-mock-server"));
        command
            .args(["--port", "0"])
            .args(args)
            .env_remove("VESTIS_MOCK_HOST")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().unwrap());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
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
            stderr,
            first_line: line,
        }
    }

    /// The process id, e.g. to read `/proc/PID/status`.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
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
