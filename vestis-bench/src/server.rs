//! A server under test, running as its own process: spawned, found by the
//! URL it prints, measured through `/proc/<pid>`, killed when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long a server may take to print its address before the suite gives up.
const STARTUP_LIMIT: Duration = Duration::from_secs(30);

/// A running server process.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`, as the server printed it.
    pub base: String,
    spawned_at: Instant,
}

impl Server {
    /// Starts `program args…` and waits for the first line of its stdout that
    /// holds an `http://` URL (every server here prints one once it listens).
    ///
    /// # Errors
    ///
    /// The program cannot start, exits, or prints no URL within 30 s.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo() -> anyhow::Result<()> {
    /// use vestis_bench::server::Server;
    /// let server = Server::spawn("target/release/bench-axum".as_ref(), &[])?;
    /// println!("{} uses {:?} of CPU", server.base, server.cpu()?);
    /// # Ok(()) }
    /// ```
    pub fn spawn(program: &Path, args: &[String]) -> anyhow::Result<Server> {
        let spawned_at = Instant::now();
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let (tx, rx) = mpsc::channel();
        // Keeps draining stdout after the URL, so a chatty server never blocks.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent && let Some(url) = find_url(&line) {
                    sent = tx.send(url).is_ok();
                }
            }
        });
        let base = match rx.recv_timeout(STARTUP_LIMIT) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                bail!("{} printed no URL (exit: {status:?})", program.display());
            }
        };
        Ok(Server {
            child,
            base,
            spawned_at,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system) the process has used so far.
    ///
    /// # Errors
    ///
    /// `/proc/<pid>/stat` is unreadable (the process died, or no Linux `/proc`).
    pub fn cpu(&self) -> anyhow::Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        // Fields after the command name (which may hold spaces) start at field 3.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| -> anyhow::Result<u64> {
            Ok(fields.get(i).context("short /proc stat")?.parse()?)
        };
        let total = ticks(11)? + ticks(12)?; // utime (field 14), stime (15)
        Ok(Duration::from_secs_f64(total as f64 / clock_ticks() as f64))
    }

    /// Resident memory in bytes (`VmRSS`).
    ///
    /// # Errors
    ///
    /// `/proc/<pid>/status` is unreadable or has no `VmRSS` line.
    pub fn rss(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .context("no VmRSS")?
            .parse::<u64>()?;
        Ok(kib * 1024)
    }

    /// Sends `GET /health` on a fresh connection and returns the time from
    /// the process's spawn to the answer's status line: start-up to the
    /// first answered request.
    ///
    /// # Errors
    ///
    /// The connection fails or the answer is not a `200`.
    pub fn first_answer(&self) -> anyhow::Result<Duration> {
        let addr = self.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(STARTUP_LIMIT))?;
        write!(
            stream,
            "GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        let elapsed = self.spawned_at.elapsed();
        if !head.starts_with(b"HTTP/1.1 200") {
            bail!("/health answered {:?}", String::from_utf8_lossy(&head));
        }
        Ok(elapsed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first `http://…` token of a line, without trailing punctuation.
fn find_url(line: &str) -> Option<String> {
    let start = line.find("http://")?;
    let url = line[start..].split_whitespace().next()?;
    Some(url.trim_end_matches(['/', '.', ',', ')']).to_owned())
}

/// Clock ticks per second for `/proc` CPU times (`getconf CLK_TCK`, else 100).
fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_found_in_any_listening_line() {
        let url = find_url("vestis-mock-server listening on http://127.0.0.1:4000");
        assert_eq!(url.as_deref(), Some("http://127.0.0.1:4000"));
        assert_eq!(
            find_url("listening on http://127.0.0.1:9/.").as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(find_url("starting"), None);
    }
}
